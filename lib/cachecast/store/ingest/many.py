"""Many small files in one call: clean small files are staged as one chunk, shaped, keyed and
checked against the store and each other in one set-based pass (sql/store/ingest_many.sql), so
each file keeps only its own short transaction. A file a chunk cannot settle exactly as the
one-file path would goes through that path."""
from __future__ import annotations

import glob
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Iterator

import duckdb

from ... import store
from ...errors import secret_values
from .dedupe import INFERRED_PREFIX, REAL_BATCH_RE, _choose_batch_id
from .load import FileReport, _Opts, _date_is_new, _macros, _manifest_is_new, _opts, _warm_prices, ingest_file
from .read import GZIP_MAGIC, SAMPLE, _clean, _fingerprint, _temp_dir

FILE = "store/ingest.sql"

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


class _Lookups:
    """The rates of each kind of line (model, tier, day, speed, geo), looked up once per call:
    a folder with a batch per file holds thousands of batches with the same few kinds. A
    PriceError is kept too (the same kind fails the same way)."""

    def __init__(self, overrides: Path | None) -> None:
        self.overrides = overrides
        self.found: dict[tuple, object] = {}

    def rates(self, model: str, batch: bool, day: date, speed: str, geo: str):
        from ...errors import PriceError
        from ...facts.pricing import get_rates

        key = (model, batch, day, speed, geo)
        if key not in self.found:
            try:
                self.found[key] = get_rates(model, batch, self.overrides, at=day, speed=speed, geo=geo)
            except PriceError as exc:
                self.found[key] = exc
        found = self.found[key]
        if isinstance(found, Exception):
            raise found
        return found


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
    lookups = _Lookups(overrides)
    threading.Thread(target=_warm_prices, daemon=True).start()
    try:
        for chunk in _chunks(files):
            small = [s for s in (_read_small(i, f) for i, f in enumerate(chunk)) if s is not None]
            if len(small) >= MANY_FILES:
                reports.update(_ingest_chunk(conn, small, batch_id, opts, lookups, bar))
            for path in chunk:
                if path not in reports:
                    reports[path] = ingest_file(conn, path, **one)
                    if bar:
                        bar.update(1)
    finally:
        if bar:
            bar.close()
    return [reports[f] for f in files]


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
    sanitizer's checks), no echoed API key, a name DuckDB reads literally (a repeated JSON key
    takes the file out of the chunk later: repeated_key_files)."""
    size = path.stat().st_size
    if size == 0 or size > SMALL_FILE or glob.has_magic(str(path)):
        return None
    data = path.read_bytes()
    whole = data if data.endswith(b"\n") else data + b"\n"
    if (data[:2] == GZIP_MAGIC or data.startswith(b"\xef\xbb\xbf") or not _clean(whole)
            or any(secret.encode() in data for secret in secret_values())):
        return None
    return _Small(idx=idx, path=path, data=data, fingerprint=_fingerprint(len(data), data[:SAMPLE], data[-SAMPLE:]),
                  lines=whole.count(b"\n"))


def _ingest_chunk(conn: duckdb.DuckDBPyConnection, small: list[_Small], batch_id: str | None, opts: _Opts,
                  lookups: _Lookups, bar) -> dict[Path, FileReport]:
    """The chunk's set-based pass, then each file's own transaction (_commit_chunk). The
    chunk's new batches are all made at `now`, taken first, so the day they are priced at is
    known before any of them is made."""
    q = store.queries(MANY)
    started = time.perf_counter()
    now = store.utcnow()
    try:
        _assign_ids(conn, small, batch_id)
        with tempfile.TemporaryDirectory(prefix="cachecast-ingest-", dir=_temp_dir(conn)) as tmp:
            if not _stage_chunk(conn, small, Path(tmp) / "chunk.jsonl"):
                return {}
        small, elsewhere = _shape_chunk(conn, small, opts, now, lookups)
        counts = {idx: (rows, dups) for idx, rows, dups in conn.execute(q["file_counts"]).fetchall()}
        share = (time.perf_counter() - started) / max(1, len(small))
        reports = {f.idx: FileReport(source_file=str(f.path), batch_id=f.batch_id, lines_read=counts[f.idx][0],
                                     ingested=counts[f.idx][0] - counts[f.idx][1], duplicates=counts[f.idx][1],
                                     path_taken="chunked", stored_elsewhere=elsewhere.get(f.idx, {}), seconds=share)
                   for f in small}
        _commit_chunk(conn, small, reports, opts, now, lookups, bar)
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


def _shape_chunk(conn: duckdb.DuckDBPyConnection, small: list[_Small], opts: _Opts, now: datetime,
                 lookups: _Lookups) -> tuple[list[_Small], dict]:
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
    unfit |= {r[0] for r in conn.execute(q["repeated_key_files"]).fetchall()}
    for secret in secret_values():
        unfit |= {r[0] for r in conn.execute(q["secret_files"], {"secret": secret}).fetchall()}
    small = _drop(conn, small, unfit | _unpriceable_files(conn, opts, now, lookups))
    while True:
        conn.execute(q["mark_duplicates"])
        elsewhere: dict[int, dict[str, int]] = {}
        for idx, other, lines in conn.execute(q["elsewhere"]).fetchall():
            elsewhere.setdefault(idx, {})[other] = int(lines)
        renamed = _batches_to_rename(conn, small, elsewhere)
        if not renamed:
            return small, elsewhere
        small = _drop(conn, small, {f.idx for f in small if f.batch_id in renamed})


def _unpriceable_files(conn: duckdb.DuckDBPyConnection, opts: _Opts, now: datetime, lookups: _Lookups) -> set[int]:
    """Files with a line no price is known for (an unknown model, fast mode where there is
    none, ...): the one-file path quarantines such a line with its reason (load.py
    quarantine_unpriced). The day is the batch's stored date, else the one it will get."""
    from ...errors import PriceError

    kinds = conn.execute(store.query(MANY, "file_kinds")).fetchall()
    days = dict(conn.execute(store.query(MANY, "batch_days"),
                             {"batch_ids": sorted({k[1] for k in kinds})}).fetchall())
    new_day = (opts.created_at or now).date()
    bad: set[int] = set()
    for idx, batch_id, model, tier, is_batch, speed, geo, _ in kinds:
        batch = tier == "batch" if tier in ("batch", "standard", "priority") else bool(is_batch)
        geo = "global" if geo in (None, "global", "not_available") else geo
        try:
            lookups.rates(model, batch, days.get(batch_id, new_day), speed or "standard", geo)
        except PriceError:
            bad.add(idx)
    return bad


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
                  opts: _Opts, now: datetime, lookups: _Lookups, bar) -> None:
    """Each file of the chunk in its own transaction, after one that makes or updates the
    chunk's batch rows and snapshots their prices (_make_batches): a file's transaction is then
    only its rows and its ingests row, and COMMIT_THREADS of them run at once (a small commit
    mostly waits for the WAL to reach the disk: 6-8 ms a file one at a time, about 3 with
    three in flight). The batches' last ingest time is moved after them."""
    known = {r[0] for r in conn.execute(store.query(MANY, "known_batches"),
                                        {"batch_ids": sorted({f.batch_id for f in small})}).fetchall()}
    upserted: set[str] = set()
    news: dict[str, bool] = {}  # batch -> would a re-ingest change its row (manifest, date)?
    todo = []
    for f in small:
        report = reports[f.idx]
        if report.ingested == 0 and f.batch_id in known and f.batch_id not in upserted and f.batch_id not in news:
            news[f.batch_id] = _manifest_is_new(conn, f.batch_id, opts.manifest_id) or _date_is_new(conn, f.batch_id, opts)
        if report.ingested == 0 and (f.batch_id not in known or f.batch_id in upserted or not news[f.batch_id]):
            continue  # nothing new (as in _load): no transaction
        todo.append(f)
        upserted.add(f.batch_id)
        known.add(f.batch_id)
    if not todo:
        return
    batches = sorted(upserted)
    _make_batches(conn, todo, batches, opts, now, lookups)
    _commit_parallel(conn, todo, reports, bar)
    with store.transaction(conn):
        conn.execute(store.query(MANY, "touch_batches"), {"batch_ids": batches, "now": store.utcnow()})


