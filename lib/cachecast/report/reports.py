"""Run a report notebook with papermill and export it as one self-contained HTML file.

The HTML must open with no network, years later: chart outputs (cachecast.report.charts.show: a
Vega-Lite spec plus a static SVG) become interactive charts drawn by the vega bundle
inlined once, over their static SVG; nbconvert's lab template is trimmed of the three
scripts it would otherwise load from CDNs (require.js, MathJax, mermaid), so no `$...$`
is ever typeset. Code cells are left out (`--no-input`): a report is for readers of
numbers, not of code. While it runs, each step is printed on stderr (`progress`).

Parameters are code: papermill writes each value into a cell as Python source, and its
quoting is safe only for plain literals (a bytes value, reached through a YAML `!!binary`
tag, became `"b'...'+__import__('os').system(...)+'..."`, which ran). So only str, int,
float, bool, None and lists of these reach a notebook, each of the type its parameters
cell declares (`check_parameters`), whichever route they come by (the CLI, `submit`, the
demo, a notebook of one's own).
"""
from __future__ import annotations

import ast
import json
import math
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from ..errors import CachecastError, InputError, redact

NOTEBOOKS = {"project": "01_project_spend.ipynb", "audit": "02_audit_batch.ipynb", "ledger": "03_run_ledger.ipynb",
             "reconcile": "04_reconcile.ipynb"}
Kind = Literal["project", "audit", "ledger", "reconcile"]

