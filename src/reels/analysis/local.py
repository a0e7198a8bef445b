"""The offline analyzer: measurements from the file itself, with no network and no downloaded model.

It fills the "Measurements" half of `VideoAnalysis` and only the "Understanding" fields that follow from
them (pacing, silent audio, single shot, slideshow). It never guesses a summary, hook or tone.

One ffmpeg process decodes small frames at `SAMPLE_FPS` and runs volumedetect on the audio; the frames are
consumed as they stream, so memory does not grow with the video's length.
"""

from __future__ import annotations

import math
import re
import subprocess
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np

from reels.analysis import Analyzed, ReelContext
from reels.analysis_schema import PROMPT_VERSION, Pacing, VideoAnalysis
from reels.errors import AnalysisError, ConfigError
from reels.media.probe import VideoProbe, probe_video

SAMPLE_FPS = 4
# Frames are decoded with this short side: enough for a cat face to fill a 24 px detector window.
SHORT_SIDE = 128
MAX_LONG_SIDE = 512

# A hard cut: the HSV-histogram distance (Bhattacharyya, 0..1) between two samples reaches CUT_MIN_DISTANCE
# and CUT_RATIO times the calm level on both sides of it. Pans and zooms drift steadily (measured up to 0.64
# in a fast pan), so the ratio, not the floor, keeps them from counting; cuts measured 0.26-0.96.
CUT_MIN_DISTANCE = 0.2
CUT_RATIO = 3.0
# Two flagged transitions in a row are one cut when the sample between them is a cross-fade of its neighbours
# (a dissolve): fitted as a blend of the two, it leaves under DISSOLVE_RESIDUAL of their difference.
DISSOLVE_RESIDUAL = 0.3

# Cat faces are searched in every CAT_EVERY-th sample (2 per second), at most MAX_CAT_FRAMES per video.
CAT_EVERY = 2
MAX_CAT_FRAMES = 48
CAT_VISIBLE_SHARE = 0.2

SILENT_DB = -60.0
# Mean absolute frame difference (0..1) between samples 1/SAMPLE_FPS apart.
STILL_MOTION = 0.005
MEDIUM_MOTION, FAST_MOTION = 0.04, 0.10
MEDIUM_CUTS_PER_S, FAST_CUTS_PER_S = 0.2, 0.5

_MEAN_VOLUME = re.compile(r"mean_volume: (-?(?:[\d.]+|inf)) dB")


class LocalAnalyzer:
    """Analyzes a video file on the CPU in well under a second for a short reel; deterministic."""

    name = "local"
    # Version of the heuristics below: bump it whenever a threshold or method changes.
    model = "opencv-haar-v1"
    # There is no prompt: this is the version of the schema it fills, so a schema change re-analyzes.
    prompt_version = PROMPT_VERSION

    def __init__(self, *, timeout_s: float = 120) -> None:
        self._timeout_s = timeout_s
        self._cat_faces = CatFaceDetector()

    def analyze(self, video: Path, context: ReelContext | None = None) -> Analyzed:
        """The `Analyzer` protocol: `measure(video)`, wrapped. The context (caption...) is not used."""
        return Analyzed(self.measure(video))

    def measure(self, video: Path) -> VideoAnalysis:
        """Measure `video` and return a `VideoAnalysis` whose model-only fields are None.

        Raises InvalidMedia if the file is not a playable video, AnalysisError if decoding it fails.
        """
        probe = probe_video(video)
        samples = _Samples(self._cat_faces, self._cat_stride(probe.duration_s))
        loudness = _decode(video, probe, self._timeout_s, samples.add)
        if not samples.brightness:
            raise AnalysisError(f"{video}: ffmpeg decoded no frames; the video stream is empty or broken")

        cuts = cut_indices(samples.distances, samples.blends)
        # Motion within shots: a cut is a change of picture, not movement.
        cut_set = set(cuts)
        steady = [d for i, d in enumerate(samples.motion) if i not in cut_set]
        motion = float(np.mean(steady)) if steady else 0.0
        cuts_per_s = len(cuts) / probe.duration_s
        cat_share = float(np.mean(samples.cat_hits)) if samples.cat_hits else 0.0
        silent = not probe.has_audio or (loudness is not None and loudness < SILENT_DB)
        if not cuts:
            video_format = "single_shot"
        elif steady and max(steady) < STILL_MOTION:
            video_format = "slideshow"  # several shots, none of which moves: still pictures
        else:
            video_format = None
        return VideoAnalysis(
            format=video_format,
            audio_kind="silent" if silent else None,
            pacing=pacing(cuts_per_s, motion),
            duration_s=round(probe.duration_s, 3),
            width=probe.width,
            height=probe.height,
            fps=round(probe.fps, 3),
            has_audio=probe.has_audio,
            loudness_db=loudness,
            shot_count=len(cuts) + 1,
            cuts_per_s=round(cuts_per_s, 4),
            first_cut_s=(cuts[0] + 1) / SAMPLE_FPS if cuts else None,
            motion_level=round(motion, 4),
            brightness=round(float(np.mean(samples.brightness)), 4),
            cat_visible=cat_share >= CAT_VISIBLE_SHARE,
            cat_frame_share=round(cat_share, 4),
        )

    @staticmethod
    def _cat_stride(duration_s: float) -> int:
        expected = math.ceil(duration_s * SAMPLE_FPS)
        return max(CAT_EVERY, math.ceil(expected / MAX_CAT_FRAMES))


