"""Request rules the API applies that are neither the SDK's types nor one model's facts.

Why here: lint, the probe and the local test server must refuse the same requests, in the
API's words, or the server is kinder than the service and a passing test proves nothing.
Each rule names its source. Where the documentation does not say what the API answers,
the rule says so and the local server can behave either way (tests/fakeapi.py modes).
"""
from __future__ import annotations

from typing import Any

from . import models

# Sources, cited by the rules below and by tests/test_fakeapi_rules.py's table.
PREWARM_DOC = ("https://platform.claude.com/docs/en/build-with-claude/prompt-caching#pre-warming-the-cache "
               "(linked from the SDK's MessageCreateParamsBase.max_tokens docstring)")
BATCH_DOC = "https://platform.claude.com/docs/en/build-with-claude/batch-processing"
RESIDENCY_DOC = "https://platform.claude.com/docs/en/build-with-claude/data-residency"


def forced_tool_choice(params: dict[str, Any]) -> bool:
    choice = params.get("tool_choice")
    return isinstance(choice, dict) and choice.get("type") in models.FORCED_TOOL_CHOICES


def structured_output(params: dict[str, Any]) -> bool:
    config = params.get("output_config")
    return (isinstance(config, dict) and config.get("format") is not None) or params.get("output_format") is not None


def prewarm_problem(params: dict[str, Any]) -> str | None:
    """max_tokens 0 pre-warms the cache without generating; it cannot be combined with a
    forced tool_choice or structured outputs, which demand output (PREWARM_DOC)."""
    if params.get("max_tokens") != 0 or isinstance(params.get("max_tokens"), bool):
        return None
    if forced_tool_choice(params):
        return ("max_tokens: 0 (cache pre-warming) cannot be combined with a forced tool_choice "
                f"(type {params['tool_choice']['type']!r}); use tool_choice auto or max_tokens >= 1")
    if structured_output(params):
        return "max_tokens: 0 (cache pre-warming) cannot be combined with structured outputs (output_config.format)"
    return None


def batch_problem(params: dict[str, Any]) -> str | None:
    """What only the Message Batches API refuses: streaming and max_tokens 0 (BATCH_DOC;
    speed "fast" is models.speed_problem's, which knows the endpoint too)."""
    if "stream" in params:
        return "stream: streaming is not supported in the Message Batches API"
    if params.get("max_tokens") == 0:
        return ("max_tokens: must be at least 1 in the Message Batches API (max_tokens 0 pre-warms the cache "
                "and is only accepted by /v1/messages)")
    return None


def content_problem(params: dict[str, Any]) -> str | None:
    """An empty conversation, or a text block with no text (system or messages): the API
    refuses both, and the SDK's types cannot say so (any list, any string)."""
    messages = params.get("messages")
    if isinstance(messages, list) and not messages:
        return "messages: at least one message is required"
    system = params.get("system")
    if _empty_text(system):
        return "system: text content blocks must be non-empty"
    for message in messages if isinstance(messages, list) else []:
        if isinstance(message, dict) and _empty_text(message.get("content")):
            return "messages: text content blocks must be non-empty"
    return None


def _empty_text(content: Any) -> bool:
    if isinstance(content, str):
        return content == ""
    if isinstance(content, list):
        return any(isinstance(b, dict) and b.get("type") == "text" and b.get("text") == "" for b in content)
    return False


def geo_value_problem(params: dict[str, Any]) -> str | None:
    """inference_geo is a string in the SDK's types; the API takes only the documented
    regions (RESIDENCY_DOC, kept in data/models.yaml)."""
    geo = params.get("inference_geo")
    accepted = models.inference_geos()
    if geo is not None and geo not in accepted:
        return f"inference_geo: {str(geo)[:40]!r} is not a supported value (accepted: {', '.join(accepted)})"
    return None


def always_thinks(facts: models.ModelFacts, params: dict[str, Any]) -> bool:
    """Adaptive thinking (asked for, or the default) on a model that cannot turn it off: the
    shape whose max_tokens 0 the documentation does not show to be accepted."""
    kind = (params.get("thinking") or {}).get("type") if isinstance(params.get("thinking"), dict) else None
    return facts.thinking_disable is None and (kind == "adaptive" or (kind is None and facts.thinks_by_default))
