"""Identity across ingests: which batch a file belongs to, lines already stored under another
batch (and the inferred batch that takes its real id), custom_ids with conflicting content, and
the quarantine reasons of one ingest."""
from __future__ import annotations

import re
from pathlib import Path

import duckdb

from ... import store

FILE = "store/ingest.sql"

BATCH_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")

MSGBATCH_RE = re.compile(r"msgbatch_[A-Za-z0-9]+")

INFERRED_PREFIX = "file-"  # a batch id made from the file's fingerprint (no --batch-id, no msgbatch_ in the name)

REAL_BATCH_RE = re.compile(r"^msgbatch_[A-Za-z0-9_]+$")  # where batches.created_at came from, best first


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


def _reasons(conn: duckdb.DuckDBPyConnection, ingest_id: int) -> dict[str, int]:
    """Reasons of the lines this ingest quarantined (not of lines quarantined before)."""
    rows = conn.execute("SELECT reason, count(*) FROM quarantine WHERE ingest_id = ? GROUP BY 1 ORDER BY 2 DESC, 1",
                        [ingest_id]).fetchall()
    return {reason: int(n) for reason, n in rows}