class CatFaceDetector:
    """Frontal cat faces with OpenCV's two Haar cascades, which must agree on the same face.

    A weak signal (virality.md §6.1): it finds a cat whose whole face is in view, misses close-ups with the
    ears cropped, profiles and cats seen from behind. Either cascade alone fires on textures; requiring the
    standard cascade to confirm the extended one's hit kept false positives at zero on our test images.
    """

    SCALE_FACTOR = 1.05
    MIN_NEIGHBORS = 3
    MIN_FACE = 24
    # Grey border, as a share of the short side: lets the detector window fit a face cut by the frame edge.
    PAD = 0.4

    def __init__(self) -> None:
        self._extended = _load_cascade("haarcascade_frontalcatface_extended.xml")
        self._standard = _load_cascade("haarcascade_frontalcatface.xml")
        # detectMultiScale keeps per-call state in the classifier, and the analyze stage runs worker threads.
        # The lock costs little: OpenCV already spreads one call over the cores.
        self._lock = threading.Lock()

    def detect(self, gray: np.ndarray) -> bool:
        """Whether a frontal cat face is visible in the grayscale frame `gray`."""
        pad = round(self.PAD * min(gray.shape))
        padded = cv2.copyMakeBorder(gray, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=128)
        size = (self.MIN_FACE, self.MIN_FACE)
        with self._lock:
            faces = self._extended.detectMultiScale(
                padded, self.SCALE_FACTOR, self.MIN_NEIGHBORS, minSize=size
            )
            for x, y, w, h in faces:
                margin = w // 2
                roi = padded[max(0, y - margin) : y + h + margin, max(0, x - margin) : x + w + margin]
                # Only a face of about the same size, around the same spot, counts as agreement.
                lo, hi = max(self.MIN_FACE, int(w * 0.6)), int(w * 1.6)
                confirmed = self._standard.detectMultiScale(
                    roi, self.SCALE_FACTOR, self.MIN_NEIGHBORS, minSize=(lo, lo), maxSize=(hi, hi)
                )
                if len(confirmed):
                    return True
        return False


def cut_indices(distances: list[float], blends: list[bool]) -> list[int]:
    """Indices i of the sample transitions i → i+1 that are hard cuts.

    `distances[i]` is the histogram distance between samples i and i+1; `blends[i]` says whether sample i+1
    is a cross-fade of samples i and i+2.
    """
    cuts: list[int] = []
    for i, distance in enumerate(distances):
        if distance < max(CUT_MIN_DISTANCE, CUT_RATIO * _calm_level(distances, i)):
            continue
        if cuts and cuts[-1] == i - 1 and blends[i - 1]:
            if distance > distances[i - 1]:
                cuts[-1] = i
            continue
        cuts.append(i)
    return cuts


def _calm_level(distances: list[float], i: int) -> float:
    """The distance level around transition i: the higher of the lowest two on each side.

    Lowest, so that a neighbouring cut does not hide this one; the higher side, so that a spike in the
    middle of a sustained fast pan is judged against the pan.
    """
    sides = [side for side in (distances[max(0, i - 2) : i], distances[i + 1 : i + 3]) if side]
    return max(min(side) for side in sides) if sides else 0.0


def pacing(cuts_per_s: float, motion: float) -> Pacing:
    """Slow, medium or fast: the faster of what the cut rate and the motion level say."""
    if cuts_per_s >= FAST_CUTS_PER_S or motion >= FAST_MOTION:
        return "fast"
    if cuts_per_s >= MEDIUM_CUTS_PER_S or motion >= MEDIUM_MOTION:
        return "medium"
    return "slow"


@dataclass(slots=True)
class _Samples:
    """Per-sample measurements, gathered frame by frame as they stream out of ffmpeg."""

    cat_faces: CatFaceDetector
    cat_stride: int
    distances: list[float] = field(default_factory=list)  # histogram distance to the previous sample
    blends: list[bool] = field(default_factory=list)  # whether the previous sample blends its neighbours
    motion: list[float] = field(default_factory=list)  # mean absolute difference to the previous sample
    brightness: list[float] = field(default_factory=list)
    cat_hits: list[bool] = field(default_factory=list)
    _grays: list[np.ndarray] = field(default_factory=list)  # the last two samples
    _hist: np.ndarray | None = None

    def add(self, frame: np.ndarray) -> None:
        gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        hist = _hsv_histogram(frame)
        if len(self._grays) == 2:
            self.blends.append(_is_blend(self._grays[0], self._grays[1], gray))
        if self._hist is not None:
            self.distances.append(cv2.compareHist(self._hist, hist, cv2.HISTCMP_BHATTACHARYYA))
            self.motion.append(float(cv2.absdiff(self._grays[-1], gray).mean()) / 255)
        if len(self.brightness) % self.cat_stride == 0:
            self.cat_hits.append(self.cat_faces.detect(gray))
        self.brightness.append(float(gray.mean()) / 255)
        self._grays = [*self._grays[-1:], gray]
        self._hist = hist


