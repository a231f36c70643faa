"""Reading JSONL inputs (items, request files) line by line with errors that name the line.

Files are read as bytes and decoded per line, so a stray byte is reported on its own line
instead of failing the whole file, and gzip is refused with a hint rather than parsed as
garbage. A path that is not a regular file (a FIFO, /dev/zero) is refused before the first
read: it would hang or never end. (Results files have their own DuckDB reader in ingest.py.)"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterator

from ._paths import open_regular
from .errors import InputError

GZIP_MAGIC = b"\x1f\x8b"


def lines(path: Path, strip_bom: bool = False) -> Iterator[tuple[int, str, int | None]]:
    """Non-blank lines as (1-based number, text, column of the first bad byte or None).

    A line that is not UTF-8 comes back decoded with U+FFFD replacements and its bad column,
    so a caller can report it (lint) or refuse it (strict_lines). A byte-order mark is kept
    unless `strip_bom`: hand-edited inputs (items) may carry one, but a request file with one
    is not what the API would be sent."""
    try:
        with open_regular(path, "JSON lines") as fh:
            if fh.read(2) == GZIP_MAGIC:
                raise InputError(f"{path}: is gzip-compressed; decompress it first (gunzip -k {path.name})")
            fh.seek(0)
            for lineno, raw in enumerate(fh, 1):
                try:
                    text, bad = raw.decode("utf-8-sig" if strip_bom and lineno == 1 else "utf-8"), None
                except UnicodeDecodeError as exc:
                    text, bad = raw.decode("utf-8", errors="replace"), exc.start + 1
                if text.strip():
                    yield lineno, text, bad
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror})") from None


def strict_lines(path: Path, strip_bom: bool = False) -> Iterator[tuple[int, str]]:
    """Like `lines`, but a line that is not UTF-8 is an error naming file and line."""
    for lineno, text, bad in lines(path, strip_bom):
        if bad is not None:
            raise InputError(f"{path}:{lineno}: not UTF-8 text (bad byte at column {bad})")
        yield lineno, text


class _NotJsonNumber(ValueError):
    """NaN, Infinity or -Infinity: Python's json reads them, JSON (and the API) does not."""


def _refuse_constant(name: str) -> Any:
    raise _NotJsonNumber(name)


def loads(text: str, where: str) -> Any:
    """json.loads with one-sentence errors; `where` is "file:line".

    NaN and Infinity are refused: Python's json accepts them, but they are not JSON, the
    API rejects a request carrying one, and an item id NaN would become the text "nan"."""
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except _NotJsonNumber as exc:
        raise InputError(f"{where}: not valid JSON ({exc} is not a JSON number)") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        raise InputError(f"{where}: not valid JSON (nested too deeply)") from None
