"""Per-model facts and rules, as dated data: the bottom of cachecast's import graph.

Why one module: the builder, lint, the projection, the token estimate and the local test
server must agree on what a model accepts. If each kept its own copy, the test server
could be kinder than lint, and lint kinder than the API. Facts live in data/models.yaml
(dated, each row with its sources); `cachecast models --refresh` stores what the Models
API says (facts.model_cache validates it both ways), and that is preferred where it speaks
(lifecycle, dates, max_tokens, max_input_tokens, thinking types, effort levels, batch). A
model the API lists and the table lacks gets a row from the API's facts plus conservative
defaults for what the API does not give (`api_only`, `assumed` say which).

Ids match exactly (dated ids are aliases): by prefix, claude-sonnet-5-5 would match the
claude-sonnet-5 row, with the wrong minimum, tokenizer and sampling rules.
"""
from __future__ import annotations

import difflib
import os
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ConfigError
from . import model_cache

API_VERSIONS = ("2026-10-21", "2023-06-01")
DEFAULT_API_VERSION = "2026-10-21"  # what anthropic SDK 2.x sends
SAMPLING_PARAMS = ("temperature", "top_p", "top_k")
EFFORTS = ("low", "medium", "high", "xhigh", "max")
THINKING_TYPES = ("enabled", "adaptive", "disabled", "between_tools")
MIN_BUDGET_TOKENS = 1024
TODAY_ENV = "CACHECAST_TODAY"  # YYYY-MM-DD: the date lifecycle checks use (tests, what-ifs)
# anthropic-beta values (SDK 2.16 anthropic.types.AnthropicBetaParam) a build may need
FAST_MODE_BETA = "fast-mode-2026-02-01"  # speed "fast" on a model in research preview (fast-mode docs)
OUTPUT_300K_BETA = "output-300k-2026-03-24"  # max_tokens above the sync limit, Message Batches only
FORCED_TOOL_CHOICES = ("any", "tool")


class RetiredModelError(ConfigError):
    """The model no longer serves requests: every line of a batch would come back errored."""


# ------------------------------------------------------------------ the data file


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Thinking(_Strict):
    modes: tuple[Literal["enabled", "adaptive", "disabled", "between_tools"], ...]
    default: Literal["adaptive", "none"]
    disable: Literal["disabled", "between_tools"] | None
    disable_max_effort: Literal["low", "medium", "high", "xhigh", "max"] | None
    enabled_deprecated: bool


class _Row(_Strict):
    aliases: tuple[str, ...]
    lifecycle: Literal["active", "deprecated", "retired"]
    deprecated_at: date | None
    retires_at: date | None
    replacement: str | None
    min_cache_tokens: int = Field(gt=0)
    min_cache_assumed: bool
    tokenizer: Literal["2026", "classic"]
    sampling_2023: bool
    thinking: _Thinking
    effort: tuple[Literal["low", "medium", "high", "xhigh", "max"], ...]
    default_effort: Literal["low", "medium", "high", "xhigh", "max"] | None
    inference_geo: bool
    fast_mode: bool
    fast_mode_beta: bool
    max_output: int | None = Field(default=None, gt=0)
    max_output_batch_beta: int | None = Field(default=None, gt=0)
    forced_tool_choice: bool
    batch: bool
    sources: tuple[str, ...]


