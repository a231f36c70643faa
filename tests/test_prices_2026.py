"""Issue 11: prices as billed in December 2026, every usage field priced, at the batch's own
date, in every command. Each expected value is worked out by hand in a comment: token
counts x USD per million tokens, in micro-dollars (1e-6 $) unless said otherwise.

Rates used (USD per million tokens: input / 5m write / 1h write / read / output), from
genai-prices 0.2.3 and cachecast's corrections (lib/cachecast/facts/data/price_corrections.yaml):
  Opus 4.8        5 / 6.25 / 10 / 0.50 / 25        x 1.1 with inference_geo us
  Haiku 5.5       0.10 / 0.125 / 0.20 / 0.01 / 0.50; above 100k prompt tokens every token
                  of the request at 0.50 / 0.625 / 1.00 / 0.05 / 2.50; batch halves both tiers
  Sonnet 5.5      2 / 2.50 / 4 / 0.10 / 10 (read 0.20 before 2026-10-07); batch halves
  Opus 5.5 fast   8 / 10 / 16 / 0.40 / 40 (cache rates scale like input: an assumption)
  Mythos 5.1      10 / 12.50 / 20 / 0.25 / 50 (not in genai-prices); batch halves
  web search      $10 per 1,000 searches
The ids are those models: their published rates are what the expected values are worked from.
Where no money is checked, the model is a role (tests/roles.py).
"""
from __future__ import annotations

import json
from datetime import date, datetime, timezone
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
import yaml

import roles
from cachecast.analyse import audit
from cachecast import cli, store
from cachecast.errors import PriceError
from cachecast.facts.costs import usage_cost
from cachecast.facts.pricing import get_rates
from cachecast.plan.projection import break_even_hit_rate

D = Decimal
REPO = Path(__file__).resolve().parents[1]
FULL = REPO / "config" / "eval_config.full.anthropic.yaml"
DEC = date(2026, 12, 1)


def usage(inp=0, w5=0, w1=0, read=0, out=0, *, tier="batch", geo=None, speed=None, web=None, thinking=None) -> dict:
    u = {"input_tokens": inp, "cache_creation_input_tokens": w5 + w1, "cache_read_input_tokens": read,
         "cache_creation": {"ephemeral_5m_input_tokens": w5, "ephemeral_1h_input_tokens": w1},
         "output_tokens": out, "service_tier": tier}
    if geo is not None:
        u["inference_geo"] = geo
    if speed is not None:
        u["speed"] = speed
    if web is not None:
        u["server_tool_use"] = {"web_search_requests": web, "web_fetch_requests": 0}
    if thinking is not None:
        u["output_tokens_details"] = {"thinking_tokens": thinking}
    return u


def batch_line(cid: str, model: str, **kw) -> dict:
    """A Message Batches result line."""
    return {"custom_id": cid, "result": {"type": "succeeded", "message": {
        "id": f"msg_01{cid}", "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": "end_turn", "stop_sequence": None, "usage": usage(**kw)}}}


def sync_line(cid: str, model: str, **kw) -> dict:
    """A plain Message from a synchronous call: standard rates, even in a batch store."""
    return {"id": f"msg_01{cid}", "type": "message", "role": "assistant", "model": model, "content": [],
            "stop_reason": "end_turn", "stop_sequence": None, "usage": usage(tier="standard", **kw)}


def run(capsys, *argv) -> tuple[int, str, str]:
    rc = cli.main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def ingest_lines(capsys, tmp_path: Path, db: Path, name: str, lines: list[dict], *flags) -> dict:
    """Ingest the lines as batch `name` with the CLI, then `audit --json` of that batch."""
    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    rc, out, err = run(capsys, "ingest", path, "--db", db, "--batch-id", name, *flags)
    assert rc == 0, err
    rc, out, err = run(capsys, "audit", "--db", db, "--batch-id", name, "--json")
    assert rc == 0, err
    return json.loads(out)


# ------------------------------------------------------------------ inference_geo us


