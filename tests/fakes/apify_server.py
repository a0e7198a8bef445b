"""A local fake of the Apify API (v2), speaking the wire protocol the real `apify-client` 3.x uses.

Serves what `apify.md` §2.5/§2.6/§2.9 list, on 127.0.0.1 only:

    POST /v2/actors/{actorId}/runs   (and the legacy /v2/acts/...)  → 201 {"data": Run}
    GET  /v2/actors/{actorId}                                       → 200 {"data": Actor}
    GET  /v2/actor-runs/{runId}?waitForFinish=N                     → 200 {"data": Run}
    GET  /v2/actor-runs/{runId}/log                                 → 200 text/plain
    GET  /v2/datasets/{datasetId}                                   → 200 {"data": Dataset}
    GET  /v2/datasets/{datasetId}/items?offset&limit&desc           → 200 [items] + X-Apify-Pagination-*
    GET  /v2/actors/{actorId}/runs?desc&limit                       → 200 {"data": ListOfRuns}
    GET  /v2/key-value-stores/{storeId}/records/INPUT               → 200 the run's input

Every request is recorded (method, path, query, headers, the gunzipped body and its JSON). Errors are
`{"error": {"type", "message"}}` with the real status: 401 `token-not-valid` for a wrong or missing
`Authorization: Bearer` token, 404 `record-not-found` for an unknown actor, run or dataset. Scripting:
`add_actor` (its items, final status, how many polls stay RUNNING), `add_dataset`, and `fail(route, ...)`,
a queue of injected error responses per route (`start`, `actor`, `run`, `log`, `dataset`, `items`) served
before the route's real answer — e.g. `fail("start", 429, 500)` then a normal 201 — and `delay(route, s)`,
which holds a request so that the client times out. `lose_starts = n`: the next n starts create their run
and then drop the connection unanswered, like an answer lost on the way back.
"""

from __future__ import annotations

import gzip
import json
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

FINISHED_AT = datetime(2026, 11, 16, 6, 0, 0, tzinfo=UTC)
TERMINAL = ("SUCCEEDED", "FAILED", "TIMED-OUT", "ABORTED")
NO_LIMIT = 999_999_999_999  # what the real API reports as the limit when none was asked for

ROUTES: list[tuple[str, str, re.Pattern[str]]] = [
    ("POST", "start", re.compile(r"^/v2/(?:actors|acts)/([^/]+)/runs$")),
    ("GET", "runs", re.compile(r"^/v2/(?:actors|acts)/([^/]+)/runs$")),
    ("GET", "record", re.compile(r"^/v2/key-value-stores/([^/]+)/records/INPUT$")),
    ("GET", "actor", re.compile(r"^/v2/(?:actors|acts)/([^/]+)$")),
    ("GET", "run", re.compile(r"^/v2/actor-runs/([^/]+)$")),
    ("GET", "log", re.compile(r"^/v2/actor-runs/([^/]+)/log$")),
    ("GET", "dataset", re.compile(r"^/v2/datasets/([^/]+)$")),
    ("GET", "items", re.compile(r"^/v2/datasets/([^/]+)/items$")),
]

DEFAULT_ERROR_TYPES = {
    400: "invalid-input",
    401: "token-not-valid",
    403: "insufficient-permissions",
    404: "record-not-found",
    429: "rate-limit-exceeded",
}


LOST = -1  # a handler's status meaning: drop the connection without answering


def actor_key(actor_id: str) -> str:
    """The actor's id as its URL path segment carries it: `apify/x` and `apify~x` are the same actor."""
    return unquote(actor_id).replace("/", "~")


