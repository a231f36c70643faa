"""Pilot and full-run spend for cache scenarios, break-even hit rates and the budget verdict.

Cost model (DESIGN.md), per request with cached prefix S, rest U and output O tokens, at
the model's rates (batch rates when the run goes through the Batch API):
    no cache:  (S + U) x input + O x output
    hit:        S x read + U x input + O x output
    miss:       S x write(ttl) + U x input + O x output
A scenario with hit rate h prices h of the requests as hits and (1 - h) as misses. The
arithmetic is exact Decimal; floats appear only in the JSON output.

`project_costs` takes plain numbers (requests, S, U, O, rates) so it is easy to test and
to call from a notebook; `token_profile` and `observed_pilot` gather those numbers from a
config, the API or an audited pilot's DuckDB store.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable

from .config import RunConfig
from .errors import ConfigError, InputError
from .models import model_facts
from .pricing import MILLION, Rates, get_rates

TTLS = ("5m", "1h")
# Anthropic reports batch cache hit rates "ranging from 30% to 98%" (FACTS.md); the middle
# value is our planning assumption for a shared prefix with the 1h TTL, not a documented one.
DEFAULT_HIT_RATES: dict[str, Decimal] = {
    "pessimistic": Decimal("0.30"), "expected": Decimal("0.80"), "optimistic": Decimal("0.98")}
COMPONENTS = ("uncached_input", "cache_writes", "cache_reads", "output")


@dataclass(frozen=True)
class TokenProfile:
    """Tokens per request: S (cached prefix), U (rest of the prompt, mean), O (output, mean)."""

    system: int
    user_mean: Decimal
    output_mean: Decimal
    source: str  # "exact" | "estimate" | "override" | "calibrated"
    sources: dict[str, str] = field(default_factory=dict)  # per component, for the reader
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Cost:
    """Dollars by component; `total` is their sum."""

    uncached_input: Decimal
    cache_writes: Decimal
    cache_reads: Decimal
    output: Decimal

    @property
    def total(self) -> Decimal:
        return self.uncached_input + self.cache_writes + self.cache_reads + self.output

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
    budget_basis: Scenario | None
    rates: Rates
    label: str = ""

    @property
    def within_budget(self) -> bool | None:
        if self.budget_usd is None:
            return None
        basis = self.budget_basis.cost.total if self.budget_basis else self.no_cache.total
        return basis <= self.budget_usd


# ------------------------------------------------------------------ the arithmetic


def request_cost(rates: Rates, *, requests: Decimal | int, system: int, user: Decimal, output: Decimal,
                 hits: Decimal, ttl: str | None) -> Cost:
    """Cost of `requests` requests of which `hits` read the prefix and the rest write it
    (ttl None: nothing is cached, the prefix is plain input)."""
    requests = Decimal(requests)
    p_in, p_w5, p_w1, p_read, p_out = rates.tier(int(system + user))
    if ttl is None:
        return Cost(uncached_input=requests * (system + user) * p_in / MILLION, cache_writes=Decimal(0),
                    cache_reads=Decimal(0), output=requests * output * p_out / MILLION)
    write = p_w5 if ttl == "5m" else p_w1
    misses = requests - hits
    return Cost(uncached_input=requests * user * p_in / MILLION, cache_writes=misses * system * write / MILLION,
                cache_reads=hits * system * p_read / MILLION, output=requests * output * p_out / MILLION)


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
                  budget_ttl: str | None = None, label: str = "") -> Projection:
    """All scenarios for one run. Below the minimum cacheable prefix (cacheable=False) every
    scenario equals no cache: Anthropic processes the prompt uncached, writes nothing."""
    hit_rates = hit_rates or DEFAULT_HIT_RATES
    ttls = [t for t in TTLS if t in set(ttls)]
    S, U, O = tokens.system, tokens.user_mean, tokens.output_mean
    no_cache = request_cost(rates, requests=requests, system=S, user=U, output=O, hits=Decimal(0), ttl=None)
    scenarios = []
    for ttl in ttls:
        for name, h in hit_rates.items():
            h = Decimal(str(h))
            cost = (request_cost(rates, requests=requests, system=S, user=U, output=O, hits=requests * h, ttl=ttl)
                    if cacheable else no_cache)
            saved = no_cache.total - cost.total
            pct = saved / no_cache.total * 100 if no_cache.total else Decimal(0)
            scenarios.append(Scenario(name=name, ttl=ttl, hit_rate=h, cost=cost, savings=saved, savings_pct=pct))
    prompt = int(S + U)
    break_even = {ttl: break_even_hit_rate(rates, ttl, prompt) for ttl in TTLS}
    budget = Decimal(str(budget_usd)) if budget_usd is not None else None
    return Projection(model=model, items=items, requests=requests, batch=rates.batch, tokens=tokens,
                      cacheable=cacheable, reason=reason, no_cache=no_cache, scenarios=scenarios,
                      break_even=break_even, budget_usd=budget, budget_basis=_budget_basis(scenarios, budget_ttl),
                      rates=rates, label=label)


def _budget_basis(scenarios: list[Scenario], ttl: str | None) -> Scenario | None:
    """The verdict is judged on the worst case of what will actually run: the lowest hit
    rate at the configured TTL (no cache when caching is off)."""
    if ttl is None or not scenarios:
        return None
    pool = [s for s in scenarios if s.ttl == ttl] or scenarios
    return min(pool, key=lambda s: (s.hit_rate, -s.cost.total))


# ------------------------------------------------------------------ run shape and tokens


def run_counts(cfg: RunConfig, items: int | None = None) -> tuple[int, int]:
    """(items, requests): requests = items x treatments x temperatures x repeats."""
    n = items if items is not None else available_items(cfg)
    if n < 1:
        raise InputError("the number of items must be at least 1")
    return n, n * len(cfg.treatments) * len(cfg.temperatures) * cfg.repeats


def available_items(cfg: RunConfig) -> int:
    from .prompts import iter_items

    return sum(1 for _ in iter_items(cfg))


def default_output_tokens(cfg: RunConfig) -> Decimal:
    """max_tokens x output_fill_ratio: a reply rarely uses all of max_tokens."""
    return Decimal(cfg.max_tokens) * Decimal(str(cfg.output_fill_ratio))


def measured_tokens(cfg: RunConfig, items: int | None = None, counter: Any = None) -> tuple[int, Decimal, str]:
    """(S, mean U, source) over the config's items (the first `items` of them) x treatments.

    Temperatures and repeats do not change the prompt. Nor does a treatment change the
    item's text: it only swaps or extends the system prompt. Counts are sums of blocks
    (see cachecast.tokens), so U(item, t) = U(item, t0) + U(item0, t) - U(item0, t0)
    holds exactly and each item is rendered once, not once per treatment (3x faster on
    a 5,000-item run). S depends on the treatment only. tests/test_projection.py checks
    the shortcut against rendering every pair."""
    from .prompts import iter_items, render_payload, renderer
    from .tokens import count_splits, payload_params, split_params

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


def measured_tokens_every_pair(cfg: RunConfig, items: int | None = None, counter: Any = None) -> tuple[int, Decimal, str]:
    """Reference for the shortcut in measured_tokens: render every (item, treatment)."""
    from .prompts import iter_items, render_payload
    from .tokens import count_splits, payload_params, split_params

    splits = []
    for n, item in enumerate(iter_items(cfg)):
        if items is not None and n >= items:
            break
        for treatment in cfg.treatments:
            splits.append(split_params(payload_params(cfg.provider.model, render_payload(cfg, item, treatment))))
    counts = count_splits(splits, counter)
    S = int((Decimal(sum(counts.prefix)) / len(splits)).to_integral_value())
    return S, Decimal(sum(counts.rest)) / len(splits), counts.source


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


# ------------------------------------------------------------------ calibration from a pilot


@dataclass(frozen=True)
class PilotObservation:
    requests: int
    output_mean: Decimal
    prompt_ratio: Decimal | None  # actual / estimated prompt tokens (None: no manifest to compare)


def observed_pilot(db: Path) -> PilotObservation:
    """Mean output tokens (and the prompt-size correction) of an audited pilot, read from
    the store's `results` table (succeeded lines) joined to `manifest` for the estimates."""
    import duckdb

    if not Path(db).exists():
        raise InputError(f"{db}: audit database not found")
    con = duckdb.connect(str(db), read_only=True)
    try:
        cols = {r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'results'").fetchall()}
        if "output_tokens" not in cols:
            raise InputError(f"{db}: no results table with output_tokens (ingest a pilot first)")
        status = next((c for c in ("result_type", "status", "type") if c in cols), None)
        where = f"WHERE {status} = 'succeeded'" if status else "WHERE output_tokens IS NOT NULL"
        n, out_mean = con.execute(f"SELECT count(*), avg(output_tokens)::DOUBLE FROM results {where}").fetchone()
        if not n:
            raise InputError(f"{db}: no succeeded requests to calibrate from")
        ratio = _prompt_ratio(con, where, cols)
    finally:
        con.close()
    return PilotObservation(requests=int(n), output_mean=Decimal(str(round(out_mean, 3))), prompt_ratio=ratio)


def _prompt_ratio(con: Any, where: str, cols: set[str]) -> Decimal | None:
    need = {"custom_id", "input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"}
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if not need <= cols or "manifest" not in tables:
        return None
    mcols = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'manifest'").fetchall()}
    if not {"custom_id", "est_prefix_tokens", "est_rest_tokens"} <= mcols:
        return None
    # Several builds can share custom_ids (pilot and full run): join through the batch's own
    # manifest when the store records it (batches.manifest_id), else on custom_id alone.
    bcols = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'batches'").fetchall()}
    via_batch = {"manifest_id"} <= mcols and {"batch_id", "manifest_id"} <= bcols and "batch_id" in cols
    join = ("JOIN batches b ON b.batch_id = r.batch_id JOIN manifest m ON m.manifest_id = b.manifest_id "
            "AND m.custom_id = r.custom_id") if via_batch else "JOIN manifest m ON m.custom_id = r.custom_id"
    pairs = con.execute(
        "SELECT m.est_prefix_tokens + m.est_rest_tokens, "
        "r.input_tokens + r.cache_creation_input_tokens + r.cache_read_input_tokens "
        f"FROM (SELECT * FROM results {where}) r {join}").fetchall()
    if not pairs:
        return None
    from .tokens import calibrate

    return Decimal(str(round(calibrate(pairs).ratio, 6)))


# ------------------------------------------------------------------ from a config


@dataclass
class Pins:
    """Token counts given by the user (CLI flags or notebook parameters)."""

    system: int | None = None
    user: float | None = None
    output: float | None = None


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
    if pins.output is not None:
        O, sources["output"] = Decimal(str(pins.output)), "override"
    elif pilot is not None:
        O, sources["output"] = pilot.output_mean, "calibrated"
        notes.append(f"output = observed mean of {pilot.requests:,} audited requests")
    else:
        O, sources["output"] = default_output_tokens(cfg), "config"
        notes.append(f"output = max_tokens {cfg.max_tokens} x output_fill_ratio {cfg.output_fill_ratio}")
    return TokenProfile(system=S, user_mean=U, output_mean=O, source=_overall_source(sources),
                        sources=sources, notes=tuple(notes))


def _overall_source(sources: dict[str, str]) -> str:
    values = set(sources.values())
    for label in ("override", "calibrated"):
        if label in values:
            return label
    return "exact" if sources.get("system") == "exact" else "estimate"


def project_config(cfg: RunConfig, *, items: int | None = None, pins: Pins | None = None,
                   hit_rates: dict[str, Decimal] | None = None, ttls: Iterable[str] = TTLS,
                   counter: Any = None, pilot: PilotObservation | None = None,
                   overrides: Path | None = None, label: str = "") -> Projection:
    if cfg.provider.name != "anthropic":
        raise ConfigError(f"{cfg.source}: cachecast projects Anthropic prompt caching; provider is "
                          f"'{cfg.provider.name}'")
    n_items, requests = run_counts(cfg, items)
    rates = get_rates(cfg.provider.model, cfg.provider.batch, overrides)
    tokens = token_profile(cfg, items=items, pins=pins, counter=counter, pilot=pilot)
    cacheable, reason = cacheability(cfg, tokens.system)
    ttls = list(ttls)
    budget_ttl = cfg.provider.cache.ttl if cacheable else None
    if budget_ttl is not None and budget_ttl not in ttls:
        budget_ttl = ttls[0] if ttls else None
    return project_costs(rates, model=cfg.provider.model, items=n_items, requests=requests, tokens=tokens,
                         cacheable=cacheable, reason=reason, hit_rates=hit_rates, ttls=ttls,
                         budget_usd=cfg.budget_usd, budget_ttl=budget_ttl, label=label)


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
    """The `project --json` contract (DESIGN.md), plus reason / price_source / budget_basis /
    token_sources for the reader."""
    return {
        "model": p.model, "items": p.items, "requests": p.requests, "batch": p.batch,
        "tokens": {"system": p.tokens.system, "user_mean": _f(p.tokens.user_mean, 3),
                   "output_mean": _f(p.tokens.output_mean, 3), "source": p.tokens.source},
        "cacheable": p.cacheable,
        "no_cache_usd": _f(p.no_cache.total),
        "scenarios": [{"name": s.name, "ttl": s.ttl, "hit_rate": _f(s.hit_rate, 4), "total_usd": _f(s.cost.total),
                       "savings_usd": _f(s.savings), "savings_pct": _f(s.savings_pct, 4)} for s in p.scenarios],
        "break_even_hit_rate": {ttl: _f(v, 4) for ttl, v in p.break_even.items()},
        "budget_usd": _f(p.budget_usd, 2) if p.budget_usd is not None else None,
        "within_budget": p.within_budget,
        "reason": p.reason,
        "price_source": p.rates.source,
        "budget_basis": _basis_name(p),
        "token_sources": dict(p.tokens.sources),
    }


def _basis_name(p: Projection) -> str | None:
    if p.budget_usd is None:
        return None
    b = p.budget_basis
    return f"{b.ttl} {b.name} ({b.hit_rate:.0%} hit rate)" if b else "no cache"


def budget_verdict(p: Projection) -> str:
    """The budget verdict in words."""
    if p.budget_usd is None:
        return "no budget set"
    basis = p.budget_basis.cost.total if p.budget_basis else p.no_cache.total
    margin = p.budget_usd - basis
    word = "within" if margin >= 0 else "OVER"
    return (f"{word} budget: ${basis:,.2f} in the worst case ({_basis_name(p)}) against ${p.budget_usd:,.2f}, "
            f"{'$' + format(margin, ',.2f') + ' to spare' if margin >= 0 else '$' + format(-margin, ',.2f') + ' short'}")
