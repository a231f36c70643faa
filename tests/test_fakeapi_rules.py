"""Every rule of the local server, with its source, in one table (issue 20).

RULES holds one or more rows per rule the server applies (tests/fakeapi_rules.SERVER_RULES):
the source it rests on (an SDK type or a documentation page), the endpoint, a request that
breaks only that rule, and what the server must answer. ACCEPTED holds requests the real
API accepts and the server once refused. The next API change is one row to edit here and
one function in cachecast.facts or build.requests. Every row goes through the real SDK.

Models are roles (tests/roles.py) except where a row's source quotes one model's documented
behaviour (Sonnet 5.5's between_tools and forced tool_choice, Opus 5.5's thinking that cannot
be turned off): there the id is the fact the source states. claude-nonesuch-9 and
claude-lyric-6 are made up (an unknown id; one only the Models API lists).
"""
from __future__ import annotations

import inspect
import typing

import anthropic
import httpx
import pytest

import roles
from cachecast.facts import models
from fakeapi import FakeAnthropic
from fakeapi_batch import ERRORED_TYPES
from fakeapi_models import extra_model
from fakeapi_rules import LIFECYCLE_RULES, SERVER_RULES, Modes, envelope_problem

SDK = "anthropic 2.16.0"
DOCS = "https://platform.claude.com/docs/en"
SYSTEM_1H = [{"type": "text", "text": "x" * 4000, "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
EPH = {"type": "ephemeral"}
TOOL = {"name": "calc", "description": "a calculator", "input_schema": {"type": "object", "properties": {}}}


def body(model: str = roles.default(), **extra) -> dict:
    return {"model": model, "max_tokens": 200, "system": SYSTEM_1H,
            "messages": [{"role": "user", "content": "What is 2+2?"}], **extra}


def four_breakpoints() -> dict:
    blocks = [{"type": "text", "text": f"part {i}", "cache_control": dict(EPH)} for i in range(3)]
    return body(system=[*SYSTEM_1H, *blocks], cache_control=dict(EPH))


BIG = roles.output_300k()  # a synchronous max_tokens ceiling, and a higher one in batches with the beta
BIG_CAP = roles.facts(BIG).max_output

# (rule, source, endpoint, request, error type, words of the message; optional server options)
RULES = [
    ("batch-only-params", f"{DOCS}/build-with-claude/batch-processing; FACTS.md (no max_tokens 0, stream or speed "
     "in a batch)", "batch", body(max_tokens=0), "invalid_request_error", "at least 1 in the Message Batches API"),
    ("batch-only-params", f"{DOCS}/build-with-claude/batch-processing", "batch", body(stream=False),
     "invalid_request_error", "streaming is not supported"),
    ("sdk-types", f"{SDK} types/message_create_params.py MessageCreateParamsNonStreaming (walked by "
     "cachecast.facts.sdk_types)", "messages", body(top_logprobs=3), "invalid_request_error",
     "top_logprobs: Extra inputs are not permitted"),
    ("sdk-types", f"{SDK} types/message_count_tokens_params.py MessageCountTokensParams", "count_tokens",
     {"model": roles.default(), "max_tokens": 5, "messages": [{"role": "user", "content": "q"}]},
     "invalid_request_error", "max_tokens: Extra inputs are not permitted"),
    ("known-model", f"{DOCS}/api/errors (404 not_found_error); the catalogue is GET /v1/models", "messages",
     body("claude-nonesuch-9"), "not_found_error", "model: claude-nonesuch-9"),
    ("retired-model", f"{DOCS}/about-claude/model-deprecations; data/models.yaml", "messages",
     body(roles.retired()), "invalid_request_error", f"retired on {roles.facts(roles.retired()).retires_at}"),
    ("sampling-params", f"{DOCS}/api/versioning (2026-10-21 removed temperature, top_p, top_k)", "count_tokens",
     {"model": roles.default(), "messages": [{"role": "user", "content": "q"}], "temperature": 0.5},
     "invalid_request_error", "temperature: Extra inputs are not permitted"),
    ("thinking-shape", f"{DOCS}/models/sonnet-5-5/migration-guide (between_tools \"accepted at low, medium, and "
     "high effort. At xhigh or max, it returns a 400 error\")", "messages",
     body("claude-sonnet-5-5", thinking={"type": "between_tools"}, output_config={"effort": "xhigh"}),
     "invalid_request_error",
     "only accepted at effort high or lower"),
    ("thinking-shape", f"{DOCS}/build-with-claude/thinking-troubleshooting (Opus 5.5 cannot turn thinking off)",
     "batch", body("claude-opus-5-5", thinking={"type": "disabled"}), "invalid_request_error",
     '"thinking.type.disabled" is not supported'),
    ("inference-geo-model", f"{DOCS}/build-with-claude/data-residency (Opus/Sonnet 4.6 and later)", "messages",
     body(roles.no_geo(), inference_geo="us"), "invalid_request_error", f"not supported on {roles.no_geo()}"),
    ("inference-geo-value", f"{DOCS}/build-with-claude/data-residency (global, us); the SDK types say only str",
     "messages", body(inference_geo="mars"), "invalid_request_error", "'mars' is not a supported value"),
    ("forced-tool-choice", f"{DOCS}/models/sonnet-5-5/migration-guide (\"rejects both with a 400 error, including "
     "on the token counting endpoint\")", "count_tokens",
     {"model": "claude-sonnet-5-5", "messages": [{"role": "user", "content": "q"}], "tools": [TOOL],
      "tool_choice": {"type": "any"}}, "invalid_request_error", 'tool_choice: type "tool" and "any" are not supported'),
    ("empty-content", "the API's invalid_request_error for an empty text block (the SDK's TextBlockParam.text is any "
     "str; issue 20)", "messages", body(messages=[{"role": "user", "content": [{"type": "text", "text": ""}]}]),
     "invalid_request_error", "text content blocks must be non-empty"),
    ("empty-content", "the API refuses an empty conversation (the SDK's messages is any Iterable; issue 20)",
     "batch", body(messages=[]), "invalid_request_error", "at least one message is required"),
    ("speed", f"{DOCS}/build-with-claude/fast-mode (research preview on Opus 5 needs fast-mode-2026-02-01); "
     f"{SDK} MessageCreateParams.speed", "messages", body(roles.fast_beta(), speed="fast"), "invalid_request_error",
     "needs the anthropic-beta header fast-mode-2026-02-01"),
    ("speed", f"{DOCS}/build-with-claude/batch-processing (no fast mode in batches)", "batch",
     body(roles.fast(), speed="fast"), "invalid_request_error", "not available in the Message Batches API"),
    ("max-tokens-min", f"{SDK} MessageCreateParamsBase.max_tokens (0 pre-warms; below is not a count)", "messages",
     body(max_tokens=-1), "invalid_request_error", "greater than or equal to 0"),
    ("max-tokens-cap", f"{DOCS}/about-claude/models/overview (Max output; 300k only in batches with "
     "output-300k-2026-03-24)", "batch", body(BIG, max_tokens=BIG_CAP + 1), "invalid_request_error",
     f"{BIG_CAP + 1} > {BIG_CAP}"),
    ("max-tokens-cap", f"{DOCS}/about-claude/models/overview (the 300k beta is for the Message Batches API only)",
     "messages", body(BIG, max_tokens=BIG_CAP + 1), "invalid_request_error", f"{BIG_CAP + 1} > {BIG_CAP}",
     {"betas": (models.OUTPUT_300K_BETA,)}),
    ("prewarm-forced-output", f"{DOCS}/build-with-claude/prompt-caching#pre-warming-the-cache (linked from the SDK's "
     "max_tokens docstring)", "messages", body(roles.forced_tool(), max_tokens=0, tools=[TOOL],
                                                tool_choice={"type": "any"}),
     "invalid_request_error", "cannot be combined with a forced tool_choice"),
    ("prewarm-forced-output", f"{DOCS}/build-with-claude/prompt-caching#pre-warming-the-cache", "messages",
     body(roles.default(), max_tokens=0, output_config={"format": {"type": "json_schema", "schema": {
         "type": "object", "properties": {}, "additionalProperties": False}}}),
     "invalid_request_error", "cannot be combined with structured outputs"),
    ("prewarm-adaptive-mode", "not documented either way (issue 20): the mode prewarm_adaptive='reject'",
     "messages", body(roles.always_thinks(), max_tokens=0), "invalid_request_error",
     "must be at least 1 when thinking is adaptive", {"modes": Modes(prewarm_adaptive="reject")}),
    ("cache-breakpoints", f"{DOCS}/build-with-claude/prompt-caching (at most 4; automatic caching takes a slot)",
     "messages", four_breakpoints(), "invalid_request_error", "A maximum of 4 blocks with cache_control"),
    ("cache-breakpoints", f"{DOCS}/build-with-claude/prompt-caching (Mixing TTLs: 1h before 5m)", "count_tokens",
     {"model": roles.default(), "system": [{**SYSTEM_1H[0], "cache_control": dict(EPH)}],
      "messages": [{"role": "user", "content": "q"}], "cache_control": {"type": "ephemeral", "ttl": "1h"}},
     "invalid_request_error", "ttl '1h' must not come after one with ttl '5m'"),
    ("cache-breakpoints", f"{DOCS}/build-with-claude/prompt-caching (Automatic caching > Edge cases: a different TTL "
     "on the last block's own breakpoint is a 400)", "batch",
     body(messages=[{"role": "user", "content": [{"type": "text", "text": "q",
                                                  "cache_control": {"type": "ephemeral", "ttl": "1h"}}]}],
          cache_control=dict(EPH)), "invalid_request_error", "differs from the ttl '1h' of the last block"),
]

# (what, source, endpoint, request; optional server options): the real API accepts these
ACCEPTED = [
    ("a 5m automatic breakpoint after an explicit 1h one, last block unmarked",
     f"{DOCS}/build-with-claude/prompt-caching (Automatic caching > Edge cases)", "batch", body(cache_control=dict(EPH))),
    ("the same on count_tokens", f"{DOCS}/build-with-claude/prompt-caching", "count_tokens",
     {"model": roles.default(), "system": SYSTEM_1H, "messages": [{"role": "user", "content": "q"}],
      "cache_control": dict(EPH)}),
    ("a model only the Models API lists", f"{DOCS}/api/models/list", "messages", body("claude-lyric-6", max_tokens=100),
     {"extra_models": [extra_model("claude-lyric-6")]}),
    ("max_tokens above the synchronous ceiling in a batch with the output-300k beta",
     f"{DOCS}/about-claude/models/overview (Max output)",
     "batch", body(BIG, max_tokens=BIG_CAP + 1), {"betas": (models.OUTPUT_300K_BETA,)}),
    ("between_tools at effort high", f"{DOCS}/models/sonnet-5-5/migration-guide", "messages",
     body("claude-sonnet-5-5", thinking={"type": "between_tools"}, output_config={"effort": "high"})),
    ("fast mode in research preview with its beta header", f"{DOCS}/build-with-claude/fast-mode", "messages",
     body(roles.fast_beta(), speed="fast"), {"betas": (models.FAST_MODE_BETA,)}),
    ("fast mode without a header where it is not a preview", f"{DOCS}/build-with-claude/fast-mode",
     "messages", body(roles.fast(), speed="fast")),
    ("max_tokens 0 with adaptive thinking always on, in the default mode", "not documented: mode 'accept'",
     "messages", body(roles.always_thinks(), max_tokens=0)),
]


def _kwargs(method, params: dict) -> dict:
    named = set(inspect.signature(method).parameters)
    extra = {k: v for k, v in params.items() if k not in named}
    return {**{k: v for k, v in params.items() if k in named}, **({"extra_body": extra} if extra else {})}


def outcome(server: FakeAnthropic, endpoint: str, params: dict, betas: tuple[str, ...] = ()) -> tuple[str, str]:
    """("ok", "") or (error type, message), through the real SDK."""
    client = server.client(max_retries=0, default_headers={"anthropic-beta": ",".join(betas)} if betas else None)
    try:
        if endpoint == "messages":
            client.messages.create(**_kwargs(client.messages.create, params), timeout=30)  # no long-request guard
        elif endpoint == "count_tokens":
            client.messages.count_tokens(**_kwargs(client.messages.count_tokens, params))
        else:
            batch = client.messages.batches.create(requests=[{"custom_id": "r", "params": params}])
            [line] = client.messages.batches.results(batch.id)
            if line.result.type == "errored":
                return line.result.error.error.type, line.result.error.error.message
    except anthropic.APIStatusError as exc:
        return exc.body["error"]["type"], exc.body["error"]["message"]
    return "ok", ""


def _server(options: dict) -> FakeAnthropic:
    return FakeAnthropic(**{k: v for k, v in options.items() if k != "betas"}).start()


def test_every_server_rule_has_a_sourced_row():
    listed = {row[0] for row in RULES} | set(ENVELOPE_ROWS) | set(HEADER_ROWS) | set(LIFECYCLE_ROWS)
    assert listed == set(SERVER_RULES), f"unlisted: {set(SERVER_RULES) - listed}, stale: {listed - set(SERVER_RULES)}"
    assert all(row[1] for row in RULES) and all(
        src for src, _ in {**ENVELOPE_ROWS, **HEADER_ROWS}.values()) and set(LIFECYCLE_ROWS) == set(LIFECYCLE_RULES)


@pytest.mark.parametrize("row", RULES, ids=[f"{r[0]}:{r[2]}" for r in RULES])
def test_the_server_applies_the_rule(row):
    name, source, endpoint, params, kind, words, *options = row
    options = options[0] if options else {}
    server = _server(options)
    try:
        got = outcome(server, endpoint, params, options.get("betas", ()))
    finally:
        server.stop()
    assert got[0] == kind and words in got[1], (name, source, got)


@pytest.mark.parametrize("row", ACCEPTED, ids=[r[0] for r in ACCEPTED])
def test_the_server_accepts_what_the_api_accepts(row):
    what, source, endpoint, params, *options = row
    options = options[0] if options else {}
    server = _server(options)
    try:
        assert outcome(server, endpoint, params, options.get("betas", ())) == ("ok", ""), (what, source)
    finally:
        server.stop()


# the envelope (create-time) and header rules: source, then a check that fails without the rule
def _line(cid: str = "a") -> dict:
    return {"custom_id": cid, "params": body()}


ENVELOPE_ROWS = {
    "envelope-keys": (f"{SDK} types/messages/batch_create_params.py BatchCreateParams (requests only)",
                      lambda: envelope_problem({"requests": [_line()], "priority": 1})),
    "envelope-requests-list": (f"{SDK} BatchCreateParams.requests: Required[Iterable[Request]]",
                               lambda: envelope_problem({"requests": "a"})),
    "envelope-not-empty": (f"{DOCS}/api/creating-message-batches (1 to 100,000 requests)",
                           lambda: envelope_problem({"requests": []})),
    "envelope-max-requests": (f"{DOCS}/build-with-claude/batch-processing (100,000 requests)",
                              lambda: envelope_problem({"requests": [_line(f"r{i}") for i in range(100_001)]})),
    "envelope-line-shape": (f"{SDK} batch_create_params.Request (custom_id, params)",
                            lambda: envelope_problem({"requests": [{"custom_id": "a"}]})),
    "envelope-custom-id-pattern": ("FACTS.md Message Batches: ^[a-zA-Z0-9_-]{1,64}$",
                                   lambda: envelope_problem({"requests": [_line("bad id!")]})),
    "envelope-custom-id-unique": (f"{SDK} Request.custom_id (\"Must be unique for each request within the Message "
                                  "Batch\")", lambda: envelope_problem({"requests": [_line(), _line()]})),
    "envelope-body-size": (f"{DOCS}/build-with-claude/batch-processing (256 MB; 413 request_too_large)", None),
}
HEADER_ROWS = {
    "auth-header": (f"{SDK} _client.py _validate_headers (X-Api-Key or Authorization); {DOCS}/api/overview", None),
    "anthropic-version-header": (f"{DOCS}/api/versioning", None),
}


LIFECYCLE_ROWS = {
    "results-before-end": f"{DOCS}/build-with-claude/batch-processing (results exist once processing has ended)",
    "results-archived": f"{DOCS}/build-with-claude/batch-processing (results available for 29 days from creation); "
                        f"{SDK} MessageBatch.results_url (null when not available)",
    "sync-stream-unsupported": "a limitation of this server, not an API rule: POST /v1/messages with stream is a 400",
}


def test_the_lifecycle_rules(fake_api):
    client = fake_api.client(max_retries=0)
    fake_api.faults.in_progress_polls = 5
    running = client.messages.batches.create(requests=[_line()])
    headers = {"x-api-key": "k", "anthropic-version": models.DEFAULT_API_VERSION}
    assert httpx.get(f"{fake_api.url}/v1/messages/batches/{running.id}/results", headers=headers).status_code == 404
    fake_api.archive(running.id)
    assert client.messages.batches.retrieve(running.id).results_url is None
    with pytest.raises(anthropic.BadRequestError, match="does not stream"):
        client.messages.create(**body(), stream=True).close()


@pytest.mark.parametrize("name", [n for n, (_, check) in ENVELOPE_ROWS.items() if check is not None])
def test_the_envelope_rules(name):
    assert envelope_problem({"requests": [_line()]}) is None  # the same envelope, well formed, passes
    assert ENVELOPE_ROWS[name][1]() is not None, name


def test_the_body_size_and_header_rules(fake_api):
    fake_api.max_body_bytes = 2_000
    with pytest.raises(anthropic.APIStatusError) as err:
        fake_api.client(max_retries=0).messages.batches.create(requests=[_line()])
    assert err.value.status_code == 413
    url = f"{fake_api.url}/v1/messages/batches"
    assert httpx.get(url, headers={"anthropic-version": models.DEFAULT_API_VERSION}).status_code == 401
    assert httpx.get(url, headers={"x-api-key": "k", "anthropic-version": "2024-01-01"}).status_code == 400


def test_injected_errored_lines_use_the_sdks_error_types():
    """Errored lines carry overloaded_error, api_error and billing_error, each a member of the SDK's
    ErrorObject union (types/shared/error_object.py), so an SDK upgrade that drops one fails here."""
    from anthropic.types.shared.error_object import ErrorObject

    union = typing.get_args(typing.get_args(ErrorObject)[0])
    sdk_types = {typing.get_args(m.model_fields["type"].annotation)[0] for m in union}
    assert set(ERRORED_TYPES) <= sdk_types and len(ERRORED_TYPES) == 3
