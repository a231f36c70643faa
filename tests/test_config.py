"""Run configuration: the shipped configs load, and every kind of mistake is reported with
the file, the key path, the bad value and what is accepted."""
from __future__ import annotations

import pytest

import roles
from _fixtures import FULL, PILOT, PILOT_OPENAI
from cachecast.build.config import load_config
from cachecast.errors import ConfigError


def _error(project, changes=None, text=None) -> str:
    path = project.write("cfg.yaml", text) if text is not None else project.config(changes)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    msg = str(exc.value)
    assert "\n" not in msg, "errors are one line"
    return msg


def test_shipped_configs_load():
    pilot, full, openai = load_config(PILOT), load_config(FULL), load_config(PILOT_OPENAI)
    assert pilot.provider.cache.ttl == "1h" and pilot.provider.caching_enabled
    assert pilot.items.limit == 200 and full.items.limit == 5000
    assert [t.name for t in pilot.treatments] == ["control", "concise", "verify"]
    assert pilot.temperatures == [None] and pilot.repeats == full.repeats == 2
    assert pilot.budget_usd == 25 and full.budget_usd == 524
    assert pilot.provider.model == full.provider.model == roles.default()  # the shipped configs follow the default
    assert pilot.provider.api_version == "2026-10-21"
    assert openai.provider.name == "openai" and not openai.provider.caching_enabled


def test_caching_defaults_on_for_anthropic_only(project):
    assert project.load().provider.caching_enabled
    assert not project.load({"provider": {"request_overrides": {"cache_control": {"enable_system_cache": False}}}}
                            ).provider.caching_enabled
    cfg = project.load({"provider": {"name": "openai", "model": "gpt-4.1-mini"}})
    assert not cfg.provider.caching_enabled


def test_unknown_top_level_key_suggests_the_right_one(project):
    cfg = project.config({"tempratures": [0.0]})
    msg = _error(project, text=cfg.read_text())
    assert str(cfg) in msg
    assert "unknown key 'tempratures'" in msg
    assert "did you mean 'temperatures'" in msg
    assert "accepted keys here:" in msg and "max_tokens" in msg and "source" not in msg.split("accepted")[1]


def test_unknown_nested_key_names_the_full_path(project):
    msg = _error(project, {"provider": {"request_overrides": {"cache_control": {"tll": "1h"}}}})
    assert "'provider.request_overrides.cache_control.tll'" in msg
    assert "did you mean 'provider.request_overrides.cache_control.ttl'" in msg
    assert "enable_system_cache, ttl, tools, context" in msg


def test_bad_ttl_value_lists_accepted_values(project):
    msg = _error(project, {"provider": {"request_overrides": {"cache_control": {"ttl": "10m"}}}})
    assert "cfg.yaml" in msg
    assert "'provider.request_overrides.cache_control.ttl'" in msg
    assert '"10m"' in msg
    assert "'5m' or '1h'" in msg


def test_wrong_type_names_key_value_and_expected_type(project):
    msg = _error(project, {"repeats": "three"})
    assert "'repeats'" in msg and '"three"' in msg and "whole number" in msg


def test_bad_list_entry_names_its_index(project):
    msg = _error(project, {"temperatures": [0.0, "hot"]})
    assert "'temperatures.1'" in msg and '"hot"' in msg and "valid number" in msg


def test_out_of_range_temperature(project):
    msg = _error(project, {"temperatures": [1.5]})
    assert "'temperatures'" in msg and "1.5" in msg and "0.0-1.0" in msg


def test_bad_provider_name_lists_providers(project):
    msg = _error(project, {"provider": {"name": "anthropc"}})
    assert "'provider.name'" in msg and '"anthropc"' in msg and "'anthropic' or 'openai'" in msg


def test_missing_required_key(project):
    msg = _error(project, {"max_tokens": None})
    assert "missing required key 'max_tokens'" in msg


def test_duplicate_treatments_named_without_dumping_the_config(project):
    msg = _error(project, {"treatments": [{"name": "control"}, {"name": "control"}]})
    assert "'treatments'" in msg and "repeated: control" in msg
    assert "max_tokens" not in msg and len(msg) < 300  # the value shown is the list, shortened


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="nope.yaml: config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_directory_instead_of_config_file(tmp_path):
    with pytest.raises(ConfigError, match="is a directory, expected a YAML config file"):
        load_config(tmp_path)


def test_malformed_yaml_names_the_line(project):
    msg = _error(project, text="run_name: t\nprovider:\n  name: [anthropic\n  model: x\n")
    assert "cfg.yaml" in msg and "malformed YAML" in msg and "line " in msg


def test_top_level_must_be_a_mapping(project):
    msg = _error(project, text="- a\n- b\n")
    assert "expected a mapping" in msg and "list" in msg


def test_missing_prompt_file_names_the_key(project):
    msg = _error(project, {"prompts": {"system_file": "nowhere.md"}})
    assert "'prompts.system_file'" in msg and "nowhere.md" in msg and "does not exist" in msg


def test_prompt_path_that_is_a_directory(project):
    (project.dir / "prompts").mkdir()
    msg = _error(project, {"prompts": {"user_template_file": "prompts"}})
    assert "'prompts.user_template_file'" in msg and "is a directory" in msg


def test_missing_treatment_file_names_its_index(project):
    msg = _error(project, {"treatments": [{"name": "control"}, {"name": "v", "system_file": "gone.md"}]})
    assert "'treatments.1.system_file'" in msg and "gone.md" in msg


def test_paths_are_relative_to_the_config_file(project, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path.parent)  # not the config's directory
    cfg = project.load()
    assert cfg.resolve(cfg.prompts.system_file) == project.dir / "system.md"


def test_bad_treatment_name_shows_the_pattern(project):
    msg = _error(project, {"treatments": [{"name": "with space"}]})
    assert "'treatments.0.name'" in msg and '"with space"' in msg and "pattern" in msg