# lab template minus every <script src=...> that points at a CDN (require.js, MathJax,
# mermaid: no MathJax also means no `$...$` read as math), plus the charts: an output
# carrying a Vega-Lite spec (cachecast.report.charts.ChartOutput) becomes an interactive chart
# drawn by the vega bundle inlined once at the end, its static SVG shown until then (and
# kept if the script cannot run). The spec goes in through `tojson`, which escapes <, >, &
# and ', so data in it cannot close the <script> element.
_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js_requirejs -%}{%- endblock html_head_js_requirejs -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{% block data_svg scoped -%}
{%- if 'application/vnd.vegalite.v5+json' in output.data -%}
<div class="jp-RenderedSVG jp-OutputArea-output {{ extra_class }}" data-mime-type="application/vnd.vegalite.v5+json">
<div class="cachecast-chart"><img alt="chart (static)" src="data:image/svg+xml;base64,{{ output.data['image/svg+xml'] | text_base64 | escape_html }}"></div>
<script type="application/json" class="cachecast-spec">{{ output.data['application/vnd.vegalite.v5+json'] | tojson }}</script>
</div>
{%- else -%}
{{ super() }}
{%- endif -%}
{%- endblock data_svg %}
{% block footer_js %}
{{ super() }}
{%- if resources.cachecast_vega_js %}
<script type="text/javascript">
{{ resources.cachecast_vega_js }}
</script>
<script type="text/javascript">
(function () {
  var specs = document.querySelectorAll('script.cachecast-spec');
  for (var i = 0; i < specs.length; i++) {
    (function (node) {
      var el = node.previousElementSibling;
      if (!el || typeof window.vegaEmbed !== 'function') { return; }
      var spec = JSON.parse(node.textContent);
      delete spec['$schema'];
      var fallback = el.innerHTML;
      el.innerHTML = '';
      window.vegaEmbed(el, spec, {mode: 'vega-lite', actions: false, renderer: 'svg'}).catch(function (err) {
        el.innerHTML = fallback;
        console.warn('chart shown as its static SVG: ' + err);
      });
    })(specs[i]);
  }
})();
</script>
{%- endif %}
{% endblock footer_js %}
"""


def notebook_dir() -> Path:
    """notebooks/ of the checkout (the package is installed editable from lib/);
    CACHECAST_NOTEBOOKS points elsewhere when needed."""
    env = os.environ.get("CACHECAST_NOTEBOOKS")
    return Path(env) if env else Path(__file__).resolve().parents[3] / "notebooks"


def notebook_path(kind: str) -> Path:
    if kind not in NOTEBOOKS:
        raise InputError(f"unknown report kind '{kind}'; choose one of {', '.join(NOTEBOOKS)}")
    path = notebook_dir() / NOTEBOOKS[kind]
    if not path.exists():
        raise InputError(f"{path}: report notebook not found (set CACHECAST_NOTEBOOKS to the notebooks folder)")
    return path


# Parameters declared `= None` say nothing about their type. Until the cell annotates them
# (`budget_usd: float | None = None`, which `parameters` reads first), these are their types;
# any other None-declared parameter takes text or None.
_NONE_DECLARED = {
    "01_project_spend.ipynb": {"budget_usd": "float | None", "pilot_budget_usd": "float | None",
                               "system_tokens": "int | None", "user_tokens": "float | None",
                               "output_tokens": "float | None", "exact": "bool | None"},
}
MAX_LIST = 1000  # a parameter list is a handful of hit rates, not data

_DESCRIBE = {"str": "text", "int": "a whole number", "float": "a number", "bool": "true or false",
             "None": "null", "scalar": "text, a number, true/false or null"}


@dataclass(frozen=True)
class Parameter:
    """One parameter of a notebook's `parameters` cell: its default and the kinds of value
    it takes ("str", "int", "float", "bool", "None", "scalar", or "list[KIND]")."""

    name: str
    default: Any
    kinds: tuple[str, ...]
    comment: str = ""

    def accepts(self, value: Any) -> bool:
        return any(_fits(kind, value) for kind in self.kinds)

    def describe(self) -> str:
        return " or ".join(_describe(kind) for kind in self.kinds)


_LIST_OF = {"float": "numbers", "int": "whole numbers", "str": "texts", "bool": "true/false values",
            "None": "nulls", "scalar": "plain values"}


def _describe(kind: str) -> str:
    if kind.startswith("list["):
        return f"a list of {_LIST_OF.get(kind[5:-1], 'plain values')}"
    return _DESCRIBE.get(kind, kind)


def _fits(kind: str, value: Any) -> bool:
    """Exact types only: a str subclass can override what papermill calls on it, and bool
    is an int to Python but not to a parameter that counts items."""
    if kind == "None":
        return value is None
    if kind == "str":
        return type(value) is str
    if kind == "int":
        return type(value) is int
    if kind == "float":
        return type(value) is int or (type(value) is float and math.isfinite(value))
    if kind == "bool":
        return type(value) is bool
    if kind == "scalar":
        return value is None or any(_fits(k, value) for k in ("str", "int", "float", "bool"))
    if kind.startswith("list["):
        inner = kind[5:-1]
        return type(value) is list and len(value) <= MAX_LIST and all(_fits(inner, v) for v in value)
    return False


def parameters(path: Path) -> dict[str, Parameter]:
    """The parameters cell of the notebook at `path`, read as Python (ast): each name, its
    literal default and the kinds it takes (annotation, else the default's type, else
    _NONE_DECLARED / text-or-None for a default of None)."""
    path = Path(path)
    st = path.stat()
    return dict(_parameters(str(path), st.st_mtime_ns, st.st_size))


@lru_cache(maxsize=8)
def _parameters(path: str, _mtime: int, _size: int) -> tuple[tuple[str, Parameter], ...]:
    source = _parameters_cell(Path(path))
    try:
        tree = ast.parse(source)
    except SyntaxError as exc:
        raise InputError(f"{path}: the parameters cell is not valid Python (line {exc.lineno})") from None
    declared = _NONE_DECLARED.get(Path(path).name, {})
    found = (_parameter_of(stmt, source.splitlines(), declared) for stmt in tree.body)
    return tuple((p.name, p) for p in found if p is not None)


def _parameter_of(stmt: ast.stmt, lines: list[str], declared: dict[str, str]) -> Parameter | None:
    """`name = literal` or `name: annotation = literal`; anything else is not a parameter
    (papermill could not read it either)."""
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        target, annotation = stmt.targets[0], None
    elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
        target, annotation = stmt.target, ast.unparse(stmt.annotation)
    else:
        return None
    if not isinstance(target, ast.Name):
        return None
    try:
        default = ast.literal_eval(stmt.value)
    except (ValueError, TypeError, SyntaxError, RecursionError):
        return None
    if annotation is None and default is None:
        annotation = declared.get(target.id, "str | None")
    kinds = _kinds_of_annotation(annotation) if annotation is not None else (_kind_of(default),)
    tail = lines[stmt.end_lineno - 1][stmt.end_col_offset:] if stmt.end_lineno and stmt.end_lineno <= len(lines) else ""
    return Parameter(target.id, default, kinds, tail.strip().removeprefix("#").strip())


def _parameters_cell(path: Path) -> str:
    """The source of the cell tagged `parameters`. Read as JSON, not through nbformat: the
    format of a cell is stable, and importing nbformat costs seconds that `cachecast report
    --help` (which lists the parameters) should not pay."""
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{path}: cannot read the notebook ({exc})") from None
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            source = cell.get("source", "")
            return "".join(source) if isinstance(source, list) else str(source)
    return ""


def _kind_of(default: Any) -> str:
    if isinstance(default, list):
        kinds = {_kind_of(v) for v in default}
        if kinds <= {"int", "float"} and kinds:
            return "list[float]" if "float" in kinds else "list[int]"
        return f"list[{kinds.pop()}]" if len(kinds) == 1 and not kinds & {"None"} else "list[scalar]"
    if default is None:
        return "None"
    name = type(default).__name__
    return name if name in ("str", "int", "float", "bool") else "scalar"


def _kinds_of_annotation(text: str) -> tuple[str, ...]:
    """"float | None", "Optional[int]", "list[float]" -> kinds; anything else -> plain literals."""
    text = text.replace(" ", "")
    if text.startswith("Optional[") and text.endswith("]"):
        text = f"{text[9:-1]}|None"
    kinds = []
    for part in text.split("|"):
        part = {"NoneType": "None", "List[float]": "list[float]", "List[int]": "list[int]",
                "List[str]": "list[str]"}.get(part, part)
        known = part in _DESCRIBE or (part.startswith("list[") and part[5:-1] in _DESCRIBE)
        kinds.append(part if known else "scalar")
    return tuple(dict.fromkeys(kinds))


def check_parameters(nb: Path, params: dict[str, Any]) -> dict[str, Any]:
    """`params` when every name is a parameter of `nb` and every value a plain literal of
    its declared kind; else InputError naming the parameter and what it takes."""
    known = parameters(nb)
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise InputError(f"{nb.name} has no parameter '{unknown[0]}'; it takes: {', '.join(known)}")
    for name, value in params.items():
        if not known[name].accepts(value):
            raise InputError(f"report parameter '{name}' takes {known[name].describe()}, got {shown_value(value)}")
    return dict(params)


def shown_value(value: Any) -> str:
    """A value as an error message shows it: short, and never via the value's own repr
    (a hostile object's __repr__ is code too)."""
    if type(value) is str:
        return json.dumps(value if len(value) <= 60 else value[:57] + "...")
    if type(value) in (int, bool) or value is None:
        text = json.dumps(value)
        return text if len(text) <= 60 else text[:57] + "..."
    if type(value) is float:
        return "NaN" if math.isnan(value) else "infinity" if math.isinf(value) else repr(value)
    if type(value) is list:
        return f"a list of {len(value)} values (lists take only text, numbers, true/false or null, of one kind)"
    return f"a value of type {type(value).__name__}"


def run_report(kind: Kind, params: dict[str, Any], out: Path, *, executed: Path | None = None) -> Path:
    """Execute the `kind` notebook with `params` and write the HTML report to `out`.

    Relative paths in params resolve against the current directory (the kernel runs there).
    `executed`, if given, keeps the executed .ipynb (outputs included) for inspection.
    Both it and the HTML hold no absolute path (cachecast.report.shareable).
    Everything that can be checked is checked before the kernel starts (~10 s)."""
    out = Path(out)
    _check_out(out)
    nb = notebook_path(kind)
    params = check_parameters(nb, params)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="cachecast-report-") as tmp:
        executed_nb = Path(tmp) / nb.name
        progress(f"executing {nb.name} (a Python kernel runs it; this takes several seconds)")
        _execute(nb, executed_nb, params)
        progress(f"exporting HTML ({time.monotonic() - started:.1f} s so far)")
        html = export_html(executed_nb)
        if executed is not None:
            shutil.copyfile(executed_nb, executed)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    partial.write_text(html, encoding="utf-8")
    partial.replace(out)
    progress(f"done in {time.monotonic() - started:.1f} s")
    return out


def progress(step: str) -> None:
    """One line on stderr per step of a report: executing takes 8-13 s, and a silent
    terminal looks hung. stdout stays for the result (`wrote FILE`)."""
    print(f"cachecast report: {step}", file=sys.stderr, flush=True)


def _check_out(out: Path) -> None:
    """--out must be a file path that can be written: not a directory, not under a regular
    file, not a name longer than the file system takes."""
    if out.is_dir():
        raise InputError(f"{out}: is a directory; --out takes the path of an .html file to write")
    if len(f".{out.name}.partial".encode()) > 255:
        raise InputError(f"{out.name[:40]}...: file name too long for --out (at most about 240 bytes)")
    for parent in out.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(f"{out}: {parent} is a file, not a directory")
            break


def _shareable(executed: Path, params: dict[str, Any]) -> None:
    import nbformat

    from .shareable import make_shareable

    nb = nbformat.read(str(executed), as_version=4)
    nbformat.write(make_shareable(nb, params), str(executed))


def _ipc_kernel_manager():
    """Kernel over local IPC sockets rather than TCP on 127.0.0.1: nothing listens on a
    port, and ipykernel has no reason to warn about unencrypted TCP on stderr.

    Shut down without the interrupt jupyter_client sends first: after the last cell the
    kernel is idle, and the SIGINT only raced its message handler, which then logged
    `[IPKernelApp] ERROR | KeyboardInterrupt caught in kernel` in a run that succeeded. The
    shutdown request alone stops it (and a kernel that ignores it is killed after 1 s)."""
    from jupyter_client.manager import AsyncKernelManager

    class IpcKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            kwargs.setdefault("transport", "ipc")
            super().__init__(**kwargs)

        async def _async_interrupt_kernel(self) -> None:
            if self.shutting_down:
                return
            await super()._async_interrupt_kernel()

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
        from ..store import damage_sentence

        damaged = damage_sentence(" ".join(message), params.get("db_path"))  # in the kernel, at open or in a query
        if damaged:
            raise InputError(damaged) from None
        raise CachecastError(
            f"notebook {nb.name} failed in cell {exc.exec_count}: {exc.ename}: {message[0] if message else ''}"
        ) from None
    _shareable(executed, params)


def export_html(executed: Path) -> str:
    """nbconvert HTML (lab look) without code cells, prompts, CDN scripts or MathJax; the
    vega bundle is inlined once, and only when some output is a chart."""
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
    nb = nbformat.read(str(executed), as_version=4)
    charts = any("application/vnd.vegalite.v5+json" in o.get("data", {})
                 for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", []))
    resources = {"cachecast_vega_js": _vega_js()} if charts else {}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    return body


def _vega_js() -> str:
    from .charts import bundle_js

    return bundle_js()
