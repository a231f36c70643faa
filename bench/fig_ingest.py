"""Figures 1 and 2: ingest of results files (10k, 200k, 1M lines) and audit over 1M rows.

Per size, measured in turns in one run (floor, floor, floor, loop, ingest, then again):
- bare floor: DuckDB's `SELECT count(*) FROM read_json(f, format='newline_delimited')` on a
  fresh in-memory connection: the parse alone, nothing kept (info);
- in-process floor: `CREATE TABLE results AS SELECT * FROM read_json(f, ...)` into a fresh
  in-memory database: the parse and the rows materialised, no start-up, no disk. Both are
  timed in-process, inside a child after its imports (see in_process);
- process floor: a fresh Python process that imports duckdb, opens a new database file and
  runs that CREATE TABLE ... AS read_json: the least a DuckDB ingest that keeps its rows in a
  store does, start-up and the write included;
- python: a plain `json.loads` loop over the file summing the usage fields of succeeded
  lines (what most cost scripts do);
- ingest: `cachecast ingest FILE --db DB --manifest DIR --batch-id ID` as a fresh process
  (what a user runs: start-up, imports, the manifest join and price snapshot included),
  into a new store each time; its peak RSS read with os.wait4.
Issue 21's targets at 200k lines: ingest <= 2x the process floor and <= 4x the in-process
floor. Then `cachecast audit --db DB --json` and the per-treatment rollup over the 1M-row store."""
from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import gen
from harness import CACHECAST, OUT, PY, Report, fmt_mb, fmt_s, log, offline_env, ratio, rm, run_proc

PROCESS_RATIO = 2.0
IN_PROCESS_RATIO = 4.0
RSS_LIMIT = 1.5e9
AUDIT_LIMIT = 2.0
BATCH_ID = "msgbatch_bench"

_PROCESS_FLOOR = """
import sys, duckdb
con = duckdb.connect(sys.argv[2])
con.execute("CREATE TABLE results AS SELECT * FROM read_json(?, format='newline_delimited')", [sys.argv[1]])
con.close()
"""


def sizes(quick: bool) -> list[int]:
    return [10_000, 50_000, 100_000] if quick else [10_000, 200_000, 1_000_000]


def label(n: int) -> str:
    return f"{n // 1_000_000}M" if n >= 1_000_000 and n % 1_000_000 == 0 else f"{n // 1000}k"


_IN_PROCESS = """
import resource, sys, time, duckdb
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)  # every thread, DuckDB's included
    return r.ru_utime + r.ru_stime
con = duckdb.connect()
con.execute("SET enable_progress_bar = false")  # it writes to stdout, which carries the result
c, t = cpu(), time.perf_counter()
if sys.argv[2] == "count":
    rows = con.execute("SELECT count(*) FROM read_json(?, format='newline_delimited')", [sys.argv[1]]).fetchone()[0]
else:
    con.execute("CREATE TABLE results AS SELECT * FROM read_json(?, format='newline_delimited')", [sys.argv[1]])
    rows = con.execute("SELECT count(*) FROM results").fetchone()[0]
print(time.perf_counter() - t, cpu() - c, rows)
"""


def in_process(path: Path, what: str) -> tuple[float, float, int]:
    """(wall, CPU, rows) of the in-process floor `what` (count or table), timed inside a child
    after its imports: a 1M-row in-memory table in this process would raise the peak RSS
    every later child inherits through fork and exec (Linux keeps ru_maxrss across exec)."""
    p = run_proc([PY, "-c", _IN_PROCESS, str(path), what], env=offline_env()).check(f"in-process floor {what}")
    wall, cpu, rows = p.stdout.split()[-3:]
    return float(wall), float(cpu), int(rows)


def process_floor(path: Path, db: Path):
    rm(db)
    return run_proc([PY, "-c", _PROCESS_FLOOR, str(path), str(db)], env=offline_env()).check("process floor")


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
    cmd = [CACHECAST, "ingest", str(results), "--db", str(db), "--batch-id", BATCH_ID]
    return cmd + (["--manifest", str(manifest)] if manifest else [])


def audit_cmd(db: Path) -> list[str]:
    return [CACHECAST, "audit", "--db", str(db), "--json"]


def ingest_once(results: Path, db: Path, manifest: Path | None):
    rm(db)
    rm(db.with_name(db.name + ".tmp"))
    return run_proc(ingest_cmd(results, db, manifest), env=offline_env()).check("ingest")


def _cpu() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)  # every thread of this process, DuckDB's included
    return r.ru_utime + r.ru_stime


