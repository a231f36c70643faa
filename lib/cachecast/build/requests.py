"""Anthropic request builder: payload -> Messages params with correct breakpoints.

The rules enforced here are the ones that silently cost money when broken: a 5th
breakpoint (the API rejects it), a 5m breakpoint before a 1h one, a breakpoint on a prefix
below the model minimum (silently not cached, so a projection counting on it is wrong).
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Sequence

from .config import RunConfig
from ..errors import CacheRuleError
from ..facts.models import model_facts, request_betas
from ..facts.tokenizer import estimate_tokens, estimate_tokens_for_chars

MAX_BREAKPOINTS = 4
PREFIX_SEP = "\x1e"  # joins block texts before hashing, so ["ab", "c"] and ["a", "bc"] differ


@dataclass(frozen=True)
class BuiltRequest:
    params: dict[str, Any]
    breakpoints: int
    ttl: str | None  # ttl of the last breakpoint, None when nothing is cached
    prefix_hash: str | None  # hash of the text up to the last breakpoint
    prefix_tokens: int  # estimated cached part (S)
    rest_tokens: int  # estimated uncached prompt (U)
    cacheable: bool
    skip_reason: str | None


def build_request(cfg: RunConfig, payload: dict[str, Any], temperature: float | None = None) -> BuiltRequest:
    return build_requests(cfg, payload, (temperature,))[0]


def build_requests(cfg: RunConfig, payload: dict[str, Any],
                   temperatures: Sequence[float | None]) -> list[BuiltRequest]:
    """One BuiltRequest per temperature (under 2026-10-21 only None). Blocks, breakpoints and
    the cached prefix do not depend on the temperature, so they are worked out once and the
    requests share them (read-only). The model rules were checked when the config loaded
    (rules.py), so what is built here is what the model accepts."""
    model = cfg.provider.model
    system, messages = _split_system(payload["messages"])
    tools = [dict(t) for t in payload.get("tools", [])]
    blocks = prefix_order(tools, system, messages)
    _place_breakpoints(cfg, blocks, system)
    automatic = _automatic(cfg)
    _check_breakpoints(blocks, automatic)
    prefix_hash, prefix_tokens, total_tokens, skip = _cached_prefix(blocks, model, automatic)
    if automatic and skip and prefix_hash is None:
        automatic = None  # the whole prompt is below the minimum: the top-level marker caches nothing
    marked = [b["cache_control"] for b in blocks if "cache_control" in b]
    on_last = bool(blocks) and "cache_control" in blocks[-1]  # then the automatic marker is a no-op
    bps = marked + ([automatic] if automatic and not on_last else [])
    base = _base_params(cfg, system, messages, tools, automatic)
    facts = model_facts(model)
    built = []
    for temperature in temperatures:
        params = dict(base)
        if temperature is not None and not (facts.fixed_sampling and temperature == 1.0):
            params["temperature"] = temperature
        built.append(BuiltRequest(
            params=params, breakpoints=len(bps), ttl=(bps[-1].get("ttl", "5m") if bps else None),
            prefix_hash=prefix_hash, prefix_tokens=prefix_tokens, rest_tokens=total_tokens - prefix_tokens,
            cacheable=bool(bps), skip_reason=skip))
    return built


def config_betas(cfg: RunConfig) -> list[str]:
    """The anthropic-beta values this config's requests need (facts.models.request_betas:
    output-300k above the synchronous max_tokens; the builder sends no speed). build.json
    records them, so that submit, probe and count send the same headers."""
    if cfg.provider.name != "anthropic":
        return []
    return list(request_betas(model_facts(cfg.provider.model), {"max_tokens": cfg.max_tokens}))


def _place_breakpoints(cfg: RunConfig, blocks: list[dict], system: list[dict]) -> None:
    """Strip breakpoints when caching is off; inject one on the system prompt when none is set."""
    if not cfg.provider.caching_enabled:
        for block in blocks:
            block.pop("cache_control", None)
    elif not any("cache_control" in b for b in blocks) and system:
        system[-1]["cache_control"] = {"type": "ephemeral"}
    _apply_ttl(blocks, cfg.provider.cache.ttl)


def _automatic(cfg: RunConfig) -> dict | None:
    """The top-level cache_control (automatic caching) at the configured TTL, or None.

    The API applies it to the last cacheable block; it is a 400 only when that block has a
    breakpoint of its own with another TTL (breakpoint_rule), and one `ttl` setting keeps them equal."""
    if not cfg.provider.cache.automatic or cfg.provider.name != "anthropic":
        return None
    return _ttl_marker(cfg.provider.cache.ttl)


def _ttl_marker(ttl: str) -> dict:
    return {"type": "ephemeral", "ttl": "1h"} if ttl == "1h" else {"type": "ephemeral"}


def _base_params(cfg: RunConfig, system: list[dict], messages: list[dict], tools: list[dict],
                 automatic: dict | None) -> dict[str, Any]:
    """Messages params in the key order of the API reference; only keys the SDK types declare."""
    params: dict[str, Any] = {"model": cfg.provider.model, "max_tokens": cfg.max_tokens}
    if system:
        params["system"] = system
    params["messages"] = messages
    if tools:
        params["tools"] = tools
    if cfg.thinking is not None:
        params["thinking"] = cfg.thinking.model_dump(exclude_none=True, exclude={"effort"})
        if cfg.thinking.effort is not None:
            params["output_config"] = {"effort": cfg.thinking.effort}
    if automatic is not None:
        params["cache_control"] = automatic
    return params


def _split_system(messages: list[dict[str, Any]]) -> tuple[list[dict], list[dict]]:
    """System turns become the top-level `system` field; blocks are forwarded unchanged."""
    system: list[dict] = []
    rest: list[dict] = []
    for msg in messages:
        content = msg["content"]
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else [dict(b) for b in content]
        if msg["role"] == "system":
            system.extend(blocks)
        else:
            rest.append({"role": msg["role"], "content": blocks})
    return system, rest


def prefix_order(tools: list[dict], system: list[dict], messages: list[dict]) -> list[dict]:
    """Blocks in the order Anthropic builds the cache key: tools -> system -> messages."""
    return [*tools, *system, *(b for m in messages for b in m["content"])]


def params_blocks(params: dict[str, Any]) -> list[dict]:
    """The blocks of built Messages params in prefix order (lint reads requests back with this).

    String content counts as one text block, as the API treats it; anything that is not a
    block is skipped, because lint must describe a malformed file, not crash on it."""
    messages = [{"content": _as_blocks(m.get("content"))} for m in _dicts(params.get("messages"))]
    return prefix_order(_dicts(params.get("tools")), _as_blocks(params.get("system")), messages)


def _as_blocks(content: Any) -> list[dict]:
    return [{"type": "text", "text": content}] if isinstance(content, str) else _dicts(content)


def _dicts(value: Any) -> list[dict]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def ttl_order_ok(ttls: list[str]) -> bool:
    """Longer TTLs must come first: no 1h breakpoint may follow a 5m one."""
    return not ("5m" in ttls and "1h" in ttls[ttls.index("5m"):])


def _apply_ttl(blocks: list[dict], ttl: str) -> None:
    for block in blocks:
        cc = block.get("cache_control")
        if cc is None:
            continue
        block["cache_control"] = _ttl_marker(cc.get("ttl", ttl))


def breakpoint_rule(explicit: list[str], last_marked: str | None, top: str | None) -> tuple[str, str] | None:
    """(lint code, the API's message) for a breakpoint layout the API rejects, or None.

    `explicit`: the TTLs of block-level breakpoints in prefix order; `last_marked`: the TTL
    of the last block's own marker (None when it has none); `top`: the TTL of the
    top-level (automatic) cache_control, None when absent. The prompt-caching docs
    (Automatic caching > Edge cases): the automatic breakpoint goes on the last cacheable
    block and takes one of the 4 slots; on a last block that already has the same TTL it is
    a no-op; a different TTL there is a 400; with 4 explicit breakpoints it is a 400 (no
    slot left). An unmarked last block simply gets it, so a 5m automatic breakpoint after
    an explicit 1h one is fine; 1h entries must still come before 5m ones (Mixing TTLs)."""
    ttls = list(explicit)
    if top is not None:
        if len(explicit) >= MAX_BREAKPOINTS:
            return ("too-many-breakpoints", f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be "
                    f"provided. Found {len(explicit) + 1} (automatic caching needs a free slot).")
        if last_marked is not None and last_marked != top:
            return ("automatic-ttl-mismatch", f"cache_control: the top-level cache_control ttl '{top}' differs from "
                    f"the ttl '{last_marked}' of the last block, which has its own cache_control")
        if last_marked is None:
            ttls.append(top)
    if len(ttls) > MAX_BREAKPOINTS:
        return ("too-many-breakpoints",
                f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {len(ttls)}.")
    if not ttl_order_ok(ttls):
        return "ttl-order", "a cache_control block with ttl '1h' must not come after one with ttl '5m'"
    return None


def cache_control_problem(params: dict[str, Any]) -> str | None:
    """The API's message for built params whose breakpoints it rejects (local server, probe)."""
    blocks = params_blocks(params)
    explicit = [_ttl(b["cache_control"]) for b in blocks if isinstance(b.get("cache_control"), dict)]
    last = blocks[-1].get("cache_control") if blocks else None
    top = params.get("cache_control")
    found = breakpoint_rule(explicit, _ttl(last) if isinstance(last, dict) else None,
                            _ttl(top) if isinstance(top, dict) else None)
    return found[1] if found else None


def _ttl(marker: dict) -> str:
    return marker.get("ttl", "5m")


def _check_breakpoints(blocks: list[dict], automatic: dict | None = None) -> None:
    explicit = [_ttl(b["cache_control"]) for b in blocks if "cache_control" in b]
    last = blocks[-1].get("cache_control") if blocks else None
    found = breakpoint_rule(explicit, _ttl(last) if last else None, _ttl(automatic) if automatic else None)
    if found is None:
        return
    code, _ = found
    if code == "too-many-breakpoints":
        count = len(explicit) + (1 if automatic is not None else 0)
        raise CacheRuleError(
            f"request has {count} cache_control breakpoints; Anthropic accepts at most {MAX_BREAKPOINTS} "
            "(drop the tools or context breakpoint, or automatic caching, which takes one slot)")
    if code == "automatic-ttl-mismatch":
        raise CacheRuleError("the top-level (automatic) cache_control TTL differs from the TTL of the last block's "
                             "own breakpoint; the API rejects that (use one ttl)")
    raise CacheRuleError(
        "a 1h cache_control breakpoint comes after a 5m one; longer TTLs must come first in the prefix "
        "(tools -> system -> messages)")


_PREFIX_MEMO: dict[tuple, tuple[str, int]] = {}


def block_text(block: dict) -> str:
    """The text a block contributes to the cache key (non-text blocks as canonical JSON)."""
    if block.get("type") == "text" and isinstance(block.get("text"), str):
        return block["text"]
    return json.dumps({k: v for k, v in block.items() if k != "cache_control"}, sort_keys=True)


def _cached_prefix(blocks: list[dict], model: str,
                   automatic: dict | None = None) -> tuple[str | None, int, int, str | None]:
    """Drop breakpoints whose prefix is below the model minimum; hash and size the rest.

    With automatic caching the last block is a breakpoint too (the API puts the top-level
    marker there). Memoised on the prefix texts: across a build the same system prompt
    repeats thousands of times and identical strings hash in O(1) after the first time."""
    minimum = model_facts(model).min_cache_tokens
    texts = [block_text(b) for b in blocks]
    total = estimate_tokens_for_chars(sum(map(len, texts)), model)
    skip = None
    last = -1
    for i, block in enumerate(blocks):
        if "cache_control" not in block and not (automatic is not None and i == len(blocks) - 1):
            continue
        _, tokens = prefix_key(tuple(texts[: i + 1]), model)
        if tokens < minimum:
            block.pop("cache_control", None)
            skip = (f"cached prefix is ~{tokens} tokens (estimate), below the {minimum}-token minimum "
                    f"for {model}; breakpoint skipped because Anthropic would not cache this prefix")
        else:
            last = i
    if last < 0:
        return None, 0, total, skip
    digest, tokens = prefix_key(tuple(texts[: last + 1]), model)
    return digest, tokens, total, None


def prefix_digest(texts: tuple[str, ...]) -> str:
    """The manifest's prefix_hash: 16 hex of sha256 over the block texts up to a breakpoint."""
    return hashlib.sha256(PREFIX_SEP.join(texts).encode()).hexdigest()[:16]


def prefix_key(texts: tuple[str, ...], model: str) -> tuple[str, int]:
    """(prefix hash, estimated tokens) of the blocks up to a breakpoint, memoised."""
    key = (model, texts)
    hit = _PREFIX_MEMO.get(key)
    if hit is None:
        if len(_PREFIX_MEMO) > 256:
            _PREFIX_MEMO.clear()
        hit = _PREFIX_MEMO[key] = (prefix_digest(texts), estimate_tokens("".join(texts), model))
    return hit
