"""What every API call is held to, under the SDK: one deadline, a bounded retry-after, and
an answer the SDK can use. `api.make_client` (and `api.make_admin_client`) install it; no
command talks to the API without it.

Why each part:
- **One deadline per call** (`--call-deadline`, default api.DEFAULT_CALL_DEADLINE, 300 s): every
  attempt, every retry wait and the whole answer (a streamed results file included) must
  fit in it. The per-read `--timeout` alone is defeated by a server that drips one byte
  every few seconds (each read returns in time, the answer never ends), and the SDK's
  retries multiply it. The clock is checked before each attempt and bounds every socket
  read and write (a wrapper around httpcore2's network backend: the only layer that sees
  each read, headers included).
- **retry-after is bounded**: anthropic 2.16 waits whatever a 429/5xx asks, up to 49 days
  (`_calculate_retry_timeout` caps it at 4,294,967 s), so `retry-after: 3600` held a
  command for an hour. A wait longer than MAX_RETRY_AFTER, or than what is left of the
  deadline, is refused with one sentence instead.
- **The answer is checked** before the SDK parses it: a 200 whose body is not JSON (a
  captive portal, a proxy's HTML page) ended in JSONDecodeError (exit 3), and JSON without
  what the SDK type requires ended in AttributeError later. The body must be JSON with each
  required field of the SDK's type (`Message`, `MessageBatch`, a page of `ModelInfo`, ...)
  present and of the right JSON kind; unknown extra fields and unknown content block types
  pass, as they do in the SDK.

The guard's errors (`Refused`) are ApiError (one sentence, exit 2) and AnthropicError: the
SDK re-raises its own errors unwrapped and retries only connection and status errors, so a
refusal is never retried.
"""
from __future__ import annotations

import email.utils
import json
import math
import time
import types
from contextlib import contextmanager
from datetime import date, datetime
from typing import Annotated, Any, Iterator, Literal, TypeVar, Union, get_args, get_origin
from urllib.parse import urlsplit

import anthropic
import httpcore2
import httpx2
import pydantic

from ..errors import ApiError, redact

MAX_RETRY_AFTER = 60.0  # the longest retry-after honoured (what the SDKs honoured before 2.x)
SHOWN = 120  # characters of an answer quoted in a sentence
_RETRIED = (408, 409, 429)  # and every 5xx: the statuses the SDK retries (anthropic._base_client._should_retry)


class Refused(ApiError, anthropic.AnthropicError):
    """A call the guard stopped: one sentence; the SDK neither wraps nor retries it."""


class DeadlineExceeded(Refused):
    """The call did not finish within its deadline."""


class RetryAfterRefused(Refused):
    """The server asked for a longer wait than cachecast gives."""


class BadAnswer(Refused):
    """A 2xx answer that is not JSON, or lacks what the SDK's type requires."""


class PageLimit(Refused):
    """A paged listing still said has_more after the page limit (api.list_all)."""


class Clock:
    """The deadline of the call in progress (set by Guard at its first attempt) and the
    endpoint it is for; `pinned()` keeps one deadline across several calls (a listing)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = float(seconds)
        self.ends: float | None = None
        self.endpoint = "the API"
        self.pinned = 0

    def start(self, endpoint: str) -> None:
        self.endpoint = endpoint
        if not self.pinned or self.ends is None:
            self.ends = time.monotonic() + self.seconds

    def remaining(self) -> float:
        return math.inf if self.ends is None else self.ends - time.monotonic()

    def exceeded(self) -> DeadlineExceeded:
        return DeadlineExceeded(f"{self.endpoint} did not finish answering within {self.seconds:g} s (--call-deadline: "
                                "every attempt, retry wait and the whole answer count)")

    def limit(self, timeout: float | None) -> tuple[float | None, bool]:
        """The timeout for one socket operation: `timeout`, or less when the deadline is
        nearer (then True: a timeout of this operation is the deadline passing)."""
        left = self.remaining()
        if left <= 0:
            raise self.exceeded()
        if timeout is None or left < timeout:
            return left, True
        return timeout, False


# -- the socket layer ------------------------------------------------------------------------------
class _Stream(httpcore2.NetworkStream):
    """A network stream whose every read and write ends by the call's deadline."""

    def __init__(self, inner: httpcore2.NetworkStream, clock: Clock) -> None:
        self._inner, self._clock = inner, clock

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        limit, by_deadline = self._clock.limit(timeout)
        try:
            return self._inner.read(max_bytes, limit)
        except httpcore2.ReadTimeout:
            if by_deadline:
                raise self._clock.exceeded() from None
            raise

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        limit, by_deadline = self._clock.limit(timeout)
        try:
            self._inner.write(buffer, limit)
        except httpcore2.WriteTimeout:
            if by_deadline:
                raise self._clock.exceeded() from None
            raise

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context, server_hostname: str | None = None, timeout: float | None = None):
        limit, by_deadline = self._clock.limit(timeout)
        try:
            return _Stream(self._inner.start_tls(ssl_context, server_hostname, limit), self._clock)
        except httpcore2.ConnectTimeout:
            if by_deadline:
                raise self._clock.exceeded() from None
            raise

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _Backend(httpcore2.NetworkBackend):
    def __init__(self, inner: httpcore2.NetworkBackend, clock: Clock) -> None:
        self._inner, self._clock = inner, clock

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        limit, by_deadline = self._clock.limit(timeout)
        try:
            return _Stream(self._inner.connect_tcp(host, port, limit, local_address, socket_options), self._clock)
        except httpcore2.ConnectTimeout:
            if by_deadline:
                raise self._clock.exceeded() from None
            raise

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        limit, _ = self._clock.limit(timeout)
        return _Stream(self._inner.connect_unix_socket(path, limit, socket_options), self._clock)

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def _guard_transport(transport: Any, clock: Clock) -> None:
    """Put the deadline backend under one of httpx2's transports. httpx2 takes no backend
    argument, so the pool's is wrapped; if a new httpx2 moves it, this says so at once
    instead of silently dropping the deadline."""
    pool = getattr(transport, "_pool", None)
    if pool is None or not hasattr(pool, "_network_backend"):
        raise RuntimeError(f"httpx2's {type(transport).__name__} no longer has _pool._network_backend; cachecast's "
                           "call deadline (send/guard.py) needs updating for this httpx2")
    if not isinstance(pool._network_backend, _Backend):
        pool._network_backend = _Backend(pool._network_backend, clock)


