"""An emulator of Anthropic's prompt-cache accounting, for what-if runs, demo data and tests.

It answers "what would the usage fields say for this request set?" without spending money.
Everything it writes is marked simulated: message ids start with `msg_sim_` (the store
flags such rows `simulated`), error request ids with `req_sim_`, and the response text says so.

The model (each rule is one of Anthropic's documented behaviours, see FACTS.md):
- The cache key is the exact prefix (tools -> system -> messages blocks, cache_control
  markers excluded) plus the model. Entries are written only at breakpoints, and only when
  the prefix up to the breakpoint reaches the model's minimum cacheable length.
- A request reads the longest live entry found at, or up to 20 blocks before, any of its
  breakpoints (A). It writes every breakpoint after A: 1h tokens up to the last 1h
  breakpoint (B), 5m tokens from there to the last breakpoint (C).
  input_tokens is what follows the last cached or written position.
- An entry lives for its TTL (5m or 1h) and every hit refreshes it.
- An entry is readable only by requests that begin after the request that wrote it began.
- Batch concurrency: requests run in waves of `concurrency` that start together, spread
  evenly over `duration_minutes`; so the whole first wave misses and writes, and a 5m entry
  dies when waves are more than 5 minutes apart.
- Pre-warming (`prewarm=True`): a synchronous max_tokens-0 call per cached prefix one
  second before the batch writes the entry, so the first wave reads instead of writing.
- Caching in batches is best effort: a request that could hit does so with
  `hit_probability` (seeded RNG, so runs are reproducible); otherwise it misses and writes.
- A top-level `cache_control` (automatic caching) is a breakpoint on the last block.
- Output is an answer of about `output_fill_ratio` x max_tokens, plus thinking tokens when
  thinking is on (type adaptive/enabled, or omitted on a model whose default is adaptive):
  a seeded share of the room left under max_tokens that grows with effort (low < medium <
  high < xhigh < max), within budget_tokens for `enabled`. output_tokens includes them and
  `output_tokens_details.thinking_tokens` breaks them out, as the API reports it; a
  projection that counts only the answer under-estimates every 5.x model.
- usage also says `service_tier` ("batch" in result lines, "standard" for one message),
  `inference_geo` (the request's, else "global", the documented default) and `speed`.
Token counts use the same estimate as the builder (`tokens.estimate_tokens` on the
concatenated text), so manifest estimates and simulated usage agree. The usage it writes is
cachecast.facts.usage.Usage (the one usage object, in the SDK's JSON shape).
"""
from __future__ import annotations

import hashlib
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from ..errors import InputError
from ..facts.models import ModelFacts, default_model, model_facts
from ..facts.usage import Usage
from ..build.requests import block_text, params_blocks
from ..facts.tokenizer import CHARS_PER_TOKEN

TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}
LOOKBACK_BLOCKS = 20
SIM_ID_PREFIX = "msg_sim_"
DEFAULTS = {"concurrency": 100, "duration_minutes": 60.0, "hit_probability": 0.95, "seed": 0,
            "output_fill_ratio": 0.35}


@dataclass(frozen=True)
class Breakpoint:
    position: int  # index of the block that carries cache_control
    ttl: str


@dataclass
class SimRequest:
    """What the accounting needs from one request: prefix keys and token positions per block."""

    custom_id: str
    model: str
    keys: list[str]  # hash of the prefix ending at each block
    tokens: list[int]  # tokens of the prefix ending at each block
    total_tokens: int
    breakpoints: list[Breakpoint]
    max_tokens: int
    thinking: str | None = None  # "adaptive" or "enabled" when the model thinks, else None
    effort: str | None = None  # the effort that applies (the request's or the model's default)
    budget_tokens: int | None = None
    inference_geo: str | None = None
    speed: str | None = None
    min_cache_tokens: int = 0  # the model's minimum cacheable prefix


