"""Crash safety and concurrency of the store (issue 7), with real processes:

* `cachecast ingest` killed with SIGKILL in the middle of a large file leaves a database that
  opens and holds exactly a committed state (one transaction per file), and running the
  same command again completes it;
* two ingests into one database at the same time either run one after the other or one
  stops at once with one clear "database is busy" line (exit 2); after re-running the one
  that stopped, nothing is missing.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

import roles

LINE = ('{"custom_id": "%s%d", "result": {"type": "succeeded", "message": {"id": "msg_01%s%08d", '
        '"type": "message", "role": "assistant", "model": "' + roles.default() + '", "content": [{"type": "text", '
        '"text": "ok"}], "stop_reason": "end_turn", "stop_sequence": null, "usage": {"input_tokens": 12, '
        '"cache_creation_input_tokens": 0, "cache_read_input_tokens": 1500, "output_tokens": 40}}}}\n')


def results_file(path: Path, prefix: str, n: int) -> Path:
    with open(path, "w") as fh:
        for start in range(0, n, 10_000):
            fh.write("".join(LINE % (prefix, i, prefix, i) for i in range(start, min(n, start + 10_000))))
    return path


def cachecast(*argv) -> list[str]:
    return [sys.executable, "-m", "cachecast.cli", *map(str, argv)]


def env() -> dict[str, str]:
    out = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    out.pop("CACHECAST_DEBUG", None)
    return out


def state(db: Path) -> dict[str, int]:
    """What is committed, and whether the books balance: every stored row belongs to a
    recorded ingest and every recorded ingest's lines are all there."""
    conn = duckdb.connect(str(db))  # read-write: replays the WAL exactly as cachecast would
    try:
        rows, quarantined = conn.execute(
            "SELECT (SELECT count(*) FROM results), (SELECT count(*) FROM quarantine)").fetchone()
        ingested, q_recorded, files = conn.execute(
            "SELECT coalesce(sum(ingested), 0), coalesce(sum(quarantined), 0), count(*) FROM ingests").fetchone()
        orphans = conn.execute("SELECT count(*) FROM results WHERE ingest_id NOT IN (SELECT ingest_id FROM ingests)"
                               ).fetchone()[0]
        unbalanced = conn.execute("SELECT count(*) FROM ingests WHERE lines_read <> ingested + duplicates + quarantined"
                                  ).fetchone()[0]
    finally:
        conn.close()
    assert rows == ingested and quarantined == q_recorded and orphans == 0 and unbalanced == 0
    return {"rows": int(rows), "files": int(files)}


def has_store(db: Path) -> bool:
    if not db.exists():
        return False
    conn = duckdb.connect(str(db))
    try:
        return bool(conn.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = 'ingests'").fetchone()[0])
    finally:
        conn.close()


def test_ingest_killed_mid_file_leaves_a_committed_state_and_a_rerun_completes_it(tmp_path):
    small = results_file(tmp_path / "small.jsonl", "s", 1_000)
    big = results_file(tmp_path / "big.jsonl", "b", 120_000)
    db_dir = tmp_path / "db"
    db_dir.mkdir()
    db = db_dir / "store.duckdb"
    done = subprocess.run(cachecast("ingest", small, "--db", db), capture_output=True, text=True, env=env())
    assert done.returncode == 0, done.stderr
    before = state(db)
    assert before == {"rows": 1_000, "files": 1}

    proc = subprocess.Popen(cachecast("ingest", big, "--db", db), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env())
    try:
        # wait until it is inside the file: its WAL exists and the per-file work dir is made
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if (db_dir / "store.duckdb.wal").exists() and any(db_dir.glob("cachecast-ingest-*")):
                break
            time.sleep(0.01)
        time.sleep(0.3)  # into the insert (not an assertion: any moment must be safe)
        killed_running = proc.poll() is None
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)

    after_kill = state(db)  # opens, replays what was committed, balances
    assert after_kill in (before, {"rows": 121_000, "files": 2})
    if killed_running:
        assert after_kill == before  # the half-read file left nothing behind

    rerun = subprocess.run(cachecast("ingest", small, big, "--db", db), capture_output=True, text=True, env=env())
    assert rerun.returncode == 0, rerun.stderr
    assert state(db)["rows"] == 121_000


