"""What notebooks/02_audit_batch.ipynb shows beyond cachecast.audit: which batch to audit
by default, the cache misses by cause, and the other anomalies grouped by kind with one
explanation per kind.

Why grouped: a batch of 1,000 requests listed 139 rows repeating the same sentence. A
reader needs each kind once, what it means and what it cost, then a few examples.

Misses come from cachecast.audit.miss_causes (issue 12), which names the unavoidable first
wave of a batch as such (`first_wave`, not "a miss that should have been a hit"). Where
that is missing (an older cachecast.audit), repeat writes before the first read of their
prefix are renamed first_wave here, by the same rule.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from ..analyse.tables import _LABELS as _AUDIT_LABELS  # the audit tables' reader-facing headers

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

_BEFORE_FIRST_READ = """
WITH k AS (
    SELECT batch_id, model, prefix_hash, source_file, line_no,
        ingest_id::BIGINT * 1099511627776 + line_no AS pos, cache_read_input_tokens > 0 AS is_read
    FROM request_costs
    WHERE result_type = 'succeeded' AND ($batch_id IS NULL OR batch_id = $batch_id)
), fr AS (
    SELECT batch_id, model, prefix_hash, min(pos) FILTER (WHERE is_read) AS first_read FROM k GROUP BY ALL
)
SELECT k.batch_id, k.source_file, k.line_no
FROM k JOIN fr ON fr.batch_id = k.batch_id AND fr.model = k.model AND fr.prefix_hash IS NOT DISTINCT FROM k.prefix_hash
WHERE fr.first_read IS NULL OR k.pos < fr.first_read
"""


def latest_batch(db_path: str | Path) -> str | None:
    """The batch ingested last (None for an empty or missing store): what `batch_id=None` audits."""
    from ..analyse import audit
    from .. import store

    if not Path(db_path).exists():
        return None
    conn = store.connect(db_path, read_only=True)
    try:
        frame = audit.batches(conn)
    finally:
        conn.close()
    if not len(frame):
        return None
    return str(frame.sort_values(["last_ingest_at", "batch_id"]).iloc[-1]["batch_id"])


def misses(run: Any, per_kind: int = 5) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(one row per cause, the first `per_kind` writes of each cause) for the run; the batch
    column only when there is more than one batch."""
    from ..analyse import audit

    if hasattr(audit, "miss_causes"):
        summary, rows = run.miss_causes()
    else:  # older cachecast.audit: group the anomaly view's write anomalies
        frame = classified(run)
        frame = frame[frame["kind"].isin(MISS_KINDS)]
        summary = by_kind(frame).rename(columns={"meaning": "explanation"}).drop(columns="example")
        rows = frame
    if "batch_id" in summary and summary["batch_id"].nunique() <= 1:
        summary = summary.drop(columns="batch_id")
    keep = [c for c in ("batch_id", "kind", "line_no", "custom_id", "treatment", "written_tokens", "usd_lost",
                        "reason", "api_reason") if c in rows]
    first = rows.groupby("kind", sort=False).head(per_kind)[keep] if len(rows) else rows.reindex(columns=keep)
    rank = {k: i for i, k in enumerate(ORDER)}
    first = first.assign(_r=first["kind"].map(lambda k: rank.get(k, len(ORDER)))).sort_values(["_r"], kind="stable")
    summary_cols = [c for c in ("batch_id", "kind", "avoidable", "requests", "written_tokens", "usd_lost",
                                "explanation", "api_reasons") if c in summary]
    return summary[summary_cols].reset_index(drop=True), first.drop(columns="_r").reset_index(drop=True)


def other_anomalies(run: Any) -> pd.DataFrame:
    """Anomalies the miss table does not cover (no cache activity, assumed TTLs, requests
    that did not run), one row per kind."""
    frame = run.anomalies(limit=10**9)
    return by_kind(frame[~frame["kind"].isin(COVERED)] if len(frame) else frame)


def classified(run: Any) -> pd.DataFrame:
    """Every anomaly of the run, repeat writes before the first read of their prefix
    renamed first_wave_write."""
    frame = run.anomalies(limit=10**9).copy()
    if not len(frame):
        return frame
    early = run.conn.execute(_BEFORE_FIRST_READ, {"batch_id": run.batch_id}).df()
    keys = set(zip(early["batch_id"], early["source_file"], early["line_no"]))
    first = [k == "repeat_write" and (b, f, int(n)) in keys
             for k, b, f, n in zip(frame["kind"], frame["batch_id"], frame["source_file"], frame["line_no"])]
    frame.loc[first, "kind"] = FIRST_WAVE
    frame.loc[first, "reason"] = frame.loc[first, "reason"].str.replace(
        ": a miss that should have been a hit", ": first wave of the batch, unavoidable", regex=False)
    return frame


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




LABELS = {**_AUDIT_LABELS, "kind": "cause", "avoidable": "avoidable", "written_tokens": "tokens written",
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

