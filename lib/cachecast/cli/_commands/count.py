"""cachecast count PATH [--exact] [--json] [--max-retries N] [--timeout S] [--connect-timeout S]
                [--call-deadline S]

Exact counts (count_tokens) when ANTHROPIC_API_KEY is set or --exact is given, remembered in
the DuckDB store (--db, default $CACHECAST_DB or data/cachecast.duckdb); otherwise an offline
estimate labelled as one, with its error band."""
from __future__ import annotations

import json
import os
from pathlib import Path

from ...build.build_files import build_api_version, build_betas
from ...send import api
from .._argtypes import bounded_float, bounded_int
from ...tokens.count import DEFAULT_MAX_RETRIES, TokenCounter, count_path, has_api_key

DEFAULT_DB = Path("data/cachecast.duckdb")


def default_db() -> Path:
    return Path(os.environ.get("CACHECAST_DB") or DEFAULT_DB)


def add_parser(sub) -> None:
    p = sub.add_parser("count", help="count the prompt tokens of built requests (cached prefix and rest)")
    p.add_argument("path", type=Path, help="build directory or a requests-*.jsonl file")
    p.add_argument("--exact", action="store_true", help="count through the API (needs ANTHROPIC_API_KEY)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--db", type=Path, default=None,
                   help="DuckDB store remembering exact counts (default $CACHECAST_DB or data/cachecast.duckdb)")
    p.add_argument("--max-retries", type=bounded_int(0, 100), default=DEFAULT_MAX_RETRIES,
                   help="retries the SDK makes on 429/5xx/network errors (default %(default)s)")
    p.add_argument("--timeout", type=bounded_float(1, 604800), default=api.DEFAULT_TIMEOUT, metavar="SECONDS",
                   help="wait at most this long for each count_tokens read or write (default %(default)s)")
    p.add_argument("--connect-timeout", type=bounded_float(0.1, 600), default=api.DEFAULT_CONNECT_TIMEOUT,
                   metavar="SECONDS", help="wait at most this long to connect (default %(default)s)")
    from ._preflight import add_call_deadline_arg

    add_call_deadline_arg(p)
    p.set_defaults(run=run)


def run(args) -> int:
    from ._preflight import check_build

    check_build(args.path, "count")
    counter = None
    if args.exact or has_api_key():
        build_dir = args.path if args.path.is_dir() else args.path.parent
        counter = TokenCounter(db=args.db or default_db(), api_version=build_api_version(build_dir),
                               max_retries=args.max_retries, timeouts=(args.timeout, args.connect_timeout),
                               betas=build_betas(build_dir), call_deadline=args.call_deadline)
    counts = count_path(args.path, counter)
    summary = {"path": str(args.path), **counts.summary()}
    if args.json:
        print(json.dumps(summary))
        return 0
    print(render(summary))
    return 0


def render(s: dict) -> str:
    label = "exact (count_tokens)" if s["source"] == "exact" else (
        f"ESTIMATE (offline, +/-{s['error_band']:.0%}; set ANTHROPIC_API_KEY for exact counts)")
    p, r = s["prefix_tokens"], s["rest_tokens"]
    lines = [
        f"{s['path']}: {s['requests']:,} requests, model {s['model']}",
        f"  counts:             {label}",
        f"  cached prefix (S):  {p['mean']:,.1f} tokens/request, {p['distinct']} distinct prefix(es), "
        f"{p['total']:,} in total",
        f"  rest (U):           {r['mean']:,.1f} tokens/request (min {r['min']:,}, max {r['max']:,}), "
        f"{r['total']:,} in total",
        f"  prompt tokens:      {s['prompt_tokens']:,}",
    ]
    if s["source"] == "exact":
        lines.append(f"  API calls:          {s['api_calls']:,} (remembered: {s['remembered']:,}, "
                     f"distinct parts: {s['distinct_parts_counted']:,})")
    return "\n".join(lines)
