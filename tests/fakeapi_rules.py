"""Every rule the local server applies to a request body, in order, as one registry.

Why a registry: the server must refuse what the real API refuses and accept what it
accepts, and the next API change should be one place to edit. Each rule here calls the
same library function lint, the builder or the probe use (cachecast.facts.models,
facts.request_rules, facts.sdk_types, build.requests), so the server cannot drift from
them; tests/test_fakeapi_rules.py lists every rule with its source (SDK type or doc page)
and a request that breaks it, and fails when a rule is added here without a row there.

Endpoints: "messages" (POST /v1/messages), "batch" (a Message Batches line, validated when
the batch ends), "count_tokens". Where the docs do not say what the API does, the server
has a mode (`Modes`) and the tests run both ways.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Callable, Literal

from cachecast.build.requests import cache_control_problem
from cachecast.facts import models, request_rules, sdk_types

Problem = tuple[str, str]  # (error type, message)
# the Message Batches envelope (batch-processing docs; FACTS.md "Message Batches")
CUSTOM_ID_RE = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
MAX_BATCH_REQUESTS = 100_000
MAX_BODY_BYTES = 256_000_000  # the Batches API limit: "256 MB", stay under 256,000,000 bytes
ALL = frozenset({"messages", "batch", "count_tokens"})
GENERATING = frozenset({"messages", "batch"})


@dataclass(frozen=True)
class Modes:
    """Behaviour the documentation leaves open; each value has a test."""

    # max_tokens 0 with adaptive thinking on a model that cannot turn thinking off: not shown
    # to be accepted. "reject" answers the 400 below; the probe then gives up only the pre-warm.
    prewarm_adaptive: Literal["accept", "reject"] = "accept"
    # whether count_tokens applies the breakpoint rules (it accepts cache_control; the docs do
    # not say it checks the 4-slot limit or the TTL order)
    count_tokens_cache_rules: Literal["enforced", "ignored"] = "enforced"


PREWARM_ADAPTIVE_MESSAGE = ("max_tokens: must be at least 1 when thinking is adaptive on {model}, which cannot turn "
                            "thinking off")


@dataclass
class Call:
    params: dict
    api_version: str
    day: date
    endpoint: str
    betas: tuple[str, ...] = ()
    modes: Modes = field(default_factory=Modes)
    facts: models.ModelFacts | None = None  # set by the known-model rule


@dataclass(frozen=True)
class Rule:
    name: str
    endpoints: frozenset[str]
    check: Callable[[Call], Problem | None]


def _invalid(message: str | None) -> Problem | None:
    return ("invalid_request_error", message) if message else None


def _sdk_types(call: Call) -> Problem | None:
    check = sdk_types.count_tokens_problems if call.endpoint == "count_tokens" else sdk_types.message_params_problems
    return _invalid("; ".join(check(call.params, call.api_version)))


def _needs_facts(fn: Callable[[Call, models.ModelFacts], str | None]) -> Callable[[Call], Problem | None]:
    return lambda call: _invalid(fn(call, call.facts)) if call.facts is not None else None


def _retired(call: Call, facts: models.ModelFacts) -> str | None:
    if models.lifecycle_on(facts, call.day) == "retired":
        instead = f"; use {facts.replacement}" if facts.replacement else ""
        return f"model: {call.params['model']} {models.retired_phrase(facts)} and no longer serves requests{instead}"
    return None


def _thinking(call: Call, facts: models.ModelFacts) -> str | None:
    output_config = call.params.get("output_config") or {}
    return models.thinking_problem(facts, call.params.get("thinking"), output_config.get("effort"),
                                   call.params.get("max_tokens"))


def _max_tokens_min(call: Call) -> Problem | None:
    return _invalid("max_tokens: Input should be greater than or equal to 0" if call.params["max_tokens"] < 0 else None)


def _prewarm_adaptive(call: Call, facts: models.ModelFacts) -> str | None:
    if call.modes.prewarm_adaptive == "reject" and call.params.get("max_tokens") == 0 \
            and request_rules.always_thinks(facts, call.params):
        return PREWARM_ADAPTIVE_MESSAGE.format(model=facts.id)
    return None


def _breakpoints(call: Call) -> Problem | None:
    if call.endpoint == "count_tokens" and call.modes.count_tokens_cache_rules == "ignored":
        return None
    return _invalid(cache_control_problem(call.params))


RULES: list[Rule] = [
    Rule("batch-only-params", frozenset({"batch"}), lambda c: _invalid(request_rules.batch_problem(c.params))),
    Rule("sdk-types", ALL, _sdk_types),
    Rule("known-model", ALL, lambda c: None),  # resolved in request_problem: 404 not_found_error
    Rule("retired-model", ALL, _needs_facts(_retired)),
    Rule("sampling-params", ALL, _needs_facts(lambda c, f: models.sampling_problem(f, c.api_version, c.params))),
    Rule("thinking-shape", ALL, _needs_facts(_thinking)),
    Rule("inference-geo-model", ALL, _needs_facts(lambda c, f: models.geo_problem(f, c.params))),
    Rule("inference-geo-value", ALL, lambda c: _invalid(request_rules.geo_value_problem(c.params))),
    Rule("forced-tool-choice", ALL, _needs_facts(lambda c, f: models.tool_choice_problem(f, c.params))),
    Rule("empty-content", ALL, lambda c: _invalid(request_rules.content_problem(c.params))),
    Rule("speed", GENERATING, _needs_facts(
        lambda c, f: models.speed_problem(f, c.params, in_batch=c.endpoint == "batch", betas=c.betas))),
    Rule("max-tokens-min", GENERATING, _max_tokens_min),
    Rule("max-tokens-cap", GENERATING, _needs_facts(lambda c, f: models.max_tokens_problem(
        f, c.params["max_tokens"], c.betas, in_batch=c.endpoint == "batch"))),
    Rule("prewarm-forced-output", frozenset({"messages"}), lambda c: _invalid(request_rules.prewarm_problem(c.params))),
    Rule("prewarm-adaptive-mode", frozenset({"messages"}), _needs_facts(_prewarm_adaptive)),
    Rule("cache-breakpoints", ALL, _breakpoints),
]


# Rules applied outside request_problem: the batch envelope at create time (envelope_problem and
# the body-size check) and the headers of every request (fakeapi._header_problem).
ENVELOPE_RULES = ("envelope-keys", "envelope-requests-list", "envelope-not-empty", "envelope-max-requests",
                  "envelope-line-shape", "envelope-custom-id-pattern", "envelope-custom-id-unique",
                  "envelope-body-size")
HEADER_RULES = ("auth-header", "anthropic-version-header")
# what the server answers about a batch's results, and what it cannot do (fakeapi.FakeAnthropic)
LIFECYCLE_RULES = ("results-before-end", "results-archived", "sync-stream-unsupported")
SERVER_RULES = tuple(r.name for r in RULES) + ENVELOPE_RULES + HEADER_RULES + LIFECYCLE_RULES


def request_problem(params: dict, api_version: str, day: date, *, endpoint: str, betas: tuple[str, ...] = (),
                    find: Callable[[str], models.ModelFacts | None] = models.table_facts,
                    modes: Modes = Modes()) -> Problem | None:
    """(error type, message) of the first rule this body breaks on `endpoint`, or None.
    `find` is the server's catalogue (the table plus the models its Models API lists)."""
    call = Call(params, api_version, day, endpoint, betas, modes)
    for rule in RULES:
        if endpoint not in rule.endpoints:
            continue
        if rule.name == "known-model":
            call.facts = find(params["model"])
            if call.facts is None:
                return "not_found_error", f"model: {params['model']}"
            continue
        found = rule.check(call)
        if found:
            return found
    return None


