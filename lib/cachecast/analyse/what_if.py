"""`--prices FILE` on a read command (audit, ledger, their reports) is a what-if, unless
--store-prices says to keep it.

Stored, one `ledger --prices cheap.yaml` would price every later audit, ledger and report
with it, silently. So `what_if_prices` gives the command's connection a TEMP copy of price_snapshot (sql/analyse/what_if.sql),
which shadows the stored table for every view and query of that connection, and re-prices
the copy with the same `snapshot_prices` ingest uses: the numbers are the file's, the store
is not written, and it works on read-only connections (the notebooks' readers) too.
`--store-prices` re-prices the stored table instead (`reprice`).
"""
from __future__ import annotations

from pathlib import Path

import duckdb

from .. import store
from ..facts.money import overrides_path

FILE = "analyse/what_if.sql"


def reprice(conn: duckdb.DuckDBPyConnection, overrides: Path | None) -> int:
    """`--prices FILE --store-prices` (audit, ledger): snapshot the store's missing prices and
    re-price the models the file covers (recorded with the file as their source), committed,
    so later commands price with them too; returns the rows written."""
    path = overrides_path(overrides)
    if path is None:
        return 0
    from ..store.ingest import snapshot_prices

    with store.transaction(conn):
        return snapshot_prices(conn, overrides=path, replace=True)


def what_if_prices(conn: duckdb.DuckDBPyConnection, overrides: Path | None) -> int:
    """`--prices FILE` (or CACHECAST_PRICES) for this connection only: its queries price with
    the file, the store keeps its prices. Returns the rows re-priced (0 without a file)."""
    path = overrides_path(overrides)
    if path is None:
        return 0
    from ..store.ingest import snapshot_prices

    q = store.queries(FILE)
    if not conn.execute(q["has_copy"]).fetchone()[0]:
        conn.execute(q["copy"])
        conn.execute(q["copy_key"])
    return snapshot_prices(conn, overrides=path, replace=True)


def priced(conn: duckdb.DuckDBPyConnection, overrides: Path | None, keep: bool) -> int:
    """--prices for a read command: stored for later commands when `keep` (--store-prices),
    else a what-if for this connection only."""
    return reprice(conn, overrides) if keep else what_if_prices(conn, overrides)
