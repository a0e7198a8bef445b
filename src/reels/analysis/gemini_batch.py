"""Gemini's Batch API for reels: about half the price, answered within 24 hours instead of at once.

A batch is built from the same per-reel request as a direct call (`gemini_request`), each video uploaded
through the Files API first (a batch cannot carry many videos inline: its inline body is capped at 20 MB).
The requests go inline when their JSON fits `batch_inline_max_bytes`, else as an uploaded JSONL file
(one `{"key", "request"}` per line); the answers come back the same way (inline responses, or a result file
to download). Every call runs through the one retry policy, its errors translated as a direct call's are.

This module only talks to the API; `reels.pipeline.batches` keeps the jobs in a table, decides what to submit
and turns the results into `analyses` rows.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from google import genai
from google.genai import _common, batches, types

from reels.analysis import Analyzed, ReelContext
from reels.analysis.gemini import cost_usd, estimated_tokens, make_client, retry_policy
from reels.analysis.gemini_answers import parse_response
from reels.analysis.gemini_errors import GeminiError, translate_error
from reels.analysis.gemini_files import GeminiFiles
from reels.analysis.gemini_request import MIME_TYPE, contents, file_part, generate_config
from reels.analysis.prompt import PROMPT_VERSION
from reels.config import GeminiSettings
from reels.retry import RetryPolicy

# Per-request errors worth asking again in a later batch: the service's, not the request's; and 404, a video
# file that expired (48 h after its upload) before the batch got to it: the next batch uploads it again.
_TRANSIENT_CODES = frozenset({404, 408, 429, 500, 502, 503, 504})
FINISHED = ("succeeded", "partially_succeeded", "failed", "cancelled", "expired")


@dataclass(frozen=True, slots=True)
class BatchJob:
    """A job as the API reports it: `state` is pending, running, succeeded, failed, cancelled or expired."""

    name: str
    display_name: str | None
    state: str
    source: types.BatchJobDestination | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED


@dataclass(frozen=True, slots=True)
class ItemResult:
    """One reel's outcome in a finished batch: an answer, or an error (`transient`: ask it again later)."""

    post_id: str
    analyzed: Analyzed | None = None
    error: str | None = None
    transient: bool = False


