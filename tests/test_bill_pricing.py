"""Every billed token priced (issue 19, sections 3, 5 and 6), each figure worked out by hand.
The ids below are the models whose published rates those figures are worked from (a role's
rates could change under them); claude-advisor-9 is made up (a model with no price).

Sources of the rates and rules used below (USD per million tokens):
- Claude Sonnet 5 (claude-sonnet-5): 2 input / 2.50 5m write / 4 1h write / 0.20 read / 10 output;
  Claude Fable 5 (claude-fable-5): 10 / 12.50 / 20 / 1.00 / 50. genai-prices 0.2.3's bundled
  snapshot, which agrees with https://platform.claude.com/docs/en/about-claude/pricing and
  cachecast FACTS 2026-12-01 (Fable 5 and Mythos 5 "share the same specs and pricing").
- Batch: 50% of standard on every token (FACTS "Batch"; correction row batch-50pct).
- Advisor billing: https://platform.claude.com/docs/en/agents-and-tools/tool-use/advisor-tool,
  "Usage and billing": "Top-level usage fields reflect executor tokens only", advisor_message
  iterations "are billed at the advisor model's rates", message iterations "at the executor
  model's rates", "Top-level input_tokens and cache_read_input_tokens reflect the first executor
  iteration only". SDK: types/beta/beta_usage.py (BetaUsage.iterations) and
  types/beta/beta_iterations_usage.py.
- Sonnet 4 (claude-sonnet-4-20250514) above 200k prompt tokens: 2x input and 1.5x output,
  https://platform.claude.com/docs/en/about-claude/pricing#long-context-pricing and FACTS
  "Added December 2"; base 3 / 3.75 / 6 / 0.30 / 15, above 200k 6 / 7.50 / 12 / 0.60 / 22.50
  (price_corrections.yaml sonnet-4-long-context-200k; genai-prices 0.2.3 has no such tier).
- Web fetch: "no additional charges beyond standard token costs",
  https://platform.claude.com/docs/en/agents-and-tools/tool-use/web-fetch-tool.
"""
from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from cachecast import cli, store
from cachecast.analyse import audit, billed
from cachecast.facts.costs import price_usage, usage_cost
from cachecast.facts.pricing import get_rates
from cachecast.facts.usage import Iteration, Usage

D = Decimal
DATA = Path(__file__).resolve().parent / "data" / "advisor"
ADVISOR = DATA / "results_advisor.jsonl"
DEC = date(2026, 12, 1)
MAY = date(2026, 5, 1)  # Sonnet 4 retired on 2026-06-15 (FACTS): its batches are older


def run(capsys, *argv) -> tuple[int, str, str]:
    rc = cli.main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def advisor_lines() -> list[dict]:
    return [json.loads(x) for x in ADVISOR.read_text().splitlines()]


def exact_costs(db: Path) -> dict[str, tuple[Decimal, Decimal, Decimal]]:
    """message id -> (cost_usd, iterations_cost_usd, no_cache_cost_usd), exact, from the SQL view."""
    conn = store.connect(db)
    try:
        return {m: (c, i, n) for m, c, i, n in conn.execute(
            "SELECT message_id, cost_usd, iterations_cost_usd, no_cache_cost_usd FROM request_costs").fetchall()}
    finally:
        conn.close()


# ------------------------------------------------------------------ the advisor sample (section 3)


def test_the_advisor_fixture_is_the_sdks_shape():
    """Every key of the fixture is a field of the SDK's BetaMessage (a lossless round trip)."""
    from anthropic.types.beta import BetaMessage

    sync, batch = advisor_lines()
    for message in (sync, batch["result"]["message"]):
        parsed = BetaMessage.model_validate(message)
        assert parsed.model_dump(mode="json", exclude_none=True) == {k: v for k, v in message.items() if v is not None}
        assert [i.type for i in parsed.usage.iterations] == ["message", "advisor_message", "message"]
        assert parsed.usage.iterations[1].model == "claude-fable-5"
        assert parsed.content[2].content.type == "advisor_redacted_result"


