"""The `[gemini]` section: models and their fallbacks, the quota, the request, the retries and the prices."""

from __future__ import annotations

from dataclasses import dataclass

from reels.config.checks import positive
from reels.errors import ConfigError


@dataclass(frozen=True)
class GeminiSettings:
    base_url: str | None = None  # None: the SDK's own endpoint
    api_version: str = "v1beta"  # google-genai 3.x defaults to v1; v1beta has every feature
    model: str = "gemini-3.8-flash"
    # standard | flex: the Flex tier, about half the price, slower (minutes) and shed under load |
    # batch: one Batch API job per run, about half the price, answered within 24 h (collected by a later run).
    mode: str = "standard"
    flex_fallback: bool = True  # a flex call that is shed is asked again at the standard tier
    flex_timeout_s: float = 900.0  # a flex answer may take minutes
    flex_price: float = 0.5  # the share of the standard price a flex answer costs
    batch_price: float = 0.5  # the share of the standard price a batch answer costs
    batch_wait_s: float = 300.0  # a run waits this long for its batch before leaving it to a later run
    batch_poll_s: float = 30.0  # how often a waiting run asks for the batch's state
    # Input tokens all of a model's pending batches may hold (the enqueued-token limit is 3M at Tier 1 on
    # 3.x Flash: about 900 reels); the reels over it wait for a later batch.
    batch_max_tokens: int = 2_500_000
    batch_inline_max_bytes: int = 19_000_000  # a larger batch is sent as an uploaded JSONL file (20 MB cap)
    fallback_models: tuple[str, ...] = ("gemini-3.5-flash-lite",)  # tried in order after repeated 503s
    concurrency: int = 8  # calls in flight
    requests_per_minute: int = 300  # client-side limits (0: none); set them to the project's quota
    tokens_per_minute: int = 1_000_000
    timeout_s: float = 120.0  # every HTTP call
    inline_max_bytes: int = 20_000_000  # larger videos go through the Files API
    upload_timeout_s: float = 300.0  # an upload must be ACTIVE within this
    poll_interval_s: float = 2.0
    media_resolution: str = "low"  # low | medium | high
    fps: float = 1.0
    clip_s: float = 0.0  # analyze only the first this many seconds (the hook); 0: the whole video
    thinking_level: str = "low"  # minimal | low | medium | high
    max_output_tokens: int = 4096
    max_retries: int = 4  # extra attempts on 429/5xx/timeouts
    retry_initial_s: float = 2.0
    retry_max_s: float = 60.0
    model_switch_after: int = 3  # consecutive 503s/timeouts on a model before the next fallback model
    model_cooldown_s: float = 120.0  # after a switch, the primary model is tried again this much later
    breaker_threshold: int = 5  # consecutive failed reels before the local analyzer takes over
    breaker_cooldown_s: float = 300.0  # then Gemini is tried again (one reel) this much later
    # USD per 1M tokens: "model=input/output". A model without a price records no cost.
    prices: tuple[str, ...] = ("gemini-3.8-flash=0.75/3.75", "gemini-3.5-flash-lite=0.30/2.50")

    def __post_init__(self) -> None:
        positive(
            "gemini",
            concurrency=self.concurrency,
            timeout_s=self.timeout_s,
            inline_max_bytes=self.inline_max_bytes,
            upload_timeout_s=self.upload_timeout_s,
            poll_interval_s=self.poll_interval_s,
            fps=self.fps,
            max_output_tokens=self.max_output_tokens,
            model_switch_after=self.model_switch_after,
            model_cooldown_s=self.model_cooldown_s,
            breaker_threshold=self.breaker_threshold,
            breaker_cooldown_s=self.breaker_cooldown_s,
            flex_timeout_s=self.flex_timeout_s,
            flex_price=self.flex_price,
            batch_price=self.batch_price,
            batch_poll_s=self.batch_poll_s,
            batch_max_tokens=self.batch_max_tokens,
            batch_inline_max_bytes=self.batch_inline_max_bytes,
        )
        if self.mode not in ("standard", "flex", "batch"):
            raise ConfigError(f"[gemini] mode must be standard, flex or batch; got {self.mode!r}.")
        if self.batch_inline_max_bytes > 20_000_000:
            raise ConfigError(
                "[gemini] batch_inline_max_bytes must be at most 20000000 (the API caps inline batches)."
            )
        if self.batch_wait_s < 0:
            raise ConfigError(f"[gemini] batch_wait_s must not be negative, got {self.batch_wait_s}.")
        if self.clip_s < 0:
            raise ConfigError(f"[gemini] clip_s must not be negative, got {self.clip_s}.")
        negative = [
            k
            for k in (
                "requests_per_minute",
                "tokens_per_minute",
                "max_retries",
                "retry_initial_s",
                "retry_max_s",
            )
            if getattr(self, k) < 0
        ]
        if negative:
            raise ConfigError(f"[gemini] {negative[0]} must not be negative.")
        if self.fps > 24:
            raise ConfigError(f"[gemini] fps must be at most 24, got {self.fps}.")
        if self.media_resolution not in ("low", "medium", "high"):
            raise ConfigError(
                f"[gemini] media_resolution must be low, medium or high; got {self.media_resolution!r}."
            )
        if self.thinking_level not in ("minimal", "low", "medium", "high"):
            raise ConfigError(
                f"[gemini] thinking_level must be minimal, low, medium or high; got {self.thinking_level!r}."
            )
        if not self.model:
            raise ConfigError("[gemini] model must name a Gemini model, e.g. gemini-3.8-flash.")
        self.price_table()  # validates the prices now, not at the first call

    @property
    def models(self) -> tuple[str, ...]:
        """The model, then its fallbacks: every model whose answer counts as Gemini's."""
        return (self.model, *[m for m in self.fallback_models if m != self.model])

    def price_table(self) -> dict[str, tuple[float, float]]:
        """{model: (input, output) USD per 1M tokens}, parsed from `prices`."""
        table = {}
        for entry in self.prices:
            model, _, pair = entry.partition("=")
            inp, _, out = pair.partition("/")
            try:
                table[model.strip()] = (float(inp), float(out))
            except ValueError:
                raise ConfigError(
                    f'[gemini] prices entry {entry!r} must look like "gemini-3.8-flash=0.75/3.75" '
                    "(USD per 1M input/output tokens)."
                ) from None
        return table


__all__ = ["GeminiSettings"]
