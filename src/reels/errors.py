"""The one exception tree of reels-etl.

    ReelsError
    ├── ConfigError            bad setting or missing credential: the user must fix something (exit 2)
    │   └── InputError         a file the user gave cannot be used as it is (exit 2)
    ├── Transient              marker: the same call may succeed later (retry, or leave for the next run)
    ├── Permanent              marker: retrying the same call cannot help
    ├── SourceError            the reel source (file, Apify) could not be read
    ├── DownloadError          one video could not be fetched or is not a valid video
    │   ├── DownloadRefused    (Permanent) the URL breaks the download policy: scheme, host, address
    │   ├── LinkExpired        (Permanent) the CDN link's signature has expired: re-scrape to refresh it
    │   ├── InvalidMedia       (Permanent) the bytes are not a playable video, or too large
    │   ├── MediaGone          (Permanent) the CDN answers 403/404 for this link
    │   └── FetchFailed        (Transient) connection reset, timeout, 429/5xx
    ├── AnalysisError          one video could not be analyzed
    └── StorageError           the lakehouse could not be read or written

Errors about one item are recorded in that item's row and never stop the batch; only ConfigError,
SourceError and StorageError end a run. Messages say what to do next.
"""

from __future__ import annotations


class ReelsError(Exception):
    """Root of every error this package raises on purpose."""


class Transient(ReelsError):
    """Marker: the same operation may succeed if tried again later."""

    retry_after_s: float | None = None  # seconds the server asked us to wait (Retry-After, RetryInfo)
    whole_run: bool = False  # True: the condition holds for the rest of the run, not just this item


class Permanent(ReelsError):
    """Marker: trying the same operation again cannot succeed."""


class ConfigError(ReelsError):
    """A setting or credential is wrong or missing; the message names it and says what to fix."""


class InputError(ConfigError):
    """A file the user named (a source file, an ad export) cannot be read or holds nothing usable."""


class SourceError(ReelsError):
    """The reel source could not be read."""


class DownloadError(ReelsError):
    """One video could not be downloaded; `status` is what the media table records."""

    status = "failed"


class DownloadRefused(DownloadError, Permanent):
    status = "refused"


class LinkExpired(DownloadError, Permanent):
    status = "expired"


class InvalidMedia(DownloadError, Permanent):
    status = "invalid"


class MediaGone(DownloadError, Permanent):
    status = "gone"


class FetchFailed(DownloadError, Transient):
    status = "failed"


class AnalysisError(ReelsError):
    """One video could not be analyzed."""


class StorageError(ReelsError):
    """The lakehouse tables could not be read or written."""
