"""Audit numbers on the hand-written fixture tests/data/results_mixed.jsonl, every field of
the `audit --json` contract worked out by hand below, plus costs, anomalies and tables.

Model ids here are the fixture's and those whose published rates the hand-worked costs use
(Sonnet 4.5's long-context tier, Sonnet 5.5's batch output rate); where no cost is checked the
model is a role (tests/roles.py).

The fixture (13 lines; line: custom_id -> what it is):
   1 item01__control   Sonnet 4.5 batch, 1h write: in 50, creation 2000 (1h 2000), read 0, out 300
   2 item01__concise   Sonnet 4.5 batch, read:     in 40, creation 0, read 2000, out 250
   3 item02__control   Sonnet 4.5 batch, 5m write: in 60, creation 1500 (5m 1500), read 0, out 200
   4 item02__concise   Sonnet 4.5 batch, NO cache_creation breakdown: in 30, creation 500, read 2000, out 100
   5 item03__control   Haiku 4.5 batch, 5m write:  in 20, creation 4200 (5m), read 0, out 150
   6 item03__concise   Haiku 4.5 batch, read:      in 25, creation 0, read 4200, out 120
   7 (plain Message)   Sonnet 4.5 SYNC (standard rates): in 100, read 1500, out 80
   8 item04__control   errored (invalid_request_error)
   9 item04__concise   canceled
  10 item05__control   expired
  11 item05__concise   Haiku 4.5 batch, no cache activity: in 4300, out 90
  12                   duplicate of line 2 (same bytes)
  13                   broken JSON (cut off)

Rates, USD per million tokens (genai-prices snapshot; FACTS.md), input / 5m write / 1h write / read / output:
  Sonnet 4.5 batch 1.5 / 1.875 / 3 / 0.15 / 7.5     Sonnet 4.5 standard 3 / 3.75 / 6 / 0.30 / 15
  Haiku 4.5 batch  0.5 / 0.625 / 1 / 0.05 / 2.5

Per-request cost in micro-dollars (tokens x rate), with the manifest (which requests TTL 1h
for Sonnet, so line 4's 500 unsplit creation tokens are 1h writes):
   1: 50x1.5 + 2000x3 + 300x7.5                   = 75 + 6000 + 2250           =  8325
   2: 40x1.5 + 2000x0.15 + 250x7.5                = 60 + 300 + 1875            =  2235
   3: 60x1.5 + 1500x1.875 + 200x7.5               = 90 + 2812.5 + 1500         =  4402.5
   4: 30x1.5 + 500x3 + 2000x0.15 + 100x7.5        = 45 + 1500 + 300 + 750      =  2595
   5: 20x0.5 + 4200x0.625 + 150x2.5               = 10 + 2625 + 375            =  3010
   6: 25x0.5 + 4200x0.05 + 120x2.5                = 12.5 + 210 + 300           =   522.5
   7: 100x3 + 1500x0.30 + 80x15                   = 300 + 450 + 1200           =  1950
  11: 4300x0.5 + 90x2.5                           = 2150 + 225                 =  2375
  total                                                                        = 25415    -> $0.025415
No cache (all prompt tokens at the input rate, same output):
   1: 2050x1.5 + 2250 = 5325     2: 2040x1.5 + 1875 = 4935     3: 1560x1.5 + 1500 = 3840
   4: 2530x1.5 + 750  = 4545     5: 4220x0.5 + 375  = 2485     6: 4225x0.5 + 300  = 2412.5
   7: 1600x3 + 1200   = 6000    11: 4300x0.5 + 225  = 2375
  total = 31917.5 -> $0.0319175 -> 0.031918 (6 decimals, half-even)
savings = 31917.5 - 25415 = 6502.5 -> $0.0065025 -> 0.006502; savings_pct = 6502.5 / 31917.5 x 100
"""
from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

import roles
from cachecast.analyse import audit
from cachecast import cli, store
from cachecast.store import ingest
from cachecast.errors import InputError

DATA = Path(__file__).resolve().parent / "data"
MIXED = DATA / "results_mixed.jsonl"
MANIFEST = DATA / "manifest_mixed"

