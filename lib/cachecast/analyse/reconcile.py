"""`cachecast reconcile`: does Anthropic's bill match what the store says was spent?

The bill is the organization's cost report and usage report (cachecast.send.analytics),
by UTC day, model, cost type (the report's token types: uncached input, 5m and 1h cache
writes, cache reads, output; then web search, code execution and whatever else it names),
context window and inference geo. The store's side is the same grouping of its succeeded
result lines (view request_costs, each line on its batch's creation day, or its end with
batch_day "ended") plus the synchronous probes it recorded (standard rates, the day sent).
Each cell pairs the two: billed and audited dollars, and tokens (searches for web search).

A cell is flagged when |billed - audited| exceeds the tolerance: the larger of tolerance_usd
and tolerance_pct of the billed amount (of the audited one when nothing is billed). Each flag
gets a cause and a sentence (docs/reconcile.md lists them), decided from what the cell and
its neighbours show, in this order:
  amount_unit      every amount is ~100x (or 1/100) the store's: the unit is not cents
  price_correction the store could not price its lines, or the tokens agree and the rate
                   differs (not by the batch factor): a correction or override is missing
  batch_discount   the tokens agree and the bill is 2x or 0.5x the store's cost
  neighbour_day    the day before or after differs by the opposite amount: the bill put
                   lines on another day than the store did (which day a batch's cost lands
                   on is not documented)
  not_ingested     the bill is higher and a batch of that day, recorded in a build's
                   batches.json, has fewer lines in the store than it ran
  outside_traffic  the bill is higher otherwise: other use of the same key or workspace
  report_lag       the bill is lower on a day the report's data does not fully cover yet
  simulated        the bill is lower and the store's lines there are cachecast.sim's
  not_billed       the bill is lower otherwise (the report's filters leave the lines out,
                   another organization, or the store dated them by their ingest)
Money is exact (Decimal) until display; the JSON contract is in docs/reconcile.md.
"""
from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable

from .. import store
from ..errors import InputError
from ..facts.money import usd
from ..facts.pricing import MILLION
from ..send.analytics import Filters, Report, check_range, fetch

FILE = "analyse/reconcile.sql"
SOURCE = "beta.organization.analytics cost + usage (GET /v1/organizations/analytics/cost, /usage)"
BATCH_DAYS = ("created", "ended")
DEFAULT_TOLERANCE_PCT = Decimal("0.5")
DEFAULT_TOLERANCE_USD = Decimal("0.01")
# the report's token_type (types/beta/organization/beta_analytics_token_type.py) -> the store's
# audited_groups columns (tokens, dollars) and cachecast.send.analytics.UsageRow's field
TOKEN_TYPES = {
    "uncached_input_tokens": ("uncached_input_tokens", "uncached_input_usd", "uncached_input"),
    "cache_creation.ephemeral_5m_input_tokens": ("write_5m_tokens", "write_5m_usd", "write_5m"),
    "cache_creation.ephemeral_1h_input_tokens": ("write_1h_tokens", "write_1h_usd", "write_1h"),
    "cache_read_input_tokens": ("read_tokens", "read_usd", "read"),
    "output_tokens": ("output_tokens", "output_usd", "output"),
}
CAUSES = ("amount_unit", "price_correction", "batch_discount", "neighbour_day", "not_ingested", "outside_traffic",
          "report_lag", "simulated", "not_billed")
Key = tuple  # (day, model, cost_type, token_type, context_window, inference_geo)


