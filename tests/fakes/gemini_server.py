"""A local fake of the Gemini Developer API, speaking the wire protocol `google-genai` 3.x speaks
(shared/reference/gemini.md §5), so the real SDK and the production analyzer run against it unchanged.

Routes (`v1beta`):
- `POST /v1beta/models/{model}:generateContent`: a valid `GeminiAnswer` JSON, `usageMetadata` included,
  with the fields planted for that reel in `answers`; a playbook request (its prompt carries a FINDINGS
  block) gets one recommendation per finding plus one citing an id it was never given.
- `POST /upload/v1beta/files` (resumable start) → `X-Goog-Upload-URL`; chunk POSTs to that URL, the last
  one (`upload, finalize`) answers the `File` (state PROCESSING).
- `GET /v1beta/files/{id}`: PROCESSING for `processing_polls` polls, then ACTIVE. `DELETE` removes it.
- the Batch API (create, get, list, cancel, a result file's download): `tests/fakes/gemini_batches.py`.

Faults, by name (`FAULTS`): scripted for the next generate calls (`script(...)`), per reel (`per_post`,
matched on the post id the prompt carries, or the upload's display name), per model (`down_models`),
random 503s at `fail_rate` from a seeded RNG, a fixed `latency_s` per generate call, and an optional
server-side rate limit that answers 429 with RetryInfo like the real quota does (`rate_limit`).

    with FakeGemini(seed=1) as fake:
        client = genai.Client(api_key="k", http_options=HttpOptions(base_url=fake.url, api_version="v1beta"))
"""

from __future__ import annotations

import base64
import itertools
import json
import random
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

from tests.fakes import gemini_batches

FAULTS = (
    "503",  # UNAVAILABLE, "The model is overloaded."
    "500-html",  # a proxy's HTML 500 page
    "429",  # RESOURCE_EXHAUSTED per-minute, with RetryInfo
    "429-daily",  # RESOURCE_EXHAUSTED, QuotaFailure …PerDay…
    "400",  # INVALID_ARGUMENT
    "slow",  # answers after `slow_s`: past the client's timeout
    "malformed",  # the answer text is not JSON
    "schema",  # JSON that breaks the schema
    "truncated",  # partial JSON, finishReason MAX_TOKENS
    "blocked",  # promptFeedback.blockReason, no candidate
    "stuck",  # (upload) the file never leaves PROCESSING
    "failed",  # (upload) the file goes FAILED
    "upload-503",  # (upload) the start POST answers 503 with an empty message
)
_POST_ID = re.compile(r'"post_id":\s*"([^"]+)"')
_FINDINGS = re.compile(r"<<<FINDINGS\n(.*)\nFINDINGS>>>", re.DOTALL)


@dataclass
class _File:
    name: str
    display_name: str
    size: int
    data: bytearray = field(default_factory=bytearray)
    polls: int = 0
    fault: str | None = None
    state: str = "PROCESSING"


