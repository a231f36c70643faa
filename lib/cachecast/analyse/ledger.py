"""The run ledger: after each batch, how much of the run's budget is spent, what the rest will
cost at the hit rates actually seen, and whether to go on.

A run is every build made from one config (run_name + config fingerprint, from build.json);
`cachecast ingest --manifest BUILD` links the build and its batches to the run, with the
config's budget as it was at build time (cachecast.store.record_run).

Why the forecast is built this way:

* requests left = planned (distinct custom_ids of the run's manifests) minus those that
  succeeded in any batch of the run: errored, canceled and expired requests must be sent
  again, and a request that succeeded twice (a retry that raced) is not planned twice.
* the rest is priced at the audited cost per succeeded request of the same treatment and
  model (the manifest's model), because treatments differ in output length and hit rate;
  a group no batch has reached yet falls back to its treatment, then to the run's mean.
* the low-high range is the spread between batches: the cheapest and the dearest batch's
  cost per succeeded request of each group. One batch gives no spread (low = high).
* until a batch of the run has succeeded requests, the costs come from the pilot: the most
  recently active other run with results (a run named like "pilot" first). `basis` says
  which was used.
* money is exact: DECIMAL sums from DuckDB, Decimal arithmetic here, floats only in the
  JSON (rounded to micro-dollars, as the audit contract does).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from .. import store
from .audit import money
from .billed import truncation_rows, truncation_warnings
from ..facts.money import usd
from ..errors import InputError, PriceError

FILE = "analyse/ledger.sql"
CONTRACT_KEYS = ("run", "budget_usd", "requests_planned", "requests_succeeded", "requests_left", "spent_usd",
                 "no_cache_usd", "savings_usd", "remaining_budget_usd", "forecast_usd", "forecast_low_usd",
                 "forecast_high_usd", "within_budget", "batches")
BATCH_KEYS = ("batch_id", "created_at", "requests", "succeeded", "errored", "token_hit_rate", "cost_usd",
              "no_cache_cost_usd")


@dataclass
class Group:
    """Requests of one treatment and model: planned, succeeded, left, and what each left costs."""

    treatment: str
    model: str
    planned: int
    succeeded: int
    cost_per_request: Decimal = Decimal(0)  # audited mean per succeeded request
    low: Decimal = Decimal(0)  # cheapest batch's cost per succeeded request
    high: Decimal = Decimal(0)  # dearest batch's
    source: str = "none"  # 'treatment and model' | 'treatment' | 'run mean' | 'none'

    @property
    def left(self) -> int:
        return max(self.planned - self.succeeded, 0)


@dataclass
class Ledger:
    """A run against its budget (ledger()); `contract()` is the `ledger --json` object."""

    run_id: str
    run_name: str
    budget_usd: Decimal | None
    budget_source: str | None
    batches: list[dict]
    groups: list[Group]
    spent_usd: Decimal  # batches + probes
    batch_cost_usd: Decimal
    no_cache_usd: Decimal
    probe_cost_usd: Decimal
    probes: int
    basis: str  # 'run' | 'pilot' | 'none'
    basis_run: str | None  # the run whose costs priced the forecast
    simulated: bool = False
    notes: list[str] = field(default_factory=list)
    truncation: list[dict] = field(default_factory=list)  # per model and treatment (cachecast.analyse.billed)
    reconciled_through: date | None = None  # the store matches Anthropic's bill through this day (reconcile)
    reconciled: str = ""  # that, in one sentence

    @property
    def planned(self) -> int:
        return sum(g.planned for g in self.groups)

    @property
    def succeeded(self) -> int:
        return sum(g.succeeded for g in self.groups)

    @property
    def left(self) -> int:
        return sum(g.left for g in self.groups)

    def _forecast(self, attr: str) -> Decimal:
        return self.spent_usd + sum((g.left * getattr(g, attr) for g in self.groups), Decimal(0))

    @property
    def forecast_usd(self) -> Decimal:
        return self._forecast("cost_per_request")

    @property
    def forecast_low_usd(self) -> Decimal:
        return self._forecast("low")

    @property
    def forecast_high_usd(self) -> Decimal:
        return self._forecast("high")

    @property
    def remaining_budget_usd(self) -> Decimal | None:
        return None if self.budget_usd is None else self.budget_usd - self.spent_usd

    @property
    def within_budget(self) -> bool | None:
        if self.budget_usd is None or (self.basis == "none" and self.left):
            return None
        return self.forecast_high_usd <= self.budget_usd

    def contract(self) -> dict[str, Any]:
        """The `ledger --json` object: DESIGN.md's keys and types, then extra keys after them."""
        out: dict[str, Any] = {
            "run": self.run_name,
            "budget_usd": None if self.budget_usd is None else usd(self.budget_usd),
            "requests_planned": self.planned,
            "requests_succeeded": self.succeeded,
            "requests_left": self.left,
            "spent_usd": usd(self.spent_usd),
            "no_cache_usd": usd(self.no_cache_usd),
            "savings_usd": usd(self.no_cache_usd - self.batch_cost_usd),
            "remaining_budget_usd": None if self.remaining_budget_usd is None else usd(self.remaining_budget_usd),
            "forecast_usd": usd(self.forecast_usd),
            "forecast_low_usd": usd(self.forecast_low_usd),
            "forecast_high_usd": usd(self.forecast_high_usd),
            "within_budget": self.within_budget,
            "batches": [_batch_json(b) for b in self.batches],
            # not in the contract, after it
            "run_id": self.run_id,
            "budget_source": self.budget_source,
            "forecast_basis": self.basis,
            "forecast_basis_run": self.basis_run,
            "probe_cost_usd": usd(self.probe_cost_usd),
            "probes": self.probes,
            "simulated": self.simulated,
            **self._truncated(),
            "reconciled_through": self.reconciled_through.isoformat() if self.reconciled_through else None,
        }
        return out

    def _truncated(self) -> dict[str, Any]:
        from .billed import truncation_json

        cut = truncation_json(self.truncation)
        return {"truncated_requests": cut["requests"], "truncated_share": cut["share"],
                "truncated_cost_usd": cut["cost_usd"], "truncated": cut}


