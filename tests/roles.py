"""Models by role, for the tests: read from the dated model table, never written out.

Why: most tests need "a model that does X" (the current default, a retired one, one that
cannot turn thinking off), not one particular model. Naming the role means a change in the
model lifecycle (a retirement, a new default, a new model) moves each role in one place, the
table (lib/cachecast/facts/data/models.yaml), instead of in thirty test files. A test about
one model's documented fact (its published rates, its dated correction row, its table row)
keeps naming that model, and says so at the top of its file.

Each role is the first row of the shipped table (newest first) that fits, on TEST_DAY, the
date the tests pin (conftest sets CACHECAST_TODAY to it). Only the shipped table is read (no
Models API refresh), so that a role is the same at collection time, when parametrize lists
and module constants are made, as inside a test. A role the table can no longer fill fails
with an assertion that names the role and what it asks for.
"""
from __future__ import annotations

from datetime import date
from typing import Callable

from cachecast.facts import models
from cachecast.facts.models import ModelFacts

TEST_DAY = date(2026, 12, 1)  # CACHECAST_TODAY in tests/conftest.py


def facts(model: str) -> ModelFacts:
    """The shipped table's row for a role's id (or any id the table has)."""
    row = models.table_facts(model)
    assert row is not None, f"{model} is not in the shipped model table ({models.as_of()})"
    return row


def state(row: ModelFacts) -> str:
    """Lifecycle on TEST_DAY: active, deprecated or retired."""
    return models.lifecycle_on(row, TEST_DAY)


def _first(role: str, wants: str, fits: Callable[[ModelFacts], bool], lifecycle: str = "active") -> str:
    found = [row for row in models.table_models() if state(row) == lifecycle and fits(row)]
    assert found, (f"test role '{role}': the model table ({models.as_of()}) has no {lifecycle} model on {TEST_DAY} "
                   f"that {wants}; pick the role again in tests/roles.py")
    return found[0].id


def _named(role: str) -> str:
    ids = models.role_ids()
    assert role in ids, f"test role '{role}': data/models.yaml `roles` names no {role} model ({sorted(ids)})"
    row = facts(ids[role])
    assert state(row) == "active", (f"test role '{role}': the table's {role} model {row.id} is {state(row)} "
                                    f"on {TEST_DAY}")
    return row.id


# ------------------------------------------------------------------ the lifecycle


def default() -> str:
    """The current default (`roles.default` in the table): what the shipped configs and the
    simulator use, active, and the model a test means when it needs just "a model"."""
    return _named("default")


def bulk() -> str:
    """The cheap model for bulk evals (`roles.bulk`)."""
    return _named("bulk")


def retired() -> str:
    """The most recently retired model that names a replacement: its requests fail (lint, the
    builder and the local server refuse it) and its results can still be priced."""
    found = [row for row in models.table_models()
             if state(row) == "retired" and row.replacement and row.retires_at]
    assert found, f"test role 'retired': the model table ({models.as_of()}) has no retired model with a replacement"
    return max(found, key=lambda row: row.retires_at).id


def deprecated() -> str:
    """A deprecated model still inside its notice: callable, with a warning, a replacement and a
    retirement date after TEST_DAY."""
    return _first("deprecated", "is deprecated with a replacement and a retirement date still to come",
                  lambda r: bool(r.replacement) and r.retires_at is not None and r.retires_at > TEST_DAY,
                  lifecycle="deprecated")


def other_active(*besides: str) -> str:
    """An active model other than these: for tests that need two distinct callable models."""
    return _first("other_active", f"is not one of {besides}", lambda r: r.id not in besides)


# ------------------------------------------------------------------ sampling


def takes_temperature() -> str:
    """Takes a non-default temperature (and top_p, top_k) when pinned to API version 2023-06-01,
    and budget_tokens thinking (the shape that goes with sampling on the old API)."""
    return _first("takes_temperature", "accepts a non-default temperature under 2023-06-01 and budget_tokens",
                  lambda r: r.sampling_2023 and "enabled" in r.thinking_modes)


def fixed_temperature() -> str:
    """Refuses any non-default temperature under every API version, 2023-06-01 included."""
    return _first("fixed_temperature", "refuses a non-default temperature under 2023-06-01",
                  lambda r: not r.sampling_2023)


# ------------------------------------------------------------------ thinking


def always_thinks() -> str:
    """Adaptive thinking by default and no way to turn it off (no disabled, no between_tools)."""
    return _first("always_thinks", "thinks by default and cannot turn thinking off",
                  lambda r: r.thinks_by_default and r.thinking_disable is None)


def no_thinking() -> str:
    """Does not think unless asked (an omitted `thinking` means none) and takes adaptive when asked."""
    return _first("no_thinking", "does not think unless asked and accepts adaptive thinking",
                  lambda r: r.thinking_default == "none" and "adaptive" in r.thinking_modes)


