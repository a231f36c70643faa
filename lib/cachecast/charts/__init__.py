"""Show Altair charts so that a notebook exported to HTML renders them with no network.

Altair's default renderer loads vega, vega-lite and vega-embed from a CDN, so a report
opened offline (or archived for years) shows empty boxes. `show` instead inlines the
JavaScript bundle from vl-convert ONCE per kernel (the first chart shown), and every chart
after that is a small <div> plus a script that calls the global `vegaEmbed`.

Data in a spec is JSON that ends up inside a <script> element: a custom_id or treatment
name containing "</script>" would end the element early and run whatever follows. So the
spec JSON is escaped (`<`, `>`, `&`, U+2028, U+2029 as \\uXXXX), which JSON and JavaScript
both read back as the same characters.

Chart builders (charts/projection.py, charts/audit.py) are pure functions of DataFrames.
"""
from __future__ import annotations

import json
import uuid
from functools import lru_cache
from typing import Any

_state = {"bundle_shown": False}

EMBED_OPTIONS = {"actions": False, "renderer": "svg"}  # actions link to the online editor

_ESCAPES = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def script_json(value: Any) -> str:
    """JSON that is safe to place inside a <script> element."""
    text = json.dumps(value, ensure_ascii=False, sort_keys=False)
    for char, escape in _ESCAPES.items():
        text = text.replace(char, escape)
    return text


@lru_cache(maxsize=1)
def bundle_js() -> str:
    """vega + vega-lite + vega-embed as one script (about 900 KB), assigning window.vegaEmbed."""
    import vl_convert

    return vl_convert.javascript_bundle()


def bundle_html() -> str:
    return f'<script type="text/javascript">\n{bundle_js()}\n</script>'


def chart_html(chart: Any, *, include_bundle: bool = False) -> str:
    """The HTML for one chart: a div and the script that embeds the (escaped) spec."""
    spec = chart.to_dict() if hasattr(chart, "to_dict") else chart
    div = f"cachecast-chart-{uuid.uuid4().hex[:12]}"
    script = (
        f'<div id="{div}" class="cachecast-chart"></div>\n'
        '<script type="text/javascript">\n'
        "(function () {\n"
        f"  var el = document.getElementById('{div}');\n"
        "  if (typeof window.vegaEmbed !== 'function') {\n"
        "    el.textContent = 'Chart library not loaded: re-run the notebook from the top.';\n"
        "    return;\n"
        "  }\n"
        f"  window.vegaEmbed(el, {script_json(spec)}, {script_json(EMBED_OPTIONS)})"
        ".catch(function (err) { el.textContent = 'Chart failed: ' + err; });\n"
        "})();\n"
        "</script>"
    )
    return (bundle_html() + "\n" + script) if include_bundle else script


def show(chart: Any) -> None:
    """Display `chart` in the running notebook (inlining the JS bundle the first time)."""
    from IPython.display import HTML, display

    include = not _state["bundle_shown"]
    display(HTML(chart_html(chart, include_bundle=include)))
    _state["bundle_shown"] = True


def table_html(df: Any, formats: dict[str, str] | None = None) -> str:
    """A DataFrame as an HTML table with every cell escaped (custom ids and treatment names
    are data, not markup). `formats` maps column -> format spec, e.g. {"total $": ",.2f"}."""
    import html

    formats = formats or {}
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    rows = []
    for record in df.itertuples(index=False):
        cells = []
        for col, value in zip(df.columns, record):
            spec = formats.get(col)
            text = format(value, spec) if spec and isinstance(value, (int, float)) else ("" if value is None else str(value))
            align = ' style="text-align:right"' if isinstance(value, (int, float)) else ""
            cells.append(f"<td{align}>{html.escape(text)}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="cachecast-table"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def show_table(df: Any, formats: dict[str, str] | None = None) -> None:
    from IPython.display import HTML, display

    display(HTML(table_html(df, formats)))


def show_text(*paragraphs: str) -> None:
    """Plain sentences (escaped) as HTML paragraphs."""
    import html

    from IPython.display import HTML, display

    display(HTML("".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)))


def reset() -> None:
    """Forget that the bundle was shown (e.g. after clearing all outputs in JupyterLab)."""
    _state["bundle_shown"] = False
