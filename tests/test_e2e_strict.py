"""The 2026 API end to end, through the real SDK and the strict local server (tests/fakeapi.py):
the shipped pilot comes back with 0 errored lines; a planted bad build gets exactly its
errored lines and exit 1; every shipped config builds requests the SDK's types accept."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

import roles
from _fixtures import FULL, PILOT, PILOT_OPENAI, REPO, read_jsonl
from cachecast.build.batches import build
from cachecast.cli import main
from cachecast.build.config import load_config
from cachecast.build.lint import lint_path
from cachecast.facts.sdk_types import batch_request_problems

SHIPPED_ANTHROPIC = [PILOT, FULL, REPO / "config" / "eval_config.full.haiku.anthropic.yaml"]


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key-e2e-strict")


@pytest.mark.parametrize("config", SHIPPED_ANTHROPIC, ids=lambda p: p.name)
def test_every_shipped_config_builds_requests_the_sdk_types_accept(config, tmp_path):
    """A full run is 30,000 lines; the first 1,200 cover every arm and sample (items repeat the pattern)."""
    cfg = load_config(config)
    build(cfg, tmp_path / "b", limit=1200, progress=False)
    lines = read_jsonl(tmp_path / "b" / "requests-0001.jsonl")
    problems = [p for line in lines for p in batch_request_problems(line, cfg.provider.api_version)]
    assert problems == [] and len(lines) == 1200
    assert all("temperature" not in line["params"] for line in lines)
    report = lint_path(tmp_path / "b")
    assert report.errors == 0, [f.to_dict() for f in report.findings]


def test_shipped_system_prompt_clears_each_models_minimum(tmp_path):
    """Under each model's own tokenizer: the estimate the manifest records, not characters."""
    for config in SHIPPED_ANTHROPIC:
        cfg = load_config(config)
        build(cfg, tmp_path / cfg.run_name, limit=3, progress=False)
        rows = read_jsonl(tmp_path / cfg.run_name / "manifest.jsonl")
        assert all(r["cacheable"] and r["skip_reason"] is None for r in rows), config.name


def test_openai_config_gets_openai_shard_limits(tmp_path):
    from cachecast.build.batches import LIMITS

    result = build(load_config(PILOT_OPENAI), tmp_path / "oa", limit=10, progress=False)
    assert LIMITS["openai"].requests == 50_000 and LIMITS["openai"].bytes == 200_000_000
    assert LIMITS["anthropic"].requests == 100_000 and LIMITS["anthropic"].bytes == 256_000_000
    line = read_jsonl(tmp_path / "oa" / result.shards[0].file)[0]
    assert isinstance(line["body"]["messages"][0]["content"], str)  # plain strings, as before caching


