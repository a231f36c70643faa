"""Per-model prices as Anthropic bills them: genai-prices' bundled snapshot, the project's
dated correction rows, and a user's overrides file, resolved in this one place.

Why genai-prices: it carries dated per-model prices with 1h cache writes, long-context
tiers (Haiku 5.5's 100k cliff) and batch/fast variants, so no multiplier is hard-coded
here; models such as Fable 5.1 read at 0.025x, and a literal 0.1 would misprice them.
We always read the snapshot bundled with the installed package (never the auto-updater),
so a figure is reproducible offline.

Why a correction layer (data/price_corrections.yaml): genai-prices 0.2.3 dates its batch
variants from 2026-10-14 and has none for some models, has no 1.1x for inference_geo us,
gives Sonnet 5.5's read cut no start date and lacks Mythos 5 and 5.1. Those facts are
dated, sourced rows applied by `get_rates` and nowhere else: callers (projection, gate,
ingest, SQL views) only ever see finished `Rates`. `Rates.source` names the genai-prices
version, the day whose prices were selected and every correction row used.

Resolution for (model, day, batch, speed, geo):
  1. standard rates: the overrides file's entry for the model (in effect on the day),
     else a `model_rates` correction row, else genai-prices; then `rate` rows of the day;
  2. speed fast: the override's `fast:` block, else a `fast` row, else genai-prices'
     speed variant; fast mode does not exist in batches (PriceError);
  3. batch: the override's `batch:` block or `batch_multiplier`, else genai-prices' batch
     variant when it is in effect and no `rate` row changed the day's rates, else
     standard x the `batch` row's 0.5;
  4. geo us: x the `geo` row's 1.1 on every token rate, for models whose cachecast.facts.models
     row accepts inference_geo (4.6 and later); elsewhere a US-only line is a PriceError;
  5. server tools: web search at genai-prices' price per 1,000, else the override's, else the
     `server_tool` row's $10; web fetch at the override's, else the row's $0 (documented free);
  6. long context: a `long_context` row gives a model the tier genai-prices lacks (Sonnet 4
     above 200k input: 2x input, 1.5x output); it reprices every token of such a request.

The cost formula itself (tokens x these rates) is in cachecast.facts.costs, written once.

Overrides file (negotiated prices), YAML, USD per million tokens::

    source: "ACME enterprise agreement 2026-09"   # optional, shown in Rates.source
    batch_multiplier: 0.5                         # optional, see "batch" below
    models:
      claude-sonnet-4-5:                          # exact id; dated ids (-YYYYMMDD, @...) match too
        input: 2.4
        write_5m: 3.0
        write_1h: 4.8
        read: 0.24
        output: 12
        from: 2026-09-01                          # optional: first day these rates apply
        before: 2027-01-01                        # optional: first day they no longer apply
        long_context: {threshold: 200000, input: 4.8, write_5m: 6, write_1h: 9.6, read: 0.48, output: 18}
        batch: {input: 1.2, write_5m: 1.5, write_1h: 2.4, read: 0.12, output: 6}   # optional
        fast: {input: 4.8, write_5m: 6, write_1h: 9.6, read: 0.48, output: 24}     # optional
        web_search_per_1k: 10                     # optional, USD per 1,000 searches
        web_fetch_per_1k: 0                       # optional, USD per 1,000 web fetches

Batch rates for an override come from the model's explicit `batch:` block, else from the
file's `batch_multiplier` applied to every standard rate; with neither, batch rates are a
PriceError: a negotiated agreement says its own batch terms. Outside `from`/`before` the
model falls back to the corrected genai-prices rates. The file is `--prices FILE` on every
command that prices, else the CACHECAST_PRICES environment variable (CACHECAST_PRICE_OVERRIDES
is still read).
"""
from __future__ import annotations

import difflib
import importlib.util
import json
import re
import sys
import types
from dataclasses import dataclass, replace
from datetime import date, datetime, time, timezone
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from importlib.metadata import version
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import PriceError
from . import price_file
from .money import PRICES_ENV, overrides_path
from .price_file import MAX_RATE

