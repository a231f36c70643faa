"""What notebooks/02_audit_batch.ipynb shows beyond cachecast.audit: the audit opened the
way a notebook should open a store, the hit-rate orders, the cache misses by cause, and
the other anomalies grouped by kind with one explanation per kind.

Why a view of its own (`open_audit` -> AuditView): a kernel that keeps a DuckDB store open
locks it, so with the notebook open in JupyterLab papermill and the CLI said "database is
busy". The view opens the store read-only for each call and closes it before returning, so
Lab, papermill and the CLI share one store; only ingesting `results_glob` or re-pricing
writes, in a connection of its own that is closed at once. What it shows of local paths
goes through cachecast._shown_paths (a report leaves the machine).

Why grouped: a batch of 1,000 requests listed 139 rows repeating the same sentence. A
reader needs each kind once, what it means and what it cost, then a few examples. Misses
come from cachecast.audit.miss_causes (issue 12), which names the unavoidable first wave
of a batch as such (`first_wave`, not "a miss that should have been a hit").
"""
from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import pandas as pd

from .. import store
from .._shown_paths import locate, shown_path
from ..analyse import audit
from ..errors import InputError
from ..analyse.tables import LABELS as AUDIT_LABELS
from ..analyse.what_if import what_if_prices

FIRST_WAVE = "first_wave"
MISS_KINDS = {FIRST_WAVE, "repeat_write", "write_never_read", "prefix_drift", "ttl_mismatch"}
# anomaly kinds the miss table already explains (prefix_mismatch is its prefix_drift)
COVERED = MISS_KINDS | {"prefix_mismatch"}

EXPLAIN = {
    FIRST_WAVE: "wrote the prefix while the first write of it was still in flight (parallel first wave, "
                "before any request could read it): unavoidable in a batch",
    "repeat_write": "wrote a prefix again after other requests had already read it: the entry expired "
                    "(5m TTL in a long batch) or the best-effort cache missed; a miss that could have been a hit",
    "prefix_drift": "its prefix differs from its treatment's usual one: something before the breakpoint varies",
    "write_never_read": "cache writes no later request read: the write premium was paid for nothing",
    "no_cache_activity": "the manifest marks it cacheable, yet it neither wrote nor read the cache "
                         "(prefix below the model's minimum, or no cache_control reached the API)",
    "prefix_mismatch": "its prefix differs from its treatment's usual one: something before the breakpoint varies",
    "ttl_mismatch": "wrote at a TTL other than the one requested",
    "ttl_assumed": "usage had no TTL breakdown and the manifest none either: priced as 5m writes",
    "errored": "the request errored (not billed); see Errors below",
    "expired": "the batch ended before it ran (not billed)",
    "canceled": "the batch was canceled before it ran (not billed)",
}
ORDER = [FIRST_WAVE, "repeat_write", "write_never_read", "prefix_drift", "no_cache_activity", "prefix_mismatch", "ttl_mismatch",
         "ttl_assumed", "errored", "expired", "canceled"]

DEMO_PROJECTION = "projection-pilot.json"  # what `cachecast demo` writes beside its store (cli/demo.py)
FILE_ORDER = "results-file order"
SUBMISSION_ORDER = "submission order (manifest rows)"
BOTH_ORDERS = "results-file order, the same as submission order"
ORDER_NOTE = ("The results file lists requests in an order the API does not promise to be the order in which "
              "they finished, so a rise or dip here is a hint, not a timeline.")


def latest_batch(db_path: str | Path) -> str | None:
    """The batch ingested last (None for an empty or missing store): what `batch_id=None` audits."""
    db = locate(db_path)
    if db is None or not Path(db).exists():
        return None
    conn = store.connect_reader(db)
    try:
        frame = audit.batches(conn)
    finally:
        conn.close()
    if not len(frame):
        return None
    return str(frame.sort_values(["last_ingest_at", "batch_id"]).iloc[-1]["batch_id"])