def measure_size(n: int, db: Path, rounds: int) -> dict:
    """The floors, the Python loop and the ingest in turn, `rounds` times; the best of each
    (wall, CPU): a burst of load from other jobs then hits floor and candidate alike."""
    d = gen.results(n)
    f = d / "results.jsonl"
    best = {k: (1e9, 1e9) for k in ("count", "table", "process", "python", "ingest")}
    proc = None
    for r in range(rounds):
        for key in ("count", "table"):
            wall, cpu, rows = in_process(f, key)
            best[key] = min(best[key], (wall, cpu))
            assert rows == n, (key, rows, n)
        p = process_floor(f, db)
        best["process"] = min(best["process"], (p.seconds, p.cpu))
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
    ns = sizes(quick)
    ratio_at = ns[-2] if not quick else ns[-1]  # the targets are at 200k lines
    db = OUT / "bench-ingest.duckdb"
    per_1k: dict[int, float] = {}
    startup = min(run_proc([PY, "-c", "import cachecast.cli._commands.ingest, cachecast.store.ingest, "
                                      "cachecast.facts.pricing"], env=offline_env()).check("import").seconds
                  for _ in range(3))
    rep.add("ingest.process_startup", fmt_s(startup),
            note="python start + the imports every `cachecast ingest` pays (included in the ingest times below)")
    for n in ns:
        big = n >= 1_000_000
        log(f"{n:,} lines: the three floors, the python loop and `cachecast ingest`, in turn")
        m = measure_size(n, db, rounds=2 if big else 3)
        size_figures(rep, n, m, at_target=n == ratio_at, big=big or n == ns[-1])
        per_1k[n] = m["best"]["ingest"][0] / n * 1e6  # milliseconds per 1,000 lines
        if n == ratio_at:
            other = OUT / "bench-ingest-nomanifest.duckdb"
            nomani = min((ingest_once(m["file"], other, None) for _ in range(2)), key=lambda p: p.seconds)
            rm(other)
            rep.add(f"ingest.{label(n)}.without_manifest.vs_process_floor",
                    ratio(nomani.seconds, m["best"]["process"][0]),
                    note=f"{nomani.seconds:.2f} s: the same ingest without --manifest")
    first, mid, last = ns[0], ns[-2], ns[-1]
    rep.add("ingest.linearity", f"{per_1k[last] / per_1k[mid]:.2f}x",
            note=f"cost per line at {label(last)} / at {label(mid)}; 1.0 = linear ({label(first)} is dominated by "
                 f"start-up: {per_1k[first]:.0f} ms per 1k lines)")
    audit_figures(rep, db, ns[-1], quick)


def size_figures(rep: Report, n: int, m: dict, *, at_target: bool, big: bool) -> None:
    """One size's figures, each ratio with its floor's own time in the note."""
    b = m["best"]
    (iw, ic), (pw, pc) = b["ingest"], b["python"]
    L, size = label(n), m["file"].stat().st_size
    rep.add(f"ingest.{L}.seconds", fmt_s(iw),
            note=f"{size / 1e6:,.0f} MB; `cachecast ingest` process, manifest included; CPU {ic:.2f} s")
    for key, fig, limit, what in (
            ("process", "vs_process_floor", PROCESS_RATIO, "fresh python + import duckdb + CREATE TABLE AS read_json "
                                                           "into a new database file (every field, answer texts "
                                                           "included)"),
            ("table", "vs_in_process_floor", IN_PROCESS_RATIO, "CREATE TABLE AS read_json in-process, in memory"),
            ("count", "vs_bare_read_json", None, "SELECT count(*) FROM read_json in-process")):
        fw, fc = b[key]
        target = f"<= {limit:g}x" if limit and at_target else ""
        rep.add(f"ingest.{L}.{fig}", ratio(iw, fw), target, iw / fw <= limit if target else None,
                note=f"floor {fw:.2f} s: {what}; CPU time ratio {ic / fc:.2f}x")
    if n >= 100_000:
        rep.add(f"ingest.{L}.vs_python_loop", ratio(iw, pw), note=f"loop {pw:.2f} s; CPU time ratio {ic / pc:.2f}x")
    rep.add(f"ingest.{L}.ms_per_1k_lines", f"{iw / n * 1e6:.1f} ms")
    if big:
        rss = m["proc"].max_rss
        limit = n >= 1_000_000
        rep.add(f"ingest.{L}.peak_rss", fmt_mb(rss), f"< {RSS_LIMIT / 1e9:g} GB" if limit else "",
                rss < RSS_LIMIT if limit else None)


_LIB_QUERY = """
import sys, time
from cachecast import store
from cachecast.analyse import audit
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
    target = f"<= {AUDIT_LIMIT:g} s" if not quick else ""
    rep.add(f"audit.{L}.json_process", fmt_s(best.seconds), target, best.seconds <= AUDIT_LIMIT if target else None,
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
