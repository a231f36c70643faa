"""Anthropic request builder: every caching and sampling rule, one test each."""
from __future__ import annotations

import copy
import json

import pytest

from _fixtures import LONG_SYSTEM, SHORT_SYSTEM, read_jsonl
from cachecast.batches import build
from cachecast.errors import CacheRuleError, ConfigError
from cachecast.prompts import iter_items, render_payload
from cachecast.requests import build_request, check_sampling, params_blocks, ttl_order_ok

EPH = {"type": "ephemeral"}
EPH_1H = {"type": "ephemeral", "ttl": "1h"}
TTL_5M = {"provider": {"request_overrides": {"cache_control": {"ttl": "5m"}}}}
CACHE_OFF = {"provider": {"request_overrides": {"cache_control": {"enable_system_cache": False}}}}


def text(t, cc=None):
    block = {"type": "text", "text": t}
    if cc is not None:
        block["cache_control"] = cc
    return block


def payload(system=None, user=None, tools=None):
    msgs = [{"role": "system", "content": system if system is not None else [text(LONG_SYSTEM, EPH)]},
            {"role": "user", "content": user if user is not None else [text("What is 2 + 2?")]}]
    out = {"messages": msgs}
    if tools is not None:
        out["tools"] = tools
    return out


def test_blocks_are_forwarded_unchanged(project):
    """No flattening: multi-block user turns and non-text blocks arrive as sent."""
    user = [text("Look at this:"),
            {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}},
            text("and answer.")]
    assistant = {"role": "assistant", "content": [text("Let me think.")]}
    p = payload(user=user)
    p["messages"] += [assistant, {"role": "user", "content": [text("Go on.")]}]
    params = build_request(project.load(), p, None).params
    assert params["messages"] == [{"role": "user", "content": user}, assistant,
                                  {"role": "user", "content": [text("Go on.")]}]


def test_system_moves_to_top_level_and_keeps_its_breakpoint(project):
    sys_blocks = [text(LONG_SYSTEM, EPH), text("Arm-specific line.")]
    built = build_request(project.load(TTL_5M), payload(system=sys_blocks), 0.0)
    assert built.params["system"] == sys_blocks
    assert all(m["role"] != "system" for m in built.params["messages"])
    assert built.params["model"] == "claude-sonnet-4-5" and built.params["max_tokens"] == 256
    assert built.params["temperature"] == 0.0
    assert built.breakpoints == 1 and built.cacheable and built.skip_reason is None


def test_breakpoint_injected_on_last_system_block_when_payload_has_none(project):
    built = build_request(project.load(), payload(system=[text(LONG_SYSTEM), text("More rules.")]), None)
    assert built.params["system"] == [text(LONG_SYSTEM), text("More rules.", EPH_1H)]
    assert built.breakpoints == 1 and built.ttl == "1h"


def test_string_system_content_becomes_a_block_with_breakpoint(project):
    built = build_request(project.load(TTL_5M), payload(system=LONG_SYSTEM, user="Hi"), None)
    assert built.params["system"] == [text(LONG_SYSTEM, EPH)]
    assert built.params["messages"] == [{"role": "user", "content": [text("Hi")]}]


def test_no_breakpoint_when_caching_disabled(project):
    p = payload(system=[text(LONG_SYSTEM, EPH)], user=[text("q", EPH)])
    built = build_request(project.load(CACHE_OFF), p, None)
    assert "cache_control" not in json.dumps(built.params)
    assert built.breakpoints == 0 and not built.cacheable and built.ttl is None and built.prefix_hash is None
    assert built.prefix_tokens == 0 and built.rest_tokens > 1000