def _batch_json(row: dict) -> dict[str, Any]:
    return {
        "batch_id": row["batch_id"],
        "created_at": _iso(row["created_at"]),
        "requests": int(row["requests"]),
        "succeeded": int(row["succeeded"]),
        "errored": int(row["errored"]),
        "token_hit_rate": float(row["token_hit_rate"]),
        "cost_usd": usd(row["cost_usd"]),
        "no_cache_cost_usd": usd(row["no_cache_cost_usd"]),
        # extra
        "ended_at": _iso(row["ended_at"]),
        "savings_usd": usd(row["savings_usd"]),
        "request_hit_rate": float(row["request_hit_rate"]),
        "truncated": int(row.get("truncated") or 0),
        "truncated_cost_usd": usd(row.get("truncated_cost_usd") or 0),
    }


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    return value.isoformat(timespec="seconds") if isinstance(value, datetime) else str(value)


# ------------------------------------------------------------------ runs


def runs(conn: duckdb.DuckDBPyConnection):
    """Every run in the store, the most recently active first (DataFrame)."""
    return conn.execute(store.query(FILE, "runs")).df()


def resolve_run(conn: duckdb.DuckDBPyConnection, run: str | None = None) -> dict[str, Any]:
    """The run asked for (its run_id, or its run_name: the most recent config of that name),
    or the most recently active run; one sentence when there is none."""
    cur = conn.execute(store.query(FILE, "runs"))
    names = [d[0] for d in cur.description]
    rows = [dict(zip(names, r)) for r in cur.fetchall()]
    if not rows:
        raise InputError("no run in this store: ingest results with --manifest BUILD_DIR (a directory "
                         "`cachecast build` wrote, with its build.json) to link batches to their run")
    if run is None:
        return rows[0]
    for row in rows:
        if run in (row["run_id"], row["run_name"]):
            return row
    known = ", ".join(dict.fromkeys(r["run_name"] for r in rows))
    raise InputError(f"no run '{run}' in this store; runs: {known}")


# ------------------------------------------------------------------ the ledger


