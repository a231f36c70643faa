"""The one usage object (cachecast.facts.usage) and the one result-line schema
(sql/store/result_line.sql) against the SDK's own types: a field the SDK adds to usage is
either mapped in both or named in NOT_MAPPED with its reason, never silently dropped."""
from __future__ import annotations

import re
import typing

from anthropic.types import ServerToolUsage
from anthropic.types.beta import BetaServerToolUsage, BetaUsage
from anthropic.types.beta.beta_iterations_usage import BetaIterationsUsageItem

import roles
from cachecast import store
from cachecast.facts.usage import ITERATION_TYPES, NOT_MAPPED, SERVER_TOOL_COUNTERS, Iteration, Usage

# SDK field -> the Usage attribute(s) that carry it
NESTED = {"cache_creation": ("cache_write_5m_tokens", "cache_write_1h_tokens"),
          "output_tokens_details": ("thinking_tokens",), "server_tool_use": ("server_tool_use",),
          "iterations": ("iterations",)}


def _sql_fields(fragment: str) -> set[str]:
    """Top-level field names of a STRUCT(...) type in sql/store/result_line.sql."""
    text = "\n".join(line for line in store.query("store/result_line.sql", fragment).splitlines()
                     if not line.lstrip().startswith("--"))
    body = text[text.index("(") + 1:text.rindex(")")]
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(body):
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            parts.append(body[start:i])
            start = i + 1
    parts.append(body[start:])
    return {part.split()[0] for part in parts}


def _iteration_members() -> dict[str, set[str]]:
    union = typing.get_args(typing.get_args(BetaIterationsUsageItem)[0])
    return {typing.get_args(m.model_fields["type"].annotation)[0]: set(m.model_fields) for m in union}


def test_every_sdk_usage_field_is_mapped_or_said_why_not():
    attrs = {f for f in Usage.__dataclass_fields__}
    for name in BetaUsage.model_fields:
        if name in NOT_MAPPED:
            continue
        carried = NESTED.get(name, (name,))
        assert set(carried) <= attrs, f"BetaUsage.{name} is neither mapped by facts.usage.Usage nor in NOT_MAPPED"
    assert set(NOT_MAPPED) <= set(BetaUsage.model_fields)  # no stale entry


def test_the_sql_schema_names_every_mapped_field():
    assert _sql_fields("usage") == set(BetaUsage.model_fields) - set(NOT_MAPPED)
    fields = set().union(*_iteration_members().values())
    assert _sql_fields("iteration") == fields


def test_iteration_types_and_server_tool_counters_are_the_sdks():
    assert set(ITERATION_TYPES) == set(_iteration_members())
    assert set(SERVER_TOOL_COUNTERS) == set(BetaServerToolUsage.model_fields) == set(ServerToolUsage.model_fields)
    assert set(Iteration.__dataclass_fields__) - {"cache_write_5m_tokens", "cache_write_1h_tokens"} == (
        set().union(*_iteration_members().values()) - {"cache_creation"})


def test_from_the_sdk_object_and_from_its_json_agree_and_to_json_is_the_sdks_shape():
    raw = {"input_tokens": 10, "output_tokens": 7, "cache_creation_input_tokens": 5, "cache_read_input_tokens": 3,
           "cache_creation": {"ephemeral_5m_input_tokens": 2, "ephemeral_1h_input_tokens": 3},
           "output_tokens_details": {"thinking_tokens": 4}, "service_tier": "batch", "inference_geo": "us",
           "speed": "standard", "server_tool_use": {"web_search_requests": 1, "web_fetch_requests": 0},
           "iterations": [{"type": "message", "input_tokens": 10, "output_tokens": 3, "cache_creation_input_tokens": 5,
                           "cache_read_input_tokens": 3},
                          {"type": "advisor_message", "model": roles.default(), "input_tokens": 9,
                           "output_tokens": 4, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0}]}
    sdk = BetaUsage.model_validate(raw)
    assert Usage.from_sdk(sdk) == Usage.from_sdk(raw)
    again = Usage.from_sdk(raw).to_json()
    assert BetaUsage.model_validate(again).model_dump(exclude_none=True) == sdk.model_dump(exclude_none=True)
    u = Usage.from_sdk(raw)
    assert (u.writes(), u.executor_iterations, u.counter("web_search_requests")) == ((2, 3), True, 1)


def test_the_stored_iteration_type_matches_the_migration():
    """result_line.sql `stored_iterations` is what ingest writes; schema_v7.sql wrote it out (a
    released migration cannot include a file that may change): the two must stay equal."""
    def code(text: str) -> str:
        return re.sub(r"\s+", " ", " ".join(line for line in text.splitlines() if not line.lstrip().startswith("--")))

    stored = code(store.query("store/result_line.sql", "stored_iterations")).strip()
    migration = code(store.read_sql("store/schema_v7.sql"))
    assert f"ADD COLUMN iterations {stored};" in migration
