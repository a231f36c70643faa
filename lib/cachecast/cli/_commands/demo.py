"""cachecast demo [--out DIR]: the whole pipeline on the shipped sample data, offline.

Builds the 1,200-request pilot, lints it, counts tokens (estimate), projects pilot and
full-run spend, simulates the pilot batch (no API call; marked simulated), ingests and
audits it, and writes DIR/reports/projection.html and DIR/reports/audit.html. Working files
go to DIR/build/demo/. DIR defaults to the current directory."""
from __future__ import annotations

import sys
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="run the whole pipeline offline on the sample data",
                       description=__doc__.split("\n\n", 1)[1])
    p.add_argument("--out", type=Path, default=Path("."), metavar="DIR",
                   help="where reports/ and build/demo/ go (default: current directory)")
    p.set_defaults(run=run)


def run(args) -> int:
    from ..demo import run_demo

    print("cachecast demo: offline, on the shipped sample data; the batch is SIMULATED (no API calls)",
          file=sys.stderr)
    result = run_demo(args.out, log=lambda line: print(line, flush=True))
    print(f"\nreports ({result.seconds:.0f} s):")
    print(f"  projection: {result.projection_html}")
    print(f"  audit:      {result.audit_html}")
    return 0