@dataclass
class Cell:
    """One day x model x cost component: what the bill says and what the store holds."""

    day: date
    model: str | None
    cost_type: str
    token_type: str | None = None
    context_window: str | None = None
    inference_geo: str | None = None
    billed: Decimal = Decimal(0)
    listed: Decimal = Decimal(0)  # the report's list_amount (before discounts)
    audited: Decimal = Decimal(0)
    billed_tokens: int | None = None  # tokens (searches for web_search); None: the report has no count
    audited_tokens: int | None = None
    billed_tiers: set[str] = field(default_factory=set)
    audited_tiers: set[str] = field(default_factory=set)
    simulated_requests: int = 0
    unpriced_requests: int = 0
    dated_by_ingest: int = 0
    batch_ids: set[str] = field(default_factory=set)
    flagged: bool = False
    cause: str | None = None
    explanation: str | None = None

    @property
    def key(self) -> Key:
        return (self.day, self.model, self.cost_type, self.token_type, self.context_window, self.inference_geo)

    @property
    def difference(self) -> Decimal:
        return self.billed - self.audited

    @property
    def difference_tokens(self) -> int | None:
        if self.billed_tokens is None and self.audited_tokens is None:
            return None
        return (self.billed_tokens or 0) - (self.audited_tokens or 0)

    @property
    def difference_pct(self) -> Decimal | None:
        return None if not self.billed else self.difference / self.billed * 100

    @property
    def component(self) -> str:
        return self.token_type or self.cost_type

    def where(self) -> str:
        parts = [str(self.day), self.model or "(no model)", self.component]
        parts += [p for p in (self.context_window, self.inference_geo) if p]
        return " / ".join(parts)


@dataclass
class Reconciliation:
    """One reconcile run: its parameters, every cell, notes; `contract()` is `--json`."""

    reconcile_id: str
    ran_at: datetime
    since: date
    until: date
    filters: Filters
    tolerance_pct: Decimal
    tolerance_usd: Decimal
    amount_unit: str
    batch_day: str
    refreshed_at: datetime | None
    cells: list[Cell]
    notes: list[str] = field(default_factory=list)
    reconciled_through: date | None = None
    pages: int = 0
    windows: int = 0
    simulated_lines: int = 0  # succeeded store lines of the range that cachecast.sim made

    @property
    def billed_usd(self) -> Decimal:
        return sum((c.billed for c in self.cells), Decimal(0))

    @property
    def audited_usd(self) -> Decimal:
        return sum((c.audited for c in self.cells), Decimal(0))

    @property
    def flagged(self) -> list[Cell]:
        return [c for c in self.cells if c.flagged]

    def tokens(self, side: str) -> int:
        return sum(getattr(c, f"{side}_tokens") or 0 for c in self.cells if c.cost_type == "tokens")

    def days(self) -> list[dict[str, Any]]:
        """Every day of the range: billed, audited, flagged cells (days with nothing too)."""
        out = []
        day = self.since
        while day <= self.until:
            mine = [c for c in self.cells if c.day == day]
            billed = sum((c.billed for c in mine), Decimal(0))
            audited = sum((c.audited for c in mine), Decimal(0))
            flagged = sum(c.flagged for c in mine)
            out.append({"day": day, "billed_usd": billed, "audited_usd": audited, "flagged": flagged,
                        "matched": flagged == 0})
            day += timedelta(days=1)
        return out

    def contract(self) -> dict[str, Any]:
        """The `reconcile --json` object (docs/reconcile.md)."""
        return {
            "reconcile_id": self.reconcile_id,
            "since": self.since.isoformat(), "until": self.until.isoformat(),
            "filters": self.filters.params(),
            "tolerance": {"pct": float(self.tolerance_pct), "usd": usd(self.tolerance_usd)},
            "amount_unit": self.amount_unit, "batch_day": self.batch_day,
            "report_refreshed_at": _iso(self.refreshed_at),
            "billed_usd": usd(self.billed_usd), "audited_usd": usd(self.audited_usd),
            "difference_usd": usd(self.billed_usd - self.audited_usd),
            "billed_tokens": self.tokens("billed"), "audited_tokens": self.tokens("audited"),
            "cells_compared": len(self.cells), "cells_flagged": len(self.flagged),
            "matched": not self.flagged,
            "reconciled_through": self.reconciled_through.isoformat() if self.reconciled_through else None,
            "days": [{"day": d["day"].isoformat(), "billed_usd": usd(d["billed_usd"]),
                      "audited_usd": usd(d["audited_usd"]),
                      "difference_usd": usd(d["billed_usd"] - d["audited_usd"]), "flagged": d["flagged"]}
                     for d in self.days()],
            "cells": [cell_json(c) for c in self.cells],
            "notes": list(self.notes),
        }


