"""cachecast report {project,audit,ledger,reconcile} [-p NAME VALUE ...] --out FILE.html

Runs notebooks/01_project_spend.ipynb (project), 02_audit_batch.ipynb (audit),
03_run_ledger.ipynb (ledger) or 04_reconcile.ipynb (reconcile: the last `cachecast
reconcile` kept in the store, no API call) with papermill and writes a self-contained HTML
report without code cells.

Each VALUE is read for the type its parameter declares in the notebook's parameters cell:
JSON-style literals (200, 0.8, [0.3, 0.9], true, null; None/True/False also) where the
parameter takes numbers, booleans, lists or null, and the text as given where it takes
text. Nothing else is interpreted: no YAML tags, no objects, no NaN or infinity. A value
the parameter cannot take is refused in one sentence before any kernel starts."""
from __future__ import annotations

import argparse
import json
import math
import os
from pathlib import Path
from typing import Any

from ...errors import CachecastError, InputError
from ...report.reports import NOTEBOOKS, Parameter, notebook_path, parameters, run_report

_NOT_LITERAL = object()
_PYTHON_WORDS = {"None": None, "True": True, "False": False}


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="run a report notebook and write self-contained HTML",
                       epilog=parameters_help(), formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("kind", choices=sorted(NOTEBOOKS))
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="notebook parameter (repeatable); the list below gives each one with its default")
    p.add_argument("--out", type=Path, required=True, help="HTML file to write")
    p.add_argument("--prices", type=Path, default=None, metavar="FILE",
                   help="price overrides YAML on top of genai-prices and cachecast's corrections "
                        "(default: CACHECAST_PRICES); given to the notebook as CACHECAST_PRICES, and as its "
                        "price_overrides parameter where it has one")
    p.set_defaults(run=run)


def parameters_help() -> str:
    """Each notebook's parameters with their defaults, read from the parameters cells, so
    the help cannot drift from the notebooks."""
    lines = ["notebook parameters (-p NAME VALUE), with their defaults:"]
    for kind in sorted(NOTEBOOKS):
        try:
            params = parameters(notebook_path(kind))
        except CachecastError as exc:
            lines.append(f"  {kind}: ({exc})")
            continue
        lines.append(f"  {kind} ({NOTEBOOKS[kind]}):")
        for p in params.values():
            default = json.dumps(p.default)
            note = f"  {p.comment}" if p.comment else ""
            lines.append(f"    {p.name} = {default}  [{p.describe()}]{note}")
    return "\n".join(lines)


def literal(text: str) -> Any:
    """A JSON-style literal (number, true/false/null, list of these; None/True/False too),
    or _NOT_LITERAL. NaN, infinity (1e999 included) and objects are not literals here."""
    if text.strip() in _PYTHON_WORDS:
        return _PYTHON_WORDS[text.strip()]
    try:
        value = json.loads(text, parse_constant=_refuse)
    except (ValueError, RecursionError):
        return _NOT_LITERAL
    items = value if isinstance(value, list) else [value]
    if any(isinstance(v, (dict, list)) or (isinstance(v, float) and not math.isfinite(v)) for v in items):
        return _NOT_LITERAL
    return value


def _refuse(name: str) -> Any:
    raise ValueError(name)


def parse_value(param: Parameter, text: str) -> Any:
    """The value `text` stands for, for `param`: its literal when the parameter takes that,
    else the text itself when the parameter takes text; else InputError."""
    value = literal(text)
    if value is not _NOT_LITERAL and param.accepts(value):
        return value
    if "str" in param.kinds or "scalar" in param.kinds:
        return text
    shown = json.dumps(text if len(text) <= 60 else text[:57] + "...")
    raise InputError(f"report parameter '{param.name}' takes {param.describe()}, got {shown}")


def run(args) -> int:
    nb = notebook_path(args.kind)
    known = parameters(nb)
    params = {}
    for name, value in args.parameter:
        if not name.isidentifier():
            raise InputError(f"parameter name '{name}' is not a valid name")
        if name not in known:
            raise InputError(f"{nb.name} has no parameter '{name}'; it takes: {', '.join(known)}")
        params[name] = parse_value(known[name], value)
    from ...facts.money import PRICES_ENV
    from ...facts.pricing import check_overrides

    before = os.environ.get(PRICES_ENV)
    if getattr(args, "prices", None) is not None:
        prices = check_overrides(args.prices.resolve())  # a missing or broken file: refused before any kernel starts
        os.environ[PRICES_ENV] = str(prices)  # the kernel inherits it: every pricing call in the notebook reads it
        if "price_overrides" in known and "price_overrides" not in params:
            params["price_overrides"] = str(prices)
    try:
        out = run_report(args.kind, params, args.out)
    finally:
        if before is None:
            os.environ.pop(PRICES_ENV, None)
        else:
            os.environ[PRICES_ENV] = before
    print(f"wrote {out}")
    return 0
