"""A reel's thumbnail: one small frame beside its video, made once, never fatal."""

from __future__ import annotations

import shutil
from pathlib import Path

from reels.media.thumbnail import WIDTH, ensure_thumbnail, thumbnail_path
from tests.test_gemini import SAMPLE_MEDIA


def test_a_stored_video_gets_a_small_jpeg_beside_it_once(tmp_path: Path) -> None:
    video = tmp_path / "ab" / "abc.mp4"
    video.parent.mkdir()
    shutil.copy(SAMPLE_MEDIA[0], video)
    thumb = ensure_thumbnail(video, 10.0)
    assert thumb == thumbnail_path(video) == video.with_suffix(".jpg")
    data = thumb.read_bytes()
    assert data[:2] == b"\xff\xd8" and len(data) < 40_000  # a JPEG, small enough to inline
    assert int.from_bytes(data[data.index(b"\xff\xc0") + 7 : data.index(b"\xff\xc0") + 9], "big") == WIDTH
    mtime = thumb.stat().st_mtime_ns
    assert ensure_thumbnail(video, 10.0) == thumb and thumb.stat().st_mtime_ns == mtime  # made once
    assert sorted(p.name for p in video.parent.iterdir()) == ["abc.jpg", "abc.mp4"]  # nothing left behind


def test_a_file_ffmpeg_cannot_read_has_no_thumbnail_and_leaves_nothing(tmp_path: Path) -> None:
    video = tmp_path / "bad.mp4"
    video.write_bytes(b"<html>not a video</html>")
    assert ensure_thumbnail(video) is None
    assert ensure_thumbnail(tmp_path / "gone.mp4") is None
    assert [p.name for p in tmp_path.iterdir()] == ["bad.mp4"]
