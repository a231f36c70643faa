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

Every request needs `Authorization: Bearer <key>` (what SDK 2.x sends; else 401) and an
`anthropic-version` header from models.API_VERSIONS (else 400). A batch remembers the
version and the day of its create call; its requests are validated against those when it
ends, like the real service: each invalid request becomes an `errored` line
(invalid_request_error, or not_found_error for an unknown model) and is not simulated.
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

import itertools
import json
import math
import re
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from cachecast.facts import models, sdk_types
from fakeapi_analytics import Analytics, is_analytics_path  # organization cost and usage reports
from cachecast.send import sim
from cachecast.build.requests import params_blocks, ttl_order_ok

CUSTOM_ID_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_BATCH_REQUESTS = 100_000
MAX_BODY_BYTES = 256_000_000  # the Batches API limit: "256 MB", stay under 256,000,000 bytes
MAX_BREAKPOINTS = 4
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
    api_version: str = models.DEFAULT_API_VERSION  # of the create call: the batch's params follow it
    created_day: date | None = None  # lifecycle checks use the day the batch was created
    sim_start: float = 0.0  # the server's cache clock when the batch was created
    polls: int = 0
    status: str = "in_progress"
    canceled: bool = False
    ended_at: datetime | None = None
    archived_at: datetime | None = None
    results: list[str] | None = None  # JSON lines, generated when the batch ends


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.isoformat().replace("+00:00", "Z")


def _day_iso(day: date | None) -> str | None:
    return None if day is None else f"{day.isoformat()}T00:00:00Z"


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


# ------------------------------------------------------------------ request rules (pure functions)


def request_problem(params: dict, api_version: str, day: date, *, in_batch: bool) -> tuple[str, str] | None:
    """(error type, message) for params the API would reject, or None. One function for the
    sync endpoint and batch lines, so the two cannot drift apart."""
    if in_batch:
        problem = _batch_only_problem(params)
        if problem:
            return "invalid_request_error", problem
    problems = sdk_types.message_params_problems(params, api_version)
    if problems:
        return "invalid_request_error", "; ".join(problems)
    facts = models.find(params["model"])
    if facts is None:
        return "not_found_error", f"model: {params['model']}"
    problem = model_problem(facts, params, api_version, day) or _output_problem(facts, params, in_batch)
    return ("invalid_request_error", problem) if problem else None


def _batch_only_problem(params: dict) -> str | None:
    if "stream" in params:
        return "stream: streaming is not supported in the Message Batches API"
    if params.get("max_tokens") == 0:
        return ("max_tokens: must be at least 1 in the Message Batches API (max_tokens 0 pre-warms the cache "
                "and is only accepted by /v1/messages)")
    return None


def model_problem(facts: models.ModelFacts, params: dict, api_version: str, day: date) -> str | None:
    """The per-model rules shared by messages, batch lines and count_tokens (cachecast.facts.models)."""
    if models.lifecycle_on(facts, day) == "retired":
        instead = f"; use {facts.replacement}" if facts.replacement else ""
        return f"model: {params['model']} was retired on {facts.retires_at} and no longer serves requests{instead}"
    output_config = params.get("output_config") or {}
    return (models.sampling_problem(facts, api_version, params)
            or models.thinking_problem(facts, params.get("thinking"), output_config.get("effort"),
                                       params.get("max_tokens"))
            or models.geo_problem(facts, params))


def _output_problem(facts: models.ModelFacts, params: dict, in_batch: bool) -> str | None:
    """Rules of a generating request (not count_tokens): speed, max_tokens, cache breakpoints."""
    problem = models.speed_problem(facts, params, in_batch=in_batch)
    if problem:
        return problem
    max_tokens = params["max_tokens"]
    if max_tokens < 0:
        return "max_tokens: Input should be greater than or equal to 0"
    if facts.max_output and max_tokens > facts.max_output:
        return (f"max_tokens: {max_tokens} > {facts.max_output}, which is the maximum allowed number of output "
                f"tokens for {facts.id}")
    return breakpoint_problem(params)


def breakpoint_problem(params: dict) -> str | None:
    """At most 4 breakpoints, a top-level (automatic) one included; its TTL must equal the last
    explicit one's; 1h entries before 5m ones."""
    ttls = [b["cache_control"].get("ttl", "5m") for b in params_blocks(params) if b.get("cache_control")]
    top = params.get("cache_control")
    if top:
        if ttls and top.get("ttl", "5m") != ttls[-1]:
            return (f"cache_control: the top-level cache_control ttl '{top.get('ttl', '5m')}' differs from the "
                    f"ttl '{ttls[-1]}' of the last block with cache_control")
        ttls.append(top.get("ttl", "5m"))
    if len(ttls) > MAX_BREAKPOINTS:
        return f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {len(ttls)}."
    if not ttl_order_ok(ttls):
        return "a cache_control block with ttl '1h' must not come after one with ttl '5m'"
    return None


def errored_line(custom_id: str, error_type: str, message: str) -> dict:
    """A batch result line for a request the service rejected (SDK: MessageBatchErroredResult)."""
    return {"custom_id": custom_id, "result": {"type": "errored", "error": {
        "type": "error", "error": {"type": error_type, "message": message}}}}


