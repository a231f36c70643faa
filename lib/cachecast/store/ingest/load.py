"""One file, one transaction: the fast read_json pass or the line-exact staged path, then the
set-based load (sql/store/ingest.sql): insert, quarantine, drop duplicates, snapshot prices,
record the line accounting."""
from __future__ import annotations

import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, datetime, time as day_time, timezone
from pathlib import Path
from typing import Callable

import duckdb

from ... import store
from ...errors import InputError, secret_values
from .checks import _ambiguity, _line_starts, _numbering_problem, _scan_lines, _texts_at
from .dedupe import BATCH_ID_RE, _conflicts, _elsewhere, _reasons, resolve_batch_id
from .read import (_Source, _check_file, _gunzip, _gzip_stream, _is_gzip, _plain, _progress_wanted, read_to_end,
                   _query_progress, _read_blocks, _sanitize, _temp_dir, literal_path)

FILE = "store/ingest.sql"

CREATED_SOURCES = ("api", "priced-at", "ingest")


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


def ingest_file(conn: duckdb.DuckDBPyConnection, path: str | Path, *, batch_id: str | None = None,
                manifest_id: str | None = None, progress: bool | None = None,
                overrides: Path | None = None, keep_raw: bool = False,
                created_at: datetime | date | str | None = None, created_at_source: str | None = None,
                manifest_ready: Callable[[], object] | None = None) -> FileReport:
    path = Path(path)
    _check_file(path)
    if batch_id is not None and not BATCH_ID_RE.match(batch_id):
        raise InputError(f"batch id '{batch_id}' must be 1-128 letters, digits or _ . : - (starting with a letter or digit)")
    started = time.perf_counter()
    show = _progress_wanted(progress, path.stat().st_size)
    threading.Thread(target=_warm_prices, daemon=True).start()
    with tempfile.TemporaryDirectory(prefix="cachecast-ingest-", dir=_temp_dir(conn)) as tmp:
        src = (_gzip_stream(path) or _gunzip(path, Path(tmp), show)) if _is_gzip(path) else _plain(path)
        src = read_to_end(src, Path(tmp), show)  # stat said 0 bytes (/proc, FUSE): read it anyway
        src.path = literal_path(src.path, Path(tmp))
        report = FileReport(source_file=str(path), batch_id=resolve_batch_id(conn, batch_id, path, src.fingerprint))
        if src.size == 0:
            return report
        opts = _opts(manifest_id, overrides, created_at, created_at_source, show=show, started=started,
                     keep_raw=keep_raw, manifest_ready=manifest_ready)
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
    # waits for a manifest still loading (manifest.ManifestLoad.ready); raises its error
    manifest_ready: Callable[[], object] | None = None


class _NotFast(Exception):
    """The fast path cannot take this file as it is; the staged path will."""


def _load_fast(conn: duckdb.DuckDBPyConnection, src: _Source, report: FileReport, opts: _Opts) -> bool:
    """One read_json pass; False (nothing stored) when the file needs the staged path."""
    if src.bom:
        return False
    conn.execute("SET preserve_insertion_order = true")  # row order = file order = line numbers
    try:
        _load(conn, src, report, lenient=False, opts=opts, fast=True)
    except (duckdb.Error, _NotFast):
        return False
    return True


def _warm_prices() -> None:
    """Load the pricing tables while DuckDB parses (0.1 s of imports that the price snapshot
    would otherwise wait for; DuckDB releases the GIL while it runs)."""
    try:
        from ...facts.pricing import warm

        warm()
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
            raise InputError(f"{path}: cannot be ingested ({store.first_line(exc)})") from None
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
            problem = store.first_line(exc)
        if problem is None:
            return src
        if src.sanitized:
            raise InputError(f"{path}: cannot read as JSON lines ({problem})")
        src = _sanitize(_read_blocks(path, src.gzip), tmp / "sanitized.jsonl", src, show, path.name)


