"""Per-model token prices: from genai-prices' bundled snapshot, or a local overrides file.

Why genai-prices: it carries dated per-model prices with 1h cache writes, long-context
tiers and batch variants, so no multiplier (1.25x, 2x, 0.1x, 50% batch) is hard-coded here;
models such as Fable 5.1 read at 0.025x, and a literal 0.1 would misprice them.

We always read the snapshot bundled with the installed package (never the auto-updater),
so a projection is reproducible offline; `Rates.source` names the package version and the
date whose prices were selected, and every projection and audit records it.

Overrides file (negotiated prices), YAML, USD per million tokens::

    source: "ACME enterprise agreement 2026-09"   # optional, shown in Rates.source
    batch_multiplier: 0.5                         # optional, see "batch" below
    models:
      claude-sonnet-4-5:                          # id or id prefix (dated ids match)
        input: 2.4
        write_5m: 3.0
        write_1h: 4.8
        read: 0.24
        output: 12
        long_context: {threshold: 200000, input: 4.8, write_5m: 6, write_1h: 9.6, read: 0.48, output: 18}
        batch: {input: 1.2, write_5m: 1.5, write_1h: 2.4, read: 0.12, output: 6}   # optional

Batch rates for an override come, in order, from the model's explicit `batch:` block (used
exactly as written, including its own optional `long_context`), else from the file's
`batch_multiplier` applied to every standard rate (long-context ones too). With neither,
asking for batch rates is a PriceError: we apply a batch discount only when the file says so.
Models not in the file fall back to genai-prices.
"""
from __future__ import annotations

import difflib
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime, time, timezone
from decimal import Decimal
from functools import lru_cache
from importlib.metadata import version
from pathlib import Path
from typing import Any, Iterable

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import PriceError

MILLION = Decimal(1_000_000)
PROVIDER = "anthropic"
BATCH_CONTEXT = {"processing": "batch"}
# our field name -> genai-prices ModelPrice attribute
GENAI_KEYS = {
    "input": "input_mtok",
    "write_5m": "cache_write_mtok",
    "write_1h": "cache_write_1h_mtok",
    "read": "cache_read_mtok",
    "output": "output_mtok",
}
RATE_FIELDS = tuple(GENAI_KEYS)


@dataclass(frozen=True)
class Rates:
    """USD per million tokens for one model, batch discount already applied when batch=True."""

    model: str
    batch: bool
    input: Decimal
    write_5m: Decimal
    write_1h: Decimal
    read: Decimal
    output: Decimal
    long_context_threshold: int | None  # total prompt tokens ABOVE which lc_* apply to every token
    lc_input: Decimal | None
    lc_write_5m: Decimal | None
    lc_write_1h: Decimal | None
    lc_read: Decimal | None
    lc_output: Decimal | None
    source: str

    def tier(self, prompt_tokens: int) -> tuple[Decimal, Decimal, Decimal, Decimal, Decimal]:
        """(input, write_5m, write_1h, read, output) for a request whose TOTAL prompt
        (input + cache writes + cache reads) is `prompt_tokens`; the long-context tier is
        a cliff that reprices all tokens, as Anthropic bills it."""
        if self.long_context_threshold is not None and prompt_tokens > self.long_context_threshold:
            return (self.lc_input, self.lc_write_5m, self.lc_write_1h, self.lc_read, self.lc_output)  # type: ignore[return-value]
        return (self.input, self.write_5m, self.write_1h, self.read, self.output)


def usage_cost(rates: Rates, *, input_tokens: int, write_5m: int, write_1h: int, read: int, output: int) -> Decimal:
    """Exact cost in USD of one request's usage. `input_tokens` is Anthropic's field: only the
    tokens after the last breakpoint (NOT the total prompt, unlike genai-prices' Usage)."""
    p_in, p_w5, p_w1, p_read, p_out = rates.tier(input_tokens + write_5m + write_1h + read)
    return (input_tokens * p_in + write_5m * p_w5 + write_1h * p_w1 + read * p_read + output * p_out) / MILLION


