"""The budget gate in front of `submit`: no money leaves until the projection fits the budget.

The build directory's build.json names the config it was built from; the config holds
`budget_usd`. The projected spend of exactly these request files is compared with it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .errors import CachecastError, InputError


class BudgetError(CachecastError):
    """The projected spend is above the configured budget (override with --force)."""


@dataclass(frozen=True)
class Verdict:
    projected_usd: float  # cost of the scenario the budget is judged on
    budget_usd: float | None
    basis: str  # which scenario that is
    within: bool
    sentence: str  # the projection module's verdict in words


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


def verdict(build_dir: Path) -> Verdict:
    """Project exactly these request files with the projection module's cost model and budget rule."""
    from .config import load_config
    from .projection import budget_verdict

    cfg = load_config(config_of(build_dir))
    p = project_build(build_dir, cfg)
    basis = p.budget_basis.cost.total if p.budget_basis else p.no_cache.total
    name = (f"{p.budget_basis.ttl} at a {p.budget_basis.hit_rate:.0%} hit rate" if p.budget_basis else "no cache")
    return Verdict(float(basis), cfg.budget_usd, name, bool(p.within_budget is not False), budget_verdict(p))


def project_build(build_dir: Path, cfg):
    """A Projection of the built files: request count and mean token estimates from the manifest.

    The config supplies rates, output size (max_tokens x output_fill_ratio), TTL and budget;
    the budget is judged, as by `cachecast project`, on the lowest projected hit rate at the
    configured TTL."""
    from decimal import Decimal

    from .batches import read_manifest
    from .pricing import get_rates
    from .projection import TokenProfile, default_output_tokens, project_costs

    rows = read_manifest(build_dir)
    if not rows:
        raise InputError(f"{build_dir}: the manifest is empty; nothing to submit")
    cached = [r for r in rows if r.get("cacheable")]
    prefix = round(sum(int(r.get("est_prefix_tokens") or 0) for r in cached) / len(cached)) if cached else 0
    rest = sum(int(r.get("est_rest_tokens") or 0) + (0 if r.get("cacheable") else int(r.get("est_prefix_tokens") or 0))
               for r in rows)
    tokens = TokenProfile(system=prefix, user_mean=Decimal(rest) / len(rows), output_mean=default_output_tokens(cfg),
                          source="estimate", sources={"system": "estimate", "user": "estimate", "output": "config"})
    model = rows[0]["model"]
    ttl = cfg.provider.cache.ttl if cached else None
    return project_costs(get_rates(model, cfg.provider.batch), model=model, items=len({r["item_id"] for r in rows}),
                         requests=len(rows), tokens=tokens, cacheable=bool(cached), budget_usd=cfg.budget_usd,
                         budget_ttl=ttl, label=f"build {build_dir.name}")


def check_budget(build_dir: Path, force: bool = False) -> str:
    """One line for the log; raises BudgetError when over budget and not forced."""
    if force:
        try:
            v = verdict(build_dir)
        except CachecastError as exc:
            return f"budget check skipped (--force): {exc}"
        return f"projected ${v.projected_usd:,.2f} ({v.basis}); budget check overridden with --force"
    v = verdict(build_dir)
    if v.budget_usd is None:
        return f"projected ${v.projected_usd:,.2f} ({v.basis}); the config sets no budget_usd"
    if not v.within:
        raise BudgetError(f"projected spend ${v.projected_usd:,.2f} ({v.basis}, estimated tokens) exceeds the "
                          f"config's budget_usd ${v.budget_usd:,.2f}; nothing was submitted (raise the budget, "
                          "shrink the run, or use --force)")
    return f"projected spend of these files: {v.sentence}"
