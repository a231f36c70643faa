"""cachecast submit DIR [--wait]: send a build's request shards as Message Batches.

One batch per shard, recorded in DIR/batches.json so a re-run never submits twice. A
budget gate refuses when the projected spend of these files exceeds the config's budget
(override with --force). With --wait: poll until every batch has ended, download each
results file to DIR/results/BATCH_ID.jsonl, log one line per batch (counts, cache tokens,
token hit rate) and, with --db, ingest them into the store.

Before any batch is created, one synchronous probe per distinct request shape is sent
(cachecast probe; --no-probe skips it): a shape the API rejects stops here with exit 2, the
API's message and the custom_ids that share it (--force does not override it; --no-probe skips it). Its projected cost (standard rates) is
printed first and counted by the budget gate; its usage goes to the store (--db, else
CACHECAST_DB). --prewarm makes the probes write the cached prefix, so the batch's first
wave can read it; with --wait the results are then ingested into that store and the
pre-warm verdict is measured from them ("pre-warm paid $X", "pre-warm was not read", or
"not enough data").
"""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import sys

from ...build.build_files import build_api_version
from ...send import api
from .._argtypes import bounded_float, bounded_int
from ...errors import InputError
from ...facts.models import API_VERSIONS, DEFAULT_API_VERSION
from ._preflight import add_call_deadline_arg, add_prices_arg


def add_parser(sub) -> None:
    p = sub.add_parser("submit", help="submit built request shards as Message Batches",
                       description=__doc__.split("\n\n", 1)[1])
    p.add_argument("dir", type=Path, metavar="DIR", help="directory made by cachecast build")
    p.add_argument("--wait", action="store_true", help="poll until the batches end, then download (and ingest)")
    p.add_argument("--force", action="store_true", help="submit even when the projection exceeds the budget")
    p.add_argument("--budget-basis", choices=["worst_expected", "ceiling"], default="worst_expected",
                   help="the figure the budget gate refuses on: the worst expected (default; every request "
                        "writes, none reads, expected output) or the ceiling (every output at max_tokens too)")
    p.add_argument("--db", type=Path, help="with --wait: ingest the results into this DuckDB store")
    add_connection_args(p)
    p.add_argument("--poll-interval", type=bounded_float(0, 86400), default=api.DEFAULT_POLL_SECONDS, metavar="SECONDS",
                   help="seconds between status checks with --wait (default %(default)s)")
    p.add_argument("--deadline", type=bounded_float(1, 7 * 86400), default=None, metavar="SECONDS",
                   help="with --wait: stop waiting after this long (the batches keep running; default: until they end)")
    add_prices_arg(p)
    p.add_argument("--no-probe", action="store_true",
                   help="do not validate each request shape with a synchronous call first")
    p.add_argument("--prewarm", action="store_true",
                   help="the probes keep the cached prefix and TTL, writing the cache before the batch")
    p.add_argument("--first-wave", type=bounded_int(1, 100_000), default=None, metavar="N",
                   help="with --wait --prewarm: requests per prefix counted as the first wave in the verdict "
                        "(default: the concurrency assumption of the projection)")
    p.set_defaults(run=run)


def add_connection_args(p, version_help: str = "the build's provider.api_version") -> None:
    """Flags every API command shares; the key itself only ever comes from ANTHROPIC_API_KEY."""
    p.add_argument("--base-url", help="API base URL (default: ANTHROPIC_BASE_URL or Anthropic's)")
    p.add_argument("--max-retries", type=bounded_int(0, 100), default=api.DEFAULT_MAX_RETRIES,
                   help="retries the SDK makes on 429/5xx/network errors (default %(default)s)")
    p.add_argument("--api-version", choices=API_VERSIONS, default=None,
                   help=f"anthropic-version header to send (default: {version_help}, else {DEFAULT_API_VERSION})")
    p.add_argument("--timeout", type=bounded_float(1, 604800), default=api.DEFAULT_TIMEOUT, metavar="SECONDS",
                   help="wait at most this long for each read or write of a request (default %(default)s)")
    p.add_argument("--connect-timeout", type=bounded_float(0.1, 600), default=api.DEFAULT_CONNECT_TIMEOUT,
                   metavar="SECONDS", help="wait at most this long to connect (default %(default)s)")
    add_call_deadline_arg(p)


