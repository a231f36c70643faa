"""Reports and notebooks as a reader sees them, in headless Chromium (issues 13 and 23).

* A fresh clone after `make demo`: the tracked files copied to a temporary folder, the demo
  run there (as `make demo` runs it), and the ledger report made from its store with the
  notebook's defaults. Each notebook in notebooks/ is then opened in a real JupyterLab
  (as `make lab` starts it) and run with Run All; any error output, any stderr output or a
  chart without data marks fails. While the kernels stay alive the store must be free for
  a writer (a kernel keeps no connection open between cells). A notebook that needs an
  external service (metadata `cachecast.needs_service`, or listed in NEEDS_SERVICE) is
  skipped with its reason.
* Screenshots at 1280 px of the three reports of the demo (projection, audit, ledger) and of
  each notebook in Lab, kept as the test's artefacts in $CACHECAST_SCREENSHOTS, else in
  build/test-artifacts/screenshots/ of the checkout (project.png, audit.png, ledger.png,
  lab-<notebook>.png); a chart with no data marks fails, and a report whose chart data was
  emptied on purpose is shown to fail that check.
* No absolute path in any report or saved notebook: the demo's (paths inside the clone) and
  reports made from a build under a temporary folder with absolute parameters.
* JupyterLab: a papermill-executed copy of notebook 01 (untrusted, as it comes from
  `run_report(executed=...)` or a colleague) opened in Lab 4 on 127.0.0.1 with token auth.
  The verdict text reads as written (dollar amounts, no MathJax element in it; a control
  output with `$x^2$` proves MathJax is live in that page) and every chart output is
  visible (an SVG or image with a nonzero size and drawn marks).

Skipped, with the reason, only when no Chromium is installed (.ci/run installs Debian's).
"""
from __future__ import annotations

import base64
import contextlib
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
from typing import Iterator

import nbformat
import pytest

from cachecast.report.reports import run_report

REPO = Path(__file__).resolve().parents[1]
DATA = Path(__file__).resolve().parent / "data"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic", "--hide-scrollbars"]


def chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        if shutil.which(name):
            return shutil.which(name)
    return None


