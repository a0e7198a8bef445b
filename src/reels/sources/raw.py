"""Typed reads of raw JSON items, shared by every parser of `reels.sources`: each type error names the raw
field it came from, and becomes the item's quarantine reason (`Invalid`)."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

MAX_COUNT = 2**63 - 1  # what an int64 column holds
EARLIEST = datetime(2010, 1, 1, tzinfo=UTC)  # no Instagram post is older
HIDDEN = -1  # the actor's placeholder for hidden likes


class Invalid(ValueError):
    """An item failed validation; the message is the quarantine reason."""


def item_hash(item: Any) -> str:
    return hashlib.sha256(raw_json(item, ascii_only=True).encode()).hexdigest()


def raw_json(item: Any, *, ascii_only: bool = False) -> str:
    """The item as JSON text, whatever it holds: keys sorted (any key types), values JSON cannot hold as
    their text, and characters that are not text (lone surrogates) escaped so the tables can store it."""
    try:
        text = json.dumps(item, sort_keys=True, ensure_ascii=ascii_only, default=str)
    except (TypeError, ValueError, RecursionError):
        return json.dumps(repr(item)[:100_000])
    if not ascii_only and not is_text(text):
        return raw_json(item, ascii_only=True)
    return text


def kind_of(value: Any) -> str:
    return {bool: "true/false", int: "a number", float: "a number", list: "a list", dict: "an object"}.get(
        type(value), "another kind of value"
    )


def short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:59] + "…"


def is_text(value: str) -> bool:
    """Whether the string is storable text (no lone surrogates, which JSON escapes can carry)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class Getter:
    """Typed access to a raw item through the field map; every type error names the raw field."""

    def __init__(self, item: Mapping[str, Any], fields: Mapping[str, tuple[str, ...]]) -> None:
        self.item, self.fields = item, fields

    def raw(self, column: str) -> tuple[str | None, Any]:
        for name in self.fields[column]:
            if self.item.get(name) is not None:
                return name, self.item[name]
        return None, None

    def text(self, column: str) -> str | None:
        name, value = self.raw(column)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            raise Invalid(f"{name} must be a string, got {kind_of(value)}")
        if not is_text(value):
            raise Invalid(f"{name} holds characters that are not text")
        return value

    def required_text(self, column: str) -> str:
        value = self.text(column)
        if value is None:
            raise Invalid(f"missing {self.fields[column][0]}")
        return value

    def count(self, column: str, allow_hidden: bool = False) -> int | None:
        return self._count(*self.raw(column), allow_hidden=allow_hidden)

    def first_count(self, column: str) -> tuple[str | None, int | None]:
        name, value = self.raw(column)
        return name, self._count(name, value)

    @staticmethod
    def _count(name: str | None, value: Any, allow_hidden: bool = False) -> int | None:
        if value is None:
            return None
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value != int(value)
        ):
            raise Invalid(f"{name} must be a whole number, got {short(value)}")
        if abs(value) > MAX_COUNT:
            raise Invalid(f"{name} is out of range, got {short(value)}")
        if allow_hidden and value == HIDDEN:
            return None  # hidden by the owner: unknown, not zero
        if value < 0:
            raise Invalid(f"{name} must not be negative, got {value!r}")
        return int(value)

    def number(self, column: str) -> float | None:
        name, value = self.raw(column)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= MAX_COUNT:
            raise Invalid(f"{name} must be a non-negative number, got {short(value)}")
        return float(value)

    def flag(self, column: str) -> bool:
        name, value = self.raw(column)
        if value is None:
            return False
        if not isinstance(value, bool):
            raise Invalid(f"{name} must be true or false, got {value!r}")
        return value

    def strings(self, column: str) -> list[str]:
        name, value = self.raw(column)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) and is_text(v) for v in value):
            raise Invalid(f"{name} must be a list of strings, got {short(value)}")
        return list(value)

    def timestamp(self, column: str) -> datetime:
        name, value = self.raw(column)
        if not isinstance(value, str):
            raise Invalid(f"missing or non-text {self.fields[column][0]}: {value!r}")
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise Invalid(f"{name} is not an ISO-8601 timestamp: {value!r}") from None
        if parsed.tzinfo is None:
            raise Invalid(f"{name} has no time zone: {value!r}")
        try:
            at = parsed.astimezone(UTC)
        except OverflowError:
            raise Invalid(f"{name} is out of range: {value!r}") from None
        if not at >= EARLIEST:
            raise Invalid(f"{name} is out of range (before Instagram): {value!r}")
        return at

    def music(self, column: str) -> str | None:
        name, value = self.raw(column)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            raise Invalid(f"{name} must be an object, got {type(value).__name__}")
        artist, song = value.get("artist_name"), value.get("song_name")
        music = " - ".join(str(p) for p in (artist, song) if p)[:1000]
        if not is_text(music):
            raise Invalid(f"{name} holds characters that are not text")
        return music or None


__all__ = ["EARLIEST", "HIDDEN", "MAX_COUNT", "Getter", "Invalid", "is_text", "item_hash", "raw_json"]
