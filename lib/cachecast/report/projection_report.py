"""What notebooks/01_project_spend.ipynb calls: the pilot + full-run plan and its tables.

Everything the notebook shows is computed here (exact Decimal in projection.py) and handed
over as DataFrames; the notebook itself only calls these functions, so the same numbers
come out of `cachecast project`, the notebook in JupyterLab and the HTML report.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from .._shown_paths import locate, project_root
from ..build.config import load_config
from ..errors import InputError
from ..plan.calibration import observed_pilot
from ..plan.projection import DEFAULT_HIT_RATES, TTLS, Pins, Projection, budget_verdict, hit_rate_map, project_config
from ..facts.tokenizer import ESTIMATE_ERROR_BAND
from ..tokens.count import TokenCounter, has_api_key

REPO = Path(__file__).resolve().parents[3]
COMPONENT_LABELS = {"uncached_input": "uncached input", "cache_writes": "cache writes",
                    "cache_reads": "cache reads", "output": "output (answer)", "thinking": "thinking"}


@dataclass(frozen=True)
class Plan:
    config: Path
    pilot: Projection
    full: Projection

    @property
    def runs(self) -> list[Projection]:
        return [self.pilot, self.full]


def resolve_path(path: str | Path | None) -> Path | None:
    """As given (relative to the working directory), else from the project root, else from
    the checkout: the notebook runs from notebooks/ in JupyterLab but from the project root
    under papermill (cachecast._shown_paths.locate)."""
    return locate(path)


def token_store(token_db: str | Path | None = None) -> Path:
    """Where exact counts are remembered: `token_db`, else CACHECAST_DB (as `count --exact`
    uses), else data/cachecast.duckdb of the project. Never the checkout's own data/ from a
    test: the tests set CACHECAST_DB to a temporary store."""
    if token_db:
        return Path(resolve_path(token_db))
    env = os.environ.get("CACHECAST_DB")
    if env:
        return Path(env)
    return (project_root() or REPO) / "data" / "cachecast.duckdb"


def plan(config: str | Path, *, pilot_items: int, full_items: int, hit_rates: Iterable[float] | None = None,
         ttl: str | None = None, budget_usd: float | None = None, pilot_budget_usd: float | None = None,
         audit_db: str | Path | None = None, system_tokens: int | None = None, user_tokens: float | None = None,
         output_tokens: float | None = None, price_overrides: str | Path | None = None,
         exact: bool | None = None, token_db: str | Path | None = None,
         thinking_tokens: float | None = None) -> Plan:
    """Project the pilot (`pilot_items`) and the full run (`full_items`) of one config.

    budget_usd is the full run's budget (default: the config's budget_usd); the pilot gets
    a verdict only when pilot_budget_usd is given. exact=None counts exactly when
    ANTHROPIC_API_KEY is set. price_overrides None reads CACHECAST_PRICES (which
    `cachecast report --prices FILE` sets for the notebook)."""
    path = resolve_path(config)
    cfg = load_config(path)
    if ttl not in (None, "", *TTLS):
        raise InputError(f"ttl must be one of {', '.join(TTLS)} or None, got {ttl!r}")
    rates = _hit_rates(hit_rates)
    pins = Pins(system=system_tokens, user=user_tokens, output=output_tokens, thinking=thinking_tokens)
    use_exact = has_api_key() if exact is None else exact
    counter = TokenCounter(db=token_store(token_db)) if use_exact else None
    db = resolve_path(audit_db)
    pilot = observed_pilot(db) if db else None
    common = dict(pins=pins, hit_rates=rates, ttls=[ttl] if ttl else TTLS, counter=counter, pilot=pilot,
                  overrides=resolve_path(price_overrides))
    full_cfg = cfg.model_copy(update={"budget_usd": budget_usd if budget_usd is not None else cfg.budget_usd})
    pilot_cfg = cfg.model_copy(update={"budget_usd": pilot_budget_usd})
    return Plan(config=path,
                pilot=project_config(pilot_cfg, items=pilot_items, label="pilot", **common),
                full=project_config(full_cfg, items=full_items, label="full run", **common))


def _hit_rates(values: Iterable[float] | None) -> dict[str, Decimal] | None:
    if values is None:
        return None
    values = list(values)
    if [Decimal(str(v)) for v in values] == list(DEFAULT_HIT_RATES.values()):
        return None
    return hit_rate_map(values)


# ------------------------------------------------------------------ tables


def headline(p: Plan) -> str:
    full = p.full
    t = full.tokens
    band = f" (+/-{ESTIMATE_ERROR_BAND:.0%})" if t.source == "estimate" else ""
    thinking = (f" of which thinking {float(t.thinking_mean):,.1f} [{t.sources.get('thinking', '')}]"
                if t.thinking_mean else "")
    return (f"{full.model}, {'Batch API' if full.batch else 'standard API'}; tokens per request: "
            f"cached prefix {t.system:,}, rest {float(t.user_mean):,.1f}, output {float(t.output_mean):,.1f}"
            f"{thinking} [{t.source}{band}]. Prices: {full.rates.source}.")


def summary_frame(p: Plan) -> pd.DataFrame:
    """Pilot and full run x scenario: $ and % saved, and the budget verdict in words."""
    rows: list[dict[str, Any]] = []
    for run in p.runs:
        rows.append({"run": run.label, "requests": run.requests, "scenario": "no cache", "ttl": "", "hit rate": "",
                     "total $": float(round(run.no_cache.total, 2)), "saved $": 0.0, "saved %": 0.0,
                     "budget": _fits(run, run.no_cache.total)})
        for s in run.scenarios:
            rows.append({"run": run.label, "requests": run.requests, "scenario": s.name, "ttl": s.ttl,
                         "hit rate": f"{s.hit_rate:.0%}", "total $": float(round(s.cost.total, 2)),
                         "saved $": float(round(s.savings, 2)), "saved %": float(round(s.savings_pct, 1)),
                         "budget": _fits(run, s.cost.total)})
    return pd.DataFrame(rows)


def _fits(run: Projection, total: Decimal) -> str:
    if run.budget_usd is None:
        return "no budget set"
    return "within budget" if total <= run.budget_usd else "OVER budget"


def verdicts(p: Plan) -> list[str]:
    """The budget gate's verdict per run, as `cachecast submit` judges it: on the worst case,
    with its expected figure priced at the configured TTL (which may not be the one the
    recommendation picks, hence the label)."""
    out = []
    for run in p.runs:
        line = f"Budget gate, {run.label} ({run.requests:,} requests): {budget_verdict(run)}."
        if not run.cacheable:
            line += f" Not cacheable: {run.reason}."
        out.append(line)
    return out


def gate_frame(p: Plan) -> pd.DataFrame:
    """The budget gate's three figures of each run (cachecast.plan.budget): ceiling, worst
    expected, expected, what each assumes, and which one the budget is judged on."""
    from ..plan.budget import figures

    rows = []
    for run in p.runs:
        f = figures(run)
        judged = "ceiling" if f.basis == "ceiling" else "worst expected"
        for name, usd, words in (("ceiling", f.ceiling, f.ceiling_words()),
                                 ("worst expected", f.worst_expected, f.worst_words()),
                                 ("expected", f.expected, f.expected_words())):
            verdict = "no budget set" if f.budget is None else ("within" if usd <= f.budget else "OVER") + " budget"
            rows.append({"run": run.label, "figure": name, "usd": float(round(usd, 2)), "assumes": words,
                         "budget": verdict, "judged": "yes" if name == judged else ""})
    return pd.DataFrame(rows, columns=["run", "figure", "usd", "assumes", "budget", "judged"])


def gate_warnings(p: Plan) -> list[str]:
    """The gate's warning for each run whose ceiling alone is over its budget (with how to
    lower it); none when every ceiling fits."""
    from ..plan.budget import figures

    return [f"{run.label}: {w.removeprefix('warning: ')}" for run in p.runs
            if (w := figures(run).ceiling_warning())]


def components_frame(p: Plan) -> pd.DataFrame:
    """Cost by component for each run x scenario (no cache included), long format."""
    rows = []
    for run in p.runs:
        entries = [("no cache", "", run.no_cache)] + [(f"{s.ttl} {s.name}", s.ttl, s.cost) for s in run.scenarios]
        for order, (label, ttl, cost) in enumerate(entries):
            for comp, value in cost.as_dict().items():
                rows.append({"run": run.label, "scenario": label, "order": order, "ttl": ttl,
                             "component": COMPONENT_LABELS[comp], "usd": float(value)})
    return pd.DataFrame(rows)


def scenarios_frame(p: Plan) -> pd.DataFrame:
    rows = []
    for run in p.runs:
        for order, s in enumerate(run.scenarios):
            rows.append({"run": run.label, "scenario": s.name, "order": order, "ttl": s.ttl,
                         "hit_rate": float(s.hit_rate), "usd": float(s.cost.total),
                         "no_cache_usd": float(run.no_cache.total)})
    return pd.DataFrame(rows)


def _coefficients(run: Projection, ttl: str | None) -> tuple[Decimal, Decimal, Decimal]:
    """(fixed $, $ if every request hits, $ if every request misses) for the prefix part:
    total(h) = fixed + h x hit + (1 - h) x miss. Exact; the curve and the slider use it."""
    from ..plan.projection import request_cost

    t = run.tokens
    kwargs = dict(requests=run.requests, system=t.system, user=t.user_mean, output=t.output_mean,
                  thinking=t.thinking_mean)
    if ttl is None or not run.cacheable:
        cost = request_cost(run.rates, hits=Decimal(0), ttl=None, **kwargs)
        prefix_cost = cost.uncached_input - request_cost(run.rates, hits=Decimal(0), ttl="5m", **kwargs).uncached_input
        return cost.total - prefix_cost, prefix_cost, prefix_cost
    all_hit = request_cost(run.rates, hits=Decimal(run.requests), ttl=ttl, **kwargs)
    all_miss = request_cost(run.rates, hits=Decimal(0), ttl=ttl, **kwargs)
    fixed = all_hit.uncached_input + all_hit.output + all_hit.thinking
    return fixed, all_hit.cache_reads, all_miss.cache_writes


def sensitivity_frame(run: Projection, steps: int = 100) -> pd.DataFrame:
    """Total $ against hit rate 0-1 for each TTL, plus the flat no-cache line."""
    rows = []
    ttls = sorted({s.ttl for s in run.scenarios}, key=TTLS.index) or list(TTLS)
    for label, ttl in [("no cache", None)] + [(f"cache {t}", t) for t in ttls]:
        fixed, hit, miss = _coefficients(run, ttl)
        for i in range(steps + 1):
            h = Decimal(i) / steps
            rows.append({"option": label, "hit_rate": float(h), "usd": float(fixed + h * hit + (1 - h) * miss)})
    return pd.DataFrame(rows)


def break_even_frame(run: Projection) -> pd.DataFrame:
    ttls = sorted({s.ttl for s in run.scenarios}, key=TTLS.index) or list(TTLS)
    return pd.DataFrame([{"option": f"cache {t}", "hit_rate": float(run.break_even[t]),
                          "usd": float(run.no_cache.total), "label": f"break-even {t}: {run.break_even[t]:.1%}"}
                         for t in ttls if run.cacheable])


def what_if_frame(p: Plan) -> pd.DataFrame:
    """Per run x option the exact coefficients the slider combines in the browser."""
    rows = []
    for run in p.runs:
        ttls = sorted({s.ttl for s in run.scenarios}, key=TTLS.index) or list(TTLS)
        for label, ttl in [("no cache", None)] + [(f"cache {t}", t) for t in ttls]:
            fixed, hit, miss = _coefficients(run, ttl)
            rows.append({"run": run.label, "option": label, "label": f"{run.label} / {label}",
                         "fixed": float(fixed), "hit": float(hit), "miss": float(miss),
                         "budget": float(run.budget_usd) if run.budget_usd is not None else None})
    return pd.DataFrame(rows)


def budget_of(run: Projection) -> float | None:
    return float(run.budget_usd) if run.budget_usd is not None else None


# ------------------------------------------------------------------ the recommendation


@dataclass(frozen=True)
class Option:
    """One way to run: a TTL (None: no cache) at the hit rate it is judged at, and its total."""

    ttl: str | None
    judged_at: Decimal | None
    cost: Decimal
    capped: bool = False  # judged_at is the simulated batch rate, below the planning rate


@dataclass(frozen=True)
class Recommendation:
    """What the projection advises for one run: the TTL (None: do not cache), the hit rate
    it was judged at and its cost, the runner-up and why it lost, the hit rate above which
    the budget holds, and the break-evens."""

    run: Projection
    ttl: str | None
    judged_at: Decimal | None  # hit rate the TTLs were compared at
    basis: str  # where judged_at comes from, in words
    budget_hit_rate: Decimal | None  # None: no budget, or no hit rate makes it fit
    budget_holds: str  # "always" | "above" | "never" | "no budget"
    break_even: dict[str, Decimal]
    cost: Decimal | None = None  # the recommended option's total
    runner_up: Option | None = None
    why_not: str = ""  # why the runner-up lost, in a few words, with its rate and cost


def _expected_rate(run: Projection, ttl: str) -> Decimal:
    rates = {s.name: s.hit_rate for s in run.scenarios if s.ttl == ttl}
    from ..plan.projection import expected_hit_rate

    return expected_hit_rate(rates) if rates else Decimal(0)


def _total(run: Projection, ttl: str | None, h: Decimal) -> Decimal:
    fixed, hit, miss = _coefficients(run, ttl)
    return fixed + h * hit + (1 - h) * miss


def _options(run: Projection, simulated: pd.DataFrame | None) -> list[Option]:
    """Each TTL at the hit rate to expect with it (the planning rate, capped by the simulated
    batch rate for that TTL when a simulation is given), cheapest first (ties: 5m first)."""
    ttls = sorted({s.ttl for s in run.scenarios}, key=TTLS.index)
    sim: dict[str, Decimal] = {}
    if simulated is not None and len(simulated):
        rows = simulated[simulated["run"] == run.label]
        sim = {r.ttl: Decimal(str(r.request_hit_rate)) for r in rows.itertuples()}
    options = []
    for t in ttls:
        planned = _expected_rate(run, t)
        judged = min(planned, sim.get(t, Decimal(1)))
        options.append(Option(t, judged, _total(run, t, judged), capped=judged < planned))
    return sorted(options, key=lambda o: (o.cost, TTLS.index(o.ttl)))


def recommend(run: Projection, simulated: pd.DataFrame | None = None) -> Recommendation:
    """Pick the TTL with the lowest total at the hit rate to expect with it: the planning
    ('expected') hit rate, capped by the simulated batch hit rate for that TTL when a
    simulation is given (a 5m entry dies between waves of a long batch, whatever we hope).
    Why cap: choosing 5m on the planning rate alone recommends the TTL that expires. The
    runner-up is the next TTL (no cache when only one TTL is projected, the best TTL when
    caching does not pay), with why it lost."""
    if not run.cacheable or not run.scenarios:
        return Recommendation(run, None, None, run.reason or "nothing is cached", *_budget(run, None), {},
                              cost=run.no_cache.total)
    options = _options(run, simulated)
    no_cache = Option(None, None, run.no_cache.total)
    basis = "the planning rate" + (", capped by the simulated batch rate" if simulated is not None
                                   and len(simulated) else "")
    best = options[0]
    if best.cost >= run.no_cache.total:
        chosen, runner = no_cache, best
    else:
        chosen, runner = best, (options[1] if len(options) > 1 else no_cache)
    return Recommendation(run, chosen.ttl, best.judged_at, basis, *_budget(run, chosen.ttl),
                          {o.ttl: run.break_even[o.ttl] for o in sorted(options, key=lambda o: TTLS.index(o.ttl))},
                          cost=chosen.cost, runner_up=runner, why_not=_why_not(run, chosen, runner))


def _why_not(run: Projection, chosen: Option, runner: Option) -> str:
    """Why `runner` lost to `chosen`, in a few words, with its judged hit rate and cost."""
    from .display import money

    cost = money(runner.cost)
    if runner.ttl is None:
        return f"no cache would cost {cost} ({money(runner.cost - chosen.cost)} more)"
    rate = f"{runner.judged_at:.0%}"
    if chosen.ttl is None:
        be = run.break_even[runner.ttl]
        reach = f"would reach only {rate} in a batch this long (simulated)" if runner.capped else f"at {rate}"
        return f"{runner.ttl} {reach}: {cost}, more than without caching (break-even {be:.1%})"
    if runner.capped:
        return f"{runner.ttl} would reach only {rate} in a batch this long (simulated): {cost}"
    if runner.judged_at == chosen.judged_at:
        p_in, w5, w1, _, _ = run.rates.tier(int(run.tokens.system + run.tokens.user_mean))
        write = {"5m": w5, "1h": w1}
        return (f"{runner.ttl} would cost {cost} at the same {rate}: its cache writes cost more "
                f"({(write[runner.ttl] / p_in).normalize()}x the input rate, against {(write[chosen.ttl] / p_in).normalize()}x)")
    return f"{runner.ttl} at {rate} would cost {cost}"


def _budget(run: Projection, ttl: str | None) -> tuple[Decimal | None, str]:
    """The lowest hit rate at which `ttl` keeps `run` within its budget."""
    if run.budget_usd is None:
        return None, "no budget"
    budget = run.budget_usd
    if _total(run, ttl, Decimal(0)) <= budget:
        return Decimal(0), "always"
    if ttl is None or _total(run, ttl, Decimal(1)) > budget:
        return None, "never"
    fixed, hit, miss = _coefficients(run, ttl)
    return (fixed + miss - budget) / (miss - hit), "above"


def advice(r: Recommendation) -> str:
    """The recommendation in one line for a terminal (the demo's `project` lines): the option,
    its judged hit rate and cost, what it saves, and the runner-up."""
    from .display import money

    run = r.run
    text = f"{run.label:<8} {run.requests:>6,} requests: no cache {money(run.no_cache.total)}"
    if r.ttl is None:
        text += f"; do not cache ({r.why_not or r.basis})"
    else:
        saved = (run.no_cache.total - r.cost) * 100 / run.no_cache.total if run.no_cache.total else Decimal(0)
        text += (f"; recommended {r.ttl} cache at {r.judged_at:.0%} hits {money(r.cost)} (saves {saved:.0f}%); "
                 f"runner-up: {r.why_not}")
    if run.budget_usd is not None:
        text += f"; {'within' if run.within_budget else 'OVER'} budget {money(run.budget_usd, 0)}"
    return text


def recommendation_lines(p: Plan, simulated: pd.DataFrame | None = None) -> list[str]:
    """The headline advice, one sentence per run (full run first: it is what costs money),
    each naming the runner-up and why it lost."""
    from .display import money

    lines = []
    for run in (p.full, p.pilot):
        r = recommend(run, simulated)
        if r.ttl is None:
            reason = (r.basis if not run.cacheable else
                      f"caching does not pay at the {r.judged_at:.0%} hit rate to expect ({r.basis})")
            advice_text = f"{run.label}: do not cache ({reason})"
            if r.runner_up is not None:
                advice_text += f"; {r.why_not}"
        else:
            advice_text = (f"{run.label}: use the {r.ttl} TTL; at the hit rate to expect, {r.judged_at:.0%} ({r.basis}), "
                           f"it costs {money(r.cost)} against {money(run.no_cache.total)} without caching; "
                           f"runner-up: {r.why_not}")
        if r.budget_holds == "always":
            advice_text += f"; the {money(run.budget_usd)} budget holds at any hit rate"
        elif r.budget_holds == "above":
            advice_text += f"; the {money(run.budget_usd)} budget holds at hit rates above {r.budget_hit_rate:.1%}"
        elif r.budget_holds == "never":
            advice_text += f"; the {money(run.budget_usd)} budget does not hold at any hit rate"
        if r.break_even:
            advice_text += (f". Break-even for {run.model}: "
                            + ", ".join(f"{t} {h:.1%}" for t, h in r.break_even.items()))
        lines.append(advice_text + ".")
    return lines


# ------------------------------------------------------------------ the simulated hit rates

SIM_LABELS = {"run": "run", "ttl": "TTL", "requests": "requests", "waves": "waves",
              "minutes_between_waves": "minutes between waves", "request_hit_rate": "requests hitting",
              "token_hit_rate": "prompt tokens from cache", "informs": "scenario it informs", "why": "why"}
SIM_FORMATS = {"requests": ",d", "waves": ",d", "minutes_between_waves": ",.1f", "request_hit_rate": ".1%",
               "token_hit_rate": ".1%"}


def simulated_frame(p: Plan, sim: pd.DataFrame) -> pd.DataFrame:
    """sim.hit_rate_table for reading: each row says which planning scenario its hit rate
    is closest to, whether it clears break-even, and why a rate is what it is (one wave: all
    miss; waves further apart than the TTL: every entry expires)."""
    runs = {r.label: r for r in p.runs}
    rows = []
    for r in sim.itertuples(index=False):
        run = runs.get(r.run)
        h = Decimal(str(r.request_hit_rate))
        informs, why = "", _why(r)
        if run is not None:
            scenarios = [s for s in run.scenarios if s.ttl == r.ttl]
            if scenarios:
                near = min(scenarios, key=lambda s: abs(s.hit_rate - h))
                low = min(scenarios, key=lambda s: s.hit_rate)
                informs = (f"below every scenario (lowest: {low.name} {low.hit_rate:.0%})"
                           if h < low.hit_rate - Decimal("0.05") else f"closest: {near.name} ({near.hit_rate:.0%})")
            be = run.break_even.get(r.ttl)
            if be is not None and run.cacheable:
                informs += f"; {'above' if h > be else 'below'} break-even {be:.1%}"
        rows.append({"run": r.run, "ttl": r.ttl, "requests": int(r.requests), "waves": int(r.waves),
                     "minutes_between_waves": float(r.minutes_between_waves),
                     "request_hit_rate": float(r.request_hit_rate), "token_hit_rate": float(r.token_hit_rate),
                     "informs": informs, "why": why})
    return pd.DataFrame(rows, columns=list(SIM_LABELS))


def _why(r: Any) -> str:
    ttl_minutes = {"5m": 5, "1h": 60}.get(r.ttl, 0)
    if int(r.waves) <= 1:
        return "one wave: every request starts before any cache write lands, so all miss"
    if float(r.minutes_between_waves) >= ttl_minutes:
        return (f"waves {float(r.minutes_between_waves):.1f} min apart: each {r.ttl} entry expires before "
                "the next wave, only the first wave's own repeats could hit")
    return "after the first wave, later waves read the entry it wrote"
