"""The fake Anthropic server answers the real SDK the way the API does (paths, shapes, faults)."""
from __future__ import annotations

import json

import anthropic
import pytest
from anthropic.types.messages import MessageBatchIndividualResponse

import roles

SYSTEM = [{"type": "text", "text": "x" * 4000, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
# the strict server errors every line of a retired model (and refuses count_tokens), so these
# shape tests use the current default; tests/test_fakeapi_strict.py covers the rules themselves.
MODEL = roles.default()


def _req(cid: str, question: str = "What is 2+2?") -> dict:
    return {"custom_id": cid, "params": {"model": MODEL, "max_tokens": 100, "system": SYSTEM,
                                         "messages": [{"role": "user", "content": question}]}}


def test_count_tokens_is_chars_over_four_rounded_up(fake_api):
    client = fake_api.client()
    got = client.messages.count_tokens(model=MODEL, system="abcde",
                                       messages=[{"role": "user", "content": [{"type": "text", "text": "abcd"}]}])
    # 5 + 4 = 9 characters; ceil(9 / 4) = 3
    assert got.input_tokens == 3
    assert fake_api.calls == [("POST", "/v1/messages/count_tokens")]


def test_batch_round_trip_through_the_sdk(fake_api):
    client = fake_api.client()
    batch = client.messages.batches.create(requests=[_req("a"), _req("b"), _req("c")])
    assert batch.processing_status == "ended"
    got = client.messages.batches.retrieve(batch.id)
    assert got.results_url == f"{fake_api.url}/v1/messages/batches/{batch.id}/results"
    assert got.request_counts.succeeded == 3
    results = list(client.messages.batches.results(batch.id))
    assert sorted(r.custom_id for r in results) == ["a", "b", "c"]
    assert all(r.result.message.id.startswith("msg_sim_") for r in results)
    assert [b.id for b in client.messages.batches.list()] == [batch.id]
    assert ("GET", f"/v1/messages/batches/{batch.id}/results") in fake_api.calls


def test_result_lines_validate_as_sdk_types(fake_api):
    fake_api.faults.errored, fake_api.faults.expired = 1, 1
    batch = fake_api.client().messages.batches.create(requests=[_req(f"r{i}") for i in range(4)])
    lines = [json.loads(line) for line in fake_api.batches[batch.id].results]
    parsed = {line["custom_id"]: MessageBatchIndividualResponse.model_validate(line).result for line in lines}
    # the first valid line errors and the next expires, in request order (the file is shuffled)
    assert [parsed[f"r{i}"].type for i in range(4)] == ["errored", "expired", "succeeded", "succeeded"]
    assert parsed["r0"].error.error.type == "overloaded_error"  # an SDK ErrorObject type, not the caller's fault


def test_in_progress_for_k_polls_then_ended(fake_api):
    fake_api.faults.in_progress_polls = 2
    client = fake_api.client()
    batch = client.messages.batches.create(requests=[_req("a")])
    assert batch.processing_status == "in_progress" and batch.results_url is None
    states = [client.messages.batches.retrieve(batch.id).processing_status for _ in range(3)]
    assert states == ["in_progress", "in_progress", "ended"]


def test_cancel_ends_with_canceled_lines(fake_api):
    fake_api.faults.in_progress_polls = 5
    client = fake_api.client()
    batch = client.messages.batches.create(requests=[_req("a"), _req("b")])
    assert client.messages.batches.cancel(batch.id).processing_status == "canceling"
    assert client.messages.batches.retrieve(batch.id).request_counts.canceled == 2


def test_rate_limit_then_success_uses_sdk_retries(fake_api):
    fake_api.faults.rate_limit(2, path="/v1/messages/batches")
    batch = fake_api.client(max_retries=2).messages.batches.create(requests=[_req("a")])
    assert batch.id
    assert fake_api.paths("POST") == ["/v1/messages/batches"] * 3


def test_faults_surface_as_sdk_errors(fake_api):
    fake_api.faults.server_error(times=None)
    with pytest.raises(anthropic.InternalServerError):
        fake_api.client(max_retries=0).messages.batches.create(requests=[_req("a")])
    fake_api.faults.rules.clear()
    fake_api.faults.unauthorized()
    with pytest.raises(anthropic.AuthenticationError):
        fake_api.client(max_retries=0).messages.batches.list()


# Only the envelope fails at create time. A case with params {"model": "m", "max_tokens": 0} used to
# be a 400 here; the Batches API validates params per request, later, as an errored line (see
# test_fakeapi_strict.py), so a 400 at create was the old server being kinder than the API.
@pytest.mark.parametrize("requests, message", [
    ([_req("bad id!")], "custom_id"),
    ([_req("a"), _req("a")], "duplicate"),
    ([], "at least 1 item"),
])
def test_create_validates_requests(fake_api, requests, message):
    with pytest.raises(anthropic.BadRequestError, match=message):
        fake_api.client(max_retries=0).messages.batches.create(requests=requests)


def test_missing_key_is_refused(fake_api):
    import httpx

    resp = httpx.get(f"{fake_api.url}/v1/messages/batches")
    assert resp.status_code == 401 and fake_api.saw_requests_without_key == 1


# ------------------------------------------------------------------ lifecycle as the docs describe it (issue 20)


def _order(server, n: int = 12) -> list[str]:
    client = server.client()
    batch = client.messages.batches.create(requests=[_req(f"r{i:02d}") for i in range(n)])
    return [json.loads(line)["custom_id"] for line in server.batches[batch.id].results]


def test_results_come_back_out_of_request_order_by_default_and_seeded():
    # the SDK's Request.custom_id docstring: "results may be given out of request order"; the old
    # server always answered in request order, so a verdict reading file order passed falsely
    from fakeapi import FakeAnthropic

    orders = {}
    for name, options in {"a": {}, "b": {}, "seed 7": {"seed": 7}, "request": {"results_order": "request"}}.items():
        with FakeAnthropic(**options) as server:
            orders[name] = _order(server)
    ids = [f"r{i:02d}" for i in range(12)]
    assert orders["a"] == orders["b"] != ids and sorted(orders["a"]) == ids  # shuffled, the same for one seed
    assert orders["seed 7"] not in (orders["a"], ids)
    assert orders["request"] == ids


def test_cancel_cancels_only_what_had_not_started(fake_api):
    # the old server canceled every line, started or not: a canceled batch hid the requests that ran
    fake_api.faults.in_progress_polls = 3  # the batch works through its 8 requests over 4 polls
    client = fake_api.client()
    batch = client.messages.batches.create(requests=[_req(f"r{i}") for i in range(8)])
    client.messages.batches.retrieve(batch.id)  # one poll: a quarter of the batch has started
    assert client.messages.batches.cancel(batch.id).processing_status == "canceling"
    counts = client.messages.batches.retrieve(batch.id).request_counts
    assert (counts.succeeded, counts.canceled) == (2, 6)  # 8 x 1 // 4 = 2 had started and finish
    kinds = {r.custom_id: r.result.type for r in client.messages.batches.results(batch.id)}
    assert kinds == {**{f"r{i}": "succeeded" for i in range(2)}, **{f"r{i}": "canceled" for i in range(2, 8)}}


def test_rate_limit_headers_and_retry_after_in_seconds(fake_api):
    import httpx

    headers = {"authorization": "Bearer k", "anthropic-version": "2026-10-21"}
    ok = httpx.get(f"{fake_api.url}/v1/messages/batches", headers=headers)
    assert ok.headers["anthropic-ratelimit-requests-limit"] == "4000"
    assert int(ok.headers["anthropic-ratelimit-requests-remaining"]) < 4000
    assert ok.headers["anthropic-ratelimit-requests-reset"].endswith("Z") and "anthropic-ratelimit-tokens-limit" in ok.headers
    fake_api.faults.rate_limit(1, retry_after_ms=None)  # the real API's headers only
    limited = httpx.get(f"{fake_api.url}/v1/messages/batches", headers=headers)
    assert limited.status_code == 429 and limited.headers["retry-after"] == "1"
    assert "retry-after-ms" not in limited.headers and limited.headers["anthropic-ratelimit-requests-remaining"] == "0"


@pytest.mark.parametrize("mode, rejected", [("enforced", True), ("ignored", False)])
def test_count_tokens_breakpoint_rules_both_ways(mode, rejected):
    # whether count_tokens applies the 4-breakpoint limit is not documented: both ways are served,
    # and the probe applies cachecast's rule after count_tokens either way (tests/test_probe.py)
    from fakeapi import FakeAnthropic
    from fakeapi_rules import Modes

    system = [{"type": "text", "text": f"part {i}", "cache_control": {"type": "ephemeral"}} for i in range(5)]
    with FakeAnthropic(modes=Modes(count_tokens_cache_rules=mode)) as server:
        call = lambda: server.client(max_retries=0).messages.count_tokens(  # noqa: E731
            model=MODEL, system=system, messages=[{"role": "user", "content": "q"}])
        if rejected:
            with pytest.raises(anthropic.BadRequestError, match="A maximum of 4 blocks"):
                call()
        else:
            assert call().input_tokens > 0


def test_a_route_can_be_mounted(fake_api):
    # the hook other endpoints (organization analytics) plug into: after auth, version and faults
    seen = []
    fake_api.add_route("GET", r"/v1/organizations/usage_report/(\w+)",
                       lambda api, match, query, body, headers: seen.append(match[1]) or (200, {"data": []}))
    got = fake_api.client().get("/v1/organizations/usage_report/messages", cast_to=str)
    assert json.loads(got) == {"data": []} and seen == ["messages"]
    fake_api.faults.fail(503, times=1, path="/v1/organizations")
    with pytest.raises(anthropic.APIStatusError):
        fake_api.client(max_retries=0).get("/v1/organizations/usage_report/messages", cast_to=str)