@dataclass(frozen=True)
class ModelFacts:
    """One model's row. `source` says where the row came from (table, or table + Models API)."""

    id: str
    aliases: tuple[str, ...]
    lifecycle: str
    deprecated_at: date | None
    retires_at: date | None
    replacement: str | None
    min_cache_tokens: int
    min_cache_assumed: bool
    tokenizer: str
    tokenizer_factor: float
    sampling_2023: bool
    thinking_modes: tuple[str, ...]
    thinking_default: str
    thinking_disable: str | None
    disable_max_effort: str | None
    enabled_deprecated: bool
    effort: tuple[str, ...]
    default_effort: str | None
    inference_geo: bool
    fast_mode: bool
    max_output: int | None
    batch: bool
    sources: tuple[str, ...]
    source: str
    as_of: str
    fast_mode_beta: bool = False
    max_output_batch_beta: int | None = None
    forced_tool_choice: bool = True
    max_input_tokens: int | None = None  # the Models API's; the table does not keep it
    api_only: bool = False  # not in the table: the Models API's facts plus conservative defaults
    assumed: tuple[str, ...] = field(default=())  # facts the Models API did not give, assumed

    @property
    def fixed_sampling(self) -> bool:
        """True when no API version lets this model take a non-default temperature."""
        return not self.sampling_2023

    @property
    def thinks_by_default(self) -> bool:
        return self.thinking_default == "adaptive"

    def sampling_params(self, api_version: str) -> tuple[str, ...]:
        """Sampling params accepted at non-default values under `api_version`."""
        return SAMPLING_PARAMS if api_version == "2023-06-01" and self.sampling_2023 else ()

    def contract_row(self) -> dict[str, Any]:
        """The `models --json` row (DESIGN.md contract) plus the other facts, after it."""
        return {
            "id": self.id, "aliases": list(self.aliases), "lifecycle": self.lifecycle,
            "retires_at": _iso(self.retires_at), "replacement": self.replacement,
            "min_cache_tokens": self.min_cache_tokens, "sampling_params": self.sampling_2023,
            "thinking": list(self.thinking_modes),
            "deprecated_at": _iso(self.deprecated_at), "min_cache_assumed": self.min_cache_assumed,
            "tokenizer": self.tokenizer, "sampling_by_api_version": {v: list(self.sampling_params(v)) for v in API_VERSIONS},
            "thinking_default": self.thinking_default, "thinking_disable": self.thinking_disable,
            "disable_max_effort": self.disable_max_effort, "effort": list(self.effort),
            "default_effort": self.default_effort, "inference_geo": self.inference_geo,
            "fast_mode": self.fast_mode, "max_output": self.max_output, "batch": self.batch,
            "sources": list(self.sources), "source": self.source,
            "fast_mode_beta": self.fast_mode_beta, "max_output_batch_beta": self.max_output_batch_beta,
            "forced_tool_choice": self.forced_tool_choice, "max_input_tokens": self.max_input_tokens,
            "api_only": self.api_only, "assumed": list(self.assumed),
        }


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


@lru_cache(maxsize=1)
def _raw() -> dict[str, Any]:
    return yaml.safe_load(resources.files("cachecast").joinpath("facts", "data", "models.yaml").read_text())


@lru_cache(maxsize=1)
def _static_table() -> dict[str, ModelFacts]:
    raw = _raw()
    defaults = raw["defaults"]
    table = {}
    for model_id, row in raw["models"].items():
        merged = {**defaults, **(row or {}),
                  "thinking": {**defaults["thinking"], **((row or {}).get("thinking") or {})}}
        try:
            parsed = _Row.model_validate(merged)
        except ValidationError as exc:  # a broken data file is a bug in cachecast, said plainly
            raise RuntimeError(f"cachecast data/models.yaml row {model_id}: {exc.errors()[0]}") from None
        table[model_id] = _facts(model_id, parsed, raw)
    return table


def _facts(model_id: str, row: _Row, raw: dict[str, Any]) -> ModelFacts:
    t = row.thinking
    return ModelFacts(
        id=model_id, aliases=row.aliases, lifecycle=row.lifecycle, deprecated_at=row.deprecated_at,
        retires_at=row.retires_at, replacement=row.replacement, min_cache_tokens=row.min_cache_tokens,
        min_cache_assumed=row.min_cache_assumed, tokenizer=row.tokenizer,
        tokenizer_factor=float(raw["tokenizers"][row.tokenizer]), sampling_2023=row.sampling_2023,
        thinking_modes=t.modes, thinking_default=t.default, thinking_disable=t.disable,
        disable_max_effort=t.disable_max_effort, enabled_deprecated=t.enabled_deprecated,
        effort=row.effort, default_effort=row.default_effort, inference_geo=row.inference_geo,
        fast_mode=row.fast_mode, max_output=row.max_output, batch=row.batch,
        sources=tuple(raw["sources"].get(s, s) for s in row.sources), source=raw["source"], as_of=raw["as_of"],
        fast_mode_beta=row.fast_mode_beta, max_output_batch_beta=row.max_output_batch_beta,
        forced_tool_choice=row.forced_tool_choice)


