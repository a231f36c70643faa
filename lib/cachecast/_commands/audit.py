"""cachecast audit --db DB [--batch-id ID] [--json]

The truth about a batch: requests, tokens from the cache, real cost against no caching.
--json prints the contract object (DESIGN.md) and nothing else on stdout."""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import InputError


def add_parser(sub) -> None:
    p = sub.add_parser("audit", help="hit rates, real cost and savings of ingested batches")
    p.add_argument("--db", type=Path, required=True, help="DuckDB store written by `cachecast ingest`")
    p.add_argument("--batch-id", default=None, help="one batch (default: every batch in the store)")
    p.add_argument("--json", action="store_true", help="print the audit contract as one JSON object")
    p.set_defaults(run=run)


def run(args) -> int:
    from .. import audit, store

    if not args.db.exists():
        raise InputError(f"{args.db}: no such database (run cachecast ingest first)")
    conn = store.connect(args.db)
    try:
        totals = audit.totals(conn, args.batch_id)
        if args.json:
            print(json.dumps(totals.contract()))
            return 0
        print(audit.headline(totals))
        print(audit.status_line(totals))
        counts = audit.anomaly_counts(conn, args.batch_id)
        if len(counts):
            parts = [f"{int(n):,} {kind}" for kind, n in zip(counts["kind"], counts["requests"])]
            print(f"anomalies: {', '.join(parts)} (details: cachecast report audit, or cachecast.audit.anomalies)")
        if totals.ttl_assumed_requests:
            print(f"note: {totals.ttl_assumed_requests:,} requests had cache writes without a TTL breakdown and no "
                  "manifest TTL; priced as 5m writes (ingest with --manifest to use the requested TTL)")
        if totals.price_sources:
            print(f"prices: {totals.price_sources}")
    finally:
        conn.close()
    return 0
