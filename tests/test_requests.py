"""Anthropic request builder: every caching and sampling rule, one test each."""
from __future__ import annotations

import copy
import json
import math

import pytest

import roles
from _fixtures import LONG_SYSTEM, MODEL, SHORT_SYSTEM, read_jsonl
from cachecast.build.batches import build
from cachecast.errors import CacheRuleError, ConfigError
from cachecast.build.prompts import iter_items, render_payload
from cachecast.build.requests import build_request, params_blocks, ttl_order_ok

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
    built = build_request(project.load(TTL_5M), payload(system=sys_blocks), None)
    assert built.params["system"] == sys_blocks
    assert all(m["role"] != "system" for m in built.params["messages"])
    assert built.params["model"] == MODEL and built.params["max_tokens"] == 4096
    assert "temperature" not in built.params  # 2026-10-21: no sampling params at all
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
    """SHORT_SYSTEM is below the default model's minimum: no breakpoint, reason recorded."""
    built = build_request(project.load(), payload(system=[text(SHORT_SYSTEM, EPH)]), None)
    assert "cache_control" not in json.dumps(built.params)
    assert not built.cacheable and built.breakpoints == 0 and built.prefix_hash is None
    facts = roles.facts(MODEL)
    # 1,200 chars / 4 = 300 classic tokens x the tokenizer factor (1.3 on the 2026 tokenizer: ~390)
    estimate = math.ceil(1200 / 4 * facts.tokenizer_factor)
    assert f"~{estimate} tokens" in built.skip_reason
    assert f"{facts.min_cache_tokens}-token minimum for {MODEL}" in built.skip_reason


def test_short_prompt_skip_reaches_the_manifest(project, tmp_path):
    project.write("system.md", SHORT_SYSTEM)
    result = build(project.load(), tmp_path / "out", progress=False)
    rows = read_jsonl(tmp_path / "out" / "manifest.jsonl")
    assert result.skipped_cache == len(rows) == 6
    below = f"below the {roles.facts(MODEL).min_cache_tokens}-token minimum"
    assert all(not r["cacheable"] and r["breakpoints"] == 0 and below in r["skip_reason"] for r in rows)


def test_long_prompt_passes_the_minimum(project):
    built = build_request(project.load(), payload(), None)
    assert built.cacheable and built.prefix_tokens >= roles.facts(MODEL).min_cache_tokens
    assert len(built.prefix_hash) == 16


def test_prefix_below_minimum_on_tools_only_keeps_the_system_breakpoint(project):
    tools = [{"name": "calc", "input_schema": {"type": "object"}, "cache_control": EPH}]
    built = build_request(project.load(), payload(tools=tools), None)
    assert "cache_control" not in built.params["tools"][0]  # ~20 tokens: dropped
    assert built.params["system"][0]["cache_control"] == EPH_1H
    assert built.breakpoints == 1 and built.cacheable and built.skip_reason is None


def test_builder_does_not_mutate_the_payload(project):
    p = payload(system=[text(LONG_SYSTEM)])
    before = copy.deepcopy(p)
    build_request(project.load(), p, None)
    build_request(project.load(CACHE_OFF), p, None)
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


# --- thinking and sampling rules (checked when the config loads, naming the config key) -----

TEMPERATURE = roles.takes_temperature()
TEMPERATURE_2023 = {"provider": {"model": TEMPERATURE, "api_version": "2023-06-01"}}
BUDGET = {"thinking": {"type": "enabled", "budget_tokens": 2048}, "max_tokens": 4096}


def test_temperature_under_2026_10_21_is_a_config_error_with_the_ways_out(project):
    """The old builder sent it; the API (2026-10-21) rejects it at any value, even 1.0."""
    with pytest.raises(ConfigError) as exc:
        project.load({"temperatures": [1.0]})
    msg = str(exc.value)
    assert "cfg.yaml" in msg and "'temperatures'" in msg and "2026-10-21" in msg
    assert "repeats" in msg and '"2023-06-01"' in msg and TEMPERATURE in msg