MILLION = Decimal(1_000_000)
THOUSAND = Decimal(1000)
PROVIDER = "anthropic"
BATCH_CONTEXT = {"processing": "batch"}
FAST_CONTEXT = {"speed": "fast"}
SPEEDS = ("standard", "fast")
GEOS = ("global", "us")
# our field name -> genai-prices ModelPrice attribute
GENAI_KEYS = {
    "input": "input_mtok",
    "write_5m": "cache_write_mtok",
    "write_1h": "cache_write_1h_mtok",
    "read": "cache_read_mtok",
    "output": "output_mtok",
}
RATE_FIELDS = tuple(GENAI_KEYS)
RateName = Literal["input", "write_5m", "write_1h", "read", "output"]


@dataclass(frozen=True)
class Rates:
    """USD per million tokens for one model on one day, for one kind of line (batch or
    standard, speed, inference geo), every correction already applied."""

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
    speed: str = "standard"
    geo: str = "global"
    web_search_per_1k: Decimal | None = None  # USD per 1,000 web searches (server_tool_use)
    web_fetch_per_1k: Decimal | None = None  # USD per 1,000 web fetches (documented: no charge)
    priced_on: date | None = None
    corrections: tuple[str, ...] = ()  # ids of the price_corrections.yaml rows applied

    def tier(self, prompt_tokens: int) -> tuple[Decimal, Decimal, Decimal, Decimal, Decimal]:
        """(input, write_5m, write_1h, read, output) for a request whose TOTAL prompt
        (input + cache writes + cache reads) is `prompt_tokens`; the long-context tier is
        a cliff that reprices all tokens, as Anthropic bills it (Haiku 5.5 above 100k)."""
        if self.long_context_threshold is not None and prompt_tokens > self.long_context_threshold:
            return (self.lc_input, self.lc_write_5m, self.lc_write_1h, self.lc_read, self.lc_output)  # type: ignore[return-value]
        return (self.input, self.write_5m, self.write_1h, self.read, self.output)


def today() -> date:
    """The day prices are taken for when none is given: CACHECAST_TODAY (what-ifs, tests)
    as for lifecycle checks, else UTC today."""
    from .models import today as models_today

    return models_today()


def get_rates(model: str, batch: bool, overrides: str | Path | None = None, *, at: date | None = None,
              speed: str | None = "standard", geo: str | None = "global") -> Rates:
    """Rates for `model` as billed on day `at` (default: today) for one kind of line.
    PriceError (with a ready-to-edit overrides snippet) when no price is known: a silent $0
    would hide real spend."""
    day = at or today()
    speed = speed or "standard"
    geo = geo or "global"
    if speed not in SPEEDS:
        raise PriceError(f"usage.speed '{speed}' on '{model}' is not one cachecast can price "
                         f"(known: {', '.join(SPEEDS)})")
    if geo not in GEOS:
        raise PriceError(f"inference_geo '{geo}' on '{model}' has no known price (known: {', '.join(GEOS)})")
    path = overrides_path(overrides)
    entry = table = None
    if path is not None:
        table = _load_overrides(path)
        entry = _match_override(table, model, day)
    if entry is not None:
        rates = _override_rates(model, batch, speed, day, entry, table, path)
    else:
        rates = _corrected_rates(model, batch, speed, day)
    return _apply_geo(rates, geo)


def warm() -> None:
    """Load the price tables and price the default model once, so that the first real lookup
    pays no import (genai-prices' data, then its units module: 0.1 s). For a thread that
    runs while DuckDB parses (ingest); not a lookup anyone asked for, so get_rates is left
    uncounted."""
    from .models import default_model

    known_models()
    _corrected_rates(default_model(), True, "standard", today())


def covers(overrides: str | Path | None, model: str, day: date) -> bool:
    """True when the overrides file (given or from the environment) prices `model` on `day`."""
    path = overrides_path(overrides)
    return path is not None and _match_override(_load_overrides(path), model, day) is not None


def check_overrides(path: str | Path) -> Path:
    """The overrides file, validated now (missing or malformed: PriceError), so a command
    can refuse it before any work starts."""
    path = Path(path)
    _load_overrides(path)
    return path