@dataclass(frozen=True)
class Tally:
    """The cache accounting of one request: what it read, wrote (by TTL) and sent uncached."""

    input_tokens: int
    write_5m: int = 0
    write_1h: int = 0
    read: int = 0


@dataclass
class _Entry:
    readable_after: float  # the writer's start time; readable strictly after it
    expires: float


@dataclass
class Cache:
    """Live entries by prefix key. Times are seconds from the start of the batch."""

    entries: dict[str, _Entry] = field(default_factory=dict)

    def lookup(self, key: str, now: float) -> _Entry | None:
        entry = self.entries.get(key)
        if entry is None or now >= entry.expires or now <= entry.readable_after:
            return None
        return entry

    def write(self, key: str, now: float, ttl: str) -> None:
        entry = self.entries.get(key)
        if entry is not None and now < entry.expires:  # still alive (maybe not yet readable): keep it
            entry.expires = max(entry.expires, now + TTL_SECONDS[ttl])
            return
        self.entries[key] = _Entry(readable_after=now, expires=now + TTL_SECONDS[ttl])


# -- requests -> SimRequest ---------------------------------------------------------------------
# Block order and block text come from the request builder, so the builder's prefix hash, the
# linter and the simulator agree on what "the same prefix" means.
def _tokens(chars: int, factor: float) -> int:
    """Same arithmetic as tokens.estimate_tokens, on a character count."""
    return math.ceil(chars / CHARS_PER_TOKEN * factor) if chars else 0


def to_sim_request(line: dict, facts: ModelFacts | None = None) -> SimRequest:
    """A Message Batches request line -> the accounting view of it. `facts`: the model's row
    when the caller has its own (the local test server, for a model only its Models API lists)."""
    try:
        params, cid = line["params"], line["custom_id"]
        model = params["model"]
    except (KeyError, TypeError) as exc:
        raise InputError(f"request line has no {exc}: not a Message Batches request") from None
    facts = facts or model_facts(model)
    factor = facts.tokenizer_factor
    digest = hashlib.sha256(model.encode())
    keys, tokens, breakpoints, chars = [], [], [], 0
    for i, block in enumerate(params_blocks(params)):
        text = block_text(block)
        chars += len(text)
        digest.update(b"\x1e" + text.encode())
        keys.append(digest.copy().hexdigest()[:32])
        tokens.append(_tokens(chars, factor))
        cc = block.get("cache_control")
        if cc:
            breakpoints.append(Breakpoint(i, cc.get("ttl", "5m")))
    top = params.get("cache_control")
    if isinstance(top, dict) and keys and (not breakpoints or breakpoints[-1].position != len(keys) - 1):
        breakpoints.append(Breakpoint(len(keys) - 1, top.get("ttl", "5m")))
    return SimRequest(cid, model, keys, tokens, _tokens(chars, factor), breakpoints,
                      int(params.get("max_tokens", 1)), **_thinking_fields(facts, params),
                      min_cache_tokens=facts.min_cache_tokens)


def _thinking_fields(facts: ModelFacts, params: dict) -> dict:
    """Whether this request thinks, at which effort and budget; and its geo and speed."""
    thinking = params.get("thinking") if isinstance(params.get("thinking"), dict) else {}
    kind = thinking.get("type")
    if kind is None and facts.thinks_by_default:
        kind = "adaptive"
    output_config = params.get("output_config") if isinstance(params.get("output_config"), dict) else {}
    effort = output_config.get("effort") or facts.default_effort or "high"
    return {"thinking": kind if kind in ("adaptive", "enabled") else None, "effort": effort,
            "budget_tokens": thinking.get("budget_tokens"), "inference_geo": params.get("inference_geo"),
            "speed": params.get("speed")}


