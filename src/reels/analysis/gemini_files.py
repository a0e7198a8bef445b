"""The Files API with the one retry policy: upload a video (or a batch's JSONL input), poll it until ACTIVE
within `upload_timeout_s`, delete it (best effort: files expire after 48 h anyway), download a batch's
result file."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from google import genai
from google.genai import types

from reels.analysis.gemini_errors import (
    GeminiError,
    GeminiFileFailed,
    GeminiQuotaExhausted,
    GeminiUnavailable,
    GeminiUploadStuck,
    translate_error,
)
from reels.config import GeminiSettings
from reels.retry import RetryPolicy, is_transient

log = logging.getLogger(__name__)


class GeminiFiles:
    """Files API calls for one client. `on_quota` hears of a daily quota spent during one of them."""

    def __init__(
        self,
        client: genai.Client,
        settings: GeminiSettings,
        policy: RetryPolicy,
        *,
        on_quota: Callable[[GeminiError], None] = lambda error: None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client, self._settings, self._policy = client, settings, policy
        self._on_quota, self._sleep, self._clock = on_quota, sleep, clock

    def upload(self, path: Path, display_name: str, mime_type: str) -> types.File:
        """Upload with retries, then poll until ACTIVE. Raises GeminiFileFailed, GeminiUploadStuck, ..."""
        config = types.UploadFileConfig(mime_type=mime_type, display_name=display_name)
        file = self._with_retries(partial(self._client.files.upload, file=path, config=config), "upload")
        try:
            return self._until_active(file)
        except BaseException:
            self.delete(file.name)
            raise

    def delete(self, name: str | None) -> None:
        if not name:
            return
        try:
            self._client.files.delete(name=name)
        except Exception as exc:  # best effort: files expire after 48 h anyway
            log.warning("gemini: could not delete %s: %s", name, exc)

    def download(self, name: str) -> bytes:
        """A generated file's bytes (a batch's results), with retries."""
        return self._with_retries(partial(self._client.files.download, file=name), "download")

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

    def _with_retries(self, call: Callable[[], Any], what: str) -> Any:
        def attempt() -> Any:
            try:
                return call()
            except Exception as exc:
                error = translate_error(exc, None, self._settings.timeout_s, upload=True)
                if error is None:
                    raise
                if isinstance(error, GeminiQuotaExhausted):
                    self._on_quota(error)
                raise error from exc

        try:
            return self._policy.call(attempt, sleep=self._sleep)
        except GeminiError as error:
            if is_transient(error):  # retried until the attempts were spent
                raise GeminiUnavailable(f"{what} failed: {error}", status=error.status) from error
            raise


__all__ = ["GeminiFiles"]
