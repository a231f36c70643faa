"""The run ledger (issue 12): a 30,000-request run sent as two batches, worked by hand.

Rates: claude-sonnet-4-5 at Message Batches prices (half of 3 / 3.75 / 0.30 / 15 $/MTok):
input 1.5, 5m write 1.875, read 0.15, output 7.5 $/MTok, so tokens x rate = micro-dollars.
Every request: 100 uncached input tokens and a 2,000-token cached prefix (written on a miss,
read on a hit); treatment A answers in 200 output tokens, B in 400.
  A hit  = 100x1.5 + 2000x0.15  + 200x7.5 = 150 + 300  + 1500 = 1,950 u$
  A miss = 100x1.5 + 2000x1.875 + 200x7.5 = 150 + 3750 + 1500 = 5,400 u$
  B hit  = 150 + 300  + 400x7.5 = 3,450 u$
  B miss = 150 + 3750 + 3000    = 6,900 u$
Batch 1 (12,000 lines): A 0-5999: 1,000 errored, 500 misses, 4,500 hits; B 0-5999: 600 misses,
  5,400 hits.  A: 500x5400 + 4500x1950 = 11,475,000 u$ over 5,000 = 2,295 u$/request
               B: 600x6900 + 5400x3450 = 22,770,000 u$ over 6,000 = 3,795 u$/request
Batch 2 (6,000 lines): A 6000-8999: 600 misses, 2,400 hits; B 6000-8999 the same (lower hit rate).
               A: 600x5400 + 2400x1950 =  7,920,000 u$ over 3,000 = 2,640 u$/request
               B: 600x6900 + 2400x3450 = 12,420,000 u$ over 3,000 = 4,140 u$/request
"""
from __future__ import annotations

import hashlib
import json
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from cachecast import cli, store
from cachecast.store import ingest
from cachecast.analyse import ledger

PLANNED = 15_000  # per treatment: 30,000 in the run
MODEL = "claude-sonnet-4-5"  # named, not a role: the costs above are worked from its published rates


def _cid(treatment: str, n: int) -> str:
    return f"{treatment}-{n:05d}"


def _line(treatment: str, n: int, kind: str, batch: str) -> dict:
    cid = _cid(treatment, n)
    if kind == "errored":
        return {"custom_id": cid, "result": {"type": "errored", "error": {"type": "error", "error": {
            "type": "overloaded_error", "message": "Overloaded"}}}}
    write, read = (2000, 0) if kind == "miss" else (0, 2000)
    return {"custom_id": cid, "result": {"type": "succeeded", "message": {
        "id": f"msg_{batch}_{cid}", "type": "message", "role": "assistant", "model": MODEL,
        "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 100, "cache_creation_input_tokens": write, "cache_read_input_tokens": read,
                  "cache_creation": {"ephemeral_5m_input_tokens": write, "ephemeral_1h_input_tokens": 0},
                  "output_tokens": 200 if treatment == "A" else 400, "service_tier": "batch"}}}}