class FakeGemini:
    """Thread-safe fake server; start it with `with` (or `start()`), read `url`, inspect the counters."""

    def __init__(
        self,
        *,
        seed: int = 0,
        fail_rate: float = 0.0,
        latency_s: float = 0.0,
        slow_s: float = 2.0,
        retry_delay_s: float = 0.2,
        processing_polls: int = 1,
    ) -> None:
        self.rng = random.Random(seed)
        self.fail_rate, self.latency_s, self.slow_s = fail_rate, latency_s, slow_s
        self.retry_delay_s, self.processing_polls = retry_delay_s, processing_polls
        self.per_post: dict[str, str | list[str]] = {}  # post id → fault every call, or one per call
        self.answers: dict[str, dict[str, Any]] = {}  # post id → fields that answer differs in
        self.playbooks: list[list[dict[str, Any]]] = []  # the findings each playbook request carried
        self.down_models: set[str] = set()  # these models always answer 503
        self.shed_flex = 0  # the next this many flex-tier calls are shed (503), as under load
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()  # route → requests; also "429-sent", "503-sent"
        self.generated: list[dict[str, Any]] = []  # one record per successful generate answer
        self.requests: list[dict[str, Any]] = []  # one record per generate request: model, post, via
        self.files: dict[str, _File] = {}
        self.deleted: list[str] = []
        self._script: deque[str] = deque()
        self._uploads: dict[str, _File] = {}
        self._ids = itertools.count(1)
        self._limit: tuple[int, float] | None = None
        self._arrivals: deque[float] = deque()
        self._server: ThreadingHTTPServer | None = None
        self.batches: dict[str, gemini_batches.Batch] = {}  # name → job (gemini_batches.py)
        self.batch_polls = 2  # gets of a job before it ends (the first ones see it RUNNING)
        self.batch_outcomes: deque[str] = deque()  # the next jobs' outcomes: succeed | fail | expire
        self.lose_create_answers = 0  # the next this many batch creates succeed but drop the answer
        self.batch_extra: dict[str, Any] = {}  # fields added to every batch answer

    # -- control ------------------------------------------------------------------------------------------

    def script(self, *faults: str) -> None:
        """The next generate calls answer these faults, in order, before normal behaviour resumes."""
        with self.lock:
            self._script.extend(faults)

    def rate_limit(self, requests: int, period_s: float) -> None:
        """Answer 429 (RetryInfo) to a generate call when `requests` arrived in the last `period_s`."""
        self._limit = (requests, period_s)

    def generated_file(self, data: bytes) -> str:
        """A file the service wrote (a batch's results), ACTIVE and downloadable; returns its name."""
        file = _File(name=f"files/out{next(self._ids)}", display_name="batch results", size=len(data))
        file.data.extend(data)
        file.state = "ACTIVE"
        self.files[file.name] = file
        return file.name

    @property
    def url(self) -> str:
        assert self._server is not None, "start the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeGemini:
        fake = self

        class Handler(_Handler):
            owner = fake

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # A connection gone between select() and accept() would block a blocking accept() until the next
        # one, and shutdown() with it (seen once, under load): accept() gives up after a second instead.
        self._server.socket.settimeout(1.0)
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeGemini:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- behaviour ----------------------------------------------------------------------------------------

    def _next_fault(self, post_id: str | None, model: str) -> str | None:
        with self.lock:
            if self._script:
                return self._script.popleft()
            planned = self.per_post.get(post_id or "")
            if isinstance(planned, list):
                # A scripted reel gets exactly its script, then answers: no random faults on top.
                return planned.pop(0) if planned else None
            elif planned is not None and planned not in ("stuck", "failed", "upload-503"):
                return planned
            if model in self.down_models:
                return "503"
            if self._limit is not None:
                limit, period = self._limit
                now = time.monotonic()
                while self._arrivals and self._arrivals[0] <= now - period:
                    self._arrivals.popleft()
                if len(self._arrivals) >= limit:
                    self.counts["429-sent"] += 1
                    return "429"
                self._arrivals.append(now)
            if self.fail_rate and self.rng.random() < self.fail_rate:
                return "503"
        return None

    def answer(self, post_id: str | None, model: str, fault: str | None) -> dict[str, Any]:
        fields = {
            "summary": f"A cat reel ({post_id}) analyzed by {model}.",
            "hook": "A cat stares at the camera.",
            "format": "single_shot",
            "cat_count": 1,
            "cat_behaviours": ["staring", "pouncing"],
            "people_present": False,
            "on_screen_text": None,
            "audio_kind": "music",
            "pacing": "medium",
            "emotional_tone": "funny",
            "virality_hypothesis": "The pounce lands in the first second.",
        }
        text = json.dumps(fields | self.answers.get(post_id or "", {}))
        return self._candidate(text, model, fault)

    def playbook_answer(
        self, findings: list[dict[str, Any]], model: str, fault: str | None
    ) -> dict[str, Any]:
        """One recommendation per finding (citing it), plus one citing an id that was never given."""
        with self.lock:
            self.playbooks.append(findings)
        recs = [
            {
                "recommendation": f"Make more {f['subject']} (rests on {f['insight_id']}).",
                "insight_ids": [f["insight_id"]],
            }
            for f in findings[:5]
        ]
        recs.append({"recommendation": "Post at midnight, every night.", "insight_ids": ["made_up"]})
        return self._candidate(json.dumps({"recommendations": recs}), model, fault)

    def _candidate(self, text: str, model: str, fault: str | None) -> dict[str, Any]:
        finish = "STOP"
        if fault == "malformed":
            text = "Sure! Here is the analysis: {summary: 'a cat'"
        elif fault == "schema":
            text = text.replace('"cat_count": 1', '"cat_count": "many"')
        elif fault == "truncated":
            text, finish = text[:40], "MAX_TOKENS"
        return {
            "candidates": [
                {"content": {"parts": [{"text": text}], "role": "model"}, "finishReason": finish, "index": 0}
            ],
            "usageMetadata": {
                "promptTokenCount": 1200,
                "candidatesTokenCount": 150,
                "thoughtsTokenCount": 30,
                "totalTokenCount": 1380,
            },
            "modelVersion": model,
            "responseId": f"resp-{next(self._ids)}",
        }


def _error(code: int, status: str, message: str, details: Iterable[dict[str, Any]] = ()) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message, "status": status}
    if details:
        body["details"] = list(details)
    return {"error": body}