def test_advisor_sample_priced_per_turn_by_hand():
    sync, _ = advisor_lines()
    u = Usage.from_sdk(sync["usage"])
    sonnet = get_rates("claude-sonnet-5", False, at=DEC)
    assert (sonnet.input, sonnet.read, sonnet.output) == (D(2), D("0.2"), D(10))
    # What the top-level usage alone says (issue 19's $0.006624):
    #   412 x $2 + 580 x $10 = 824 + 5,800 = 6,624 micro-dollars
    assert usage_cost(sonnet, input_tokens=412, write_5m=0, write_1h=0, read=0, output=580) == D("0.006624")
    # What is billed, turn by turn (advisor docs, "Usage and billing"):
    #   executor turn 1 (Sonnet 5): 412 x $2 + 138 x $10                 =    824 + 1,380       =  2,204
    #   advisor turn (Fable 5):     783 x $10 + 400 x $50                =  7,830 + 20,000      = 27,830
    #   executor turn 2 (Sonnet 5): 1,348 x $2 + 412 x $0.20 + 442 x $10 = 2,696 + 82.4 + 4,420 =  7,198.4
    #   total 2,204 + 27,830 + 7,198.4 = 37,232.4 micro-dollars = $0.0372324 (issue 19: "about $0.0372")
    cost = price_usage(u, sonnet)
    assert cost.own.total == D("0.0094024")  # the executor's two turns: 2,204 + 7,198.4
    assert cost.iterations.total == D("0.02783")  # the advisor turn, its own component
    assert cost.total == D("0.0372324")
    # thinking: 96 of the 580 output tokens, part of the executor's output: 96 x $10 = 960
    assert cost.thinking == D("0.00096")
    # no cache: every prompt token at its model's input rate
    #   412 x 2 + 138 x 10 + 783 x 10 + 400 x 50 + (1,348 + 412) x 2 + 442 x 10
    #   = 824 + 1,380 + 7,830 + 20,000 + 3,520 + 4,420 = 37,974 -> $0.037974
    assert cost.no_cache == D("0.037974")


def test_the_other_reading_of_iterations_is_priced_and_differs():
    """Not documented, kept testable: the top-level usage already totals the executor's turns,
    only the other turns are added: 6,624 + 27,830 = 34,454 micro-dollars."""
    sync, _ = advisor_lines()
    u = Usage.from_sdk(sync["usage"])
    sonnet = get_rates("claude-sonnet-5", False, at=DEC)
    other = price_usage(u, sonnet, reading="top_level_plus_others")
    assert other.own.total == D("0.006624") and other.iterations.total == D("0.02783")
    assert other.total == D("0.034454") != price_usage(u, sonnet).total
    with pytest.raises(ValueError):
        price_usage(u, sonnet, reading="guess")


def test_advisor_sample_through_ingest_sql_and_the_audit(tmp_path, capsys):
    """The same line as a sync Message (standard rates) and as a batch result line (half):
    the SQL view prices it as facts.costs does, and the audit shows the advisor as its own
    component and by type and model."""
    db = tmp_path / "s.duckdb"
    rc, out, err = run(capsys, "ingest", ADVISOR, "--db", db, "--priced-at", "2026-12-01")
    assert rc == 0 and "2 lines read = 2 ingested" in out, err
    costs = exact_costs(db)
    # sync: $0.0372324 as above; batch: every rate halved, 37,232.4 / 2 = 18,616.2 -> $0.0186162
    assert costs["msg_01AdvisorFixtureSync000001"] == (D("0.0372324"), D("0.02783"), D("0.037974"))
    assert costs["msg_01AdvisorFixtureBatch00001"] == (D("0.0186162"), D("0.013915"), D("0.018987"))
    rc, out, err = run(capsys, "audit", "--db", db, "--json")
    got = json.loads(out)
    # 0.0372324 + 0.0186162 = 0.0558486 -> $0.055849 at 6 decimals (to 1e-6)
    assert got["cost_usd"] == 0.055849 and got["iterations_cost_usd"] == 0.041745  # 0.02783 + 0.013915
    assert got["iteration_requests"] == 2
    advisor = next(r for r in got["iterations"] if r["turn_type"] == "advisor_message")
    assert (advisor["model"], advisor["turns"], advisor["output_tokens"], advisor["cost_usd"]) == (
        "claude-fable-5", 2, 800, 0.041745)
    conn = store.connect(db)
    try:
        parts = audit.cost_components(audit.totals(conn)).set_index(["scenario", "component"])["usd"]
    finally:
        conn.close()
    assert parts[("actual", audit.SERVER_TURNS)] == pytest.approx(0.041745, abs=1e-12)
    assert sum(parts["actual"]) == pytest.approx(0.0558486, abs=1e-12)  # the components add up to the cost
    from cachecast.report.charts import COMPONENTS, PALETTE

    assert audit.SERVER_TURNS in PALETTE and audit.SERVER_TURNS in COMPONENTS  # a colour of its own in the chart
    rc, out, _ = run(capsys, "audit", "--db", db)
    assert "server-side turns: 2 advisor_message on claude-fable-5 in 2 request(s), $0.041745" in out