# ------------------------------------------------------------------ the Models API view of cachecast.facts.models

_UNTRACKED = {"supported": True}  # capabilities cachecast's table does not track: reported as supported


def model_info(facts: models.ModelFacts, day: date) -> dict:
    """A ModelInfo object (anthropic.types.ModelInfo) from the model table, lifecycle as of `day`."""
    return {"type": "model", "id": facts.id, "display_name": _display_name(facts.id),
            "created_at": _created_at(facts), "lifecycle": models.lifecycle_on(facts, day),
            "deprecated_at": _day_iso(facts.deprecated_at), "retires_at": _day_iso(facts.retires_at),
            "max_tokens": facts.max_output, "max_input_tokens": None, "line": _line(facts.id),
            "capabilities": _capabilities(facts)}


def _capabilities(facts: models.ModelFacts) -> dict:
    thinking_types = {t: {"supported": t in facts.thinking_modes} for t in models.THINKING_TYPES}
    effort = {level: {"supported": level in facts.effort} for level in models.EFFORTS}
    return {"batch": {"supported": facts.batch}, "citations": _UNTRACKED, "code_execution": _UNTRACKED,
            "context_management": _UNTRACKED, "effort": {"supported": bool(facts.effort), **effort},
            "image_input": _UNTRACKED, "pdf_input": _UNTRACKED, "structured_outputs": _UNTRACKED,
            "server_tools": {"supported": True, "code_execution": _UNTRACKED, "web_search": _UNTRACKED},
            "thinking": {"supported": any(t in facts.thinking_modes for t in ("enabled", "adaptive")),
                         "types": thinking_types}}


def _display_name(model_id: str) -> str:
    words = [w for w in model_id.split("-") if w != "claude" and not re.fullmatch(r"\d{8}", w)]
    named = [w.capitalize() for w in words if not w.isdigit()]
    version = ".".join(w for w in words if w.isdigit())
    return " ".join(["Claude", *named, version]).strip()


def _line(model_id: str) -> str | None:
    return next((line for line in ("haiku", "sonnet", "opus", "fable", "mythos") if line in model_id), None)


def _created_at(facts: models.ModelFacts) -> str:
    """The date in a dated alias (claude-haiku-4-5-20251001), else the table's as-of date:
    the table does not keep release dates, and the field is required."""
    for name in (facts.id, *facts.aliases):
        found = re.search(r"(\d{4})(\d{2})(\d{2})$", name)
        if found:
            return f"{found[1]}-{found[2]}-{found[3]}T00:00:00Z"
    return f"{models.as_of()}T00:00:00Z"


def _page(items: list[dict], query: dict) -> dict:
    """A list page with the API's cursors: limit, after_id, before_id -> has_more, first_id, last_id."""
    limit = int(query.get("limit", ["20"])[0])
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
                 max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.calls: list[tuple[str, str]] = []
        self.messages: list[dict] = []  # model and max_tokens of each valid POST /v1/messages body
        self.faults = Faults()
        self.batches: dict[str, FakeBatch] = {}
        self.chars_per_token = chars_per_token
        self.max_body_bytes = max_body_bytes
        # forwarded to cachecast.send.sim.simulate_lines; small waves so short test batches show reads
        self.sim_options: dict = {"concurrency": 8, **(sim_options or {})}
        self.cache = sim.Cache()  # one workspace cache for sync calls and batches
        self.analytics = Analytics()  # GET /v1/organizations/analytics/{cost,usage} (tests/fakeapi_analytics.py)
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

    # -- endpoint logic (called with the lock held) -----------------------------------------
    def count_tokens(self, body: dict, api_version: str) -> Reply:
        problems = sdk_types.count_tokens_problems(body, api_version)
        if problems:
            return _error(400, "; ".join(problems))
        facts = models.find(body["model"])
        if facts is None:
            return _error(404, f"model: {body['model']}")
        problem = model_problem(facts, body, api_version, models.today())
        if problem:
            return _error(400, problem)
        return 200, {"input_tokens": math.ceil(count_chars(body) / self.chars_per_token)}

    def create_message(self, body: dict, api_version: str) -> Reply:
        if body.get("stream") is True:
            return _error(400, "stream: this fake server does not stream; call messages.create without stream")
        found = request_problem(body, api_version, models.today(), in_batch=False)
        if found:
            kind, message = found
            return _error(_STATUS[kind], message)
        self.messages.append({"model": body["model"], "max_tokens": body["max_tokens"]})
        message_id = f"{sim.SIM_ID_PREFIX}{uuid.uuid4().hex[:24]}"
        return 200, sim.simulate_message(body, cache=self.cache, now=self._clock(), message_id=message_id)

    def create_batch(self, body: dict, api_version: str) -> Reply:
        problem = _envelope_problem(body)
        if problem:
            return _error(400, problem)
        batch = FakeBatch(id=f"msgbatch_fake{next(self._ids):04d}{uuid.uuid4().hex[:12]}", requests=body["requests"],
                          created_at=datetime.now(timezone.utc), in_progress_polls=self.faults.in_progress_polls,
                          errored=self.faults.errored, expired=self.faults.expired, api_version=api_version,
                          created_day=models.today(), sim_start=self._clock())
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
        if batch.status != "ended":
            batch.canceled = True
            batch.status = "canceling"
        return 200, self._batch_json(batch)

    def list_batches(self, query: dict) -> Reply:
        items = sorted(self.batches.values(), key=lambda b: b.created_at, reverse=True)
        return 200, _page([self._batch_json(b) for b in items], query)

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
        day = models.today()
        return 200, _page([model_info(f, day) for f in models.all_models()], query)

    def get_model(self, model_id: str) -> Reply:
        facts = models.find(model_id)
        if facts is None:
            return _error(404, f"model: {model_id}")
        return 200, model_info(facts, models.today())

    # -- helpers -----------------------------------------------------------------------------
    def _end(self, batch: FakeBatch) -> None:
        """Validate each request against the batch's API version and day, simulate the valid ones."""
        if batch.canceled:
            lines = sim.simulate_lines(batch.requests, canceled=True)
        else:
            lines = self._outcomes(batch)
        batch.results = [json.dumps(line) for line in lines]
        batch.status = "ended"
        batch.ended_at = datetime.now(timezone.utc)

    def _outcomes(self, batch: FakeBatch) -> list[dict]:
        """Result lines in request order: errored lines for invalid requests, sim for the rest."""
        day = batch.created_day or models.today()
        problems = [request_problem(r["params"], batch.api_version, day, in_batch=True) for r in batch.requests]
        valid = [r for r, p in zip(batch.requests, problems) if p is None]
        simulated = iter(sim.simulate_lines(valid, errored=batch.errored, expired=batch.expired, cache=self.cache,
                                            start=batch.sim_start, **self.sim_options))
        return [next(simulated) if p is None else errored_line(r["custom_id"], *p)
                for r, p in zip(batch.requests, problems)]

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


