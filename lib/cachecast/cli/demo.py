"""The one-command demo: the whole pipeline on the shipped sample data, offline.

build the pilot -> lint -> count (estimate) -> project pilot and full run -> simulate the
pilot batch -> ingest -> audit -> the same pilot pre-warmed (probe + batch, simulated, with
the measured pre-warm verdict) -> projection and audit reports. Nothing calls the API, even
when ANTHROPIC_API_KEY is set: counts are estimates and the batch is simulated, and both
say so (simulated rows carry msg_sim_ ids and the store's `simulated` flag).
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Callable

from ..errors import InputError

REPO = Path(__file__).resolve().parents[3]
PILOT_CONFIG = REPO / "config" / "eval_config.pilot.anthropic.yaml"
FULL_CONFIG = REPO / "config" / "eval_config.full.anthropic.yaml"
# The simulated batch: 1,200 requests in waves of 100 spread over an hour (12 waves, 5
# minutes apart), best-effort hit probability 0.95, fixed seed so the demo is reproducible.
SIM_OPTIONS = {"concurrency": 100, "duration_minutes": 60.0, "hit_probability": 0.95, "seed": 20260101}
SIM_BATCH_ID = "msgbatch_sim_demo_pilot"
PREWARM_BATCH_ID = "msgbatch_sim_demo_pilot_prewarm"  # the same pilot, pre-warmed (simulated)


@dataclass
class DemoResult:
    out: Path
    projection_html: Path
    audit_html: Path
    lines: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _sample_configs() -> tuple[Path, Path]:
    for path in (PILOT_CONFIG, FULL_CONFIG):
        if not path.exists():
            raise InputError(f"{path}: sample config not found; the demo runs from a checkout of cachecast "
                             "(pip install -e .)")
    return PILOT_CONFIG, FULL_CONFIG


def run_demo(out: Path, log: Callable[[str], None] = print) -> DemoResult:
    """Run every step; `log` gets one line per step. Reports land in OUT/reports/."""
    from ..build import batches, lint
    from ..report import reports
    from ..send import sim
    from ..build.config import load_config
    from ..plan.projection import to_json
    from ..report.projection_report import advice, recommend
    from ..report.projection_report import plan as projection_plan
    from ..send.sim import hit_rate_table
    from ..tokens.count import count_path

    started = time.monotonic()
    pilot_cfg_path, full_cfg_path = _sample_configs()
    out = Path(out)
    work = out / "build" / "demo"
    build_dir, results, db = work / "pilot", work / "results" / "pilot-simulated.jsonl", work / "cachecast.duckdb"
    reports_dir = out / "reports"
    from .._output import check_output_dir

    check_output_dir(work, "cachecast.duckdb", "cachecast demo (its store cachecast.duckdb)")  # rebuilt below
    work.mkdir(parents=True, exist_ok=True)
    for stale in (db, db.with_name(db.name + ".wal")):
        stale.unlink(missing_ok=True)  # the demo store is rebuilt each time

    cfg = load_config(pilot_cfg_path)
    built = batches.build(cfg, build_dir, progress=False)
    log(f"build    {built.requests:,} pilot requests in {len(built.shards)} shard(s) -> {build_dir}")

    report = lint.lint_path(build_dir)
    log(f"lint     {lint.summary(report, build_dir)}")
    if getattr(report, "errors", 0):
        raise InputError(f"the sample requests have lint errors; run: cachecast lint {build_dir}")

    counts = count_path(build_dir, None).summary()
    log(f"count    cached prefix {counts['prefix_tokens']['mean']:,.0f} tokens/request, rest "
        f"{counts['rest_tokens']['mean']:,.1f} (ESTIMATE, +/-{counts['error_band']:.0%}, no API call)")

    p = projection_plan(full_cfg_path, pilot_items=cfg.items.limit or 200, full_items=5000, exact=False,
                        pilot_budget_usd=cfg.budget_usd)
    # the report's recommendation (notebook 01 simulates the same batch shape): one function, one answer
    simulated = hit_rate_table(p.runs, concurrency=SIM_OPTIONS["concurrency"],
                               duration_minutes=SIM_OPTIONS["duration_minutes"],
                               hit_probability=SIM_OPTIONS["hit_probability"])
    for run in p.runs:
        log(f"project  {advice(recommend(run, simulated))}")
    projection_json = work / "projection-pilot.json"  # the audit compares the pilot against it
    projection_json.write_text(json.dumps(to_json(p.pilot), indent=2) + "\n")

    # the simulated answers are as long as the config expects, so projection and audit compare
    summary = sim.simulate_build(build_dir, results, **{**SIM_OPTIONS, "output_fill_ratio": cfg.output_fill_ratio})
    log(f"simulate {summary.succeeded:,} succeeded (SIMULATED, no API call); token hit rate "
        f"{summary.token_hit_rate:.1%} -> {results}")

    from ..analyse.ingest_bridge import audit_summary, ingest_results

    log(f"ingest   {ingest_results([results], db, manifest=build_dir, batch_id=SIM_BATCH_ID)}")
    audit = audit_summary(db, SIM_BATCH_ID)
    log(f"audit    {audit['succeeded']:,} succeeded, token hit rate {audit['token_hit_rate']:.1%}, "
        f"request hit rate {audit['request_hit_rate']:.1%}; cost ${audit['cost_usd']:,.2f} vs "
        f"${audit['no_cache_cost_usd']:,.2f} without caching (saved {audit['savings_pct']:.1f}%, simulated)")

    for line in prewarmed_pilot(build_dir, work, cfg.output_fill_ratio):
        log(line)

    projection_html = reports.run_report("project", {"config": str(full_cfg_path), "exact": False,
                                                     "pilot_budget_usd": cfg.budget_usd},
                                         reports_dir / "projection.html")
    audit_html = reports.run_report("audit", {"db_path": str(db.resolve()), "batch_id": SIM_BATCH_ID,
                                              "manifest_dir": str(build_dir.resolve()),
                                              "projection_json": str(projection_json.resolve())},
                                    reports_dir / "audit.html")
    result = DemoResult(out, projection_html, audit_html, seconds=time.monotonic() - started)
    return result


# -- the pre-warmed path (issue 15), SIMULATED ------------------------------------------------------
class _SimUsage(dict):
    def model_dump(self) -> dict:
        return dict(self)


class _SimMessages:
    """messages.create answered by cachecast.sim on one cache: what `cachecast probe` would get
    from the API, without calling it (every id is msg_sim_...)."""

    def __init__(self, cache, now: float):
        self.cache, self.now, self.sent = cache, now, 0

    def create(self, **params):
        from types import SimpleNamespace

        from ..send import sim

        params = {**params, **params.pop("extra_body", {})}
        self.sent += 1
        message = sim.simulate_message(params, cache=self.cache, now=self.now,
                                       message_id=f"{sim.SIM_ID_PREFIX}probe{self.sent:06d}")
        return SimpleNamespace(id=message["id"], usage=_SimUsage(message["usage"]))

    def count_tokens(self, **params):
        """count_tokens, as the probe sends it first (cache_control kept): the simulator's count."""
        from ..send import sim

        params = {**params, **params.pop("extra_body", {})}
        return SimpleNamespace(input_tokens=sim.to_sim_request({"custom_id": "count", "params": params}).total_tokens)


