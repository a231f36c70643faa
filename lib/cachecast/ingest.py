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
* Idempotent. Each stored line has a dedupe key:
    - a real message (succeeded, or a sync Message): `msg:<message id>`. Anthropic message
      ids are unique, so the same response is stored once whatever file or batch it comes
      in (a re-download, a renamed or gzipped copy, an overlapping export);
    - anything else (errored/canceled/expired lines, and simulator output, whose msg_sim_
      ids repeat across simulations): `cid:<batch id>:<custom_id>`, custom_ids being
      unique within a batch; `line:<batch id>:<md5 of the line>` when there is no custom_id.
  Quarantined lines are keyed by batch + text + occurrence. So the same lines ingested
  again add nothing, provided they land in the same batch: the batch id is --batch-id,
  else the batch of an earlier ingest of the same content (fingerprint: size + first and
  last MiB), else the msgbatch_... id in the file name, else `file-<fingerprint>`.
* On the staged path a malformed line only makes the parse run again in lenient mode
  (try()) to quarantine it. A file with blank
  lines, CRLF endings, NUL bytes, invalid UTF-8 or over-long lines is first copied through
  a sanitizer (per block; only damaged blocks are split into lines), which keeps physical
  line numbers and marks the damaged lines for quarantine. Gzip files are decompressed
  through the same sanitizer; a gzip stream cut short loads every complete line and
  quarantines the cut.
