"""Dollars at the edge and where a prices file comes from: the part of cachecast.facts.pricing
that read commands need even when they price nothing. Apart from it because importing pricing
(genai-prices tables, pydantic, YAML) costs about 0.1 s, a tenth of `audit --json` on a
million-line store."""
from __future__ import annotations

import os
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path

MICRO = Decimal("0.000001")
PRICES_ENV = "CACHECAST_PRICES"
LEGACY_PRICES_ENV = "CACHECAST_PRICE_OVERRIDES"


def usd(value: Decimal) -> float:
    """Dollars as a float rounded half-even to 6 decimals (the contract's floor)."""
    return float(Decimal(value).quantize(MICRO, rounding=ROUND_HALF_EVEN))


def overrides_path(given: str | Path | None = None) -> Path | None:
    """The price overrides file: the one given (--prices), else CACHECAST_PRICES, else the
    older CACHECAST_PRICE_OVERRIDES; None when there is none."""
    if given not in (None, ""):
        return Path(given)
    for env in (PRICES_ENV, LEGACY_PRICES_ENV):
        if os.environ.get(env):
            return Path(os.environ[env])
    return None