# -- the accounting -----------------------------------------------------------------------------
def account(req: SimRequest, cache: Cache, now: float, rng: random.Random, hit_probability: float) -> Tally:
    """The cache accounting of one request starting at `now`, updating the cache (reads
    refresh, misses write)."""
    minimum = req.min_cache_tokens or model_facts(req.model).min_cache_tokens
    usable = [bp for bp in req.breakpoints if req.tokens[bp.position] >= minimum]
    if not usable:
        return Tally(input_tokens=req.total_tokens)
    hit_pos, hit_entry = -1, None
    for bp in usable:
        for pos in range(bp.position, max(-1, bp.position - LOOKBACK_BLOCKS - 1), -1):
            entry = cache.lookup(req.keys[pos], now)
            if entry is not None and pos > hit_pos:
                hit_pos, hit_entry = pos, entry
                break
    if hit_entry is not None and rng.random() >= hit_probability:
        hit_pos, hit_entry = -1, None  # best effort: this one lands where the entry is not
    read = req.tokens[hit_pos] if hit_pos >= 0 else 0
    if hit_entry is not None:
        ttl = next((bp.ttl for bp in usable if bp.position == hit_pos), usable[-1].ttl)
        hit_entry.expires = now + TTL_SECONDS[ttl]
    later = [bp for bp in usable if bp.position > hit_pos]
    for bp in later:
        cache.write(req.keys[bp.position], now, bp.ttl)
    last_1h = max((bp.position for bp in later if bp.ttl == "1h"), default=None)
    end_1h = req.tokens[last_1h] if last_1h is not None else read
    end = req.tokens[later[-1].position] if later else read
    return Tally(input_tokens=req.total_tokens - end, write_1h=end_1h - read, write_5m=end - end_1h, read=read)


def _output_tokens(req: SimRequest, fill: float, seed: int) -> int:
    """Deterministic per custom_id: around fill x max_tokens, +/-50%."""
    h = _unit(f"{seed}:{req.custom_id}")
    return max(1, min(req.max_tokens, round(req.max_tokens * fill * (0.5 + h))))


# share of the room under max_tokens that thinking takes, by effort; x (0.75..1.25) stays below 1
THINKING_SHARE = {"low": 0.1, "medium": 0.2, "high": 0.35, "xhigh": 0.5, "max": 0.65}


def _thinking_tokens(req: SimRequest, answer: int, seed: int) -> int:
    """Seeded per custom_id, growing with effort; answer + thinking never exceeds max_tokens."""
    if req.thinking is None:
        return 0
    room = max(0, req.max_tokens - answer)
    if req.thinking == "enabled" and isinstance(req.budget_tokens, int):
        room = min(room, req.budget_tokens)
    share = THINKING_SHARE.get(req.effort or "high", THINKING_SHARE["high"])
    return min(room, round(room * share * (0.75 + 0.5 * _unit(f"{seed}:think:{req.custom_id}"))))


def _unit(text: str) -> float:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF


def _usage(req: SimRequest, cache: Cache, now: float, rng: random.Random, hit_probability: float,
           fill: float, seed: int, tier: str) -> Usage:
    """The whole usage object of one request that ran: cache accounting, answer and thinking."""
    tally = account(req, cache, now, rng, hit_probability)
    answer = _output_tokens(req, fill, seed) if req.max_tokens > 0 else 0  # 0: pre-warming, nothing generated
    thinking = _thinking_tokens(req, answer, seed)
    return Usage(input_tokens=tally.input_tokens, output_tokens=answer + thinking,
                 cache_creation_input_tokens=tally.write_5m + tally.write_1h, cache_read_input_tokens=tally.read,
                 cache_write_5m_tokens=tally.write_5m, cache_write_1h_tokens=tally.write_1h, thinking_tokens=thinking,
                 service_tier=tier, inference_geo=req.inference_geo or "global", speed=req.speed or "standard")