def test_opus_48_us_only_line_costs_825(tmp_path, capsys):
    # 1M input + 100k output on Opus 4.8, standard: 1,000,000 x 5 + 100,000 x 25 = $7.50 without
    # the geo premium; US-only is 1.1x every token rate: 1,000,000 x 5.5 + 100,000 x 27.5
    # = 5.50 + 2.75 = $8.25 (what the bill says; issue 11)
    us = get_rates("claude-opus-4-8", batch=False, at=DEC, geo="us")
    assert usage_cost(us, input_tokens=1_000_000, write_5m=0, write_1h=0, read=0, output=100_000) == D("8.25")
    plain = get_rates("claude-opus-4-8", batch=False, at=DEC)
    assert usage_cost(plain, input_tokens=1_000_000, write_5m=0, write_1h=0, read=0, output=100_000) == D("7.5")
    assert "us-only-1.1x" in us.source and us.geo == "us"
    # the same line through ingest and the SQL cost view
    got = ingest_lines(capsys, tmp_path, tmp_path / "s.duckdb", "geo", [
        sync_line("geo1", "claude-opus-4-8", inp=1_000_000, out=100_000, geo="us")], "--priced-at", "2026-12-01")
    assert got["cost_usd"] == 8.25 and got["us_only_requests"] == 1 and "us-only-1.1x" in got["price_source"]
    # a model without inference_geo (cachecast.facts.models): a US-only line of it is not guessed
    with pytest.raises(PriceError, match="inference_geo 'us' is not available"):
        get_rates(roles.no_geo(), batch=False, at=DEC, geo="us")


# ------------------------------------------------------------------ Haiku 5.5's 100k cliff


def test_haiku_55_below_and_above_100k_prompt_tokens_with_cache_reads(tmp_path, capsys):
    std = get_rates("claude-haiku-5-5", batch=False, at=DEC)
    assert std.long_context_threshold == 100_000  # genai-prices has the tier; no correction needed
    # 99,999 prompt tokens = 9,999 input + 90,000 read: lower tier for every token:
    # 9,999 x 0.10 + 90,000 x 0.01 + 1,000 x 0.50 = 999.9 + 900 + 500 = 2,399.9 -> $0.0023999
    assert usage_cost(std, input_tokens=9_999, write_5m=0, write_1h=0, read=90_000, output=1_000) == D("0.0023999")
    # 150,000 prompt tokens = 10,000 input + 140,000 read: EVERY token at the higher tier, the
    # cache reads and the output included:
    # 10,000 x 0.50 + 140,000 x 0.05 + 1,000 x 2.50 = 5,000 + 7,000 + 2,500 = 14,500 -> $0.0145
    assert usage_cost(std, input_tokens=10_000, write_5m=0, write_1h=0, read=140_000, output=1_000) == D("0.0145")
    # in a batch both tiers are halved: 2,399.9 / 2 = 1,199.95 and 14,500 / 2 = 7,250
    db = tmp_path / "s.duckdb"
    got = ingest_lines(capsys, tmp_path, db, "haiku", [
        batch_line("h1", "claude-haiku-5-5", inp=9_999, read=90_000, out=1_000),
        batch_line("h2", "claude-haiku-5-5", inp=10_000, read=140_000, out=1_000)], "--priced-at", "2026-12-01")
    # 1,199.95 + 7,250 = 8,449.95 micro-dollars -> $0.00844995 -> 0.00845 (6 decimals, half-even)
    assert got["cost_usd"] == 0.00845
    conn = duckdb.connect(str(db), read_only=True)
    costs = dict(conn.execute("SELECT custom_id, cost_usd FROM request_costs").fetchall())
    tiers = dict(conn.execute("SELECT custom_id, long_context FROM request_costs").fetchall())
    conn.close()
    assert costs == {"h1": D("0.00119995"), "h2": D("0.00725")} and tiers == {"h1": False, "h2": True}


# ------------------------------------------------------------------ prices at the batch's date


