"""Issue 20, done when: a planted build with each shape behaves as the real API would, on the
local server (batch lines, synchronous calls) and in the probe (which must stop submit before
any batch exists), and the probe sends the anthropic-beta values the build records.

Each probe test failed before: the validation probe removed every cache_control and sent
max_tokens 0, so a 5th breakpoint, a wrong TTL order or a max_tokens above the model's limit
passed the probe and errored every line of the batch hours later."""
from __future__ import annotations

import json
from pathlib import Path

import anthropic
import pytest

import roles
from _fixtures import read_jsonl
from cachecast.build.batches import build
from cachecast.cli import main
from cachecast.facts import models
from cachecast.send import probe
from fakeapi import FakeAnthropic
from fakeapi_rules import Modes

EPH, EPH_1H = {"type": "ephemeral"}, {"type": "ephemeral", "ttl": "1h"}
TOOL = {"name": "calc", "description": "a calculator", "input_schema": {"type": "object", "properties": {}}}
CAPPED = roles.output_capped()  # a max_tokens ceiling, and no 300k batch beta
CAP = roles.facts(CAPPED).max_output
BIG = roles.output_300k()  # a synchronous ceiling, and a higher one in batches with the beta
BIG_CAP = roles.facts(BIG).max_output


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key-probe-shapes")


def cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def planted(project, tmp_path: Path, change, config: dict | None = None) -> Path:
    """The small build (6 requests), every line changed by `change(params)`."""
    out = tmp_path / "build"
    build(project.load(config), out, progress=False)
    shard = out / "requests-0001.jsonl"
    lines = read_jsonl(shard)
    for line in lines:
        change(line["params"])
    shard.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return out


def four_plus_automatic(p: dict) -> None:
    p["system"] = [*p["system"], *[{"type": "text", "text": f"rule {i}", "cache_control": dict(EPH_1H)}
                                   for i in range(3)]]
    p["cache_control"] = dict(EPH_1H)


def wrong_ttl_order(p: dict) -> None:
    p["system"][0]["cache_control"] = dict(EPH)
    p["cache_control"] = dict(EPH_1H)


def above_the_limit(p: dict) -> None:
    p.update(model=CAPPED, max_tokens=CAP + 1)


def fast_without_beta(p: dict) -> None:
    p.update(model=roles.fast_beta(), speed="fast")


def max_tokens_0_forced_tool(p: dict) -> None:
    p.update(model=roles.forced_tool(), max_tokens=0, tools=[TOOL], tool_choice={"type": "any"})


# shape -> (words of the probe's refusal, words of the batch line's error)
SHAPES = {
    "4 breakpoints plus an automatic one": (four_plus_automatic, "A maximum of 4 blocks", "A maximum of 4 blocks"),
    "wrong TTL order": (wrong_ttl_order, "ttl '1h' must not come after", "ttl '1h' must not come after"),
    "max_tokens above the limit": (above_the_limit, f"max_tokens {CAP + 1:,} is above {CAP:,}, the Models API's",
                                   f"{CAP + 1} > {CAP}"),
    "fast without the beta": (fast_without_beta, "fast mode is not available in the Message Batches API",
                              "fast mode is not available in the Message Batches API"),
    "max_tokens 0 with forced tool_choice": (max_tokens_0_forced_tool, "must be at least 1 in the Message Batches",
                                             "must be at least 1 in the Message Batches"),
}


@pytest.mark.parametrize("shape", list(SHAPES))
@pytest.mark.parametrize("count_rules", ["enforced", "ignored"])
def test_planted_shape_stops_submit_and_errors_on_the_server(shape, count_rules, key, project, tmp_path, capsys):
    """Both ways count_tokens may treat breakpoints (undocumented): the probe still refuses."""
    change, probe_words, line_words = SHAPES[shape]
    out = planted(project, tmp_path, change)
    with FakeAnthropic(modes=Modes(count_tokens_cache_rules=count_rules)) as server:
        rc, _, err = cli(capsys, "submit", out, "--force", "--base-url", server.url)
        assert rc == 2 and probe_words in err, err
        assert "no batch was created" in err and server.paths("POST").count("/v1/messages/batches") == 0
        assert server.messages == []  # refused before the one billed call
        # the real service would error every line of that batch, with the same reason
        client = server.client()
        batch = client.messages.batches.create(requests=read_jsonl(out / "requests-0001.jsonl")[:1])
        [line] = client.messages.batches.results(batch.id)
    assert line.result.type == "errored" and line_words in line.result.error.error.message


def test_the_synchronous_api_refuses_fast_without_the_beta_and_max_tokens_0_with_forced_tool(fake_api):
    client = fake_api.client(max_retries=0)
    base = {"max_tokens": 100, "messages": [{"role": "user", "content": "q"}]}
    with pytest.raises(anthropic.BadRequestError, match="needs the anthropic-beta header fast-mode-2026-02-01"):
        client.messages.create(model=roles.fast_beta(), speed="fast", **base)
    beta = fake_api.client(default_headers={"anthropic-beta": models.FAST_MODE_BETA})
    assert beta.messages.create(model=roles.fast_beta(), speed="fast", **base).usage.speed == "fast"
    with pytest.raises(anthropic.BadRequestError, match="cannot be combined with a forced tool_choice"):
        client.messages.create(model=roles.forced_tool(), tools=[TOOL], tool_choice={"type": "any"},
                               **{**base, "max_tokens": 0})