EXPECTED = {
    "requests": 11,            # 13 lines - 1 duplicate - 1 quarantined
    "succeeded": 8,            # lines 1-7 and 11
    "errored": 1, "canceled": 1, "expired": 1,
    "input_tokens": 4625,      # 50+40+60+30+20+25+100+4300
    "cache_creation_input_tokens": 8200,  # 2000+1500+500+4200
    "cache_read_input_tokens": 9700,      # 2000+2000+4200+1500
    "output_tokens": 1290,     # 300+250+200+100+150+120+80+90
    "token_hit_rate": 9700 / 22525,       # read / (4625 + 8200 + 9700)
    "request_hit_rate": 4 / 8,            # lines 2, 4, 6, 7 read of 8 succeeded
    "cost_usd": 0.025415,
    "no_cache_cost_usd": 0.031918,
    "savings_usd": 0.006502,
    "savings_pct": 6502.5 / 31917.5 * 100,  # = 20.3728...
    "quarantined_lines": 1,    # line 13
}


@pytest.fixture
def mixed(tmp_path):
    conn = store.connect(tmp_path / "audit.duckdb")
    ingest.ingest_paths(conn, [MIXED], manifest=MANIFEST, progress=False)
    yield conn
    conn.close()


def test_every_contract_field_by_hand(mixed):
    got = audit.summary(mixed)
    # the contract's keys first and in order; issue 11 adds price source, dates, thinking and
    # web search keys after them (the contract "may add more")
    assert list(got)[:len(EXPECTED)] == list(EXPECTED)
    assert set(got) - set(EXPECTED) == {"price_source", "priced_on", "thinking_tokens", "thinking_cost_usd",
                                        "web_search_requests", "web_search_cost_usd", "us_only_requests",
                                        "fast_requests", "web_fetch_requests", "web_fetch_cost_usd",
                                        "iteration_requests", "iterations_cost_usd", "truncated_requests",
                                        "truncated_share", "truncated_cost_usd"}  # issue 19's, after the contract
    assert got["price_source"].startswith("genai-prices ") and got["thinking_tokens"] == 0
    for key, want in EXPECTED.items():
        assert got[key] == pytest.approx(want, abs=1e-12), key
    ints = [k for k in EXPECTED if k not in {"token_hit_rate", "request_hit_rate", "cost_usd", "no_cache_cost_usd",
                                             "savings_usd", "savings_pct"}]
    assert all(type(got[k]) is int for k in ints)
    assert all(type(got[k]) is float for k in set(EXPECTED) - set(ints))
    assert 0 <= got["token_hit_rate"] <= 1 and 0 <= got["request_hit_rate"] <= 1  # fractions
    assert got["savings_pct"] > 1  # a percentage, not a fraction


def test_exact_decimal_totals(mixed):
    t = audit.totals(mixed)
    assert t.cost_usd == Decimal("0.025415")
    assert t.no_cache_cost_usd == Decimal("0.0319175")
    assert t.savings_usd == Decimal("0.0065025")
    # components of the actual cost (micro-dollars, from the table above):
    # input 75+60+90+45+10+12.5+300+2150 = 2742.5; 5m writes 2812.5 + 2625 = 5437.5;
    # 1h writes 6000 + 1500 = 7500; reads 300+300+210+450 = 1260; output 2250+1875+1500+750+375+300+1200+225 = 8475
    assert t.input_cost_usd == Decimal("0.0027425")
    assert t.write_5m_cost_usd == Decimal("0.0054375")
    assert t.write_1h_cost_usd == Decimal("0.0075")
    assert t.read_cost_usd == Decimal("0.00126")
    assert t.output_cost_usd == Decimal("0.008475")
    assert t.write_5m_tokens == 1500 + 4200 and t.write_1h_tokens == 2000 + 500


