"""Reports: papermill runs the projection notebook, nbconvert writes self-contained HTML
(no code, no CDN), charts carry escaped data and render in headless Chromium offline."""
from __future__ import annotations

import contextlib
import io
import re
import shutil
import subprocess
from pathlib import Path

import nbformat
import pytest

from cachecast import cli
from cachecast.report.reports import notebook_path

REPO = Path(__file__).resolve().parents[1]


def test_committed_notebook_is_clean():
    nb = nbformat.read(notebook_path("project"), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)  # outputs stripped
    assert not any(re.search(r"^\s*(def|class|lambda)\b", c.source, re.M) for c in code)  # no functions
    for line in code[0].source.splitlines():  # literals only in the parameters cell
        if "=" in line and not line.lstrip().startswith("#"):
            value = line.split("=", 1)[1].split("#")[0].strip()
            assert re.fullmatch(r'None|True|False|-?[\d.]+|"[^"]*"|\[[\d., ]*\]', value), line


def test_unknown_parameter_is_one_sentence(tmp_path, capsys):
    assert cli.main(["report", "project", "-p", "pilot_itemz", "5", "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "no parameter 'pilot_itemz'" in err and "pilot_items" in err
    assert not (tmp_path / "r.html").exists()


@pytest.fixture(scope="module")
def project_report(tmp_path_factory):
    """One papermill run on small parameters, shared by the checks below (it takes seconds)."""
    out = tmp_path_factory.mktemp("report") / "projection.html"
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = cli.main(["report", "project", "-p", "config", str(REPO / "config" / "eval_config.full.anthropic.yaml"),
                         "-p", "pilot_items", "10", "-p", "full_items", "300", "-p", "hit_rates", "[0.3, 0.8, 0.98]",
                         "-p", "budget_usd", "5", "--out", str(out)])
    assert code == 0
    out.with_suffix(".stderr").write_text(err.getvalue())
    return out


@pytest.mark.slow
def test_report_prints_progress_on_stderr(project_report):
    steps = project_report.with_suffix(".stderr").read_text().splitlines()
    mine = [line for line in steps if line.startswith("cachecast report: ")]
    assert [m.split(":", 1)[1].split()[0] for m in mine] == ["executing", "exporting", "done"], steps


@pytest.mark.slow
def test_report_html_is_self_contained(project_report):
    html = project_report.read_text()
    assert '<script src="http' not in html and not re.search(r'<(script|link)[^>]+(src|href)="https?://', html)
    assert "cdnjs" not in html and "jsdelivr" not in html and "unpkg" not in html
    assert html.count("window.vegaEmbed=") == 1  # the JS bundle is inlined once
    assert html.count('class="cachecast-spec"') == 4  # components, sensitivity, TTL comparison, what-if
    assert len(re.findall(r'<img alt="chart \(static\)" src="data:image/svg\+xml;base64,', html)) == 4  # static fallbacks
    assert "MathJax" not in html and "mathjax.js" not in html.lower()  # nothing typesets `$...$`
    assert "Provenance" in html and "sha256:" in html and "anthropic-version" in html
    assert "Recommendation" in html and "full run: use the" in html and "Break-even for" in html
    assert "pr.plan(" not in html and "show_table(" not in html  # no code cells (--no-input)
    assert re.search(r'"input":\s*"range"', html)  # the what-if slider (vega-lite bind)
    # summary table with the verdict in words; 300 items x 6 = 1,800 requests at ~$9 > $5 budget
    assert "1,800" in html and "OVER budget" in html and "full run" in html
    # the budget gate's three figures (issue 19): a table row per figure and run, and the ceiling warning
    assert "Budget gate" in html and "worst expected" in html and "every output reaches max_tokens 4,096" in html


@pytest.mark.slow
def test_report_bad_config_is_one_sentence(tmp_path, capsys):
    code = cli.main(["report", "project", "-p", "config", str(tmp_path / "missing.yaml"), "--out",
                     str(tmp_path / "r.html")])
    assert code == 2
    err = capsys.readouterr().err
    assert "failed in cell" in err and "config file not found" in err and "Traceback" not in err
    assert not (tmp_path / "r.html").exists()


def _chromium() -> str | None:
    return next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome") if shutil.which(n)), None)


@pytest.mark.slow
@pytest.mark.skipif(_chromium() is None, reason="chromium not installed")
def test_report_renders_in_chromium_offline(project_report, tmp_path):
    """Networking off (every host resolves to nothing, no proxy reachable): charts still draw."""
    dom = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--user-data-dir=" + str(tmp_path / "profile"),
         "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND", "--virtual-time-budget=10000",
         "--dump-dom", project_report.as_uri()],
        capture_output=True, text=True, timeout=120).stdout
    assert dom.count('class="marks"') >= 4  # one rendered vega SVG per chart
    assert ">Chart library not loaded" not in dom and ">Chart failed" not in dom  # fallback texts not shown
    assert 'type="range"' in dom  # the what-if slider exists in the page


@pytest.mark.slow
def test_exact_counts_of_a_report_go_to_the_configured_store_not_the_checkout(fake_api, monkeypatch, tmp_path):
    """With a key set, notebook 01 counts exactly (exact=None) and remembers the counts:
    in CACHECAST_DB (as `count --exact`), never in the checkout's data/cachecast.duckdb."""
    from cachecast.report import projection_report as pr

    store = tmp_path / "counts.duckdb"
    monkeypatch.setenv("CACHECAST_DB", str(store))
    monkeypatch.setenv("ANTHROPIC_API_KEY", "test-key-counts")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_api.url)
    assert pr.token_store() == store
    checkout = REPO / "data" / "cachecast.duckdb"
    before = checkout.stat().st_mtime_ns if checkout.exists() else None
    plan = pr.plan(REPO / "config" / "eval_config.pilot.anthropic.yaml", pilot_items=2, full_items=3, exact=None)
    assert plan.full.tokens.source == "exact" and store.exists()
    assert (checkout.stat().st_mtime_ns if checkout.exists() else None) == before
    assert any(path == "/v1/messages/count_tokens" for _, path in fake_api.calls)


def test_kernel_shutdown_sends_no_interrupt(tmp_path, monkeypatch):
    """jupyter_client interrupts a kernel before asking it to shut down; that SIGINT raced the
    kernel's message handler and logged `[IPKernelApp] ERROR | KeyboardInterrupt caught in
    kernel` in a run that succeeded. The report's kernel manager shuts down without it (an
    interrupt outside shutdown still goes through)."""
    from jupyter_client.manager import AsyncKernelManager

    from cachecast.report import reports

    sent: list[bool] = []
    real = AsyncKernelManager._async_interrupt_kernel

    async def recording(self):
        sent.append(self.shutting_down)
        await real(self)

    monkeypatch.setattr(AsyncKernelManager, "_async_interrupt_kernel", recording)
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "language": "python",
                                                            "display_name": "Python 3"},
                                             "language_info": {"name": "python"}})
    nb.cells = [nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}), nbformat.v4.new_code_cell("x")]
    nbformat.write(nb, tmp_path / "tiny.ipynb")
    reports._execute(tmp_path / "tiny.ipynb", tmp_path / "out.ipynb", {"x": 2})
    assert sent == []  # never reached the real interrupt while shutting down
    manager = reports._ipc_kernel_manager()()
    assert manager.shutting_down is False
