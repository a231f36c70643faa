"""Ingest Message Batches results (and sync-run Message lines) into the DuckDB store.

The package, by stage of one ingest:
  read    the file's bytes: plain or gzip (a clean .gz is streamed to DuckDB, a damaged one is
          decompressed through the sanitizer, both bounded against decompression bombs); other
          formats are named in one sentence; the sanitizer gives DuckDB exactly one row per
          physical line and marks damaged lines for quarantine.
  checks  what DuckDB's pass leaves to Python: that its rows are exactly the file's lines, and
          which key a line repeats that the set pass (ingest.sql macro_repeated_key) flagged
          (a parser keeps one value silently: such a line is quarantined).
  load    one file, one transaction: a healthy file is parsed, shaped and inserted in ONE
          parallel read_json pass (sql/store/ingest.sql insert_parsed); anything off (a parse
          error, a rejected line, a damaged file, --keep-raw) rolls back and takes the staged
          path, every line read by DuckDB's line reader and parsed with one json_transform
          each. Then the set-based load: insert, quarantine, drop duplicates, snapshot prices,
          record the accounting.
  manifest  the build's manifest.jsonl, loaded on a cursor of its own while the first file
          parses; the file waits for it before recording its batch, and the run is linked
          after.
  dedupe  identity across ingests: the file's batch, lines stored under another batch, custom_ids
          with conflicting content, quarantine reasons.
  many    many small files in one call: clean small files are staged as one chunk and settled in
          one set-based pass (sql/store/ingest_many.sql) with the same view and key macro one file
          uses, so each file keeps only its own short transaction.

What it guarantees:
* Every line is accounted for: lines read = ingested + duplicates + quarantined (blank lines
  are reported apart). A bad line is quarantined with its line number and a reason; the rest
  of its file still loads. One transaction per file: a failure leaves nothing of that file.
* The raw line is kept (results.raw, zstd) for every line that is not an ordinary succeeded
  one: errored/canceled/expired lines, a stop_reason other than end_turn/stop_sequence/
  tool_use, and every quarantined line. An ordinary succeeded line keeps its raw text only
  with keep_raw=True (`--keep-raw`); otherwise source_file + line_no (and the file's
  fingerprint in `ingests`) point at it: storing every line costs about a quarter of the
  ingest time and most of the store's size.
* Idempotent, and never counts a result twice. Each stored line has ONE identity, the same in
  whatever file, line ending, batch id or --batch-id it arrives:
    - a succeeded line (or a sync Message) with a message id: `msg:<custom_id>:<message id>`
      (`msg:<id>` with no custom_id); the custom_id is part of the key so that one id repeated
      on distinct requests (a proxy's constant id) does not merge them;
    - every other line: `r:<result type>:<custom_id>:<md5 of the canonical JSON of its parsed
      columns>` (ingest.sql key_lines; DuckDB's to_json of the typed columns, so whitespace,
      key order and CRLF do not change it, and the fast and the staged paths agree);
    - a quarantined line: `q:<md5 of its text>:<occurrence in its file>`.
  Lines already stored under another batch are counted as duplicates and named
  (FileReport.stored_elsewhere); a batch first stored under an inferred id (file-<fingerprint>)
  takes its real msgbatch_ id when results arrive under it. The batch id is --batch-id, else
  the batch of an earlier ingest of the same content (fingerprint: size + first and last MiB),
  else the msgbatch_... id in the file name, else `file-<fingerprint>`.
* Priced at the batch's own date: batches.created_at is the API's creation time when
  submit/fetch pass it, `--priced-at DATE` for a bare file, else the first ingest
  (created_at_source says which). The rates of every kind of line the batch holds (model,
  day, tier, speed, inference geo) are snapshotted into price_snapshot in the file's
  transaction (in a chunk of many files, in the one that makes the chunk's batches); a line
  with no known price stops the file with a ready-to-edit overrides snippet: costing it at $0
  would hide real spend.
* Two lines of one custom_id with different content in a batch are reported with their line
  numbers (FileReport.conflicts, ingests.conflicts).
"""
from __future__ import annotations

import glob
from datetime import date, datetime
from pathlib import Path
from typing import Iterable

import duckdb

from ...errors import InputError
from .dedupe import BATCH_ID_RE
from .load import FileReport, batch_time, ingest_file, snapshot_prices
from .manifest import load_manifest, start_manifest
from .many import MANY_FILES, _ingest_many
from .read import _check_file, _is_gzip, content_id, literal_path

__all__ = ["FileReport", "batch_time", "content_id", "expand", "ingest_file", "ingest_paths", "literal_path",
           "load_manifest", "snapshot_prices"]


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
    loading = start_manifest(conn, Path(manifest)) if manifest else None
    one = dict(batch_id=batch_id, manifest_id=loading.manifest_id if loading else None, overrides=overrides,
               keep_raw=keep_raw, created_at=created_at, created_at_source=created_at_source)
    try:
        if len(files) < MANY_FILES or keep_raw:
            ready = loading.ready if loading else None
            reports = [ingest_file(conn, f, progress=progress, manifest_ready=ready, **one) for f in files]
        else:
            if loading:
                loading.ready()  # the chunks make their batches in one transaction of their own
            reports = _ingest_many(conn, files, progress=progress, **one)
    except BaseException:
        if loading:
            loading.abandon()
        raise
    if loading:
        loading.finish(conn)
    return reports


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