def budget_only() -> str:
    """No adaptive thinking: only budget_tokens (`enabled`), and no effort parameter."""
    return _first("budget_only", "has budget_tokens thinking, no adaptive thinking and no effort",
                  lambda r: "enabled" in r.thinking_modes and "adaptive" not in r.thinking_modes and not r.effort)


def takes_budget_tokens() -> str:
    """Takes budget_tokens (`enabled`) thinking and adaptive thinking too."""
    return _first("takes_budget_tokens", "takes budget_tokens and adaptive thinking",
                  lambda r: "enabled" in r.thinking_modes and "adaptive" in r.thinking_modes)


def no_budget_tokens() -> str:
    """Refuses budget_tokens (`enabled`) thinking, yet can turn thinking off (`disabled`)."""
    return _first("no_budget_tokens", "refuses budget_tokens and accepts thinking disabled",
                  lambda r: "enabled" not in r.thinking_modes and "disabled" in r.thinking_modes)


def off_between_tools() -> str:
    """Turns thinking off only with `between_tools` (a `disabled` is a 400), up to a capped effort."""
    return _first("off_between_tools", "turns thinking off with between_tools, at a capped effort",
                  lambda r: r.thinking_disable == "between_tools" and r.disable_max_effort is not None)


def off_capped_effort() -> str:
    """Takes thinking `disabled`, but only up to an effort below the model's top one; its
    default effort is within that cap (so `disabled` with no effort loads)."""
    return _first("off_capped_effort", "takes thinking disabled only up to a capped effort, its default within it",
                  lambda r: r.thinking_disable == "disabled" and r.disable_max_effort is not None and r.effort
                  and models.effort_rank(r.disable_max_effort) < models.effort_rank(r.effort[-1])
                  and r.default_effort is not None
                  and models.effort_rank(r.default_effort) <= models.effort_rank(r.disable_max_effort))


def effort_above(cap: str) -> str:
    """The effort level just above `cap` (the first one a capped `disabled` refuses)."""
    return models.EFFORTS[models.effort_rank(cap) + 1]


# ------------------------------------------------------------------ geo, speed, tools, output


def no_geo() -> str:
    """Refuses inference_geo (data residency is for the 4.6 generation and later)."""
    return _first("no_geo", "refuses inference_geo", lambda r: not r.inference_geo)


def fast() -> str:
    """Has fast mode (speed: fast, never in a batch) without a beta header."""
    return _first("fast", "has fast mode without a beta header", lambda r: r.fast_mode and not r.fast_mode_beta)


def fast_beta() -> str:
    """Has fast mode as a research preview: speed: fast needs the fast-mode beta header."""
    return _first("fast_beta", "has fast mode behind the beta header", lambda r: r.fast_mode and r.fast_mode_beta)


def no_fast() -> str:
    """Has no fast mode at all."""
    return _first("no_fast", "has no fast mode", lambda r: not r.fast_mode)


def no_forced_tool() -> str:
    """Refuses a forced tool_choice (any, tool), on count_tokens too."""
    return _first("no_forced_tool", "refuses a forced tool_choice", lambda r: not r.forced_tool_choice)


def forced_tool() -> str:
    """Takes a forced tool_choice (any, tool)."""
    return _first("forced_tool", "takes a forced tool_choice", lambda r: r.forced_tool_choice)


def output_capped() -> str:
    """Has a published max_tokens ceiling and no higher batch ceiling (no output-300k beta)."""
    return _first("output_capped", "has a max_tokens ceiling and no output-300k beta",
                  lambda r: bool(r.max_output) and not r.max_output_batch_beta)


def output_300k() -> str:
    """Has a synchronous max_tokens ceiling and a higher one in batches with the output-300k beta."""
    return _first("output_300k", "has a batch-only max_tokens ceiling above its synchronous one",
                  lambda r: bool(r.max_output and r.max_output_batch_beta and r.max_output_batch_beta > r.max_output))


# ------------------------------------------------------------------ caching and tokens


def min_cache(tokens: int, tokenizer: str | None = None) -> str:
    """A model whose published (not assumed) shortest cacheable prefix is `tokens`, on
    `tokenizer` ("2026" or "classic") when given: what hand-worked token arithmetic needs."""
    on = f" on the {tokenizer} tokenizer" if tokenizer else ""
    return _first(f"min_cache({tokens}, {tokenizer})", f"has a published {tokens}-token cache minimum{on}",
                  lambda r: r.min_cache_tokens == tokens and not r.min_cache_assumed
                  and tokenizer in (None, r.tokenizer))


def classic_tokenizer() -> str:
    """Counts with the classic tokenizer (factor 1.0 in the offline estimate)."""
    return _first("classic_tokenizer", "uses the classic tokenizer", lambda r: r.tokenizer == "classic")


def tokenizer_2026() -> str:
    """Counts with the 2026 tokenizer (about 1.3x the classic tokens in the offline estimate)."""
    return _first("tokenizer_2026", "uses the 2026 tokenizer", lambda r: r.tokenizer == "2026")
