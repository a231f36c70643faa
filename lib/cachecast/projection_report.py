"""What notebooks/01_project_spend.ipynb calls: the pilot + full-run plan and its tables.

Everything the notebook shows is computed here (exact Decimal in projection.py) and handed
over as DataFrames; the notebook itself only calls these functions, so the same numbers
come out of `cachecast project`, the notebook in JupyterLab and the HTML report.
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from .config import load_config
from .errors import InputError
from .projection import (DEFAULT_HIT_RATES, TTLS, Pins, Projection, budget_verdict, hit_rate_map, observed_pilot,
                         project_config)
from .tokens import ESTIMATE_ERROR_BAND, TokenCounter, has_api_key

REPO = Path(__file__).resolve().parents[2]
COMPONENT_LABELS = {"uncached_input": "uncached input", "cache_writes": "cache writes",
                    "cache_reads": "cache reads", "output": "output"}


@dataclass(frozen=True)
class Plan:
    config: Path
    pilot: Projection
    full: Projection

    @property
    def runs(self) -> list[Projection]:
        return [self.pilot, self.full]


def resolve_path(path: str | Path | None) -> Path | None:
    """As given (relative to the working directory), else relative to the checkout: the
    notebook runs from notebooks/ in JupyterLab but from the repo root under papermill."""
    if path is None or path == "":
        return None
    p = Path(path)
    if p.exists() or p.is_absolute():
        return p
    alt = REPO / p
    return alt if alt.exists() else p


def plan(config: str | Path, *, pilot_items: int, full_items: int, hit_rates: Iterable[float] | None = None,
         ttl: str | None = None, budget_usd: float | None = None, pilot_budget_usd: float | None = None,
         audit_db: str | Path | None = None, system_tokens: int | None = None, user_tokens: float | None = None,
         output_tokens: float | None = None, price_overrides: str | Path | None = None,
         exact: bool | None = None, token_db: str | Path | None = None) -> Plan:
    """Project the pilot (`pilot_items`) and the full run (`full_items`) of one config.

    budget_usd is the full run's budget (default: the config's budget_usd); the pilot gets
    a verdict only when pilot_budget_usd is given. exact=None counts exactly when
    ANTHROPIC_API_KEY is set."""
    path = resolve_path(config)
    cfg = load_config(path)
    if ttl not in (None, "", *TTLS):
        raise InputError(f"ttl must be one of {', '.join(TTLS)} or None, got {ttl!r}")
    rates = _hit_rates(hit_rates)
    pins = Pins(system=system_tokens, user=user_tokens, output=output_tokens)
    use_exact = has_api_key() if exact is None else exact
    counter = TokenCounter(db=resolve_path(token_db) or REPO / "data" / "cachecast.duckdb") if use_exact else None
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
    return (f"{full.model}, {'Batch API' if full.batch else 'standard API'}; tokens per request: "
            f"cached prefix {t.system:,}, rest {float(t.user_mean):,.1f}, output {float(t.output_mean):,.1f} "
            f"[{t.source}{band}]. Prices: {full.rates.source}.")


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
    out = []
    for run in p.runs:
        line = f"{run.label} ({run.requests:,} requests): {budget_verdict(run)}."
        if not run.cacheable:
            line += f" Not cacheable: {run.reason}."
        out.append(line)
    return out


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
    from .projection import request_cost

    t = run.tokens
    kwargs = dict(requests=run.requests, system=t.system, user=t.user_mean, output=t.output_mean)
    if ttl is None or not run.cacheable:
        cost = request_cost(run.rates, hits=Decimal(0), ttl=None, **kwargs)
        prefix_cost = cost.uncached_input - request_cost(run.rates, hits=Decimal(0), ttl="5m", **kwargs).uncached_input
        return cost.total - prefix_cost, prefix_cost, prefix_cost
    all_hit = request_cost(run.rates, hits=Decimal(run.requests), ttl=ttl, **kwargs)
    all_miss = request_cost(run.rates, hits=Decimal(0), ttl=ttl, **kwargs)
    fixed = all_hit.uncached_input + all_hit.output
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
