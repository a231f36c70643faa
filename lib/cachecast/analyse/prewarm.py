"""The synchronous probes sent before a batch and the pre-warm verdict (issue 15).

Probes (cachecast.send.probe, table `probes`) are billed at standard rates; their cost sits
beside the audit contract as probe_cost_usd. Whether a cache entry written by a synchronous
call is read by batch requests is not documented, so the pre-warm verdict is measured from
the stored results, never assumed.

The verdict reads what the lines of a pre-warmed prefix show, never the order of the
results file (not completion order: SDK MessageBatch.results_url docstring): how many of
them read the prefix and how many wrote it. One assumption remains, said as such wherever
the verdict is shown (ASSUMPTION): without the pre-warm, the first wave of `first_wave`
requests per prefix (sent together; the concurrency of cachecast.sim, `--first-wave N`,
parameter `first_wave`) would all have written it. With it, the entry exists before the wave,
so the wave reads as the batch's lines of that prefix read: its reads are the writes the
pre-warm avoided, wave x reads / lines, each worth its write minus its read
(sql/send/probe.sql prewarm_first_wave).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import duckdb

from .. import store
from ..errors import InputError
from ..facts.money import usd
from .audit import money

PROBE_FILE = "send/probe.sql"
MIN_FIRST_WAVE_LINES = 2  # fewer first-wave lines of a prefix than this: "not enough data"


@dataclass(frozen=True)
class PrewarmVerdict:
    """One (batch, cached prefix) whose build sent a pre-warm probe for that prefix."""

    batch_id: str
    prefix_hash: str
    first_wave: int  # the first-wave size assumed (requests of one prefix sent together)
    first_wave_lines: int  # min(first_wave, succeeded lines of the prefix): the wave this batch had
    first_wave_reads: int  # the writes the pre-warm avoided: wave x reads / lines, rounded
    first_wave_writes: int  # writes despite the pre-warm: wave x writes / lines, rounded
    saved_usd: Decimal  # wave / lines of what every read saved against writing (exact)
    probe_cost_usd: Decimal  # this batch's share of the pre-warm probes of the prefix
    simulated: bool
    lines: int = 0  # succeeded lines of the prefix in the batch
    reads: int = 0  # of them, lines that read it
    writes: int = 0  # and lines that wrote it

    @property
    def net_usd(self) -> Decimal:
        return self.saved_usd - self.probe_cost_usd

    @property
    def verdict(self) -> str:
        if self.first_wave_lines < MIN_FIRST_WAVE_LINES:
            return "not enough data"
        if self.first_wave_reads == 0:
            return "pre-warm was not read"
        if self.net_usd > 0:
            return f"pre-warm paid {money(self.net_usd)}"
        return f"pre-warm was read but cost {money(-self.net_usd)} more than it saved"

    def as_json(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id, "prefix_hash": self.prefix_hash, "first_wave": self.first_wave,
                "first_wave_lines": self.first_wave_lines, "first_wave_reads": self.first_wave_reads,
                "first_wave_writes": self.first_wave_writes, "saved_usd": usd(self.saved_usd),
                "probe_cost_usd": usd(self.probe_cost_usd), "net_saved_usd": usd(self.net_usd),
                "verdict": self.verdict, "simulated": self.simulated, "lines": self.lines, "reads": self.reads,
                "writes": self.writes, "assumption": assumption(self.first_wave)}


def assumption(first_wave: int) -> str:
    """The one assumption of the verdict, with the parameter that changes it."""
    return (f"ASSUMED (not documented): without the pre-warm the first {first_wave:,} requests of each prefix, "
            "sent together, would all have written it; set it with --first-wave N (audit: parameter first_wave)")


def probe_cost(conn: duckdb.DuckDBPyConnection, batch_id: str | None = None) -> dict[str, Any]:
    """Probes of the builds the batch came from (every probe without batch_id), exact Decimal
    at the standard rates they were billed at."""
    row = conn.execute(store.query(PROBE_FILE, "probe_cost"), {"batch_id": batch_id}).fetchone()
    probes, warm, cost, warm_cost = row
    return {"probes": int(probes), "prewarm_probes": int(warm), "probe_cost_usd": Decimal(cost),
            "prewarm_cost_usd": Decimal(warm_cost)}


def default_first_wave() -> int:
    """The concurrency assumption (cachecast.sim), used as the first wave's size."""
    from ..send.sim import DEFAULTS

    return int(DEFAULTS["concurrency"])


