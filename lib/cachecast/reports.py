"""Run a report notebook with papermill and export it as one self-contained HTML file.

The HTML must open with no network, years later: charts carry their JavaScript inline
(see cachecast.charts.show), and nbconvert's lab template is trimmed of the three scripts
it would otherwise load from CDNs (require.js, MathJax, mermaid). Code cells are left out
(`--no-input`): a report is for readers of numbers, not of code.
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Literal

from .errors import CachecastError, InputError, redact

NOTEBOOKS = {"project": "01_project_spend.ipynb", "audit": "02_audit_batch.ipynb"}
Kind = Literal["project", "audit"]

# lab template minus every <script src=...> that points at a CDN
_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
"""


def notebook_dir() -> Path:
    """notebooks/ of the checkout (the package is installed editable from lib/);
    CACHECAST_NOTEBOOKS points elsewhere when needed."""
    env = os.environ.get("CACHECAST_NOTEBOOKS")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "notebooks"


def notebook_path(kind: str) -> Path:
    if kind not in NOTEBOOKS:
        raise InputError(f"unknown report kind '{kind}'; choose one of {', '.join(NOTEBOOKS)}")
    path = notebook_dir() / NOTEBOOKS[kind]
    if not path.exists():
        raise InputError(f"{path}: report notebook not found (set CACHECAST_NOTEBOOKS to the notebooks folder)")
    return path


def notebook_parameters(path: Path) -> dict[str, Any]:
    """Names and defaults of the cell tagged `parameters`."""
    import papermill as pm

    return {name: info["default"] for name, info in pm.inspect_notebook(str(path)).items()}


def run_report(kind: Kind, params: dict[str, Any], out: Path, *, executed: Path | None = None) -> Path:
    """Execute the `kind` notebook with `params` and write the HTML report to `out`.

    Relative paths in params resolve against the current directory (the kernel runs there).
    `executed`, if given, keeps the executed .ipynb (outputs included) for inspection."""
    out = Path(out)
    if out.is_dir():  # checked before the notebook runs: a wrong --out should not cost a kernel run
        raise InputError(f"{out}: is a directory; --out takes the path of an .html file to write")
    nb = notebook_path(kind)
    known = notebook_parameters(nb)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise InputError(f"{nb.name} has no parameter '{unknown[0]}'; it takes: {', '.join(known)}")
    out = Path(out)
    with tempfile.TemporaryDirectory(prefix="cachecast-report-") as tmp:
        executed_nb = Path(tmp) / nb.name
        _execute(nb, executed_nb, params)
        html = export_html(executed_nb)
        if executed is not None:
            shutil.copyfile(executed_nb, executed)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    partial.write_text(html, encoding="utf-8")
    partial.replace(out)
    return out


def _ipc_kernel_manager():
    """Kernel over local IPC sockets rather than TCP on 127.0.0.1: nothing listens on a
    port, and ipykernel has no reason to warn about unencrypted TCP on stderr."""
    from jupyter_client.manager import AsyncKernelManager

    class IpcKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            kwargs.setdefault("transport", "ipc")
            super().__init__(**kwargs)

    return IpcKernelManager


def _execute(nb: Path, executed: Path, params: dict[str, Any]) -> None:
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    try:
        pm.execute_notebook(str(nb), str(executed), parameters=params, kernel_name="python3",
                            progress_bar=False, log_output=False, cwd=str(Path.cwd()),
                            kernel_manager_class=_ipc_kernel_manager())
    except PapermillExecutionError as exc:
        message = redact(str(exc.evalue)).strip().splitlines()
        raise CachecastError(
            f"notebook {nb.name} failed in cell {exc.exec_count}: {exc.ename}: {message[0] if message else ''}"
        ) from None


def export_html(executed: Path) -> str:
    """nbconvert HTML (lab look) without code cells, prompts or CDN scripts."""
    import jinja2
    import nbformat
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="lab",
        template_file="cachecast_report.html.j2",
        extra_loaders=[jinja2.DictLoader({"cachecast_report.html.j2": _TEMPLATE})],
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )
    body, _ = exporter.from_notebook_node(nbformat.read(str(executed), as_version=4))
    return body
