"""cachecast submit: placeholder until its issue lands."""
from __future__ import annotations

from ..errors import CachecastError


def add_parser(sub) -> None:
    p = sub.add_parser("submit", help="(not built yet)")
    p.set_defaults(run=run)


def run(args) -> int:
    raise CachecastError("'submit' is not built yet")