def test_ttl_5m_omits_ttl_and_1h_sets_it(project):
    five = build_request(project.load(TTL_5M), payload(), None)
    hour = build_request(project.load(), payload(), None)
    assert five.params["system"][0]["cache_control"] == {"type": "ephemeral"}  # exactly: no "ttl" key
    assert hour.params["system"][0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
    assert (five.ttl, hour.ttl) == ("5m", "1h")


def test_five_breakpoints_are_refused(project):
    tools = [{"name": f"t{i}", "description": LONG_SYSTEM, "input_schema": {"type": "object"}, "cache_control": EPH}
             for i in range(3)]  # each prefix is above the minimum, so no breakpoint is dropped as too short
    p = payload(user=[text("ctx", EPH), text("q")], tools=tools)
    with pytest.raises(CacheRuleError, match="5 cache_control breakpoints; Anthropic accepts at most 4"):
        build_request(project.load(), p, None)
    # four is fine
    p["tools"] = tools[:2]
    assert build_request(project.load(), p, None).breakpoints == 4


def test_5m_before_1h_is_refused(project):
    p = payload(system=[text(LONG_SYSTEM, {"type": "ephemeral", "ttl": "5m"})],
                user=[text(LONG_SYSTEM, {"type": "ephemeral", "ttl": "1h"}), text("q")])
    with pytest.raises(CacheRuleError, match="1h cache_control breakpoint comes after a 5m one"):
        build_request(project.load(TTL_5M), p, None)


def test_1h_before_5m_is_allowed(project):
    p = payload(system=[text(LONG_SYSTEM, EPH_1H)], user=[text(LONG_SYSTEM, {"type": "ephemeral", "ttl": "5m"}),
                                                          text("q")])
    built = build_request(project.load(TTL_5M), p, None)
    assert built.params["system"][0]["cache_control"] == EPH_1H
    assert built.params["messages"][0]["content"][0]["cache_control"] == EPH
    assert built.ttl == "5m" and built.breakpoints == 2


def test_ttl_order_rule():
    assert ttl_order_ok(["1h", "1h", "5m"]) and ttl_order_ok(["5m"]) and ttl_order_ok([])
    assert not ttl_order_ok(["5m", "1h"]) and not ttl_order_ok(["1h", "5m", "1h"])


def test_short_prompt_skips_the_breakpoint_and_says_why(project):
    """~900 estimated tokens on Sonnet 4.5 (minimum 1,024): no breakpoint, reason recorded."""
    built = build_request(project.load(), payload(system=[text(SHORT_SYSTEM, EPH)]), None)
    assert "cache_control" not in json.dumps(built.params)
    assert not built.cacheable and built.breakpoints == 0 and built.prefix_hash is None
    assert "~900 tokens" in built.skip_reason and "1024-token minimum for claude-sonnet-4-5" in built.skip_reason


def test_short_prompt_skip_reaches_the_manifest(project, tmp_path):
    project.write("system.md", SHORT_SYSTEM)
    result = build(project.load(), tmp_path / "out", progress=False)
    rows = read_jsonl(tmp_path / "out" / "manifest.jsonl")
    assert result.skipped_cache == len(rows) == 6
    assert all(not r["cacheable"] and r["breakpoints"] == 0 and "below the 1024-token minimum" in r["skip_reason"]
               for r in rows)


def test_long_prompt_passes_the_minimum(project):
    built = build_request(project.load(), payload(), None)
    assert built.cacheable and built.prefix_tokens >= 1024 and len(built.prefix_hash) == 16


def test_prefix_below_minimum_on_tools_only_keeps_the_system_breakpoint(project):
    tools = [{"name": "calc", "input_schema": {"type": "object"}, "cache_control": EPH}]
    built = build_request(project.load(), payload(tools=tools), None)
    assert "cache_control" not in built.params["tools"][0]  # ~20 tokens: dropped
    assert built.params["system"][0]["cache_control"] == EPH_1H
    assert built.breakpoints == 1 and built.cacheable and built.skip_reason is None


def test_builder_does_not_mutate_the_payload(project):
    p = payload(system=[text(LONG_SYSTEM)])
    before = copy.deepcopy(p)
    build_request(project.load(), p, 0.0)
    build_request(project.load(CACHE_OFF), p, 0.0)
    assert p == before


def test_shared_control_arms_share_one_prefix_hash_and_variants_do_not(project):
    cfg = project.load({"treatments": [{"name": "control"}, {"name": "concise", "system_suffix_file": "concise.md"},
                                       {"name": "own", "system_file": "verify.md"}]})
    item = next(iter_items(cfg))
    hashes = {t.name: build_request(cfg, render_payload(cfg, item, t), None).prefix_hash for t in cfg.treatments}
    assert hashes["control"] == hashes["concise"]
    assert hashes["own"] is None  # verify.md is a few tokens: below the minimum, so not cached at all


def test_params_blocks_reads_built_params_in_prefix_order():
    params = {"tools": [{"name": "a"}], "system": "S", "messages": [{"role": "user", "content": "U"},
                                                                      {"role": "assistant", "content": [text("A")]}]}
    assert params_blocks(params) == [{"name": "a"}, text("S"), text("U"), text("A")]


# --- thinking and sampling rules (checked per config, naming the config key) ----------------

THINK = {"thinking": {"type": "enabled", "budget_tokens": 2048}, "max_tokens": 4096}


def test_thinking_with_non_default_temperature_names_the_keys(project):
    with pytest.raises(ConfigError) as exc:
        check_sampling(project.load({**THINK, "temperatures": [0.0]}))
    msg = str(exc.value)
    assert "cfg.yaml" in msg and "'temperatures' has 0.0" in msg and "'thinking'" in msg and "1.0" in msg


def test_thinking_with_default_temperature_is_built(project):
    cfg = project.load({**THINK, "temperatures": [1.0, None]})
    check_sampling(cfg)
    params = build_request(cfg, payload(), 1.0).params
    assert params["thinking"] == {"type": "enabled", "budget_tokens": 2048} and params["temperature"] == 1.0
    assert "temperature" not in build_request(cfg, payload(), None).params


@pytest.mark.parametrize("thinking, max_tokens, key", [
    ({"type": "enabled"}, 4096, "'thinking.budget_tokens' is required"),
    ({"type": "enabled", "budget_tokens": 4096}, 4096, "'thinking.budget_tokens' (4096) must be below 'max_tokens'"),
    ({"type": "adaptive", "budget_tokens": 2048}, 4096, "'thinking.budget_tokens' is only accepted with"),
])
def test_thinking_budget_rules(project, thinking, max_tokens, key):
    with pytest.raises(ConfigError) as exc:
        check_sampling(project.load({"thinking": thinking, "max_tokens": max_tokens, "temperatures": [None]}))
    assert key in str(exc.value)


OPUS_47 = {"provider": {"model": "claude-opus-4-7"}}


def test_opus_4_7_rejects_non_default_temperature(project):
    with pytest.raises(ConfigError) as exc:
        check_sampling(project.load({**OPUS_47, "temperatures": [0.5]}))
    assert "'temperatures' has 0.5" in str(exc.value) and "claude-opus-4-7" in str(exc.value)
    assert "temperatures: [null]" in str(exc.value)


def test_opus_4_7_rejects_budget_thinking_and_takes_adaptive(project):
    with pytest.raises(ConfigError, match="'thinking.type' is 'enabled'.*only takes adaptive"):
        check_sampling(project.load({**OPUS_47, **THINK, "temperatures": [None]}))
    cfg = project.load({**OPUS_47, "thinking": {"type": "adaptive"}, "temperatures": [None, 1.0]})
    check_sampling(cfg)
    params = build_request(cfg, payload(), 1.0).params
    assert params["thinking"] == {"type": "adaptive"} and "temperature" not in params  # default is sent as absent


def test_sampling_rules_do_not_apply_to_openai(project):
    check_sampling(project.load({"provider": {"name": "openai", "model": "gpt-4.1"}, **THINK, "temperatures": [0.0]}))


def test_prefix_hash_can_be_recomputed_from_the_request_file(pilot_build):
    """Lint re-derives prefixes from request files; it must hash exactly as the builder did."""
    from cachecast.requests import block_text, prefix_digest

    line = json.loads((pilot_build / "requests-0001.jsonl").open().readline())
    row = json.loads((pilot_build / "manifest.jsonl").open().readline())
    blocks = params_blocks(line["params"])
    last = max(i for i, b in enumerate(blocks) if "cache_control" in b)
    assert prefix_digest(tuple(block_text(b) for b in blocks[: last + 1])) == row["prefix_hash"]
