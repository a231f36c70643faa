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
from .errors import CacheRuleError, ConfigError
from .models import model_facts
from .tokens import estimate_tokens, estimate_tokens_for_chars

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


def check_sampling(cfg: RunConfig) -> None:
    """Thinking and model sampling rules, checked once per config, naming the config key."""
    model = cfg.provider.model
    if cfg.provider.name != "anthropic":
        return
    facts = model_facts(model)
    non_default = [t for t in cfg.temperatures if t is not None and t != 1.0]
    if facts.fixed_sampling and non_default:
        raise ConfigError(
            f"{cfg.source}: 'temperatures' has {non_default[0]}, but {model} rejects any non-default "
            "temperature; use temperatures: [null]"
        )
    if cfg.thinking is None:
        return
    if non_default:
        raise ConfigError(
            f"{cfg.source}: 'temperatures' has {non_default[0]}, but with 'thinking' on the temperature "
            "must stay at its default 1.0; use temperatures: [1.0] or remove 'thinking'"
        )
    if facts.fixed_sampling and cfg.thinking.type == "enabled":
        raise ConfigError(
            f"{cfg.source}: 'thinking.type' is 'enabled' with budget_tokens, but {model} only takes "
            "adaptive thinking; use thinking: {type: adaptive}"
        )
    if cfg.thinking.type == "adaptive" and cfg.thinking.budget_tokens is not None:
        raise ConfigError(f"{cfg.source}: 'thinking.budget_tokens' is only accepted with thinking.type "
                          "'enabled'; remove it for adaptive thinking")
    if cfg.thinking.type == "enabled" and cfg.thinking.budget_tokens is None:
        raise ConfigError(f"{cfg.source}: 'thinking.budget_tokens' is required when thinking.type is 'enabled'")
    if cfg.thinking.budget_tokens and cfg.thinking.budget_tokens >= cfg.max_tokens:
        raise ConfigError(
            f"{cfg.source}: 'thinking.budget_tokens' ({cfg.thinking.budget_tokens}) must be below "
            f"'max_tokens' ({cfg.max_tokens})"
        )


def build_request(cfg: RunConfig, payload: dict[str, Any], temperature: float | None) -> BuiltRequest:
    return build_requests(cfg, payload, (temperature,))[0]


def build_requests(cfg: RunConfig, payload: dict[str, Any],
                   temperatures: Sequence[float | None]) -> list[BuiltRequest]:
    """One BuiltRequest per temperature. Blocks, breakpoints and the cached prefix do not
    depend on the temperature, so they are worked out once and the requests share them
    (read-only): a run with two temperatures does half the work per (item, treatment)."""
    model = cfg.provider.model
    system, messages = _split_system(payload["messages"])
    tools = [dict(t) for t in payload.get("tools", [])]
    blocks = prefix_order(tools, system, messages)
    caching = cfg.provider.caching_enabled
    if not caching:
        for block in blocks:
            block.pop("cache_control", None)
    elif not any("cache_control" in b for b in blocks) and system:
        system[-1]["cache_control"] = {"type": "ephemeral"}
    _apply_ttl(blocks, cfg.provider.cache.ttl)
    _check_breakpoints(blocks)
    prefix_hash, prefix_tokens, total_tokens, skip = _cached_prefix(blocks, model)
    bps = [b["cache_control"] for b in blocks if "cache_control" in b]
    fixed_sampling = model_facts(model).fixed_sampling
    thinking = cfg.thinking.model_dump(exclude_none=True) if cfg.thinking is not None else None
    built = []
    for temperature in temperatures:
        params: dict[str, Any] = {"model": model, "max_tokens": cfg.max_tokens}
        if system:
            params["system"] = system
        params["messages"] = messages
        if tools:
            params["tools"] = tools
        if temperature is not None and not (fixed_sampling and temperature == 1.0):
            params["temperature"] = temperature
        if thinking is not None:
            params["thinking"] = thinking
        built.append(BuiltRequest(
            params=params,
            breakpoints=len(bps),
            ttl=(bps[-1].get("ttl", "5m") if bps else None),
            prefix_hash=prefix_hash,
            prefix_tokens=prefix_tokens,
            rest_tokens=total_tokens - prefix_tokens,
            cacheable=bool(bps),
            skip_reason=skip,
        ))
    return built


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
        block_ttl = cc.get("ttl", ttl)
        block["cache_control"] = {"type": "ephemeral", "ttl": "1h"} if block_ttl == "1h" else {"type": "ephemeral"}


def _check_breakpoints(blocks: list[dict]) -> None:
    ttls = [b["cache_control"].get("ttl", "5m") for b in blocks if "cache_control" in b]
    if len(ttls) > MAX_BREAKPOINTS:
        raise CacheRuleError(
            f"request has {len(ttls)} cache_control breakpoints; Anthropic accepts at most {MAX_BREAKPOINTS} "
            "(drop the tools or context breakpoint)"
        )
    if not ttl_order_ok(ttls):
        raise CacheRuleError(
            "a 1h cache_control breakpoint comes after a 5m one; longer TTLs must come first in the prefix "
            "(tools -> system -> messages)"
        )


_PREFIX_MEMO: dict[tuple, tuple[str, int]] = {}


def block_text(block: dict) -> str:
    """The text a block contributes to the cache key (non-text blocks as canonical JSON)."""
    if block.get("type") == "text" and isinstance(block.get("text"), str):
        return block["text"]
    return json.dumps({k: v for k, v in block.items() if k != "cache_control"}, sort_keys=True)


def _cached_prefix(blocks: list[dict], model: str) -> tuple[str | None, int, int, str | None]:
    """Drop breakpoints whose prefix is below the model minimum; hash and size the rest.

    Memoised on the prefix texts: across a build the same system prompt repeats thousands
    of times and identical strings hash in O(1) after the first time."""
    minimum = model_facts(model).min_cache_tokens
    texts = [block_text(b) for b in blocks]
    total = estimate_tokens_for_chars(sum(map(len, texts)), model)
    skip = None
    last = -1
    for i, block in enumerate(blocks):
        if "cache_control" not in block:
            continue
        _, tokens = prefix_key(tuple(texts[: i + 1]), model)
        if tokens < minimum:
            del block["cache_control"]
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
