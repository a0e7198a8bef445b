"""The download stage's work: fetch each reel's video once, safely, into the content-addressed store.

Concurrency is this module's private business: a bounded thread pool over one shared httpx.Client.
Each outcome, good or bad, is a `MediaFile` with a status; one reel's failure never stops the others.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import httpx

from reels.config import DownloadSettings
from reels.errors import DownloadError, DownloadRefused, FetchFailed, InvalidMedia, LinkExpired, MediaGone
from reels.mediastore import MediaStore
from reels.probe import MP4_SNIFF_BYTES, looks_like_mp4, probe_video
from reels.records import MediaFile, Reel
from reels.urlpolicy import check_url

_MAX_REDIRECTS = 5
_CHUNK = 256 * 1024
_VIDEO_TYPES = ("video/", "application/octet-stream", "binary/octet-stream")


def download_media(
    reels: Sequence[Reel],
    *,
    client: httpx.Client,
    store: MediaStore,
    settings: DownloadSettings,
    now: datetime,
    run_id: str,
    on_done: Callable[[MediaFile], None] | None = None,
) -> list[MediaFile]:
    """One MediaFile per reel, in input order."""

    def one(reel: Reel) -> MediaFile:
        result = download_one(reel, client=client, store=store, settings=settings, now=now, run_id=run_id)
        if on_done:
            on_done(result)
        return result

    with ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="download") as pool:
        return list(pool.map(one, reels))


def download_one(
    reel: Reel,
    *,
    client: httpx.Client,
    store: MediaStore,
    settings: DownloadSettings,
    now: datetime,
    run_id: str,
) -> MediaFile:
    url = reel.media_url
    attempts = 0
    try:
        if not url:
            raise InvalidMedia("the scrape has no video URL for this reel")
        if reel.media_url_expires_at is not None and reel.media_url_expires_at <= now:
            raise LinkExpired(
                f"CDN link expired at {reel.media_url_expires_at:%Y-%m-%d %H:%M} UTC; "
                "the next scrape refreshes it"
            )
        while True:
            attempts += 1
            try:
                return _fetch(reel, url, client, store, settings, now, run_id, attempts)
            except FetchFailed:
                if attempts > settings.retries:
                    raise
                time.sleep(min(0.5 * 2 ** (attempts - 1), 8.0) * (0.5 + random.random()))
    except DownloadError as exc:
        return MediaFile(reel.post_id, exc.status, url, error=str(exc), attempts=attempts, run_id=run_id)


def _fetch(
    reel: Reel,
    url: str,
    client: httpx.Client,
    store: MediaStore,
    settings: DownloadSettings,
    now: datetime,
    run_id: str,
    attempts: int,
) -> MediaFile:
    for _ in range(_MAX_REDIRECTS + 1):
        check_url(url, settings)
        try:
            with client.stream("GET", url, timeout=settings.timeout_s) as response:
                if response.is_redirect:
                    url = str(response.url.join(response.headers.get("location", "")))
                    continue
                _check_response(response, settings)
                with store.writer() as part:
                    head = b""
                    for chunk in response.iter_bytes(_CHUNK):
                        if len(head) < MP4_SNIFF_BYTES:
                            head += chunk[:MP4_SNIFF_BYTES]
                            if len(head) >= MP4_SNIFF_BYTES and not looks_like_mp4(head):
                                raise InvalidMedia("the response is not an MP4 file")
                        part.write(chunk)
                        if part.bytes > settings.max_bytes:
                            raise InvalidMedia(f"video is larger than the {settings.max_bytes:,}-byte cap")
                    declared = response.headers.get("content-length")
                    if declared is not None and declared.isdigit() and int(declared) != part.bytes:
                        raise FetchFailed(f"body truncated: got {part.bytes:,} of {int(declared):,} bytes")
                    part.close()
                    probe = probe_video(part.path)
                    sha, path = part.commit()
        except httpx.TransportError as exc:
            raise FetchFailed(f"{type(exc).__name__}: {exc}") from exc
        return MediaFile(
            reel.post_id,
            "ok",
            reel.media_url,
            sha256=sha,
            path=str(path),
            bytes=path.stat().st_size,
            duration_s=probe.duration_s,
            has_audio=probe.has_audio,
            source_used="cdn",
            attempts=attempts,
            downloaded_at=now,
            run_id=run_id,
        )
    raise DownloadRefused(f"more than {_MAX_REDIRECTS} redirects")


def _check_response(response: httpx.Response, settings: DownloadSettings) -> None:
    status = response.status_code
    if status == 429 or status >= 500:
        raise FetchFailed(f"HTTP {status} from the CDN")
    if status != 200:
        body = response.read()[:200].decode("utf-8", "replace")
        if status == 403 and "expired" in body.lower():
            raise LinkExpired("CDN answered 403 URL signature expired; the next scrape refreshes the link")
        raise MediaGone(f"HTTP {status} from the CDN: {body.strip()[:80]}")
    kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
    if not kind.startswith(_VIDEO_TYPES):
        raise InvalidMedia(f"content type {kind or 'missing'} is not a video")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > settings.max_bytes:
        raise InvalidMedia(f"video is {int(declared):,} bytes, over the {settings.max_bytes:,}-byte cap")