def test_sonnet_55_read_on_2026_10_06_and_2026_10_08(tmp_path, capsys):
    # a sync line: 1,000 input, 100,000 read, 500 output
    # 2026-10-06 (read 0.20): 1,000 x 2 + 100,000 x 0.20 + 500 x 10 = 2,000 + 20,000 + 5,000 = $0.027
    # 2026-10-08 (read 0.10): 2,000 + 100,000 x 0.10 + 5,000 = 2,000 + 10,000 + 5,000 = $0.017
    db = tmp_path / "s.duckdb"
    line = dict(inp=1_000, read=100_000, out=500)
    before = ingest_lines(capsys, tmp_path, db, "oct06", [sync_line("r6", "claude-sonnet-5-5", **line)],
                          "--priced-at", "2026-10-06")
    after = ingest_lines(capsys, tmp_path, db, "oct08", [sync_line("r8", "claude-sonnet-5-5", **line)],
                         "--priced-at", "2026-10-08")
    assert (before["cost_usd"], after["cost_usd"]) == (0.027, 0.017)
    assert before["priced_on"] == "2026-10-06" and "sonnet-5-5-read-0.20-before-2026-10-07" in before["price_source"]
    assert after["priced_on"] == "2026-10-08" and "sonnet-5-5-read" not in after["price_source"]
    conn = duckdb.connect(str(db), read_only=True)
    recorded = dict(conn.execute("SELECT batch_id, created_at_source FROM batches").fetchall())
    conn.close()
    assert recorded == {"oct06": "priced-at", "oct08": "priced-at"}


def test_batch_date_defaults_to_the_ingest_day_and_is_recorded(tmp_path, capsys):
    got = ingest_lines(capsys, tmp_path, tmp_path / "s.duckdb", "today", [
        batch_line("t1", roles.default(), inp=100, out=10)])
    conn = duckdb.connect(str(tmp_path / "s.duckdb"), read_only=True)
    created, source = conn.execute("SELECT created_at, created_at_source FROM batches").fetchone()
    conn.close()
    assert source == "ingest" and got["priced_on"] == created.date().isoformat() == store.utcnow().date().isoformat()
    # a date in the future or not a date at all is refused in one sentence (exit 2)
    path = tmp_path / "today.jsonl"
    assert run(capsys, "ingest", path, "--db", tmp_path / "s.duckdb", "--priced-at", "2099-01-01")[0] == 2
    rc, _, err = run(capsys, "ingest", path, "--db", tmp_path / "s.duckdb", "--priced-at", "last tuesday")
    assert rc == 2 and "is not a date" in err


# ------------------------------------------------------------------ server tools, batch, fast mode


def test_line_with_3_web_searches(tmp_path, capsys):
    # Sonnet 5.5 sync: 2,000 x 2 + 500 x 10 = 4,000 + 5,000 = 9,000 micro = $0.009 in tokens,
    # plus 3 searches x $10 / 1,000 = $0.03 -> $0.039; without caching the searches cost the same
    rates = get_rates("claude-sonnet-5-5", batch=False, at=DEC)
    assert usage_cost(rates, input_tokens=2_000, write_5m=0, write_1h=0, read=0, output=500,
                      web_search_requests=3) == D("0.039")
    got = ingest_lines(capsys, tmp_path, tmp_path / "s.duckdb", "web", [
        sync_line("w1", "claude-sonnet-5-5", inp=2_000, out=500, web=3)], "--priced-at", "2026-12-01")
    assert got["cost_usd"] == 0.039 and got["web_search_requests"] == 3 and got["web_search_cost_usd"] == 0.03
    assert got["no_cache_cost_usd"] == 0.039  # no cache read or write: the same bill


