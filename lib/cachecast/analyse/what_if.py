"""`--prices FILE` on a read command (audit, ledger, their reports) is a what-if, unless
--store-prices says to keep it.

It used to re-price the store for every later command: one `ledger --prices cheap.yaml`
and every later audit, ledger and report priced with it, silently. Now the re-pricing
(the same `snapshot_prices` ingest uses) runs inside a transaction on the command's own
connection that is never committed: every query of that connection sees the file's rates,
and the store is left as it was. `--store-prices` commits it instead (audit.reprice).
"""
from __future__ import annotations

from pathlib import Path

import duckdb

from .. import store


def reprice(conn: duckdb.DuckDBPyConnection, overrides: Path | None) -> int:
    """`--prices FILE --store-prices` (audit, ledger): snapshot the store's missing prices and re-price
    the models the file covers (recorded with the file as their source), committed, so later
    commands price with them too; returns the rows written."""
    from ..store.ingest import snapshot_prices
    from ..facts.pricing import overrides_path

    path = overrides_path(overrides)
    if path is None:
        return 0
    with store.transaction(conn):
        return snapshot_prices(conn, overrides=path, replace=True)


def what_if_prices(conn: duckdb.DuckDBPyConnection, overrides: Path | None) -> int:
    """`--prices FILE` without --store-prices: the same re-pricing, for this connection only.
    It stays in a transaction that is never committed (`end_what_if` rolls it back; closing the
    connection does too), so a one-off what-if never changes the prices later commands use."""
    from ..facts.pricing import overrides_path
    from ..store.ingest import snapshot_prices

    path = overrides_path(overrides)
    if path is None:
        return 0
    conn.execute("BEGIN TRANSACTION")
    try:
        return snapshot_prices(conn, overrides=path, replace=True)
    except BaseException:
        conn.execute("ROLLBACK")
        raise


def end_what_if(conn: duckdb.DuckDBPyConnection, overrides: Path | None) -> None:
    """Roll back what `what_if_prices` did (nothing when no prices file was in use)."""
    from ..facts.pricing import overrides_path

    if overrides_path(overrides) is not None:
        conn.execute("ROLLBACK")


def priced(conn: duckdb.DuckDBPyConnection, overrides: Path | None, keep: bool) -> int:
    """--prices for a read command: stored for later commands when `keep` (--store-prices),
    else a what-if for this connection only (see what_if_prices)."""
    return reprice(conn, overrides) if keep else what_if_prices(conn, overrides)
