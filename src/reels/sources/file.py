"""A file of scraper items: JSON (an array), JSONL (one item per line) or CSV (Apify's flattened export)."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reels.errors import InputError
from reels.sources import Scrape

_INT = re.compile(r"^-?\d+$")
_FLOAT = re.compile(r"^-?\d+\.\d*(e-?\d+)?$", re.IGNORECASE)


class FileSource:
    def __init__(self, path: Path, scraped_at: datetime | None = None) -> None:
        self.path = path
        self.name = f"file:{path.name}"
        self.scraped_at = scraped_at

    def ingested(self, scrape: Scrape) -> None:
        pass  # nothing to resume: the items are still where they were read from

    def scrapes(self) -> Iterator[Scrape]:
        if not self.path.is_file():
            raise InputError(f"Source file {self.path} does not exist; pass --source sample|apify|PATH.")
        # The items carry no scrape time; the file's modification time is the best stable stand-in.
        scraped_at = self.scraped_at or datetime.fromtimestamp(self.path.stat().st_mtime, UTC)
        yield Scrape(self.name, scraped_at, read_items(self.path))


def read_items(path: Path) -> list[Any]:
    """The items of a .json, .jsonl/.ndjson or .csv file. A line that is not JSON stays as its text."""
    suffix = path.suffix.lower()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        why = (
            "it is not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else (exc.strerror or "unreadable")
        )
        raise InputError(f"Cannot read {path}: {why}.") from exc
    if suffix in (".jsonl", ".ndjson"):
        return [_json_or_text(line) for line in text.splitlines() if line.strip()]
    if suffix == ".csv":
        return [_unflatten(row) for row in csv.DictReader(text.splitlines())]
    if suffix == ".json":
        try:
            data = json.loads(text)
        except (ValueError, RecursionError) as exc:  # also digits past Python's limit, absurd nesting
            raise InputError(
                f"{path} is not valid JSON ({exc}); a file of items must be a JSON array."
            ) from exc
        if not isinstance(data, list):
            raise InputError(f"{path} must hold a JSON array of items, not a single value or object.")
        return data
    raise InputError(f"Unsupported source file type {suffix!r} for {path}; use .json, .jsonl or .csv.")


def _json_or_text(line: str) -> Any:
    try:
        return json.loads(line)
    except (ValueError, RecursionError):
        return line  # kept so the ingest stage quarantines it with the raw text


def _unflatten(row: dict[str | None, Any]) -> dict[str, Any]:
    """Apify's CSV export flattens nesting as `a/b` and `list/0/c`; rebuild it and type the cells. A row
    whose headers do not nest (`a` and `a/b`, `list/x`, an index past MAX_INDEX) is kept flat, as it was
    read, so the ingest stage quarantines it with its reason instead of the file failing."""
    cells = {k: v for k, v in row.items() if isinstance(k, str) and isinstance(v, str) and v != ""}
    out: dict[str, Any] = {}
    try:
        for key, cell in cells.items():
            _put(out, key.split("/"), _cell(cell))
    except (ValueError, TypeError, IndexError, KeyError):
        return cells
    return out


MAX_INDEX = 1000  # no list in a reel item is longer; a header naming list/1000000000 is not a list


def _put(node: Any, parts: list[str], value: Any) -> None:
    head, rest = parts[0], parts[1:]
    if isinstance(node, list):
        if not head.isdigit() or int(head) > MAX_INDEX:
            raise ValueError(f"{head!r} is not a list index")
    elif not isinstance(node, dict):
        raise TypeError("a value cannot also hold fields")
    slot: int | str = int(head) if isinstance(node, list) else head
    if isinstance(node, list):
        node.extend([None] * (int(head) + 1 - len(node)))
    if not rest:
        node[slot] = value
        return
    if node[slot] is None if isinstance(node, list) else slot not in node:
        node[slot] = [] if rest[0].isdigit() else {}
    _put(node[slot], rest, value)


def _cell(cell: str) -> Any:
    if cell in ("true", "false"):
        return cell == "true"
    if _INT.match(cell):
        return int(cell)
    if _FLOAT.match(cell):
        return float(cell)
    return cell
