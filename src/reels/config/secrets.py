"""Credentials: from the environment (and a `.env` file), or from a Databricks secret scope; never printed.

`databricks.sdk.runtime` is imported only when `DATABRICKS_RUNTIME_VERSION` is set: off Databricks that
import raises, or hangs when DATABRICKS_HOST points at an unreachable workspace.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dotenv import dotenv_values

from reels.errors import ConfigError

# The secrets reels reads (config.Secrets), as keys of the secret scope and names of environment variables.
SECRET_NAMES: tuple[str, ...] = (
    "APIFY_TOKEN",
    "GEMINI_API_KEY",
    "INSTAGRAM_SESSION_FILE",
    "INSTAGRAM_COOKIES_FILE",
)


@dataclass(frozen=True)
class Secrets:
    """Credentials, from the environment only. repr=False keeps them out of logs and tracebacks."""

    apify_token: str | None = field(default=None, repr=False)
    gemini_api_key: str | None = field(default=None, repr=False)
    instagram_session_file: str | None = field(default=None, repr=False)
    instagram_cookies_file: str | None = field(default=None, repr=False)


def load_secrets(environ: Mapping[str, str] | None = None, dotenv: Path | None = Path(".env")) -> Secrets:
    """Secrets from the environment; a `.env` file fills in what the environment does not set."""
    environ = os.environ if environ is None else environ
    file_values = {k: v for k, v in dotenv_values(dotenv).items() if v} if dotenv and dotenv.is_file() else {}
    merged = {**file_values, **{k: v for k, v in environ.items() if v}}
    return Secrets(**{f.name: merged.get(f.name.upper()) for f in dataclasses.fields(Secrets)})


def on_databricks(environ: Mapping[str, str] | None = None) -> bool:
    """True inside a Databricks runtime (cluster, serverless compute, notebook or job task)."""
    environ = os.environ if environ is None else environ
    return bool(environ.get("DATABRICKS_RUNTIME_VERSION"))


def secrets_environ(
    scope: str | None,
    names: Sequence[str] = SECRET_NAMES,
    *,
    environ: Mapping[str, str] | None = None,
    dbutils: Any = None,
) -> dict[str, str]:
    """The secrets `names` as a name → value mapping, for `config.load_secrets(environ=...)`.

    On Databricks (or with `dbutils` given) each name is read with `dbutils.secrets.get(scope, name)`; a
    name the scope does not hold falls back to the environment, as does everything off Databricks or without
    a scope. Values are never printed or logged. Raises ConfigError when the scope cannot be read.
    """
    environ = os.environ if environ is None else environ
    found = {n: environ[n] for n in names if environ.get(n)}
    if not scope or (dbutils is None and not on_databricks(environ)):
        return found
    if dbutils is None:
        from databricks.sdk.runtime import dbutils  # only here: off Databricks it raises or hangs
    for name in names:
        try:
            value = dbutils.secrets.get(scope=scope, key=name)
        except Exception as exc:
            if "secret does not exist" in str(exc).lower():
                continue  # the scope lacks this key: keep the environment's value, if any
            raise ConfigError(
                f"Cannot read secret {name} from the secret scope {scope!r} ({type(exc).__name__}); "
                f"check that the scope exists and the job's identity may READ it."
            ) from None  # the cause may quote the request; keep it out of logs
        if value:
            found[name] = value
    return found


__all__ = ["SECRET_NAMES", "Secrets", "load_secrets", "on_databricks", "secrets_environ"]
