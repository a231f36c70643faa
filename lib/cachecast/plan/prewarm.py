"""Pre-warming (issue 15): what `submit --prewarm` is expected to save on a projection.

Without a pre-warm, the first concurrent wave of a batch all writes the cached prefix; with
it, the expected share of that wave reads the entry the pre-warm probe wrote. The probe is
billed at standard rates. A projection, not a measurement: the audit measures the real
verdict from the results (cachecast.analyse.audit.prewarm_lines).

Takes a cachecast.plan.projection.Projection; imports nothing from that module, which
re-exports these names (`prewarm_json` is part of `project --json`).
"""
from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..facts.costs import token_cost
from ..facts.pricing import get_rates

if TYPE_CHECKING:
    from .projection import Projection


def _f(value: Decimal, places: int = 6) -> float:
    return float(round(value, places))


@dataclass(frozen=True)
class PrewarmSaving:
    """What `submit --prewarm` is expected to save on one shared prefix (a projection, not a
    measurement: the audit measures it from the results)."""

    first_wave: int  # requests assumed to start together (the concurrency assumption)
    read_share: Decimal  # of them, the share expected to read the pre-warmed entry (best effort)
    first_wave_saving: Decimal  # their writes turned into reads, at the run's rates
    probe_cost: Decimal  # the pre-warm probe at standard rates: prefix written, rest as input
    validation_probe_cost: Decimal  # the probe submit sends anyway (no markers): all input
    break_even_first_wave: Decimal | None  # first-wave size above which the pre-warm pays

    @property
    def net(self) -> Decimal:
        return self.first_wave_saving - self.probe_cost


def prewarm_concurrency() -> int:
    """The concurrency assumption: how many batch requests start together (cachecast.sim)."""
    from ..send.sim import DEFAULTS

    return int(DEFAULTS["concurrency"])


def prewarm_saving(p: Projection, concurrency: int | None = None, overrides: Path | None = None) -> PrewarmSaving | None:
    """Expected saving of --prewarm: without it the first wave (min(concurrency, requests))
    all write the prefix; with it, the expected hit rate of them read it instead. Net of the
    pre-warm probe, priced at standard rates. None when nothing is cached."""
    if not p.cacheable or p.worst_case_ttl is None:
        return None
    S, U, ttl = p.tokens.system, p.tokens.user_mean, p.worst_case_ttl
    wave = min(int(concurrency or prewarm_concurrency()), p.requests)
    share = p.expected_hit_rate if p.expected_hit_rate is not None else Decimal(1)
    writes = {"write_1h" if ttl == "1h" else "write_5m": S}  # through the one cost formula (facts.costs)
    per_read = (token_cost(p.rates, **writes, tier_tokens=S + U).total
                - token_cost(p.rates, read=S, tier_tokens=S + U).total)
    std = get_rates(p.model, False, overrides, at=p.rates.priced_on)
    probe = token_cost(std, input=U, **writes, tier_tokens=S + U).total
    per_request = share * per_read
    return PrewarmSaving(first_wave=wave, read_share=share, first_wave_saving=wave * per_request, probe_cost=probe,
                         validation_probe_cost=token_cost(std, input=S + U).total,
                         break_even_first_wave=probe / per_request if per_request > 0 else None)


def prewarm_json(p: Projection, concurrency: int | None = None) -> dict[str, Any] | None:
    """The `prewarm` key of project --json (beside the contract keys)."""
    from ..errors import CachecastError

    try:
        saving = prewarm_saving(p, concurrency)
    except CachecastError as exc:  # no standard price for the model: say so, do not guess
        return {"reason": str(exc)}
    if saving is None:
        return None
    return {"first_wave": saving.first_wave, "read_share": _f(saving.read_share, 4),
            "first_wave_saving_usd": _f(saving.first_wave_saving), "probe_cost_usd": _f(saving.probe_cost),
            "validation_probe_cost_usd": _f(saving.validation_probe_cost), "net_saving_usd": _f(saving.net),
            "break_even_first_wave": _f(saving.break_even_first_wave, 2) if saving.break_even_first_wave else None,
            "assumption": (f"the first {saving.first_wave} requests (the concurrency assumption of cachecast.sim) "
                           f"start together; {_f(saving.read_share, 4)} of them read the pre-warmed entry (the "
                           "expected hit rate); a projection: the audit measures the real verdict")}
