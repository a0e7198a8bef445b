"""Loading the settings: defaults → TOML file → `REELS_<SECTION>__<KEY>` environment → flags.

This is the only code that reads the config file or the environment for settings. It is written here
rather than on pydantic-settings because users need what that library does not give: every error names
the key and the layer it came from ("[download] retries (from environment) must be a whole number"),
unknown sections and keys are refused with the valid ones listed, and the result is the frozen dataclass
tree of `reels.config.settings`, not a model object.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, get_args, get_origin

from reels.config.settings import Settings
from reels.errors import ConfigError

DEFAULT_CONFIG = Path("reels.toml")


def load(
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Mapping[str, Any]] | None = None,
) -> Settings:
    """Settings from defaults, then the TOML file, then REELS_* variables, then `overrides` (the flags).

    `path` None means ./reels.toml when present. Raises ConfigError naming the key that is wrong.
    """
    environ = os.environ if environ is None else environ
    layers: dict[str, dict[str, Any]] = {}
    if path is None and DEFAULT_CONFIG.is_file():
        path = DEFAULT_CONFIG
    if path is not None:
        _layer(layers, _read_toml(path), where=str(path))
    _layer(layers, _from_environ(environ), where="environment")
    _layer(layers, overrides or {}, where="flags")
    sections = {}
    for f in dataclasses.fields(Settings):
        section_cls = _section_type(f.name)
        given = layers.pop(f.name, {})
        sections[f.name] = _build(section_cls, f.name, given)
    if layers:
        raise ConfigError(
            f"Unknown config section [{sorted(layers)[0]}]; see reels.example.toml for the sections."
        )
    return Settings(**sections)


def _section_type(name: str) -> type:
    return typing.get_type_hints(Settings)[name]  # type: ignore[no-any-return]


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"Config file {path} does not exist; pass an existing --config file.") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"Config file {path} is not valid TOML: {exc}.") from exc


def _from_environ(environ: Mapping[str, str]) -> dict[str, dict[str, str]]:
    out: dict[str, dict[str, str]] = {}
    for name, value in environ.items():
        if name.startswith("REELS_") and "__" in name:
            section, key = name[len("REELS_") :].lower().split("__", 1)
            out.setdefault(section, {})[key] = value
    return out


def _layer(into: dict[str, dict[str, Any]], layer: Mapping[str, Any], where: str) -> None:
    for section, values in layer.items():
        if not isinstance(values, Mapping):
            raise ConfigError(f"In {where}, [{section}] must be a table of keys, got {values!r}.")
        into.setdefault(section, {}).update({k: (v, where) for k, v in values.items() if v is not None})


def _build(cls: type, section: str, given: dict[str, tuple[Any, str]]) -> Any:
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, (value, where) in given.items():
        if key not in names:
            raise ConfigError(
                f"Unknown key [{section}] {key} (from {where}); valid keys: {', '.join(sorted(names))}."
            )
        kwargs[key] = _coerce(value, hints[key], f"[{section}] {key}", where)
    return cls(**kwargs)


def _coerce(value: Any, hint: Any, name: str, where: str) -> Any:
    """The value as the field's type; strings (from the environment) are parsed. ConfigError if impossible."""
    origin = get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        (hint,) = [a for a in get_args(hint) if a is not type(None)]
        origin = get_origin(hint)
    bad = ConfigError(f"{name} (from {where}) must be {_describe(hint)}, got {value!r}.")
    if origin is dict:
        if isinstance(value, str):  # from the environment: a JSON object
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise bad from None
        if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
            raise bad
        return dict(value)
    if origin is tuple:
        items = [s.strip() for s in value.split(",") if s.strip()] if isinstance(value, str) else value
        if not isinstance(items, list | tuple) or not all(isinstance(i, str) for i in items):
            raise bad
        return tuple(items)
    if hint is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
            return value.lower() in ("true", "1", "yes")
        raise bad
    if hint in (int, float):
        if isinstance(value, bool):
            raise bad
        try:
            number = hint(value)
        except (TypeError, ValueError):
            raise bad from None
        if hint is int and isinstance(value, float) and not value.is_integer():
            raise bad
        return number
    if hint is Path:
        if not isinstance(value, str | Path):
            raise bad
        return Path(value)
    if not isinstance(value, str):
        raise bad
    return value


def _describe(hint: Any) -> str:
    if get_origin(hint) is dict:
        return "a table of strings (a JSON object in the environment)"
    if get_origin(hint) is tuple:
        return "a list of strings (comma-separated in the environment)"
    return {bool: "true or false", int: "a whole number", float: "a number", Path: "a path"}.get(
        hint, "a string"
    )


__all__ = ["DEFAULT_CONFIG", "load"]
