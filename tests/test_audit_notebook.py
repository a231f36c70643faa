"""notebooks/02_audit_batch.ipynb: clean when committed, runs under papermill, and its HTML
report is self-contained with every data value escaped.

The projection names claude-sonnet-4-5 because it projects the run of tests/data/results_mixed.jsonl,
whose lines that model answered."""
from __future__ import annotations

import ast
import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

import cachecast
from cachecast.report.reports import notebook_path, parameters, run_report

DATA = Path(__file__).resolve().parent / "data"
EVIL = '<script>alert("x")</script>'


def test_committed_notebook_is_clean():
    nb = nbformat.read(notebook_path("audit"), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)
    for cell in code:
        tree = ast.parse(cell.source)
        assert not any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda))
                       for n in ast.walk(tree)), cell.source
    for stmt in ast.parse(code[0].source).body:  # parameters: literals only
        assert isinstance(stmt, ast.Assign) and isinstance(stmt.value, ast.Constant), ast.unparse(stmt)
    assert set(parameters(notebook_path("audit"))) == {
        "results_glob", "db_path", "manifest_dir", "batch_id", "projection_json"}


@pytest.mark.slow
def test_report_runs_and_escapes_data(tmp_path):
    lines = (DATA / "results_mixed.jsonl").read_text().splitlines()
    evil = json.loads(lines[9])  # the expired line
    evil["custom_id"] = EVIL
    results = tmp_path / "results.jsonl"
    results.write_text("\n".join(lines + [json.dumps(evil)]) + "\n")
    manifest = tmp_path / "build"
    shutil.copytree(DATA / "manifest_mixed", manifest)
    with open(manifest / "manifest.jsonl", "a") as fh:
        row = json.loads((DATA / "manifest_mixed" / "manifest.jsonl").read_text().splitlines()[0])
        fh.write(json.dumps({**row, "custom_id": EVIL, "treatment": EVIL}) + "\n")
    projection = tmp_path / "projection.json"
    projection.write_text(json.dumps({
        "model": "claude-sonnet-4-5", "items": 5, "requests": 12, "batch": True,
        "tokens": {"system": 2000, "user_mean": 50.0, "output_mean": 150.0, "source": "estimate"},
        "cacheable": True, "no_cache_usd": 0.05,
        "scenarios": [{"name": "expected", "ttl": "1h", "hit_rate": 0.8, "total_usd": 0.03, "savings_usd": 0.02,
                       "savings_pct": 40.0}],
        "break_even_hit_rate": {"5m": 0.2174, "1h": 0.5263}, "budget_usd": None, "within_budget": None}))
    out = tmp_path / "audit.html"
    executed = tmp_path / "executed.ipynb"
    run_report("audit", {"results_glob": str(results), "db_path": str(tmp_path / "store.duckdb"),
                         "manifest_dir": str(manifest), "projection_json": str(projection)}, out, executed=executed)
    html = out.read_text()
    text = re.sub(r"<[^>]+>", " ", html)
    assert "% of prompt tokens came from the cache; the batch cost" in text
    assert "Projected vs actual" in html and "cost without caching ($)" in html
    assert EVIL not in html                     # never as markup, in tables or chart data
    assert '&lt;script&gt;alert("x")&lt;/script&gt;' in html  # but shown, escaped
    assert not re.search(r'<script[^>]+src=["\']https?://', html)  # no CDN
    nb = nbformat.read(executed, as_version=4)
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors


# ------------------------------------------------------------------ issue 23: stores the notebooks share

REPO = Path(__file__).resolve().parents[1]


def _pilot_store(tmp_path, *, shuffle: bool) -> Path:
    """60 pilot requests built, simulated (file order = the simulator's processing order,
    shuffled against submission order when `shuffle`) and ingested with their manifest."""
    from cachecast.analyse.ingest_bridge import ingest_results
    from cachecast.cli import main
    from cachecast.send.sim import simulate_build

    build, results, db = tmp_path / "build", tmp_path / "results.jsonl", tmp_path / "store.duckdb"
    assert main(["build", str(REPO / "config" / "eval_config.pilot.anthropic.yaml"), "--out", str(build),
                 "--limit", "60"]) == 0
    simulate_build(build, results, concurrency=10, duration_minutes=10.0, hit_probability=1.0, seed=3, shuffle=shuffle)
    ingest_results([results], db, manifest=build, batch_id="msgbatch_order_test")
    return db


