"""A local stand-in for the Anthropic API, for tests: the real `anthropic` SDK talks to it.

Speaks the endpoints cachecast uses, exactly as anthropic 2.x calls them:
  POST /v1/messages/count_tokens            -> {"input_tokens": N}
  POST /v1/messages/batches                 -> MessageBatch (create)
  GET  /v1/messages/batches                 -> {"data": [...], "has_more", "first_id", "last_id"}
  GET  /v1/messages/batches/{id}            -> MessageBatch (retrieve; absolute results_url once ended)
  GET  /v1/messages/batches/{id}/results    -> JSON Lines (streamed in chunks)
  POST /v1/messages/batches/{id}/cancel     -> MessageBatch

Why a real HTTP server rather than mocking the SDK: the point of the end-to-end tests is
that the SDK's own paths, headers, retries and results_url handling are exercised.

Token counts are deterministic: ceil(characters of all text / `chars_per_token`), where the
text is every system/message text block (or plain string) plus each tool definition as
JSON. Batch results come from `cachecast.sim`, so usage (cache reads and writes, the TTL
split) is what Anthropic's accounting would plausibly report; every message id starts
with `msg_sim_`.

Faults (see `Faults`): a number of 429s (with retry-after-ms / retry-after headers), 500s
or 401s on matching requests, batches that stay in_progress for K polls, and batches that
end with some errored and expired lines. The API key (`x-api-key`, or `Authorization:
Bearer` which is what anthropic 2.14 sends) is checked for presence and never recorded:
`calls` holds only (method, path).
"""
from __future__ import annotations

import itertools
import json
import math
import re
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

CUSTOM_ID_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_BATCH_REQUESTS = 100_000
_BATCH_PATH = re.compile(r"^/v1/messages/batches/([A-Za-z0-9_-]+)(/results|/cancel)?$")


@dataclass
class FaultRule:
    """Answer the next `times` matching requests with `status` (times=None: every request)."""

    status: int
    times: int | None = 1
    method: str | None = None
    path: str | None = None          # prefix of the request path; None matches every path
    retry_after_ms: int | None = None
    retry_after: str | None = None
    hits: int = 0

    def matches(self, method: str, path: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        return (self.method is None or self.method == method) and (self.path is None or path.startswith(self.path))


_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
                500: "api_error", 529: "overloaded_error"}


@dataclass
class Faults:
    """Injectable misbehaviour. HTTP faults are consumed in order of registration.

    Batch outcome knobs apply to batches created after they are set:
      in_progress_polls  retrieve answers in_progress this many times before the batch ends
      errored / expired  the first `errored` lines (in request order) error, the next
                         `expired` lines expire; the rest succeed
    cut_results_after (one shot): the next results download sends that many lines and half
    of the next one, then drops the connection (to test resumable downloads)
    """

    rules: list[FaultRule] = field(default_factory=list)
    in_progress_polls: int = 0
    errored: int = 0
    expired: int = 0
    cut_results_after: int | None = None  # next results download: N lines, half a line, then the connection drops

    def fail(self, status: int, times: int | None = 1, *, method: str | None = None, path: str | None = None,
             retry_after_ms: int | None = None, retry_after: str | None = None) -> FaultRule:
        rule = FaultRule(status, times, method, path, retry_after_ms, retry_after)
        self.rules.append(rule)
        return rule

    def rate_limit(self, times: int = 1, *, path: str | None = None, method: str | None = None,
                   retry_after_ms: int = 10) -> FaultRule:
        """429 with a short retry-after-ms (the SDK honours it) and a whole-second retry-after."""
        return self.fail(429, times, method=method, path=path, retry_after_ms=retry_after_ms, retry_after="1")

    def server_error(self, times: int | None = 1, *, path: str | None = None, method: str | None = None) -> FaultRule:
        # retry-after-ms keeps the SDK's retries fast in tests (its default backoff is ~0.5-8 s)
        return self.fail(500, times, method=method, path=path, retry_after_ms=10)

    def unauthorized(self, times: int | None = None, *, path: str | None = None) -> FaultRule:
        return self.fail(401, times, path=path)

    def pick(self, method: str, path: str) -> FaultRule | None:
        for rule in self.rules:
            if rule.matches(method, path):
                rule.hits += 1
                return rule
        return None


@dataclass
class FakeBatch:
    id: str
    requests: list[dict]
    created_at: datetime
    in_progress_polls: int
    errored: int
    expired: int
    polls: int = 0
    status: str = "in_progress"
    canceled: bool = False
    ended_at: datetime | None = None
    results: list[str] | None = None  # JSON lines, generated when the batch ends


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.isoformat().replace("+00:00", "Z")


def _text_chars(value: Any) -> int:
    """Characters of text in a system/content value: a string or a list of blocks."""
    if isinstance(value, str):
        return len(value)
    total = 0
    for block in value or []:
        if isinstance(block, dict):
            if isinstance(block.get("text"), str):
                total += len(block["text"])
            elif "content" in block:  # tool_result blocks
                total += _text_chars(block["content"])
    return total


