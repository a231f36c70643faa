"""notebooks/02_audit_batch.ipynb: clean when committed, runs under papermill, and its HTML
report is self-contained with every data value escaped."""
from __future__ import annotations

import ast
import json
import re
import shutil
from pathlib import Path

import nbformat

from cachecast.report.reports import notebook_parameters, notebook_path, run_report

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
    assert set(notebook_parameters(notebook_path("audit"))) == {
        "results_glob", "db_path", "manifest_dir", "batch_id", "projection_json"}


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