def test_temperature_on_2023_06_01_is_built_where_the_model_takes_it(project):
    cfg = project.load({**TEMPERATURE_2023, "temperatures": [0.0, 0.7]})
    params = build_request(cfg, payload(), 0.7).params
    assert params["temperature"] == 0.7 and "temperature" not in build_request(cfg, payload(), None).params


def test_temperature_on_2023_06_01_is_refused_on_a_model_that_rejects_it(project):
    fixed = roles.fixed_temperature()
    with pytest.raises(ConfigError, match=f"{fixed} rejects any non-default temperature"):
        project.load({"provider": {"model": fixed, "api_version": "2023-06-01"}, "temperatures": [0.5]})


def test_temperature_with_thinking_on_2023_06_01_must_stay_default(project):
    with pytest.raises(ConfigError, match="with thinking on the temperature must stay at its default 1.0"):
        project.load({**TEMPERATURE_2023, **BUDGET, "temperatures": [0.0]})


def test_budget_thinking_is_built_where_allowed(project):
    params = build_request(project.load({**TEMPERATURE_2023, **BUDGET}), payload(), None).params
    assert params["thinking"] == {"type": "enabled", "budget_tokens": 2048} and "output_config" not in params


def test_adaptive_thinking_with_effort_goes_to_output_config(project):
    params = build_request(project.load({"thinking": {"type": "adaptive", "effort": "low"}}), payload(), None).params
    assert params["thinking"] == {"type": "adaptive"} and params["output_config"] == {"effort": "low"}


BETWEEN, CAPPED = roles.off_between_tools(), roles.off_capped_effort()
BETWEEN_CAP, CAP = roles.facts(BETWEEN).disable_max_effort, roles.facts(CAPPED).disable_max_effort


@pytest.mark.parametrize("model, thinking, expected", [
    (roles.always_thinks(), {"type": "disabled"}, "thinking.type.disabled\" is not supported"),
    (BETWEEN, {"type": "disabled"}, "between_tools"),
    (BETWEEN, {"type": "between_tools", "effort": "max"}, f"only accepted at effort {BETWEEN_CAP} or lower"),
    (CAPPED, {"type": "disabled", "effort": roles.effort_above(CAP)}, f"only accepted at effort {CAP} or lower"),
    (roles.no_budget_tokens(), {"type": "enabled", "budget_tokens": 2048}, "thinking.type.enabled\" is not supported"),
    (roles.budget_only(), {"type": "adaptive"}, "adaptive thinking is not supported"),
    (roles.budget_only(), {"type": "enabled", "budget_tokens": 2048, "effort": "low"}, "does not accept effort"),
    (roles.takes_budget_tokens(), {"type": "enabled", "budget_tokens": 4096}, "must be less than max_tokens"),
    (roles.takes_budget_tokens(), {"type": "adaptive", "budget_tokens": 2048}, "budget_tokens: Extra inputs"),
])
def test_thinking_shapes_the_model_rejects_are_config_errors(project, model, thinking, expected):
    with pytest.raises(ConfigError) as exc:
        project.load({"provider": {"model": model}, "thinking": thinking, "max_tokens": 4096})
    assert "'thinking'" in str(exc.value) and expected in str(exc.value)


@pytest.mark.parametrize("model, thinking", [
    (BETWEEN, {"type": "between_tools", "effort": BETWEEN_CAP}),
    (CAPPED, {"type": "disabled"}),  # its default effort is within the cap
    (CAPPED, {"type": "disabled", "effort": "low"}),
    (roles.no_thinking(), {"type": "adaptive", "effort": roles.facts(roles.no_thinking()).effort[-1]}),
])
def test_thinking_shapes_the_model_takes_load(project, model, thinking):
    cfg = project.load({"provider": {"model": model}, "thinking": thinking, "max_tokens": 4096})
    assert build_request(cfg, payload(), None).params["thinking"] == {"type": thinking["type"]}


def test_little_room_for_thinking_is_a_warning_with_numbers(project):
    from cachecast.build.config import config_warnings

    cfg = project.load({"thinking": {"type": "adaptive", "effort": "high"}, "max_tokens": 1024,
                        "output_fill_ratio": 0.5})
    (warning,) = config_warnings(cfg)
    assert "max_tokens 1,024 leaves ~512 tokens for thinking after a ~512-token answer" in warning
    assert "effort high" in warning
    assert config_warnings(project.load({"thinking": {"type": "adaptive", "effort": "high"},
                                         "max_tokens": 8192})) == ()