def get_rates(model: str, batch: bool, overrides: Path | None = None, *, at: date | None = None) -> Rates:
    """Rates for `model`; `at` picks the dated price (default: today, UTC). PriceError when
    no price is known: a silent $0 would hide real spend."""
    day = at or datetime.now(timezone.utc).date()
    if overrides is not None:
        table = _load_overrides(Path(overrides))
        entry = _match_override(table, model)
        if entry is not None:
            return _override_rates(model, batch, entry, table, Path(overrides))
    return _genai_rates(model, batch, day)


def rates_rows(models: Iterable[str], overrides: Path | None = None) -> list[dict[str, Any]]:
    """One row per (model, batch) with the Rates fields (Decimal/str/int/bool), for a DuckDB
    `price_snapshot` table that SQL joins to cost many rows in one query.

    A variant with no known price (e.g. a retired model without a batch rate) is left out,
    so a join finds no row and the caller must report the gap; a model with no price at
    all raises PriceError."""
    rows: list[dict[str, Any]] = []
    for model in dict.fromkeys(models):
        errors: list[PriceError] = []
        for batch in (False, True):
            try:
                rows.append(asdict(get_rates(model, batch, overrides)))
            except PriceError as exc:
                errors.append(exc)
        if len(errors) == 2:
            raise errors[0]
    return rows


def rate_field_names() -> list[str]:
    return [f.name for f in fields(Rates)]


# ---------------------------------------------------------------- genai-prices


@lru_cache(maxsize=1)
def _snapshot():
    """The snapshot bundled with the installed package, never one fetched by the updater."""
    from genai_prices import data, data_snapshot

    return data_snapshot.DataSnapshot(providers=data.providers, from_auto_update=False)


def _source(day: date) -> str:
    return f"genai-prices {version('genai-prices')} bundled snapshot, prices in effect {day.isoformat()}"


@lru_cache(maxsize=256)
def _genai_rates(model: str, batch: bool, day: date) -> Rates:
    try:
        _, info = _snapshot().find_provider_model(model, None, PROVIDER, None)
    except LookupError:
        raise PriceError(_unknown_model_message(model)) from None
    when = datetime.combine(day, time(12), tzinfo=timezone.utc)
    if batch and not _has_batch_variant(info, when):
        raise PriceError(
            f"genai-prices {version('genai-prices')} has no Message Batches price for '{model}' "
            f"(matched {info.id}); give its batch rates in a price overrides file"
        )
    price = info.get_prices(when, BATCH_CONTEXT if batch else None)
    values = {name: getattr(price, key, None) for name, key in GENAI_KEYS.items()}
    missing = [name for name, v in values.items() if v is None]
    if missing:
        raise PriceError(
            f"genai-prices has no {', '.join(missing)} price for '{model}' (matched {info.id}); "
            "it may not support prompt caching, or give its rates in a price overrides file"
        )
    base, threshold, long_ctx = _split_tiers(model, values)
    return Rates(model=model, batch=batch, **base, long_context_threshold=threshold,
                 **{f"lc_{k}": v for k, v in long_ctx.items()}, source=_source(day))


def _has_batch_variant(info: Any, when: datetime) -> bool:
    for variant in info.price_variants or ():
        if variant.when == BATCH_CONTEXT and (variant.constraint is None or variant.constraint.active(when)):
            return True
    return False


def _split_tiers(model: str, values: dict[str, Any]) -> tuple[dict, int | None, dict]:
    """Base rates, the single long-context threshold, and the rates above it.

    genai-prices gives each field as a Decimal or TieredPrices(base, tiers); Anthropic's
    long-context pricing is one threshold for every field, which is all Rates can hold."""
    starts = {tier.start for v in values.values() if hasattr(v, "tiers") for tier in v.tiers}
    multi = any(len(v.tiers) > 1 for v in values.values() if hasattr(v, "tiers"))
    if len(starts) > 1 or multi:
        raise PriceError(f"'{model}' has several price tiers ({sorted(starts)}); cachecast models one long-context tier")
    base = {k: (v.base if hasattr(v, "tiers") else v) for k, v in values.items()}
    if not starts:
        return base, None, {k: None for k in values}
    long_ctx = {k: (v.tiers[0].price if hasattr(v, "tiers") else v) for k, v in values.items()}
    return base, starts.pop(), long_ctx


