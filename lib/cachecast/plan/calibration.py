"""Calibration from an audited pilot: what the pilot's own results say about output length
(thinking included) and about how far the offline prompt estimate was off.

Read straight from the store's `results` and `manifest` tables with a read-only DuckDB
connection, defensively (column by column), so a store written by an older cachecast still
calibrates. cachecast.plan.projection uses the observation in place of the config's
assumptions (`token_profile`, `output_tokens`).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from ..errors import InputError


@dataclass(frozen=True)
class PilotObservation:
    requests: int
    output_mean: Decimal  # all output, thinking included
    prompt_ratio: Decimal | None  # actual / estimated prompt tokens (None: no manifest to compare)
    thinking_mean: Decimal | None = None  # usage.output_tokens_details.thinking_tokens (None: not reported)
    truncated: int = 0  # of the requests, answers cut off at max_tokens: the observed mean is then a floor

    def truncation_note(self) -> str | None:
        """Said beside a calibration from this pilot when its outputs were cut off (issue 19)."""
        if not self.truncated:
            return None
        return (f"{self.truncated:,} of {self.requests:,} pilot answers ({self.truncated / self.requests:.1%}) stopped "
                "at max_tokens: the calibrated output is a floor (those answers would have been longer); raise "
                "max_tokens or lower the effort, or pin --output-tokens")


def observed_pilot(db: Path) -> PilotObservation:
    """Mean output tokens (and the prompt-size correction) of an audited pilot, read from
    the store's `results` table (succeeded lines) joined to `manifest` for the estimates."""
    import duckdb

    from .._paths import regular_file

    if not Path(db).exists():
        raise InputError(f"{db}: audit database not found")
    con = duckdb.connect(str(regular_file(Path(db), "audit store (.duckdb)")), read_only=True)
    try:
        cols = {r[0] for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'results'").fetchall()}
        if "output_tokens" not in cols:
            raise InputError(f"{db}: no results table with output_tokens (ingest a pilot first)")
        status = next((c for c in ("result_type", "status", "type") if c in cols), None)
        where = f"WHERE {status} = 'succeeded'" if status else "WHERE output_tokens IS NOT NULL"
        n, out_mean = con.execute(f"SELECT count(*), avg(output_tokens)::DOUBLE FROM results {where}").fetchone()
        if not n:
            raise InputError(f"{db}: no succeeded requests to calibrate from")
        thinking = None
        if "thinking_tokens" in cols:  # lines without the breakdown count as unknown, not as 0
            thinking = con.execute(f"SELECT avg(thinking_tokens)::DOUBLE FROM results {where}").fetchone()[0]
        ratio = _prompt_ratio(con, where, cols)
        truncated = 0
        if "stop_reason" in cols:
            truncated = con.execute(f"SELECT count(*) FROM results {where} AND stop_reason = 'max_tokens'").fetchone()[0]
    finally:
        con.close()
    return PilotObservation(requests=int(n), output_mean=Decimal(str(round(out_mean, 3))), prompt_ratio=ratio,
                            thinking_mean=Decimal(str(round(thinking, 3))) if thinking is not None else None,
                            truncated=int(truncated))


def _prompt_ratio(con: Any, where: str, cols: set[str]) -> Decimal | None:
    need = {"custom_id", "input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"}
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if not need <= cols or "manifest" not in tables:
        return None
    mcols = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'manifest'").fetchall()}
    if not {"custom_id", "est_prefix_tokens", "est_rest_tokens"} <= mcols:
        return None
    # Several builds can share custom_ids (pilot and full run): join through the batch's own
    # manifest when the store records it (batches.manifest_id), else on custom_id alone.
    bcols = {r[0] for r in con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'batches'").fetchall()}
    via_batch = {"manifest_id"} <= mcols and {"batch_id", "manifest_id"} <= bcols and "batch_id" in cols
    join = ("JOIN batches b ON b.batch_id = r.batch_id JOIN manifest m ON m.manifest_id = b.manifest_id "
            "AND m.custom_id = r.custom_id") if via_batch else "JOIN manifest m ON m.custom_id = r.custom_id"
    pairs = con.execute(
        "SELECT m.est_prefix_tokens + m.est_rest_tokens, "
        "r.input_tokens + r.cache_creation_input_tokens + r.cache_read_input_tokens "
        f"FROM (SELECT * FROM results {where}) r {join}").fetchall()
    if not pairs:
        return None
    from ..tokens.count import calibrate

    return Decimal(str(round(calibrate(pairs).ratio, 6)))
