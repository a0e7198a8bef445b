"""LocalAnalyzer on tiny synthetic reels: pans, hard cuts, tones, skimage's cat (chelsea) vs other photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from reels.analysis import Analyzed, ReelContext
from reels.analysis.local import LocalAnalyzer, cut_indices, pacing
from reels.errors import InvalidMedia
from tests.videos import make_video, pan, still, zoom_in

skimage_data = pytest.importorskip("skimage.data", reason="the test images come from scikit-image")

FPS = 10
Images = dict[str, np.ndarray]


@pytest.fixture(scope="module")
def analyzer() -> LocalAnalyzer:
    return LocalAnalyzer()


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("local")


@pytest.fixture(scope="module")
def images() -> Images:
    names = ("chelsea", "coffee", "rocket", "astronaut")
    return {name: getattr(skimage_data, name)() for name in names}


def test_pan_with_tone(analyzer: LocalAnalyzer, folder: Path, images: Images) -> None:
    frames = pan(images["coffee"], n=25, zoom=1.6, start=(0.2, 0.4), end=(0.8, 0.6))
    video = make_video(folder / "pan.mp4", frames, FPS, "sine=frequency=440")
    result = analyzer.measure(video)
    assert (result.width, result.height, result.fps, result.has_audio) == (180, 320, 10.0, True)
    assert result.duration_s == pytest.approx(2.5, abs=0.05)
    assert (result.shot_count, result.cuts_per_s, result.first_cut_s) == (1, 0.0, None)
    assert result.format == "single_shot"
    assert result.loudness_db is not None and -30 < result.loudness_db < -10
    assert result.audio_kind is None  # a tone is not silence, and music vs speech is not measured
    assert result.motion_level is not None and result.motion_level > 0.005
    assert result.summary is None and result.hook is None  # never invented


def test_two_hard_cuts(analyzer: LocalAnalyzer, folder: Path, images: Images) -> None:
    frames = [*pan(images["coffee"], n=10), *still(images["rocket"], n=10), *pan(images["astronaut"], n=10)]
    result = analyzer.measure(make_video(folder / "cuts.mp4", frames, FPS, None))
    assert result.shot_count == 3
    assert result.first_cut_s == pytest.approx(1.0, abs=0.25)
    assert result.cuts_per_s == pytest.approx(2 / 3, abs=0.01)
    assert result.pacing == "fast"
    assert result.format is None  # several moving shots: skit, compilation...? Only a model can tell.


def test_still_shots_are_a_slideshow(analyzer: LocalAnalyzer, folder: Path, images: Images) -> None:
    frames = [*still(images["rocket"], n=15), *still(images["astronaut"], n=15)]
    result = analyzer.measure(make_video(folder / "slides.mp4", frames, FPS, None))
    assert (result.shot_count, result.format, result.motion_level) == (2, "slideshow", 0.0)


def test_no_audio_and_silent_audio(analyzer: LocalAnalyzer, folder: Path) -> None:
    grey = [np.full((64, 48, 3), 128, np.uint8)] * 10
    mute = analyzer.measure(make_video(folder / "mute.mp4", grey, FPS, None))
    assert (mute.has_audio, mute.loudness_db, mute.audio_kind) == (False, None, "silent")
    assert mute.brightness == pytest.approx(0.5, abs=0.02)
    hush = analyzer.measure(make_video(folder / "hush.mp4", grey, FPS, "anullsrc"))
    assert (hush.has_audio, hush.audio_kind) == (True, "silent")
    assert hush.loudness_db is not None and hush.loudness_db < -60


def test_cat_face_is_seen(analyzer: LocalAnalyzer, folder: Path, images: Images) -> None:
    cat = images["chelsea"]
    frames = [*zoom_in(cat, n=15, end=1.15), *pan(cat, n=15, zoom=1.15, start=(0.4, 0.45), end=(0.6, 0.55))]
    result = analyzer.measure(make_video(folder / "cat.mp4", frames, FPS, None))
    assert result.cat_visible is True
    assert result.cat_frame_share is not None and result.cat_frame_share >= 0.6


def test_no_cat_in_other_photos(analyzer: LocalAnalyzer, folder: Path, images: Images) -> None:
    frames = [*zoom_in(images["coffee"], n=10), *pan(images["rocket"], n=10)]
    frames += still(images["astronaut"], n=10)
    result = analyzer.measure(make_video(folder / "nocat.mp4", frames, FPS, None))
    assert (result.cat_visible, result.cat_frame_share) == (False, 0.0)


def test_analyze_is_deterministic_and_fits_the_protocol(
    analyzer: LocalAnalyzer, folder: Path, images: Images
) -> None:
    video = make_video(folder / "again.mp4", pan(images["chelsea"], n=20), FPS, "sine")
    context = ReelContext("p1", "someone", "caption", None, None, None)
    first, second = analyzer.analyze(video, context), LocalAnalyzer().analyze(video, context)
    assert isinstance(first, Analyzed) and first == second
    assert (analyzer.name, analyzer.model) == ("local", "opencv-haar-v1")


def test_truncated_and_text_files_are_invalid(analyzer: LocalAnalyzer, folder: Path) -> None:
    whole = make_video(folder / "whole.mp4", [np.zeros((64, 48, 3), np.uint8)] * 20, FPS, "sine")
    truncated = folder / "truncated.mp4"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    text = folder / "page.mp4"
    text.write_text("<html><body>429 Too Many Requests</body></html>")
    for path in (truncated, text):
        with pytest.raises(InvalidMedia):
            analyzer.analyze(path)


@pytest.mark.parametrize(
    ("distances", "blends", "cuts"),
    [
        ([0.01, 0.02, 0.6, 0.01, 0.02], [False] * 4, [2]),
        ([0.3, 0.35, 0.4, 0.38, 0.3], [False] * 4, []),  # a fast pan: no spike above its own level
        ([0.02, 0.9, 0.05, 0.9, 0.03, 0.9, 0.04], [False] * 6, [1, 3, 5]),  # a cut every other sample
        ([0.01, 0.5, 0.6, 0.01], [False, True, False], [2]),  # a dissolve across one sample counts once
        ([0.01, 0.5, 0.6, 0.01], [False] * 3, [1, 2]),  # a one-sample shot between two cuts
        ([0.15], [], []),  # below the floor
        ([], [], []),
    ],
)
def test_cut_indices(distances: list[float], blends: list[bool], cuts: list[int]) -> None:
    assert cut_indices(distances, blends) == cuts


@pytest.mark.parametrize(
    ("cuts_per_s", "motion", "expected"),
    [
        (0.0, 0.0, "slow"),
        (0.25, 0.0, "medium"),
        (0.0, 0.05, "medium"),
        (0.6, 0.0, "fast"),
        (0.0, 0.2, "fast"),
    ],
)
def test_pacing(cuts_per_s: float, motion: float, expected: str) -> None:
    assert pacing(cuts_per_s, motion) == expected
