"""cachecast audit --db DB [--batch-id ID] [--prices FILE] [--json]

The truth about a batch: requests, tokens from the cache, real cost against no caching.
--json prints the contract object (DESIGN.md) and nothing else on stdout. Each batch is
priced at its own date with the rates snapshotted at ingest; --prices FILE (or
CACHECAST_PRICES) re-prices the models the file covers for this command only (a what-if),
and records them in the store for later commands only with --store-prices."""
from __future__ import annotations

import json
from pathlib import Path

from ._preflight import add_prices_arg, add_store_prices_arg


def add_parser(sub) -> None:
    p = sub.add_parser("audit", help="hit rates, real cost and savings of ingested batches")
    p.add_argument("--db", type=Path, required=True, help="DuckDB store written by `cachecast ingest`")
    p.add_argument("--batch-id", default=None, help="one batch (default: every batch in the store)")
    p.add_argument("--json", action="store_true", help="print the audit contract as one JSON object")
    p.add_argument("--csv", type=Path, default=None, metavar="DIR",
                   help="also write each table (summary, batches, treatments, anomalies, misses by cause, errors, "
                        "server-side turns, truncation) "
                        "as DIR/audit_<table>.csv")
    add_prices_arg(p)
    add_store_prices_arg(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from ...analyse import audit, billed, prewarm, what_if
    from ... import store

    conn = store.connect_existing(args.db)
    try:
        what_if.priced(conn, args.prices, args.store_prices)  # a what-if unless --store-prices
        totals = audit.totals(conn, args.batch_id)
        written = _write_csv(conn, args.csv, args.batch_id, totals) if args.csv else []
        if args.json:  # the contract keys first, then what else was billed, the probes and pre-warm verdicts
            print(json.dumps({**totals.contract(), **billed.details(conn, args.batch_id, totals),
                              **prewarm.probe_summary(conn, args.batch_id)}))
            return 0
        print(audit.headline(totals))
        print(audit.status_line(totals))
        for line in billed.lines(conn, args.batch_id):
            print(line)
        if prewarm.probe_cost(conn, args.batch_id)["probes"]:
            for line in prewarm.prewarm_lines(conn, args.batch_id):
                print(line)
        counts = audit.anomaly_counts(conn, args.batch_id)
        if len(counts):
            parts = [f"{int(n):,} {kind}" for kind, n in zip(counts["kind"], counts["requests"])]
            print(f"anomalies: {', '.join(parts)} (details: cachecast report audit, or cachecast.audit.anomalies)")
        if totals.ttl_assumed_requests:
            print(f"note: {totals.ttl_assumed_requests:,} requests had cache writes without a TTL breakdown and no "
                  "manifest TTL; priced as 5m writes (ingest with --manifest to use the requested TTL)")
        if totals.price_sources:
            print(f"prices (each batch at its own date, {totals.priced_on}): {totals.price_sources}")
        if written:
            print(f"wrote {', '.join(str(p) for p in written)}")
    finally:
        conn.close()
    return 0


def _write_csv(conn, out: Path, batch_id: str | None, totals) -> list[Path]:
    """Every audit table as CSV (DuckDB COPY, via cachecast.analyse.ledger.write_csv)."""
    import pandas as pd

    from ...analyse import audit, billed, ledger

    summary, rows = audit.miss_causes(conn, batch_id)
    batches = audit.batches(conn)
    if batch_id is not None:
        batches = batches[batches["batch_id"] == batch_id]
    frames = {"audit_summary": pd.DataFrame([totals.contract()]), "audit_batches": batches,
              "audit_treatments": audit.treatments(conn, batch_id), "audit_anomalies": audit.anomalies(conn, batch_id),
              "audit_miss_causes": summary.astype({"usd_lost": float}), "audit_miss_rows": rows,
              "audit_errors": audit.errors_by_type(conn, batch_id),
              "audit_iterations": billed.iterations(conn, batch_id),
              "audit_truncation": billed.truncation_frame(billed.truncation(conn, batch_id))}
    return ledger.write_csv(conn, frames, out)
