"""argparse `type=` functions for numbers with bounds.

`type=int` takes 10**30 and `type=float` takes nan, inf and 1e400; these then fail deep in a
command (an OverflowError in Decimal or numpy, a NaN that compares false with every limit)
as an internal error, or pass a check they should fail. A bound at the option says what is
wrong in the option's own terms, in one line (see cli._Parser), before any work starts.
"""
from __future__ import annotations

import argparse
import math
from typing import Callable

BIG = 10**12  # a count above this is a typo, not a run (a batch holds 100,000 requests)


def bounded_int(low: int = 0, high: int = BIG) -> Callable[[str], int]:
    """A whole number in [low, high]."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip().replace("_", ""), 10)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {_shown(text)}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low:,} and {high:,}, got {_shown(text)}")
        return value

    parse.__name__ = "whole number"
    return parse


def bounded_float(low: float = 0.0, high: float = float(BIG)) -> Callable[[str], float]:
    """A finite number in [low, high]; NaN and infinity are refused by name."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {_shown(text)}") from None
        if math.isnan(value):
            raise argparse.ArgumentTypeError("expected a number, got NaN")
        if math.isinf(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {_shown(text)}")
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low:g} and {high:g}, got {_shown(text)}")
        return value

    parse.__name__ = "number"
    return parse


def _shown(text: str) -> str:
    return repr(text if len(text) <= 40 else text[:37] + "...")