def test_a_forced_tool_shape_is_probed_with_max_tokens_1(key, project, tmp_path, capsys, fake_api):
    """max_tokens 0 would be refused with a forced tool_choice; the probe sends the smallest valid request."""
    out = planted(project, tmp_path, lambda p: p.update(model=roles.forced_tool(), tools=[TOOL],
                                                       tool_choice={"type": "any"}))
    assert probe.probe_params(read_jsonl(out / "requests-0001.jsonl")[0]["params"], False)["max_tokens"] == 1
    rc, _, err = cli(capsys, "probe", out, "--base-url", fake_api.url, "--db", tmp_path / "s.duckdb")
    assert rc == 0, err
    assert fake_api.messages == [{"model": roles.forced_tool(), "max_tokens": 1}]  # one shape: the arms share it


# ------------------------------------------------------------------ max_tokens 0 with always-on thinking


def always_thinking(p: dict) -> None:
    p["model"] = roles.always_thinks()  # adaptive thinking by default, and it cannot be turned off


@pytest.mark.parametrize("mode", ["accept", "reject"])
def test_max_tokens_0_with_adaptive_thinking_stops_only_the_prewarm(mode, key, project, tmp_path, capsys):
    out = planted(project, tmp_path, always_thinking)
    db = tmp_path / "s.duckdb"
    with FakeAnthropic(modes=Modes(prewarm_adaptive=mode)) as server:
        rc, stdout, err = cli(capsys, "submit", out, "--prewarm", "--db", db, "--wait", "--base-url", server.url,
                              "--poll-interval", 0)
        created = server.paths("POST").count("/v1/messages/batches")
    assert rc == 0, err
    assert created == 1  # submit does not stop for it, either way
    if mode == "reject":
        assert "pre-warm not possible for this shape" in err and "cannot turn thinking off" in err
        assert "count_tokens with cache_control" in err  # what validated it instead
        verdict = next(x for x in stdout.splitlines() if x.startswith("pre-warm msgbatch_"))
        assert "not enough data (no ingested first-wave lines of a pre-warmed prefix)" in verdict  # not warmed
    else:
        assert "pre-warm not possible" not in err
        verdict = next(x for x in stdout.splitlines() if x.startswith("pre-warm msgbatch_"))
        assert "pre-warm paid $" in verdict
    from cachecast import store

    conn = store.connect(db)
    try:
        statuses = {r[0] for r in conn.execute("SELECT status FROM probes").fetchall()}
    finally:
        conn.close()
    assert statuses == ({"prewarm_refused"} if mode == "reject" else {"ok"})


# ------------------------------------------------------------------ the build's betas, sent by every command


def test_the_build_records_its_betas_and_submit_probe_and_count_send_them(key, project, tmp_path, capsys,
                                                                        monkeypatch):
    """Some models take more output tokens in a batch with output-300k-2026-03-24 than their
    synchronous ceiling (models overview): the config is accepted, build.json records the beta,
    and every call sends it; the server errors such a batch without it."""
    out = tmp_path / "build"
    cfg = project.load({"provider": {"model": BIG}, "max_tokens": BIG_CAP + 1, "output_fill_ratio": 0.001})
    build(cfg, out, progress=False)
    assert json.loads((out / "build.json").read_text())["betas"] == [models.OUTPUT_300K_BETA]
    with FakeAnthropic() as server:
        rc, _, err = cli(capsys, "submit", out, "--wait", "--base-url", server.url, "--poll-interval", 0)
        assert rc == 0, err
        monkeypatch.setenv("ANTHROPIC_BASE_URL", server.url)
        rc, _, err = cli(capsys, "count", out, "--exact", "--db", tmp_path / "c.duckdb")
        assert rc == 0, err
        # and without the header, the same lines come back errored
        client = server.client()
        batch = client.messages.batches.create(requests=read_jsonl(out / "requests-0001.jsonl")[:1])
        [line] = client.messages.batches.results(batch.id)
        sent = {path for path, betas in server.betas_seen if models.OUTPUT_300K_BETA in betas}
        without = {path for path, betas in server.betas_seen if models.OUTPUT_300K_BETA not in betas}
    assert {"/v1/messages/count_tokens", "/v1/messages", "/v1/messages/batches"} <= sent
    assert without == {"/v1/messages/batches", f"/v1/messages/batches/{batch.id}",  # the header-less client's
                       f"/v1/messages/batches/{batch.id}/results"}
    assert line.result.type == "errored" and f"{BIG_CAP + 1} > {BIG_CAP}" in line.result.error.error.message
    summary = json.loads((out / "batches.json").read_text())["batches"][0]
    assert summary["processing_status"] == "ended"
    results = read_jsonl(out / summary["results"])
    assert {r["result"]["type"] for r in results} == {"succeeded"}


def test_max_tokens_above_the_sync_limit_is_refused_outside_a_batch(project):
    """The 300k beta is for the Message Batches API only: a synchronous run keeps the model's own limit."""
    from cachecast.errors import ConfigError

    with pytest.raises(ConfigError, match=f"above {BIG}'s {BIG_CAP:,}-token maximum output"):
        project.load({"provider": {"model": BIG, "batch": False}, "max_tokens": BIG_CAP + 1})
