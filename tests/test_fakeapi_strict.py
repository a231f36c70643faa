"""The fake server is as strict as the real API: one test per rule, through the real SDK.

Every server test here would fail on the old lenient server (it accepted any params at
create time and simulated them, ignored the API version, took x-api-key, had no archive,
no /v1/messages, no /v1/models); each says why in a comment. Rules come from FACTS.md
(December 2026) and cachecast.facts.models; expectations are derived from the same facts, not
copied from the server's output.
"""
from __future__ import annotations

import collections.abc
import typing
from datetime import datetime, timedelta, timezone

import anthropic
import httpx
import pytest
from typing_extensions import NotRequired, Required, is_typeddict

import roles
from cachecast.facts import models, sdk_types
from fakeapi import MAX_BODY_BYTES, FakeAnthropic

PINNED = {"anthropic-version": "2023-06-01"}
SYSTEM_1H = [{"type": "text", "text": "x" * 4000, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]


def params(model: str = roles.default(), **extra) -> dict:
    return {"model": model, "max_tokens": 200, "system": SYSTEM_1H,
            "messages": [{"role": "user", "content": "What is 2+2?"}], **extra}


def run_batch(server: FakeAnthropic, *bodies: dict, **client_kw) -> list:
    """Create one batch of these params through the SDK; its results, in request order."""
    client = server.client(**client_kw)
    batch = client.messages.batches.create(requests=[{"custom_id": f"r{i}", "params": p} for i, p in enumerate(bodies)])
    order = {f"r{i}": i for i in range(len(bodies))}
    return sorted(client.messages.batches.results(batch.id), key=lambda r: order[r.custom_id])


def error_of(result) -> tuple[str, str]:
    assert result.result.type == "errored", result.result
    return result.result.error.error.type, result.result.error.error.message


# ------------------------------------------------------------------ API version and sampling


def test_temperature_under_2026_10_21_is_an_errored_line(fake_api):
    # old server: simulated it as succeeded (it never looked at temperature)
    ok, hot = run_batch(fake_api, params(), params(temperature=1.0))
    assert ok.result.type == "succeeded"
    kind, message = error_of(hot)
    assert kind == "invalid_request_error" and message.startswith("temperature: Extra inputs are not permitted")


def test_pinned_2023_06_01_keeps_temperature_only_where_the_model_takes_it(fake_api):
    # old server: both succeeded. Under 2023-06-01, 1.0 is the default and accepted everywhere,
    # so a non-default value shows the per-model rule (FACTS: only Opus 4.5/4.6, Sonnet 4.6, Haiku 4.5).
    takes, refuses = models.model_facts(roles.takes_temperature()), models.model_facts(roles.fixed_temperature())
    assert takes.sampling_2023 and not refuses.sampling_2023
    old, new = run_batch(fake_api, params(takes.id, temperature=0.7),
                         params(refuses.id, temperature=0.7), default_headers=PINNED)
    assert old.result.type == "succeeded"
    expected = models.sampling_problem(refuses, "2023-06-01", {"temperature": 0.7})
    assert error_of(new)[1] == expected and "deprecated" in expected


def test_the_batch_follows_the_version_of_its_create_call(fake_api):
    # old server: no notion of a version; the same line succeeds pinned and errors on the default
    pinned = run_batch(fake_api, params(roles.takes_temperature(), temperature=0.7), default_headers=PINNED)
    default = run_batch(fake_api, params(roles.takes_temperature(), temperature=0.7))
    assert pinned[0].result.type == "succeeded" and default[0].result.type == "errored"
    assert fake_api.batches[next(iter(fake_api.batches))].api_version == "2023-06-01"


@pytest.mark.parametrize("version, message", [
    (None, "anthropic-version: header is required"),
    ("2024-01-01", "'2024-01-01' is not a valid version"),
])
def test_anthropic_version_header_is_required_and_checked(fake_api, version, message):
    # old server: ignored the header
    headers = {"authorization": "Bearer k", **({"anthropic-version": version} if version else {})}
    resp = httpx.get(f"{fake_api.url}/v1/messages/batches", headers=headers)
    assert resp.status_code == 400 and message in resp.json()["error"]["message"]


# ------------------------------------------------------------------ models and params


def test_retired_model_is_an_errored_line(fake_api, retired_model):
    # old server: simulated a retired model as succeeded
    facts = models.model_facts(retired_model)
    assert models.lifecycle_on(facts, models.today()) == "retired"
    kind, message = error_of(run_batch(fake_api, params(retired_model))[0])
    assert kind == "invalid_request_error" and "retired" in message and facts.replacement in message


def test_unknown_model_is_not_found(fake_api):
    # old server: simulated it, or crashed inside sim (model table lookup)
    kind, message = error_of(run_batch(fake_api, params("claude-nonesuch-9"))[0])
    assert (kind, message) == ("not_found_error", "model: claude-nonesuch-9")


@pytest.mark.parametrize("extra, path", [
    ({"top_logprobs": 3}, "top_logprobs"),
    ({"messages": [{"role": "user", "content": [{"type": "text", "text": "q", "colour": "red"}]}]},
     "messages.0.content.0.colour"),
])
def test_unknown_key_is_extra_input(fake_api, extra, path):
    # old server: never looked at unknown keys
    message = error_of(run_batch(fake_api, params(**extra))[0])[1]
    assert message == f"{path}: Extra inputs are not permitted"


def test_wrong_type_uses_the_api_wording(fake_api):
    # old server: only checked that max_tokens was an int >= 1 at create time
    message = error_of(run_batch(fake_api, params(max_tokens="200"))[0])[1]
    assert message == "max_tokens: Input should be a valid integer"


def test_thinking_disabled_where_thinking_cannot_be_off_is_errored(fake_api):
    # old server: simulated it (this model cannot turn adaptive thinking off)
    facts = models.model_facts(roles.always_thinks())
    assert "disabled" not in facts.thinking_modes
    message = error_of(run_batch(fake_api, params(facts.id, thinking={"type": "disabled"}))[0])[1]
    assert message == models.thinking_problem(facts, {"type": "disabled"}, None, 200)


def test_budget_tokens_where_the_model_refuses_them_is_errored(fake_api):
    # old server: simulated it (enabled + budget_tokens is a 400 from Opus 4.7 on)
    p = params(roles.no_budget_tokens(), max_tokens=4000, thinking={"type": "enabled", "budget_tokens": 2000})
    facts = models.model_facts(roles.no_budget_tokens())
    assert "enabled" not in facts.thinking_modes
    assert error_of(run_batch(fake_api, p)[0])[1] == models.thinking_problem(facts, p["thinking"], None, 4000)


def test_geo_on_an_old_model_and_fast_mode_in_a_batch_are_errored(fake_api):
    # old server: simulated both
    geo_p, fast_p = params(roles.no_geo(), inference_geo="us"), params(roles.fast(), speed="fast")
    geo, fast = run_batch(fake_api, geo_p, fast_p)
    assert error_of(geo)[1] == models.geo_problem(models.model_facts(roles.no_geo()), geo_p)
    assert error_of(fast)[1] == models.speed_problem(models.model_facts(roles.fast()), fast_p, in_batch=True)


def test_max_tokens_above_the_models_maximum_is_errored(fake_api):
    # old server: any max_tokens >= 1 went through
    ceiling = models.model_facts(roles.output_capped()).max_output
    message = error_of(run_batch(fake_api, params(roles.output_capped(), max_tokens=ceiling + 1))[0])[1]
    assert f"{ceiling + 1} > {ceiling}" in message


def test_breakpoint_limits(fake_api):
    # old server: no cache_control rules at all; then it refused a 5m automatic breakpoint after an
    # explicit 1h one, which the prompt-caching docs allow (Automatic caching > Edge cases: only a
    # different TTL on the last block itself is a 400)
    block = {"type": "text", "text": "y", "cache_control": {"type": "ephemeral"}}
    five = params(system=[*SYSTEM_1H, *[dict(block) for _ in range(3)]], cache_control={"type": "ephemeral"})
    after_1h = params(cache_control={"type": "ephemeral"})  # the last block (the question) is unmarked
    marked_last = params(messages=[{"role": "user", "content": [
        {"type": "text", "text": "q", "cache_control": {"type": "ephemeral", "ttl": "1h"}}]}],
        cache_control={"type": "ephemeral"})
    order = params(system=[{**SYSTEM_1H[0], "cache_control": {"type": "ephemeral"}}],
                   cache_control={"type": "ephemeral", "ttl": "1h"})  # 5m explicit, then a 1h automatic
    too_many, accepted, mismatch, wrong_order = run_batch(fake_api, five, after_1h, marked_last, order)
    assert "A maximum of 4 blocks with cache_control" in error_of(too_many)[1]
    assert accepted.result.type == "succeeded", accepted.result
    assert "differs from the ttl '1h' of the last block" in error_of(mismatch)[1]
    assert "ttl '1h' must not come after one with ttl '5m'" in error_of(wrong_order)[1]


# ------------------------------------------------------------------ batch-only rules and the envelope


def test_max_tokens_0_errors_in_a_batch_but_prewarms_synchronously(fake_api):
    # old server: 400 at create for max_tokens 0 (not an errored line), and no /v1/messages at all
    assert "max_tokens" in error_of(run_batch(fake_api, params(max_tokens=0))[0])[1]
    message = fake_api.client().messages.create(**params(max_tokens=0))
    facts = models.model_facts(roles.default())
    assert message.content == [] and message.stop_reason == "max_tokens" and message.usage.output_tokens == 0
    assert message.usage.cache_creation.ephemeral_1h_input_tokens >= facts.min_cache_tokens
    assert message.id.startswith("msg_sim_") and fake_api.messages == [{"model": facts.id, "max_tokens": 0}]


def test_prewarmed_prefix_is_read_by_a_later_batch(fake_api):
    # old server: every batch started with a cold cache, so its first wave always wrote
    warm = fake_api.client().messages.create(**params(max_tokens=0))
    lines = run_batch(fake_api, *[params() for _ in range(3)])
    usage = [r.result.message.usage for r in lines]
    reads = [u.cache_read_input_tokens for u in usage if u.cache_read_input_tokens]
    assert reads and set(reads) == {warm.usage.cache_creation_input_tokens}


def test_stream_in_a_batch_is_errored(fake_api):
    # old server: 400 at create time (the API errors the line instead, the rest of the batch runs)
    ok, streamed = run_batch(fake_api, params(), params(stream=False))
    assert ok.result.type == "succeeded" and "stream" in error_of(streamed)[1]


def test_request_counts_reflect_errored_lines(fake_api):
    # old server: counted them as succeeded
    client = fake_api.client()
    batch = client.messages.batches.create(requests=[
        {"custom_id": "good", "params": params()}, {"custom_id": "bad", "params": params(temperature=0.5)}])
    counts = client.messages.batches.retrieve(batch.id).request_counts
    assert (counts.succeeded, counts.errored) == (1, 1)


def test_body_over_the_limit_is_413(fake_api):
    # old server: no size limit
    assert FakeAnthropic().max_body_bytes == MAX_BODY_BYTES == 256_000_000
    fake_api.max_body_bytes = 2_000
    with pytest.raises(anthropic.APIStatusError) as err:
        fake_api.client(max_retries=0).messages.batches.create(requests=[{"custom_id": "a", "params": params()}])
    assert err.value.status_code == 413 and err.value.body["error"]["type"] == "request_too_large"
    assert fake_api.batches == {}


# ------------------------------------------------------------------ auth and archived batches


def test_auth_takes_bearer_or_x_api_key(fake_api):
    # the server once refused x-api-key, which the API takes (every curl example in the docs sends it);
    # SDK 2.x sends Authorization: Bearer. No key, or an empty one, is a 401 either way.
    version = {"anthropic-version": models.DEFAULT_API_VERSION}
    url = f"{fake_api.url}/v1/messages/batches"
    assert httpx.get(url, headers={"x-api-key": "k", **version}).status_code == 200
    assert httpx.get(url, headers={"authorization": "Bearer k", **version}).status_code == 200
    for headers in ({}, {"x-api-key": ""}, {"authorization": "Bearer"}, {"authorization": "k"}):
        refused = httpx.get(url, headers={**headers, **version})
        assert refused.status_code == 401 and refused.json()["error"]["type"] == "authentication_error"


def test_archived_batch_has_no_results(fake_api):
    # old server: no archive; results_url stayed set and results downloaded forever
    client = fake_api.client()
    batch = client.messages.batches.create(requests=[{"custom_id": "a", "params": params()}])
    fake_api.archive(batch.id)
    got = client.messages.batches.retrieve(batch.id)
    assert got.archived_at is not None and got.results_url is None
    with pytest.raises(anthropic.AnthropicError, match="results_url"):
        list(client.messages.batches.results(batch.id))
    direct = httpx.get(f"{fake_api.url}/v1/messages/batches/{batch.id}/results",
                       headers={"authorization": "Bearer k", "anthropic-version": models.DEFAULT_API_VERSION})
    assert direct.status_code == 404 and direct.json()["error"]["type"] == "not_found_error"


def test_batches_older_than_29_days_are_archived(fake_api):
    # old server: archived_at was always null
    client = fake_api.client()
    batch = client.messages.batches.create(requests=[{"custom_id": "a", "params": params()}])
    fake_api.batches[batch.id].created_at = datetime.now(timezone.utc) - timedelta(days=30)
    assert client.messages.batches.retrieve(batch.id).results_url is None


# ------------------------------------------------------------------ count_tokens, messages, models


def test_count_tokens_rejects_sampling_and_retired_models(fake_api, current_model, retired_model):
    # old server: counted anything with a model and messages
    client = fake_api.client(max_retries=0)
    body = {"model": current_model, "messages": [{"role": "user", "content": "q"}]}
    assert client.messages.count_tokens(**body).input_tokens == 1
    with pytest.raises(anthropic.BadRequestError, match="temperature: Extra inputs are not permitted"):
        client.messages.count_tokens(**body, extra_body={"temperature": 0.0})
    with pytest.raises(anthropic.BadRequestError, match="retired"):
        client.messages.count_tokens(**{**body, "model": retired_model})
    with pytest.raises(anthropic.NotFoundError, match="model: claude-nonesuch-9"):
        client.messages.count_tokens(**{**body, "model": "claude-nonesuch-9"})


def test_sync_message_rejects_with_the_api_error_shape(fake_api):
    # old server: POST /v1/messages was a 404 (no such endpoint)
    with pytest.raises(anthropic.BadRequestError) as err:
        fake_api.client(max_retries=0).messages.create(**params(), extra_body={"top_k": 5})
    body = err.value.body
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"] == "top_k: Extra inputs are not permitted" and body["request_id"]
    assert fake_api.messages == []


def test_thinking_tokens_grow_with_effort_and_fit_max_tokens(fake_api):
    # old server: no sync messages; sim reported no thinking on models that think by default
    client = fake_api.client()
    usage = [client.messages.create(**params(max_tokens=4000, thinking={"type": "adaptive"},
                                             output_config={"effort": e})).usage for e in models.EFFORTS]
    thinking = [u.output_tokens_details.thinking_tokens for u in usage]
    assert thinking == sorted(thinking) and thinking[0] < thinking[-1] and thinking[0] > 0
    assert all(u.output_tokens <= 4000 and u.service_tier == "standard" for u in usage)
    assert all(u.inference_geo == "global" and u.speed == "standard" for u in usage)


def test_models_list_parses_with_lifecycle(fake_api, retired_model, deprecated_model, current_model):
    # old server: GET /v1/models was a 404
    day = models.today()
    got = {m.id: m for m in fake_api.client().models.list(limit=7)}  # pages of 7: the cursor is exercised
    assert set(got) == {f.id for f in models.all_models()}
    assert all(got[f.id].lifecycle == models.lifecycle_on(f, day) for f in models.all_models())
    assert [got[m].lifecycle for m in (retired_model, deprecated_model, current_model)] \
        == ["retired", "deprecated", "active"]
    always = fake_api.client().models.retrieve(roles.always_thinks())
    assert not always.capabilities.thinking.types.disabled.supported and always.capabilities.batch.supported
    assert got[retired_model].retires_at.date() == models.model_facts(retired_model).retires_at


def test_shipped_style_request_succeeds_and_its_temperature_twin_does_not(fake_api):
    # old server: both succeeded; the strict one must tell the 2026 shape from the one that still
    # sends temperature (what the shipped configs sent before the 2026-10-21 migration)
    p = params(thinking={"type": "adaptive"}, output_config={"effort": "high"})
    result, twin = run_batch(fake_api, p, {**p, "temperature": 1.0})
    assert result.result.type == "succeeded", result.result
    usage = result.result.message.usage
    assert usage.service_tier == "batch" and usage.output_tokens_details.thinking_tokens > 0
    assert usage.cache_creation.ephemeral_1h_input_tokens > 0 and usage.output_tokens <= p["max_tokens"]
    assert error_of(twin)[1].startswith("temperature: Extra inputs are not permitted")


# ------------------------------------------------------------------ the validator itself
# (new module: there was nothing to fail before; these pin that it follows the SDK's types)


def test_sdk_types_rejects_an_unknown_key_nested_in_a_content_block():
    body = params(messages=[{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t1", "content": [{"type": "text", "text": "ok", "score": 1}]}]}])
    assert sdk_types.message_params_problems(body, models.DEFAULT_API_VERSION) == [
        "messages.0.content.0.content.0.score: Extra inputs are not permitted"]


def _reachable(root) -> list:
    seen, todo = [], [root]
    while todo:
        typ = todo.pop()
        if is_typeddict(typ):
            if typ in seen:
                continue
            seen.append(typ)
            todo.extend(typing.get_type_hints(typ, include_extras=True).values())
        elif typing.get_origin(typ) is not typing.Literal:
            todo.extend(a for a in typing.get_args(typ) if not isinstance(a, (str, int)))
    return seen


def _sample(typ, depth: int = 0):
    """A JSON value of this type: every key of a TypedDict, the first JSON member of a union."""
    origin, args = typing.get_origin(typ), typing.get_args(typ)
    if origin in (Required, NotRequired, typing.Annotated):
        return _sample(args[0], depth)
    if is_typeddict(typ):
        hints = typing.get_type_hints(typ, include_extras=True)
        keys = hints if depth < 4 else sdk_types.fields(typ)[1]
        return {k: _sample(hints[k], depth + 1) for k in keys}
    if origin is typing.Literal:
        return args[0]
    if origin is typing.Union:
        json_like = [a for a in args if a is not type(None) and not (isinstance(a, type) and hasattr(a, "model_fields"))
                     and typing.get_origin(a) is not typing.IO and a is not typing.IO]
        return _sample(json_like[0] if json_like else type(None), depth)
    if origin in (list, tuple, collections.abc.Iterable, collections.abc.Sequence) or \
            getattr(origin, "__name__", "") == "SequenceNotStr":
        return [] if depth >= 4 else [_sample(args[0], depth + 1)]
    if origin in (dict, collections.abc.Mapping):
        return {"k": _sample(args[1], depth + 1)}
    return {str: "x", int: 1, float: 0.5, bool: True, type(None): None}.get(typ, "any")


def test_sdk_types_accepts_every_key_the_sdk_declares():
    from anthropic.types.message_create_params import MessageCreateParamsNonStreaming
    from anthropic.types.message_count_tokens_params import MessageCountTokensParams

    checked = 0
    for root in (MessageCreateParamsNonStreaming, MessageCountTokensParams):
        for td in _reachable(root):
            assert sdk_types.validate(_sample(td), td) == [], td
            checked += len(typing.get_type_hints(td))
    assert checked > 500  # the walk reached the whole tree, not just the top level