@pytest.mark.parametrize("batch", ["msgbatch_kill", None], ids=["one batch", "a batch per file"])
@pytest.mark.parametrize("delay", [0.0, 0.4, 1.0])
def test_ingest_of_many_files_killed_leaves_whole_files_and_a_rerun_completes_it(tmp_path, delay, batch):
    """The chunked path (issue 14, class 11): a set-based pass, the chunk's batch rows and
    prices, then one transaction per file, three at a time. Killed at any moment, every
    recorded file has all its rows and no row is without its file; the same command again
    stores the rest, nothing twice, and leaves no batch without its lines."""
    folder = tmp_path / "results"
    folder.mkdir()
    for k in range(400):
        results_file(folder / f"shard-{k:03d}.jsonl", f"f{k}x", 3)
    db = tmp_path / "store.duckdb"
    command = cachecast("ingest", folder / "*.jsonl", "--db", db, *(["--batch-id", batch] if batch else []))
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env())
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None and not db.with_name("store.duckdb.wal").exists():
            time.sleep(0.01)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    if has_store(db):  # (a kill while the store was being made leaves none; the rerun makes it)
        after_kill = state(db)  # balances: whole files only
        assert after_kill["rows"] == 3 * after_kill["files"]
    rerun = subprocess.run(command, capture_output=True, text=True, env=env())
    assert rerun.returncode == 0, rerun.stderr
    assert state(db) == {"rows": 1_200, "files": 400}
    conn = duckdb.connect(str(db))
    try:
        assert conn.execute("SELECT count(*), count(*) FILTER (WHERE batch_id NOT IN (SELECT batch_id FROM results)) "
                            "FROM batches").fetchone() == (1 if batch else 400, 0)
    finally:
        conn.close()


def test_two_ingests_at_once_serialize_or_one_says_busy_and_nothing_is_lost(tmp_path):
    files = [results_file(tmp_path / f"part{i}.jsonl", f"p{i}", 40_000) for i in (1, 2)]
    db = tmp_path / "store.duckdb"
    procs = [subprocess.Popen(cachecast("ingest", f, "--db", db), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env()) for f in files]
    outcomes = [(p, *p.communicate(timeout=120)) for p in procs]
    retry = []
    for (proc, out, err), path in zip(outcomes, files):
        assert "Traceback" not in err
        if proc.returncode != 0:
            assert proc.returncode == 2, err
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("cachecast ingest: error: "), err
            assert "is busy" in lines[0] and str(db) in lines[0], lines[0]
            retry.append(path)
    for path in retry:
        again = subprocess.run(cachecast("ingest", path, "--db", db), capture_output=True, text=True, env=env())
        assert again.returncode == 0, again.stderr
    assert state(db) == {"rows": 80_000, "files": 2}


@pytest.mark.parametrize("reader", ["audit"])
def test_reading_while_an_ingest_writes_says_busy(tmp_path, reader):
    """A reader meeting a writer gets the same clear sentence, not DuckDB's lock dump."""
    db = tmp_path / "store.duckdb"
    subprocess.run(cachecast("ingest", results_file(tmp_path / "a.jsonl", "a", 10), "--db", db), check=True,
                   capture_output=True, env=env())
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('locked', flush=True); time.sleep(60)", str(db)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        proc = subprocess.run(cachecast(reader, "--db", db), capture_output=True, text=True, env=env(), timeout=60)
    finally:
        holder.kill()
        holder.wait()
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1 and "is busy" in lines[0], proc.stderr