def _write(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _build(root: Path, budget: float | None = 96) -> Path:
    """A build dir as `cachecast build` leaves it: manifest.jsonl + build.json naming the config."""
    config = root / "full.yaml"
    config.write_text("run_name: full\n" + (f"budget_usd: {budget}\n" if budget is not None else ""))
    build = root / "build"
    build.mkdir()
    _write(build / "manifest.jsonl", (
        {"custom_id": _cid(t, n), "item_id": f"i{n}", "treatment": t, "temperature": 0.0, "repeat": 1,
         "model": MODEL, "ttl": "5m", "prefix_hash": t * 16, "cacheable": True, "skip_reason": None,
         "est_prefix_tokens": 2000, "est_rest_tokens": 100, "breakpoints": 1, "shard": "requests-0001.jsonl"}
        for t in "AB" for n in range(PLANNED)))
    (build / "build.json").write_text(json.dumps({
        "config": "../full.yaml", "run_name": "full", "requests": 2 * PLANNED,
        "config_fingerprint": hashlib.sha256(config.read_bytes()).hexdigest()[:16]}))
    return build


def _batch1(n: int) -> str:
    return "errored" if n < 1000 else "miss" if n < 1500 else "hit"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ledger-run")
    b1 = _write(root / "batch1.jsonl", [*(_line("A", n, _batch1(n), "b1") for n in range(6000)),
                                        *(_line("B", n, "miss" if n < 600 else "hit", "b1") for n in range(6000))])
    b2 = _write(root / "batch2.jsonl", [_line(t, n, "miss" if n < 6600 else "hit", "b2")
                                        for t in "AB" for n in range(6000, 9000)])
    return {"root": root, "build": _build(root), "b1": b1, "b2": b2}


@pytest.fixture(scope="module")
def two_batches(files, tmp_path_factory) -> Path:
    db = tmp_path_factory.mktemp("ledger-db") / "run.duckdb"
    conn = store.connect(db)
    try:
        ingest.ingest_paths(conn, [files["b1"]], batch_id="msgbatch_01One", manifest=files["build"],
                            progress=False, created_at="2026-11-02", created_at_source="priced-at")
        ingest.ingest_paths(conn, [files["b2"]], batch_id="msgbatch_02Two", manifest=files["build"],
                            progress=False, created_at="2026-11-03", created_at_source="priced-at")
    finally:
        conn.close()
    return db


def _copy(db: Path, tmp_path: Path) -> Path:
    out = tmp_path / "copy.duckdb"
    shutil.copy(db, out)
    return out


def _ledger(db: Path) -> dict:
    conn = store.connect(db)
    try:
        return ledger.ledger(conn).contract()
    finally:
        conn.close()


def check_contract(obj: dict) -> None:
    """DESIGN.md's `ledger --json` keys, in order, with their types."""
    assert list(obj)[:len(ledger.CONTRACT_KEYS)] == list(ledger.CONTRACT_KEYS)
    assert isinstance(obj["run"], str)
    for key in ("budget_usd", "remaining_budget_usd"):
        assert obj[key] is None or isinstance(obj[key], float)
    for key in ("requests_planned", "requests_succeeded", "requests_left"):
        assert type(obj[key]) is int
    for key in ("spent_usd", "no_cache_usd", "savings_usd", "forecast_usd", "forecast_low_usd", "forecast_high_usd"):
        assert type(obj[key]) is float
    assert obj["within_budget"] is None or type(obj["within_budget"]) is bool
    assert obj["requests_left"] == obj["requests_planned"] - obj["requests_succeeded"]
    for b in obj["batches"]:
        assert list(b)[:len(ledger.BATCH_KEYS)] == list(ledger.BATCH_KEYS)
        assert isinstance(b["batch_id"], str) and (b["created_at"] is None or isinstance(b["created_at"], str))
        assert all(type(b[k]) is int for k in ("requests", "succeeded", "errored"))
        assert all(type(b[k]) is float for k in ("token_hit_rate", "cost_usd", "no_cache_cost_usd"))


def test_two_batches_by_hand(two_batches):
    got = _ledger(two_batches)
    check_contract(got)
    # spent = 11,475,000 + 22,770,000 + 7,920,000 + 12,420,000 = 54,585,000 u$
    assert got["spent_usd"] == 54.585
    assert got["budget_usd"] == 96.0 and got["remaining_budget_usd"] == 96 - 54.585  # 41.415
    # succeeded: A 5,000 + 3,000 = 8,000; B 6,000 + 3,000 = 9,000; left 30,000 - 17,000
    assert (got["requests_planned"], got["requests_succeeded"], got["requests_left"]) == (30_000, 17_000, 13_000)
    # audited cost per succeeded request: A (11,475,000 + 7,920,000) / 8,000 = 2,424.375 u$,
    # B (22,770,000 + 12,420,000) / 9,000 = 3,910 u$; left A 7,000, B 6,000:
    # 54,585,000 + 7,000 x 2,424.375 + 6,000 x 3,910 = 54,585,000 + 16,970,625 + 23,460,000 = 95,015,625
    assert got["forecast_usd"] == 95.015625
    # low: 7,000 x 2,295 + 6,000 x 3,795 = 16,065,000 + 22,770,000 -> 93,420,000 u$
    assert got["forecast_low_usd"] == 93.42
    # high: 7,000 x 2,640 + 6,000 x 4,140 = 18,480,000 + 24,840,000 -> 97,905,000 u$ > 96 budget
    assert got["forecast_high_usd"] == 97.905
    assert got["within_budget"] is False
    # no cache: every prompt token at 1.5: A 2,100x1.5 + 1,500 = 4,650, B 3,150 + 3,000 = 6,150
    # 8,000 x 4,650 + 9,000 x 6,150 = 37,200,000 + 55,350,000 = 92,550,000 u$; saved 37,965,000
    assert (got["no_cache_usd"], got["savings_usd"]) == (92.55, 37.965)
    assert got["forecast_basis"] == "run" and got["run"] == "full" and got["budget_source"] == "config"
    b1, b2 = got["batches"]
    assert (b1["batch_id"], b1["requests"], b1["succeeded"], b1["errored"]) == ("msgbatch_01One", 12_000, 11_000, 1_000)
    assert (b2["batch_id"], b2["requests"], b2["succeeded"], b2["errored"]) == ("msgbatch_02Two", 6_000, 6_000, 0)
    assert (b1["cost_usd"], b2["cost_usd"]) == (34.245, 20.34)
    # token hit rate: b1 reads 9,900 x 2,000 over 11,000 x 2,100 prompt tokens = 0.857142...
    assert b1["token_hit_rate"] == pytest.approx(9_900 * 2000 / (11_000 * 2100))
    assert b2["token_hit_rate"] == pytest.approx(4_800 * 2000 / (6_000 * 2100))
    assert b1["created_at"].startswith("2026-11-02")


def test_money_is_exact_decimal(two_batches):
    conn = store.connect(two_batches)
    try:
        led = ledger.ledger(conn, "full")
    finally:
        conn.close()
    assert led.forecast_usd == Decimal("95.015625")
    assert {(g.treatment, g.cost_per_request) for g in led.groups} == {("A", Decimal("0.002424375")),
                                                                       ("B", Decimal("0.00391"))}


def test_reingesting_batch_one_under_a_new_name_and_id_changes_no_figure(two_batches, files, tmp_path, capsys):
    db = _copy(two_batches, tmp_path)
    before = _ledger(db)
    renamed = tmp_path / "batch1-again.jsonl"
    shutil.copy(files["b1"], renamed)
    assert cli.main(["ingest", str(renamed), "--db", str(db), "--batch-id", "msgbatch_03Again",
                     "--manifest", str(files["build"]), "--priced-at", "2026-11-04"]) == 0
    out = capsys.readouterr().out
    # 12,000 lines read = 0 ingested + 12,000 duplicates + 0 quarantined; the 11,000 succeeded
    # lines are stored under batch 1, the 1,000 errored ones are keyed per batch (a new batch id
    # would count them again) but belong to no new line either: nothing new, no new batch
    assert "12,000 lines read = 0 ingested + 12,000 duplicates + 0 quarantined" in out
    assert "already stored under batch msgbatch_01One" in out
    assert _ledger(db) == before


def test_ledger_json_cli_and_csv(two_batches, tmp_path, capsys):
    assert cli.main(["ledger", "--db", str(two_batches), "--json", "--csv", str(tmp_path / "csv")]) == 0
    got = json.loads(capsys.readouterr().out)
    check_contract(got)
    assert got["forecast_usd"] == 95.015625
    names = sorted(p.name for p in (tmp_path / "csv").iterdir())
    assert names == ["ledger_batches.csv", "ledger_forecast.csv", "ledger_summary.csv", "ledger_truncation.csv"]
    assert (tmp_path / "csv" / "ledger_batches.csv").read_text().splitlines()[0].startswith("batch_id,created_at")
    assert cli.main(["ledger", "--db", str(two_batches), "--run", "full"]) == 0
    assert "OVER budget" in capsys.readouterr().out


def test_unknown_run_and_store_without_runs_are_one_sentence(two_batches, tmp_path, capsys):
    assert cli.main(["ledger", "--db", str(two_batches), "--run", "nope"]) == 2
    assert "no run 'nope' in this store; runs: full" in capsys.readouterr().err
    empty = tmp_path / "empty.duckdb"
    store.connect(empty).close()
    assert cli.main(["ledger", "--db", str(empty)]) == 2
    assert "ingest results with --manifest" in capsys.readouterr().err


def test_pilot_calibration_until_a_batch_of_the_run_exists(files, tmp_path):
    """A run with a build but no batch yet is priced at the pilot's audited costs."""
    conn = store.connect(tmp_path / "pilot.duckdb")
    try:
        pilot = tmp_path / "pilot"
        pilot.mkdir()
        config = pilot / "pilot.yaml"
        config.write_text("run_name: pilot\nbudget_usd: 25\n")
        build = pilot / "build"
        build.mkdir()
        rows = (files["build"] / "manifest.jsonl").read_text().splitlines()
        (build / "manifest.jsonl").write_text("".join(  # the pilot: the requests of batch 2 only
            r + "\n" for r in rows if 6000 <= int(json.loads(r)["custom_id"][2:]) < 9000))
        (build / "build.json").write_text(json.dumps({
            "config": "../pilot.yaml", "run_name": "pilot",
            "config_fingerprint": hashlib.sha256(config.read_bytes()).hexdigest()[:16]}))
        ingest.ingest_paths(conn, [files["b2"]], batch_id="msgbatch_pilot", manifest=build, progress=False,
                            created_at="2026-11-01", created_at_source="priced-at")
        ingest.load_manifest(conn, files["build"])  # the full run: built, nothing sent yet
        got = ledger.ledger(conn, "full").contract()
    finally:
        conn.close()
    check_contract(got)
    assert got["forecast_basis"] == "pilot" and got["forecast_basis_run"].startswith("pilot@")
    # nothing spent; 15,000 x 2,640 + 15,000 x 4,140 = 39,600,000 + 62,100,000 = 101,700,000 u$
    assert (got["spent_usd"], got["requests_left"], got["forecast_usd"]) == (0.0, 30_000, 101.7)
    assert got["forecast_low_usd"] == got["forecast_high_usd"] == 101.7
    assert got["within_budget"] is False


# ------------------------------------------------------------------ the demo store


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("demo")
    assert cli.main(["demo", "--out", str(out)]) == 0
    return out / "build" / "demo" / "cachecast.duckdb"


@pytest.mark.slow
def test_ledger_json_on_the_demo_store(demo_store, capsys):
    capsys.readouterr()
    assert cli.main(["ledger", "--db", str(demo_store), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    check_contract(got)
    assert got["run"] == "pilot" and got["simulated"] is True and len(got["batches"]) == 1
    assert got["budget_usd"] == 25.0
    assert got["spent_usd"] == got["batches"][0]["cost_usd"]


@pytest.mark.slow
def test_audit_csv_on_the_demo_store(demo_store, tmp_path, capsys):
    assert cli.main(["audit", "--db", str(demo_store), "--csv", str(tmp_path / "csv")]) == 0
    names = {p.name for p in (tmp_path / "csv").iterdir()}
    assert {"audit_summary.csv", "audit_batches.csv", "audit_treatments.csv", "audit_miss_causes.csv"} <= names


@pytest.mark.slow
def test_ledger_report_renders_to_html(two_batches, tmp_path):
    from cachecast.report import reports

    html = reports.run_report("ledger", {"db_path": str(two_batches)}, tmp_path / "ledger.html")
    text = Path(html).read_text()
    assert "Burn-down" in text and "<svg" in text and "cdn.jsdelivr" not in text


# ------------------------------------------------------------------ misses by cause (audit)


def test_miss_causes_by_hand_and_independent_of_file_order(two_batches, files, tmp_path):
    """Every write loses write - read = 2,000 x (1.875 - 0.15) = 3,450 u$. With the first wave
    assumed 100 requests per prefix: batch 1 A wrote 500 times (100 first wave, 400 repeat),
    B 600 (100 + 500); the first write of each prefix loses nothing, so first_wave loses
    2 x 99 x 3,450 = 683,100 u$ and repeat_write 900 x 3,450 = 3,105,000 u$ in batch 1."""
    from cachecast.analyse import audit

    conn = store.connect(two_batches)
    try:
        summary, rows = audit.miss_causes(conn)
        one, _ = audit.miss_causes(conn, "msgbatch_01One", concurrency=600)
        _, rows_one = audit.miss_causes(conn, "msgbatch_01One")
    finally:
        conn.close()
    got = {(r["batch_id"], r["kind"]): (r["requests"], float(r["usd_lost"]), bool(r["avoidable"]))
           for r in summary.to_dict("records")}
    assert got[("msgbatch_01One", "first_wave")] == (200, 0.6831, False)
    assert got[("msgbatch_01One", "repeat_write")] == (900, 3.105, True)
    # batch 2: 600 writes per treatment: 2 x 99 x 3,450 = 683,100; 2 x 500 x 3,450 = 3,450,000
    assert got[("msgbatch_02Two", "first_wave")] == (200, 0.6831, False)
    assert got[("msgbatch_02Two", "repeat_write")] == (1000, 3.45, True)
    assert "batch_id" in rows.columns and "batch_id" not in rows_one.columns  # one batch: no batch column
    assert summary["explanation"].str.len().min() > 40
    # a wave of 600: A's 500 and B's 600 writes are all first wave: 499 + 599 = 1,098 x 3,450
    assert one[["kind", "requests"]].values.tolist() == [["first_wave", 1100]]
    assert float(one["usd_lost"].sum()) == 1098 * 0.00345
    # the same batch with its lines in reverse order: the same totals
    reversed_file = tmp_path / "reversed.jsonl"
    reversed_file.write_text("\n".join(reversed(files["b1"].read_text().splitlines())) + "\n")
    other = store.connect(tmp_path / "reversed.duckdb")
    try:
        ingest.ingest_paths(other, [reversed_file], batch_id="msgbatch_01One", manifest=files["build"],
                            progress=False, created_at="2026-11-02", created_at_source="priced-at")
        again, _ = audit.miss_causes(other)
    finally:
        other.close()
    assert again.drop(columns=["explanation"]).to_dict("records") == \
        summary[summary["batch_id"] == "msgbatch_01One"].drop(columns=["explanation"]).to_dict("records")


def test_miss_causes_drift_never_read_ttl_and_the_api_reason(tmp_path):
    """One batch, treatment A: prefix P read by 2 requests and written by 1; one request with a
    drifted prefix Q (wrote, diagnostics say system_changed); treatment B's prefix R written
    once at 1h for a 5m request and never read.
      drift: 2,000 x (1.875 - 0.15) = 3,450 u$; never read: 2,000 x (3 - 1.5) = 3,000 u$ (1h
      write premium over input); ttl: 2,000 x (3 - 1.875) = 2,250 u$."""
    from cachecast.analyse import audit

    build = tmp_path / "build"
    build.mkdir()
    manifest = [("a1", "A", "P" * 16, "5m"), ("a2", "A", "P" * 16, "5m"), ("a3", "A", "P" * 16, "5m"),
                ("a4", "A", "Q" * 16, "5m"), ("b1", "B", "R" * 16, "5m")]
    _write(build / "manifest.jsonl", ({"custom_id": c, "item_id": c, "treatment": t, "model": MODEL, "ttl": ttl,
                                       "prefix_hash": h, "cacheable": True} for c, t, h, ttl in manifest))
    lines = [_line("A", 1, "miss", "x"), _line("A", 2, "hit", "x"), _line("A", 3, "hit", "x"),
             _line("A", 4, "miss", "x"), _line("B", 1, "miss", "x")]
    for line, cid in zip(lines, ("a1", "a2", "a3", "a4", "b1")):
        line["custom_id"] = cid
    lines[3]["result"]["message"]["diagnostics"] = {"cache_miss_reason": {"type": "system_changed",
                                                                         "cache_missed_input_tokens": 2000}}
    lines[4]["result"]["message"]["usage"]["cache_creation"] = {"ephemeral_5m_input_tokens": 0,
                                                                "ephemeral_1h_input_tokens": 2000}
    conn = store.connect(tmp_path / "s.duckdb")
    try:
        ingest.ingest_paths(conn, [_write(tmp_path / "r.jsonl", lines)], batch_id="b", manifest=build,
                            progress=False, created_at="2026-11-02", created_at_source="priced-at")
        summary, rows = audit.miss_causes(conn)
    finally:
        conn.close()
    got = {r["kind"]: (r["requests"], float(r["usd_lost"]), r["api_reasons"]) for r in summary.to_dict("records")}
    assert got == {"first_wave": (1, 0.0, None), "prefix_drift": (1, 0.00345, "system_changed"),
                   "write_never_read": (1, 0.003, None), "ttl_mismatch": (1, 0.00225, None)}
    drift = rows[rows["kind"] == "prefix_drift"].iloc[0]
    assert drift["api_reason"] == "system_changed" and "differs from" in drift["reason"]


def test_probe_costs_count_as_spent(two_batches, tmp_path):
    """A synchronous probe of the run's build (schema v4) billed 0.012345 $: spent and every
    forecast figure rise by exactly that; the batches do not change."""
    db = _copy(two_batches, tmp_path)
    conn = store.connect(db)
    try:
        manifest_id = conn.execute("SELECT manifest_id FROM manifests").fetchone()[0]
        conn.execute("INSERT INTO probes (build_dir, manifest_id, shape_key, model, api_version, prewarm, custom_ids, "
                     "requests, probe_custom_id, max_tokens, status, cost_usd, sent_at) VALUES "
                     "('b', ?, 'k', ?, '2026-10-21', true, ['A-00000'], 1, 'A-00000', 0, 'ok', 0.012345, now())",
                     [manifest_id, MODEL])
        got = ledger.ledger(conn).contract()
    finally:
        conn.close()
    check_contract(got)
    assert (got["probes"], got["probe_cost_usd"]) == (1, 0.012345)
    assert got["spent_usd"] == 54.597345  # 54.585 + 0.012345
    assert got["forecast_usd"] == 95.02797  # 95.015625 + 0.012345
    assert got["batches"] == _ledger(two_batches)["batches"]


def test_every_ledger_column_shown_has_a_label_and_cut_off_columns_show_only_when_used(two_batches, files, tmp_path):
    """The notebook shows LABELS' headers; a column without one reached readers as its raw name
    (truncated_cost_usd did). The cut-off columns say nothing in a run with no cut-off answer."""
    view = ledger.open_ledger(two_batches)
    for frame in (view.batches(), view.forecast()):
        assert [c for c in frame.columns if c not in ledger.LABELS] == []
    assert "truncated_cost_usd" not in view.batches().columns

    cut = _line("A", 9500, "miss", "b3")
    cut["result"]["message"]["stop_reason"] = "max_tokens"
    db = tmp_path / "cut.duckdb"
    shutil.copy(two_batches, db)
    conn = store.connect(db)
    try:
        ingest.ingest_paths(conn, [_write(tmp_path / "b3.jsonl", [cut])], batch_id="msgbatch_03Cut",
                            manifest=files["build"], progress=False, created_at="2026-11-04",
                            created_at_source="priced-at")
    finally:
        conn.close()
    shown = ledger.open_ledger(db).batches()
    assert list(shown["truncated"]) == [0, 0, 1]
    assert [c for c in shown.columns if c not in ledger.LABELS] == []
