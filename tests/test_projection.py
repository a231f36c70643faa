"""Projection: the DESIGN.md cost model, worked out by hand, and the `project --json` contract.

The ids are the models whose published rates, cache minimums, tokenizers and default efforts
the hand-worked figures use (Sonnet 4.5, Sonnet 5.5, Haiku 5.5); where only a callable model is
needed, it is a role (tests/roles.py)."""
from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import yaml
from genai_prices import Usage, calc_price

import roles
from cachecast import cli
from cachecast.build.config import load_config
from cachecast.facts.models import model_facts
from cachecast.facts.pricing import get_rates, thinking_assumption
from cachecast.plan.calibration import observed_pilot
from cachecast.plan.projection import TokenProfile, break_even_hit_rate, measured_tokens, project_config, project_costs, to_json
from cachecast.tokens.count import TokenCounter

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


def test_prefix_below_the_minimum_cli(capsys, tmp_path):
    # Sonnet 5.5's minimum cacheable prefix is 512 tokens (the shipped configs moved from
    # Sonnet 4.5's 1,024 to it, so the old 900-token case is cacheable now): 500 is below it
    cfg = _tiny_config(tmp_path, model="claude-sonnet-5-5")
    code = cli.main(["project", str(cfg.source), "--system-tokens", "500", "--user-tokens", "350",
                     "--output-tokens", "600", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["cacheable"] is False and "512-token minimum" in out["reason"]
    assert {s["total_usd"] for s in out["scenarios"]} == {out["no_cache_usd"]}
    assert all(s["savings_usd"] == 0 and s["savings_pct"] == 0 for s in out["scenarios"])
    assert out["worst_case_usd"] == out["no_cache_usd"]  # nothing is cached: the worst case is no cache
    assert cli.main(["project", str(cfg.source), "--system-tokens", "500"]) == 0
    assert "NOT CACHEABLE" in capsys.readouterr().out


def test_900_token_system_file_is_measured_not_cacheable(tmp_path):
    cfg = _tiny_config(tmp_path, system="x" * 3600)  # Sonnet 4.5 (classic tokenizer): 3600 / 4 = 900 tokens
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


def test_cli_hand_worked_through_the_contract(capsys, tmp_path):
    # Sonnet 5.5 through the Batch API, 3 treatments x 2 repeats -> 2,500 items = 15,000 requests.
    # Batch rates (genai-prices, 2026-12-01): 1 input / 1.25 5m write / 2 1h write / 0.05 read / 5 output.
    # --output-tokens alone is the whole output (thinking included): O = 600, thinking 0.
    cfg = _tiny_config(tmp_path, model="claude-sonnet-5-5", treatments=3, budget=524)
    code = cli.main(["project", str(cfg.source), "--items", "2500", "--system-tokens", "1400", "--user-tokens",
                     "350", "--output-tokens", "600", "--ttl", "5m", "--hit-rate", "0.9", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0
    assert (out["items"], out["requests"], out["batch"]) == (2500, 15_000, True)
    # issue 11 adds thinking_mean after the contract keys; the contract's four are unchanged
    assert out["tokens"] == {"system": 1400, "user_mean": 350.0, "output_mean": 600.0, "source": "override",
                             "thinking_mean": 0.0}
    # no cache per request: (1400 + 350) x 1 + 600 x 5 = 1750 + 3000 = 4750; x 15,000 / 1e6 = $71.25
    assert out["no_cache_usd"] == 71.25
    # 13,500 hits, 1,500 misses: reads 13,500 x 1400 x 0.05 = 945,000; writes 1,500 x 1400 x 1.25 = 2,625,000;
    # input 15,000 x 350 x 1 = 5,250,000; output 15,000 x 600 x 5 = 45,000,000 -> $53.82; saved 71.25 - 53.82
    # = $17.43 = 24.4632% of 71.25
    assert out["scenarios"] == [{"name": "hit 90%", "ttl": "5m", "hit_rate": 0.9, "total_usd": 53.82,
                                 "savings_usd": 17.43, "savings_pct": pytest.approx(24.4632, abs=1e-4)}]
    # Sonnet 5.5's own rates: 5m (1.25 - 1) / (1.25 - 0.05) = 0.2083; 1h (2 - 1) / (2 - 0.05) = 0.5128
    assert out["break_even_hit_rate"] == {"5m": 0.2083, "1h": 0.5128}
    # the budget is judged at the config's TTL (1h), whatever --ttl shows: every request writes,
    # none reads: 15,000 x (1400 x 2 + 350 x 1 + 600 x 5) = 15,000 x 6150 / 1e6 = $92.25 <= $524
    assert out["worst_case_usd"] == 92.25 and out["budget_usd"] == 524.0 and out["within_budget"] is True
    assert out["budget_basis"] == "every request writes the 1h cache, none reads"
    # expected: 1h at the median given hit rate (0.9): 1400 x (0.9 x 0.05 + 0.1 x 2) = 343 + 350 + 3000
    # = 3693 per request x 15,000 = $55.395
    assert out["expected_usd"] == 55.395 and out["expected_hit_rate"] == 0.9


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
    # the contract's four token keys, plus thinking_mean (issue 11)
    assert set(out["tokens"]) == {"system", "user_mean", "output_mean", "source", "thinking_mean"}
    assert out["tokens"]["source"] == "estimate" and isinstance(out["tokens"]["system"], int)
    # from the config as shipped (the lead may change it): output = answer (max_tokens x
    # output_fill_ratio) + the thinking assumption at the config's effort (else the model's
    # default), at most max_tokens
    cfg = load_config(FULL)
    facts = model_facts(cfg.provider.model)
    effort = getattr(cfg.thinking, "effort", None) or facts.default_effort
    thinking = D(thinking_assumption().tokens_per_request[effort]) if facts.thinks_by_default else D(0)
    answer = D(cfg.max_tokens) * D(str(cfg.output_fill_ratio))
    assert out["tokens"]["thinking_mean"] == float(min(thinking, D(cfg.max_tokens)))
    assert out["tokens"]["output_mean"] == float(min(answer + thinking, D(cfg.max_tokens)))
    assert out["requests"] == 5000 * len(cfg.treatments) * len(cfg.temperatures) * cfg.repeats
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
    cfg = load_config(PILOT)
    assert out["items"] == 5000 and out["requests"] == 5000 * len(cfg.treatments) * len(cfg.temperatures) * cfg.repeats
    # pilot budget is $25: a run of tens of thousands of requests (each > $0.001 in the worst case) cannot fit
    assert out["budget_usd"] == 25.0 and out["worst_case_usd"] > 25 and out["within_budget"] is False


def test_bad_flags_are_one_sentence(capsys):
    assert cli.main(["project", str(FULL), "--hit-rate", "1.5"]) == 2
    assert "outside 0-1" in capsys.readouterr().err
    assert cli.main(["project", str(REPO / "config" / "eval_config.pilot.openai.yaml")]) == 2
    assert "provider is 'openai'" in capsys.readouterr().err


def _every_pair(cfg, items: int | None = None, counter=None) -> tuple[int, Decimal, str]:
    """The oracle for the shortcut in measured_tokens: render and count every (item, treatment)."""
    from cachecast.build.prompts import iter_items, render_payload
    from cachecast.tokens.count import count_splits, payload_params, split_params

    splits = []
    for n, item in enumerate(iter_items(cfg)):
        if items is not None and n >= items:
            break
        for treatment in cfg.treatments:
            splits.append(split_params(payload_params(cfg.provider.model, render_payload(cfg, item, treatment))))
    counts = count_splits(splits, counter)
    S = int((Decimal(sum(counts.prefix)) / len(splits)).to_integral_value())
    return S, Decimal(sum(counts.rest)) / len(splits), counts.source


def test_shortcut_matches_rendering_every_pair():
    cfg = load_config(PILOT)
    assert measured_tokens(cfg, items=50) == _every_pair(cfg, items=50)


def _tiny_config(tmp_path, system="S" * 4400, n_items=3, model="claude-sonnet-4-5", treatments=2, budget=1,
                 thinking=None, max_tokens=500, fill=0.5):
    """A run of `n_items` items x `treatments` arms x 2 repeats (the sampling axis under API
    version 2026-10-21, which removed temperature), cached at 1h through the Batch API."""
    (tmp_path / "system.md").write_text(system)
    (tmp_path / "concise.md").write_text("Be brief.")
    (tmp_path / "verify.md").write_text("Check it.")
    (tmp_path / "user.txt").write_text("{question}")
    with open(tmp_path / "items.jsonl", "w") as fh:
        for i, q in enumerate(["What is 2+2?", "Name a prime.", "Define entropy in one line."][:n_items]):
            fh.write(json.dumps({"id": f"q{i}", "question": q}) + "\n")
    arms = [{"name": "control"}, {"name": "concise", "system_suffix_file": "concise.md"},
            {"name": "verify", "system_suffix_file": "verify.md"}][:treatments]
    cfg = {"run_name": "t", "provider": {"name": "anthropic", "model": model, "batch": True,
                                         "request_overrides": {"cache_control": {"ttl": "1h"}}},
           "prompts": {"system_file": "system.md", "user_template_file": "user.txt"},
           "items": {"file": "items.jsonl"},
           "treatments": arms, "repeats": 2, "max_tokens": max_tokens, "output_fill_ratio": fill,
           "budget_usd": budget}
    if thinking is not None:
        cfg["thinking"] = thinking
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    return load_config(tmp_path / "c.yaml")


def test_exact_counts_through_fake_api(fake_api, tmp_path):
    # a callable model (the fake API refuses a retired one) that does not think unless asked, so
    # the output stays max_tokens x output_fill_ratio
    cfg = _tiny_config(tmp_path, model=roles.no_thinking())
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


# ------------------------------------------------------------------ thinking (issue 11)


PINS = dict(system=1000, user=100)  # S and U pinned: only the output side is under test


def test_thinking_is_its_own_component_from_the_model_default(tmp_path):
    from cachecast.plan.projection import Pins
    from cachecast.report.projection_report import COMPONENT_LABELS

    # Sonnet 5.5 thinks when `thinking` is omitted (adaptive, default effort high); the dated
    # planning assumption puts high at 1,200 thinking tokens. Answer = 4000 x 0.1 = 400.
    cfg = _tiny_config(tmp_path, model="claude-sonnet-5-5", max_tokens=4000, fill=0.1)
    assert thinking_assumption().tokens_per_request["high"] == 1200
    p = project_config(cfg, pins=Pins(**PINS))
    assert (p.tokens.output_mean, p.tokens.thinking_mean, p.tokens.output_mean - p.tokens.thinking_mean) == (D(1600), D(1200), D(400))
    assert p.tokens.sources["thinking"] == "assumption" and any("planning assumption" in n for n in p.tokens.notes)
    # 3 items x 2 arms x 2 repeats = 12 requests; batch output rate 5:
    # answer 12 x 400 x 5 / 1e6 = 0.024; thinking 12 x 1200 x 5 / 1e6 = 0.072 (same in every scenario)
    assert (p.no_cache.output, p.no_cache.thinking) == (D("0.024"), D("0.072"))
    assert all(s.cost.thinking == D("0.072") for s in p.scenarios)
    out = to_json(p)
    assert out["tokens"]["thinking_mean"] == 1200.0 and out["components_usd"]["no_cache"]["thinking"] == 0.072
    assert COMPONENT_LABELS["thinking"] == "thinking"
    # the config's effort wins over the model default: low = 200; Haiku 5.5's default is medium = 600
    low = project_config(_tiny_config(tmp_path, model="claude-sonnet-5-5", max_tokens=4000, fill=0.1,
                                      thinking={"type": "adaptive", "effort": "low"}), pins=Pins(**PINS))
    assert low.tokens.thinking_mean == D(200)
    haiku = project_config(_tiny_config(tmp_path, model="claude-haiku-5-5", max_tokens=4000, fill=0.1),
                           pins=Pins(**PINS))
    assert haiku.tokens.thinking_mean == D(600)
    # Sonnet 4.5 does not think unless asked
    assert project_config(_tiny_config(tmp_path), pins=Pins(**PINS)).tokens.thinking_mean == 0


def test_thinking_is_capped_by_max_tokens(tmp_path):
    from cachecast.plan.projection import Pins

    # answer 500 x 0.5 = 250 + thinking 1,200 = 1,450 > max_tokens 500: the output is at most 500
    p = project_config(_tiny_config(tmp_path, model="claude-sonnet-5-5"), pins=Pins(**PINS))
    assert (p.tokens.output_mean, p.tokens.thinking_mean) == (D(500), D(500))
    assert any("capped at max_tokens" in n for n in p.tokens.notes)


def test_thinking_tokens_pin_and_output_tokens_alone_cli(tmp_path, capsys):
    cfg = _tiny_config(tmp_path, model="claude-sonnet-5-5", max_tokens=4000, fill=0.1)
    base = ["project", str(cfg.source), "--system-tokens", "1000", "--user-tokens", "100", "--json"]

    def tokens(*flags):
        assert cli.main(base + list(flags)) == 0
        return json.loads(capsys.readouterr().out)["tokens"]

    # --output-tokens alone is the whole output, thinking included: a hand formula, 600 x rate
    assert (tokens("--output-tokens", "600")["output_mean"], tokens("--output-tokens", "600")["thinking_mean"]) == (
        600.0, 0.0)
    # with --thinking-tokens, the output is the answer and thinking is added: 600 + 900 = 1500
    both = tokens("--output-tokens", "600", "--thinking-tokens", "900")
    assert (both["output_mean"], both["thinking_mean"]) == (1500.0, 900.0)
    # --thinking-tokens alone: the config's answer 4000 x 0.1 = 400, + 900 = 1300
    alone = tokens("--thinking-tokens", "900")
    assert (alone["output_mean"], alone["thinking_mean"]) == (1300.0, 900.0)
    assert cli.main(base + ["--thinking-tokens", "nan"]) == 2


def test_thinking_calibrated_from_the_pilot(tmp_path):
    db = tmp_path / "audit.duckdb"
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE results (custom_id TEXT, result_type TEXT, input_tokens INT, "
                "cache_creation_input_tokens INT, cache_read_input_tokens INT, output_tokens INT, "
                "thinking_tokens INT)")
    con.execute("INSERT INTO results VALUES ('a', 'succeeded', 10, 0, 1000, 900, 700), "
                "('b', 'succeeded', 10, 1000, 0, 1100, 500), ('c', 'errored', NULL, NULL, NULL, NULL, NULL)")
    con.close()
    pilot = observed_pilot(db)
    # output mean (900 + 1100) / 2 = 1000, of which thinking (700 + 500) / 2 = 600
    assert (pilot.output_mean, pilot.thinking_mean) == (D(1000), D(600))
    from cachecast.plan.projection import Pins

    p = project_config(_tiny_config(tmp_path, model="claude-sonnet-5-5"), pins=Pins(**PINS), pilot=pilot)
    assert (p.tokens.output_mean, p.tokens.thinking_mean) == (D(1000), D(600))
    assert p.tokens.sources["thinking"] == "calibrated"
    # pinning thinking on top of the pilot: its answer (1000 - 600 = 400) + 250 = 650
    q = project_config(_tiny_config(tmp_path, model="claude-sonnet-5-5"), pins=Pins(**PINS, thinking=250),
                       pilot=pilot)
    assert (q.tokens.output_mean, q.tokens.thinking_mean) == (D(650), D(250))
