"""A local stand-in for the Anthropic API, for tests: the real `anthropic` SDK talks to it.

Why a real HTTP server rather than mocking the SDK: the point of the end-to-end tests is
that the SDK's own paths, headers, retries and results_url handling are exercised. Why
strict: a test server kinder than the API proves nothing (the old one reported 1,195 of
1,200 succeeded for requests the API rejects in full). Request bodies are checked against
the SDK's own TypedDicts (`cachecast.facts.sdk_types`, so an SDK upgrade updates the check) and
against the per-model rules in `cachecast.facts.models` (the same ones lint and the builder use).

Endpoints, as anthropic 2.x calls them:
  POST /v1/messages                         -> Message (simulated; validated synchronously: 400/404)
  POST /v1/messages/count_tokens            -> {"input_tokens": N}
  POST /v1/messages/batches                 -> MessageBatch (create; only the envelope fails at once)
  GET  /v1/messages/batches                 -> {"data", "has_more", "first_id", "last_id"}
  GET  /v1/messages/batches/{id}            -> MessageBatch (absolute results_url once ended, null once archived)
  GET  /v1/messages/batches/{id}/results    -> JSON Lines (streamed in chunks); 404 once archived
  POST /v1/messages/batches/{id}/cancel     -> MessageBatch
  GET  /v1/models, GET /v1/models/{id}      -> ModelInfo, built from cachecast.facts.models
  GET  /v1/organizations/analytics/{cost,usage} -> the cost and usage reports (tests/fakeapi_analytics.py)

Every request needs an API key, as `Authorization: Bearer <key>` (what SDK 2.x sends) or
`x-api-key: <key>` (the docs' curl examples, SDK 1.x; else 401), and an `anthropic-version`
header from models.API_VERSIONS (else 400). `anthropic-beta` values (comma-separated, the
header may repeat) are read: fast mode on a research-preview model needs fast-mode-2026-02-01,
max_tokens above the synchronous limit needs output-300k-2026-03-24 and a batch. A batch
remembers the version, betas and day of its create call; its requests are validated against
those when it ends, like the real service: each invalid request becomes an `errored` line
(invalid_request_error, or not_found_error for an unknown model) and is not simulated. The
request rules are one registry, tests/fakeapi_rules.py, each with its source in
tests/test_fakeapi_rules.py; the Models API view and the catalogue are tests/fakeapi_models.py.

Lifecycle as the docs describe it, not as is convenient: results come back in an order
other than the requests' (`results_order="shuffled"`, seeded by `seed`; "request" keeps
request order), a cancel cancels only the requests that had not started (the batch runs
its requests evenly over its in-progress polls), injected errored lines carry the SDK's
error types (`Faults.errored_types`), and every answer carries the rate-limit headers
(anthropic-ratelimit-requests-*/tokens-*; `retry-after` in seconds on a 429).

Modes for what the docs leave open (`modes=fakeapi_rules.Modes(...)`): max_tokens 0 with
adaptive thinking on an always-thinking model (accept | reject), and whether count_tokens
applies the breakpoint rules (enforced | ignored).

Routes: `add_route(method, pattern, handler)` mounts more endpoints (e.g. the organization
analytics ones of tests/fakeapi_analytics.py); handler(api, match, query, body, headers)
returns (status, payload) and runs with the server's lock held, after auth and faults.
A batch create body over `max_body_bytes` (Content-Length, checked before the body is
read) is a 413 request_too_large. `archive(batch_id)`, or an age over 29 days, archives a
batch: results_url null (the SDK's `results()` then raises) and results 404.

Token counts are deterministic: ceil(characters of all text / `chars_per_token`), where the
text is every system/message text block (or plain string) plus each tool definition as
JSON. Messages and batch results come from `cachecast.send.sim`, sharing one cache across sync
calls and batches on the server's clock (seconds since start), as a workspace's cache is
shared: a `max_tokens: 0` pre-warming call writes entries a later batch can read. Every
message id starts with `msg_sim_`.

Faults (see `Faults`): a number of 429s (with retry-after-ms / retry-after headers), 500s
or 401s on matching requests, batches that stay in_progress for K polls, and batches that
end with some errored and expired lines. The key is never recorded: `calls` holds only
(method, path) and `messages` only each valid body's model and max_tokens.
"""
from __future__ import annotations

