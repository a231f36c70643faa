"""Reports are safe to share (issue 7): one full run with a recognisable fake API key in the
environment and hostile text in the data, then

* the key appears nowhere: not in any file written (build, results, database, reports,
  executed notebooks), not in any output printed, not in any papermill parameter;
* custom ids, treatment names and error messages carrying `<script>` / `<img onerror>` end up
  in the audit report escaped, never as markup;
* both reports open in headless Chromium with networking disabled, every chart renders
  (Vega's SVG), nothing is logged as an error and no injected script runs.

The run is one module-scoped fixture (papermill starts a kernel per report: ~30 s each).
The Chromium checks skip, with the reason, only when no Chromium is installed.
"""
from __future__ import annotations

import contextlib
import html.parser
import io
import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import nbformat
import pytest

from cachecast.cli import main
from cachecast.report.reports import notebook_path, parameters, run_report

pytestmark = pytest.mark.slow  # notebooks, kernels or a browser: skipped by `make test-fast`

REPO = Path(__file__).resolve().parents[1]
PILOT = REPO / "config" / "eval_config.pilot.anthropic.yaml"
KEY = "sk-ant-api03-CANARYreport-5b0f3e2a7c4d4e19-do-not-leak"
SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
ERROR_TEXT = '<script>alert("err")</script> overloaded'
RAW_LINE = '<script>alert("raw")</script><img src=y onerror=alert(2)>'  # not JSON: quarantined, raw shown
BATCH = "msgbatch_hostile01"


@dataclass
class FullRun:
    dir: Path
    db: Path
    reports: dict[str, Path]
    executed: dict[str, Path]
    outputs: list[str] = field(default_factory=list)


def _cli(outputs: list[str], *argv) -> str:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as exc:
            rc = exc.code
    outputs += [out.getvalue(), err.getvalue()]
    assert rc == 0, (argv, out.getvalue(), err.getvalue())
    return out.getvalue()


