"""cachecast project CONFIG [--items N] [--system-tokens S] [--user-tokens U]
                 [--output-tokens O] [--thinking-tokens T] [--hit-rate H ...] [--ttl 5m|1h]
                 [--prices FILE] [--json]

Token counts are exact (count_tokens, remembered in the store) when ANTHROPIC_API_KEY is
set, else an offline estimate. Output is the answer plus the model's thinking (its own
cost component); --output-tokens alone is the whole output. Negotiated prices: --prices
FILE or CACHECAST_PRICES (see cachecast.facts.pricing). An audited pilot store given in
CACHECAST_AUDIT_DB (or --audit-db) calibrates output and prompt sizes."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

from .._argtypes import bounded_float, bounded_int
from ...build.config import load_config
from ...facts.money import overrides_path
from ...plan.budget import figures
from ...plan.calibration import observed_pilot
from ...plan.projection import Pins, Projection, budget_verdict, hit_rate_map, project_config, to_json
from ...facts.tokenizer import ESTIMATE_ERROR_BAND
from ...tokens.count import TokenCounter, has_api_key
from ._preflight import add_prices_arg, check_config
from .count import default_db


def add_parser(sub) -> None:
    p = sub.add_parser("project", help="project pilot/full-run spend with and without caching")
    p.add_argument("config", type=Path)
    p.add_argument("--items", type=bounded_int(1, 10**9), default=None, help="number of items (default: the config's items)")
    p.add_argument("--system-tokens", type=bounded_int(0, 10**8), default=None, help="pin the cached prefix S (tokens)")
    p.add_argument("--user-tokens", type=bounded_float(0, 1e8), default=None, help="pin the rest of the prompt U (tokens/request)")
    p.add_argument("--output-tokens", type=bounded_float(0, 1e8), default=None,
                   help="pin the output O (tokens/request); alone it is the whole output, thinking included")
    p.add_argument("--thinking-tokens", type=float, default=None, metavar="T",
                   help="pin the thinking tokens per request (added to the answer; default: the model's effort "
                        "assumption or the audited pilot)")
    p.add_argument("--hit-rate", type=float, nargs="+", default=None, metavar="H",
                   help="hit rates 0-1 to project (default 0.30 0.80 0.98)")
    p.add_argument("--ttl", choices=["5m", "1h"], default=None, help="only this TTL")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--audit-db", type=Path, default=None, help="audited pilot store to calibrate from")
    p.add_argument("--budget-basis", choices=["worst_expected", "ceiling"], default="worst_expected",
                   help="the figure within_budget is judged on (default: the worst expected; ceiling: every "
                        "output at max_tokens too)")
    add_prices_arg(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from ...errors import InputError

    cfg = load_config(args.config)
    check_config(cfg, "project")
    for flag in ("system_tokens", "user_tokens", "output_tokens", "thinking_tokens", "items"):
        value = getattr(args, flag)
        if value is not None and not math.isfinite(value):  # float("nan") and "inf" parse; Decimal math fails
            raise InputError(f"--{flag.replace('_', '-')} must be a number, got {value}")
        if value is not None and value < (1 if flag == "items" else 0):
            raise InputError(f"--{flag.replace('_', '-')} must be {'at least 1' if flag == 'items' else '>= 0'}")
    for rate in args.hit_rate or ():
        if not math.isfinite(rate):
            raise InputError(f"hit rate {rate} is not a number between 0 and 1")
    pins = Pins(system=args.system_tokens, user=args.user_tokens, output=args.output_tokens,
                thinking=args.thinking_tokens)
    counter = None
    if has_api_key() and (pins.system is None or pins.user is None):
        counter = TokenCounter(db=default_db(), api_version=cfg.provider.api_version)
    audit_db = args.audit_db or (Path(os.environ["CACHECAST_AUDIT_DB"]) if os.environ.get("CACHECAST_AUDIT_DB") else None)
    projection = project_config(
        cfg, items=args.items, pins=pins, hit_rates=hit_rate_map(args.hit_rate),
        ttls=[args.ttl] if args.ttl else ("5m", "1h"), counter=counter,
        pilot=observed_pilot(audit_db) if audit_db else None, overrides=overrides_path(args.prices),
        budget_basis=args.budget_basis)
    if args.json:
        print(json.dumps(to_json(projection)))
    else:
        print(render(projection, cfg))
    return 0


def render(p: Projection, cfg=None) -> str:
    t = p.tokens
    temps = f" x {len(cfg.temperatures)} temperatures" if cfg is not None and len(cfg.temperatures) > 1 else ""
    shape = (f"{p.items:,} items x {len(cfg.treatments)} treatments{temps} x {cfg.repeats} sample(s)"
             if cfg is not None else f"{p.items:,} items")
    src = {"estimate": f"ESTIMATE, +/-{ESTIMATE_ERROR_BAND:.0%}", "exact": "exact (count_tokens)",
           "override": "given", "calibrated": "calibrated from the audited pilot", "config": "from the config"}
    r = p.rates
    lines = [
        f"{p.model} {'(Batch API)' if p.batch else '(standard API)'}: {shape} = {p.requests:,} requests",
        "tokens per request:",
        f"  cached prefix S  {t.system:>10,}   {src.get(t.sources.get('system', ''), '')}",
        f"  rest of prompt U {float(t.user_mean):>10,.1f}   {src.get(t.sources.get('user', ''), '')}",
        f"  output O         {float(t.output_mean):>10,.1f}   {src.get(t.sources.get('output', ''), '')}",
        f"    of it thinking {float(t.thinking_mean):>10,.1f}   {t.sources.get('thinking', '')}",
        *(f"  ({n})" for n in t.notes),
        f"prices per MTok: input {r.input}, 5m write {r.write_5m}, 1h write {r.write_1h}, read {r.read}, "
        f"output {r.output}  [{r.source}]",
        "",
    ]
    if not p.cacheable:
        lines += [f"NOT CACHEABLE: {p.reason}; every scenario equals no cache.", ""]
    header = f"  {'scenario':<14} {'ttl':>4} {'hit rate':>9} {'total $':>12} {'saved $':>11} {'saved %':>8}"
    lines += [header, "  " + "-" * (len(header) - 2),
              f"  {'no cache':<14} {'-':>4} {'-':>9} {p.no_cache.total:>12,.2f} {'-':>11} {'-':>8}"]
    for s in p.scenarios:
        lines.append(f"  {s.name:<14} {s.ttl:>4} {s.hit_rate:>9.0%} {s.cost.total:>12,.2f} {s.savings:>11,.2f} "
                     f"{s.savings_pct:>7.1f}%")
    lines += ["", "break-even hit rate (caching pays above it): "
              + ", ".join(f"{ttl} {v:.2%}" for ttl, v in p.break_even.items()),
              f"budget: {budget_verdict(p)}"]
    warning = figures(p).ceiling_warning()
    if warning:
        lines.append(warning)
    return "\n".join(lines)
