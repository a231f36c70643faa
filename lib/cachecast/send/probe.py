"""The synchronous probe in front of a batch: validate every request shape now, optionally pre-warm.

Why (FACTS.md): the Message Batches API validates each request's params asynchronously, so
a wrong parameter comes back as thousands of `errored` lines hours later; and a cache entry
is readable only once the response that wrote it has begun, so a batch's whole first wave
pays the write premium. Per distinct request shape, in this order (probe_checks has the
first three, which are free):

1. `count_tokens` with the request as it will be sent, cache_control included;
2. cachecast's batch rules no synchronous call can show (max_tokens below 1, stream, speed;
   the breakpoint rules, in case count_tokens does not apply them: undocumented);
3. the Models API's max_tokens for the model against the request's max_tokens;
4. one ordinary `messages.create`, validated at once, with `max_tokens: 0` so nothing is
   generated. With --prewarm it keeps the build's real cached prefix and TTL, so the
   prefix is written before the batch starts; without, every cache_control marker is
   removed (steps 1 and 2 checked them), so it only validates.

`max_tokens: 0` with adaptive thinking on a model that cannot turn thinking off is not
shown by the docs to be accepted: a 400 on that shape means "pre-warm not possible for this
shape" (status prewarm_refused), said so, and the batch goes ahead; steps 1-3 still
validated it. Every call sends the build's anthropic-beta values (build.json).

A shape is everything the API validates that is not message text: model, API version,
thinking + output_config, tools, every other param (max_tokens, tool_choice, ...), where
the cache breakpoints are and which block types are sent, and the cached prefix (the
manifest's prefix_hash). The probe sends the shape's first request. `max_tokens: 0` is not
possible with thinking type "enabled" (budget_tokens must be < max_tokens): there it sends
the smallest request the shape allows, max_tokens = budget_tokens + 1 (or the request's
own max_tokens if that is smaller, so an invalid budget is still rejected as it would be);
nor with a forced tool_choice or structured outputs, which demand output: there it sends
max_tokens 1 (one output token billed).

Probes are billed at STANDARD rates (not batch): the projected cost is shown before they
are sent and counted by the budget gate; each probe's usage and exact cost is stored in
the store's `probes` table (schema_v4.sql), which the audit and the ledger read.
"""
from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterable

from ..errors import CachecastError, InputError
from ..build.requests import params_blocks
from . import probe_checks

SHOWN_IDS = 5  # custom_ids named in a rejection (then "and N more")
FILE = "send/probe.sql"


class ProbeError(CachecastError):
    """The API rejected a probe: the batch would have errored; nothing was submitted."""


@dataclass
class Shape:
    key: str
    model: str
    api_version: str
    params: dict  # the shape's first request's params, as built
    custom_ids: list[str] = field(default_factory=list)
    prefix_hash: str | None = None
    ttl: str | None = None  # the TTL of the cached prefix (None: nothing cached)
    est_prefix_tokens: int = 0
    est_rest_tokens: int = 0

    @property
    def first_custom_id(self) -> str:
        return self.custom_ids[0]

    def describe(self) -> str:
        """A few words a person recognises: model, thinking, effort, API version."""
        thinking = (self.params.get("thinking") or {}).get("type", "default")
        effort = (self.params.get("output_config") or {}).get("effort")
        return (f"{self.model}, thinking {thinking}{', effort ' + effort if effort else ''}, "
                f"anthropic-version {self.api_version}")

    def ids_text(self) -> str:
        shown = ", ".join(self.custom_ids[:SHOWN_IDS])
        more = len(self.custom_ids) - SHOWN_IDS
        return f"{len(self.custom_ids):,} request(s) share this shape: {shown}{f' and {more:,} more' if more > 0 else ''}"


