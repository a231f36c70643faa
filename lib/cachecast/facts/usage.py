"""The usage of one response, as Anthropic bills it: ONE typed object for every part of
cachecast that reads, writes or prices usage (probes, the simulator, the local test server,
the benchmark generator, the pricing tests), mapped from the SDK's types here and nowhere else.

Why one object: the fields that change the bill (cache writes by TTL, thinking, server tool
counters, service tier, speed, inference geo, per-turn iterations) are many, and the API adds
more; spelled out in each reader, a new field would have to be added to all of them.

The mapping follows the SDK (`anthropic.types.beta.BetaUsage`, a superset of
`anthropic.types.Usage`); `tests/test_usage_types.py` checks that every SDK field is either
mapped here or listed in NOT_MAPPED with the reason. Attribute names are the columns of the
store's `results` table (sql/store/schema_v*.sql), so a stored row maps back with from_row().

Per-turn usage (`usage.iterations`, SDK types/beta/beta_iterations_usage.py) is documented
as follows, and cachecast prices it that way (cachecast.facts.pricing.price_usage):
  * SDK BetaUsage.iterations docstring: "A `compaction` entry's tokens are not included in the
    top-level `usage` fields".
  * Advisor tool docs (https://platform.claude.com/docs/en/agents-and-tools/tool-use/advisor-tool,
    "Usage and billing"): "Top-level `usage` fields reflect executor tokens only. Advisor tokens
    are not rolled into the top-level totals ... Iterations with type advisor_message are
    billed at the advisor model's rates, and iterations with type message are billed at the
    executor model's rates." and "Top-level output_tokens is the sum of all executor
    iterations. Top-level input_tokens and cache_read_input_tokens reflect the first executor
    iteration only ... Use usage.iterations for a full per-iteration breakdown when building
    cost-tracking logic."
So the top-level usage under-states what is billed whenever iterations are present.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

# SDK BetaServerToolUsage / ServerToolUsage fields (types/beta/beta_server_tool_usage.py)
SERVER_TOOL_COUNTERS = ("web_search_requests", "web_fetch_requests")
# SDK BetaIterationsUsageItem members (types/beta/beta_iterations_usage.py), by `type`
ITERATION_TYPES = ("message", "advisor_message", "compaction", "fallback_message")
# Sampling turns of the executor (the request's own model, or the fallback model that served
# it: BetaFallbackMessageIterationUsage "carries this type in place of message"). When a
# line's iterations hold one of these, the iterations ARE its usage (advisor docs above).
EXECUTOR_ITERATIONS = ("message", "fallback_message")
# BetaUsage fields that carry no tokens to price (each with the reason), see the module docstring
NOT_MAPPED = {
    "fallback_credit": "the outcome of a fallback_credit_token (non-batch requests only): a re-pricing the "
                       "result line does not quantify; cachecast prices the tokens reported",
}


def _int(value: Any) -> int:
    return int(value) if value is not None else 0


def _opt(value: Any) -> int | None:
    return int(value) if value is not None else None


def write_split(creation: int, w5: int | None, w1: int | None, ttl: str | None = None) -> tuple[int, int]:
    """(5m, 1h) cache-write tokens: usage.cache_creation's breakdown, and any creation it does
    not cover at `ttl` (the TTL the request asked for; 5m when unknown, as the cost view does)."""
    w5, w1 = w5 or 0, w1 or 0
    rest = max(creation - w5 - w1, 0)
    return (w5, w1 + rest) if ttl == "1h" else (w5 + rest, w1)


@dataclass(frozen=True)
class Iteration:
    """One entry of usage.iterations: a sampling turn of the executor, an advisor
    sub-inference, a compaction, or a fallback-model attempt. model None: the line's model."""

    type: str
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_write_5m_tokens: int | None = None
    cache_write_1h_tokens: int | None = None
    model: str | None = None

    @property
    def executor(self) -> bool:
        return self.type in EXECUTOR_ITERATIONS

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Iteration:
        split = raw.get("cache_creation") or {}
        return cls(type=str(raw.get("type")), model=raw.get("model"), input_tokens=_int(raw.get("input_tokens")),
                   output_tokens=_int(raw.get("output_tokens")),
                   cache_creation_input_tokens=_int(raw.get("cache_creation_input_tokens")),
                   cache_read_input_tokens=_int(raw.get("cache_read_input_tokens")),
                   cache_write_5m_tokens=_opt(split.get("ephemeral_5m_input_tokens")),
                   cache_write_1h_tokens=_opt(split.get("ephemeral_1h_input_tokens")))

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type}
        if self.model is not None:
            out["model"] = self.model
        out.update({"input_tokens": self.input_tokens, "cache_creation_input_tokens": self.cache_creation_input_tokens,
                    "cache_read_input_tokens": self.cache_read_input_tokens, "output_tokens": self.output_tokens})
        if self.cache_write_5m_tokens is not None or self.cache_write_1h_tokens is not None:
            out["cache_creation"] = {"ephemeral_5m_input_tokens": self.cache_write_5m_tokens or 0,
                                     "ephemeral_1h_input_tokens": self.cache_write_1h_tokens or 0}
        return out

    def writes(self, ttl: str | None = None) -> tuple[int, int]:
        return write_split(self.cache_creation_input_tokens, self.cache_write_5m_tokens, self.cache_write_1h_tokens,
                           ttl)


