"""Parquet export of the store, partitioned by batch (hive layout), for teams that pool
their runs and query them with another engine (DuckDB over object storage, Spark, Trino).

    OUT/results/batch_id=<id>/data_0.parquet      result lines + manifest fields + costs + raw
    OUT/quarantine/batch_id=<id>/data_0.parquet   unusable lines with their reasons
    OUT/batches.parquet, ingests.parquet, manifest.parquet, price_snapshot.parquet
    OUT/export.json                               what was exported, when, from which schema

The directory is written next to OUT and renamed into place when complete, so a reader
never sees half an export; an existing OUT is replaced only if it holds an earlier export.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import duckdb

from .. import store
from .._atomic import atomic_dir
from ..errors import InputError

FILE = "store/export.sql"
MARKER = "export.json"
# A batch id becomes a folder name (batch_id=<id>): letters, digits and _ . : - only, starting
# with a letter or digit (the ingest's rule), so no id can be `..`, hold a `/` or start with `-`.
SAFE_BATCH_ID = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}"


@dataclass
class ExportReport:
    out: Path
    results: int
    quarantine: int
    batches: int


def export(conn: duckdb.DuckDBPyConnection, out: str | Path) -> ExportReport:
    from .._output import writing

    out = Path(out)
    check_batch_ids(conn)
    with atomic_dir(out, MARKER, "cachecast export") as tmp:
        results, quarantine, batches = conn.execute(store.query(FILE, "counts")).fetchone()
        q = store.queries(FILE)
        parts = [name for name, n in (("results", results), ("quarantine", quarantine)) if n]
        for name in [*parts, "batches", "ingests", "manifest", "price_snapshot"]:
            target = name if name in parts else f"{name}.parquet"
            # a full disk names the file as it would appear in OUT (the temporary folder is removed)
            with writing(out / target, f"nothing was exported to {out} (it is written whole or not at all)"):
                conn.execute(q[name], {"path": str(tmp / target)})
        report = ExportReport(out=out, results=int(results), quarantine=int(quarantine), batches=int(batches))
        meta = {**asdict(report), "out": str(out), "schema_version": store.SCHEMA_VERSION,
                "exported_at": store.utcnow().isoformat(timespec="seconds"),
                "layout": "hive, partitioned by batch_id"}
        (tmp / MARKER).write_text(json.dumps(meta, indent=2) + "\n")
    return report


def check_batch_ids(conn: duckdb.DuckDBPyConnection) -> None:
    """Refuse a store holding a batch id that is not a safe path component (issue 14, class 2):
    ids came from data (a file name, --batch-id, an older cachecast or a hand-edited store),
    and each one names a folder of the export. Checked before anything is written."""
    row = conn.execute(store.query(FILE, "unsafe_batch_ids"), {"pattern": SAFE_BATCH_ID}).fetchone()
    if row:
        shown = "NULL" if row[0] is None else repr(row[0][:80])
        raise InputError(f"batch id {shown} cannot name an export folder (it must be 1-128 letters, digits or "
                         "_ . : -, starting with a letter or digit); nothing was exported")
