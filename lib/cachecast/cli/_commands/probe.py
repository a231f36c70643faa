"""cachecast probe DIR [--prewarm] [--json] [--db DB]: validate each request shape now.

One synchronous Messages call per distinct request shape of a build (model, API version,
thinking, tools, other params, cached prefix), with max_tokens 0 where the model accepts
it, so a parameter the API rejects is a 400 now instead of thousands of errored batch
lines later. --prewarm keeps the real cached prefix and TTL, so the prefix is written
before a batch starts. Probes are billed at standard rates; the projected cost is printed
before they are sent, and each probe's usage is stored in the store's `probes` table (--db,
else CACHECAST_DB). `cachecast submit` runs this first unless --no-probe.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ...build.build_files import build_api_version
from ...errors import InputError


def add_parser(sub) -> None:
    from .submit import add_connection_args

    p = sub.add_parser("probe", help="validate each request shape with one synchronous call (optionally pre-warm)",
                       description=__doc__.split("\n\n", 1)[1])
    p.add_argument("dir", type=Path, metavar="DIR", help="directory made by cachecast build")
    p.add_argument("--prewarm", action="store_true",
                   help="keep the cached prefix and TTL so the probe writes the cache before the batch")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--db", type=Path, default=None, help="store for the probes' usage (default: CACHECAST_DB)")
    add_connection_args(p)
    p.add_argument("--prices", type=Path, default=None, metavar="FILE",
                   help="price overrides YAML (default: CACHECAST_PRICES)")
    p.set_defaults(run=run)


def run(args) -> int:
    from ...send import probe
    from .count import default_db
    from .submit import client_for

    if not args.dir.is_dir():
        raise InputError(f"{args.dir}: not a directory; probe takes the --out directory of cachecast build")
    log = (lambda line: print(line, file=sys.stderr)) if args.json else print
    plan = probe.plan(args.dir, _version(args), prewarm=args.prewarm, overrides=args.prices)
    log(probe.plan_line(plan))
    client = client_for(args, args.dir)
    probe.execute(client, plan, args.dir, args.db or default_db(), overrides=args.prices, log=log)
    if args.json:
        print(json.dumps(plan.as_json()))
    else:
        print(f"probe: {len(plan.results)} shape(s) accepted; cost ${plan.cost_usd:.6f} at standard rates")
    return 0


def _version(args) -> str:
    from ...facts.models import DEFAULT_API_VERSION

    return args.api_version or build_api_version(args.dir) or DEFAULT_API_VERSION
