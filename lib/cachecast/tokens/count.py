"""Token counts: an offline estimate (always available) and exact counts via the API.

The estimate is characters / 4.0 times the model's tokenizer factor. Against
count_tokens on English evaluation prompts it lands within about +/-20% (the error band
we report); `calibrate` fits the real ratio from an audited pilot.

Exact counts (`count_requests(..., counter=TokenCounter(...))`) call the free but rate
limited `messages.count_tokens` endpoint. A 30,000-request run shares one cached prefix
and has 5,000 item texts, so we count PARTS, each distinct one once:
  - the cached prefix of a request: tools/system/messages up to and including the last
    cache_control breakpoint. The API needs at least one message, so when the prefix ends
    before the messages we add a one-character user turn (PROBE) and subtract the count of
    that probe turn on its own (counted once per model);
  - every block after the breakpoint (a treatment's system suffix, the item's user text),
    counted as a user message on its own. That count includes the few framing tokens of a
    message, so a request with two such blocks is over-counted by one framing (a few
    tokens): conservative for a budget, and the price of counting each text once.
Counts are remembered by content hash (model + exact JSON counted) in the DuckDB store
(table token_counts), so a re-run makes zero API calls.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from statistics import mean
from typing import Any, Iterable, Iterator

from ..errors import ApiError, CachecastError, InputError, redact
from ..jsonl import loads, strict_lines
from ..facts.tokenizer import ESTIMATE_ERROR_BAND, estimate_tokens

PROBE = "."
DEFAULT_MAX_RETRIES = 8  # the SDK backs off exponentially and honours retry-after on 429


# ------------------------------------------------------------------ splitting a request


@dataclass(frozen=True)
class Part:
    """One thing counted once. `body` is what count_tokens receives (model included);
    `text` is what the estimate reads; `probe` means subtract the probe turn's count."""

    key: str
    model: str
    body: dict
    text: str
    probe: bool = False


@dataclass(frozen=True)
class Split:
    model: str
    prefix: Part | None  # None: the request has no breakpoint, nothing is cached
    rest: tuple[Part, ...]


def _clean(block: dict) -> dict:
    return {k: v for k, v in block.items() if k != "cache_control"}


def _as_blocks(content: Any) -> list[dict]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [b for b in content if isinstance(b, dict)] if isinstance(content, list) else []


def _block_text(block: dict) -> str:
    if block.get("type") == "text" and isinstance(block.get("text"), str):
        return block["text"]
    return json.dumps(_clean(block), sort_keys=True, ensure_ascii=False)