"""
from __future__ import annotations

import glob
import hashlib
import re
import sys
import tempfile
import threading
import time
import zlib
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Iterable, Iterator

import duckdb

from . import store
from .errors import InputError, PriceError

FILE = "ingest.sql"
BLOCK = 4 << 20  # sanitizer block; only a damaged block is split into lines
SAMPLE = 1 << 20  # fingerprint: size + first and last MiB
MAX_LINE = 16 << 20  # longer lines are quarantined (DuckDB's reader is told to accept this)
PROGRESS_MIN_BYTES = 64 << 20
BATCH_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
MSGBATCH_RE = re.compile(r"msgbatch_[A-Za-z0-9]+")
GZIP_MAGIC = b"\x1f\x8b"
PLACEHOLDER = b"{}"  # stands in for a damaged line; its reason comes from `replaced`


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
    path_taken: str = "fast"  # 'fast' (one read_json pass), 'staged' (line reader) or 'sanitized'
    reasons: dict[str, int] = field(default_factory=dict)  # quarantine reason -> lines (this ingest)

    def summary(self) -> str:
        text = (f"{self.source_file}: {_n(self.lines_read, 'line')} read = {self.ingested:,} ingested + "
                f"{self.duplicates:,} duplicates + {self.quarantined:,} quarantined (batch {self.batch_id})")
        if self.blank_lines:
            text += f"; {_n(self.blank_lines, 'blank line')} skipped"
        return text


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
    lines: int | None = None  # physical lines, known once sanitized
    replaced: list[tuple[int, str, str]] = field(default_factory=list)  # (line_no, reason, text)


# ------------------------------------------------------------------ public API


def ingest_paths(conn: duckdb.DuckDBPyConnection, paths: Iterable[str | Path], *, batch_id: str | None = None,
                 manifest: str | Path | None = None, progress: bool | None = None,
                 overrides: Path | None = None, keep_raw: bool = False) -> list[FileReport]:
    """Ingest every file (globs expanded, e.g. "results/*.jsonl*"), each in its own transaction.
    keep_raw: also store the raw text of ordinary succeeded lines (see the module docstring)."""
    files = expand(paths)
    manifest_id = load_manifest(conn, Path(manifest)) if manifest else None
    return [ingest_file(conn, f, batch_id=batch_id, manifest_id=manifest_id, progress=progress,
                        overrides=overrides, keep_raw=keep_raw) for f in files]


def expand(paths: Iterable[str | Path]) -> list[Path]:
    out: list[Path] = []
    for item in paths:
        text = str(item)
        matches = sorted(glob.glob(text)) if glob.has_magic(text) else [text]
        if not matches:
            raise InputError(f"{text}: no file matches")
        out.extend(Path(m) for m in matches)
    for path in out:
        _check_file(path)
    return list(dict.fromkeys(out))


def ingest_file(conn: duckdb.DuckDBPyConnection, path: str | Path, *, batch_id: str | None = None,
                manifest_id: str | None = None, progress: bool | None = None,
                overrides: Path | None = None, keep_raw: bool = False) -> FileReport:
    path = Path(path)
    _check_file(path)
    if batch_id is not None and not BATCH_ID_RE.match(batch_id):
        raise InputError(f"batch id '{batch_id}' must be 1-128 letters, digits or _ . : - (starting with a letter or digit)")
    started = time.perf_counter()
    show = _progress_wanted(progress, path.stat().st_size)
    threading.Thread(target=_warm_prices, daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="cachecast-ingest-", dir=_temp_dir(conn)) as tmp:
        src = _gunzip(path, Path(tmp), show) if _is_gzip(path) else _plain(path)
        report = FileReport(source_file=str(path), batch_id=resolve_batch_id(conn, batch_id, path, src.fingerprint))
        if src.size == 0:
            return report
        opts = _Opts(manifest_id=manifest_id, overrides=overrides, show=show, started=started, keep_raw=keep_raw)
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


class _NotFast(Exception):
    """The fast path cannot take this file as it is; the staged path will."""


def _load_fast(conn: duckdb.DuckDBPyConnection, src: _Source, report: FileReport, opts: _Opts) -> bool:
    """One read_json pass; False (nothing stored) when the file needs the staged path."""
    if src.bom:
        return False
    conn.execute("SET preserve_insertion_order = true")  # staged row order = file order = line numbers
    try:
        with _query_progress(conn, opts.show, f"read {Path(report.source_file).name}"):
            conn.execute(store.query(FILE, "stage_parsed"), {"path": str(src.path)})
        _load(conn, src, report, lenient=False, opts=opts, fast=True)
    except (duckdb.Error, _NotFast):
        conn.execute(store.query(FILE, "drop_staged"))
        return False
    return True


def _warm_prices() -> None:
    """Import the pricing tables while DuckDB parses (0.3 s of imports that _ensure_prices
    would otherwise wait for; DuckDB releases the GIL while it runs)."""
    try:
        from .pricing import known_models

        known_models()
    except Exception:  # noqa: BLE001 - _ensure_prices reports any real problem
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
        with open(path, "rb") as fh:
            src = _sanitize(_blocks(fh), tmp / "sanitized.jsonl", src, show, path.name)


def _check_file(path: Path) -> None:
    if path.is_dir():
        raise InputError(f"{path}: is a directory; give the results file(s) inside it")
    if not path.is_file():
        raise InputError(f"{path}: file not found")


def resolve_batch_id(conn: duckdb.DuckDBPyConnection, given: str | None, path: Path, fingerprint: str) -> str:
    """--batch-id, else the batch an identical file was ingested into, else the msgbatch_
    id in the file name, else file-<fingerprint>."""
    if given:
        return given
    row = conn.execute(store.query(FILE, "previous_batch_for_fingerprint"), {"fingerprint": fingerprint}).fetchone()
    if row:
        return row[0]
    found = MSGBATCH_RE.search(path.name)
    if found:
        return found.group(0)
    return f"file-{fingerprint[:12]}"


def load_manifest(conn: duckdb.DuckDBPyConnection, path: Path) -> str:
    """Load a build's manifest.jsonl (a build directory or the file); returns its id.
    Loading the same manifest again is a no-op."""
    path = path / "manifest.jsonl" if path.is_dir() else path
    if not path.is_file():
        raise InputError(f"{path}: no manifest.jsonl (give the directory `cachecast build` wrote)")
    manifest_id = "m-" + _content_id(path)[:16]
    if conn.execute(store.query(FILE, "manifest_known"), {"manifest_id": manifest_id}).fetchone()[0]:
        return manifest_id
    try:
        with store.transaction(conn):
            conn.execute(store.query(FILE, "load_manifest"), {"manifest_id": manifest_id, "path": str(path)})
            if conn.execute(store.query(FILE, "manifest_duplicate"), {"manifest_id": manifest_id}).fetchone():
                raise duckdb.ConstraintException("duplicate custom_id")
            conn.execute(store.query(FILE, "record_manifest"),
                         {"manifest_id": manifest_id, "source": str(path), "now": store.utcnow()})
    except duckdb.ConstraintException:
        raise InputError(f"{path}: a custom_id appears twice; this is not a manifest from cachecast build") from None
    except duckdb.Error as exc:
        raise InputError(f"{path}: not a cachecast build manifest ({_first_line(exc)})") from None
    return manifest_id


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
    for name in ("macro_token_problem", "macro_token_ok", "macro_unusual", "macro_parse_raising",
                 "macro_parse_lenient" if lenient else "macro_parse_strict"):
        conn.execute(q[name])
    conn.execute(q["view_parsed_rows" if fast else "view_staged_rows"])  # after the macros it uses
    ingest_id = int(conn.execute(q["next_ingest_id"]).fetchone()[0])
    ids = {"ingest_id": ingest_id, "batch_id": report.batch_id}
    started_at = store.utcnow()
    with store.transaction(conn):
        scan = _start_scan(conn, src) if fast else None
        with _query_progress(conn, opts.show and not fast, f"ingest {path.name}"):
            conn.execute(q["insert_lines"], {**ids, "source_file": str(path), "keep_raw": opts.keep_raw})
        if scan:
            _complete_fast(conn, scan, ingest_id)
        rows, blank = conn.execute(q["line_stats"], {"ingest_id": ingest_id}).fetchone()
        if src.replaced:
            conn.execute(q["create_sanitized_table"])
            conn.executemany("INSERT INTO sanitized_lines VALUES (?, ?, ?)", src.replaced)
            conn.execute(q["apply_sanitized"], {"ingest_id": ingest_id})
        quarantined = _count(conn.execute(q["quarantine_rejected"], ids))
        rejected = conn.execute(q["count_rejected"], {"ingest_id": ingest_id}).fetchone()[0]
        conn.execute(q["delete_rejected"], {"ingest_id": ingest_id})
        duplicates = _count(conn.execute(q["delete_duplicates"], {"ingest_id": ingest_id}))
        report.lines_read = rows - blank
        report.blank_lines = blank
        report.quarantined = quarantined
        report.duplicates = duplicates + (rejected - quarantined)
        report.ingested = report.lines_read - rejected - duplicates
        report.path_taken = "fast" if fast else "sanitized" if src.sanitized else "staged"
        report.reasons = _reasons(conn, ingest_id)
        if report.ingested == 0 and report.quarantined == 0 and not _manifest_is_new(conn, report.batch_id,
                                                                                     manifest_id):
            report.seconds = time.perf_counter() - started
            return  # nothing new (a re-ingest): leave the store exactly as it was
        _ensure_prices(conn, ingest_id, opts.overrides)
        conn.execute(q["upsert_batch"], {"batch_id": report.batch_id, "manifest_id": manifest_id,
                                         "now": started_at})
        conn.execute(q["record_ingest"], {
            **ids, "source_file": str(path), "fingerprint": src.fingerprint, "bytes": src.size,
            "lines_read": report.lines_read, "ingested": report.ingested, "duplicates": report.duplicates,
            "quarantined": report.quarantined, "blank_lines": report.blank_lines,
            "path_taken": report.path_taken, "started_at": started_at, "seconds": time.perf_counter() - started})
    report.seconds = time.perf_counter() - started


def _start_scan(conn: duckdb.DuckDBPyConnection, src: _Source) -> Future:
    """Count the file's lines and copy the text of the candidate unusual lines in a thread,
    while DuckDB inserts the rows (it releases the GIL)."""
    candidates = [row[0] for row in conn.execute(store.query(FILE, "raw_candidates")).fetchall()]
    pool = ThreadPoolExecutor(max_workers=1)
    job = pool.submit(_scan_lines, src.path, candidates)
    pool.shutdown(wait=False)  # the job runs on; _complete_fast waits for its result
    return job


def _complete_fast(conn: duckdb.DuckDBPyConnection, scan: Future, ingest_id: int) -> None:
    """After the fast insert: give up (_NotFast) on a rejected line or when the rows are not
    exactly the file's physical lines; else copy in the text of the unusual lines."""
    q = store.queries(FILE)
    if conn.execute(q["fast_rejected"], {"ingest_id": ingest_id}).fetchone()[0]:
        raise _NotFast("a rejected line")
    wanted = [row[0] for row in conn.execute(q["wanted_raw"], {"ingest_id": ingest_id}).fetchall()]
    rows = conn.execute("SELECT count(*) FROM cc_parsed").fetchone()[0]
    try:
        lines, found = scan.result()
    except UnicodeDecodeError:
        raise _NotFast("invalid UTF-8") from None
    texts = dict(found)
    if lines != rows or not texts.keys() >= set(wanted):
        raise _NotFast("rows are not the file's lines")
    if wanted:
        conn.execute(q["create_raw_table"])
        conn.execute(q["fill_raw"], {"line_nos": wanted, "texts": [texts[n] for n in wanted]})
        conn.execute(q["apply_raw"], {"ingest_id": ingest_id})