def cell_json(c: Cell) -> dict[str, Any]:
    pct = c.difference_pct
    return {"day": c.day.isoformat(), "model": c.model, "cost_type": c.cost_type, "token_type": c.token_type,
            "context_window": c.context_window, "inference_geo": c.inference_geo,
            "billed_usd": usd(c.billed), "list_usd": usd(c.listed), "audited_usd": usd(c.audited),
            "difference_usd": usd(c.difference), "difference_pct": None if pct is None else round(float(pct), 4),
            "billed_tokens": c.billed_tokens, "audited_tokens": c.audited_tokens,
            "difference_tokens": c.difference_tokens, "flagged": c.flagged, "cause": c.cause,
            "explanation": c.explanation}


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    value = value.astimezone(timezone.utc) if value.tzinfo else value
    return value.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


# ------------------------------------------------------------------ the run


def reconcile(conn: Any, client: Any, *, since: date | None = None, until: date | None = None,
              filters: Filters = Filters(), tolerance_pct: Decimal = DEFAULT_TOLERANCE_PCT,
              tolerance_usd: Decimal = DEFAULT_TOLERANCE_USD, amount_unit: str = "cents",
              batch_day: str = "created", today: date | None = None, overrides: Path | None = None,
              now: datetime | None = None) -> Reconciliation:
    """Fetch the reports for the range (default: the days the store holds spend on) and
    compare. Every check on the input is made before the first call."""
    if batch_day not in BATCH_DAYS:
        raise InputError(f"--batch-day {batch_day!r} is not one of {', '.join(BATCH_DAYS)}")
    if tolerance_pct < 0 or tolerance_usd < 0:
        raise InputError("the tolerance must not be negative")
    now = now or datetime.now(timezone.utc)
    today = today or now.date()
    since, until = store_range(conn, since, until, batch_day, today)
    check_range(since, until, today)
    report = fetch(client, since, until, filters, amount_unit=amount_unit, now=now)
    return compare(conn, report, since=since, until=until, filters=filters, tolerance_pct=tolerance_pct,
                   tolerance_usd=tolerance_usd, amount_unit=amount_unit, batch_day=batch_day, overrides=overrides,
                   now=now)


def store_range(conn: Any, since: date | None, until: date | None, batch_day: str, today: date) -> tuple[date, date]:
    """The range asked for; a missing end is the store's own first or last day of spend
    (until at most today; today when --since is after the store's last day). An empty
    store is refused: there is nothing to reconcile."""
    if not conn.execute(store.query(FILE, "line_count")).fetchone()[0]:
        raise InputError("the store holds no succeeded result lines, so there is nothing to reconcile; ingest a "
                         "batch's results first (cachecast ingest RESULTS --db DB, or submit --wait --db DB)")
    first, last = conn.execute(store.query(FILE, "spend_range"), {"batch_day": batch_day}).fetchone()
    if until is None:
        until = today if since is not None and since > last else min(last, today)
    return since or first, until


