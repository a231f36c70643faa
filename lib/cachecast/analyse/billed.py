"""What a bill holds beyond the plain tokens of one model (issue 19, sections 3 and 5):
server-side turns (usage.iterations: an advisor's sub-inferences, compactions), server-tool
counters no rate is known for, and answers cut off at max_tokens.

Why apart from the contract: `audit --json` keeps DESIGN.md's keys exactly; these come after
them (details()), and the text output, the ledger and the reports say the same in words.

Truncation: a line whose stop_reason is "max_tokens" was billed in full for an answer that did
not finish (thinking counts toward max_tokens, so adaptive thinking at a high effort can cut
many answers while the cost looks fine). Above TRUNCATION_WARN_SHARE of a model and
treatment's answers, a warning says what to change.
"""
from __future__ import annotations

from decimal import Decimal
from typing import Any

import duckdb

from .. import store
from ..facts.money import usd

FILE = "analyse/audit.sql"
# cachecast's threshold (issue 19), not an API fact: more than 1% of a group's answers cut off
TRUNCATION_WARN_SHARE = 0.01


def _rows(conn: duckdb.DuckDBPyConnection, name: str, **params: Any) -> list[dict[str, Any]]:
    cur = conn.execute(store.query(FILE, name), params)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


# ------------------------------------------------------------------ server-side turns


def iteration_rows(conn: duckdb.DuckDBPyConnection, batch_id: str | None = None) -> list[dict[str, Any]]:
    """Server-side turns by type and model: turns, requests, tokens, dollars (float, 6 decimals),
    each turn at its own model's rates (sql/store/views.sql iteration_costs)."""
    ints = ("turns", "requests", "input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens",
            "output_tokens")
    return [{**r, **{k: int(r[k]) for k in ints}, "executor": bool(r["executor"]), "priced": bool(r["priced"]),
             "cost_usd": usd(r["cost_usd"])} for r in _rows(conn, "iterations", batch_id=batch_id)]


def iterations(conn: duckdb.DuckDBPyConnection, batch_id: str | None = None):
    """iteration_rows as a DataFrame (notebook tables, CSV)."""
    import pandas as pd

    columns = ["turn_type", "model", "executor", "turns", "requests", "input_tokens", "cache_creation_input_tokens",
               "cache_read_input_tokens", "output_tokens", "cost_usd", "priced"]
    return pd.DataFrame(iteration_rows(conn, batch_id), columns=columns)


def unpriced_tools(conn: duckdb.DuckDBPyConnection, batch_id: str | None = None) -> list[dict[str, Any]]:
    """server_tool_use counters with no known rate: [{counter, requests, uses}] (never dropped)."""
    return [{"counter": r["counter"], "requests": int(r["requests"]),
             "uses": None if r["uses"] is None else int(r["uses"])} for r in _rows(conn, "unpriced_tools", batch_id=batch_id)]


def unpriced_lines(tools: list[dict[str, Any]]) -> list[str]:
    return [f"unpriced: {t['requests']:,} request{'' if t['requests'] == 1 else 's'} used {t['counter']}"
            + (f" ({t['uses']:,} uses)" if t["uses"] is not None else "")
            + ": no documented rate, not in cost_usd (the cost report says what was billed)" for t in tools]


# ------------------------------------------------------------------ truncated answers


