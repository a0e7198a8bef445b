"""Checks every settings section uses; each raises `ConfigError` naming the section and key."""

from __future__ import annotations

from reels.errors import ConfigError


def positive(section: str, **values: float) -> None:
    for key, value in values.items():
        if value <= 0:
            raise ConfigError(f"[{section}] {key} must be greater than 0, got {value}.")


__all__ = ["positive"]
