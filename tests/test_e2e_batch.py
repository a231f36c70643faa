"""End to end through the real SDK: build -> submit --wait -> fetch -> ingest -> audit, against
the fake server (tests/fakeapi.py), including fault cases and a scan for the API key."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from cachecast.cli import main
from test_api import make_config

CANARY = "sk-ant-test-SECRET-CANARY-4f9b2c71e0d8"


def cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", CANARY)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)


@pytest.fixture
def built(tmp_path, capsys) -> Path:
    out = tmp_path / "build"
    rc, _, err = cli(capsys, "build", make_config(tmp_path, limit=20), "--out", out)  # 120 requests
    assert rc == 0, err
    return out


def audit(capsys, db: Path, batch_id: str | None = None) -> dict:
    args = ["audit", "--db", db, "--json"] + (["--batch-id", batch_id] if batch_id else [])
    rc, out, err = cli(capsys, *args)
    assert rc == 0, err
    return json.loads(out)


def test_submit_wait_ingests_and_audits(fake_api, env, built, tmp_path, capsys):
    db = tmp_path / "store.duckdb"
    fake_api.faults.in_progress_polls = 3
    rc, out, err = cli(capsys, "submit", built, "--wait", "--db", db, "--base-url", fake_api.url, "--poll-interval", 0)
    assert rc == 0, err
    record = json.loads((built / "batches.json").read_text())["batches"][0]
    got = audit(capsys, db, record["batch_id"])
    assert got["requests"] == got["succeeded"] == 120
    # the fake server simulates waves of 8: the first wave writes, later waves mostly read
    assert got["cache_read_input_tokens"] > 0 and got["cache_creation_input_tokens"] > 0
    assert 0 < got["token_hit_rate"] < 1 and got["savings_usd"] > 0
    line = next(x for x in out.splitlines() if x.startswith(f"batch {record['batch_id']}"))
    assert f"cache_read_input_tokens={got['cache_read_input_tokens']:,}" in line
    assert f"cache_creation_input_tokens={got['cache_creation_input_tokens']:,}" in line


def test_429s_then_success_and_a_500_are_retried(fake_api, env, built, tmp_path, capsys):
    fake_api.faults.rate_limit(2, path="/v1/messages/batches", method="POST")
    fake_api.faults.server_error(1, path="/v1/messages/batches/", method="GET")
    rc, _, err = cli(capsys, "submit", built, "--wait", "--base-url", fake_api.url, "--poll-interval", 0,
                     "--max-retries", 3)
    assert rc == 0, err
    assert fake_api.paths("POST").count("/v1/messages/batches") == 3
    assert [r.hits for r in fake_api.faults.rules] == [2, 1]


def test_persistent_500_fails_cleanly_and_rerun_recovers(fake_api, env, built, tmp_path, capsys):
    rule = fake_api.faults.server_error(times=None, path="/v1/messages/batches/", method="GET")
    rc, _, err = cli(capsys, "submit", built, "--wait", "--base-url", fake_api.url, "--poll-interval", 0,
                     "--max-retries", 1)
    assert rc == 2 and "HTTP 500" in err and err.count("\n") == 1
    # the batch was created and recorded before polling failed: the re-run only waits
    fake_api.faults.rules.remove(rule)
    rc, out, err = cli(capsys, "submit", built, "--wait", "--base-url", fake_api.url, "--poll-interval", 0)
    assert rc == 0, err
    assert fake_api.paths("POST").count("/v1/messages/batches") == 1 and "already submitted" in out


def test_errored_and_expired_lines_are_counted_not_billed(fake_api, env, built, tmp_path, capsys):
    db = tmp_path / "store.duckdb"
    fake_api.faults.errored, fake_api.faults.expired = 3, 2
    batch = fake_api.client().messages.batches.create(
        requests=[json.loads(x) for x in (built / "requests-0001.jsonl").read_text().splitlines()])
    res = tmp_path / "results.jsonl"
    rc, out, err = cli(capsys, "fetch", batch.id, "--out", res, "--base-url", fake_api.url)
    assert rc == 1, err  # any errored line: exit 1, with the errors summarised
    assert "115 succeeded, 3 errored, 2 expired" in out and "3 request(s) errored" in err
    rc, _, err = cli(capsys, "ingest", res, "--db", db, "--manifest", built, "--batch-id", batch.id)
    assert rc == 0, err
    got = audit(capsys, db, batch.id)
    assert (got["requests"], got["succeeded"], got["errored"], got["expired"]) == (120, 115, 3, 2)
    # re-ingesting the same file adds nothing
    rc, _, err = cli(capsys, "ingest", res, "--db", db, "--manifest", built, "--batch-id", batch.id)
    assert rc == 0, err
    assert audit(capsys, db, batch.id)["requests"] == 120


def test_fetch_with_db_ingests(fake_api, env, built, tmp_path, capsys):
    db = tmp_path / "store.duckdb"
    batch = fake_api.client().messages.batches.create(
        requests=[json.loads(x) for x in (built / "requests-0001.jsonl").read_text().splitlines()])
    rc, _, err = cli(capsys, "fetch", batch.id, "--out", tmp_path / "r.jsonl", "--db", db, "--manifest", built,
                     "--base-url", fake_api.url)
    assert rc == 0, err
    assert audit(capsys, db, batch.id)["succeeded"] == 120


def test_the_api_key_is_never_written_anywhere(fake_api, env, built, tmp_path, capsys, caplog):
    """A recognisable fake key goes through the whole flow, including a 401 and a resumed
    download; then every file, the DuckDB store, the logs and all output are scanned."""
    caplog.set_level(logging.DEBUG)
    db = tmp_path / "store.duckdb"
    seen: list[str] = []

    def run(*argv):
        rc, out, err = cli(capsys, *argv)
        seen.extend([out, err])
        return rc

    fake_api.faults.unauthorized(times=1)
    assert run("submit", built, "--base-url", fake_api.url, "--max-retries", 0) == 2
    fake_api.faults.in_progress_polls = 1
    assert run("submit", built, "--wait", "--db", db, "--base-url", fake_api.url, "--poll-interval", 0) == 0
    batch_id = json.loads((built / "batches.json").read_text())["batches"][0]["batch_id"]
    fake_api.faults.cut_results_after = 10
    res = tmp_path / "again.jsonl"
    assert run("fetch", batch_id, "--out", res, "--base-url", fake_api.url, "--max-retries", 0) == 2
    assert run("fetch", batch_id, "--out", res, "--db", db, "--manifest", built, "--base-url", fake_api.url) == 0
    assert run("status", built, "--base-url", fake_api.url) == 0
    assert run("ingest", res, "--db", db, "--manifest", built) == 0
    assert run("audit", "--db", db, "--json") == 0
    assert run("audit", "--db", db) == 0

    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert db in files and any(p.suffix == ".jsonl" for p in files)
    leaks = [str(p) for p in files if CANARY.encode() in p.read_bytes()]
    leaks += [f"output #{i}" for i, text in enumerate(seen) if CANARY in text]
    if CANARY in caplog.text:
        leaks.append("log records")
    assert leaks == []
    assert any("refused the key" in text for text in seen)  # the 401 did happen, without the key in it