def snapshot_row(rates: Rates) -> dict[str, Any]:
    """A `price_snapshot` row (sql/schema_v2.sql) for these rates."""
    return {"model": rates.model, "priced_on": rates.priced_on, "batch": rates.batch, "speed": rates.speed,
            "geo": rates.geo, **{k: getattr(rates, k) for k in RATE_FIELDS},
            "long_context_threshold": rates.long_context_threshold,
            **{f"lc_{k}": getattr(rates, f"lc_{k}") for k in RATE_FIELDS},
            "web_search_per_1k": rates.web_search_per_1k, "web_fetch_per_1k": rates.web_fetch_per_1k,
            "source": rates.source}


# ---------------------------------------------------------------- the correction rows


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _CorrectionRow(_Strict):
    id: str
    kind: Literal["model_rates", "rate", "fast", "batch", "geo", "server_tool", "long_context"]
    model: str | None = None
    from_: date | None = Field(default=None, alias="from")
    before: date | None = None
    rates: dict[RateName, Decimal] | None = None
    multiplier: Decimal | None = Field(default=None, gt=0)
    geo: str | None = None
    tool: str | None = None
    threshold: int | None = Field(default=None, gt=0)  # long_context: total prompt tokens above which it applies
    usd_per_1000: Decimal | None = Field(default=None, ge=0)
    sources: tuple[str, ...] = Field(min_length=1)
    note: str | None = None

    def applies(self, model: str | None, day: date) -> bool:
        if self.from_ is not None and day < self.from_:
            return False
        if self.before is not None and day >= self.before:
            return False
        return self.model is None or (model is not None and same_model(self.model, model))


class _ThinkingAssumption(_Strict):
    as_of: date
    label: str
    tokens_per_request: dict[Literal["low", "medium", "high", "xhigh", "max"], int]
    enabled_budget_share: Decimal = Field(gt=0, le=1)


class _Corrections(_Strict):
    as_of: date
    source: str
    genai_prices: str
    sources: dict[str, str]
    rows: tuple[_CorrectionRow, ...]
    thinking_assumption: _ThinkingAssumption

    def find(self, kind: str, model: str | None, day: date) -> list[_CorrectionRow]:
        return [r for r in self.rows if r.kind == kind and r.applies(model, day)]

    def one(self, kind: str, model: str | None, day: date) -> _CorrectionRow | None:
        found = self.find(kind, model, day)
        return found[0] if found else None


@lru_cache(maxsize=1)
def corrections() -> _Corrections:
    """data/price_corrections.yaml, validated; a broken file is a bug in cachecast."""
    text = resources.files("cachecast").joinpath("facts", "data", "price_corrections.yaml").read_text(encoding="utf-8")
    try:
        table = _Corrections.model_validate(yaml.safe_load(text))
    except ValidationError as exc:
        raise RuntimeError(f"cachecast data/price_corrections.yaml: {exc.errors()[0]}") from None
    unknown = {s for r in table.rows for s in r.sources} - set(table.sources)
    if unknown:
        raise RuntimeError(f"cachecast data/price_corrections.yaml: unknown source keys {sorted(unknown)}")
    return table


def thinking_assumption() -> _ThinkingAssumption:
    """Expected thinking tokens per effort level: a planning assumption (see the data file)."""
    return corrections().thinking_assumption


def same_model(key: str, model: str) -> bool:
    """`model` is `key` or a dated/pinned form of it (key-YYYYMMDD, key@...): never a longer
    id (claude-sonnet-5 must not price claude-sonnet-5-5)."""
    k, m = key.lower(), model.lower()
    return m == k or bool(re.fullmatch(re.escape(k) + r"(-\d{8}|@.+)", m))


def _labelled(base: str, day: date, applied: list[str]) -> str:
    text = f"{base}, prices in effect {day.isoformat()}"
    if applied:
        text += f"; corrections: {', '.join(applied)} ({corrections().source})"
    return text


# ---------------------------------------------------------------- genai-prices + corrections