def client_for(args, build_dir: Path | None = None):
    """The SDK client for a command: the build's anthropic-version and anthropic-beta values."""
    from ...build.build_files import build_betas

    version = args.api_version or (build_api_version(build_dir) if build_dir else None) or DEFAULT_API_VERSION
    return api.make_client(args.base_url, args.max_retries, timeout=args.timeout, api_version=version,
                           connect_timeout=args.connect_timeout, betas=build_betas(build_dir) if build_dir else (),
                           call_deadline=args.call_deadline)


def lint_gate(build_dir: Path, force: bool) -> None:
    """Submit spends money: a build with error-level lint findings stops here unless --force."""
    from ...build.lint import lint_path, render

    report = lint_path(build_dir)
    if report.errors and not force:
        print(render(report, build_dir), file=sys.stderr)
        raise InputError(f"{build_dir}: lint found {report.errors} error(s) that the API would reject or that "
                         "waste the cache (listed above); nothing was submitted (fix and rebuild, or --force)")
    if report.errors:
        print(f"lint: {report.errors} error(s) ignored (--force)", file=sys.stderr)


def run(args) -> int:
    from ...plan.gate import check_budget

    build_dir: Path = args.dir
    if not build_dir.is_dir():
        raise InputError(f"{build_dir}: not a directory; submit takes the --out directory of cachecast build")
    if args.db and not args.wait:
        raise InputError("--db needs --wait (results exist only once the batches have ended); "
                         "or run cachecast fetch BATCH_ID --out FILE --db DB later")
    if getattr(args, "no_probe", False) and getattr(args, "prewarm", False):
        raise InputError("--prewarm sends the probes, --no-probe skips them: give one of the two")
    api.api_key()  # no key: one sentence before any lint, gate or probe work is printed
    lint_gate(build_dir, args.force)
    prices = getattr(args, "prices", None)
    plan = probe_plan(args, build_dir)
    gate = check_budget(build_dir, force=args.force, overrides=prices,
                        probe_usd=plan.projected_usd if plan else Decimal(0),
                        basis=getattr(args, "budget_basis", "worst_expected"))
    for line in gate.splitlines():
        print(line, file=sys.stderr if line.startswith("warning") else sys.stdout)
    client = client_for(args, build_dir)
    if plan is not None:
        run_probe(client, plan, build_dir, probe_db(args), prices)
    submission = api.submit(client, build_dir)
    if not args.wait:
        ids = " ".join(r.batch_id for r in submission.records)
        print(f"check progress with: cachecast status {build_dir}   (batches: {ids})")
        return 0
    warmed = plan is not None and plan.prewarm
    db = probe_db(args) if warmed else args.db  # the verdict is measured from stored results
    code = finish(client, build_dir, submission.records, db, args.poll_interval, prices, deadline=args.deadline)
    if warmed:
        print_prewarm_verdict(db, submission.records, getattr(args, "first_wave", None))
    return code


def probe_db(args) -> Path:
    """Where probes are stored: --db, else the default store (CACHECAST_DB)."""
    from .count import default_db

    return args.db or default_db()


def probe_plan(args, build_dir: Path):
    """The probe's shapes and projected cost, or None with --no-probe or nothing left to submit."""
    from ...send import probe
    from ...build.build_files import request_files

    if getattr(args, "no_probe", False):
        return None
    done = {r.shard for r in api.read_records(build_dir)}
    if all(shard.name in done for shard in request_files(build_dir)):
        return None  # every shard is a batch already: nothing will be created, nothing to validate
    version = args.api_version or build_api_version(build_dir) or DEFAULT_API_VERSION
    plan = probe.plan(build_dir, version, prewarm=getattr(args, "prewarm", False), overrides=getattr(args, "prices", None))
    print(probe.plan_line(plan))
    return plan


