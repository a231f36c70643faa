"""cachecast demo: placeholder until its issue lands."""
from __future__ import annotations

from ..errors import CachecastError


def add_parser(sub) -> None:
    p = sub.add_parser("demo", help="(not built yet)")
    p.set_defaults(run=run)


def run(args) -> int:
    raise CachecastError("'demo' is not built yet")
