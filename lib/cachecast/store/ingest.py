"""Ingest Message Batches results (and sync-run Message lines) into the DuckDB store.

Why it is built this way:

* DuckDB does the work. A healthy file is parsed in ONE parallel read_json pass straight
  into typed columns, kept in file order (= line numbers) in a temp table (sql/ingest.sql,
  stage_parsed); Python only streams the bytes once to check that the rows are exactly the
  file's physical lines (no empty lines, CR or NUL, line count = row count) and to copy in
  the text of the few unusual lines. Anything off (a parse error, a rejected line, a damaged
  file, --keep-raw) rolls back and takes the staged path: every line read by DuckDB's
  line reader (read_csv) into a temp table and parsed with one `json_transform` each.
  bench/fig_ingest.py measures it against DuckDB's bare read_json count of the same file.
* The raw line is kept (results.raw, zstd) for every line that is not an ordinary succeeded
  one: errored/canceled/expired lines, a stop_reason other than end_turn/stop_sequence/
  tool_use, and every quarantined line. An ordinary succeeded line keeps its raw text only
  with keep_raw=True (`--keep-raw`); otherwise raw is NULL and source_file + line_no (and
  the file's fingerprint in `ingests`) point at it. Storing every line cost ~0.7 s per
  200k lines (a quarter of the old ingest) and most of the store's size; a per-line hash
  would need the line text, which the fast read_json pass never materializes.
* Every line is accounted for: lines read = ingested + duplicates + quarantined (blank
  lines are reported apart). A bad line is quarantined with its line number and a reason;
  the rest of its file still loads. One transaction per file: a failure leaves nothing.
* Idempotent, and never counts a result twice (issues 12 and 14). Each stored line has ONE
  identity, the same in whatever file, line ending, batch id or --batch-id it arrives:
    - a succeeded line (or a sync Message) with a message id: `msg:<custom_id>:<message id>`
      (`msg:<id>` with no custom_id), simulated msg_sim_ ids included. The custom_id is part
      of the key so that one id repeated on distinct requests (a proxy's constant id) does
      not merge them;
    - every other line (errored, canceled, expired, a succeeded line with an empty message
      id, a line without custom_id): `r:<result type>:<custom_id>:<md5 of the canonical
      JSON of its parsed columns>` (sql/ingest.sql key_lines). Canonical: DuckDB's to_json of
      the typed columns, so whitespace, key order and CRLF do not change it, and the fast and
      the staged paths agree;
    - a quarantined line: `q:<md5 of its text>:<occurrence in its file>`.
  Before schema v5 the last two carried the batch id, which can come from the file's
  fingerprint: one more line, CRLF endings or another --batch-id stored the same lines again
  (an audit once reported 14 requests for 9). Ingest names the batch repeated lines were
  already stored under (FileReport.stored_elsewhere) and counts them as duplicates; a batch
  first stored under an inferred id (file-<fingerprint>) takes its real msgbatch_ id when
  results arrive under it (renamed in place): one batch. The batch id is --batch-id, else
  the batch of an earlier ingest of the same content (fingerprint: size + first and last
  MiB), else the msgbatch_... id in the file name, else `file-<fingerprint>`.
* Priced at the batch's own date. Each batch records created_at: the API's creation time
  when submit/fetch pass it, `--priced-at DATE` for a bare file, else the first ingest
  (batches.created_at_source says which). Rates for every kind of line the batch holds
  (model, day, batch or standard tier, speed, inference geo) are snapshotted into
  price_snapshot in the same transaction, from cachecast.pricing (genai-prices, the
  correction rows, a --prices overrides file); a line with no known price stops the
  file (rolled back) with a ready-to-edit overrides snippet: costing it at $0 would hide
  real spend.
* On the staged path a malformed line only makes the parse run again in lenient mode
  (try()) to quarantine it. A file with blank
  lines, CRLF endings, NUL bytes, invalid UTF-8 or over-long lines is first copied through
  a sanitizer (per block; only damaged blocks are split into lines), which keeps physical
  line numbers and marks the damaged lines for quarantine. A clean .gz is read by DuckDB as
  a stream (no temporary copy, issue 14); a damaged one is decompressed through the same
  sanitizer, and a gzip stream cut short loads every complete line and quarantines the cut.
  Decompression is bounded (GZIP_MAX_RATIO, GZIP_MAX_BYTES); zstd, bzip2, xz, zip and
  UTF-16/32 files are named in one sentence (OTHER_FORMATS).
* Many files in one call (issue 14, class 11: 10,000 files of 3 lines took 685 s, ~40 statements
  a file): small clean files are taken in chunks, staged as one file, shaped and checked in one
  set-based pass (sql/ingest_many.sql) with the same view and key macro one file uses, so each
  file keeps only its own short transaction (see _ingest_many). Any file a chunk cannot settle
  exactly as the one-file path would goes through that path.
* A line with a repeated JSON key is quarantined (DuckDB keeps one value silently); two lines
  of one custom_id with different content in a batch are reported with their line numbers
  (FileReport.conflicts, ingests.conflicts), see _conflicts.
"""
from __future__ import annotations

import codecs
import glob
import hashlib
import json
import re
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time as day_time, timezone
from pathlib import Path
from typing import IO, Iterable, Iterator

import duckdb

from .. import store
from .._paths import regular_file
from ..errors import InputError, secret_values

FILE = "store/ingest.sql"
BLOCK = 4 << 20  # sanitizer block; only a damaged block is split into lines
SAMPLE = 1 << 20  # fingerprint: size + first and last MiB
MAX_LINE = 16 << 20  # longer lines are quarantined (DuckDB's reader is told to accept this)
PROGRESS_MIN_BYTES = 64 << 20
BATCH_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
MSGBATCH_RE = re.compile(r"msgbatch_[A-Za-z0-9]+")
GZIP_MAGIC = b"\x1f\x8b"
# Formats ingest does not read, named in one sentence (they used to be read as text and every
# line quarantined as "NUL bytes"): (magic at offset 0, what it is, what to do)
OTHER_FORMATS = (
    (b"\x28\xb5\x2f\xfd", "zstd-compressed", "decompress it first (zstd -d) or gzip it"),
    (b"BZh", "bzip2-compressed", "decompress it first (bunzip2) or gzip it"),
    (b"\xfd7zXZ\x00", "xz-compressed", "decompress it first (unxz) or gzip it"),
    (b"PK\x03\x04", "a zip archive", "extract the .jsonl file(s) from it"),
    (b"\xff\xfe\x00\x00", "UTF-32 text", "convert it to UTF-8 (iconv -f UTF-32 -t UTF-8)"),
    (b"\xff\xfe", "UTF-16 text", "convert it to UTF-8 (iconv -f UTF-16 -t UTF-8)"),
    (b"\xfe\xff", "UTF-16 text", "convert it to UTF-8 (iconv -f UTF-16 -t UTF-8)"),
    (b"{\x00", "UTF-16 text", "convert it to UTF-8 (iconv -f UTF-16LE -t UTF-8)"),
    (b"\x00{", "UTF-16 text", "convert it to UTF-8 (iconv -f UTF-16BE -t UTF-8)"),
)
# A decompression bomb stops with one sentence (issue 14, class 8: a 6 MB gzip of newlines
# used 10.6 GB of memory, then filled the disk). Results JSON compresses about 5-20x; past
# GZIP_RATIO_FROM decompressed bytes a ratio above GZIP_MAX_RATIO, or more than
# GZIP_MAX_BYTES in all, is refused before anything is stored.
GZIP_MAX_RATIO = 200
GZIP_RATIO_FROM = 64 << 20
GZIP_MAX_BYTES = 64 << 30
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
PLACEHOLDER = b"{}"  # stands in for a damaged line; its reason comes from `replaced`
CREATED_SOURCES = ("api", "priced-at", "ingest")
INFERRED_PREFIX = "file-"  # a batch id made from the file's fingerprint (no --batch-id, no msgbatch_ in the name)
REAL_BATCH_RE = re.compile(r"^msgbatch_[A-Za-z0-9_]+$")  # where batches.created_at came from, best first


