"""The Batch API routes of the fake Gemini (`tests/fakes/gemini_server.py`), as `google-genai` 3.x calls them
on the Developer API (`google/genai/batches.py`, mldev paths):

- `POST /v1beta/models/{model}:batchGenerateContent`, body `{"batch": {"displayName", "inputConfig":
  {"requests": {"requests": [{"request", "metadata"}]}} | {"fileName": "files/..."}}}` → the job as an
  operation: `{"name": "batches/…", "metadata": {"state": "BATCH_STATE_PENDING", "displayName", "model", …}}`;
- `GET /v1beta/batches/{id}`: PENDING, RUNNING, then (after `batch_polls` gets) the job's outcome; a
  SUCCEEDED job carries `metadata.output`: `{"inlinedResponses": {"inlinedResponses": [{"response" |
  "error", "metadata"}]}}` for inline requests, `{"responsesFile": "files/…"}` for a JSONL input;
- `GET /v1beta/batches` (`pageSize`, `pageToken`) → `{"operations": [...], "nextPageToken"}`;
- `POST /v1beta/batches/{id}:cancel` → `{}`, the job CANCELLED;
- `GET /v1beta/files/{id}:download?alt=media`: a result file's JSONL, `{"key", "response" | "error"}` lines.

Each request is answered as `generateContent` would answer it (the same per-reel faults: `per_post` "503" or
"400" become that item's error, "malformed", "schema", "blocked" its unusable answer); a request whose video
file is gone (expired, deleted) gets a 404 item error, one not ACTIVE a 400. Outcomes, in order of
creation: `batch_outcomes` ("succeed", "fail", "expire"; then "succeed"); `lose_create_answers` drops the
connection after creating that many jobs, as a timeout would; `batch_extra` adds fields to every answer
(ones a newer API version sends).
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

if TYPE_CHECKING:
    from tests.fakes.gemini_server import FakeGemini, _Handler

_STATES = {"succeed": "BATCH_STATE_SUCCEEDED", "fail": "BATCH_STATE_FAILED", "expire": "BATCH_STATE_EXPIRED"}
_ids = itertools.count(1)


@dataclass
class Batch:
    name: str
    display_name: str
    model: str
    requests: list[tuple[str | None, dict[str, Any]]]  # (key or metadata post id, the request)
    from_file: bool
    outcome: str = "succeed"
    polls: int = 0
    state: str = "BATCH_STATE_PENDING"
    output: dict[str, Any] | None = None
    requests_json: list[dict[str, Any]] = field(default_factory=list)


def route_post(handler: _Handler, path: str, body: bytes) -> bool:
    """Handle a batch POST; False when `path` is not one."""
    if m := re.fullmatch(r"/v1beta/models/([^/:]+):batchGenerateContent", path):
        handler._count("batches.create")
        if handler._keyed():
            _create(handler, m.group(1), json.loads(body or b"{}"))
        return True
    if m := re.fullmatch(r"/v1beta/(batches/[^/:]+):cancel", path):
        handler._count("batches.cancel")
        if handler._keyed():
            fake = handler.owner
            with fake.lock:
                batch = fake.batches.get(m.group(1))
                if batch is not None and batch.state in ("BATCH_STATE_PENDING", "BATCH_STATE_RUNNING"):
                    batch.state = "BATCH_STATE_CANCELLED"
            handler._send(200 if batch else 404, {} if batch else _missing(m.group(1)))
        return True
    return False


def route_get(handler: _Handler, path: str) -> bool:
    """Handle a batch GET (or a result file's download); False when `path` is not one."""
    fake = handler.owner
    if m := re.fullmatch(r"/v1beta/(files/[^/:]+):download", path):
        handler._count("files.download")
        if handler._keyed():
            with fake.lock:
                file = fake.files.get(m.group(1))
            if file is None:
                handler._send(404, _missing(m.group(1)))
            else:
                handler._send(200, bytes(file.data), content_type="application/octet-stream")
        return True
    if path == "/v1beta/batches":
        handler._count("batches.list")
        if handler._keyed():
            query = parse_qs(urlparse(handler.path).query)
            size = int(query.get("pageSize", ["50"])[0])
            start = int(query.get("pageToken", ["0"])[0] or 0)
            with fake.lock:
                jobs = list(fake.batches.values())[::-1]  # newest first, as the API lists them
                page = [_operation(fake, b) for b in jobs[start : start + size]]
            more = start + size < len(jobs)
            handler._send(200, {"operations": page} | ({"nextPageToken": str(start + size)} if more else {}))
        return True
    if m := re.fullmatch(r"/v1beta/(batches/[^/:]+)", path):
        handler._count("batches.get")
        if handler._keyed():
            with fake.lock:
                batch = fake.batches.get(m.group(1))
            if batch is None:
                handler._send(404, _missing(m.group(1)))
                return True
            _advance(fake, batch)
            with fake.lock:
                handler._send(200, _operation(fake, batch))
        return True
    return False


def _create(handler: _Handler, model: str, body: dict[str, Any]) -> None:
    fake = handler.owner
    spec = body.get("batch") or {}
    config = spec.get("inputConfig") or spec.get("input_config") or {}
    if "fileName" in config or "file_name" in config:
        name = config.get("fileName") or config.get("file_name")
        with fake.lock:
            file = fake.files.get(name)
        if file is None:
            handler._send(400, _error(400, "INVALID_ARGUMENT", f"input file {name} not found"))
            return
        lines = [json.loads(line) for line in bytes(file.data).decode().splitlines() if line.strip()]
        requests = [(line.get("key"), line["request"]) for line in lines]
        from_file = True
    else:
        inline = (config.get("requests") or {}).get("requests") or []
        requests = [((r.get("metadata") or {}).get("post_id"), r["request"]) for r in inline]
        from_file = False
    if not requests:
        handler._send(400, _error(400, "INVALID_ARGUMENT", "a batch needs at least one request"))
        return
    with fake.lock:
        batch = Batch(
            name=f"batches/b{next(_ids)}",
            display_name=spec.get("displayName") or "",
            model=model,
            requests=requests,
            from_file=from_file,
            outcome=fake.batch_outcomes.popleft() if fake.batch_outcomes else "succeed",
        )
        fake.batches[batch.name] = batch
        lose = fake.lose_create_answers > 0
        if lose:
            fake.lose_create_answers -= 1
    if lose:  # created, but the answer never reaches the client
        handler.close_connection = True
        handler.connection.close()
        return
    with fake.lock:
        handler._send(200, _operation(fake, batch))


def _advance(fake: FakeGemini, batch: Batch) -> None:
    with fake.lock:
        if batch.state not in ("BATCH_STATE_PENDING", "BATCH_STATE_RUNNING"):
            return
        batch.polls += 1
        if batch.polls < fake.batch_polls:
            batch.state = "BATCH_STATE_RUNNING"
            return
        batch.state = _STATES[batch.outcome]
    if batch.state == "BATCH_STATE_SUCCEEDED":
        answers = [_answer(fake, batch, key, request) for key, request in batch.requests]
        with fake.lock:
            if batch.from_file:
                out = fake.generated_file(b"".join(json.dumps(a).encode() + b"\n" for a in answers))
                batch.output = {"responsesFile": out}
            else:
                inlined = [{k: v for k, v in a.items() if k != "key"} for a in answers]
                batch.output = {"inlinedResponses": {"inlinedResponses": inlined}}


def _answer(fake: FakeGemini, batch: Batch, key: str | None, request: dict[str, Any]) -> dict[str, Any]:
    """One request's line of the results: as generateContent would answer it, or its error."""
    parts = request["contents"][0]["parts"]
    text = "".join(p.get("text", "") for p in parts)
    post = re.search(r'"post_id":\s*"([^"]+)"', text)
    post_id = post.group(1) if post else None
    echo: dict[str, Any] = {"key": key} if batch.from_file else {"metadata": {"post_id": key}}
    for part in parts:
        file_data = part.get("fileData") or part.get("file_data")
        if file_data is not None:
            name = "files/" + (file_data.get("fileUri") or file_data.get("file_uri")).rsplit("/", 1)[-1]
            with fake.lock:
                file = fake.files.get(name)
            if file is None:  # expired (48 h after its upload) or deleted
                return echo | {
                    "error": {"code": 404, "message": f"File {name} not found.", "status": "NOT_FOUND"}
                }
            if file.state != "ACTIVE":
                return echo | {"error": {"code": 400, "message": f"The File {name} is not ACTIVE."}}
    config = request.get("generationConfig") or {}
    with fake.lock:
        fake.requests.append(
            dict(
                model=batch.model,
                post_id=post_id,
                via="batch",
                tier="batch",
                schema=bool(config.get("responseSchema") or config.get("response_schema")),
                system=bool(request.get("systemInstruction") or request.get("system_instruction")),
                media_resolution=config.get("mediaResolution"),
                batch=batch.name,
            )
        )
    fault = fake._next_fault(post_id, batch.model)
    if fault in ("503", "429", "500-html", "slow"):
        return echo | {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    if fault == "400":
        return echo | {"error": {"code": 400, "message": "Request contains an invalid argument."}}
    if fault == "blocked":
        return echo | {"response": {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}}
    return echo | {"response": fake.answer(post_id, batch.model, fault) | fake.batch_extra}


def _operation(fake: FakeGemini, batch: Batch) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "@type": "type.googleapis.com/google.ai.generativelanguage.v1beta.GenerateContentBatch",
        "model": f"models/{batch.model}",
        "displayName": batch.display_name,
        "state": batch.state,
        "createTime": "2026-11-24T00:00:00Z",
        "updateTime": "2026-11-24T00:05:00Z",
        "batchStats": {"requestCount": str(len(batch.requests))},
    }
    if batch.output is not None:
        meta["output"] = batch.output
    done = batch.state not in ("BATCH_STATE_PENDING", "BATCH_STATE_RUNNING")
    return {"name": batch.name, "metadata": meta, "done": done}


def _error(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


def _missing(name: str) -> dict[str, Any]:
    return _error(404, "NOT_FOUND", f"{name} not found.")


__all__ = ["Batch", "route_get", "route_post"]
