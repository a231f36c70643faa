"""Cache lint: the pilot build is clean, and each deliberately broken request set reports
exactly its problem, with the right code, level and request ids. Models are roles
(tests/roles.py); prompt sizes are worked out from the role's cache minimum and tokenizer."""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest

import roles
from _fixtures import LONG_SYSTEM, MODEL, SHORT_SYSTEM, read_jsonl
from cachecast.build.batches import build
from cachecast.cli import main
from cachecast.errors import InputError
from cachecast.build.lint import lint_path
from cachecast.build.lint_prefix import first_difference

EPH = {"type": "ephemeral"}
EPH_1H = {"type": "ephemeral", "ttl": "1h"}


@pytest.fixture
def good(project, tmp_path) -> list[dict]:
    """Six clean requests (3 items x control/concise, ttl 1h) from a real build."""
    build(project.load(), tmp_path / "good", progress=False)
    return read_jsonl(tmp_path / "good" / "requests-0001.jsonl")


def write(tmp_path: Path, lines: list, extra: str = "", name: str = "broken") -> Path:
    """A directory holding only requests-0001.jsonl (no manifest: lint works from the ids)."""
    out = tmp_path / name
    out.mkdir()
    text = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    (out / "requests-0001.jsonl").write_text(text + extra)
    return out


def codes(report) -> set[tuple[str, str]]:
    return {(f.level, f.code) for f in report.findings}


def finding(report, code):
    [f] = [f for f in report.findings if f.code == code]
    return f


def system(line) -> list[dict]:
    return line["params"]["system"]


def text_of(tokens: int, model: str = MODEL) -> str:
    """About `tokens` estimated tokens on `model`: the estimate is chars / 4 x its tokenizer factor."""
    return "x" * int(tokens * 4 / roles.facts(model).tokenizer_factor)


def clear_of_minimum(model: str) -> str:
    """LONG_SYSTEM repeated until its estimate is past `model`'s cache minimum by more than the
    estimate's error band (20%): no near-minimum warning."""
    per_copy = len(LONG_SYSTEM) / 4 * roles.facts(model).tokenizer_factor
    return LONG_SYSTEM * math.ceil(roles.facts(model).min_cache_tokens * 1.5 / per_copy)


MINIMUM = roles.facts(MODEL).min_cache_tokens  # the build's model: the default


# --- clean inputs ------------------------------------------------------------------------------