def known_models() -> list[str]:
    provider = next(p for p in _snapshot().providers if p.id == PROVIDER)
    return sorted(m.id for m in provider.models)


def _unknown_model_message(model: str) -> str:
    close = difflib.get_close_matches(model.lower(), known_models(), n=3, cutoff=0.5)
    hint = f"; close known models: {', '.join(close)}" if close else ""
    return (f"no known price for model '{model}' in genai-prices {version('genai-prices')} "
            f"({PROVIDER}){hint}; fix the model id or give its rates in a price overrides file")


# ---------------------------------------------------------------- overrides file


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _RateSet(_Strict):
    input: Decimal = Field(gt=0)
    write_5m: Decimal = Field(ge=0)
    write_1h: Decimal = Field(ge=0)
    read: Decimal = Field(ge=0)
    output: Decimal = Field(gt=0)


class _LongContext(_RateSet):
    threshold: int = Field(gt=0)


class _BatchRates(_RateSet):
    long_context: _LongContext | None = None


class _ModelOverride(_RateSet):
    long_context: _LongContext | None = None
    batch: _BatchRates | None = None


class _OverridesFile(_Strict):
    source: str | None = None
    batch_multiplier: Decimal | None = Field(default=None, gt=0, le=1)
    models: dict[str, _ModelOverride] = Field(min_length=1)


def _load_overrides(path: Path) -> _OverridesFile:
    stat = path.stat() if path.is_file() else None
    if stat is None:
        raise PriceError(f"{path}: price overrides file not found")
    return _parse_overrides(str(path.resolve()), stat.st_mtime_ns)


@lru_cache(maxsize=8)
def _parse_overrides(path: str, _mtime: int) -> _OverridesFile:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        return _OverridesFile.model_validate(raw)
    except yaml.YAMLError as exc:
        raise PriceError(f"{path}: malformed YAML in price overrides ({str(exc).splitlines()[0]})") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        raise PriceError(f"{path}: bad price override at '{key}': {err['msg']}") from None


def _match_override(table: _OverridesFile, model: str) -> _ModelOverride | None:
    """Exact id, else the longest id prefix (so claude-sonnet-4-5-20250929 finds claude-sonnet-4-5)."""
    name = model.lower()
    for key in sorted(table.models, key=len, reverse=True):
        k = key.lower()
        if name == k or name.startswith(k + "-") or name.startswith(k + "@"):
            return table.models[key]
    return None


def _override_rates(model: str, batch: bool, entry: _ModelOverride, table: _OverridesFile, path: Path) -> Rates:
    label = f"overrides: {path}" + (f" ({table.source})" if table.source else "")
    rates: _RateSet = entry
    long_ctx = entry.long_context
    factor = Decimal(1)
    if batch and entry.batch is not None:
        rates, long_ctx = entry.batch, entry.batch.long_context
        label += ", explicit batch rates"
    elif batch and table.batch_multiplier is not None:
        factor = table.batch_multiplier
        label += f", batch = standard x {factor} (batch_multiplier)"
    elif batch:
        raise PriceError(
            f"{path}: price override for '{model}' has no batch rates; add a 'batch:' block to the model "
            "or a top-level 'batch_multiplier' (0.5 is Anthropic's documented batch discount)"
        )
    base = {k: getattr(rates, k) * factor for k in RATE_FIELDS}
    lc = {f"lc_{k}": (getattr(long_ctx, k) * factor if long_ctx else None) for k in RATE_FIELDS}
    return Rates(model=model, batch=batch, **base, long_context_threshold=long_ctx.threshold if long_ctx else None,
                 **lc, source=label)
