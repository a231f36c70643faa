"""Bad-input corpus (issue 7): every broken config, prompt file, item file and request file
gets ONE clear error line on stderr with exit code 2 (or, for `lint`, a finding that names the
line, exit 1), never a traceback and never a silently skipped line. Byte-order marks and CRLF
line ends are not errors: they must give exactly what the clean file gives.

Small cases live in tests/data/bad/ (see its README.md); big or binary ones (a 10 MB line, a
gzip cut short, non-UTF-8 bytes, deep nesting) are generated here into tmp_path. Result files
for `cachecast ingest` are covered in test_bad_results.py. The ids named are those of the data
files (claude-sonnet-9-9 is made up) and the table's closest match to it.
"""
from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from cachecast.cli import main

BAD = Path(__file__).parent / "data" / "bad"
REPO = Path(__file__).resolve().parents[1]
TEN_MB = 10 * 1024 * 1024


@dataclass
class Run:
    rc: int
    out: str
    err: str


def cli(capsys, *argv: str | Path) -> Run:
    """The CLI in-process (fast); argparse usage errors exit through SystemExit."""
    capsys.readouterr()
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:
        rc = exc.code
    captured = capsys.readouterr()
    return Run(rc, captured.out, captured.err)


def assert_one_error(run: Run, command: str, *needles: str) -> str:
    """Exit 2, nothing on stdout, exactly one stderr line `cachecast CMD: error: ...` naming the problem."""
    assert "Traceback" not in run.err, run.err
    assert run.rc == 2, (run.rc, run.out, run.err)
    assert run.out == ""
    lines = run.err.strip().splitlines()
    assert len(lines) == 1, run.err
    assert lines[0].startswith(f"cachecast {command}: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


# --- configs ----------------------------------------------------------------------------------

CONFIG_CASES = {
    "empty.yaml": ["cfg.yaml", "expected a mapping of settings at the top level"],
    "not_a_mapping.yaml": ["expected a mapping", "got list"],
    "truncated.yaml": ["cfg.yaml:", "line 9", "malformed YAML"],
    "typo_key.yaml": ["unknown key 'max_token'", "did you mean 'max_tokens'?"],
    "typo_nested_key.yaml": ["unknown key 'provider.modle'", "did you mean 'provider.model'?"],
    "unknown_model.yaml": ["model 'claude-sonnet-9-9' is not in cachecast's model table",
                           "close matches: claude-sonnet-5-5"],
    "string_number.yaml": ["bad value \"lots\" for 'max_tokens'"],
    "negative_number.yaml": ["bad value -1 for 'repeats'"],
    "temperature_out_of_range.yaml": ["'temperatures'", "temperature 1.5 is outside 0.0-1.0"],
    "missing_file.yaml": ["'items.file' points to no_such_items.jsonl, which does not exist"],
    "file_is_directory.yaml": ["'items.file'", "which is a directory, not a file"],
    "duplicate_treatment.yaml": ["treatment names must be unique, repeated: control"],
}


@pytest.mark.parametrize("name", sorted(CONFIG_CASES))
def test_bad_config(project, capsys, name):
    cfg = project.dir / "cfg.yaml"
    shutil.copy(BAD / "config" / name, cfg)
    run = cli(capsys, "build", cfg, "--out", project.dir / "out")
    assert_one_error(run, "build", *CONFIG_CASES[name])
    assert not (project.dir / "out").exists()  # a failed build leaves nothing that looks finished


def test_bad_config_fails_the_same_way_in_project(project, capsys):
    """`project` reads the same config loader: the same one-line error, not the builder's."""
    cfg = project.dir / "cfg.yaml"
    shutil.copy(BAD / "config" / "typo_key.yaml", cfg)
    assert_one_error(cli(capsys, "project", cfg), "project", "unknown key 'max_token'")


def test_config_with_non_utf8_bytes(project, capsys):
    cfg = project.config()
    cfg.write_bytes(cfg.read_bytes().replace(b"run_name: t", b"run_name: t\xff\xfe"))
    assert_one_error(cli(capsys, "build", cfg, "--out", project.dir / "out"), "build", "not UTF-8 text")


def test_config_path_is_a_directory(project, capsys):
    assert_one_error(cli(capsys, "build", project.dir, "--out", project.dir / "out"), "build",
                     "is a directory, expected a YAML config file")


def test_config_10mb_single_line(project, capsys):
    cfg = project.dir / "cfg.yaml"
    cfg.write_bytes(b"run_name: " + b"x" * TEN_MB)
    assert_one_error(cli(capsys, "build", cfg, "--out", project.dir / "out"), "build",
                     "cfg.yaml: is 10.0 MB, too large for a run config")


def _built_requests(out: Path) -> str:
    return (out / "requests-0001.jsonl").read_text()


def test_config_with_bom_and_crlf_builds_what_the_clean_config_builds(project, capsys):
    clean = project.config()
    assert cli(capsys, "build", clean, "--out", project.dir / "clean").rc == 0
    shutil.copy(BAD / "config" / "bom_crlf.yaml", project.dir / "bom.yaml")
    run = cli(capsys, "build", project.dir / "bom.yaml", "--out", project.dir / "bom")
    assert run.rc == 0, run.err
    assert _built_requests(project.dir / "bom") == _built_requests(project.dir / "clean")


# --- prompt files -----------------------------------------------------------------------------

PROMPT_CASES = {  # corpus file -> (the prompt it replaces, extra config, expected error parts)
    "template_field_missing.txt": ("user.txt", {}, ["items.jsonl:1: item 'q1' has no field 'nope'",
                                                    "used by the template user.txt"]),
    "template_format_spec.txt": ("user.txt", {}, ["user.txt: template field '{id:>99999999999}'",
                                                  "only plain {id} is supported"]),
    "template_unbalanced_brace.txt": ("user.txt", {}, ["user.txt: bad template", "write literal braces"]),
    "template_attribute_access.txt": ("user.txt", {}, ["'{id.__class__.__mro__}' is not a plain item field"]),
    "empty_prompt.md": ("system.md", {}, ["system.md: is empty"]),
    "tools_truncated.json": ("tools.json", {"prompts": {"tools_file": "tools.json"}},
                             ["tools.json: tools file is not valid JSON"]),
    "tools_not_a_list.json": ("tools.json", {"prompts": {"tools_file": "tools.json"}},
                              ["tools.json: tools file must be a JSON list"]),
}


@pytest.mark.parametrize("name", sorted(PROMPT_CASES))
def test_bad_prompt_file(project, capsys, name):
    target, changes, needles = PROMPT_CASES[name]
    shutil.copy(BAD / "prompts" / name, project.dir / target)
    run = cli(capsys, "build", project.config(changes), "--out", project.dir / "out")
    assert_one_error(run, "build", *needles)


def test_prompt_with_non_utf8_bytes(project, capsys):
    (project.dir / "concise.md").write_bytes(b"Keep it \xe9short.")  # Latin-1, not UTF-8
    run = cli(capsys, "build", project.config(), "--out", project.dir / "out")
    assert_one_error(run, "build", "concise.md: not UTF-8 text (bad byte at offset 8)")


def test_prompt_edited_between_runs_is_not_served_stale(project, capsys):
    """Prompt texts are cached in-process; a notebook kernel must see an edit on its next run."""
    cfg = project.config()
    assert cli(capsys, "build", cfg, "--out", project.dir / "a").rc == 0
    project.write("user.txt", "Edited {id}: {question}\n")
    assert cli(capsys, "build", cfg, "--out", project.dir / "b").rc == 0
    assert "Edited q1: What is 1 + 1?" in _built_requests(project.dir / "b")
    shutil.copy(BAD / "prompts" / "empty_prompt.md", project.dir / "user.txt")
    assert_one_error(cli(capsys, "build", cfg, "--out", project.dir / "c"), "build", "user.txt: is empty")


def test_template_with_bom_and_crlf_renders_like_the_clean_one(project, capsys):
    cfg = project.config()
    assert cli(capsys, "build", cfg, "--out", project.dir / "clean").rc == 0
    shutil.copy(BAD / "prompts" / "template_bom_crlf.txt", project.dir / "user.txt")
    assert cli(capsys, "build", cfg, "--out", project.dir / "bom").rc == 0
    assert _built_requests(project.dir / "bom") == _built_requests(project.dir / "clean")


# --- items ------------------------------------------------------------------------------------

ITEM_CASES = {
    "empty.jsonl": ["items.jsonl: no items (the file is empty)"],
    "truncated_last_line.jsonl": ["items.jsonl:3: not valid JSON"],
    "invalid_json.jsonl": ["items.jsonl:2: not valid JSON"],
    "not_an_object.jsonl": ["items.jsonl:2: expected a JSON object per line, got list"],
    "duplicate_id.jsonl": ["items.jsonl:2: duplicate item id 'q1'"],
    "missing_id.jsonl": ["items.jsonl:2: item has no 'id' field"],
    "id_is_object.jsonl": ["items.jsonl:1: item field 'id' (the id) must be a string or a number, got dict"],
    "template_field_missing.jsonl": ["items.jsonl:2: item 'q2' has no field 'question'"],
}


@pytest.mark.parametrize("name", sorted(ITEM_CASES))
def test_bad_items(project, capsys, name):
    shutil.copy(BAD / "items" / name, project.dir / "items.jsonl")
    run = cli(capsys, "build", project.config(), "--out", project.dir / "out")
    assert_one_error(run, "build", *ITEM_CASES[name])


def _good_items() -> bytes:
    return b"".join(json.dumps({"id": f"q{i}", "topic": "t", "question": f"{i}+{i}?"}).encode() + b"\n"
                    for i in (1, 2, 3))


GENERATED_ITEMS = {  # generated at runtime: binary or big
    "non_utf8": (lambda: _good_items() + b'{"id": "q4", "topic": "t", "question": "caf\xe9?"}\n',
                 ["items.jsonl:4: not UTF-8 text"]),
    "gzip_cut_short": (lambda: gzip.compress(_good_items() * 50)[:60], ["items.jsonl: is gzip-compressed"]),
    "ten_mb_single_line": (lambda: b'{"id": "q1", "topic": "t", "question": "' + b"x" * TEN_MB,
                           ["items.jsonl:1: not valid JSON (Unterminated string"]),
    "nested_too_deeply": (lambda: _good_items() + b"[" * 100_000 + b"]" * 100_000 + b"\n",
                          ["items.jsonl:4: not valid JSON (nested too deeply)"]),
    "nul_bytes": (lambda: b"\x00" * 64, ["items.jsonl:1: not valid JSON"]),
}


@pytest.mark.parametrize("name", sorted(GENERATED_ITEMS))
def test_generated_bad_items(project, capsys, name):
    make, needles = GENERATED_ITEMS[name]
    (project.dir / "items.jsonl").write_bytes(make())
    run = cli(capsys, "build", project.config(), "--out", project.dir / "out")
    assert_one_error(run, "build", *needles)


def test_items_path_is_a_directory(project, capsys):
    (project.dir / "itemsdir").mkdir()
    run = cli(capsys, "build", project.config({"items": {"file": "itemsdir"}}), "--out", project.dir / "out")
    assert_one_error(run, "build", "'items.file' points to itemsdir, which is a directory")


def test_items_with_bom_and_crlf_build_like_clean_items(project, capsys):
    raw = (BAD / "items" / "bom_crlf.jsonl").read_bytes()
    (project.dir / "items.jsonl").write_bytes(raw.removeprefix(b"\xef\xbb\xbf").replace(b"\r\n", b"\n"))
    cfg = project.config()
    assert cli(capsys, "build", cfg, "--out", project.dir / "clean").rc == 0
    shutil.copy(BAD / "items" / "bom_crlf.jsonl", project.dir / "items.jsonl")
    assert cli(capsys, "build", cfg, "--out", project.dir / "bom").rc == 0
    assert _built_requests(project.dir / "bom") == _built_requests(project.dir / "clean")


# --- request files (lint) ---------------------------------------------------------------------

LINT_FINDINGS = {  # corpus file -> (exit code, level, finding code, where it points, detail part)
    "truncated_last_line.jsonl": (1, "error", "invalid-json", "truncated_last_line.jsonl:2", None),
    "invalid_json.jsonl": (1, "error", "invalid-json", "invalid_json.jsonl:2", None),
    "not_an_object.jsonl": (1, "error", "not-a-request", "not_an_object.jsonl:2", None),
    "duplicate_custom_id.jsonl": (1, "error", "custom-id-duplicate", "duplicate_custom_id.jsonl:2", None),
    "custom_id_pattern.jsonl": (1, "error", "custom-id-pattern", "custom_id_pattern.jsonl:1", None),
    "negative_max_tokens.jsonl": (1, "error", "max-tokens", None, None),
    "float_max_tokens.jsonl": (1, "error", "max-tokens", None, None),
    "string_max_tokens.jsonl": (1, "error", "max-tokens", None, None),
    "malformed_params.jsonl": (1, "error", "not-a-request", "malformed_params.jsonl:2",
                               "messages[0].content must be a string or a list of content blocks"),
    "bom.jsonl": (1, "error", "invalid-json", "bom.jsonl:1 (Unexpected UTF-8 BOM", None),
    # not in the model table: a warning (it may be a model newer than cachecast), never silence;
    # exit 1 comes from its missing breakpoint, which the minimum-length check cannot excuse
    "unknown_model.jsonl": (1, "error", "unknown-model", None, None),
}


def lint_json(capsys, path: Path) -> tuple[int, dict]:
    run = cli(capsys, "lint", path, "--json")
    assert "Traceback" not in run.err and run.err == ""
    return run.rc, json.loads(run.out)  # --json: one object on stdout, nothing else


@pytest.mark.parametrize("name", sorted(LINT_FINDINGS))
def test_bad_request_file_is_a_lint_finding(capsys, name):
    rc, level, code, where, detail = LINT_FINDINGS[name]
    got_rc, report = lint_json(capsys, BAD / "requests" / name)
    assert got_rc == rc
    found = [f for f in report["findings"] if f["code"] == code and f["level"] == level]
    assert found, report["findings"]
    if where:
        assert any(w.startswith(where) for f in found for w in f["where"]), found
    if detail:
        assert any(f["detail"] == detail for f in found), found
    # every line is accounted for: a request or a finding that points at it
    lines = [ln for ln in (BAD / "requests" / name).read_bytes().splitlines() if ln.strip()]
    unusable = sum(f["count"] for f in report["findings"] if f["code"] in ("invalid-json", "not-a-request")
                   and f["message"].startswith("line is not"))
    assert report["requests"] + unusable == len(lines)


def test_crlf_request_file_lints_like_lf(capsys):
    crlf = lint_json(capsys, BAD / "requests" / "crlf.jsonl")
    assert crlf[0] == 0 and crlf[1]["requests"] == 2
    assert [f["code"] for f in crlf[1]["findings"]] == ["prefix-below-minimum"]  # the short prompt's warning


def test_empty_request_file(capsys):
    assert_one_error(cli(capsys, "lint", BAD / "requests" / "empty.jsonl"), "lint",
                     "empty.jsonl: no request lines to lint")


def _good_request(cid: str | bytes = "r1") -> bytes:
    cid = cid.decode() if isinstance(cid, bytes) else cid
    return (BAD / "requests" / "crlf.jsonl").read_bytes().splitlines()[0].replace(b'"r1"', f'"{cid}"'.encode())


GENERATED_REQUESTS = {  # exit-2 cases: nothing lintable in the file
    "gzip_cut_short": (lambda: gzip.compress(_good_request() * 100)[:80], ["is gzip-compressed"]),
    "ten_mb_single_line": (lambda: b'{"custom_id": "r1", "params": {"x": "' + b"y" * TEN_MB,
                           ["no request lines to lint (line is not valid JSON", ":1 (Unterminated string"]),
    "non_utf8_only": (lambda: b"\x89PNG\r\n\x1a\n\xff\xfe\xfd\n", ["no request lines to lint",
                                                                    "line is not UTF-8 text", ":1 (bad byte"]),
    "nested_too_deeply": (lambda: b"[" * 100_000 + b"]" * 100_000 + b"\n", ["(nested too deeply)"]),
}


@pytest.mark.parametrize("name", sorted(GENERATED_REQUESTS))
def test_generated_unlintable_request_file(tmp_path, capsys, name):
    make, needles = GENERATED_REQUESTS[name]
    path = tmp_path / f"{name}.jsonl"
    path.write_bytes(make())
    assert_one_error(cli(capsys, "lint", path), "lint", str(path), *needles)


def test_non_utf8_line_among_good_ones_is_a_finding_with_its_line(tmp_path, capsys):
    path = tmp_path / "mixed.jsonl"
    bad_line = _good_request("r2").replace(b"1+1?", b"1+1\xff?")
    path.write_bytes(_good_request("r1") + b"\n" + bad_line + b"\n" + _good_request("r3") + b"\n")
    column = bad_line.index(b"\xff") + 1
    rc, report = lint_json(capsys, path)
    assert rc == 1 and report["requests"] == 2
    bad = [f for f in report["findings"] if f["code"] == "invalid-json"]
    assert [(f["message"], f["where"]) for f in bad] == [("line is not UTF-8 text",
                                                          [f"mixed.jsonl:2 (bad byte at column {column})"])]


def test_ten_mb_valid_request_line_is_linted(tmp_path, capsys):
    path = tmp_path / "big.jsonl"
    path.write_bytes(_good_request().replace(b'"1+1?"', b'"' + b"z" * TEN_MB + b'"') + b"\n")
    rc, report = lint_json(capsys, path)
    assert rc == 0 and report["requests"] == 1


def test_directory_without_request_shards(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("not a build")
    assert_one_error(cli(capsys, "lint", tmp_path), "lint", "no requests-*.jsonl files in this directory")


def test_missing_request_file(tmp_path, capsys):
    assert_one_error(cli(capsys, "lint", tmp_path / "nope.jsonl"), "lint", "nope.jsonl: file not found")


# --- a few through a real process: exit code and stderr as a shell sees them ------------------

def _subprocess(*argv: str | Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("CACHECAST_DEBUG", None)
    return subprocess.run([sys.executable, "-m", "cachecast.cli", *map(str, argv)], capture_output=True,
                          text=True, env=env, timeout=120)


def test_subprocess_bad_config_is_one_line_exit_2(project):
    shutil.copy(BAD / "config" / "typo_key.yaml", project.dir / "cfg.yaml")
    proc = _subprocess("build", project.dir / "cfg.yaml", "--out", project.dir / "out")
    assert_one_error(Run(proc.returncode, proc.stdout, proc.stderr), "build", "did you mean 'max_tokens'?")


def test_subprocess_gzip_request_file_is_one_line_exit_2(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_bytes(gzip.compress(_good_request())[:40])
    proc = _subprocess("lint", path)
    assert_one_error(Run(proc.returncode, proc.stdout, proc.stderr), "lint", "is gzip-compressed")


# --- other commands reading the same files and flags ------------------------------------------
COUNT_CASES = {  # exit 2 with one line naming the file (and line where there is one)
    "invalid_json": (lambda: (BAD / "requests" / "invalid_json.jsonl").read_bytes(), [":2: not valid JSON"]),
    "empty": (lambda: b"", ["no requests to count"]),
    "gzip": (lambda: gzip.compress(_good_request()), ["gzip"]),
    "non_utf8": (lambda: _good_request() + b"\n" + _good_request(b"r2") + b"\xff\n", [":2:", "UTF-8"]),
    "nested_too_deeply": (lambda: b"[" * 100_000 + b"]" * 100_000 + b"\n", [":1:"]),
}


@pytest.mark.parametrize("name", sorted(COUNT_CASES))
def test_count_on_a_bad_request_file(tmp_path, capsys, name):
    make, needles = COUNT_CASES[name]
    path = tmp_path / "requests.jsonl"
    path.write_bytes(make())
    assert_one_error(cli(capsys, "count", path), "count", "requests.jsonl", *needles)


@pytest.mark.parametrize("flag, value", [
    ("--hit-rate", "2"), ("--items", "0"), ("--system-tokens", "-1"), ("--hit-rate", "nan"),
    ("--output-tokens", "inf"), ("--user-tokens", "inf"), ("--output-tokens", "nan"),
])
def test_project_refuses_numbers_that_are_not_numbers(capsys, flag, value):
    run = cli(capsys, "project", REPO / "config" / "eval_config.pilot.anthropic.yaml", flag, value, "--json")
    assert "Traceback" not in run.err and run.rc == 2 and run.out == ""
    assert len(run.err.strip().splitlines()) == 1, run.err  # one sentence, not a usage dump or an internal error


def test_report_out_is_a_directory(tmp_path, capsys, monkeypatch):
    out = tmp_path / "reports"
    out.mkdir()
    monkeypatch.setattr("cachecast.report.reports._execute", lambda nb, executed, params: executed.write_text("{}"))
    monkeypatch.setattr("cachecast.report.reports.export_html", lambda executed: "<html></html>")  # no kernel: fast
    assert_one_error(cli(capsys, "report", "project", "-p", "full_items", "10", "--out", out), "report", "directory")
    assert list(tmp_path.iterdir()) == [out]