def _load(conn: duckdb.DuckDBPyConnection, src: _Source, report: FileReport, *, lenient: bool, opts: _Opts,
          fast: bool = False) -> None:
    """One attempt, in one transaction: parse and insert every staged line (view cc_rows),
    quarantine the rejected ones, drop duplicates, snapshot prices, record the accounting."""
    q = store.queries(FILE)
    path = Path(report.source_file)
    manifest_id, started = opts.manifest_id, opts.started
    _macros(conn, lenient=lenient)
    if not fast:
        conn.execute(q["view_staged_rows"])  # after the macros it uses
        conn.execute(q["view_shaped"])
    ingest_id = int(conn.execute(q["next_ingest_id"]).fetchone()[0])
    ids = {"ingest_id": ingest_id, "batch_id": report.batch_id}
    started_at = store.utcnow()
    with store.transaction(conn):
        if fast:
            _insert_fast(conn, src, ids, path, opts.show)
            replaced = []
        else:
            with _query_progress(conn, opts.show, f"ingest {path.name}"):
                conn.execute(q["insert_lines"], {**ids, "source_file": str(path), "keep_raw": opts.keep_raw})
            # lines with a repeated JSON key are quarantined like the sanitizer's replaced lines
            replaced = src.replaced + _repeated_keys_staged(conn)
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
        if opts.manifest_ready is not None:  # before the batch names its manifest: a bad one stops the file
            opts.manifest_ready()
        conn.execute(q["upsert_batches"], {"batch_ids": [report.batch_id], "manifest_id": manifest_id,
                                           "now": started_at, "created_at": opts.created_at,
                                           "created_at_source": opts.created_at_source})
        conn.execute(q["link_batch_runs"], {"batch_ids": [report.batch_id]})
        moved, newly = quarantine_unpriced(conn, ingest_id, opts.overrides,
                                           texts=lambda wanted: _scan_lines(src.path, wanted, src.gzip)[1])
        if moved:  # lines no price can be known for: quarantined, the rest of the file kept
            report.ingested -= moved
            report.quarantined += newly
            report.duplicates += moved - newly
            report.reasons = _reasons(conn, ingest_id)
        snapshot_prices(conn, batch_id=report.batch_id, overrides=opts.overrides)
        conn.execute(q["record_ingest"], {
            **ids, "source_file": str(path), "fingerprint": src.fingerprint, "bytes": src.size,
            "lines_read": report.lines_read, "ingested": report.ingested, "duplicates": report.duplicates,
            "quarantined": report.quarantined, "blank_lines": report.blank_lines, "conflicts": len(report.conflicts),
            "path_taken": report.path_taken, "started_at": started_at, "seconds": time.perf_counter() - started})
    report.seconds = time.perf_counter() - started


def _macros(conn: duckdb.DuckDBPyConnection, *, lenient: bool = False) -> None:
    q = store.queries(FILE)
    for name in ("macro_token_problem", "macro_token_ok", "macro_count", "macro_count_ok", "macro_unusual",
                 "macro_repeated_key", "macro_repeated_json", "macro_parse_raising", "macro_source_rank",
                 "macro_line_key", "macro_content_hash",
                 "macro_parse_lenient" if lenient else "macro_parse_strict"):
        conn.execute(q[name])


def _repeated_keys_staged(conn: duckdb.DuckDBPyConnection) -> list[tuple[int, str, str]]:
    """The staged lines that repeat a JSON key (the set pass), each with the key it repeats."""
    found = conn.execute(store.query(FILE, "repeated_key_staged")).fetchall()
    return [_ambiguity(line_no, line) for line_no, line in found]


def _insert_fast(conn: duckdb.DuckDBPyConnection, src: _Source, ids: dict, path: Path, show: bool) -> None:
    """The fast path's pass, inside the file's transaction: parse, shape and insert every line
    (insert_parsed) and number them, while a thread finds where each line starts (DuckDB
    releases the GIL); then copy in the text of the unusual lines. Gives up (_NotFast, the
    transaction rolls back) on a rejected line, or when the rows are not exactly the file's
    physical lines."""
    q = store.queries(FILE)
    mine = {"ingest_id": ids["ingest_id"]}
    stop = threading.Event()
    pool = ThreadPoolExecutor(max_workers=1)
    job = None if src.gzip else pool.submit(_line_starts, src.path, stop)
    pool.shutdown(wait=False)  # the job runs on; its result is read below
    try:
        with _query_progress(conn, show, f"read {path.name}"):
            conn.execute(q["insert_parsed"], {**ids, "paths": [str(src.path)], "source_file": str(path)})
        conn.execute(q["number_parsed"], mine)
        if conn.execute(q["fast_rejected"], mine).fetchone()[0]:
            raise _NotFast("a rejected line")
        wanted = [row[0] for row in conn.execute(q["wanted_raw"], mine).fetchall()]
        rows = conn.execute(q["line_stats"], mine).fetchone()[0]
        try:
            if job is None:  # a .gz stream: no offsets to seek to, one more pass instead
                lines, texts = _scan_lines(src.path, wanted, src.gzip)
            else:
                starts = job.result()
                lines = None if starts is None else len(starts) - 1
                texts = _texts_at(src.path, starts, wanted) if lines == rows else []
        except UnicodeDecodeError:
            raise _NotFast("invalid UTF-8") from None
    finally:
        stop.set()
    if lines != rows or len(texts) != len(wanted):
        raise _NotFast("rows are not the file's lines")
    if wanted:
        conn.execute(q["create_raw_table"])
        conn.execute(q["fill_raw"], {"line_nos": wanted, "texts": [text for _, text in texts]})
        conn.execute(q["apply_raw"], mine)


