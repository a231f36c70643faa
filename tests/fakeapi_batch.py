"""A batch on the local server (tests/fakeapi.py): its state, its result lines, the text it counts.

Kept apart from the HTTP server so that module stays readable; nothing here knows HTTP.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from cachecast.facts import models

# the errored-line types injected by Faults.errored: members of anthropic.types.shared.ErrorObject a
# batch line can carry for a request that was not the caller's fault (tests/test_fakeapi_rules.py checks)
ERRORED_TYPES = ("overloaded_error", "api_error", "billing_error")
_FAULT_MESSAGES = {"overloaded_error": "Overloaded", "api_error": "Internal server error",
                   "billing_error": "Your credit balance is too low to access the Anthropic API."}


@dataclass
class FakeBatch:
    id: str
    requests: list[dict]
    created_at: datetime
    in_progress_polls: int
    errored: int
    expired: int
    api_version: str = models.DEFAULT_API_VERSION  # of the create call: the batch's params follow it
    created_day: date | None = None  # lifecycle checks use the day the batch was created
    sim_start: float = 0.0  # the server's cache clock when the batch was created
    betas: tuple[str, ...] = ()  # anthropic-beta values of the create call
    ordinal: int = 0  # the n-th batch of this server: seeds its results order
    polls: int = 0
    status: str = "in_progress"
    canceled: bool = False
    started: int = 0  # requests begun when a cancel came: they finish, the rest are canceled
    ended_at: datetime | None = None
    archived_at: datetime | None = None
    results: list[str] | None = None  # JSON lines, generated when the batch ends


def errored_line(custom_id: str, error_type: str, message: str) -> dict:
    """A batch result line for a request the service rejected (SDK: MessageBatchErroredResult)."""
    return {"custom_id": custom_id, "result": {"type": "errored", "error": {
        "type": "error", "error": {"type": error_type, "message": message}}}}


def typed_faults(lines: list[dict], types: tuple[str, ...]) -> list[dict]:
    """sim's injected errored lines, given the error types the service uses for them, in turn."""
    n = 0
    for line in lines:
        error = line["result"].get("error") if line["result"]["type"] == "errored" else None
        if error and types:
            kind = types[n % len(types)]
            error["error"] = {"type": kind, "message": _FAULT_MESSAGES.get(kind, kind)}
            n += 1
    return lines


def _text_chars(value: Any) -> int:
    """Characters of text in a system/content value: a string or a list of blocks."""
    if isinstance(value, str):
        return len(value)
    total = 0
    for block in value or []:
        if isinstance(block, dict):
            if isinstance(block.get("text"), str):
                total += len(block["text"])
            elif "content" in block:  # tool_result blocks
                total += _text_chars(block["content"])
    return total


def count_chars(body: dict) -> int:
    """All text that count_tokens counts: system, messages, and tool definitions (as JSON)."""
    chars = _text_chars(body.get("system"))
    for message in body.get("messages") or []:
        chars += _text_chars(message.get("content"))
    for tool in body.get("tools") or []:
        chars += len(json.dumps(tool, sort_keys=True))
    return chars