def run_probe(client, plan, build_dir: Path, db: Path, prices: Path | None) -> None:
    """Send the probes: a rejection raises ProbeError (exit 2) before any batch exists. Even
    with --force: the API has just said no to these requests, so a batch of them would only
    come back errored; --no-probe is the way to skip the check on purpose."""
    from ...send import probe

    probe.execute(client, plan, build_dir, db, overrides=prices,
                  log=lambda line: print(line, file=sys.stderr) if line.startswith("warning") else print(line))
    accepted = sum(r.status == "ok" for r in plan.results)
    refused = sum(r.status == "prewarm_refused" for r in plan.results)  # max_tokens 0 refused: no pre-warm, not a stop
    print(f"probe: {accepted} shape(s) accepted{f', {refused} without max_tokens 0 (see the warning)' if refused else ''}; "
          f"cost ${plan.cost_usd:.6f} at standard rates, stored in {db}")


def print_prewarm_verdict(db: Path, records, first_wave: int | None) -> None:
    """Per batch and prefix: first-wave reads against writes, saving net of the probe, verdict."""
    from ...analyse import prewarm
    from ... import store

    conn = store.connect(db)
    try:
        for record in records:
            for line in prewarm.prewarm_lines(conn, record.batch_id, first_wave):
                print(line)
    finally:
        conn.close()


def finish(client, build_dir: Path, records, db: Path | None, poll_seconds: float, prices: Path | None = None,
           deadline: float | None = None) -> int:
    """Wait, download each batch to DIR/results/, log its line, ingest when asked."""
    states = api.wait(client, [api.check_batch_id(r.batch_id, f"{build_dir}/batches.json") for r in records],
                      poll_seconds=poll_seconds, deadline=deadline)
    from ...send import results

    errored = 0
    for record in records:
        record.processing_status = states[record.batch_id].processing_status
        out = build_dir / "results" / f"{record.batch_id}.jsonl"
        summary = results.fetch(client, record.batch_id, out)
        record.results = str(out.relative_to(build_dir))
        record.redacted_lines = summary.redacted_lines
        api.write_records(build_dir, records)
        print(summary.line())
        errored += report_errors(summary)
        if db is not None:
            from ...analyse.ingest_bridge import ingest_results

            created = (summary.created_at or getattr(record, "created_at", None)
                       or getattr(states[record.batch_id], "created_at", None))  # the batch's date prices it
            ended = summary.ended_at or getattr(states[record.batch_id], "ended_at", None)
            print(ingest_results([out], db, manifest=build_dir, batch_id=record.batch_id, created_at=created,
                                 overrides=prices, ended_at=ended))
    return 1 if errored else 0


def report_errors(summary) -> int:
    """Errored lines are not billed but are not answers either: say why, by type and message.
    Lines the server sent that are not result lines at all are said too (kept as received;
    ingest quarantines them), and where the API key was redacted. Returns the lines that are
    not answers (errored + malformed): any makes the command exit 1."""
    if summary.errored:
        print(f"batch {summary.batch_id}: {summary.errored:,} request(s) errored; re-send them after fixing:\n"
              f"{summary.error_summary()}", file=sys.stderr)
    if summary.malformed:
        print(f"batch {summary.batch_id}: warning: {summary.malformed:,} line(s) from the server are not usable "
              f"result lines ({summary.malformed_summary()}); kept as received, and ingest quarantines them with "
              "these reasons", file=sys.stderr)
    if summary.redacted_lines:
        print(f"batch {summary.batch_id}: note: the API key appeared in {summary.redacted_lines:,} line(s) from the "
              "server; it was saved as [redacted] (recorded in batches.json when the batch has a build)",
              file=sys.stderr)
    return summary.errored + summary.malformed
