"""cachecast ingest RESULTS.jsonl... --db DB [--manifest DIR] [--batch-id ID] [--priced-at DATE]
                 [--prices FILE] [--keep-raw]

Loads Message Batches results (or sync-run Message lines; .jsonl.gz too) into the DuckDB
store, one transaction per file, and prints each file's line accounting:
lines read = ingested + duplicates + quarantined. Each batch is priced at its own date:
--priced-at DATE for a bare file (default: the day it is first ingested, recorded as such;
submit and fetch pass the API's creation time).

Exit 0 when every file gave at least one result line (ingested or already stored); exit 1
when some file gave none (empty, or every line quarantined: not a results file, most
likely), after the other files are loaded and its quarantine is stored; exit 2 for bad
input refused before anything is written."""
from __future__ import annotations

import sys
from pathlib import Path

from ._preflight import add_prices_arg


def add_parser(sub) -> None:
    p = sub.add_parser("ingest", help="load batch results into the DuckDB store (idempotent)")
    p.add_argument("results", nargs="+", metavar="RESULTS.jsonl", help="results files (.jsonl or .jsonl.gz)")
    p.add_argument("--db", type=Path, required=True, help="DuckDB store (created if missing)")
    p.add_argument("--manifest", type=Path, default=None, metavar="DIR",
                   help="build directory (or manifest.jsonl) the batch was sent from")
    p.add_argument("--batch-id", default=None, help="batch id (default: msgbatch_ id in the file name, "
                   "else a fingerprint of the file)")
    p.add_argument("--keep-raw", action="store_true",
                   help="also store the raw text of ordinary succeeded lines (always kept for errored, "
                        "canceled, expired, unusual and quarantined lines); slower, larger store")
    p.add_argument("--priced-at", default=None, metavar="DATE",
                   help="the day the batch was created (YYYY-MM-DD): its results are priced at that day's "
                        "prices (default: the first ingest day)")
    add_prices_arg(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from ... import store
    from ...store.ingest import ingest_paths

    from ...store.ingest import batch_time
    from ...facts.money import overrides_path

    priced_at = batch_time(args.priced_at)  # a bad date is refused before the store is touched
    conn = store.connect(args.db)
    try:
        reports = ingest_paths(conn, args.results, batch_id=args.batch_id, manifest=args.manifest,
                               progress=None, keep_raw=args.keep_raw,  # a bar on a terminal, for large files
                               overrides=overrides_path(args.prices), created_at=priced_at,
                               created_at_source="priced-at" if priced_at else None)
    finally:
        conn.close()
    for report in reports:
        print(report.summary())
        for reason, n in list(report.reasons.items())[:5]:
            print(f"  quarantined {n:,}: {reason}")
        if len(report.reasons) > 5:
            print(f"  ... and {len(report.reasons) - 5} more reasons (table quarantine)")
    if len(reports) > 1:
        total = {k: sum(getattr(r, k) for r in reports) for k in ("lines_read", "ingested", "duplicates", "quarantined")}
        print(f"total: {total['lines_read']:,} lines read = {total['ingested']:,} ingested + "
              f"{total['duplicates']:,} duplicates + {total['quarantined']:,} quarantined")
    empty = [r for r in reports if r.ingested + r.duplicates == 0]
    for r in empty:
        what = f"all {r.quarantined:,} of its lines were quarantined" if r.quarantined else "it has no lines"
        print(f"cachecast ingest: {r.source_file}: no result line could be used ({what}); is it a Message "
              "Batches results file?", file=sys.stderr)
    return 1 if empty else 0
