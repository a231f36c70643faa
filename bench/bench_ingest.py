"""Benchmark: cachecast ingest and audit against DuckDB's bare read_json count of the same file.

    python bench/bench_ingest.py                         # 200,000 lines (~320 MB), 3 rounds
    python bench/bench_ingest.py --lines 10000 --rounds 5
    python bench/bench_ingest.py --lines 1000000 --rounds 1 --memory   # peak RSS, audit over 1M rows

Each round, in one process and one after the other so machine load hits them alike:
(1) DuckDB counts the file with read_json (the floor the issue names); (2) a plain Python
loop json.loads-ing each line and summing usage (what most tools do); (3) a fresh store
ingests the file; (4) `audit.summary` (the `audit --json` numbers) over the store. Ratios
use the best round of each. --memory runs the ingest in a child process and reports its
peak RSS (ru_maxrss: Python + DuckDB buffers), then times the audit over the result.

Output: one line per figure, `name: value (target)`. Results files come from
bench/make_results.py and are cached in bench/out/ingest/ (git-ignored).
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "out" / "ingest"


def results_file(lines: int) -> Path:
    path = OUT / f"results-{lines}.jsonl"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, str(HERE / "make_results.py"), str(path), "--lines", str(lines)], check=True)
    return path


def count_with_read_json(path: Path) -> float:
    import duckdb

    con = duckdb.connect()
    t0 = time.perf_counter()
    con.execute("SELECT count(*) FROM read_json(?)", [str(path)]).fetchall()
    return time.perf_counter() - t0


def python_loop(path: Path) -> float:
    """The usual tool: json.loads per line, sum the usage fields."""
    t0 = time.perf_counter()
    totals = [0, 0, 0, 0]
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            result = json.loads(line).get("result", {})
            usage = (result.get("message") or {}).get("usage") or {}
            totals[0] += usage.get("input_tokens", 0)
            totals[1] += usage.get("cache_creation_input_tokens", 0)
            totals[2] += usage.get("cache_read_input_tokens", 0)
            totals[3] += usage.get("output_tokens", 0)
    return time.perf_counter() - t0


def fresh_store(db: Path):
    from cachecast import store

    for p in db.parent.glob(db.name + "*"):
        p.unlink() if p.is_file() else shutil.rmtree(p)
    return store.connect(db)


def ingest_once(path: Path, db: Path):
    from cachecast import ingest

    con = fresh_store(db)
    t0 = time.perf_counter()
    report = ingest.ingest_file(con, path, progress=False)
    took = time.perf_counter() - t0
    con.close()
    return took, report


def audit_once(db: Path) -> float:
    from cachecast import audit, store

    con = store.connect(db, read_only=True)
    t0 = time.perf_counter()
    audit.summary(con)
    took = time.perf_counter() - t0
    con.close()
    return took


def memory_child(path: Path, db: Path) -> None:
    wall, report = ingest_once(path, db)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"wall_s": round(wall, 2), "peak_rss_mb": round(peak_kb / 1024), "lines": report.lines_read}))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--memory", action="store_true", help="peak RSS of one ingest (child process), then audit time")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    path = results_file(args.lines)
    db = OUT / f"bench-{args.lines}.duckdb"
    if args.child:
        memory_child(path, db)
        return
    n = f"{args.lines}_lines"
    print(f"# file: {path.name}, {args.lines:,} lines, {path.stat().st_size / 1e6:,.0f} MB")
    if args.memory:
        out = subprocess.run([sys.executable, __file__, "--lines", str(args.lines), "--child"],
                             check=True, capture_output=True, text=True).stdout
        child = json.loads(out)
        print(f"ingest_peak_rss_{n}: {child['peak_rss_mb']} MB (target < 1500 MB at 1,000,000 lines)")
        print(f"ingest_wall_{n}: {child['wall_s']:.2f} s")
        print(f"audit_json_{args.lines}_rows: {min(audit_once(db) for _ in range(3)):.2f} s (target < 2 s at 1,000,000)")
        return
    floor, loop, ingests, audits = [], [], [], []
    for _ in range(args.rounds):
        floor.append(count_with_read_json(path))
        loop.append(python_loop(path))
        wall, report = ingest_once(path, db)
        ingests.append(wall)
        audits.append(audit_once(db))
    best = min(ingests)
    print(f"read_json_count_{n}: {min(floor):.2f} s (the floor)")
    print(f"python_json_loop_{n}: {min(loop):.2f} s")
    print(f"ingest_{n}: {best:.2f} s = {best / min(floor):.1f}x the floor (target <= 3x at 200,000), "
          f"{min(loop) / best:.1f}x faster than the Python loop (target > 1x)")
    print(f"ingest_lines_per_s_{n}: {args.lines / best:,.0f}")
    print(f"audit_json_{args.lines}_rows: {min(audits):.2f} s (target < 2 s at 1,000,000)")
    print(f"# {report.summary()} [{report.path_taken} path]")


if __name__ == "__main__":
    main()