@dataclass(frozen=True)
class Recorded:
    """One request as the server received it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    content: bytes  # the body after gunzip
    body: Any  # `content` parsed as JSON, or None
    route: str | None


@dataclass(frozen=True)
class Failure:
    status: int
    type: str
    message: str


@dataclass
class FakeActor:
    # The run's items: a list, or a function of the run input.
    items: list[Any] | Callable[[Any], list[Any]] = field(default_factory=list)
    status: str = "SUCCEEDED"  # the run's final status
    running_polls: int = 0  # how many run polls answer RUNNING before the final status
    status_message: str | None = None
    finished_at: datetime = FINISHED_AT
    cost_usd: float | None = None  # the run's usageTotalUsd


@dataclass
class FakeDataset:
    id: str
    items: list[Any]
    created_at: datetime = FINISHED_AT - timedelta(minutes=1)
    modified_at: datetime = FINISHED_AT
    run_id: str | None = None


@dataclass
class FakeRun:
    id: str
    actor: str
    final_status: str
    polls_left: int
    dataset_id: str
    input: Any
    memory: int
    timeout: int
    started_at: datetime
    finished_at: datetime
    status_message: str | None
    cost_usd: float | None
    status: str = "READY"


class FakeApify:
    """The fake server; use as a context manager, or `start()` / `stop()`."""

    def __init__(self, token: str = "test-token") -> None:
        self.token = token
        self.requests: list[Recorded] = []
        self.actors: dict[str, FakeActor] = {}
        self.datasets: dict[str, FakeDataset] = {}
        self.runs: dict[str, FakeRun] = {}
        self._failures: dict[str, deque[Failure]] = {}
        self.lose_starts = 0  # the next this many starts create their run, then drop the answer
        self._delays: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- scripting -------------------------------------------------------------------------------------

    def add_actor(self, actor_id: str, **script: Any) -> FakeActor:
        actor = FakeActor(**script)
        self.actors[actor_key(actor_id)] = actor
        return actor

    def add_dataset(self, dataset_id: str, items: list[Any], **dates: datetime) -> FakeDataset:
        dataset = FakeDataset(dataset_id, list(items), **dates)
        self.datasets[dataset_id] = dataset
        return dataset

    def fail(self, route: str, *responses: int | tuple[int, str, str]) -> None:
        """Queue error responses on `route`; each is a status, or (status, error type, message)."""
        if route not in {name for _, name, _ in ROUTES}:
            raise ValueError(f"unknown route {route!r}")
        queue = self._failures.setdefault(route, deque())
        for response in responses:
            status, kind, message = response if isinstance(response, tuple) else (response, None, None)
            default_type = DEFAULT_ERROR_TYPES.get(status, "internal-server-error")
            queue.append(Failure(status, kind or default_type, message or f"Injected {status}"))

    def delay(self, route: str, *seconds: float) -> None:
        """Hold the next requests to `route` this long each before answering (to make the client time out)."""
        self._delays.setdefault(route, deque()).extend(seconds)

    def calls(self, route: str | None = None, method: str | None = None) -> list[Recorded]:
        """The recorded requests, optionally only those to one route and/or with one method."""
        with self._lock:
            return [
                r
                for r in self.requests
                if (route is None or r.route == route) and (method is None or r.method == method)
            ]

    # --- lifecycle -------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("the fake Apify server is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> FakeApify:
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-apify", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeApify:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- the API ---------------------------------------------------------------------------------------

    def handle(self, request: Recorded, match: re.Match[str] | None) -> tuple[int, Any, dict[str, str]]:
        """(status, JSON body or text, extra headers) for one request."""
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return _error(401, "token-not-valid", "Authentication token is not valid.")
        if match is None or request.route is None:
            return _error(404, "page-not-found", f"No route for {request.method} {request.path}")
        with self._lock:
            delays = self._delays.get(request.route)
            pause = delays.popleft() if delays else 0.0
        time.sleep(pause)
        with self._lock:
            queue = self._failures.get(request.route)
            if queue:
                failure = queue.popleft()
                return _error(failure.status, failure.type, failure.message)
            return getattr(self, f"_{request.route}")(unquote(match.group(1)), request)

    def _start(self, actor_id: str, request: Recorded) -> tuple[int, Any, dict[str, str]]:
        actor = self.actors.get(actor_key(actor_id))
        if actor is None:
            return _error(404, "record-not-found", "Actor was not found")
        if request.body is None and request.content:
            return _error(400, "invalid-input", "Input is not valid JSON")
        n = len(self.runs) + 1
        run_id, dataset_id = f"RUN{n:03d}", f"DS{n:03d}"
        items = actor.items(request.body) if callable(actor.items) else actor.items
        self.runs[run_id] = FakeRun(
            id=run_id,
            actor=actor_key(actor_id),
            final_status=actor.status,
            polls_left=actor.running_polls,
            dataset_id=dataset_id,
            input=request.body,
            memory=int(request.query.get("memory", 1024)),
            timeout=int(request.query.get("timeout", 3600)),
            started_at=actor.finished_at - timedelta(minutes=1),
            finished_at=actor.finished_at,
            status_message=actor.status_message,
            cost_usd=actor.cost_usd,
        )
        self.datasets[dataset_id] = FakeDataset(
            dataset_id,
            list(items),
            created_at=actor.finished_at - timedelta(minutes=1),
            modified_at=actor.finished_at,
            run_id=run_id,
        )
        if self.lose_starts > 0:
            self.lose_starts -= 1
            return LOST, None, {}
        return 201, {"data": _run_json(self.runs[run_id])}, {}

    def _runs(self, actor_id: str, request: Recorded) -> tuple[int, Any, dict[str, str]]:
        """The actor's runs, newest first when `desc`, as RunListItems in a ListOfRuns."""
        if actor_key(actor_id) not in self.actors:
            return _error(404, "record-not-found", "Actor was not found")
        mine = [r for r in self.runs.values() if r.actor == actor_key(actor_id)]
        if request.query.get("desc") in ("1", "true"):
            mine.reverse()
        limit = int(request.query.get("limit") or 1000)
        items = [_run_json(r) | {"usageTotalUsd": r.cost_usd or 0.0} for r in mine[:limit]]  # always a number
        page = {
            "total": len(mine),
            "offset": 0,
            "limit": limit,
            "desc": True,
            "count": len(items),
            "items": items,
        }
        return 200, {"data": page}, {}

    def _record(self, store_id: str, request: Recorded) -> tuple[int, Any, dict[str, str]]:
        run = self.runs.get(store_id.removeprefix("KVS-"))
        if run is None:
            return _error(404, "record-not-found", "Record was not found")
        return 200, run.input, {}

    def _actor(self, actor_id: str, request: Recorded) -> tuple[int, Any, dict[str, str]]:
        key = actor_key(actor_id)
        if key not in self.actors:
            return _error(404, "record-not-found", "Actor was not found")
        username, _, name = key.partition("~")
        actor = {
            "id": key,
            "userId": "USER0001",
            "name": name,
            "username": username,
            "isPublic": True,
            "createdAt": _iso(FINISHED_AT - timedelta(days=365)),
            "modifiedAt": _iso(FINISHED_AT - timedelta(days=1)),
            "stats": {},
            "versions": [],
            "defaultRunOptions": {},
        }
        return 200, {"data": actor}, {}

    def _run(self, run_id: str, request: Recorded) -> tuple[int, Any, dict[str, str]]:
        run = self.runs.get(run_id)
        if run is None:
            return _error(404, "record-not-found", "Actor run was not found")
        if run.status not in TERMINAL:
            if run.polls_left > 0:
                run.polls_left -= 1
                run.status = "RUNNING"
            else:
                run.status = run.final_status
        return 200, {"data": _run_json(run)}, {}

    def _log(self, run_id: str, request: Recorded) -> tuple[int, Any, dict[str, str]]:
        if run_id not in self.runs:
            return _error(404, "record-not-found", "Actor run was not found")
        return 200, f"{FINISHED_AT.isoformat()} INFO  fake run {run_id}\n", {}

    def _dataset(self, dataset_id: str, request: Recorded) -> tuple[int, Any, dict[str, str]]:
        dataset = self.datasets.get(dataset_id)
        if dataset is None:
            return _error(404, "record-not-found", "Dataset was not found")
        return 200, {"data": _dataset_json(dataset)}, {}

    def _items(self, dataset_id: str, request: Recorded) -> tuple[int, Any, dict[str, str]]:
        dataset = self.datasets.get(dataset_id)
        if dataset is None:
            return _error(404, "record-not-found", "Dataset was not found")
        desc = request.query.get("desc") in ("1", "true")
        offset = int(request.query.get("offset", 0))
        limit = int(request.query["limit"]) if "limit" in request.query else None
        rows = dataset.items[::-1] if desc else dataset.items
        page = rows[offset : None if limit is None else offset + limit]
        headers = {
            "X-Apify-Pagination-Total": str(len(rows)),
            "X-Apify-Pagination-Offset": str(offset),
            "X-Apify-Pagination-Count": str(len(page)),
            "X-Apify-Pagination-Limit": str(NO_LIMIT if limit is None else limit),
            "X-Apify-Pagination-Desc": "true" if desc else "false",
        }
        return 200, page, headers