def content_hash(body: dict) -> str:
    """sha256 of the exact JSON counted (model included: tokenizers differ per model)."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


_MEMO: dict[tuple, Part] = {}


def _memo_part(memo_key: tuple, build) -> Part:
    part = _MEMO.get(memo_key)
    if part is None:
        if len(_MEMO) > 200_000:
            _MEMO.clear()
        body, text, probe = build()
        part = _MEMO[memo_key] = Part(key=content_hash(body), model=body["model"], body=body, text=text, probe=probe)
    return part


def probe_part(model: str) -> Part:
    return _memo_part(("probe", model), lambda: (
        {"model": model, "messages": [{"role": "user", "content": PROBE}]}, "", False))


def split_params(params: dict) -> Split:
    """Cut Messages params at the last cache_control breakpoint (order tools -> system -> messages).

    Written for speed (it runs once per request line: 100,000 lines in a few seconds)."""
    model = params.get("model")
    if not isinstance(model, str) or not model:
        raise InputError("request has no 'model' in its params")
    tools = params.get("tools") or []
    system = _as_blocks(params.get("system") or [])
    messages = [(m.get("role", "user"), _as_blocks(m.get("content"))) for m in params.get("messages") or []
                if isinstance(m, dict)]
    seq: list[tuple[str, int, dict]] = []
    seq.extend(("tools", i, t) for i, t in enumerate(tools) if isinstance(t, dict))
    seq.extend(("system", i, b) for i, b in enumerate(system))
    for mi, (_, blocks) in enumerate(messages):
        seq.extend(("messages", mi, b) for b in blocks)
    last = len(seq) - 1
    while last >= 0 and "cache_control" not in seq[last][2]:
        last -= 1
    prefix = _prefix_part(model, seq[: last + 1], messages) if last >= 0 else None
    rest = tuple(_rest_part(model, section, block) for section, _, block in seq[last + 1:])
    return Split(model=model, prefix=prefix, rest=rest)


def _prefix_part(model: str, seq: list[tuple[str, int, dict]], messages: list[tuple[str, list]]) -> Part:
    texts = tuple((section, idx, messages[idx][0] if section == "messages" else "", _block_text(b))
                  for section, idx, b in seq)

    def build():
        body: dict[str, Any] = {"model": model}
        tools = [_clean(b) for s, _, b in seq if s == "tools"]
        system = [_clean(b) for s, _, b in seq if s == "system"]
        if tools:
            body["tools"] = tools
        if system:
            body["system"] = system
        msgs: list[dict] = []
        for s, mi, b in seq:
            if s != "messages":
                continue
            if not msgs or msgs[-1]["_i"] != mi:
                msgs.append({"_i": mi, "role": messages[mi][0], "content": []})
            msgs[-1]["content"].append(_clean(b))
        probe = not msgs
        body["messages"] = ([{"role": "user", "content": PROBE}] if probe
                            else [{"role": m["role"], "content": m["content"]} for m in msgs])
        return body, "".join(t for *_, t in texts), probe

    return _memo_part(("prefix", model, texts), build)


def _rest_part(model: str, section: str, block: dict) -> Part:
    text = _block_text(block)
    part = _MEMO.get(("block", model, text)) if section != "tools" else None
    if part is not None:
        return part
    if section == "tools":
        return _memo_part(("tool", model, text), lambda: (
            {"model": model, "tools": [_clean(block)], "messages": [{"role": "user", "content": PROBE}]}, text, True))
    return _memo_part(("block", model, text), lambda: (
        {"model": model, "messages": [{"role": "user", "content": [_clean(block)]}]}, text, False))


def payload_params(model: str, payload: dict) -> dict:
    """Provider-neutral payload (prompts.render_payload) -> Messages-shaped params, keeping
    the breakpoints the payload carries (so the projection sees the configured prefix even
    when the builder would drop a breakpoint below the model minimum)."""
    system: list[dict] = []
    messages: list[dict] = []
    for msg in payload["messages"]:
        blocks = _as_blocks(msg["content"])
        if msg["role"] == "system":
            system.extend(blocks)
        else:
            messages.append({"role": msg["role"], "content": blocks})
    params: dict[str, Any] = {"model": model, "system": system, "messages": messages}
    if payload.get("tools"):
        params["tools"] = payload["tools"]
    return params


# ------------------------------------------------------------------ counting parts


class TokenCounter:
    """Exact counts through `client.messages.count_tokens`, remembered in DuckDB.

    `client` defaults to anthropic.Anthropic() with the key from ANTHROPIC_API_KEY (and
    ANTHROPIC_BASE_URL if set); `db` is a DuckDB path (None: remember only in memory)."""

    def __init__(self, client: Any = None, db: Path | None = None, *, progress: bool | None = None,
                 max_retries: int = DEFAULT_MAX_RETRIES, api_version: str | None = None,
                 timeouts: tuple[float, float] | None = None, betas: tuple[str, ...] = (),
                 call_deadline: float | None = None) -> None:
        self.client = client if client is not None else make_client(max_retries, api_version, timeouts, betas,
                                                                    call_deadline)
        self.db = Path(db) if db is not None else None
        self.progress = progress
        self.api_calls = 0
        self.remembered = 0
        self._known: dict[str, int] = {}

    def counts(self, parts: Iterable[Part]) -> dict[str, int]:
        """{part.key: tokens} for every part, calling the API only for unknown ones."""
        distinct = {p.key: p for p in parts}
        missing = [k for k in distinct if k not in self._known]
        if missing and self.db is not None:
            found = _db_lookup(self.db, missing)
            self.remembered += len(found)
            self._known.update(found)
        todo = [distinct[k] for k in distinct if k not in self._known]
        if todo:
            self._call(todo)
        return {k: self._known[k] for k in distinct}

    def _call(self, todo: list[Part]) -> None:
        from tqdm import tqdm

        fresh: list[tuple[str, str, int]] = []
        show = self.progress if self.progress is not None else (sys.stderr.isatty() and len(todo) > 20)
        try:
            for part in tqdm(todo, desc="count_tokens", unit="call", disable=not show, leave=False, file=sys.stderr):
                tokens = self._count_one(part)
                self._known[part.key] = tokens
                fresh.append((part.key, part.model, tokens))
                if len(fresh) >= 200 and self.db is not None:
                    _db_store(self.db, fresh)
                    fresh = []
        finally:  # keep what was counted even when interrupted or rate limited for good
            if fresh and self.db is not None:
                _db_store(self.db, fresh)

    def _count_one(self, part: Part) -> int:
        import anthropic

        from ..send.guard import Refused

        body = dict(part.body)
        try:
            self.api_calls += 1
            answer = self.client.messages.count_tokens(**body)
        except Refused as exc:  # the call deadline, a retry-after too long, an answer that is not one
            raise ApiError(f"count_tokens: {exc}; counts so far are saved, run it again to continue") from None
        except anthropic.RateLimitError:
            raise ApiError(
                f"count_tokens stayed rate limited (429) after {self.client.max_retries} retries; counts so far "
                "are saved, re-run to continue"
            ) from None
        except anthropic.AuthenticationError:
            raise ApiError("count_tokens refused the API key (401); check ANTHROPIC_API_KEY") from None
        except anthropic.APIStatusError as exc:
            raise ApiError(f"count_tokens failed with HTTP {exc.status_code}: {redact(str(exc.message))}") from None
        except anthropic.APITimeoutError:
            raise ApiError("count_tokens: the API did not answer in time (after the SDK's retries; --timeout and "
                           "--connect-timeout set the waits); counts so far are saved, run it again") from None
        except anthropic.APIConnectionError as exc:
            raise ApiError(f"count_tokens could not reach the API: {redact(str(exc))}") from None
        return _token_count(getattr(answer, "input_tokens", None))


def _token_count(value: Any) -> int:
    """count_tokens' input_tokens, only when it is one (the bounds every server usage number
    gets, cachecast._bounds): int(-5) or int(3.7) stored as an "exact" count would be wrong
    forever (counts are remembered by content hash)."""
    from .._bounds import token_problem

    problem = token_problem(value)
    if problem:
        raise ApiError(f"count_tokens answered input_tokens that {problem}, which is not a token count; nothing "
                       "was remembered for this request (is ANTHROPIC_BASE_URL a real Messages API?)")
    return value


def make_client(max_retries: int = DEFAULT_MAX_RETRIES, api_version: str | None = None,
                timeouts: tuple[float, float] | None = None, betas: tuple[str, ...] = (),
                call_deadline: float | None = None) -> Any:
    """Through api.make_client, so count_tokens sends the run's anthropic-version (and the
    build's anthropic-beta values) and is held to the call deadline too.
    timeouts: (read, connect) seconds (count --timeout/--connect-timeout), else api's defaults;
    call_deadline: count --call-deadline, else api's default."""
    from ..send.api import DEFAULT_CALL_DEADLINE, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT
    from ..send.api import make_client as api_client
    from ..facts.models import DEFAULT_API_VERSION

    if not os.environ.get("ANTHROPIC_API_KEY", "").strip():
        raise CachecastError("exact token counts need ANTHROPIC_API_KEY in the environment")
    read, connect = timeouts or (DEFAULT_TIMEOUT, DEFAULT_CONNECT_TIMEOUT)
    return api_client(max_retries=max_retries, api_version=api_version or DEFAULT_API_VERSION, timeout=read,
                      connect_timeout=connect, betas=betas, call_deadline=call_deadline or DEFAULT_CALL_DEADLINE)