@dataclass
class AuditView:
    """Everything notebooks/02_audit_batch.ipynb shows. Holds no connection: each method
    opens the store read-only (store.connect_reader) and closes it before returning."""

    db: Path
    batch_id: str | None
    totals: audit.Totals
    ingested: list = field(default_factory=list)  # ingest.FileReport of files ingested by open_audit
    prices: Path | None = None  # a --prices what-if: applied to each reader, never to the store

    @contextmanager
    def _run(self) -> Iterator[audit.AuditRun]:
        conn = store.connect_reader(self.db)
        try:
            what_if_prices(conn, self.prices)
            yield audit.AuditRun(conn=conn, db=self.db, batch_id=self.batch_id, ingested=self.ingested,
                                 totals=self.totals)
        finally:
            conn.close()

    @property
    def simulated(self) -> bool:
        return self.totals.simulated

    def _words(self) -> audit.AuditRun:
        """An AuditRun without a connection, for what needs none: its sentences, with the
        store and the ingested files as a report shows them."""
        shown = [dataclasses.replace(r, source_file=shown_path(r.source_file)) for r in self.ingested]
        return audit.AuditRun(conn=None, db=Path(shown_path(self.db)), batch_id=self.batch_id,  # type: ignore[arg-type]
                              ingested=shown, totals=self.totals)

    def summary_lines(self) -> list[str]:
        return self._words().summary_lines()

    def treatments(self):
        with self._run() as run:
            return run.treatments()

    def cost_components(self):
        return audit.cost_components(self.totals)

    def _submission_order(self) -> str:
        with self._run() as run:
            return audit.submission_order(run.conn, self.batch_id)

    def hit_rate(self, bins: int = 40) -> pd.DataFrame:
        """Hit rate per slice in results-file order and, when every succeeded request has a
        manifest row and the file lists them in another order, in submission order too
        (column `order` says which)."""
        with self._run() as run:
            known = audit.submission_order(run.conn, self.batch_id)
            frames = [run.hit_rate(bins).assign(order=BOTH_ORDERS if known == "same" else FILE_ORDER)]
            if known == "differs":
                frames.append(audit.hit_rate_over_order(run.conn, self.batch_id, bins, order="submission")
                              .assign(order=SUBMISSION_ORDER))
        return pd.concat(frames, ignore_index=True)

    def order_note(self) -> str:
        """The line over the order chart: what its order is, and what submission order adds."""
        known = self._submission_order()
        if known == "differs":
            return (ORDER_NOTE + " Beside it, the same requests in submission order (the row order of the build's "
                    "manifest, the order they were written into the batch files).")
        if known == "same":
            return (ORDER_NOTE + " Here the file lists them in submission order (the row order of the build's "
                    "manifest), so one panel shows both.")
        return (ORDER_NOTE + " With a manifest for every request (ingest --manifest BUILD_DIR) the chart also shows "
                "submission order.")

    def tokens(self):
        with self._run() as run:
            return run.tokens()

    def miss_causes(self, *args: Any, **kwargs: Any):
        with self._run() as run:
            return run.miss_causes(*args, **kwargs)

    def anomalies(self, limit: int = 200):
        with self._run() as run:
            return run.anomalies(limit)

    def errors(self):
        with self._run() as run:
            return run.errors()

    def iterations(self):
        """Server-side turns by type and model (cachecast.analyse.billed)."""
        with self._run() as run:
            return run.iterations()

    def truncation(self):
        """Answers cut off at max_tokens per model and treatment (cachecast.analyse.billed)."""
        with self._run() as run:
            return run.truncation()

    def billed_lines(self) -> list[str]:
        with self._run() as run:
            return run.billed_lines()

    def quarantine(self):
        """Quarantined lines, each file as a report shows it."""
        with self._run() as run:
            frame = run.quarantine()
        if "source_file" in frame and len(frame):
            frame = frame.assign(source_file=[shown_path(f) for f in frame["source_file"]])
        return frame

    def projection_note(self, projection: str | Path | dict | None) -> str:
        note = self._words().projection_note(_located(projection))
        demo = self.db.parent / DEMO_PROJECTION
        if projection in (None, "") and self.db.parent.name == "demo" and demo.is_file():
            note += f" The demo's projection of this pilot is {shown_path(demo)}."
        return note

    def projected_vs_actual(self, projection: str | Path | dict | None) -> pd.DataFrame:
        """audit.projected_vs_actual with each row in its own unit, as text: requests as a
        count, tokens to one decimal, dollars as money, the hit rate in % (its difference in
        percentage points)."""
        frame = audit.projected_vs_actual(self.totals, _located(projection))
        if not len(frame):
            return frame
        rows = []
        for r in frame.to_dict("records"):
            shown = {k: _in_unit(r["metric"], r[k], k == "difference") for k in VALUE_COLUMNS}
            pct = r["difference_pct"]
            rows.append({"metric": r["metric"], **shown,
                         "difference_pct": "" if pct is None or pct != pct else f"{pct:+.1f}%"})
        return pd.DataFrame(rows, columns=list(frame.columns))