# ------------------------------------------------------------------ the batch envelope, checked at create time


def envelope_problem(body: dict) -> str | None:
    """What the Batches API rejects at create time: the list itself and each line's custom_id."""
    requests = body.get("requests")
    extra = [k for k in body if k not in ("requests", "user_profile_id", "workspace_id")]
    if extra:
        return f"{extra[0]}: Extra inputs are not permitted"
    if not isinstance(requests, list):
        return "requests: Field required" if requests is None else "requests: Input should be a valid list"
    if not requests:
        return "requests: List should have at least 1 item after validation, not 0"
    if len(requests) > MAX_BATCH_REQUESTS:
        return f"requests: List should have at most {MAX_BATCH_REQUESTS} items after validation, not {len(requests)}"
    seen: set[str] = set()
    for i, req in enumerate(requests):
        problems = sdk_types.request_envelope_problems(req, f"requests.{i}")
        if problems:
            return "; ".join(problems)
        if not CUSTOM_ID_RE.match(req["custom_id"]):
            return f"requests.{i}.custom_id: String should match pattern '^[a-zA-Z0-9_-]{{1,64}}$'"
        if req["custom_id"] in seen:
            return f"requests.{i}.custom_id: duplicate custom_id '{req['custom_id']}'"
        seen.add(req["custom_id"])
    return None
