"""The media stage over `reels` and `media`: fetch the videos not yet stored, record every outcome."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import httpx

from reels.media.download import download_media
from reels.media.fallbacks import Fallback
from reels.pipeline.job import REEL_COLUMNS, Job, chunks, post_keys
from reels.records import MediaFile, Reel, StageCounts, as_row
from reels.storage import Cond
from reels.storage.tables import (
    MEDIA,
    REELS,
)

_DOWNLOAD_BATCH = 100  # a download's result is its file on disk; the row follows within this many
_MEDIA_STATE = ("post_id", "status", "media_url", "sha256")


def reels_to_download(
    reels: Sequence[dict[str, Any]], media: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Reels whose video is not stored yet and may be fetchable now.

    Retried: transient failures. A permanent failure or an expired link is retried only once the scrape
    brings a different link.
    """
    done = {m["post_id"]: m for m in media}
    todo = []
    for reel in reels:
        previous = done.get(reel["post_id"])
        retry = (
            previous is not None and previous["status"] != "ok" and previous["media_url"] != reel["media_url"]
        )
        if previous is None or previous["status"] == "failed" or retry:
            todo.append(reel)
    return todo


def downloads_due(job: Job) -> list[Reel]:
    """The reels whose video is to be fetched now.

    Reads only the reels with no `media` row for their current link other than a transient failure (the
    engine runs that anti-join), then those reels' `media` rows: the day's new and refreshed reels, not
    the history.
    """
    maybe = job.store.missing(
        REELS,
        MEDIA,
        on=("post_id", "media_url"),
        columns=REEL_COLUMNS,
        other_where=[Cond("status", "!=", "failed")],
    ).to_pylist()
    stored = job.rows(MEDIA, _MEDIA_STATE, keys=post_keys(r["post_id"] for r in maybe))
    for row in stored:
        if row["status"] == "ok" and not job.media.has(row["sha256"]):
            row["status"] = "failed"  # the file vanished from the store: fetch it again
    return [Reel(**{c: r[c] for c in REEL_COLUMNS}) for r in reels_to_download(maybe, stored)]


def download(
    job: Job,
    client: httpx.Client,
    fallbacks: Sequence[Fallback] = (),
    on_done: Callable[[MediaFile], None] | None = None,
    due: Sequence[Reel] | None = None,
) -> StageCounts:
    """Fetch the videos not yet stored (`due`, or `downloads_due`); expired or dead links go to the
    fallbacks, in order. `on_done` gets each outcome as soon as it is known (an ok video is in the media
    store by then)."""
    counts = StageCounts("download")
    reels = list(downloads_due(job) if due is None else due)
    with job.progress("download", len(reels)) as advance:
        for chunk in chunks(reels, _DOWNLOAD_BATCH):
            results = download_media(
                chunk,
                client=client,
                store=job.media,
                settings=job.settings.download,
                now=job.now,
                run_id=job.run_id,
                fallbacks=fallbacks,
                on_done=on_done,
            )
            job.merge(MEDIA, [as_row(m) for m in results])
            for result in results:
                counts.add(result.status)
            advance(len(chunk))
    return counts
