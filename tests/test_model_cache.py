"""The Models API cache (`models --refresh`): validated before it is stored, read like any other
input, and a model only the API lists gets a row that build can use (issues 20 and 22).

Each test here failed before its fix: a malformed answer was stored as it came and every later
command exited 3 (TypeError, ValueError) until the file was deleted; a cache nested 100,000 deep
was a RecursionError; refresh kept only the ids the table knew, so `build` refused a model the
Models API lists.

claude-mythos-preview is named because the SDK's deprecation list dates it (the fact under test);
claude-lyric-6 is made up (a model only the Models API lists)."""
from __future__ import annotations

import json
import os
import re
from datetime import date, datetime

import pytest

from cachecast.cli import main
from cachecast.facts import model_cache, models
from fakeapi import FakeAnthropic
from fakeapi_models import extra_model


@pytest.fixture
def fresh_tables(monkeypatch, tmp_path):
    """A cache file of this test's own, and model lookups that read it (the table is memoised)."""
    path = tmp_path / "models.json"
    monkeypatch.setenv(model_cache.REFRESH_ENV, str(path))
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key-models")
    _clear()
    yield path
    _clear()


def _clear() -> None:
    models._table.cache_clear()
    models.model_facts.cache_clear()
    from cachecast import _paths

    _paths._WARNED.clear()


def cli(capsys, *argv) -> tuple[int, str, str]:
    rc = main([str(a) for a in argv])
    out = capsys.readouterr()
    return rc, out.out, out.err


def good_rows() -> list[dict]:
    from fakeapi_models import model_info

    return [model_info(f, models.today()) for f in models.table_models()[:3]]


# ------------------------------------------------------------------ the SDK's deprecation list


def _sdk_day(text: str) -> date:
    return datetime.strptime(re.sub(r"(\d+)(st|nd|rd|th)", r"\1", text), "%B %d, %Y").date()


def test_the_table_agrees_with_the_installed_sdks_deprecation_list():
    """anthropic._data.deprecated_models names a retirement date per deprecated model; an SDK
    upgrade that adds or moves one fails here, naming the model (claude-mythos-preview's
    2026-06-30 was missing from the table)."""
    from anthropic._data.deprecated_models import DEPRECATED_MODELS

    assert DEPRECATED_MODELS
    for model_id, when in DEPRECATED_MODELS.items():
        facts = models.table_facts(model_id)
        assert facts is not None, f"{model_id} is in the SDK's deprecated list but not in data/models.yaml"
        assert facts.retires_at == _sdk_day(when), (model_id, facts.retires_at, when)
        assert facts.lifecycle in ("deprecated", "retired"), model_id
    mythos = models.model_facts("claude-mythos-preview")
    assert mythos.retires_at == date(2026, 6, 30)
    assert "overdue" in models.check_lifecycle("claude-mythos-preview", date(2026, 12, 1))


# ------------------------------------------------------------------ refresh: validated before it is stored


@pytest.mark.parametrize("bad, words", [
    # these two the answer check under every call refuses first (send/guard.py, issue 22), in its words
    ({"id": 5}, "GET /v1/models answered HTTP 200 without what the SDK needs (data[0].id is a number (5), not a string)"),
    ({"retires_at": "soon"}, "without what the SDK needs (data[0].retires_at is \"soon\", not a date)"),
    ({"lifecycle": "gone"}, "lifecycle \"gone\" does not match"),
    ({"max_tokens": 10**12}, "max_tokens is 1,000,000,000,000, outside 1 to 10,000,000"),
    ({"id": "Claude Opus!"}, "is not a model id"),
])
def test_a_malformed_answer_is_refused_and_the_old_cache_kept(fresh_tables, capsys, bad, words):
    model_cache.store(good_rows())
    before = fresh_tables.read_text()
    served = [{**good_rows()[0], **bad}]
    with FakeAnthropic(extra_models=served) as server:
        server.catalogue.listing = lambda day: served  # the server answers only the malformed row
        rc, out, err = cli(capsys, "models", "--refresh", "--base-url", server.url)
    assert rc == 2 and out == "" and err.count("\n") == 1, err
    assert words in err and "nothing was stored" in err
    assert fresh_tables.read_text() == before
    rc, out, err = cli(capsys, "models", "--json")  # every later command still works
    assert rc == 0 and "Models API refresh" in json.loads(out)["source"]


def test_a_repeated_id_is_refused():
    rows = good_rows()
    with pytest.raises(Exception, match="appears twice"):
        model_cache.store([rows[0], rows[0]])