VALUE_COLUMNS = ("projected", "actual", "actual_scaled", "difference")


def _in_unit(metric: str, value: Any, signed: bool) -> str:
    """One value of a projected-vs-actual row in the row's unit."""
    from .display import money

    if value is None or value != value:
        return ""
    sign = "+" if signed else ""
    if metric.endswith("($)"):
        text = money(value)
        return f"+{text}" if signed and float(value) >= 0 else text
    if "hit rate" in metric:
        return f"{float(value) * 100:{sign}.1f} pp" if signed else f"{float(value):.1%}"
    if metric == "requests":
        return f"{float(value):{sign},.0f}"
    return f"{float(value):{sign},.1f}"


def _located(projection: str | Path | dict | None):
    """A projection file found from notebooks/ as from the project root (JSON text and dicts as given)."""
    if isinstance(projection, str) and not projection.lstrip().startswith("{"):
        return locate(projection)
    return projection


def open_audit(db_path: str | Path, *, results_glob: str | None = None, manifest_dir: str | Path | None = None,
               batch_id: str | None = None, overrides: str | Path | None = None) -> AuditView:
    """The audit of `batch_id` (None: the batch `results_glob` went to when exactly one, else
    the batch ingested last) in the store at `db_path` (found as cachecast._shown_paths.locate
    finds it). `results_glob` is ingested first, in one short write connection; `overrides`
    (else CACHECAST_PRICES) re-prices the models it covers as a what-if on each reader
    (analyse/what_if.py): the store keeps its prices."""
    from ..facts.money import overrides_path
    from ..store import ingest

    db = locate(db_path)
    if db is None:
        raise InputError("db_path is empty; give the DuckDB store to audit")
    if not results_glob and not Path(db).exists():
        raise store.missing_store(db)
    reports: list = []
    prices = overrides_path(Path(overrides) if overrides else None)
    if results_glob:
        conn = store.connect(db)
        try:
            reports = ingest.ingest_paths(conn, [results_glob], batch_id=batch_id, manifest=locate(manifest_dir),
                                          progress=False, overrides=prices)
        finally:
            conn.close()
    if batch_id is None:
        ids = {r.batch_id for r in reports}
        batch_id = ids.pop() if len(ids) == 1 else (None if reports else latest_batch(db))
    conn = store.connect_reader(db)
    try:
        what_if_prices(conn, prices)
        totals = audit.totals(conn, batch_id)
    finally:
        conn.close()
    return AuditView(db=Path(db), batch_id=batch_id, totals=totals, ingested=reports, prices=prices)


def misses(run: Any, per_kind: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per cause, the first `per_kind` writes of each cause) for the run; the batch
    column only when there is more than one batch."""
    summary, rows = run.miss_causes()
    if "batch_id" in summary and summary["batch_id"].nunique() <= 1:
        summary = summary.drop(columns="batch_id")
    keep = [c for c in ("batch_id", "kind", "line_no", "custom_id", "treatment", "written_tokens", "usd_lost",
                        "reason", "api_reason") if c in rows]
    first = rows.groupby("kind", sort=False).head(per_kind)[keep] if len(rows) else rows.reindex(columns=keep)
    rank = {k: i for i, k in enumerate(ORDER)}
    first = first.assign(_r=first["kind"].map(lambda k: rank.get(k, len(ORDER)))).sort_values(["_r"], kind="stable")
    summary_cols = [c for c in ("batch_id", "kind", "avoidable", "requests", "written_tokens", "usd_lost",
                                "explanation", "api_reasons") if c in summary]
    return _without_empty(summary[summary_cols], API_COLUMNS), _without_empty(first.drop(columns="_r"), API_COLUMNS)


API_COLUMNS = ("api_reason", "api_reasons")  # the API's own miss reasons: only when some line carried one


def _without_empty(frame: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """`frame` without those of `columns` that hold nothing (a column of blanks tells nothing)."""
    empty = [c for c in columns if c in frame and not frame[c].map(lambda v: v not in (None, "") and v == v).any()]
    return frame.drop(columns=empty).reset_index(drop=True)


def other_anomalies(run: Any) -> pd.DataFrame:
    """Anomalies the miss table does not cover (no cache activity, assumed TTLs, requests
    that did not run), one row per kind."""
    frame = run.anomalies(limit=10**9)
    return by_kind(frame[~frame["kind"].isin(COVERED)] if len(frame) else frame)


def by_kind(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per kind: requests, money lost where countable, what it means, one example."""
    columns = ["kind", "requests", "usd_lost", "meaning", "example"]
    if not len(frame):
        return pd.DataFrame(columns=columns)
    rows = []
    for kind, group in frame.groupby("kind", sort=False):
        lost = pd.to_numeric(group["usd_lost"], errors="coerce")
        example = group.iloc[0]
        rows.append({"kind": kind, "requests": len(group),
                     "usd_lost": float(lost.sum()) if lost.notna().any() else None,
                     "meaning": EXPLAIN.get(kind, ""),
                     "example": f"{example['custom_id']} (line {int(example['line_no'])}): {example['reason']}"})
    out = pd.DataFrame(rows, columns=columns)
    out["rank"] = [ORDER.index(k) if k in ORDER else len(ORDER) for k in out["kind"]]
    return out.sort_values(["rank", "kind"]).drop(columns="rank").reset_index(drop=True)


