"""The synchronous probe before a batch (issue 15): one call per request shape, a rejected
shape stops submit before any batch exists, probes are priced at standard rates, and the
pre-warm verdict is measured from stored results (hand-worked here)."""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from cachecast.analyse import audit, prewarm
from cachecast.send import probe, sim
from cachecast import store
from cachecast.build.batches import build
from cachecast.cli import main
from cachecast.build.config import load_config
from cachecast.analyse.ingest_bridge import ingest_results
import roles
from _fixtures import PILOT, read_jsonl

# The small build names its model: SONNET's published rates are what the hand-worked costs
# below are worked from (a role's rates could move under them).
SONNET = "claude-sonnet-5-5"
M = Decimal(1_000_000)
# claude-sonnet-5-5 $/MTok (FACTS.md): standard input 2, 1h write 4; batch = half of standard
STD_INPUT, STD_WRITE_1H = Decimal("2"), Decimal("4")
BATCH_WRITE_1H, BATCH_READ = Decimal("2"), Decimal("0.05")


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key-probe")


def cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def small_build(project, tmp_path: Path) -> Path:
    out = tmp_path / "build"
    build(project.load({"provider": {"model": SONNET}}), out, progress=False)  # 3 items x 2 treatments = 6 requests
    return out


def rewrite(shard: Path, change) -> list[dict]:
    lines = read_jsonl(shard)
    for i, line in enumerate(lines):
        change(i, line)
    shard.write_text("".join(json.dumps(x) + "\n" for x in lines))
    return lines


def batch_creates(fake_api) -> int:
    return fake_api.paths("POST").count("/v1/messages/batches")


# ------------------------------------------------------------------ shapes and what is sent


def test_two_thinking_shapes_send_two_probes_with_max_tokens_0(fake_api, key, project, tmp_path, capsys):
    out = small_build(project, tmp_path)
    # the second treatment thinks at effort low, the first at the model's default: two shapes
    rewrite(out / "requests-0001.jsonl",
            lambda i, x: x["params"].update(output_config={"effort": "low"}) if "concise" in x["custom_id"] else None)
    rc, stdout, err = cli(capsys, "probe", out, "--base-url", fake_api.url, "--json", "--db", tmp_path / "s.duckdb")
    assert rc == 0, err
    got = json.loads(stdout)
    assert got["shapes"] == 2 and [p["requests"] for p in got["probes"]] == [3, 3]
    assert fake_api.messages == [{"model": SONNET, "max_tokens": 0}] * 2
    assert batch_creates(fake_api) == 0
    # without --prewarm no marker is sent, so nothing is written: every prompt token is input
    assert all(p["usage"]["cache_creation_input_tokens"] == 0 and p["usage"]["output_tokens"] == 0
               for p in got["probes"])


def test_enabled_thinking_sends_the_smallest_valid_request_not_max_tokens_0():
    params = {"model": roles.takes_budget_tokens(), "max_tokens": 8000, "messages": [],
              "thinking": {"type": "enabled", "budget_tokens": 2048}}
    assert probe.probe_params(params, prewarm=False)["max_tokens"] == 2049
    # an invalid budget (>= max_tokens) is sent as it is, so the API rejects it as the batch would
    params["thinking"]["budget_tokens"] = 9000
    assert probe.probe_params(params, prewarm=False)["max_tokens"] == 8000


def test_validation_probe_strips_markers_and_prewarm_keeps_them(project, tmp_path):
    out = small_build(project, tmp_path)
    shape = probe.shapes(out, "2026-10-21")[0]
    cold, warm = probe.probe_params(shape.params, False), probe.probe_params(shape.params, True)
    assert not any("cache_control" in b for b in cold["system"])
    assert [b.get("cache_control") for b in warm["system"]][0] == {"type": "ephemeral", "ttl": "1h"}
    assert cold["max_tokens"] == warm["max_tokens"] == 0 and shape.ttl == "1h"


