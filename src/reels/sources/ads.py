"""Ad-level exports (CSV or XLSX, e.g. from Ads Manager) → typed ad rows; this path ends after labelling.

Like the reels, which export column feeds which field is data (`reels.config.fields.AD_COLUMNS`, overridable
by `[ads] columns`): the first header present wins. A row that cannot be used is quarantined whole with the
reason.
"""

from __future__ import annotations

import csv
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from reels.config.fields import AD_COLUMNS
from reels.errors import InputError
from reels.records import QuarantineItem
from reels.sources.raw import MAX_COUNT, is_text, raw_json

_COUNTS = ("impressions", "reach", "plays", "likes", "comments", "shares", "saves")


@dataclass
class AdBatch:
    ads: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[QuarantineItem] = field(default_factory=list)


def read_export(path: Path) -> list[dict[str, Any]]:
    """The rows of a .csv or .xlsx export as header → cell dicts."""
    if not path.is_file():
        raise InputError(f"Ad export {path} does not exist.")
    if path.suffix.lower() == ".csv":
        try:
            with path.open(encoding="utf-8-sig", newline="") as fh:
                return [dict(row) for row in csv.DictReader(fh)]
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise InputError(f"Cannot read the ad export {path}: it is not a UTF-8 CSV file.") from exc
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        from openpyxl import load_workbook  # imported here: only this path needs it

        try:
            sheet = load_workbook(path, read_only=True, data_only=True).worksheets[0]
        except Exception as exc:  # openpyxl raises many unrelated types for a damaged file
            raise InputError(f"Cannot read the workbook {path}: {exc}.") from exc
        rows = list(sheet.iter_rows(values_only=True))
        if not rows:
            return []
        header = [str(h).strip() if h is not None else "" for h in rows[0]]
        return [dict(zip(header, row, strict=False)) for row in rows[1:] if any(c is not None for c in row)]
    raise InputError(f"Unsupported ad export type {path.suffix!r} for {path}; use .csv or .xlsx.")


def parse_ads(
    rows: list[dict[str, Any]],
    *,
    source: str,
    seen_at: datetime,
    run_id: str,
    columns: Mapping[str, str] | None = None,
) -> AdBatch:
    """Map export rows onto the `ads` table; `columns` overrides AD_COLUMNS with one header per field."""
    mapping = {k: ((columns[k],) if columns and k in columns else v) for k, v in AD_COLUMNS.items()}
    batch = AdBatch()
    seen: set[str] = set()
    for row in rows:
        raw = raw_json(row)
        try:
            ad = _parse_row(row, mapping)
            if any(isinstance(v, str) and not is_text(v) for v in ad.values()):
                raise ValueError("a cell holds characters that are not text")
            if ad["ad_id"] in seen:
                raise ValueError(f"ad {ad['ad_id']} appears more than once in this export")
        except Exception as exc:  # whatever a cell holds, the row ends as a quarantine row, never a crash
            digest = hashlib.sha256(raw.encode("utf-8", "backslashreplace")).hexdigest()
            batch.quarantine.append(
                QuarantineItem(source, digest, "invalid", str(exc), None, raw, seen_at, run_id)
            )
            continue
        seen.add(ad["ad_id"])
        batch.ads.append(ad)
    return batch


def _parse_row(row: Mapping[str, Any], mapping: Mapping[str, tuple[str, ...]]) -> dict[str, Any]:
    def cell(name: str) -> tuple[str, Any]:
        for header in mapping[name]:
            value = row.get(header)
            if value not in (None, ""):
                return header, value
        return mapping[name][0], None

    header, ad_id = cell("ad_id")
    if ad_id is None:
        raise ValueError(f"missing {header}")
    ad: dict[str, Any] = {"ad_id": str(ad_id).removesuffix(".0"), "ad_name": _text(cell("ad_name")[1])}
    for name in ("started_at", "ended_at"):
        ad[name] = _when(*cell(name))
    for name in _COUNTS:
        ad[name] = _count(*cell(name))
    ad["spend"] = _money(*cell("spend"))
    return ad


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _count(header: str, value: Any) -> int | None:
    if value is None:
        return None
    try:
        number = float(str(value).replace(",", "")) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{header} must be a number, got {value!r}") from None
    if not math.isfinite(number) or number < 0 or number != int(number) or number > MAX_COUNT:
        raise ValueError(f"{header} must be a whole number from 0 to {MAX_COUNT}, got {value!r}")
    return int(number)


def _money(header: str, value: Any) -> float | None:
    if value is None:
        return None
    try:
        amount = float(str(value).replace(",", "").lstrip("$")) if isinstance(value, str) else float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{header} must be an amount, got {value!r}") from None
    if not math.isfinite(amount) or amount < 0:
        raise ValueError(f"{header} must not be negative, got {value!r}")
    return amount


def _when(header: str, value: Any) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{header} is not a date, got {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
