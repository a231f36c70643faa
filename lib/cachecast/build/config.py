"""Run configuration: YAML -> pydantic models, with errors a researcher can act on.

Every error names the file, the key path, the bad value and what is accepted, because a
typo in a 5,000-item run config otherwise shows up only as money spent on the wrong thing.
"""
from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError, field_validator

from .. import _yaml as bounded_yaml
from ._config_raw import check_raw_types
from .._paths import describe_mode, folder_root, open_regular, outside_root, repository_root, warn_once
from ..errors import ConfigError


MAX_CONFIG_BYTES = 1_000_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ContextBlock(_Strict):
    """Shared context (a rubric, a document) placed before the item, with its own breakpoint."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,40}$")
    file: Path


class CacheControl(_Strict):
    enable_system_cache: bool | None = None  # None: true for anthropic, ignored elsewhere
    ttl: Literal["5m", "1h"] = "5m"
    tools: bool = False  # breakpoint on the last tool definition
    context: ContextBlock | None = None
    # top-level cache_control (automatic caching): the API puts it on the last cacheable
    # block, so it caches the whole prompt; it pays only when the same prompt comes again
    # (repeats, multi-turn), and takes one of the 4 breakpoint slots
    automatic: bool = False


class RequestOverrides(_Strict):
    cache_control: CacheControl = CacheControl()


class Provider(_Strict):
    name: Literal["anthropic", "openai"]
    model: str = Field(min_length=1)
    batch: bool = True
    # the anthropic-version header every SDK client sends; 2026-10-21 is what SDK 2.x sends
    api_version: Literal["2026-10-21", "2023-06-01"] = "2026-10-21"
    request_overrides: RequestOverrides = RequestOverrides()

    @property
    def cache(self) -> CacheControl:
        return self.request_overrides.cache_control

    @property
    def caching_enabled(self) -> bool:
        flag = self.cache.enable_system_cache
        return self.name == "anthropic" and (flag is None or flag)


class Prompts(_Strict):
    system_file: Path
    user_template_file: Path
    tools_file: Path | None = None  # JSON list of Anthropic tool definitions


class Items(_Strict):
    file: Path
    id_field: str = "id"
    limit: int | None = Field(default=None, ge=1)


class Treatment(_Strict):
    """One arm. `system_suffix_file` is appended after the cached system block, so all arms
    share one cached prefix (the shared-control design); `system_file` replaces the system
    prompt and therefore gives the arm a cache entry of its own."""

    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,20}$")
    system_suffix_file: Path | None = None
    system_file: Path | None = None


class Thinking(_Strict):
    """`effort` becomes output_config.effort; None leaves the model's default effort."""

    type: Literal["enabled", "adaptive", "disabled", "between_tools"] = "adaptive"
    budget_tokens: int | None = Field(default=None, ge=1024)
    effort: Literal["low", "medium", "high", "xhigh", "max"] | None = None
    display: Literal["summarized", "omitted"] | None = None


class RunConfig(_Strict):
    run_name: str = "run"
    provider: Provider
    prompts: Prompts
    items: Items
    treatments: list[Treatment] = Field(min_length=1)
    # the sampling axis: each (item, treatment) is sent `repeats` times with one cached prefix
    repeats: int = Field(default=1, ge=1, le=100)
    # only under api_version 2023-06-01, on a model that still takes a temperature
    temperatures: list[float | None] = Field(default=[None], min_length=1)
    max_tokens: int = Field(ge=1)
    thinking: Thinking | None = None
    budget_usd: float | None = Field(default=None, gt=0)
    output_fill_ratio: float = Field(default=0.6, gt=0, le=1)
    source: Path | None = Field(default=None, exclude=True)
    _warnings: tuple[str, ...] = PrivateAttr(default=())  # model-rule warnings (rules.py), for commands to print

    @field_validator("temperatures")
    @classmethod
    def _temperature_range(cls, temps: list[float | None]) -> list[float | None]:
        for t in temps:
            if t is not None and not 0.0 <= t <= 1.0:
                raise ValueError(f"temperature {t} is outside 0.0-1.0")
        if len(set(temps)) != len(temps):
            raise ValueError("temperatures are repeated")
        return temps

    @field_validator("treatments")
    @classmethod
    def _unique_treatments(cls, treatments: list[Treatment]) -> list[Treatment]:
        names = [t.name for t in treatments]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"treatment names must be unique, repeated: {', '.join(dupes)}")
        return treatments

    def resolve(self, path: Path) -> Path:
        """Paths in a config are relative to the config file, so configs can be copied around."""
        base = self.source.parent if self.source else Path.cwd()
        return path if path.is_absolute() else (base / path)


def load_config(path: str | Path) -> RunConfig:
    path = Path(path)
    raw = _read_yaml(path)
    check_raw_types(path, raw, RunConfig)  # bools in int fields, NaN/inf budgets: lax pydantic takes them
    try:
        cfg = RunConfig.model_validate({**raw, "source": path})
    except ValidationError as exc:
        raise ConfigError(_explain(path, exc, raw)) from None
    _check_files(cfg, path)
    _check_model_rules(cfg, path)
    return cfg


def _check_model_rules(cfg: RunConfig, path: Path) -> None:
    """The per-model rules (rules.py); warnings are kept on the config for commands to print."""
    if cfg.provider.name != "anthropic":
        return
    from ..facts.rules import check_run  # rules -> models only; imported here to keep config's import light

    thinking = cfg.thinking.model_dump(exclude_none=True, exclude={"effort"}) if cfg.thinking else None
    report = check_run(cfg.provider.model, cfg.provider.api_version, cfg.temperatures, thinking,
                       cfg.thinking.effort if cfg.thinking else None, cfg.max_tokens, cfg.output_fill_ratio,
                       batch=cfg.provider.batch)
    if report.errors:
        key, sentence = report.errors[0]
        raise ConfigError(f"{path}: '{key}' {sentence}" if key != "provider.model" else f"{path}: {sentence}")
    cfg._warnings = tuple(report.warnings)


