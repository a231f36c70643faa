"""The budget gate in front of `submit`: no money leaves until the projection fits the budget.

The build directory's build.json names the config it was built from; the config holds
`budget_usd`. The projected spend of exactly these request files is compared with it, in
the true worst case: every request writes the cached prefix at the configured TTL and none
reads (in a batch, concurrent requests all pay the write, so this can happen). The expected
figure is printed beside it. Output is the answer plus the model's expected thinking
(cachecast.projection.output_tokens), priced with the same rates as every other command
(`--prices FILE` / CACHECAST_PRICES). The synchronous probes `submit` sends first
(cachecast.probe, billed at standard rates) are added to both figures: `probe_usd`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from ..errors import CachecastError, InputError


class BudgetError(CachecastError):
    """The projected spend is above the configured budget (override with --force)."""


@dataclass(frozen=True)
class Verdict:
    projected_usd: float  # the worst case, which the budget is judged on
    budget_usd: float | None
    basis: str  # what the worst case is
    within: bool
    sentence: str  # the projection module's verdict in words (worst case and expected)
    expected_usd: float = 0.0
    price_source: str = ""  # genai-prices version, day, correction rows (every figure says it)


def config_of(build_dir: Path) -> Path:
    """The config a build was made from; build.json records it relative to the build directory."""
    info_path = build_dir / "build.json"
    if not info_path.exists():
        raise InputError(f"{build_dir}: no build.json; submit takes a directory made by cachecast build")
    raw = json.loads(info_path.read_text()).get("config")
    if not raw:
        raise InputError(f"{info_path}: does not say which config it was built from")
    path = Path(raw)
    for candidate in ([path] if path.is_absolute() else [build_dir / path, Path.cwd() / path]):
        if candidate.exists():
            return candidate
    raise InputError(f"{info_path}: its config {raw} was not found (was the build or the config moved? "
                     "rebuild, or use --force to skip the budget check)")


def verdict(build_dir: Path, overrides: Path | None = None, probe_usd: Decimal = Decimal(0)) -> Verdict:
    """Project exactly these request files with the projection module's cost model and budget rule;
    `probe_usd` (the probes' projected cost, standard rates) is spent too, so it is added."""
    from ..build.config import load_config
    from .projection import basis_name, budget_verdict

    cfg = load_config(config_of(build_dir))
    p = project_build(build_dir, cfg, overrides)
    worst = p.worst_case.total + probe_usd
    within = cfg.budget_usd is None or worst <= Decimal(str(cfg.budget_usd))
    sentence = budget_verdict(p) + (f"; plus ${probe_usd:.6f} of probes at standard rates, included in the "
                                    f"check (worst case ${worst:,.2f})" if probe_usd else "")
    return Verdict(float(worst), cfg.budget_usd, basis_name(p), within, sentence,
                   float(p.expected.total + probe_usd), p.rates.source)


def project_build(build_dir: Path, cfg, overrides: Path | None = None):
    """A Projection of the built files: request count and mean token estimates from the manifest.

    The config supplies rates, output (the answer, max_tokens x output_fill_ratio, plus the
    model's expected thinking), TTL and budget; the budget is judged, as by `cachecast
    project`, on the worst case at the configured TTL."""
    from decimal import Decimal

    from ..build.batches import read_manifest
    from ..facts.pricing import get_rates
    from .projection import TokenProfile, output_tokens, project_costs

    rows = read_manifest(build_dir)
    if not rows:
        raise InputError(f"{build_dir}: the manifest is empty; nothing to submit")
    cached = [r for r in rows if r.get("cacheable")]
    prefix = round(sum(int(r.get("est_prefix_tokens") or 0) for r in cached) / len(cached)) if cached else 0
    rest = sum(int(r.get("est_rest_tokens") or 0) + (0 if r.get("cacheable") else int(r.get("est_prefix_tokens") or 0))
               for r in rows)
    model = rows[0]["model"]
    output, thinking, sources, notes = output_tokens(cfg, model=model)
    tokens = TokenProfile(system=prefix, user_mean=Decimal(rest) / len(rows), output_mean=output,
                          thinking_mean=thinking, source="estimate",
                          sources={"system": "estimate", "user": "estimate", **sources}, notes=tuple(notes))
    ttl = cfg.provider.cache.ttl if cached else None
    return project_costs(get_rates(model, cfg.provider.batch, overrides), model=model,
                         items=len({r["item_id"] for r in rows}), requests=len(rows), tokens=tokens,
                         cacheable=bool(cached), budget_usd=cfg.budget_usd, budget_ttl=ttl,
                         label=f"build {build_dir.name}")


def check_budget(build_dir: Path, force: bool = False, overrides: Path | None = None,
                 probe_usd: Decimal = Decimal(0)) -> str:
    """One line for the log (worst case and expected); raises BudgetError when the worst
    case (the probes' projected cost included) is over budget and not forced."""
    if force:
        try:
            v = verdict(build_dir, overrides, probe_usd)
        except CachecastError as exc:
            return f"budget check skipped (--force): {exc}"
        return (f"projected ${v.projected_usd:,.2f} in the worst case ({v.basis}), ${v.expected_usd:,.2f} expected; "
                f"budget check overridden with --force [prices: {v.price_source}]")
    v = verdict(build_dir, overrides, probe_usd)
    if v.budget_usd is None:
        return (f"projected ${v.projected_usd:,.2f} in the worst case ({v.basis}), ${v.expected_usd:,.2f} expected; "
                f"the config sets no budget_usd [prices: {v.price_source}]")
    if not v.within:
        raise BudgetError(f"projected spend ${v.projected_usd:,.2f} in the worst case ({v.basis}, estimated tokens; "
                          f"${v.expected_usd:,.2f} expected) exceeds the config's budget_usd ${v.budget_usd:,.2f}; "
                          "nothing was submitted (raise the budget, shrink the run, or use --force)")
    return f"projected spend of these files: {v.sentence} [prices: {v.price_source}]"