def has_api_key() -> bool:
    return bool(os.environ.get("ANTHROPIC_API_KEY"))


# ------------------------------------------------------------------ DuckDB memory


def connect_store(path: Path):
    """The shared store when cachecast.store exists (it owns the schema), else DuckDB with
    just our table; either way token_counts is there."""
    try:
        from ..store import connect  # type: ignore[attr-defined]
    except ImportError:
        connect = None
    if connect is not None:
        con = connect(path)
    else:
        import duckdb

        path.parent.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(path))
    con.execute(resources.files("cachecast").joinpath("sql", "tokens", "token_counts.sql").read_text())
    return con


def _db_lookup(path: Path, keys: list[str]) -> dict[str, int]:
    con = connect_store(path)
    try:
        rows = con.execute("SELECT content_hash, tokens FROM token_counts WHERE content_hash IN (SELECT unnest(?))",
                           [keys]).fetchall()
    finally:
        con.close()
    return {k: int(v) for k, v in rows}


def _db_store(path: Path, rows: list[tuple[str, str, int]]) -> None:
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    con = connect_store(path)
    try:
        # one statement over lists, not executemany: DuckDB runs executemany row by row
        # (200 rows: ~0.5 s, so 5,000 counts spent 30 s here; unnest: ~6 ms)
        con.execute("INSERT INTO token_counts (content_hash, model, tokens, counted_at) "
                    "SELECT unnest($1), unnest($2), unnest($3), $4 ON CONFLICT (content_hash) DO NOTHING",
                    [[k for k, _, _ in rows], [m for _, m, _ in rows], [t for _, _, t in rows], now])
    finally:
        con.close()


# ------------------------------------------------------------------ request-level counts


