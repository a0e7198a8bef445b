"""The tracked accounts: usernames as the actor takes them, and the accounts file `reels accounts` edits.

The file is either an actor input file users already have (`{"username": [...], ...}`; its other keys are
kept when it is written back) or a plain JSON list.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from reels.errors import ConfigError

_USERNAME = re.compile(r"^[A-Za-z0-9._]{1,30}$")
_PROFILE_URL = re.compile(r"^/([A-Za-z0-9._]{1,30})/?$")
_INSTAGRAM_HOSTS = ("instagram.com", "www.instagram.com", "m.instagram.com")
_NOT_PROFILES = frozenset({"accounts", "explore", "p", "reel", "reels", "stories", "tv"})


def normalise_account(value: str) -> str:
    """An account as the actor's `username` field wants it.

    A profile URL (`https://www.instagram.com/name/`) or `@name` becomes `name`, lower-cased as Instagram
    usernames are; any other URL (a reel's, say) and numeric profile ids are kept as they are.
    Raises ConfigError for an empty or malformed value.
    """
    text = value.strip()
    if "://" in text or text.lower().startswith(("www.instagram.com/", "instagram.com/")):
        parts = urlsplit(text if "://" in text else f"https://{text}")
        profile = _PROFILE_URL.match(parts.path)
        on_instagram = (parts.hostname or "").lower() in _INSTAGRAM_HOSTS
        if on_instagram and profile and profile.group(1).lower() not in _NOT_PROFILES:
            return profile.group(1).lower()
        return text
    name = text.removeprefix("@")
    if not _USERNAME.match(name):
        raise ConfigError(
            f"{value!r} is not an Instagram username, profile URL or @name; fix the account list."
        )
    return name.lower()


def normalise_accounts(accounts: Sequence[str]) -> list[str]:
    """`normalise_account` of each, without duplicates, first occurrence first."""
    return list(dict.fromkeys(normalise_account(a) for a in accounts))


def read_accounts(path: Path) -> list[str]:
    """The accounts in `path`, normalised and deduplicated; [] when the file does not exist.

    The file is an actor input (`{"username": [...], ...}`) or a plain JSON list of accounts.
    Raises ConfigError when it cannot be read or has another shape.
    """
    data = _read_accounts_file(path)
    if data is None:
        return []
    accounts = data.get("username", []) if isinstance(data, dict) else data
    if not isinstance(accounts, list) or not all(isinstance(a, str) for a in accounts):
        raise ConfigError(f"In {path}, the accounts must be a JSON list of strings.")
    return normalise_accounts(accounts)


def write_accounts(path: Path, accounts: Sequence[str]) -> None:
    """Write `accounts` (normalised, deduplicated) to `path`, atomically.

    An actor input file keeps its other keys and gets a new `username`; otherwise a plain list is written.
    Raises ConfigError when the file cannot be read or written.
    """
    existing = _read_accounts_file(path)
    names = normalise_accounts(accounts)
    data: Any = {**existing, "username": names} if isinstance(existing, dict) else names
    text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise ConfigError(f"Cannot write the accounts file {path}: {exc}.") from exc


def _read_accounts_file(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"Cannot read the accounts file {path}: {exc}.") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"The accounts file {path} is not valid JSON ({exc}); it must be a list of accounts or an actor "
            'input with "username".'
        ) from exc
    if not isinstance(data, list | dict):
        raise ConfigError(f'The accounts file {path} must hold a JSON list or an object with "username".')
    return data
