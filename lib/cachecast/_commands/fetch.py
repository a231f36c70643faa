"""cachecast fetch BATCH_ID --out FILE: download a batch's results JSONL, streaming.

The file is written as FILE.part and renamed when complete; if the download stops, run the
same command again: complete lines already in FILE.part are kept and not downloaded twice.
With --db the file is ingested into the store (with --manifest DIR to join the build's
manifest)."""
from __future__ import annotations

import json
from pathlib import Path

from .. import api
from .submit import add_connection_args


def add_parser(sub) -> None:
    p = sub.add_parser("fetch", help="download a batch's results (resumable)", description=__doc__)
    p.add_argument("batch_id", metavar="BATCH_ID")
    p.add_argument("--out", type=Path, required=True, metavar="FILE", help="results JSONL to write")
    p.add_argument("--db", type=Path, help="ingest the results into this DuckDB store")
    p.add_argument("--manifest", type=Path, metavar="DIR", help="build directory whose manifest joins the results")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    add_connection_args(p)
    p.set_defaults(run=run)


def run(args) -> int:
    client = api.make_client(args.base_url, args.max_retries)
    summary = api.fetch(client, args.batch_id, args.out)
    ingested = None
    if args.db is not None:
        from ..ingest_bridge import ingest_results

        ingested = ingest_results([args.out], args.db, manifest=args.manifest, batch_id=args.batch_id)
    if args.json:
        print(json.dumps({**summary.as_json(), "out": str(args.out), "ingest": ingested}))
        return 0
    if summary.resumed_lines:
        print(f"resumed: {summary.resumed_lines} lines were already downloaded")
    print(summary.line())
    print(f"wrote {summary.lines} lines to {args.out}")
    if ingested is not None:
        print(ingested)
    return 0
