"""cachecast ledger --db DB [--run NAME] [--prices FILE [--store-prices]] [--json] [--csv DIR]

After each batch: a run's batches against its budget, what is spent, what remains, and the
forecast at completion at the costs actually audited (cachecast.ledger). --json prints the
contract object (DESIGN.md) and nothing else on stdout; --csv DIR writes each table as CSV.
--prices FILE is a what-if for this command only; --store-prices keeps its rates in the store."""
from __future__ import annotations

import json
from pathlib import Path

from ._preflight import add_prices_arg, add_store_prices_arg


def add_parser(sub) -> None:
    p = sub.add_parser("ledger", help="a run's spend against its budget, with the forecast at completion")
    p.add_argument("--db", type=Path, required=True, help="DuckDB store written by `cachecast ingest`")
    p.add_argument("--run", dest="run_name", default=None, metavar="NAME", help="run name (or run id) (default: the most recent run)")
    p.add_argument("--json", action="store_true", help="print the ledger contract as one JSON object")
    p.add_argument("--csv", type=Path, default=None, metavar="DIR", help="also write each table as DIR/<table>.csv")
    add_prices_arg(p)
    add_store_prices_arg(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from ...analyse import audit, ledger, what_if
    from ... import store

    conn = store.connect_existing(args.db)
    try:
        what_if.priced(conn, args.prices, args.store_prices)  # a what-if unless --store-prices
        led = ledger.ledger(conn, args.run_name)
        written = ledger.write_csv(conn, ledger.tables(led), args.csv) if args.csv else []
    finally:
        conn.close()
    if args.json:
        print(json.dumps(led.contract()))
        return 0
    print(ledger.headline(led))
    print(led.reconciled)
    for note in led.notes:
        print(f"note: {note}")
    for b in ledger.batches_frame(led).to_dict("records"):
        print(f"  {b['batch_id']}: {b['succeeded']:,} of {b['requests']:,} succeeded, {b['errored']:,} errored, "
              f"token hit rate {b['token_hit_rate']:.1%}, {audit.money(b['cost_usd'])} "
              f"(no cache {audit.money(b['no_cache_cost_usd'])})")
    if written:
        print(f"wrote {', '.join(str(p) for p in written)}")
    return 0
