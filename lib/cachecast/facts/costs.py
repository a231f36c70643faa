"""What a usage costs: the ONE cost formula of cachecast, and the pricing of a whole usage
object (cachecast.facts.usage.Usage) with its server-side turns and server tools.

token_cost() is the formula: each token count x its rate (USD per million tokens, from
cachecast.facts.pricing.Rates, every correction already in them), at the long-context rates
when the request's whole prompt exceeds the model's threshold. Everything that prices in
Python calls it: probes, the projection (plan/projection.py request_cost), price_usage. The
SQL view that prices ingested lines (sql/store/views.sql request_costs, macro cc_usd) mirrors
it, and tests/test_cost_paths.py prices generated usages both ways and compares to 1e-9.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Callable

from ..errors import PriceError
from .pricing import MILLION, THOUSAND, Rates, get_rates
from .usage import Usage

ZERO = Decimal(0)
# server_tool_use counter -> the Rates field with its USD per 1,000 (cachecast.facts.usage)
TOOL_RATES = {"web_search_requests": "web_search_per_1k", "web_fetch_requests": "web_fetch_per_1k"}
# How usage.iterations relates to the top-level usage (cachecast.facts.usage, docstring):
#   documented: the advisor tool docs' reading. When the iterations hold the executor's own
#     sampling turns, they ARE the bill: each iteration at its own model's rates, the
#     top-level fields (a restatement of the first executor turn, plus summed output) unpriced.
#     Otherwise (iterations with no executor turn, e.g. a compaction only) the top-level
#     usage plus every iteration.
#   top_level_plus_others: NOT documented, kept so it can be tested and compared: the
#     top-level usage already totals the executor's turns; only the other iterations
#     (advisor_message, compaction) are added.
READINGS = ("documented", "top_level_plus_others")


@dataclass(frozen=True)
class TokenCost:
    """USD by token category (exact Decimal)."""

    input: Decimal = ZERO
    write_5m: Decimal = ZERO
    write_1h: Decimal = ZERO
    read: Decimal = ZERO
    output: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.input + self.write_5m + self.write_1h + self.read + self.output

    def __add__(self, other: TokenCost) -> TokenCost:
        return TokenCost(*(a + b for a, b in zip(self.parts(), other.parts())))

    def parts(self) -> tuple[Decimal, Decimal, Decimal, Decimal, Decimal]:
        return (self.input, self.write_5m, self.write_1h, self.read, self.output)


def token_cost(rates: Rates, *, input: Decimal | int = 0, write_5m: Decimal | int = 0, write_1h: Decimal | int = 0,
               read: Decimal | int = 0, output: Decimal | int = 0, tier_tokens: Decimal | int | None = None) -> TokenCost:
    """THE cost formula: each token count x its rate (USD per million tokens), at the
    long-context rates when the request's whole prompt (`tier_tokens`, by default input +
    writes + reads of this call: Anthropic's `input_tokens` is only what follows the last
    breakpoint) exceeds the model's threshold, a cliff that reprices every token as Anthropic
    bills it. Counts may be fractional: a projection prices means x requests."""
    prompt = tier_tokens if tier_tokens is not None else input + write_5m + write_1h + read
    p_in, p_w5, p_w1, p_read, p_out = rates.tier(int(prompt))
    return TokenCost(input=Decimal(input) * p_in / MILLION, write_5m=Decimal(write_5m) * p_w5 / MILLION,
                     write_1h=Decimal(write_1h) * p_w1 / MILLION, read=Decimal(read) * p_read / MILLION,
                     output=Decimal(output) * p_out / MILLION)


def usage_cost(rates: Rates, *, input_tokens: int, write_5m: int, write_1h: int, read: int, output: int,
               web_search_requests: int = 0) -> Decimal:
    """Exact cost in USD of one request's top-level usage (token_cost, plus web searches)."""
    tokens = token_cost(rates, input=input_tokens, write_5m=write_5m, write_1h=write_1h, read=read,
                        output=output).total
    return tokens + tool_cost(rates, "web_search_requests", web_search_requests)