def _scan_lines(path: Path, wanted: list[int]) -> tuple[int | None, list[tuple[int, str]]]:
    """Count the physical lines (newlines) of a file DuckDB's JSON reader numbered as rows,
    and return the text of the `wanted` (sorted) line numbers. None for the count when the
    file has bytes the staged path must handle (CR, NUL, lines over MAX_LINE). An empty or
    blank line needs no check here: the reader skips it, so rows < lines."""
    texts: list[tuple[int, str]] = []
    lines, carry, pos = 0, b"", 0
    with open(path, "rb") as fh:
        for block in _blocks(fh):
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


def _ensure_prices(conn: duckdb.DuckDBPyConnection, ingest_id: int, overrides: Path | None) -> None:
    """Snapshot rates for models this file brought in; a model with no price stops the
    ingest (rolled back): costing it at $0 would hide real spend."""
    from .pricing import rates_rows

    missing = conn.execute(store.query(FILE, "unpriced_models"), {"ingest_id": ingest_id}).fetchall()
    if not missing:
        return
    now = store.utcnow()
    for row in rates_rows(sorted({model for model, _ in missing}), overrides):
        conn.execute(store.query(FILE, "insert_price"), {
            **{k: row[k] for k in ("model", "batch", "input", "write_5m", "write_1h", "read", "output",
                                   "long_context_threshold", "lc_input", "lc_write_5m", "lc_write_1h",
                                   "lc_read", "lc_output", "source")},
            "captured_at": now})
    still = conn.execute(store.query(FILE, "unpriced_models"), {"ingest_id": ingest_id}).fetchall()
    if still:
        model, batch = still[0]
        raise PriceError(f"no {'Message Batches' if batch else 'standard'} price for model '{model}'; "
                         "give its rates in a price overrides file")