def test_batch_line_on_models_without_a_genai_prices_batch_price(tmp_path, capsys):
    db = tmp_path / "s.duckdb"
    # Mythos 5.1 is not in genai-prices 0.2.3 at all (rates: correction row mythos-5-1-rates,
    # Anthropic's pricing table); batch = 50% of standard: 5 / 6.25 / 10 / 0.125 / 25.
    # 1,000 x 5 + 2,000 (1h) x 10 + 3,000 x 0.125 + 400 x 25 = 5,000 + 20,000 + 375 + 10,000
    # = 35,375 -> $0.035375
    mythos = ingest_lines(capsys, tmp_path, db, "mythos", [
        batch_line("m1", "claude-mythos-5-1", inp=1_000, w1=2_000, read=3_000, out=400)], "--priced-at", "2026-12-01")
    assert mythos["cost_usd"] == 0.035375
    assert "mythos-5-1-rates" in mythos["price_source"] and "batch-50pct" in mythos["price_source"]
    # Sonnet 5.5 on 2026-09-15: genai-prices' batch variant starts 2026-10-14 and would bill the
    # full standard rate; Anthropic billed 50% of standard (and the read was 0.20 then):
    # 1,000 x 1 + 10,000 x 0.10 + 500 x 5 = 1,000 + 1,000 + 2,500 = 4,500 -> $0.0045
    # (genai-prices alone: 1,000 x 2 + 10,000 x 0.10 + 500 x 10 = $0.008)
    sept = ingest_lines(capsys, tmp_path, db, "sept", [
        batch_line("s1", "claude-sonnet-5-5", inp=1_000, read=10_000, out=500)], "--priced-at", "2026-09-15")
    assert sept["cost_usd"] == 0.0045 and "batch-50pct" in sept["price_source"]


def test_fast_mode_sync_line(tmp_path, capsys):
    # Opus 5.5 fast: 1,000 x 8 + 2,000 (5m) x 10 + 3,000 x 0.40 + 400 x 40
    # = 8,000 + 20,000 + 1,200 + 16,000 = 45,200 -> $0.0452
    fast = get_rates("claude-opus-5-5", batch=False, at=DEC, speed="fast")
    assert usage_cost(fast, input_tokens=1_000, write_5m=2_000, write_1h=0, read=3_000, output=400) == D("0.0452")
    db = tmp_path / "s.duckdb"
    got = ingest_lines(capsys, tmp_path, db, "fast", [
        sync_line("f1", "claude-opus-5-5", inp=1_000, w5=2_000, read=3_000, out=400, speed="fast")],
        "--priced-at", "2026-12-01")
    assert got["cost_usd"] == 0.0452 and got["fast_requests"] == 1 and "fast-opus-5-5" in got["price_source"]
    # fast mode does not exist in batches: such a line is not priced by guessing; it is
    # quarantined with its reason and the good lines of its file are kept (issue 19 section 6)
    path = tmp_path / "bad.jsonl"
    good = [batch_line(f"g{i}", "claude-opus-5-5", inp=10, out=1) for i in range(6)]
    path.write_text("".join(json.dumps(x) + "\n" for x in [*good[:3], batch_line("f2", "claude-opus-5-5", inp=10,
                    out=1, speed="fast"), *good[3:]]))
    rc, out, err = run(capsys, "ingest", path, "--db", db)
    assert rc == 0, err
    assert "7 lines read = 6 ingested + 0 duplicates + 1 quarantined" in out
    conn = store.connect(db)
    try:
        [(line_no, reason)] = conn.execute("SELECT line_no, reason FROM quarantine").fetchall()
    finally:
        conn.close()
    assert line_no == 4 and "batches do not" in reason


def test_fast_rows_agree_with_genai_prices_speed_variants():
    """The correction rows for fast mode are the FACTS rates; genai-prices 0.2.3 has speed
    variants for the same models, and they must agree (input/output, and cache x2 like input)."""
    from cachecast.facts.pricing import _genai_info, _split_tiers, _values, corrections

    when = datetime(2026, 12, 1, 12, tzinfo=timezone.utc)
    for row in corrections().find("fast", None, DEC):
        info = _genai_info(row.model)
        base, _, _ = _split_tiers(row.model, _values(row.model, info, info.get_prices(when, {"speed": "fast"})))
        assert base == dict(row.rates), row.id


# ------------------------------------------------------------------ break-even