def _is_blend(before: np.ndarray, middle: np.ndarray, after: np.ndarray) -> bool:
    """Whether `middle` is about alpha * before + (1 - alpha) * after, for some alpha strictly inside 0..1."""
    a, m, b = (x.astype(np.float32) for x in (before, middle, after))
    span = a - b
    energy = float((span * span).mean())
    if energy < 1.0:
        return False
    alpha = float(((m - b) * span).mean()) / energy
    residual = float(np.abs(m - b - alpha * span).mean())
    return 0.1 < alpha < 0.9 and residual < DISSOLVE_RESIDUAL * float(np.abs(span).mean())


def _decode(
    video: Path, probe: VideoProbe, timeout_s: float, on_frame: Callable[[np.ndarray], None]
) -> float | None:
    """Feed `on_frame` the BGR frames of `video` sampled at SAMPLE_FPS; return the mean volume in dBFS.

    The volume is None when the file has no audio, or its audio stream holds no samples.
    """
    width, height = _sample_size(probe.width, probe.height)
    cmd = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-nostats", "-i", f"file:{video}"]
    cmd += ["-map", "0:V:0", "-vf", f"fps={SAMPLE_FPS},scale={width}:{height}:flags=area"]
    cmd += ["-f", "rawvideo", "-pix_fmt", "bgr24", "pipe:1"]
    if probe.has_audio:
        cmd += ["-map", "0:a:0", "-af", "volumedetect", "-f", "null", "-"]
    frame_bytes = width * height * 3
    timed_out = threading.Event()
    # stderr goes to a file: ffmpeg may write more than a pipe buffer holds while we are reading stdout.
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)
        assert proc.stdout is not None
        watchdog = threading.Timer(timeout_s, lambda: (timed_out.set(), proc.kill()))
        watchdog.start()
        try:
            with proc.stdout:
                while len(raw := proc.stdout.read(frame_bytes)) == frame_bytes:
                    on_frame(np.frombuffer(raw, np.uint8).reshape(height, width, 3))
            returncode = proc.wait()
        finally:
            watchdog.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        log.seek(0)
        stderr = log.read().decode("utf-8", "replace")
    if timed_out.is_set():
        raise AnalysisError(f"{video}: decoding took over {timeout_s:g} s; retry with a longer timeout")
    if returncode != 0:
        raise AnalysisError(f"{video}: ffmpeg failed to decode it (exit {returncode}): {_errors(stderr)}")
    volumes = _MEAN_VOLUME.findall(stderr) if probe.has_audio else []
    # volumedetect's floor for digital silence is -91 dB; -inf would not fit a float column well.
    return max(float(volumes[-1]), -120.0) if volumes else None


def _sample_size(width: int, height: int) -> tuple[int, int]:
    """The decode size: short side SHORT_SIDE, aspect ratio kept, long side capped."""
    short, long = min(width, height), max(width, height)
    long_px = min(MAX_LONG_SIDE, max(SHORT_SIDE, round(SHORT_SIDE * long / max(short, 1))))
    return (SHORT_SIDE, long_px) if width <= height else (long_px, SHORT_SIDE)


def _hsv_histogram(frame: np.ndarray) -> np.ndarray:
    # 16 value bins, not 4: a cut between two grey textures (brick → grass) differs only in brightness.
    hsv = cv2.cvtColor(frame, cv2.COLOR_BGR2HSV)
    hist = cv2.calcHist([hsv], [0, 1, 2], None, [16, 4, 16], [0, 180, 0, 256, 0, 256])
    return cv2.normalize(hist, hist).flatten()


def _load_cascade(name: str) -> cv2.CascadeClassifier:
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    classifier_type = getattr(cv2, "CascadeClassifier", None)
    path = Path(folder or "") / name
    if folder is None or classifier_type is None or not path.is_file():
        raise ConfigError(
            f"OpenCV {cv2.__version__} lacks the Haar cascade {name}: install opencv-python-headless>=4.8,<5"
        )
    cascade = classifier_type(str(path))
    if cascade.empty():
        raise ConfigError(f"OpenCV could not load {path}: reinstall opencv-python-headless>=4.8,<5")
    return cascade


def _errors(stderr: str) -> str:
    lines = [line.strip() for line in stderr.splitlines() if "rror" in line or "nvalid" in line]
    return "; ".join(lines[-3:])[:300] or "no error message"
