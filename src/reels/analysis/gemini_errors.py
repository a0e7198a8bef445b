"""What can go wrong with a Gemini call, as our errors: the SDK's and the transport's exceptions translated.

Errors, all `AnalysisError`s (a 401/403 is a `ConfigError`: the key is wrong and the run stops):

    GeminiError(AnalysisError)
    ├── GeminiUnavailable      (Transient) 5xx, timeouts, connection errors after the retries
    │   └── GeminiRateLimited  (Transient) 429 after the retries; `retry_after_s` from RetryInfo
    ├── GeminiQuotaExhausted   (Transient) per-day quota: no more calls this run (`whole_run`)
    ├── GeminiUploadStuck      (Transient) the uploaded video was not ACTIVE in time
    ├── GeminiRejected         (Permanent) 4xx: the request or video is refused
    ├── GeminiFileFailed       (Permanent) the Files API could not process the video
    └── GeminiBadResponse      (Permanent) blocked, truncated, not JSON, or not the schema
"""

from __future__ import annotations

import re
from typing import Any

import httpx2
from google.genai import errors as genai_errors
from pydantic import ValidationError

from reels.errors import AnalysisError, ConfigError, Permanent, Transient

_RETRY_IN = re.compile(r"retry in ([\d.]+)\s*s", re.IGNORECASE)


class GeminiError(AnalysisError):
    """One reel could not be analyzed by Gemini. `model`: the model asked; `status`: the HTTP status."""

    whole_run = False  # True: the condition holds for the rest of the run, not just this reel

    def __init__(self, message: str, *, model: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.model, self.status = model, status


class GeminiUnavailable(GeminiError, Transient):
    """Gemini did not answer: 5xx, timeout or connection error. Try again later, or another model."""


class GeminiRateLimited(GeminiUnavailable):
    """429 for a per-minute quota; `retry_after_s` is the server's RetryInfo delay when it gave one."""

    def __init__(self, message: str, *, retry_after_s: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after_s = retry_after_s


class GeminiQuotaExhausted(GeminiError, Transient):
    """429 for a per-day quota: no Gemini call can succeed before the quota resets (midnight Pacific)."""

    whole_run = True


class GeminiUploadStuck(GeminiError, Transient):
    """The uploaded video was still PROCESSING at the deadline."""


class GeminiRejected(GeminiError, Permanent):
    """Gemini refused the request (4xx other than 429): retrying the same request cannot help."""


class GeminiFileFailed(GeminiError, Permanent):
    """The Files API reported the uploaded video as FAILED."""


class GeminiBadResponse(GeminiError, Permanent):
    """Gemini answered, but not with a usable analysis: blocked, truncated, not JSON, or not the schema."""


def translate_error(
    exc: Exception, model: str | None, timeout_s: float, upload: bool = False
) -> GeminiError | None:
    """Our error for an SDK or transport exception, or None for one that is not Gemini's (a bug: re-raise)."""
    on = f" ({model})" if model else ""
    if isinstance(exc, httpx2.TimeoutException):
        return GeminiUnavailable(f"Gemini timed out after {timeout_s:g} s{on}", model=model)
    if isinstance(exc, httpx2.TransportError):
        return GeminiUnavailable(f"cannot reach Gemini{on}: {exc!r}", model=model)
    if isinstance(exc, genai_errors.APIError):
        code, status = exc.code, exc.status or ""
        message = (exc.message or "").strip() or status or "no message"
        what = f"Gemini {code} {status}{on}: {message}"
        if code == 429:
            daily, delay = _quota_details(exc)
            if daily:
                return GeminiQuotaExhausted(
                    f"Gemini daily quota exhausted{on}; run again after it resets (midnight Pacific)",
                    model=model,
                    status=code,
                )
            return GeminiRateLimited(what, model=model, status=code, retry_after_s=delay)
        if code in (401, 403) or "API key" in message:
            raise ConfigError(f"Gemini refused the API key ({code} {status}); check GEMINI_API_KEY.") from exc
        if code == 404 and model:
            return GeminiUnavailable(f"model not found{on}: {message}", model=model, status=code)
        if code in (408, 409) or code >= 500:
            return GeminiUnavailable(what, model=model, status=code)
        return GeminiRejected(what, model=model, status=code)
    if upload and isinstance(exc, ValueError | KeyError):
        # The SDK's resumable-upload protocol errors (no upload URL, not finalized): the server's fault.
        return GeminiUnavailable(f"Gemini upload failed: {exc}")
    if isinstance(exc, ValidationError | ValueError):
        # The SDK could not read the HTTP body as a response (e.g. a proxy's HTML page with status 200).
        return GeminiBadResponse(f"unreadable response from Gemini{on}: {exc!s:.200}", model=model)
    return None


def _quota_details(exc: genai_errors.APIError) -> tuple[bool, float | None]:
    """(is it a per-day quota, the RetryInfo delay in seconds) from a 429's body."""
    body = exc.details if isinstance(exc.details, dict) else {}
    details = body.get("error", {}).get("details", []) if isinstance(body.get("error"), dict) else []
    daily, delay = False, None
    for item in details if isinstance(details, list) else []:
        if not isinstance(item, dict):
            continue
        kind = str(item.get("@type", ""))
        if kind.endswith("QuotaFailure"):
            for violation in item.get("violations") or []:
                if "PerDay" in str(violation.get("quotaId", "")):
                    daily = True
        elif kind.endswith("RetryInfo"):
            delay = _seconds(item.get("retryDelay"))
    if delay is None and (match := _RETRY_IN.search(exc.message or "")):
        delay = float(match.group(1))
    return daily, delay


def _seconds(duration: Any) -> float | None:
    """A protobuf Duration in JSON ("26s", "45.837906927s") as seconds."""
    if isinstance(duration, str) and duration.endswith("s"):
        try:
            return float(duration[:-1])
        except ValueError:
            return None
    return None


__all__ = [
    "GeminiBadResponse",
    "GeminiError",
    "GeminiFileFailed",
    "GeminiQuotaExhausted",
    "GeminiRateLimited",
    "GeminiRejected",
    "GeminiUnavailable",
    "GeminiUploadStuck",
    "translate_error",
]