def ledger(conn: duckdb.DuckDBPyConnection, run: str | None = None) -> Ledger:
    """The run's batches, spend, budget and forecast at completion (see the module docstring)."""
    info = resolve_run(conn, run)
    run_id = info["run_id"]
    batches = _rows(conn, "run_batches", run_id=run_id)
    unpriced = [b["batch_id"] for b in batches if b.get("unpriced")]
    if unpriced:
        raise PriceError(f"batch {unpriced[0]} has results with no stored price; run the ledger with --prices FILE (--store-prices to keep them)")
    groups = [Group(treatment=r["treatment"], model=r["model"], planned=int(r["planned"]),
                    succeeded=int(r["succeeded"])) for r in _rows(conn, "plan_by_group", run_id=run_id)]
    basis, basis_run, costs = _basis(conn, run_id)
    for g in groups:
        _price_group(g, costs)
    probe_cost, probes = _probes(conn, run_id)
    batch_cost = sum((Decimal(b["cost_usd"]) for b in batches), Decimal(0))
    out = Ledger(run_id=run_id, run_name=info["run_name"],
                 budget_usd=None if info["budget_usd"] is None else Decimal(info["budget_usd"]),
                 budget_source=info["budget_source"], batches=batches, groups=groups,
                 spent_usd=batch_cost + probe_cost, batch_cost_usd=batch_cost,
                 no_cache_usd=sum((Decimal(b["no_cache_cost_usd"]) for b in batches), Decimal(0)),
                 probe_cost_usd=probe_cost, probes=probes, basis=basis, basis_run=basis_run,
                 simulated=any(bool(b["simulated"]) for b in batches),
                 truncation=truncation_rows(_rows(conn, "run_truncation", run_id=run_id)))
    out.notes = _notes(out)
    from .reconcile_store import reconciled_line, reconciled_through

    out.reconciled_through, out.reconciled = reconciled_through(conn), reconciled_line(conn)
    return out


