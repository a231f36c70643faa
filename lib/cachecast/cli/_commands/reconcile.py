"""cachecast reconcile --db DB [--since DATE] [--until DATE] [--json] [--csv DIR] [filters]

Compares Anthropic's own organization cost and usage reports (the Admin API, key from
ANTHROPIC_ADMIN_KEY only) with what the store holds, day by day, model by model and cost
type by cost type, and flags every cell whose difference exceeds the tolerance, with its
likely cause (cachecast.analyse.reconcile; docs/reconcile.md). The result is kept in the
store, so the ledger can say "reconciled through DATE". Exit 0 when every cell matches,
1 when a cell is flagged, 2 for bad input.

For an exact match, run the evaluation under an identity of its own (an API key, a
service account, a workspace or an RBAC group) and filter the report on it."""
from __future__ import annotations

import argparse
import json
from datetime import date
from decimal import Decimal
from pathlib import Path

from ...send import api
from .._argtypes import bounded_float, bounded_int
from ._preflight import add_call_deadline_arg, add_prices_arg, add_store_prices_arg

# --flag -> the report's filter parameter (cachecast.send.analytics.Filters)
FILTERS = {
    "model": ("models", "only these models (as the report names them, e.g. claude-sonnet-5-5)"),
    "product": ("products", "product surfaces, e.g. message_batches_api, messages_api"),
    "speed": ("speeds", "standard or fast"),
    "inference_geo": ("inference_geos", "global, us or not_available"),
    "service_tier": ("service_tiers", "batch, standard, priority, ..."),
    "api_key_id": ("api_key_ids", "usage authenticated by these API keys (apikey_...)"),
    "workspace_id": ("workspace_ids", "usage in these workspaces (wrkspc_...)"),
    "user_id": ("actor_ids", "usage attributed to these users (user_...)"),
    "service_account_id": ("actor_ids", "usage attributed to these service accounts (svac_...)"),
    "user_profile_id": ("user_profile_ids", "usage attributed to these user profiles (uprof_...)"),
    "rbac_group_id": ("rbac_group_ids", "usage attributed to these RBAC groups (rbac_group_...)"),
}


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a day as YYYY-MM-DD, got {text[:40]!r}") from None


def add_parser(sub) -> None:
    p = sub.add_parser("reconcile", help="compare Anthropic's cost and usage reports with the store, day by day",
                       description=__doc__.split("\n\n", 1)[1])
    p.add_argument("--db", type=Path, required=True, help="DuckDB store written by `cachecast ingest`")
    p.add_argument("--since", type=_day, default=None, metavar="DATE",
                   help="first day (UTC) to compare (default: the store's first day of spend; at the earliest 2026-01-01)")
    p.add_argument("--until", type=_day, default=None, metavar="DATE",
                   help="last day (UTC, inclusive) to compare (default: the store's last day of spend, at most today)")
    p.add_argument("--json", action="store_true", help="print one JSON object (docs/reconcile.md)")
    p.add_argument("--csv", type=Path, default=None, metavar="DIR",
                   help="also write DIR/reconcile_cells.csv and DIR/reconcile_days.csv")
    for flag, (_, text) in FILTERS.items():
        p.add_argument(f"--{flag.replace('_', '-')}", dest=f"filter_{flag}", action="append", default=[],
                       metavar="VALUE", help=f"report filter (repeatable): {text}")
    p.add_argument("--tolerance-pct", type=bounded_float(0, 100), default=0.5, metavar="PCT",
                   help="flag a cell when it differs by more than this share of the billed amount (0-100, default "
                        "%(default)s) and more than --tolerance-usd")
    p.add_argument("--tolerance-usd", type=bounded_float(0, 10**9), default=0.01, metavar="USD",
                   help="... and by more than this many dollars (default %(default)s)")
    p.add_argument("--amount-unit", choices=["cents", "dollars"], default="cents",
                   help="what the report's amount strings are in (the SDK documents cents; default %(default)s)")
    p.add_argument("--batch-day", choices=["created", "ended"], default="created",
                   help="the day a batch's lines count on: its creation (default) or its end, when recorded")
    p.add_argument("--no-save", action="store_true", help="do not keep the result in the store")
    p.add_argument("--base-url", help="API base URL (default: ANTHROPIC_BASE_URL or Anthropic's)")
    p.add_argument("--max-retries", type=bounded_int(0, 100), default=api.DEFAULT_MAX_RETRIES,
                   help="retries the SDK makes on 429/5xx/network errors (default %(default)s)")
    p.add_argument("--timeout", type=bounded_float(1, 86400), default=api.DEFAULT_TIMEOUT, metavar="SECONDS",
                   help="wait at most this long for each read or write of a request (default %(default)s)")
    p.add_argument("--connect-timeout", type=bounded_float(0.1, 600), default=api.DEFAULT_CONNECT_TIMEOUT,
                   metavar="SECONDS",
                   help="wait at most this long to connect (default %(default)s)")
    add_call_deadline_arg(p)
    add_prices_arg(p)
    add_store_prices_arg(p)
    p.set_defaults(run=run)


