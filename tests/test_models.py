"""The model table: every id the SDK knows, exact matching, lifecycle by date, the models
command and its JSON contract, and the Models API refresh preferred over the table.

The ids here are mostly the facts under test: a row's minimum, aliases, retirement date and
replacement as the docs publish them. Where a test needs only a model in some role (the
current default, one that takes a temperature), it names the role (tests/roles.py)."""
from __future__ import annotations

import json
import typing
from datetime import date

import pytest

from cachecast.facts import model_cache, models
from cachecast.cli import main
from cachecast.errors import ConfigError
import roles


def sdk_model_ids() -> list[str]:
    """The literal ids in the installed SDK's anthropic.types.Model (a Union of Literal and str)."""
    from anthropic.types.model import Model

    literal = next(a for a in typing.get_args(Model) if typing.get_origin(a) is typing.Literal)
    return list(typing.get_args(literal))


@pytest.mark.parametrize("model_id", sdk_model_ids())
def test_every_sdk_model_is_in_the_table(model_id):
    """Fails naming the model when an SDK upgrade brings one the table lacks."""
    assert models.find(model_id) is not None, f"{model_id} is in anthropic.types.Model but not in data/models.yaml"


@pytest.mark.parametrize("model_id", ["claude-sonnet-4-5", "claude-opus-4-1", "claude-opus-4-0", "claude-sonnet-4-0",
                                      "claude-3-haiku-20240307", "claude-3-7-sonnet-20250219",
                                      "claude-3-5-haiku-20241022", "claude-3-opus-20240229"])
def test_models_retired_in_2026_are_in_the_table(model_id):
    facts = models.model_facts(model_id)
    assert facts.lifecycle == "retired" and facts.retires_at.year == 2026


def test_ids_match_exactly_and_dated_ids_are_aliases():
    """Prefix matching once gave claude-sonnet-5-5 the claude-sonnet-5 row (1,024, old rules)."""
    s55, s5 = models.model_facts("claude-sonnet-5-5"), models.model_facts("claude-sonnet-5")
    assert (s55.min_cache_tokens, s5.min_cache_tokens) == (512, 1024)
    assert s55.tokenizer == "2026" and s55.tokenizer_factor == 1.3 and not s55.sampling_2023
    assert models.model_facts("claude-haiku-4-5-20251001").id == "claude-haiku-4-5"
    assert models.model_facts("claude-sonnet-4-5-20250929").id == "claude-sonnet-4-5"
    assert models.find("claude-sonnet-5-5-20991231") is None  # no guessing from a prefix


def test_unknown_id_is_one_sentence_with_close_matches():
    with pytest.raises(ConfigError) as exc:
        models.model_facts("claude-haiku-5.5")
    msg = str(exc.value)
    assert "\n" not in msg and "close matches: claude-haiku-5-5" in msg and "cachecast models" in msg


@pytest.mark.parametrize("model_id, minimum", [
    ("claude-opus-5-5", 512), ("claude-sonnet-5-5", 512), ("claude-haiku-5-5", 512), ("claude-opus-5", 512),
    ("claude-fable-5-1", 512), ("claude-mythos-5", 512), ("claude-opus-4-8", 1024), ("claude-sonnet-5", 1024),
    ("claude-sonnet-4-6", 1024), ("claude-opus-4-7", 2048), ("claude-mythos-preview", 2048),
    ("claude-opus-4-6", 4096), ("claude-opus-4-5", 4096), ("claude-haiku-4-5", 4096),
])
def test_minimum_cacheable_prefix_per_model(model_id, minimum):
    """FACTS.md, "Minimum cacheable prefix"."""
    assert models.model_facts(model_id).min_cache_tokens == minimum


def test_unpublished_minimums_are_marked_as_assumed():
    assert {f.id for f in models.all_models() if f.min_cache_assumed} == {"claude-fable-5-2", "claude-mythos-5-2"}