def _quota_429(delay_s: float, daily: bool) -> dict[str, Any]:
    quota_id = (
        "GenerateRequestsPerDayPerProjectPerModel" if daily else "GenerateRequestsPerMinutePerProjectPerModel"
    )
    details = [
        {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            "violations": [
                {
                    "quotaMetric": "generativelanguage.googleapis.com/generate_content_requests",
                    "quotaId": quota_id,
                    "quotaDimensions": {"location": "global", "model": "gemini"},
                    "quotaValue": "100",
                }
            ],
        },
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{delay_s:.3f}s"},
    ]
    message = f"You exceeded your current quota. Please retry in {delay_s:.2f}s."
    return _error(429, "RESOURCE_EXHAUSTED", message, details)


def _get(obj: dict[str, Any], camel: str, snake: str) -> Any:
    """The real API accepts both spellings (proto-JSON), and the SDK mixes them: so must the fake."""
    return obj.get(camel, obj.get(snake))


class _Handler(BaseHTTPRequestHandler):
    owner: FakeGemini
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # -- plumbing -----------------------------------------------------------------------------------------

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(
        self, status: int, body: Any, headers: dict[str, str] | None = None, content_type: str | None = None
    ) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type or "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout): nothing to answer

    def _count(self, route: str) -> None:
        with self.owner.lock:
            self.owner.counts[route] += 1

    def _keyed(self) -> bool:
        key = self.headers.get("x-goog-api-key")
        if not key:
            self._send(403, _error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers."))
            return False
        if key == "bad-key":
            self._send(
                400, _error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.")
            )
            return False
        return True

    # -- routes -------------------------------------------------------------------------------------------

    def do_POST(self) -> None:
        path = urlparse(self.path).path
        body = self._body()
        if path.startswith("/upload/v1beta/files"):
            if "upload_id" in parse_qs(urlparse(self.path).query):
                self._chunk(body)
            else:
                self._start_upload(body)
            return
        if gemini_batches.route_post(self, path, body):
            return
        match = re.fullmatch(r"/v1beta/models/([^/:]+):generateContent", path)
        if match is None:
            self._send(404, _error(404, "NOT_FOUND", f"no route {path}"))
            return
        self._count("generate")
        if self._keyed():
            self._generate(match.group(1), json.loads(body))

    def do_GET(self) -> None:
        if gemini_batches.route_get(self, urlparse(self.path).path):
            return
        match = re.fullmatch(r"/v1beta/(files/[^/]+)", urlparse(self.path).path)
        self._count("files.get")
        if match is None or not self._keyed():
            if match is None:
                self._send(404, _error(404, "NOT_FOUND", "no such route"))
            return
        fake = self.owner
        with fake.lock:
            file = fake.files.get(match.group(1))
            if file is not None:
                file.polls += 1
                if file.fault == "failed":
                    file.state = "FAILED"
                elif file.fault != "stuck" and file.polls >= fake.processing_polls:
                    file.state = "ACTIVE"
        if file is None:
            self._send(404, _error(404, "NOT_FOUND", f"File {match.group(1)} not found."))
        else:
            self._send(200, self._file_json(file))

    def do_DELETE(self) -> None:
        match = re.fullmatch(r"/v1beta/(files/[^/]+)", urlparse(self.path).path)
        self._count("files.delete")
        if match is None or not self._keyed():
            if match is None:
                self._send(404, _error(404, "NOT_FOUND", "no such route"))
            return
        with self.owner.lock:
            found = self.owner.files.pop(match.group(1), None)
            if found is not None:
                self.owner.deleted.append(found.name)
        self._send(200 if found else 404, {} if found else _error(404, "NOT_FOUND", "no such file"))

    # -- generateContent ---------------------------------------------------------------------------------

    def _generate(self, model: str, request: dict[str, Any]) -> None:
        fake = self.owner
        parts = request["contents"][0]["parts"]
        text = "".join(p.get("text", "") for p in parts)
        match = _POST_ID.search(text)
        post_id = match.group(1) if match else None
        via, size = None, 0
        for part in parts:
            inline = _get(part, "inlineData", "inline_data")
            file_data = _get(part, "fileData", "file_data")
            if inline is not None:
                via, size = "inline", len(base64.urlsafe_b64decode(inline["data"]))
            elif file_data is not None:
                via = "file"
                name = "files/" + _get(file_data, "fileUri", "file_uri").rsplit("/", 1)[-1]
                with fake.lock:
                    file = fake.files.get(name)
                if file is None or file.state != "ACTIVE":
                    state = file.state if file else "missing"
                    self._send(
                        400,
                        _error(
                            400,
                            "FAILED_PRECONDITION",
                            f"The File {name} is not in an ACTIVE state ({state}).",
                        ),
                    )
                    return
                size = file.size
        config = request.get("generationConfig", {})
        record = dict(
            model=model,
            post_id=post_id,
            via=via,
            bytes=size,
            fps=(_get(parts[0], "videoMetadata", "video_metadata") or {}).get("fps"),
            media_resolution=_get(config, "mediaResolution", "media_resolution"),
            schema=bool(_get(config, "responseSchema", "response_schema")),
            system=bool(_get(request, "systemInstruction", "system_instruction")),
            text=text,
            tier=_get(request, "serviceTier", "service_tier") or "standard",
            end_offset=(_get(parts[0], "videoMetadata", "video_metadata") or {}).get("end_offset"),
            arrived=time.monotonic(),
        )
        with fake.lock:
            fake.requests.append(record)
        fault = fake._next_fault(post_id, model)
        if record["tier"] == "flex" and fault is None:
            with fake.lock:
                if fake.shed_flex > 0:
                    fake.shed_flex -= 1
                    fault = "503"
        if fake.latency_s:
            time.sleep(fake.latency_s)
        if fault == "slow":
            time.sleep(fake.slow_s)
        if fault == "503":
            with fake.lock:
                fake.counts["503-sent"] += 1
            self._send(503, _error(503, "UNAVAILABLE", "The model is overloaded. Please try again later."))
        elif fault == "500-html":
            self._send(500, b"<html><body>Internal error</body></html>", content_type="text/html")
        elif fault in ("429", "429-daily"):
            self._send(429, _quota_429(fake.retry_delay_s, daily=fault == "429-daily"))
        elif fault == "400":
            self._send(400, _error(400, "INVALID_ARGUMENT", "Request contains an invalid argument."))
        elif fault == "blocked":
            self._send(200, {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "modelVersion": model})
        else:
            with fake.lock:
                fake.generated.append(record)
            block = _FINDINGS.search(text)
            if block:  # the playbook writer's request
                self._send(200, fake.playbook_answer(json.loads(block.group(1)), model, fault))
            else:
                tier = {"x-gemini-service-tier": record["tier"]}  # the tier that served it
                self._send(200, fake.answer(post_id, model, fault), headers=tier)

    # -- resumable upload --------------------------------------------------------------------------------

    def _start_upload(self, body: bytes) -> None:
        self._count("upload.start")
        if not self._keyed():
            return
        fake = self.owner
        if self.headers.get("X-Goog-Upload-Command") != "start":
            self._send(400, _error(400, "INVALID_ARGUMENT", "expected X-Goog-Upload-Command: start"))
            return
        meta = json.loads(body or b"{}").get("file", {})
        display = _get(meta, "displayName", "display_name") or ""
        post_id = display.removeprefix("reel-")
        planned = fake.per_post.get(post_id)
        if planned == "upload-503":
            with fake.lock:
                fake.per_post.pop(post_id)  # once
            self._send(503, {"error": {"message": "", "code": 503, "status": "Service Unavailable"}})
            return
        upload_id = f"u{next(fake._ids)}"
        size = int(self.headers.get("X-Goog-Upload-Header-Content-Length") or 0)
        file = _File(name=f"files/{upload_id}", display_name=display, size=size)
        if planned in ("stuck", "failed"):
            file.fault = planned
        with fake.lock:
            fake._uploads[upload_id] = file
        url = f"{fake.url}/upload/v1beta/files?upload_id={upload_id}&upload_protocol=resumable"
        self._send(200, b"", {"X-Goog-Upload-URL": url, "X-Goog-Upload-Status": "active"})

    def _chunk(self, body: bytes) -> None:
        self._count("upload.chunk")
        fake = self.owner
        upload_id = parse_qs(urlparse(self.path).query)["upload_id"][0]
        with fake.lock:
            file = fake._uploads.get(upload_id)
        offset = int(self.headers.get("X-Goog-Upload-Offset") or -1)
        if file is None or offset != len(file.data):
            self._send(400, _error(400, "INVALID_ARGUMENT", "bad upload session or offset"))
            return
        file.data.extend(body)
        if "finalize" not in (self.headers.get("X-Goog-Upload-Command") or ""):
            self._send(200, b"", {"X-Goog-Upload-Status": "active"})
            return
        with fake.lock:
            fake._uploads.pop(upload_id)
            fake.files[file.name] = file
        self._send(200, {"file": self._file_json(file)}, {"X-Goog-Upload-Status": "final"})

    def _file_json(self, file: _File) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": file.name,
            "displayName": file.display_name,
            "mimeType": "video/mp4",
            "sizeBytes": str(len(file.data)),
            "createTime": "2026-11-24T00:00:00.000000Z",
            "expirationTime": "2026-11-26T00:00:00.000000Z",
            "uri": f"{self.owner.url}/v1beta/{file.name}",
            "state": file.state,
        }
        if file.state == "FAILED":
            out["error"] = {"code": 400, "message": "Video codec not supported."}
        return out


__all__ = ["FAULTS", "FakeGemini"]