def _error(status: int, kind: str, message: str) -> tuple[int, Any, dict[str, str]]:
    return status, {"error": {"type": kind, "message": message}}, {}


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


def _run_json(run: FakeRun) -> dict[str, Any]:
    """A Run as the API returns it, with every field the client's pydantic `Run` model requires."""
    finished = run.status in TERMINAL
    return {
        "id": run.id,
        "actId": run.actor,
        "userId": "USER0001",
        "startedAt": _iso(run.started_at),
        "finishedAt": _iso(run.finished_at) if finished else None,
        "status": run.status,
        "statusMessage": run.status_message,
        "meta": {"origin": "API"},
        "stats": {},
        "options": {
            "build": "latest",
            "timeoutSecs": run.timeout,
            "memoryMbytes": run.memory,
            "diskMbytes": 2 * run.memory,
        },
        "buildId": "BUILD0001",
        "defaultKeyValueStoreId": f"KVS-{run.id}",
        "defaultDatasetId": run.dataset_id,
        "defaultRequestQueueId": f"RQ-{run.id}",
        "usageTotalUsd": run.cost_usd,
    }


def _dataset_json(dataset: FakeDataset) -> dict[str, Any]:
    return {
        "id": dataset.id,
        "name": None,
        "userId": "USER0001",
        "createdAt": _iso(dataset.created_at),
        "modifiedAt": _iso(dataset.modified_at),
        "accessedAt": _iso(dataset.modified_at),
        "itemCount": len(dataset.items),
        "cleanItemCount": len(dataset.items),
        "actRunId": dataset.run_id,
        "consoleUrl": f"https://console.apify.com/storage/datasets/{dataset.id}",
    }


