"""The budget gate in front of `submit`: no money leaves until the projection fits the budget.

The build directory's build.json names the config it was built from; the config holds
`budget_usd` and `max_tokens`. The projected spend of exactly these request files is given
as three figures (cachecast.plan.budget): the **ceiling** (every request writes the cached
prefix at the configured TTL, none reads, every output reaches max_tokens, thinking
included), the **worst expected** (the same cache worst case at the expected output: the
answer plus the model's expected thinking, cachecast.plan.projection.output_tokens) and the
**expected**. The gate refuses when the worst expected is over the budget (with
`--budget-basis ceiling`: the ceiling), and warns when only the ceiling is, with how to
lower it. Prices are the same as every other command's (`--prices FILE` /
CACHECAST_PRICES). The synchronous probes `submit` sends first (cachecast.send.probe, billed at
standard rates) are added to every figure: `probe_usd`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from ..errors import CachecastError, InputError
from .budget import DEFAULT_BASIS, BudgetFigures, check_basis, figures


class BudgetError(CachecastError):
    """The projected spend is above the configured budget (override with --force)."""


@dataclass(frozen=True)
class Verdict:
    """The gate's figures for a build (probes included) and its verdict."""

    figures: BudgetFigures
    sentence: str  # the projection module's verdict in words (the three figures)
    price_source: str = ""  # genai-prices version, day, correction rows (every figure says it)
    probe_usd: Decimal = Decimal(0)

    @property
    def projected_usd(self) -> float:
        """The figure the budget is judged on (worst expected, or the ceiling)."""
        return float(self.figures.judged)

    @property
    def ceiling_usd(self) -> float:
        return float(self.figures.ceiling)

    @property
    def worst_expected_usd(self) -> float:
        return float(self.figures.worst_expected)

    @property
    def expected_usd(self) -> float:
        return float(self.figures.expected)

    @property
    def budget_usd(self) -> float | None:
        return None if self.figures.budget is None else float(self.figures.budget)

    @property
    def basis(self) -> str:
        return self.figures.basis

    @property
    def within(self) -> bool:
        return self.figures.within is not False

    @property
    def warning(self) -> str | None:
        return self.figures.ceiling_warning()


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


def verdict(build_dir: Path, overrides: Path | None = None, probe_usd: Decimal = Decimal(0),
            basis: str = DEFAULT_BASIS) -> Verdict:
    """Project exactly these request files with the projection module's cost model and budget
    rule; `probe_usd` (the probes' projected cost, standard rates) is spent whatever happens,
    so it is added to every figure."""
    from ..build.config import load_config
    from .projection import budget_verdict

    cfg = load_config(config_of(build_dir))
    p = project_build(build_dir, cfg, overrides, check_basis(basis))
    f = figures(p).plus(probe_usd)
    sentence = budget_verdict(p) + (f"; plus ${probe_usd:.6f} of probes at standard rates, included in the "
                                    f"check (the judged figure ${f.judged:,.2f})" if probe_usd else "")
    return Verdict(f, sentence, p.rates.source, probe_usd)


def project_build(build_dir: Path, cfg, overrides: Path | None = None, basis: str = DEFAULT_BASIS):
    """A Projection of the built files: request count and mean token estimates from the manifest.

    The config supplies rates, output (the answer, max_tokens x output_fill_ratio, plus the
    model's expected thinking), max_tokens (which build writes into every request: the
    ceiling), TTL and budget; the budget is judged, as by `cachecast project`, on `basis`."""
    from decimal import Decimal

    from ..build.batches import read_manifest
    from ..facts.pricing import get_rates
    from .projection import TokenProfile, expected_thinking, output_tokens, project_costs

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
                         label=f"build {build_dir.name}", max_tokens=cfg.max_tokens, budget_basis=basis,
                         thinking_effort=expected_thinking(cfg, model).effort)


def check_budget(build_dir: Path, force: bool = False, overrides: Path | None = None,
                 probe_usd: Decimal = Decimal(0), basis: str = DEFAULT_BASIS) -> str:
    """Lines for the log: the three figures, then (when only the ceiling is over the budget) a
    line starting "warning:"; raises BudgetError when the judged figure (the probes' projected
    cost included) is over budget and not forced."""
    if force:
        try:
            v = verdict(build_dir, overrides, probe_usd, basis)
        except CachecastError as exc:
            return f"budget check skipped (--force): {exc}"
        return f"projected: {v.figures.summary()}; budget check overridden with --force [prices: {v.price_source}]"
    v = verdict(build_dir, overrides, probe_usd, basis)
    f = v.figures
    if f.budget is None:
        return f"projected: {f.summary()}; the config sets no budget_usd [prices: {v.price_source}]"
    if not v.within:
        raise BudgetError(_refusal(f))
    line = f"projected spend of these files: {v.sentence} [prices: {v.price_source}]"
    return line + (f"\n{v.warning}" if v.warning else "")


def _refusal(f: BudgetFigures) -> str:
    if f.basis == "ceiling":
        return (f"the ceiling of these files, ${f.ceiling:,.2f} ({f.ceiling_words()}; estimated prompt tokens; "
                f"worst expected ${f.worst_expected:,.2f}, expected ${f.expected:,.2f}), exceeds the config's "
                f"budget_usd ${f.budget:,.2f} (--budget-basis ceiling); nothing was submitted (to lower it: "
                f"{f.how_to_lower()}; or raise the budget, or use --force)")
    return (f"the worst expected spend of these files, ${f.worst_expected:,.2f} ({f.worst_words()}; estimated "
            f"tokens; expected ${f.expected:,.2f}, ceiling ${f.ceiling:,.2f}), exceeds the config's budget_usd "
            f"${f.budget:,.2f}; nothing was submitted (raise the budget, shrink the run, or use --force)")