# ------------------------------------------------------------------ a damaged cache: reported, ignored


def _deep(n: int) -> str:
    return '{"fetched_at": "2026-12-01T00:00:00+00:00", "models": ' + "[" * n + "]" * n + "}"


@pytest.mark.parametrize("text, words", [
    (_deep(100_000), "nested too deeply"),
    ('{"fetched_at": "2026-12-01T00:00:00+00:00", "models": "all of them"}', "not a list"),
    ('{"fetched_at": "2026-12-01T00:00:00+00:00", "models": [{"id": 5}]}', "does not match anthropic.types.ModelInfo"),
    ('{"fetched_at": 7, "models": []}', "fetched_at 7 is not a timestamp"),
    ('{"fetched_at": "2026-12-01T00:00:00+00:00", "models": [], "models": [1]}', "appears twice"),
    ("[1, 2, 3]", "not a cachecast models cache"),
    ('{"fetched_at": "2026', "not JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
    ("x" * (model_cache.MAX_CACHE_BYTES + 1), "larger than"),
])
def test_a_damaged_cache_is_reported_once_and_the_shipped_table_answers(fresh_tables, capsys, text, words):
    if isinstance(text, bytes):
        fresh_tables.write_bytes(text)
    else:
        fresh_tables.write_text(text)
    rc, out, err = cli(capsys, "models", "--json")
    assert rc == 0, err
    body = json.loads(out)
    assert body["source"] == models._raw()["source"]  # the shipped table, no refresh trusted
    assert {r["id"] for r in body["models"]} == {f.id for f in models.table_models()}
    [line] = err.splitlines()
    assert words in line and str(fresh_tables) in line and "shipped model table answers" in line


def test_a_cache_that_is_not_a_regular_file_is_ignored(fresh_tables, capsys):
    os.mkfifo(fresh_tables)
    rc, out, err = cli(capsys, "models", "--json")
    assert rc == 0 and "named pipe" in err and json.loads(out)["source"] == models._raw()["source"]


# ------------------------------------------------------------------ a model only the Models API lists


def test_refresh_adds_an_unknown_model_and_build_works_on_it(fresh_tables, project, tmp_path, capsys):
    with FakeAnthropic(extra_models=[extra_model("claude-lyric-6", max_tokens=64_000)]) as server:
        rc, _, err = cli(capsys, "models", "--refresh", "--base-url", server.url)
        assert rc == 0, err
        rc, out, _ = cli(capsys, "models", "--json")
        row = next(r for r in json.loads(out)["models"] if r["id"] == "claude-lyric-6")
        # the API's facts, and conservative defaults for what it does not give
        largest = max(f.min_cache_tokens for f in models.table_models())
        assert row["max_output"] == 64_000 and row["max_input_tokens"] == 400_000 and row["api_only"]
        assert row["min_cache_tokens"] == largest == 4096 and row["min_cache_assumed"]
        assert row["thinking"] == ["adaptive", "disabled"] and row["thinking_default"] == "adaptive"
        assert row["default_effort"] == "high" and not row["sampling_params"] and not row["inference_geo"]
        config = project.config({"provider": {"model": "claude-lyric-6"}, "max_tokens": 4096})
        rc, out, err = cli(capsys, "build", config, "--out", tmp_path / "lyric")
        assert rc == 0, err
        assert "not in cachecast's model table" in err and "cache minimum 4,096 tokens" in err
        line = json.loads((tmp_path / "lyric" / "requests-0001.jsonl").read_text().splitlines()[0])
        assert line["params"]["model"] == "claude-lyric-6"
        # the ~1,950-token prompt is below the assumed 4,096: no breakpoint, and the manifest says why
        row = json.loads((tmp_path / "lyric" / "manifest.jsonl").read_text().splitlines()[0])
        assert not row["cacheable"] and "4096-token minimum for claude-lyric-6" in row["skip_reason"]
        rc, out, err = cli(capsys, "lint", tmp_path / "lyric", "--json")
        findings = {f["code"] for f in json.loads(out)["findings"]}
        assert rc == 0 and "unknown-model" not in findings and "prefix-below-minimum" in findings
        # its price is not guessed: the command that prices it stops with the overrides snippet
        rc, _, err = cli(capsys, "project", config)
        assert rc == 2 and "claude-lyric-6" in err and err.count("\n") <= 3
        # and the local server, which lists it, takes its batch
        rc, _, err = cli(capsys, "submit", tmp_path / "lyric", "--no-probe", "--force", "--base-url", server.url)
    assert rc == 0, err