def inference_geos() -> tuple[str, ...]:
    """The inference_geo values the API takes (data/models.yaml, data residency docs)."""
    return tuple(_raw()["inference_geos"])


# ------------------------------------------------------------------ the Models API refresh


def store_refresh(models: list[dict[str, Any]], path: Path | None = None) -> Path:
    """Keep `client.models.list()` rows (plain dicts) once model_cache has validated them."""
    path = model_cache.store(models, path)
    _table.cache_clear()
    model_facts.cache_clear()
    return path


def _apply_api(facts: ModelFacts, api: dict[str, Any], fetched_at: str) -> ModelFacts:
    """The Models API is the source of truth for what it reports; the rest stays the table's."""
    changes: dict[str, Any] = {"source": f"{facts.source}; Models API {fetched_at}"}
    if isinstance(api.get("max_input_tokens"), int):
        changes["max_input_tokens"] = api["max_input_tokens"]
    if api.get("lifecycle") in ("active", "deprecated", "retired"):
        changes["lifecycle"] = api["lifecycle"]
    for key in ("retires_at", "deprecated_at"):
        if key in api:
            changes[key] = _day(api[key])
    if isinstance(api.get("max_tokens"), int):
        changes["max_output"] = api["max_tokens"]
    caps = api.get("capabilities") or {}
    types = ((caps.get("thinking") or {}).get("types")) or {}
    if types:
        modes = tuple(t for t in THINKING_TYPES if (types.get(t) or {}).get("supported"))
        changes["thinking_modes"] = modes
        if facts.thinking_disable and facts.thinking_disable not in modes:
            changes["thinking_disable"] = next((t for t in ("disabled", "between_tools") if t in modes), None)
    effort = caps.get("effort") or {}
    if isinstance(effort, dict) and "supported" in effort:
        levels = tuple(e for e in EFFORTS if (effort.get(e) or {}).get("supported"))
        changes["effort"] = levels if effort.get("supported") else ()
    if isinstance((caps.get("batch") or {}).get("supported"), bool):
        changes["batch"] = caps["batch"]["supported"]
    return replace(facts, **changes)


def _day(value: Any) -> date | None:
    if not value:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00")).date()


# the largest published cache minimum: what a model the table does not know is assumed to need
def _largest_minimum() -> int:
    return max(f.min_cache_tokens for f in _static_table().values())


def facts_from_api(api: dict[str, Any], fetched_at: str) -> ModelFacts:
    """A row for a model only the Models API knows: its facts, and for the rest the choices
    that cannot make a projection look cheaper or let a request through that might fail."""
    minimum = _largest_minimum()
    assumed = (f"cache minimum {minimum:,} tokens (the largest known)", "tokenizer 2026 (~1.3x tokens)",
               "no temperature", "no inference_geo", "no fast mode", "no forced tool_choice",
               "default effort high", "thinking on by default when adaptive is supported")
    base = ModelFacts(
        id=api["id"], aliases=(), lifecycle="active", deprecated_at=None, retires_at=None, replacement=None,
        min_cache_tokens=minimum, min_cache_assumed=True, tokenizer="2026",
        tokenizer_factor=float(_raw()["tokenizers"]["2026"]), sampling_2023=False, thinking_modes=(),
        thinking_default="none", thinking_disable=None, disable_max_effort=None, enabled_deprecated=False,
        effort=(), default_effort=None, inference_geo=False, fast_mode=False, max_output=None, batch=False,
        sources=(f"Models API {fetched_at}", "cachecast conservative defaults: " + "; ".join(assumed)),
        source=f"Models API {fetched_at} (not in {_raw()['source'].split(' (')[0]}; defaults assumed)",
        as_of=str(fetched_at)[:10], forced_tool_choice=False, api_only=True, assumed=assumed)
    facts = _apply_api(base, api, fetched_at)
    modes = facts.thinking_modes
    return replace(facts, source=base.source,
                   thinking_default="adaptive" if "adaptive" in modes else "none",
                   thinking_disable=next((t for t in ("disabled", "between_tools") if t in modes), None),
                   default_effort="high" if "high" in facts.effort else (facts.effort[-1] if facts.effort else None))