def filters_of(args):
    from ...send.analytics import Filters, check_filters

    values: dict[str, list[str]] = {}
    for flag, (param, _) in FILTERS.items():
        values.setdefault(param, []).extend(v.strip() for v in getattr(args, f"filter_{flag}") if v.strip())
    return check_filters(Filters(**{k: tuple(dict.fromkeys(v)) for k, v in values.items()}))


def run(args) -> int:
    from ... import store
    from ...analyse import reconcile, reconcile_store, what_if
    from ...send import analytics

    filters = filters_of(args)
    tol_pct, tol_usd = Decimal(str(args.tolerance_pct)), Decimal(str(args.tolerance_usd))
    conn = store.connect_existing(args.db)
    try:
        today = analytics.utc_today()
        since, until = reconcile.store_range(conn, args.since, args.until, args.batch_day, today)
        analytics.check_range(since, until, today)  # before the key is read or any call is made
        client = api.make_admin_client(args.base_url, args.max_retries, timeout=args.timeout,
                                       connect_timeout=args.connect_timeout, call_deadline=args.call_deadline)
        what_if.priced(conn, args.prices, args.store_prices)  # a what-if unless --store-prices
        rec = reconcile.reconcile(conn, client, since=since, until=until, filters=filters, tolerance_pct=tol_pct,
                                  tolerance_usd=tol_usd, amount_unit=args.amount_unit, batch_day=args.batch_day,
                                  overrides=args.prices)
        if args.no_save:
            rec.reconciled_through = reconcile_store.reconciled_through(conn)
        else:
            reconcile_store.save(conn, rec)
        written = reconcile_store.write_csv(rec, args.csv) if args.csv else []
    finally:
        conn.close()
    if args.json:
        print(json.dumps(rec.contract()))
    else:
        print(render(rec))
        if written:
            print(f"wrote {', '.join(str(p) for p in written)}")
    return 1 if rec.flagged else 0


def render(rec) -> str:
    """The summary, the notes, then every cell (billed, audited, difference in dollars and
    tokens), each flagged one followed by its cause."""
    from ...analyse.reconcile import summary_lines

    lines = summary_lines(rec) + [f"note: {n}" for n in rec.notes] + [""]
    head = (f"  {'day':<10} {'model':<22} {'component':<40} {'cw':<8} {'geo':<13} {'billed $':>12} "
            f"{'audited $':>12} {'diff $':>11} {'billed tok':>12} {'audited tok':>12} {'diff tok':>10}")
    lines += [head, "  " + "-" * (len(head) - 2)]
    for c in rec.cells:
        mark = "!" if c.flagged else " "
        lines.append(f"{mark} {str(c.day):<10} {(c.model or '-')[:22]:<22} {c.component[:40]:<40} "
                     f"{c.context_window or '-':<8} {c.inference_geo or '-':<13} {c.billed:>12.6f} {c.audited:>12.6f} "
                     f"{c.difference:>+11.6f} {_tokens(c.billed_tokens):>12} {_tokens(c.audited_tokens):>12} "
                     f"{_tokens(c.difference_tokens, signed=True):>10}")
        if c.flagged:
            lines.append(f"    -> {c.cause}: {c.explanation}")
    if not rec.cells:
        lines.append("  (neither the report nor the store has any cost in this range)")
    return "\n".join(lines)


def _tokens(value: int | None, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+,}" if signed else f"{value:,}"
