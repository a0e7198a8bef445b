"""The Gemini analyzer: one reel's video in, a `VideoAnalysis` out, through the official `google-genai` SDK.

Per reel: the video goes inline when it is at most `inline_max_bytes`, else through the Files API (upload,
poll until ACTIVE within `upload_timeout_s`, delete afterwards, whatever happened). The request carries
the prompt and response schema of `prompt.py`, 1 fps, low media resolution, static video processing and low
thinking; every HTTP call has a timeout.

Resilience lives here and in `FallbackAnalyzer`, not in the SDK (its retries are turned off: they ignore
Gemini's `RetryInfo` and cannot switch model):

- a shared `RateLimiter` keeps requests and input tokens per minute under the quota, so 429s are rare;
- 429: the server's `RetryInfo.retryDelay` pauses every thread; a per-day quota stops all calls for the run;
- 503/500/timeouts: retried with exponential backoff and jitter (`RetryPolicy`); after `model_switch_after`
  of them in a row on a model, the next model of `fallback_models` takes over for the rest of the run;
- a blocked, truncated, unparseable or schema-breaking answer is a permanent `GeminiBadResponse`.

Errors, all `AnalysisError`s (a 401/403 is a `ConfigError`: the key is wrong and the run stops):

    GeminiError(AnalysisError)
    ├── GeminiUnavailable      (Transient) 5xx, timeouts, connection errors after the retries
    │   └── GeminiRateLimited  (Transient) 429 after the retries; `retry_after_s` from RetryInfo
    ├── GeminiQuotaExhausted   (Transient) per-day quota: no more calls this run (`whole_run`)
    ├── GeminiUploadStuck      (Transient) the uploaded video was not ACTIVE in time
    ├── GeminiRejected         (Permanent) 4xx: the request or video is refused
    ├── GeminiFileFailed       (Permanent) the Files API could not process the video
    └── GeminiBadResponse      (Permanent) blocked, truncated, not JSON, or not the schema
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import httpx2
from google import genai
from google.genai import errors as genai_errors
from google.genai import types
from pydantic import ValidationError

from reels.analysis import Analyzed, ReelContext
from reels.analysis.prompt import PROMPT_VERSION, SYSTEM_PROMPT, GeminiAnswer, to_analysis, user_prompt
from reels.analysis.schema import VideoAnalysis
from reels.config import GeminiSettings
from reels.errors import AnalysisError, ConfigError, Permanent, Transient
from reels.ratelimit import RateLimiter
from reels.retry import RetryPolicy

log = logging.getLogger(__name__)

MIME_TYPE = "video/mp4"
# Input tokens assumed for a call before any response has told the real count (a 30 s reel at 1 fps).
FIRST_TOKEN_ESTIMATE = 3500
PROMPT_TOKENS, TOKENS_PER_FRAME, AUDIO_TOKENS_PER_S = 600, 70, 25  # gemini.md §2.3, low media resolution
_RESOLUTIONS = {
    "low": types.MediaResolution.MEDIA_RESOLUTION_LOW,
    "medium": types.MediaResolution.MEDIA_RESOLUTION_MEDIUM,
    "high": types.MediaResolution.MEDIA_RESOLUTION_HIGH,
}
_RETRY_IN = re.compile(r"retry in ([\d.]+)\s*s", re.IGNORECASE)


class GeminiError(AnalysisError):
    """One reel could not be analyzed by Gemini. `model`: the model asked; `status`: the HTTP status."""

    whole_run = False  # True: the condition holds for the rest of the run, not just this reel

    def __init__(self, message: str, *, model: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.model, self.status = model, status


class GeminiUnavailable(GeminiError, Transient):
    """Gemini did not answer: 5xx, timeout or connection error. Try again later, or another model."""


class GeminiRateLimited(GeminiUnavailable):
    """429 for a per-minute quota; `retry_after_s` is the server's RetryInfo delay when it gave one."""

    def __init__(self, message: str, *, retry_after_s: float | None = None, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after_s = retry_after_s


class GeminiQuotaExhausted(GeminiError, Transient):
    """429 for a per-day quota: no Gemini call can succeed before the quota resets (midnight Pacific)."""

    whole_run = True


class GeminiUploadStuck(GeminiError, Transient):
    """The uploaded video was still PROCESSING at the deadline."""


class GeminiRejected(GeminiError, Permanent):
    """Gemini refused the request (4xx other than 429): retrying the same request cannot help."""


class GeminiFileFailed(GeminiError, Permanent):
    """The Files API reported the uploaded video as FAILED."""


class GeminiBadResponse(GeminiError, Permanent):
    """Gemini answered, but not with a usable analysis: blocked, truncated, not JSON, or not the schema."""


def make_client(settings: GeminiSettings, api_key: str) -> genai.Client:
    """A `genai.Client` on `settings.base_url` and `api_version`, with a timeout and no SDK retries."""
    if not api_key:
        raise ConfigError("The Gemini analyzer needs GEMINI_API_KEY in the environment or .env.")
    options = types.HttpOptions(
        api_version=settings.api_version,
        timeout=round(settings.timeout_s * 1000),
        retry_options=types.HttpRetryOptions(attempts=1),
    )
    if settings.base_url:
        options.base_url = settings.base_url
    return genai.Client(api_key=api_key, http_options=options)


def estimated_tokens(duration_s: float, fps: float) -> int:
    """Input tokens of a `duration_s` video sent at `fps` at low resolution, plus the prompt's."""
    return round(PROMPT_TOKENS + duration_s * (fps * TOKENS_PER_FRAME + AUDIO_TOKENS_PER_S))


def retry_policy(settings: GeminiSettings) -> RetryPolicy:
    """The `[gemini]` retry settings as the one RetryPolicy every Gemini call uses."""
    return RetryPolicy(
        attempts=settings.max_retries + 1,
        initial_delay_s=settings.retry_initial_s,
        max_delay_s=settings.retry_max_s,
    )


def cost_usd(
    prices: dict[str, tuple[float, float]], model: str, input_tokens: int, output_tokens: int
) -> float | None:
    """USD for a call from `[gemini] prices` (per 1M input/output tokens); None for a model without one."""
    price = prices.get(model)
    if price is None:
        return None
    return (input_tokens * price[0] + output_tokens * price[1]) / 1e6


def make_limiter(settings: GeminiSettings, period_s: float = 60.0) -> RateLimiter:
    return RateLimiter(
        requests=settings.requests_per_minute, tokens=settings.tokens_per_minute, period_s=period_s
    )


class GeminiAnalyzer:
    """The `Analyzer` for Gemini. Thread-safe: one instance serves the whole pool, sharing its limiter,
    its model chain and its run-level stop."""

    name = "gemini"
    prompt_version = PROMPT_VERSION

    def __init__(
        self,
        client: genai.Client,
        settings: GeminiSettings,
        *,
        limiter: RateLimiter | None = None,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client, self._settings = client, settings
        self.model = settings.model
        self.models = (settings.model, *[m for m in settings.fallback_models if m != settings.model])
        self.concurrency = settings.concurrency
        self._limiter = limiter or make_limiter(settings)
        self._policy = policy or retry_policy(settings)
        self._sleep, self._clock = sleep, clock
        self._prices = settings.price_table()
        self._slots = threading.BoundedSemaphore(settings.concurrency)
        self._lock = threading.Lock()
        self._model_index = 0
        self._model_failures = 0
        self._retry_primary_at = 0.0  # after a switch, when the primary model gets another chance
        self._exhausted: set[str] = set()  # models whose daily quota is spent: not asked again this run
        self._stopped: GeminiError | None = None
        self._token_estimate = FIRST_TOKEN_ESTIMATE
        self.calls = 0  # generate_content requests sent

    @classmethod
    def from_settings(cls, settings: GeminiSettings, api_key: str, **kw: Any) -> GeminiAnalyzer:
        return cls(make_client(settings, api_key), settings, **kw)

    @property
    def covers(self) -> frozenset[tuple[str, str, str]]:
        """Keys of `analyses` rows that count as done: an answer by any of the configured models."""
        return frozenset((self.name, m, self.prompt_version) for m in self.models)

    @property
    def current_model(self) -> str:
        """The model to ask now: the primary, unless it was switched away from and its cool-down is not
        over (then the next model); never one whose daily quota is spent."""
        usable = [i for i, m in enumerate(self.models) if m not in self._exhausted] or [len(self.models) - 1]
        index = self._model_index
        if index and self._clock() >= self._retry_primary_at:
            index = 0  # half-open: the primary is tried again
        return self.models[next((i for i in usable if i >= index), usable[0])]

    def analyze(self, video: Path, context: ReelContext) -> Analyzed:
        """Analyze `video` with the current model. Raises a `GeminiError` with the reason on failure."""
        self._raise_if_stopped()
        try:
            size = video.stat().st_size
        except OSError as exc:
            raise GeminiRejected(f"cannot read {video}: {exc.strerror}") from exc
        if size <= self._settings.inline_max_bytes:
            part = types.Part(inline_data=types.Blob(data=video.read_bytes(), mime_type=MIME_TYPE))
            return self._generate(part, context)
        uploaded = self._upload(video, context)
        try:
            part = types.Part(file_data=types.FileData(file_uri=uploaded.uri, mime_type=MIME_TYPE))
            return self._generate(part, context)
        finally:
            self._delete(uploaded)

    # -- generate ---------------------------------------------------------------------------------------

    def _generate(self, video_part: types.Part, context: ReelContext) -> Analyzed:
        s = self._settings
        video_part.video_metadata = types.VideoMetadata(fps=s.fps)
        video_part.media_processing = types.MediaProcessing.STATIC
        contents = [types.Content(role="user", parts=[video_part, types.Part(text=user_prompt(context))])]
        config = types.GenerateContentConfig(
            system_instruction=SYSTEM_PROMPT,
            response_mime_type="application/json",
            response_schema=GeminiAnswer,
            media_resolution=_RESOLUTIONS[s.media_resolution],
            thinking_config=types.ThinkingConfig(
                thinking_level=types.ThinkingLevel(s.thinking_level.upper())
            ),
            max_output_tokens=s.max_output_tokens,
            automatic_function_calling=types.AutomaticFunctionCallingConfig(disable=True),
        )
        last: GeminiError | None = None
        for attempt in range(self._policy.attempts):
            self._raise_if_stopped()
            model = self.current_model
            try:
                # The slot first: a reservation counts from when its request really leaves.
                with self._slots:
                    reservation = self._limiter.acquire(self._estimate(context))
                    with self._lock:
                        self.calls += 1
                    response = None
                    try:
                        response = self._client.models.generate_content(
                            model=model, contents=contents, config=config
                        )
                    finally:
                        usage = response.usage_metadata if response is not None else None
                        self._limiter.release(reservation, usage.prompt_token_count if usage else None)
            except Exception as exc:
                error = translate_error(exc, model, self._settings.timeout_s)
                if error is None:
                    raise
                if isinstance(error, GeminiQuotaExhausted) and self._exhaust(model, error):
                    continue  # another model has quota left: ask it, now
                if not isinstance(error, GeminiUnavailable):
                    raise error from exc
                last = error
                self._on_unavailable(error, model)
                if attempt + 1 < self._policy.attempts:
                    self._wait(attempt, error)
                continue
            self._on_success(model)
            input_tokens = (usage.prompt_token_count if usage else None) or 0
            if input_tokens:
                with self._lock:
                    self._token_estimate = round(0.8 * self._token_estimate + 0.2 * input_tokens)
            analysis, raw = parse_response(response, model)
            output_tokens = (
                ((usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)) if usage else 0
            )
            return Analyzed(
                analysis,
                raw_json=raw,
                input_tokens=input_tokens or None,
                output_tokens=output_tokens or None,
                cost_usd=self._cost(model, input_tokens, output_tokens),
                analyzer=self.name,
                model=model,
            )
        assert last is not None
        raise last

    def _wait(self, attempt: int, error: GeminiUnavailable) -> None:
        if isinstance(error, GeminiRateLimited):
            # Everyone waits: the quota is shared. The limiter admits the pool again after the delay.
            delay = self._policy.delay(attempt, error.retry_after_s)
            self._limiter.pause_for(delay)
        else:
            self._sleep(self._policy.delay(attempt))

    def _estimate(self, context: ReelContext) -> int:
        """Input tokens to reserve for this call: from the video's length when known (gemini.md §2.3:
        about 70 per frame at low resolution plus 25 per second of audio), else the running average."""
        if context.duration_s:
            return estimated_tokens(context.duration_s, self._settings.fps)
        return self._token_estimate

    def _on_unavailable(self, error: GeminiUnavailable, model: str) -> None:
        if isinstance(error, GeminiRateLimited):
            return  # a quota, not an outage: another model shares it or has its own; do not switch
        with self._lock:
            if model != self.current_model:
                return  # another thread already switched
            self._model_failures += 1
            switch = error.status == 404 or self._model_failures >= self._settings.model_switch_after
            position = self.models.index(model)
            if switch and position + 1 < len(self.models):
                self._model_index = position + 1
                self._model_failures = 0
                self._retry_primary_at = self._clock() + self._settings.model_cooldown_s
                log.warning(
                    "gemini: %s unavailable (%s); using %s, and %s again in %g s",
                    model,
                    error,
                    self.current_model,
                    self.models[0],
                    self._settings.model_cooldown_s,
                )

    def _on_success(self, model: str) -> None:
        with self._lock:
            if model == self.models[0] and self._model_index:
                self._model_index = 0  # the primary answered again: back to it for every call
                log.warning("gemini: %s answers again", model)
            if model == self.current_model:
                self._model_failures = 0

    def _exhaust(self, model: str, error: GeminiError) -> bool:
        """Note `model`'s spent daily quota; True when another model may still be asked this run."""
        with self._lock:
            self._exhausted.add(model)
            left = [m for m in self.models if m not in self._exhausted]
        if left:
            log.warning("gemini: %s is out of daily quota; using %s for the rest of the run", model, left[0])
            return True
        self._stop(error)
        return False

    def _stop(self, error: GeminiError) -> None:
        with self._lock:
            if self._stopped is None:
                self._stopped = error
                log.warning("gemini: no more calls this run: %s", error)

    def _raise_if_stopped(self) -> None:
        stopped = self._stopped
        if stopped is not None:
            raise GeminiQuotaExhausted(f"not called: {stopped}", model=stopped.model, status=stopped.status)

    def _cost(self, model: str, input_tokens: int, output_tokens: int) -> float | None:
        return cost_usd(self._prices, model, input_tokens, output_tokens)

    # -- Files API --------------------------------------------------------------------------------------

    def _upload(self, video: Path, context: ReelContext) -> types.File:
        """Upload with retries, then poll until ACTIVE. Raises GeminiFileFailed, GeminiUploadStuck, ..."""
        config = types.UploadFileConfig(mime_type=MIME_TYPE, display_name=f"reel-{context.post_id}")
        file = self._with_retries(partial(self._client.files.upload, file=video, config=config), "upload")
        try:
            return self._until_active(file)
        except BaseException:
            self._delete(file)
            raise

    def _until_active(self, file: types.File) -> types.File:
        deadline = self._clock() + self._settings.upload_timeout_s
        while True:
            state = file.state
            if state == types.FileState.ACTIVE:
                return file
            if state == types.FileState.FAILED:
                reason = file.error.message if file.error and file.error.message else "no reason given"
                raise GeminiFileFailed(f"Gemini could not process the uploaded video: {reason}")
            if self._clock() >= deadline:
                raise GeminiUploadStuck(
                    f"uploaded video still {state.value if state else 'unknown'} after "
                    f"{self._settings.upload_timeout_s:g} s; it is retried on a later run"
                )
            self._sleep(self._settings.poll_interval_s)
            file = self._with_retries(partial(self._client.files.get, name=file.name or ""), "files.get")

    def _delete(self, file: types.File) -> None:
        if not file.name:
            return
        try:
            self._client.files.delete(name=file.name)
        except Exception as exc:  # best effort: files expire after 48 h anyway
            log.warning("gemini: could not delete %s: %s", file.name, exc)

    def _with_retries(self, call: Callable[[], Any], what: str) -> Any:
        last: GeminiError | None = None
        for attempt in range(self._policy.attempts):
            try:
                return call()
            except Exception as exc:
                error = translate_error(exc, None, self._settings.timeout_s, upload=True)
                if error is None:
                    raise
                if isinstance(error, GeminiQuotaExhausted):
                    self._stop(error)
                if not isinstance(error, Transient) or error.whole_run:
                    raise error from exc
                last = error
                if attempt + 1 < self._policy.attempts:
                    self._sleep(self._policy.delay(attempt, getattr(error, "retry_after_s", None)))
        assert last is not None
        raise GeminiUnavailable(f"{what} failed: {last}", status=last.status) from last


# -- translating the SDK's world into ours: the one place Gemini JSON becomes a VideoAnalysis -------------


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


def translate_error(
    exc: Exception, model: str | None, timeout_s: float, upload: bool = False
) -> GeminiError | None:
    """Our error for an SDK or transport exception, or None for one that is not Gemini's (a bug: re-raise)."""
    on = f" ({model})" if model else ""
    if isinstance(exc, httpx2.TimeoutException):
        return GeminiUnavailable(f"Gemini timed out after {timeout_s:g} s{on}", model=model)
    if isinstance(exc, httpx2.TransportError):
        return GeminiUnavailable(f"cannot reach Gemini{on}: {exc!r}", model=model)
    if isinstance(exc, genai_errors.APIError):
        code, status = exc.code, exc.status or ""
        message = (exc.message or "").strip() or status or "no message"
        what = f"Gemini {code} {status}{on}: {message}"
        if code == 429:
            daily, delay = _quota_details(exc)
            if daily:
                return GeminiQuotaExhausted(
                    f"Gemini daily quota exhausted{on}; run again after it resets (midnight Pacific)",
                    model=model,
                    status=code,
                )
            return GeminiRateLimited(what, model=model, status=code, retry_after_s=delay)
        if code in (401, 403) or "API key" in message:
            raise ConfigError(f"Gemini refused the API key ({code} {status}); check GEMINI_API_KEY.") from exc
        if code == 404 and model:
            return GeminiUnavailable(f"model not found{on}: {message}", model=model, status=code)
        if code in (408, 409) or code >= 500:
            return GeminiUnavailable(what, model=model, status=code)
        return GeminiRejected(what, model=model, status=code)
    if upload and isinstance(exc, ValueError | KeyError):
        # The SDK's resumable-upload protocol errors (no upload URL, not finalized): the server's fault.
        return GeminiUnavailable(f"Gemini upload failed: {exc}")
    if isinstance(exc, ValidationError | ValueError):
        # The SDK could not read the HTTP body as a response (e.g. a proxy's HTML page with status 200).
        return GeminiBadResponse(f"unreadable response from Gemini{on}: {exc!s:.200}", model=model)
    return None


def _quota_details(exc: genai_errors.APIError) -> tuple[bool, float | None]:
    """(is it a per-day quota, the RetryInfo delay in seconds) from a 429's body."""
    body = exc.details if isinstance(exc.details, dict) else {}
    details = body.get("error", {}).get("details", []) if isinstance(body.get("error"), dict) else []
    daily, delay = False, None
    for item in details if isinstance(details, list) else []:
        if not isinstance(item, dict):
            continue
        kind = str(item.get("@type", ""))
        if kind.endswith("QuotaFailure"):
            for violation in item.get("violations") or []:
                if "PerDay" in str(violation.get("quotaId", "")):
                    daily = True
        elif kind.endswith("RetryInfo"):
            delay = _seconds(item.get("retryDelay"))
    if delay is None and (match := _RETRY_IN.search(exc.message or "")):
        delay = float(match.group(1))
    return daily, delay


def _seconds(duration: Any) -> float | None:
    """A protobuf Duration in JSON ("26s", "45.837906927s") as seconds."""
    if isinstance(duration, str) and duration.endswith("s"):
        try:
            return float(duration[:-1])
        except ValueError:
            return None
    return None


__all__ = [
    "GeminiAnalyzer",
    "GeminiBadResponse",
    "GeminiError",
    "GeminiFileFailed",
    "GeminiQuotaExhausted",
    "GeminiRateLimited",
    "GeminiRejected",
    "GeminiUnavailable",
    "GeminiUploadStuck",
    "answer_text",
    "bad_answer",
    "cost_usd",
    "estimated_tokens",
    "make_client",
    "make_limiter",
    "parse_response",
    "retry_policy",
    "translate_error",
]
