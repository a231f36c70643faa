"""Per-line checks beside DuckDB's: that its rows are exactly the file's physical lines (and
the text of the few lines whose text is wanted), and which key a line repeats that the set
pass found repeating one (a parse keeps one value silently; such a line is ambiguous and is
quarantined)."""
from __future__ import annotations

import json
import os
import threading
from array import array
from pathlib import Path

from .read import MAX_LINE, _Source, _blocks, _read_blocks


def _scan_lines(path: Path, wanted: list[int], gz: bool = False) -> tuple[int | None, list[tuple[int, str]]]:
    """Count the physical lines (newlines) of a file DuckDB's JSON reader numbered as rows,
    and return the text of the `wanted` (sorted) line numbers. None for the count when the
    file has bytes the staged path must handle (CR, NUL, lines over MAX_LINE). An empty or
    blank line needs no check here: the reader skips it, so rows < lines."""
    texts: list[tuple[int, str]] = []
    lines, carry, pos = 0, b"", 0
    for block in _read_blocks(path, gz):
        if _must_stage(block, len(carry)):
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


def _line_starts(path: Path, stop: threading.Event) -> array | None:
    """Where each physical line of a plain file starts, plus one entry past the end, so line n
    is bytes starts[n-1] .. starts[n] - 2 (its newline left out); len - 1 is the line count.
    Found in a thread while DuckDB parses the file (it releases the GIL): the fast path learns
    only after its insert which lines' text it wants (_texts_at). None when the file has
    bytes the staged path must handle (CR, NUL, lines over MAX_LINE), or once `stop` is set."""
    starts = array("q", [0])
    offset = carry = 0  # carry: the bytes of the line under way at the end of the last block
    with open(path, "rb") as fh:
        for block in _blocks(fh):
            if stop.is_set() or _must_stage(block, carry):
                return None
            at = block.find(b"\n")
            while at >= 0:  # find() per line: a third cheaper than re.finditer
                starts.append(offset + at + 1)
                at = block.find(b"\n", at + 1)
            last = block.rfind(b"\n")
            carry = carry + len(block) if last < 0 else len(block) - last - 1
            offset += len(block)
    if carry > MAX_LINE:
        return None
    if carry:
        starts.append(offset + 1)  # a last line without its newline
    return starts


def _texts_at(path: Path, starts: array, wanted: list[int]) -> list[tuple[int, str]]:
    """The text of the `wanted` line numbers, read where _line_starts found them (one pread
    a line: half the time of seek + read, and of slicing a mapping)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        return [(n, os.pread(fd, starts[n] - 1 - starts[n - 1], starts[n - 1]).decode("utf-8")) for n in wanted]
    finally:
        os.close(fd)


def _must_stage(block: bytes, carry: int) -> bool:
    """Bytes the staged path must handle (its sanitizer): a CR or NUL, or a line that runs over
    MAX_LINE from the `carry` bytes the last block left into this one."""
    return b"\r" in block or b"\x00" in block or carry + _find(block, b"\n") > MAX_LINE


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


def _ambiguity(line_no: int, text: str) -> tuple[int, str, str]:
    """The quarantine entry of a line the set pass (sql/store/ingest.sql macro_repeated_key,
    macro_repeated_json) found repeating a key, the key named by a parse that stops at the
    first repeat: the set pass says only that there is one."""
    key = _duplicate_key(text)
    where = f' "{key[:40]}"' if key is not None else ""
    return line_no, f"duplicate JSON key{where}: the line is ambiguous", text[:4000]


class _Duplicate(Exception):
    pass


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise _Duplicate(key)
        seen.add(key)
    return dict(pairs)


def _duplicate_key(line: str) -> str | None:
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
