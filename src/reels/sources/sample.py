"""The bundled sample: two recorded scrapes of cat accounts in the actor's item format, with their videos.

The videos are served to the download stage by `SampleMediaTransport`, an HTTP transport that answers the
sample's CDN URLs from the package instead of the network, so the download stage runs its real code path
(policy checks, streaming, validation, content-addressed store) with no network at all.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from importlib import resources
from importlib.abc import Traversable
from pathlib import PurePosixPath

import httpx

from reels.errors import SourceError
from reels.sources import Scrape

SAMPLE_HOST = "scontent-sample.cdninstagram.com"


def _sample_dir() -> Traversable:
    return resources.files("reels.sources") / "sample_data"


class SampleSource:
    name = "sample"

    def ingested(self, scrape: Scrape) -> None:
        pass  # nothing to resume: the items are still where they were read from

    def scrapes(self) -> Iterator[Scrape]:
        folder = _sample_dir()
        try:
            manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
            for entry in manifest["scrapes"]:
                items = json.loads((folder / entry["file"]).read_text(encoding="utf-8"))
                yield Scrape(
                    self.name, datetime.fromisoformat(entry["scraped_at"].replace("Z", "+00:00")), items
                )
        except (OSError, KeyError, ValueError) as exc:
            raise SourceError(f"The bundled sample is damaged ({exc}); reinstall reels-etl.") from exc


class SampleMediaTransport(httpx.BaseTransport):
    """Answers GET https://scontent-sample.cdninstagram.com/.../<shortCode>.mp4 from the bundled videos."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        name = PurePosixPath(request.url.path).name
        video = _sample_dir() / "media" / name
        if request.url.host != SAMPLE_HOST or not name.endswith(".mp4") or not video.is_file():
            return httpx.Response(404, stream=httpx.ByteStream(b"Not Found"), request=request)
        body = video.read_bytes()
        headers = {"content-type": "video/mp4", "content-length": str(len(body))}
        # A stream, not `content=`: the body arrives as a network transport's would, read once and raw.
        return httpx.Response(200, headers=headers, stream=httpx.ByteStream(body), request=request)
