"""Figures 1 and 2: ingest of results files (10k, 200k, 1M lines) and audit over 1M rows.

Per size, measured back to back in one run:
- floor: DuckDB's bare `SELECT count(*) FROM read_json(f, format='newline_delimited')`,
  in-process on a fresh in-memory connection (the least work any DuckDB-based reader does);
- python: a plain `json.loads` loop over the file summing the usage fields of succeeded
  lines (what most cost scripts do);
- ingest: `cachecast ingest FILE --db DB --manifest DIR --batch-id ID` as a fresh process
  (what a user runs: start-up, imports, the manifest join and price snapshot included),
  into a new store each time; its peak RSS read with os.wait4.
Then `cachecast audit --db DB --json` and the per-treatment rollup over the 1M-row store."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import gen
from harness import (CACHECAST, OUT, PY, REPO, Report, fmt_mb, fmt_s, is_placeholder, log, offline_env, ratio, rm,
                     run_proc)

FLOOR_RATIO = 3.0
RSS_LIMIT = 1.5e9
AUDIT_LIMIT = 2.0
BATCH_ID = "msgbatch_bench"
COMMANDS = REPO / "lib" / "cachecast" / "cli" / "_commands"

# Used while `cachecast ingest`/`audit` are still placeholders: the library, same work.
_LIB_INGEST = """
import sys
from cachecast import store
from cachecast.ingest import ingest_paths
conn = store.connect(sys.argv[2])
for r in ingest_paths(conn, [sys.argv[1]], batch_id=sys.argv[4], manifest=sys.argv[3], progress=False):
    print(r.summary())
"""
_LIB_AUDIT = """
import json, sys
from cachecast import audit, store
print(json.dumps(audit.summary(store.connect(sys.argv[1], read_only=True))))
"""


def sizes(quick: bool) -> list[int]:
    return [10_000, 50_000, 100_000] if quick else [10_000, 200_000, 1_000_000]


def label(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k"


def duckdb_count(path: Path) -> int:
    import duckdb

    con = duckdb.connect()
    try:
        return con.execute("SELECT count(*) FROM read_json(?, format='newline_delimited')", [str(path)]).fetchone()[0]
    finally:
        con.close()


def python_loop(path: Path) -> dict:
    """The usual hand-rolled cost script: parse every line, add up the usage."""
    total = {"input_tokens": 0, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 0}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            result = json.loads(line)["result"]
            if result["type"] == "succeeded":
                usage = result["message"]["usage"]
                for key in total:
                    total[key] += usage[key]
    return total


def ingest_cmd(results: Path, db: Path, manifest: Path | None) -> list[str]:
    if not is_placeholder(COMMANDS / "ingest.py"):
        cmd = [CACHECAST, "ingest", str(results), "--db", str(db), "--batch-id", BATCH_ID]
        return cmd + (["--manifest", str(manifest)] if manifest else [])
    return [PY, "-c", _LIB_INGEST, str(results), str(db), str(manifest or ""), BATCH_ID]


def audit_cmd(db: Path) -> list[str]:
    if not is_placeholder(COMMANDS / "audit.py"):
        return [CACHECAST, "audit", "--db", str(db), "--json"]
    return [PY, "-c", _LIB_AUDIT, str(db)]


def ingest_once(results: Path, db: Path, manifest: Path | None):
    rm(db)
    rm(db.with_name(db.name + ".tmp"))
    return run_proc(ingest_cmd(results, db, manifest), env=offline_env()).check("ingest")


def _cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process, DuckDB's included
    return r.ru_utime + r.ru_stime


def measure_size(n: int, db: Path, rounds: int) -> dict:
    """Floor, Python loop and ingest in turn, `rounds` times; the best of each (wall and CPU)."""
    d = gen.results(n)
    f = d / "results.jsonl"
    best = {"floor": (1e9, 1e9), "python": (1e9, 1e9), "ingest": (1e9, 1e9)}
    proc = None
    for r in range(rounds):
        c, t = _cpu(), time.perf_counter()
        count = duckdb_count(f)
        best["floor"] = min(best["floor"], (time.perf_counter() - t, _cpu() - c))
        assert count == n, (count, n)
        if r == 0 or n < 1_000_000:
            c, t = _cpu(), time.perf_counter()
            python_loop(f)
            best["python"] = min(best["python"], (time.perf_counter() - t, _cpu() - c))
        p = ingest_once(f, db, d)
        if proc is None or p.seconds < proc.seconds:
            proc = p
        best["ingest"] = min(best["ingest"], (p.seconds, p.cpu))
    return {"file": f, "dir": d, "best": best, "proc": proc}


def run(rep: Report, quick: bool) -> None:
    if not (REPO / "lib" / "cachecast" / "store" / "ingest.py").exists():
        rep.missing("ingest", f"<= {FLOOR_RATIO}x floor", "lib/cachecast/store/ingest.py does not exist yet")
        return
    via = "CLI" if not is_placeholder(COMMANDS / "ingest.py") else "library (CLI is still a placeholder)"
    ns = sizes(quick)
    ratio_at = ns[-2] if not quick else ns[-1]  # the target is at 200k lines
    db = OUT / "bench-ingest.duckdb"
    per_1k: dict[int, float] = {}
    startup = min(run_proc([PY, "-c", "import cachecast.cli, cachecast.store.ingest, cachecast.store, cachecast.facts.pricing"],
                           env=offline_env()).check("import").seconds for _ in range(3))
    rep.add("ingest.process_startup", fmt_s(startup),
            note="python start + imports every `cachecast ingest` pays (included in the ingest times below)")
    for n in ns:
        big = n >= 1_000_000
        log(f"{n:,} lines: floor, python loop and ingest via {via}, in turn")
        m = measure_size(n, db, rounds=2 if big else 3)
        (fw, fc), (pw, pc), (iw, ic) = m["best"]["floor"], m["best"]["python"], m["best"]["ingest"]
        L, size = label(n), m["file"].stat().st_size
        per_1k[n] = iw / n * 1e6  # milliseconds per 1,000 lines
        at_target = n == ratio_at
        rep.add(f"ingest.{L}.seconds", fmt_s(iw),
                note=f"floor {fw:.2f} s, python loop {pw:.2f} s, {size / 1e6:,.0f} MB; `cachecast ingest` "
                     f"process via {via}, manifest included")
        rep.add(f"ingest.{L}.vs_duckdb_floor", ratio(iw, fw), f"<= {FLOOR_RATIO:g}x" if at_target else "",
                iw / fw <= FLOOR_RATIO if at_target else None, note=f"CPU time ratio {ic / fc:.2f}x")
        if n >= 100_000:
            rep.add(f"ingest.{L}.vs_python_loop", ratio(iw, pw), "< 1x (faster)", iw < pw,
                    note=f"CPU time ratio {ic / pc:.2f}x")
        else:
            rep.add(f"ingest.{L}.vs_python_loop", ratio(iw, pw),
                    note="process start-up and imports dominate a file this small")
        rep.add(f"ingest.{L}.ms_per_1k_lines", f"{per_1k[n]:.1f} ms")
        if big or n == ns[-1]:
            rep.add(f"ingest.{L}.peak_rss", fmt_mb(m["proc"].max_rss), f"< {RSS_LIMIT / 1e9:g} GB" if big else "",
                    m["proc"].max_rss < RSS_LIMIT if big else None)
        if at_target:
            other = OUT / "bench-ingest-nomanifest.duckdb"
            nomani = min((ingest_once(m["file"], other, None) for _ in range(2)), key=lambda p: p.seconds)
            rm(other)
            rep.add(f"ingest.{L}.without_manifest.vs_duckdb_floor", ratio(nomani.seconds, fw),
                    note=f"{nomani.seconds:.2f} s: the same ingest without --manifest")
    first, mid, last = ns[0], ns[-2], ns[-1]
    rep.add("ingest.linearity", f"{per_1k[last] / per_1k[mid]:.2f}x",
            note=f"cost per line at {label(last)} / at {label(mid)}; 1.0 = linear ({label(first)} is dominated by "
                 f"start-up: {per_1k[first]:.0f} ms per 1k lines)")
    audit_figures(rep, db, ns[-1], quick)


_LIB_QUERY = """
import sys, time
from cachecast import audit, store
con = store.connect(sys.argv[1], read_only=True)
fn = getattr(audit, sys.argv[2])
best = float("inf")
for _ in range(int(sys.argv[3])):
    t = time.perf_counter()
    out = fn(con)
    best = min(best, time.perf_counter() - t)