# ------------------------------------------------------------------ Sonnet 4 above 200k (section 3)


def sonnet4_line(cid: str, *, inp: int, read: int = 0, w1: int = 0, out: int, tier: str) -> dict:
    u = Usage(input_tokens=inp, output_tokens=out, cache_creation_input_tokens=w1, cache_read_input_tokens=read,
              cache_write_5m_tokens=0, cache_write_1h_tokens=w1, service_tier=tier)
    message = {"id": f"msg_01{cid}", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
               "content": [], "stop_reason": "end_turn", "stop_sequence": None, "usage": u.to_json()}
    return message if tier == "standard" else {"custom_id": cid, "result": {"type": "succeeded", "message": message}}


def test_sonnet_4_above_200k_input_by_hand(tmp_path, capsys):
    std = get_rates("claude-sonnet-4-20250514", False, at=MAY)
    assert std.long_context_threshold == 200_000 and "sonnet-4-long-context-200k" in std.source
    # 60,000 input + 150,000 read = 210,000 prompt tokens > 200k: every token at the long-context rates
    #   60,000 x $6 + 150,000 x $0.60 + 2,000 x $22.50 = 360,000 + 90,000 + 45,000 = 495,000 -> $0.495
    #   (genai-prices alone, base rates: 180,000 + 45,000 + 30,000 = $0.255)
    assert usage_cost(std, input_tokens=60_000, write_5m=0, write_1h=0, read=150_000, output=2_000) == D("0.495")
    # exactly 200,000 (50,000 + 150,000) is not above: 150,000 + 45,000 + 30,000 = 225,000 -> $0.225
    assert usage_cost(std, input_tokens=50_000, write_5m=0, write_1h=0, read=150_000, output=2_000) == D("0.225")
    # a batch line, 10,000 input + 195,000 written at 1h = 205,000: long context, halved:
    #   10,000 x $3 + 195,000 x $6 + 1,000 x $11.25 = 30,000 + 1,170,000 + 11,250 = 1,211,250 -> $1.21125
    batch = get_rates("claude-sonnet-4-20250514", True, at=MAY)
    assert usage_cost(batch, input_tokens=10_000, write_5m=0, write_1h=195_000, read=0, output=1_000) == D("1.21125")
    # the same three lines through ingest and the SQL view
    path = tmp_path / "sonnet4.jsonl"
    lines = [sonnet4_line("above", inp=60_000, read=150_000, out=2_000, tier="standard"),
             sonnet4_line("at", inp=50_000, read=150_000, out=2_000, tier="standard"),
             sonnet4_line("batch", inp=10_000, w1=195_000, out=1_000, tier="batch")]
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    db = tmp_path / "s.duckdb"
    assert run(capsys, "ingest", path, "--db", db, "--priced-at", "2026-05-01")[0] == 0
    costs = exact_costs(db)
    assert (costs["msg_01above"][0], costs["msg_01at"][0], costs["msg_01batch"][0]) == (D("0.495"), D("0.225"),
                                                                                      D("1.21125"))
    got = json.loads(run(capsys, "audit", "--db", db, "--json")[1])
    assert got["cost_usd"] == 1.93125 and "sonnet-4-long-context-200k" in got["price_source"]  # 0.495 + 0.225 + 1.21125


