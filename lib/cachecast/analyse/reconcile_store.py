"""Reconciliations kept in the store (schema v6): saved by `cachecast reconcile`, read by the
ledger ("reconciled through DATE"), notebooks/04_reconcile.ipynb and `reconcile --csv`.

Reading needs no key and no network: the notebook charts what the last reconcile found.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from .. import store
from .._csv import write_rows
from ..errors import InputError
from .reconcile import FILE, SOURCE, Reconciliation, cells_frame

CELL_COLUMNS = ["day", "model", "cost_type", "token_type", "context_window", "inference_geo", "billed_usd", "list_usd",
                "audited_usd", "difference_usd", "difference_pct", "billed_tokens", "audited_tokens",
                "difference_tokens", "flagged", "cause", "explanation"]


def save(conn: duckdb.DuckDBPyConnection, rec: Reconciliation) -> date | None:
    """Store the run, its cells and days in one transaction; returns (and sets on `rec`) the
    store's reconciled-through day afterwards."""
    conn.execute("BEGIN TRANSACTION")
    try:
        conn.execute(store.query(FILE, "insert_reconciliation"), {
            "reconcile_id": rec.reconcile_id, "ran_at": _naive(rec.ran_at), "since": rec.since, "until": rec.until,
            "filters": json.dumps(rec.filters.params(), sort_keys=True), "source": SOURCE,
            "amount_unit": rec.amount_unit, "batch_day": rec.batch_day, "tolerance_pct": rec.tolerance_pct,
            "tolerance_usd": rec.tolerance_usd, "report_refreshed_at": _naive(rec.refreshed_at),
            "billed_usd": rec.billed_usd, "audited_usd": rec.audited_usd, "cells": len(rec.cells),
            "flagged": len(rec.flagged), "notes": json.dumps(rec.notes)})
        cells = [(rec.reconcile_id, c.day, c.model, c.cost_type, c.token_type, c.context_window, c.inference_geo,
                  c.billed, c.listed, c.audited, c.billed_tokens, c.audited_tokens, c.flagged, c.cause, c.explanation)
                 for c in rec.cells]
        if cells:
            conn.executemany(store.query(FILE, "insert_cell"), cells)
        days = [(rec.reconcile_id, d["day"], d["billed_usd"], d["audited_usd"], d["flagged"], d["matched"])
                for d in rec.days()]
        if days:
            conn.executemany(store.query(FILE, "insert_day"), days)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    rec.reconciled_through = reconciled_through(conn)
    return rec.reconciled_through


def _naive(value: Any) -> Any:
    """UTC without tzinfo: DuckDB TIMESTAMP columns hold UTC."""
    if value is None or getattr(value, "tzinfo", None) is None:
        return value
    from datetime import timezone

    return value.astimezone(timezone.utc).replace(tzinfo=None)


def reconciled_through(conn: duckdb.DuckDBPyConnection) -> date | None:
    """The last day up to which every day with spend in the store was reconciled and matched
    (the SQL says exactly how); None when there is none, or the store predates schema v6."""
    if not _has_tables(conn):
        return None
    return conn.execute(store.query(FILE, "reconciled_through")).fetchone()[0]


def _has_tables(conn: duckdb.DuckDBPyConnection) -> bool:
    return conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' "
                        "AND table_name IN ('reconciliations', 'reconcile_days')").fetchone()[0] == 2


def reconciled_line(conn: duckdb.DuckDBPyConnection) -> str:
    """One sentence for the ledger: through which day the store matches Anthropic's bill."""
    through = reconciled_through(conn)
    runs = _rows(conn, "reconciliations") if _has_tables(conn) else []
    if not runs:
        return "Not reconciled with Anthropic's cost report yet (cachecast reconcile --db DB, with an Admin API key)."
    last = runs[0]
    verdict = (f"{last['flagged']} of {last['cells']} cells flagged" if last["flagged"]
               else f"all {last['cells']} cells matched")
    head = (f"Reconciled with Anthropic's cost report through {through}" if through
            else "Not reconciled through any day yet: the first day with spend did not match or was not compared")
    return (f"{head} (last reconcile {last['ran_at']:%Y-%m-%d %H:%M} UTC, {last['since']} to {last['until']}: "
            f"{verdict}).")


def _rows(conn: duckdb.DuckDBPyConnection, name: str, **params: Any) -> list[dict]:
    cur = conn.execute(store.query(FILE, name), params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


# ------------------------------------------------------------------ CSV


def write_csv(rec: Reconciliation, out_dir: str | Path) -> list[Path]:
    """DIR/reconcile_cells.csv and DIR/reconcile_days.csv, text cells neutralised against
    formula injection (cachecast._csv)."""
    from .._csv import CSV_TABLES
    from .._output import check_output_dir

    out = Path(out_dir)
    check_output_dir(out, None, "cachecast CSV output", "--csv", ours=CSV_TABLES)  # as audit and ledger --csv
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out}: cannot create the directory ({exc.strerror or exc})") from None
    frame = cells_frame(rec.cells)
    cells = write_rows(out / "reconcile_cells.csv", CELL_COLUMNS, frame[CELL_COLUMNS].itertuples(index=False))
    days = rec.contract()["days"]
    day_columns = ["day", "billed_usd", "audited_usd", "difference_usd", "flagged"]
    daily = write_rows(out / "reconcile_days.csv", day_columns, ([d[k] for k in day_columns] for d in days))
    return [cells, daily]