# ------------------------------------------------------------------ a rejected shape


def test_planted_invalid_shape_stops_submit_before_any_batch(fake_api, key, project, tmp_path, capsys):
    out = small_build(project, tmp_path)
    # wrong TTL order: a 5m system breakpoint, then a 1h automatic one on the last block. lint says
    # so too, so --force gets past lint (and the budget gate); the probe's 400 still stops it
    def plant(i, x):
        if i >= 4:
            x["params"]["system"][0]["cache_control"] = {"type": "ephemeral"}
            x["params"]["cache_control"] = {"type": "ephemeral", "ttl": "1h"}
    lines = rewrite(out / "requests-0001.jsonl", plant)
    db = tmp_path / "s.duckdb"
    rc, _, err = cli(capsys, "submit", out, "--prewarm", "--force", "--db", db, "--wait", "--base-url",
                     fake_api.url, "--poll-interval", 0)
    assert rc == 2
    assert "the API (count_tokens, 400) rejected the request" in err  # cache_control sent, so it is checked
    assert "ttl '1h' must not come after one with ttl '5m'" in err  # the API's own message
    assert f"2 request(s) share this shape: {lines[4]['custom_id']}, {lines[5]['custom_id']}" in err
    assert batch_creates(fake_api) == 0 and not (out / "batches.json").exists()
    conn = store.connect(db)
    try:
        rows = conn.execute("SELECT status, cost_usd FROM probes ORDER BY probe_id").fetchall()
    finally:
        conn.close()
    assert [r[0] for r in rows] == ["ok", "rejected"] and rows[1][1] == 0  # a 400 is not billed


def test_no_probe_skips_it(fake_api, key, project, tmp_path, capsys):
    out = small_build(project, tmp_path)
    rc, _, err = cli(capsys, "submit", out, "--no-probe", "--base-url", fake_api.url)
    assert rc == 0, err
    assert fake_api.messages == [] and batch_creates(fake_api) == 1


# ------------------------------------------------------------------ money, measured and hand-worked


def _usage_of(lines: list[dict]) -> list[dict]:
    return [x["result"]["message"]["usage"] for x in lines]


def _simulated_run(out: Path, db: Path, *, prewarm: bool, batch_id: str) -> tuple[list[dict], probe.ProbeResult]:
    """A pre-warm probe stored as cachecast.send.probe stores it, then the batch simulated on the
    same cache (warm or cold) and ingested; hit probability 1 so the arithmetic is exact."""
    requests = [json.loads(x) for x in (out / "requests-0001.jsonl").read_text().splitlines()]
    shape = probe.shapes(out, "2026-10-21")[0]
    cache = sim.Cache()
    message = sim.prewarm_cache(requests, cache=cache if prewarm else sim.Cache(), now=-1.0)[0]
    result = probe.ProbeResult(shape, True, 0, "ok", message_id=message["id"], usage=message["usage"])
    result.cost_usd, result.price_source = probe.usage_cost_of(shape, message["usage"], "1h")
    probe.record(db, out, [result])
    lines = sim.simulate_lines(requests, cache=cache, concurrency=100, hit_probability=1.0)
    results = out / "results" / f"{batch_id}.jsonl"
    results.parent.mkdir(exist_ok=True)
    results.write_text("".join(json.dumps(x) + "\n" for x in lines))
    ingest_results([results], db, manifest=out, batch_id=batch_id)
    return lines, result