# ------------------------------------------------------------------ server tools (section 3)


def test_web_fetch_at_its_documented_zero_and_an_unknown_counter_listed_not_dropped(tmp_path, capsys):
    u = Usage(input_tokens=1_000, output_tokens=100, service_tier="standard",
              server_tool_use={"web_search_requests": 2, "web_fetch_requests": 3, "code_execution_requests": 4})
    line = {"id": "msg_01tools", "type": "message", "role": "assistant", "model": "claude-sonnet-5", "content": [],
            "stop_reason": "end_turn", "stop_sequence": None, "usage": u.to_json()}
    # 1,000 x $2 + 100 x $10 = 3,000 micro-dollars; 2 searches x $10 / 1,000 = $0.02; 3 fetches x $0 = 0
    cost = price_usage(u, get_rates("claude-sonnet-5", False, at=DEC))
    assert (cost.own.total, cost.web_search, cost.web_fetch, cost.total) == (D("0.003"), D("0.02"), D(0), D("0.023"))
    assert cost.unpriced == {"code_execution_requests": 4}
    path = tmp_path / "tools.jsonl"
    path.write_text(json.dumps(line) + "\n")
    db = tmp_path / "s.duckdb"
    assert run(capsys, "ingest", path, "--db", db, "--priced-at", "2026-12-01")[0] == 0
    got = json.loads(run(capsys, "audit", "--db", db, "--json")[1])
    assert (got["cost_usd"], got["web_fetch_requests"], got["web_fetch_cost_usd"]) == (0.023, 3, 0.0)
    assert got["unpriced_server_tools"] == [{"counter": "code_execution_requests", "requests": 1, "uses": 4}]
    out = run(capsys, "audit", "--db", db)[1]
    assert "unpriced: 1 request used code_execution_requests (4 uses)" in out


def test_malformed_iterations_are_quarantined_with_their_reason(tmp_path, capsys):
    sync, _ = advisor_lines()
    not_a_list = json.loads(json.dumps(sync))
    not_a_list["id"], not_a_list["usage"]["iterations"] = "msg_01notalist", {"type": "message"}
    negative = json.loads(json.dumps(sync))
    negative["id"] = "msg_01negative"
    negative["usage"]["iterations"][1]["output_tokens"] = -400
    path = tmp_path / "bad.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in (sync, not_a_list, negative)))
    rc, out, err = run(capsys, "ingest", path, "--db", tmp_path / "s.duckdb", "--priced-at", "2026-12-01")
    assert rc == 0 and "3 lines read = 1 ingested + 0 duplicates + 2 quarantined" in out, err
    assert "quarantined 1: usage.iterations is not a list of iteration objects" in out
    assert "quarantined 1: usage.iterations has an entry without its type" in out


def test_an_advisor_on_a_model_without_a_price_quarantines_its_line(tmp_path, capsys):
    sync, _ = advisor_lines()
    unknown = json.loads(json.dumps(sync))
    unknown["id"] = "msg_01unknownadvisor"
    unknown["usage"]["iterations"][1]["model"] = "claude-advisor-9"
    path = tmp_path / "adv.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in (sync, unknown)))
    rc, out, err = run(capsys, "ingest", path, "--db", tmp_path / "s.duckdb", "--priced-at", "2026-12-01")
    assert rc == 0 and "2 lines read = 1 ingested + 0 duplicates + 1 quarantined" in out, err
    assert "no price: no known price for model 'claude-advisor-9'" in out


# ------------------------------------------------------------------ truncated answers (section 5)


