"""The one analysis schema every analyzer fills (Gemini's structured output and the local analyzer alike),
and the `analyses` table's columns are made from.

Flat on purpose: Gemini's response-schema subset handles scalars, enums and lists of strings well, and a flat
record maps one-to-one onto the `analyses` table's columns. A field an analyzer cannot know stays None.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

PROMPT_VERSION = "v1"

Format = Literal[
    "skit", "pov", "compilation", "tutorial", "vlog", "reaction", "slideshow", "single_shot", "other"
]
AudioKind = Literal["music", "speech", "original_sound", "mixed", "silent"]
Pacing = Literal["slow", "medium", "fast"]


class VideoAnalysis(BaseModel):
    """What an analyzer says about one reel's video."""

    model_config = ConfigDict(extra="forbid")

    # Understanding: filled by a model (Gemini); the local analyzer fills what it can measure.
    summary: str | None = Field(None, description="What happens in the video, in one or two sentences.")
    hook: str | None = Field(None, description="What grabs attention in the first three seconds.")
    format: Format | None = Field(None, description="The reel's format.")
    cat_count: int | None = Field(None, ge=0, description="How many cats appear.")
    cat_behaviours: list[str] | None = Field(None, description="What the cats do, as short phrases.")
    people_present: bool | None = Field(None, description="Whether a person appears.")
    on_screen_text: str | None = Field(None, description="Text overlaid on the video, verbatim.")
    audio_kind: AudioKind | None = Field(None, description="The dominant audio.")
    pacing: Pacing | None = Field(None, description="How fast the video cuts and moves.")
    emotional_tone: str | None = Field(None, description="The feeling it aims for: funny, cute, ...")
    virality_hypothesis: str | None = Field(
        None, description="Why this reel did or did not travel, given its virality numbers."
    )

    # Measurements: filled by the local analyzer from the file itself.
    duration_s: float | None = Field(None, ge=0)
    width: int | None = Field(None, ge=0)
    height: int | None = Field(None, ge=0)
    fps: float | None = Field(None, ge=0)
    has_audio: bool | None = None
    loudness_db: float | None = Field(None, description="Mean volume in dBFS; None without audio.")
    shot_count: int | None = Field(None, ge=0)
    cuts_per_s: float | None = Field(None, ge=0)
    first_cut_s: float | None = Field(None, ge=0, description="Seconds to the first hard cut; None if none.")
    motion_level: float | None = Field(None, ge=0, description="Mean absolute frame difference, 0..1.")
    brightness: float | None = Field(None, ge=0, le=1, description="Mean luma, 0..1.")
    cat_visible: bool | None = None
    cat_frame_share: float | None = Field(None, ge=0, le=1, description="Share of sampled frames with a cat.")