def test_max_tokens_above_the_models_maximum_is_refused(project):
    capped = roles.output_capped()
    cap = roles.facts(capped).max_output
    with pytest.raises(ConfigError, match=f"above {capped}'s {cap:,}-token maximum"):
        project.load({"provider": {"model": capped}, "max_tokens": cap + 1})


def test_unknown_model_lists_close_matches(project):
    typo = ".".join(MODEL.rsplit("-", 1))  # the default's id with its last "-" typed as "."
    with pytest.raises(ConfigError, match=f"close matches: {MODEL}"):
        project.load({"provider": {"model": typo}})


def test_sampling_rules_do_not_apply_to_openai(project):
    project.load({"provider": {"name": "openai", "model": "gpt-4.1"}, **BUDGET, "temperatures": [0.0]})


def test_automatic_caching_adds_a_top_level_marker_that_takes_a_slot(project):
    cfg = project.load({"provider": {"request_overrides": {"cache_control": {"automatic": True}}}})
    built = build_request(cfg, payload(), None)
    assert built.params["cache_control"] == EPH_1H and built.params["system"][0]["cache_control"] == EPH_1H
    assert built.breakpoints == 2 and built.ttl == "1h"


def test_automatic_caching_is_refused_as_a_fifth_breakpoint(project):
    cfg = project.load({"provider": {"request_overrides": {"cache_control": {"automatic": True}}}})
    blocks = [text(LONG_SYSTEM + str(i), EPH) for i in range(4)]
    with pytest.raises(CacheRuleError, match="5 cache_control breakpoints"):
        build_request(cfg, payload(system=blocks), None)


AUTO_5M = {"provider": {"request_overrides": {"cache_control": {"automatic": True, "ttl": "5m"}}}}


def test_a_5m_automatic_breakpoint_after_an_explicit_1h_one_is_built(project):
    """The payload's own 1h system breakpoint, then the 5m automatic one on the (unmarked) last
    block: 1h before 5m, as the prompt-caching docs allow (Automatic caching > Edge cases). The
    builder used to refuse it as a TTL mismatch."""
    built = build_request(project.load(AUTO_5M), payload(system=[text(LONG_SYSTEM, EPH_1H)]), None)
    assert built.params["system"][0]["cache_control"] == EPH_1H and built.params["cache_control"] == EPH
    assert built.breakpoints == 2 and built.ttl == "5m"


def test_an_automatic_ttl_that_differs_from_the_last_blocks_own_is_refused(project):
    user = [text(LONG_SYSTEM), text("What is 2 + 2?", EPH_1H)]  # the last block carries its own 1h breakpoint
    with pytest.raises(CacheRuleError, match="differs from the TTL of the last block's own breakpoint"):
        build_request(project.load(AUTO_5M), payload(system=[text(LONG_SYSTEM, EPH_1H)], user=user), None)


def test_an_automatic_breakpoint_on_a_last_block_with_the_same_ttl_is_a_no_op(project):
    cfg = project.load({"provider": {"request_overrides": {"cache_control": {"automatic": True}}}})
    user = [text(LONG_SYSTEM), text("What is 2 + 2?", EPH_1H)]
    built = build_request(cfg, payload(user=user), None)
    assert built.breakpoints == 2  # system and the last block; the automatic marker adds no slot


def test_prefix_hash_can_be_recomputed_from_the_request_file(pilot_build):
    """Lint re-derives prefixes from request files; it must hash exactly as the builder did."""
    from cachecast.build.requests import block_text, prefix_digest

    line = json.loads((pilot_build / "requests-0001.jsonl").open().readline())
    row = json.loads((pilot_build / "manifest.jsonl").open().readline())
    blocks = params_blocks(line["params"])
    last = max(i for i, b in enumerate(blocks) if "cache_control" in b)
    assert prefix_digest(tuple(block_text(b) for b in blocks[: last + 1])) == row["prefix_hash"]