def test_creation_without_breakdown_and_without_manifest_is_priced_5m_and_flagged(tmp_path):
    conn = store.connect(tmp_path / "nomanifest.duckdb")
    ingest.ingest_paths(conn, [MIXED], progress=False)
    got = audit.summary(conn)
    # line 4's 500 creation tokens at the 5m batch rate instead of 1h: 500 x (3 - 1.875) = 562.5 micro-dollars less
    # cost 25415 - 562.5 = 24852.5 -> 0.0248525 -> 0.024852 (half-even); no-cache unchanged
    assert got["cost_usd"] == pytest.approx(0.024852, abs=1e-12)
    assert got["no_cache_cost_usd"] == pytest.approx(0.031918, abs=1e-12)
    assert got["savings_pct"] == pytest.approx((31917.5 - 24852.5) / 31917.5 * 100)
    assert audit.totals(conn).ttl_assumed_requests == 1
    kinds = audit.anomalies(conn)
    flagged = kinds[kinds["kind"] == "ttl_assumed"]
    assert list(flagged["line_no"]) == [4] and "priced as 5m" in flagged["reason"].iloc[0]


def test_second_ingest_changes_nothing(mixed, tmp_path):
    def snapshot():
        return {t: mixed.execute(f"SELECT * FROM {t} ORDER BY ALL").fetchall()
                for t in ("results", "quarantine", "batches", "ingests", "manifest", "manifests", "price_snapshot")}
    before, summary = snapshot(), audit.summary(mixed)
    again = ingest.ingest_paths(mixed, [MIXED], manifest=MANIFEST, progress=False)[0]
    assert (again.lines_read, again.ingested, again.duplicates, again.quarantined) == (13, 0, 13, 0)
    assert snapshot() == before and audit.summary(mixed) == summary
    renamed = tmp_path / "copy-under-another-name.jsonl"
    renamed.write_bytes(MIXED.read_bytes())
    assert ingest.ingest_paths(mixed, [renamed], progress=False)[0].ingested == 0
    assert snapshot() == before


