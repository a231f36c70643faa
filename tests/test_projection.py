"""Projection: the DESIGN.md cost model, worked out by hand, and the `project --json` contract."""
from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import yaml
from genai_prices import Usage, calc_price

from cachecast import cli
from cachecast.config import load_config
from cachecast.pricing import get_rates
from cachecast.projection import (TokenProfile, break_even_hit_rate, measured_tokens, measured_tokens_every_pair,
                                  observed_pilot, project_config, project_costs, to_json)
from cachecast.tokens import TokenCounter

D = Decimal
DAY = date(2026, 11, 20)
REPO = Path(__file__).resolve().parents[1]
FULL = REPO / "config" / "eval_config.full.anthropic.yaml"
PILOT = REPO / "config" / "eval_config.pilot.anthropic.yaml"


def _profile(S=1400, U=350, O=600, source="override"):
    return TokenProfile(system=S, user_mean=D(U), output_mean=D(O), source=source)


def _sonnet_batch_projection(hit_rate="0.9", ttls=("5m",), S=1400, cacheable=True):
    rates = get_rates("claude-sonnet-4-5", batch=True, at=DAY)
    return project_costs(rates, model="claude-sonnet-4-5", items=2500, requests=15_000, tokens=_profile(S=S),
                         cacheable=cacheable, hit_rates={"h": D(hit_rate)}, ttls=ttls)


def test_hand_worked_sonnet_45_batch_5m():
    # Batch rates: $3 / $3.75 / $0.30 / $15 per MTok halved -> 1.5 / 1.875 / 0.15 / 7.5.
    # S=1400, U=350, O=600, 15,000 requests, hit rate 0.9 -> 13,500 hits, 1,500 misses.
    p = _sonnet_batch_projection()
    # no cache per request: (1400 + 350) x 1.5 + 600 x 7.5 = 2625 + 4500 = 7125 per 1e6
    #   x 15,000 = 106,875,000 / 1e6 = $106.875
    assert p.no_cache.total == D("106.875")
    s = p.scenarios[0]
    # reads:  13,500 x 1400 x 0.15  / 1e6 = 2.835
    # writes:  1,500 x 1400 x 1.875 / 1e6 = 3.9375
    # input:  15,000 x  350 x 1.5   / 1e6 = 7.875
    # output: 15,000 x  600 x 7.5   / 1e6 = 67.5
    # total = 2.835 + 3.9375 + 7.875 + 67.5 = 82.1475
    assert (s.cost.cache_reads, s.cost.cache_writes, s.cost.uncached_input, s.cost.output) == (
        D("2.835"), D("3.9375"), D("7.875"), D("67.5"))
    assert s.cost.total == D("82.1475")
    # saved 106.875 - 82.1475 = 24.7275 = 23.1368...% of 106.875
    assert s.savings == D("24.7275")
    assert round(s.savings_pct, 4) == D("23.1368")


def test_hand_worked_1h_costs_more_per_miss():
    p = _sonnet_batch_projection(ttls=("1h",))
    # 1h write 3.0 (6 halved): writes 1,500 x 1400 x 3 / 1e6 = 6.3; total 2.835 + 6.3 + 7.875 + 67.5 = 84.51
    assert p.scenarios[0].cost.total == D("84.51")


def test_break_even_hit_rates():
    for batch in (False, True):  # halving every rate leaves the ratio unchanged
        r = get_rates("claude-sonnet-4-5", batch=batch, at=DAY)
        # 5m: (1.25 - 1) / (1.25 - 0.1) = 0.25 / 1.15 = 0.217391...
        assert round(break_even_hit_rate(r, "5m"), 4) == D("0.2174")
        # 1h: (2 - 1) / (2 - 0.1) = 1 / 1.9 = 0.526315...
        assert round(break_even_hit_rate(r, "1h"), 4) == D("0.5263")
    # at the break-even rate caching costs exactly what no cache costs (per prefix token)
    r = get_rates("claude-sonnet-4-5", batch=False, at=DAY)
    h = break_even_hit_rate(r, "5m")
    assert abs(h * r.read + (1 - h) * r.write_5m - r.input) < D("1e-20")