def _manifest_is_new(conn: duckdb.DuckDBPyConnection, batch_id: str, manifest_id: str | None) -> bool:
    if manifest_id is None:
        return False
    row = conn.execute("SELECT manifest_id FROM batches WHERE batch_id = ?", [batch_id]).fetchone()
    return row is None or row[0] != manifest_id


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
    from ...facts.pricing import covers, get_rates, snapshot_row

    keys = conn.execute(store.query(FILE, "price_keys"),
                        {"batch_ids": None if batch_id is None else [batch_id]}).fetchall()
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


def quarantine_unpriced(conn: duckdb.DuckDBPyConnection, ingest_id: int, overrides: Path | None,
                        texts=None) -> tuple[int, int]:
    """Quarantine the lines of this ingest that need a price no source gives (a PriceError for
    their kind of line: an unknown model, speed "fast" on a model without fast mode or in a
    batch, a US-only line of a model without inference_geo, an advisor turn on an unknown
    model), each with that sentence as its reason; the rest of the file is ingested. A file is
    refused whole only for what concerns it whole (its format, its batch date). Lines
    quarantined so before and priced now leave quarantine. Returns (lines moved, of them new
    to quarantine: the rest were there already). texts(line numbers) gives the text of lines
    whose raw text is not kept, for quarantine. Callers own the transaction."""
    from ...errors import PriceError
    from ...facts.pricing import check_overrides, get_rates

    if overrides is not None:  # a broken prices file concerns every line: it stops the file, as before
        check_overrides(overrides)
    q = store.queries(FILE)
    ids = {"ingest_id": ingest_id}
    rejected = False
    for model, day, batch, speed, geo in conn.execute(q["ingest_price_keys"], ids).fetchall():
        try:
            get_rates(model, batch, overrides, at=day, speed=speed, geo=geo)
        except PriceError as exc:
            conn.execute(q["reject_unpriced"], {**ids, "model": model, "priced_on": day, "batch": batch,
                                                "speed": speed, "geo": geo, "reason": f"no price: {exc}"})
            rejected = True
    moved = newly = 0
    if rejected:
        wanted = [r[0] for r in conn.execute(q["rejected_without_raw"], ids).fetchall()]
        found = texts(wanted) if texts and wanted else []
        if found:
            conn.execute(q["create_raw_table"])
            conn.execute(q["fill_raw"], {"line_nos": [n for n, _ in found], "texts": [s for _, s in found]})
            conn.execute(q["apply_raw"], ids)
        newly = _count(conn.execute(q["quarantine_priced"], ids))
        moved = _count(conn.execute(q["count_rejected"], ids))
        conn.execute(q["delete_rejected"], ids)
    conn.execute(q["release_priced"], ids)
    return moved, newly


def _count(result: duckdb.DuckDBPyConnection) -> int:
    row = result.fetchone()
    return int(row[0]) if row else 0


def _opts(manifest_id: str | None, overrides: Path | None, created_at, created_at_source: str | None, *,
          show: bool = False, started: float = 0.0, keep_raw: bool = False,
          manifest_ready: Callable[[], object] | None = None) -> _Opts:
    """The batch date (and where it came from) checked once, for ingest_file and for chunks."""
    when = batch_time(created_at)
    source = (created_at_source or "priced-at") if when is not None else "ingest"
    if source not in CREATED_SOURCES:
        raise InputError(f"created_at_source '{source}' must be one of {', '.join(CREATED_SOURCES)}")
    return _Opts(manifest_id=manifest_id, overrides=overrides, show=show, started=started, keep_raw=keep_raw,
                 created_at=when, created_at_source=source, manifest_ready=manifest_ready)


def _is_json_error(exc: BaseException) -> bool:
    text = str(exc)
    return "JSON" in text or "json" in text
