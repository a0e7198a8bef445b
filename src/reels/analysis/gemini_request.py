"""The request one reel sends to Gemini, the same whether it is asked at once or in a batch: the video part
(at `fps`, clipped to the hook when `clip_s` is set, static processing), the prompt, and the config (schema,
media resolution, low thinking, no function calling)."""

from __future__ import annotations

from google.genai import types

from reels.analysis import ReelContext
from reels.analysis.prompt import SYSTEM_PROMPT, GeminiAnswer, user_prompt
from reels.config import GeminiSettings

MIME_TYPE = "video/mp4"
_RESOLUTIONS = {
    "low": types.MediaResolution.MEDIA_RESOLUTION_LOW,
    "medium": types.MediaResolution.MEDIA_RESOLUTION_MEDIUM,
    "high": types.MediaResolution.MEDIA_RESOLUTION_HIGH,
}


def file_part(uri: str) -> types.Part:
    """The video as a Files API reference."""
    return types.Part(file_data=types.FileData(file_uri=uri, mime_type=MIME_TYPE))


def inline_part(data: bytes) -> types.Part:
    return types.Part(inline_data=types.Blob(data=data, mime_type=MIME_TYPE))


def contents(settings: GeminiSettings, video_part: types.Part, context: ReelContext) -> list[types.Content]:
    """The user turn: the video, then the prompt carrying the reel's context as quoted data."""
    # The hook only, when configured: the first clip_s seconds are all the model sees (and bills).
    end = f"{settings.clip_s:g}s" if settings.clip_s else None
    video_part.video_metadata = types.VideoMetadata(fps=settings.fps, end_offset=end)
    video_part.media_processing = types.MediaProcessing.STATIC
    return [types.Content(role="user", parts=[video_part, types.Part(text=user_prompt(context))])]


def generate_config(settings: GeminiSettings) -> types.GenerateContentConfig:
    return types.GenerateContentConfig(
        system_instruction=SYSTEM_PROMPT,
        response_mime_type="application/json",
        response_schema=GeminiAnswer,
        media_resolution=_RESOLUTIONS[settings.media_resolution],
        thinking_config=types.ThinkingConfig(
            thinking_level=types.ThinkingLevel(settings.thinking_level.upper())
        ),
        max_output_tokens=settings.max_output_tokens,
        automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
    )


def flex_config(settings: GeminiSettings, config: types.GenerateContentConfig) -> types.GenerateContentConfig:
    """`config` at the Flex tier, with the longer timeout a flex answer may need."""
    return config.model_copy(
        update={
            "service_tier": types.ServiceTier.FLEX,
            "http_options": types.HttpOptions(timeout=round(settings.flex_timeout_s * 1000)),
        }
    )


__all__ = ["MIME_TYPE", "contents", "file_part", "flex_config", "generate_config", "inline_part"]