def test_prewarmed_first_wave_reads_and_the_verdict_is_worked_by_hand(project, tmp_path):
    out, db = small_build(project, tmp_path), tmp_path / "s.duckdb"
    lines, result = _simulated_run(out, db, prewarm=True, batch_id="msgbatch_warm")
    usages = _usage_of(lines)
    S = usages[0]["cache_read_input_tokens"]
    assert S > 512 and all(u["cache_read_input_tokens"] == S and u["cache_creation_input_tokens"] == 0 for u in usages)
    # the probe: S written at the 1h STANDARD rate, the rest of its prompt as input, no output
    U = result.usage["input_tokens"]
    probe_usd = (S * STD_WRITE_1H + U * STD_INPUT) / M
    assert result.usage["cache_creation_input_tokens"] == S and result.cost_usd == probe_usd
    # six first-wave reads, each replacing a 1h batch write: (2 - 0.05) $/MTok per token
    saved = 6 * S * (BATCH_WRITE_1H - BATCH_READ) / M
    conn = store.connect(db)
    try:
        [v] = prewarm.prewarm_verdicts(conn, "msgbatch_warm", first_wave=100)
        cost = prewarm.probe_cost(conn, "msgbatch_warm")
        keys = prewarm.probe_summary(conn, "msgbatch_warm", first_wave=100)
        contract = audit.summary(conn, "msgbatch_warm")
    finally:
        conn.close()
    assert (v.first_wave_lines, v.first_wave_reads, v.first_wave_writes) == (6, 6, 0)
    assert v.saved_usd == saved and v.probe_cost_usd == probe_usd and v.net_usd == saved - probe_usd
    assert v.net_usd > 0 and v.verdict == f"pre-warm paid {audit.money(saved - probe_usd)}"
    assert cost["probe_cost_usd"] == probe_usd and cost["probes"] == 1
    assert keys["probe_cost_usd"] == audit.usd(probe_usd) and contract["requests"] == 6  # beside the contract


def test_hand_worked_numbers_for_the_small_build(project, tmp_path):
    """The same run with its numbers written out: S = 1,986 prefix tokens, U = 12 rest tokens."""
    out, db = small_build(project, tmp_path), tmp_path / "s.duckdb"
    lines, result = _simulated_run(out, db, prewarm=True, batch_id="msgbatch_warm")
    assert _usage_of(lines)[0]["cache_read_input_tokens"] == 1986 and result.usage["input_tokens"] == 12
    # probe: 1,986 x $4 + 12 x $2 per MTok = $0.007944 + $0.000024 = $0.007968
    assert result.cost_usd == Decimal("0.007968")
    # saved: 6 x 1,986 x $1.95 per MTok = $0.0232362; net of the probe: 0.0232362 - 0.007968 = $0.0152682
    conn = store.connect(db)
    try:
        [v] = prewarm.prewarm_verdicts(conn, "msgbatch_warm", first_wave=100)
    finally:
        conn.close()
    assert v.saved_usd == Decimal("0.0232362") and v.net_usd == Decimal("0.0152682")
    assert v.verdict == "pre-warm paid $0.0153"


def test_unread_prewarm_and_too_little_data_are_said_so(project, tmp_path):
    out, db = small_build(project, tmp_path), tmp_path / "s.duckdb"
    lines, _ = _simulated_run(out, db, prewarm=False, batch_id="msgbatch_cold")
    assert _usage_of(lines)[0]["cache_read_input_tokens"] == 0  # the probe wrote another cache: cold
    conn = store.connect(db)
    try:
        [cold] = prewarm.prewarm_verdicts(conn, "msgbatch_cold", first_wave=100)
        [one] = prewarm.prewarm_verdicts(conn, "msgbatch_cold", first_wave=1)
    finally:
        conn.close()
    assert (cold.first_wave_reads, cold.first_wave_writes) == (0, 6) and cold.verdict == "pre-warm was not read"
    assert cold.saved_usd == 0 and cold.net_usd == -cold.probe_cost_usd
    assert one.verdict == "not enough data"


def test_budget_gate_counts_the_probe(project, tmp_path):
    from cachecast.plan.gate import verdict

    out = small_build(project, tmp_path)
    without = verdict(out)
    shape = probe.shapes(out, "2026-10-21")[0]
    projected = probe.projected_cost(shape, prewarm=True)
    # manifest estimates, standard rates: prefix as a 1h write, the rest as input
    assert projected == (shape.est_prefix_tokens * STD_WRITE_1H + shape.est_rest_tokens * STD_INPUT) / M
    with_probe = verdict(out, probe_usd=projected)
    assert Decimal(str(with_probe.projected_usd)) - Decimal(str(without.projected_usd)) == pytest.approx(projected)
    assert "of probes at standard rates" in with_probe.sentence