class GeminiBatches:
    """Batch jobs for the `[gemini]` model. Thread-safe for uploads (one client, no shared state)."""

    name = "gemini"
    prompt_version = PROMPT_VERSION

    def __init__(
        self,
        client: genai.Client,
        settings: GeminiSettings,
        *,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client, self._settings = client, settings
        self._policy = policy or retry_policy(settings)
        self._sleep = sleep
        self.model = settings.model
        self.models = settings.models
        self.concurrency = settings.concurrency
        self.files = GeminiFiles(client, settings, self._policy, sleep=sleep, clock=clock)
        self._prices = settings.price_table()

    @classmethod
    def from_settings(cls, settings: GeminiSettings, api_key: str, **kw: Any) -> GeminiBatches:
        return cls(make_client(settings, api_key), settings, **kw)

    @property
    def covers(self) -> frozenset[tuple[str, str, str]]:
        """Keys of `analyses` rows that count as done: an answer by any of the configured models."""
        return frozenset((self.name, m, self.prompt_version) for m in self.models)

    def tokens(self, duration_s: float | None) -> int:
        """The input tokens a reel is expected to enqueue (a 30 s reel when its length is unknown)."""
        length = duration_s or 30.0
        clip = self._settings.clip_s
        return estimated_tokens(min(length, clip) if clip else length, self._settings.fps)

    # -- submit -----------------------------------------------------------------------------------------

    def upload(self, video: Path, post_id: str) -> types.File:
        """The reel's video in the Files API, ACTIVE. Raises a GeminiError with the reason."""
        return self.files.upload(video, f"reel-{post_id}", MIME_TYPE)

    def requests(self, reels: Iterable[tuple[ReelContext, str]]) -> list[types.InlinedRequest]:
        """One request per (context, uploaded file uri): the per-reel request a direct call sends."""
        return [
            types.InlinedRequest(
                contents=contents(self._settings, file_part(uri), context),
                config=generate_config(self._settings),
                metadata={"post_id": context.post_id},
            )
            for context, uri in reels
        ]

    def input_file(self, display_name: str, requests: list[types.InlinedRequest]) -> str | None:
        """The requests as an uploaded JSONL file when their JSON passes `batch_inline_max_bytes` (its
        name), else None: they go inline. Raises a GeminiError."""
        lines = [self._rest(r) for r in requests]
        if sum(len(line) + 1 for line in lines) <= self._settings.batch_inline_max_bytes:
            return None
        with tempfile.TemporaryDirectory(prefix="reels-batch-") as folder:
            path = Path(folder) / f"{display_name}.jsonl"
            path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
            return self.files.upload(path, display_name, "jsonl").name or None

    def create(self, display_name: str, src: list[types.InlinedRequest] | str) -> BatchJob:
        """`batches.create` of inline requests or an input file's name, retried; a retry first looks for the
        job by its name, so a create whose answer was lost (a timeout, a dropped connection) is not created,
        and paid for, twice. Raises a GeminiError; after a transient one the job may exist."""
        config = types.CreateBatchJobConfig(display_name=display_name)
        sent = [0]

        def create() -> BatchJob:
            sent[0] += 1
            if sent[0] > 1 and (found := self._find(display_name)) is not None:
                return found
            return _job(self._client.batches.create(model=self.model, src=src, config=config))

        return self._call(create)

    def _rest(self, request: types.InlinedRequest) -> str:
        """One JSONL line: the request as the REST API spells it, converted by the SDK's own serialiser (the
        one `batches.create` uses for inline requests) so that both ways send the same bytes."""
        as_sent = batches._InlinedRequest_to_mldev(self._client._api_client, request)
        line = {"key": (request.metadata or {}).get("post_id"), "request": as_sent["request"]}
        return json.dumps(_common.encode_unserializable_types(_common.convert_to_dict(line)))

    # -- follow -----------------------------------------------------------------------------------------

    def get(self, name: str) -> BatchJob:
        return _job(self._call(lambda: self._client.batches.get(name=name)))

    def find(self, display_name: str) -> BatchJob | None:
        """The job created under `display_name`, if the API has one (a submission whose answer was lost)."""
        return self._call(lambda: self._find(display_name))

    def _find(self, display_name: str) -> BatchJob | None:
        for job in self._client.batches.list(config={"page_size": 100}):
            if job.display_name == display_name:
                return _job(job)
        return None

    def cancel(self, name: str) -> None:
        self._call(lambda: self._client.batches.cancel(name=name))

    def results(self, job: BatchJob, post_ids: Iterable[str], model: str) -> list[ItemResult]:
        """Every submitted reel's outcome in a succeeded job; a reel the job does not answer for is a
        transient error (asked again in a later batch)."""
        dest = job.source
        answers: dict[str, ItemResult] = {}
        asked = list(post_ids)
        if dest is not None and dest.inlined_responses is not None:
            in_order = len(dest.inlined_responses) == len(asked)
            for k, item in enumerate(dest.inlined_responses):
                # The answers come in the order asked: that places one whose metadata did not come back.
                post_id = (item.metadata or {}).get("post_id") or (asked[k] if in_order else "")
                error = item.error
                code, message = (error.code, error.message) if error else (None, None)
                answers[post_id] = self._outcome(post_id, model, item.response, code, message)
        elif dest is not None and dest.file_name:
            data = self.files.download(dest.file_name)
            for raw in data.decode("utf-8", errors="replace").splitlines():
                try:
                    line = json.loads(raw) if raw.strip() else None
                except ValueError:
                    continue  # a line without its key: its reel counts as unanswered, asked again
                if not isinstance(line, dict):
                    continue
                post_id = str(line.get("key") or "")
                error, response = line.get("error") or {}, line.get("response")
                try:
                    parsed = _response(response) if response else None
                except (ValueError, TypeError, AttributeError) as exc:
                    reason = f"unreadable answer from Gemini: {exc!s:.160}"
                    answers[post_id] = ItemResult(post_id, error=reason)
                    continue
                if not isinstance(error, dict):
                    error = {"message": str(error)}
                code, message = error.get("code"), error.get("message")
                answers[post_id] = self._outcome(post_id, model, parsed, code, message)
        missing = "the finished batch has no answer for this reel; it goes in a later batch"
        return [answers.get(p) or ItemResult(p, error=missing, transient=True) for p in asked]

    def has_results(self, job: BatchJob) -> bool:
        """Whether the job carries answers (a failed or cancelled job may carry those it finished)."""
        dest = job.source
        return dest is not None and bool(dest.inlined_responses or dest.file_name)

    def _outcome(
        self,
        post_id: str,
        model: str,
        response: types.GenerateContentResponse | None,
        code: int | None,
        message: str | None,
    ) -> ItemResult:
        if code or response is None:
            reason = f"Gemini batch item {code or ''}: {message or 'no answer'}".replace("  ", " ")
            return ItemResult(post_id, error=reason, transient=code in _TRANSIENT_CODES or code is None)
        try:
            analysis, raw = parse_response(response, model)
        except GeminiError as exc:
            return ItemResult(post_id, error=str(exc))
        usage = response.usage_metadata
        inputs = (usage.prompt_token_count if usage else None) or 0
        outputs = ((usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)) if usage else 0
        cost = cost_usd(self._prices, model, inputs, outputs)
        analyzed = Analyzed(
            analysis,
            raw_json=raw,
            input_tokens=inputs or None,
            output_tokens=outputs or None,
            cost_usd=None if cost is None else cost * self._settings.batch_price,
            analyzer=self.name,
            model=model,
            prompt_version=self.prompt_version,
            tier="batch",
        )
        return ItemResult(post_id, analyzed=analyzed)

    def _call(self, call: Callable[[], Any]) -> Any:
        def attempt() -> Any:
            try:
                return call()
            except Exception as exc:
                # No model: a 404 here is a job or file that is gone, not a model that is unknown.
                error = translate_error(exc, None, self._settings.timeout_s)
                if error is None:
                    raise
                raise error from exc

        return self._policy.call(attempt, sleep=self._sleep)


def _response(raw: dict[str, Any]) -> types.GenerateContentResponse:
    """A result file's REST response as the SDK reads one (its own converter, which drops the fields the
    model does not know, as `generate_content` and the inline results do)."""
    converted = batches._GenerateContentResponse_from_mldev(raw)
    return types.GenerateContentResponse._from_response(response=converted, kwargs={})


def _job(job: types.BatchJob) -> BatchJob:
    state = job.state.value if job.state else "JOB_STATE_UNSPECIFIED"
    return BatchJob(
        name=job.name or "",
        display_name=job.display_name,
        state=state.removeprefix("JOB_STATE_").lower(),
        source=job.dest,
    )


__all__ = ["FINISHED", "BatchJob", "GeminiBatches", "ItemResult"]
