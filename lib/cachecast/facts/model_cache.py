"""The Models API answer cachecast keeps (`cachecast models --refresh`), checked both ways.

Why its own module: the cache is an input like any other. It is written from a server's
answer and read back by every command that needs model facts, so a malformed date, a
non-string id or a hand-edited file nested 100,000 deep would break every later command
until the file was deleted. Here:

- an answer is validated before it is stored, row by row, against the installed SDK's own
  `anthropic.types.ModelInfo` (strict JSON mode: a string is not a number, "soon" is not a
  date) and against what the model table can hold (an id a model id can be, max_tokens in
  a plausible range, no repeated id, at most MAX_MODELS rows). A bad answer is refused in
  one sentence and the old cache is kept;
- the cache is read with the bounds of any other input (a regular file, at most
  MAX_CACHE_BYTES, UTF-8, JSON without repeated keys, nesting the parser can take) and
  the same row checks. A bad cache is reported in one sentence on stderr, once per
  process, and ignored: the shipped table answers, never a half-trusted file.

Only the fields of ModelInfo are kept (extra keys a server sends are dropped), so what is
stored is what was checked. This module does not know the model table (facts.models uses
it), so the import graph stays a line.
"""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .._paths import open_regular, warn_once
from ..errors import ApiError, InputError

REFRESH_ENV = "CACHECAST_MODELS_FILE"  # where `models --refresh` stores the Models API answer
MAX_CACHE_BYTES = 4_000_000  # ~2 KB a model: room for 2,000 models, far below what would hurt
MAX_MODELS = 1_000
MAX_OUTPUT_TOKENS = 10_000_000  # max_tokens above this is not a model's limit but a broken answer
MAX_INPUT_TOKENS = 100_000_000
MODEL_ID_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,99}$")  # what Anthropic's ids look like; it names rows and files


@dataclass(frozen=True)
class Refresh:
    fetched_at: str
    rows: tuple[dict[str, Any], ...]  # ModelInfo fields, JSON mode, validated


def refresh_path() -> Path:
    """Where the Models API answer is kept: per user, not per project (it is about the account)."""
    env = os.environ.get(REFRESH_ENV)
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "cachecast" / "models.json"


# ------------------------------------------------------------------ checking rows


def check_rows(rows: Any, where: str) -> list[dict[str, Any]]:
    """The rows as ModelInfo JSON (known fields only), or ValueError naming the first problem."""
    if not isinstance(rows, list):
        raise ValueError(f"{where}: the model list is {type(rows).__name__}, not a list")
    if len(rows) > MAX_MODELS:
        raise ValueError(f"{where}: {len(rows):,} models, more than the {MAX_MODELS:,} a model list can hold")
    checked, seen = [], set()
    for i, row in enumerate(rows):
        info = check_row(row, f"{where}: model {i + 1}")
        if info["id"] in seen:
            raise ValueError(f"{where}: model id {info['id']!r} appears twice")
        seen.add(info["id"])
        checked.append(info)
    return checked


def check_row(row: Any, where: str) -> dict[str, Any]:
    """One ModelInfo, strictly: the SDK's type first, then what the table can hold."""
    from anthropic.types import ModelInfo
    from pydantic import ValidationError

    if not isinstance(row, dict):
        raise ValueError(f"{where} is {type(row).__name__}, not an object")
    known = {k: row[k] for k in ModelInfo.model_fields if k in row}
    try:
        info = ModelInfo.model_validate_json(json.dumps(known), strict=True)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "the row"
        shown = json.dumps(first.get("input"), default=str)[:60]
        raise ValueError(f"{where} ({_id_of(row)}): {field} {shown} does not match anthropic.types.ModelInfo "
                         f"({first['msg']})") from None
    except (RecursionError, TypeError, ValueError):
        raise ValueError(f"{where} ({_id_of(row)}): not a ModelInfo object (nested too deeply or not JSON)") from None
    if not MODEL_ID_RE.match(info.id):
        raise ValueError(f"{where}: id {info.id[:60]!r} is not a model id (lowercase letters, digits, '.', '_', '-')")
    _check_range(info.max_tokens, 1, MAX_OUTPUT_TOKENS, f"{where} ({info.id}): max_tokens")
    _check_range(info.max_input_tokens, 1, MAX_INPUT_TOKENS, f"{where} ({info.id}): max_input_tokens")
    return info.model_dump(mode="json", exclude=set(info.model_extra or ()))


def _check_range(value: int | None, low: int, high: int, what: str) -> None:
    if value is not None and not low <= value <= high:
        raise ValueError(f"{what} is {value:,}, outside {low:,} to {high:,}")


def _id_of(row: dict) -> str:
    value = row.get("id")
    return repr(value[:60]) if isinstance(value, str) else f"id {json.dumps(value, default=str)[:40]}"


# ------------------------------------------------------------------ storing and reading


def store(rows: Any, path: Path | None = None) -> Path:
    """Validate a Models API answer, then replace the cache atomically. A bad answer raises
    ApiError (one sentence) before anything is written: the old cache stays as it was."""
    path = path or refresh_path()
    try:
        checked = check_rows(rows, "the Models API answer")
    except ValueError as exc:
        raise ApiError(f"{exc}; nothing was stored and the models cache {path} is unchanged") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {"fetched_at": datetime.now(timezone.utc).isoformat(timespec="seconds"), "models": checked}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(body, indent=1) + "\n")
    tmp.replace(path)
    return path


def read(path: Path | None = None) -> Refresh | None:
    """The cached answer, or None when there is none or it cannot be trusted (said once on stderr)."""
    path = path or refresh_path()
    if not path.exists():
        return None
    try:
        return _read(path)
    except (ValueError, InputError, OSError) as exc:
        warn_once(f"{_problem_text(exc, path)}; it is ignored and the shipped model table answers "
                  "(run cachecast models --refresh, or delete the file)")
        return None


def _read(path: Path) -> Refresh:
    with open_regular(path, "models cache (JSON)") as fh:
        data = fh.read(MAX_CACHE_BYTES + 1)
    if len(data) > MAX_CACHE_BYTES:
        raise ValueError(f"{path}: the models cache is larger than {MAX_CACHE_BYTES:,} bytes")
    try:
        body = json.loads(data.decode("utf-8"), object_pairs_hook=_no_repeats)
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: the models cache is not UTF-8 text (byte {exc.start})") from None
    except RecursionError:
        raise ValueError(f"{path}: the models cache is nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: the models cache is not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(body, dict) or set(body) != {"fetched_at", "models"}:
        raise ValueError(f"{path}: not a cachecast models cache (an object with fetched_at and models)")
    fetched = body["fetched_at"]
    if not isinstance(fetched, str) or not _is_timestamp(fetched):
        raise ValueError(f"{path}: fetched_at {json.dumps(fetched, default=str)[:40]} is not a timestamp")
    return Refresh(fetched, tuple(check_rows(body["models"], str(path))))


class _RepeatedKey(ValueError):
    pass


def _no_repeats(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _RepeatedKey(f"the key {key[:40]!r} appears twice in one object")
        out[key] = value
    return out


def _problem_text(exc: Exception, path: Path) -> str:
    text = str(exc)
    if isinstance(exc, _RepeatedKey):
        return f"{path}: the models cache is ambiguous ({text})"
    if isinstance(exc, OSError):
        return f"{path}: the models cache cannot be read ({exc.strerror or type(exc).__name__})"
    return text


def _is_timestamp(text: str) -> bool:
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
        return True
    except ValueError:
        return False