@lru_cache(maxsize=1)
def _snapshot():
    """The snapshot bundled with the installed package, never one fetched by the updater.
    Its data modules are imported without genai_prices' package __init__, which imports the
    updater and so an HTTP client and asyncio (a third of a second of CPU per ingest, for code
    cachecast never runs). The stand-in package and the modules loaded under it are then taken
    out of sys.modules, so that a later `import genai_prices` is the whole, ordinary package
    (a submodule left behind would be missing as an attribute of the real one)."""
    if "genai_prices" in sys.modules:  # already imported for real: use it
        data, data_snapshot = importlib.import_module("genai_prices.data"), importlib.import_module("genai_prices.data_snapshot")
        return data_snapshot.DataSnapshot(providers=data.providers, from_auto_update=False)
    spec = importlib.util.find_spec("genai_prices")
    shell = sys.modules["genai_prices"] = types.ModuleType("genai_prices")
    shell.__path__, shell.__spec__ = list(spec.submodule_search_locations or []), spec
    try:
        data_snapshot = importlib.import_module("genai_prices.data_snapshot")
        data = importlib.import_module("genai_prices.data")
    finally:
        for name in [n for n in sys.modules if n == "genai_prices" or n.startswith("genai_prices.")]:
            del sys.modules[name]
    return data_snapshot.DataSnapshot(providers=data.providers, from_auto_update=False)


def _genai_label() -> str:
    return f"genai-prices {version('genai-prices')} bundled snapshot"


def _genai_info(model: str) -> Any | None:
    try:
        return _snapshot().find_provider_model(model, None, PROVIDER, None)[1]
    except LookupError:
        return None


@lru_cache(maxsize=1024)
def _corrected_rates(model: str, batch: bool, speed: str, day: date) -> Rates:
    table = corrections()
    when = datetime.combine(day, time(12), tzinfo=timezone.utc)
    applied: list[str] = []
    own = table.one("model_rates", model, day)
    info = None if own is not None else _genai_info(model)
    if own is None and info is None:
        raise PriceError(unknown_model_message(model))
    if own is not None:
        std = {k: own.rates[k] for k in RATE_FIELDS}
        threshold, lc, web = None, {k: None for k in RATE_FIELDS}, None
        base = f"{table.source} (genai-prices {version('genai-prices')} has no price for this model)"
        applied.append(own.id)
    else:
        price = info.get_prices(when, None)
        std, threshold, lc = _split_tiers(model, _values(model, info, price))
        web = getattr(price, "web_searches_kcount", None)
        base = _genai_label()
    changed = False
    for row in table.find("rate", model, day):
        std.update(row.rates)
        applied.append(row.id)
        changed = True
    for row in table.find("long_context", model, day):
        if threshold is None:  # a row only where genai-prices has no tier (it would win otherwise)
            threshold, lc = row.threshold, {k: row.rates[k] for k in RATE_FIELDS}
            applied.append(row.id)
            changed = True  # batch rates are then standard x the batch row, long context included
    if speed == "fast":
        if batch:
            raise PriceError(f"a Message Batches line of '{model}' says speed 'fast', which batches do not "
                             "offer; cachecast cannot price it")
        std, threshold, lc = _fast_rates(model, info, day, when, applied)
    if batch:
        if info is not None and not changed and speed == "standard" and _has_variant(info, BATCH_CONTEXT, when):
            std, threshold, lc = _split_tiers(model, _values(model, info, info.get_prices(when, BATCH_CONTEXT)))
        else:
            row = table.one("batch", None, day)
            std = {k: v * row.multiplier for k, v in std.items()}
            lc = {k: (v * row.multiplier if v is not None else None) for k, v in lc.items()}
            applied.append(row.id)
    if web is None:
        web = _tool_rate("web_search_requests", day, applied)
    fetch = _tool_rate("web_fetch_requests", day, applied)
    return Rates(model=model, batch=batch, **std, long_context_threshold=threshold,
                 **{f"lc_{k}": v for k, v in lc.items()}, source=_labelled(base, day, applied),
                 speed=speed, web_search_per_1k=web, web_fetch_per_1k=fetch, priced_on=day,
                 corrections=tuple(applied))


def _tool_rate(tool: str, day: date, applied: list[str]) -> Decimal | None:
    """USD per 1,000 uses of a server tool from its `server_tool` correction row (None: no row).
    A row of $0 (web fetch: documented free) is not named among the corrections applied: it
    changes no figure, and naming it would label every price."""
    row = next((r for r in corrections().find("server_tool", None, day) if r.tool == tool), None)
    if row is None:
        return None
    if row.usd_per_1000:
        applied.append(row.id)
    return row.usd_per_1000