pytestmark = [pytest.mark.slow, pytest.mark.skipif(chromium() is None, reason="no Chromium installed (.ci/run installs Debian's "
                                                           "chromium); the browser checks cannot run")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


ARTEFACTS = REPO / "build" / "test-artifacts" / "screenshots"  # git-ignored, like the demo's build/


def shots_dir() -> Path:
    """Where screenshots are kept: $CACHECAST_SCREENSHOTS, else build/test-artifacts/screenshots/
    of the checkout (pytest's temporary folders are shared and rotated, so not there)."""
    target = Path(os.environ.get("CACHECAST_SCREENSHOTS") or ARTEFACTS)
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
    """The projection report, and the audit and ledger reports of a small simulated pilot,
    built under a temporary folder and given absolute paths (as a script would), each with
    its executed notebook kept beside it (`<kind>.ipynb`)."""
    tmp = tmp_path_factory.mktemp("browser")
    out = dict(project)
    out["project.ipynb"] = project["executed"]
    db = _simulated_store(tmp)
    for kind, params in (("audit", {"db_path": str(db), "manifest_dir": str(tmp / "build")}),
                         ("ledger", {"db_path": str(db)})):
        out[f"{kind}.ipynb"] = tmp / f"{kind}.ipynb"
        out[kind] = run_report(kind, params, tmp / f"{kind}.html", executed=out[f"{kind}.ipynb"])
    return out


def _copy_checkout(target: Path) -> Path:
    """The files a fresh clone has: tracked ones and new ones not ignored (as they are in the
    working tree), nothing from build/, reports/ or data/*.duckdb."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    subprocess.run(["git", "init", "-q"], cwd=target, check=True)  # a clone is a repository (configs look for it)
    return target


@pytest.fixture(scope="module")
def demo_clone(tmp_path_factory) -> Path:
    """A fresh clone after `make demo` (`cachecast demo` run from the clone's root), plus the
    ledger report made there with the notebook's default parameters."""
    from cachecast.cli import main

    clone = _copy_checkout(tmp_path_factory.mktemp("clone") / "cachecast")
    assert not (clone / "build").exists() and not list((clone / "data").glob("*.duckdb"))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(clone)
        assert main(["demo"]) == 0
        run_report("ledger", {}, clone / "reports" / "ledger.html", executed=clone / "reports" / "ledger.ipynb")
    assert (clone / "build" / "demo" / "cachecast.duckdb").is_file()
    return clone


@pytest.fixture(scope="module")
def demo_reports(demo_clone) -> dict[str, Path]:
    folder = demo_clone / "reports"
    return {"project": folder / "projection.html", "audit": folder / "audit.html", "ledger": folder / "ledger.html"}


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
              "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=15000", "--window-size=1280,5200"]
    shot = shots_dir() / f"{name}.png"
    shot.unlink(missing_ok=True)  # an artefact of an earlier run proves nothing
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
def test_screenshot_every_report_of_the_demo_and_no_chart_is_blank(demo_reports, kind, tmp_path):
    """The three reports of `make demo` at 1280 px (kept as <kind>.png in shots_dir())."""
    assert blank_charts(demo_reports[kind], tmp_path, kind) == []


# --- no absolute path in what leaves the machine -----------------------------------------------

_LOCAL = re.compile(r"(?<![\w.:/~-])/(?:tmp|home|root|work|Users|var|private|mnt|opt|srv|usr|data|scratch)/"
                    r"[^\s\"'<>)]*")


def absolute_paths(text: str, *folders: Path) -> list[str]:
    """Absolute local paths in `text`: any of `folders` (and their real paths), and anything
    that looks like a path under a usual top-level folder. Base64 data and URLs are not text
    a reader sees, so they are left out first."""
    text = re.sub(r"data:[\w/+.-]+;base64,[A-Za-z0-9+/=]+", "", text)
    text = re.sub(r"https?://[^\s\"'<>)]+", "", text)
    found = [str(f) for folder in folders for f in {folder, folder.resolve()} if str(f) in text]
    return found + _LOCAL.findall(text)


def test_the_path_check_finds_a_path():
    assert absolute_paths('<td>db_path="/tmp/pytest-of-x/store.duckdb"</td>') == ["/tmp/pytest-of-x/store.duckdb"]
    assert absolute_paths("see https://example.com/home/x and data:image/png;base64,AAA/tmp/BBB") == []
    assert absolute_paths("in /opt/x", Path("/opt")) == ["/opt", "/opt/x"]


@pytest.mark.parametrize("name", ["project", "audit", "ledger", "project.ipynb", "audit.ipynb", "ledger.ipynb"])
def test_no_absolute_path_in_reports_built_under_a_temporary_folder(reports, name):
    """Parameters were absolute paths under pytest's temporary folder; the report and the
    saved notebook show "a temporary build", paths in the project relative to it."""
    text = reports[name].read_text(encoding="utf-8")
    assert absolute_paths(text, REPO, Path.home(), reports[name].parent) == [], name
    if name in ("audit", "ledger"):
        assert "a temporary build" in text


@pytest.mark.parametrize("name", ["projection.html", "audit.html", "ledger.html", "ledger.ipynb"])
def test_no_absolute_path_in_the_demo_reports(demo_clone, name):
    text = (demo_clone / "reports" / name).read_text(encoding="utf-8")
    assert absolute_paths(text, REPO, Path.home(), demo_clone) == [], name
    if name != "projection.html":
        assert "build/demo/cachecast.duckdb" in text  # relative to the clone's root


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


def _lab_settings(tmp: Path) -> Path:
    """User settings that render every cell (no windowing) and fetch no news."""
    settings = tmp / "settings"
    for name, value in {"notebook-extension/tracker": {"windowingMode": "none"},
                        "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False}}.items():
        path = settings / f"@jupyterlab/{name}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    return settings


def _lab_root(project, tmp: Path) -> Path:
    """A root dir with the executed notebook plus a control output."""
    root = tmp / "root"
    root.mkdir()
    nb = nbformat.read(project["executed"], as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("# control", outputs=[nbformat.v4.new_output(
        "display_data", data={"text/html": f"<p>{CONTROL}</p>", "text/plain": CONTROL})]))
    nbformat.write(nb, root / "executed.ipynb")
    return root


@contextlib.contextmanager
def lab_session(root: Path, tmp: Path, *, cwd: Path | None = None, expose_app: bool = False,
                height: int = 9000) -> Iterator[tuple[Cdp, str, str]]:
    """JupyterLab on 127.0.0.1 serving `root` (token auth, no update checks, no extension
    manager), and headless Chromium driven over the DevTools protocol: (cdp, base URL with
    the token as ?token=...). `expose_app` gives the page window.jupyterapp (Lab's own
    switch), through which a test runs commands as the menus do."""
    _lab_settings(tmp)
    port, token, debug_port = free_port(), secrets.token_hex(16), free_port()
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp / "runtime"), "JUPYTER_CONFIG_DIR": str(tmp / "cfg"),
           "JUPYTERLAB_SETTINGS_DIR": str(tmp / "settings"), "JUPYTERLAB_WORKSPACES_DIR": str(tmp / "workspaces")}
    lab = subprocess.Popen([sys.executable, "-m", "jupyterlab", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
                            "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
                            "--ServerApp.open_browser=False", f"--ServerApp.root_dir={root}",
                            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                            "--LabApp.extension_manager=readonly", "--ServerApp.allow_root=True",
                            f"--LabApp.expose_app_in_browser={expose_app}"],
                           cwd=cwd or root, stdout=subprocess.DEVNULL, stderr=open(tmp / "lab.log", "w"), env=env)
    browser = None
    try:
        _wait_http(f"http://127.0.0.1:{port}/api/status?token={token}", 90)
        browser = subprocess.Popen([chromium(), *FLAGS, f"--user-data-dir={tmp / 'profile'}",
                                    f"--remote-debugging-port={debug_port}", f"--window-size=1280,{height}",
                                    "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   env={**os.environ, "HOME": str(tmp)})
        _wait_http(f"http://127.0.0.1:{debug_port}/json/version", 60)
        pages = json.loads(_wait_http(f"http://127.0.0.1:{debug_port}/json/list", 10))
        cdp = Cdp(next(p for p in pages if p.get("type") == "page")["webSocketDebuggerUrl"])
        cdp.call("Page.enable")
        yield cdp, f"http://127.0.0.1:{port}", token
    finally:
        if browser is not None:
            browser.terminate()
            browser.wait(timeout=30)
        lab.terminate()
        lab.wait(timeout=30)


def screenshot(cdp: Cdp, name: str) -> Path:
    shot = shots_dir() / name
    shot.write_bytes(base64.b64decode(cdp.call("Page.captureScreenshot", format="png")["data"]))
    return shot


def test_executed_notebook_in_jupyterlab_reads_as_written_and_shows_charts(project, tmp_path):
    root = _lab_root(project, tmp_path)
    with lab_session(root, tmp_path, height=9000) as (cdp, base, token):
        cdp.call("Page.navigate", url=f"{base}/lab/tree/executed.ipynb?token={token}")
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
        screenshot(cdp, "lab-executed-01.png")
    assert state.get("controlMath", 0) > 0, f"MathJax never ran in Lab, so the check proves nothing: {state}"
    verdict = state.get("verdict") or ""
    assert re.search(r"OVER budget: worst expected \$[\d,]+\.\d\d .* against \$5\.00", verdict), verdict
    assert state["verdictMath"] == 0, state
    assert len(state["charts"]) >= 4, state
    for chart in state["charts"]:
        assert chart["tag"] and chart["width"] > 50 and chart["height"] > 50 and chart["marks"] > 0, chart


# --- every notebook, Run All in JupyterLab on a fresh clone after `make demo` ------------------

# Notebooks the demo store cannot feed, by file name, with the reason (a notebook can also say
# so itself: metadata {"cachecast": {"needs_service": "why"}}).
NEEDS_SERVICE = {
    "04_reconcile.ipynb": "reconciles the store against the Admin API's cost and usage reports, which need "
                          "ANTHROPIC_ADMIN_KEY and the network; the demo store cannot feed it",
}
NOTEBOOK_NAMES = sorted(p.name for p in (REPO / "notebooks").glob("*.ipynb"))

RUN_ALL = r"""(async () => {
  const app = window.jupyterapp;
  const panel = await app.commands.execute('docmanager:open', {path: %s, factory: 'Notebook'});
  await panel.context.ready;
  await panel.sessionContext.ready;
  const started = Date.now();
  while (!panel.sessionContext.session || !panel.sessionContext.session.kernel ||
         panel.sessionContext.session.kernel.status !== 'idle') {
    if (Date.now() - started > 120000) { return JSON.stringify({error: 'kernel never idle'}); }
    await new Promise(r => setTimeout(r, 250));
  }
  app.shell.activateById(panel.id);
  const ok = await app.commands.execute('notebook:run-all-cells');
  while (panel.sessionContext.session.kernel.status !== 'idle') { await new Promise(r => setTimeout(r, 250)); }
  await new Promise(r => setTimeout(r, 1500));  // let the last outputs render
  const cells = [];
  const model = panel.content.model;
  for (let i = 0; i < model.cells.length; i++) {
    const cell = model.cells.get(i);
    if (cell.type !== 'code') { continue; }
    cells.push({index: i, count: cell.executionCount, outputs: cell.outputs.toJSON()});
  }
  const charts = [...panel.node.querySelectorAll('.jp-OutputArea-output')]
    .filter(o => /vegalite/.test(o.dataset.mimeType || '') || /jp-RenderedVega/.test(o.className))
    .map(o => ({marks: o.querySelectorAll('g.role-mark > *').length,
                width: (o.querySelector('svg, canvas') || {getBoundingClientRect: () => ({width: 0})})
                          .getBoundingClientRect().width}));
  panel.content.activeCellIndex = 0;  // the top of the notebook for the screenshot
  try { await panel.content.scrollToItem(0, 'start'); } catch (e) { panel.content.node.scrollTop = 0; }
  await new Promise(r => setTimeout(r, 500));
  return JSON.stringify({ok: ok, cells: cells, charts: charts});
})()"""


def needs_service(path: Path) -> str | None:
    meta = json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("cachecast", {})
    return meta.get("needs_service") or NEEDS_SERVICE.get(path.name)


@pytest.fixture(scope="module")
def lab_on_clone(demo_clone, tmp_path_factory):
    """`make lab` on the clone: JupyterLab serving notebooks/ from the clone's root."""
    tmp = tmp_path_factory.mktemp("lab-clone")
    with lab_session(demo_clone / "notebooks", tmp, cwd=demo_clone, expose_app=True, height=1600) as session:
        cdp, base, token = session
        cdp.call("Page.navigate", url=f"{base}/lab?token={token}")
        deadline = time.monotonic() + 120
        while not cdp.evaluate("!!(window.jupyterapp && window.jupyterapp.shell && "
                               "document.querySelector('.jp-LabShell'))"):
            assert time.monotonic() < deadline, "JupyterLab never started in the page"
            time.sleep(0.5)
        yield cdp


def _problems(state: dict) -> list[str]:
    """Error outputs, stderr output and cells that never ran."""
    found = []
    for cell in state.get("cells", []):
        if cell["count"] is None:
            found.append(f"cell {cell['index']} did not run")
        for out in cell["outputs"]:
            if out.get("output_type") == "error":
                found.append(f"cell {cell['index']}: {out.get('ename')}: {out.get('evalue')}")
            elif out.get("output_type") == "stream" and out.get("name") == "stderr":
                found.append(f"cell {cell['index']} wrote to stderr: {''.join(out.get('text', ''))[:300]}")
    return found


@pytest.mark.parametrize("name", NOTEBOOK_NAMES)
def test_each_notebook_runs_all_cells_in_jupyterlab_after_make_demo(demo_clone, lab_on_clone, name):
    reason = needs_service(demo_clone / "notebooks" / name)
    if reason:
        pytest.skip(f"{name} needs an external service: {reason}")
    cdp = lab_on_clone
    result = cdp.call("Runtime.evaluate", expression=RUN_ALL % json.dumps(name), awaitPromise=True,
                      returnByValue=True, timeout=300_000)
    state = json.loads(result["result"].get("value") or "{}")
    screenshot(cdp, f"lab-{Path(name).stem}.png")
    assert state.get("cells"), f"{name}: nothing ran in Lab: {result}"
    assert _problems(state) == [], name
    assert all(c["marks"] > 0 and c["width"] > 50 for c in state["charts"]), (name, state["charts"])
    # the kernel stays alive with the notebook open, yet keeps no connection: a writer gets the store
    from cachecast import store

    store.connect(demo_clone / "build" / "demo" / "cachecast.duckdb").close()