def test_shipped_pilot_round_trips_with_no_errored_line(fake_api, key, tmp_path, capsys):
    out = tmp_path / "pilot"
    assert main(["build", str(PILOT), "--out", str(out)]) == 0
    rc = main(["submit", str(out), "--wait", "--base-url", fake_api.url, "--poll-interval", "0"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    record = json.loads((out / "batches.json").read_text())["batches"][0]
    lines = read_jsonl(out / record["results"])
    assert len(lines) == 1200 and {x["result"]["type"] for x in lines} == {"succeeded"}
    assert record["api_version"] == "2026-10-21" and record["created_at"]


def _planted(out: Path) -> set[str]:
    """Break three requests of a good build the way the old builder did (and one more way)."""
    shard = out / "requests-0001.jsonl"
    lines = read_jsonl(shard)
    lines[0]["params"]["temperature"] = 0.0
    lines[1]["params"]["model"] = roles.retired()
    lines[2]["params"].update(model=roles.no_budget_tokens(), thinking={"type": "enabled", "budget_tokens": 1024})
    shard.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return {lines[i]["custom_id"] for i in range(3)}


def test_planted_bad_build_is_refused_by_the_lint_gate(fake_api, key, tmp_path, capsys):
    out = tmp_path / "bad"
    assert main(["build", str(PILOT), "--out", str(out), "--limit", "24"]) == 0
    _planted(out)
    rc = main(["submit", str(out), "--wait", "--base-url", fake_api.url, "--poll-interval", "0"])
    err = capsys.readouterr().err
    assert rc == 2 and "nothing was submitted" in err and "sampling-params" in err and "retired-model" in err
    assert "/v1/messages/batches" not in fake_api.paths("POST")


def test_planted_bad_build_forced_gets_exactly_its_errored_lines(fake_api, key, tmp_path, capsys):
    out = tmp_path / "bad"
    assert main(["build", str(PILOT), "--out", str(out), "--limit", "24"]) == 0
    bad = _planted(out)
    # --force past lint, --no-probe past the synchronous check: the batch itself must say what is wrong
    rc = main(["submit", str(out), "--wait", "--force", "--no-probe", "--base-url", fake_api.url,
               "--poll-interval", "0"])
    err = capsys.readouterr().err
    assert rc == 1, err
    record = json.loads((out / "batches.json").read_text())["batches"][0]
    lines = read_jsonl(out / record["results"])
    errored = {x["custom_id"] for x in lines if x["result"]["type"] == "errored"}
    assert errored == bad and sum(x["result"]["type"] == "succeeded" for x in lines) == 21
    kinds = {x["result"]["error"]["error"]["type"] for x in lines if x["custom_id"] in bad}
    assert kinds <= {"invalid_request_error", "not_found_error"}
    assert "3 request(s) errored" in err and "line(s) errored with invalid_request_error" in err


def test_fetch_exits_1_and_summarises_errored_lines(fake_api, key, tmp_path, capsys):
    out = tmp_path / "bad"
    assert main(["build", str(PILOT), "--out", str(out), "--limit", "12"]) == 0
    _planted(out)
    client = fake_api.client()
    batch = client.messages.batches.create(requests=read_jsonl(out / "requests-0001.jsonl"))
    rc = main(["fetch", batch.id, "--out", str(tmp_path / "r.jsonl"), "--base-url", fake_api.url])
    err = capsys.readouterr().err
    assert rc == 1 and "3 request(s) errored" in err


def test_archived_batch_is_one_sentence(fake_api, key, tmp_path, capsys):
    out = tmp_path / "b"
    assert main(["build", str(PILOT), "--out", str(out), "--limit", "6"]) == 0
    batch = fake_api.client().messages.batches.create(requests=read_jsonl(out / "requests-0001.jsonl"))
    fake_api.archive(batch.id)
    rc = main(["fetch", batch.id, "--out", str(tmp_path / "r.jsonl"), "--base-url", fake_api.url])
    err = capsys.readouterr().err
    assert rc == 2 and "was archived" in err and "29 days" in err and err.count("\n") == 1


def test_a_server_batch_id_that_is_not_one_is_never_written(tmp_path):
    from cachecast.send import api
    from cachecast.errors import ApiError

    with pytest.raises(ApiError, match="not a Message Batches id"):
        api.check_batch_id("../../../x")
    assert api.check_batch_id("msgbatch_01Abc-_9") == "msgbatch_01Abc-_9"


def test_every_client_sends_the_configured_api_version(fake_api, key, monkeypatch):
    from cachecast.send import api

    client = api.make_client(fake_api.url, api_version="2023-06-01")
    assert client.default_headers["anthropic-version"] == "2023-06-01"
    assert api.make_client(fake_api.url).default_headers["anthropic-version"] == "2026-10-21"


def test_retired_model_is_refused_by_build_project_and_count(tmp_path, capsys, retired_model):
    import yaml

    cfg = yaml.safe_load(PILOT.read_text())
    cfg["provider"]["model"] = retired_model  # thinking effort kept: retired is the news, not effort
    for section, key_ in (("prompts", "system_file"), ("prompts", "user_template_file"), ("items", "file")):
        cfg[section][key_] = str((PILOT.parent / cfg[section][key_]).resolve())
    for t in cfg["treatments"]:
        if "system_suffix_file" in t:
            t["system_suffix_file"] = str((PILOT.parent / t["system_suffix_file"]).resolve())
    path = tmp_path / "old.yaml"
    path.write_text(yaml.safe_dump(cfg))
    for argv in (["build", str(path), "--out", str(tmp_path / "o")], ["project", str(path)]):
        assert main(argv) == 2
        errors = [x for x in capsys.readouterr().err.splitlines() if ": error: " in x]
        facts = roles.facts(retired_model)
        assert len(errors) == 1 and f"retired on {facts.retires_at}" in errors[0]
        assert f"use {facts.replacement}" in errors[0]
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("command", ["submit", "count", "status", "models"])
def test_a_silent_server_is_a_bounded_wait_and_one_sentence(tmp_path, key, capsys, monkeypatch, command):
    """A server that accepts the connection and never answers: --timeout bounds each wait, in
    every command that calls the API (count reads ANTHROPIC_BASE_URL, as the SDK does)."""
    import socket
    import threading
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])  # keep it open, say nothing
            except OSError:
                pass

    threading.Thread(target=accept, daemon=True).start()
    out = tmp_path / "b"
    assert main(["build", str(PILOT), "--out", str(out), "--limit", "3"]) == 0
    started = time.monotonic()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}"
    argv = {"submit": ["submit", str(out), "--no-probe", "--base-url", url, "--max-retries", "0"],
            "count": ["count", str(out), "--exact", "--db", str(tmp_path / "c.duckdb"), "--max-retries", "0"],
            "status": ["status", "msgbatch_01Silent", "--base-url", url, "--max-retries", "0"],
            "models": ["models", "--refresh", "--base-url", url, "--max-retries", "0"]}[command]
    monkeypatch.setenv("ANTHROPIC_BASE_URL", url)
    try:
        rc = main([*argv, "--timeout", "1"])
    finally:
        stop.set()
        listener.close()
        for conn in held:
            conn.close()
    err = capsys.readouterr().err
    assert rc == 2 and "did not answer in time" in err and time.monotonic() - started < 30


def test_wait_deadline_stops_polling_with_one_sentence(fake_api, key, tmp_path, capsys):
    out = tmp_path / "b"
    assert main(["build", str(PILOT), "--out", str(out), "--limit", "3"]) == 0
    fake_api.faults.in_progress_polls = 10_000
    rc = main(["submit", str(out), "--wait", "--no-probe", "--base-url", fake_api.url, "--poll-interval", "0.2",
               "--deadline", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and "still processing after 1 s (--deadline)" in err
    assert json.loads((out / "batches.json").read_text())["batches"][0]["batch_id"].startswith("msgbatch_")