def answer(i: int, *, stop: str, out: int = 100, model: str = "claude-haiku-5-5") -> dict:
    u = Usage(input_tokens=1_000, output_tokens=out, service_tier="batch")
    return {"custom_id": f"t{i:04d}", "result": {"type": "succeeded", "message": {
        "id": f"msg_01trunc{i:04d}", "type": "message", "role": "assistant", "model": model, "content": [],
        "stop_reason": stop, "stop_sequence": None, "usage": u.to_json()}}}


def test_truncation_counts_shares_dollars_and_warns_above_one_percent(tmp_path, capsys):
    # Haiku 5.5 batch (0.05 input, 0.25 output per MTok): a line of 1,000 input + 100 output costs
    # 1,000 x 0.05 + 100 x 0.25 = 50 + 25 = 75 micro-dollars; a cut-off one of 1,000 + 8,000 output
    # 50 + 2,000 = 2,050.
    # 200 answers of which 2 cut off = 1.0%: not above the threshold, no warning;
    # 200 of another model of which 3 cut off = 1.5%: a warning, $0.00615 spent on them (3 x 2,050)
    lines = [answer(i, stop="max_tokens" if i < 2 else "end_turn", out=8_000 if i < 2 else 100) for i in range(200)]
    lines += [answer(1000 + i, stop="max_tokens" if i < 3 else "end_turn", out=8_000 if i < 3 else 100,
                     model="claude-sonnet-5-5") for i in range(200)]
    path = tmp_path / "trunc.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    db = tmp_path / "s.duckdb"
    assert run(capsys, "ingest", path, "--db", db, "--priced-at", "2026-12-01")[0] == 0
    got = json.loads(run(capsys, "audit", "--db", db, "--json")[1])
    assert (got["truncated_requests"], got["truncated_share"]) == (5, 5 / 400)
    haiku, sonnet = got["truncated"]["by_group"]
    assert (haiku["model"], haiku["truncated"], haiku["share"], haiku["truncated_cost_usd"]) == (
        "claude-haiku-5-5", 2, 0.01, 0.0041)  # 2 x 2,050
    # Sonnet 5.5 batch (1 input, 5 output): 1,000 x 1 + 8,000 x 5 = 41,000 each; 3 x 41,000 = $0.123
    assert (sonnet["truncated"], sonnet["share"], sonnet["truncated_cost_usd"]) == (3, 0.015, 0.123)
    [warning] = got["truncated"]["warnings"]
    assert warning.startswith("3 of 200 answers of claude-sonnet-5-5 / (no manifest) (1.5%) stopped at max_tokens")
    assert "raise max_tokens" in warning and "effort" in warning
    assert got["truncated_cost_usd"] == 0.1271  # 0.0041 + 0.123
    text = run(capsys, "audit", "--db", db)[1]
    assert "truncated: 5 of 400 answers (1.2%) stopped at max_tokens, $0.1271 spent on them" in text
    assert text.count("warning: ") == 1


def test_truncation_in_the_ledger_and_the_pilot_calibration(tmp_path, capsys, pilot_build):
    from cachecast.plan import calibration

    lines = [answer(i, stop="max_tokens" if i < 30 else "end_turn", out=900 if i < 30 else 100) for i in range(1000)]
    path = tmp_path / "pilot.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    db = tmp_path / "s.duckdb"
    assert run(capsys, "ingest", path, "--db", db, "--manifest", pilot_build, "--priced-at", "2026-12-01")[0] == 0
    led = json.loads(run(capsys, "ledger", "--db", db, "--json")[1])
    # 30 of 1,000 = 3%; each cut-off Haiku 5.5 batch line: 1,000 x 0.05 + 900 x 0.25 = 275 micro-dollars
    assert (led["truncated_requests"], led["truncated_share"], led["truncated_cost_usd"]) == (30, 0.03, 0.00825)
    assert led["batches"][0]["truncated"] == 30
    text = run(capsys, "ledger", "--db", db)[1]
    assert "30 of 1,000 answers (3.0%) stopped at max_tokens" in text and "raise max_tokens" in text
    pilot = calibration.observed_pilot(db)
    assert pilot.truncated == 30 and "the calibrated output is a floor" in pilot.truncation_note()
    assert billed.TRUNCATION_WARN_SHARE == 0.01