class _SimModels:
    """models.retrieve from the model table: the max_tokens the probe checks against."""

    def retrieve(self, model: str):
        from ..facts import models

        facts = models.model_facts(model)
        info = {"type": "model", "id": facts.id, "display_name": facts.id, "created_at": f"{models.as_of()}T00:00:00Z",
                "lifecycle": models.lifecycle_on(facts, models.today()), "max_tokens": facts.max_output}
        return SimpleNamespace(model_dump=lambda **_: info)


class _SimClient:
    def __init__(self, cache, now: float):
        self.messages = _SimMessages(cache, now)
        self.models = _SimModels()


def prewarmed_pilot(build_dir: Path, work: Path, output_fill_ratio: float = 0.35) -> list[str]:
    """The pilot again, the way `submit --prewarm` runs it, SIMULATED: the real probe code sends
    one max_tokens-0 call per shape to the simulator (prefix and TTL kept), the batch runs on
    the same cache, and the audit's pre-warm verdict is measured from its stored results.
    Its own store, so the cold demo batch is not judged against this probe."""
    from ..analyse import prewarm
    from ..send import probe, sim
    from .. import store
    from ..build.build_files import build_api_version
    from ..analyse.ingest_bridge import ingest_results

    db, results = work / "cachecast-prewarm.duckdb", work / "results" / "pilot-prewarmed-simulated.jsonl"
    for stale in (db, db.with_name(db.name + ".wal"), results):
        stale.unlink(missing_ok=True)
    cache = sim.Cache()
    plan = probe.plan(build_dir, build_api_version(build_dir), prewarm=True)
    probe.execute(_SimClient(cache, -sim.PREWARM_LEAD_SECONDS), plan, build_dir, db, log=lambda _: None)
    summary = sim.simulate_build(build_dir, results, cache=cache,
                                 **{**SIM_OPTIONS, "output_fill_ratio": output_fill_ratio})
    ingest_results([results], db, manifest=build_dir, batch_id=PREWARM_BATCH_ID)
    conn = store.connect(db)
    try:
        verdicts = prewarm.prewarm_lines(conn, PREWARM_BATCH_ID, SIM_OPTIONS["concurrency"])
    finally:
        conn.close()
    return [f"prewarm  {len(plan.results)} probe(s) (SIMULATED, no API call): projected ${plan.projected_usd:.4f}, "
            f"cost ${plan.cost_usd:.4f} at standard rates; pre-warmed batch token hit rate "
            f"{summary.token_hit_rate:.1%}", *(f"prewarm  {line}" for line in verdicts)]
