"""The cache-accounting emulator: each test works the expected usage out by hand.

Token arithmetic: MODEL (a role, tests/roles.py) has the classic tokenizer (factor 1.0) and a
1024-token minimum, so a prefix of C characters is ceil(C / 4) tokens."""
from __future__ import annotations

import json

import pytest
from anthropic.types.messages import MessageBatchIndividualResponse

import roles
from cachecast.send import sim

MODEL = roles.min_cache(1024, tokenizer="classic")
BIG = "s" * 8000        # 8000 chars -> 2000 tokens, above the 1024 minimum
SMALL = "s" * 2000      # 2000 chars -> 500 tokens, below it


def req(cid, system=BIG, user="u" * 400, ttl="1h", extra_system=None, user_bp=None):
    system_blocks = [{"type": "text", "text": system, "cache_control": {"type": "ephemeral", "ttl": ttl}}]
    if extra_system:
        system_blocks.append({"type": "text", "text": extra_system})
    user_block = {"type": "text", "text": user}
    if user_bp:
        user_block["cache_control"] = {"type": "ephemeral", "ttl": user_bp} if user_bp == "1h" else {"type": "ephemeral"}
    return {"custom_id": cid, "params": {"model": MODEL, "max_tokens": 100, "system": system_blocks,
                                         "messages": [{"role": "user", "content": [user_block]}]}}


def usages(lines):
    return [line["result"]["message"]["usage"] for line in lines]


def run(requests, **kw):
    kw.setdefault("hit_probability", 1.0)
    return sim.simulate_lines(requests, **kw)


def test_first_wave_writes_later_waves_read():
    # concurrency 2: requests 0 and 1 start together (neither can read the other's entry),
    # request 2 starts in wave 2 and reads the 2000-token system prefix.
    # user 400 chars -> 100 tokens after the breakpoint.
    u = usages(run([req("a"), req("b"), req("c")], concurrency=2))
    assert [x["cache_creation"]["ephemeral_1h_input_tokens"] for x in u] == [2000, 2000, 0]
    assert [x["cache_read_input_tokens"] for x in u] == [0, 0, 2000]
    assert [x["input_tokens"] for x in u] == [100, 100, 100]
    assert all(x["cache_creation"]["ephemeral_5m_input_tokens"] == 0 for x in u)
    assert all(x["cache_creation_input_tokens"] == x["cache_creation"]["ephemeral_1h_input_tokens"] for x in u)


def test_prefix_below_minimum_is_not_cached():
    # 2000 chars -> 500 tokens < 1024: processed uncached, both counters 0; input = 500 + 100
    u = usages(run([req("a", system=SMALL), req("b", system=SMALL)], concurrency=1))
    assert [(x["input_tokens"], x["cache_creation_input_tokens"], x["cache_read_input_tokens"]) for x in u] \
        == [(600, 0, 0), (600, 0, 0)]


def test_one_character_of_drift_is_a_different_entry():
    u = usages(run([req("a"), req("b", system=BIG[:-1] + "t")], concurrency=1))
    assert [x["cache_read_input_tokens"] for x in u] == [0, 0]


def test_5m_entry_expires_between_waves_1h_survives():
    # 3 requests, concurrency 1, spread over 18 minutes: starts at 0, 6, 12 minutes.
    # 5m: every gap (6 min) exceeds the TTL, so all three write. 1h: the last two read.
    five = usages(run([req(c, ttl="5m") for c in "abc"], concurrency=1, duration_minutes=18))
    hour = usages(run([req(c, ttl="1h") for c in "abc"], concurrency=1, duration_minutes=18))
    assert [x["cache_creation"]["ephemeral_5m_input_tokens"] for x in five] == [2000, 2000, 2000]
    assert [x["cache_read_input_tokens"] for x in hour] == [0, 2000, 2000]


def test_hits_refresh_the_5m_ttl():
    # starts at 0, 4, 8 minutes (12 min / 3 waves). Written at 0 -> expires at 5; the hit at 4
    # refreshes it to 9, so the request at 8 still reads. Without refresh it would miss.
    u = usages(run([req(c, ttl="5m") for c in "abc"], concurrency=1, duration_minutes=12))
    assert [x["cache_read_input_tokens"] for x in u] == [0, 2000, 2000]


def test_mixed_ttls_bill_1h_then_5m():
    # 1h breakpoint after the 8000-char system (2000 tokens), 5m breakpoint on the user block:
    # the prefix to it is 8000 + 400 = 8400 chars -> 2100 tokens.
    # a: nothing cached -> 1h write 2000, 5m write 2100 - 2000 = 100, input 0.
    # b: different user text, same system -> reads 2000, writes 5m 2100 - 2000 = 100.
    u = usages(run([req("a", user_bp="5m"), req("b", user="v" * 400, user_bp="5m")], concurrency=1))
    assert u[0]["cache_creation"] == {"ephemeral_1h_input_tokens": 2000, "ephemeral_5m_input_tokens": 100}
    assert (u[0]["input_tokens"], u[0]["cache_read_input_tokens"]) == (0, 0)
    assert u[1]["cache_creation"] == {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 100}
    assert (u[1]["input_tokens"], u[1]["cache_read_input_tokens"]) == (0, 2000)