_REFRESH_LABEL: list[str] = []  # the refresh the current table used ("" when none), for source()


@lru_cache(maxsize=1)
def _table() -> dict[str, ModelFacts]:
    table = dict(_static_table())
    refresh = model_cache.read()
    _REFRESH_LABEL[:] = [refresh.fetched_at if refresh else ""]
    if refresh:
        for api in refresh.rows:
            found = _by_name(table).get(api["id"])
            if found is not None:
                table[found.id] = _apply_api(found, api, refresh.fetched_at)
            else:
                table[api["id"]] = facts_from_api(api, refresh.fetched_at)
    return table


def _by_name(table: dict[str, ModelFacts]) -> dict[str, ModelFacts]:
    names = {}
    for facts in table.values():
        names[facts.id] = facts
        for alias in facts.aliases:
            names[alias] = facts
    return names


# ------------------------------------------------------------------ lookups


def source() -> str:
    """Which snapshot answered: the dated table, plus the Models API refresh when one was used."""
    _table()
    label = _raw()["source"]
    fetched = _REFRESH_LABEL[0] if _REFRESH_LABEL else ""
    return f"{label}; Models API refresh {fetched}" if fetched else label


def as_of() -> str:
    return str(_raw()["as_of"])


def all_models() -> list[ModelFacts]:
    return list(_table().values())


def table_models() -> list[ModelFacts]:
    """The shipped table alone, without a Models API refresh (the local test server's catalogue)."""
    return list(_static_table().values())


def table_facts(model: str) -> ModelFacts | None:
    """A row of the shipped table by id or alias, ignoring any Models API refresh."""
    return _by_name(_static_table()).get(model)


def known_models() -> list[str]:
    return sorted(_by_name(_table()))


@lru_cache(maxsize=256)
def model_facts(model: str) -> ModelFacts:
    """The row for an id or alias. Memoised: the builder asks several times per request."""
    found = _by_name(_table()).get(model)
    if found is None:
        raise ConfigError(unknown_model_message(model))
    return found


def role_ids() -> dict[str, str]:
    """The ids data/models.yaml names per role, as written in the shipped table (no Models API
    refresh, no lifecycle check): what the tests derive their model roles from."""
    return dict(_raw().get("roles") or {})


def default_model(role: str = "default") -> str:
    """The model data/models.yaml names for a role (`roles`: default, bulk), for code that needs
    a model the user did not give; a role whose model is retired on today() is a bug in the
    data, said plainly rather than priced."""
    roles = role_ids()
    if role not in roles:
        raise ConfigError(f"no model for role '{role}' in cachecast's model table (roles: {', '.join(sorted(roles))})")
    facts = model_facts(roles[role])
    if lifecycle_on(facts, today()) == "retired":
        raise RuntimeError(f"cachecast data/models.yaml: the {role} model {facts.id} is retired on {today()}; "
                           "update roles")
    return facts.id


def find(model: str) -> ModelFacts | None:
    try:
        return model_facts(model)
    except ConfigError:
        return None


def unknown_model_message(model: str) -> str:
    close = difflib.get_close_matches(str(model), known_models(), n=3, cutoff=0.6)
    hint = f"; close matches: {', '.join(close)}" if close else ""
    return (f"model '{model}' is not in cachecast's model table (as of {as_of()}){hint}; "
            "`cachecast models` lists the known ids")


# ------------------------------------------------------------------ lifecycle


def today() -> date:
    """The date lifecycle checks use: CACHECAST_TODAY when set (tests, what-ifs), else UTC today."""
    env = os.environ.get(TODAY_ENV)
    if env:
        try:
            return date.fromisoformat(env)
        except ValueError:
            raise ConfigError(f"{TODAY_ENV}={env!r} is not a date (YYYY-MM-DD)") from None
    return datetime.now(timezone.utc).date()


def lifecycle_on(facts: ModelFacts, day: date) -> str:
    """The lifecycle on `day`: a retired row was still callable before its retirement date."""
    if facts.lifecycle == "retired":
        return "retired" if facts.retires_at is None or day >= facts.retires_at else "deprecated"
    if facts.lifecycle == "deprecated" and facts.deprecated_at and day < facts.deprecated_at:
        return "active"
    return facts.lifecycle