def _envelope_problem(body: dict) -> str | None:
    """What the Batches API rejects at create time: the list itself and each line's custom_id."""
    requests = body.get("requests")
    extra = [k for k in body if k not in ("requests", "user_profile_id", "workspace_id")]
    if extra:
        return f"{extra[0]}: Extra inputs are not permitted"
    if not isinstance(requests, list):
        return "requests: Field required" if requests is None else "requests: Input should be a valid list"
    if not requests:
        return "requests: List should have at least 1 item after validation, not 0"
    if len(requests) > MAX_BATCH_REQUESTS:
        return f"requests: List should have at most {MAX_BATCH_REQUESTS} items after validation, not {len(requests)}"
    seen: set[str] = set()
    for i, req in enumerate(requests):
        problems = sdk_types.request_envelope_problems(req, f"requests.{i}")
        if problems:
            return "; ".join(problems)
        if not CUSTOM_ID_RE.match(req["custom_id"]):
            return f"requests.{i}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
        if req["custom_id"] in seen:
            return f"requests.{i}.custom_id: duplicate custom_id '{req['custom_id']}'"
        seen.add(req["custom_id"])
    return None


def _error(status: int, message: str) -> Reply:
    return status, {"type": "error", "error": {"type": _ERROR_TYPES.get(status, "api_error"), "message": message},
                    "request_id": f"req_fake_{uuid.uuid4().hex[:16]}"}


def _header_problem(headers) -> Reply | None:
    """Bearer auth first (401), then the anthropic-version header (400), as the API checks them."""
    if not headers.get("authorization", "").startswith("Bearer ") or not headers["authorization"][7:].strip():
        return _error(401, "authentication required: send 'Authorization: Bearer <key>' (what anthropic SDK 2.x "
                           "sends)")
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
        with api._lock:
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
            try:
                body = json.loads(body_raw) if body_raw else {}
            except ValueError:
                return self._json(*_error(400, "request body is not valid JSON"))
            if method == "POST" and not isinstance(body, dict):
                return self._json(*_error(400, "Input should be a valid dictionary"))
            self._route(method, path, query, body, self.headers["anthropic-version"])

    def _route(self, method: str, path: str, query: dict, body: dict, version: str) -> None:
        api = self.api
        posts = {"/v1/messages": api.create_message, "/v1/messages/count_tokens": api.count_tokens,
                 "/v1/messages/batches": api.create_batch}
        if method == "POST" and path in posts:
            return self._json(*posts[path](body, version))
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
        if method == "GET" and is_analytics_path(path):
            return self._json(*api.analytics.route(path, query, self.headers))
        return self._json(*_error(404, f"{method} {path} is not an endpoint of this fake server"))

    def _batch_route(self, method: str, batch_id: str, tail: str | None) -> None:
        api = self.api
        if tail == "/results" and method == "GET":
            lines, refused = api.results(batch_id)
            if refused is not None:
                return self._json(*refused)
            cut, api.faults.cut_results_after = api.faults.cut_results_after, None
            return self._jsonl(lines, cut)
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
