"""Batch files: shards, custom_ids, manifest, preview, SDK-valid requests, and bad input
that fails cleanly (exit 2, one line naming file and line, nothing left behind)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

import roles
from _fixtures import MODEL, PILOT_OPENAI, read_jsonl  # MODEL: the default, which the shipped configs use
from cachecast.build.batches import CUSTOM_ID_RE, build, custom_id, read_manifest
from cachecast.build.build_files import request_files
from cachecast.cli import main
from cachecast.build.config import load_config
from cachecast.errors import InputError

MANIFEST_KEYS = {"custom_id", "item_id", "treatment", "temperature", "repeat", "model", "ttl", "prefix_hash",
                 "cacheable", "skip_reason", "est_prefix_tokens", "est_rest_tokens", "breakpoints", "shard"}


def test_pilot_build_shape(pilot_build):
    files = request_files(pilot_build)
    assert [f.name for f in files] == ["requests-0001.jsonl"]
    assert sorted(p.name for p in pilot_build.iterdir()) == ["build.json", "manifest.jsonl", "preview.md",
                                                             "requests-0001.jsonl"]
    info = json.loads((pilot_build / "build.json").read_text())
    assert info["requests"] == 1200 and info["skipped_cache"] == 0 and info["model"] == MODEL
    assert info["api_version"] == "2026-10-21" and len(info["config_fingerprint"]) == 16
    assert info["shards"] == [{"file": "requests-0001.jsonl", "requests": 1200,
                               "bytes": files[0].stat().st_size}]


def test_pilot_requests_validate_against_the_sdk_types(pilot_build):
    """Every line, walked through the SDK's own TypedDicts with no unknown key (pydantic's
    TypeAdapter ignores extra keys, which is how temperature slipped through before)."""
    from cachecast.facts.sdk_types import batch_request_problems

    lines = read_jsonl(pilot_build / "requests-0001.jsonl")
    assert [p for line in lines for p in batch_request_problems(line, "2026-10-21")] == []
    # the walker is not a rubber stamp: a bad ttl and a removed parameter are both caught
    bad = json.loads(json.dumps(lines[0]))
    bad["params"]["system"][0]["cache_control"]["ttl"] = "10m"
    bad["params"]["temperature"] = 1.0
    problems = batch_request_problems(bad, "2026-10-21")
    assert any("ttl" in p for p in problems) and any("temperature" in p for p in problems)


def test_pilot_requests_cache_the_system_block_with_the_configured_ttl(pilot_build):
    lines = read_jsonl(pilot_build / "requests-0001.jsonl")
    assert len(lines) == 1200
    for line in lines:
        system = line["params"]["system"]
        assert system[0]["cache_control"] == {"type": "ephemeral", "ttl": "1h"}
        assert all("cache_control" not in b for b in system[1:])
        assert isinstance(line["params"]["messages"][0]["content"], list)


def test_pilot_manifest(pilot_build):
    rows = read_manifest(pilot_build)
    assert len(rows) == 1200 and all(set(r) == MANIFEST_KEYS for r in rows)
    ids = [r["custom_id"] for r in rows]
    assert len(set(ids)) == 1200 and all(CUSTOM_ID_RE.match(i) for i in ids)
    lines = read_jsonl(pilot_build / "requests-0001.jsonl")
    assert ids == [line["custom_id"] for line in lines]  # same order, joinable
    first = rows[0]
    assert first == {**first, "custom_id": "q00001__control__s1", "item_id": "q00001", "treatment": "control",
                     "temperature": None, "repeat": 1, "model": MODEL, "ttl": "1h", "cacheable": True,
                     "skip_reason": None, "breakpoints": 1, "shard": "requests-0001.jsonl"}
    assert {r["treatment"] for r in rows} == {"control", "concise", "verify"}
    assert {r["repeat"] for r in rows} == {1, 2} and {r["temperature"] for r in rows} == {None}
    assert len({r["prefix_hash"] for r in rows}) == 1  # shared-control: one cached prefix for all arms and samples
    minimum = roles.facts(MODEL).min_cache_tokens
    assert all(r["est_prefix_tokens"] > minimum and r["est_rest_tokens"] > 0 for r in rows)


def test_preview_marks_breakpoints(pilot_build):
    text = (pilot_build / "preview.md").read_text()
    assert text.startswith(f"# Build preview: pilot (anthropic {MODEL})")
    assert "<== BREAKPOINT (1h)" in text
    assert "[... " in text and " chars ...]" in text  # the long system prompt is elided
    for arm in ("control", "concise", "verify"):
        assert f"__{arm}__" in text


def test_shards_split_at_shard_size(project, tmp_path):
    project.items([{"id": f"q{i}", "topic": "t", "question": "q"} for i in range(10)])
    result = build(project.load(), tmp_path / "out", shard_size=7, progress=False)  # 10 items x 2 arms
    assert [(s.file, s.requests) for s in result.shards] == [
        ("requests-0001.jsonl", 7), ("requests-0002.jsonl", 7), ("requests-0003.jsonl", 6)]
    rows = read_manifest(tmp_path / "out")
    assert [r["shard"] for r in rows] == ["requests-0001.jsonl"] * 7 + ["requests-0002.jsonl"] * 7 + [
        "requests-0003.jsonl"] * 6
    for shard in result.shards:
        assert len(read_jsonl(tmp_path / "out" / shard.file)) == shard.requests


def test_limit(project, tmp_path):
    result = build(project.load(), tmp_path / "out", limit=4, progress=False)
    assert result.requests == 4
    assert [r["custom_id"] for r in read_manifest(tmp_path / "out")] == [
        "q1__control__s1", "q1__concise__s1", "q2__control__s1", "q2__concise__s1"]


def test_repeats_are_samples_with_one_identical_request(project, tmp_path):
    """The sampling axis of 2026: N identical requests, the sample index only in the custom_id."""
    build(project.load({"repeats": 3}), tmp_path / "out", progress=False)
    lines = read_jsonl(tmp_path / "out" / "requests-0001.jsonl")
    assert [line["custom_id"] for line in lines[:3]] == ["q1__control__s1", "q1__control__s2", "q1__control__s3"]
    assert lines[0]["params"] == lines[1]["params"] == lines[2]["params"]
    rows = read_manifest(tmp_path / "out")
    assert [r["repeat"] for r in rows[:3]] == [1, 2, 3] and len({r["prefix_hash"] for r in rows}) == 1


def test_repeats_and_temperatures_multiply_on_2023_06_01(project, tmp_path):
    cfg = project.load({"provider": {"model": roles.takes_temperature(), "api_version": "2023-06-01"},
                        "temperatures": [None, 0.25], "repeats": 2})
    result = build(cfg, tmp_path / "out", progress=False)
    assert result.requests == 3 * 2 * 2 * 2
    ids = {r["custom_id"] for r in read_manifest(tmp_path / "out")}
    assert {"q1__control__s1", "q1__control__t0p25__s2"} <= ids


def test_old_manifests_with_a_temperature_column_still_load(tmp_path):
    old = {"custom_id": "q1__control__t0p7__r1", "item_id": "q1", "treatment": "control", "temperature": 0.7,
           "repeat": 1, "model": roles.retired(), "ttl": "1h", "prefix_hash": "ab" * 8, "cacheable": True}
    (tmp_path / "manifest.jsonl").write_text(json.dumps(old) + "\n")
    assert read_manifest(tmp_path) == [old]


@pytest.mark.parametrize("item_id", ["plain-id_1", "has space/and:colon", "ünïcødé", "x" * 200, "a" * 60 + "!"])
def test_custom_id_is_safe_for_any_item_id(item_id):
    cid = custom_id(item_id, "treatment_name_20chr", 0.123456, 100)
    assert CUSTOM_ID_RE.match(cid), cid
    assert cid.endswith("__treatment_name_20chr__t0p123456__s100")


def test_custom_ids_stay_unique_when_cleaning_would_collide():
    ids = ["a b", "a_b", "a/b", "x" * 100, "x" * 99 + "y"]
    cids = {custom_id(i, "control", None, 1) for i in ids}
    assert len(cids) == len(ids)


def test_unsafe_item_ids_build(project, tmp_path):
    project.items([{"id": "item one", "topic": "t", "question": "q"}, {"id": "item_one", "topic": "t", "question": "q"},
                   {"id": "L" * 120, "topic": "t", "question": "q"}])
    build(project.load(), tmp_path / "out", progress=False)
    rows = read_manifest(tmp_path / "out")
    assert len({r["custom_id"] for r in rows}) == 6 and all(CUSTOM_ID_RE.match(r["custom_id"]) for r in rows)
    assert {r["item_id"] for r in rows} == {"item one", "item_one", "L" * 120}  # joinable back to the item


def test_openai_build_has_string_content(tmp_path):
    build(load_config(PILOT_OPENAI), tmp_path / "out", limit=6, progress=False)
    text = (tmp_path / "out" / "requests-0001.jsonl").read_text()
    assert "cache_control" not in text
    for line in read_jsonl(tmp_path / "out" / "requests-0001.jsonl"):
        assert line["url"] == "/v1/chat/completions" and line["method"] == "POST"
        assert [m["role"] for m in line["body"]["messages"]] == ["system", "user"]
        assert all(isinstance(m["content"], str) for m in line["body"]["messages"])


def test_rebuild_replaces_an_earlier_build_but_not_other_directories(project, tmp_path):
    out = tmp_path / "out"
    build(project.load(), out, progress=False)
    build(project.load(), out, limit=2, progress=False)
    assert len(read_manifest(out)) == 2
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(InputError, match="is not an earlier cachecast build"):
        build(project.load(), other, progress=False)
    assert (other / "notes.txt").read_text() == "mine"


# --- the CLI ------------------------------------------------------------------------------------

def test_cli_build_then_lint(project, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["build", str(project.config()), "--out", str(out), "--shard-size", "4"]) == 0
    assert capsys.readouterr().out.startswith(f"wrote 6 requests in 2 shard(s) to {out}/")
    assert main(["lint", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report == {"files": 2, "requests": 6, "errors": 0, "warnings": 0, "findings": []}


def test_cli_build_warns_about_skipped_breakpoints(project, tmp_path, capsys):
    project.write("system.md", "x" * 1200)  # ~390 tokens: below Sonnet 5.5's 512
    assert main(["build", str(project.config()), "--out", str(tmp_path / "out")]) == 0
    assert "6 request(s) carry no breakpoint" in capsys.readouterr().err


@pytest.mark.parametrize("arg", ["0", "-3", "many"])
def test_cli_rejects_bad_limit(project, tmp_path, arg):
    with pytest.raises(SystemExit) as exc:
        main(["build", str(project.config()), "--out", str(tmp_path / "out"), "--limit", arg])
    assert exc.value.code == 2 and not (tmp_path / "out").exists()


def _bad_yaml(p):
    return p.write("cfg.yaml", "run_name: t\nprovider: {name: anthropic\n")


def _missing_prompt(p):
    (p.dir / "system.md").unlink()
    return p.config()


def _items_not_json(p):
    p.write("items.jsonl", '{"id": "a", "topic": "t", "question": "q"}\n{"id": "b", "topic": \n')
    return p.config()


def _template_field_missing(p):
    p.items([{"id": "a", "topic": "t", "question": "q"}, {"id": "b", "question": "q"}])
    return p.config()


def _duplicate_item(p):
    p.items([{"id": "a", "topic": "t", "question": "q"}] * 2)
    return p.config()


def _empty_items(p):
    p.write("items.jsonl", "")
    return p.config()


@pytest.mark.parametrize("make, expected", [
    (_bad_yaml, r"cfg\.yaml: line 3 malformed YAML"),
    (_missing_prompt, r"cfg\.yaml: 'prompts\.system_file' points to system\.md, which does not exist"),
    (_items_not_json, r"items\.jsonl:2: not valid JSON"),
    (_template_field_missing, r"items\.jsonl:2: item 'b' has no field 'topic' used by the template user\.txt"),
    (_duplicate_item, r"items\.jsonl:2: duplicate item id 'a'"),
    (_empty_items, r"items\.jsonl: no items \(the file is empty\)"),
])
def test_bad_input_exits_2_with_one_line_and_leaves_nothing(project, tmp_path, capsys, make, expected):
    config = make(project)
    out = tmp_path / "build" / "out"
    (tmp_path / "build").mkdir()
    assert main(["build", str(config), "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err
    assert err.count("\n") == 1 and err.startswith("cachecast build: error: ")
    assert re.search(expected, err), err
    assert "Traceback" not in err
    assert list((tmp_path / "build").iterdir()) == []  # no output dir, no temp dir left behind


def test_installed_entry_point(project, tmp_path):
    exe = Path(sys.executable).with_name("cachecast")
    assert exe.exists(), "the package's console script is installed next to the interpreter"
    out = tmp_path / "out"
    done = subprocess.run([str(exe), "build", str(project.config()), "--out", str(out), "--limit", "3"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "wrote 3 requests" in done.stdout
    bad = subprocess.run([str(exe), "build", str(tmp_path / "missing.yaml")], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip().endswith("missing.yaml: config file not found")
    assert "Traceback" not in bad.stderr


def test_limit_never_reads_past_what_it_needs(project, tmp_path):
    """--limit is for quick runs: a bad line after the limit must not stop the build."""
    project.write("items.jsonl", '{"id": "a", "topic": "t", "question": "q"}\nnot json\n')
    assert build(project.load(), tmp_path / "out", limit=2, progress=False).requests == 2
    with pytest.raises(InputError, match="items.jsonl:2: not valid JSON"):
        build(project.load(), tmp_path / "out2", limit=3, progress=False)