@pytest.mark.slow
def test_the_views_keep_no_connection_open(tmp_path):
    """Every call opens the store read-only and closes it: afterwards this process (as the
    CLI or a papermill run would) opens it for writing. A view that kept its connection
    makes DuckDB refuse the second, differently configured, connection."""
    from cachecast import store
    from cachecast.analyse import ledger
    from cachecast.report import audit_view

    db = _pilot_store(tmp_path, shuffle=False)
    view = audit_view.open_audit(str(db))
    assert view.batch_id == "msgbatch_order_test" and view.totals.succeeded == 60
    for call in (view.treatments, view.hit_rate, view.order_note, view.tokens, view.miss_causes, view.errors,
                 view.quarantine, lambda: audit_view.misses(view), lambda: audit_view.other_anomalies(view)):
        call()
        store.connect(db).close()
    led = ledger.open_ledger(str(db))
    assert len(led.runs()) == 1 and led.ledger.succeeded == 60
    store.connect(db).close()


@pytest.mark.slow
def test_a_missing_default_store_says_which_command_makes_it(tmp_path, monkeypatch):
    """With the defaults and no `make demo` yet: one sentence naming the command, and in a
    notebook that sentence is all the error shows (no traceback)."""
    from cachecast.analyse import ledger
    from cachecast.errors import CachecastError, InputError
    from cachecast.report import audit_view

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("cachecast._shown_paths.CHECKOUT", tmp_path)  # a fresh clone: no build/ yet
    for opened in (lambda: audit_view.open_audit("build/demo/cachecast.duckdb"),
                   lambda: ledger.open_ledger("build/demo/cachecast.duckdb")):
        with pytest.raises(InputError) as caught:
            opened()
        assert str(caught.value) == ("build/demo/cachecast.duckdb: no such store yet; `make demo` (or `cachecast "
                                     "demo`) writes it, or set db_path to a store of your own")
        assert caught.value._render_traceback_() == [f"InputError: {caught.value}"]
    assert not (tmp_path / "build").exists()  # nothing was created on the way
    checkout = Path(cachecast.__file__).resolve().parents[2]  # the kernel's fallback root, unpatched
    if (checkout / "build" / "demo" / "cachecast.duckdb").exists():
        # `make demo` has run in this checkout: the kernel (a process of its own, which the
        # monkeypatch above does not reach) finds the default under the checkout, as documented
        run_report("audit", {}, tmp_path / "audit.html")
        assert "SIMULATED" in (tmp_path / "audit.html").read_text()
        return
    with pytest.raises(CachecastError, match="failed in cell .*no such store yet; `make demo`"):
        run_report("audit", {}, tmp_path / "audit.html")


@pytest.mark.slow
def test_hit_rate_in_file_order_and_in_submission_order(tmp_path):
    """Shuffled against submission, the file order (here the simulator's processing order)
    shows the first wave's misses at the start; submission order (the manifest's rows) does
    not. Both are offered only when they differ; the chart and its note say which is which."""
    from cachecast import audit_charts
    from cachecast.report import audit_view

    view = audit_view.open_audit(str(_pilot_store(tmp_path / "shuffled", shuffle=True)))
    frame = view.hit_rate(bins=6)
    by_order = {o: g.sort_values("slice") for o, g in frame.groupby("order")}
    assert set(by_order) == {audit_view.FILE_ORDER, audit_view.SUBMISSION_ORDER}
    first_file = by_order[audit_view.FILE_ORDER].iloc[0]
    assert first_file["request_hit_rate"] == 0  # the first 10 processed: all wrote (hit probability 1)
    assert by_order[audit_view.SUBMISSION_ORDER].iloc[0]["request_hit_rate"] > 0  # first submitted: mixed
    assert sum(g["requests"].sum() for g in by_order.values()) == 2 * 60
    assert "does not promise" in view.order_note() and "Beside it" in view.order_note()
    spec = audit_charts.hit_rate_over_order(frame).to_dict()
    assert spec["title"] == "Cache hit rate in results-file order and in submission order"
    assert spec["facet"]["column"]["field"] == "order"
    assert "completion" not in json.dumps(spec)

    same = audit_view.open_audit(str(_pilot_store(tmp_path / "in-order", shuffle=False)))
    assert set(same.hit_rate(bins=6)["order"]) == {audit_view.BOTH_ORDERS}
    assert "one panel shows both" in same.order_note()
    single = audit_charts.hit_rate_over_order(same.hit_rate(bins=6)).to_dict()
    assert single["title"] == f"Cache hit rate in {audit_view.BOTH_ORDERS}"
    assert single["encoding"]["x"]["title"] == f"request number in {audit_view.BOTH_ORDERS}"
