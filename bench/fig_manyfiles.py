"""Figure: one `cachecast ingest` call over many small files (issue 14, class 11).

Each file holds a few result lines (two succeeded, one errored), as a sharded or per-shard
download does; the figure is the whole `cachecast ingest 'DIR/*.jsonl' --db NEW.duckdb`
process (start-up, glob, one transaction per file, price snapshot), so what it measures is
the per-file overhead: before the fix, 10,000 such files took 685 s (68 ms a file).
Set CACHECAST_BENCH_FILES to measure another count (the docs' before/after use 10,000).

A second figure ingests a folder where every file is its own batch (`msgbatch_<n>.jsonl`, no
--batch-id): each file then also makes its batch row, links it and snapshots its prices;
issue 21's target is <= 5 ms a file (2,000 files; CACHECAST_BENCH_BATCH_FILES for another count)."""
from __future__ import annotations

import json
import os
from pathlib import Path

from harness import CACHECAST, OUT, Report, fmt_s, log, offline_env, rm, run_proc

from cachecast.facts.models import default_model

TARGET_SECONDS = 60.0  # for 10,000 files
PER_BATCH_FILE_MS = 5.0
MODEL = default_model()  # the dated table's current default


def _line(i: int, j: int) -> str:
    usage = {"input_tokens": 10 + j, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
             "output_tokens": 5, "service_tier": "batch"}
    message = {"id": f"msg_{i:06d}_{j}", "type": "message", "role": "assistant", "model": MODEL, "content": [],
               "stop_reason": "end_turn", "stop_sequence": None, "usage": usage}
    return json.dumps({"custom_id": f"r{i:06d}-{j}", "result": {"type": "succeeded", "message": message}})


def make_files(n: int, name: str = "shard-{i:06d}.jsonl", kind: str = "manyfiles") -> Path:
    """N files of 3 lines each, generated once into bench/out/<kind>-N/ and reused."""
    folder = OUT / f"{kind}-{n}"
    stamp = folder / ".model"
    if folder.is_dir() and len(list(folder.glob("*.jsonl"))) == n and stamp.exists() and stamp.read_text() == MODEL:
        return folder
    rm(folder)
    folder.mkdir(parents=True)
    failed = json.dumps({"custom_id": "{}", "result": {"type": "errored", "error": {
        "type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}}})
    for i in range(n):
        text = _line(i, 0) + "\n" + _line(i, 1) + "\n" + failed.replace('"{}"', f'"r{i:06d}-e"') + "\n"
        (folder / name.format(i=i)).write_text(text)
    stamp.write_text(MODEL)
    return folder


def run(rep: Report, quick: bool) -> None:
    n = int(os.environ.get("CACHECAST_BENCH_FILES", 1000 if quick else 10_000))
    folder = make_files(n)
    db = OUT / f"manyfiles-{n}.duckdb"
    rm(db)
    rm(db.with_name(db.name + ".tmp"))
    log(f"ingesting {n:,} files of 3 lines in one call")
    proc = run_proc([CACHECAST, "ingest", str(folder / "*.jsonl"), "--db", str(db), "--batch-id", "msgbatch_many"],
                    env=offline_env()).check("ingest of many files")
    per_file = proc.seconds / n
    at_full = n >= 10_000
    rep.add(f"ingest.many_files.{n // 1000}k.seconds", fmt_s(proc.seconds),
            f"<= {TARGET_SECONDS:g} s" if at_full else "", proc.seconds <= TARGET_SECONDS if at_full else None,
            note=f"{n:,} files x 3 lines, one `cachecast ingest` process, one transaction per file; "
                 "685 s for 10,000 before issue 14")
    rep.add(f"ingest.many_files.{n // 1000}k.ms_per_file", f"{per_file * 1000:.1f} ms",
            note=f"CPU {proc.cpu:.0f} s, peak RSS {proc.max_rss / 1e6:,.0f} MB")
    rm(db)
    batch_per_file(rep, int(os.environ.get("CACHECAST_BENCH_BATCH_FILES", 500 if quick else 2000)))


def batch_per_file(rep: Report, n: int) -> None:
    """A folder where each file is its own batch (its id in the file name, no --batch-id)."""
    folder = make_files(n, name="msgbatch_bench{i:06d}.jsonl", kind="batchfiles")
    db = OUT / f"batchfiles-{n}.duckdb"
    rm(db)
    log(f"ingesting {n:,} files of 3 lines, each its own batch")
    proc = run_proc([CACHECAST, "ingest", str(folder / "*.jsonl"), "--db", str(db)],
                    env=offline_env()).check("ingest of a batch per file")
    ms = proc.seconds / n * 1000
    rep.add(f"ingest.batch_per_file.{n / 1000:g}k.ms_per_file", f"{ms:.1f} ms", f"<= {PER_BATCH_FILE_MS:g} ms",
            ms <= PER_BATCH_FILE_MS,
            note=f"{n:,} files x 3 lines, each its own batch (id in the file name), one `cachecast ingest` process: "
                 f"{proc.seconds:.1f} s, CPU {proc.cpu:.0f} s, peak RSS {proc.max_rss / 1e6:,.0f} MB")
    rm(db)
