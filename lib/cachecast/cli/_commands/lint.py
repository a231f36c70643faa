"""cachecast lint PATH [--json]: exit 1 when any error-level finding, 0 otherwise."""
from __future__ import annotations

import json
import sys
from pathlib import Path

from ...build.lint import lint_path, render


def add_parser(sub) -> None:
    p = sub.add_parser("lint", help="check built request files for caching mistakes before money is spent")
    p.add_argument("path", type=Path, metavar="PATH", help="a build directory or one requests .jsonl file")
    p.add_argument("--json", action="store_true", help="print one JSON object with all findings")
    p.set_defaults(run=run)


def run(args) -> int:
    report = lint_path(args.path, progress=sys.stderr.isatty())
    if args.json:
        print(json.dumps(report.to_json()))
    else:
        print(render(report, args.path))
    return 1 if report.errors else 0
