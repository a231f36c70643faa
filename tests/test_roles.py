"""The model roles the tests use (tests/roles.py): each is a model of the table with the
property its name promises on the pinned test date, and a role the table cannot fill fails
with the role's name instead of handing a test the wrong model."""
from __future__ import annotations

import pytest

import roles
from cachecast.facts import models

# role -> what its model must be, read from the shipped table on roles.TEST_DAY
PROMISES = {
    "default": lambda f: f.id == models.role_ids()["default"],
    "bulk": lambda f: f.id == models.role_ids()["bulk"],
    "takes_temperature": lambda f: f.sampling_params("2023-06-01") and "enabled" in f.thinking_modes,
    "fixed_temperature": lambda f: f.fixed_sampling,
    "always_thinks": lambda f: f.thinks_by_default and f.thinking_disable is None
    and "disabled" not in f.thinking_modes,
    "no_thinking": lambda f: not f.thinks_by_default and "adaptive" in f.thinking_modes,
    "budget_only": lambda f: f.thinking_modes and "adaptive" not in f.thinking_modes and not f.effort,
    "takes_budget_tokens": lambda f: {"enabled", "adaptive"} <= set(f.thinking_modes),
    "no_budget_tokens": lambda f: "enabled" not in f.thinking_modes and "disabled" in f.thinking_modes,
    "off_between_tools": lambda f: f.thinking_disable == "between_tools" and "disabled" not in f.thinking_modes,
    "off_capped_effort": lambda f: models.thinking_problem(f, {"type": "disabled"}, None, 4096) is None
    and models.thinking_problem(f, {"type": "disabled"}, roles.effort_above(f.disable_max_effort), 4096),
    "no_geo": lambda f: models.geo_problem(f, {"inference_geo": "us"}) is not None,
    "fast": lambda f: models.speed_problem(f, {"speed": "fast"}, in_batch=False) is None,
    "fast_beta": lambda f: models.speed_problem(f, {"speed": "fast"}, in_batch=False)
    and models.speed_problem(f, {"speed": "fast"}, in_batch=False, betas=(models.FAST_MODE_BETA,)) is None,
    "no_fast": lambda f: not f.fast_mode,
    "no_forced_tool": lambda f: models.tool_choice_problem(f, {"tool_choice": {"type": "any"}}) is not None,
    "forced_tool": lambda f: models.tool_choice_problem(f, {"tool_choice": {"type": "any"}}) is None,
    "output_capped": lambda f: models.output_cap(f, (models.OUTPUT_300K_BETA,), in_batch=True) == f.max_output,
    "output_300k": lambda f: models.output_cap(f, (models.OUTPUT_300K_BETA,), in_batch=True) > f.max_output,
    "classic_tokenizer": lambda f: f.tokenizer_factor == 1.0,
    "tokenizer_2026": lambda f: f.tokenizer_factor > 1.0,
}


@pytest.mark.parametrize("role", sorted(PROMISES))
def test_each_role_is_an_active_model_with_its_property(role):
    facts = roles.facts(getattr(roles, role)())
    assert roles.state(facts) == "active", (role, facts.id)
    assert PROMISES[role](facts), (role, facts.id)


def test_the_lifecycle_roles():
    retired, deprecated = roles.facts(roles.retired()), roles.facts(roles.deprecated())
    with pytest.raises(models.RetiredModelError):
        models.check_lifecycle(retired.id, roles.TEST_DAY)
    assert retired.replacement and roles.state(roles.facts(retired.replacement)) == "active"
    warning = models.check_lifecycle(deprecated.id, roles.TEST_DAY)
    assert warning and f"it retires on {deprecated.retires_at}" in warning
    assert roles.other_active(roles.default()) != roles.default()


@pytest.mark.parametrize("tokens", [512, 1024, 2048, 4096])
def test_each_cache_minimum_tier_has_a_role(tokens):
    facts = roles.facts(roles.min_cache(tokens))
    assert facts.min_cache_tokens == tokens and not facts.min_cache_assumed
    assert roles.facts(roles.min_cache(1024, tokenizer="classic")).tokenizer == "classic"


def test_roles_are_read_on_the_date_the_tests_pin(current_model, retired_model, deprecated_model):
    assert models.today() == roles.TEST_DAY
    assert (current_model, retired_model, deprecated_model) == (roles.default(), roles.retired(), roles.deprecated())


def test_a_role_the_table_cannot_fill_fails_naming_it(monkeypatch):
    without_fast = [f for f in models.table_models() if not f.fast_mode]
    monkeypatch.setattr(models, "table_models", lambda: without_fast)
    with pytest.raises(AssertionError, match="test role 'fast'.*has fast mode"):
        roles.fast()
    monkeypatch.setattr(models, "role_ids", lambda: {"default": roles.retired()})
    with pytest.raises(AssertionError, match=f"test role 'default'.*{roles.retired()} is retired"):
        roles.default()
    with pytest.raises(AssertionError, match="names no bulk model"):
        roles.bulk()
