"""Benchmark for issue 3 (not a test): projection and offline token counting speed.

    .venv/bin/python bench/bench_projection.py [--requests 100000]

1. `project_config` on the full reference run (5,000 items x 3 treatments x 2 temperatures)
   with 9 scenarios (no cache + 2 TTLs x 4 hit rates), token estimate from the config;
   and the cost arithmetic alone (`project_costs`).
2. `cachecast count` offline (estimate) on a build of N requests (default 100,000: the full
   config with repeats: 4, cut at N), timed end to end in a fresh process.
Timings are the best of 3 runs (the machine is shared; the minimum is the least noisy).
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
FULL = REPO / "config" / "eval_config.full.anthropic.yaml"
BIN = Path(sys.executable).parent / "cachecast"


def best_of(fn, n=3):
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def bench_projection() -> None:
    from cachecast.config import load_config
    from cachecast.projection import project_config, project_costs

    cfg = load_config(FULL)
    rates = {"p": Decimal("0.3"), "e": Decimal("0.8"), "o": Decimal("0.98"), "x": Decimal("0.5")}
    p = project_config(cfg, hit_rates=rates)
    assert len(p.scenarios) + 1 == 9
    whole = best_of(lambda: project_config(cfg, hit_rates=rates))
    arith = best_of(lambda: project_costs(p.rates, model=p.model, items=p.items, requests=p.requests,
                                          tokens=p.tokens, cacheable=True, hit_rates=rates), n=20)
    cli = best_of(lambda: subprocess.run([str(BIN), "project", str(FULL), "--json", "--hit-rate", "0.3", "0.5", "0.8",
                                          "0.98"], check=True, capture_output=True))
    print(f"projection, {p.requests:,} requests, 9 scenarios: library {whole:.2f} s "
          f"(cost arithmetic alone {arith * 1000:.2f} ms); `cachecast project --json` process {cli:.2f} s")


def bench_count(n: int) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="cachecast-bench-"))
    try:
        raw = yaml.safe_load(FULL.read_text())
        raw["repeats"] = max(1, -(-n // 30_000))
        for key in ("system_file", "user_template_file"):
            raw["prompts"][key] = str((FULL.parent / raw["prompts"][key]).resolve())
        raw["items"]["file"] = str((FULL.parent / raw["items"]["file"]).resolve())
        for t in raw["treatments"]:
            if "system_suffix_file" in t:
                t["system_suffix_file"] = str((FULL.parent / t["system_suffix_file"]).resolve())
        cfg = tmp / "bench.yaml"
        cfg.write_text(yaml.safe_dump(raw))
        t = time.perf_counter()
        subprocess.run([str(BIN), "build", str(cfg), "--out", str(tmp / "build"), "--limit", str(n)],
                       check=True, capture_output=True)
        build = time.perf_counter() - t
        env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
        count = best_of(lambda: subprocess.run([str(BIN), "count", str(tmp / "build"), "--json"], check=True,
                                               capture_output=True, env=env))
        size = sum(f.stat().st_size for f in (tmp / "build").glob("requests-*.jsonl")) / 1e6
        print(f"count offline, {n:,} requests ({size:,.0f} MB of request JSON): {count:.2f} s "
              f"(building them took {build:.1f} s)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=100_000)
    args = ap.parse_args()
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}")
    bench_projection()
    bench_count(args.requests)
