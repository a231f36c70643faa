"""cachecast build CONFIG [--out DIR] [--limit N]"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..batches import build
from ..config import load_config


def positive_int(text: str) -> int:
    """argparse type: a count of 1 or more (0 or a negative --limit would write an empty build)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def add_parser(sub) -> None:
    p = sub.add_parser("build", help="render the config into Message Batches request files")
    p.add_argument("config", type=Path)
    p.add_argument("--out", type=Path, default=None, help="output directory (default build/<run_name>)")
    p.add_argument("--limit", type=positive_int, default=None, help="only the first N requests")
    p.add_argument("--shard-size", type=positive_int, default=100_000, help="requests per shard (max 100,000)")
    p.set_defaults(run=run)


def run(args) -> int:
    cfg = load_config(args.config)
    out = args.out or Path("build") / cfg.run_name
    result = build(cfg, out, limit=args.limit, shard_size=args.shard_size, progress=sys.stderr.isatty())
    print(f"wrote {result.requests} requests in {len(result.shards)} shard(s) to {out}/ "
          f"(manifest.jsonl, preview.md)")
    if result.skipped_cache:
        print(f"warning: {result.skipped_cache} request(s) carry no breakpoint because the cached prefix is "
              "below the model minimum; see manifest.jsonl skip_reason", file=sys.stderr)
    return 0
