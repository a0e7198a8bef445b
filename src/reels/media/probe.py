"""What a video file holds (duration, size, frame rate, codecs), read by the ffmpeg imageio-ffmpeg bundles.

There is no ffprobe in that wheel, so `probe_video` parses the stream summary `ffmpeg -i` prints on stderr.
The download stage calls it to reject files that are not playable videos; the local analyzer calls it first.
"""

from __future__ import annotations

import re
import struct
import subprocess
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg

from reels.errors import InvalidMedia

# How many leading bytes `looks_like_mp4` needs.
MP4_SNIFF_BYTES = 12

_DURATION = re.compile(r"Duration:\s*(\d+):(\d{2}):(\d{2}(?:\.\d+)?)")
_STREAM = re.compile(r"^\s*Stream #\d+:\d+\S*: (Video|Audio): ([\w-]+)(.*)$")
# The ", " prefix keeps the codec tag "(avc1 / 0x31637661)" from passing for a size.
_SIZE = re.compile(r",\s(\d+)x(\d+)")
_FPS = re.compile(r"([\d.]+)(k?) (?:fps|tbr)\b")
_ROTATION = re.compile(r"rotation of (-?[\d.]+) degrees", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class VideoProbe:
    """The first video stream and first audio stream of a file, as displayed (rotation applied)."""

    duration_s: float
    width: int
    height: int
    fps: float
    video_codec: str
    has_audio: bool
    audio_codec: str | None


def looks_like_mp4(head: bytes) -> bool:
    """Whether `head` (the first `MP4_SNIFF_BYTES` or more bytes) starts an ISO-BMFF file: MP4, MOV, M4V.

    Cheap enough to call on the first chunk of a download, where it catches the HTML error pages and JSON
    bodies a CDN sometimes serves with status 200.
    """
    if len(head) < 8 or head[4:8] != b"ftyp":
        return False
    (size,) = struct.unpack(">I", head[:4])
    return size >= 8


def probe_video(path: Path, timeout_s: float = 30) -> VideoProbe:
    """Read `path`'s container header with ffmpeg and return its `VideoProbe`.

    Raises InvalidMedia when the file is missing or empty, is a truncated MP4, cannot be read by ffmpeg
    (HTML page, garbage), has no video stream, or has no positive duration.
    """
    path = Path(path)
    if not path.is_file():
        raise InvalidMedia(f"{path}: not a playable video (no such file)")
    size = path.stat().st_size
    if size == 0:
        raise InvalidMedia(f"{path}: not a playable video (the file is empty)")
    with path.open("rb") as f:
        head = f.read(MP4_SNIFF_BYTES)
    if looks_like_mp4(head):
        # ffmpeg reads a truncated file whose index comes first without complaint: check the box sizes.
        _check_mp4_boxes(path, size)

    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", f"file:{path}"]
    try:
        # ffmpeg exits 1 here ("no output file"); success is judged by what it printed.
        result = subprocess.run(cmd, capture_output=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        reason = f"ffmpeg took over {timeout_s:g} s to read it"
        raise InvalidMedia(f"{path}: not a playable video ({reason})") from exc
    return parse_ffmpeg_info(result.stderr.decode("utf-8", "replace"), path)


def parse_ffmpeg_info(stderr: str, path: Path) -> VideoProbe:
    """Turn the stderr of `ffmpeg -i path` into a `VideoProbe`; raises InvalidMedia as `probe_video` does."""

    def invalid(reason: str) -> InvalidMedia:
        return InvalidMedia(f"{path}: not a playable video ({reason})")

    if "Input #0" not in stderr:
        raise invalid(f"ffmpeg cannot read it: {_last_error(stderr)}")
    video: tuple[str, str, str] | None = None
    audio_codec: str | None = None
    lines = stderr.splitlines()
    for i, line in enumerate(lines):
        match = _STREAM.match(line)
        if not match:
            continue
        kind, codec, rest = match.groups()
        if kind == "Video" and video is None and "(attached pic)" not in rest:
            video = (codec, rest, _stream_block(lines, i))
        elif kind == "Audio" and audio_codec is None:
            audio_codec = codec
    if video is None:
        raise invalid("no video stream")
    codec, rest, block = video

    duration = _DURATION.search(stderr)
    duration_s = int(duration[1]) * 3600 + int(duration[2]) * 60 + float(duration[3]) if duration else 0.0
    if duration_s <= 0:
        raise invalid("no duration: a still image or a broken container")
    size = _SIZE.search(rest)
    fps = _FPS.search(rest)
    if size is None or fps is None:
        raise invalid(f"unreadable video stream: {rest.strip()}")
    width, height = int(size[1]), int(size[2])
    rotation = _ROTATION.search(block)
    # Phones store portrait video as landscape plus a rotation; ffmpeg's decoder applies it, so report that.
    if rotation and round(float(rotation[1])) % 180 == 90:
        width, height = height, width
    frame_rate = float(fps[1]) * (1000 if fps[2] else 1)
    return VideoProbe(
        duration_s=duration_s,
        width=width,
        height=height,
        fps=frame_rate,
        video_codec=codec,
        has_audio=audio_codec is not None,
        audio_codec=audio_codec,
    )


def _check_mp4_boxes(path: Path, size: int) -> None:
    """Walk the top-level ISO-BMFF boxes and raise InvalidMedia if one runs past the end of the file."""
    offset = 0
    with path.open("rb") as f:
        # Fewer than 8 bytes left cannot start a box; players ignore such a tail, so do we.
        while size - offset >= 8:
            f.seek(offset)
            box_size, box_type = struct.unpack(">I4s", f.read(8))
            if box_size == 1:  # 64-bit size follows the type
                if size - offset < 16:
                    break
                (box_size,) = struct.unpack(">Q", f.read(8))
            elif box_size == 0:  # the box runs to the end of the file
                return
            name = box_type.decode("latin-1")
            if box_size < 8:
                raise InvalidMedia(f"{path}: not a playable video (corrupt MP4: box {name!r} at {offset})")
            if offset + box_size > size:
                raise InvalidMedia(
                    f"{path}: not a playable video (truncated: MP4 box {name!r} needs "
                    f"{offset + box_size} bytes, the file has {size}); download it again"
                )
            offset += box_size


def _stream_block(lines: list[str], start: int) -> str:
    """The stream line at `start` plus its indented metadata and side-data lines."""
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.startswith("    "):
            break
        block.append(line)
    return "\n".join(block)


def _last_error(stderr: str) -> str:
    """ffmpeg's error lines, without the "[in#0 @ 0x...]" prefixes and the lines that only repeat the path."""
    reasons: list[str] = []
    for line in stderr.splitlines():
        reason = re.sub(r"^\[[^\]]*\]\s*", "", line.strip())
        skip = not reason or reason in reasons
        if not skip and not reason.startswith(("Error opening input file", "At least one output")):
            reasons.append(reason)
    return "; ".join(reasons)[:300] or "no output"
