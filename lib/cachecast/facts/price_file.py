"""Reading a price overrides file (`--prices FILE`, CACHECAST_PRICES) as strictly as a config.

Why: a price file decides every dollar cachecast reports. Read loosely, a key given twice
keeps the last value silently (a rate a million times lower) and a rate of 1e400 is an
InvalidOperation in Decimal. So the file is read like a config (cachecast._yaml: bounded
aliases, a repeated key refused, nesting bounded; a regular file of at most 1 MB), a file
that is not a price file is named, never quoted, and every rate is finite and at most
MAX_RATE (facts.pricing's models declare the bound; `validation_sentence` says it).
"""
from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from .. import _yaml as bounded_yaml
from .._paths import open_regular
from ..errors import PriceError

# A rate above this is a typo or a hostile file, not a price: 100x the dearest published rate
# (fast mode output, $80 per million tokens).
MAX_RATE = Decimal(10_000)
MAX_BYTES = 1_000_000  # as for configs: a price file is a few KB


def read(path: Path, fields: set[str]) -> Any:
    """The file's YAML, refused in one sentence when it is not one or is not a price file (a
    mapping with none of `fields`, the overrides file's top-level keys)."""
    with open_regular(path, "price overrides (YAML)", PriceError) as fh:
        data = fh.read(MAX_BYTES + 1)
    if len(data) > MAX_BYTES:
        raise PriceError(f"{path}: is over {MAX_BYTES // 1_000_000} MB, too large for a price overrides file (a few "
                         "KB); was a data file passed as --prices?")
    try:
        raw = bounded_yaml.load(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise PriceError(f"{path}: not UTF-8 text (byte {exc.start}); a price overrides file is YAML") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}:" if mark else ""
        if isinstance(exc, bounded_yaml.BoundedYAMLError):  # a key given twice, aliases past the bound
            raise PriceError(f"{path}:{where} {bounded_yaml.problem_of(exc)}") from None
        raise PriceError(f"{path}:{where} malformed YAML in price overrides ({bounded_yaml.problem_of(exc)})") from None
    if not isinstance(raw, dict) or (raw and not set(map(str, raw)) & fields):
        raise PriceError(f"{path}: is not a price overrides file (expected a YAML mapping with 'models:' and, per "
                         "model, input, write_5m, write_1h, read and output in USD per million tokens)")
    return raw


def validation_sentence(path: str | Path, exc: ValidationError) -> str:
    """The first problem pydantic found, in the file's terms."""
    err = exc.errors()[0]
    key = ".".join(str(p) for p in err["loc"])
    if err.get("input", ...) is None:
        return f"{path}: price override '{key}' is null; put the rate there (USD per million tokens)"
    if err["type"] in ("finite_number", "less_than_equal"):
        shown = str(err.get("input"))
        shown = shown if len(shown) <= 40 else shown[:37] + "..."
        return (f"{path}: bad price override at '{key}': {shown} is not a plausible rate (a finite number of USD per "
                f"million tokens, at most {MAX_RATE:,})")
    return f"{path}: bad price override at '{key}': {err['msg']}"