def test_iteration_helpers_follow_the_sdk_field_names():
    it = Iteration.from_json({"type": "advisor_message", "model": "claude-fable-5", "input_tokens": 5,
                              "output_tokens": 2, "cache_creation_input_tokens": 7,
                              "cache_creation": {"ephemeral_5m_input_tokens": 3, "ephemeral_1h_input_tokens": 4},
                              "cache_read_input_tokens": 1})
    assert (it.executor, it.writes(), it.to_json()["cache_creation"]) == (
        False, (3, 4), {"ephemeral_5m_input_tokens": 3, "ephemeral_1h_input_tokens": 4})


def test_the_reports_show_server_side_turns_and_truncation(tmp_path, capsys):
    """Notebook 02 shows audit_view.billed(run), notebook 03 audit_view.truncation(view): each in
    a cell of its own, the logic in the library."""
    from cachecast.report import audit_view

    lines = advisor_lines()
    lines[0]["stop_reason"] = "max_tokens"
    path = tmp_path / "adv.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    db = tmp_path / "s.duckdb"
    assert run(capsys, "ingest", path, "--db", db, "--priced-at", "2026-12-01")[0] == 0
    view = audit_view.open_audit(db)  # what notebook 02 opens (it holds no connection)
    text, turns, cut = (x.plain for x in audit_view.billed(view))
    assert "server-side turns: 2 advisor_message on claude-fable-5" in text and "warning: 1 of 2 answers" in text
    assert "advisor_message\tclaude-fable-5\tno\t2\t2" in turns
    assert "claude-sonnet-5\t(no manifest)\t2\t1\t50.0%" in cut
    for notebook, call in (("02_audit_batch.ipynb", "audit_view.billed(run)"),
                           ("03_run_ledger.ipynb", "audit_view.truncation(view)")):
        cells = json.loads((Path(__file__).resolve().parents[1] / "notebooks" / notebook).read_text())["cells"]
        assert any(call in "".join(c["source"]) for c in cells if c["cell_type"] == "code"), notebook


def test_reconcile_sees_the_advisor_under_its_own_model(tmp_path, capsys):
    """The cost report groups by model, and the advisor's turns are billed under the advisor
    model: the store's side of reconcile (sql/analyse/reconcile.sql audited_groups) puts them
    there, and counts the executor's tokens as billed (both its turns), not the top level."""
    db = tmp_path / "s.duckdb"
    assert run(capsys, "ingest", ADVISOR, "--db", db, "--priced-at", "2026-12-01")[0] == 0
    conn = store.connect(db)
    try:
        cur = conn.execute(store.query("analyse/reconcile.sql", "audited_groups"),
                           {"batch_day": "created", "since": DEC, "until": DEC})
        names = [d[0] for d in cur.description]
        rows = {(r["model"], r["service_tier"]): r for r in (dict(zip(names, x)) for x in cur.fetchall())}
    finally:
        conn.close()
    fable, sonnet = rows[("claude-fable-5", "standard")], rows[("claude-sonnet-5", "standard")]
    # advisor: 783 x $10 = $0.00783 input, 400 x $50 = $0.02 output; no request of its own
    assert (fable["requests"], fable["uncached_input_tokens"], fable["uncached_input_usd"], fable["output_tokens"],
            fable["output_usd"]) == (0, 783, D("0.00783"), 400, D("0.02"))
    # executor: 412 + 1,348 = 1,760 input ($0.00352), 412 read ($0.0000824), 138 + 442 = 580 output ($0.0058)
    assert (sonnet["requests"], sonnet["uncached_input_tokens"], sonnet["uncached_input_usd"], sonnet["read_tokens"],
            sonnet["read_usd"], sonnet["output_usd"]) == (1, 1760, D("0.00352"), 412, D("0.0000824"), D("0.0058"))
    assert rows[("claude-fable-5", "batch")]["output_usd"] == D("0.01")  # half, in the batch line