def _rows(conn: duckdb.DuckDBPyConnection, name: str, **params: Any) -> list[dict]:
    cur = conn.execute(store.query(FILE, name), params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def _basis(conn: duckdb.DuckDBPyConnection, run_id: str) -> tuple[str, str | None, list[dict]]:
    """The audited costs that price the rest: the run's own batches, else the pilot's."""
    own = _rows(conn, "cost_by_group", run_ids=[run_id])
    if own:
        return "run", run_id, own
    others = [r for r in _rows(conn, "runs") if r["run_id"] != run_id and r["batches"]]
    others.sort(key=lambda r: "pilot" not in str(r["run_name"]).lower())  # stable: recency within each
    for other in others:
        costs = _rows(conn, "cost_by_group", run_ids=[other["run_id"]])
        if costs:
            return "pilot", other["run_id"], costs
    return "none", None, []


def _price_group(g: Group, costs: list[dict]) -> None:
    """Mean cost per succeeded request of the group, and the cheapest and dearest batch's,
    from the closest match: treatment and model, else treatment, else every group."""
    for source, match in (("treatment and model", lambda c: (c["treatment"], c["model"]) == (g.treatment, g.model)),
                          ("treatment", lambda c: c["treatment"] == g.treatment),
                          ("run mean", lambda c: True)):
        rows = [c for c in costs if match(c)]
        if rows:
            break
    else:
        return
    per_batch: dict[str, list[Decimal]] = {}
    for c in rows:
        n_cost = per_batch.setdefault(c["batch_id"], [Decimal(0), Decimal(0)])
        n_cost[0] += int(c["succeeded"])
        n_cost[1] += Decimal(c["cost_usd"])
    n = sum(v[0] for v in per_batch.values())
    total = sum(v[1] for v in per_batch.values())
    each = [v[1] / v[0] for v in per_batch.values() if v[0]]
    g.cost_per_request, g.low, g.high, g.source = total / n, min(each), max(each), source


def _probes(conn: duckdb.DuckDBPyConnection, run_id: str) -> tuple[Decimal, int]:
    """Synchronous probes of the run's builds (the probes table, when this store has it)."""
    if conn.execute(store.query(FILE, "probes_exist")).fetchone()[0] < 2:
        return Decimal(0), 0
    cost, n = conn.execute(store.query(FILE, "probe_cost"), {"run_id": run_id}).fetchone()
    return Decimal(cost or 0), int(n or 0)


def _notes(led: Ledger) -> list[str]:
    notes = []
    if led.basis == "pilot":
        notes.append(f"No batch of this run has results yet: the rest is priced at the pilot's audited cost per "
                     f"succeeded request (run {led.basis_run}).")
    elif led.basis == "none" and led.left:
        notes.append("No batch of this run or of a pilot has results: there is nothing to forecast from yet "
                     "(the forecast is what is spent).")
    fallback = [g for g in led.groups if g.left and g.source not in ("treatment and model", "none")]
    for g in fallback:
        notes.append(f"{g.treatment} / {g.model}: no audited request of its own yet, priced at the {g.source}'s cost.")
    if len(led.batches) == 1 and led.left:
        notes.append("One batch so far: the range has no spread between batches yet (low = high).")
    if led.budget_usd is None:
        notes.append("The run's config has no budget_usd (or it was not readable at ingest): no budget verdict.")
    if led.probes:
        notes.append(f"Spent includes {led.probes:,} synchronous probe call(s), {money(led.probe_cost_usd)} at "
                     "standard rates.")
    cut = sum(r["truncated"] for r in led.truncation)
    if cut:
        done = sum(r["succeeded"] for r in led.truncation)
        notes.append(f"{cut:,} of {done:,} answers ({cut / done:.1%}) stopped at max_tokens, "
                     f"{money(sum((r['truncated_cost_usd'] for r in led.truncation), Decimal(0)))} spent on them "
                     "(counted as succeeded: sent again, they cost more than the forecast says).")
    notes += [f"Warning: {w}." for w in truncation_warnings(led.truncation)]
    if led.simulated:
        notes.append("SIMULATED DATA: results come from cachecast.sim, not from Anthropic.")
    return notes


# ------------------------------------------------------------------ words and tables


def headline(led: Ledger) -> str:
    """The ledger in one or two sentences."""
    text = (f"Run {led.run_name}: {led.succeeded:,} of {led.planned:,} planned requests succeeded over "
            f"{len(led.batches)} batch(es), {money(led.spent_usd)} spent")
    if led.budget_usd is not None:
        text += f" of a {money(led.budget_usd)} budget ({money(led.remaining_budget_usd)} left)"
    text += (f"; {led.left:,} requests left, forecast at completion {money(led.forecast_usd)} "
             f"(range {money(led.forecast_low_usd)} to {money(led.forecast_high_usd)}, basis: {led.basis})")
    if led.within_budget is not None:
        text += ": within budget" if led.within_budget else ": OVER budget at the high end"
    return text + "."


def batches_frame(led: Ledger):
    """One row per batch, with cumulative spend (DataFrame; money as float dollars)."""
    import pandas as pd

    rows, total = [], Decimal(0)
    for b in led.batches:
        total += Decimal(b["cost_usd"])
        succeeded = int(b["succeeded"])
        rows.append({**_batch_json(b), "canceled": int(b["canceled"]), "expired": int(b["expired"]),
                     "cost_per_succeeded_usd": usd(Decimal(b["cost_usd"]) / succeeded) if succeeded else None,
                     "cumulative_cost_usd": usd(total)})
    columns = ["batch_id", "created_at", "ended_at", "requests", "succeeded", "errored", "canceled", "expired",
               "token_hit_rate", "request_hit_rate", "cost_usd", "no_cache_cost_usd", "savings_usd",
               "truncated", "truncated_cost_usd", "cost_per_succeeded_usd", "cumulative_cost_usd"]
    return pd.DataFrame(rows, columns=columns)


def forecast_frame(led: Ledger):
    """One row per treatment and model: planned, succeeded, left, cost per request (mean,
    low, high) and what the rest will cost."""
    import pandas as pd

    rows = [{"treatment": g.treatment, "model": g.model, "planned": g.planned, "succeeded": g.succeeded,
             "left": g.left, "cost_per_request_usd": usd(g.cost_per_request), "low_usd": usd(g.low),
             "high_usd": usd(g.high), "rest_usd": usd(g.left * g.cost_per_request),
             "rest_low_usd": usd(g.left * g.low), "rest_high_usd": usd(g.left * g.high), "priced_from": g.source}
            for g in led.groups]
    return pd.DataFrame(rows, columns=["treatment", "model", "planned", "succeeded", "left", "cost_per_request_usd",
                                       "low_usd", "high_usd", "rest_usd", "rest_low_usd", "rest_high_usd",
                                       "priced_from"])


def summary_frame(led: Ledger):
    """The contract's scalar figures as one row (for CSV)."""
    import pandas as pd

    row = {k: v for k, v in led.contract().items() if not isinstance(v, (list, dict))}
    return pd.DataFrame([row])


def tables(led: Ledger) -> dict[str, Any]:
    """Every table of the ledger, by file stem (`ledger --csv DIR`)."""
    from .billed import truncation_frame

    return {"ledger_summary": summary_frame(led), "ledger_batches": batches_frame(led),
            "ledger_forecast": forecast_frame(led), "ledger_truncation": truncation_frame(led.truncation)}


def write_csv(conn: duckdb.DuckDBPyConnection, frames: dict[str, Any], out_dir: str | Path) -> list[Path]:
    """Write each DataFrame as DIR/<name>.csv with DuckDB's COPY (header, comma); returns the
    paths. Used by `ledger --csv` and `audit --csv`. DIR gets the checks of every output
    folder (cachecast._output: new, empty, or holding only tables cachecast writes; `/` is
    refused as `export` refuses it); every text cell is made safe from formula injection
    (cachecast._csv); each file appears complete or not at all, and a full disk names it."""
    from .._csv import CSV_TABLES, safe_frame
    from .._output import check_output_dir, writing

    out = Path(out_dir)
    check_output_dir(out, None, "cachecast CSV output", "--csv", ours=CSV_TABLES)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out}: cannot create the directory ({exc.strerror or exc})") from None
    written = []
    cur = conn.cursor()  # its own cursor: the caller's may hold an unfinished result
    try:
        for name, frame in frames.items():
            path = out / f"{name}.csv"
            partial = out / f".{name}.csv.partial"
            cur.register("cc_csv", safe_frame(frame))
            try:
                with writing(path, f"it was not written ({len(written)} earlier table(s) of this command were)"):
                    cur.execute(store.query(FILE, "copy_csv"), {"path": str(partial)}).fetchall()
                partial.replace(path)
            finally:
                cur.unregister("cc_csv")
                partial.unlink(missing_ok=True)
            written.append(path)
    finally:
        cur.close()
    return written


