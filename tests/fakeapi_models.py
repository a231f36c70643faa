"""The local server's Models API: ModelInfo objects (anthropic.types.ModelInfo) for its catalogue.

The catalogue is cachecast's shipped model table (never a Models API refresh: the server
stands for the real API, whose truth the dated table records) plus any `extra_models` a
test gives it, ModelInfo dicts of models the table does not know. Requests for an extra
model are validated against the facts the Models API gives for it
(`cachecast.facts.models.facts_from_api`, the same conversion `models --refresh` uses), so
"any model id the Models API lists" is accepted, as by the real service.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date

from cachecast.facts import models

_UNTRACKED = {"supported": True}  # capabilities cachecast's table does not track: reported as supported
SERVER_FETCHED = "fake server"  # the `fetched_at` label of facts built from an extra model's ModelInfo


def model_info(facts: models.ModelFacts, day: date) -> dict:
    """A ModelInfo object from a table row, lifecycle as of `day`."""
    return {"type": "model", "id": facts.id, "display_name": display_name(facts.id),
            "created_at": _created_at(facts), "lifecycle": models.lifecycle_on(facts, day),
            "deprecated_at": _day_iso(facts.deprecated_at), "retires_at": _day_iso(facts.retires_at),
            "max_tokens": facts.max_output, "max_input_tokens": None, "line": _line(facts.id),
            "capabilities": capabilities(facts)}


def extra_model(model_id: str, *, max_tokens: int = 64_000, thinking: tuple[str, ...] = ("adaptive", "disabled"),
                effort: tuple[str, ...] = ("low", "medium", "high"), batch: bool = True,
                lifecycle: str = "active", max_input_tokens: int | None = 400_000) -> dict:
    """A ModelInfo dict for a model cachecast's table does not know (for FakeAnthropic(extra_models=...))."""
    facts = models.ModelFacts(
        id=model_id, aliases=(), lifecycle=lifecycle, deprecated_at=None, retires_at=None, replacement=None,
        min_cache_tokens=1, min_cache_assumed=True, tokenizer="2026", tokenizer_factor=1.3, sampling_2023=False,
        thinking_modes=thinking, thinking_default="none", thinking_disable=None, disable_max_effort=None,
        enabled_deprecated=False, effort=effort, default_effort=None, inference_geo=False, fast_mode=False,
        max_output=max_tokens, batch=batch, sources=(), source="", as_of=models.as_of())
    info = model_info(facts, models.today())
    return {**info, "created_at": f"{models.as_of()}T00:00:00Z", "max_input_tokens": max_input_tokens}


def capabilities(facts: models.ModelFacts) -> dict:
    thinking_types = {t: {"supported": t in facts.thinking_modes} for t in models.THINKING_TYPES}
    effort = {level: {"supported": level in facts.effort} for level in models.EFFORTS}
    return {"batch": {"supported": facts.batch}, "citations": _UNTRACKED, "code_execution": _UNTRACKED,
            "context_management": _UNTRACKED, "effort": {"supported": bool(facts.effort), **effort},
            "image_input": _UNTRACKED, "pdf_input": _UNTRACKED, "structured_outputs": _UNTRACKED,
            "server_tools": {"supported": True, "code_execution": _UNTRACKED, "web_search": _UNTRACKED},
            "thinking": {"supported": any(t in facts.thinking_modes for t in ("enabled", "adaptive")),
                         "types": thinking_types}}


@dataclass
class Catalogue:
    """What the server's Models API lists, and the facts its request checks use for each id."""

    extra: list[dict] = field(default_factory=list)  # ModelInfo dicts of models the table lacks

    def find(self, model: str) -> models.ModelFacts | None:
        found = models.table_facts(model)
        if found is not None:
            return found
        info = next((m for m in self.extra if m["id"] == model), None)
        return models.facts_from_api(info, SERVER_FETCHED) if info is not None else None

    def listing(self, day: date) -> list[dict]:
        return [model_info(f, day) for f in models.table_models()] + [dict(m) for m in self.extra]

    def info(self, model: str, day: date) -> dict | None:
        found = models.table_facts(model)
        if found is not None:
            return model_info(found, day)
        return next((dict(m) for m in self.extra if m["id"] == model), None)


def display_name(model_id: str) -> str:
    words = [w for w in model_id.split("-") if w != "claude" and not re.fullmatch(r"\d{8}", w)]
    named = [w.capitalize() for w in words if not w.isdigit()]
    version = ".".join(w for w in words if w.isdigit())
    return " ".join(["Claude", *named, version]).strip()


def _line(model_id: str) -> str | None:
    return next((line for line in ("haiku", "sonnet", "opus", "fable", "mythos") if line in model_id), None)


def _created_at(facts: models.ModelFacts) -> str:
    """The date in a dated alias (claude-haiku-4-5-20251001), else the table's as-of date:
    the table does not keep release dates, and the field is required."""
    for name in (facts.id, *facts.aliases):
        found = re.search(r"(\d{4})(\d{2})(\d{2})$", name)
        if found:
            return f"{found[1]}-{found[2]}-{found[3]}T00:00:00Z"
    return f"{models.as_of()}T00:00:00Z"


def _day_iso(day: date | None) -> str | None:
    return None if day is None else f"{day.isoformat()}T00:00:00Z"
