"""cachecast report {project,audit} [-p NAME VALUE ...] --out FILE.html

Runs notebooks/01_project_spend.ipynb (project) or notebooks/02_audit_batch.ipynb (audit)
with papermill and writes a self-contained HTML report without code cells. Each VALUE is
read as YAML (200 -> int, 0.8 -> float, [0.3, 0.9] -> list, null -> None, text -> str)."""
from __future__ import annotations

from pathlib import Path

import yaml

from ..errors import InputError
from ..reports import NOTEBOOKS, run_report


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="run a report notebook and write self-contained HTML")
    p.add_argument("kind", choices=sorted(NOTEBOOKS))
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="notebook parameter (repeatable)")
    p.add_argument("--out", type=Path, required=True, help="HTML file to write")
    p.set_defaults(run=run)


def parse_value(text: str):
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def run(args) -> int:
    params = {}
    for name, value in args.parameter:
        if not name.isidentifier():
            raise InputError(f"parameter name '{name}' is not a valid name")
        params[name] = parse_value(value)
    out = run_report(args.kind, params, args.out)
    print(f"wrote {out}")
    return 0
