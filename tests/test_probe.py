"""probe_video and looks_like_mp4 on real tiny files made with the bundled ffmpeg."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest

from reels.errors import InvalidMedia
from reels.media.probe import MP4_SNIFF_BYTES, VideoProbe, looks_like_mp4, parse_ffmpeg_info, probe_video
from tests.videos import make_video

FRAMES = [np.full((64, 48, 3), i * 10, np.uint8) for i in range(20)]  # 48x64, 2 s at 10 fps


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("probe")


@pytest.fixture(scope="module")
def with_audio(folder: Path) -> Path:
    return make_video(folder / "audio.mp4", FRAMES, 10, "sine=frequency=440")


@pytest.fixture(scope="module")
def without_audio(folder: Path) -> Path:
    return make_video(folder / "silent.mp4", FRAMES, 10, None)


def test_video_with_audio(with_audio: Path) -> None:
    probe = probe_video(with_audio)
    assert probe == VideoProbe(
        duration_s=pytest.approx(2.0, abs=0.05),
        width=48,
        height=64,
        fps=10.0,
        video_codec="h264",
        has_audio=True,
        audio_codec="aac",
    )


def test_video_without_audio(without_audio: Path) -> None:
    probe = probe_video(without_audio)
    assert (probe.has_audio, probe.audio_codec) == (False, None)
    assert probe.duration_s == pytest.approx(2.0, abs=0.05)
    assert (probe.width, probe.height, probe.video_codec) == (48, 64, "h264")


@pytest.mark.parametrize("faststart", [True, False], ids=["index-first", "index-last"])
def test_truncated_file_is_invalid(folder: Path, faststart: bool) -> None:
    whole = make_video(folder / f"whole-{faststart}.mp4", FRAMES, 10, "sine", faststart=faststart)
    cut = folder / f"cut-{faststart}.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size * 2 // 3])
    with pytest.raises(InvalidMedia, match="truncated"):
        probe_video(cut)


@pytest.mark.parametrize(
    "content",
    [b"<!DOCTYPE html><html><body>Sorry, this page isn't available.</body></html>", b'{"error": "x"}', b""],
    ids=["html", "json", "empty"],
)
def test_non_video_is_invalid(folder: Path, content: bytes) -> None:
    path = folder / "not-a-video.mp4"
    path.write_bytes(content)
    with pytest.raises(InvalidMedia, match="not a playable video"):
        probe_video(path)


def test_audio_only_file_is_invalid(folder: Path) -> None:
    path = folder / "tone.m4a"
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "sine=duration=1"]
    subprocess.run([*cmd, str(path)], check=True, capture_output=True)
    with pytest.raises(InvalidMedia, match="no video stream"):
        probe_video(path)


def test_missing_file_is_invalid(folder: Path) -> None:
    with pytest.raises(InvalidMedia, match="no such file"):
        probe_video(folder / "nope.mp4")


def test_looks_like_mp4(with_audio: Path) -> None:
    assert looks_like_mp4(with_audio.read_bytes()[:MP4_SNIFF_BYTES])
    assert not looks_like_mp4(b"<!DOCTYPE html>")
    assert not looks_like_mp4(b'{"status": "fail"}')
    assert not looks_like_mp4(b"\x00\x00\x00\x00ftypisom")  # a box cannot be smaller than its header
    assert not looks_like_mp4(b"\x00\x00")


# Stream summaries as other ffmpeg builds print them: a rotated phone video, NTSC rates, cover art.
ROTATED = """Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'clip.mov':
  Duration: 00:01:02.50, start: 0.000000, bitrate: 8000 kb/s
  Stream #0:0[0x1](und): Video: hevc (Main) (hvc1 / 0x31637668), yuv420p(tv, bt709), 1920x1080, 7800 kb/s, \
29.97 fps, 29.97 tbr, 600 tbn (default)
    Metadata:
      handler_name    : Core Media Video
    Side data:
      displaymatrix: rotation of -90.00 degrees
  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 44100 Hz, stereo, fltp, 160 kb/s (default)
At least one output file must be specified
"""
COVER_ART_ONLY = """Input #0, mp3, from 'song.mp3':
  Duration: 00:03:00.00, start: 0.025057, bitrate: 128 kb/s
  Stream #0:0: Audio: mp3 (mp3float), 44100 Hz, stereo, fltp, 128 kb/s
  Stream #0:1: Video: mjpeg (Baseline), yuvj420p(pc, bt470bg/unknown/unknown), 500x500, 90k tbr, 90k tbn \
(attached pic)
"""


def test_parse_rotated_hevc() -> None:
    probe = parse_ffmpeg_info(ROTATED, Path("clip.mov"))
    assert probe == VideoProbe(62.5, 1080, 1920, 29.97, "hevc", True, "aac")


def test_parse_cover_art_is_not_a_video() -> None:
    with pytest.raises(InvalidMedia, match="no video stream"):
        parse_ffmpeg_info(COVER_ART_ONLY, Path("song.mp3"))


def test_parse_missing_duration() -> None:
    info = ROTATED.replace("Duration: 00:01:02.50", "Duration: N/A")
    with pytest.raises(InvalidMedia, match="no duration"):
        parse_ffmpeg_info(info, Path("clip.mov"))