def test_break_even_sonnet_55_from_its_own_rates():
    # Sonnet 5.5 reads at 0.05x input: 5m (2.50 - 2) / (2.50 - 0.10) = 0.5 / 2.4 = 0.208333...;
    # 1h (4 - 2) / (4 - 0.10) = 2 / 3.9 = 0.512820...; batch halves every rate: same ratios
    for batch in (False, True):
        r = get_rates("claude-sonnet-5-5", batch=batch, at=DEC)
        assert round(break_even_hit_rate(r, "5m"), 4) == D("0.2083")
        assert round(break_even_hit_rate(r, "1h"), 4) == D("0.5128")
    # Sonnet 4.6 (read 0.1x): 5m 0.75 / 3.45 = 0.2174, 1h 3 / 5.7 = 0.5263
    r = get_rates("claude-sonnet-4-6", batch=False, at=DEC)
    assert (round(break_even_hit_rate(r, "5m"), 4), round(break_even_hit_rate(r, "1h"), 4)) == (
        D("0.2174"), D("0.5263"))


# ------------------------------------------------------------------ the budget gate: the true worst case


def _fake_build(project, budget: float) -> Path:
    """A build directory by hand: 10 requests of Sonnet 5.5 (5 items x 2 repeats), each with an
    estimated 2,000-token cached prefix and 100 more prompt tokens, from a config with a 1h TTL."""
    project.config({"provider": {"model": "claude-sonnet-5-5", "batch": True,
                                 "request_overrides": {"cache_control": {"ttl": "1h"}}},
                    "temperatures": None, "repeats": 2, "max_tokens": 2000, "output_fill_ratio": 0.25,
                    "budget_usd": budget})
    build = project.dir / "build"
    build.mkdir()
    (build / "build.json").write_text(json.dumps({"config": "../cfg.yaml"}))
    rows = [{"custom_id": f"q{i // 2}__control__r{i % 2}", "item_id": f"q{i // 2}", "treatment": "control",
             "model": "claude-sonnet-5-5", "ttl": "1h", "cacheable": True, "est_prefix_tokens": 2000,
             "est_rest_tokens": 100} for i in range(10)]
    (build / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return build


def test_gate_checks_the_true_worst_case_hand_worked(project):
    from cachecast.plan.gate import BudgetError, check_budget, verdict

    # Sonnet 5.5 batch: 1 / 1.25 / 2 / 0.05 / 5. Output = answer 2000 x 0.25 = 500 + thinking
    # (Sonnet 5.5 thinks by default, effort high: 1,200 by the planning assumption) = 1,700.
    # Worst case (1h, every request writes, none reads), per request:
    #   2,000 x 2 + 100 x 1 + 1,700 x 5 = 4,000 + 100 + 8,500 = 12,600; x 10 = $0.126
    # Expected (80% read at 1h): 2,000 x (0.8 x 0.05 + 0.2 x 2) = 880; 880 + 100 + 8,500 = 9,480
    #   x 10 = $0.0948
    # The old gate judged 30% hits: 2,000 x (0.3 x 0.05 + 0.7 x 2) = 2,830 -> 11,430 x 10 = $0.1143,
    # under a $0.12 budget, while the run can cost $0.126.
    # Ceiling (1h, every request writes, none reads, every output at max_tokens 2,000):
    #   2,000 x 2 + 100 x 1 + 2,000 x 5 = 4,000 + 100 + 10,000 = 14,100; x 10 = $0.141
    build = _fake_build(project, budget=0.12)
    v = verdict(build)
    assert (v.figures.ceiling, v.figures.worst_expected, v.figures.expected) == (
        D("0.141"), D("0.126"), D("0.0948"))
    assert D(str(v.projected_usd)) == D("0.126")  # judged on the worst expected
    assert not v.within and v.basis == "worst_expected"
    with pytest.raises(BudgetError, match=r"worst expected spend of these files, \$0.13 .*expected \$0.09, "
                                          r"ceiling \$0.14\), exceeds the config's budget_usd \$0.12"):
        check_budget(build)
    line = check_budget(build, force=True)
    assert "worst expected $0.13" in line and "expected $0.09" in line and "ceiling $0.14" in line


def test_gate_prices_with_the_overrides_file(project, tmp_path):
    from cachecast.plan.gate import verdict

    prices = tmp_path / "prices.yaml"
    prices.write_text("batch_multiplier: 0.5\nmodels:\n  claude-sonnet-5-5: "
                      "{input: 1, write_5m: 1.25, write_1h: 2, read: 0.05, output: 5}\n")
    # negotiated standard = genai's batch rates, so batch = half of them: 0.5 / 0.625 / 1 / 0.025 / 2.5
    # worst case per request 2,000 x 1 + 100 x 0.5 + 1,700 x 2.5 = 2,000 + 50 + 4,250 = 6,300; x 10 = $0.063
    assert D(str(verdict(_fake_build(project, budget=0.12), overrides=prices).projected_usd)) == D("0.063")


def test_gate_worst_case_for_the_shipped_full_run(tmp_path):
    """The shipped full run, built as configured today: the gate's figure equals every
    request writing the prefix at the config's TTL, recomputed here from the manifest."""
    from cachecast.build.batches import build, read_manifest
    from cachecast.build.config import load_config
    from cachecast.plan.gate import verdict
    from cachecast.facts.models import model_facts
    from cachecast.facts.pricing import thinking_assumption

    cfg = load_config(FULL)
    out = tmp_path / "full"
    build(cfg, out, progress=False)
    rows = read_manifest(out)
    cached = [r for r in rows if r["cacheable"]]
    S = D(round(sum(r["est_prefix_tokens"] for r in cached) / len(cached)))
    U = D(sum(r["est_rest_tokens"] + (0 if r["cacheable"] else r["est_prefix_tokens"]) for r in rows)) / len(rows)
    facts = model_facts(cfg.provider.model)
    effort = getattr(cfg.thinking, "effort", None) or facts.default_effort
    thinking = D(thinking_assumption().tokens_per_request[effort]) if facts.thinks_by_default else D(0)
    O = min(D(cfg.max_tokens) * D(str(cfg.output_fill_ratio)) + thinking, D(cfg.max_tokens))
    r = get_rates(cfg.provider.model, cfg.provider.batch)
    write = r.write_1h if cfg.provider.cache.ttl == "1h" else r.write_5m
    worst = len(rows) * (S * write + U * r.input + O * r.output) / 1_000_000
    pessimistic = len(rows) * (S * (D("0.3") * r.read + D("0.7") * write) + U * r.input + O * r.output) / 1_000_000
    v = verdict(out)
    assert abs(D(str(v.projected_usd)) - worst) < D("1e-6")
    assert worst > pessimistic  # what the gate used to check
    assert v.within == (worst <= D(str(cfg.budget_usd)))


# ------------------------------------------------------------------ --prices on every command


MYTHOS_PREVIEW_PRICES = """source: "test: Mythos Preview"
batch_multiplier: 0.5
models:
  claude-mythos-preview: {input: 25, write_5m: 31.25, write_1h: 50, read: 2.5, output: 125}
"""


def test_ingest_prices_a_model_genai_prices_lacks_from_the_file(tmp_path, capsys):
    db = tmp_path / "s.duckdb"
    path = tmp_path / "preview.jsonl"
    path.write_text(json.dumps(batch_line("p1", "claude-mythos-preview", inp=1_000, w1=2_000, read=4_000,
                                          out=300)) + "\n" + json.dumps(batch_line("p2", "claude-sonnet-5-5", inp=10,
                                                                                     out=1)) + "\n")
    # without a price: the line is quarantined (never priced at $0), its reason says so with a
    # ready-to-edit overrides snippet for the model; the other line is ingested
    rc, out, err = run(capsys, "ingest", path, "--db", db)
    assert rc == 0 and "2 lines read = 1 ingested + 0 duplicates + 1 quarantined" in out
    assert "quarantined 1: no price: no known price for model 'claude-mythos-preview'" in out
    snippet = yaml.safe_load(out.split("set CACHECAST_PRICES: ", 1)[1])  # one line of YAML, ready to edit
    assert snippet["batch_multiplier"] == 0.5 and snippet["models"]["claude-mythos-preview"] == {
        "input": None, "write_5m": None, "write_1h": None, "read": None, "output": None}
    unfilled = tmp_path / "unfilled.yaml"
    unfilled.write_text(yaml.safe_dump(snippet))  # saved as it is: refused, never priced at $0
    rc, _, err = run(capsys, "ingest", path, "--db", db, "--prices", unfilled)
    assert rc == 2 and "'models.claude-mythos-preview.input' is null" in err
    # with the file (batch = 0.5 x: 12.5 / 15.625 / 25 / 1.25 / 62.5):
    # 1,000 x 12.5 + 2,000 x 25 + 4,000 x 1.25 + 300 x 62.5 = 12,500 + 50,000 + 5,000 + 18,750
    # = 86,250 -> $0.08625
    prices = tmp_path / "prices.yaml"
    prices.write_text(MYTHOS_PREVIEW_PRICES)
    rc, out, err = run(capsys, "ingest", path, "--db", db, "--prices", prices)
    assert rc == 0, err
    assert "1 ingested" in out  # the quarantined line comes in now, and leaves quarantine
    rc, out, err = run(capsys, "audit", "--db", db, "--json")
    got = json.loads(out)
    # plus the Sonnet 5.5 line at batch rates on its day: 10 x 1 + 1 x 5 = 15 -> $0.000015
    assert got["cost_usd"] == 0.086265 and "test: Mythos Preview" in got["price_source"]
    assert got["quarantined_lines"] == 0


def test_prices_env_on_ingest_and_audit_reprices_with_the_file(tmp_path, capsys, monkeypatch):
    db = tmp_path / "s.duckdb"
    line = batch_line("e1", "claude-sonnet-5-5", inp=1_000, out=100)
    # genai-prices: 1,000 x 1 + 100 x 5 = 1,500 -> $0.0015
    assert ingest_lines(capsys, tmp_path, db, "env", [line], "--priced-at", "2026-12-01")["cost_usd"] == 0.0015
    prices = tmp_path / "prices.yaml"
    prices.write_text("batch_multiplier: 0.5\nmodels:\n  claude-sonnet-5-5: "
                      "{input: 1.6, write_5m: 2, write_1h: 3.2, read: 0.08, output: 8}\n")
    # audit --prices re-prices the models the file covers: batch 0.8 / 4: 1,000 x 0.8 + 100 x 4 = $0.0012
    rc, out, err = run(capsys, "audit", "--db", db, "--json", "--prices", prices)
    got = json.loads(out)
    assert rc == 0 and got["cost_usd"] == 0.0012 and "batch_multiplier" in got["price_source"]
    # the same file through CACHECAST_PRICES on ingest: a second batch priced from it directly
    monkeypatch.setenv("CACHECAST_PRICES", str(prices))
    two = ingest_lines(capsys, tmp_path, db, "env2", [batch_line("e2", "claude-sonnet-5-5", inp=1_000, out=100)],
                       "--priced-at", "2026-12-01")
    assert two["cost_usd"] == 0.0012


# ------------------------------------------------------------------ dates from the API, old stores


def test_fetch_prices_at_the_api_creation_time(fake_api, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    batch = fake_api.client().messages.batches.create(requests=[
        {"custom_id": "a1", "params": {"model": roles.default(), "max_tokens": 64,
                                        "messages": [{"role": "user", "content": "Say hi."}]}}])
    db = tmp_path / "s.duckdb"
    rc, _, err = run(capsys, "fetch", batch.id, "--out", tmp_path / "r.jsonl", "--db", db, "--base-url", fake_api.url)
    assert rc == 0, err
    created = fake_api.client().messages.batches.retrieve(batch.id).created_at
    conn = duckdb.connect(str(db), read_only=True)
    at, source = conn.execute("SELECT created_at, created_at_source FROM batches").fetchone()
    conn.close()
    assert source == "api" and at == created.astimezone(timezone.utc).replace(tzinfo=None)


def test_a_schema_v1_store_keeps_its_prices_on_upgrade(tmp_path):
    """A store written before issue 11 (one price per model and tier) opens, migrates, and
    audits to the same money: its rows are kept for the day of each batch that used them."""
    path = tmp_path / "v1.duckdb"
    conn = duckdb.connect(str(path))
    conn.execute("CREATE TABLE schema_version (version INTEGER NOT NULL, views_revision INTEGER NOT NULL DEFAULT 0, "
                 "applied_at TIMESTAMP NOT NULL)")
    for statement in store.split_statements(store.read_sql("store/schema_v1.sql")):
        conn.execute(statement)
    conn.execute("INSERT INTO schema_version VALUES (1, 6, now())")
    conn.execute("INSERT INTO batches VALUES ('old', NULL, TIMESTAMP '2026-11-02 10:00:00', TIMESTAMP '2026-11-02 10:00:00')")
    conn.execute("INSERT INTO ingests VALUES (1, 'old', 'f.jsonl', 'x', 1, 1, 1, 0, 0, 0, 'fast', now(), 0)")
    conn.execute("INSERT INTO results (batch_id, ingest_id, source_file, line_no, dedupe_key, custom_id, is_batch, "
                 "result_type, message_id, simulated, model, input_tokens, cache_creation_input_tokens, "
                 "cache_read_input_tokens, output_tokens) VALUES ('old', 1, 'f.jsonl', 1, 'msg:m1', 'c1', true, "
                 "'succeeded', 'm1', false, ?, 1000, 0, 0, 100)", [roles.retired()])
    # a deliberately odd captured rate (input 9) shows the row is kept, not re-read from genai-prices
    conn.execute("INSERT INTO price_snapshot VALUES (?, true, 9, 1.875, 3, 0.15, 7.5, NULL, NULL, "
                 "NULL, NULL, NULL, NULL, 'old source', now())", [roles.retired()])
    conn.close()
    conn = store.connect(path)
    try:
        t = audit.totals(conn)
        # 1,000 x 9 + 100 x 7.5 = 9,000 + 750 = 9,750 -> $0.00975
        assert t.cost_usd == D("0.00975") and t.priced_on == "2026-11-02"
        assert conn.execute("SELECT created_at_source FROM batches").fetchone()[0] == "ingest"
        assert "captured before schema v2" in t.price_sources
    finally:
        conn.close()


def test_reports_say_the_price_source_and_date(tmp_path, capsys):
    from cachecast.report.projection_report import headline, plan

    db = tmp_path / "s.duckdb"
    ingest_lines(capsys, tmp_path, db, "rep", [batch_line("x1", roles.default(), inp=100, out=10)],
                 "--priced-at", "2026-10-20")
    from cachecast.report.audit_view import open_audit

    lines = open_audit(db, batch_id="rep").summary_lines()
    assert any(line.startswith("Prices as of 2026-10-20") and "genai-prices 0.2.3" in line for line in lines)
    p = plan(FULL, pilot_items=10, full_items=20, exact=False)
    assert "Prices: genai-prices 0.2.3 bundled snapshot, prices in effect" in headline(p)


def test_report_prices_flag_reaches_the_notebook_and_the_html_names_it(tmp_path, capsys, monkeypatch):
    import os

    monkeypatch.delenv("CACHECAST_PRICES", raising=False)
    db = tmp_path / "s.duckdb"
    ingest_lines(capsys, tmp_path, db, "rep2", [batch_line("y1", "claude-sonnet-5-5", inp=1_000, out=100)],
                 "--priced-at", "2026-11-03")
    prices = tmp_path / "prices.yaml"
    prices.write_text('source: "ACME agreement 2026-11"\nbatch_multiplier: 0.5\nmodels:\n  claude-sonnet-5-5: '
                      "{input: 1.6, write_5m: 2, write_1h: 3.2, read: 0.08, output: 8}\n")
    out = tmp_path / "audit.html"
    rc, _, err = run(capsys, "report", "audit", "-p", "db_path", db, "-p", "batch_id", "rep2", "--prices", prices,
                     "--out", out)
    assert rc == 0, err
    html = out.read_text(encoding="utf-8")
    # the audit notebook re-priced the batch from the file (CACHECAST_PRICES in its kernel) and says so, with the day
    assert "Prices as of 2026-11-03" in html and "ACME agreement 2026-11" in html
    assert "CACHECAST_PRICES" not in os.environ  # set for the notebook only
