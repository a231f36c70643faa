"""Figure 5: projection of the reference run (5,000 items x 3 treatments x 2 temperatures =
30,000 requests) with 9 scenarios: no cache + 2 TTLs x 4 hit rates.

Timed in a fresh process, so nothing is warm: `project_config` from the loaded config
(token estimate of the config's prompts and items included), then the same call warm, and
the whole `cachecast project --json` process (interpreter start and imports included)."""
from __future__ import annotations

import json
import subprocess
import sys

from harness import CACHECAST, PY, REPO, Report, fmt_s, offline_env, run_proc

LIMIT = 1.0
FULL = REPO / "config" / "eval_config.full.anthropic.yaml"
HIT_RATES = ["0.3", "0.5", "0.8", "0.98"]

_COLD = """
import json, sys, time
from decimal import Decimal
from cachecast.build.config import load_config
from cachecast.plan.projection import hit_rate_map, project_config
cfg = load_config(sys.argv[1])
rates = hit_rate_map([float(h) for h in sys.argv[2:]])
t = time.perf_counter()
p = project_config(cfg, hit_rates=rates)
cold = time.perf_counter() - t
warm = float("inf")
for _ in range(3):
    t = time.perf_counter()
    project_config(cfg, hit_rates=rates)
    warm = min(warm, time.perf_counter() - t)
print(json.dumps({"cold": cold, "warm": warm, "scenarios": len(p.scenarios) + 1, "requests": p.requests}))
"""


def run(rep: Report, quick: bool) -> None:
    out = subprocess.run([PY, "-c", _COLD, str(FULL), *HIT_RATES], capture_output=True, text=True, check=True,
                         env=offline_env())
    got = json.loads(out.stdout)
    assert got["requests"] == 30_000 and got["scenarios"] == 9, got
    rep.add("project.30k_requests.9_scenarios.cold", fmt_s(got["cold"]), f"< {LIMIT:g} s", got["cold"] < LIMIT,
            note="project_config, first call in a fresh process (token estimate included)")
    rep.add("project.30k_requests.9_scenarios.warm", fmt_s(got["warm"]), note="same call again, best of 3")
    cmd = [CACHECAST, "project", str(FULL), "--json", "--hit-rate", *HIT_RATES]
    best = min((run_proc(cmd, env=offline_env()).check("project") for _ in range(3)), key=lambda p: p.seconds)
    result = json.loads(best.stdout)
    assert len(result["scenarios"]) + 1 == 9, result["scenarios"]
    rep.add("project.cli_process", fmt_s(best.seconds), note="whole `cachecast project --json` process, best of 3")


if __name__ == "__main__":
    run(Report(section="projection"), "--quick" in sys.argv)