def examples(frame: pd.DataFrame, per_kind: int = 5) -> pd.DataFrame:
    """The first `per_kind` anomalies of each kind, in results-file order (not the whole list:
    the rows of one kind say the same thing)."""
    columns = ["kind", "file_rank", "line_no", "custom_id", "treatment", "usd_lost"]
    if not len(frame):
        return pd.DataFrame(columns=columns)
    rank = {k: i for i, k in enumerate(ORDER)}
    ordered = frame.assign(_r=frame["kind"].map(lambda k: rank.get(k, len(ORDER))))
    ordered = ordered.sort_values(["_r", "file_rank"]).groupby("kind", sort=False).head(per_kind)
    return ordered[columns].reset_index(drop=True)


LABELS = {**AUDIT_LABELS, "kind": "cause", "avoidable": "avoidable", "written_tokens": "tokens written",
          "explanation": "what it means", "api_reasons": "API's reasons", "api_reason": "API's reason", "requests": "requests", "usd_lost": "lost $", "meaning": "what it means",
          "example": "example", "file_rank": "file order", "line_no": "line", "custom_id": "custom_id",
          "treatment": "treatment"}


# ------------------------------------------------------------------ beyond the tokens (issue 19)

BILLED_LABELS = {"turn_type": "turn", "executor": "executor's own", "turns": "turns",
                 "input_tokens": "input", "cache_creation_input_tokens": "cache writes",
                 "cache_read_input_tokens": "cache reads", "output_tokens": "output", "cost_usd": "cost $",
                 "priced": "priced", "succeeded": "succeeded", "truncated": "cut off", "share": "share cut off",
                 "truncated_cost_usd": "spent on them $", "truncated_output_tokens": "their output tokens",
                 "model": "model", "treatment": "treatment", "requests": "requests"}
TRUNCATION_FORMATS = {"share": ".1%", "truncated_cost_usd": "$4", "truncated_output_tokens": ",d"}


def billed(run: Any) -> list:
    """What notebook 02 shows under "Beyond the tokens": server-side turns (usage.iterations)
    each at its model's rates, server-tool counters without a price, answers cut off at
    max_tokens per model and treatment with what they cost, and the warnings."""
    from . import display as d

    lines = run.billed_lines() or ["No server-side turns, no unpriced server tool and no answer cut off at max_tokens."]
    return [d.text(*lines),
            d.table(run.iterations(), {"cost_usd": "$4"}, labels=BILLED_LABELS,
                    caption="Server-side turns (usage.iterations), each at its own model's rates",
                    empty="no server-side turns"),
            d.table(run.truncation(), TRUNCATION_FORMATS, labels=BILLED_LABELS,
                    caption="Answers cut off at max_tokens, per model and treatment", empty="no succeeded answers")]


def truncation(view: Any) -> list:
    """Notebook 03: the run's answers cut off at max_tokens, per model and treatment (the
    ledger's notes carry the warnings)."""
    from . import display as d

    return [d.table(view.truncation(), TRUNCATION_FORMATS, labels=BILLED_LABELS,
                    caption="Answers cut off at max_tokens, per model and treatment", empty="no succeeded answers")]

