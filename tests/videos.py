"""Tiny synthetic videos for the probe and analyzer tests, made with the ffmpeg that imageio-ffmpeg bundles.

Frames are RGB uint8 arrays of one size. A shot is a list of frames; a hard cut is list concatenation:
`[*pan(cat, SIZE, 10), *still(coffee, SIZE, 10)]`.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np

# (width, height) of a portrait reel, kept tiny so the tests stay fast.
SIZE = (180, 320)


def make_video(
    path: Path,
    frames: Sequence[np.ndarray],
    fps: int,
    audio: str | None = None,
    *,
    faststart: bool = True,
) -> Path:
    """Encode `frames` as H.264 into `path` and return it.

    `audio` is a lavfi source such as "sine=frequency=440" or "anullsrc" (a silent track), or None for no
    audio track. `faststart` moves the index (moov) to the front, as Instagram's CDN serves its files.
    """
    height, width = frames[0].shape[:2]
    duration = len(frames) / fps
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    cmd += ["-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-framerate", str(fps)]
    cmd += ["-i", "pipe:0"]
    if audio is not None:
        cmd += ["-f", "lavfi", "-i", audio, "-map", "0:v", "-map", "1:a", "-c:a", "aac"]
    cmd += ["-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-t", f"{duration:.3f}"]
    if faststart:
        cmd += ["-movflags", "+faststart"]
    cmd.append(str(path))
    data = b"".join(np.ascontiguousarray(frame, dtype=np.uint8).tobytes() for frame in frames)
    subprocess.run(cmd, input=data, check=True, capture_output=True, timeout=60)
    return path


def view(
    image: np.ndarray,
    size: tuple[int, int] = SIZE,
    *,
    zoom: float = 1.0,
    center: tuple[float, float] = (0.5, 0.5),
) -> np.ndarray:
    """One frame: the part of `image` seen at `zoom` around `center` (fractions), letterboxed into `size`.

    Letterboxing keeps a landscape subject whole in a portrait frame, as reels reposting landscape footage do.
    """
    image = _rgb(image)
    img_h, img_w = image.shape[:2]
    crop_w, crop_h = img_w / zoom, img_h / zoom
    x0 = int(np.clip(center[0] * img_w - crop_w / 2, 0, img_w - crop_w))
    y0 = int(np.clip(center[1] * img_h - crop_h / 2, 0, img_h - crop_h))
    crop = image[y0 : y0 + int(crop_h), x0 : x0 + int(crop_w)]
    width, height = size
    scale = min(width / crop.shape[1], height / crop.shape[0])
    new_w, new_h = max(1, round(crop.shape[1] * scale)), max(1, round(crop.shape[0] * scale))
    resized = cv2.resize(crop, (new_w, new_h), interpolation=cv2.INTER_AREA)
    frame = np.zeros((height, width, 3), np.uint8)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    frame[top : top + new_h, left : left + new_w] = resized
    return frame


def still(image: np.ndarray, size: tuple[int, int] = SIZE, n: int = 10) -> list[np.ndarray]:
    """A static shot of the whole image."""
    return [view(image, size)] * n


def pan(
    image: np.ndarray,
    size: tuple[int, int] = SIZE,
    n: int = 10,
    *,
    zoom: float = 1.3,
    start: tuple[float, float] = (0.3, 0.5),
    end: tuple[float, float] = (0.7, 0.5),
) -> list[np.ndarray]:
    """A camera pan across `image` at a fixed zoom, from centre `start` to centre `end`."""
    xs, ys = np.linspace(start[0], end[0], n), np.linspace(start[1], end[1], n)
    return [view(image, size, zoom=zoom, center=(x, y)) for x, y in zip(xs, ys, strict=True)]


def zoom_in(
    image: np.ndarray, size: tuple[int, int] = SIZE, n: int = 10, *, start: float = 1.0, end: float = 1.4
) -> list[np.ndarray]:
    """A slow zoom into the centre of `image`."""
    return [view(image, size, zoom=z) for z in np.linspace(start, end, n)]


def _rgb(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    return np.ascontiguousarray(image[..., :3], dtype=np.uint8)
