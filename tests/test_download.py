"""The download stage against a local HTTP server on 127.0.0.1 serving real small MP4s."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import numpy as np
import pytest

from reels.config import DownloadSettings
from reels.download import download_media
from reels.mediastore import MediaStore
from reels.records import Reel
from tests.videos import make_video

NOW = datetime(2026, 11, 16, tzinfo=UTC)


@pytest.fixture(scope="module")
def mp4(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    frames = [np.full((64, 48, 3), i * 8, np.uint8) for i in range(20)]
    return make_video(tmp_path_factory.mktemp("v") / "ok.mp4", frames, 10, "sine=frequency=440").read_bytes()


@pytest.fixture(scope="module")
def server(mp4: bytes) -> Iterator[str]:
    hits: dict[str, int] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def send(self, status: int, body: bytes, kind: str = "video/mp4", length: int | None = None) -> None:
            self.send_response(status)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(body) if length is None else length))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            hits[path] = hits.get(path, 0) + 1
            if path == "/ok.mp4":
                self.send(200, mp4)
            elif path == "/flaky.mp4":
                self.send(503, b"busy", "text/plain") if hits[path] == 1 else self.send(200, mp4)
            elif path == "/expired.mp4":
                self.send(403, b"URL signature expired", "text/plain")
            elif path == "/missing.mp4":
                self.send(404, b"Not Found", "text/plain")
            elif path == "/page.mp4":
                self.send(200, b"<html>login</html>", "text/html")
            elif path == "/garbage.mp4":
                self.send(200, b"\x00" * 4 + b"ftypisom" + b"\x00" * 2000)
            elif path == "/truncated.mp4":
                self.send(200, mp4[:1000], length=len(mp4))
            elif path == "/huge.mp4":
                self.send(200, b"", length=10**9)
            elif path == "/to-private.mp4":
                self.send_response(302)
                self.send_header("location", "http://10.0.0.1/x.mp4")
                self.end_headers()
            elif path == "/to-ok.mp4":
                self.send_response(302)
                self.send_header("location", "/ok.mp4")
                self.end_headers()
            else:
                self.send(404, b"?", "text/plain")

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()


def reel(post_id: str, url: str | None, expires: datetime | None = None) -> Reel:
    return Reel(
        post_id,
        "",
        "a",
        "",
        [],
        NOW,
        NOW,
        1,
        "videoPlayCount",
        1,
        1,
        2.0,
        url,
        expires,
        False,
        None,
        "clips",
        "test",
    )


SETTINGS = DownloadSettings(allowed_hosts=("127.0.0.1",), allow_http=True, retries=1, max_bytes=10**6)


def test_every_case_ends_in_its_status(server: str, tmp_path: Path) -> None:
    cases = {
        "ok": (f"{server}/ok.mp4", None, "ok"),
        "flaky": (f"{server}/flaky.mp4", None, "ok"),
        "redirect": (f"{server}/to-ok.mp4", None, "ok"),
        "oe_past": (f"{server}/ok.mp4", NOW - timedelta(hours=1), "expired"),
        "signature": (f"{server}/expired.mp4", None, "expired"),
        "missing": (f"{server}/missing.mp4", None, "gone"),
        "html": (f"{server}/page.mp4", None, "invalid"),
        "garbage": (f"{server}/garbage.mp4", None, "invalid"),
        "huge": (f"{server}/huge.mp4", None, "invalid"),
        "truncated": (f"{server}/truncated.mp4", None, "failed"),
        "private": (f"{server}/to-private.mp4", None, "refused"),
        "host": ("https://evil.example/x.mp4", None, "refused"),
        "nourl": (None, None, "invalid"),
    }
    reels = [reel(name, url, exp) for name, (url, exp, _) in cases.items()]
    store = MediaStore(tmp_path / "media")
    with httpx.Client(follow_redirects=False) as client:
        results = download_media(reels, client=client, store=store, settings=SETTINGS, now=NOW, run_id="r")
    got = {m.post_id: m.status for m in results}
    assert got == {name: status for name, (_, _, status) in cases.items()}
    for m in results:
        assert (m.error is None) == (m.status == "ok"), m
    ok = next(m for m in results if m.post_id == "ok")
    assert ok.has_audio is True and ok.duration_s == pytest.approx(2.0, abs=0.2)
    flaky = next(m for m in results if m.post_id == "flaky")
    assert flaky.attempts == 2 and flaky.sha256 == ok.sha256  # same bytes, one file in the store
    assert store.has(ok.sha256)
    assert not list((tmp_path / "media" / ".partial").iterdir())  # no half files left behind
    assert "signature expired" in next(m for m in results if m.post_id == "signature").error
