"""The download stage's work: fetch each reel's video once, safely, into the content-addressed store.

Concurrency is this module's private business: a bounded thread pool over one shared httpx.Client (built
by `reels.media.transport.download_client`, which checks every address it connects to). Each outcome, good
or bad, is a `MediaFile` with a status; one reel's failure never stops the others.

For one reel: check `oe`, then GET the CDN link (every redirect hop re-checked against `urlpolicy`),
stream it into a temporary file under a size cap and a deadline, validate it (MP4 signature, declared
length, `probe_video`), and rename it to its sha256. Resets, timeouts, 429 and 5xx are retried with
backoff; 403/404 are not. When the link is expired or gone (or missing), the configured fallbacks
(`reels.media.fallbacks`) are tried in order; their files go through the same validation and store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx

from reels.config import DownloadSettings
from reels.errors import DownloadError, DownloadRefused, FetchFailed, InvalidMedia, LinkExpired, MediaGone
from reels.media.fallbacks import Fallback
from reels.media.probe import MP4_SNIFF_BYTES, VideoProbe, looks_like_mp4, probe_video
from reels.media.store import MediaStore
from reels.media.thumbnail import ensure_thumbnail
from reels.media.urlpolicy import check_url
from reels.records import MediaFile, Reel
from reels.retry import RetryPolicy

log = logging.getLogger(__name__)
_MAX_REDIRECTS = 5
_VIDEO_TYPES = ("video/", "application/octet-stream", "binary/octet-stream")
_IDENTITY = {"accept-encoding": "identity"}  # video is not compressible; a compressed body is refused


class _NoLink(InvalidMedia):
    """The scrape carried no video URL: fallbacks may still find the video."""


def download_media(
    reels: Sequence[Reel],
    *,
    client: httpx.Client,
    store: MediaStore,
    settings: DownloadSettings,
    now: datetime,
    run_id: str,
    fallbacks: Sequence[Fallback] = (),
    on_done: Callable[[MediaFile], None] | None = None,
) -> list[MediaFile]:
    """One MediaFile per reel, in input order, fetched `settings.concurrency` at a time. Never raises for
    one reel's failure: its status (ok, failed, expired, refused, invalid, gone) and error say what happened.
    """
    downloader = _Downloader(client, store, settings, now, run_id, tuple(fallbacks))

    def one(reel: Reel) -> MediaFile:
        result = downloader.one(reel)
        if on_done:
            on_done(result)
        return result

    with ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="download") as pool:
        return list(pool.map(one, reels))


def retry_policy(settings: DownloadSettings) -> RetryPolicy:
    """The `[download]` retry settings: a transient failure (reset, timeout, 429/5xx) is fetched again
    after a backoff, or the server's Retry-After, never longer than `max_backoff_s`."""
    return RetryPolicy(
        attempts=settings.retries + 1,
        initial_delay_s=settings.backoff_s,
        max_delay_s=settings.max_backoff_s,
        max_server_delay_s=settings.max_backoff_s,
    )


@dataclass
class _Tries:
    """Requests made for one reel, over its CDN link and its fallbacks: the `attempts` column."""

    n: int = 0