def test_treatment_text_after_the_breakpoint_still_hits():
    # the treatment suffix sits after the breakpoint: it is input, not part of the key.
    # suffix 200 chars + user 400 chars = 600 chars -> 150 tokens of input.
    u = usages(run([req("a"), req("b", extra_system="t" * 200)], concurrency=1))
    assert u[1]["cache_read_input_tokens"] == 2000 and u[1]["input_tokens"] == 150


def test_best_effort_is_seeded_and_roughly_the_probability():
    requests = [req(f"r{i}") for i in range(400)]
    first = run(requests, concurrency=10, hit_probability=0.5, seed=7)
    assert first == run(requests, concurrency=10, hit_probability=0.5, seed=7)
    hits = sum(x["cache_read_input_tokens"] > 0 for x in usages(first))
    assert 0.4 * 390 < hits < 0.6 * 390  # 390 requests after the first wave, about half read


def test_result_lines_are_exact_batch_format_and_marked_simulated():
    lines = sim.simulate_lines([req(f"r{i}") for i in range(6)], errored=1, expired=2)
    parsed = [MessageBatchIndividualResponse.model_validate(line) for line in lines]
    assert [p.result.type for p in parsed] == ["errored", "expired", "expired", "succeeded", "succeeded", "succeeded"]
    ok = [p.result.message for p in parsed if p.result.type == "succeeded"]
    assert all(m.id.startswith("msg_sim_") and sim.is_simulated(m.id) for m in ok)
    assert all(m.usage.service_tier == "batch" and 1 <= m.usage.output_tokens <= 100 for m in ok)
    assert len({m.id for m in ok}) == 3


def test_simulate_files_writes_jsonl_and_summary(tmp_path):
    src = tmp_path / "requests-0001.jsonl"
    src.write_text("".join(json.dumps(req(c)) + "\n" for c in "abcd"))
    summary = sim.simulate_files([src], tmp_path / "out.jsonl", concurrency=2, hit_probability=1.0)
    # wave 1 (a, b) writes 2000 each; wave 2 (c, d) reads 2000 each; 4 x 100 input.
    # token hit rate = 4000 / (400 + 4000 + 4000) = 0.47619...
    assert (summary.succeeded, summary.cache_read_input_tokens, summary.cache_creation_input_tokens) == (4, 4000, 4000)
    assert summary.token_hit_rate == pytest.approx(4000 / 8400)
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 4
    assert not (tmp_path / "out.jsonl.part").exists()


def test_expected_hit_rates_5m_vs_1h():
    # 1200 requests, 100 at a time -> 12 waves over 60 minutes, 5 minutes apart.
    # 5m: each entry is dead when the next wave starts -> no hits.
    # 1h: waves 2..12 read (hit probability 1) -> 1100 / 1200 = 0.9167 of requests;
    # tokens: 1100 x 2000 read / (1200 x 2200 prompt) = 0.8333.
    table = sim.expected_hit_rates(1200, 100, hit_probability=1.0)
    rows = {r.ttl: r for r in table.itertuples()}
    assert rows["5m"].request_hit_rate == 0.0
    assert rows["1h"].request_hit_rate == pytest.approx(0.9167, abs=1e-4)
    assert rows["1h"].token_hit_rate == pytest.approx(0.8333, abs=1e-4)
    assert rows["5m"].waves == 12 and rows["5m"].minutes_between_waves == 5.0
    assert table["simulated"].all()


def test_lookback_finds_an_entry_written_at_an_earlier_block():
    # a writes at its system breakpoint (block 0, 2000 tokens). b has the same system block
    # but its only breakpoint is on the user block (block 1): looking back one block it finds
    # a's entry, reads 2000, and writes its own prefix 8400 chars -> 2100 tokens: 100 more (1h).
    b = req("b", user_bp="1h")
    del b["params"]["system"][0]["cache_control"]
    u = usages(run([req("a"), b], concurrency=1))
    assert u[1]["cache_read_input_tokens"] == 2000
    assert u[1]["cache_creation"] == {"ephemeral_1h_input_tokens": 100, "ephemeral_5m_input_tokens": 0}
    assert u[1]["input_tokens"] == 0


def test_hit_rate_table_labels_each_run():
    table = sim.hit_rate_table([("pilot", 1200), ("full", 30000)], 100, hit_probability=1.0)
    assert list(table["run"]) == ["pilot", "pilot", "full", "full"]
    # full run: 300 waves over 60 minutes, 12 s apart; both TTLs survive: 29,900 / 30,000 read
    assert list(table["request_hit_rate"][2:]) == [pytest.approx(0.9967, abs=1e-4)] * 2
