"""The audit of ingested batches: did the cache hit, what did it really cost, why the misses.

`summary()` gives the `cachecast audit --json` contract (DESIGN.md), then extra keys after
it (price sources and dates, thinking tokens, server tools, server-side turns, truncation);
the other functions return pandas DataFrames for the notebook: per treatment, per batch, hit
rate over the results file's order, anomalies with a reason each, errors by type, and
projected vs actual. What else a bill holds (server-side turns by type, unpriced server
tools, truncated answers) is cachecast.analyse.billed; HTML tables, cachecast.analyse.tables;
probes and the pre-warm verdict, cachecast.analyse.prewarm.

All money is summed as exact DECIMAL in DuckDB (views in sql/views.sql) and only turned
into floats at the edge: dollar amounts rounded half-even to 6 decimals (micro-dollars),
rates and percentages left at full float precision.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from .. import store
from ..errors import InputError, PriceError
from ..facts.money import usd

FILE = "analyse/audit.sql"
CONTRACT_KEYS = ("requests", "succeeded", "errored", "canceled", "expired", "input_tokens",
                 "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens", "token_hit_rate",
                 "request_hit_rate", "cost_usd", "no_cache_cost_usd", "savings_usd", "savings_pct",
                 "quarantined_lines")


@dataclass(frozen=True)
class Totals:
    """Exact totals over the selected batches (succeeded requests for tokens and money)."""

    batches: int
    requests: int
    succeeded: int
    errored: int
    canceled: int
    expired: int
    input_tokens: int
    cache_creation_input_tokens: int
    write_5m_tokens: int
    write_1h_tokens: int
    cache_read_input_tokens: int
    output_tokens: int
    thinking_tokens: int  # the part of output_tokens that is thinking (output_tokens_details)
    web_search_requests: int
    web_fetch_requests: int
    iteration_requests: int  # succeeded requests with server-side turns (advisor, compaction) of their own cost
    truncated_requests: int  # succeeded requests whose answer stopped at max_tokens
    requests_reading: int
    cost_usd: Decimal
    no_cache_cost_usd: Decimal
    input_cost_usd: Decimal
    write_5m_cost_usd: Decimal
    write_1h_cost_usd: Decimal
    read_cost_usd: Decimal
    output_cost_usd: Decimal
    thinking_cost_usd: Decimal  # part of output_cost_usd
    web_search_cost_usd: Decimal
    web_fetch_cost_usd: Decimal
    iterations_cost_usd: Decimal  # server-side turns, each at its own model's rates (usage.iterations)
    no_cache_iterations_cost_usd: Decimal
    truncated_cost_usd: Decimal  # spent on the answers cut off at max_tokens (part of cost_usd)
    no_cache_input_cost_usd: Decimal
    simulated_requests: int
    ttl_assumed_requests: int
    long_context_requests: int
    us_only_requests: int
    fast_requests: int
    quarantined_lines: int
    price_sources: str | None
    priced_on: str | None  # the batch days prices were taken for, comma separated
    # billed.truncation's rows (per model and treatment), from the pass that made these totals
    truncation: tuple = field(default=(), compare=False, repr=False)

    @property
    def prompt_tokens(self) -> int:
        return self.input_tokens + self.cache_creation_input_tokens + self.cache_read_input_tokens

    @property
    def token_hit_rate(self) -> float:
        return self.cache_read_input_tokens / self.prompt_tokens if self.prompt_tokens else 0.0

    @property
    def request_hit_rate(self) -> float:
        return self.requests_reading / self.succeeded if self.succeeded else 0.0

    @property
    def savings_usd(self) -> Decimal:
        return self.no_cache_cost_usd - self.cost_usd

    @property
    def savings_pct(self) -> float:
        return float(self.savings_usd * 100 / self.no_cache_cost_usd) if self.no_cache_cost_usd else 0.0

    @property
    def truncated_share(self) -> float:
        return self.truncated_requests / self.succeeded if self.succeeded else 0.0

    @property
    def simulated(self) -> bool:
        return self.simulated_requests > 0

    def contract(self) -> dict[str, Any]:
        """The `audit --json` object, keys and types exactly as DESIGN.md says."""
        return {
            "requests": self.requests, "succeeded": self.succeeded, "errored": self.errored,
            "canceled": self.canceled, "expired": self.expired,
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "output_tokens": self.output_tokens,
            "token_hit_rate": self.token_hit_rate,
            "request_hit_rate": self.request_hit_rate,
            "cost_usd": usd(self.cost_usd),
            "no_cache_cost_usd": usd(self.no_cache_cost_usd),
            "savings_usd": usd(self.savings_usd),
            "savings_pct": self.savings_pct,
            "quarantined_lines": self.quarantined_lines,
            # not in the contract, after it: what the prices are and what else was billed
            "price_source": self.price_sources,
            "priced_on": self.priced_on,
            "thinking_tokens": self.thinking_tokens,
            "thinking_cost_usd": usd(self.thinking_cost_usd),
            "web_search_requests": self.web_search_requests,
            "web_search_cost_usd": usd(self.web_search_cost_usd),
            "web_fetch_requests": self.web_fetch_requests,
            "web_fetch_cost_usd": usd(self.web_fetch_cost_usd),
            "iteration_requests": self.iteration_requests,
            "iterations_cost_usd": usd(self.iterations_cost_usd),
            "truncated_requests": self.truncated_requests,
            "truncated_share": self.truncated_share,
            "truncated_cost_usd": usd(self.truncated_cost_usd),
            "us_only_requests": self.us_only_requests,
            "fast_requests": self.fast_requests,
        }


# ------------------------------------------------------------------ the contract


def totals(conn: duckdb.DuckDBPyConnection, batch_id: str | None = None) -> Totals:
    check_batch(conn, batch_id)
    p = {"batch_id": batch_id}
    q = store.queries(FILE)
    try:
        conn.execute(q["summary_groups"], p)
        cur = conn.execute(q["summary"])
        names = [d[0] for d in cur.description]
        row = dict(zip(names, cur.fetchone()))
        cur = conn.execute(q["summary_truncation"])
        names = [d[0] for d in cur.description]
        cut = tuple(dict(zip(names, r)) for r in cur.fetchall())
    finally:
        conn.execute(q["summary_drop"])
    if row.pop("unpriced"):
        model, batch, day, speed, geo = conn.execute(store.query(FILE, "unpriced_models"), p).fetchone()
        raise PriceError(f"no {'Message Batches' if batch else 'standard'} price stored for model '{model}' on {day} "
                         f"(speed {speed}, inference geo {geo}); run the audit with --prices FILE (--store-prices to "
                         "keep them), or re-ingest its results, to snapshot prices")
    row["quarantined_lines"] = conn.execute(store.query(FILE, "quarantined"), p).fetchone()[0]
    sources, days = row.pop("price_sources"), row.pop("priced_on")
    values = {k: (v if isinstance(v, Decimal) else int(v)) for k, v in row.items()}
    return Totals(**values, price_sources=sources, priced_on=days, truncation=cut)


def summary(conn: duckdb.DuckDBPyConnection, batch_id: str | None = None) -> dict[str, Any]:
    """The `cachecast audit --json` object for one batch, or every batch when None."""
    return totals(conn, batch_id).contract()


def check_batch(conn: duckdb.DuckDBPyConnection, batch_id: str | None) -> None:
    if batch_id is None:
        return
    if not conn.execute(store.query(FILE, "batch_exists"), {"batch_id": batch_id}).fetchone()[0]:
        known = [r[0] for r in conn.execute(store.query(FILE, "batch_ids")).fetchall()]
        hint = f"; batches in this store: {', '.join(known[:5])}" if known else "; the store is empty"
        raise InputError(f"no batch '{batch_id}'{hint}")


# ------------------------------------------------------------------ tables for the notebook


def _df(conn: duckdb.DuckDBPyConnection, name: str, **params: Any):
    return conn.execute(store.query(FILE, name), params).df()


def batches(conn: duckdb.DuckDBPyConnection):
    """One row per batch (view batch_rollup)."""
    return _df(conn, "batches")


def treatments(conn: duckdb.DuckDBPyConnection, batch_id: str | None = None):
    """One row per treatment and model over the selected batches."""
    check_batch(conn, batch_id)
    return _df(conn, "treatments_all_batches", batch_id=batch_id)


ORDERS = {"file": "hit_rate_over_order", "submission": "hit_rate_over_submission"}


def hit_rate_over_order(conn: duckdb.DuckDBPyConnection, batch_id: str | None = None, bins: int = 40,
                        order: str = "file"):
    """Hit rates of succeeded requests in `bins` equal slices per batch, in results-file order
    ("file": not promised to be completion order) or in submission order ("submission": the
    manifest's row order, only requests with a manifest row; see has_submission_order)."""
    check_batch(conn, batch_id)
    if not 1 <= int(bins) <= 10_000:
        raise InputError("bins must be between 1 and 10,000")
    if order not in ORDERS:
        raise InputError(f"order must be one of {', '.join(ORDERS)}, not {order!r}")
    return _df(conn, ORDERS[order], batch_id=batch_id, bins=int(bins))


def submission_order(conn: duckdb.DuckDBPyConnection, batch_id: str | None = None) -> str:
    """Whether the batch has a submission order apart from its file order: "none" (some
    succeeded request has no manifest row, or none succeeded), "same" (the results file
    lists them in submission order) or "differs"."""
    check_batch(conn, batch_id)
    succeeded, unplaced, out_of_order = conn.execute(store.query(FILE, "submission_order_check"),
                                                     {"batch_id": batch_id}).fetchone()
    if not succeeded or unplaced:
        return "none"
    return "differs" if out_of_order else "same"


def anomalies(conn: duckdb.DuckDBPyConnection, batch_id: str | None = None):
    """Every anomaly, one row per (request, kind), with its reason, listed in results-file order."""
    check_batch(conn, batch_id)
    return _df(conn, "anomalies", batch_id=batch_id)


def anomaly_counts(conn: duckdb.DuckDBPyConnection, batch_id: str | None = None):
    """Anomalies per kind: requests, money lost where countable, one example reason."""
    check_batch(conn, batch_id)
    return _df(conn, "anomaly_counts", batch_id=batch_id)


DEFAULT_CONCURRENCY = 100  # requests of a batch assumed in flight at once (the first wave)
MISS_KINDS = {
    "first_wave": ("unavoidable", "sent before any write of their prefix could be read: a cache entry is readable "
                   "only once the response that wrote it has begun, so the first wave of identical requests "
                   "all write (the first write of each prefix is the price of caching and loses nothing; the "
                   "others in the wave lose write minus read). ASSUMED (not documented): the wave is "
                   "{concurrency} requests per prefix sent together; parameter `concurrency` "
                   "(cachecast.audit.miss_causes, AuditRun.miss_causes) changes it"),
    "repeat_write": ("avoidable", "wrote a prefix again beyond the first {concurrency} writes of it, although "
                     "it was read in this batch: the entry had expired or was evicted (a 1h TTL or pre-warming "
                     "helps); lost: write minus read"),
    "write_never_read": ("avoidable", "wrote a prefix no request of this batch read: the write premium over "
                         "sending those tokens uncached bought nothing (a prefix used once should not be cached)"),
    "prefix_drift": ("avoidable", "its prefix differs from the one most requests of its treatment use: something "
                     "before the breakpoint varies per request (a date, an id, key order); lost: write minus read"),
    "ttl_mismatch": ("avoidable", "wrote at a TTL other than the one requested (the same write is also counted in "
                     "its kind above; the dollars here are only the 1h premium paid for a 5m request)"),
}
MISS_ORDER = ("the results file's order is not completion order, so no total uses it: which writes of a prefix "
              "are its first wave is decided by custom_id (then message id), and as every write of one prefix "
              "writes the same tokens the totals do not depend on that choice")


def miss_assumption(concurrency: int = DEFAULT_CONCURRENCY) -> str:
    """The one assumption of the misses by cause, with the parameter that changes it."""
    return (f"Assumed, not documented: a batch sends the first {int(concurrency):,} requests of each prefix "
            "together (the first wave), so they all write it; a write beyond them is a repeat. Change it with "
            "the parameter concurrency (cachecast.audit.miss_causes, AuditRun.miss_causes). "
            "The results file's order is not used.")


def miss_causes(conn: duckdb.DuckDBPyConnection, batch_id: str | None = None,
                concurrency: int = DEFAULT_CONCURRENCY):
    """Cache misses explained by cause (issue 12): (summary, rows) DataFrames.

    summary: one row per batch and kind (first_wave, repeat_write, write_never_read,
    prefix_drift, ttl_mismatch) with requests, tokens written, dollars lost, whether it was
    avoidable, one explanation per kind and the API's own reasons (diagnostics.
    cache_miss_reason) where the lines carried them. rows: one per write (and per TTL
    mismatch), with cachecast's reason beside the API's; the batch column only when there is
    more than one batch. `concurrency` is the assumed first wave (see MISS_KINDS); totals do
    not depend on the order of the results file (MISS_ORDER)."""
    check_batch(conn, batch_id)
    if not 1 <= int(concurrency) <= 100_000:
        raise InputError("concurrency must be between 1 and 100,000 (a batch holds at most 100,000 requests)")
    import pandas as pd

    cur = conn  # this connection: a what-if --prices copy (what_if_prices) is a temp table of it alone
    try:
        cur.execute(store.query(FILE, "miss_causes_table"), {"batch_id": batch_id, "concurrency": int(concurrency)})
        rows = cur.execute(store.query(FILE, "miss_causes_rows")).df()
        result = cur.execute(store.query(FILE, "miss_causes_summary"))
        names = [d[0] for d in result.description]
        summary = pd.DataFrame(result.fetchall(), columns=names, dtype=object)  # usd_lost: exact Decimal
    finally:
        cur.execute(store.query(FILE, "miss_causes_drop"))
    summary.insert(2, "explanation", [MISS_KINDS[k][1].format(concurrency=int(concurrency)) for k in summary["kind"]])
    summary.attrs["assumption"] = miss_assumption(concurrency)
    if rows["batch_id"].nunique() <= 1:
        rows = rows.drop(columns=["batch_id"])
    return summary, rows


def errors_by_type(conn: duckdb.DuckDBPyConnection, batch_id: str | None = None):
    check_batch(conn, batch_id)
    return _df(conn, "errors_by_type", batch_id=batch_id)


def quarantine(conn: duckdb.DuckDBPyConnection, batch_id: str | None = None):
    check_batch(conn, batch_id)
    return _df(conn, "quarantine", batch_id=batch_id)


def tokens_by_type(conn: duckdb.DuckDBPyConnection, batch_id: str | None = None):
    check_batch(conn, batch_id)
    return _df(conn, "tokens_by_type", batch_id=batch_id)


def cost_components(t: Totals):
    """Cost by component, actual vs the same requests without caching (long format)."""
    import pandas as pd

    answer = t.output_cost_usd - t.thinking_cost_usd
    rows = [("actual", "uncached input", t.input_cost_usd), ("actual", "cache write 5m", t.write_5m_cost_usd),
            ("actual", "cache write 1h", t.write_1h_cost_usd), ("actual", "cache read", t.read_cost_usd),
            ("actual", "output", answer), ("actual", "thinking", t.thinking_cost_usd),
            ("actual", SERVER_TURNS, t.iterations_cost_usd), ("actual", "web search", t.web_search_cost_usd),
            ("actual", "web fetch", t.web_fetch_cost_usd),
            ("no cache", "uncached input", t.no_cache_input_cost_usd), ("no cache", "output", answer),
            ("no cache", "thinking", t.thinking_cost_usd), ("no cache", SERVER_TURNS, t.no_cache_iterations_cost_usd),
            ("no cache", "web search", t.web_search_cost_usd), ("no cache", "web fetch", t.web_fetch_cost_usd)]
    return pd.DataFrame([{"scenario": s, "component": c, "usd": float(v)} for s, c, v in rows])


SERVER_TURNS = "server-side turns (advisor, compaction)"


# ------------------------------------------------------------------ words


def money(value: Decimal | float) -> str:
    value = float(value)
    return f"${value:,.2f}" if abs(value) >= 1 or value == 0 else f"${value:,.4f}"


def headline(t: Totals) -> str:
    """The result in one or two sentences, for people who read nothing else."""
    if t.requests == 0:
        return "No results ingested yet" + (f" ({t.quarantined_lines:,} lines quarantined)." if t.quarantined_lines
                                            else ".")
    what = "the batch" if t.batches == 1 else f"the {t.batches} batches"
    text = (f"{t.token_hit_rate:.1%} of prompt tokens came from the cache; {what} cost {money(t.cost_usd)} "
            f"instead of {money(t.no_cache_cost_usd)} without caching")
    if t.no_cache_cost_usd:
        verb = "saved" if t.savings_usd >= 0 else "lost"
        text += f" ({verb} {money(abs(t.savings_usd))}, {abs(t.savings_pct):.1f}%)"
    text += "."
    if t.simulated_requests:
        share = "All results" if t.simulated_requests == t.requests else f"{t.simulated_requests:,} of {t.requests:,} results"
        text = f"SIMULATED DATA: {share} come from cachecast.sim, not from Anthropic; no model was called. " + text
    return text


def status_line(t: Totals) -> str:
    failed = [f"{n:,} {kind}" for n, kind in ((t.errored, "errored"), (t.canceled, "canceled"),
                                               (t.expired, "expired")) if n]
    text = f"{t.succeeded:,} of {t.requests:,} requests succeeded"
    text += f" ({', '.join(failed)}, not billed)" if failed else ""
    text += f"; {t.request_hit_rate:.1%} of succeeded requests read from the cache"
    if t.quarantined_lines:
        text += f"; {t.quarantined_lines:,} line{'' if t.quarantined_lines == 1 else 's'} quarantined"
    return text + "."


# ------------------------------------------------------------------ projected vs actual


def load_projection(projection: str | Path | dict | None) -> dict | None:
    """A `cachecast project --json` object, from a dict, a JSON file or JSON text."""
    if projection is None or projection == "":
        return None
    if isinstance(projection, dict):
        data = projection
    else:
        text = str(projection)
        path = Path(text)
        try:
            data = json.loads(path.read_text(encoding="utf-8") if not text.lstrip().startswith("{") else text)
        except FileNotFoundError:
            raise InputError(f"{path}: projection JSON not found") from None
        except json.JSONDecodeError as exc:
            raise InputError(f"{text[:80]}: not JSON ({exc.msg})") from None
    missing = {"requests", "no_cache_usd", "scenarios", "tokens"} - set(data)
    if missing:
        raise InputError(f"projection JSON lacks {', '.join(sorted(missing))}; give the output of "
                         "`cachecast project --json`")
    return data


def projected_vs_actual(t: Totals, projection: str | Path | dict | None):
    """Projection (the `project --json` contract) against what the batch did.

    Per-request means are compared directly. Dollar totals are compared after scaling the
    actual cost to the projection's request count (column `actual_scaled`), since a pilot
    is often audited against a projection of a different size; when counts match the two
    actual columns are equal."""
    import pandas as pd

    proj = load_projection(projection)
    if proj is None:
        return pd.DataFrame(columns=["metric", "projected", "actual", "actual_scaled", "difference", "difference_pct"])
    n = t.succeeded or 1
    scale = Decimal(proj["requests"]) / Decimal(n) if t.succeeded else Decimal(0)
    tokens = proj.get("tokens", {})
    rows: list[tuple[str, float, float, float]] = [
        ("requests", proj["requests"], t.requests, t.requests),
        ("cached prefix tokens per request", tokens.get("system", 0),
         (t.cache_creation_input_tokens + t.cache_read_input_tokens) / n,
         (t.cache_creation_input_tokens + t.cache_read_input_tokens) / n),
        ("uncached prompt tokens per request", tokens.get("user_mean", 0), t.input_tokens / n, t.input_tokens / n),
        ("output tokens per request", tokens.get("output_mean", 0), t.output_tokens / n, t.output_tokens / n),
        ("cost without caching ($)", proj["no_cache_usd"], float(t.no_cache_cost_usd),
         float(t.no_cache_cost_usd * scale)),
    ]
    for sc in proj.get("scenarios", []):
        label = f"cost, scenario {sc.get('name', '?')} ({sc.get('ttl', '?')}, hit rate {float(sc.get('hit_rate', 0)):.0%}) ($)"
        rows.append((label, sc.get("total_usd", 0.0), float(t.cost_usd), float(t.cost_usd * scale)))
    rows.append(("request hit rate", _closest_hit_rate(proj, t.request_hit_rate), t.request_hit_rate,
                 t.request_hit_rate))
    frame = pd.DataFrame(rows, columns=["metric", "projected", "actual", "actual_scaled"])
    frame["difference"] = frame["actual_scaled"] - frame["projected"]
    frame["difference_pct"] = [
        (d / p * 100) if p else None for d, p in zip(frame["difference"], frame["projected"])]
    return frame


def _closest_hit_rate(proj: dict, actual: float) -> float:
    rates = [float(sc.get("hit_rate", 0)) for sc in proj.get("scenarios", [])]
    return min(rates, key=lambda h: abs(h - actual)) if rates else 0.0


# ------------------------------------------------------------------ the notebook's view


@dataclass
class AuditRun:
    """Everything notebooks/02_audit_batch.ipynb shows, computed by the library so the
    notebook only calls and displays (no logic in notebooks)."""

    conn: duckdb.DuckDBPyConnection
    db: Path
    batch_id: str | None
    ingested: list  # ingest.FileReport of files ingested for this run (may be empty)
    totals: Totals

    def summary_lines(self) -> list[str]:
        lines = [headline(self.totals), status_line(self.totals)]
        scope = f"batch {self.batch_id}" if self.batch_id else f"all {self.totals.batches} batch(es) in the store"
        lines.append(f"Scope: {scope} ({self.db}).")
        lines += [f"Ingested now: {r.summary()}" for r in self.ingested]
        if self.totals.ttl_assumed_requests:
            lines.append(f"{self.totals.ttl_assumed_requests:,} requests wrote to the cache without a TTL breakdown "
                         "and without a manifest TTL: priced as 5m writes.")
        if self.totals.long_context_requests:
            lines.append(f"{self.totals.long_context_requests:,} requests exceeded the long-context threshold and "
                         "were priced at the long-context rates.")
        if self.totals.us_only_requests or self.totals.fast_requests:
            lines.append(f"{self.totals.us_only_requests:,} US-only (inference_geo us) and "
                         f"{self.totals.fast_requests:,} fast-mode requests were priced at their own rates.")
        if self.totals.web_search_requests:
            lines.append(f"{self.totals.web_search_requests:,} web searches cost {money(self.totals.web_search_cost_usd)}.")
        if self.totals.thinking_tokens:
            lines.append(f"{self.totals.thinking_tokens:,} of {self.totals.output_tokens:,} output tokens were thinking "
                         f"({money(self.totals.thinking_cost_usd)} of the output cost).")
        if self.totals.price_sources:
            lines.append(f"Prices as of {self.totals.priced_on} (each batch at its own date): "
                         f"{self.totals.price_sources}.")
        return lines

    def treatments(self):
        return treatments(self.conn, self.batch_id)

    def cost_components(self):
        return cost_components(self.totals)

    def hit_rate(self, bins: int = 40):
        return hit_rate_over_order(self.conn, self.batch_id, bins)

    def tokens(self):
        return tokens_by_type(self.conn, self.batch_id)

    def anomaly_counts(self):
        return anomaly_counts(self.conn, self.batch_id)

    def miss_causes(self, concurrency: int = DEFAULT_CONCURRENCY):
        """(summary, rows) of the misses by cause (module function miss_causes)."""
        return miss_causes(self.conn, self.batch_id, concurrency)

    def miss_assumption(self, concurrency: int = DEFAULT_CONCURRENCY) -> str:
        return miss_assumption(concurrency)

    def truncation(self):
        """Answers cut off at max_tokens per model and treatment (cachecast.analyse.billed)."""
        from . import billed

        return billed.truncation_frame(billed.truncation(self.conn, self.batch_id))

    def iterations(self):
        """Server-side turns (usage.iterations) by type and model, each at its model's rates."""
        from . import billed

        return billed.iterations(self.conn, self.batch_id)

    def billed_lines(self) -> list[str]:
        """Server-side turns, unpriced server tools and truncation warnings, in words."""
        from . import billed

        return billed.lines(self.conn, self.batch_id)

    def anomalies(self, limit: int = 200):
        return anomalies(self.conn, self.batch_id).head(limit)

    def errors(self):
        return errors_by_type(self.conn, self.batch_id)

    def quarantine(self):
        return quarantine(self.conn, self.batch_id)

    def projection_note(self, projection: str | Path | dict | None) -> str:
        if load_projection(projection) is None:
            return ("No projection given (parameter projection_json): save `cachecast project CONFIG --json` "
                    "output to a file and pass its path to compare projected and actual cost.")
        return ("Projected (cachecast project --json) against actual. Dollar rows compare the projection "
                "with the actual cost scaled to the projection's request count (actual_scaled).")

    def projected_vs_actual(self, projection: str | Path | dict | None):
        return projected_vs_actual(self.totals, projection)
