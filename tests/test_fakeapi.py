"""The fake Anthropic server answers the real SDK the way the API does (paths, shapes, faults)."""
from __future__ import annotations

import json

import anthropic
import pytest
from anthropic.types.messages import MessageBatchIndividualResponse

SYSTEM = [{"type": "text", "text": "x" * 4000, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
# claude-sonnet-4-5 was retired on 2026-11-30: the strict server errors every line for it (and
# refuses count_tokens), so these shape tests use a callable model; tests/test_fakeapi_strict.py
# covers the rules themselves.
MODEL = "claude-sonnet-5-5"


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
    kinds = [MessageBatchIndividualResponse.model_validate(line).result.type for line in lines]
    assert kinds == ["errored", "expired", "succeeded", "succeeded"]


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
