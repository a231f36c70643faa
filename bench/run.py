"""Run every benchmark (issue 6) and print one line per figure: `name: value (target: ..., met|MISSED)`.

    make bench                                   # = .venv/bin/python bench/run.py
    .venv/bin/python bench/run.py --quick        # smaller sizes, a couple of minutes
    .venv/bin/python bench/run.py --only ingest,build --write-docs

Inputs are generated into bench/out/ (git-ignored; a 1M-line results file is 1.5 GB) and
reused by later runs. Figure lines go to stdout, progress to stderr; bench/out/latest.json
keeps the figures, and --write-docs rewrites the results table in docs/benchmarks.md.
Timings are wall-clock minima of repeated runs taken in the same run as what they are
compared with (the machine is shared; ratios of back-to-back timings are the steady part)."""
from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import OUT, REPO, Report, machine, write_json  # noqa: E402

SECTIONS = ("build", "tokens", "projection", "ingest", "manyfiles", "notebooks")  # tokens reuses build's output
DOCS = REPO / "docs" / "benchmarks.md"
BEGIN, END = "<!-- bench:begin (written by bench/run.py --write-docs) -->", "<!-- bench:end -->"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes (targets that need full size show as info)")
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated subset of {','.join(SECTIONS)}")
    ap.add_argument("--write-docs", action="store_true", help="rewrite the results table in docs/benchmarks.md")
    args = ap.parse_args()
    chosen = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        ap.error(f"unknown section {unknown[0]}; choose from {', '.join(SECTIONS)}")
    OUT.mkdir(parents=True, exist_ok=True)
    info = machine()
    print(f"# cachecast benchmarks{' (quick)' if args.quick else ''}: {info['cores']} cores ({info['cpu']}), "
          f"{info['memory_gb']} GB, Python {info['python']}, DuckDB {info['duckdb']}, "
          f"load average {info['load_average_at_start']}", flush=True)
    rep = Report()
    started = time.perf_counter()
    failed = []
    for name in SECTIONS:
        if name not in chosen:
            continue
        rep.section = name
        t = time.perf_counter()
        try:
            __import__(f"fig_{name}").run(rep, args.quick)
        except Exception as exc:  # noqa: BLE001 - one broken section must not hide the others
            failed.append(name)
            traceback.print_exc(file=sys.stderr)
            rep.add(f"{name}.error", type(exc).__name__, note=str(exc).splitlines()[0][:200] if str(exc) else "")
        print(f"# {name}: {time.perf_counter() - t:.0f} s", file=sys.stderr, flush=True)
    total = time.perf_counter() - started
    print(f"bench.total_seconds: {total:.0f} s (target: < 600 s{', met' if total < 600 else ', MISSED'})"
          if not args.quick and chosen == list(SECTIONS) else f"bench.total_seconds: {total:.0f} s (info)")
    info["load_average_at_end"] = round(os.getloadavg()[0], 2)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    result = {"when": stamp, "quick": args.quick, "sections": chosen, "machine": info,
              "total_seconds": round(total, 1), "figures": rep.as_json()}
    write_json(OUT / "latest.json", result)
    if args.write_docs:
        write_docs(result)
    return 1 if failed else 0


def table(result: dict) -> str:
    m = result["machine"]
    rows = [f"Latest run: {result['when']}{' (--quick)' if result['quick'] else ''}, sections "
            f"{', '.join(result['sections'])}, {result['total_seconds']:.0f} s in all. Machine: {m['cores']} cores "
            f"({m['cpu']}), {m['memory_gb']} GB RAM, Python {m['python']}, DuckDB {m['duckdb']}; load average "
            f"{m['load_average_at_start']} at start, {m['load_average_at_end']} at end (the machine is shared).",
            "", "| figure | value | target | verdict | note |", "|---|---|---|---|---|"]
    for f in result["figures"]:
        verdict = "" if f["met"] is None else ("met" if f["met"] else "**MISSED**")
        note = f["note"].replace("|", "\\|")
        rows.append(f"| `{f['name']}` | {f['value']} | {f['target']} | {verdict} | {note} |")
    return "\n".join(rows)


def write_docs(result: dict) -> None:
    text = DOCS.read_text() if DOCS.exists() else f"# Benchmarks\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text += f"\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOCS.write_text(f"{head}{BEGIN}\n{table(result)}\n{END}{tail}")
    print(f"# wrote the table in {DOCS.relative_to(REPO)}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
