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

Errors: `gemini_errors` (a 401/403 is a `ConfigError`: the key is wrong and the run stops).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from google import genai
from google.genai import types

from reels.analysis import Analyzed, ReelContext
from reels.analysis.gemini_answers import parse_response, served_tier
from reels.analysis.gemini_errors import (
    GeminiQuotaExhausted,
    GeminiRateLimited,
    GeminiRejected,
    GeminiUnavailable,
    translate_error,
)
from reels.analysis.gemini_files import GeminiFiles
from reels.analysis.gemini_models import ModelChain
from reels.analysis.gemini_request import (
    MIME_TYPE,
    contents,
    file_part,
    flex_config,
    generate_config,
    inline_part,
)
from reels.analysis.prompt import PROMPT_VERSION
from reels.analysis.ratelimit import RateLimiter
from reels.config import GeminiSettings
from reels.errors import ConfigError
from reels.retry import RetryPolicy

log = logging.getLogger(__name__)

# Input tokens assumed for a call before any response has told the real count (a 30 s reel at 1 fps).
FIRST_TOKEN_ESTIMATE = 3500
PROMPT_TOKENS, TOKENS_PER_FRAME, AUDIO_TOKENS_PER_S = 600, 70, 25  # gemini.md §2.3, low media resolution


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
        self.models = settings.models
        self.concurrency = settings.concurrency
        self._limiter = limiter or make_limiter(settings)
        self._policy = policy or retry_policy(settings)
        self._sleep, self._clock = sleep, clock
        self._prices = settings.price_table()
        self._slots = threading.BoundedSemaphore(settings.concurrency)
        self._lock = threading.Lock()
        self._chain = ModelChain(self.models, settings, clock)
        self._files = GeminiFiles(
            client, settings, self._policy, on_quota=self._chain.stop, sleep=sleep, clock=clock
        )
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
        return self._chain.current

    def analyze(self, video: Path, context: ReelContext) -> Analyzed:
        """Analyze `video` with the current model. Raises a `GeminiError` with the reason on failure."""
        self._chain.raise_if_stopped()
        try:
            size = video.stat().st_size
        except OSError as exc:
            raise GeminiRejected(f"cannot read {video}: {exc.strerror}") from exc
        if size <= self._settings.inline_max_bytes:
            return self._generate(inline_part(video.read_bytes()), context)
        uploaded = self._files.upload(video, f"reel-{context.post_id}", MIME_TYPE)
        try:
            return self._generate(file_part(uploaded.uri or ""), context)
        finally:
            self._files.delete(uploaded.name)

    # -- generate ---------------------------------------------------------------------------------------

    def _generate(self, video_part: types.Part, context: ReelContext) -> Analyzed:
        s = self._settings
        sent = contents(s, video_part, context)
        config = generate_config(s)
        flex = flex_config(s, config)
        tier = [s.mode]  # the tier the next attempt asks for; a shed flex call falls back to standard
        shed: list[str] = []

        def attempt() -> Analyzed:
            self._chain.raise_if_stopped()
            model = self.current_model
            asked = tier[0]
            try:
                # The slot first: a reservation counts from when its request really leaves.
                with self._slots:
                    reservation = self._limiter.acquire(self._estimate(context))
                    with self._lock:
                        self.calls += 1
                    response = None
                    try:
                        response = self._client.models.generate_content(
                            model=model, contents=sent, config=flex if asked == "flex" else config
                        )
                    finally:
                        usage = response.usage_metadata if response is not None else None
                        self._limiter.release(reservation, usage.prompt_token_count if usage else None)
            except Exception as exc:
                timeout = s.flex_timeout_s if asked == "flex" else s.timeout_s
                error = translate_error(exc, model, timeout)
                if error is None:
                    raise
                if isinstance(error, GeminiQuotaExhausted):
                    self._chain.exhaust(model, error)
                elif asked == "flex" and isinstance(error, GeminiUnavailable) and s.flex_fallback:
                    if not isinstance(error, GeminiRateLimited):  # shed: not the model's outage
                        tier[0] = "standard"
                        shed.append(str(error))
                elif isinstance(error, GeminiUnavailable):
                    self._chain.unavailable(model, error)
                raise error from exc
            self._chain.answered(model)
            note = f"flex was shed ({shed[0]}); answered at the standard tier" if shed else None
            return self._answered(response, model, served_tier(response, asked), note)

        return self._policy.call(
            attempt, retry_if=self._worth_retrying, before_retry=self._before_retry, sleep=self._sleep
        )

    def _answered(
        self, response: types.GenerateContentResponse, model: str, tier: str, note: str | None
    ) -> Analyzed:
        usage = response.usage_metadata
        input_tokens = (usage.prompt_token_count if usage else None) or 0
        if input_tokens:
            with self._lock:
                self._token_estimate = round(0.8 * self._token_estimate + 0.2 * input_tokens)
        analysis, raw = parse_response(response, model)
        output_tokens = (
            ((usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)) if usage else 0
        )
        cost = self._cost(model, input_tokens, output_tokens)
        if cost is not None and tier == "flex":
            cost *= self._settings.flex_price
        return Analyzed(
            analysis,
            raw_json=raw,
            input_tokens=input_tokens or None,
            output_tokens=output_tokens or None,
            cost_usd=cost,
            analyzer=self.name,
            model=model,
            note=note,
            tier=tier,
        )

    def _worth_retrying(self, error: BaseException) -> bool:
        if isinstance(error, GeminiQuotaExhausted):
            return self._chain.stopped is None  # another model still has quota left: ask it
        return isinstance(error, GeminiUnavailable)

    def _before_retry(self, error: BaseException, delay: float) -> float:
        """The seconds this thread still sleeps before its retry."""
        if isinstance(error, GeminiQuotaExhausted):
            return 0.0  # another model, now
        if isinstance(error, GeminiRateLimited):
            # Everyone waits: the quota is shared. The limiter admits the pool again after the delay.
            self._limiter.pause_for(delay)
            return 0.0
        return delay

    def _estimate(self, context: ReelContext) -> int:
        """Input tokens to reserve for this call: from the video's length when known (gemini.md §2.3:
        about 70 per frame at low resolution plus 25 per second of audio), else the running average."""
        if context.duration_s:
            clip = self._settings.clip_s
            return estimated_tokens(
                min(context.duration_s, clip) if clip else context.duration_s, self._settings.fps
            )
        return self._token_estimate

    def _cost(self, model: str, input_tokens: int, output_tokens: int) -> float | None:
        return cost_usd(self._prices, model, input_tokens, output_tokens)


__all__ = [
    "GeminiAnalyzer",
    "cost_usd",
    "estimated_tokens",
    "make_client",
    "make_limiter",
    "retry_policy",
]