import contextlib
import itertools
import json
import math
import random
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cachecast.facts import models
import fakeapi_analytics  # organization cost and usage reports
from cachecast.send import sim
from fakeapi_models import Catalogue
from fakeapi_batch import ERRORED_TYPES, FakeBatch, count_chars, errored_line, typed_faults
from fakeapi_rules import MAX_BODY_BYTES, Modes, envelope_problem, request_problem

ARCHIVE_AFTER = timedelta(days=29)  # results downloadable 29 days from creation
_BATCH_PATH = re.compile(r"^/v1/messages/batches/([A-Za-z0-9_-]+)(/results|/cancel)?$")
_MODEL_PATH = re.compile(r"^/v1/models/([^/]+)$")
Reply = tuple[int, dict]


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
_STATUS = {"invalid_request_error": 400, "not_found_error": 404}


@dataclass
class Faults:
    """Injectable misbehaviour. HTTP faults are consumed in order of registration.

    Batch outcome knobs apply to batches created after they are set:
      in_progress_polls  retrieve answers in_progress this many times before the batch ends
      errored / expired  the first `errored` valid lines (in request order) error, the next
                         `expired` lines expire; the rest succeed. Errored lines cycle through
                         `errored_types` (overloaded_error, api_error, billing_error)
    cut_results_after (one shot): the next results download sends that many lines and half
    of the next one, then drops the connection (to test resumable downloads)

    Hostile servers (issue 22): drip(every, path=...) sends matching answers one byte every
    `every` seconds; slow_down(seconds, path=...) answers 429 with retry-after: seconds;
    answer(body, content_type=..., path=...) answers raw bytes (a 200 that is not JSON, JSON
    the SDK's type cannot take); endless_pages makes list endpoints say has_more: true
    forever; extra_result_lines are appended as raw text to every results download.
    """

    rules: list[FaultRule] = field(default_factory=list)
    in_progress_polls: int = 0
    errored: int = 0
    expired: int = 0
    errored_types: tuple[str, ...] = ERRORED_TYPES  # injected errored lines cycle through these
    cut_results_after: int | None = None  # next results download: N lines, half a line, then the connection drops
    # issue 22 (hostile servers), each a small local addition:
    drips: list["DripRule"] = field(default_factory=list)       # answer one byte every `every` seconds
    answers: list["AnswerRule"] = field(default_factory=list)   # answer these raw bytes instead (a non-JSON 200)
    endless_pages: bool = False                                 # list endpoints say has_more: true forever
    extra_result_lines: list[str] = field(default_factory=list)  # appended, as raw text, to every results download

    def fail(self, status: int, times: int | None = 1, *, method: str | None = None, path: str | None = None,
             retry_after_ms: int | None = None, retry_after: str | None = None) -> FaultRule:
        rule = FaultRule(status, times, method, path, retry_after_ms, retry_after)
        self.rules.append(rule)
        return rule

    def rate_limit(self, times: int = 1, *, path: str | None = None, method: str | None = None,
                   retry_after_ms: int | None = 10) -> FaultRule:
        """429 with `retry-after` in whole seconds (what the rate-limits docs describe) and, unless
        retry_after_ms=None, the SDK's own retry-after-ms, which the docs do not promise and which
        keeps the SDK's retries fast in tests."""
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

    def drip(self, every: float = 0.5, times: int | None = 1, *, path: str | None = None,
             method: str | None = None) -> "DripRule":
        """The next matching answers arrive one byte every `every` seconds, status line and
        headers included: each read returns in time, so only an overall deadline ends it."""
        rule = DripRule(200, times, method, path, every=every)
        self.drips.append(rule)
        return rule

    def slow_down(self, seconds: int, times: int | None = None, *, status: int = 429, path: str | None = None,
                  method: str | None = None) -> FaultRule:
        """429 (or `status`) asking, with retry-after only (no retry-after-ms), to wait `seconds`."""
        return self.fail(status, times, method=method, path=path, retry_after=str(seconds))

    def answer(self, body: bytes | str, *, content_type: str = "application/json", status: int = 200,
               times: int | None = 1, path: str | None = None, method: str | None = None) -> "AnswerRule":
        """Answer matching requests with these raw bytes (a body that is not JSON, or JSON the
        SDK's type cannot take, or a Message with impossible usage)."""
        raw = body.encode() if isinstance(body, str) else body
        rule = AnswerRule(status, times, method, path, body=raw, content_type=content_type)
        self.answers.append(rule)
        return rule

    @staticmethod
    def _first(rules: list, method: str, path: str):
        for rule in rules:
            if rule.matches(method, path):
                rule.hits += 1
                return rule
        return None


