"""batches.request_json must be byte-identical to json.dumps(obj, ensure_ascii=False): it only
memoises the escaping of long strings (the shared system prompt) to make builds faster."""
from __future__ import annotations

import json
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from cachecast.build.batches import request_json

LONG = st.text(min_size=256, max_size=600)  # over the memo threshold: exercised through the memo
scalars = (st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True)
           | st.text(max_size=40) | LONG)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=10), inner, max_size=4), max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(values)
def test_matches_json_dumps(value):
    memo: dict[str, str] = {}
    first = request_json(value, memo)
    assert first == json.dumps(value, ensure_ascii=False)
    assert request_json(value, memo) == first  # second time through the memo: same bytes


def test_shared_long_string_and_unusual_values():
    system = "You are careful.\n\"Quote\" \\ back\tslash \u2013 dash \x00 nul " * 20
    memo: dict[str, str] = {}
    line = {"custom_id": "q1__control__t0__r1",
            "params": {"model": "m", "max_tokens": 1024, "temperature": 0.7, "top_p": float("nan"),
                       "system": [{"type": "text", "text": system, "cache_control": {"type": "ephemeral"}}],
                       "messages": [{"role": "user", "content": [{"type": "text", "text": "Problem 1"}]}],
                       "stream": False, "stop_sequences": None, "metadata": {1: "int key"}}}
    assert request_json(line, memo) == json.dumps(line, ensure_ascii=False)  # int key: json.dumps decides
    del line["params"]["metadata"]
    assert request_json(line, memo) == json.dumps(line, ensure_ascii=False)
    assert list(memo) == [system]  # escaped once, reused
    assert math.isnan(json.loads(request_json(line, memo))["params"]["top_p"])


def test_unencodable_value_raises_like_json_dumps():
    import pytest

    with pytest.raises(TypeError):
        request_json({"x": {1, 2}}, {})


def test_memo_stays_bounded_and_correct():
    memo: dict[str, str] = {}
    for i in range(1200):
        value = {"text": f"item {i} " + "x" * 300}
        assert request_json(value, memo) == json.dumps(value, ensure_ascii=False)
    assert len(memo) <= 512