def test_json_cli_prints_only_the_contract(mixed, tmp_path, capsys):
    db = Path(mixed.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()")
              .fetchone()[0])
    mixed.close()
    assert cli.main(["audit", "--db", str(db), "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and json.loads(out)["cost_usd"] == EXPECTED["cost_usd"]
    assert cli.main(["audit", "--db", str(db)]) == 0
    text = capsys.readouterr().out
    assert "43.1% of prompt tokens came from the cache" in text and "$0.0254 instead of $0.0319" in text
    assert "8 of 11 requests succeeded" in text and "1 line quarantined" in text


def test_unknown_batch_and_missing_db_are_one_sentence(mixed, tmp_path, capsys):
    with pytest.raises(InputError, match="no batch 'nope'"):
        audit.summary(mixed, "nope")
    assert cli.main(["audit", "--db", str(tmp_path / "missing.duckdb"), "--json"]) == 2
    assert "no such database" in capsys.readouterr().err


def test_batch_filter(mixed, tmp_path):
    other = tmp_path / "other.jsonl"
    other.write_text('{"custom_id":"x1","result":{"type":"expired"}}\n')
    ingest.ingest_paths(mixed, [other], batch_id="batch_two", progress=False)
    assert audit.summary(mixed, "batch_two")["requests"] == 1
    first = mixed.execute("SELECT batch_id FROM batches WHERE batch_id <> 'batch_two'").fetchone()[0]
    one = audit.summary(mixed, first)
    # the contract keys of the first batch are the hand-worked ones (issue 11's extra keys come after)
    assert {k: one[k] for k in EXPECTED} == {**EXPECTED, **{k: one[k] for k in ("token_hit_rate", "savings_pct")}}
    assert audit.summary(mixed)["requests"] == 12 and audit.summary(mixed)["expired"] == 2


def test_anomalies_with_reasons(mixed):
    found = audit.anomalies(mixed)
    pairs = sorted(zip(found["line_no"], found["kind"]))
    assert pairs == [
        (2, "prefix_mismatch"),     # manifest gives item01__concise prefix cccc..., its treatment mostly aaaa...
        (3, "repeat_write"),        # prefix aaaa... written by lines 1, 3 and 4: all but the first by custom_id
        (3, "ttl_mismatch"),        # manifest asked 1h, usage shows 1500 tokens written at 5m
        (4, "repeat_write"),        # (line 4 also READ aaaa...: the prefix was read in this batch, so no
                                    # write_never_read, whatever the order of the file; issue 19 section 4)
        (8, "errored"), (9, "canceled"), (10, "expired"),
        (11, "no_cache_activity"),  # cacheable in the manifest, neither wrote nor read
    ]
    lost = dict(zip(zip(found["line_no"], found["kind"]), found["usd_lost"]))
    # repeat write = write cost - what a read would have cost: line 3: 1500 x (1.875 - 0.15) = 2587.5 micro-dollars
    assert lost[(3, "repeat_write")] == pytest.approx(0.0025875)
    # line 4 (1h via manifest): 500 x (3 - 0.15) = 1425 micro-dollars
    assert lost[(4, "repeat_write")] == pytest.approx(0.001425)
    reason = found[(found["line_no"] == 8)]["reason"].iloc[0]
    assert reason == "invalid_request_error: max_tokens: Field required"
    assert all(isinstance(r, str) and r for r in found["reason"])


def test_treatments_errors_tokens_and_order(mixed):
    t = audit.treatments(mixed).set_index("treatment")
    assert set(t.index) == {"control", "concise", "(no manifest)"}
    # control: lines 1, 3, 5 succeeded (+8, 10 not run); cost 8325 + 4402.5 + 3010 = 15737.5 micro-dollars
    assert (t.loc["control", "requests"], t.loc["control", "succeeded"]) == (5, 3)
    assert float(t.loc["control", "cost_usd"]) == pytest.approx(0.0157375)
    assert t.loc["(no manifest)", "cache_read_input_tokens"] == 1500  # the sync line
    errors = audit.errors_by_type(mixed)
    assert sorted(zip(errors["result_type"], errors["error_type"], errors["requests"])) == [
        ("canceled", "canceled", 1), ("errored", "invalid_request_error", 1), ("expired", "expired", 1)]
    tokens = audit.tokens_by_type(mixed)
    concise = tokens[tokens["treatment"] == "concise"].set_index("kind")["tokens"]
    assert concise["cache read"] == 2000 + 2000 + 4200 and concise["uncached input"] == 40 + 30 + 25 + 4300
    order = audit.hit_rate_over_order(mixed, bins=2)
    # 8 succeeded in file order: lines 1-7 then 11; first half (1,2,3,4): reads 2000+2000 of
    # prompt (2050 + 2040 + 1560 + 2530) = 4000 / 8180
    assert list(order["requests"]) == [4, 4]
    assert order["token_hit_rate"].iloc[0] == pytest.approx(4000 / 8180)
    assert order["request_hit_rate"].iloc[0] == pytest.approx(0.5)


def test_long_context_tier_reprices_every_token(tmp_path):
    line = {"custom_id": "big", "result": {"type": "succeeded", "message": {
        "id": "msg_long_context_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5-20250929",
        "content": [], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 150000, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 60000,
                  "output_tokens": 1000, "service_tier": "batch"}}}}
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps(line) + "\n")
    conn = store.connect(tmp_path / "lc.duckdb")
    ingest.ingest_paths(conn, [path], progress=False)
    rates = conn.execute("SELECT lc_input, lc_read, lc_output, long_context_threshold FROM price_snapshot "
                         "WHERE batch").fetchone()
    lc_in, lc_read, lc_out, threshold = rates
    assert threshold == 200000  # prompt 150000 + 60000 = 210000 > 200000: long-context rates for all tokens
    # by hand from the snapshot's batch long-context rates: 150000 x lc_in + 60000 x lc_read + 1000 x lc_out
    want = (150000 * lc_in + 60000 * lc_read + 1000 * lc_out) / Decimal(1_000_000)
    assert audit.totals(conn).cost_usd == want
    assert lc_in == Decimal("3") and lc_read == Decimal("0.3")  # Sonnet 4.5 batch: 2x the base batch rates
    assert audit.totals(conn).long_context_requests == 1