def compare(conn: Any, report: Report, *, since: date, until: date, filters: Filters = Filters(),
            tolerance_pct: Decimal = DEFAULT_TOLERANCE_PCT, tolerance_usd: Decimal = DEFAULT_TOLERANCE_USD,
            amount_unit: str = "cents", batch_day: str = "created", overrides: Path | None = None,
            now: datetime | None = None) -> Reconciliation:
    """Pair the report's rows with the store's cells, flag and explain (no API call)."""
    now = now or datetime.now(timezone.utc)
    cells: dict[Key, Cell] = {}
    billed_cells(report, cells)
    simulated = audited_cells(conn, since, until, batch_day, cells, filters)
    probe_cells(conn, since, until, overrides, cells, filters)
    ordered = sorted(cells.values(), key=_order)
    rec = Reconciliation(reconcile_id=f"rc-{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}", ran_at=now, since=since,
                         until=until, filters=filters, tolerance_pct=tolerance_pct, tolerance_usd=tolerance_usd,
                         amount_unit=amount_unit, batch_day=batch_day, refreshed_at=report.refreshed_at,
                         cells=ordered, pages=report.pages, windows=len(report.windows), simulated_lines=simulated)
    from .reconcile_causes import Context, explain_all

    context = Context(tolerance_pct=tolerance_pct, tolerance_usd=tolerance_usd, refreshed_at=report.refreshed_at,
                      filters=filters, amount_unit=amount_unit, missing=missing_batches(conn))
    for c in ordered:
        c.flagged = abs(c.difference) > context.tolerance(c)
    explain_all(ordered, context)
    rec.notes = run_notes(rec, context)
    return rec


def _order(c: Cell) -> tuple:
    return (c.day, c.model or "~", c.cost_type, c.token_type or "", c.context_window or "", c.inference_geo or "")


# ------------------------------------------------------------------ the two sides


def model_name(model: str | None) -> str | None:
    """One spelling per model on both sides: the report names models as the models[] filter
    takes them, the store as the response said (an alias or a dated id)."""
    if model is None:
        return None
    from ..facts.models import find

    facts = find(model)
    return facts.id if facts is not None else model


def _geo(value: str | None) -> str:
    return value if value in ("global", "us") else "not_available"


def _cell(cells: dict[Key, Cell], day: date, model: str | None, cost_type: str, token_type: str | None = None,
          context_window: str | None = None, inference_geo: str | None = None) -> Cell:
    """The cell of a key; token rows carry the context window and geo (unset: '0-200k' and
    'not_available', the report's own default tier and unset-region value), other cost
    types neither."""
    if cost_type == "tokens":
        context_window, inference_geo = context_window or "0-200k", _geo(inference_geo)
    else:
        context_window = inference_geo = None
    key = (day, model_name(model), cost_type, token_type, context_window, inference_geo)
    if key not in cells:
        cells[key] = Cell(*key)
    return cells[key]


def billed_cells(report: Report, cells: dict[Key, Cell]) -> None:
    for row in report.costs:
        if not (row.amount or row.list_amount):
            continue
        c = _cell(cells, row.day, row.model, row.cost_type or "total", row.token_type, row.context_window,
                  row.inference_geo)
        c.billed += row.amount
        c.listed += row.list_amount
        if row.service_tier:
            c.billed_tiers.add(row.service_tier)
    for u in report.usage:
        for token_type, (_, _, attr) in TOKEN_TYPES.items():
            tokens = getattr(u, attr)
            if tokens:
                c = _cell(cells, u.day, u.model, "tokens", token_type, u.context_window, u.inference_geo)
                c.billed_tokens = (c.billed_tokens or 0) + tokens
        if u.web_searches:
            c = _cell(cells, u.day, u.model, "web_search")
            c.billed_tokens = (c.billed_tokens or 0) + u.web_searches


def in_filters(filters: Filters, *, model: str | None, service_tier: str, inference_geo: str, speed: str,
               product: str) -> bool:
    """Whether store lines of this kind are inside the report's filters: the store knows the
    model, tier, geo, speed and product (message_batches_api for batch results files,
    messages_api for synchronous lines and probes) of its lines, not their key, workspace or
    user, so those filters apply to the report alone."""
    wanted = {"models": {model_name(m) for m in filters.models}, "service_tiers": set(filters.service_tiers),
              "inference_geos": set(filters.inference_geos), "speeds": set(filters.speeds),
              "products": set(filters.products)}
    have = {"models": model_name(model), "service_tiers": service_tier, "inference_geos": inference_geo,
            "speeds": speed, "products": product}
    return all(not wanted[k] or have[k] in wanted[k] for k in wanted)


