"""cachecast fetch BATCH_ID --out FILE: download a batch's results JSONL, streaming.

The file is written as FILE.part and renamed when complete; if the download stops, run the
same command again: complete lines already in FILE.part are kept and not downloaded twice.
With --db the file is ingested into the store (with --manifest DIR to join the build's
manifest)."""
from __future__ import annotations

import json
from pathlib import Path

from ...send import api
from .submit import add_connection_args, client_for, report_errors
from ._preflight import add_prices_arg


def add_parser(sub) -> None:
    p = sub.add_parser("fetch", help="download a batch's results (resumable)", description=__doc__)
    p.add_argument("batch_id", metavar="BATCH_ID")
    p.add_argument("--out", type=Path, required=True, metavar="FILE", help="results JSONL to write")
    p.add_argument("--db", type=Path, help="ingest the results into this DuckDB store")
    p.add_argument("--manifest", type=Path, metavar="DIR", help="build directory whose manifest joins the results")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    add_connection_args(p, version_help="the --manifest build's provider.api_version")
    add_prices_arg(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from ...send import results

    build_dir = args.manifest if args.manifest and args.manifest.is_dir() else None
    client = client_for(args, build_dir)
    summary = results.fetch(client, args.batch_id, args.out)
    if build_dir is not None:
        results.record_download(build_dir, summary, args.out)
    ingested = None
    if args.db is not None:
        from ...analyse.ingest_bridge import ingest_results

        created = summary.created_at  # the API's creation time: the day the results are priced at
        if created is None:  # the file was already downloaded: ask the API for the batch's date
            with api.api_errors(f"checking batch {args.batch_id}", f"the results are kept in {args.out}"):
                created = getattr(client.messages.batches.retrieve(args.batch_id), "created_at", None)
        ingested = ingest_results([args.out], args.db, manifest=args.manifest, batch_id=args.batch_id,
                                  created_at=created, overrides=args.prices, ended_at=summary.ended_at)
    if args.json:
        print(json.dumps({**summary.as_json(), "out": str(args.out), "ingest": ingested}))
        return 1 if summary.errored or summary.malformed else 0
    if summary.resumed_lines:
        print(f"resumed: {summary.resumed_lines} lines were already downloaded")
    print(summary.line())
    print(f"wrote {summary.lines} lines to {args.out}")
    if ingested is not None:
        print(ingested)
    return 1 if report_errors(summary) else 0
