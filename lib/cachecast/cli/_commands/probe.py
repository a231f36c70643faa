"""cachecast probe DIR [--prewarm] [--json] [--db DB]: validate each request shape now.

Per distinct request shape of a build (model, API version, thinking, tools, other params,
breakpoints, cached prefix), before any batch exists: (1) count_tokens with the request as
it will be sent, cache_control included (free); (2) cachecast's batch rules that no
synchronous call can show: max_tokens 0 or below, stream and speed are refused in batches,
and the breakpoint rules (at most 4, the automatic one included; its TTL against the last
block's own; 1h before 5m); (3) the Models API's max_tokens for the model against the
request's (free); (4) one messages.create with max_tokens 0 (budget_tokens + 1 with thinking
"enabled", 1 with a forced tool_choice or structured outputs), without cache_control unless
--prewarm. A shape refused by any of these stops here, with the reason and its custom_ids.

Not validated by the API: a max_tokens above the synchronous limit in a batch with the
output-300k beta (checked against the model table only: no synchronous call takes it); the
request's own max_tokens in step 4 (sent as 0); whether count_tokens applies the breakpoint
limits (undocumented; step 2 does); each request's message text (one request per shape is
sent); anything a batch checks only when it runs (expiry, capacity). max_tokens 0 with
adaptive thinking on a model that cannot turn it off is not documented: a 400 there means
"pre-warm not possible for this shape", said so, and the batch goes ahead.

--prewarm keeps the real cached prefix and TTL, so the prefix is written before a batch
starts. Every call sends the build's anthropic-beta values (build.json). Probes are billed at
standard rates (count_tokens and the Models API are free); the projected cost is printed
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

    import argparse

    p = sub.add_parser("probe", help="validate each request shape with one synchronous call (optionally pre-warm)",
                       description=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
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
        refused = sum(r.status == "prewarm_refused" for r in plan.results)
        print(f"probe: {len(plan.results)} shape(s) accepted{f' ({refused} without max_tokens 0: see above)' if refused else ''}; "
              f"cost ${plan.cost_usd:.6f} at standard rates")
    return 0


def _version(args) -> str:
    from ...facts.models import DEFAULT_API_VERSION

    return args.api_version or build_api_version(args.dir) or DEFAULT_API_VERSION