def audited_cells(conn: Any, since: date, until: date, batch_day: str, cells: dict[Key, Cell],
                  filters: Filters = Filters()) -> int:
    """The store's lines of the range (inside the report's filters) into cells; returns how
    many of them are simulated."""
    simulated = 0
    cur = conn.execute(store.query(FILE, "audited_groups"), {"since": since, "until": until, "batch_day": batch_day})
    names = [d[0] for d in cur.description]
    for row in (dict(zip(names, r)) for r in cur.fetchall()):
        if not in_filters(filters, model=row["model"], service_tier=row["service_tier"],
                          inference_geo=row["inference_geo"], speed=row["speed"],
                          product="message_batches_api" if row["is_batch"] else "messages_api"):
            continue
        simulated += int(row["simulated_requests"])
        parts = [("tokens", tt, row[tok], row[cost]) for tt, (tok, cost, _) in TOKEN_TYPES.items()]
        parts.append(("web_search", None, row["web_searches"], row["web_search_usd"]))
        for cost_type, token_type, quantity, cost in parts:
            if not quantity and not cost:
                continue
            c = _cell(cells, row["day"], row["model"], cost_type, token_type, row["context_window"],
                      row["inference_geo"])
            _add_audited(c, int(quantity or 0), Decimal(cost or 0), row["service_tier"])
            c.simulated_requests += int(row["simulated_requests"])
            c.unpriced_requests += int(row["unpriced_requests"])
            c.dated_by_ingest += int(row["dated_by_ingest"])
            c.batch_ids.update(row["batch_ids"] or [])
    return simulated


def _add_audited(c: Cell, quantity: int, cost: Decimal, tier: str) -> None:
    c.audited += cost
    c.audited_tokens = (c.audited_tokens or 0) + quantity
    c.audited_tiers.add(tier)


def probe_cells(conn: Any, since: date, until: date, overrides: Path | None, cells: dict[Key, Cell],
                filters: Filters = Filters()) -> None:
    """The synchronous probes (schema v4) are billed too, at standard rates on the day sent;
    the probes table keeps their usage, so each component is priced here as probe.py did.
    Their geo is taken as global: a probe sends no inference_geo, and the report then names
    the workspace's default (not recorded by the store)."""
    if not conn.execute(store.query(FILE, "probes_exist")).fetchone()[0]:
        return
    cur = conn.execute(store.query(FILE, "probe_lines"), {"since": since, "until": until})
    names = [d[0] for d in cur.description]
    from ..facts.pricing import get_rates

    for p in (dict(zip(names, r)) for r in cur.fetchall()):
        # a probe sets no inference_geo: the report says the workspace's default, taken to be global
        if not in_filters(filters, model=p["model"], service_tier="standard", inference_geo="global",
                          speed="standard", product="messages_api"):
            continue
        creation = int(p["cache_creation_input_tokens"] or 0)
        w5, w1 = int(p["cache_write_5m_tokens"] or 0), int(p["cache_write_1h_tokens"] or 0)
        unsplit = creation - w5 - w1
        w1, w5 = (w1 + unsplit, w5) if p["ttl"] == "1h" else (w1, w5 + unsplit)
        tokens = {"uncached_input_tokens": int(p["input_tokens"] or 0), "cache_creation.ephemeral_5m_input_tokens": w5,
                  "cache_creation.ephemeral_1h_input_tokens": w1,
                  "cache_read_input_tokens": int(p["cache_read_input_tokens"] or 0),
                  "output_tokens": int(p["output_tokens"] or 0)}
        prompt = sum(v for k, v in tokens.items() if k != "output_tokens")
        rates = dict(zip(TOKEN_TYPES, get_rates(p["model"], False, overrides, at=p["day"]).tier(prompt)))
        for token_type, n in tokens.items():
            if n:
                c = _cell(cells, p["day"], p["model"], "tokens", token_type,
                          "200k-1M" if prompt > 200_000 else "0-200k", "global")
                _add_audited(c, n, n * rates[token_type] / MILLION, "standard")
                c.simulated_requests += bool(p["simulated"])