def test_every_row_has_sources_and_the_table_a_date():
    assert models.as_of() == "2026-12-01"
    for facts in models.all_models():
        assert facts.sources and all(s.startswith(("https://", "anthropic ", "cachecast shared/FACTS.md")) for s in facts.sources), facts.id


def test_lifecycle_follows_the_date():
    sonnet45 = models.model_facts("claude-sonnet-4-5")
    assert models.lifecycle_on(sonnet45, date(2026, 11, 29)) == "deprecated"
    assert models.lifecycle_on(sonnet45, date(2026, 11, 30)) == "retired"
    assert models.check_lifecycle("claude-sonnet-4-5", date(2026, 11, 29)).startswith("model claude-sonnet-4-5 is "
                                                                                      "deprecated: it retires on")
    with pytest.raises(models.RetiredModelError) as exc:
        models.check_lifecycle("claude-sonnet-4-5", date(2026, 12, 1))
    assert "retired on 2026-11-30" in str(exc.value) and "use claude-sonnet-5-5" in str(exc.value)
    assert "use claude-opus-5-5" in models.check_lifecycle("claude-opus-4-5", date(2026, 12, 1))
    assert models.check_lifecycle(roles.default(), date(2026, 12, 1)) is None


def test_today_is_overridable_and_checked(monkeypatch):
    monkeypatch.setenv(models.TODAY_ENV, "2026-11-01")
    assert models.today() == date(2026, 11, 1)
    monkeypatch.setenv(models.TODAY_ENV, "soon")
    with pytest.raises(ConfigError, match="is not a date"):
        models.today()


def test_models_json_meets_the_contract(capsys):
    assert main(["models", "--json"]) == 0
    body = json.loads(capsys.readouterr().out)
    assert {"source", "as_of", "models"} <= set(body) and body["as_of"] == "2026-12-01"
    contract = {"id", "aliases", "lifecycle", "retires_at", "replacement", "min_cache_tokens", "sampling_params",
                "thinking"}
    for row in body["models"]:
        assert contract <= set(row)
        assert row["lifecycle"] in ("active", "deprecated", "retired") and isinstance(row["sampling_params"], bool)
        assert isinstance(row["min_cache_tokens"], int) and isinstance(row["thinking"], list)
    by_id = {r["id"]: r for r in body["models"]}
    assert by_id["claude-sonnet-4-5"]["replacement"] == "claude-sonnet-5-5"
    assert by_id[roles.takes_temperature()]["sampling_params"]
    assert not by_id[roles.fixed_temperature()]["sampling_params"]


def test_models_table_prints(capsys, current_model):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert current_model in out and "retired" in out and "Source: cachecast model table 2026-12-01" in out


def test_refresh_from_the_models_api_is_preferred(fake_api, monkeypatch, tmp_path, capsys, current_model):
    """With a key, --refresh stores client.models.list(); later lookups use it and say so."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key")
    monkeypatch.setenv(model_cache.REFRESH_ENV, str(tmp_path / "models.json"))
    models.model_facts.cache_clear()
    models._table.cache_clear()
    try:
        assert main(["models", "--refresh", "--json", "--base-url", fake_api.url]) == 0
        body = json.loads(capsys.readouterr().out)
        assert "Models API refresh" in body["source"]
        assert ("GET", "/v1/models") in [(m, p.split("?")[0]) for m, p in fake_api.calls]
        stored = json.loads((tmp_path / "models.json").read_text())
        stored["models"] = [{**m, "lifecycle": "deprecated", "retires_at": "2027-06-01T00:00:00Z"}
                            if m["id"] == current_model else m for m in stored["models"]]
        (tmp_path / "models.json").write_text(json.dumps(stored))
        models.model_facts.cache_clear()
        models._table.cache_clear()
        facts = models.model_facts(current_model)
        assert facts.lifecycle == "deprecated" and facts.retires_at == date(2027, 6, 1)
        assert "Models API" in facts.source
        assert "retires on 2027-06-01" in models.check_lifecycle(current_model, date(2026, 12, 1))
    finally:
        models.model_facts.cache_clear()
        models._table.cache_clear()
