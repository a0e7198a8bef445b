"""Paid answers made durable the moment they arrive, cheaply: an append-only local journal.

A stage appends each result row to a JSON-lines file (flushed and fsync'd, one small write per answer)
and merges the rows into its table in batches, clearing the journal after each merge. A crash or kill -9
between two merges leaves the answered rows in the journal; the next run replays every journal it finds
before choosing its work, so nothing answered is asked (or paid for) again. Merging per answer instead
would cost one Delta commit per reel.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import pyarrow as pa

from reels.storage import Store
from reels.storage.tables import TableSpec, to_arrow


class Journal:
    """The journal of one table for one run and one writer. Thread-safe."""

    def __init__(self, folder: Path, spec: TableSpec, name: str) -> None:
        self.spec = spec
        self.path = folder / f"{spec.name}--{name}.jsonl"
        self._lock = threading.Lock()

    def append(self, row: dict[str, Any]) -> None:
        line = json.dumps(row, default=_encode, ensure_ascii=True) + "\n"
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(line)
                fh.flush()
                os.fsync(fh.fileno())

    def clear(self) -> None:
        with self._lock:
            self.path.unlink(missing_ok=True)


T = TypeVar("T")
R = TypeVar("R")
GRACE_S = 5.0  # after an interrupt, answers already in flight get this long to arrive and be kept


def run_journaled(
    items: Iterable[T],
    work: Callable[[T], R],
    *,
    workers: int,
    journal: Journal,
    row_of: Callable[[R], dict[str, Any]],
    merge: Callable[[list[R]], None],
    batch: int,
    advance: Callable[[int], None] = lambda n: None,
    grace_s: float = GRACE_S,
) -> None:
    """`work` over `items` on `workers` threads. Each result is journaled as it arrives and merged (via
    `merge`) every `batch` results, and at the end.

    `items` may be a list or a stream whose items arrive over time (the videos a concurrent download
    stores): a feeder thread takes them as they come, keeping at most 2 × `workers` calls queued or running,
    and the results are kept while it waits. On an interrupt (Ctrl-C, SIGTERM turned into
    KeyboardInterrupt) or any error, including the stream's: nothing more is taken, queued calls are
    cancelled, running ones get `grace_s` to finish, every result in hand is merged, and the pool is left
    behind without waiting for calls that are still out (the caller exits)."""
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="work")
    slots = threading.BoundedSemaphore(2 * workers)
    outstanding: set[Future[R]] = set()  # submitted and not kept yet: what the loop waits on
    arrived = threading.Condition()
    fed, stop = threading.Event(), threading.Event()
    failed: list[BaseException] = []
    pending: list[R] = []
    kept: set[Future[R]] = set()

    def feed() -> None:
        try:
            for item in items:
                while not slots.acquire(timeout=0.1):
                    if stop.is_set():
                        return
                if stop.is_set():
                    return
                future = pool.submit(work, item)
                future.add_done_callback(lambda _: slots.release())
                with arrived:
                    outstanding.add(future)
                    arrived.notify()
        except BaseException as exc:  # the stream failed: stop, and raise it in the caller
            failed.append(exc)
        finally:
            fed.set()
            with arrived:
                arrived.notify()

    def keep(future: Future[R]) -> None:
        kept.add(future)
        with arrived:
            outstanding.discard(future)
        result = future.result()
        journal.append(row_of(result))
        pending.append(result)
        advance(1)

    def flush() -> None:
        if pending:
            merge(list(pending))
            pending.clear()
        journal.clear()

    feeder = threading.Thread(target=feed, name="work-feeder", daemon=True)
    feeder.start()
    try:
        while True:
            with arrived:
                waiting = list(outstanding)
                if not waiting:
                    if fed.is_set():
                        break
                    arrived.wait(timeout=0.5)
                    continue
            done, _ = wait(waiting, timeout=0.5, return_when=FIRST_COMPLETED)
            for future in done:
                keep(future)
            if len(pending) >= batch:
                flush()
        if failed:
            raise failed[0]
    except BaseException:
        stop.set()
        with arrived:
            submitted = list(outstanding)
        for future in submitted:
            future.cancel()
        wait([f for f in submitted if f.running()], timeout=grace_s)
        for future in submitted:
            if future.done() and not future.cancelled() and future not in kept and future.exception() is None:
                keep(future)
        flush()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    flush()
    pool.shutdown()


def replay(folder: Path, spec: TableSpec, store: Store) -> int:
    """Merge the rows of every journal of `spec` left in `folder` into the table, then remove them; returns
    how many rows were recovered. A line torn by the crash (the last, half written) is skipped."""
    recovered = 0
    for path in sorted(folder.glob(f"{spec.name}--*.jsonl")):
        rows = []
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                rows.append(_decode(json.loads(line), spec))
            except (ValueError, TypeError):
                continue
        if rows:
            store.merge(spec, to_arrow(spec, rows))
            recovered += len(rows)
        path.unlink(missing_ok=True)
    return recovered


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"cannot journal {type(value).__name__}")


def _decode(row: dict[str, Any], spec: TableSpec) -> dict[str, Any]:
    for f in spec.schema:
        if pa.types.is_timestamp(f.type) and isinstance(row.get(f.name), str):
            row[f.name] = datetime.fromisoformat(row[f.name])
    return {k: v for k, v in row.items() if k in spec.columns}


__all__ = ["GRACE_S", "Journal", "replay", "run_journaled"]