class _ExactPath:
    """drip and answer rules match their path exactly: a prefix "/v1/messages" would also
    catch /v1/messages/count_tokens, which the probe calls first."""

    def matches(self, method: str, path: str) -> bool:
        return super().matches(method, path) and (self.path is None or path == self.path)  # type: ignore[misc]


@dataclass
class DripRule(_ExactPath, FaultRule):
    every: float = 0.5


@dataclass
class AnswerRule(_ExactPath, FaultRule):
    body: bytes = b""
    content_type: str = "application/json"


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.isoformat().replace("+00:00", "Z")


def _page(items: list[dict], query: dict, endless: bool = False) -> dict:
    """A list page with the API's cursors: limit, after_id, before_id -> has_more, first_id, last_id.
    endless (Faults.endless_pages): the first page again and again, always with has_more: true
    and a new last_id, as a broken server or proxy might answer."""
    limit = int(query.get("limit", ["20"])[0])
    if endless:
        page = items[:limit]
        return {"data": page, "has_more": True, "first_id": page[0]["id"] if page else None,
                "last_id": f"page_{uuid.uuid4().hex[:12]}"}
    ids = [item["id"] for item in items]
    after, before = query.get("after_id", [None])[0], query.get("before_id", [None])[0]
    if after:
        items = items[ids.index(after) + 1:] if after in ids else []
        page, has_more = items[:limit], len(items) > limit
    elif before:
        items = items[:ids.index(before)] if before in ids else []
        page, has_more = items[-limit:], len(items) > limit
    else:
        page, has_more = items[:limit], len(items) > limit
    return {"data": page, "has_more": has_more,
            "first_id": page[0]["id"] if page else None, "last_id": page[-1]["id"] if page else None}


# ------------------------------------------------------------------ the server


