"""Token counting: parts counted once through the real SDK against the fake server,
remembered in DuckDB (zero calls on re-run), 429 handling, estimate labelling, calibration."""
from __future__ import annotations

import json
import math

import pytest

import roles
from cachecast import cli
from cachecast.errors import ApiError
from cachecast.tokens.count import PROBE, TokenCounter, calibrate, count_path, split_params
from cachecast.facts.tokenizer import estimate_tokens

MODEL = roles.default()
SYSTEM = "x" * 4000
SUFFIX = "Be brief."          # 9 characters
QUESTIONS = ["What is 2+2?", "Name a prime.", "Define entropy in one line."]  # 12, 13, 27 characters
COUNT_PATH = ("POST", "/v1/messages/count_tokens")


def _params(question: str, suffix: bool, sample: int) -> dict:
    """`sample` does not change the params: two samples are two identical requests."""
    system = [{"type": "text", "text": SYSTEM, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    if suffix:
        system.append({"type": "text", "text": SUFFIX})
    return {"model": MODEL, "max_tokens": 100, "system": system,
            "messages": [{"role": "user", "content": [{"type": "text", "text": question}]}]}


@pytest.fixture
def request_file(tmp_path):
    """3 items x 2 treatments (one with a system suffix) x 2 samples = 12 requests."""
    path = tmp_path / "requests-0001.jsonl"
    with open(path, "w") as fh:
        for qi, q in enumerate(QUESTIONS):
            for suffix in (False, True):
                for n in (1, 2):
                    fh.write(json.dumps({"custom_id": f"q{qi}_{int(suffix)}_s{n}", "params": _params(q, suffix, n)}) + "\n")
    return path


def test_split_at_last_breakpoint_system_prefix_needs_probe():
    s = split_params(_params("hi", True, 1))
    assert s.prefix.probe and s.prefix.body["messages"] == [{"role": "user", "content": PROBE}]
    assert s.prefix.body["system"] == [{"type": "text", "text": SYSTEM}]  # cache_control stripped
    assert [p.text for p in s.rest] == [SUFFIX, "hi"]


def test_split_context_breakpoint_in_messages_and_no_breakpoint():
    params = {"model": MODEL, "system": "sys", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "context", "cache_control": {"type": "ephemeral"}},
        {"type": "text", "text": "question"}]}]}
    s = split_params(params)
    assert not s.prefix.probe
    assert s.prefix.body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "context"}]}]
    assert [p.text for p in s.rest] == ["question"]
    bare = split_params({"model": MODEL, "messages": [{"role": "user", "content": "q"}]})
    assert bare.prefix is None and [p.text for p in bare.rest] == ["q"]


def test_exact_counts_each_distinct_part_once_then_zero_calls(fake_api, request_file, tmp_path):
    db = tmp_path / "store.duckdb"
    counter = TokenCounter(client=fake_api.client(), db=db, progress=False)
    counts = count_path(request_file, counter)
    # distinct parts: 1 prefix (system + probe) + the probe alone + 3 questions + 1 suffix = 6 calls
    assert fake_api.calls == [COUNT_PATH] * 6
    assert counts.source == "exact" and counts.requests == 12 and counts.api_calls == 6
    # fake server: ceil(chars / 4). prefix 4000 + 1 (probe) = 4001 -> 1001; probe 1 -> 1; S = 1000
    assert set(counts.prefix) == {1000}
    # rest per request: question ceil(12/4)=3, ceil(13/4)=4, ceil(27/4)=7; suffix ceil(9/4)=3
    # q0: 3, 3+3; q1: 4, 4+3; q2: 7, 7+3; each twice (two samples)
    assert counts.rest == [3, 3, 6, 6, 4, 4, 7, 7, 7, 7, 10, 10]
    again = count_path(request_file, TokenCounter(client=fake_api.client(), db=db, progress=False))
    assert fake_api.calls == [COUNT_PATH] * 6  # zero new calls: remembered in DuckDB
    assert again.api_calls == 0 and again.remembered == 6 and again.rest == counts.rest


def test_rate_limit_is_retried_with_backoff(fake_api, request_file, tmp_path):
    fake_api.faults.rate_limit(2, path="/v1/messages/count_tokens")
    counts = count_path(request_file, TokenCounter(client=fake_api.client(max_retries=3), db=None, progress=False))
    assert len(fake_api.calls) == 6 + 2 and set(counts.prefix) == {1000}


def test_persistent_rate_limit_is_one_clear_error(fake_api, request_file, tmp_path):
    db = tmp_path / "store.duckdb"
    fake_api.faults.fail(429, None, path="/v1/messages/count_tokens", retry_after_ms=1)
    with pytest.raises(ApiError, match="rate limited"):
        count_path(request_file, TokenCounter(client=fake_api.client(max_retries=1), db=db, progress=False))
    assert len(fake_api.calls) == 2  # one try + one retry, then a clear error


