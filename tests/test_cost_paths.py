"""One cost formula, two languages (issue 21): the Python path (cachecast.facts.costs, which
prices probes and projections) and the SQL view that prices ingested lines (request_costs,
sql/store/views.sql) must agree on every usage. Generated usages (hypothesis) go through the
real ingest, are priced both ways and compared to 1e-9 dollars.

The generator covers what changes a price: batch or standard tier, speed fast (Opus 5.5 sync
lines), the long-context cliffs (Haiku 5.5 above 100k, Sonnet 4 above 200k), cache writes by
TTL with and without the breakdown, thinking, web searches and fetches, and usage.iterations
with executor and advisor turns on other models.

The ids are chosen for the rate structures their published prices have (a long-context cliff,
fast-mode rates, 2026 and 2025 rates), which the last test checks: a role would not promise them."""
from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cachecast import store
from cachecast.facts.costs import price_usage
from cachecast.facts.pricing import get_rates
from cachecast.facts.usage import Iteration, Usage
from cachecast.store import ingest

DAY = date(2026, 5, 1)  # Sonnet 4 is still live (retired 2026-06-15): every model below has a price
MODELS = ("claude-sonnet-5", "claude-haiku-5-5", "claude-sonnet-4-20250514", "claude-opus-5-5", "claude-fable-5")
TOLERANCE = Decimal("1e-9")

tokens = st.integers(min_value=0, max_value=150_000)


@st.composite
def iterations(draw) -> tuple[Iteration, ...]:
    turns = []
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        kind = draw(st.sampled_from(("message", "advisor_message", "compaction", "fallback_message")))
        model = draw(st.sampled_from(MODELS)) if kind in ("advisor_message", "fallback_message") else None
        creation, split = draw(tokens), draw(st.booleans())
        w5 = draw(st.integers(min_value=0, max_value=creation)) if split else None
        turns.append(Iteration(type=kind, model=model, input_tokens=draw(tokens), output_tokens=draw(tokens),
                               cache_creation_input_tokens=creation, cache_read_input_tokens=draw(tokens),
                               cache_write_5m_tokens=w5, cache_write_1h_tokens=creation - w5 if split else None))
    return tuple(turns)


@st.composite
def lines(draw) -> tuple[str, Usage]:
    model = draw(st.sampled_from(MODELS))
    batch = draw(st.booleans())
    creation, split = draw(tokens), draw(st.booleans())
    w5 = draw(st.integers(min_value=0, max_value=creation)) if split else None
    out = draw(tokens)
    fast = not batch and model == "claude-opus-5-5" and draw(st.booleans())
    tools = {"web_search_requests": draw(st.integers(0, 5)), "web_fetch_requests": draw(st.integers(0, 5))}
    usage = Usage(input_tokens=draw(tokens), output_tokens=out, cache_creation_input_tokens=creation,
                  cache_read_input_tokens=draw(tokens), cache_write_5m_tokens=w5,
                  cache_write_1h_tokens=creation - w5 if split else None,
                  thinking_tokens=draw(st.integers(min_value=0, max_value=out)),
                  service_tier="batch" if batch else "standard", speed="fast" if fast else "standard",
                  server_tool_use=tools if draw(st.booleans()) else {}, iterations=draw(iterations()))
    return model, usage


def line(i: int, model: str, usage: Usage) -> dict:
    message = {"id": f"msg_01gen{i:04d}", "type": "message", "role": "assistant", "model": model, "content": [],
               "stop_reason": "end_turn", "stop_sequence": None, "usage": usage.to_json()}
    return {"custom_id": f"g{i:04d}", "result": {"type": "succeeded", "message": message}}


def python_cost(model: str, usage: Usage):
    rates = get_rates(model, usage.service_tier == "batch", at=DAY, speed=usage.speed)
    return price_usage(usage, rates)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(lines(), min_size=1, max_size=8))
def test_python_and_sql_price_every_generated_usage_alike(tmp_path_factory, generated):
    folder = tmp_path_factory.mktemp("paths")
    path, db = folder / "results.jsonl", folder / "s.duckdb"
    path.write_text("".join(json.dumps(line(i, m, u)) + "\n" for i, (m, u) in enumerate(generated)))
    conn = store.connect(db)
    try:
        [report] = ingest.ingest_paths(conn, [path], batch_id="gen", progress=False, created_at=DAY,
                                       created_at_source="priced-at")
        assert report.ingested == len(generated) and report.quarantined == 0
        rows = {m: (c, n, it, th) for m, c, n, it, th in conn.execute(
            "SELECT message_id, cost_usd, no_cache_cost_usd, iterations_cost_usd, thinking_cost_usd "
            "FROM request_costs").fetchall()}
    finally:
        conn.close()
    for i, (model, usage) in enumerate(generated):
        want = python_cost(model, usage)
        cost, no_cache, turns, thinking = rows[f"msg_01gen{i:04d}"]
        assert abs(cost - want.total) <= TOLERANCE, (i, model, usage, cost, want)
        assert abs(no_cache - want.no_cache) <= TOLERANCE, (i, model, usage, no_cache, want)
        assert abs(turns - want.iterations.total) <= TOLERANCE, (i, model, usage)
        assert abs(thinking - want.thinking) <= TOLERANCE, (i, model, usage)


def test_the_generator_reaches_the_tiers_it_claims(tmp_path):
    """The comparison above is only as good as its inputs: the cliffs and the fast rates are
    reachable by the generated counts (150,000 x 3 > 200,000), and they change the price."""
    haiku = get_rates("claude-haiku-5-5", False, at=DAY)
    sonnet4 = get_rates("claude-sonnet-4-20250514", False, at=DAY)
    fast = get_rates("claude-opus-5-5", False, at=DAY, speed="fast")
    assert haiku.long_context_threshold == 100_000 and sonnet4.long_context_threshold == 200_000
    assert 3 * 150_000 > sonnet4.long_context_threshold and fast.input > get_rates("claude-opus-5-5", False, at=DAY).input