def _count(result: duckdb.DuckDBPyConnection) -> int:
    row = result.fetchone()
    return int(row[0]) if row else 0


# ------------------------------------------------------------------ sources


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as fh:
        magic = fh.read(2)
    if path.suffix == ".gz" and magic != GZIP_MAGIC and magic:
        raise InputError(f"{path}: named .gz but is not a gzip file")
    return magic == GZIP_MAGIC


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
    """Decompressed blocks, yielding everything readable before a cut or a corrupt spot
    (gzip.GzipFile.read would drop the tail it had already decompressed). Concatenated
    gzip members are read one after the other, as gunzip does."""
    decomp = zlib.decompressobj(wbits=31)
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(1 << 20)
            if not chunk:
                break
            while chunk:
                try:
                    out = decomp.decompress(chunk)
                except zlib.error as exc:
                    raise _GzipCut(f"gzip data corrupt ({exc})") from None
                if out:
                    yield out
                chunk = b""
                if decomp.eof:
                    chunk = decomp.unused_data
                    if not chunk:
                        break
                    decomp = zlib.decompressobj(wbits=31)
    if not decomp.eof:
        raise _GzipCut("gzip stream cut short")


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


def _temp_dir(conn: duckdb.DuckDBPyConnection) -> str | None:
    """Sanitized copies go next to the database (not /tmp, which may be RAM-backed)."""
    try:
        row = conn.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    except duckdb.Error:
        return None
    if row and row[0]:
        parent = Path(row[0]).parent
        return str(parent) if parent.is_dir() else None
    return None


def _is_json_error(exc: BaseException) -> bool:
    text = str(exc)
    return "JSON" in text or "json" in text


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