@dataclass
class ProbeResult:
    shape: Shape
    prewarm: bool
    max_tokens: int
    status: str  # "ok" | "rejected"
    cost_usd: Decimal = Decimal(0)
    usage: dict = field(default_factory=dict)
    message_id: str | None = None
    error_message: str | None = None
    price_source: str | None = None
    error_status: int | None = None  # HTTP status of a rejection (400, 404, 422); None for cachecast's own rule
    stage: str | None = None  # what rejected it: "batch rules", "count_tokens", "max_tokens", "messages.create"
    validated: list[str] = field(default_factory=list)  # the checks it passed, in order

    def reject(self, stage: str, status: int | None, message: str) -> "ProbeResult":
        self.status, self.stage, self.error_status, self.error_message = "rejected", stage, status, message
        return self

    def as_json(self) -> dict:
        from ..facts.money import usd

        return {"shape_key": self.shape.key, "model": self.shape.model, "api_version": self.shape.api_version,
                "prefix_hash": self.shape.prefix_hash, "prewarm": self.prewarm, "requests": len(self.shape.custom_ids),
                "custom_ids": self.shape.custom_ids[:SHOWN_IDS], "probe_custom_id": self.shape.first_custom_id,
                "max_tokens": self.max_tokens, "status": self.status, "error_message": self.error_message,
                "rejected_by": self.stage, "validated": self.validated,
                "message_id": self.message_id, "usage": self.usage, "cost_usd": usd(self.cost_usd),
                "price_source": self.price_source}