def _fast_rates(model: str, info: Any, day: date, when: datetime, applied: list[str]) -> tuple[dict, int | None, dict]:
    row = corrections().one("fast", model, day)
    if row is not None:
        applied.append(row.id)
        return {k: row.rates[k] for k in RATE_FIELDS}, None, {k: None for k in RATE_FIELDS}
    if info is not None and _has_variant(info, FAST_CONTEXT, when):
        return _split_tiers(model, _values(model, info, info.get_prices(when, FAST_CONTEXT)))
    raise PriceError(f"no fast-mode (speed 'fast') price for '{model}' on {day.isoformat()} in genai-prices "
                     "or cachecast's corrections; give its rates in a price overrides file (a 'fast:' block)"
                     + snippet_hint(model))


def _values(model: str, info: Any, price: Any) -> dict[str, Any]:
    values = {name: getattr(price, key, None) for name, key in GENAI_KEYS.items()}
    missing = [name for name, v in values.items() if v is None]
    if missing:
        raise PriceError(
            f"genai-prices has no {', '.join(missing)} price for '{model}' (matched {info.id}); it may not "
            "support prompt caching, or give its rates in a price overrides file" + snippet_hint(model))
    return values


def _has_variant(info: Any, context: dict[str, str], when: datetime) -> bool:
    for variant in info.price_variants or ():
        if variant.when == context and (variant.constraint is None or variant.constraint.active(when)):
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


def _apply_geo(rates: Rates, geo: str) -> Rates:
    """US-only inference: every token rate x the geo row's multiplier, on models that take
    inference_geo (cachecast.facts.models); a line claiming it elsewhere cannot be priced."""
    if geo == "global":
        return rates
    from .models import find

    facts = find(rates.model) or find(re.sub(r"(-\d{8}|@.+)$", "", rates.model))
    if facts is None or not facts.inference_geo:
        raise PriceError(f"inference_geo '{geo}' is not available on '{rates.model}' (cachecast models: only "
                         "Opus/Sonnet 4.6 and later take it); cannot price a US-only line of it")
    row = corrections().one("geo", None, rates.priced_on or today())
    if row is None or row.geo != geo:
        raise PriceError(f"no inference_geo '{geo}' multiplier in cachecast's price corrections")
    m = row.multiplier
    scaled = {k: getattr(rates, k) * m for k in RATE_FIELDS}
    lc = {f"lc_{k}": (getattr(rates, f"lc_{k}") * m if getattr(rates, f"lc_{k}") is not None else None)
          for k in RATE_FIELDS}
    applied = (*rates.corrections, row.id)
    head = rates.source.split("; corrections: ")[0]
    source = f"{head}; corrections: {', '.join(applied)} ({corrections().source})"
    return replace(rates, **scaled, **lc, geo=geo, corrections=applied, source=source)


def known_models() -> list[str]:
    provider = next(p for p in _snapshot().providers if p.id == PROVIDER)
    own = [r.model for r in corrections().rows if r.kind == "model_rates" and r.model]
    return sorted({m.id for m in provider.models} | set(own))


def unknown_model_message(model: str) -> str:
    close = difflib.get_close_matches(model.lower(), known_models(), n=3, cutoff=0.5)
    hint = f"; close known models: {', '.join(close)}" if close else ""
    return (f"no known price for model '{model}' in genai-prices {version('genai-prices')} ({PROVIDER}) or "
            f"cachecast's price corrections{hint}; fix the model id or give its rates in a price overrides "
            "file (--prices FILE)" + snippet_hint(model))


def overrides_snippet(model: str) -> str:
    """A price overrides file for `model`, ready to fill in: every rate is null, so the file
    is refused until a real rate replaces it (a forgotten placeholder never prices at $0).
    One line of YAML (flow style), so it survives one-sentence error output intact."""
    name = json.dumps(model)
    return ("{source: \"where these rates come from\", batch_multiplier: 0.5, models: {" + name
            + ": {input: null, write_5m: null, write_1h: null, read: null, output: null}}}")


def snippet_hint(model: str) -> str:
    return (f"; for example save this as prices.yaml, put the USD per million tokens in place of each null "
            f"(https://platform.claude.com/docs/en/about-claude/pricing or your agreement) and pass --prices "
            f"prices.yaml or set {PRICES_ENV}: {overrides_snippet(model)}")


# ---------------------------------------------------------------- overrides file