class _HttpClient(anthropic.DefaultHttpxClient):
    """The SDK's default client (its limits, timeouts, keep-alive socket options, redirects and
    proxies from the environment), with every one of its transports guarded."""

    def __init__(self, clock: Clock, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        for transport in (self._transport, *self._mounts.values()):
            if transport is not None:
                _guard_transport(transport, clock)


# -- each attempt ---------------------------------------------------------------------------------
class Guard(anthropic.Middleware):
    """Runs inside the SDK's retry loop, once per attempt (anthropic._middleware)."""

    def __init__(self, clock: Clock, max_retries: int) -> None:
        self.clock, self.max_retries = clock, max_retries

    def handle(self, request, call_next):
        endpoint = f"{request.method.upper()} {urlsplit(str(request.url)).path}"  # results_url is absolute
        if request.retries_taken == 0:
            self.clock.start(endpoint)
        elif self.clock.remaining() <= 0:
            raise self.clock.exceeded()
        response = call_next(request)
        http = response.http_response
        if not http.is_success:
            self._retry_after(http, endpoint)
        elif not request.stream and _mode(request) != "stream":
            check_answer(http, request.cast_to, endpoint)
        return response

    def _retry_after(self, http: httpx2.Response, endpoint: str) -> None:
        if http.status_code not in _RETRIED and http.status_code < 500:
            return
        wait = retry_after(http.headers)
        if wait is None:
            return
        left = self.clock.remaining()
        allowed = min(MAX_RETRY_AFTER, max(left, 0.0))
        if wait > allowed:
            why = f"at most {MAX_RETRY_AFTER:g} s" if allowed == MAX_RETRY_AFTER else \
                f"only the {max(left, 0):.0f} s left of --call-deadline"
            raise RetryAfterRefused(f"{endpoint} answered HTTP {http.status_code} and asked to wait {wait:,.0f} s before "
                                    f"retrying (retry-after); cachecast waits {why}, so it stopped instead of waiting")


def _mode(request: Any) -> str | None:
    headers = request.headers if isinstance(request.headers, dict) else {}
    return headers.get("X-Stainless-Raw-Response")


def retry_after(headers: httpx2.Headers) -> float | None:
    """Seconds a response asks to wait: retry-after-ms, retry-after (seconds or an HTTP
    date), as the SDK reads them; None when it asks nothing."""
    try:
        return float(headers["retry-after-ms"]) / 1000
    except (KeyError, TypeError, ValueError):
        pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        parsed = email.utils.parsedate_tz(value)
        return None if parsed is None else float(email.utils.mktime_tz(parsed) - time.time())


# -- the answer -----------------------------------------------------------------------------------
def check_answer(http: httpx2.Response, cast_to: Any, endpoint: str) -> None:
    """BadAnswer when a 2xx body is not JSON or lacks what `cast_to` (the SDK type the
    answer is parsed into) requires; the sentence names the endpoint and quotes the start
    of the body, redacted."""
    body = http.content
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        kind = http.headers.get("content-type", "no content type").split(";")[0]
        raise BadAnswer(f"{endpoint} answered HTTP {http.status_code} with a body that is not JSON ({kind}, "
                        f"{len(body):,} bytes: {quoted(body)}); is --base-url (or ANTHROPIC_BASE_URL) the Anthropic "
                        "API?") from None
    problem = shape_problem(data, cast_to)
    if problem:
        raise BadAnswer(f"{endpoint} answered HTTP {http.status_code} without what the SDK needs ({problem}): "
                        f"{quoted(body)}")


def quoted(body: bytes | str) -> str:
    text = body.decode("utf-8", errors="replace") if isinstance(body, bytes) else body
    text = " ".join(redact(text).split())
    return json.dumps(text if len(text) <= SHOWN else text[: SHOWN - 3] + "...")


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    return {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number"}.get(
        type(value), type(value).__name__)


def shape_problem(value: Any, annotation: Any, path: str = "") -> str | None:
    """What in `value` (parsed JSON) the SDK type `annotation` cannot take: a required field
    missing, or a field of the wrong JSON kind; None when it fits. Unions of models (content
    blocks) need only be objects, Literal fields only strings: newer API values must pass."""
    where = path or "the answer"
    origin = get_origin(annotation)
    if annotation in (Any, object, None) or isinstance(annotation, TypeVar):
        return None
    if origin is Annotated:
        return shape_problem(value, get_args(annotation)[0], path)
    if origin in (Union, types.UnionType):
        return _union_problem(value, get_args(annotation), path)
    if origin is Literal:
        wanted = {type(a) for a in get_args(annotation)}
        return None if type(value) in wanted else f"{where} is {_kind(value)}, not a string"
    if origin in (list, tuple):
        if not isinstance(value, list):
            return f"{where} is {_kind(value)}, not a list"
        args = get_args(annotation)
        for i, item in enumerate(value):
            problem = shape_problem(item, args[0], f"{where}[{i}]") if args else None
            if problem:
                return problem
        return None
    if origin is dict or annotation is dict:
        return None if isinstance(value, dict) else f"{where} is {_kind(value)}, not an object"
    if isinstance(annotation, type):
        return _type_problem(value, annotation, path)
    return None


def _union_problem(value: Any, arms: tuple, path: str) -> str | None:
    if value is None and type(None) in arms:
        return None
    arms = tuple(a for a in arms if a is not type(None))
    if arms and all(isinstance(a, type) and issubclass(a, pydantic.BaseModel) for a in arms):
        return None if isinstance(value, dict) else f"{path or 'the answer'} is {_kind(value)}, not an object"
    problems = [shape_problem(value, arm, path) for arm in arms]
    return None if any(p is None for p in problems) else problems[0]


def _type_problem(value: Any, cls: type, path: str) -> str | None:
    where = path or "the answer"
    if issubclass(cls, pydantic.BaseModel):
        if not isinstance(value, dict):
            return f"{where} is {_kind(value)}, not an object"
        for name, info in cls.model_fields.items():
            key = info.alias or name
            child = f"{path}.{key}" if path else key
            if key not in value:
                if info.is_required():
                    return f"{child} is missing"
                continue
            if value[key] is None and not info.is_required():
                continue
            problem = shape_problem(value[key], info.annotation, child)
            if problem:
                return problem
        return None
    if cls is bool:
        ok = isinstance(value, bool)
    elif cls is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif cls is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif cls is str:
        ok = isinstance(value, str)
    elif cls in (datetime, date):
        return None if isinstance(value, str) and _iso_ok(value) else f"{where} is {_shown(value)}, not a date"
    else:
        return None
    return None if ok else f"{where} is {_kind(value)} ({_shown(value)}), not {_want(cls)}"


def _want(cls: type) -> str:
    return {bool: "true/false", int: "a whole number", float: "a number", str: "a string"}[cls]


def _shown(value: Any) -> str:
    text = redact(json.dumps(value, default=str))
    return text if len(text) <= 40 else text[:37] + "..."


def _iso_ok(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
        return True
    except ValueError:
        return False


# -- making and scoping a guarded client ------------------------------------------------------------
def install(seconds: float, max_retries: int) -> dict[str, Any]:
    """The Anthropic() keyword arguments that guard a client: its HTTP client and middleware."""
    clock = Clock(seconds)
    return {"http_client": _HttpClient(clock), "middleware": [Guard(clock, max_retries)]}


def clock_of(client: Any) -> Clock | None:
    for entry in getattr(client, "middleware", ()) or ():
        if isinstance(entry, Guard):
            return entry.clock
    return None


@contextmanager
def one_deadline(client: Any) -> Iterator[None]:
    """Every call inside the block shares one deadline, started now (the pages of a listing:
    a page limit alone would let each page take the whole deadline)."""
    clock = clock_of(client)
    if clock is None:
        yield
        return
    clock.pinned += 1
    clock.ends = time.monotonic() + clock.seconds
    try:
        yield
    finally:
        clock.pinned -= 1