def test_projected_vs_actual(mixed):
    projection = {"model": "claude-sonnet-4-5", "items": 5, "requests": 16, "batch": True,
                  "tokens": {"system": 2000, "user_mean": 50.0, "output_mean": 150.0, "source": "estimate"},
                  "cacheable": True, "no_cache_usd": 0.05,
                  "scenarios": [{"name": "expected", "ttl": "1h", "hit_rate": 0.8, "total_usd": 0.03,
                                 "savings_usd": 0.02, "savings_pct": 40.0}],
                  "break_even_hit_rate": {"5m": 0.2174, "1h": 0.5263}, "budget_usd": None, "within_budget": None}
    frame = audit.projected_vs_actual(audit.totals(mixed), projection).set_index("metric")
    # 8 succeeded; projection of 16 requests -> actual money scaled x2
    assert frame.loc["cost without caching ($)", "actual_scaled"] == pytest.approx(0.0319175 * 2)
    row = frame.loc["cost, scenario expected (1h, hit rate 80%) ($)"]
    assert row["actual_scaled"] == pytest.approx(0.025415 * 2)
    assert row["difference"] == pytest.approx(0.05083 - 0.03)
    assert frame.loc["output tokens per request", "actual"] == pytest.approx(1290 / 8)
    assert frame.loc["request hit rate", "projected"] == 0.8
    with pytest.raises(InputError, match="lacks"):
        audit.projected_vs_actual(audit.totals(mixed), {"model": "x"})


def test_headline_marks_simulated_results(tmp_path):
    line = {"custom_id": "s1", "result": {"type": "succeeded", "message": {
        "id": "msg_sim_0123456789ab000000", "type": "message", "role": "assistant",
        "model": roles.default(), "content": [], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 10, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 1000,
                  "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
                  "output_tokens": 5, "service_tier": "batch"}}}}
    path = tmp_path / "sim.jsonl"
    path.write_text(json.dumps(line) + "\n")
    conn = store.connect(tmp_path / "sim.duckdb")
    ingest.ingest_paths(conn, [path], progress=False)
    assert conn.execute("SELECT simulated FROM results").fetchone()[0] is True
    text = audit.headline(audit.totals(conn))
    assert text.startswith("SIMULATED DATA: All results come from cachecast.sim")


def test_empty_store_headline(tmp_path):
    conn = store.connect(tmp_path / "empty.duckdb")
    totals = audit.totals(conn)
    got = audit.summary(conn)
    assert {k: got[k] for k in EXPECTED} == {**{k: 0 for k in EXPECTED}, "token_hit_rate": 0.0,
                                             "request_hit_rate": 0.0, "cost_usd": 0.0, "no_cache_cost_usd": 0.0,
                                             "savings_usd": 0.0, "savings_pct": 0.0}
    assert got["price_source"] is None and got["thinking_tokens"] == 0  # nothing priced yet
    assert audit.headline(totals) == "No results ingested yet."


def test_thinking_tokens_are_their_own_cost_component(tmp_path):
    """Issue 11: output_tokens_details.thinking_tokens is flattened into a column; thinking is
    billed as output and shown as its own component (its cost is part of output_cost_usd)."""
    line = {"custom_id": "t1", "result": {"type": "succeeded", "message": {
        "id": "msg_thinking_1", "type": "message", "role": "assistant", "model": "claude-sonnet-5-5",
        "content": [], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 1000, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                  "output_tokens": 1500, "output_tokens_details": {"thinking_tokens": 1200},
                  "service_tier": "batch"}}}}
    path = tmp_path / "thinking.jsonl"
    path.write_text(json.dumps(line) + "\n")
    conn = store.connect(tmp_path / "t.duckdb")
    ingest.ingest_paths(conn, [path], progress=False, created_at="2026-12-01")
    t = audit.totals(conn)
    # Sonnet 5.5 batch: 1,000 x 1 + 1,500 x 5 = 1,000 + 7,500 = 8,500 -> $0.0085, of which
    # thinking 1,200 x 5 = 6,000 -> $0.006 and the answer 300 x 5 = 1,500 -> $0.0015
    assert (t.cost_usd, t.thinking_tokens, t.thinking_cost_usd) == (Decimal("0.0085"), 1200, Decimal("0.006"))
    parts = audit.cost_components(t).set_index(["scenario", "component"])["usd"]
    assert parts[("actual", "thinking")] == pytest.approx(0.006) and parts[("actual", "output")] == pytest.approx(0.0015)
    kinds = audit.tokens_by_type(conn).set_index("kind")["tokens"]
    assert (kinds["thinking"], kinds["output"]) == (1200, 300)
    conn.close()