def retired_phrase(facts: ModelFacts) -> str:
    """"was retired on DATE", or, for a row (or a Models API answer) without a date, words
    that say so instead of "was retired on None"."""
    if facts.retires_at is None:
        return "was retired (no retirement date is published)"
    return f"was retired on {facts.retires_at}"


def check_lifecycle(model: str, day: date | None = None) -> str | None:
    """Raise RetiredModelError for a retired model; return a warning sentence for a deprecated one."""
    facts = model_facts(model)
    day = day or today()
    state = lifecycle_on(facts, day)
    instead = f"; use {facts.replacement}" if facts.replacement else ""
    if state == "retired":
        raise RetiredModelError(f"model {model} {retired_phrase(facts)} and its requests now fail"
                                f"{instead} (cachecast model table {as_of()})")
    if state != "deprecated":
        return None
    if facts.retires_at and day >= facts.retires_at:
        when = f"its retirement was scheduled for {facts.retires_at} and is overdue"
    elif facts.retires_at:
        when = f"it retires on {facts.retires_at}"
    else:
        when = "no retirement date is published"
    return f"model {model} is deprecated: {when}{instead}"


# ------------------------------------------------------------------ request rules


def sampling_problem(facts: ModelFacts, api_version: str, params: dict[str, Any]) -> str | None:
    """Why the API would reject these sampling params, in its terms; None when it accepts them."""
    present = [p for p in SAMPLING_PARAMS if params.get(p) is not None]
    if not present:
        return None
    if api_version != "2023-06-01":
        return (f"{present[0]}: Extra inputs are not permitted (anthropic-version {api_version} removed "
                "temperature, top_p and top_k)")
    non_default = [p for p in present if not (p in ("temperature", "top_p") and params[p] == 1.0)]
    if non_default and not facts.sampling_2023:
        return f"`{non_default[0]}` is deprecated for this model. ({facts.id} accepts only the default)"
    if "temperature" in present and "top_p" in present:
        return "`temperature` and `top_p` cannot both be specified for this model"
    thinking = params.get("thinking") if isinstance(params.get("thinking"), dict) else {}
    if thinking.get("type") in ("enabled", "adaptive") and params.get("temperature") not in (None, 1.0):
        return "`temperature` may only be set to 1 when thinking is enabled"
    if thinking.get("type") in ("enabled", "adaptive") and params.get("top_k") is not None:
        return "`top_k` is not supported when thinking is enabled"
    return None


def effort_rank(effort: str) -> int:
    return EFFORTS.index(effort)


def thinking_problem(facts: ModelFacts, thinking: dict[str, Any] | None, effort: str | None,
                     max_tokens: int | None) -> str | None:
    """Why the API would reject this thinking shape on this model; None when it is accepted.

    Effort matters even when `output_config` is omitted: the model's default effort applies,
    so Haiku 5.5 with thinking disabled is fine at its default medium, a 400 at max."""
    if effort is not None and effort not in facts.effort:
        levels = ", ".join(facts.effort) or "none"
        return f"output_config.effort: {facts.id} does not accept effort '{effort}' (accepted: {levels})"
    kind = (thinking or {}).get("type")
    if kind is None:
        return None
    if kind not in facts.thinking_modes:
        return _mode_problem(facts, kind)
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < MIN_BUDGET_TOKENS:
            return f"thinking.budget_tokens: must be an integer >= {MIN_BUDGET_TOKENS}"
        if isinstance(max_tokens, int) and budget >= max_tokens:
            return f"thinking.budget_tokens ({budget}) must be less than max_tokens ({max_tokens})"
    elif "budget_tokens" in thinking:
        return f"thinking.budget_tokens: Extra inputs are not permitted with thinking type '{kind}'"
    level = effort or facts.default_effort
    if kind in ("disabled", "between_tools") and facts.disable_max_effort and level \
            and effort_rank(level) > effort_rank(facts.disable_max_effort):
        return (f"thinking.type '{kind}' is only accepted at effort {facts.disable_max_effort} or lower on "
                f"{facts.id} (effort is {level})")
    return None