@dataclass(frozen=True)
class _Downloader:
    """What every download of one run shares."""

    client: httpx.Client
    store: MediaStore
    settings: DownloadSettings
    now: datetime
    run_id: str
    fallbacks: tuple[Fallback, ...]

    def one(self, reel: Reel) -> MediaFile:
        tries = _Tries()
        try:
            try:
                if not reel.media_url:
                    raise _NoLink("the scrape has no video URL for this reel")
                if reel.media_url_expires_at is not None and reel.media_url_expires_at <= self.now:
                    raise LinkExpired(
                        f"CDN link expired at {reel.media_url_expires_at:%Y-%m-%d %H:%M} UTC; "
                        "the next scrape refreshes it"
                    )
                return self._with_retries(reel, reel.media_url, "cdn", tries)
            except (LinkExpired, MediaGone, _NoLink) as cdn_error:
                if not self.fallbacks:
                    raise
                return self._via_fallbacks(reel, cdn_error, tries)
        except DownloadError as exc:
            return MediaFile(
                reel.post_id, exc.status, reel.media_url, error=str(exc), attempts=tries.n, run_id=self.run_id
            )
        except Exception as exc:  # one reel's surprise is that reel's row, never the batch's end
            log.warning("download of %s failed unexpectedly: %s", reel.post_id, exc)
            log.debug("download of %s", reel.post_id, exc_info=True)
            return MediaFile(
                reel.post_id,
                "failed",
                reel.media_url,
                error=f"unexpected failure: {exc}"[:1000],
                attempts=tries.n,
                run_id=self.run_id,
            )

    def _via_fallbacks(self, reel: Reel, cdn_error: DownloadError, tries: _Tries) -> MediaFile:
        """The first fallback's good file; else FetchFailed if any failed transiently, else the CDN error."""
        errors: list[DownloadError] = []
        for fallback in self.fallbacks:
            tries.n += 1
            try:
                with self.store.staging() as workdir:
                    found = fallback.locate(reel, workdir)
                    if found.url:
                        return self._with_retries(reel, found.url, fallback.name, tries)
                    assert found.path is not None
                    probe = _validate_file(found.path, self.settings)
                    sha, path = self.store.adopt(found.path)
                    return self._ok(reel, sha, path, probe, fallback.name, tries)
            except DownloadError as exc:
                errors.append(exc)
            except Exception as exc:  # a library's surprise must not take the batch down: retry next run
                log.exception("%s fallback failed on %s", fallback.name, reel.post_id)
                errors.append(FetchFailed(f"{fallback.name}: {type(exc).__name__}: {exc}"))
        message = f"{cdn_error}; " + "; ".join(
            e if str(e).startswith(f.name) else f"{f.name}: {e}"
            for f, e in zip(self.fallbacks, map(str, errors), strict=True)
        )
        if any(isinstance(e, FetchFailed) for e in errors):
            raise FetchFailed(message)
        raise type(cdn_error)(message)

    def _with_retries(self, reel: Reel, url: str, source: str, tries: _Tries) -> MediaFile:
        def attempt() -> MediaFile:
            tries.n += 1
            return self._fetch(reel, url, source, tries)

        return retry_policy(self.settings).call(attempt)

    def _fetch(self, reel: Reel, url: str, source: str, tries: _Tries) -> MediaFile:
        settings = self.settings
        deadline = time.monotonic() + settings.deadline_s
        for _ in range(_MAX_REDIRECTS + 1):
            checked = check_url(url, settings)  # the very URL object the client then requests
            try:
                with self.client.stream(
                    "GET", checked, headers=_IDENTITY, timeout=settings.timeout_s
                ) as response:
                    if response.is_redirect:
                        url = str(response.url.join(response.headers.get("location", "")))
                        continue
                    _check_response(response, settings)
                    with self.store.writer() as part:
                        head = b""
                        # Raw bytes as they arrive: never decompressed (a small gzip body cannot grow past
                        # the cap unseen), and a trickling body reaches the deadline check every read.
                        for chunk in _raw(response):
                            if len(head) < MP4_SNIFF_BYTES:
                                head += chunk[:MP4_SNIFF_BYTES]
                                if len(head) >= MP4_SNIFF_BYTES and not looks_like_mp4(head):
                                    raise InvalidMedia("the response is not an MP4 file")
                            part.write(chunk)
                            if part.bytes > settings.max_bytes:
                                raise InvalidMedia(
                                    f"video is larger than the {settings.max_bytes:,}-byte cap"
                                )
                            if time.monotonic() > deadline:
                                raise FetchFailed(
                                    f"download took longer than {settings.deadline_s:g} s; cut off"
                                )
                        declared = response.headers.get("content-length")
                        if declared is not None and declared.isdigit() and int(declared) != part.bytes:
                            raise FetchFailed(
                                f"body truncated: got {part.bytes:,} of {int(declared):,} bytes"
                            )
                        part.close()
                        probe = probe_video(part.path)
                        sha, path = part.commit()
            except httpx.RemoteProtocolError as exc:
                if "location header" in str(exc).lower():  # httpx's word for a redirect it cannot parse
                    raise DownloadRefused(f"malformed redirect: {exc}") from exc
                raise FetchFailed(f"{type(exc).__name__}: {exc}") from exc
            except httpx.TransportError as exc:
                raise FetchFailed(f"{type(exc).__name__}: {exc}") from exc
            return self._ok(reel, sha, path, probe, source, tries)
        raise DownloadRefused(f"more than {_MAX_REDIRECTS} redirects")

    def _ok(
        self, reel: Reel, sha: str, path: Path, probe: VideoProbe, source: str, tries: _Tries
    ) -> MediaFile:
        ensure_thumbnail(path, probe.duration_s)  # once, while the video is at hand; never fatal
        return MediaFile(
            reel.post_id,
            "ok",
            reel.media_url,
            sha256=sha,
            path=str(path),
            bytes=path.stat().st_size,
            duration_s=probe.duration_s,
            has_audio=probe.has_audio,
            source_used=source,
            attempts=tries.n,
            downloaded_at=self.now,
            run_id=self.run_id,
        )


def _validate_file(path: Path, settings: DownloadSettings) -> VideoProbe:
    """The probe of a file a fallback wrote, after the same checks a CDN download gets."""
    size = path.stat().st_size
    if size > settings.max_bytes:
        raise InvalidMedia(f"video is {size:,} bytes, over the {settings.max_bytes:,}-byte cap")
    with path.open("rb") as fh:
        if not looks_like_mp4(fh.read(MP4_SNIFF_BYTES)):
            raise InvalidMedia("the fallback's file is not an MP4 file")
    return probe_video(path)


def _check_response(response: httpx.Response, settings: DownloadSettings) -> None:
    status = response.status_code
    if status == 429 or status >= 500:
        raise _retry_later(f"HTTP {status} from the CDN", response)
    if status != 200:
        body = next(_raw(response, 200), b"")[:200].decode("utf-8", "replace")  # never the whole page
        if status == 403 and "expired" in body.lower():
            raise LinkExpired("CDN answered 403 URL signature expired; the next scrape refreshes the link")
        raise MediaGone(f"HTTP {status} from the CDN: {body.strip()[:80]}")
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        raise InvalidMedia(f"the CDN sent the video {encoding}-encoded; only plain bytes are accepted")
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if not kind.startswith(_VIDEO_TYPES):
        raise InvalidMedia(f"content type {kind or 'missing'} is not a video")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > settings.max_bytes:
        raise InvalidMedia(f"video is {int(declared):,} bytes, over the {settings.max_bytes:,}-byte cap")


def _raw(response: httpx.Response, size: int | None = None) -> Iterator[bytes]:
    """The body's bytes as they arrive, undecoded; a response built in memory (a mounted transport such as
    the sample's) gives its content in one piece."""
    try:
        yield from response.iter_raw(size)
    except httpx.StreamConsumed:
        yield response.content


def _retry_later(message: str, response: httpx.Response) -> FetchFailed:
    """FetchFailed carrying the server's Retry-After (seconds or an HTTP date), when it gave one."""
    error = FetchFailed(message)
    value = response.headers.get("retry-after", "").strip()
    seconds: float | None = None
    if value.isdigit():
        seconds = float(value)
    elif value:
        try:
            seconds = max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            seconds = None
    error.retry_after_s = seconds
    return error
