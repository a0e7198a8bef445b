"""Our conditions and merges as Spark writes them: Column expressions (values never become SQL text),
quoted identifiers, the changed-row predicate of a MERGE, and the counts Spark reports back."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from reels.storage import Cond, MergeResult
from reels.storage.tables import TableSpec


def filtered(df: Any, where: Sequence[Cond]) -> Any:
    """The DataFrame filtered by every condition, as Column expressions (values are never SQL text)."""
    for cond in where:
        df = df.filter(condition(cond))
    return df


def condition(cond: Cond) -> Any:
    from pyspark.sql import functions as F

    col, value = F.col(quote(cond.column)), cond.value
    if cond.op == "is null":
        return col.isNull()
    if cond.op == "is not null":
        return col.isNotNull()
    if cond.op in ("in", "not in"):
        values = list(value)
        if not values:
            return F.lit(cond.op == "not in")
        return col.isin(values) if cond.op == "in" else ~col.isin(values)
    compare = {
        "=": col.__eq__,
        "!=": col.__ne__,
        "<": col.__lt__,
        "<=": col.__le__,
        ">": col.__gt__,
        ">=": col.__ge__,
    }[cond.op]
    return compare(F.lit(value))


def optimize_counts(result: list[Any]) -> tuple[int, int]:
    """Files removed and added, from Databricks' OPTIMIZE metrics row (0, 0 when it gives none)."""
    try:
        metrics = result[0].asDict(recursive=True)["metrics"]
        return int(metrics["numFilesRemoved"]), int(metrics["numFilesAdded"])
    except (IndexError, KeyError, TypeError, ValueError):
        return 0, 0


def quote(identifier: str) -> str:
    return "`" + identifier.replace("`", "``") + "`"


def changed_predicate(spec: TableSpec, target_columns: set[str], columns: list[str]) -> str:
    """True when the source row differs from the stored one. `IS DISTINCT FROM`, not `<>`, so a change to
    or from NULL counts; a column the table does not have yet counts when the source has a value for it."""
    terms = [
        f"(t.{quote(c)} IS DISTINCT FROM s.{quote(c)})"
        if c in target_columns
        else f"(s.{quote(c)} IS NOT NULL)"
        for c in columns
        if c not in spec.key and c not in spec.wide
    ]
    return _any_of(terms) if terms else "FALSE"


def _any_of(terms: list[str]) -> str:
    """OR of the terms as a balanced tree, so no SQL parser meets a 40-deep chain."""
    if len(terms) <= 2:
        return " OR ".join(terms)
    mid = len(terms) // 2
    return f"({_any_of(terms[:mid])}) OR ({_any_of(terms[mid:])})"


def parts(rows: pa.Table, max_bytes: int) -> list[pa.Table]:
    """The rows in consecutive slices of at most about max_bytes each (none when there are no rows)."""
    if rows.num_rows == 0:
        return []
    per_part = max(1, int(rows.num_rows * max_bytes / max(rows.nbytes, 1)))
    return [rows.slice(start, per_part) for start in range(0, rows.num_rows, per_part)]


def reported_counts(result: list[Any]) -> MergeResult | None:
    """Spark/Databricks MERGE returns num_inserted_rows and num_updated_rows; pysail returns only `count`."""
    if len(result) != 1:
        return None
    row = result[0].asDict()
    if "num_inserted_rows" not in row or "num_updated_rows" not in row:
        return None
    return MergeResult(int(row["num_inserted_rows"] or 0), int(row["num_updated_rows"] or 0))