def _mode_problem(facts: ModelFacts, kind: str) -> str:
    """In the API's words where the docs quote them (thinking-troubleshooting, Opus 5.5 notes)."""
    accepted = ", ".join(facts.thinking_modes) or "none"
    if kind == "disabled" and facts.thinking_disable == "between_tools":
        return (f'"thinking.type.disabled" is not supported for this model. Use "thinking.type.between_tools" '
                f"to turn thinking off ({facts.id})")
    if kind in ("disabled", "between_tools") and facts.thinking_disable is None:
        return (f'"thinking.type.{kind}" is not supported for this model. Use "thinking.type.adaptive" and '
                f'"output_config.effort" to control thinking behavior. ({facts.id} cannot turn thinking off)')
    if kind == "enabled":
        return (f'"thinking.type.enabled" is not supported for this model. Use "thinking.type.adaptive" and '
                f'"output_config.effort" to control thinking behavior. ({facts.id})')
    if kind == "adaptive":
        return f"adaptive thinking is not supported on this model ({facts.id}; accepted thinking types: {accepted})"
    return f"thinking.type '{kind}' is not supported on {facts.id}; accepted thinking types: {accepted}"


def geo_problem(facts: ModelFacts, params: dict[str, Any]) -> str | None:
    if params.get("inference_geo") is not None and not facts.inference_geo:
        return f"inference_geo is not supported on {facts.id} (only Opus/Sonnet 4.6 and later)"
    return None


def speed_problem(facts: ModelFacts, params: dict[str, Any], in_batch: bool,
                  betas: tuple[str, ...] = ()) -> str | None:
    """Fast mode: never in a batch, only on models that have it, and on a research-preview
    model only with the fast-mode beta header (`betas`: the anthropic-beta values sent)."""
    if params.get("speed") in (None, "standard"):
        return None
    if in_batch:
        return "speed: fast mode is not available in the Message Batches API"
    if not facts.fast_mode:
        return f"speed 'fast' is not supported on {facts.id}"
    if facts.fast_mode_beta and FAST_MODE_BETA not in betas:
        return (f"speed: fast mode on {facts.id} is a research preview and needs the anthropic-beta header "
                f"{FAST_MODE_BETA}")
    return None


def tool_choice_problem(facts: ModelFacts, params: dict[str, Any]) -> str | None:
    """A forced tool_choice on a model that rejects one (messages and count_tokens alike)."""
    choice = params.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in FORCED_TOOL_CHOICES and not facts.forced_tool_choice:
        return 'tool_choice: type "tool" and "any" are not supported for this model.'
    return None


def output_cap(facts: ModelFacts, betas: tuple[str, ...] = (), in_batch: bool = False) -> int | None:
    """The highest max_tokens the API takes for this model: the synchronous limit, or in a
    batch sent with the output-300k beta the model's batch limit (models overview)."""
    if in_batch and OUTPUT_300K_BETA in betas and facts.max_output_batch_beta:
        return max(facts.max_output or 0, facts.max_output_batch_beta)
    return facts.max_output


def max_tokens_problem(facts: ModelFacts, max_tokens: Any, betas: tuple[str, ...] = (),
                       in_batch: bool = False) -> str | None:
    cap = output_cap(facts, betas, in_batch)
    if cap and isinstance(max_tokens, int) and max_tokens > cap:
        return (f"max_tokens: {max_tokens} > {cap}, which is the maximum allowed number of output tokens for "
                f"{facts.id}")
    return None


def request_betas(facts: ModelFacts, params: dict[str, Any]) -> tuple[str, ...]:
    """The anthropic-beta values this request needs on this model; the build records them in
    build.json so that submit, probe and count send the same headers."""
    out = []
    if params.get("speed") == "fast" and facts.fast_mode_beta:
        out.append(FAST_MODE_BETA)
    mt = params.get("max_tokens")
    if isinstance(mt, int) and facts.max_output and facts.max_output_batch_beta \
            and facts.max_output < mt <= facts.max_output_batch_beta:
        out.append(OUTPUT_300K_BETA)
    return tuple(out)