def truncation_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of the truncation queries (model, treatment, succeeded, truncated, ...) with the share."""
    return [{"model": r["model"], "treatment": r["treatment"], "succeeded": int(r["succeeded"]),
             "truncated": int(r["truncated"]), "share": int(r["truncated"]) / int(r["succeeded"]) if r["succeeded"] else 0.0,
             "truncated_cost_usd": Decimal(r["truncated_cost_usd"]),
             "truncated_output_tokens": int(r["truncated_output_tokens"])} for r in rows]


def truncation(conn: duckdb.DuckDBPyConnection, batch_id: str | None = None) -> list[dict[str, Any]]:
    """Per model and treatment: succeeded answers, how many stopped at max_tokens, their share
    and the dollars spent on them (exact Decimal)."""
    return truncation_rows(_rows(conn, "truncation", batch_id=batch_id))


def truncation_frame(rows: list[dict[str, Any]]):
    """The truncation rows as a DataFrame for tables and CSV (money as float dollars)."""
    import pandas as pd

    columns = ["model", "treatment", "succeeded", "truncated", "share", "truncated_cost_usd", "truncated_output_tokens"]
    return pd.DataFrame([{**r, "truncated_cost_usd": usd(r["truncated_cost_usd"])} for r in rows], columns=columns)


def truncation_warnings(rows: list[dict[str, Any]], threshold: float = TRUNCATION_WARN_SHARE) -> list[str]:
    """One sentence per model and treatment with more than `threshold` of its answers cut off."""
    out = []
    for r in rows:
        if r["share"] > threshold:
            out.append(f"{r['truncated']:,} of {r['succeeded']:,} answers of {r['model']} / {r['treatment']} "
                       f"({r['share']:.1%}) stopped at max_tokens, ${usd(r['truncated_cost_usd']):,.4f} spent on cut-off "
                       "answers: raise max_tokens in the config (thinking counts toward it) or lower "
                       "output_config.effort, then send those requests again")
    return out


def truncation_json(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The `truncated` key beside a contract: totals, the groups and the warnings."""
    succeeded = sum(r["succeeded"] for r in rows)
    truncated = sum(r["truncated"] for r in rows)
    return {"requests": truncated, "share": truncated / succeeded if succeeded else 0.0,
            "cost_usd": usd(sum((r["truncated_cost_usd"] for r in rows), Decimal(0))),
            "warn_share": TRUNCATION_WARN_SHARE,
            "by_group": [{**r, "truncated_cost_usd": usd(r["truncated_cost_usd"])} for r in rows if r["truncated"]],
            "warnings": truncation_warnings(rows)}


# ------------------------------------------------------------------ together


def details(conn: duckdb.DuckDBPyConnection, batch_id: str | None = None, totals: Any = None) -> dict[str, Any]:
    """The keys that go after the audit contract: server-side turns by type and model, unpriced
    server-tool counters, truncation (with its warnings). With the audit's `totals` at hand,
    the truncation groups are the ones its pass summed (no second pass over every line)."""
    cut = totals is None or totals.truncated_requests > 0
    if not cut:
        rows = []
    elif totals is not None:
        rows = truncation_rows(list(totals.truncation))
    else:
        rows = truncation(conn, batch_id)
    out = truncation_json(rows)
    if not cut:
        out["share"], out["requests"] = 0.0, 0
    return {"iterations": iteration_rows(conn, batch_id) or None,
            "unpriced_server_tools": unpriced_tools(conn, batch_id) or None,
            "truncated": out}


def lines(conn: duckdb.DuckDBPyConnection, batch_id: str | None = None) -> list[str]:
    """The same in words, for the CLI and the notebook: server-side turns, unpriced counters,
    truncation warnings (nothing when there is nothing to say)."""
    out = []
    for r in (r for r in iteration_rows(conn, batch_id) if not r["executor"]):
        out.append(f"server-side turns: {r['turns']:,} {r['turn_type']} on {r['model']} in {r['requests']:,} "
                   f"request(s), ${r['cost_usd']:,.6f} at {r['model']}'s rates (usage.iterations)")
    out += unpriced_lines(unpriced_tools(conn, batch_id))
    rows = truncation(conn, batch_id)
    cut = sum(r["truncated"] for r in rows)
    if cut:
        total = sum(r["succeeded"] for r in rows)
        out.append(f"truncated: {cut:,} of {total:,} answers ({cut / total:.1%}) stopped at max_tokens, "
                   f"${usd(sum((r['truncated_cost_usd'] for r in rows), Decimal(0))):,.4f} spent on them")
    out += [f"warning: {w}" for w in truncation_warnings(rows)]
    return out
