"""Reports and executed notebooks as a reader sees them, in headless Chromium (issue 13).

* JupyterLab: a papermill-executed copy of notebook 01 (untrusted, as it comes from
  `cachecast report --executed` or a colleague) opened in Lab 4 on 127.0.0.1 with token
  auth. The verdict text reads as written (dollar amounts, no MathJax element in it; a
  control output with `$x^2$` proves MathJax is live in that page) and every chart output
  is visible (an SVG or image with a nonzero size and drawn marks).
* Screenshot checks: each HTML report (projection, audit; the ledger once `cachecast
  report ledger` exists) is rendered and screenshotted; a chart with no data marks fails,
  and a report whose chart data was emptied on purpose is shown to fail that check.

Skipped, with the reason, only when no Chromium is installed (.ci/run installs Debian's).
Screenshots land in the test's tmp dir, or in $CACHECAST_SCREENSHOTS when set.
"""
from __future__ import annotations

import base64
import html.parser
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import nbformat
import pytest

from cachecast.report.reports import NOTEBOOKS, notebook_parameters, notebook_path, run_report

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic", "--hide-scrollbars"]


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


pytestmark = pytest.mark.skipif(chromium() is None, reason="no Chromium installed (.ci/run installs Debian's "
                                                           "chromium); the browser checks cannot run")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def shots_dir(tmp: Path) -> Path:
    target = Path(os.environ.get("CACHECAST_SCREENSHOTS") or tmp / "screenshots")
    target.mkdir(parents=True, exist_ok=True)
    return target


# --- reports ----------------------------------------------------------------------------------

def _simulated_store(tmp: Path) -> Path:
    """A small pilot built, simulated (cachecast.send.sim) and ingested with its manifest, as the
    demo does it: the audit and the ledger report read it."""
    from cachecast.cli import main
    from cachecast.analyse.ingest_bridge import ingest_results
    from cachecast.send.sim import simulate_build

    build, results, db = tmp / "build", tmp / "results.jsonl", tmp / "store.duckdb"
    assert main(["build", str(REPO / "config" / "eval_config.pilot.anthropic.yaml"), "--out", str(build),
                 "--limit", "60"]) == 0
    simulate_build(build, results, concurrency=20, duration_minutes=30.0, hit_probability=0.95, seed=1)
    ingest_results([results], db, manifest=build, batch_id="msgbatch_browser_test")
    return db


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> dict[str, Path]:
    """The projection report on small parameters and its executed notebook (for Lab)."""
    tmp = tmp_path_factory.mktemp("project")
    out = {"executed": tmp / "01_executed.ipynb"}
    out["project"] = run_report("project", {"config": "config/eval_config.full.anthropic.yaml", "pilot_items": 10,
                                            "full_items": 300, "budget_usd": 5.0, "exact": False},
                                tmp / "projection.html", executed=out["executed"])
    return out


@pytest.fixture(scope="module")
def reports(project, tmp_path_factory) -> dict[str, Path]:
    """The projection report, and the audit and (when it exists) ledger report of a small
    simulated pilot."""
    tmp = tmp_path_factory.mktemp("browser")
    out = dict(project)
    db = _simulated_store(tmp)
    out["audit"] = run_report("audit", {"db_path": str(db), "manifest_dir": str(tmp / "build")}, tmp / "audit.html")
    if "ledger" in NOTEBOOKS:
        known = notebook_parameters(notebook_path("ledger"))
        out["ledger"] = run_report("ledger", {k: v for k, v in {"db_path": str(db)}.items() if k in known},
                                   tmp / "ledger.html")
    return out