def _make_batches(conn: duckdb.DuckDBPyConnection, files: list[_Small], batches: list[str], opts: _Opts,
                  now: datetime, lookups: _Lookups) -> None:
    """The rows of `batches` as each one's first file would make it (ingest.sql upsert_batches,
    at `now`), their runs, and the prices of every kind of line they will hold, in one
    transaction. Which prices: a first transaction adds the files' rows, asks the views
    (ingest.sql price_keys, for every batch at once) and is rolled back; each kind not priced
    yet is then looked up once (lookups) and written with the batch rows. price_snapshot
    rows belong to no batch, so they may come before the lines that use them."""
    from ...facts.pricing import snapshot_row

    q, qi = store.queries(MANY), store.queries(FILE)
    row = {"batch_ids": batches, "manifest_id": opts.manifest_id, "now": now, "created_at": opts.created_at,
           "created_at_source": opts.created_at_source}
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(qi["upsert_batches"], row)
        conn.execute(q["trial_rows"], {"file_idx": [f.idx for f in files]})
        keys = conn.execute(qi["price_keys"], {"batch_ids": batches}).fetchall()
    finally:
        try:
            conn.execute("ROLLBACK")
        except duckdb.Error:
            pass  # a failed statement may already have aborted it
    missing = [lookups.rates(model, batch, day, speed, geo) for model, day, batch, speed, geo, priced in keys
               if not priced]
    captured = store.utcnow()
    with store.transaction(conn):
        conn.execute(qi["upsert_batches"], row)
        conn.execute(qi["link_batch_runs"], {"batch_ids": batches})
        for rates in missing:
            conn.execute(qi["insert_price"], {**snapshot_row(rates), "captured_at": captured, "replace": False})


