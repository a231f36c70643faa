"""Checks on a run config's raw YAML values that pydantic's lax mode lets through.

Lax validation turns `repeats: true` into 1, `max_tokens: "256"` or `256.0` into 256 and
accepts `budget_usd: .inf` (an infinite budget lets any run through the gate) or `.nan`
(reported as "should be greater than 0", which is not what is wrong). This walk runs before
validation and names the key and what it wants instead. It reads the field types from the
models themselves, so a field added to RunConfig is covered without a list kept here.
"""
from __future__ import annotations

import json
import math
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from ..errors import ConfigError


def check_raw_types(path: Path, raw: dict[str, Any], model: type[BaseModel]) -> None:
    """ConfigError `PATH: bad value V for 'KEY': reason` for the first bool/str/float in an
    int field, or bool/NaN/infinity in a float field; nothing for anything else (pydantic
    reports unknown keys and other types itself)."""
    found = _walk(raw, model, ())
    if found:
        loc, value, reason = found
        raise ConfigError(f"{path}: bad value {_shown(value)} for '{'.'.join(map(str, loc))}': {reason}")


def _walk(raw: dict, model: type[BaseModel], loc: tuple) -> tuple[tuple, Any, str] | None:
    for name, value in raw.items():
        field = model.model_fields.get(name) if isinstance(name, str) else None
        if field is None or field.exclude:
            continue
        found = _check(value, field.annotation, loc + (name,))
        if found:
            return found
    return None


def _check(value: Any, annotation: Any, loc: tuple) -> tuple[tuple, Any, str] | None:
    if value is None:
        return None
    kinds = _kinds(annotation)
    if isinstance(value, dict):
        sub = next((k for k in kinds if isinstance(k, type) and issubclass(k, BaseModel)), None)
        return _walk(value, sub, loc) if sub else None
    if isinstance(value, list):
        items = next((k for k in kinds if isinstance(k, tuple)), None)
        if items is None:
            return None
        for i, v in enumerate(value):
            found = _check(v, items[0], loc + (i,))
            if found:
                return found
        return None
    if float in kinds:
        reason = _float_problem(value)
    elif int in kinds:
        reason = _int_problem(value)
    else:
        return None
    return (loc, value, reason) if reason else None


def _int_problem(value: Any) -> str | None:
    if type(value) is int:
        return None
    if isinstance(value, bool):
        return "expected a whole number, not true/false"
    if isinstance(value, float):
        return "expected a whole number, not a decimal"
    if isinstance(value, str):
        return "expected a whole number, not text (write it without quotes)"
    return None  # lists, dates, ...: pydantic's own message is clear


def _float_problem(value: Any) -> str | None:
    if isinstance(value, bool):
        return "expected a number, not true/false"
    number = value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None  # pydantic says "should be a valid number"
    if isinstance(number, (int, float)) and not math.isfinite(number):
        return "expected a finite number, not NaN" if math.isnan(number) else "expected a finite number, not infinity"
    return None


def _kinds(annotation: Any) -> list[Any]:
    """The types an annotation admits: classes, and (element annotation,) for a list."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return [k for arg in typing.get_args(annotation) for k in _kinds(arg)]
    if origin is typing.Annotated:
        return _kinds(typing.get_args(annotation)[0])
    if origin in (list, tuple, set, frozenset):
        args = typing.get_args(annotation)
        return [(args[0] if args else Any,)]
    return [annotation]


def _shown(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else json.dumps(value[:80])
    return text if len(text) <= 80 else text[:77] + "..."