# ------------------------------------------------------------------ batches the store lacks


@dataclass(frozen=True)
class MissingBatch:
    """A batch a build's batches.json records with fewer lines in the store than it ran."""

    batch_id: str
    day: date | None
    requests: int
    in_store: int
    build_dir: str


def missing_batches(conn: Any) -> list[MissingBatch]:
    """Batches recorded in the batches.json of every build the store knows (ingest --manifest
    recorded the build directory) that the store holds fewer result lines of than they ran."""
    from ..send.api import read_records

    cur = conn.execute(store.query(FILE, "store_batches"))
    lines = {r[0]: int(r[4]) for r in cur.fetchall()}
    out = []
    for (build_dir,) in conn.execute(store.query(FILE, "build_dirs")).fetchall():
        path = Path(build_dir)
        if not path.is_dir():
            continue
        try:
            records = read_records(path)
        except InputError:
            continue
        for r in records:
            held = lines.get(r.batch_id, 0)
            if held < int(r.requests):
                out.append(MissingBatch(r.batch_id, _record_day(r.created_at or r.submitted_at), int(r.requests),
                                        held, str(build_dir)))
    return out


def _record_day(text: str | None) -> date | None:
    if not text:
        return None
    try:
        value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return value.astimezone(timezone.utc).date() if value.tzinfo else value.date()


# ------------------------------------------------------------------ words


def run_notes(rec: Reconciliation, context: Any) -> list[str]:
    notes = []
    if not rec.filters.identity:
        notes.append("The report is not filtered to an identity (an API key, workspace, service account or RBAC "
                     "group): any other use of the organization on these days shows up as traffic outside the store. "
                     "Run evaluations under their own key or service account and filter on it (--api-key-id, "
                     "--service-account-id, --workspace-id, --rbac-group-id) for an exact match.")
    if rec.refreshed_at is not None:
        notes.append(f"The report's data was refreshed at {_iso(rec.refreshed_at)}; usage after that is not in it yet.")
    if rec.simulated_lines:
        notes.append(f"The store holds {rec.simulated_lines:,} SIMULATED line(s) (cachecast.sim) in this range; Anthropic "
                     "never billed them.")
    notes.append(f"Store lines are dated by their batch's {'end (when recorded)' if rec.batch_day == 'ended' else 'creation'} "
                 "day; the results file does not say when each line ran.")
    if context.amount_ratio is not None:
        notes.append(context.amount_ratio_note())
    return notes


def summary_lines(rec: Reconciliation) -> list[str]:
    """The result in words: totals, flags, and every flag's sentence."""
    from .audit import money

    diff = rec.billed_usd - rec.audited_usd
    pct = f" ({diff / rec.billed_usd * 100:+.2f}%)" if rec.billed_usd else ""
    lines = [f"Reconciled {rec.since} to {rec.until} against Anthropic's cost and usage reports "
             f"(filters: {rec.filters.describe()}): billed {money(rec.billed_usd)}, audited {money(rec.audited_usd)}, "
             f"difference {'+' if diff >= 0 else '-'}{money(abs(diff))}{pct}; {len(rec.cells):,} cells compared, "
             f"{len(rec.flagged):,} flagged (tolerance {rec.tolerance_pct}% or ${rec.tolerance_usd})."]
    if rec.reconciled_through:
        lines.append(f"The store is reconciled through {rec.reconciled_through}.")
    return lines


def cells_frame(cells: Iterable[Cell]):
    """The cells as a DataFrame (money as float dollars, 6 decimals), for tables and CSV."""
    import pandas as pd

    rows = [cell_json(c) for c in cells]
    columns = ["day", "model", "cost_type", "token_type", "context_window", "inference_geo", "billed_usd", "list_usd",
               "audited_usd", "difference_usd", "difference_pct", "billed_tokens", "audited_tokens",
               "difference_tokens", "flagged", "cause", "explanation"]
    return pd.DataFrame(rows, columns=columns)