def count_chars(body: dict) -> int:
    """All text that count_tokens counts: system, messages, and tool definitions (as JSON)."""
    chars = _text_chars(body.get("system"))
    for message in body.get("messages") or []:
        chars += _text_chars(message.get("content"))
    for tool in body.get("tools") or []:
        chars += len(json.dumps(tool, sort_keys=True))
    return chars


class FakeAnthropic:
    """The server state. Start with `start()`, stop with `stop()` (or use as a context manager)."""

    def __init__(self, *, chars_per_token: float = 4.0, sim_options: dict | None = None) -> None:
        self.calls: list[tuple[str, str]] = []
        self.faults = Faults()
        self.batches: dict[str, FakeBatch] = {}
        self.chars_per_token = chars_per_token
        # forwarded to cachecast.sim.simulate_lines; small waves so short test batches show reads
        self.sim_options: dict = {"concurrency": 8, **(sim_options or {})}
        self.saw_requests_without_key = 0
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> "FakeAnthropic":
        handler = type("Handler", (_Handler,), {"api": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="fakeapi", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> "FakeAnthropic":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def client(self, max_retries: int = 2, **kwargs):
        """An `anthropic.Anthropic` pointed at this server (the key is a dummy)."""
        import anthropic

        return anthropic.Anthropic(api_key=kwargs.pop("api_key", "test-key"), base_url=self.url,
                                   max_retries=max_retries, **kwargs)

    def paths(self, method: str | None = None) -> list[str]:
        return [p for m, p in self.calls if method is None or m == method]

    # -- endpoint logic (called with the lock held) -----------------------------------------
    def count_tokens(self, body: dict) -> tuple[int, dict]:
        if not body.get("model"):
            return _error(400, "model: Field required")
        if not isinstance(body.get("messages"), list):
            return _error(400, "messages: Field required")
        return 200, {"input_tokens": math.ceil(count_chars(body) / self.chars_per_token)}

    def create_batch(self, body: dict) -> tuple[int, dict]:
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            return _error(400, "requests: must be a non-empty list")
        if len(requests) > MAX_BATCH_REQUESTS:
            return _error(400, f"requests: at most {MAX_BATCH_REQUESTS} requests per batch")
        seen: set[str] = set()
        for i, req in enumerate(requests):
            cid = req.get("custom_id") if isinstance(req, dict) else None
            if not isinstance(cid, str) or not CUSTOM_ID_RE.match(cid):
                return _error(400, f"requests.{i}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'")
            if cid in seen:
                return _error(400, f"requests.{i}.custom_id: duplicate custom_id '{cid}'")
            seen.add(cid)
            params = req.get("params")
            if not isinstance(params, dict) or not params.get("model"):
                return _error(400, f"requests.{i}.params.model: Field required")
            if not isinstance(params.get("max_tokens"), int) or params["max_tokens"] < 1:
                return _error(400, f"requests.{i}.params.max_tokens: must be an integer >= 1")
            if params.get("stream"):
                return _error(400, f"requests.{i}.params.stream: streaming is not supported in batches")
        batch = FakeBatch(id=f"msgbatch_fake{next(self._ids):04d}{uuid.uuid4().hex[:12]}", requests=requests,
                          created_at=datetime.now(timezone.utc), in_progress_polls=self.faults.in_progress_polls,
                          errored=self.faults.errored, expired=self.faults.expired)
        if batch.in_progress_polls <= 0:
            self._end(batch)
        self.batches[batch.id] = batch
        return 200, self._batch_json(batch)

    def retrieve(self, batch_id: str) -> tuple[int, dict]:
        batch = self.batches.get(batch_id)
        if batch is None:
            return _error(404, f"message batch '{batch_id}' not found")
        if batch.status != "ended":
            batch.polls += 1
            if batch.canceled or batch.polls > batch.in_progress_polls:
                self._end(batch)
        return 200, self._batch_json(batch)

    def cancel(self, batch_id: str) -> tuple[int, dict]:
        batch = self.batches.get(batch_id)
        if batch is None:
            return _error(404, f"message batch '{batch_id}' not found")
        if batch.status != "ended":
            batch.canceled = True
            batch.status = "canceling"
        return 200, self._batch_json(batch)

    def list_batches(self, query: dict) -> tuple[int, dict]:
        limit = int(query.get("limit", ["20"])[0])
        items = sorted(self.batches.values(), key=lambda b: b.created_at, reverse=True)
        after = query.get("after_id", [None])[0]
        if after:
            ids = [b.id for b in items]
            items = items[ids.index(after) + 1:] if after in ids else []
        page = items[:limit]
        data = [self._batch_json(b) for b in page]
        return 200, {"data": data, "has_more": len(items) > limit,
                     "first_id": data[0]["id"] if data else None, "last_id": data[-1]["id"] if data else None}

    def results_lines(self, batch_id: str) -> list[str] | None:
        batch = self.batches.get(batch_id)
        return None if batch is None or batch.status != "ended" else batch.results

    # -- helpers -----------------------------------------------------------------------------
    def _end(self, batch: FakeBatch) -> None:
        from cachecast import sim

        lines = sim.simulate_lines(batch.requests, errored=batch.errored, expired=batch.expired,
                                   canceled=batch.canceled, **self.sim_options)
        batch.results = [json.dumps(line) for line in lines]
        batch.status = "ended"
        batch.ended_at = datetime.now(timezone.utc)

    def _counts(self, batch: FakeBatch) -> dict:
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if batch.status != "ended":
            counts["processing"] = len(batch.requests)
            return counts
        for line in batch.results or []:
            counts[json.loads(line)["result"]["type"]] += 1
        return counts

    def _batch_json(self, batch: FakeBatch) -> dict:
        ended = batch.status == "ended"
        return {
            "id": batch.id, "type": "message_batch", "processing_status": batch.status,
            "request_counts": self._counts(batch),
            "created_at": _iso(batch.created_at), "expires_at": _iso(batch.created_at + timedelta(hours=24)),
            "ended_at": _iso(batch.ended_at), "archived_at": None,
            "cancel_initiated_at": _iso(batch.created_at) if batch.canceled else None,
            "results_url": f"{self.url}/v1/messages/batches/{batch.id}/results" if ended else None,
        }


def _error(status: int, message: str) -> tuple[int, dict]:
    return status, {"type": "error", "error": {"type": _ERROR_TYPES.get(status, "api_error"), "message": message},
                    "request_id": f"req_fake_{uuid.uuid4().hex[:16]}"}


class _Handler(BaseHTTPRequestHandler):
    api: FakeAnthropic
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY: headers and body go out in two writes; with Nagle on, a keep-alive client's
    # delayed ACK holds the body back ~40 ms, so every call took ~47 ms instead of ~1.6 ms
    # (5,004 count_tokens calls: 278 s -> ~10 s; see docs/benchmarks.md).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args) -> None:  # silence: and never log headers (the key)
        pass

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        body_raw = self.rfile.read(int(self.headers.get("content-length") or 0)) if method == "POST" else b""
        api = self.api
        with api._lock:
            api.calls.append((method, path))
            has_key = bool(self.headers.get("x-api-key")) or self.headers.get("authorization", "").startswith("Bearer ")
            if not has_key:
                api.saw_requests_without_key += 1
                return self._json(*_error(401, "x-api-key header is required"))
            rule = api.faults.pick(method, path)
            if rule is not None:
                return self._json(*_error(rule.status, f"injected fault {rule.status}"), rule=rule)
            try:
                body = json.loads(body_raw) if body_raw else {}
            except ValueError:
                return self._json(*_error(400, "request body is not valid JSON"))
            if method == "POST" and path == "/v1/messages/count_tokens":
                return self._json(*api.count_tokens(body))
            if path == "/v1/messages/batches":
                return self._json(*(api.create_batch(body) if method == "POST" else api.list_batches(query)))
            match = _BATCH_PATH.match(path)
            if match:
                batch_id, tail = match.groups()
                if tail == "/results" and method == "GET":
                    lines = api.results_lines(batch_id)
                    if lines is None:
                        return self._json(*_error(404, f"no results for message batch '{batch_id}' (not ended?)"))
                    cut, api.faults.cut_results_after = api.faults.cut_results_after, None
                    return self._jsonl(lines, cut)
                if tail == "/cancel" and method == "POST":
                    return self._json(*api.cancel(batch_id))
                if tail is None and method == "GET":
                    return self._json(*api.retrieve(batch_id))
            return self._json(*_error(404, f"{method} {path} is not an endpoint of this fake server"))

    def _json(self, status: int, payload: dict, rule: FaultRule | None = None) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", payload.get("request_id") or f"req_fake_{uuid.uuid4().hex[:16]}")
        if rule is not None and rule.retry_after_ms is not None:
            self.send_header("retry-after-ms", str(rule.retry_after_ms))
        if rule is not None and rule.retry_after is not None:
            self.send_header("retry-after", rule.retry_after)
        self.end_headers()
        self.wfile.write(data)

    def _jsonl(self, lines: list[str], cut: int | None = None) -> None:
        """Chunked transfer, like the real results endpoint, so clients must really stream."""
        self.send_response(200)
        self.send_header("content-type", "application/binary")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        if cut is not None:
            text = "".join(line + "\n" for line in lines[:cut]) + lines[cut][: len(lines[cut]) // 2]
            self._chunk(text.encode())
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)  # socket.SHUT_RDWR: the body ends without its final chunk
            return
        for start in range(0, len(lines), 200):
            self._chunk("".join(line + "\n" for line in lines[start:start + 200]).encode())
        self.wfile.write(b"0\r\n\r\n")

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