class _Handler(BaseHTTPRequestHandler):
    fake: FakeApify
    protocol_version = "HTTP/1.1"  # keep-alive, as the real API; every response carries Content-Length

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet test output

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        headers = {name.lower(): value for name, value in self.headers.items()}
        content = self._read_body()
        encoding = headers.get("content-encoding", "identity").lower()
        if encoding == "gzip":
            content = gzip.decompress(content)
        elif encoding != "identity":
            self._send(*_error(415, "unsupported-content-encoding", f"Cannot decode {encoding}"))
            return
        try:
            body = json.loads(content) if content else None
        except ValueError:
            body = None
        route, match = None, None
        for method, name, pattern in ROUTES:
            found = pattern.match(parts.path)
            if found and method == self.command:
                route, match = name, found
                break
        recorded = Recorded(
            self.command, parts.path, dict(parse_qsl(parts.query)), headers, content, body, route
        )
        with self.fake._lock:
            self.fake.requests.append(recorded)
        answer = self.fake.handle(recorded, match)
        if answer[0] == LOST:  # the request was done; its answer never reaches the client
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(*answer)

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        if isinstance(payload, str):
            data, kind = payload.encode(), "text/plain; charset=utf-8"
        else:
            data, kind = json.dumps(payload).encode(), "application/json; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)