def test_below_minimum_every_scenario_is_no_cache():
    p = _sonnet_batch_projection(S=900, cacheable=False, ttls=("5m", "1h"))
    # no cache: (900 + 350) x 1.5 + 600 x 7.5 = 1875 + 4500 = 6375; x 15,000 / 1e6 = $95.625
    assert p.no_cache.total == D("95.625")
    assert all(s.cost.total == p.no_cache.total and s.savings == 0 for s in p.scenarios)


def test_900_token_system_prompt_cli(capsys):
    code = cli.main(["project", str(FULL), "--system-tokens", "900", "--user-tokens", "350",
                     "--output-tokens", "600", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["cacheable"] is False and "1,024-token minimum" in out["reason"]
    assert {s["total_usd"] for s in out["scenarios"]} == {out["no_cache_usd"]}
    assert all(s["savings_usd"] == 0 and s["savings_pct"] == 0 for s in out["scenarios"])
    assert cli.main(["project", str(FULL), "--system-tokens", "900"]) == 0
    assert "NOT CACHEABLE" in capsys.readouterr().out


def test_900_token_system_file_is_measured_not_cacheable(tmp_path):
    cfg = _tiny_config(tmp_path, system="x" * 3600)  # 3600 / 4 = 900 estimated tokens
    p = project_config(cfg)
    assert p.tokens.system == 900 and not p.cacheable
    assert all(s.cost.total == p.no_cache.total for s in p.scenarios)


def test_library_agrees_with_genai_calc_price_to_the_cent():
    p = _sonnet_batch_projection()
    ctx = {"processing": "batch"}
    # one hit: input 350 + read 1400 = 1750 total prompt (genai counts the TOTAL prompt)
    hit = calc_price(Usage(input_tokens=1750, cache_read_tokens=1400, output_tokens=600),
                     "claude-sonnet-4-5", provider_id="anthropic", price_context=ctx).total_price
    # one miss: 1400 written with the 5m TTL
    miss = calc_price(Usage(input_tokens=1750, cache_write_tokens=1400, output_tokens=600),
                      "claude-sonnet-4-5", provider_id="anthropic", price_context=ctx).total_price
    none = calc_price(Usage(input_tokens=1750, output_tokens=600),
                      "claude-sonnet-4-5", provider_id="anthropic", price_context=ctx).total_price
    assert round(p.scenarios[0].cost.total, 2) == round(13_500 * hit + 1_500 * miss, 2)
    assert round(p.no_cache.total, 2) == round(15_000 * none, 2)


def test_cli_hand_worked_through_the_contract(capsys):
    # full config: 3 treatments x 2 temperatures -> 2,500 items = 15,000 requests
    code = cli.main(["project", str(FULL), "--items", "2500", "--system-tokens", "1400", "--user-tokens", "350",
                     "--output-tokens", "600", "--ttl", "5m", "--hit-rate", "0.9", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert (out["items"], out["requests"], out["batch"]) == (2500, 15_000, True)
    assert out["tokens"] == {"system": 1400, "user_mean": 350.0, "output_mean": 600.0, "source": "override"}
    assert out["no_cache_usd"] == 106.875
    assert out["scenarios"] == [{"name": "hit 90%", "ttl": "5m", "hit_rate": 0.9, "total_usd": 82.1475,
                                 "savings_usd": 24.7275, "savings_pct": pytest.approx(23.1368, abs=1e-4)}]
    assert out["break_even_hit_rate"] == {"5m": 0.2174, "1h": 0.5263}
    assert out["budget_usd"] == 524.0 and out["within_budget"] is True


CONTRACT = {"model": str, "items": int, "requests": int, "batch": bool, "tokens": dict, "cacheable": bool,
            "no_cache_usd": float, "scenarios": list, "break_even_hit_rate": dict, "budget_usd": (float, type(None)),
            "within_budget": (bool, type(None))}


def test_full_config_json_contract_offline(capsys, monkeypatch):
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    assert cli.main(["project", str(FULL), "--json"]) == 0
    text = capsys.readouterr().out
    out = json.loads(text)
    assert text.count("\n") == 1  # one JSON object, nothing else on stdout
    for key, typ in CONTRACT.items():
        assert isinstance(out[key], typ), key
    assert set(out["tokens"]) == {"system", "user_mean", "output_mean", "source"}
    assert out["tokens"]["source"] == "estimate" and isinstance(out["tokens"]["system"], int)
    # output default = max_tokens 1024 x output_fill_ratio 0.35 = 358.4
    assert out["tokens"]["output_mean"] == 358.4
    assert out["requests"] == 5000 * 3 * 2
    # default scenarios: 2 TTLs x pessimistic/expected/optimistic (0.30 / 0.80 / 0.98)
    assert [(s["ttl"], s["name"], s["hit_rate"]) for s in out["scenarios"]] == [
        (t, n, h) for t in ("5m", "1h") for n, h in (("pessimistic", 0.3), ("expected", 0.8), ("optimistic", 0.98))]
    for s in out["scenarios"]:
        assert set(s) == {"name", "ttl", "hit_rate", "total_usd", "savings_usd", "savings_pct"}
        assert s["savings_usd"] == pytest.approx(out["no_cache_usd"] - s["total_usd"], abs=1e-5)
    assert set(out["break_even_hit_rate"]) == {"5m", "1h"}
    assert out["within_budget"] is True and out["price_source"].startswith("genai-prices")


def test_items_override_and_budget_verdict(capsys):
    assert cli.main(["project", str(PILOT), "--items", "5000", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["items"] == 5000 and out["requests"] == 30_000
    # pilot budget is $25: a 30,000-request run at > $90 cannot fit
    assert out["budget_usd"] == 25.0 and out["within_budget"] is False


def test_bad_flags_are_one_sentence(capsys):
    assert cli.main(["project", str(FULL), "--hit-rate", "1.5"]) == 2
    assert "outside 0-1" in capsys.readouterr().err
    assert cli.main(["project", str(REPO / "config" / "eval_config.pilot.openai.yaml")]) == 2
    assert "provider is 'openai'" in capsys.readouterr().err


def test_shortcut_matches_rendering_every_pair():
    cfg = load_config(PILOT)
    assert measured_tokens(cfg, items=50) == measured_tokens_every_pair(cfg, items=50)


def _tiny_config(tmp_path, system="S" * 4400, n_items=3):
    (tmp_path / "system.md").write_text(system)
    (tmp_path / "concise.md").write_text("Be brief.")
    (tmp_path / "user.txt").write_text("{question}")
    with open(tmp_path / "items.jsonl", "w") as fh:
        for i, q in enumerate(["What is 2+2?", "Name a prime.", "Define entropy in one line."][:n_items]):
            fh.write(json.dumps({"id": f"q{i}", "question": q}) + "\n")
    cfg = {"run_name": "t", "provider": {"name": "anthropic", "model": "claude-sonnet-4-5", "batch": True,
                                         "request_overrides": {"cache_control": {"ttl": "1h"}}},
           "prompts": {"system_file": "system.md", "user_template_file": "user.txt"},
           "items": {"file": "items.jsonl"},
           "treatments": [{"name": "control"}, {"name": "concise", "system_suffix_file": "concise.md"}],
           "temperatures": [0.0, 0.7], "max_tokens": 500, "output_fill_ratio": 0.5, "budget_usd": 1}
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    return load_config(tmp_path / "c.yaml")


def test_exact_counts_through_fake_api(fake_api, tmp_path):
    cfg = _tiny_config(tmp_path)
    counter = TokenCounter(client=fake_api.client(), db=tmp_path / "s.duckdb", progress=False)
    p = project_config(cfg, counter=counter)
    # parts: system+probe, probe, 3 questions, suffix = 6 calls
    assert len(fake_api.calls) == 6 and p.tokens.source == "exact"
    # S = ceil(4401 / 4) - 1 = 1101 - 1 = 1100
    # U per (item, treatment): questions ceil(12/4)=3, ceil(13/4)=4, ceil(27/4)=7; suffix ceil(9/4)=3
    #   control 3 + 4 + 7 = 14, concise 14 + 3 x 3 = 23 -> mean (14 + 23) / 6 = 37 / 6
    assert p.tokens.system == 1100 and p.tokens.user_mean == D(37) / 6
    assert p.requests == 3 * 2 * 2 and p.tokens.output_mean == D(250)  # 500 x 0.5
    project_config(cfg, counter=TokenCounter(client=fake_api.client(), db=tmp_path / "s.duckdb", progress=False))
    assert len(fake_api.calls) == 6  # re-run: zero calls


def test_calibrated_from_audited_pilot(tmp_path):
    db = tmp_path / "audit.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE results (custom_id TEXT, result_type TEXT, input_tokens INT, "
                "cache_creation_input_tokens INT, cache_read_input_tokens INT, output_tokens INT)")
    con.execute("CREATE TABLE manifest (custom_id TEXT, est_prefix_tokens INT, est_rest_tokens INT)")
    con.execute("INSERT INTO results VALUES ('a', 'succeeded', 110, 1100, 0, 300), "
                "('b', 'succeeded', 120, 0, 1200, 500), ('c', 'errored', 0, 0, 0, 0)")
    con.execute("INSERT INTO manifest VALUES ('a', 1000, 100), ('b', 1000, 100), ('c', 1000, 100)")
    con.close()
    pilot = observed_pilot(db)
    # output mean over succeeded: (300 + 500) / 2 = 400
    # prompt ratio: (110 + 1100 + 120 + 1200) / (1100 + 1100) = 2530 / 2200 = 1.15
    assert pilot.requests == 2 and pilot.output_mean == D(400) and pilot.prompt_ratio == D("1.15")
    cfg = _tiny_config(tmp_path)
    p = project_config(cfg, pilot=pilot)
    # estimate S = 4400 / 4 = 1100 -> x 1.15 = 1265
    assert p.tokens.source == "calibrated" and p.tokens.output_mean == D(400) and p.tokens.system == 1265
    assert to_json(p)["tokens"]["source"] == "calibrated"


def test_calibration_joins_each_batch_to_its_own_manifest(tmp_path):
    """Pilot and full builds share custom_ids; the batch's manifest_id picks the right row."""
    db = tmp_path / "audit.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE batches (batch_id TEXT, manifest_id TEXT)")
    con.execute("CREATE TABLE results (batch_id TEXT, custom_id TEXT, result_type TEXT, input_tokens INT, "
                "cache_creation_input_tokens INT, cache_read_input_tokens INT, output_tokens INT)")
    con.execute("CREATE TABLE manifest (manifest_id TEXT, custom_id TEXT, est_prefix_tokens INT, est_rest_tokens INT)")
    con.execute("INSERT INTO batches VALUES ('b1', 'm-pilot')")
    con.execute("INSERT INTO results VALUES ('b1', 'a', 'succeeded', 100, 900, 0, 200)")
    con.execute("INSERT INTO manifest VALUES ('m-pilot', 'a', 800, 200), ('m-full', 'a', 1, 1)")
    con.close()
    # actual 100 + 900 = 1000 against the pilot manifest's 800 + 200 = 1000 -> ratio 1
    assert observed_pilot(db).prompt_ratio == D(1)