@dataclass
class FileReport:
    """The line accounting of one ingested file (also stored in the `ingests` table)."""

    source_file: str
    batch_id: str
    lines_read: int = 0
    ingested: int = 0
    duplicates: int = 0
    quarantined: int = 0
    blank_lines: int = 0
    seconds: float = 0.0
    path_taken: str = "fast"  # 'fast' (one read_json pass), 'staged' (line reader), 'sanitized' or 'chunked'
    reasons: dict[str, int] = field(default_factory=dict)  # quarantine reason -> lines (this ingest)
    # lines already stored under another batch id (batch -> lines): duplicates, not counted again
    stored_elsewhere: dict[str, int] = field(default_factory=dict)
    renamed_from: str | None = None  # the inferred (file-...) id this batch had before its msgbatch_ id
    # custom_ids on two lines of the batch with different content: custom_id -> (line numbers
    # in this file, "file:line" of earlier ingests); see _conflicts
    conflicts: dict[str, tuple[list[int], list[str]]] = field(default_factory=dict)

    def summary(self) -> str:
        text = (f"{self.source_file}: {_n(self.lines_read, 'line')} read = {self.ingested:,} ingested + "
                f"{self.duplicates:,} duplicates + {self.quarantined:,} quarantined (batch {self.batch_id})")
        if self.blank_lines:
            text += f"; {_n(self.blank_lines, 'blank line')} skipped"
        if self.renamed_from:
            text += (f"; batch {self.renamed_from} (an id inferred from the file) now has its real id "
                     f"{self.batch_id}, one batch, nothing counted twice")
        elif self.stored_elsewhere:
            where = ", ".join(f"{b} ({n:,})" for b, n in list(self.stored_elsewhere.items())[:3])
            more = f" and {len(self.stored_elsewhere) - 3} more" if len(self.stored_elsewhere) > 3 else ""
            text += (f"; {_n(sum(self.stored_elsewhere.values()), 'line')} already stored under batch {where}{more} "
                     "are counted as duplicates, not again")
        if self.conflicts:
            shown = "; ".join(_conflict_text(cid, here, before) for cid, (here, before) in list(self.conflicts.items())[:3])
            more = f"; and {len(self.conflicts) - 3} more" if len(self.conflicts) > 3 else ""
            text += (f"; {_n(len(self.conflicts), 'conflict')} (one custom_id, different content; succeeded lines "
                     f"are all kept, being billed, else the first line): {shown}{more}")
        return text


def _conflict_text(custom_id: str, here: list[int], before: list[str]) -> str:
    where = [f"line {n}" for n in here[:5]] + before[:3]
    return f"custom_id {custom_id[:60]!r} on {', '.join(where)}"