def _start_times(n: int, concurrency: int, duration_minutes: float) -> Iterator[float]:
    waves = max(1, math.ceil(n / max(1, concurrency)))
    gap = duration_minutes * 60.0 / waves
    for i in range(n):
        yield (i // max(1, concurrency)) * gap


# -- result lines ---------------------------------------------------------------------------------
SIM_TEXT = "[simulated by cachecast.sim: no model was called]"


def _message(req: SimRequest, usage: Usage, message_id: str) -> dict:
    """A Message object; max_tokens 0 (cache pre-warming) has no content and stops at max_tokens."""
    empty = req.max_tokens == 0
    return {"id": message_id, "type": "message", "role": "assistant", "model": req.model,
            "content": [] if empty else [{"type": "text", "text": SIM_TEXT}],
            "stop_reason": "max_tokens" if empty else "end_turn", "stop_sequence": None, "usage": usage.to_json()}


def _succeeded(req: SimRequest, usage: Usage, n: int) -> dict:
    message_id = f"{SIM_ID_PREFIX}{hashlib.sha256(req.custom_id.encode()).hexdigest()[:12]}{n:06d}"
    return {"custom_id": req.custom_id, "result": {"type": "succeeded", "message": _message(req, usage, message_id)}}


def _errored(cid: str, n: int) -> dict:
    return {"custom_id": cid, "result": {"type": "errored", "error": {
        "type": "error", "error": {"type": "invalid_request_error",
                                   "message": "simulated error (cachecast.sim fault injection)"},
        "request_id": f"req_sim_{n:08d}"}}}


def simulate_lines(requests: Iterable[dict], *, concurrency: int = DEFAULTS["concurrency"],
                   duration_minutes: float = DEFAULTS["duration_minutes"],
                   hit_probability: float = DEFAULTS["hit_probability"], seed: int = DEFAULTS["seed"],
                   output_fill_ratio: float = DEFAULTS["output_fill_ratio"], errored: int = 0, expired: int = 0,
                   errored_fraction: float = 0.0, expired_fraction: float = 0.0, canceled: bool = False,
                   shuffle: bool = False, cache: Cache | None = None, start: float = 0.0,
                   prewarm: bool = False, find: Callable[[str], ModelFacts | None] | None = None) -> list[dict]:
    """Result lines (Message Batches format) for request lines, in processing order.

    The first `errored` requests error and the next `expired` expire (plus seeded random
    fractions); those never ran, so they neither read nor write the cache. `canceled`
    marks every request canceled (a batch canceled before it started). `cache` and `start`
    (seconds on that cache's clock) let a caller share entries across batches and single
    messages, as a workspace's cache is shared; by default each batch starts cold at 0.
    `prewarm` first sends, one second before the batch, one synchronous max_tokens-0 call
    per distinct cached prefix (what `cachecast submit --prewarm` does; see prewarm_cache),
    so the first wave can read: SIMULATED, like everything here."""
    lines = list(requests)
    if prewarm and not canceled:
        cache = Cache() if cache is None else cache
        prewarm_cache(lines, cache=cache, now=start - PREWARM_LEAD_SECONDS, seed=seed)
    rng = random.Random(seed)
    if shuffle:
        rng.shuffle(lines)
    if canceled:
        return [{"custom_id": line["custom_id"], "result": {"type": "canceled"}} for line in lines]
    cache = Cache() if cache is None else cache
    out: list[dict] = []
    starts = _start_times(len(lines), concurrency, duration_minutes)
    for n, (line, offset) in enumerate(zip(lines, starts)):
        now = start + offset
        draw = rng.random()
        if n < errored or (n >= errored + expired and draw < errored_fraction):
            out.append(_errored(line["custom_id"], n))
            continue
        if n < errored + expired or draw >= 1.0 - expired_fraction:
            out.append({"custom_id": line["custom_id"], "result": {"type": "expired"}})
            continue
        req = to_sim_request(line, find(line["params"]["model"]) if find else None)
        out.append(_succeeded(req, _usage(req, cache, now, rng, hit_probability, output_fill_ratio, seed, "batch"), n))
    return out


def simulate_message(params: dict, *, cache: Cache, now: float, message_id: str, seed: int = DEFAULTS["seed"],
                     output_fill_ratio: float = DEFAULTS["output_fill_ratio"], facts: ModelFacts | None = None) -> dict:
    """One synchronous Messages call: a Message object with standard-tier usage.

    Outside batches caching is not best effort (hit probability 1). With max_tokens 0 the
    call only writes the cache (pre-warming): no content, stop_reason "max_tokens". Lengths
    are seeded by the prompt (not the random id), so the same prompt at another effort
    differs only in thinking, and what-ifs compare like with like."""
    req = to_sim_request({"custom_id": message_id, "params": params}, facts)
    req.custom_id = req.keys[-1] if req.keys else message_id
    usage = _usage(req, cache, now, random.Random(seed), 1.0, output_fill_ratio, seed, "standard")
    return _message(req, usage, message_id)


# -- pre-warming (issue 15) -----------------------------------------------------------------------
PREWARM_LEAD_SECONDS = 1.0  # the pre-warm call starts this long before the batch's first wave


def prewarm_cache(requests: Iterable[dict], *, cache: Cache, now: float, seed: int = DEFAULTS["seed"]) -> list[dict]:
    """SIMULATED pre-warm: for each distinct cached prefix (model + the prefix up to the last
    breakpoint), the first request's params as one synchronous call with max_tokens 0,
    cache_control kept, as `cachecast probe --prewarm` sends it. Writes `cache` at `now`;
    returns the Message objects (standard-tier usage: writes, no content) so a caller can
    store their cost as probes."""
    seen: set[tuple[str, str]] = set()
    out: list[dict] = []
    for line in requests:
        req = to_sim_request(line)
        if not req.breakpoints:
            continue
        key = (req.model, req.keys[req.breakpoints[-1].position])
        if key in seen:
            continue
        seen.add(key)
        params = {**line["params"], "max_tokens": 0}
        message_id = f"{SIM_ID_PREFIX}prewarm{hashlib.sha256(key[1].encode()).hexdigest()[:12]}"
        out.append(simulate_message(params, cache=cache, now=now, message_id=message_id, seed=seed))
    return out


def first_wave(requests: Iterable[dict], *, concurrency: int = DEFAULTS["concurrency"], **options: Any) -> dict:
    """The first wave (the first `concurrency` requests) simulated twice, cold and pre-warmed:
    requests that read and that wrote the cache, and tokens read/written. SIMULATED: the
    hit probability is the emulator's best-effort assumption, not a measurement."""
    lines = list(requests)
    wave = lines[:max(1, concurrency)]
    out: dict[str, Any] = {"simulated": True, "concurrency": concurrency, "first_wave_requests": len(wave)}
    for label, warm in (("cold", False), ("prewarmed", True)):
        results = simulate_lines(wave, concurrency=concurrency, prewarm=warm, **options)
        usages = [Usage.from_sdk(r["result"]["message"]["usage"]) for r in results if r["result"]["type"] == "succeeded"]
        out[label] = {"reads": sum(u.cache_read_input_tokens > 0 for u in usages),
                      "writes": sum(u.cache_creation_input_tokens > 0 for u in usages),
                      "read_tokens": sum(u.cache_read_input_tokens for u in usages),
                      "write_tokens": sum(u.cache_creation_input_tokens for u in usages)}
    return out


@dataclass
class SimSummary:
    out: Path
    requests: int
    succeeded: int
    errored: int
    expired: int
    cache_read_input_tokens: int
    cache_creation_input_tokens: int
    input_tokens: int

    @property
    def token_hit_rate(self) -> float:
        prompt = self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens
        return self.cache_read_input_tokens / prompt if prompt else 0.0


def simulate_files(request_files: Iterable[Path], out: Path, **options: Any) -> SimSummary:
    """Simulate one batch made of these request files; write its results JSONL to `out`.

    The file appears only when complete (written to a .part file, then renamed)."""
    requests: list[dict] = []
    for path in request_files:
        with open(path, encoding="utf-8") as fh:
            requests.extend(json.loads(line) for line in fh if line.strip())
    lines = simulate_lines(requests, **options)
    out.parent.mkdir(parents=True, exist_ok=True)
    part = out.with_name(out.name + ".part")
    summary = SimSummary(out, len(lines), 0, 0, 0, 0, 0, 0)
    with open(part, "w", encoding="utf-8") as fh:
        for line in lines:
            fh.write(json.dumps(line) + "\n")
            kind = line["result"]["type"]
            if kind == "succeeded":
                u = Usage.from_sdk(line["result"]["message"]["usage"])
                summary.succeeded += 1
                summary.cache_read_input_tokens += u.cache_read_input_tokens
                summary.cache_creation_input_tokens += u.cache_creation_input_tokens
                summary.input_tokens += u.input_tokens
            elif kind in ("errored", "expired"):
                setattr(summary, kind, getattr(summary, kind) + 1)
    part.replace(out)
    return summary


def simulate_build(build_dir: Path, out: Path, **options: Any) -> SimSummary:
    """Simulate a `cachecast build` directory as one batch (all its shards together)."""
    from ..build.build_files import request_files

    return simulate_files(request_files(Path(build_dir)), out, **options)


def is_simulated(message_id: str | None) -> bool:
    return bool(message_id) and message_id.startswith(SIM_ID_PREFIX)


# -- what-if: expected hit rate by TTL ------------------------------------------------------------
def expected_hit_rates(requests: int, concurrency: int, *, duration_minutes: float = DEFAULTS["duration_minutes"],
                       prefix_tokens: int = 2000, rest_tokens: int = 200, model: str | None = None,
                       hit_probability: float = DEFAULTS["hit_probability"], seed: int = 0,
                       ttls: Iterable[str] = ("5m", "1h")):
    """Expected cache hit rates with each TTL for a batch of `requests` sharing one prefix;
    `model` (it sets the minimum cacheable prefix) defaults to the current default model of
    cachecast.facts (dated data), never a literal that retires.

    Requests run in waves of `concurrency` spread over `duration_minutes`: the first wave
    always misses; a 5m entry also dies when waves are more than 5 minutes apart, a 1h
    entry only when they are more than an hour apart. Returns a pandas DataFrame, one row per TTL."""
    import pandas as pd

    if requests < 1 or concurrency < 1:
        raise InputError("requests and concurrency must be at least 1")
    waves = math.ceil(requests / concurrency)
    model = model or default_model()
    rows = []
    for ttl in ttls:
        if ttl not in TTL_SECONDS:
            raise InputError(f"ttl '{ttl}' is not one of 5m, 1h")
        cache, rng = Cache(), random.Random(seed)
        hits = read = prompt = 0
        for n, now in enumerate(_start_times(requests, concurrency, duration_minutes)):
            req = SimRequest(f"r{n}", model, ["prefix", "rest"], [prefix_tokens, prefix_tokens + rest_tokens],
                             prefix_tokens + rest_tokens, [Breakpoint(0, ttl)], 1)
            usage = account(req, cache, now, rng, hit_probability)
            hits += usage.read > 0
            read += usage.read
            prompt += req.total_tokens
        rows.append({"ttl": ttl, "requests": requests, "concurrency": concurrency, "waves": waves,
                     "minutes_between_waves": round(duration_minutes / waves, 2),
                     "request_hit_rate": round(hits / requests, 4), "token_hit_rate": round(read / prompt, 4),
                     "simulated": True})
    return pd.DataFrame(rows)


def hit_rate_table(runs: Iterable[Any], concurrency: int, **options: Any):
    """`expected_hit_rates` for several runs in one table, with a `run` column first.

    `runs` holds (label, requests) pairs or objects with .label and .requests (projections)."""
    import pandas as pd

    frames = []
    for run in runs:
        label, requests = (run if isinstance(run, tuple) else (run.label, run.requests))
        frame = expected_hit_rates(int(requests), concurrency, **options)
        frame.insert(0, "run", label)
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)