def tool_cost(rates: Rates, counter: str, uses: int) -> Decimal:
    """A server tool's charge: uses x its USD per 1,000 (TOOL_RATES); PriceError when the line
    used the tool and no rate is known (a silent $0 would hide real spend)."""
    if not uses:
        return ZERO
    rate = getattr(rates, TOOL_RATES[counter])
    if rate is None:
        raise PriceError(f"no {counter.replace('_requests', '').replace('_', ' ')} price for '{rates.model}' "
                         f"({rates.source})")
    return uses * rate / THOUSAND


@dataclass(frozen=True)
class UsageCost:
    """What one usage object costs (price_usage), by part. `own`: the request's own turns
    (the top-level usage, or its executor iterations); `iterations`: the other server-side
    turns (advisor, compaction), each at its own model's rates."""

    own: TokenCost
    iterations: TokenCost
    web_search: Decimal
    web_fetch: Decimal
    thinking: Decimal  # the thinking part of own.output (output_tokens_details), already in it
    no_cache: Decimal  # the same prompt tokens all at the input rate, the same output and tools
    unpriced: dict[str, int] = field(default_factory=dict)  # server_tool_use counters with no rate

    @property
    def total(self) -> Decimal:
        return self.own.total + self.iterations.total + self.web_search + self.web_fetch


def price_usage(usage: Usage, rates: Rates, *, rates_for: Callable[[str], Rates] | None = None,
                ttl: str | None = None, reading: str = "documented") -> UsageCost:
    """The exact cost of one response's usage (cachecast.facts.usage.Usage): the top-level
    usage or its iterations (READINGS), every iteration at its own model's rates, server tools.

    rates: the line's own rates (model, day, tier, speed, geo). rates_for(model): another
    model's rates on the same kind of line; by default get_rates on the same day, tier and geo
    at standard speed (ASSUMED: an advisor or fallback model runs at standard speed whatever
    the executor's; the docs say nothing). Iterations on the line's own model take `rates`.
    ttl: the TTL the request asked for, for cache writes reported without a breakdown.
    A long-context tier is judged per call (each iteration's own prompt): ASSUMED, as each
    iteration is its own inference; undocumented."""
    if reading not in READINGS:
        raise ValueError(f"reading must be one of {READINGS}")

    def of(model: str | None) -> Rates:
        if model is None or model == rates.model:
            return rates
        if rates_for is not None:
            return rates_for(model)
        return get_rates(model, rates.batch, at=rates.priced_on, speed="standard", geo=rates.geo)

    def call(r: Rates, inp: int, creation: int, w5: int, w1: int, read: int, out: int) -> tuple[TokenCost, Decimal]:
        cost = token_cost(r, input=inp, write_5m=w5, write_1h=w1, read=read, output=out)
        prompt = inp + creation + read
        return cost, token_cost(r, input=prompt, output=out, tier_tokens=prompt).total

    top_w5, top_w1 = usage.writes(ttl)
    top, top_no_cache = call(rates, usage.input_tokens, usage.cache_creation_input_tokens, top_w5, top_w1,
                             usage.cache_read_input_tokens, usage.output_tokens)
    own, others, no_cache = TokenCost(), TokenCost(), ZERO
    executor_turns = usage.executor_iterations and reading == "documented"
    if not executor_turns:
        own, no_cache = top, top_no_cache
    for it in usage.iterations:
        if it.executor and not executor_turns:
            continue  # top_level_plus_others: the top-level usage stands for the executor's turns
        w5, w1 = it.writes(ttl)
        cost, plain = call(of(it.model), it.input_tokens, it.cache_creation_input_tokens, w5, w1,
                           it.cache_read_input_tokens, it.output_tokens)
        no_cache += plain
        if it.executor:
            own += cost
        else:
            others += cost
    thinking = token_cost(rates, output=usage.thinking_tokens or 0, tier_tokens=usage.prompt_tokens).output
    search = tool_cost(rates, "web_search_requests", usage.counter("web_search_requests"))
    fetch = tool_cost(rates, "web_fetch_requests", usage.counter("web_fetch_requests"))
    return UsageCost(own=own, iterations=others, web_search=search, web_fetch=fetch, thinking=thinking,
                     no_cache=no_cache + search + fetch, unpriced=usage.other_counters())
