"""submit / status / fetch through the real SDK against the fake server (tests/fakeapi.py).

SONNET is named where a cost is worked by hand from its published rates; elsewhere the model
is a role (tests/roles.py) or the shipped config's."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

import roles
from cachecast.send import api
from cachecast.cli import main

ROOT = Path(__file__).resolve().parents[1]
SONNET = "claude-sonnet-5-5"  # the gate's cost below is worked from its batch rates
KEY = "sk-ant-test-apitests-0000"


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)


def make_config(tmp_path: Path, budget: float | None = 25, limit: int = 10) -> Path:
    cfg = yaml.safe_load((ROOT / "config/eval_config.pilot.anthropic.yaml").read_text())
    for section, key_ in (("prompts", "system_file"), ("prompts", "user_template_file"), ("items", "file")):
        cfg[section][key_] = str((ROOT / "config" / cfg[section][key_]).resolve())
    for t in cfg["treatments"]:
        if "system_suffix_file" in t:
            t["system_suffix_file"] = str((ROOT / "config" / t["system_suffix_file"]).resolve())
    cfg["items"]["limit"] = limit
    cfg["budget_usd"] = budget
    path = tmp_path / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture
def built(tmp_path) -> Path:
    out = tmp_path / "build"
    assert main(["build", str(make_config(tmp_path)), "--out", str(out)]) == 0
    return out


def test_submit_wait_records_fetches_and_logs(fake_api, key, built, capsys):
    fake_api.faults.in_progress_polls = 2
    rc = main(["submit", str(built), "--wait", "--base-url", fake_api.url, "--poll-interval", "0"])
    out = capsys.readouterr().out
    assert rc == 0
    record = json.loads((built / "batches.json").read_text())["batches"]
    assert len(record) == 1 and record[0]["requests"] == 60 and record[0]["processing_status"] == "ended"
    results = built / record[0]["results"]
    assert len(results.read_text().splitlines()) == 60
    line = next(x for x in out.splitlines() if x.startswith("batch "))
    assert "60 succeeded, 0 errored" in line and "cache_read_input_tokens=" in line and "token hit rate" in line
    # the probe (count_tokens with cache_control, then the max_tokens-0 call), then the batch
    assert fake_api.paths("POST") == ["/v1/messages/count_tokens", "/v1/messages", "/v1/messages/batches"]


def test_resubmit_does_not_submit_twice(fake_api, key, built, capsys):
    assert main(["submit", str(built), "--base-url", fake_api.url]) == 0
    assert main(["submit", str(built), "--base-url", fake_api.url]) == 0
    assert fake_api.paths("POST").count("/v1/messages/batches") == 1
    assert "already submitted" in capsys.readouterr().out


def test_changed_shard_after_submit_is_refused(fake_api, key, built, capsys):
    assert main(["submit", str(built), "--base-url", fake_api.url]) == 0
    with open(built / "requests-0001.jsonl", "a") as fh:
        fh.write("\n")
    assert main(["submit", str(built), "--base-url", fake_api.url]) == 2
    assert "changed since it was submitted" in capsys.readouterr().err


def test_budget_gate_refuses_unless_forced(fake_api, key, tmp_path, capsys):
    # 60 requests at roughly $0.007 each cost more than $0.01
    out = tmp_path / "b"
    assert main(["build", str(make_config(tmp_path, budget=0.01)), "--out", str(out)]) == 0
    assert main(["submit", str(out), "--base-url", fake_api.url]) == 2
    err = capsys.readouterr().err
    assert "exceeds the config's budget_usd $0.01" in err and err.count("\n") == 1
    assert fake_api.calls == []
    assert main(["submit", str(out), "--base-url", fake_api.url, "--force"]) == 0
    # the probe (count_tokens with cache_control, then the max_tokens-0 call), then the batch
    assert fake_api.paths("POST") == ["/v1/messages/count_tokens", "/v1/messages", "/v1/messages/batches"]


def test_gate_prices_the_manifest_like_project(tmp_path):
    # 1 request, Sonnet 5.5 batch rates ($/MTok): input 1.0, 1h write 2.0, read 0.05, output 5.0.
    # Judged on the true worst case (issue 11): every request writes the 1h cache, none reads.
    # prefix 2000, rest 100, output = answer 4096 x 0.5 = 2048 + thinking at effort medium 600
    # (the dated planning assumption in price_corrections.yaml) = 2648:
    # 2000 x 2.0 + 100 x 1.0 + 2648 x 5.0 = 4000 + 100 + 13240 = 17340 micro-dollars -> $0.01734
    from cachecast.plan import gate

    cfg_path = make_config(tmp_path, budget=1.0)
    cfg_text = yaml.safe_load(cfg_path.read_text())
    cfg_text["output_fill_ratio"] = 0.5
    cfg_text["provider"]["model"] = SONNET
    cfg_path.write_text(yaml.safe_dump(cfg_text))
    build = tmp_path / "manual"
    build.mkdir()
    (build / "build.json").write_text(json.dumps({"config": str(cfg_path)}))
    (build / "manifest.jsonl").write_text(json.dumps(
        {"custom_id": "a", "item_id": "q1", "model": SONNET, "ttl": "1h", "cacheable": True,
         "est_prefix_tokens": 2000, "est_rest_tokens": 100}) + "\n")
    v = gate.verdict(build)
    assert v.projected_usd == pytest.approx(0.01734)
    assert v.within and v.basis == "worst_expected"
    # ceiling: 2000 x 2.0 + 100 x 1.0 + 4096 x 5.0 = 4000 + 100 + 20480 = 24580 micro-dollars -> $0.02458
    assert v.ceiling_usd == pytest.approx(0.02458)


def test_missing_key_is_one_sentence(fake_api, built, monkeypatch, capsys):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    assert main(["submit", str(built), "--base-url", fake_api.url]) == 2
    err = capsys.readouterr().err
    assert "ANTHROPIC_API_KEY is not set" in err and err.count("\n") == 1
    assert fake_api.calls == []


def test_429_then_success_is_retried_by_the_sdk(fake_api, key, built):
    fake_api.faults.rate_limit(2, path="/v1/messages/batches", method="POST")
    assert main(["submit", str(built), "--base-url", fake_api.url, "--max-retries", "2"]) == 0
    # the probe (count_tokens, then messages), then 2 x 429 + 1
    assert fake_api.paths("POST") == ["/v1/messages/count_tokens", "/v1/messages"] + ["/v1/messages/batches"] * 3
    assert (built / "batches.json").exists()


@pytest.mark.parametrize("status, words", [(401, "refused the key"), (429, "rate limited"),
                                           (500, "HTTP 500"), (400, "rejected the request")])
def test_api_errors_are_one_clear_sentence(fake_api, key, built, capsys, status, words):
    fake_api.faults.fail(status, times=None)
    assert main(["submit", str(built), "--base-url", fake_api.url, "--max-retries", "0"]) == 2
    err = capsys.readouterr().err
    assert words in err and err.startswith("cachecast submit: error:") and err.count("\n") == 1
    assert "Traceback" not in err and KEY not in err
    assert not (built / "batches.json").exists()


def test_network_error_is_one_sentence(key, built, capsys):
    # nothing listens on port 9 of localhost
    assert main(["submit", str(built), "--base-url", "http://127.0.0.1:9", "--max-retries", "0"]) == 2
    err = capsys.readouterr().err
    assert "could not reach the API" in err and err.count("\n") == 1


def test_fetch_resumes_an_interrupted_download(fake_api, key, built, tmp_path, capsys):
    client = fake_api.client()
    requests = [json.loads(x) for x in (built / "requests-0001.jsonl").read_text().splitlines()]
    batch = client.messages.batches.create(requests=requests)
    out = tmp_path / "res.jsonl"
    fake_api.faults.cut_results_after = 25
    assert main(["fetch", batch.id, "--out", str(out), "--base-url", fake_api.url, "--max-retries", "0"]) == 2
    assert "run the same fetch again to resume" in capsys.readouterr().err
    part = out.with_name("res.jsonl.part")
    assert len(part.read_text().splitlines()) == 25 and not out.exists()
    with open(part, "a") as fh:  # a torn line, as if the process died mid-write
        fh.write('{"custom_id": "q000')
    assert main(["fetch", batch.id, "--out", str(out), "--base-url", fake_api.url, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["resumed_lines"] == 25 and summary["lines"] == 60
    ids = [json.loads(x)["custom_id"] for x in out.read_text().splitlines()]
    assert len(ids) == 60 == len(set(ids)) and not part.exists()


def test_fetch_before_the_batch_ended_says_so(fake_api, key, built, tmp_path, capsys):
    fake_api.faults.in_progress_polls = 10
    batch = fake_api.client().messages.batches.create(requests=[
        json.loads((built / "requests-0001.jsonl").read_text().splitlines()[0])])
    assert main(["fetch", batch.id, "--out", str(tmp_path / "r.jsonl"), "--base-url", fake_api.url]) == 2
    assert "still in_progress" in capsys.readouterr().err


def test_status_json(fake_api, key, built, capsys):
    main(["submit", str(built), "--base-url", fake_api.url])
    capsys.readouterr()
    assert main(["status", str(built), "--json", "--base-url", fake_api.url]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["batches"][0]["processing_status"] == "ended"
    assert got["batches"][0]["request_counts"]["succeeded"] == 60


def test_wait_polls_until_every_batch_ends(fake_api, key):
    fake_api.faults.in_progress_polls = 3
    client = fake_api.client()
    ids = [client.messages.batches.create(requests=[{"custom_id": "a", "params": {
        "model": roles.default(), "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}}]).id
        for _ in range(2)]
    sleeps = []
    state = api.wait(client, ids, poll_seconds=7, progress=False, sleep=sleeps.append)
    assert all(b.processing_status == "ended" for b in state.values())
    assert sleeps == [7, 7, 7]
