"""cachecast build CONFIG [--out DIR] [--limit N]"""
from __future__ import annotations

import sys
from pathlib import Path

from .._argtypes import bounded_int
from ...build.batches import build
from ...build.config import load_config
from ._preflight import check_config


def add_parser(sub) -> None:
    p = sub.add_parser("build", help="render the config into Message Batches request files")
    p.add_argument("config", type=Path)
    p.add_argument("--out", type=Path, default=None, help="output directory (default build/<run_name>)")
    p.add_argument("--limit", type=bounded_int(1, 10**9), default=None, help="only the first N requests")
    p.add_argument("--shard-size", type=bounded_int(1, 100_000), default=None,
                   help="requests per shard (default and maximum: the provider's batch limit, 100,000 for "
                        "Anthropic, 50,000 for OpenAI)")
    p.set_defaults(run=run)


def run(args) -> int:
    cfg = load_config(args.config)
    check_config(cfg, "build")
    out = args.out or Path("build") / cfg.run_name
    result = build(cfg, out, limit=args.limit, shard_size=args.shard_size, progress=sys.stderr.isatty())
    print(f"wrote {result.requests} requests in {len(result.shards)} shard(s) to {out}/ "
          f"(manifest.jsonl, preview.md)")
    if result.skipped_cache:
        print(f"warning: {result.skipped_cache} request(s) carry no breakpoint because the cached prefix is "
              "below the model minimum; see manifest.jsonl skip_reason", file=sys.stderr)
    return 0
