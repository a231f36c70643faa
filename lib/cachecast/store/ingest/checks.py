"""Per-line checks DuckDB cannot make on its own: that its rows are exactly the file's physical
lines, and which lines repeat a JSON key (DuckDB keeps one value silently; such a line is
ambiguous and is quarantined). Cheap on a clean file: only a suspicious block is split into lines."""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

from .read import MAX_LINE, _Source, _read_blocks

# Keys whose repetition in a line would make DuckDB keep one value silently (issue 14, class
# 6; DuckDB keeps the first): a valid result line has each at most once, usage's counts and
# tier fields at most as often as usage. "type" and "id" recur in content blocks of every
# valid line, so they are watched by value: at most one result type, one "message" and one
# "error" type, and one msg_ id per line (DUP_VALUE_RE). A key is its quoted name followed by a colon:
# counting the bare quoted name also counted the value of "type": "message" and sent every
# block of a real file to the line-by-line check (4.8 s per 100k lines). A quote inside a JSON
# string is escaped, so the pattern matches keys only. Missed: a repeated "type" or "id"
# whose two values are none of those (the line is then quarantined as an unknown result
# type, or the id is not a message id).
DUP_KEYS = ("custom_id", "result", "usage", "input_tokens", "output_tokens", "cache_read_input_tokens",
            "cache_creation_input_tokens", "message", "model", "stop_reason", "service_tier", "speed", "inference_geo")

TYPE_VALUES = ("succeeded", "errored", "canceled", "expired", "message", "error")

DUP_KEY_RE = re.compile(rb'"(' + b"|".join(k.encode() for k in DUP_KEYS) + rb')"[ \t\r]*:')

DUP_VALUE_RE = re.compile(rb'"(?:type|id)"[ \t\r]*:[ \t\r]*"(' + b"|".join(v.encode() for v in TYPE_VALUES)
                          + rb'|msg_)')  # (two patterns: 20 ms per 4 MiB, one with both 29 ms)

RESULT_TYPES = (b"succeeded", b"errored", b"canceled", b"expired")


def _scan_lines(path: Path, wanted: list[int], gz: bool = False) -> tuple[int | None, list[tuple[int, str]]]:
    """Count the physical lines (newlines) of a file DuckDB's JSON reader numbered as rows,
    and return the text of the `wanted` (sorted) line numbers. None for the count when the
    file has bytes the staged path must handle (CR, NUL, lines over MAX_LINE). An empty or
    blank line needs no check here: the reader skips it, so rows < lines."""
    texts: list[tuple[int, str]] = []
    lines, carry, pos = 0, b"", 0
    for block in _read_blocks(path, gz):
        if b"\r" in block or b"\x00" in block or len(carry) + _find(block, b"\n") > MAX_LINE:
            return None, []
        count = block.count(b"\n")
        if not count:
            carry += block
            continue
        if pos < len(wanted) and wanted[pos] <= lines + count:
            pos = _pick(block, carry, lines, lines + count, wanted, pos, texts)
        lines += count
        carry = block[block.rfind(b"\n") + 1:]
    if len(carry) > MAX_LINE:
        return None, []
    if carry:
        pos = _pick(carry + b"\n", b"", lines, lines + 1, wanted, pos, texts)
        lines += 1
    return lines, texts


def _find(data: bytes, sub: bytes) -> int:
    at = data.find(sub)
    return len(data) if at < 0 else at


def _pick(block: bytes, carry: bytes, before: int, last: int, wanted: list[int], pos: int,
          texts: list[tuple[int, str]]) -> int:
    """Append the wanted lines that end in `block` (lines before+1 .. last; the first one
    starts with `carry`); returns the new position in `wanted`. Walks newline by newline
    with find() rather than splitting the block: only a few lines are wanted."""
    line, start = before + 1, 0  # `line` starts at block[start]
    while pos < len(wanted) and wanted[pos] <= last:
        while line < wanted[pos]:
            start = block.index(b"\n", start) + 1
            line += 1
        text = block[start:block.index(b"\n", start)]
        texts.append((line, ((carry if line == before + 1 else b"") + text).decode("utf-8")))
        pos += 1
    return pos


def _ambiguous_lines(path: Path, gz: bool = False) -> list[tuple[int, str, str]]:
    """(line_no, reason, text) of the lines with a repeated JSON key, which DuckDB's parser
    settles by keeping one value silently: such a line is ambiguous and is quarantined.
    The check is cheap on a clean file (a few bytes.count per 4 MiB block); only a block in
    which a watched key appears more often than a clean one allows is split into lines, and
    only a line that repeats one is parsed again (json.loads with object_pairs_hook)."""
    found: list[tuple[int, str, str]] = []
    before, carry = 0, b""
    for block in _read_blocks(path, gz):
        data = carry + block
        cut = data.rfind(b"\n") + 1
        if cut:
            found += _ambiguous_in(data[:cut], before)
            before += data.count(b"\n", 0, cut)
        carry = data[cut:]
    if carry:
        found += _ambiguous_in(carry + b"\n", before)
    return found


def _watched(data: bytes) -> tuple[Counter, Counter]:
    """How often each watched key, and each watched type value or message id (b"msg_"), occurs."""
    return Counter(DUP_KEY_RE.findall(data)), Counter(DUP_VALUE_RE.findall(data))


def _suspicious(data: bytes, lines: int) -> bool:
    keys, values = _watched(data)
    cid, result, usage, inp, out, read, creation, message, model, stop, tier, speed, geo = (
        keys[key.encode()] for key in DUP_KEYS)
    return (cid > lines or result > lines or usage > lines or message > lines or inp != usage or out != usage
            or read > usage or creation > usage or model > lines or stop > lines or tier > usage
            or speed > usage or geo > usage or sum(values[t] for t in RESULT_TYPES) > lines
            or values[b"message"] > lines or values[b"error"] > lines or values[b"msg_"] > lines)


def _ambiguous_in(block: bytes, before: int) -> list[tuple[int, str, str]]:
    if not _suspicious(block, block.count(b"\n")):
        return []
    found = []
    for offset, line in enumerate(block[:-1].split(b"\n")):
        keys, values = _watched(line)
        if max(keys.values(), default=0) > 1 or max(values.values(), default=0) > 1 \
                or sum(values[t] for t in RESULT_TYPES) > 1:
            key = _duplicate_key(line)
            if key is not None:
                found.append((before + offset + 1, f'duplicate JSON key "{key[:40]}": the line is ambiguous',
                              line.rstrip(b"\r")[:4000].decode("utf-8", "replace")))
    return found


class _Duplicate(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise _Duplicate(key)
        seen.add(key)
    return dict(pairs)


def _duplicate_key(line: bytes) -> str | None:
    try:
        json.loads(line, object_pairs_hook=_no_duplicates)
    except _Duplicate as dup:
        return str(dup.args[0])
    except (ValueError, RecursionError):
        return None  # not JSON: the parse quarantines it with its own reason
    return None


def _numbering_problem(src: _Source, rows: int, nbytes: int) -> str | None:
    """DuckDB's line reader skips empty lines and strips CR; either would shift line
    numbers. On the file as it is, the bytes it saw plus one newline per line must add up
    to the file size; on a sanitized copy, the line count must match."""
    if src.sanitized:
        return None if src.lines is None or rows == src.lines else f"read {rows} lines where the file has {src.lines}"
    if src.bom:
        return "byte-order mark"
    newlines = rows if src.ends_with_newline else rows - 1
    return None if nbytes + newlines == src.size else "empty lines, CR line ends or NUL bytes"
