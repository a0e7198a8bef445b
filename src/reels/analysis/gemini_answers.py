"""What a Gemini response holds, checked: the answer's text, the `VideoAnalysis` parsed from it (the one
place Gemini JSON becomes one), and the service tier that served it."""

from __future__ import annotations

from google.genai import types
from pydantic import ValidationError

from reels.analysis.gemini_errors import GeminiBadResponse
from reels.analysis.prompt import GeminiAnswer, to_analysis
from reels.analysis_schema import VideoAnalysis


def served_tier(response: types.GenerateContentResponse, asked: str) -> str:
    """The tier that served the call: the `x-gemini-service-tier` response header, else the one asked."""
    http = getattr(response, "sdk_http_response", None)
    headers = {k.lower(): v for k, v in ((getattr(http, "headers", None) or {}).items())}
    served = str(headers.get("x-gemini-service-tier") or asked).lower()
    return served if served in ("standard", "flex", "priority") else asked


def parse_response(response: types.GenerateContentResponse, model: str) -> tuple[VideoAnalysis, str]:
    """(the analysis, the raw JSON text) from a generate_content response.

    Raises GeminiBadResponse for a blocked prompt, a truncated or filtered answer, text that is not JSON,
    or JSON that does not fit the schema. Never trusts `response.parsed` (silently None on all of those).
    """
    text = answer_text(response, model)
    try:
        analysis = to_analysis(GeminiAnswer.model_validate_json(text))
    except ValidationError as exc:
        raise bad_answer(exc, model) from exc
    return analysis, text


def answer_text(response: types.GenerateContentResponse, model: str) -> str:
    """The answer's text. Raises GeminiBadResponse for a blocked prompt, a truncated or filtered answer, or
    an empty one."""
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason:
        reason = getattr(feedback.block_reason, "value", feedback.block_reason)
        raise GeminiBadResponse(f"the prompt was blocked ({reason})", model=model)
    if not response.candidates:
        raise GeminiBadResponse("the answer has no candidate", model=model)
    candidate = response.candidates[0]
    parts = candidate.content.parts if candidate.content and candidate.content.parts else []
    text = "".join(p.text for p in parts if p.text and not p.thought)
    finish = candidate.finish_reason
    if finish == types.FinishReason.MAX_TOKENS:
        raise GeminiBadResponse("the answer was cut at max_output_tokens; raise [gemini] max_output_tokens")
    if finish not in (None, types.FinishReason.STOP, types.FinishReason.FINISH_REASON_UNSPECIFIED):
        raise GeminiBadResponse(f"the answer stopped early ({finish.value})", model=model)
    if not text.strip():
        raise GeminiBadResponse("the answer is empty", model=model)
    return text


def bad_answer(exc: ValidationError, model: str) -> GeminiBadResponse:
    """What was wrong with an answer that did not validate: not JSON, or not the schema (and where)."""
    first = exc.errors()[0]
    where = ".".join(str(x) for x in first["loc"]) or "the answer"
    kind = "not JSON" if first["type"] == "json_invalid" else "not the schema"
    return GeminiBadResponse(f"the answer is {kind}: {where}: {first['msg']}", model=model)


__all__ = ["answer_text", "bad_answer", "parse_response", "served_tier"]