@dataclass
class Counts:
    """Per-request cached-prefix (S) and rest (U) tokens for a set of requests."""

    source: str  # "exact" | "estimate"
    models: list[str]
    prefix: list[int] = field(default_factory=list)
    rest: list[int] = field(default_factory=list)
    distinct_prefixes: int = 0
    distinct_parts: int = 0
    api_calls: int = 0
    remembered: int = 0

    @property
    def requests(self) -> int:
        return len(self.prefix)

    @property
    def error_band(self) -> float | None:
        return ESTIMATE_ERROR_BAND if self.source == "estimate" else None

    def summary(self) -> dict[str, Any]:
        n = self.requests
        total_prefix, total_rest = sum(self.prefix), sum(self.rest)
        return {
            "model": ", ".join(self.models), "requests": n, "source": self.source, "error_band": self.error_band,
            "prefix_tokens": {"total": total_prefix, "mean": total_prefix / n if n else 0.0,
                              "distinct": self.distinct_prefixes},
            "rest_tokens": {"total": total_rest, "mean": total_rest / n if n else 0.0,
                            "min": min(self.rest, default=0), "max": max(self.rest, default=0)},
            "prompt_tokens": total_prefix + total_rest,
            "distinct_parts_counted": self.distinct_parts, "api_calls": self.api_calls,
            "remembered": self.remembered,
        }


def count_splits(splits: list[Split], counter: TokenCounter | None = None) -> Counts:
    """S and U per request: estimated offline, or exact through `counter`."""
    models = list(dict.fromkeys(s.model for s in splits))
    prefixes = {s.prefix.key for s in splits if s.prefix}
    if counter is None:
        counts = Counts(source="estimate", models=models, distinct_prefixes=len(prefixes))
        est: dict[str, int] = {}
        for s in splits:
            counts.prefix.append(_estimate(s.prefix, est) if s.prefix else 0)
            counts.rest.append(sum(_estimate(p, est) for p in s.rest))
        counts.distinct_parts = len(est)
        return counts
    parts = [p for s in splits for p in ((s.prefix,) if s.prefix else ()) + s.rest]
    parts += [probe_part(m) for m in models if any(p.probe for p in parts if p.model == m)]
    calls_before, remembered_before = counter.api_calls, counter.remembered
    got = counter.counts(parts)
    probe = {m: got.get(probe_part(m).key, 0) for m in models}
    counts = Counts(source="exact", models=models, distinct_prefixes=len(prefixes), distinct_parts=len(got))

    def exact(p: Part) -> int:
        return max(got[p.key] - (probe[p.model] if p.probe else 0), 0)

    for s in splits:
        counts.prefix.append(exact(s.prefix) if s.prefix else 0)
        counts.rest.append(sum(exact(p) for p in s.rest))
    counts.api_calls = counter.api_calls - calls_before
    counts.remembered = counter.remembered - remembered_before
    return counts


def _estimate(part: Part, memo: dict[str, int]) -> int:
    got = memo.get(part.key)
    if got is None:
        got = memo[part.key] = estimate_tokens(part.text, part.model)
    return got


def iter_request_params(path: Path) -> Iterator[dict]:
    """Messages params of every request line in a build directory or a request file."""
    from ..build.build_files import request_files

    for file in request_files(path):
        for lineno, line in strict_lines(file):
            obj = loads(line, f"{file}:{lineno}")
            params = obj.get("params") if isinstance(obj, dict) else None
            if not isinstance(params, dict):
                raise InputError(f"{file}:{lineno}: not a Message Batches request line (no 'params'; "
                                 "token counting covers Anthropic requests)")
            yield params


def count_path(path: Path, counter: TokenCounter | None = None) -> Counts:
    splits = [split_params(p) for p in iter_request_params(path)]
    if not splits:
        raise InputError(f"{path}: no requests to count")
    return count_splits(splits, counter)


# ------------------------------------------------------------------ calibration


@dataclass(frozen=True)
class Calibration:
    """actual ~= ratio x estimate, fitted on audited requests; errors are relative, after
    applying the ratio (so they say how far one request can be off, not the total)."""

    ratio: float
    n: int
    mean_abs_error: float
    p95_abs_error: float
    max_abs_error: float

    def apply(self, estimate: float) -> float:
        return estimate * self.ratio


def calibrate(pairs: Iterable[tuple[float, float]]) -> Calibration:
    """Fit the ratio from (estimate, actual) pairs, actual = input + cache_creation + cache_read.

    The ratio is sum(actual) / sum(estimate): the correction that makes projected TOTALS
    right, which is what a budget needs (a per-request least-squares fit would favour the
    longest prompts)."""
    data = [(float(e), float(a)) for e, a in pairs if e and e > 0 and a is not None and a >= 0]
    if not data:
        raise InputError("calibration needs audited requests with a positive estimate; none were given")
    ratio = sum(a for _, a in data) / sum(e for e, _ in data)
    errors = sorted(abs(a / (ratio * e) - 1) for e, a in data)
    p95 = errors[min(len(errors) - 1, math.ceil(0.95 * len(errors)) - 1)]
    return Calibration(ratio=ratio, n=len(data), mean_abs_error=mean(errors), p95_abs_error=p95,
                       max_abs_error=errors[-1])