class _RateSet(_Strict):
    input: Decimal = Field(gt=0, le=MAX_RATE, allow_inf_nan=False)
    write_5m: Decimal = Field(ge=0, le=MAX_RATE, allow_inf_nan=False)
    write_1h: Decimal = Field(ge=0, le=MAX_RATE, allow_inf_nan=False)
    read: Decimal = Field(ge=0, le=MAX_RATE, allow_inf_nan=False)
    output: Decimal = Field(gt=0, le=MAX_RATE, allow_inf_nan=False)


class _LongContext(_RateSet):
    threshold: int = Field(gt=0, le=100_000_000)


class _BatchRates(_RateSet):
    long_context: _LongContext | None = None


class _ModelOverride(_RateSet):
    long_context: _LongContext | None = None
    batch: _BatchRates | None = None
    fast: _RateSet | None = None
    web_search_per_1k: Decimal | None = Field(default=None, ge=0, le=MAX_RATE, allow_inf_nan=False)
    web_fetch_per_1k: Decimal | None = Field(default=None, ge=0, le=MAX_RATE, allow_inf_nan=False)
    from_: date | None = Field(default=None, alias="from")
    before: date | None = None


class _OverridesFile(_Strict):
    source: str | None = None
    batch_multiplier: Decimal | None = Field(default=None, gt=0, le=1)
    models: dict[str, _ModelOverride] = Field(min_length=1)


def _load_overrides(path: Path) -> _OverridesFile:
    from .._paths import regular_file

    if path.exists():
        regular_file(path, "price overrides (YAML)", PriceError)  # a FIFO or /dev/zero must not hang or fill memory
    stat = path.stat() if path.is_file() else None
    if stat is None:
        raise PriceError(f"{path}: price overrides file not found")
    return _parse_overrides(str(path.resolve()), stat.st_mtime_ns)


@lru_cache(maxsize=8)
def _parse_overrides(path: str, _mtime: int) -> _OverridesFile:
    """Read as strictly as a config (facts/price_file.py: bounded, a repeated key refused, a
    file that is not a price file named, never quoted), then validated."""
    raw = price_file.read(Path(path), set(_OverridesFile.model_fields))
    try:
        return _OverridesFile.model_validate(raw)
    except ValidationError as exc:
        raise PriceError(price_file.validation_sentence(path, exc)) from None


def _match_override(table: _OverridesFile, model: str, day: date) -> _ModelOverride | None:
    """The entry for `model` (exact, or a dated/pinned form of its key) in effect on `day`."""
    for key, entry in table.models.items():
        if same_model(key, model) and (entry.from_ is None or day >= entry.from_) \
                and (entry.before is None or day < entry.before):
            return entry
    return None


def _override_rates(model: str, batch: bool, speed: str, day: date, entry: _ModelOverride,
                    table: _OverridesFile, path: Path) -> Rates:
    label = f"overrides: {path}" + (f" ({table.source})" if table.source else "")
    applied: list[str] = []
    rates: _RateSet = entry
    long_ctx = entry.long_context
    factor = Decimal(1)
    if speed == "fast":
        if batch:
            raise PriceError(f"a Message Batches line of '{model}' says speed 'fast', which batches do not offer")
        if entry.fast is None:
            raise PriceError(f"{path}: price override for '{model}' has no fast-mode rates; add a 'fast:' block "
                             "(input, write_5m, write_1h, read, output) to price speed 'fast' lines")
        rates, long_ctx = entry.fast, None
        label += ", fast-mode rates"
    elif batch and entry.batch is not None:
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
    web = entry.web_search_per_1k
    if web is None:
        web = _tool_rate("web_search_requests", day, applied)
    fetch = entry.web_fetch_per_1k if entry.web_fetch_per_1k is not None else _tool_rate("web_fetch_requests", day, applied)
    base = {k: getattr(rates, k) * factor for k in RATE_FIELDS}
    lc = {f"lc_{k}": (getattr(long_ctx, k) * factor if long_ctx else None) for k in RATE_FIELDS}
    return Rates(model=model, batch=batch, **base, long_context_threshold=long_ctx.threshold if long_ctx else None,
                 **lc, source=_labelled(label, day, applied), speed=speed, web_search_per_1k=web,
                 web_fetch_per_1k=fetch, priced_on=day, corrections=tuple(applied))