@dataclass(frozen=True)
class Usage:
    """usage of one Message (a result line's result.message.usage, or a sync response's)."""

    input_tokens: int
    output_tokens: int  # answer + thinking: the inclusive, authoritative billed total (SDK docstring)
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0
    cache_write_5m_tokens: int | None = None  # usage.cache_creation breakdown; None: the line has none
    cache_write_1h_tokens: int | None = None
    thinking_tokens: int | None = None  # output_tokens_details.thinking_tokens, a part of output_tokens
    service_tier: str | None = None  # standard | priority | batch
    inference_geo: str | None = None
    speed: str | None = None  # standard | fast
    server_tool_use: Mapping[str, int] = field(default_factory=dict)  # every counter the line carries
    iterations: tuple[Iteration, ...] = ()

    # ---------------------------------------------------------------- from the SDK / the store

    @classmethod
    def from_sdk(cls, usage: Any) -> Usage:
        """From the SDK's usage object (types.Usage, types.beta.BetaUsage) or its JSON form
        (a result line's usage, a dict)."""
        raw = usage.model_dump(exclude_none=True) if hasattr(usage, "model_dump") else dict(usage or {})
        split = raw.get("cache_creation") or {}
        details = raw.get("output_tokens_details") or {}
        tools = {str(k): int(v) for k, v in (raw.get("server_tool_use") or {}).items() if v is not None}
        return cls(input_tokens=_int(raw.get("input_tokens")), output_tokens=_int(raw.get("output_tokens")),
                   cache_creation_input_tokens=_int(raw.get("cache_creation_input_tokens")),
                   cache_read_input_tokens=_int(raw.get("cache_read_input_tokens")),
                   cache_write_5m_tokens=_opt(split.get("ephemeral_5m_input_tokens")),
                   cache_write_1h_tokens=_opt(split.get("ephemeral_1h_input_tokens")),
                   thinking_tokens=_opt(details.get("thinking_tokens")), service_tier=raw.get("service_tier"),
                   inference_geo=raw.get("inference_geo"), speed=raw.get("speed"), server_tool_use=tools,
                   iterations=tuple(Iteration.from_json(i) for i in raw.get("iterations") or ()))

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Usage:
        """From a row of the store's `results` table (or a view over it)."""
        import json

        tools = {k: int(row[k]) for k in SERVER_TOOL_COUNTERS if row.get(k) is not None}
        other = row.get("server_tool_other")
        if other:
            tools.update({k: int(v) for k, v in (json.loads(other) if isinstance(other, str) else other).items()})
        iterations = tuple(Iteration(type=i["type"], model=i.get("model"), input_tokens=_int(i["input_tokens"]),
                                     output_tokens=_int(i["output_tokens"]),
                                     cache_creation_input_tokens=_int(i["cache_creation_input_tokens"]),
                                     cache_read_input_tokens=_int(i["cache_read_input_tokens"]),
                                     cache_write_5m_tokens=_opt(i.get("cache_write_5m_tokens")),
                                     cache_write_1h_tokens=_opt(i.get("cache_write_1h_tokens")))
                           for i in row.get("iterations") or ())
        return cls(input_tokens=_int(row["input_tokens"]), output_tokens=_int(row["output_tokens"]),
                   cache_creation_input_tokens=_int(row.get("cache_creation_input_tokens")),
                   cache_read_input_tokens=_int(row.get("cache_read_input_tokens")),
                   cache_write_5m_tokens=_opt(row.get("cache_write_5m_tokens")),
                   cache_write_1h_tokens=_opt(row.get("cache_write_1h_tokens")),
                   thinking_tokens=_opt(row.get("thinking_tokens")), service_tier=row.get("service_tier"),
                   inference_geo=row.get("inference_geo"), speed=row.get("speed"), server_tool_use=tools,
                   iterations=iterations)

    # ---------------------------------------------------------------- to the wire

    def to_json(self) -> dict[str, Any]:
        """The SDK's JSON shape (BetaUsage), absent fields left out: what the API, and so the
        simulator, the local server and the benchmark generator, write in a result line."""
        out: dict[str, Any] = {"input_tokens": self.input_tokens,
                               "cache_creation_input_tokens": self.cache_creation_input_tokens,
                               "cache_read_input_tokens": self.cache_read_input_tokens}
        if self.cache_write_5m_tokens is not None or self.cache_write_1h_tokens is not None:
            out["cache_creation"] = {"ephemeral_5m_input_tokens": self.cache_write_5m_tokens or 0,
                                     "ephemeral_1h_input_tokens": self.cache_write_1h_tokens or 0}
        out["output_tokens"] = self.output_tokens
        if self.thinking_tokens is not None:
            out["output_tokens_details"] = {"thinking_tokens": self.thinking_tokens}
        for name in ("service_tier", "inference_geo", "speed"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        if self.server_tool_use:
            out["server_tool_use"] = dict(self.server_tool_use)
        if self.iterations:
            out["iterations"] = [i.to_json() for i in self.iterations]
        return out

    # ---------------------------------------------------------------- what is billed

    @property
    def prompt_tokens(self) -> int:
        """The whole top-level prompt: input + cache writes + cache reads (FACTS: input_tokens
        counts only the tokens after the last breakpoint)."""
        return self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens

    def writes(self, ttl: str | None = None) -> tuple[int, int]:
        """(5m, 1h) cache-write tokens of the top-level usage (write_split)."""
        return write_split(self.cache_creation_input_tokens, self.cache_write_5m_tokens, self.cache_write_1h_tokens,
                           ttl)

    @property
    def executor_iterations(self) -> bool:
        """True when usage.iterations holds the executor's own sampling turns: then they, not
        the top-level fields, are its usage (see the module docstring)."""
        return any(i.executor for i in self.iterations)

    def counter(self, name: str) -> int:
        return int(self.server_tool_use.get(name, 0))

    def other_counters(self) -> dict[str, int]:
        """server_tool_use counters the SDK types do not name (priced nowhere: listed, never dropped)."""
        return {k: v for k, v in self.server_tool_use.items() if k not in SERVER_TOOL_COUNTERS and v}


def total(usages: Iterable[Usage], name: str) -> int:
    return sum(int(getattr(u, name) or 0) for u in usages)
