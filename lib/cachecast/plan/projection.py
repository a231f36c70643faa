"""Pilot and full-run spend for cache scenarios, break-even hit rates and the budget verdict.

Cost model (DESIGN.md), per request with cached prefix S, rest U and output O tokens, at
the model's rates (batch rates when the run goes through the Batch API):
    no cache:  (S + U) x input + O x output
    hit:        S x read + U x input + O x output
    miss:       S x write(ttl) + U x input + O x output
A scenario with hit rate h prices h of the requests as hits and (1 - h) as misses. The
arithmetic is exact Decimal; floats appear only in the JSON output.

O is the answer plus thinking: every 5.x model thinks by default and thinking tokens are
billed as output, so the thinking share T of O is its own cost component. T comes from
`--thinking-tokens`, an audited pilot's thinking_tokens, or the dated planning assumption
per effort level in data/price_corrections.yaml (the model's default effort from
cachecast.facts.models unless the config's `thinking.effort` says otherwise). `--output-tokens O`
given alone is the whole output, thinking included, so a pinned projection stays a hand
formula.

Three budget figures (cachecast.plan.budget): the ceiling (every request writes the prefix
at the configured TTL, none reads, every output reaches max_tokens), the worst expected
(the same cache worst case at the expected output: concurrent requests all miss, so this
can happen) and the expected. The budget is judged on the worst expected, or on the
ceiling with budget_basis "ceiling".

`project_costs` takes plain numbers (requests, S, U, O, rates) so it is easy to test and
to call from a notebook; `token_profile` gathers those numbers from a config, the API or
an audited pilot (cachecast.plan.calibration). Pre-warming's expected saving is in
cachecast.plan.prewarm.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable

from ..build.config import RunConfig
from ..errors import ConfigError, InputError
from ..facts.models import model_facts
from ..facts.pricing import Rates, get_rates
from .calibration import PilotObservation
from .prewarm import prewarm_json
from .budget import DEFAULT_BASIS, check_basis, figures

TTLS = ("5m", "1h")
# Anthropic reports batch cache hit rates "ranging from 30% to 98%" (FACTS.md); the middle
# value is our planning assumption for a shared prefix with the 1h TTL, not a documented one.
DEFAULT_HIT_RATES: dict[str, Decimal] = {
    "pessimistic": Decimal("0.30"), "expected": Decimal("0.80"), "optimistic": Decimal("0.98")}
COMPONENTS = ("uncached_input", "cache_writes", "cache_reads", "output", "thinking")


@dataclass(frozen=True)
class TokenProfile:
    """Tokens per request: S (cached prefix), U (rest of the prompt, mean), O (all output,
    mean, thinking included) and T (the thinking part of O, mean)."""

    system: int
    user_mean: Decimal
    output_mean: Decimal
    source: str  # "exact" | "estimate" | "override" | "calibrated"
    sources: dict[str, str] = field(default_factory=dict)  # per component, for the reader
    notes: tuple[str, ...] = ()
    thinking_mean: Decimal = Decimal(0)


@dataclass(frozen=True)
class Cost:
    """Dollars by component; `total` is their sum. `output` is the answer, `thinking` the
    thinking tokens (billed at the output rate too)."""

    uncached_input: Decimal
    cache_writes: Decimal
    cache_reads: Decimal
    output: Decimal
    thinking: Decimal = Decimal(0)

    @property
    def total(self) -> Decimal:
        return self.uncached_input + self.cache_writes + self.cache_reads + self.output + self.thinking

    def as_dict(self) -> dict[str, Decimal]:
        return {c: getattr(self, c) for c in COMPONENTS}


@dataclass(frozen=True)
class Scenario:
    name: str
    ttl: str
    hit_rate: Decimal
    cost: Cost
    savings: Decimal
    savings_pct: Decimal  # 0-100


@dataclass(frozen=True)
class Projection:
    model: str
    items: int
    requests: int
    batch: bool
    tokens: TokenProfile
    cacheable: bool
    reason: str | None
    no_cache: Cost
    scenarios: list[Scenario]
    break_even: dict[str, Decimal]
    budget_usd: Decimal | None
    worst_case: Cost  # the worst expected: every request writes at the configured TTL, none reads
    worst_case_ttl: str | None  # None: nothing is cached
    expected: Cost  # the expected hit rate at the configured TTL
    expected_hit_rate: Decimal | None
    rates: Rates
    label: str = ""
    # every request writes, none reads, every output reaches max_tokens (None: as worst_case)
    ceiling_cost: Cost | None = None
    max_tokens: int | None = None  # the cap of each request's output, thinking included
    budget_basis: str = DEFAULT_BASIS  # "worst_expected" | "ceiling": the figure the budget is judged on
    thinking_effort: str | None = None  # the effort the output assumes (for advice)

    @property
    def ceiling(self) -> Cost:
        return self.ceiling_cost or self.worst_case

    @property
    def within_budget(self) -> bool | None:
        """Judged on the basis figure (cachecast.plan.budget), never on a hopeful hit rate."""
        return figures(self).within


# ------------------------------------------------------------------ the arithmetic


def request_cost(rates: Rates, *, requests: Decimal | int, system: int, user: Decimal, output: Decimal,
                 hits: Decimal, ttl: str | None, thinking: Decimal = Decimal(0)) -> Cost:
    """Cost of `requests` requests of which `hits` read the prefix and the rest write it
    (ttl None: nothing is cached, the prefix is plain input). `output` is all output tokens,
    `thinking` the part of them that is thinking (its own component, same output rate)."""
    from ..facts.costs import token_cost  # the one cost formula (tier: one request's prompt)

    requests, prompt = Decimal(requests), system + user
    misses = requests - hits if ttl is not None else Decimal(0)
    c = token_cost(rates, input=requests * (user if ttl is not None else prompt),
                   write_5m=misses * system if ttl == "5m" else 0, write_1h=misses * system if ttl == "1h" else 0,
                   read=hits * system if ttl is not None else 0, output=requests * (output - thinking),
                   tier_tokens=prompt)
    thinking_cost = token_cost(rates, output=requests * thinking, tier_tokens=prompt).output
    return Cost(uncached_input=c.input, cache_writes=c.write_5m + c.write_1h, cache_reads=c.read, output=c.output,
                thinking=thinking_cost)


def break_even_hit_rate(rates: Rates, ttl: str, prompt_tokens: int = 0) -> Decimal:
    """Hit rate h above which caching the prefix costs less than not caching it:
    h x read + (1 - h) x write < input  <=>  h > (write - input) / (write - read)."""
    p_in, p_w5, p_w1, p_read, _ = rates.tier(prompt_tokens)
    write = p_w5 if ttl == "5m" else p_w1
    if write <= p_in:
        return Decimal(0)
    return (write - p_in) / (write - p_read)


def project_costs(rates: Rates, *, model: str, items: int, requests: int, tokens: TokenProfile,
                  cacheable: bool, reason: str | None = None, hit_rates: dict[str, Decimal] | None = None,
                  ttls: Iterable[str] = TTLS, budget_usd: Decimal | float | None = None,
                  budget_ttl: str | None = None, label: str = "", max_tokens: int | None = None,
                  budget_basis: str = DEFAULT_BASIS, thinking_effort: str | None = None) -> Projection:
    """All scenarios for one run. Below the minimum cacheable prefix (cacheable=False) every
    scenario equals no cache: Anthropic processes the prompt uncached, writes nothing.
    `max_tokens` gives the ceiling (every output at max_tokens, the whole of it priced as
    output: how it splits into answer and thinking is unknown there)."""
    hit_rates = hit_rates or DEFAULT_HIT_RATES
    ttls = [t for t in TTLS if t in set(ttls)]
    S, U, O, T = tokens.system, tokens.user_mean, tokens.output_mean, tokens.thinking_mean

    def cost(hit_rate: Decimal, ttl: str | None) -> Cost:
        if ttl is None or not cacheable:
            return request_cost(rates, requests=requests, system=S, user=U, output=O, thinking=T, hits=Decimal(0),
                                ttl=None)
        return request_cost(rates, requests=requests, system=S, user=U, output=O, thinking=T,
                            hits=requests * hit_rate, ttl=ttl)

    no_cache = cost(Decimal(0), None)
    scenarios = []
    for ttl in ttls:
        for name, h in hit_rates.items():
            h = Decimal(str(h))
            c = cost(h, ttl)
            saved = no_cache.total - c.total
            pct = saved / no_cache.total * 100 if no_cache.total else Decimal(0)
            scenarios.append(Scenario(name=name, ttl=ttl, hit_rate=h, cost=c, savings=saved, savings_pct=pct))
    prompt = int(S + U)
    break_even = {ttl: break_even_hit_rate(rates, ttl, prompt) for ttl in TTLS}
    budget = Decimal(str(budget_usd)) if budget_usd is not None else None
    worst_ttl = budget_ttl if cacheable else None
    expected_h = expected_hit_rate(hit_rates) if worst_ttl else None
    ceiling = None
    if max_tokens is not None:
        ceiling = request_cost(rates, requests=requests, system=S, user=U, output=Decimal(max_tokens),
                               hits=Decimal(0), ttl=worst_ttl)
    return Projection(model=model, items=items, requests=requests, batch=rates.batch, tokens=tokens,
                      cacheable=cacheable, reason=reason, no_cache=no_cache, scenarios=scenarios,
                      break_even=break_even, budget_usd=budget, worst_case=cost(Decimal(0), worst_ttl),
                      worst_case_ttl=worst_ttl, expected=cost(expected_h or Decimal(0), worst_ttl),
                      expected_hit_rate=expected_h, rates=rates, label=label, ceiling_cost=ceiling,
                      max_tokens=max_tokens, budget_basis=check_basis(budget_basis), thinking_effort=thinking_effort)


def expected_hit_rate(hit_rates: dict[str, Decimal]) -> Decimal:
    """The 'expected' scenario's hit rate, else the median of the given ones."""
    if "expected" in hit_rates:
        return Decimal(str(hit_rates["expected"]))
    values = sorted(Decimal(str(h)) for h in hit_rates.values())
    return values[(len(values) - 1) // 2]


# ------------------------------------------------------------------ run shape and tokens


def run_counts(cfg: RunConfig, items: int | None = None) -> tuple[int, int]:
    """(items, requests): requests = items x treatments x temperatures x repeats."""
    n = items if items is not None else available_items(cfg)
    if n < 1:
        raise InputError("the number of items must be at least 1")
    return n, n * len(cfg.treatments) * len(cfg.temperatures) * cfg.repeats


def available_items(cfg: RunConfig) -> int:
    from ..build.prompts import iter_items

    return sum(1 for _ in iter_items(cfg))


def default_output_tokens(cfg: RunConfig) -> Decimal:
    """The answer: max_tokens x output_fill_ratio (a reply rarely uses all of max_tokens).
    Thinking comes on top (expected_thinking), within max_tokens."""
    return Decimal(cfg.max_tokens) * Decimal(str(cfg.output_fill_ratio))


@dataclass(frozen=True)
class ThinkingPlan:
    """Expected thinking tokens per request for a config, and why."""

    tokens: Decimal
    note: str
    effort: str | None = None


def expected_thinking(cfg: RunConfig, model: str | None = None) -> ThinkingPlan:
    """Thinking tokens per request the config's model will spend, from the dated planning
    assumption per effort level (data/price_corrections.yaml). Omitted `thinking` means the
    model's default (cachecast.facts.models: adaptive on 5.x, at its default effort); `disabled`
    and `between_tools` (no tools in a single-turn eval) mean none. `model`: the model the
    requests were built for, when it is not the config's (a build's manifest says)."""
    from ..facts.models import find
    from ..facts.pricing import thinking_assumption

    model = model or cfg.provider.model
    facts = find(model)
    thinking = cfg.thinking
    kind = getattr(thinking, "type", None) if thinking is not None else None
    effort = getattr(thinking, "effort", None) if thinking is not None else None  # read defensively
    if facts is None:
        return ThinkingPlan(Decimal(0), f"{model} is not in cachecast's model table: no thinking assumed")
    if kind is None and not facts.thinks_by_default:
        return ThinkingPlan(Decimal(0), f"{facts.id} does not think unless asked (no thinking in the config)")
    if kind in ("disabled", "between_tools"):
        return ThinkingPlan(Decimal(0), f"thinking {kind}: no thinking tokens assumed")
    table = thinking_assumption()
    if kind == "enabled":
        budget = int(getattr(thinking, "budget_tokens", None) or 0)
        tokens = Decimal(budget) * table.enabled_budget_share
        return ThinkingPlan(tokens, f"thinking = budget_tokens {budget:,} x {table.enabled_budget_share} "
                                    f"({table.label})")
    level = effort or facts.default_effort or "high"
    tokens = Decimal(table.tokens_per_request[level])
    origin = "the config's thinking.effort" if effort else f"{facts.id}'s default effort"
    return ThinkingPlan(tokens, f"thinking = {tokens:,} tokens at effort {level} ({origin}); {table.label}", level)


def measured_tokens(cfg: RunConfig, items: int | None = None, counter: Any = None) -> tuple[int, Decimal, str]:
    """(S, mean U, source) over the config's items (the first `items` of them) x treatments.

    Temperatures and repeats do not change the prompt. Nor does a treatment change the
    item's text: it only swaps or extends the system prompt. Counts are sums of blocks
    (see cachecast.tokens.count), so U(item, t) = U(item, t0) + U(item0, t) - U(item0, t0)
    holds exactly and each item is rendered once, not once per treatment (3x faster on
    a 5,000-item run). S depends on the treatment only. tests/test_projection.py checks
    the shortcut against rendering every pair."""
    from ..build.prompts import iter_items, render_payload, renderer
    from ..tokens.count import count_splits, payload_params, split_params

    model = cfg.provider.model
    first, *others = cfg.treatments
    render = renderer(cfg, first)  # prompt files read once, not once per item
    splits = []
    for n, item in enumerate(iter_items(cfg)):
        if items is not None and n >= items:
            break
        splits.append(split_params(payload_params(model, render.render(item))))
        if n == 0:
            item0 = item
    t_splits = [split_params(payload_params(model, render_payload(cfg, item0, t))) for t in others]
    counts = count_splits(splits + t_splits, counter)
    n_items = len(splits)
    base_rest, base_prefix = counts.rest[:n_items], counts.prefix[:n_items]
    extra_rest = [r - base_rest[0] for r in counts.rest[n_items:]]  # U(item0, t) - U(item0, t0)
    prefix_by_t = [base_prefix[0], *counts.prefix[n_items:]]
    pairs = n_items * len(cfg.treatments)
    total_rest = len(cfg.treatments) * sum(base_rest) + n_items * sum(extra_rest)
    S = int((Decimal(sum(prefix_by_t)) / len(prefix_by_t)).to_integral_value())
    return S, Decimal(total_rest) / pairs, counts.source


def cacheability(cfg: RunConfig, system: int) -> tuple[bool, str | None]:
    if cfg.provider.name != "anthropic":
        return False, f"provider {cfg.provider.name} does not use Anthropic prompt caching"
    if not cfg.provider.caching_enabled:
        return False, "caching is disabled in the config (enable_system_cache: false)"
    minimum = model_facts(cfg.provider.model).min_cache_tokens
    if system < minimum:
        return False, (f"the cached prefix is {system:,} tokens, below the {minimum:,}-token minimum for "
                       f"{cfg.provider.model}: Anthropic processes it uncached, so caching saves nothing")
    return True, None


# ------------------------------------------------------------------ from a config


@dataclass
class Pins:
    """Token counts given by the user (CLI flags or notebook parameters). `output` alone is
    the whole output, thinking included; with `thinking` it is the answer and thinking is
    added to it."""

    system: int | None = None
    user: float | None = None
    output: float | None = None
    thinking: float | None = None


def token_profile(cfg: RunConfig, *, items: int | None = None, pins: Pins | None = None,
                  counter: Any = None, pilot: PilotObservation | None = None) -> TokenProfile:
    """S, U, O for a config: pinned values win, then an audited pilot (calibrated), then exact
    counts (counter given) or the offline estimate."""
    pins = pins or Pins()
    notes: list[str] = []
    sources: dict[str, str] = {}
    if pins.system is None or pins.user is None:
        S, U, measured = measured_tokens(cfg, items, counter)
        if pilot is not None and pilot.prompt_ratio is not None and measured == "estimate":
            S = int((S * pilot.prompt_ratio).to_integral_value())
            U = U * pilot.prompt_ratio
            measured = "calibrated"
            notes.append(f"prompt estimate x {pilot.prompt_ratio} from {pilot.requests:,} audited requests")
        sources["system"] = sources["user"] = measured
    if pins.system is not None:
        S, sources["system"] = int(pins.system), "override"
    if pins.user is not None:
        U, sources["user"] = Decimal(str(pins.user)), "override"
    O, T = _output_tokens(cfg, pins, pilot, sources, notes)
    return TokenProfile(system=S, user_mean=U, output_mean=O, source=_overall_source(sources),
                        sources=sources, notes=tuple(notes), thinking_mean=T)


def output_tokens(cfg: RunConfig, pins: Pins | None = None, pilot: PilotObservation | None = None,
                  model: str | None = None) -> tuple[Decimal, Decimal, dict[str, str], list[str]]:
    """(O, T, sources, notes): all output and its thinking part per request."""
    sources: dict[str, str] = {}
    notes: list[str] = []
    O, T = _output_tokens(cfg, pins or Pins(), pilot, sources, notes, model)
    return O, T, sources, notes


def _output_tokens(cfg: RunConfig, pins: Pins, pilot: PilotObservation | None, sources: dict[str, str],
                   notes: list[str], model: str | None = None) -> tuple[Decimal, Decimal]:
    """Pins win (output alone = the whole output), then the audited pilot, then the config
    (answer) plus the thinking assumption, capped at max_tokens."""
    if pins.thinking is not None:
        T, sources["thinking"] = Decimal(str(pins.thinking)), "override"
        if pins.output is not None:
            answer, sources["output"] = Decimal(str(pins.output)), "override"
            notes.append("output = --output-tokens (answer) + --thinking-tokens")
        elif pilot is not None:
            answer, sources["output"] = pilot.output_mean - (pilot.thinking_mean or 0), "calibrated"
            notes.append(f"answer = observed mean of {pilot.requests:,} audited requests less their thinking")
            if pilot.truncation_note():
                notes.append(pilot.truncation_note())
        else:
            answer, sources["output"] = default_output_tokens(cfg), "config"
            notes.append(f"answer = max_tokens {cfg.max_tokens} x output_fill_ratio {cfg.output_fill_ratio}")
        return answer + T, T
    if pins.output is not None:
        sources["output"], sources["thinking"] = "override", "included in output"
        notes.append("output = --output-tokens, thinking included (not split out)")
        return Decimal(str(pins.output)), Decimal(0)
    if pilot is not None:
        sources["output"] = "calibrated"
        notes.append(f"output = observed mean of {pilot.requests:,} audited requests")
        if pilot.truncation_note():
            notes.append(pilot.truncation_note())
        if pilot.thinking_mean is None:
            sources["thinking"] = "included in output"
            notes.append("the pilot's lines report no thinking_tokens: thinking is not split out")
            return pilot.output_mean, Decimal(0)
        sources["thinking"] = "calibrated"
        notes.append(f"thinking = observed mean {pilot.thinking_mean} of output_tokens_details.thinking_tokens")
        return pilot.output_mean, pilot.thinking_mean
    answer = default_output_tokens(cfg)
    plan = expected_thinking(cfg, model)
    sources["output"] = "config"
    sources["thinking"] = "assumption" if plan.tokens else "none"
    notes.append(f"answer = max_tokens {cfg.max_tokens} x output_fill_ratio {cfg.output_fill_ratio}")
    notes.append(plan.note)
    cap = Decimal(cfg.max_tokens)
    if answer + plan.tokens > cap:
        notes.append(f"answer + thinking ({answer + plan.tokens:,}) capped at max_tokens {cfg.max_tokens:,}: "
                     "a reply that long is cut off")
        thinking = min(plan.tokens, cap)
        return cap, thinking
    return answer + plan.tokens, plan.tokens


def _overall_source(sources: dict[str, str]) -> str:
    values = set(sources.values())
    for label in ("override", "calibrated"):
        if label in values:
            return label
    return "exact" if sources.get("system") == "exact" else "estimate"


def project_config(cfg: RunConfig, *, items: int | None = None, pins: Pins | None = None,
                   hit_rates: dict[str, Decimal] | None = None, ttls: Iterable[str] = TTLS,
                   counter: Any = None, pilot: PilotObservation | None = None,
                   overrides: Path | None = None, label: str = "",
                   budget_basis: str = DEFAULT_BASIS) -> Projection:
    """The config's run (or its first `items` items): scenarios, the three budget figures
    (ceiling at the config's max_tokens) and the verdict on `budget_basis`."""
    if cfg.provider.name != "anthropic":
        raise ConfigError(f"{cfg.source}: cachecast projects Anthropic prompt caching; provider is "
                          f"'{cfg.provider.name}'")
    n_items, requests = run_counts(cfg, items)
    rates = get_rates(cfg.provider.model, cfg.provider.batch, overrides)
    tokens = token_profile(cfg, items=items, pins=pins, counter=counter, pilot=pilot)
    cacheable, reason = cacheability(cfg, tokens.system)
    ttls = list(ttls)
    # the worst case is judged at the TTL the run will use, whichever TTLs are displayed
    budget_ttl = cfg.provider.cache.ttl if cacheable else None
    return project_costs(rates, model=cfg.provider.model, items=n_items, requests=requests, tokens=tokens,
                         cacheable=cacheable, reason=reason, hit_rates=hit_rates, ttls=ttls,
                         budget_usd=cfg.budget_usd, budget_ttl=budget_ttl, label=label,
                         max_tokens=cfg.max_tokens, budget_basis=budget_basis,
                         thinking_effort=expected_thinking(cfg).effort)


def hit_rate_map(values: Iterable[float] | None) -> dict[str, Decimal] | None:
    """--hit-rate 0.5 0.9 -> {"hit 50%": 0.5, "hit 90%": 0.9}; None keeps the defaults."""
    if not values:
        return None
    out: dict[str, Decimal] = {}
    for v in values:
        h = Decimal(str(v))
        if not Decimal(0) <= h <= Decimal(1):
            raise InputError(f"hit rate {v} is outside 0-1 (a fraction of requests that read the cache)")
        out[f"hit {(h * 100).normalize():f}%"] = h
    return out


# ------------------------------------------------------------------ output


def _f(value: Decimal, places: int = 6) -> float:
    return float(round(value, places))


def to_json(p: Projection) -> dict[str, Any]:
    """The `project --json` contract (DESIGN.md, `gate` included: ceiling, worst expected,
    expected, basis), plus, after it: reason, price_source, budget_basis (the worst case in
    words), worst_case_usd (= gate.worst_expected_usd), expected_usd, max_tokens,
    token_sources, thinking notes and the cost components (thinking among them)."""
    return {
        "model": p.model, "items": p.items, "requests": p.requests, "batch": p.batch,
        "tokens": {"system": p.tokens.system, "user_mean": _f(p.tokens.user_mean, 3),
                   "output_mean": _f(p.tokens.output_mean, 3), "source": p.tokens.source,
                   "thinking_mean": _f(p.tokens.thinking_mean, 3)},
        "cacheable": p.cacheable,
        "no_cache_usd": _f(p.no_cache.total),
        "scenarios": [{"name": s.name, "ttl": s.ttl, "hit_rate": _f(s.hit_rate, 4), "total_usd": _f(s.cost.total),
                       "savings_usd": _f(s.savings), "savings_pct": _f(s.savings_pct, 4)} for s in p.scenarios],
        "break_even_hit_rate": {ttl: _f(v, 4) for ttl, v in p.break_even.items()},
        "budget_usd": _f(p.budget_usd, 2) if p.budget_usd is not None else None,
        "within_budget": p.within_budget,
        "gate": figures(p).json(),
        "reason": p.reason,
        "price_source": p.rates.source,
        "budget_basis": basis_name(p),
        "worst_case_usd": _f(p.worst_case.total),
        "expected_usd": _f(p.expected.total),
        "expected_hit_rate": _f(p.expected_hit_rate, 4) if p.expected_hit_rate is not None else None,
        "max_tokens": p.max_tokens,
        "token_sources": dict(p.tokens.sources),
        "token_notes": list(p.tokens.notes),
        "components_usd": {
            "no_cache": _components(p.no_cache),
            "worst_case": _components(p.worst_case),
            "ceiling": _components(p.ceiling),
            "scenarios": [{"name": s.name, "ttl": s.ttl, **_components(s.cost)} for s in p.scenarios],
        },
        "prewarm": prewarm_json(p),
    }


def _components(cost: Cost) -> dict[str, float]:
    return {name: _f(value) for name, value in cost.as_dict().items()}


def basis_name(p: Projection) -> str:
    if p.worst_case_ttl is None:
        return "no cache (nothing is cached)"
    return f"every request writes the {p.worst_case_ttl} cache, none reads"


def budget_verdict(p: Projection) -> str:
    """The budget verdict in words: the figure judged (worst expected, or the ceiling under
    --budget-basis ceiling) against the budget, then the other two figures."""
    f = figures(p)
    if f.budget is None:
        return f"no budget set; {f.summary()}"
    if f.basis == "ceiling":
        judged = f"ceiling ${f.ceiling:,.2f} ({f.ceiling_words()})"
        other = f"worst expected ${f.worst_expected:,.2f} ({f.worst_words()})"
    else:
        judged = f"worst expected ${f.worst_expected:,.2f} ({f.worst_words()})"
        other = f"ceiling ${f.ceiling:,.2f} ({f.ceiling_words()})"
        if f.ceiling > f.budget:
            other += ", above the budget"
    margin = f.budget - f.judged
    word = "within" if margin >= 0 else "OVER"
    spare = f"${margin:,.2f} to spare" if margin >= 0 else f"${-margin:,.2f} short"
    return (f"{word} budget: {judged} against ${f.budget:,.2f}, {spare}; "
            f"expected ${f.expected:,.2f} ({f.expected_words()}); {other}")
