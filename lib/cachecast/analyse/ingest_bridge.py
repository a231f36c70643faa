"""Thin calls into the store for the API layer and the demo: ingest result files, read the audit.

Kept separate so submit/fetch/demo depend on one small surface of the store's public API."""
from __future__ import annotations

from pathlib import Path
from typing import Any


def ingest_results(files: list[Path], db: Path, *, manifest: Path | None = None, batch_id: str | None = None,
                   created_at: Any = None, overrides: Path | None = None, ended_at: Any = None) -> str:
    """Ingest results files into the store; returns one line for the log. created_at is the
    batch's creation time as the API reported it (ISO 8601): the day its results are priced
    at. ended_at: the API's end time, recorded for `reconcile --batch-day ended`.
    overrides: the --prices file (else CACHECAST_PRICES)."""
    from .. import store
    from ..store.ingest import ingest_paths
    from ..facts.money import overrides_path

    conn = store.connect(Path(db))
    try:
        reports = ingest_paths(conn, [Path(f) for f in files], batch_id=batch_id, manifest=manifest, progress=False,
                               overrides=overrides_path(overrides), created_at=created_at,
                               created_at_source="api" if created_at else None)
        if ended_at and batch_id:
            from ..store.ingest import batch_time

            conn.execute(store.query("analyse/reconcile.sql", "record_ended_at"),
                         {"batch_id": batch_id, "ended_at": batch_time(ended_at)})
    finally:
        conn.close()
    return "; ".join(f"ingested {r.summary()}" for r in reports)


def audit_summary(db: Path, batch_id: str | None = None) -> dict:
    """The `audit --json` object for the store (one batch when batch_id is given)."""
    from .. import store
    from .audit import summary

    conn = store.connect(Path(db), read_only=True)
    try:
        return summary(conn, batch_id)
    finally:
        conn.close()