def _n(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


@dataclass
class _Source:
    """What DuckDB reads: the file itself, or a sanitized/decompressed copy."""

    path: Path
    fingerprint: str
    size: int
    ends_with_newline: bool
    sanitized: bool = False
    bom: bool = False  # starts with a UTF-8 byte-order mark (DuckDB would keep it in line 1)
    gzip: bool = False  # `path` is a clean .gz DuckDB reads (and Python re-reads) as a stream
    lines: int | None = None  # physical lines, known once sanitized
    replaced: list[tuple[int, str, str]] = field(default_factory=list)  # (line_no, reason, text)


# ------------------------------------------------------------------ public API


def ingest_paths(conn: duckdb.DuckDBPyConnection, paths: Iterable[str | Path], *, batch_id: str | None = None,
                 manifest: str | Path | None = None, progress: bool | None = None,
                 overrides: Path | None = None, keep_raw: bool = False,
                 created_at: datetime | date | str | None = None, created_at_source: str | None = None
                 ) -> list[FileReport]:
    """Ingest every file (globs expanded, e.g. "results/*.jsonl*"), each in its own transaction;
    from MANY_FILES files on, small ones in chunks (_ingest_many), with the same result.
    keep_raw: also store the raw text of ordinary succeeded lines (see the module docstring).
    created_at: when the batch was created (its prices' date); created_at_source 'api' when
    the API said so, else 'priced-at' (a date given by the user). None: the ingest time."""
    files = expand(paths)
    if batch_id is not None and not BATCH_ID_RE.match(batch_id):
        raise InputError(f"batch id '{batch_id}' must be 1-128 letters, digits or _ . : - (starting with a letter or digit)")
    for path in files:  # a compressed or UTF-16 file is named before anything is stored
        _is_gzip(path)
    manifest_id = load_manifest(conn, Path(manifest)) if manifest else None
    one = dict(batch_id=batch_id, manifest_id=manifest_id, overrides=overrides, keep_raw=keep_raw,
               created_at=created_at, created_at_source=created_at_source)
    if len(files) < MANY_FILES or keep_raw:
        return [ingest_file(conn, f, progress=progress, **one) for f in files]
    return _ingest_many(conn, files, progress=progress, **one)


def batch_time(value: datetime | date | str | None) -> datetime | None:
    """A batch creation time as a naive UTC timestamp (DuckDB TIMESTAMP); a date is its
    midnight UTC. Text is ISO 8601 (2026-10-06 or 2026-10-06T14:03:00Z)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00")) if "T" in value or " " in value.strip() \
                else date.fromisoformat(value.strip())
        except ValueError:
            raise InputError(f"'{value}' is not a date (YYYY-MM-DD) or an ISO 8601 time") from None
    if not isinstance(value, datetime):
        value = datetime.combine(value, day_time(0))
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc).replace(tzinfo=None)
    if value > store.utcnow().replace(hour=23, minute=59, second=59):
        raise InputError(f"batch date {value.date().isoformat()} is in the future; give the day the batch was created")
    return value


def expand(paths: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for item in paths:
        text = str(item)
        # a path that exists is taken literally: r47[1].jsonl is that file, not a pattern for r471.jsonl
        matches = [text] if Path(text).exists() or not glob.has_magic(text) else sorted(glob.glob(text))
        if not matches:
            raise InputError(f"{text}: no file matches")
        out.extend(Path(m) for m in matches)
    for path in out:
        _check_file(path)
    return list(dict.fromkeys(out))


def ingest_file(conn: duckdb.DuckDBPyConnection, path: str | Path, *, batch_id: str | None = None,
                manifest_id: str | None = None, progress: bool | None = None,
                overrides: Path | None = None, keep_raw: bool = False,
                created_at: datetime | date | str | None = None, created_at_source: str | None = None) -> FileReport:
    path = Path(path)
    _check_file(path)
    if batch_id is not None and not BATCH_ID_RE.match(batch_id):
        raise InputError(f"batch id '{batch_id}' must be 1-128 letters, digits or _ . : - (starting with a letter or digit)")
    started = time.perf_counter()
    show = _progress_wanted(progress, path.stat().st_size)
    threading.Thread(target=_warm_prices, daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="cachecast-ingest-", dir=_temp_dir(conn)) as tmp:
        src = (_gzip_stream(path) or _gunzip(path, Path(tmp), show)) if _is_gzip(path) else _plain(path)
        src.path = literal_path(src.path, Path(tmp))
        report = FileReport(source_file=str(path), batch_id=resolve_batch_id(conn, batch_id, path, src.fingerprint))
        if src.size == 0:
            return report
        opts = _opts(manifest_id, overrides, created_at, created_at_source, show=show, started=started,
                     keep_raw=keep_raw)
        try:
            if keep_raw or src.sanitized or not _load_fast(conn, src, report, opts):
                _load_staged(conn, src, path, Path(tmp), report, opts)
        finally:
            conn.execute(store.query(FILE, "drop_staged"))
    return report


@dataclass
class _Opts:
    manifest_id: str | None
    overrides: Path | None
    show: bool
    started: float
    keep_raw: bool
    created_at: datetime | None = None
    created_at_source: str = "ingest"


class _NotFast(Exception):
    """The fast path cannot take this file as it is; the staged path will."""


def _load_fast(conn: duckdb.DuckDBPyConnection, src: _Source, report: FileReport, opts: _Opts) -> bool:
    """One read_json pass; False (nothing stored) when the file needs the staged path."""
    if src.bom:
        return False
    conn.execute("SET preserve_insertion_order = true")  # staged row order = file order = line numbers
    try:
        with _query_progress(conn, opts.show, f"read {Path(report.source_file).name}"):
            conn.execute(store.query(FILE, "stage_parsed"), {"paths": [str(src.path)]})
        _load(conn, src, report, lenient=False, opts=opts, fast=True)
    except (duckdb.Error, _NotFast):
        conn.execute(store.query(FILE, "drop_staged"))
        return False
    return True


def _warm_prices() -> None:
    """Import the pricing tables while DuckDB parses (0.3 s of imports that snapshot_prices
    would otherwise wait for; DuckDB releases the GIL while it runs)."""
    try:
        from ..facts.pricing import known_models

        known_models()
    except Exception:  # noqa: BLE001 - snapshot_prices reports any real problem
        pass


def _load_staged(conn: duckdb.DuckDBPyConnection, src: _Source, path: Path, tmp: Path, report: FileReport,
                 opts: _Opts) -> None:
    """The line-exact path: stage every line, parse each; a malformed line makes the parse
    run again in lenient mode, quarantining whatever does not parse."""
    src = _stage(conn, src, path, tmp, opts.show)
    try:
        _load(conn, src, report, lenient=False, opts=opts)
    except duckdb.Error as exc:
        if not _is_json_error(exc):
            raise InputError(f"{path}: cannot be ingested ({_first_line(exc)})") from None
        _load(conn, src, report, lenient=True, opts=opts)


def _stage(conn: duckdb.DuckDBPyConnection, src: _Source, path: Path, tmp: Path, show: bool) -> _Source:
    """Stage the lines in file order; when DuckDB's reader cannot take the file as it is
    (invalid UTF-8, an over-long line) or would number its lines wrongly (empty lines, CR
    line ends, NUL bytes), stage a sanitized copy instead."""
    conn.execute("SET preserve_insertion_order = true")  # staged row order = file order = line numbers
    while True:
        try:
            with _query_progress(conn, show and not src.sanitized, f"read {path.name}"):
                conn.execute(store.query(FILE, "stage_lines"), {"path": str(src.path)})
            rows, nbytes = conn.execute(store.query(FILE, "staged_stats")).fetchone()
            problem = _numbering_problem(src, rows, nbytes)
        except duckdb.Error as exc:
            problem = _first_line(exc)
        if problem is None:
            return src
        if src.sanitized:
            raise InputError(f"{path}: cannot read as JSON lines ({problem})")
        src = _sanitize(_read_blocks(path, src.gzip), tmp / "sanitized.jsonl", src, show, path.name)


def _check_file(path: Path) -> None:
    if path.is_dir():
        raise InputError(f"{path}: is a directory; give the results file(s) inside it")
    if not path.exists():
        raise InputError(f"{path}: file not found")
    regular_file(path, "results (.jsonl)")  # a FIFO would hang the ingest, /dev/zero fill the memory


def resolve_batch_id(conn: duckdb.DuckDBPyConnection, given: str | None, path: Path, fingerprint: str) -> str:
    """--batch-id, else the batch an identical file was ingested into, else the msgbatch_
    id in the file name, else file-<fingerprint>."""
    if given:
        return given
    row = conn.execute(store.query(FILE, "previous_batch_for_fingerprint"), {"fingerprint": fingerprint}).fetchone()
    return _choose_batch_id(path, fingerprint, row[0] if row else None)


def _choose_batch_id(path: Path, fingerprint: str, previous: str | None) -> str:
    """previous: the batch an earlier ingest of the same content went to."""
    found = MSGBATCH_RE.search(path.name)
    if previous and not (found and previous.startswith(INFERRED_PREFIX)):  # a real id replaces an inferred one
        return previous
    if found:
        return found.group(0)
    return f"{INFERRED_PREFIX}{fingerprint[:12]}"


def load_manifest(conn: duckdb.DuckDBPyConnection, path: Path) -> str:
    """Load a build's manifest.jsonl (a build directory or the file); returns its id.
    Loading the same manifest again is a no-op."""
    path = path / "manifest.jsonl" if path.is_dir() else path
    if not path.is_file():
        raise InputError(f"{path}: no manifest.jsonl (give the directory `cachecast build` wrote)")
    manifest_id = "m-" + _content_id(path)[:16]
    if conn.execute(store.query(FILE, "manifest_known"), {"manifest_id": manifest_id}).fetchone()[0]:
        _link_run(conn, manifest_id, path.parent)
        return manifest_id
    try:
        with store.transaction(conn), tempfile.TemporaryDirectory(prefix="cachecast-manifest-") as tmp:
            conn.execute(store.query(FILE, "load_manifest"),
                         {"manifest_id": manifest_id, "path": str(literal_path(path, Path(tmp)))})
            if conn.execute(store.query(FILE, "manifest_duplicate"), {"manifest_id": manifest_id}).fetchone():
                raise duckdb.ConstraintException("duplicate custom_id")
            conn.execute(store.query(FILE, "record_manifest"),
                         {"manifest_id": manifest_id, "source": str(path), "now": store.utcnow()})
    except duckdb.ConstraintException:
        raise InputError(f"{path}: a custom_id appears twice; this is not a manifest from cachecast build") from None
    except duckdb.Error as exc:
        raise InputError(f"{path}: not a cachecast build manifest ({_first_line(exc)})") from None
    _link_run(conn, manifest_id, path.parent)
    return manifest_id


def _link_run(conn: duckdb.DuckDBPyConnection, manifest_id: str, build_dir: Path) -> None:
    """Record the run the build belongs to (build.json beside manifest.jsonl), also for a
    manifest loaded before runs existed; a manifest that failed to load links nothing."""
    if not conn.execute(store.query(FILE, "manifest_known"), {"manifest_id": manifest_id}).fetchone()[0]:
        return
    with store.transaction(conn):
        store.record_run(conn, manifest_id, build_dir)


def _content_id(path: Path) -> str:
    """Identifies a manifest by its whole content, read in blocks (it can be hundreds of MB):
    sha256 over its size, first and last MiB and the CRC-32 of every byte. A full sha256
    cost 0.2 s per 200k rows; this finds any accidental change for a tenth of it."""
    crc, size, head, tail = 0, 0, b"", b""
    with open(path, "rb") as fh:
        for block in _blocks(fh):
            crc = zlib.crc32(block, crc)
            size += len(block)
            head += block[: max(0, SAMPLE - len(head))]
            tail = (tail + block)[-SAMPLE:]
    return _fingerprint(size, head + f":{crc:08x}".encode(), tail)


# ------------------------------------------------------------------ one load attempt


def _load(conn: duckdb.DuckDBPyConnection, src: _Source, report: FileReport, *, lenient: bool, opts: _Opts,
          fast: bool = False) -> None:
    """One attempt, in one transaction: parse and insert every staged line (view cc_rows),
    quarantine the rejected ones, drop duplicates, snapshot prices, record the accounting."""
    q = store.queries(FILE)
    path = Path(report.source_file)
    manifest_id, started = opts.manifest_id, opts.started
    _macros(conn, lenient=lenient)
    conn.execute(q["view_parsed_rows" if fast else "view_staged_rows"])  # after the macros it uses
    conn.execute(q["view_shaped"])
    ingest_id = int(conn.execute(q["next_ingest_id"]).fetchone()[0])
    ids = {"ingest_id": ingest_id, "batch_id": report.batch_id}
    started_at = store.utcnow()
    with store.transaction(conn):
        scan = _start_scan(conn, src) if fast else None
        with _query_progress(conn, opts.show and not fast, f"ingest {path.name}"):
            conn.execute(q["insert_lines"], {**ids, "source_file": str(path), "keep_raw": opts.keep_raw})
        # lines with a repeated JSON key are quarantined like the sanitizer's replaced lines
        replaced = src.replaced + (_complete_fast(conn, scan, ingest_id) if scan else _ambiguous_lines(src.path, src.gzip))
        rows, blank = conn.execute(q["line_stats"], {"ingest_id": ingest_id}).fetchone()
        if replaced:
            conn.execute(q["create_sanitized_table"])
            conn.executemany("INSERT INTO sanitized_lines VALUES (?, ?, ?)", replaced)
            conn.execute(q["apply_sanitized"], {"ingest_id": ingest_id})
        for secret in secret_values():  # before the keys are made: a key holds no secret either
            conn.execute(q["redact_secret"], {"ingest_id": ingest_id, "secret": secret})
        conn.execute(q["key_lines"], {"ingest_id": ingest_id})
        report.stored_elsewhere, report.renamed_from = _elsewhere(conn, ingest_id, report.batch_id)
        quarantined = _count(conn.execute(q["quarantine_rejected"], {"ingest_id": ingest_id}))
        rejected = conn.execute(q["count_rejected"], {"ingest_id": ingest_id}).fetchone()[0]
        conn.execute(q["delete_rejected"], {"ingest_id": ingest_id})
        report.conflicts = _conflicts(conn, ingest_id, report.batch_id)
        duplicates = _count(conn.execute(q["delete_duplicates"], {"ingest_id": ingest_id}))
        report.lines_read = rows - blank
        report.blank_lines = blank
        report.quarantined = quarantined
        report.duplicates = duplicates + (rejected - quarantined)
        report.ingested = report.lines_read - rejected - duplicates
        report.path_taken = "fast" if fast else "sanitized" if src.sanitized else "staged"
        report.reasons = _reasons(conn, ingest_id)
        if report.ingested == 0 and report.quarantined == 0 and (
                not conn.execute(q["batch_known"], {"batch_id": report.batch_id}).fetchone()[0]
                or not (_manifest_is_new(conn, report.batch_id, manifest_id) or _date_is_new(conn, report.batch_id, opts))):
            # (a batch whose every line is stored under another id is not made: an empty
            # second batch of the same results would show in every per-batch table)
            report.seconds = time.perf_counter() - started
            return  # nothing new (a re-ingest): leave the store exactly as it was
        conn.execute(q["upsert_batch"], {"batch_id": report.batch_id, "manifest_id": manifest_id,
                                         "now": started_at, "created_at": opts.created_at,
                                         "created_at_source": opts.created_at_source})
        conn.execute(q["link_batch_run"], {"batch_id": report.batch_id})
        snapshot_prices(conn, batch_id=report.batch_id, overrides=opts.overrides)
        conn.execute(q["record_ingest"], {
            **ids, "source_file": str(path), "fingerprint": src.fingerprint, "bytes": src.size,
            "lines_read": report.lines_read, "ingested": report.ingested, "duplicates": report.duplicates,
            "quarantined": report.quarantined, "blank_lines": report.blank_lines, "conflicts": len(report.conflicts),
            "path_taken": report.path_taken, "started_at": started_at, "seconds": time.perf_counter() - started})
    report.seconds = time.perf_counter() - started


def _macros(conn: duckdb.DuckDBPyConnection, *, lenient: bool = False) -> None:
    q = store.queries(FILE)
    for name in ("macro_token_problem", "macro_token_ok", "macro_unusual", "macro_parse_raising", "macro_source_rank",
                 "macro_line_key", "macro_content_hash", "macro_parse_lenient" if lenient else "macro_parse_strict"):
        conn.execute(q[name])


def _elsewhere(conn: duckdb.DuckDBPyConnection, ingest_id: int, batch_id: str) -> tuple[dict[str, int], str | None]:
    """Lines of this ingest already stored under other batch ids, and the inferred batch that
    takes this batch's real id: when the batch is a msgbatch_ id not yet in the store and
    the lines it repeats are all in one file-<fingerprint> batch, that batch is the same one
    ingested before its id was known, so it is renamed (in this transaction) rather than
    becoming a second batch with the same money."""
    q = store.queries(FILE)
    found = {b: int(n) for b, n in conn.execute(q["duplicates_elsewhere"],
                                                  {"ingest_id": ingest_id, "batch_id": batch_id}).fetchall()}
    if len(found) != 1:
        return found, None
    (old,) = found
    if not REAL_BATCH_RE.match(batch_id) or not old.startswith(INFERRED_PREFIX) \
            or conn.execute(q["batch_known"], {"batch_id": batch_id}).fetchone()[0]:
        return found, None
    ids = {"old_id": old, "new_id": batch_id}
    for name in ("rename_batch_row", "rename_batch_drop", "rename_batch_results", "rename_batch_quarantine",
                 "rename_batch_ingests"):
        conn.execute(q[name], {k: v for k, v in ids.items() if f"${k}" in q[name]})
    return {}, old


def _conflicts(conn: duckdb.DuckDBPyConnection, ingest_id: int, batch_id: str) -> dict[str, tuple[list[int], list[str]]]:
    """Two lines of one batch with the same custom_id and different content (issue 14, class
    6): the API gives one result per custom_id, so this is a merged or tampered file. It is
    said, with the line numbers, never settled silently: every succeeded line stays (each was
    billed: dropping one would hide spend, and docs/reliability.md says both are stored); an
    errored, canceled or expired one is counted as a duplicate of the line that stays (the
    batch's succeeded line, else its first line of that custom_id)."""
    q = store.queries(FILE)
    ids = {"ingest_id": ingest_id, "batch_id": batch_id}
    if not conn.execute(q["any_repeated_custom_id"], ids).fetchone()[0]:
        return {}
    conn.execute(q["find_conflicts"], ids)
    found = {cid: (list(here or []), list(before or []))
             for cid, here, before in conn.execute(q["conflict_lines"], {"ingest_id": ingest_id}).fetchall()}
    if found:
        conn.execute(q["drop_conflicting"], {"ingest_id": ingest_id})
    conn.execute("DROP TABLE IF EXISTS cc_conflicts")
    return found


def _start_scan(conn: duckdb.DuckDBPyConnection, src: _Source) -> Future:
    """Count the file's lines and copy the text of the candidate unusual lines in a thread,
    while DuckDB inserts the rows (it releases the GIL)."""
    candidates = [row[0] for row in conn.execute(store.query(FILE, "raw_candidates")).fetchall()]
    pool = ThreadPoolExecutor(max_workers=1)
    job = pool.submit(lambda: (_scan_lines(src.path, candidates, src.gzip), _ambiguous_lines(src.path, src.gzip)))
    pool.shutdown(wait=False)  # the job runs on; _complete_fast waits for its result
    return job


def _complete_fast(conn: duckdb.DuckDBPyConnection, scan: Future, ingest_id: int) -> list[tuple[int, str, str]]:
    """After the fast insert: give up (_NotFast) on a rejected line or when the rows are not
    exactly the file's physical lines; else copy in the text of the unusual lines."""
    q = store.queries(FILE)
    if conn.execute(q["fast_rejected"], {"ingest_id": ingest_id}).fetchone()[0]:
        raise _NotFast("a rejected line")
    wanted = [row[0] for row in conn.execute(q["wanted_raw"], {"ingest_id": ingest_id}).fetchall()]
    rows = conn.execute("SELECT count(*) FROM cc_parsed").fetchone()[0]
    try:
        (lines, found), ambiguous = scan.result()
    except UnicodeDecodeError:
        raise _NotFast("invalid UTF-8") from None
    texts = dict(found)
    if lines != rows or not texts.keys() >= set(wanted):
        raise _NotFast("rows are not the file's lines")
    if wanted:
        conn.execute(q["create_raw_table"])
        conn.execute(q["fill_raw"], {"line_nos": wanted, "texts": [texts[n] for n in wanted]})
        conn.execute(q["apply_raw"], {"ingest_id": ingest_id})
    return ambiguous


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


def _manifest_is_new(conn: duckdb.DuckDBPyConnection, batch_id: str, manifest_id: str | None) -> bool:
    if manifest_id is None:
        return False
    row = conn.execute("SELECT manifest_id FROM batches WHERE batch_id = ?", [batch_id]).fetchone()
    return row is None or row[0] != manifest_id


def _reasons(conn: duckdb.DuckDBPyConnection, ingest_id: int) -> dict[str, int]:
    """Reasons of the lines this ingest quarantined (not of lines quarantined before)."""
    rows = conn.execute("SELECT reason, count(*) FROM quarantine WHERE ingest_id = ? GROUP BY 1 ORDER BY 2 DESC, 1",
                        [ingest_id]).fetchall()
    return {reason: int(n) for reason, n in rows}


def _date_is_new(conn: duckdb.DuckDBPyConnection, batch_id: str, opts: _Opts) -> bool:
    """A re-ingest that brings a better batch date (the API's, or --priced-at) still counts."""
    if opts.created_at is None:
        return False
    row = conn.execute(store.query(FILE, "batch_created"), {"batch_id": batch_id}).fetchone()
    if row is None:
        return True
    rank = {s: len(CREATED_SOURCES) - i for i, s in enumerate(CREATED_SOURCES)}
    return row[0] != opts.created_at and rank[opts.created_at_source] >= rank.get(row[1] or "ingest", 1)


def snapshot_prices(conn: duckdb.DuckDBPyConnection, *, batch_id: str | None = None, overrides: Path | None = None,
                    replace: bool = False) -> int:
    """Capture the rates for every kind of succeeded line (model, batch day, tier, speed,
    geo) of one batch, or of the whole store, that price_snapshot cannot cost yet; returns
    the rows written. With replace=True (audit --prices FILE) the kinds of line whose model
    the overrides file prices on that day are re-priced from it too, and the new source is
    recorded. A line with no known price raises PriceError: costing it at $0 would hide
    real spend. Callers own the transaction (ingest runs it inside the file's)."""
    from ..facts.pricing import covers, get_rates, snapshot_row

    keys = conn.execute(store.query(FILE, "price_keys"), {"batch_id": batch_id}).fetchall()
    now = store.utcnow()
    written = 0
    for model, day, batch, speed, geo, priced in keys:
        redo = replace and covers(overrides, model, day)
        if priced and not redo:
            continue
        rates = get_rates(model, batch, overrides, at=day, speed=speed, geo=geo)
        conn.execute(store.query(FILE, "insert_price"), {**snapshot_row(rates), "captured_at": now, "replace": redo})
        written += 1
    return written


def _count(result: duckdb.DuckDBPyConnection) -> int:
    row = result.fetchone()
    return int(row[0]) if row else 0


# ------------------------------------------------------------------ many small files

MANY_FILES = 2  # from this many files in one call, the small ones are ingested in chunks
SMALL_FILE = 1 << 20  # a file up to this size can join a chunk (read whole into memory)
CHUNK_FILES = 2000
CHUNK_BYTES = 64 << 20
COMMIT_THREADS = 3
MANY = "store/ingest_many.sql"


@dataclass
class _Small:
    """A small file of a chunk, read whole; idx is its place in the chunk."""

    idx: int
    path: Path
    data: bytes
    fingerprint: str
    lines: int
    batch_id: str = ""
    ingest_id: int = 0
    first_line: int = 0  # its first line's row in the chunk's staged file


def _ingest_many(conn: duckdb.DuckDBPyConnection, files: list[Path], *, progress: bool | None, batch_id: str | None,
                 manifest_id: str | None, overrides: Path | None, keep_raw: bool,
                 created_at: datetime | date | str | None, created_at_source: str | None) -> list[FileReport]:
    """Many files in one call (a folder of per-shard downloads; issue 14, class 11: 10,000
    files of 3 lines took 685 s one by one). Small clean files are shaped, keyed and checked
    against the store and each other in one set-based pass per chunk (sql/ingest_many.sql),
    which leaves each file only its own short transaction: still one transaction per file,
    so a failure or a kill leaves whole files or nothing of them. A file a chunk cannot take
    as it is (large, gzip, damaged, a line to quarantine, a conflict, an echoed key, a batch
    to rename) goes through ingest_file after its chunk's other files."""
    opts = _opts(manifest_id, overrides, created_at, created_at_source)
    bar = _files_bar(progress, len(files))
    one = dict(batch_id=batch_id, manifest_id=manifest_id, overrides=overrides, keep_raw=keep_raw,
               created_at=created_at, created_at_source=created_at_source, progress=False if bar else progress)
    reports: dict[Path, FileReport] = {}
    threading.Thread(target=_warm_prices, daemon=True).start()
    try:
        for chunk in _chunks(files):
            small = [s for s in (_read_small(i, f) for i, f in enumerate(chunk)) if s is not None]
            if len(small) >= MANY_FILES:
                reports.update(_ingest_chunk(conn, small, batch_id, opts, bar))
            for path in chunk:
                if path not in reports:
                    reports[path] = ingest_file(conn, path, **one)
                    if bar:
                        bar.update(1)
    finally:
        if bar:
            bar.close()
    return [reports[f] for f in files]


def _opts(manifest_id: str | None, overrides: Path | None, created_at, created_at_source: str | None, *,
          show: bool = False, started: float = 0.0, keep_raw: bool = False) -> _Opts:
    """The batch date (and where it came from) checked once, for ingest_file and for chunks."""
    when = batch_time(created_at)
    source = (created_at_source or "priced-at") if when is not None else "ingest"
    if source not in CREATED_SOURCES:
        raise InputError(f"created_at_source '{source}' must be one of {', '.join(CREATED_SOURCES)}")
    return _Opts(manifest_id=manifest_id, overrides=overrides, show=show, started=started, keep_raw=keep_raw,
                 created_at=when, created_at_source=source)


def _chunks(files: list[Path]) -> Iterator[list[Path]]:
    chunk: list[Path] = []
    size = 0
    for path in files:
        chunk.append(path)
        size += min(path.stat().st_size, SMALL_FILE + 1)
        if len(chunk) >= CHUNK_FILES or size >= CHUNK_BYTES:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def _read_small(idx: int, path: Path) -> _Small | None:
    """The file, when a chunk can take it as it is: small, plain, clean UTF-8 lines (the
    sanitizer's checks), no repeated JSON key, no echoed API key, a name DuckDB reads literally."""
    size = path.stat().st_size
    if size == 0 or size > SMALL_FILE or glob.has_magic(str(path)):
        return None
    data = path.read_bytes()
    whole = data if data.endswith(b"\n") else data + b"\n"
    if (data[:2] == GZIP_MAGIC or data.startswith(b"\xef\xbb\xbf") or not _clean(whole)
            or any(secret.encode() in data for secret in secret_values()) or _ambiguous_in(whole, 0)):
        return None
    return _Small(idx=idx, path=path, data=data, fingerprint=_fingerprint(len(data), data[:SAMPLE], data[-SAMPLE:]),
                  lines=whole.count(b"\n"))


def _ingest_chunk(conn: duckdb.DuckDBPyConnection, small: list[_Small], batch_id: str | None, opts: _Opts,
                  bar) -> dict[Path, FileReport]:
    """The chunk's set-based pass, then each file's own transaction (_commit_chunk)."""
    q = store.queries(MANY)
    started = time.perf_counter()
    try:
        _assign_ids(conn, small, batch_id)
        with tempfile.TemporaryDirectory(prefix="cachecast-ingest-", dir=_temp_dir(conn)) as tmp:
            if not _stage_chunk(conn, small, Path(tmp) / "chunk.jsonl"):
                return {}
        small, elsewhere = _shape_chunk(conn, small)
        counts = {idx: (rows, dups) for idx, rows, dups in conn.execute(q["file_counts"]).fetchall()}
        kinds: dict[int, set[tuple]] = {}
        for idx, *kind in conn.execute(q["file_kinds"]).fetchall():
            kinds.setdefault(idx, set()).add(tuple(kind))
        share = (time.perf_counter() - started) / max(1, len(small))
        reports = {f.idx: FileReport(source_file=str(f.path), batch_id=f.batch_id, lines_read=counts[f.idx][0],
                                     ingested=counts[f.idx][0] - counts[f.idx][1], duplicates=counts[f.idx][1],
                                     path_taken="chunked", stored_elsewhere=elsewhere.get(f.idx, {}), seconds=share)
                   for f in small}
        _commit_chunk(conn, small, reports, kinds, opts, bar)
        return {f.path: reports[f.idx] for f in small}
    finally:
        conn.execute(q["drop_chunk"])


def _stage_chunk(conn: duckdb.DuckDBPyConnection, small: list[_Small], path: Path) -> bool:
    """Write the chunk's files one after the other into `path` and stage its lines in one
    pass (ingest.sql stage_lines; read_json over 2,000 files opened one by one cost 1.5 ms a
    file). False when the staged rows are not exactly the files' lines: then no file is taken."""
    first = 1
    with open(path, "wb") as fh:
        for f in small:
            f.first_line = first
            first += f.lines
            fh.write(f.data if f.data.endswith(b"\n") else f.data + b"\n")
    conn.execute("SET preserve_insertion_order = true")  # staged row order = file order = line numbers
    conn.execute(store.query(FILE, "stage_lines"), {"path": str(path)})
    rows, nbytes = conn.execute(store.query(FILE, "staged_stats")).fetchone()
    return rows == first - 1 and nbytes + rows == path.stat().st_size


def _assign_ids(conn: duckdb.DuckDBPyConnection, small: list[_Small], batch_id: str | None) -> None:
    """Ingest ids from the store's sequence, and each file's batch id as resolve_batch_id
    would give it (an earlier file of the chunk with the same content counts as stored)."""
    q = store.queries(MANY)
    ids = sorted(int(r[0]) for r in conn.execute(q["next_ingest_ids"], {"n": len(small)}).fetchall())
    stored = dict(conn.execute(q["previous_batches"], {"fingerprints": [f.fingerprint for f in small]}).fetchall())
    for f, ingest_id in zip(small, ids):
        f.ingest_id = ingest_id
        f.batch_id = batch_id or _choose_batch_id(f.path, f.fingerprint, stored.get(f.fingerprint))
        stored.setdefault(f.fingerprint, f.batch_id)


def _shape_chunk(conn: duckdb.DuckDBPyConnection, small: list[_Small]) -> tuple[list[_Small], dict]:
    """Shape and key every staged line into cc_many and settle what the one-file path settles
    per file, for the whole chunk; files that need that path are dropped from the chunk.
    Returns the files kept and, per file, the other batches its lines are stored under."""
    q = store.queries(MANY)
    _macros(conn, lenient=True)
    conn.execute(q["create_files"], {"file_idx": [f.idx for f in small], "first_lines": [f.first_line for f in small],
                                     "lines": [f.lines for f in small], "source_files": [str(f.path) for f in small],
                                     "batch_ids": [f.batch_id for f in small],
                                     "ingest_ids": [f.ingest_id for f in small]})
    conn.execute(q["view_rows"])
    conn.execute(store.query(FILE, "view_shaped"))
    conn.execute(q["shape_chunk"])
    by_idx = {f.idx: f for f in small}
    fit = {idx for idx, rows, rejected in conn.execute(q["file_fitness"]).fetchall()
           if rows == by_idx[idx].lines and not rejected}
    small = _drop(conn, small, {f.idx for f in small} - fit)
    conn.execute(q["key_lines"])
    unfit = {r[0] for r in conn.execute(q["conflict_files"]).fetchall()}
    for secret in secret_values():
        unfit |= {r[0] for r in conn.execute(q["secret_files"], {"secret": secret}).fetchall()}
    small = _drop(conn, small, unfit)
    while True:
        conn.execute(q["mark_duplicates"])
        elsewhere: dict[int, dict[str, int]] = {}
        for idx, other, lines in conn.execute(q["elsewhere"]).fetchall():
            elsewhere.setdefault(idx, {})[other] = int(lines)
        renamed = _batches_to_rename(conn, small, elsewhere)
        if not renamed:
            return small, elsewhere
        small = _drop(conn, small, {f.idx for f in small if f.batch_id in renamed})


def _drop(conn: duckdb.DuckDBPyConnection, small: list[_Small], unfit: set[int]) -> list[_Small]:
    if unfit:
        conn.execute(store.query(MANY, "drop_files"), {"file_idx": sorted(unfit)})
    return [f for f in small if f.idx not in unfit]


def _batches_to_rename(conn: duckdb.DuckDBPyConnection, small: list[_Small], elsewhere: dict) -> set[str]:
    """Batches whose files repeat lines of one inferred (file-...) batch and are not in the
    store yet: _elsewhere renames such a batch, one file at a time, in order."""
    real = sorted({f.batch_id for f in small if REAL_BATCH_RE.match(f.batch_id)})
    if not real:
        return set()
    known = {r[0] for r in conn.execute(store.query(MANY, "known_batches"), {"batch_ids": real}).fetchall()}
    return {f.batch_id for f in small if f.batch_id in real and f.batch_id not in known
            and len(elsewhere.get(f.idx, {})) == 1 and next(iter(elsewhere[f.idx])).startswith(INFERRED_PREFIX)}


def _commit_chunk(conn: duckdb.DuckDBPyConnection, small: list[_Small], reports: dict[int, FileReport],
                  kinds: dict[int, set[tuple]], opts: _Opts, bar) -> None:
    """Each file of the chunk in its own transaction. The files that make their batch's row
    or bring a kind of line not yet priced go first, in order, on this connection; the rest
    only add their rows and their ingests row, which COMMIT_THREADS transactions do at once
    (a small commit mostly waits for the WAL to reach the disk: 6-8 ms a file one at a time,
    about 3 with three in flight). Their batches' last ingest time is moved after them."""
    known = {r[0] for r in conn.execute(store.query(MANY, "known_batches"),
                                        {"batch_ids": sorted({f.batch_id for f in small})}).fetchall()}
    upserted: set[str] = set()
    priced: set[tuple] = set()
    news: dict[str, bool] = {}  # batch -> would a re-ingest change its row (manifest, date)?
    first, rest = [], []
    for f in small:
        report = reports[f.idx]
        if report.ingested == 0 and f.batch_id in known and f.batch_id not in upserted and f.batch_id not in news:
            news[f.batch_id] = _manifest_is_new(conn, f.batch_id, opts.manifest_id) or _date_is_new(conn, f.batch_id, opts)
        if report.ingested == 0 and (f.batch_id not in known or f.batch_id in upserted or not news[f.batch_id]):
            continue  # nothing new (as in _load): no transaction
        new_kinds = kinds.get(f.idx, set()) - priced
        (rest if f.batch_id in upserted and not new_kinds else first).append(f)
        upserted.add(f.batch_id)
        known.add(f.batch_id)
        priced |= new_kinds
    done: set[str] = set()
    for f in first:
        _commit_small(conn, f, reports[f.idx], opts, upsert=f.batch_id not in done, prices=True)
        done.add(f.batch_id)
        if bar:
            bar.update(1)
    _commit_parallel(conn, rest, reports, opts, bar)
    for batch in sorted({f.batch_id for f in rest}):
        with store.transaction(conn):
            conn.execute(store.query(MANY, "touch_batch"), {"batch_id": batch, "now": store.utcnow()})


def _commit_parallel(conn: duckdb.DuckDBPyConnection, files: list[_Small], reports: dict[int, FileReport],
                     opts: _Opts, bar) -> None:
    """_commit_small for `files` on COMMIT_THREADS cursors. The chunk's rows are copied into an
    in-memory database the cursors share (a temp table is seen by its own connection only).
    A failure or Ctrl-C stops the others after the transaction each is in; it is raised here."""
    if len(files) < 2 * COMMIT_THREADS:
        for f in files:
            _commit_small(conn, f, reports[f.idx], opts, upsert=False, prices=False)
            if bar:
                bar.update(1)
        return
    conn.execute(store.query(MANY, "share_chunk"))
    try:
        _commit_threads(conn, files, reports, opts, bar)
    finally:
        conn.execute(store.query(MANY, "unshare_chunk"))


def _commit_threads(conn: duckdb.DuckDBPyConnection, files: list[_Small], reports: dict[int, FileReport],
                    opts: _Opts, bar) -> None:
    stop, errors = threading.Event(), []

    def work(cursor: duckdb.DuckDBPyConnection, mine: list[_Small]) -> None:
        try:
            for f in mine:
                if stop.is_set():
                    return
                _commit_small(cursor, f, reports[f.idx], opts, upsert=False, prices=False, shared=True)
                if bar:
                    bar.update(1)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            errors.append(exc)
            stop.set()
        finally:
            cursor.close()

    threads = [threading.Thread(target=work, args=(conn.cursor(), files[k::COMMIT_THREADS]), daemon=True)
               for k in range(COMMIT_THREADS)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)  # a short wait, so Ctrl-C reaches this thread
    except BaseException:
        stop.set()
        for thread in threads:
            thread.join()
        raise
    if errors:
        raise errors[0]


def _commit_small(conn: duckdb.DuckDBPyConnection, f: _Small, report: FileReport, opts: _Opts, *, upsert: bool,
                  prices: bool, shared: bool = False) -> None:
    """One file of a chunk in its own transaction: its batch row (upsert), its rows, the prices
    of its batch's kinds of line not yet priced (prices), its ingests row. shared: on a commit
    cursor, which reads the rows from the shared copy of cc_many."""
    q, qi = store.queries(MANY), store.queries(FILE)
    started = time.perf_counter()
    started_at = store.utcnow()
    with store.transaction(conn):
        if upsert:
            conn.execute(qi["upsert_batch"], {"batch_id": f.batch_id, "manifest_id": opts.manifest_id,
                                              "now": started_at, "created_at": opts.created_at,
                                              "created_at_source": opts.created_at_source})
            conn.execute(qi["link_batch_run"], {"batch_id": f.batch_id})
        elif prices:
            conn.execute(q["touch_batch"], {"batch_id": f.batch_id, "now": started_at})
        conn.execute(q["commit_shared_rows" if shared else "commit_rows"], {"file_idx": f.idx})
        if prices:
            snapshot_prices(conn, batch_id=f.batch_id, overrides=opts.overrides)
        report.seconds += time.perf_counter() - started
        conn.execute(qi["record_ingest"], {
            "ingest_id": f.ingest_id, "batch_id": f.batch_id, "source_file": str(f.path),
            "fingerprint": f.fingerprint, "bytes": len(f.data), "lines_read": report.lines_read,
            "ingested": report.ingested, "duplicates": report.duplicates, "quarantined": 0, "blank_lines": 0,
            "conflicts": 0, "path_taken": "chunked", "started_at": started_at, "seconds": report.seconds})


def _files_bar(progress: bool | None, n: int):
    """A bar over the files of a long call, on a terminal (or when asked)."""
    if not (progress if progress is not None else sys.stderr.isatty() and n >= 100):
        return None
    from tqdm import tqdm

    return tqdm(total=n, desc="ingest", unit="file", file=sys.stderr, leave=False)


# ------------------------------------------------------------------ sources


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        magic = fh.read(8)
    _refuse_other_format(path, magic)
    magic = magic[:2]
    if path.suffix == ".gz" and magic != GZIP_MAGIC and magic:
        raise InputError(f"{path}: named .gz but is not a gzip file")
    return magic == GZIP_MAGIC


def _refuse_other_format(path: Path, head: bytes) -> None:
    """One sentence naming a compressed or non-UTF-8 format rather than a file of
    quarantined lines."""
    for magic, what, todo in OTHER_FORMATS:
        if head.startswith(magic):
            raise InputError(f"{path}: is {what}, which ingest does not read; {todo} (plain or .gz JSON lines)")


def _plain(path: Path) -> _Source:
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(SAMPLE)
        fh.seek(max(0, size - SAMPLE))
        tail = fh.read(SAMPLE)
    return _Source(path=path, fingerprint=_fingerprint(size, head, tail), size=size,
                   ends_with_newline=tail.endswith(b"\n"), bom=head.startswith(b"\xef\xbb\xbf"))


def _fingerprint(size: int, head: bytes, tail: bytes) -> str:
    return hashlib.sha256(f"{size}:".encode() + head + b":" + tail).hexdigest()[:32]


def _read_blocks(path: Path, gz: bool) -> Iterator[bytes]:
    """The file's bytes in blocks, decompressed when it is a streamed .gz."""
    if gz:
        yield from _gzip_blocks(path)
        return
    with open(path, "rb") as fh:
        yield from _blocks(fh)


def _gzip_stream(path: Path) -> _Source | None:
    """A .gz whose content needs no sanitizing is read by DuckDB as it is (streamed, no
    temporary copy: issue 14, class 8); one bounded pass here finds its size, fingerprint
    and whether it is clean. None: it needs the sanitizer (CR, NUL, empty or over-long
    lines, invalid UTF-8, a BOM, a cut or corrupt stream), which writes the copy."""
    if path.suffix.lower() != ".gz":
        return None  # DuckDB recognises gzip by the name
    utf8 = codecs.getincrementaldecoder("utf-8")()
    size, head, tail, last, line_len, clean = 0, b"", b"", b"\n", 0, True
    try:
        for block in _gzip_blocks(path):  # read to the end even when not clean: the bomb limits
            clean = clean and _clean_gzip_block(block, size, last, line_len, utf8)
            newline = block.rfind(b"\n")
            line_len = line_len + len(block) if newline < 0 else len(block) - newline - 1
            head += block[: max(0, SAMPLE - len(head))]
            tail = (tail + block)[-SAMPLE:]
            size += len(block)
            last = block[-1:]
        utf8.decode(b"", final=True)
    except (_GzipCut, UnicodeDecodeError):
        return None
    if not clean:
        return None
    return _Source(path=path, fingerprint=_fingerprint(size, head, tail), size=size,
                   ends_with_newline=last == b"\n", gzip=True)


def _clean_gzip_block(block: bytes, size: int, last: bytes, line_len: int, utf8) -> bool:
    """The sanitizer's checks, on a stream: no CR, NUL, empty line, BOM, invalid UTF-8
    (decoded incrementally) or line over MAX_LINE (`line_len`: bytes since the last newline)."""
    if (b"\r" in block or b"\x00" in block or b"\n\n" in block or (last == b"\n" and block[:1] == b"\n")
            or (size == 0 and block.startswith(b"\xef\xbb\xbf"))):
        return False
    try:
        utf8.decode(block)
    except UnicodeDecodeError:
        return False
    first = block.find(b"\n")
    if line_len + (len(block) if first < 0 else first) > MAX_LINE:
        return False
    return first < 0 or len(block) - block.rfind(b"\n") - 1 <= MAX_LINE


def _gunzip(path: Path, tmp: Path, show: bool) -> _Source:
    """Decompress through the sanitizer; a stream cut short keeps its complete lines and
    quarantines the cut."""
    probe = _Source(path=path, fingerprint="", size=0, ends_with_newline=True)
    return _sanitize(_gzip_blocks(path), tmp / "decompressed.jsonl", probe, show, path.name)


class _GzipCut(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _gzip_blocks(path: Path) -> Iterator[bytes]:
    """Decompressed blocks of at most BLOCK bytes, yielding everything readable before a cut
    or a corrupt spot (gzip.GzipFile.read would drop the tail it had already decompressed).
    Concatenated gzip members are read one after the other, as gunzip does. Output is bounded
    per call and checked against the bomb limits (_check_bomb) as it grows."""
    decomp = zlib.decompressobj(wbits=31)
    read = written = 0
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(1 << 20)
            if not chunk:
                break
            read += len(chunk)
            while True:
                try:
                    out = decomp.decompress(chunk, BLOCK)
                except zlib.error as exc:
                    raise _GzipCut(f"gzip data corrupt ({exc})") from None
                chunk = decomp.unconsumed_tail
                if out:
                    written += len(out)
                    _check_bomb(path, read, written)
                    yield out
                if chunk or len(out) == BLOCK:
                    continue  # more output is waiting for this input
                if decomp.eof and decomp.unused_data:
                    chunk = decomp.unused_data  # the next gzip member
                    decomp = zlib.decompressobj(wbits=31)
                    continue
                break
    if not decomp.eof:
        raise _GzipCut("gzip stream cut short")


def _check_bomb(path: Path, read: int, written: int) -> None:
    if written > GZIP_MAX_BYTES:
        raise InputError(f"{path}: decompresses to more than {GZIP_MAX_BYTES >> 30} GiB; refused as a decompression "
                         "bomb (split the results into smaller files)")
    if written >= GZIP_RATIO_FROM and written > GZIP_MAX_RATIO * read:
        raise InputError(f"{path}: decompresses to more than {GZIP_MAX_RATIO}x its size ({read:,} bytes give over "
                         f"{written:,}); refused as a decompression bomb (results JSON compresses about 10x)")


def _blocks(fh: IO[bytes]) -> Iterator[bytes]:
    while True:
        block = fh.read(BLOCK)
        if not block:
            return
        yield block


# ------------------------------------------------------------------ sanitizer


def _sanitize(blocks: Iterator[bytes], out: Path, src: _Source, show: bool, label: str) -> _Source:
    """Copy `blocks` to `out` so that DuckDB's reader sees exactly one row per physical line:
    empty lines become a single space (counted as blank), CRLF becomes LF, and a line with
    invalid UTF-8, NUL bytes or over MAX_LINE bytes becomes a placeholder whose reason and
    text are kept in `replaced` for quarantine. Clean blocks are copied as they are."""
    replaced: list[tuple[int, str, str]] = []
    lines = size = 0
    head = tail = carry = b""
    skipping = False  # inside an over-long line that was already replaced
    bar = _bar(show, label, "sanitize")
    with open(out, "wb") as fh:
        try:
            for block in blocks:
                size += len(block)
                head += block[: max(0, SAMPLE - len(head))]
                tail = (tail + block)[-SAMPLE:]
                if bar:
                    bar.update(len(block))
                if skipping:
                    end = block.find(b"\n")
                    if end < 0:
                        continue
                    block, skipping = block[end + 1:], False
                data = carry + block
                cut = data.rfind(b"\n") + 1
                carry = data[cut:]
                if cut:
                    lines += _write_lines(fh, data[:cut], lines, replaced, first=lines == 0)
                if len(carry) > MAX_LINE:
                    lines += _write_lines(fh, carry + b"\n", lines, replaced, first=lines == 0)
                    carry, skipping = b"", True
        except _GzipCut as cut_short:
            text = "" if skipping else carry.decode("utf-8", "replace")[:1000]
            replaced.append((lines + 1, f"{cut_short.reason}: the file ends here; this line and anything "
                                        "after it are unreadable", text))
            fh.write(PLACEHOLDER + b"\n")
            lines += 1
            carry = b""
        if carry:
            lines += _write_lines(fh, carry + b"\n", lines, replaced, first=lines == 0)
    if bar:
        bar.close()
    fingerprint = src.fingerprint or _fingerprint(size, head, tail)
    return _Source(path=out, fingerprint=fingerprint, size=size, ends_with_newline=True, sanitized=True,
                   lines=lines, replaced=replaced)


def _write_lines(fh: IO[bytes], block: bytes, before: int, replaced: list, *, first: bool) -> int:
    """Write a block of whole lines (each ending in \\n) as DuckDB should read it; returns
    how many lines it holds. Only a block that fails the cheap checks is split into lines."""
    if first and block.startswith(b"\xef\xbb\xbf"):
        block = block[3:]
    count = block.count(b"\n")
    if _clean(block):
        fh.write(block)
        return count
    for offset, line in enumerate(block[:-1].split(b"\n")):
        fh.write(_fix_line(line, before + offset + 1, replaced) + b"\n")
    return count


def _clean(block: bytes) -> bool:
    if b"\x00" in block or b"\r" in block or b"\n\n" in block or block.startswith(b"\n"):
        return False
    try:
        block.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return len(block) <= MAX_LINE or max(len(x) for x in block.split(b"\n")) <= MAX_LINE


def _fix_line(line: bytes, line_no: int, replaced: list) -> bytes:
    if line.endswith(b"\r"):
        line = line[:-1]
    if not line.strip():
        return b" "
    reason = None
    if len(line) > MAX_LINE:
        reason = f"line longer than {MAX_LINE:,} bytes"
    elif b"\x00" in line:
        reason = "contains NUL bytes"
    else:
        try:
            line.decode("utf-8")
        except UnicodeDecodeError as exc:
            reason = f"not valid UTF-8 (byte {exc.start + 1})"
    if reason is None:
        return line.replace(b"\r", b" ")  # a lone CR would end the line for DuckDB's reader
    text = line[:4000].decode("utf-8", "replace").replace("\x00", "\ufffd")
    replaced.append((line_no, reason, text))
    return PLACEHOLDER


# ------------------------------------------------------------------ progress


def _progress_wanted(progress: bool | None, size: int) -> bool:
    if progress is not None:
        return progress
    return sys.stderr.isatty() and size >= PROGRESS_MIN_BYTES


def _bar(show: bool, label: str, stage: str):
    if not show:
        return None
    from tqdm import tqdm

    return tqdm(desc=f"{stage} {label}", unit="B", unit_scale=True, file=sys.stderr, leave=False)


@contextmanager
def _query_progress(conn: duckdb.DuckDBPyConnection, show: bool, label: str):
    """A tqdm bar fed by DuckDB's own progress estimate of the running query."""
    if not show:
        yield
        return
    from tqdm import tqdm

    bar = tqdm(total=100, desc=label, unit="%", file=sys.stderr, leave=False,
               bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}")
    done = threading.Event()

    def poll() -> None:
        while not done.wait(0.2):
            value = conn.query_progress()
            if value is not None and value >= 0:
                bar.n = min(100.0, float(value))
                bar.refresh()

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()
        bar.close()


# ------------------------------------------------------------------ helpers


def literal_path(path: Path, tmp: Path) -> Path:
    """A path DuckDB reads as this very file. DuckDB expands glob characters in every path it
    reads, so r47[1].jsonl would load r471.jsonl (issue 14, class 7): such a path is read
    through a symlink in `tmp` (a directory without them), with the same compression suffix."""
    if not glob.has_magic(str(path)):
        return path
    if glob.has_magic(str(tmp)):
        raise InputError(f"{path}: its name has glob characters and so has the temporary directory {tmp}; "
                         "rename the file (or set TMPDIR)")
    link = tmp / ("literal.jsonl.gz" if path.suffix.lower() == ".gz" else "literal.jsonl")
    link.unlink(missing_ok=True)
    link.symlink_to(path.resolve())
    return link


def _temp_dir(conn: duckdb.DuckDBPyConnection) -> str | None:
    """Sanitized copies go next to the database (not /tmp, which may be RAM-backed)."""
    try:
        row = conn.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    except duckdb.Error:
        return None
    if row and row[0]:
        parent = Path(row[0]).parent
        return str(parent) if parent.is_dir() and not glob.has_magic(str(parent)) else None
    return None


def _is_json_error(exc: BaseException) -> bool:
    text = str(exc)
    return "JSON" in text or "json" in text


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