def test_pilot_build_lints_clean(pilot_build, capsys):
    report = lint_path(pilot_build)
    assert (report.files, report.requests, report.errors, report.warnings) == (1, 1200, 0, 0)
    assert main(["lint", str(pilot_build)]) == 0
    assert capsys.readouterr().out.strip() == f"lint: clean, 1200 request(s) in 1 file(s) under {pilot_build}"
    assert main(["lint", str(pilot_build / "requests-0001.jsonl"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {"files": 1, "requests": 1200, "errors": 0, "warnings": 0,
                                                   "findings": []}


def test_small_build_lints_clean(good, tmp_path):
    assert lint_path(write(tmp_path, good)).findings == []


# --- one problem at a time ---------------------------------------------------------------------

def _drop_breakpoint(lines):
    system(lines[0])[0].pop("cache_control")
    return lines[0]["custom_id"]


def _short_without_breakpoint(lines):
    lines[0]["params"]["system"] = [{"type": "text", "text": "Be brief."}]
    return lines[0]["custom_id"]


def _short_everywhere(lines):
    for line in lines:
        line["params"]["system"] = [{"type": "text", "text": text_of(MINIMUM * 3 // 4), "cache_control": EPH_1H}]
    return lines[0]["custom_id"]


def _near_minimum(lines):
    for line in lines:
        # ~9% above the minimum (559 of 512): inside the estimate's 20% band
        line["params"]["system"] = [{"type": "text", "text": text_of(MINIMUM * 109 // 100), "cache_control": EPH_1H}]
    return lines[0]["custom_id"]


def _five_breakpoints(lines):
    lines[0]["params"]["messages"][0]["content"] = [
        {"type": "text", "text": f"part {i}", "cache_control": EPH_1H} for i in range(4)]
    return lines[0]["custom_id"]


def _ttl_order(lines):
    system(lines[0])[0]["cache_control"] = dict(EPH)
    lines[0]["params"]["messages"][0]["content"][0]["cache_control"] = dict(EPH_1H)
    return lines[0]["custom_id"]


def _all_5m(lines):
    for line in lines:
        system(line)[0]["cache_control"] = dict(EPH)
    return lines[0]["custom_id"]


def _bad_ttl(lines):
    system(lines[0])[0]["cache_control"] = {"type": "ephemeral", "ttl": "10m"}
    return lines[0]["custom_id"]


def _temperature(lines):
    """Under 2026-10-21 (what SDK 2.x sends) any temperature is a 400, even the default 1.0."""
    for line in lines:
        line["params"]["temperature"] = 1.0
    return lines[0]["custom_id"]


def _thinking_disabled_where_it_cannot_be_off(lines):
    for line in lines:
        line["params"].update(model=roles.always_thinks(), thinking={"type": "disabled"})
        system(line)[0]["text"] = clear_of_minimum(roles.always_thinks())
    return lines[0]["custom_id"]


def _budget_thinking_where_refused(lines):
    for line in lines:
        line["params"]["model"] = roles.no_budget_tokens()
        system(line)[0]["text"] = clear_of_minimum(roles.no_budget_tokens())
    lines[0]["params"]["thinking"] = {"type": "enabled", "budget_tokens": 1024}
    return lines[0]["custom_id"]


def _retired_model(lines):
    for line in lines:
        line["params"]["model"] = roles.retired()
    return lines[0]["custom_id"]


def _deprecated_model(lines):
    for line in lines:
        line["params"]["model"] = roles.deprecated()
        system(line)[0]["text"] = clear_of_minimum(roles.deprecated())
    return lines[0]["custom_id"]


def _geo_where_refused(lines):
    for line in lines:
        line["params"].update(model=roles.no_geo(), inference_geo="us")
        system(line)[0]["text"] = clear_of_minimum(roles.no_geo())
    return lines[0]["custom_id"]


def _speed(lines):
    lines[0]["params"]["speed"] = "fast"
    return lines[0]["custom_id"]


def _unknown_key(lines):
    lines[0]["params"]["temprature"] = 0.5
    return lines[0]["custom_id"]


def _automatic_ttl_mismatch(lines):
    # the last block has its own 1h breakpoint and the top-level one says 5m: a 400 (prompt caching,
    # Automatic caching > Edge cases); a 5m top-level after an earlier 1h one is fine (test below)
    lines[0]["params"]["messages"][0]["content"][-1]["cache_control"] = dict(EPH_1H)
    lines[0]["params"]["cache_control"] = dict(EPH)
    return lines[0]["custom_id"]


def _automatic_never_read(lines):
    for line in lines:
        line["params"]["cache_control"] = dict(EPH_1H)
    return lines[0]["custom_id"]


def _bad_custom_id(lines):
    lines[0]["custom_id"] = "q1 control #1"
    return "q1 control #1"


def _long_custom_id(lines):
    lines[0]["custom_id"] = "x" * 65
    return "x" * 65


def _duplicate_custom_id(lines):
    lines[1]["custom_id"] = lines[0]["custom_id"]
    return lines[0]["custom_id"]


def _max_tokens(lines):
    lines[0]["params"]["max_tokens"] = 0
    return lines[0]["custom_id"]


def _stream(lines):
    lines[0]["params"]["stream"] = True
    return lines[0]["custom_id"]


def _unknown_model(lines):
    for line in lines:
        line["params"]["model"] = "claude-nonexistent-9"
    return lines[0]["custom_id"]


CASES = {
    "no-breakpoint": (_drop_breakpoint, {("error", "no-breakpoint")}),
    "short-without-breakpoint": (_short_without_breakpoint, {("warning", "prefix-below-minimum")}),
    "prefix-below-minimum": (_short_everywhere, {("error", "prefix-below-minimum")}),
    "prefix-near-minimum": (_near_minimum, {("warning", "prefix-near-minimum")}),
    "too-many-breakpoints": (_five_breakpoints, {("error", "too-many-breakpoints")}),
    "ttl-order": (_ttl_order, {("error", "ttl-order")}),
    "short-ttl": (_all_5m, {("warning", "short-ttl")}),
    "bad-cache-control": (_bad_ttl, {("error", "bad-cache-control"), ("error", "no-breakpoint")}),
    "sampling-params": (_temperature, {("error", "sampling-params")}),
    "thinking-disabled": (_thinking_disabled_where_it_cannot_be_off, {("error", "thinking-shape")}),
    "thinking-budget": (_budget_thinking_where_refused, {("error", "thinking-shape")}),
    "retired-model": (_retired_model, {("error", "retired-model")}),
    "deprecated-model": (_deprecated_model, {("warning", "deprecated-model")}),
    "inference-geo": (_geo_where_refused, {("error", "inference-geo")}),
    "speed": (_speed, {("error", "speed-not-allowed")}),
    "unknown-key": (_unknown_key, {("error", "invalid-params")}),
    "automatic-never-read": (_automatic_never_read, {("warning", "automatic-never-read")}),
    "automatic-ttl-mismatch": (_automatic_ttl_mismatch, {("error", "automatic-ttl-mismatch")}),
    "custom-id-pattern": (_bad_custom_id, {("error", "custom-id-pattern")}),
    "custom-id-too-long": (_long_custom_id, {("error", "custom-id-pattern")}),
    "custom-id-duplicate": (_duplicate_custom_id, {("error", "custom-id-duplicate")}),
    "max-tokens": (_max_tokens, {("error", "max-tokens")}),
    "stream": (_stream, {("error", "stream-not-allowed")}),
    "unknown-model": (_unknown_model, {("error", "unknown-model")}),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_problem_is_reported_alone(good, tmp_path, case):
    mutate, expected = CASES[case]
    cid = mutate(good)
    report = lint_path(write(tmp_path, good))
    assert codes(report) == expected
    for level, code in expected:
        f = next(f for f in report.findings if f.code == code)
        assert f.fix and f.message and f.count >= 1
        assert cid in f.custom_ids or code in PER_MODEL  # lifecycle is one finding per model, not per request


PER_MODEL = {"automatic-never-read"}  # a finding about the whole build, not one request


def test_a_5m_automatic_breakpoint_after_an_explicit_1h_one_is_accepted(good, tmp_path):
    """The last block is unmarked, so the automatic 5m breakpoint goes there, after the 1h one: 1h before 5m
    is the documented order (prompt caching, Automatic caching > Edge cases; Mixing TTLs). Lint used to call
    it a TTL mismatch, and the builder refused it."""
    good[0]["params"]["cache_control"] = dict(EPH)
    report = lint_path(write(tmp_path, good))
    assert not [f for f in report.findings if f.level == "error"], report.findings
    good[0]["params"]["cache_control"] = dict(EPH_1H)  # 1h automatic after ... the 1h system one: fine too
    good[0]["params"]["system"][0]["cache_control"] = dict(EPH)  # now 5m explicit, then a 1h automatic: 400
    report = lint_path(write(tmp_path, good, name="second"))
    assert ("error", "ttl-order") in codes(report)


def test_retired_model_finding_names_every_request(good, tmp_path, retired_model):
    """Every request of a retired model comes back errored: the finding counts and lists them
    like any other (it used to say count 1 with no custom_ids)."""
    for line in good:
        line["params"]["model"] = retired_model
    report = lint_path(write(tmp_path, good))
    f = finding(report, "retired-model")
    assert f.count == len(good) and f.custom_ids == [line["custom_id"] for line in good][:5]


def test_good_requests_of_the_planted_set_raise_no_error(good, tmp_path):
    """Each 2026 rule fires on its planted request only: the untouched ones beside it stay clean."""
    planted = [_temperature, _budget_thinking_where_refused, _speed, _unknown_key, _max_tokens, _stream]
    for mutate, line in zip(planted, [json.loads(json.dumps(good[0])) for _ in planted]):
        mutate([line])
        good.append({**line, "custom_id": f"{line['custom_id']}_{mutate.__name__.strip('_')}"[:64]})
    report = lint_path(write(tmp_path, good))
    bad = {c for f in report.findings if f.level == "error" for c in f.custom_ids}
    assert bad == {line["custom_id"] for line in good[6:]} and len(bad) == len(planted)


def test_prefix_drift_shows_the_date_that_breaks_it(good, tmp_path):
    system(good[4])[0]["text"] = LONG_SYSTEM + "Today is 2026-11-26.\n"
    report = lint_path(write(tmp_path, good))
    assert codes(report) == {("error", "prefix-drift")}
    f = finding(report, "prefix-drift")
    assert f.custom_ids == [good[4]["custom_id"]] and f.count == 1
    assert "1 of 6 requests" in f.message and f"{MODEL}, breakpoint 1" in f.message
    assert f"first difference at character {len(LONG_SYSTEM)}" in f.detail
    assert 'expected (end of prefix), this has "Today is 2026-11-26.\\n"' in f.detail


def test_prefix_drift_from_trailing_whitespace_and_a_second_cause(good, tmp_path):
    system(good[1])[0]["text"] = LONG_SYSTEM + " "
    system(good[2])[0]["text"] = LONG_SYSTEM.replace("Rule 3:", "Rule 3 (v2):")
    report = lint_path(write(tmp_path, good))
    f = finding(report, "prefix-drift")
    assert f.count == 2 and set(f.custom_ids) == {good[1]["custom_id"], good[2]["custom_id"]}
    assert 'this has " "' in f.detail and "; next: " in f.detail and '"Rule 3 (v2)' not in f.detail
    assert 'this has " (v2): answer' in f.detail


def test_every_request_with_its_own_prefix_is_drift(good, tmp_path):
    """The classic: a request id inside the system prompt; nothing is ever read from cache."""
    for line in good:
        system(line)[0]["text"] = f"Request {line['custom_id']}.\n" + LONG_SYSTEM
    report = lint_path(write(tmp_path, good))
    f = finding(report, "prefix-drift")
    assert f.level == "error" and f.count == 6 and "all 6 requests have different cached prefixes" in f.message
    assert 'first difference at character 15 (block 1), after "Request q1__con"' in f.detail


def test_treatment_with_own_system_prompt_breaks_the_shared_prefix(project, tmp_path):
    project.write("own.md", LONG_SYSTEM.replace("precisely", "carefully"))
    cfg = project.load({"treatments": [{"name": "control"}, {"name": "concise", "system_suffix_file": "concise.md"},
                                       {"name": "own", "system_file": "own.md"}]})
    build(cfg, tmp_path / "b", progress=False)
    report = lint_path(tmp_path / "b")  # with the manifest
    assert codes(report) == {("warning", "variant-breaks-shared-prefix")}
    f = finding(report, "variant-breaks-shared-prefix")
    assert f.count == 3 and all("__own__" in c for c in f.custom_ids)
    assert "treatment own has its own cached prefix" in f.message and "concise, control" in f.message
    assert 'first difference at character 15 (block 1), after "Rule 0: answer ": expected "precisely' in f.detail
    assert report.errors == 0
    lone = write(tmp_path, read_jsonl(tmp_path / "b" / "requests-0001.jsonl"), name="lone")
    assert codes(lint_path(lone)) == codes(report)  # without a manifest, the ids name the arms


def test_drift_inside_one_treatment_is_not_mistaken_for_a_variant(project, tmp_path):
    project.write("own.md", LONG_SYSTEM.replace("precisely", "carefully"))
    cfg = project.load({"treatments": [{"name": "control"}, {"name": "own", "system_file": "own.md"}]})
    build(cfg, tmp_path / "b", progress=False)
    lines = read_jsonl(tmp_path / "b" / "requests-0001.jsonl")
    own = [line for line in lines if "__own__" in line["custom_id"]]
    system(own[0])[0]["text"] += "2026-11-26"
    report = lint_path(write(tmp_path, lines))
    assert codes(report) == {("warning", "variant-breaks-shared-prefix"), ("error", "prefix-drift")}
    assert finding(report, "prefix-drift").custom_ids == [own[0]["custom_id"]]


def test_shard_too_large(good, tmp_path, monkeypatch):
    from cachecast.build.batches import LIMITS, ShardLimits

    monkeypatch.setitem(LIMITS, "anthropic", ShardLimits(5, 256_000_000, 250_000_000))
    report = lint_path(write(tmp_path, good))
    f = finding(report, "shard-too-large")
    assert f.level == "error" and "requests-0001.jsonl: 6 requests" in f.detail


def test_lines_that_are_not_requests_are_reported_with_line_numbers(good, tmp_path):
    lines = [*good[:2], "{oops", "[1, 2]", json.dumps({"custom_id": "x"}), *good[2:],
             json.dumps({"custom_id": "y", "params": {"max_tokens": 5}})]
    report = lint_path(write(tmp_path, lines))
    assert codes(report) == {("error", "invalid-json"), ("error", "not-a-request")}
    assert finding(report, "invalid-json").where == ["requests-0001.jsonl:3 (Expecting property name enclosed "
                                                     "in double quotes)"]
    by_msg = {f.message: f for f in report.findings if f.code == "not-a-request"}
    assert sorted(w for f in by_msg.values() for w in f.where) == [
        "requests-0001.jsonl:10", "requests-0001.jsonl:4", "requests-0001.jsonl:5"]
    assert report.requests == 7


def test_binary_garbage_exits_2_without_traceback(tmp_path, capsys):
    path = tmp_path / "junk.jsonl"
    path.write_bytes(b"\xff\xfe\x00garbage\n\x89PNG\r\n")
    assert main(["lint", str(path)]) == 2  # nothing usable: no request at all
    err = capsys.readouterr().err
    assert "no request lines to lint (line is not UTF-8 text: junk.jsonl:1" in err and "Traceback" not in err


def test_openai_build_lints_clean_with_a_note(tmp_path, capsys):
    from _fixtures import PILOT_OPENAI
    from cachecast.build.config import load_config

    build(load_config(PILOT_OPENAI), tmp_path / "oa", limit=12, progress=False)
    assert main(["lint", str(tmp_path / "oa")]) == 0
    assert "12 OpenAI request(s): cache checks do not apply" in capsys.readouterr().out


def test_short_prompt_build_lints_with_a_warning_only(project, tmp_path, capsys):
    project.write("system.md", SHORT_SYSTEM)  # below the default model's minimum
    build(project.load(), tmp_path / "b", progress=False)
    assert main(["lint", str(tmp_path / "b"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [(f["level"], f["code"], f["count"]) for f in report["findings"]] == [
        ("warning", "prefix-below-minimum", 6)]


# --- the CLI on a set with every problem ---------------------------------------------------------

ALL_ERRORS = ["no-breakpoint", "prefix-below-minimum", "too-many-breakpoints", "ttl-order", "prefix-drift",
              "thinking-shape", "sampling-params", "retired-model", "custom-id-pattern", "custom-id-duplicate",
              "shard-too-large", "invalid-json", "not-a-request", "max-tokens", "stream-not-allowed"]


def _everything_broken(project, tmp_path, monkeypatch) -> Path:
    project.items([{"id": f"q{i}", "topic": "t", "question": "q"} for i in range(1, 13)])
    project.write("own.md", LONG_SYSTEM.replace("precisely", "carefully"))
    cfg = project.load({"treatments": [{"name": "control"}, {"name": "own", "system_file": "own.md"}]})
    build(cfg, tmp_path / "b", progress=False)
    lines = read_jsonl(tmp_path / "b" / "requests-0001.jsonl")  # 24 lines: control, own alternate
    _drop_breakpoint(lines[0:])
    system(lines[2])[0]["text"] = "Too short to cache."
    _five_breakpoints(lines[4:])
    _ttl_order(lines[6:])
    system(lines[8])[0]["text"] = LONG_SYSTEM + "Today is 2026-11-26."
    lines[10]["params"].update(model=roles.no_budget_tokens(), thinking={"type": "enabled", "budget_tokens": 1024},
                               max_tokens=2048)
    lines[12]["params"].update(temperature=0.5)
    lines[13]["params"].update(model=roles.retired())
    lines[14]["custom_id"] = "bad id!"
    lines[16]["custom_id"] = lines[18]["custom_id"]
    lines[20]["params"].update(max_tokens=0, stream=True)
    shutil.copy(tmp_path / "b" / "manifest.jsonl", write(tmp_path, lines, extra="{oops\n[1]\n") / "manifest.jsonl")
    from cachecast.build.batches import LIMITS, ShardLimits

    monkeypatch.setitem(LIMITS, "anthropic", ShardLimits(20, 256_000_000, 250_000_000))
    return tmp_path / "broken"


def test_cli_reports_every_problem_and_exits_1(project, tmp_path, monkeypatch, capsys):
    broken = _everything_broken(project, tmp_path, monkeypatch)
    assert main(["lint", str(broken), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    found = {f["code"] for f in report["findings"] if f["level"] == "error"}
    assert set(ALL_ERRORS) <= found, set(ALL_ERRORS) - found
    assert ("warning", "variant-breaks-shared-prefix") in {(f["level"], f["code"]) for f in report["findings"]}
    assert report["files"] == 1 and report["requests"] == 24
    assert report["errors"] == sum(f["level"] == "error" for f in report["findings"])
    assert report["warnings"] == sum(f["level"] == "warning" for f in report["findings"])
    for f in report["findings"]:
        assert set(f) == {"level", "code", "message", "count", "custom_ids", "where", "detail", "fix"}
        assert f["custom_ids"] or f["where"], f
        assert len(f["custom_ids"]) <= 5


def test_cli_human_output(project, tmp_path, monkeypatch, capsys):
    broken = _everything_broken(project, tmp_path, monkeypatch)
    assert main(["lint", str(broken)]) == 1
    out = capsys.readouterr().out
    for code in ALL_ERRORS:
        assert f"ERROR    {code}  [" in out
    assert "WARNING  variant-breaks-shared-prefix" in out
    assert out.count("fix: ") == out.count("ERROR ") + out.count("WARNING ")
    assert out.splitlines()[-1].startswith("lint: ") and "error(s)" in out.splitlines()[-1]


@pytest.mark.parametrize("make", [
    lambda d: d / "missing",
    lambda d: (d / "empty.jsonl").write_text("") and d / "empty.jsonl" or d / "empty.jsonl",
    lambda d: d,  # a directory without requests-*.jsonl
])
def test_unusable_input_exits_2(tmp_path, capsys, make):
    path = make(tmp_path)
    assert main(["lint", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cachecast lint: error: ") and err.count("\n") == 1


def test_unusable_input_raises_input_error(tmp_path):
    with pytest.raises(InputError):
        lint_path(tmp_path / "nothing-here")


def test_first_difference_makes_whitespace_visible():
    assert first_difference("abc\tdef", "abc def") == (
        'first difference at character 3 (block 1), after "abc": expected "\\tdef", this has " def"')
    assert "block 2" in first_difference("sys\x1etool A", "sys\x1etool B")
    assert "not kept" in first_difference(None, "x")


# --- robustness: any JSON lines give findings or a clean InputError, never a traceback -----------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_json = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                                  max_size=3), max_leaves=8)
_cc = _json | st.fixed_dictionaries({"type": st.just("ephemeral")},
                                    optional={"ttl": st.sampled_from(["5m", "1h", "10m", 3])})
_block = st.fixed_dictionaries({"type": st.sampled_from(["text", "image", 1]), "text": st.text(max_size=30) | _json},
                               optional={"cache_control": _cc})
_content = st.text(max_size=30) | st.lists(_block, max_size=5) | _json
_message = st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant"]), "content": _content})
_params = st.fixed_dictionaries(
    {"model": st.sampled_from([roles.retired(), roles.default(), "nope"]) | _json,
     "messages": st.lists(_message, max_size=3) | _json},
    optional={"system": _content, "tools": st.lists(_block, max_size=2) | _json, "max_tokens": _json,
              "temperature": _json, "top_p": _json, "top_k": _json, "stream": _json, "cache_control": _cc,
              "thinking": st.fixed_dictionaries({"type": st.sampled_from(["enabled", "adaptive"])},
                                                optional={"budget_tokens": _json}) | _json})
_line = st.fixed_dictionaries({"custom_id": st.text(max_size=70) | _json, "params": _params | _json}) | _json


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(lines=st.lists(_line, min_size=1, max_size=5))
def test_any_json_lines_lint_without_crashing(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("fuzz") / "requests.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    try:
        report = lint_path(path)
    except InputError:
        return
    json.dumps(report.to_json())
    assert report.requests >= 1