def _commit_parallel(conn: duckdb.DuckDBPyConnection, files: list[_Small], reports: dict[int, FileReport],
                     bar) -> None:
    """_commit_small for `files` on COMMIT_THREADS cursors. The chunk's rows are copied into an
    in-memory database the cursors share (a temp table is seen by its own connection only).
    A failure or Ctrl-C stops the others after the transaction each is in; it is raised here."""
    if len(files) < 2 * COMMIT_THREADS:
        for f in files:
            _commit_small(conn, f, reports[f.idx])
            if bar:
                bar.update(1)
        return
    conn.execute(store.query(MANY, "share_chunk"))
    try:
        _commit_threads(conn, files, reports, bar)
    finally:
        conn.execute(store.query(MANY, "unshare_chunk"))


def _commit_threads(conn: duckdb.DuckDBPyConnection, files: list[_Small], reports: dict[int, FileReport],
                    bar) -> None:
    stop, errors = threading.Event(), []

    def work(cursor: duckdb.DuckDBPyConnection, mine: list[_Small]) -> None:
        try:
            for f in mine:
                if stop.is_set():
                    return
                _commit_small(cursor, f, reports[f.idx], shared=True)
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


def _commit_small(conn: duckdb.DuckDBPyConnection, f: _Small, report: FileReport, *, shared: bool = False) -> None:
    """One file of a chunk in its own transaction: its rows and its ingests row (its batch row
    and prices are in the store already, _make_batches). shared: on a commit cursor, which
    reads the rows from the shared copy of cc_many."""
    q, qi = store.queries(MANY), store.queries(FILE)
    started = time.perf_counter()
    started_at = store.utcnow()
    with store.transaction(conn):
        conn.execute(q["commit_shared_rows" if shared else "commit_rows"], {"file_idx": f.idx})
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
