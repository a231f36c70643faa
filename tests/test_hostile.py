"""Hostile input (issue 14), the classes owned here: code through report parameters (1),
files that are not regular files (3), the key in ingested data (4), results a user would
read as success (7, in part), configs that expand without bound (9), exit codes and one
sentence (12), and what is wrong said in the input's terms (13).

Each case failed before its fix (the module docstring of each section says how), including
those whose wiring is in ingest, pricing and the CLI options.

Nothing here may hang or eat the machine when a fix regresses: reads of FIFOs and devices
run under `bounded()` (an alarm and an address-space cap), and no test starts a kernel
except the one that shows the exploit no longer runs.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import decimal
import errno
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import duckdb
import pytest
import yaml

import roles
from cachecast.cli import main
from cachecast.errors import ApiError, ConfigError, InputError
from cachecast.store.ingest.load import _macros

REPO = Path(__file__).resolve().parents[1]
KEY = "sk-ant-api03-CANARYhostile-93c1f0a2b7d84e6a-do-not-leak"


# --- helpers ------------------------------------------------------------------------------------

@dataclass
class Run:
    rc: int
    out: str
    err: str


def cli(capsys, *argv) -> Run:
    capsys.readouterr()
    try:
        rc = main([str(a) for a in argv])
    except SystemExit as exc:
        rc = exc.code
    cap = capsys.readouterr()
    return Run(rc, cap.out, cap.err)


def one_error(run: Run, command: str, *needles: str, code: int = 2) -> str:
    """Exit `code`, nothing on stdout, one stderr line `cachecast CMD: ...` holding each needle."""
    assert "Traceback" not in run.err, run.err
    assert run.rc == code, (run.rc, run.out, run.err)
    assert run.out == "", run.out
    lines = run.err.strip().splitlines()
    assert len(lines) == 1, run.err
    assert lines[0].startswith(f"cachecast {command}: "), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


class Hung(BaseException):
    """Raised by the alarm: a BaseException, so no `except Exception/OSError` in the code
    under test can turn a hang into a passing error message."""


def _vm_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


@contextlib.contextmanager
def bounded(seconds: int = 10, extra: int = 1 << 30):
    """Run a block that must neither hang (SIGALRM -> Hung) nor grow memory without bound
    (RLIMIT_AS capped at the current size + `extra` -> MemoryError), restoring both after."""

    def on_alarm(signum, frame):
        raise Hung(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    cap = _vm_bytes() + extra
    capped = cap > extra and (hard == resource.RLIM_INFINITY or cap < hard)
    if capped:
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        if capped:
            resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


@pytest.fixture
def fifo(tmp_path) -> Path:
    path = tmp_path / "pipe.jsonl"
    os.mkfifo(path)
    return path


def special(kind: str, tmp_path: Path) -> Path:
    """A FIFO in tmp_path, or /dev/zero (never ends)."""
    if kind == "fifo":
        path = tmp_path / f"pipe-{len(list(tmp_path.iterdir()))}"
        os.mkfifo(path)
        return path
    return Path("/dev/zero")


SPECIAL = ["fifo", "dev_zero"]
SPECIAL_WORDS = {"fifo": "named pipe (FIFO)", "dev_zero": "a device"}


# =================================================================================================
# 1. Report parameters: only plain literals of the declared type reach a notebook.
#    Before: -p values went through yaml.safe_load (tags made bytes, sets, dates) and
#    run_report checked names only; papermill wrote a bytes value into the cell unescaped.
# =================================================================================================

PAYLOAD = '"+str(__import__("os").system("touch pwned"))+"'  # closes papermill's quotes around str(bytes)
BINARY = "!!binary " + base64.b64encode(PAYLOAD.encode()).decode()


@pytest.fixture
def no_kernel(monkeypatch):
    """Record what would reach papermill instead of starting a kernel."""
    seen: list[dict] = []

    def fake_execute(nb, executed, params):
        seen.append(dict(params))
        executed.write_text("{}")

    monkeypatch.setattr("cachecast.report.reports._execute", fake_execute)
    monkeypatch.setattr("cachecast.report.reports.export_html", lambda executed: "<html></html>")
    return seen


@pytest.mark.parametrize("text", [BINARY, "!!timestamp 2026-12-01t10:00:00z", "!!set {a: null}", "!!float 1"],
                         ids=["binary", "timestamp", "set", "float-tag"])
def test_yaml_tags_in_a_parameter_are_plain_text(tmp_path, capsys, no_kernel, text):
    run = cli(capsys, "report", "audit", "-p", "batch_id", text, "--out", tmp_path / "r.html")
    assert run.rc == 0, run.err
    assert type(no_kernel[0]["batch_id"]) is str and no_kernel[0]["batch_id"] == text


REFUSED_CLI = [  # (kind, name, value, what the sentence says it takes)
    ("project", "full_items", "abc", "a whole number"),
    ("project", "full_items", "1.5", "a whole number"),
    ("project", "full_items", "true", "a whole number"),
    ("project", "full_items", "1e400", "a whole number"),
    ("project", "pilot_items", "null", "a whole number"),
    ("project", "hit_rates", "0.5", "a list of numbers"),
    ("project", "hit_rates", '[0.3, "x"]', "a list of numbers"),
    ("project", "hit_rates", "[[0.3]]", "a list of numbers"),
    ("project", "hit_rates", "[NaN]", "a list of numbers"),
    ("project", "hit_rates", '{"__class__": 1}', "a list of numbers"),
    ("project", "what_if_start", "NaN", "a number"),
    ("project", "what_if_start", "Infinity", "a number"),
    ("project", "what_if_start", "1e999", "a number"),
    ("project", "budget_usd", "abc", "a number or null"),
    ("project", "budget_usd", '{"a": 1}', "a number or null"),
    ("project", "system_tokens", "12.5", "a whole number or null"),
    ("project", "exact", "yes", "true or false or null"),
]


@pytest.mark.parametrize("kind, name, value, takes", REFUSED_CLI,
                         ids=[f"{n}={v}" for _, n, v, _ in REFUSED_CLI])
def test_a_value_the_parameter_cannot_take_is_one_sentence(tmp_path, capsys, no_kernel, kind, name, value, takes):
    run = cli(capsys, "report", kind, "-p", name, value, "--out", tmp_path / "r.html")
    one_error(run, "report", f"report parameter '{name}' takes {takes}")
    assert no_kernel == []  # refused before any kernel


ACCEPTED_CLI = [  # values YAML turned into something else: now the text (or literal) the parameter takes
    ("project", "config", "123", "123"),
    ("audit", "batch_id", "0x10", "0x10"),
    ("audit", "batch_id", "1_000", "1_000"),
    ("audit", "batch_id", "2026-12-01", "2026-12-01"),
    ("audit", "batch_id", "yes", "yes"),
    ("audit", "db_path", "~", "~"),
    ("audit", "batch_id", "msgbatch_01 # not a comment", "msgbatch_01 # not a comment"),
]


@pytest.mark.parametrize("kind, name, text, expected", ACCEPTED_CLI, ids=[f"{n}={t}" for _, n, t, _ in ACCEPTED_CLI])
def test_text_parameters_get_the_text_as_typed(tmp_path, capsys, no_kernel, kind, name, text, expected):
    run = cli(capsys, "report", kind, "-p", name, text, "--out", tmp_path / "r.html")
    assert run.rc == 0, run.err
    assert no_kernel[0][name] == expected and type(no_kernel[0][name]) is type(expected)


class _SneakyStr(str):
    def encode(self, *args, **kwargs):  # papermill escapes through encode(); this one does not
        return b'"+__import__("os").system("touch pwned")+"'


REFUSED_PYTHON = {
    "bytes": ("batch_id", PAYLOAD.encode()),
    "set": ("batch_id", {"a"}),
    "tuple": ("batch_id", ("a",)),
    "dict": ("batch_id", {"a": 1}),
    "path-with-quote": ("db_path", Path('x"+__import__("os").system("touch pwned")+"')),
    "str-subclass": ("db_path", _SneakyStr("x")),
    "nan": ("batch_id", float("nan")),
    "object": ("manifest_dir", object()),
    "decimal": ("batch_id", decimal.Decimal("1")),
    "nested-list": ("batch_id", [["a"]]),
}


@pytest.mark.parametrize("case", sorted(REFUSED_PYTHON))
def test_run_report_refuses_values_that_are_not_plain_literals(tmp_path, no_kernel, case):
    """The same check for every route (submit, the demo, a user's notebook)."""
    from cachecast.report.reports import run_report

    name, value = REFUSED_PYTHON[case]
    with pytest.raises(InputError, match=f"report parameter '{name}' takes"):
        run_report("audit", {name: value}, tmp_path / "r.html")
    assert no_kernel == []


@pytest.mark.parametrize("kind, name, value", [("project", "full_items", True), ("project", "hit_rates", [0.3, None]),
                                               ("project", "what_if_start", float("inf")),
                                               ("project", "pilot_budget_usd", "100")],
                         ids=["bool-for-int", "null-in-list", "inf", "text-for-number"])
def test_run_report_checks_the_declared_type(tmp_path, no_kernel, kind, name, value):
    from cachecast.report.reports import run_report

    with pytest.raises(InputError, match=f"report parameter '{name}' takes"):
        run_report(kind, {name: value}, tmp_path / "r.html")


def test_report_help_lists_each_parameter_with_its_default(capsys):
    run = cli(capsys, "report", "--help")
    assert run.rc == 0
    for line in ("full_items = 5000", "hit_rates = [0.3, 0.8, 0.98]", 'db_path = "build/demo/cachecast.duckdb"',
                 "batch_id = null", "budget_usd = null  [a number or null]"):
        assert line in run.out, line


def test_an_annotated_parameter_is_checked_by_its_annotation(tmp_path, monkeypatch, capsys, no_kernel):
    """A notebook of one's own declares `name: type = default`; the annotation wins."""
    nb = json.loads((REPO / "notebooks" / "02_audit_batch.ipynb").read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    cell["source"] = "db_path = 'x.duckdb'\nbatch_id: str | None = None\nlimit: int | None = None  # rows\n"
    (tmp_path / "nbs").mkdir()
    (tmp_path / "nbs" / "02_audit_batch.ipynb").write_text(json.dumps(nb))
    monkeypatch.setenv("CACHECAST_NOTEBOOKS", str(tmp_path / "nbs"))
    one_error(cli(capsys, "report", "audit", "-p", "limit", "many", "--out", tmp_path / "r.html"), "report",
              "report parameter 'limit' takes a whole number or null")
    assert cli(capsys, "report", "audit", "-p", "limit", "7", "--out", tmp_path / "r.html").rc == 0
    assert no_kernel[-1] == {"limit": 7}


@pytest.mark.slow
def test_the_binary_tag_exploit_does_not_run(tmp_path, monkeypatch):
    """The issue's reproduction, through a real kernel: no file appears."""
    monkeypatch.chdir(tmp_path)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    proc = subprocess.run([sys.executable, "-m", "cachecast.cli", "report", "audit", "-p", "batch_id", BINARY,
                           "-p", "db_path", str(tmp_path / "none.duckdb"), "--out", "x.html"],
                          capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert not (tmp_path / "pwned").exists()
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr  # the store is missing


# =================================================================================================
# 3. Files that are not regular files. Before: a FIFO config/prompt/items/request file hung
#    on the first read, /dev/zero was read until memory ran out, a FIFO --db hung in the
#    magic-byte check. Now each is one sentence before any read.
# =================================================================================================

@pytest.mark.parametrize("kind", SPECIAL)
def test_config_that_is_not_a_regular_file(tmp_path, capsys, kind):
    path = special(kind, tmp_path)
    with bounded():
        run = cli(capsys, "build", path, "--out", tmp_path / "out")
    one_error(run, "build", str(path), SPECIAL_WORDS[kind], "not a regular file")


CONFIG_REFS = {  # config change -> key named in the error
    "prompts.system_file": lambda p: {"prompts": {"system_file": str(p)}},
    "prompts.user_template_file": lambda p: {"prompts": {"user_template_file": str(p)}},
    "prompts.tools_file": lambda p: {"prompts": {"tools_file": str(p)}},
    "items.file": lambda p: {"items": {"file": str(p)}},
    "treatments.1.system_suffix_file": lambda p: {"treatments": [{"name": "control"},
                                                                 {"name": "c", "system_suffix_file": str(p)}]},
}


@pytest.mark.parametrize("kind", SPECIAL)
@pytest.mark.parametrize("key", sorted(CONFIG_REFS))
def test_config_pointing_at_a_file_that_is_not_regular(project, tmp_path, kind, key):
    target = special(kind, tmp_path)
    cfg = project.config(CONFIG_REFS[key](target))
    from cachecast.build.config import load_config

    with bounded(), pytest.raises(ConfigError) as exc:
        load_config(cfg)
    assert f"'{key}' points to {target}" in str(exc.value) and SPECIAL_WORDS[kind] in str(exc.value)


@pytest.mark.parametrize("kind", SPECIAL)
def test_prompt_read_directly_that_is_not_regular(tmp_path, kind):
    from cachecast.build.prompts import read_text

    path = special(kind, tmp_path)
    with bounded(), pytest.raises(InputError, match="not a regular file"):
        read_text(path)


@pytest.mark.parametrize("kind", SPECIAL)
@pytest.mark.parametrize("command", ["count", "lint"])
def test_request_file_that_is_not_regular(tmp_path, capsys, kind, command):
    path = special(kind, tmp_path)
    with bounded():
        run = cli(capsys, command, path)
    one_error(run, command, str(path), "not a regular file")


@pytest.mark.parametrize("kind", SPECIAL)
def test_json_lines_reader_refuses_what_is_not_regular(tmp_path, kind):
    """jsonl.lines serves items, lint, count and manifests (batches.read_manifest)."""
    from cachecast.jsonl import lines

    path = special(kind, tmp_path)
    with bounded(), pytest.raises(InputError, match="not a regular file"):
        list(lines(path))


def test_manifest_that_is_a_fifo(fifo):
    from cachecast.build.batches import read_manifest

    with bounded(), pytest.raises(InputError, match="named pipe"):
        read_manifest(fifo)


@pytest.mark.parametrize("kind", SPECIAL)
def test_store_that_is_not_a_regular_file(tmp_path, kind):
    from cachecast import store

    path = special(kind, tmp_path)
    with bounded(), pytest.raises(InputError, match="not a regular file"):
        store.connect(path)


def test_audit_db_that_is_a_fifo(fifo, capsys):
    with bounded():
        run = cli(capsys, "audit", "--db", fifo)
    one_error(run, "audit", "named pipe (FIFO)")


def test_results_file_that_is_a_fifo_says_what_it_is(fifo, capsys, tmp_path):
    with bounded():
        run = cli(capsys, "ingest", fifo, "--db", tmp_path / "s.duckdb")
    one_error(run, "ingest", "named pipe (FIFO)")


def test_price_overrides_that_are_a_fifo_say_what_they_are(fifo):
    from cachecast.facts.pricing import get_rates
    from cachecast.errors import PriceError

    with bounded(), pytest.raises(PriceError, match="named pipe"):
        get_rates(roles.default(), True, fifo)


def _outside_config(project, tmp_path, how: str) -> Path:
    """repo/ (with .git) holds the config and prompts; the system prompt reads
    home/.ssh/id_ed25519 next to it, by a relative path or through a symlink in repo/."""
    from _fixtures import base_config, merge

    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    secret = tmp_path / "home" / ".ssh" / "id_ed25519"
    secret.parent.mkdir(parents=True)
    secret.write_text("-----BEGIN OPENSSH PRIVATE KEY----- not really\n")
    for name in ("user.txt", "concise.md", "items.jsonl"):
        shutil.copy(project.dir / name, repo / name)
    if how == "symlink":
        (repo / "rubric.md").symlink_to(secret)
    ref = "../home/.ssh/id_ed25519" if how == "relative" else "rubric.md"
    cfg = repo / "cfg.yaml"
    cfg.write_text(yaml.safe_dump(merge(base_config(), {"prompts": {"system_file": ref}}), sort_keys=False))
    return cfg


@pytest.mark.parametrize("how", ["relative", "symlink"])
def test_prompt_outside_the_repository_is_warned_about_once(project, tmp_path, capsys, how):
    from cachecast.build.config import load_config

    cfg = _outside_config(project, tmp_path, how)
    capsys.readouterr()
    load_config(cfg)
    load_config(cfg)
    warnings = [ln for ln in capsys.readouterr().err.splitlines() if "warning" in ln]
    assert len(warnings) == 1, warnings
    assert "'prompts.system_file'" in warnings[0] and ".ssh/id_ed25519" in warnings[0]
    assert "outside the config's repository" in warnings[0] and str(tmp_path / "repo") in warnings[0]


# =================================================================================================
# 4. The key in ingested data. Before: nothing but error messages was redacted.
# =================================================================================================

@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    return KEY


def _echoing_results(path: Path) -> None:
    """A proxy that echoed the key: into a succeeded message's text, an errored line's
    message, and a line that is not JSON (quarantined with its raw text)."""
    ok = {"custom_id": "r1", "result": {"type": "succeeded", "message": {
        "id": "msg_01Echo", "type": "message", "role": "assistant", "model": roles.default(),
        "content": [{"type": "text", "text": f"your key is {KEY}"}], "stop_reason": "max_tokens",
        "stop_sequence": None, "usage": {"input_tokens": 10, "cache_creation_input_tokens": 0,
                                         "cache_read_input_tokens": 0, "output_tokens": 5}}}}
    bad = {"custom_id": "r2", "result": {"type": "errored", "error": {"type": "error", "error": {
        "type": "authentication_error", "message": f"invalid x-api-key: {KEY}"}}}}
    path.write_text(json.dumps(ok) + "\n" + json.dumps(bad) + "\n" + f"not json {KEY}\n")


def test_the_key_echoed_into_results_is_not_stored_or_shown(tmp_path, capsys, key):
    results, db = tmp_path / "results.jsonl", tmp_path / "s.duckdb"
    _echoing_results(results)
    assert cli(capsys, "ingest", results, "--db", db, "--batch-id", "msgbatch_echo").rc == 0
    run = cli(capsys, "audit", "--db", db, "--json")
    assert "CANARYhostile" not in run.out + run.err
    conn = duckdb.connect(str(db), read_only=True)
    try:
        columns = conn.execute("SELECT table_name, column_name FROM information_schema.columns "
                               "WHERE table_schema = 'main' AND data_type = 'VARCHAR'").fetchall()
        hits = [(t, c) for t, c in columns
                if conn.execute(f'SELECT count(*) FROM "{t}" WHERE strpos("{c}", ?) > 0', ["CANARYhostile"]).fetchone()[0]]
        raw = conn.execute("SELECT count(*) FROM results WHERE strpos(raw, '[redacted]') > 0").fetchone()[0]
    finally:
        conn.close()
    assert hits == [] and raw >= 1


# =================================================================================================
# 7. Nothing a user reads as success may lose data.
# =================================================================================================

@pytest.mark.parametrize("name", [":memory:", ":memory:scratch"])
def test_in_memory_store_is_refused(name):
    from cachecast import store

    with pytest.raises(InputError, match="in-memory database, which keeps nothing"):
        store.connect(name)


def test_ingest_into_memory_is_refused(tmp_path, capsys):
    results = tmp_path / "r.jsonl"
    results.write_text((REPO / "tests" / "data" / "results_mixed.jsonl").read_text())
    one_error(cli(capsys, "ingest", results, "--db", ":memory:"), "ingest", "keeps nothing")


def test_a_file_name_with_glob_characters_is_taken_literally(tmp_path):
    from cachecast.store.ingest import expand

    literal, lookalike = tmp_path / "r47[1].jsonl", tmp_path / "r471.jsonl"
    literal.write_text("{}\n")
    lookalike.write_text("{}\n")
    assert expand([str(literal)]) == [literal]


@pytest.mark.parametrize("answer", [-5, 3.7, True, "12", None, 10**12], ids=["negative", "float", "bool",
                                                                          "string", "missing", "huge"])
def test_count_tokens_answer_that_is_not_a_count(answer):
    from cachecast.tokens.count import TokenCounter, split_params

    class Client:
        max_retries = 0

        class messages:  # noqa: N801 - the SDK's shape
            @staticmethod
            def count_tokens(**body):
                return SimpleNamespace(input_tokens=answer)

    counter = TokenCounter(client=Client())
    part = split_params({"model": roles.default(), "messages": [{"role": "user", "content": "hi"}]}).rest[0]
    with pytest.raises(ApiError, match="not a token count"):
        counter.counts([part])


# =================================================================================================
# 9. Configs are bounded. Before: aliases were expanded by validation and by the error
#    message (4 GB), a key given twice kept the last value silently, deep nesting was a
#    RecursionError (exit 3).
# =================================================================================================

def _laughs(levels: int = 9) -> str:
    text = 'l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for i in range(1, levels):
        text += f"l{i}: &l{i} [" + ",".join([f"*l{i - 1}"] * 10) + "]\n"
    return text + f"run_name: *l{levels - 1}\n"


YAML_CASES = {
    "billion-laughs": (_laughs(), ["aliases expand this document past 2,000,000 values"]),
    "alias-loop-list": ("run_name: t\nloop: &a [1, *a]\n", ["alias refers to the mapping or list that contains it"]),
    "alias-loop-mapping": ("run_name: t\nloop: &m {x: *m}\n", ["alias refers to the mapping or list that contains it"]),
    "nested-too-deeply": ("run_name: " + "[" * 50_000 + "]" * 50_000 + "\n", ["nested too deeply"]),
    "duplicate-top-key": ("run_name: a\nmax_tokens: 256\nrun_name: b\n", ["line 3", "key 'run_name' is given twice",
                                                                          "first on line 1"]),
    "duplicate-nested-key": ("provider:\n  name: anthropic\n  model: a\n  model: b\n", ["line 4", "key 'model'"]),
    "duplicate-in-list-item": ("treatments:\n  - name: a\n    name: b\n", ["line 3", "key 'name' is given twice"]),
}


@pytest.mark.parametrize("case", sorted(YAML_CASES))
def test_config_yaml_is_bounded_and_unambiguous(tmp_path, capsys, case):
    text, needles = YAML_CASES[case]
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(text)
    with bounded(seconds=20, extra=1 << 30):
        run = cli(capsys, "build", cfg, "--out", tmp_path / "out")
    line = one_error(run, "build", "cfg.yaml", *needles)
    assert len(line) < 400  # the sentence is cut before anything is expanded


def test_anchors_within_the_budget_and_merge_keys_still_work(project):
    """Honest anchors (one shared treatment setting) and `<<` overrides are not refused,
    and a config using them loads."""
    from cachecast.build.config import load_config

    text = project.config().read_text().replace("treatments:", "x-unused: &arm {name: concise}\ntreatments:", 1)
    text += "extra:\n  <<: *arm\n  name: override\n"
    from cachecast._yaml import load

    data = load(text)
    assert data["extra"] == {"name": "override"} and data["x-unused"] == {"name": "concise"}
    with pytest.raises(ConfigError, match="unknown key 'x-unused'"):  # anchors load; unknown keys stay errors
        (project.dir / "anchors.yaml").write_text(text)
        load_config(project.dir / "anchors.yaml")


# =================================================================================================
# 12. Bad input exits 2 with one sentence; exit 3 is a bug, said as one.
# =================================================================================================

def _raising(monkeypatch, exc: BaseException, command: str = "audit"):
    def boom(args):
        raise exc

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args",
                        lambda self, argv=None: argparse.Namespace(run=boom, command=command))


def test_a_bug_is_exit_3_one_sentence_asking_for_a_report(monkeypatch, capsys):
    _raising(monkeypatch, RuntimeError("unexpected state"))
    line = one_error(cli(capsys, "audit"), "audit", code=3)
    assert line == ("cachecast audit: internal error in cachecast: RuntimeError: unexpected state; "
                    "please report it (set CACHECAST_DEBUG=1 for a traceback)")


def test_a_bug_with_debug_shows_the_traceback(monkeypatch, capsys):
    monkeypatch.setenv("CACHECAST_DEBUG", "1")
    _raising(monkeypatch, RuntimeError("unexpected state"))
    run = cli(capsys, "audit")
    assert run.rc == 3 and "Traceback" in run.err and "please report it" in run.err.splitlines()[-1]


OS_ERRORS = {
    "disk-full": (OSError(errno.ENOSPC, "No space left on device", "out/requests-0001.jsonl"),
                  "disk full while writing out/requests-0001.jsonl; nothing was committed"),
    "name-too-long": (OSError(errno.ENAMETOOLONG, "File name too long", "x" * 300), "file name too long"),
    "not-a-directory": (NotADirectoryError(errno.ENOTDIR, "Not a directory", "notes.txt/out"),
                        "notes.txt/out: a part of this path is a file, not a directory"),
    "permission": (PermissionError(errno.EACCES, "Permission denied", "/root/x"), "/root/x: permission denied"),
    "read-only": (OSError(errno.EROFS, "Read-only file system", "/ro/x"), "/ro/x: read-only file system"),
    "deleted-mid-run": (FileNotFoundError(errno.ENOENT, "No such file", "results.jsonl"),
                        "results.jsonl: no such file or directory"),
}


@pytest.mark.parametrize("case", sorted(OS_ERRORS))
def test_os_errors_that_are_the_users_are_exit_2(monkeypatch, capsys, case):
    exc, sentence = OS_ERRORS[case]
    _raising(monkeypatch, exc, "build")
    one_error(cli(capsys, "build"), "build", sentence)


def test_duckdb_disk_full_is_exit_2(monkeypatch, capsys):
    _raising(monkeypatch, duckdb.IOException('Could not write file "s.duckdb.wal": No space left on device'),
             "ingest")
    one_error(cli(capsys, "ingest"), "ingest", "disk full while writing s.duckdb.wal; nothing was committed")


def test_ctrl_c_is_130_and_says_nothing_was_committed(monkeypatch, capsys):
    _raising(monkeypatch, KeyboardInterrupt(), "ingest")
    line = one_error(cli(capsys, "ingest"), "ingest", code=130)
    assert line == "cachecast ingest: interrupted; the step in progress was not committed (finished files and batches are kept)"


def test_db_inside_a_regular_file(tmp_path, capsys):
    (tmp_path / "notes.txt").write_text("x")
    results = tmp_path / "r.jsonl"
    shutil.copy(REPO / "tests" / "data" / "results_mixed.jsonl", results)
    one_error(cli(capsys, "ingest", results, "--db", tmp_path / "notes.txt" / "s.duckdb"), "ingest",
              "notes.txt is a file, not a directory")


@pytest.mark.parametrize("out", ["file", "long"])
def test_build_out_that_cannot_be_written(project, capsys, out):
    (project.dir / "notes.txt").write_text("x")
    target = project.dir / "notes.txt" / "out" if out == "file" else project.dir / ("o" * 300)
    run = cli(capsys, "build", project.config(), "--out", target, "--limit", "2")
    one_error(run, "build", "notes.txt: is a file, not a directory" if out == "file" else "file name too long")


def test_db_name_too_long(tmp_path, capsys):
    results = tmp_path / "r.jsonl"
    shutil.copy(REPO / "tests" / "data" / "results_mixed.jsonl", results)
    one_error(cli(capsys, "ingest", results, "--db", tmp_path / ("s" * 300 + ".duckdb")), "ingest",
              "File name too long")


@pytest.mark.parametrize("out", ["file", "long"])
def test_report_out_that_cannot_be_written_is_refused_before_the_kernel(tmp_path, capsys, no_kernel, out):
    (tmp_path / "notes.txt").write_text("x")
    target = tmp_path / "notes.txt" / "r.html" if out == "file" else tmp_path / ("r" * 300 + ".html")
    run = cli(capsys, "report", "audit", "--out", target)
    one_error(run, "report", "is a file, not a directory" if out == "file" else "file name too long")
    assert no_kernel == []


def test_a_bad_option_is_one_line(tmp_path, capsys):
    run = cli(capsys, "build", tmp_path / "cfg.yaml", "--limit", "many")
    one_error(run, "build", "--limit", "expected a whole number")


@pytest.mark.parametrize("factory, text, needle", [
    ("int", "1" + "0" * 30, "must be between"),
    ("int", "-1", "must be between"),
    ("int", "1.5", "expected a whole number"),
    ("float", "nan", "got NaN"),
    ("float", "inf", "expected a finite number"),
    ("float", "1e400", "expected a finite number"),
    ("float", "2", "must be between"),
], ids=["int-huge", "int-negative", "int-decimal", "float-nan", "float-inf", "float-overflow", "float-range"])
def test_bounded_number_options(factory, text, needle):
    from cachecast.cli._argtypes import bounded_float, bounded_int

    parse = bounded_int(0, 10**6) if factory == "int" else bounded_float(0.0, 1.0)
    with pytest.raises(argparse.ArgumentTypeError, match=needle):
        parse(text)


HUGE = "1" + "0" * 30
OPTION_CASES = {  # exit 3 (Decimal InvalidOperation, islice ValueError) before the options were bounded
    "build-limit": ["build", "{pilot}", "--limit", HUGE, "--out", "{tmp}/out"],
    "project-items": ["project", "{pilot}", "--items", HUGE, "--json"],
    "project-user-tokens": ["project", "{pilot}", "--user-tokens", "1e308", "--json"],
}


@pytest.mark.parametrize("case", sorted(OPTION_CASES))
def test_numbers_too_large_for_an_option(tmp_path, capsys, case):
    argv = [a.format(pilot=REPO / "config" / "eval_config.pilot.anthropic.yaml", tmp=tmp_path)
            for a in OPTION_CASES[case]]
    one_error(cli(capsys, *argv), argv[0], "must be between")


CORRUPT_STORES = {
    "truncated": lambda data: data[:4096],
    "truncated-half": lambda data: data[: len(data) // 2],
    "garbled": lambda data: data[:12] + bytes((i * 7 + 3) % 256 for i in range(len(data) - 12)),
    "sqlite": lambda data: b"SQLite format 3\x00" + b"\x00" * 4080,
}


@pytest.mark.parametrize("case", sorted(CORRUPT_STORES))
def test_a_damaged_store_is_not_a_cachecast_store(store_template, tmp_path, capsys, case):
    db = tmp_path / "s.duckdb"
    db.write_bytes(CORRUPT_STORES[case](store_template.read_bytes()))
    # a checksum DuckDB can check and finds wrong is damage (issue 22: restore or re-ingest)
    said = f"the store is damaged at {db}" if case == "garbled" else f"{db}: is not a cachecast store"
    one_error(cli(capsys, "audit", "--db", db), "audit", said)


def test_a_duckdb_database_of_another_application_is_left_alone(tmp_path, capsys):
    db = tmp_path / "crm.duckdb"
    conn = duckdb.connect(str(db))
    conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.close()
    one_error(cli(capsys, "audit", "--db", db), "audit", "is not a cachecast store", "customers")
    conn = duckdb.connect(str(db), read_only=True)
    try:
        tables = {r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    finally:
        conn.close()
    assert tables == {"customers"}  # nothing of cachecast's was written into it


# =================================================================================================
# 13. Say what is wrong, in the input's terms. Before: pydantic's lax mode took true as 1,
#     "256" and 256.0 as 256, .inf as a budget, and called NaN "not greater than 0"; json
#     read NaN ids; None and dicts were rendered into prompts as Python literals; preview.md
#     carried raw HTML from the prompts.
# =================================================================================================

RAW_TYPES = {  # config change -> expected sentence parts
    "repeats-true": ({"repeats": True}, ["bad value true for 'repeats'", "not true/false"]),
    "max_tokens-true": ({"max_tokens": True}, ["bad value true for 'max_tokens'"]),
    "max_tokens-text": ({"max_tokens": "256"}, ["bad value \"256\" for 'max_tokens'", "not text"]),
    "max_tokens-decimal": ({"max_tokens": 256.0}, ["bad value 256.0 for 'max_tokens'", "not a decimal"]),
    "items.limit-true": ({"items": {"limit": True}}, ["for 'items.limit'"]),
    "budget_tokens-true": ({"thinking": {"type": "enabled", "budget_tokens": True}},
                           ["for 'thinking.budget_tokens'", "not true/false"]),
    "budget-inf": ({"budget_usd": float("inf")}, ["bad value Infinity for 'budget_usd'", "not infinity"]),
    "budget-minus-inf": ({"budget_usd": float("-inf")}, ["for 'budget_usd'", "not infinity"]),
    "budget-nan": ({"budget_usd": float("nan")}, ["bad value NaN for 'budget_usd'", "not NaN"]),
    "budget-nan-text": ({"budget_usd": "nan"}, ["for 'budget_usd'", "not NaN"]),
    "budget-true": ({"budget_usd": True}, ["for 'budget_usd'", "not true/false"]),
    "fill-nan": ({"output_fill_ratio": float("nan")}, ["for 'output_fill_ratio'", "not NaN"]),
    "temperature-nan": ({"temperatures": [float("nan")]}, ["for 'temperatures.0'", "not NaN"]),
    "temperature-true": ({"temperatures": [True]}, ["for 'temperatures.0'", "not true/false"]),
}


@pytest.mark.parametrize("case", sorted(RAW_TYPES))
def test_config_value_of_the_wrong_kind_names_the_key(project, capsys, case):
    changes, needles = RAW_TYPES[case]
    run = cli(capsys, "build", project.config(changes), "--out", project.dir / "out")
    one_error(run, "build", "cfg.yaml", *needles)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_item_with_a_nan_or_infinite_value(project, value):
    from cachecast.build.prompts import iter_items

    project.write("items.jsonl", '{"id": "q1", "topic": "t", "question": "a"}\n'
                                 f'{{"id": {value}, "topic": "t", "question": "b"}}\n')
    with pytest.raises(InputError, match=f"items.jsonl:2: not valid JSON \\({value} is not a JSON number\\)"):
        list(iter_items(project.load()))


@pytest.mark.parametrize("value, what", [(None, "is null"), ({"a": 1}, "is an object"), (["x"], "is a list")],
                         ids=["null", "object", "list"])
def test_item_field_that_would_render_as_a_python_literal(project, value, what):
    from cachecast.build.prompts import Item, load_template

    template = load_template(project.dir / "user.txt")
    item = Item(id="q7", fields={"id": "q7", "topic": value, "question": "?"}, line=7)
    with pytest.raises(InputError, match=f"items.jsonl:7: item 'q7' field 'topic' {what}"):
        template.render(item, project.dir / "items.jsonl")


def test_preview_escapes_raw_html(tmp_path):
    from cachecast.build.preview import write_preview

    cfg = SimpleNamespace(run_name="<b>run</b>", provider=SimpleNamespace(name="anthropic", model="m"))
    line = {"params": {"system": [{"type": "text", "text": "<script>alert(1)</script>"}],
                       "messages": [{"role": "user", "content": '"><img src=x onerror=alert(2)>'}]}}
    row = {"custom_id": "<i>c</i>", "item_id": "<u>i</u>", "treatment": "control", "temperature": None,
           "repeat": 1, "est_prefix_tokens": 1, "ttl": None, "prefix_hash": None, "skip_reason": None}
    write_preview(tmp_path / "preview.md", [(line, row)], cfg)
    text = (tmp_path / "preview.md").read_text()
    assert "<script>" not in text and "<img" not in text and "<b>" not in text and "<i>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "&lt;img src=x onerror=alert(2)&gt;" in text


# =================================================================================================
# 5. One identity per result line, whatever the file or the batch id. Before: errored, canceled,
#    expired and quarantined lines were keyed by batch + custom_id (or text), the batch id coming
#    from the file's fingerprint, so one more line, CRLF endings, another --batch-id or another
#    name stored them again (an audit reported 14 requests for 9).
# =================================================================================================

from cachecast.store import ingest as ingest_mod  # noqa: E402
from cachecast.store.ingest import checks as ingest_checks, load as ingest_load, read as ingest_read  # noqa: E402
from cachecast import store as store_mod  # noqa: E402


def _msg(custom_id: str, message_id: str, *, output: int = 5) -> dict:
    return {"custom_id": custom_id, "result": {"type": "succeeded", "message": {
        "id": message_id, "type": "message", "role": "assistant", "model": roles.default(), "content": [],
        "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 10, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                  "output_tokens": output, "service_tier": "batch"}}}}


def _failed(custom_id: str, kind: str) -> dict:
    if kind == "errored":
        return {"custom_id": custom_id, "result": {"type": "errored", "error": {"type": "error", "error": {
            "type": "overloaded_error", "message": "Overloaded"}}}}
    return {"custom_id": custom_id, "result": {"type": kind}}


IDENTITY_LINES = {
    "succeeded": _msg("s-1", "msg_01S"),
    "succeeded, empty message id": _msg("s-2", ""),
    "errored": _failed("e-1", "errored"),
    "canceled": _failed("c-1", "canceled"),
    "expired": _failed("x-1", "expired"),
}
BROKEN_LINE = '{"custom_id": "q-1", "result": {"type": "succeeded", "message": '  # quarantined: not JSON


def _mixed_text() -> str:
    return "".join(json.dumps(x) + "\n" for x in IDENTITY_LINES.values()) + BROKEN_LINE + "\n"


def _stored(conn) -> dict:
    per_type = dict(conn.execute("SELECT result_type, count(*) FROM results GROUP BY 1").fetchall())
    return {**per_type, "quarantined": conn.execute("SELECT count(*) FROM quarantine").fetchone()[0]}


def _balanced(report) -> None:
    assert report.lines_read == report.ingested + report.duplicates + report.quarantined, report.summary()


IDENTITY_VARIANTS = {
    # name: (first --batch-id, second file's text, second file's name, second --batch-id)
    "one more line appended": (None, _mixed_text() + json.dumps(_msg("new-1", "msg_new")) + "\n", "results.jsonl",
                               None),
    "CRLF endings": (None, _mixed_text().replace("\n", "\r\n"), "results.jsonl", None),
    "another --batch-id": ("msgbatch_first", _mixed_text(), "results.jsonl", "msgbatch_second"),
    "another file name": (None, _mixed_text(), "msgbatch_01Other_results.jsonl", "msgbatch_01Other2"),
    # (the old rule caught a whole copy by its succeeded lines; a file of the failed lines alone
    # under another name was stored again)
    "another file name, failed lines only": (None, "".join(json.dumps(x) + "\n" for x in list(
        IDENTITY_LINES.values())[2:]) + BROKEN_LINE + "\n", "retry.jsonl", None),
}


@pytest.mark.parametrize("variant", sorted(IDENTITY_VARIANTS))
def test_the_same_lines_are_stored_once_across_all_result_types(tmp_path, variant):
    first_id, text, name, second_id = IDENTITY_VARIANTS[variant]
    conn = store_mod.connect(tmp_path / "s.duckdb")
    first = tmp_path / "first" / "results.jsonl"
    first.parent.mkdir()
    first.write_text(_mixed_text())
    report = ingest_mod.ingest_paths(conn, [first], batch_id=first_id, progress=False)[0]
    _balanced(report)
    before = _stored(conn)
    assert before == {"succeeded": 2, "errored": 1, "canceled": 1, "expired": 1, "quarantined": 1}
    second = tmp_path / "second" / name
    second.parent.mkdir()
    second.write_bytes(text.encode())
    again = ingest_mod.ingest_paths(conn, [second], batch_id=second_id, progress=False)[0]
    _balanced(again)
    extra = 1 if variant == "one more line appended" else 0
    repeated = 4 if variant.endswith("failed lines only") else 6
    assert (again.ingested, again.duplicates, again.quarantined) == (extra, repeated, 0), again.summary()
    assert _stored(conn) == {**before, "succeeded": before["succeeded"] + extra}
    conn.close()


@pytest.mark.parametrize("kind", sorted(set(IDENTITY_LINES) - {"succeeded"}))  # (its message id held before)
def test_a_reserialized_line_under_another_batch_is_the_same_line(tmp_path, kind):
    """Other whitespace, key order and line ends are the same result: the key is the canonical
    JSON of what was parsed, on the fast path and the staged one alike."""
    conn = store_mod.connect(tmp_path / "s.duckdb")
    line = IDENTITY_LINES[kind]
    plain = tmp_path / "a.jsonl"
    plain.write_text(json.dumps(line) + "\n")
    shuffled = tmp_path / "b.jsonl"  # keys reversed, no spaces, CRLF: the staged (sanitized) path
    reverse = lambda d: {k: reverse(v) for k, v in reversed(d.items())} if isinstance(d, dict) else d  # noqa: E731
    shuffled.write_bytes((json.dumps(reverse(line), separators=(",", ":")) + "\r\n").encode())
    assert ingest_mod.ingest_paths(conn, [plain], batch_id="msgbatch_A", progress=False)[0].ingested == 1
    again = ingest_mod.ingest_paths(conn, [shuffled], batch_id="msgbatch_B", progress=False)[0]
    assert (again.ingested, again.duplicates, again.path_taken) == (0, 1, "sanitized")
    assert conn.execute("SELECT count(*) FROM results").fetchone()[0] == 1
    conn.close()


def test_schema_v5_rewrites_old_keys_and_drops_the_double_counts(tmp_path):
    """A v4 store holding the same errored line under two batch ids (the old per-batch keys)
    opens as v5 with one identity per line and the copy gone; the quarantine is renumbered."""
    path = tmp_path / "s.duckdb"
    conn = store_mod.connect(path)
    results = tmp_path / "r.jsonl"
    results.write_text(_mixed_text())
    ingest_mod.ingest_paths(conn, [results], batch_id="msgbatch_A", progress=False)
    conn.execute("UPDATE results SET dedupe_key = 'cid:msgbatch_A:' || custom_id WHERE result_type <> 'succeeded'")
    conn.execute("INSERT INTO results SELECT * REPLACE ('msgbatch_B' AS batch_id, 'cid:msgbatch_B:' || custom_id "
                 "AS dedupe_key, 99 AS ingest_id) FROM results WHERE result_type <> 'succeeded'")
    conn.execute("UPDATE quarantine SET dedupe_key = 'q:msgbatch_A:' || md5(raw) || ':1'")
    conn.execute("DELETE FROM schema_version WHERE version = 5")
    conn.execute("ALTER TABLE ingests DROP COLUMN conflicts")  # (v5 adds it)
    conn.close()
    conn = store_mod.connect(path)
    assert _stored(conn) == {"succeeded": 2, "errored": 1, "canceled": 1, "expired": 1, "quarantined": 1}
    assert conn.execute("SELECT count(*) FROM results WHERE starts_with(dedupe_key, 'cid:')").fetchone()[0] == 0
    again = ingest_mod.ingest_paths(conn, [results], batch_id="msgbatch_C", progress=False)[0]
    assert (again.ingested, again.duplicates, again.quarantined) == (0, 6, 0)
    conn.close()


# =================================================================================================
# 6. Conflicts are not silent. Before: two lines of one custom_id with different content were
#    settled silently (an errored and a canceled line: one kept, nothing said), a line with a
#    repeated JSON key was stored with whichever value DuckDB's parser kept, and `fetch` dropped
#    the second (billed) line of a repeated custom_id while the docs said both are stored.
# =================================================================================================

CONFLICTS = {
    # name: (lines, expected (ingested, duplicates), stored result types in line order)
    "errored then canceled": ([_failed("b", "errored"), _failed("b", "canceled")], (1, 1), ["errored"]),
    "expired then succeeded": ([_failed("b", "expired"), _msg("b", "msg_01B")], (1, 1), ["succeeded"]),
    "two billed messages": ([_msg("b", "msg_01B"), _msg("b", "msg_01C")], (2, 0), ["succeeded", "succeeded"]),
    "one message id, other usage": ([_msg("b", "msg_01B"), _msg("b", "msg_01B", output=900)], (1, 1),
                                    ["succeeded"]),
}


@pytest.mark.parametrize("case", sorted(CONFLICTS))
def test_a_custom_id_with_two_contents_is_reported_with_its_lines(tmp_path, capsys, case):
    lines, (ingested, duplicates), kept = CONFLICTS[case]
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(_msg("a", "msg_01A")) + "\n" + "".join(json.dumps(x) + "\n" for x in lines))
    db = tmp_path / "s.duckdb"
    run = cli(capsys, "ingest", path, "--db", db, "--batch-id", "msgbatch_C")
    assert run.rc == 0, run.err
    assert "1 conflict (one custom_id, different content" in run.out and "custom_id 'b' on line 2, line 3" in run.out
    conn = store_mod.connect(db)
    assert conn.execute("SELECT ingested, duplicates, conflicts FROM ingests").fetchone() == (
        ingested + 1, duplicates, 1)
    assert [r[0] for r in conn.execute("SELECT result_type FROM results WHERE custom_id = 'b' ORDER BY line_no")
            .fetchall()] == kept
    conn.close()


def test_a_conflict_with_an_earlier_file_of_the_batch_names_it(tmp_path):
    conn = store_mod.connect(tmp_path / "s.duckdb")
    first, second = tmp_path / "one.jsonl", tmp_path / "two.jsonl"
    first.write_text(json.dumps(_failed("b", "errored")) + "\n")
    second.write_text(json.dumps(_failed("b", "expired")) + "\n")
    ingest_mod.ingest_paths(conn, [first], batch_id="msgbatch_C", progress=False)
    report = ingest_mod.ingest_paths(conn, [second], batch_id="msgbatch_C", progress=False)[0]
    assert report.conflicts == {"b": ([1], [f"{first}:1"])} and (report.ingested, report.duplicates) == (0, 1)
    assert f"custom_id 'b' on line 1, {first}:1" in report.summary()
    conn.close()


DUPLICATE_KEYS = {
    "custom_id": '{"custom_id": "a", "custom_id": "b", "result": {"type": "expired"}}',
    "output_tokens": json.dumps(_msg("a", "msg_01A")).replace('"output_tokens": 5', '"output_tokens": 5, "output_tokens": 9000'),
    "input_tokens": json.dumps(_msg("a", "msg_01A")).replace('"input_tokens": 10', '"input_tokens": 10, "input_tokens": 1'),
    "result": '{"custom_id": "a", "result": {"type": "expired"}, "result": {"type": "canceled"}}',
    "message": json.dumps(_msg("a", "msg_01A"))[:-2] + ', "message": {"id": "msg_02"}}}',
    "usage": json.dumps(_msg("a", "msg_01A")).replace('"usage": {', '"usage": {"input_tokens": 99999}, "usage": {'),
    "model": json.dumps(_msg("a", "msg_01A")).replace(f'"model": "{roles.default()}"',
                                                      f'"model": "{roles.bulk()}", "model": "{roles.default()}"'),
    "service_tier": json.dumps(_msg("a", "msg_01A")).replace('"service_tier": "batch"',
                                                             '"service_tier": "standard", "service_tier": "batch"'),
    "stop_reason": json.dumps(_msg("a", "msg_01A")).replace('"stop_reason": "end_turn"',
                                                            '"stop_reason": "refusal", "stop_reason": "end_turn"'),
    "type": json.dumps(_msg("a", "msg_01A")).replace('"type": "succeeded"', '"type": "errored", "type": "succeeded"'),
    "id": json.dumps(_msg("a", "msg_01A")).replace('"id": "msg_01A"', '"id": "msg_01B", "id": "msg_01A"'),
}


@pytest.mark.parametrize("key", sorted(DUPLICATE_KEYS))
@pytest.mark.parametrize("crlf", [False, True], ids=["fast path", "staged path"])
def test_a_line_with_a_repeated_json_key_is_quarantined(tmp_path, key, crlf):
    _assert_second_line_quarantined_for(tmp_path, DUPLICATE_KEYS[key], key, crlf)


def _assert_second_line_quarantined_for(tmp_path, line: str, key: str, crlf: bool) -> None:
    """A good line, then `line`: the good one is ingested, `line` is quarantined as line 2
    for its repeated `key` (LF takes the fast path, CRLF the staged one)."""
    conn = store_mod.connect(tmp_path / "s.duckdb")
    end = "\r\n" if crlf else "\n"
    path = tmp_path / "r.jsonl"
    path.write_bytes((json.dumps(_msg("ok", "msg_01OK")) + end + line + end).encode())
    report = ingest_mod.ingest_paths(conn, [path], batch_id="msgbatch_D", progress=False)[0]
    _balanced(report)
    assert (report.ingested, report.quarantined) == (1, 1), report.summary()
    assert conn.execute("SELECT line_no, reason FROM quarantine").fetchone() == (
        2, f'duplicate JSON key "{key}": the line is ambiguous')
    conn.close()


def test_fetch_keeps_both_billed_lines_of_a_repeated_custom_id_and_resumes_exactly(tmp_path):
    from cachecast.send import results as api

    lines = [json.dumps(_msg("a", "msg_01A")), json.dumps(_msg("b", "msg_01B")), json.dumps(_msg("a", "msg_01A2")),
             json.dumps(_msg("c", "msg_01C"))]

    @contextlib.contextmanager
    def results(batch_id):
        yield SimpleNamespace(iter_bytes=lambda: iter(["".join(x + "\n" for x in lines).encode()]))

    batch = SimpleNamespace(processing_status="ended", results_url="https://x", created_at=None, archived_at=None,
                            request_counts=SimpleNamespace(succeeded=4, errored=0, canceled=0, expired=0))
    client = SimpleNamespace(messages=SimpleNamespace(batches=SimpleNamespace(
        retrieve=lambda batch_id: batch, with_streaming_response=SimpleNamespace(results=results))))
    out = tmp_path / "res.jsonl"
    out.with_name("res.jsonl.part").write_text(lines[0] + "\n" + lines[1] + "\n")  # interrupted after two lines
    summary = api.fetch(client, "msgbatch_01F", out, progress=False)
    assert out.read_text().splitlines() == lines and summary.resumed_lines == 2


# =================================================================================================
# 8. Compressed input is bounded. Before: a gzip of newlines was decompressed whole (10.6 GB of
#    memory for 6 MB, then the disk filled), and zstd, bzip2, xz and UTF-16 files exited 0 with
#    every line quarantined as "NUL bytes".
# =================================================================================================

def test_a_gzip_bomb_stops_with_one_sentence_and_real_gzip_still_loads(tmp_path, capsys, monkeypatch):
    import gzip as gz

    monkeypatch.setattr(ingest_read, "GZIP_RATIO_FROM", 1 << 20)  # (the real threshold is 64 MiB)
    text = _mixed_text().encode()
    real = tmp_path / "real.jsonl.gz"
    real.write_bytes(gz.compress(text[:200]) + gz.compress(text[200:]))  # two members, split mid-line
    conn = store_mod.connect(tmp_path / "real.duckdb")
    report = ingest_mod.ingest_paths(conn, [real], progress=False)[0]
    assert (report.lines_read, report.ingested, report.quarantined) == (6, 5, 1)
    conn.close()
    bomb = tmp_path / "results.jsonl.gz"
    bomb.write_bytes(gz.compress(b"\n" * (64 << 20), compresslevel=9))  # 64 MiB of newlines in ~64 KB
    with bounded(seconds=60, extra=2 << 30):
        run = cli(capsys, "ingest", bomb, "--db", tmp_path / "s.duckdb")
    one_error(run, "ingest", "decompression bomb", "200x")
    assert not list(tmp_path.glob("cachecast-ingest-*"))  # no temporary copy left behind


def _utf16(text: str, codec: str) -> bytes:
    return text.encode(codec)


OTHER_FORMATS = {
    "zstd": (lambda t: subprocess.run(["zstd", "-q", "-c"], input=t, capture_output=True, check=True).stdout
             if shutil.which("zstd") else b"\x28\xb5\x2f\xfd" + t, "zstd-compressed"),
    "bzip2": (lambda t: __import__("bz2").compress(t), "bzip2-compressed"),
    "xz": (lambda t: __import__("lzma").compress(t), "xz-compressed"),
    "zip": (lambda t: b"PK\x03\x04" + t, "a zip archive"),
    "utf-16 with BOM": (lambda t: t.decode().encode("utf-16"), "UTF-16 text"),
    "utf-16le without BOM": (lambda t: t.decode().encode("utf-16-le"), "UTF-16 text"),
    "utf-16be without BOM": (lambda t: t.decode().encode("utf-16-be"), "UTF-16 text"),
}


@pytest.mark.parametrize("fmt", sorted(OTHER_FORMATS))
def test_a_format_ingest_does_not_read_is_named(tmp_path, capsys, fmt):
    make, what = OTHER_FORMATS[fmt]
    path = tmp_path / "results.jsonl"
    path.write_bytes(make(_mixed_text().encode()))
    one_error(cli(capsys, "ingest", path, "--db", tmp_path / "s.duckdb"), "ingest", what, "UTF-8" if "UTF" in what
              else "decompress" if "compressed" in what else "extract")


# =================================================================================================
# 2 (remainder). An id from data that becomes a path. Before: `export` wrote one hive folder per
#    batch id from the store as it found it (an older store, a hand-edited one), trusting
#    DuckDB's escaping of `/`; now every id must be a safe single path component.
# =================================================================================================

@pytest.mark.parametrize("bad_id", ["../x", "a/../../b", "..", "-rf", "x\ny", ""])
def test_export_refuses_a_batch_id_that_is_not_a_safe_folder_name(tmp_path, capsys, bad_id):
    db = tmp_path / "s.duckdb"
    conn = store_mod.connect(db)
    results = tmp_path / "r.jsonl"
    results.write_text(_mixed_text())
    ingest_mod.ingest_paths(conn, [results], batch_id="msgbatch_ok", progress=False)
    for table in ("results", "quarantine", "ingests"):
        conn.execute(f"UPDATE {table} SET batch_id = ?", [bad_id])
    conn.execute("INSERT INTO batches BY NAME SELECT * REPLACE (? AS batch_id) FROM batches", [bad_id])
    conn.execute("DELETE FROM batches WHERE batch_id = 'msgbatch_ok'")
    conn.close()
    out = tmp_path / "exports" / "out"
    one_error(cli(capsys, "export", "--db", db, "--out", out), "export", "cannot name an export folder",
              "nothing was exported")
    assert not (tmp_path / "exports").exists() or not any((tmp_path / "exports").iterdir())
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("damage", ["clean"])  # (a damaged one takes the sanitizer's copy, as before)
def test_a_clean_gzip_is_streamed_without_a_temporary_copy(tmp_path, monkeypatch, damage):
    """A clean .gz is read by DuckDB as a stream; only a damaged one goes through the
    sanitizer's (bounded) copy (tests/test_ingest.py covers those)."""
    import gzip as gz

    copies = []
    real = ingest_read._sanitize
    monkeypatch.setattr(ingest_load, "_sanitize", lambda blocks, out, *a: copies.append(out) or real(blocks, out, *a))
    text = "".join(json.dumps(x) + "\n" for x in IDENTITY_LINES.values())
    data = gz.compress((text.replace("\n", "\r\n") if damage == "CRLF" else text).encode())
    path = tmp_path / "results.jsonl.gz"
    path.write_bytes(data[:-12] if damage == "cut short" else data)
    conn = store_mod.connect(tmp_path / "s.duckdb")
    report = ingest_mod.ingest_paths(conn, [path], progress=False)[0]
    _balanced(report)
    if damage == "clean":
        assert (copies, report.path_taken, report.ingested) == ([], "fast", 5)
    else:
        assert len(copies) == 1 and report.path_taken == "sanitized"
    conn.close()


def test_a_repeated_key_with_space_before_its_colon_is_found(tmp_path):
    conn = store_mod.connect(tmp_path / "s.duckdb")
    line = json.dumps(_msg("a", "msg_01A")).replace(f'"model": "{roles.default()}"',
                                                    f'"model" : "{roles.bulk()}", "model"\t: "{roles.default()}"')
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(_msg("ok", "msg_01OK")) + "\n" + line + "\n")
    report = ingest_mod.ingest_paths(conn, [path], batch_id="msgbatch_D", progress=False)[0]
    assert (report.ingested, report.quarantined) == (1, 1)
    conn.close()


def test_clean_result_lines_are_not_flagged_by_the_set_pass(tmp_path):
    """The set pass must pass real lines: the same key in two objects (content blocks, a
    tool's input, iterations entries) is no repeat."""
    tool = {"type": "tool_use", "id": "toolu_01", "name": "lookup", "input": {"type": "query", "id": 3}}
    its = [{"type": "message", "input_tokens": 3, "output_tokens": 2},
           {"type": "advisor_message", "model": roles.default(), "input_tokens": 4, "output_tokens": 1}]
    lines = [json.dumps(_msg(f"c{i}", f"msg_{i}")) for i in range(50)] + [json.dumps(_failed("e1", "errored"))]
    lines += [json.dumps(_msg("t1", "msg_t1")).replace('"content": []', f'"content": [{json.dumps(tool)}, {json.dumps(tool)}]')]
    lines += [json.dumps(_msg("i1", "msg_i1")).replace('"service_tier"', f'"iterations": {json.dumps(its)}, "service_tier"')]
    lines += [json.dumps(_failed(f"x{i}", kind)) for i, kind in enumerate(("canceled", "expired"))]
    conn = duckdb.connect()
    conn.execute(store_mod.query("store/ingest.sql", "macro_repeated_key"))
    assert [conn.execute("SELECT cc_repeated_key(?)", [line]).fetchone()[0] for line in lines] == [False] * len(lines)
    conn.close()
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(lines) + "\n")
    conn = store_mod.connect(tmp_path / "s.duckdb")
    report = ingest_mod.ingest_paths(conn, [path], batch_id="msgbatch_C", progress=False)[0]
    assert (report.ingested, report.quarantined, report.path_taken) == (len(lines), 0, "fast"), report.summary()
    conn.close()


# A repeated key in each STRUCT object of the result-line schema: read_json refuses the file
# (the fast path relies on it: it looks itself only at the objects parsed as JSON text, and
# the staged path finds the line). name -> (line, key)
_SYNC = {"type": "message", "id": "msg_01S", "model": roles.default(), "stop_reason": "end_turn",
         "usage": {"input_tokens": 10, "output_tokens": 5}}
STRUCT_REPEATS = {
    "top level": (json.dumps(_msg("a", "msg_01A")).replace('"custom_id": "a"', '"custom_id": "a", "custom_id": "b"'),
                  "custom_id"),
    "result": (json.dumps(_msg("a", "msg_01A")).replace('"type": "succeeded"', '"type": "succeeded", "type": "errored"'),
               "type"),
    "message": (json.dumps(_msg("a", "msg_01A")).replace('"id": "msg_01A"', '"id": "msg_01A", "id": "msg_01B"'), "id"),
    "usage": (json.dumps(_msg("a", "msg_01A")).replace('"input_tokens": 10', '"input_tokens": 10, "input_tokens": 1'),
              "input_tokens"),
    "cache_creation": (json.dumps(_msg("a", "msg_01A")).replace('"service_tier"', '"cache_creation": {'
                       '"ephemeral_5m_input_tokens": 0, "ephemeral_5m_input_tokens": 7}, "service_tier"'),
                       "ephemeral_5m_input_tokens"),
    "output_tokens_details": (json.dumps(_msg("a", "msg_01A")).replace('"service_tier"', '"output_tokens_details": {'
                              '"thinking_tokens": 1, "thinking_tokens": 2}, "service_tier"'), "thinking_tokens"),
    "result.error": (json.dumps(_failed("e", "errored")).replace('"error": {"type": "overloaded_error"',
                     '"error": {"type": "x"}, "error": {"type": "overloaded_error"'), "error"),
    "result.error.error": (json.dumps(_failed("e", "errored")).replace('"message": "Overloaded"',
                           '"message": "Overloaded", "message": "fine"'), "message"),
    "sync usage": (json.dumps(_SYNC).replace('"output_tokens": 5', '"output_tokens": 5, "output_tokens": 9'),
                   "output_tokens"),
    "sync top level": (json.dumps(_SYNC).replace('"stop_reason": "end_turn"',
                       '"stop_reason": "end_turn", "stop_reason": "refusal"'), "stop_reason"),
}


@pytest.mark.parametrize("case", sorted(STRUCT_REPEATS))
def test_read_json_refuses_a_repeated_key_of_a_struct_field(tmp_path, case):
    line, key = STRUCT_REPEATS[case]
    path = tmp_path / "r.jsonl"
    path.write_text(json.dumps(_msg("ok", "msg_01OK")) + "\n" + line + "\n")
    conn = store_mod.connect(tmp_path / "raw.duckdb")
    _macros(conn)  # insert_parsed shapes as it parses
    with pytest.raises(duckdb.Error, match=f'duplicate key "{key}"'):
        conn.execute(store_mod.query("store/ingest.sql", "insert_parsed"),
                     {"paths": [str(path)], "ingest_id": 1, "batch_id": "b", "source_file": str(path)})
    conn.close()
    conn = store_mod.connect(tmp_path / "s.duckdb")
    report = ingest_mod.ingest_paths(conn, [path], batch_id="msgbatch_D", progress=False)[0]
    _balanced(report)
    assert report.quarantined == 1 and report.path_taken == "staged", report.summary()
    assert conn.execute("SELECT line_no, reason FROM quarantine").fetchone() == (
        2, f'duplicate JSON key "{key}": the line is ambiguous')
    conn.close()


# Repeats the regex count of watched keys and values missed (the set pass lists each object's
# keys as parsed): name -> (line, the key the quarantine reason names)
REPEATS_ONCE_MISSED = {
    "escaped key": (json.dumps(_msg("a", "msg_01A")).replace('"output_tokens": 5', '"output_tokens": 5, "output\\u005ftokens": 9000'),
                    "output_tokens"),
    "id, one value not a message id": (json.dumps(_msg("a", "msg_01A")).replace('"id": "msg_01A"', '"id": "x-1", "id": "msg_01A"'),
                                       "id"),
    "type, one value not a result type": (json.dumps(_msg("a", "msg_01A")).replace(
        '"type": "succeeded"', '"type": "pending", "type": "succeeded"'), "type"),
    "server_tool_use counter": (json.dumps(_msg("a", "msg_01A")).replace(
        '"service_tier"', '"server_tool_use": {"web_search_requests": 1, "web_search_requests": 50}, "service_tier"'),
        "web_search_requests"),
    "iterations entry": (json.dumps(_msg("a", "msg_01A")).replace('"service_tier"', '"iterations": [{"type": "message", '
                         '"input_tokens": 10, "input_tokens": 99999, "output_tokens": 5}], "service_tier"'), "input_tokens"),
}


@pytest.mark.parametrize("case", sorted(REPEATS_ONCE_MISSED))
@pytest.mark.parametrize("crlf", [False, True], ids=["fast path", "staged path"])
def test_a_repeat_the_set_pass_finds_is_quarantined(tmp_path, case, crlf):
    line, key = REPEATS_ONCE_MISSED[case]
    json.loads(line)  # valid JSON: only the repeat makes it ambiguous
    _assert_second_line_quarantined_for(tmp_path, line, key, crlf)


def test_a_repeated_key_takes_a_small_file_out_of_its_chunk(tmp_path):
    """Many small files: the chunk's set pass finds the repeat, and the file takes the
    one-file path, which quarantines the line; the other files stay in the chunk."""
    conn = store_mod.connect(tmp_path / "s.duckdb")
    paths = []
    for i in range(3):
        path = tmp_path / f"r{i}.jsonl"
        line = json.dumps(_msg(f"f{i}", f"msg_0{i}"))
        if i == 1:
            line = line.replace(f'"id": "msg_0{i}"', f'"id": "x-1", "id": "msg_0{i}"')
        path.write_text(json.dumps(_msg(f"ok{i}", f"msg_ok{i}")) + "\n" + line + "\n")
        paths.append(path)
    reports = ingest_mod.ingest_paths(conn, paths, batch_id="msgbatch_M", progress=False)
    assert [(r.ingested, r.quarantined) for r in reports] == [(2, 0), (1, 1), (2, 0)]
    assert [r.path_taken for r in reports] == ["chunked", "staged", "chunked"]
    assert conn.execute("SELECT source_file, line_no, reason FROM quarantine").fetchall() == [
        (str(paths[1]), 2, 'duplicate JSON key "id": the line is ambiguous')]
    conn.close()
