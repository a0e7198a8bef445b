"""A reel's thumbnail: one frame of its video, small enough to inline in the report (a JPEG about 160 px
wide, a few kB), extracted once by the ffmpeg imageio-ffmpeg bundles and kept beside the video in the media
store (`<sha256>.jpg` next to `<sha256>.mp4`). Never fatal: a video ffmpeg cannot read for a frame has no
thumbnail, and the report shows a placeholder."""

from __future__ import annotations

import logging
import os
import subprocess
import threading
from pathlib import Path

import imageio_ffmpeg

log = logging.getLogger(__name__)

WIDTH = 160
# A second in: the first frame is often black or a fade; a reel's hook is on screen by then.
AT_S = 1.0


def thumbnail_path(video: Path) -> Path:
    return video.with_suffix(".jpg")


def ensure_thumbnail(video: Path, duration_s: float | None = None, timeout_s: float = 30) -> Path | None:
    """The thumbnail beside `video`, extracted now when it is not there yet; None when ffmpeg cannot."""
    out = thumbnail_path(video)
    if out.is_file() and out.stat().st_size:
        return out
    if not video.is_file():
        return None
    at = min(AT_S, duration_s / 3) if duration_s else AT_S
    part = out.with_name(f".{out.name}.{os.getpid()}.{threading.get_ident()}.part")  # one per writer
    try:
        command = [
            imageio_ffmpeg.get_ffmpeg_exe(), "-nostdin", "-loglevel", "error", "-y",
            "-ss", f"{at:.2f}", "-i", str(video),
            "-frames:v", "1", "-vf", f"scale={WIDTH}:-2", "-q:v", "6", "-f", "mjpeg", str(part),
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, timeout=timeout_s, check=False)
        if done.returncode != 0 or not part.is_file() or not part.stat().st_size:
            log.warning("no thumbnail for %s: %s", video.name, done.stderr.decode(errors="replace")[-200:])
            return None
        os.replace(part, out)  # whole or not at all: a reader never sees half a JPEG
        return out
    except Exception as exc:  # no ffmpeg, a timeout, a full disk: the reel just has no picture
        log.warning("no thumbnail for %s: %s", video.name, exc)
        return None
    finally:
        part.unlink(missing_ok=True)


__all__ = ["WIDTH", "ensure_thumbnail", "thumbnail_path"]