class Marks(html.parser.HTMLParser):
    """Per chart container (div.cachecast-chart) of a rendered page: how many data marks
    Vega drew (children of its `g.role-mark` groups: bars, line paths, points, rules, text).
    Axes, gridlines and legends are not data marks, so an emptied chart counts 0."""

    VOID = {"br", "img", "input", "meta", "link", "hr", "source", "path", "rect", "line", "circle", "wbr"}

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[int | None, bool]] = []  # (chart index, inside a role-mark group)
        self.marks: list[int] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        chart, in_mark = self.stack[-1] if self.stack else (None, False)
        classes = (a.get("class") or "").split()
        if tag == "div" and "cachecast-chart" in classes:
            self.marks.append(0)
            chart, in_mark = len(self.marks) - 1, False
        if chart is not None and in_mark and tag in ("path", "rect", "line", "circle", "text", "g"):
            if tag != "g" or "role-mark" not in classes:
                self.marks[chart] += 1
        if tag == "g" and "role-mark" in classes:
            in_mark = True
        if tag not in self.VOID:
            self.stack.append((chart, in_mark))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID and self.stack:
            self.stack.pop()

    def handle_endtag(self, tag):
        if tag not in self.VOID and self.stack:
            self.stack.pop()


def render(page: Path, tmp: Path, name: str) -> list[int]:
    """Screenshot `page` (kept as NAME.png) and return the data-mark count of each chart."""
    profile = tmp / f"profile-{name}"
    common = [chromium(), *FLAGS, f"--user-data-dir={profile}", "--proxy-server=127.0.0.1:9",
              "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=15000", "--window-size=1280,4000"]
    shot = shots_dir(tmp) / f"{name}.png"
    subprocess.run([*common, f"--screenshot={shot}", page.as_uri()], capture_output=True, timeout=180,
                   env={**os.environ, "HOME": str(tmp)})
    assert shot.exists() and shot.stat().st_size > 10_000, f"no screenshot of {name}"
    dom = subprocess.run([*common, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=180,
                         env={**os.environ, "HOME": str(tmp)})
    assert dom.returncode == 0, dom.stderr[-2000:]
    parser = Marks()
    parser.feed(dom.stdout)
    return parser.marks


def blank_charts(page: Path, tmp: Path, name: str) -> list[int]:
    marks = render(page, tmp, name)
    assert marks, f"{name}: no chart container in the page"
    return [i for i, n in enumerate(marks) if n == 0]


@pytest.mark.parametrize("kind", ["project", "audit", "ledger"])
def test_screenshot_every_report_and_no_chart_is_blank(reports, kind, tmp_path):
    if kind not in reports:
        pytest.skip("`cachecast report ledger` does not exist yet")
    assert blank_charts(reports[kind], tmp_path, kind) == []


def _emptied(report: Path, target: Path) -> Path:
    """The report with every dataset of its first chart spec emptied, as a broken chart
    builder would produce it."""
    text = report.read_text(encoding="utf-8")
    match = re.search(r'(<script[^>]*class="cachecast-spec"[^>]*>)(.*?)(</script>)', text, re.S)
    spec = json.loads(match.group(2))
    spec["datasets"] = {k: [] for k in spec.get("datasets", {})}
    body = json.dumps(spec).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = text[:match.start(2)] + body + text[match.end(2):]
    target.write_text(text, encoding="utf-8")
    return target


def test_the_blank_chart_check_fails_on_an_emptied_chart(project, tmp_path):
    broken = _emptied(project["project"], tmp_path / "emptied.html")
    assert blank_charts(broken, tmp_path, "emptied") == [0]


# --- JupyterLab -------------------------------------------------------------------------------

CONTROL = "CONTROL: this costs $x^2$ or $y$"  # unprotected HTML: Lab's MathJax must typeset it

PROBE = r"""(() => {
  const outs = [...document.querySelectorAll('.jp-OutputArea-output')];
  const verdict = outs.find(o => /full run \(1,800 requests\)/.test(o.textContent));
  const control = outs.find(o => o.textContent.includes('CONTROL'));
  const charts = outs.filter(o => /vegalite|image\/svg/.test(o.dataset.mimeType || '') ||
                                   /jp-RenderedVega|jp-RenderedSVG/.test(o.className)).map(o => {
    const el = o.querySelector('svg.marks, svg, img, canvas');
    const r = el ? el.getBoundingClientRect() : {width: 0, height: 0};
    return {tag: el ? el.tagName : null, width: r.width, height: r.height, kind: o.className,
            marks: o.querySelectorAll('g.role-mark > *').length};
  });
  return JSON.stringify({
    outputs: outs.length,
    verdict: verdict ? verdict.innerText : null,
    verdictMath: verdict ? verdict.querySelectorAll('mjx-container, .MathJax, math').length : -1,
    controlMath: control ? control.querySelectorAll('mjx-container, .MathJax').length : -1,
    charts: charts,
  });
})()"""


class Cdp:
    """The few DevTools-protocol calls the Lab test needs, over websocket-client."""

    def __init__(self, url: str) -> None:
        import websocket

        self.ws = websocket.create_connection(url, timeout=60, suppress_origin=True)
        self.n = 0

    def call(self, method: str, **params):
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.n:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")


def _wait_http(url: str, seconds: float) -> bytes:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.read()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def _lab_root(project, tmp: Path) -> Path:
    """A root dir with the executed notebook plus a control output, and user settings that
    render every cell (no windowing) and fetch no news."""
    root = tmp / "root"
    root.mkdir()
    nb = nbformat.read(project["executed"], as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("# control", outputs=[nbformat.v4.new_output(
        "display_data", data={"text/html": f"<p>{CONTROL}</p>", "text/plain": CONTROL})]))
    nbformat.write(nb, root / "executed.ipynb")
    settings = tmp / "settings"
    for name, value in {"notebook-extension/tracker": {"windowingMode": "none"},
                        "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False}}.items():
        path = settings / f"@jupyterlab/{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    return root


def test_executed_notebook_in_jupyterlab_reads_as_written_and_shows_charts(project, tmp_path):
    root = _lab_root(project, tmp_path)
    port, token, debug_port = free_port(), secrets.token_hex(16), free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp_path / "cfg"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces")}
    lab = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
                            "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
                            "--ServerApp.open_browser=False", f"--ServerApp.root_dir={root}",
                            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                            "--LabApp.extension_manager=readonly", "--ServerApp.allow_root=True"],
                           stdout=subprocess.DEVNULL, stderr=open(tmp_path / "lab.log", "w"), env=env)
    browser = None
    try:
        _wait_http(f"http://127.0.0.1:{port}/api/status?token={token}", 90)
        browser = subprocess.Popen([chromium(), *FLAGS, f"--user-data-dir={tmp_path / 'profile'}",
                                    f"--remote-debugging-port={debug_port}", "--window-size=1400,9000",
                                    "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   env={**os.environ, "HOME": str(tmp_path)})
        _wait_http(f"http://127.0.0.1:{debug_port}/json/version", 60)
        pages = json.loads(_wait_http(f"http://127.0.0.1:{debug_port}/json/list", 10))
        cdp = Cdp(next(p for p in pages if p.get("type") == "page")["webSocketDebuggerUrl"])
        cdp.call("Page.enable")
        cdp.call("Page.navigate", url=f"http://127.0.0.1:{port}/lab/tree/executed.ipynb?token={token}")
        state, deadline = {}, time.monotonic() + 120
        while time.monotonic() < deadline:
            state = json.loads(cdp.evaluate(PROBE) or "{}")
            ready = (state.get("verdict") and len(state.get("charts", [])) >= 4
                     and all(c["marks"] > 0 for c in state["charts"]) and state.get("controlMath", 0) > 0)
            if ready:
                time.sleep(2)  # let the typesetter finish any pass it started on the verdict
                state = json.loads(cdp.evaluate(PROBE))
                break
            time.sleep(1)
        shot = cdp.call("Page.captureScreenshot", format="png")
        (shots_dir(tmp_path) / "lab-executed-01.png").write_bytes(base64.b64decode(shot["data"]))
    finally:
        if browser is not None:
            browser.terminate()
            browser.wait(timeout=30)
        lab.terminate()
        lab.wait(timeout=30)
    assert state.get("controlMath", 0) > 0, f"MathJax never ran in Lab, so the check proves nothing: {state}"
    verdict = state.get("verdict") or ""
    assert re.search(r"OVER budget: worst expected \$[\d,]+\.\d\d .* against \$5\.00", verdict), verdict
    assert state["verdictMath"] == 0, state
    assert len(state["charts"]) >= 4, state
    for chart in state["charts"]:
        assert chart["tag"] and chart["width"] > 50 and chart["height"] > 50 and chart["marks"] > 0, chart