def test_count_cli_exact_via_env_and_json(fake_api, request_file, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_api.url)
    db = tmp_path / "store.duckdb"
    assert cli.main(["count", str(request_file), "--json", "--db", str(db)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["source"] == "exact" and out["error_band"] is None and out["api_calls"] == 6
    assert out["prefix_tokens"] == {"total": 12_000, "mean": 1000.0, "distinct": 1}
    assert cli.main(["count", str(request_file), "--json", "--db", str(db)]) == 0
    assert json.loads(capsys.readouterr().out)["api_calls"] == 0
    assert len(fake_api.calls) == 6


def test_count_cli_estimate_without_key(request_file, monkeypatch, capsys):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    assert cli.main(["count", str(request_file), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    # estimate = ceil(chars / 4.0 x the tokenizer factor): system 4000 -> 1000 x 1.3 = 1300 per request on
    # the 2026 tokenizer, 1000 on the classic one
    assert out["source"] == "estimate" and out["error_band"] == 0.2 and out["api_calls"] == 0
    assert out["prefix_tokens"]["mean"] == math.ceil(4000 / 4 * roles.facts(MODEL).tokenizer_factor)
    assert out["requests"] == 12
    assert cli.main(["count", str(request_file)]) == 0
    assert "ESTIMATE" in capsys.readouterr().out
    assert cli.main(["count", str(request_file), "--exact"]) == 2
    assert "ANTHROPIC_API_KEY" in capsys.readouterr().err


def test_count_cli_bad_input(tmp_path, capsys):
    bad = tmp_path / "r.jsonl"
    bad.write_text(json.dumps({"custom_id": "a", "params": {"model": MODEL}}) + "\nnot json\n")
    assert cli.main(["count", str(bad)]) == 2
    assert "r.jsonl:2: not valid JSON" in capsys.readouterr().err


def test_estimate_uses_tokenizer_factor():
    # the 2026 tokenizer's factor 1.3: 400 chars / 4 = 100 x 1.3 = 130
    assert estimate_tokens("a" * 400, roles.tokenizer_2026()) == 130
    assert estimate_tokens("a" * 400, "claude-sonnet-5-5") == 130  # Sonnet 5.5's row: the 2026 tokenizer too
    assert estimate_tokens("a" * 400, roles.classic_tokenizer()) == 100  # classic: 400 / 4 = 100 x 1.0


def test_calibrate_ratio_and_residuals():
    cal = calibrate([(100, 110), (200, 230), (100, 90)])
    # ratio = (110 + 230 + 90) / (100 + 200 + 100) = 430 / 400 = 1.075
    assert cal.ratio == pytest.approx(1.075)
    # relative errors after correction: 110/107.5-1 = 0.023256, 230/215-1 = 0.069767, 90/107.5-1 = -0.162791
    assert cal.mean_abs_error == pytest.approx((0.0232558 + 0.0697674 + 0.1627907) / 3, abs=1e-6)
    assert cal.max_abs_error == pytest.approx(0.1627907, abs=1e-6) == cal.p95_abs_error
    assert cal.n == 3 and cal.apply(1000) == pytest.approx(1075)


def test_tools_breakpoint_prefix_and_rest_tool(fake_api):
    tools = [{"name": "a", "description": "d" * 400, "input_schema": {"type": "object"}},
             {"name": "b", "description": "e", "input_schema": {"type": "object"}}]
    params = {"model": MODEL, "tools": [{**tools[0], "cache_control": {"type": "ephemeral"}}, tools[1]],
              "messages": [{"role": "user", "content": "q"}]}
    s = split_params(params)
    assert s.prefix.probe and s.prefix.body["tools"] == [tools[0]]
    assert [p.body.get("tools") for p in s.rest] == [[tools[1]], None] and s.rest[0].probe
    from cachecast.tokens.count import count_splits

    counts = count_splits([s], TokenCounter(client=fake_api.client(), progress=False))
    # fake: tool JSON chars / 4; the probe "." adds 1 char and is subtracted as its own count (1)
    tool_a = len(json.dumps(tools[0], sort_keys=True))
    tool_b = len(json.dumps(tools[1], sort_keys=True))
    assert counts.prefix == [-(-(tool_a + 1) // 4) - 1]
    assert counts.rest == [(-(-(tool_b + 1) // 4) - 1) + 1]  # tool b, then "q" -> ceil(1/4) = 1
    assert len(fake_api.calls) == 4  # prefix, probe, tool b, "q"
