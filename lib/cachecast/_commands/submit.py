"""cachecast submit DIR [--wait]: send a build's request shards as Message Batches.

One batch per shard, recorded in DIR/batches.json so a re-run never submits twice. A
budget gate refuses when the projected spend of these files exceeds the config's budget
(override with --force). With --wait: poll until every batch has ended, download each
results file to DIR/results/BATCH_ID.jsonl, log one line per batch (counts, cache tokens,
token hit rate) and, with --db, ingest them into the store.
"""
from __future__ import annotations

from pathlib import Path

from .. import api
from ..errors import InputError


def add_parser(sub) -> None:
    p = sub.add_parser("submit", help="submit built request shards as Message Batches",
                       description=__doc__.split("\n\n", 1)[1])
    p.add_argument("dir", type=Path, metavar="DIR", help="directory made by cachecast build")
    p.add_argument("--wait", action="store_true", help="poll until the batches end, then download (and ingest)")
    p.add_argument("--force", action="store_true", help="submit even when the projection exceeds the budget")
    p.add_argument("--db", type=Path, help="with --wait: ingest the results into this DuckDB store")
    add_connection_args(p)
    p.add_argument("--poll-interval", type=float, default=api.DEFAULT_POLL_SECONDS, metavar="SECONDS",
                   help="seconds between status checks with --wait (default %(default)s)")
    p.set_defaults(run=run)


def add_connection_args(p) -> None:
    """Flags every API command shares; the key itself only ever comes from ANTHROPIC_API_KEY."""
    p.add_argument("--base-url", help="API base URL (default: ANTHROPIC_BASE_URL or Anthropic's)")
    p.add_argument("--max-retries", type=int, default=api.DEFAULT_MAX_RETRIES,
                   help="retries the SDK makes on 429/5xx/network errors (default %(default)s)")


def run(args) -> int:
    from ..gate import check_budget

    build_dir: Path = args.dir
    if not build_dir.is_dir():
        raise InputError(f"{build_dir}: not a directory; submit takes the --out directory of cachecast build")
    if args.db and not args.wait:
        raise InputError("--db needs --wait (results exist only once the batches have ended); "
                         "or run cachecast fetch BATCH_ID --out FILE --db DB later")
    print(check_budget(build_dir, force=args.force))
    client = api.make_client(args.base_url, args.max_retries)
    submission = api.submit(client, build_dir)
    if not args.wait:
        ids = " ".join(r.batch_id for r in submission.records)
        print(f"check progress with: cachecast status {build_dir}   (batches: {ids})")
        return 0
    return finish(client, build_dir, submission.records, args.db, args.poll_interval)


def finish(client, build_dir: Path, records, db: Path | None, poll_seconds: float) -> int:
    """Wait, download each batch to DIR/results/, log its line, ingest when asked."""
    states = api.wait(client, [r.batch_id for r in records], poll_seconds=poll_seconds)
    for record in records:
        record.processing_status = states[record.batch_id].processing_status
        out = build_dir / "results" / f"{record.batch_id}.jsonl"
        summary = api.fetch(client, record.batch_id, out)
        record.results = str(out.relative_to(build_dir))
        api.write_records(build_dir, records)
        print(summary.line())
        if db is not None:
            from ..ingest_bridge import ingest_results

            print(ingest_results([out], db, manifest=build_dir, batch_id=record.batch_id))
    return 0
