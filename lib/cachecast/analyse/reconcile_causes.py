"""Why a reconcile cell differs: one cause and one sentence per flagged cell.

The heuristics read only what the cells show (tokens on both sides, dollars, tiers, the
day's neighbours) and what the store knows (batches recorded in builds' batches.json, lines
dated by their ingest, simulated lines). They are tried in the order of the module
docstring of cachecast.analyse.reconcile, the first that fits wins; docs/reconcile.md says
what each one means and what to do. Exact Decimal throughout.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..facts.pricing import MILLION
from ..send.analytics import Filters

if TYPE_CHECKING:
    from .reconcile import Cell

NEAR = Decimal("0.01")  # a ratio within 1% of a factor is that factor


def near(ratio: Decimal | None, factor: Decimal) -> bool:
    return ratio is not None and abs(ratio - factor) <= factor * NEAR


def _money(value: Decimal) -> str:
    from .audit import money

    return money(value)


@dataclass
class Context:
    """What the explanations need beside the cells."""

    tolerance_pct: Decimal
    tolerance_usd: Decimal
    refreshed_at: datetime | None = None
    filters: Filters = field(default_factory=Filters)
    amount_unit: str = "cents"
    missing: list[Any] = field(default_factory=list)  # MissingBatch
    amount_ratio: Decimal | None = None  # set when every amount is ~100x or 1/100 the store's

    def tolerance(self, c: "Cell") -> Decimal:
        base = abs(c.billed) if c.billed else abs(c.audited)
        return max(self.tolerance_usd, base * self.tolerance_pct / 100)

    def tokens_agree(self, c: "Cell") -> bool:
        if c.billed_tokens is None or c.audited_tokens is None:
            return False
        allowed = max(Decimal(0), Decimal(max(c.billed_tokens, c.audited_tokens)) * self.tolerance_pct / 100)
        return abs(c.billed_tokens - c.audited_tokens) <= allowed

    def amount_ratio_note(self) -> str:
        other = "dollars" if self.amount_unit == "cents" else "cents"
        return (f"Every amount read as {self.amount_unit} is {self.amount_ratio:.4g}x what the store holds: the report's "
                f"amounts look like {other} (run again with --amount-unit {other}). The SDK documents them as "
                "fractional cents; nothing else says so.")


def explain_all(cells: list["Cell"], ctx: Context) -> None:
    """Set cause and explanation on every flagged cell."""
    flagged = [c for c in cells if c.flagged]
    billed = sum((c.billed for c in cells), Decimal(0))
    audited = sum((c.audited for c in cells), Decimal(0))
    if audited and billed:
        ratio = billed / audited
        if near(ratio, Decimal(100)) or near(ratio, Decimal("0.01")):
            ctx.amount_ratio = ratio
    by_key = {c.key: c for c in cells}
    for c in flagged:
        if c.cause is None:
            _explain(c, ctx, by_key)


def _explain(c: "Cell", ctx: Context, by_key: dict) -> None:
    if ctx.amount_ratio is not None:
        return _set(c, "amount_unit", ctx.amount_ratio_note())
    if c.unpriced_requests:
        return _set(c, "price_correction", f"a price correction missing: {c.unpriced_requests:,} of the store's lines "
                    f"here ({c.model}) have no price, so the store counts them at $0; give the model's rates with "
                    "--prices FILE (or a dated row in price_corrections.yaml) and run again")
    if ctx.tokens_agree(c) and c.audited and c.billed:
        ratio = c.billed / c.audited
        if (near(ratio, Decimal(2)) or near(ratio, Decimal("0.5"))) and _batch_wide(c, ctx, by_key):
            return _set(c, "batch_discount", _batch_sentence(c, ratio))
        return _set(c, "price_correction", _price_sentence(c))
    other = _neighbour(c, ctx, by_key)
    if other is not None:
        if other.flagged:
            _set(other, "neighbour_day", _neighbour_sentence(other, c))
        return _set(c, "neighbour_day", _neighbour_sentence(c, other))
    if c.difference > 0:
        return _billed_more(c, ctx)
    return _stored_more(c, ctx)


def _batch_wide(c: "Cell", ctx: Context, by_key: dict) -> bool:
    """A factor of 2 (or 1/2) is the batch discount when it is not this token type's alone:
    the other token types of the same day, model, window and geo differ by it too (a price
    that doubled, such as Sonnet 5.5's read before 2026-10-07, moves one type only). Without
    such siblings, the tiers decide: the bill's tier differs from the store's, or the bill's
    batch amount equals its list amount."""
    if c.cost_type != "tokens":
        return False
    siblings = [s for t, s in by_key.items() if t[0] == c.day and t[1] == c.model and t[2] == "tokens"
                and t[4:] == c.key[4:] and s is not c and s.billed and s.audited and ctx.tokens_agree(s)]
    if siblings:
        return not all(near(s.billed / s.audited, Decimal(1)) for s in siblings)
    undiscounted = "batch" in c.billed_tiers and c.listed and abs(c.listed - c.billed) <= c.billed * NEAR
    return c.billed_tiers != c.audited_tiers or bool(undiscounted)


def _set(c: "Cell", cause: str, sentence: str) -> None:
    c.cause, c.explanation = cause, sentence


# ------------------------------------------------------------------ the sentences


def _batch_sentence(c: "Cell", ratio: Decimal) -> str:
    tiers = f"bill: {', '.join(sorted(c.billed_tiers)) or 'no tier'}; store: {', '.join(sorted(c.audited_tiers))}"
    if near(ratio, Decimal(2)):
        if "batch" in c.billed_tiers and c.listed and abs(c.listed - c.billed) <= c.billed * NEAR:
            why = ("the report's amount for these batch lines equals its list amount, so the Batches API's 50% is "
                   "not in `amount` (it may arrive as a credit; the report's docs do not say)")
        else:
            why = ("the bill prices these tokens at the standard rate while the store applied the batch rate: the "
                   "requests did not go through the Batches API, or the bill's tier differs")
        return f"the batch discount: the tokens agree but the bill is 2x the store's cost ({tiers}); {why}"
    return (f"the batch discount: the tokens agree but the bill is half the store's cost ({tiers}); the bill applied "
            "the Batches API's 50% to lines the store priced at standard rates (a batch results file ingested as "
            "synchronous lines, or lines without usage.service_tier)")


def _price_sentence(c: "Cell") -> str:
    if c.cost_type == "web_search":
        unit, scale = "1,000 searches", Decimal(1000)
    else:
        unit, scale = "MTok", MILLION
    billed_rate = c.billed / Decimal(c.billed_tokens) * scale
    audited_rate = c.audited / Decimal(c.audited_tokens) * scale
    return (f"a price correction missing: the {c.billed_tokens:,} {'searches' if c.cost_type == 'web_search' else 'tokens'} "
            f"agree, but the bill's rate is ${billed_rate:.4f} per {unit} against the ${audited_rate:.4f} the store "
            f"priced ({c.billed / c.audited:.4g}x); add a dated correction row (facts/data/price_corrections.yaml) or "
            "the negotiated rate (--prices FILE) and run again")


def _neighbour(c: "Cell", ctx: Context, by_key: dict) -> "Cell | None":
    """The same model and component on the day before or after, differing the other way by
    about as much: together they match."""
    for step in (1, -1):
        key = (c.day + timedelta(days=step), *c.key[1:])
        other = by_key.get(key)
        if other is None or other.cause is not None or (other.difference > 0) == (c.difference > 0):
            continue
        net = c.difference + other.difference
        if abs(net) <= max(ctx.tolerance(c), ctx.tolerance(other)):
            return other
    return None


def _neighbour_sentence(c: "Cell", other: "Cell") -> str:
    net = c.difference + other.difference
    return (f"a neighbouring day: {c.day} and {other.day} differ by opposite amounts ({_signed(c.difference)} and "
            f"{_signed(other.difference)}, net {_signed(net)}): the bill put some of these lines on the other day "
            "(a batch that ran past midnight UTC, or one dated by when it ended; --batch-day ended dates batches by "
            "their end; which day the report uses is not documented)")


def _signed(value: Decimal) -> str:
    return ("+" if value >= 0 else "-") + _money(abs(value))


def _quantity(c: "Cell", value: int | None) -> str:
    if value is None:
        return "no count"
    return f"{value:,} {'searches' if c.cost_type == 'web_search' else 'tokens'}"


def _billed_more(c: "Cell", ctx: Context) -> None:
    missing = [m for m in ctx.missing if m.day is not None and abs((m.day - c.day).days) <= 1]
    if missing:
        m = missing[0]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        return _set(c, "not_ingested", f"lines not yet ingested: batch {m.batch_id} ({m.day}, recorded in "
                    f"{m.build_dir}/batches.json) ran {m.requests:,} requests and the store holds {m.in_store:,} of "
                    f"its lines{more}; fetch and ingest it (cachecast fetch {m.batch_id} --out FILE --db DB), then "
                    "reconcile again")
    extra = c.difference_tokens
    what = f"{_quantity(c, extra)} and {_money(c.difference)}" if extra else _money(c.difference)
    if c.cost_type in ("code_execution", "session_usage"):
        kind = "code execution" if c.cost_type == "code_execution" else "Managed Agents session time"
        why = f"the store records no {kind}, so all of it is traffic the store never saw"
    elif ctx.filters.identity:
        why = ("other use of the identity the report is filtered to (another job on the same key or workspace, "
               "synchronous calls cachecast never recorded), or results not ingested yet")
    else:
        why = ("other jobs on the same organization (the report is not filtered to the evaluation's key, workspace "
               "or service account: --api-key-id, --workspace-id, --service-account-id), or results not ingested yet")
    return _set(c, "outside_traffic", f"traffic outside the store: the bill has {what} more than the store's lines "
                f"for {c.where()}; {why}")


def _stored_more(c: "Cell", ctx: Context) -> None:
    less = _money(-c.difference)
    if ctx.refreshed_at is not None and c.day >= _day(ctx.refreshed_at):
        return _set(c, "report_lag", f"the report is not complete for {c.day} yet (its data was refreshed at "
                    f"{ctx.refreshed_at:%Y-%m-%d %H:%M} UTC), so it shows {less} less than the store; reconcile again "
                    "later")
    if c.simulated_requests and not c.billed:
        return _set(c, "simulated", f"simulated lines: the store's {less} here comes from cachecast.sim "
                    f"({c.simulated_requests:,} line(s) of the group), which Anthropic never billed")
    dated = (f"; {c.dated_by_ingest:,} of its lines are dated by their first ingest (no API creation time: ingest "
             "them through submit --wait or fetch, or with --priced-at DAY)") if c.dated_by_ingest else ""
    return _set(c, "not_billed", f"the store holds {less} ({_quantity(c, -(c.difference_tokens or 0))}) more than "
                f"the bill for {c.where()}: the lines may be outside the report's filters "
                f"({ctx.filters.describe()}), under another organization, or billed on another day{dated}")


def _day(value: datetime) -> date:
    from datetime import timezone

    return value.astimezone(timezone.utc).date() if value.tzinfo else value.date()
