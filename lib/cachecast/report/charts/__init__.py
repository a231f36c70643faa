"""Show Altair charts so that every front end shows them: JupyterLab (trusted or not),
GitHub's notebook preview, and the exported HTML report opened offline years later.

A chart output is a mimebundle (`ChartOutput`): the Vega-Lite spec
(application/vnd.vegalite.v5+json, which JupyterLab's built-in Vega renderer draws even in
an untrusted, papermill-executed notebook, as SVG), a static SVG rendered by vl-convert
(image/svg+xml, what GitHub and nbconvert show), and a line of text/plain. No text/html:
Lab prefers HTML to Vega, and strips the scripts of untrusted HTML, which left blank chart
cells. The HTML report (cachecast.report.reports) turns the spec back into an interactive chart,
with the vega JavaScript inlined once and the static SVG as the fallback.

One visual language across reports: `PALETTE` gives every cost component, caching option
and measure one colour in every chart of every report, `color` builds a scale whose legend
lists only the series present, and every spec gets a white background (dark themes).

Data in a spec is JSON that ends up inside a <script> element: a custom_id or treatment
name containing "</script>" would end the element early and run whatever follows. So the
spec JSON is escaped (`<`, `>`, `&`, U+2028, U+2029 as \\uXXXX), which JSON and JavaScript
both read back as the same characters.

Chart builders (charts/projection.py, charts/audit.py) are pure functions of DataFrames.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any


# One colour per series, in every chart of every report. A TTL keeps its hue: 5m is blue and
# 1h orange whether it is a cache write (component) or a caching option (line, bar).
PALETTE: dict[str, str] = {
    # cost components (audit names; charts/projection.py maps its own labels onto these)
    "uncached input": "#7f7f7f",
    "cache write 5m": "#1f77b4",
    "cache write 1h": "#ff7f0e",
    "cache read": "#2ca02c",
    "output": "#9467bd",
    "thinking": "#e377c2",
    "web search": "#8c564b",
    "web fetch": "#c49c94",
    "server-side turns (advisor, compaction)": "#bcbd22",  # analyse.audit.SERVER_TURNS
    # caching options
    "no cache": "#7f7f7f",
    "cache 5m": "#1f77b4",
    "cache 1h": "#ff7f0e",
    "5m": "#1f77b4",
    "1h": "#ff7f0e",
    # measures
    "prompt tokens from cache": "#2ca02c",
    "requests reading the cache": "#17becf",
}
COMPONENTS = ["uncached input", "cache write 5m", "cache write 1h", "cache read", "output", "thinking",
              "server-side turns (advisor, compaction)", "web search", "web fetch"]
BATCH_COLORS = ["#4c78a8", "#f58518", "#54a24b", "#b279a2", "#9d755d", "#e45756", "#72b7b2", "#eeca3b"]
BACKGROUND = "white"
VEGALITE_MIME = "application/vnd.vegalite.v5+json"
VEGALITE5_SCHEMA = "https://vega.github.io/schema/vega-lite/v5.json"


def present(values: Any, order: list[str] | None = None) -> list[str]:
    """The distinct values in `values`, in `order` (PALETTE's by default), unknown ones last."""
    seen = list(dict.fromkeys(str(v) for v in values))
    order = order or list(PALETTE)
    return sorted(seen, key=lambda v: (order.index(v) if v in order else len(order), seen.index(v)))


def color(field: str, values: Any, *, title: str | None = None, order: list[str] | None = None, **kwargs: Any):
    """An Altair colour channel whose legend lists only the series present in `values`, each
    in its PALETTE colour."""
    import altair as alt

    domain = present(values, order)
    spare = iter(BATCH_COLORS)
    colours = [PALETTE.get(v) or next(spare, "#333333") for v in domain]
    return alt.Color(field, scale=alt.Scale(domain=domain, range=colours), sort=domain, title=title, **kwargs)


def spec_of(chart: Any) -> dict:
    """The chart's Vega-Lite spec with the report's background set explicitly."""
    spec = chart.to_dict() if hasattr(chart, "to_dict") else dict(chart)
    spec.setdefault("background", BACKGROUND)
    return spec


def static_svg(spec: dict) -> str:
    """The chart as SVG, rendered by vl-convert (no browser, no network)."""
    import vl_convert

    return vl_convert.vegalite_to_svg(spec)


class ChartOutput:
    """A chart as a mimebundle: Vega-Lite spec + static SVG + text (see the module doc)."""

    def __init__(self, chart: Any) -> None:
        self.spec = spec_of(chart)
        self.svg = static_svg(self.spec)

    def _repr_mimebundle_(self, include=None, exclude=None):
        lab_spec = {**self.spec, "$schema": VEGALITE5_SCHEMA}  # Lab 4 knows the v5 mimetype only
        title = self.spec.get("title")
        title = title.get("text") if isinstance(title, dict) else title
        data = {VEGALITE_MIME: lab_spec, "image/svg+xml": self.svg, "text/plain": f"<chart: {title or 'untitled'}>"}
        return data, {VEGALITE_MIME: {"embed_options": EMBED_OPTIONS}}

EMBED_OPTIONS = {"actions": False, "renderer": "svg"}  # actions link to the online editor

@lru_cache(maxsize=1)
def bundle_js() -> str:
    """vega + vega-lite + vega-embed as one script (about 900 KB), assigning window.vegaEmbed."""
    import vl_convert

    return vl_convert.javascript_bundle()


def show(chart: Any) -> None:
    """Display `chart` in the running notebook as a ChartOutput mimebundle."""
    from IPython.display import display

    display(ChartOutput(chart))
