"""Download and analysis at once: each video is analyzed as soon as it is stored, while the others still
download, so a run takes about as long as the slower of the two instead of their sum.

A bounded queue sits between them. Every stored video is put on it as its download finishes, and the
analysis takes what has arrived, group by group. When the analysis falls behind, downloads wait. Both ends
keep their own durability: downloads merge `media` rows every 100, and analyses are journaled one by one.
The normal analysis pass then follows, over every other stored video that still waits (older downloads,
retries), and the local measurements after it.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from collections.abc import Iterator, Sequence

import httpx

from reels.analysis import Analyzer
from reels.media.fallbacks import Fallback
from reels.pipeline.analyses import analyze
from reels.pipeline.downloads import download, downloads_due
from reels.pipeline.job import Job, no_progress
from reels.records import MediaFile, StageCounts

_GROUP = 32  # stored videos taken at once: one query for their context and reuse, not one per video
_DONE = object()


def download_and_analyze(
    job: Job,
    client: httpx.Client,
    fallbacks: Sequence[Fallback],
    analyzer: Analyzer,
    *,
    measure: Analyzer | None = None,
) -> tuple[StageCounts, StageCounts]:
    """The download and analyze stages, overlapped; their counts, as the stages alone would give them.
    An error in the download (the store, say) is raised once the analysis of what arrived is kept."""
    stored: queue.Queue[object] = queue.Queue(maxsize=job.settings.analyze.queue_size)
    outcome: dict[str, StageCounts | BaseException] = {}
    due = downloads_due(job)

    given_up = threading.Event()  # the analysis failed: downloads no longer wait for it

    def stored_video(result: MediaFile) -> None:
        while result.status == "ok" and not given_up.is_set():
            try:
                stored.put(result, timeout=0.5)  # waits while the queue is full: the analysis is behind
                return
            except queue.Full:
                continue

    def fetch() -> None:
        try:
            quiet = dataclasses.replace(job, progress=no_progress)  # one progress display: the analysis
            outcome["download"] = download(quiet, client, fallbacks, on_done=stored_video, due=due)
        except BaseException as exc:
            outcome["download"] = exc
        finally:
            stored.put(_DONE)

    def arriving() -> Iterator[list[MediaFile]]:
        while True:
            first = stored.get()
            if first is _DONE:
                return
            group = [first]
            while len(group) < _GROUP:
                try:
                    more = stored.get_nowait()
                except queue.Empty:
                    break
                if more is _DONE:
                    stored.put(_DONE)  # seen again by the next call: end after this group
                    break
                group.append(more)
            yield group  # type: ignore[misc]

    downloader = threading.Thread(target=fetch, name="download", daemon=True)
    downloader.start()
    try:
        analysis = analyze(job, analyzer, measure=measure, arriving=arriving(), expected=len(due))
    except BaseException:
        given_up.set()  # the downloads finish (and merge) on their own; the caller is stopping
        raise
    downloader.join()
    fetched = outcome["download"]
    if isinstance(fetched, BaseException):
        raise fetched
    return fetched, analysis


__all__ = ["download_and_analyze"]