print(best, len(out) if hasattr(out, "__len__") else 1)
"""
QUERY_TIMEOUT = 60


def library_query(db: Path, name: str, repeats: int) -> tuple[float | None, int]:
    """Best time of audit.<name>(conn) in a fresh process (None when it exceeds the timeout:
    a runaway query must not stall the whole benchmark)."""
    import subprocess

    try:
        out = subprocess.run([PY, "-c", _LIB_QUERY, str(db), name, str(repeats)], capture_output=True, text=True,
                             timeout=QUERY_TIMEOUT * repeats, env=offline_env())
    except subprocess.TimeoutExpired:
        return None, 0
    if out.returncode != 0:
        raise RuntimeError(f"audit.{name} failed: {out.stderr.strip()[-600:]}")
    seconds, rows = out.stdout.split()
    return float(seconds), int(rows)


def audit_figures(rep: Report, db: Path, n: int, quick: bool) -> None:
    """The store left by the largest ingest (with its manifest): audit and rollups."""
    from cachecast.analyse import audit

    L = label(n)
    runs = [run_proc(audit_cmd(db), env=offline_env()).check("audit") for _ in range(3)]
    best = min(runs, key=lambda p: p.seconds)
    summary = json.loads(best.stdout)
    target = f"< {AUDIT_LIMIT:g} s" if not quick else ""
    rep.add(f"audit.{L}.json_process", fmt_s(best.seconds), target, best.seconds < AUDIT_LIMIT if target else None,
            note=f"{summary['requests']:,} requests, whole `audit --json` process")
    for name, is_target in (("summary", False), ("treatments", True), ("batches", False),
                            ("hit_rate_over_order", False), ("anomaly_counts", False)):
        if not hasattr(audit, name):
            continue
        seconds, rows = library_query(db, name, 3 if is_target else 1)
        fig = "per_treatment_rollup" if name == "treatments" else name
        t = target if is_target else ""
        if seconds is None:
            rep.add(f"audit.{L}.{fig}", f"> {QUERY_TIMEOUT} s (stopped)", t, False if t else None,
                    note=f"audit.{name}(conn) did not finish")
            continue
        rep.add(f"audit.{L}.{fig}", fmt_s(seconds), t, seconds < AUDIT_LIMIT if t else None,
                note=f"audit.{name}(conn) in-process, {rows} rows")


if __name__ == "__main__":
    r = Report(section="ingest")
    run(r, "--quick" in sys.argv)