# -- shapes ---------------------------------------------------------------------------------------
def shape_key(params: dict, api_version: str, prefix_hash: str | None) -> str:
    """16 hex over what the API validates, without message text (see the module docstring)."""
    other = {k: v for k, v in params.items() if k not in ("messages", "system")}
    skeleton = sorted({(m.get("role", "system") if isinstance(m, dict) else "?", b.get("type", "text"))
                       for m, b in _blocks_with_role(params)})
    markers = [b["cache_control"] for b in params_blocks(params) if isinstance(b.get("cache_control"), dict)]
    text = json.dumps({"version": api_version, "params": other, "blocks": skeleton, "breakpoints": markers,
                       "prefix": prefix_hash}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _blocks_with_role(params: dict) -> Iterable[tuple[dict, dict]]:
    system = params.get("system")
    for block in system if isinstance(system, list) else []:
        if isinstance(block, dict):
            yield {"role": "system"}, block
    for message in params.get("messages") or []:
        content = message.get("content") if isinstance(message, dict) else None
        for block in content if isinstance(content, list) else [{"type": "text"}]:
            if isinstance(block, dict):
                yield message, block


def shapes(build_dir: Path, api_version: str) -> list[Shape]:
    """The distinct request shapes of a build, each with every custom_id that has it, in file order."""
    from ..build.batches import read_manifest
    from ..build.build_files import request_files

    manifest = {row["custom_id"]: row for row in read_manifest(Path(build_dir))}
    found: dict[str, Shape] = {}
    for path in request_files(Path(build_dir)):
        with open(path, encoding="utf-8") as fh:
            for raw in fh:
                if raw.strip():
                    _add(found, json.loads(raw), manifest, api_version)
    if not found:
        raise InputError(f"{build_dir}: no requests to probe; probe takes a directory made by cachecast build")
    return list(found.values())


def _add(found: dict[str, Shape], line: dict, manifest: dict[str, dict], api_version: str) -> None:
    params, cid = line["params"], line["custom_id"]
    row = manifest.get(cid) or {}
    prefix = row.get("prefix_hash") if row.get("cacheable", True) else None
    key = shape_key(params, api_version, prefix)
    shape = found.get(key)
    if shape is None:
        shape = found[key] = Shape(key, params["model"], api_version, params, prefix_hash=prefix,
                                   ttl=_prefix_ttl(params) if prefix else None,
                                   est_prefix_tokens=int(row.get("est_prefix_tokens") or 0),
                                   est_rest_tokens=int(row.get("est_rest_tokens") or 0))
    shape.custom_ids.append(cid)


def _prefix_ttl(params: dict) -> str | None:
    """The TTL of the last breakpoint (top-level automatic caching included)."""
    ttls = [b["cache_control"].get("ttl", "5m") for b in params_blocks(params) if isinstance(b.get("cache_control"), dict)]
    top = params.get("cache_control")
    if isinstance(top, dict):
        ttls.append(top.get("ttl", "5m"))
    return ttls[-1] if ttls else None


# -- the request sent -----------------------------------------------------------------------------
def probe_params(params: dict, prewarm: bool) -> dict:
    """The shape's first request as one synchronous call: max_tokens 0 where the model accepts
    it (the smallest valid request with thinking "enabled"); no cache_control unless pre-warming."""
    sent = copy.deepcopy(params)
    if not prewarm:
        strip_cache_control(sent)
    sent["max_tokens"] = probe_max_tokens(params)
    return sent


def probe_max_tokens(params: dict) -> int:
    from ..facts.request_rules import forced_tool_choice, structured_output

    thinking = params.get("thinking") if isinstance(params.get("thinking"), dict) else {}
    if thinking.get("type") != "enabled":
        return 1 if forced_tool_choice(params) or structured_output(params) else 0
    budget, own = thinking.get("budget_tokens"), params.get("max_tokens")
    if isinstance(budget, int) and not isinstance(budget, bool) and isinstance(own, int):
        return min(own, budget + 1)
    return own if isinstance(own, int) else 1


def strip_cache_control(params: dict) -> None:
    """Remove every breakpoint (and top-level automatic caching): a validation probe writes nothing."""
    params.pop("cache_control", None)
    for block in params_blocks(params):
        block.pop("cache_control", None)


def _sdk_kwargs(method: Any, params: dict) -> dict:
    """Params the SDK method names go as arguments, the rest (e.g. temperature on
    2023-06-01) in extra_body, so the API, not the SDK's signature, judges them."""
    import inspect

    named = set(inspect.signature(method).parameters)
    kwargs = {k: v for k, v in params.items() if k in named}
    extra = {k: v for k, v in params.items() if k not in named}
    return {**kwargs, "extra_body": extra} if extra else kwargs


# -- money ----------------------------------------------------------------------------------------
def projected_cost(shape: Shape, prewarm: bool, overrides: Path | None = None) -> Decimal:
    """What one probe should cost at standard rates, from the manifest's token estimates: the
    prompt as input (pre-warm: the prefix as a write at its TTL), output only with thinking
    "enabled" (the smallest valid request, priced as if it used all of it)."""
    from ..facts.costs import usage_cost
    from ..facts.pricing import get_rates

    sent = probe_params(shape.params, prewarm)
    rates = get_rates(shape.model, False, overrides, speed=sent.get("speed"), geo=sent.get("inference_geo"))
    prefix, rest = shape.est_prefix_tokens, shape.est_rest_tokens
    writes = prewarm and shape.ttl is not None
    return usage_cost(rates, input_tokens=rest + (0 if writes else prefix),
                      write_5m=prefix if writes and shape.ttl == "5m" else 0,
                      write_1h=prefix if writes and shape.ttl == "1h" else 0, read=0, output=sent["max_tokens"])


def projected_total(found: list[Shape], prewarm: bool, overrides: Path | None = None) -> Decimal:
    return sum((projected_cost(s, prewarm, overrides) for s in found), Decimal(0))


def usage_cost_of(shape: Shape, usage: dict, ttl_sent: str | None, overrides: Path | None = None) -> tuple[Decimal, str]:
    """Exact cost of a probe's reported usage at standard rates (not batch), and the rates' source:
    the one usage object (cachecast.facts.usage) priced by cachecast.facts.costs.price_usage, so a
    probe's server-side turns and server tools are priced as an ingested line's are."""
    from ..facts.costs import price_usage
    from ..facts.pricing import get_rates
    from ..facts.usage import Usage

    rates = get_rates(shape.model, False, overrides, speed=usage.get("speed"), geo=_geo(usage.get("inference_geo")))
    return price_usage(Usage.from_sdk(usage), rates, ttl=ttl_sent).total, rates.source


def _geo(value: Any) -> str:
    return "global" if value in (None, "global", "not_available") else str(value)


def _split_writes(usage: dict, ttl_sent: str | None) -> tuple[int, int]:
    """5m and 1h writes from usage.cache_creation; without the breakdown, at the TTL sent."""
    from ..facts.usage import Usage

    return Usage.from_sdk(usage).writes(ttl_sent)


# -- sending --------------------------------------------------------------------------------------
def send(client: Any, found: list[Shape], *, prewarm: bool, overrides: Path | None = None,
         log: Callable[[str], None] = print, betas: tuple[str, ...] = (),
         into: list[ProbeResult] | None = None) -> list[ProbeResult]:
    """One round of checks per shape, in order, ending at the first rejection (its result is
    the last one returned, status "rejected"), since nothing will be submitted; the caller
    stores them all either way (the accepted ones were billed). Results are appended to
    `into` as they come, so a call that fails later (the API not answering) leaves the
    earlier ones to be stored."""
    results: list[ProbeResult] = into if into is not None else []
    caps: dict[str, Any] = {}  # model -> its Models API row, one retrieve per model
    for i, shape in enumerate(found, 1):
        result = send_one(client, shape, prewarm=prewarm, overrides=overrides, betas=betas, caps=caps)
        results.append(result)
        if result.status == "rejected":
            break
        head = f"probe {i}/{len(found)} ({shape.describe()}, {len(shape.custom_ids):,} requests)"
        if result.status == "prewarm_refused":
            log(f"warning: {head}: pre-warm not possible for this shape: the API refused max_tokens 0 with adaptive "
                f"thinking on {shape.model}, which cannot turn thinking off ({result.error_status}: "
                f"{result.error_message}); {', '.join(result.validated)} validated it, and its batch goes ahead "
                "without a pre-warm")
            continue
        log(f"{head}: accepted ({', '.join(result.validated)}); {_usage_text(result.usage)}; "
            f"${result.cost_usd:.6f} at standard rates")
    return results


def send_one(client: Any, shape: Shape, *, prewarm: bool, overrides: Path | None = None,
             betas: tuple[str, ...] = (), caps: dict[str, Any] | None = None) -> ProbeResult:
    import anthropic

    from .._bounds import check_usage
    from .api import _message, api_errors

    sent = probe_params(shape.params, prewarm)
    result = ProbeResult(shape, prewarm, sent["max_tokens"], "ok")
    rejected = (anthropic.BadRequestError, anthropic.NotFoundError, anthropic.UnprocessableEntityError)
    kept = "probes answered before it are stored; no batch was created"
    with api_errors(f"probing {shape.first_custom_id}", kept):  # 401, 429, 5xx, network, deadline: one sentence
        try:
            client.messages.count_tokens(**_sdk_kwargs(client.messages.count_tokens,
                                                       probe_checks.count_params(shape.params)))
        except rejected as exc:
            return result.reject("count_tokens", exc.status_code, _message(exc))
        result.validated.append("count_tokens with cache_control")
        problem = probe_checks.local_problem(shape.params)
        if problem:
            return result.reject("cachecast's batch rules", None, problem)
        result.validated.append("cachecast's batch rules")
        try:
            cap, where = probe_checks.model_cap(client, shape.model, betas, caps if caps is not None else {})
        except anthropic.NotFoundError as exc:
            return result.reject("max_tokens", exc.status_code, f"the Models API does not list {shape.model}: "
                                 f"{_message(exc)}")
        own = shape.params.get("max_tokens")
        if cap is not None and isinstance(own, int) and own > cap:
            return result.reject("max_tokens", None, f"max_tokens {own:,} is above {cap:,}, {where}")
        result.validated.append(f"max_tokens against {where}")
        try:
            message = client.messages.create(**_sdk_kwargs(client.messages.create, sent))
        except rejected as exc:
            if exc.status_code == 400 and sent["max_tokens"] == 0 and probe_checks.always_thinks(shape.params):
                result.status, result.error_status, result.error_message = "prewarm_refused", 400, _message(exc)
                return result
            return result.reject("messages.create", exc.status_code, _message(exc))
    result.validated.append("messages.create")
    result.message_id = getattr(message, "id", None)
    usage = message.usage.model_dump() if getattr(message, "usage", None) is not None else {}
    # a negative or absurd count would be stored as a negative probe cost and lower the ledger's spend
    check_usage(usage, f"probing {shape.first_custom_id}", kept)
    result.usage = {k: v for k, v in usage.items() if v is not None}
    result.cost_usd, result.price_source = usage_cost_of(shape, result.usage, shape.ttl if prewarm else None, overrides)
    return result


def _usage_text(usage: dict) -> str:
    return (f"input {int(usage.get('input_tokens') or 0):,}, cache write "
            f"{int(usage.get('cache_creation_input_tokens') or 0):,}, read "
            f"{int(usage.get('cache_read_input_tokens') or 0):,}, output {int(usage.get('output_tokens') or 0):,}")


def rejections(results: list[ProbeResult], total: int) -> list[ProbeError]:
    """One one-sentence error per rejected probe (the API's own message, or cachecast's rule)."""
    return [ProbeError(f"probe of shape {i} of {total} ({r.shape.describe()}): {_who(r)} rejected the request: "
                       f"{r.error_message}; {r.shape.ids_text()}; no batch was created (fix the config and rebuild)")
            for i, r in enumerate(results, 1) if r.status == "rejected"]


def _who(r: ProbeResult) -> str:
    if r.error_status is None:
        return r.stage or "cachecast"
    return f"the API ({r.stage}, {r.error_status})"


# -- the store ------------------------------------------------------------------------------------
def manifest_id(build_dir: Path) -> str | None:
    """The id ingest gives this build's manifest, so probes join batches.manifest_id."""
    from ..store.ingest import content_id

    path = Path(build_dir) / "manifest.jsonl"
    return "m-" + content_id(path)[:16] if path.is_file() else None


def record(db: Path, build_dir: Path, results: list[ProbeResult]) -> None:
    """Store each probe (answered or rejected) in the `probes` table, in one transaction."""
    from .. import store
    from .sim import is_simulated

    if not results:
        return
    mid = manifest_id(build_dir)
    conn = store.connect(Path(db))
    try:
        with store.transaction(conn):
            for r in results:
                conn.execute(store.query(FILE, "insert_probe"), _row(r, build_dir, mid, is_simulated(r.message_id)))
    finally:
        conn.close()


def _row(r: ProbeResult, build_dir: Path, mid: str | None, simulated: bool) -> dict:
    from ..store import utcnow

    u = r.usage
    w5, w1 = _split_writes(u, r.shape.ttl if r.prewarm else None) if u else (None, None)
    return {"build_dir": str(build_dir), "manifest_id": mid, "shape_key": r.shape.key,
            "prefix_hash": r.shape.prefix_hash, "model": r.shape.model, "api_version": r.shape.api_version,
            "prewarm": r.prewarm, "ttl": r.shape.ttl if r.prewarm else None, "custom_ids": r.shape.custom_ids,
            "requests": len(r.shape.custom_ids), "probe_custom_id": r.shape.first_custom_id,
            "max_tokens": r.max_tokens, "status": r.status, "error_message": r.error_message,
            "message_id": r.message_id, "simulated": simulated,
            "input_tokens": u.get("input_tokens"), "cache_creation_input_tokens": u.get("cache_creation_input_tokens"),
            "cache_write_5m_tokens": w5, "cache_write_1h_tokens": w1,
            "cache_read_input_tokens": u.get("cache_read_input_tokens"), "output_tokens": u.get("output_tokens"),
            "cost_usd": r.cost_usd, "price_source": r.price_source, "sent_at": utcnow()}


# -- the whole step -------------------------------------------------------------------------------
@dataclass
class ProbeRun:
    shapes: list[Shape]
    prewarm: bool
    projected_usd: Decimal
    results: list[ProbeResult] = field(default_factory=list)

    @property
    def cost_usd(self) -> Decimal:
        return sum((r.cost_usd for r in self.results), Decimal(0))

    def as_json(self) -> dict:
        from ..facts.money import usd

        return {"shapes": len(self.shapes), "prewarm": self.prewarm, "projected_cost_usd": usd(self.projected_usd),
                "cost_usd": usd(self.cost_usd), "rates": "standard (not batch)",
                "probes": [r.as_json() for r in self.results]}


def plan(build_dir: Path, api_version: str, *, prewarm: bool, overrides: Path | None = None) -> ProbeRun:
    """The shapes and the probes' projected cost, before anything is sent."""
    found = shapes(build_dir, api_version)
    return ProbeRun(found, prewarm, projected_total(found, prewarm, overrides))


def plan_line(run: ProbeRun) -> str:
    what = "validate and pre-warm" if run.prewarm else "validate"
    return (f"probe: {len(run.shapes)} request shape(s) to {what}: count_tokens and the Models API (free), then one "
            f"synchronous call each; projected ${run.projected_usd:.6f} at standard rates (not batch)")


def execute(client: Any, run: ProbeRun, build_dir: Path, db: Path | None, *, overrides: Path | None = None,
            log: Callable[[str], None] = print) -> ProbeRun:
    """Send the planned probes and store them (even when one is rejected: the others were
    billed); then raise ProbeError for the first rejection. No override: the API has just
    refused those requests, so a batch of them would only come back errored. A shape whose
    max_tokens-0 call was refused for adaptive thinking (prewarm_refused) is not a rejection."""
    from ..build.build_files import build_betas

    run.results = []
    try:
        send(client, run.shapes, prewarm=run.prewarm, overrides=overrides, log=log, betas=build_betas(build_dir),
             into=run.results)
    finally:  # the probes answered so far were billed: stored even when a later one fails
        if db is not None:
            record(db, build_dir, run.results)
    problems = rejections(run.results, len(run.shapes))
    if problems:
        raise problems[0]
    return run