# ------------------------------------------------------------------ the notebook's view


def burn_down_frame(led: Ledger):
    """Cumulative spend after each batch (x = requests succeeded so far), then the forecast
    at completion (x = planned) with its low-high range, for charts.ledger.burn_down."""
    import pandas as pd

    rows = [{"requests_done": 0, "usd": 0.0, "series": "spent", "label": "start"}]
    spent, done = led.probe_cost_usd, 0
    if led.probe_cost_usd:
        rows.append({"requests_done": 0, "usd": usd(spent), "series": "spent", "label": "probes"})
    for b in led.batches:
        spent += Decimal(b["cost_usd"])
        done += int(b["succeeded"])
        rows.append({"requests_done": done, "usd": usd(spent), "series": "spent", "label": b["batch_id"]})
    x_now, x_end = led.succeeded, led.planned
    if led.left and led.basis != "none":
        for series, value in (("forecast", led.forecast_usd), ("forecast low", led.forecast_low_usd),
                              ("forecast high", led.forecast_high_usd)):
            rows.append({"requests_done": x_now, "usd": usd(led.spent_usd), "series": series, "label": "now"})
            rows.append({"requests_done": x_end, "usd": usd(value), "series": series, "label": "completion"})
    return pd.DataFrame(rows)


def trend_frame(led: Ledger):
    """Per batch, in order: token hit rate and cost per succeeded request (long format)."""
    import pandas as pd

    frame = batches_frame(led)
    rows = []
    for order, b in enumerate(frame.to_dict("records"), start=1):
        rows.append({"order": order, "batch_id": b["batch_id"], "measure": "prompt tokens from cache",
                     "value": b["token_hit_rate"]})
        rows.append({"order": order, "batch_id": b["batch_id"], "measure": "cost per succeeded request",
                     "value": b["cost_per_succeeded_usd"]})
    return pd.DataFrame(rows, columns=["order", "batch_id", "measure", "value"])


