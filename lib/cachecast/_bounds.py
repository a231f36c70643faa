"""Bounds on the token counts a server reports, wherever they are read.

A server (the API, a proxy, a misconfigured ANTHROPIC_BASE_URL) can answer a usage number
that is negative, a float, a string, NaN or 10^30. Stored as it came, one probe answer with
`input_tokens: -200000000` became a probe cost of -$200 and the ledger's spend went below
zero, so a fooled budget looked fine; `"lots"` ended in exit 3. Every usage number from a
server therefore passes `token_problem`: a whole number from 0 to MAX_TOKENS, the bound
ingest applies to result lines in SQL (`cc_token_problem` in sql/store/ingest.sql; a test
keeps the two equal), said in the same words.

Used by the probe and pre-warm (messages.create usage), fetch (each downloaded result line),
count (count_tokens' input_tokens) and the Models API refresh (max_tokens).
"""
from __future__ import annotations

import json
import math
from typing import Any, Iterator, Mapping

from .errors import ApiError, redact

# Ten times the largest context window: a larger count is not a request, it is a broken answer.
MAX_TOKENS = 10_000_000

# The usage fields that are counts, as dotted paths (Anthropic's Message usage, also inside a
# batch result line's result.message.usage).
COUNT_FIELDS = ("input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens", "output_tokens",
                "cache_creation.ephemeral_5m_input_tokens", "cache_creation.ephemeral_1h_input_tokens",
                "output_tokens_details.thinking_tokens", "server_tool_use.web_search_requests",
                "server_tool_use.web_fetch_requests")
REQUIRED = ("input_tokens", "output_tokens")


def shown(value: Any) -> str:
    """A value as a sentence quotes it: JSON-like, redacted, at most 40 characters."""
    if isinstance(value, float) and not math.isfinite(value):
        text = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    else:
        try:
            text = json.dumps(value, default=str)
        except (TypeError, ValueError, RecursionError):
            text = type(value).__name__
    text = redact(text)
    return text if len(text) <= 40 else text[:37] + "..."


def token_problem(value: Any, limit: int = MAX_TOKENS) -> str | None:
    """Why `value` is not a token count (ingest's words), or None when it is one."""
    if isinstance(value, bool) or value is None or isinstance(value, (dict, list, tuple)):
        return f"is not a number ({shown(value)})"
    if isinstance(value, str):
        return f"is a string ({shown(value)})"
    if isinstance(value, float):
        if not math.isfinite(value):
            return f"is not a number ({shown(value)})"
        if not value.is_integer():
            return f"is not an integer ({shown(value)})"
        return f"is not an integer ({shown(value)})" if value >= 0 else f"is negative ({shown(value)})"
    if not isinstance(value, int):
        return f"is not a number ({shown(value)})"
    if value < 0:
        return f"is negative ({shown(value)})"
    if value > limit:
        return f"is implausibly large ({shown(value)} > {limit:,})"
    return None


def _fields(usage: Mapping[str, Any]) -> Iterator[tuple[str, Any, bool]]:
    """(dotted name, value, present) for every count field of `usage`."""
    for name in COUNT_FIELDS:
        node: Any = usage
        present = True
        for part in name.split("."):
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            else:
                present = False
                break
        yield name, node if present else None, present


def usage_problems(usage: Any) -> list[str]:
    """Every reason the usage object cannot be costed, as "usage.F is ..."; [] when it can.
    Absent or null optional fields are fine; input_tokens and output_tokens are required."""
    if not isinstance(usage, Mapping):
        return [f"usage is not an object ({shown(usage)})"]
    problems = []
    for name, value, present in _fields(usage):
        if not present or value is None:
            if name in REQUIRED:
                problems.append(f"usage.{name} is missing")
            continue
        problem = token_problem(value)
        if problem:
            problems.append(f"usage.{name} {problem}")
    return problems


def check_usage(usage: Any, where: str, kept: str = "") -> dict[str, Any]:
    """`usage` (as a plain dict) when every count in it is a token count; else ApiError
    naming the field and the value, so nothing is stored or priced from it; `kept` says
    what earlier work was kept."""
    problems = usage_problems(usage)
    if problems:
        raise ApiError(f"{where}: the server's usage is not a token count: {problems[0]} (counts are whole numbers "
                       f"from 0 to {MAX_TOKENS:,}); nothing was stored or priced from it{'; ' + kept if kept else ''}")
    return dict(usage)