def prewarm_verdicts(conn: duckdb.DuckDBPyConnection, batch_id: str | None = None,
                     first_wave: int | None = None) -> list[PrewarmVerdict]:
    """Per batch and pre-warmed prefix: the lines that read it against those that wrote it,
    the writes of the assumed first wave (`first_wave` requests) the pre-warm avoided and the
    money that saved, and that net of the pre-warm probe's cost. Independent of the order of
    the results file."""
    n = int(first_wave) if first_wave else None
    if n is not None and n < 1:
        raise InputError(f"the first wave must be at least 1 request, not {n}")
    if not conn.execute(store.query(PROBE_FILE, "any_prewarm")).fetchone()[0]:
        return []
    n = n or default_first_wave()  # cachecast.send.sim, 0.2 s of imports: only when there is a verdict
    rows = conn.execute(store.query(PROBE_FILE, "prewarm_first_wave"), {"batch_id": batch_id}).fetchall()
    out = []
    for b, h, lines, reads, writes, read_saving, cost, sim in rows:
        lines, wave = int(lines), min(n, int(lines))
        share = Decimal(wave) / Decimal(lines)
        out.append(PrewarmVerdict(b, h, n, wave, _whole(share * reads), _whole(share * writes),
                                  Decimal(read_saving) * wave / lines, Decimal(cost or 0), bool(sim), lines,
                                  int(reads), int(writes)))
    return out


def _whole(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def probe_summary(conn: duckdb.DuckDBPyConnection, batch_id: str | None = None,
                  first_wave: int | None = None) -> dict[str, Any]:
    """The keys that go beside the audit contract: probe_cost_usd, probes and the pre-warm verdicts."""
    cost = probe_cost(conn, batch_id)
    verdicts = prewarm_verdicts(conn, batch_id, first_wave)
    return {"probe_cost_usd": usd(cost["probe_cost_usd"]), "probes": cost["probes"],
            "prewarm_probes": cost["prewarm_probes"], "prewarm_cost_usd": usd(cost["prewarm_cost_usd"]),
            "prewarm": [v.as_json() for v in verdicts] or None}


def prewarm_lines(conn: duckdb.DuckDBPyConnection, batch_id: str | None = None,
                  first_wave: int | None = None) -> list[str]:
    """One line per batch and prefix for the log; 'not enough data' when nothing was measured."""
    verdicts = prewarm_verdicts(conn, batch_id, first_wave)
    if not verdicts:
        cost = probe_cost(conn, batch_id)
        what = f"; probes cost {money(cost['probe_cost_usd'])}" if cost["probes"] else ""
        return [f"pre-warm {batch_id or '(all batches)'}: not enough data (no ingested first-wave lines of a "
                f"pre-warmed prefix){what}"]
    out = [f"pre-warm {v.batch_id} prefix {v.prefix_hash}{' (SIMULATED)' if v.simulated else ''}: {v.lines:,} "
           f"line(s), {v.reads:,} read it and {v.writes:,} wrote it; of a first wave of {v.first_wave_lines:,} "
           f"(assumed), {v.first_wave_reads:,} write(s) avoided, saved {money(v.saved_usd)} against writing, probe "
           f"{money(v.probe_cost_usd)}: {v.verdict}" for v in verdicts]
    return out + [f"pre-warm: {assumption(verdicts[0].first_wave)}"]