# reader-facing headers of the ledger tables (notebooks/03_run_ledger.ipynb); the CSV files
# (`ledger --csv`) keep the column names
LABELS = {
    "batch_id": "batch", "created_at": "created (UTC)", "ended_at": "ended (UTC)", "requests": "requests",
    "succeeded": "succeeded", "errored": "errored", "canceled": "canceled", "expired": "expired",
    "token_hit_rate": "tokens from cache", "request_hit_rate": "requests reading", "cost_usd": "cost $",
    "no_cache_cost_usd": "no-cache $", "savings_usd": "saved $", "truncated": "cut off",
    "truncated_cost_usd": "spent on cut-off $", "cost_per_succeeded_usd": "$ per succeeded",
    "cumulative_cost_usd": "spent so far $", "treatment": "treatment", "model": "model", "planned": "planned",
    "left": "left", "cost_per_request_usd": "$ per request", "low_usd": "cheapest batch $",
    "high_usd": "dearest batch $", "rest_usd": "rest $", "rest_low_usd": "rest, low $",
    "rest_high_usd": "rest, high $", "priced_from": "priced from", "run_id": "run id", "run_name": "run",
    "config_fingerprint": "config", "budget_usd": "budget $", "budget_source": "budget from",
    "batches": "batches", "last_activity": "last activity (UTC)",
}


@dataclass
class LedgerView:
    """Everything notebooks/03_run_ledger.ipynb shows (no logic in the notebook). Computed
    once by open_ledger on a read-only connection that is closed before it returns, so a
    kernel never keeps the store locked against papermill or the CLI."""

    db: Path
    ledger: Ledger
    run_list: Any  # runs(): every run in the store (DataFrame)

    def summary_lines(self) -> list[str]:
        from .._shown_paths import shown_path

        reconciled = [self.ledger.reconciled] if self.ledger.reconciled else []
        return [headline(self.ledger), *self.ledger.notes, *reconciled, f"Store: {shown_path(self.db)}."]

    def batches(self):
        """batches_frame for reading: times to the minute, and without the columns that say
        nothing here (no batch ended, canceled, expired or cut off at max_tokens; the CSV keeps
        them all)."""
        frame = batches_frame(self.ledger)
        for col in ("created_at", "ended_at"):
            frame[col] = [None if v is None else str(v).replace("T", " ")[:16] for v in frame[col]]
        quiet = [c for c in ("ended_at", "canceled", "expired", "truncated", "truncated_cost_usd")
                 if not frame[c].map(lambda v: bool(v)).any()]
        return frame.drop(columns=quiet)

    def forecast(self):
        return forecast_frame(self.ledger)

    def burn_down(self):
        return burn_down_frame(self.ledger)

    def trend(self):
        return trend_frame(self.ledger)

    def runs(self):
        return self.run_list

    def truncation(self):
        """Answers of the run cut off at max_tokens, per model and treatment (DataFrame)."""
        from .billed import truncation_frame

        return truncation_frame(self.ledger.truncation)

    def budget(self) -> float | None:
        return None if self.ledger.budget_usd is None else float(self.ledger.budget_usd)


def open_ledger(db_path: str | Path, run: str | None = None, prices: str | Path | None = None) -> LedgerView:
    """The ledger of `run` in the store at `db_path` (found from notebooks/ as from the project
    root), read through store.connect_reader. A --prices file (else CACHECAST_PRICES, which
    `cachecast report --prices` sets) is a what-if for that connection (analyse/what_if.py):
    the store keeps its prices."""
    from .._shown_paths import locate
    from ..facts.money import overrides_path
    from .what_if import what_if_prices

    db = locate(db_path)
    if db is None or not db.exists():
        raise store.missing_store(db or Path(str(db_path)))
    conn = store.connect_reader(db)
    try:
        what_if_prices(conn, overrides_path(locate(prices)))  # nothing without a prices file
        return LedgerView(db=db, ledger=ledger(conn, run), run_list=runs(conn))
    finally:
        conn.close()