# ------------------------------------------------------------------ simulator


def test_sim_first_wave_cold_writes_prewarmed_reads(project, tmp_path):
    out = small_build(project, tmp_path)
    requests = [json.loads(x) for x in (out / "requests-0001.jsonl").read_text().splitlines()]
    got = sim.first_wave(requests, concurrency=6, hit_probability=1.0)
    assert got["simulated"] is True
    assert (got["cold"]["reads"], got["cold"]["writes"]) == (0, 6)
    assert (got["prewarmed"]["reads"], got["prewarmed"]["writes"]) == (6, 0)


# ------------------------------------------------------------------ end to end on the pilot


def test_submit_pilot_wait_prewarm_probes_prewarms_submits_fetches_and_reports(fake_api, key, tmp_path, capsys,
                                                                               monkeypatch):
    out = tmp_path / "build" / "pilot"
    build(load_config(PILOT), out, progress=False)
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "store.duckdb"
    rc, stdout, err = cli(capsys, "submit", "build/pilot", "--wait", "--prewarm", "--db", db, "--base-url",
                          fake_api.url, "--poll-interval", 0, "--first-wave", 8)
    assert rc == 0, err
    posts = fake_api.paths("POST")
    assert posts.index("/v1/messages") < posts.index("/v1/messages/batches")  # probed before creating
    assert fake_api.messages == [{"model": load_config(PILOT).provider.model, "max_tokens": 0}]  # one shape
    assert "probe: 1 request shape(s) to validate and pre-warm" in stdout
    verdict = next(x for x in stdout.splitlines() if x.startswith("pre-warm msgbatch_"))
    assert "of a first wave of 8 (assumed)" in verdict and "pre-warm paid $" in verdict
    assert "pre-warm: ASSUMED (not documented): without the pre-warm the first 8 requests" in stdout
    conn = store.connect(db)
    try:
        keys = prewarm.probe_summary(conn, first_wave=8)
    finally:
        conn.close()
    [row] = keys["prewarm"]
    assert row["first_wave_reads"] > row["first_wave_writes"] and row["net_saved_usd"] > 0
    assert keys["probe_cost_usd"] > 0 and keys["probes"] == 1
    print(f"\nPILOT MEASURED: probe ${keys['probe_cost_usd']}, first wave {row}", file=__import__("sys").stderr)


# ------------------------------------------------------------------ projection


def test_projection_shows_the_expected_saving_of_prewarm_by_hand():
    from cachecast.facts.pricing import get_rates
    from cachecast.plan.projection import TokenProfile, project_costs, prewarm_json, to_json

    tokens = TokenProfile(system=2000, user_mean=Decimal(100), output_mean=Decimal(500), source="override")
    p = project_costs(get_rates(SONNET, True), model=SONNET, items=100, requests=1200,
                      tokens=tokens, cacheable=True, budget_ttl="1h")
    got = prewarm_json(p, concurrency=100)
    # 100 first-wave requests x 0.8 (expected hit rate) x 2,000 x (2 - 0.05) $/MTok = $0.312
    assert got["first_wave"] == 100 and got["first_wave_saving_usd"] == 0.312
    # the pre-warm probe at standard rates: 2,000 x $4 + 100 x $2 per MTok = $0.0082; net $0.3038
    assert got["probe_cost_usd"] == 0.0082 and got["net_saving_usd"] == 0.3038
    # break-even: 0.0082 / (0.8 x 2,000 x 1.95 / 1e6) = 2.63 requests in the first wave
    assert got["break_even_first_wave"] == 2.63
    assert to_json(p)["prewarm"]["first_wave"] == 100  # the default concurrency assumption (sim)