def _result_line(row: dict, n: int, seen: set) -> dict:
    """A succeeded line: the first request of each prefix writes it (1h), the rest read it."""
    prefix, rest = row["est_prefix_tokens"], row["est_rest_tokens"]
    first = row["prefix_hash"] not in seen
    seen.add(row["prefix_hash"])
    usage = {"input_tokens": rest, "cache_creation_input_tokens": prefix if first else 0,
             "cache_read_input_tokens": 0 if first else prefix, "output_tokens": 120 + n % 50,
             "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": prefix if first else 0},
             "service_tier": "batch"}
    return {"custom_id": row["custom_id"], "result": {"type": "succeeded", "message": {
        "id": f"msg_01HOSTILE{n:05d}", "type": "message", "role": "assistant", "model": row["model"],
        "content": [{"type": "text", "text": "42"}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": usage}}}


def _hostile_results(build: Path, out: Path) -> None:
    """Rewrite the build's manifest with hostile ids and treatment names (a manifest and a
    results file come from outside: anyone can edit them), and write matching results."""
    rows = [json.loads(line) for line in (build / "manifest.jsonl").read_text().splitlines()]
    rows[0].update(custom_id=SCRIPT, treatment=SCRIPT)
    rows[1].update(custom_id=IMG, treatment=IMG)
    rows[2].update(treatment=IMG)
    (build / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    seen: set = set()
    lines = [_result_line(r, n, seen) for n, r in enumerate(rows[:-1])]
    lines.append({"custom_id": rows[-1]["custom_id"], "result": {"type": "errored", "error": {
        "type": "error", "error": {"type": "overloaded_error", "message": ERROR_TEXT}, "request_id": "req_x"}}})
    out.write_text("".join(json.dumps(line) + "\n" for line in lines) + RAW_LINE + "\n")


@pytest.fixture(scope="module")
def full_run(tmp_path_factory) -> FullRun:
    from fakeapi import FakeAnthropic

    tmp = tmp_path_factory.mktemp("fullrun")
    server = FakeAnthropic().start()
    outputs: list[str] = []
    try:
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("ANTHROPIC_API_KEY", KEY)
            mp.setenv("ANTHROPIC_BASE_URL", server.url)
            mp.chdir(tmp)
            build, db = tmp / "build", tmp / "store.duckdb"
            _cli(outputs, "build", PILOT, "--out", build, "--limit", "36")
            _cli(outputs, "lint", build)
            _cli(outputs, "count", build, "--exact", "--json")
            _cli(outputs, "project", PILOT, "--items", "20", "--json")
            _hostile_results(build, tmp / "results.jsonl")
            _cli(outputs, "ingest", tmp / "results.jsonl", "--db", db, "--manifest", build, "--batch-id", BATCH)
            _cli(outputs, "audit", "--db", db, "--json")
            reports, executed = {}, {}
            params = {"project": {"config": str(PILOT), "pilot_items": 10, "full_items": 300,
                                  "hit_rates": [0.3, 0.9], "audit_db": str(db)},
                      "audit": {"db_path": str(db), "batch_id": BATCH}}
            for kind in ("project", "audit"):
                known = parameters(notebook_path(kind))
                reports[kind] = tmp / "reports" / f"{kind}.html"
                executed[kind] = tmp / f"executed-{kind}.ipynb"
                run_report(kind, {k: v for k, v in params[kind].items() if k in known}, reports[kind],
                           executed=executed[kind])
    finally:
        server.stop()
    return FullRun(dir=tmp, db=db, reports=reports, executed=executed, outputs=outputs)


# --- the key --------------------------------------------------------------------------------

def test_the_key_is_nowhere_in_files_outputs_or_the_database(full_run):
    files = [p for p in full_run.dir.rglob("*") if p.is_file()]
    assert len(files) > 8 and full_run.db in files
    for path in files:
        data = path.read_bytes()
        assert KEY.encode() not in data and b"CANARYreport" not in data, path
    for text in full_run.outputs:
        assert "CANARYreport" not in text
    # DuckDB compresses strings on disk, so a byte scan is not proof: ask every text column
    conn = duckdb.connect(str(full_run.db), read_only=True)
    try:
        columns = conn.execute("SELECT table_name, column_name FROM information_schema.columns "
                               "WHERE table_schema = 'main' AND data_type = 'VARCHAR'").fetchall()
        assert columns
        for table, column in columns:
            hits = conn.execute(f'SELECT count(*) FROM "{table}" WHERE strpos("{column}", ?) > 0',
                                ["CANARYreport"]).fetchone()[0]
            assert hits == 0, (table, column)
    finally:
        conn.close()


def test_papermill_parameters_never_carry_the_key(full_run):
    for kind, path in full_run.executed.items():
        nb = nbformat.read(path, as_version=4)
        injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
        assert injected, kind  # the run really went through papermill parameters
        assert all("CANARYreport" not in c.source for c in injected)
        assert "CANARYreport" not in json.dumps(nb.metadata)  # papermill records parameters here too
        for name in parameters(notebook_path(kind)):
            assert not re.search(r"api_?key|secret|password|credential|auth", name, re.I), (kind, name)


# --- hostile text ---------------------------------------------------------------------------

EXECUTABLE = [
    re.compile(r"<script>alert\(", re.I),                 # custom id, treatment, error message, raw line
    re.compile(r"<img\s+src=[xy]\s+onerror", re.I),       # the attribute-breaking payloads
]


def test_hostile_values_are_escaped_in_the_audit_report(full_run):
    text = full_run.reports["audit"].read_text(encoding="utf-8")
    for pattern in EXECUTABLE:
        assert not pattern.search(text), pattern.pattern
    # ...and they are in the report, escaped (HTML entities in tables, \u003c in chart data)
    shown = text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", '"').replace("&#x27;", "'")
    shown = shown.replace("\\u003c", "<").replace("\\u003e", ">").replace("\\u0026", "&").replace('\\"', '"')
    for value in (SCRIPT, IMG, ERROR_TEXT, RAW_LINE):
        assert value in shown, value


def test_hostile_values_are_stored_verbatim(full_run):
    """Escaping is the report's job; the store keeps the data exactly as it came."""
    conn = duckdb.connect(str(full_run.db), read_only=True)
    try:
        ids = {r[0] for r in conn.execute("SELECT custom_id FROM results").fetchall()}
        treatments = {r[0] for r in conn.execute("SELECT treatment FROM manifest").fetchall()}
    finally:
        conn.close()
    assert {SCRIPT, IMG} <= ids and {SCRIPT, IMG} <= treatments


# --- the browser ----------------------------------------------------------------------------

def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


# Runs before anything in the page: records console errors, uncaught errors, failed loads and
# alert() calls in an attribute of <html>, which --dump-dom then shows.
PROBE = """<script>(function () {
  var seen = {errors: [], alerts: [], loads: []};
  function keep() { document.documentElement.setAttribute('data-probe', JSON.stringify(seen)); }
  var error = console.error;
  console.error = function () { seen.errors.push([].map.call(arguments, String).join(' ')); keep();
                                return error.apply(console, arguments); };
  window.addEventListener('error', function (e) {
    if (e.target && e.target !== window) { seen.loads.push(e.target.src || e.target.href || e.target.tagName); }
    else { seen.errors.push('uncaught: ' + e.message); }
    keep();
  }, true);
  window.addEventListener('unhandledrejection', function (e) { seen.errors.push('rejection: ' + e.reason); keep(); });
  window.alert = window.confirm = window.prompt = function (m) { seen.alerts.push(String(m)); keep(); };
  keep();
})();</script>"""

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
                  "--enable-logging=stderr", "--v=0", "--virtual-time-budget=15000"]


class _Dom(html.parser.HTMLParser):
    """What the rendered page holds: chart containers and whether each got an SVG/canvas,
    elements that load from elsewhere, and any element carrying an inline event handler."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[int | None] = []  # chart index of each open element (None: not in a chart)
        self.charts: list[bool] = []
        self.remote: list[str] = []
        self.handlers: list[str] = []
        self.probe: dict | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html" and a.get("data-probe"):
            self.probe = json.loads(a["data-probe"])
        parent = self.stack[-1] if self.stack else None
        if tag == "div" and "cachecast-chart" in (a.get("class") or "").split():
            self.charts.append(False)
            parent = len(self.charts) - 1
        if parent is not None and (tag == "canvas" or (tag == "svg" and "marks" in (a.get("class") or ""))):
            self.charts[parent] = True
        for attr in ("src", "href"):
            value = a.get(attr) or ""
            if tag in ("script", "link", "img", "iframe", "audio", "video", "source") and \
                    re.match(r"(https?:)?//", value):
                self.remote.append(f"<{tag} {attr}={value}>")
        self.handlers += [f"<{tag} {k}>" for k in a if k.startswith("on")]
        if tag not in ("br", "img", "input", "meta", "link", "hr", "source", "path", "rect", "line", "circle"):
            self.stack.append(parent)

    def handle_endtag(self, tag):
        if self.stack and tag not in ("br", "img", "input", "meta", "link", "hr", "source"):
            self.stack.pop()


def open_in_chromium(report: Path, tmp: Path) -> tuple[_Dom, str]:
    page = tmp / f"probed-{report.name}"
    text = report.read_text(encoding="utf-8")
    page.write_text(re.sub(r"<head[^>]*>", lambda m: m.group(0) + PROBE, text, count=1), encoding="utf-8")
    proc = subprocess.run([chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp / 'profile'}", "--dump-dom",
                           page.as_uri()], capture_output=True, text=True, timeout=180,
                          env={**os.environ, "HOME": str(tmp)})
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = _Dom()
    dom.feed(proc.stdout)
    return dom, proc.stderr


@pytest.mark.skipif(chromium() is None, reason="no Chromium installed (.ci/run installs Debian's chromium); "
                                               "the browser check of the reports cannot run")
@pytest.mark.parametrize("kind", ["project", "audit"])
def test_report_renders_offline_in_chromium(full_run, kind, tmp_path):
    dom, log = open_in_chromium(full_run.reports[kind], tmp_path)
    assert dom.probe is not None, "the page did not run its scripts"
    assert dom.charts and all(dom.charts), f"{kind}: {dom.charts.count(False)} of {len(dom.charts)} charts empty"
    assert dom.probe["errors"] == [], dom.probe["errors"]
    assert dom.probe["loads"] == [] and dom.remote == [], (dom.probe["loads"], dom.remote)  # nothing from the network
    assert dom.probe["alerts"] == []  # no injected script ran
    assert dom.handlers == [], dom.handlers  # no element with an inline handler (onerror=...) was created
    console = [line for line in log.splitlines() if "CONSOLE" in line]
    assert not [line for line in console if re.search(r"Uncaught|Error", line)], console


@pytest.mark.skipif(chromium() is None, reason="no Chromium installed")
def test_the_browser_probe_can_fail(tmp_path):
    """The probe sees what it should: a broken chart, a console error, a remote load, an alert."""
    page = tmp_path / "bad.html"
    page.write_text("<html><head></head><body><div class='cachecast-chart'></div>"
                    "<script>console.error('boom'); alert('x');</script>"
                    "<img src='https://example.invalid/x.png'><b onclick='x()'>b</b></body></html>")
    dom, _ = open_in_chromium(page, tmp_path)
    assert dom.charts == [False] and dom.probe["errors"] == ["boom"] and dom.probe["alerts"] == ["x"]
    assert dom.remote == ["<img src=https://example.invalid/x.png>"] and dom.probe["loads"]
    assert dom.handlers == ["<b onclick>"]
