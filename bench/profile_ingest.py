"""Where an ingest spends its time: each named statement of sql/ingest.sql, timed.

    .venv/bin/python bench/profile_ingest.py RESULTS.jsonl [MANIFEST_DIR]
    .venv/bin/python bench/profile_ingest.py bench/out/results-200000/results.jsonl bench/out/results-200000

Runs `ingest.ingest_paths` on a fresh store in bench/out/ with the connection wrapped so
every execute() is timed, then prints the statements by total time (the profile behind
the ingest notes in docs/benchmarks.md). Not part of `bench/run.py`."""
from __future__ import annotations

import sys
import time
from collections import defaultdict
from pathlib import Path

from cachecast.store import ingest
from cachecast import store

OUT = Path(__file__).resolve().parent / "out"


class TimedConnection:
    """A DuckDB connection whose execute() records (statement name, seconds)."""

    def __init__(self, conn, names: dict[str, str]):
        self._conn, self._names, self.times = conn, names, []

    def execute(self, sql, *args, **kwargs):
        started = time.perf_counter()
        result = self._conn.execute(sql, *args, **kwargs)
        name = self._names.get(sql.strip(), " ".join(sql.split())[:60])
        self.times.append((name, time.perf_counter() - started))
        return result

    def __getattr__(self, name):
        return getattr(self._conn, name)


def main() -> None:
    results = sys.argv[1]
    manifest = sys.argv[2] if len(sys.argv) > 2 else None
    db = OUT / "profile-ingest.duckdb"
    for p in (db, db.with_name(db.name + ".wal")):
        p.unlink(missing_ok=True)
    names = {text.strip(): name for name, text in store.queries("store/ingest.sql").items()}
    conn = TimedConnection(store.connect(db), names)
    started = time.perf_counter()
    for report in ingest.ingest_paths(conn, [results], batch_id="profile", manifest=manifest, progress=False):
        print(report.summary())
    total = time.perf_counter() - started
    by_name: dict[str, float] = defaultdict(float)
    for name, seconds in conn.times:
        by_name[name] += seconds
    for name, seconds in sorted(by_name.items(), key=lambda kv: -kv[1])[:12]:
        print(f"{seconds:7.2f} s  {name}")
    print(f"{total:7.2f} s  total (the rest is Python between statements)")


if __name__ == "__main__":
    main()