def config_warnings(cfg: RunConfig) -> tuple[str, ...]:
    return cfg._warnings


def _read_yaml(path: Path) -> dict[str, Any]:
    """The config's top-level mapping. Refused before parsing: a directory, a FIFO or device
    (it would hang or never end), more than MAX_CONFIG_BYTES. Parsed by cachecast._yaml:
    aliases bounded, a key given twice is an error, too-deep nesting is an error."""
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory, expected a YAML config file")
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    with open_regular(path, "YAML config", ConfigError) as fh:
        data = fh.read(MAX_CONFIG_BYTES + 1)
        size = max(len(data), os.fstat(fh.fileno()).st_size)
    if size > MAX_CONFIG_BYTES:  # YAML parsing is slow; megabytes here are a wrong file, not a config
        raise ConfigError(f"{path}: is {size / 2**20:.1f} MB, too large for a run config (a few KB); "
                          "was a data file passed as the config?")
    try:
        raw = bounded_yaml.load(data.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = bounded_yaml.problem_of(exc)  # never the file's own text: it may not be a config at all
        kind = (":" if where else "") if isinstance(exc, bounded_yaml.BoundedYAMLError) else " malformed YAML:"
        raise ConfigError(f"{path}:{where}{kind} {problem}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level, got {type(raw).__name__}")
    if raw and not set(map(str, raw)) & set(_allowed_keys(())):
        # not a config at all (a wrong path: /etc/shadow parses as a mapping): name the file and
        # what was expected, never its content (an "unknown key" sentence would quote its first line)
        raise ConfigError(f"{path}: is not a cachecast run config (none of its top-level keys is one of "
                          f"{', '.join(_allowed_keys(()))})")
    return raw


def _explain(path: Path, exc: ValidationError, raw: dict[str, Any]) -> str:
    """One sentence for the first problem; pydantic's multi-line dump is for developers."""
    errors = exc.errors()
    # a typo'd key also makes the real key "missing": name the typo, it is the cause
    err = next((e for e in errors if e["type"] == "extra_forbidden"), errors[0])
    loc = [str(p) for p in err["loc"]]
    key = ".".join(loc)
    value = _lookup(raw, err["loc"])
    if err["type"] == "extra_forbidden":
        allowed = _allowed_keys(err["loc"][:-1])
        hint = difflib.get_close_matches(loc[-1], allowed, n=1)
        msg = f"{path}: unknown key '{key}'"
        if hint:
            msg += f" (did you mean '{'.'.join(loc[:-1] + [hint[0]])}'?)"
        return msg + f"; accepted keys here: {', '.join(allowed)}"
    if err["type"] == "missing":
        return f"{path}: missing required key '{key}'"
    shown = _short(json.dumps(value, default=str)) if value is not _MISSING else "?"
    where = f"'{key}'" if key else "the config"
    reason = err["msg"].removeprefix("Value error, ")
    return f"{path}: bad value {shown} for {where}: {reason}"


def _short(text: str, limit: int = 80) -> str:
    """A value is shown to locate the problem, not to echo a whole section back."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


_MISSING = object()


def _lookup(raw: Any, loc: tuple) -> Any:
    for part in loc:
        try:
            raw = raw[part]
        except (KeyError, IndexError, TypeError):
            return _MISSING
    return raw


def _allowed_keys(loc: tuple) -> list[str]:
    model: Any = RunConfig
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        if field is None:
            break
        model = _model_of(field.annotation)
        if model is None:
            return []
    return [k for k, f in model.model_fields.items() if not f.exclude]


def _model_of(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found:
            return found
    return None


def _check_files(cfg: RunConfig, path: Path) -> None:
    refs: list[tuple[str, Path | None]] = [
        ("prompts.system_file", cfg.prompts.system_file),
        ("prompts.user_template_file", cfg.prompts.user_template_file),
        ("prompts.tools_file", cfg.prompts.tools_file),
        ("items.file", cfg.items.file),
    ]
    ctx = cfg.provider.cache.context
    if ctx:
        refs.append(("provider.request_overrides.cache_control.context.file", ctx.file))
    for i, t in enumerate(cfg.treatments):
        refs.append((f"treatments.{i}.system_suffix_file", t.system_suffix_file))
        refs.append((f"treatments.{i}.system_file", t.system_file))
    for key, ref in refs:
        if ref is None:
            continue
        full = cfg.resolve(ref)
        if not full.exists():
            raise ConfigError(f"{path}: '{key}' points to {ref}, which does not exist (looked in {full.parent})")
        if full.is_dir():
            raise ConfigError(f"{path}: '{key}' points to {ref}, which is a directory, not a file")
        kind = describe_mode(full.stat().st_mode)
        if kind:  # a FIFO would hang the build, /dev/zero would fill memory
            raise ConfigError(f"{path}: '{key}' points to {ref}, which is {kind}, not a regular file")
        if key != "items.file":
            _warn_if_outside(path, key, full)


def _warn_if_outside(path: Path, key: str, full: Path) -> None:
    """A shared config can point a prompt at ~/.ssh/id_ed25519 and send it to the API in
    every request: say so when a prompt file lies outside both the config's repository and
    the one being worked in (the current directory's), which is where one's own prompts are."""
    root = repository_root(path)
    target = outside_root(full, root, folder_root(Path.cwd()))
    if target is not None:
        warn_once(f"{path}: '{key}' reads {target}, outside the config's repository ({root}); "
                  "its text goes into every request, so check that a shared config is not pulling in private files")