# ------------------------------------------------------------------ the notebook's view


@dataclass
class ReconcileView:
    """Everything notebooks/04_reconcile.ipynb shows, read from the store (no API call) on a
    read-only connection that open_reconcile closes before it returns, so a kernel never keeps
    the store locked against the CLI."""

    db: Path
    run: dict[str, Any]
    through: date | None
    day_rows: list[dict[str, Any]]
    cell_rows: list[dict[str, Any]]
    run_rows: list[dict[str, Any]]

    @property
    def reconcile_id(self) -> str:
        return self.run["reconcile_id"]

    @property
    def simulated(self) -> bool:
        """The store's lines in the range include cachecast.sim's (the run's notes say so)."""
        return any("SIMULATED" in note for note in json.loads(self.run["notes"]))

    def summary_lines(self) -> list[str]:
        from .audit import money

        r = self.run
        billed, audited = Decimal(r["billed_usd"]), Decimal(r["audited_usd"])
        diff = billed - audited
        filters = json.loads(r["filters"]) or {}
        shown = "; ".join(f"{k}={','.join(v)}" for k, v in filters.items()) or "none (the whole organization)"
        lines = [f"Reconcile {r['reconcile_id']} ({r['ran_at']:%Y-%m-%d %H:%M} UTC): {r['since']} to {r['until']}, "
                 f"filters: {shown}.",
                 f"Billed {money(billed)}, audited {money(audited)}, difference {'+' if diff >= 0 else '-'}"
                 f"{money(abs(diff))}; {r['cells']:,} cells compared, {r['flagged']:,} flagged (tolerance "
                 f"{Decimal(r['tolerance_pct']).normalize():f}% or ${Decimal(r['tolerance_usd']).normalize():f}).",
                 f"Reconciled through {self.through}." if self.through else
                 "The store is not reconciled through any day yet."]
        return lines + list(json.loads(r["notes"]))

    def days(self):
        """Per day: billed and audited dollars (float), long format for the chart."""
        import pandas as pd

        rows = []
        for d in self.day_rows:
            for series, column in (("billed (Anthropic)", "billed_usd"), ("audited (cachecast)", "audited_usd")):
                rows.append({"day": d["day"].isoformat(), "series": series, "usd": float(d[column]),
                             "flagged": int(d["flagged"])})
        return pd.DataFrame(rows, columns=["day", "series", "usd", "flagged"])

    def cells(self, flagged_only: bool = False):
        import pandas as pd

        frame = pd.DataFrame(self.cell_rows)
        if frame.empty:
            return pd.DataFrame(columns=["day", "model", "component", "billed_usd", "audited_usd", "difference_usd"])
        frame["component"] = frame["token_type"].fillna(frame["cost_type"])
        for col in ("billed_usd", "list_usd", "audited_usd"):
            frame[col] = frame[col].map(lambda v: round(float(v), 6))
        frame["difference_usd"] = (frame["billed_usd"] - frame["audited_usd"]).round(6)
        frame["day"] = frame["day"].map(lambda d: d.isoformat())
        if flagged_only:
            frame = frame[frame["flagged"]]
        columns = ["day", "model", "component", "context_window", "inference_geo", "billed_usd", "audited_usd",
                   "difference_usd", "billed_tokens", "audited_tokens"]
        if flagged_only:
            columns += ["cause", "explanation"]
        return frame[columns].reset_index(drop=True)

    def runs(self):
        import pandas as pd

        return pd.DataFrame([{"reconcile_id": r["reconcile_id"], "ran_at": f"{r['ran_at']:%Y-%m-%d %H:%M}",
                              "since": r["since"].isoformat(), "until": r["until"].isoformat(),
                              "billed_usd": float(r["billed_usd"]), "audited_usd": float(r["audited_usd"]),
                              "cells": r["cells"], "flagged": r["flagged"]} for r in self.run_rows])


def open_reconcile(db_path: str | Path, reconcile_id: str | None = None) -> ReconcileView:
    """The stored reconciliation asked for (default: the latest); one sentence when none."""
    from .._shown_paths import locate

    db = locate(db_path)
    given = db_path  # as the user wrote it: the sentence must say which store
    conn = store.connect_reader(db)
    try:
        runs = _rows(conn, "reconciliations")
        if not runs:
            raise InputError(f"{given}: no reconciliation stored yet; run cachecast reconcile --db {given} first "
                             "(it needs ANTHROPIC_ADMIN_KEY)")
        run = runs[0] if not reconcile_id else next((r for r in runs if r["reconcile_id"] == reconcile_id), None)
        if run is None:
            raise InputError(f"{given}: no reconciliation '{reconcile_id}'; stored: "
                             f"{', '.join(r['reconcile_id'] for r in runs[:5])}")
        ids = {"reconcile_id": run["reconcile_id"]}
        return ReconcileView(db=db, run=run, through=reconciled_through(conn), run_rows=runs,
                             day_rows=_rows(conn, "days_of", **ids), cell_rows=_rows(conn, "cells_of", **ids))
    finally:
        conn.close()