class FakeAnthropic:
    """The server state. Start with `start()`, stop with `stop()` (or use as a context manager)."""

    def __init__(self, *, chars_per_token: float = 4.0, sim_options: dict | None = None,
                 max_body_bytes: int = MAX_BODY_BYTES, results_order: str = "shuffled", seed: int = 0,
                 modes: Modes | None = None, extra_models: list[dict] | None = None,
                 requests_per_minute: int = 4_000, tokens_per_minute: int = 2_000_000) -> None:
        self.calls: list[tuple[str, str]] = []
        self.messages: list[dict] = []  # model and max_tokens of each valid POST /v1/messages body
        self.counted: list[dict] = []  # each count_tokens body as received (the probe's cache structure)
        self.betas_seen: list[tuple[str, tuple[str, ...]]] = []  # (path, anthropic-beta values) per request
        self.faults = Faults()
        assert results_order in ("shuffled", "request"), results_order
        self.results_order = results_order  # the docs: results "may be given out of request order"
        self.seed = seed
        self.modes = modes or Modes()
        self.catalogue = Catalogue(list(extra_models or []))
        self.limits = {"requests": requests_per_minute, "tokens": tokens_per_minute}
        self._window: tuple[int, int] = (0, 0)  # (minute since the epoch, requests seen in it)
        self.routes: list[tuple[str, re.Pattern, Any]] = []
        self.batches: dict[str, FakeBatch] = {}
        self.chars_per_token = chars_per_token
        self.max_body_bytes = max_body_bytes
        # forwarded to cachecast.send.sim.simulate_lines; small waves so short test batches show reads
        self.sim_options: dict = {"concurrency": 8, **(sim_options or {})}
        self.cache = sim.Cache()  # one workspace cache for sync calls and batches
        self.analytics = fakeapi_analytics.Analytics()  # GET /v1/organizations/analytics/{cost,usage}
        self.add_route("GET", fakeapi_analytics.PATTERN, fakeapi_analytics.handler)
        self.saw_requests_without_key = 0
        self._t0 = time.monotonic()
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
        """An `anthropic.Anthropic` pointed at this server (the key is a dummy; sent as Bearer)."""
        import anthropic

        return anthropic.Anthropic(api_key=kwargs.pop("api_key", "test-key"), base_url=self.url,
                                   max_retries=max_retries, **kwargs)

    def paths(self, method: str | None = None) -> list[str]:
        return [p for m, p in self.calls if method is None or m == method]

    def archive(self, batch_id: str) -> None:
        """Archive a batch now (as the service does 29 days after creation): ends it first if needed."""
        with self._lock:
            batch = self.batches[batch_id]
            if batch.status != "ended":
                self._end(batch)
            batch.archived_at = datetime.now(timezone.utc)

    def _clock(self) -> float:
        """Seconds since the server started: the time axis of the shared sim cache."""
        return time.monotonic() - self._t0

    def add_route(self, method: str, pattern: str, handler) -> None:
        """Mount an endpoint: `pattern` is a regex matched against the whole path; handler(api,
        match, query, body, headers) -> (status, payload), called with the lock held after auth,
        the anthropic-version check and faults. Later routes are tried after the built-in ones."""
        self.routes.append((method, re.compile(pattern), handler))

    def rate_headers(self, status: int) -> dict[str, str]:
        """anthropic-ratelimit-* as the rate-limits docs describe: limit, remaining, reset (RFC 3339)."""
        minute = int(time.time() // 60)
        seen = self._window[1] + 1 if self._window[0] == minute else 1
        self._window = (minute, seen)
        reset = datetime.fromtimestamp((minute + 1) * 60, timezone.utc).isoformat().replace("+00:00", "Z")
        remaining = 0 if status == 429 else max(0, self.limits["requests"] - seen)
        return {"anthropic-ratelimit-requests-limit": str(self.limits["requests"]),
                "anthropic-ratelimit-requests-remaining": str(remaining),
                "anthropic-ratelimit-requests-reset": reset,
                "anthropic-ratelimit-tokens-limit": str(self.limits["tokens"]),
                "anthropic-ratelimit-tokens-remaining": str(0 if status == 429 else self.limits["tokens"]),
                "anthropic-ratelimit-tokens-reset": reset}

    # -- endpoint logic (called with the lock held) -----------------------------------------
    def count_tokens(self, body: dict, api_version: str, betas: tuple[str, ...] = ()) -> Reply:
        found = request_problem(body, api_version, models.today(), endpoint="count_tokens", betas=betas,
                                find=self.catalogue.find, modes=self.modes)
        if found:
            kind, message = found
            return _error(_STATUS[kind], message)
        self.counted.append(body)
        return 200, {"input_tokens": math.ceil(count_chars(body) / self.chars_per_token)}

    def create_message(self, body: dict, api_version: str, betas: tuple[str, ...] = ()) -> Reply:
        if body.get("stream") is True:
            return _error(400, "stream: this fake server does not stream; call messages.create without stream")
        found = request_problem(body, api_version, models.today(), endpoint="messages", betas=betas,
                                find=self.catalogue.find, modes=self.modes)
        if found:
            kind, message = found
            return _error(_STATUS[kind], message)
        self.messages.append({"model": body["model"], "max_tokens": body["max_tokens"]})
        message_id = f"{sim.SIM_ID_PREFIX}{uuid.uuid4().hex[:24]}"
        return 200, sim.simulate_message(body, cache=self.cache, now=self._clock(), message_id=message_id,
                                         facts=self.catalogue.find(body["model"]))

    def create_batch(self, body: dict, api_version: str, betas: tuple[str, ...] = ()) -> Reply:
        problem = envelope_problem(body)
        if problem:
            return _error(400, problem)
        ordinal = next(self._ids)
        batch = FakeBatch(id=f"msgbatch_fake{ordinal:04d}{uuid.uuid4().hex[:12]}", requests=body["requests"],
                          created_at=datetime.now(timezone.utc), in_progress_polls=self.faults.in_progress_polls,
                          errored=self.faults.errored, expired=self.faults.expired, api_version=api_version,
                          created_day=models.today(), sim_start=self._clock(), betas=betas, ordinal=ordinal)
        if batch.in_progress_polls <= 0:
            self._end(batch)
        self.batches[batch.id] = batch
        return 200, self._batch_json(batch)

    def retrieve(self, batch_id: str) -> Reply:
        batch = self.batches.get(batch_id)
        if batch is None:
            return _error(404, f"message batch '{batch_id}' not found")
        if batch.status != "ended":
            batch.polls += 1
            if batch.canceled or batch.polls > batch.in_progress_polls:
                self._end(batch)
        return 200, self._batch_json(batch)

    def cancel(self, batch_id: str) -> Reply:
        batch = self.batches.get(batch_id)
        if batch is None:
            return _error(404, f"message batch '{batch_id}' not found")
        if batch.status != "ended" and not batch.canceled:
            batch.canceled = True
            batch.started = self._started(batch)
            batch.status = "canceling"
        return 200, self._batch_json(batch)

    @staticmethod
    def _started(batch: FakeBatch) -> int:
        """Requests begun by now: a batch works through its requests evenly over its polls."""
        return min(len(batch.requests), len(batch.requests) * batch.polls // (batch.in_progress_polls + 1))

    def list_batches(self, query: dict) -> Reply:
        items = sorted(self.batches.values(), key=lambda b: b.created_at, reverse=True)
        return 200, _page([self._batch_json(b) for b in items], query, self.faults.endless_pages)

    def results(self, batch_id: str) -> tuple[list[str] | None, Reply | None]:
        """(lines, None), or (None, an error reply) for a batch unknown, not ended, or archived."""
        batch = self.batches.get(batch_id)
        if batch is None:
            return None, _error(404, f"message batch '{batch_id}' not found")
        if self._archived_at(batch) is not None:
            return None, _error(404, f"message batch '{batch_id}' is archived; its results are no longer available")
        if batch.status != "ended":
            return None, _error(404, f"no results for message batch '{batch_id}' (not ended?)")
        return batch.results, None

    def results_lines(self, batch_id: str) -> list[str] | None:
        return self.results(batch_id)[0]

    def list_models(self, query: dict) -> Reply:
        return 200, _page(self.catalogue.listing(models.today()), query, self.faults.endless_pages)

    def get_model(self, model_id: str) -> Reply:
        info = self.catalogue.info(model_id, models.today())
        if info is None:
            return _error(404, f"model: {model_id}")
        return 200, info

    # -- helpers -----------------------------------------------------------------------------
    def _end(self, batch: FakeBatch) -> None:
        """Validate each request against the batch's API version, betas and day; simulate the
        valid ones that started (all of them unless a cancel came first); order the lines."""
        run = batch.requests[:batch.started] if batch.canceled else batch.requests
        lines = self._outcomes(batch, run)
        lines += [{"custom_id": r["custom_id"], "result": {"type": "canceled"}} for r in batch.requests[len(run):]]
        if self.results_order == "shuffled":
            random.Random(self.seed * 1_000_003 + batch.ordinal).shuffle(lines)
        batch.results = [json.dumps(line) for line in lines]
        batch.status = "ended"
        batch.ended_at = datetime.now(timezone.utc)

    def _outcomes(self, batch: FakeBatch, requests: list[dict]) -> list[dict]:
        """Result lines in request order: errored lines for invalid requests, sim for the rest."""
        day = batch.created_day or models.today()
        problems = [request_problem(r["params"], batch.api_version, day, endpoint="batch", betas=batch.betas,
                                    find=self.catalogue.find, modes=self.modes) for r in requests]
        valid = [r for r, p in zip(requests, problems) if p is None]
        simulated = typed_faults(sim.simulate_lines(valid, errored=batch.errored, expired=batch.expired,
                                                    cache=self.cache, start=batch.sim_start, find=self.catalogue.find,
                                                    **self.sim_options), self.faults.errored_types)
        lines = iter(simulated)
        return [next(lines) if p is None else errored_line(r["custom_id"], *p) for r, p in zip(requests, problems)]

    def _archived_at(self, batch: FakeBatch) -> datetime | None:
        if batch.archived_at is None and datetime.now(timezone.utc) >= batch.created_at + ARCHIVE_AFTER:
            batch.archived_at = batch.created_at + ARCHIVE_AFTER
        return batch.archived_at

    def _counts(self, batch: FakeBatch) -> dict:
        counts = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0}
        if batch.status != "ended":
            counts["processing"] = len(batch.requests)
            return counts
        for line in batch.results or []:
            counts[json.loads(line)["result"]["type"]] += 1
        return counts

    def _batch_json(self, batch: FakeBatch) -> dict:
        archived = self._archived_at(batch)
        ready = batch.status == "ended" and archived is None
        return {
            "id": batch.id, "type": "message_batch", "processing_status": batch.status,
            "request_counts": self._counts(batch),
            "created_at": _iso(batch.created_at), "expires_at": _iso(batch.created_at + timedelta(hours=24)),
            "ended_at": _iso(batch.ended_at), "archived_at": _iso(archived),
            "cancel_initiated_at": _iso(batch.created_at) if batch.canceled else None,
            "results_url": f"{self.url}/v1/messages/batches/{batch.id}/results" if ready else None,
        }


def _betas(headers) -> tuple[str, ...]:
    """anthropic-beta values: comma-separated, and the header may be given more than once."""
    values = headers.get_all("anthropic-beta") or []
    return tuple(v.strip() for value in values for v in value.split(",") if v.strip())


def _error(status: int, message: str) -> Reply:
    return status, {"type": "error", "error": {"type": _ERROR_TYPES.get(status, "api_error"), "message": message},
                    "request_id": f"req_fake_{uuid.uuid4().hex[:16]}"}


def _header_problem(headers) -> Reply | None:
    """Auth first (401): `Authorization: Bearer <key>` (SDK 2.x) or `x-api-key: <key>` (the docs'
    curl examples); then the anthropic-version header (400), as the API checks them."""
    bearer = headers.get("authorization", "")
    has_bearer = bearer.startswith("Bearer ") and bool(bearer[7:].strip())
    if not has_bearer and not headers.get("x-api-key", "").strip():
        return _error(401, "authentication required: send 'x-api-key: <key>' or 'Authorization: Bearer <key>'")
    version = headers.get("anthropic-version")
    if not version:
        return _error(400, "anthropic-version: header is required")
    if version not in models.API_VERSIONS:
        return _error(400, f"anthropic-version: '{version}' is not a valid version "
                           f"(supported: {', '.join(models.API_VERSIONS)})")
    return None


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
        api = self.api
        length = int(self.headers.get("content-length") or 0) if method == "POST" else 0
        too_large = method == "POST" and path == "/v1/messages/batches" and length > api.max_body_bytes
        body_raw = self._discard(length) if too_large else self.rfile.read(length)
        with self._dripped_after(), api._lock:  # a dripped answer is sent once the lock is released
            self._drip = api.faults._first(api.faults.drips, method, path)
            api.calls.append((method, path))
            refused = _header_problem(self.headers)
            if refused is not None:
                api.saw_requests_without_key += refused[0] == 401
                return self._json(*refused)
            if too_large:
                return self._json(*_error(413, f"request body is {length:,} bytes; the Message Batches API accepts "
                                               f"at most {api.max_body_bytes:,}"))
            rule = api.faults.pick(method, path)
            if rule is not None:
                return self._json(*_error(rule.status, f"injected fault {rule.status}"), rule=rule)
            raw = api.faults._first(api.faults.answers, method, path)
            if raw is not None:
                return self._raw(raw.status, raw.body, raw.content_type)
            try:
                body = json.loads(body_raw) if body_raw else {}
            except ValueError:
                return self._json(*_error(400, "request body is not valid JSON"))
            if method == "POST" and not isinstance(body, dict):
                return self._json(*_error(400, "Input should be a valid dictionary"))
            api.betas_seen.append((path, _betas(self.headers)))
            self._route(method, path, query, body, self.headers["anthropic-version"])

    def _route(self, method: str, path: str, query: dict, body: dict, version: str) -> None:
        api = self.api
        posts = {"/v1/messages": api.create_message, "/v1/messages/count_tokens": api.count_tokens,
                 "/v1/messages/batches": api.create_batch}
        if method == "POST" and path in posts:
            return self._json(*posts[path](body, version, _betas(self.headers)))
        if method == "GET" and path == "/v1/messages/batches":
            return self._json(*api.list_batches(query))
        if method == "GET" and path == "/v1/models":
            return self._json(*api.list_models(query))
        model = _MODEL_PATH.match(path)
        if model and method == "GET":
            return self._json(*api.get_model(unquote(model.group(1))))
        match = _BATCH_PATH.match(path)
        if match:
            return self._batch_route(method, *match.groups())
        for route_method, pattern, handler in api.routes:
            found = pattern.fullmatch(path)
            if found and method == route_method:
                return self._json(*handler(api, found, query, body, self.headers))
        return self._json(*_error(404, f"{method} {path} is not an endpoint of this fake server"))

    def _batch_route(self, method: str, batch_id: str, tail: str | None) -> None:
        api = self.api
        if tail == "/results" and method == "GET":
            lines, refused = api.results(batch_id)
            if refused is not None:
                return self._json(*refused)
            cut, api.faults.cut_results_after = api.faults.cut_results_after, None
            return self._jsonl([*lines, *api.faults.extra_result_lines], cut)
        if tail == "/cancel" and method == "POST":
            return self._json(*api.cancel(batch_id))
        if tail is None and method == "GET":
            return self._json(*api.retrieve(batch_id))
        return self._json(*_error(404, f"{method} {self.path} is not an endpoint of this fake server"))

    def _discard(self, length: int) -> bytes:
        """Read a too-large body in chunks without keeping it, so the connection stays usable."""
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 20))
            if not chunk:
                break
            length -= len(chunk)
        return b""

    def _raw(self, status: int, data: bytes, content_type: str) -> None:
        if self._drip is not None:
            return self._hold(status, data, content_type)
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _hold(self, status: int, data: bytes, content_type: str) -> None:
        """Keep a whole answer (status line, headers, body) to drip after the lock is released."""
        head = (f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\ncontent-type: {content_type}\r\n"
                f"content-length: {len(data)}\r\nrequest-id: req_fake_drip\r\n\r\n").encode()
        self._pending = head + data
        self.close_connection = True

    @contextlib.contextmanager
    def _dripped_after(self):
        self._drip, self._pending = None, None
        try:
            yield
        finally:
            self._send_dripped()

    def _send_dripped(self) -> None:
        if self._pending is None or self._drip is None:
            return
        for i in range(len(self._pending)):
            try:
                self.wfile.write(self._pending[i:i + 1])
                self.wfile.flush()
            except OSError:  # the client gave up: what the test wants
                return
            time.sleep(self._drip.every)

    def _json(self, status: int, payload: dict, rule: FaultRule | None = None) -> None:
        data = json.dumps(payload).encode()
        if self._drip is not None:
            return self._hold(status, data, "application/json")
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", payload.get("request_id") or f"req_fake_{uuid.uuid4().hex[:16]}")
        for name, value in self.api.rate_headers(status).items():
            self.send_header(name, value)
        if rule is not None and rule.retry_after_ms is not None:
            self.send_header("retry-after-ms", str(rule.retry_after_ms))
        if rule is not None and rule.retry_after is not None:
            self.send_header("retry-after", rule.retry_after)
        self.end_headers()
        self.wfile.write(data)

    def _jsonl(self, lines: list[str], cut: int | None = None) -> None:
        """Chunked transfer, like the real results endpoint, so clients must really stream."""
        if self._drip is not None:
            return self._hold(200, "".join(line + "\n" for line in lines).encode(), "application/binary")
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
