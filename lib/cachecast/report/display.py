"""What report notebooks display: text, tables and banners that read the same everywhere.

Why not plain IPython.display.HTML: JupyterLab runs MathJax over every HTML and markdown
output, so "cost $1.20 ... saved $0.40" became typeset math with the words run together.
Every object here therefore

* escapes data (html.escape) and then writes `$` as `&#36;`, so no `$` reaches the page
  as markup text that an exporter or a markdown pass could read as a math delimiter;
* wraps its HTML in a container with the classes MathJax 2 and 3 skip
  (`tex2jax_ignore mathjax_ignore`): the entity is decoded to `$` in the DOM, and the
  class is what stops Lab's typesetter from looking at it;
* carries text/plain beside text/html, which no front end typesets.

Money has one format: `money(x)` with 2 decimals for totals and tables, more places only
where a cent matters (per-request costs). Empty tables say "none" instead of showing only
headers.
"""
from __future__ import annotations

import html as _html
import math
import numbers
import re
from datetime import datetime
from decimal import Decimal
from typing import Any, Iterable, Mapping

RIGHT = ' style="text-align:right;white-space:nowrap"'  # numbers and money never break over two lines
LEFT = ' style="text-align:left"'
LEFT_NOWRAP = ' style="text-align:left;white-space:nowrap"'
SHORT = 24  # text cells up to this long (model ids, custom ids, dates) stay on one line
NUMBER_TEXT = re.compile(r"[+-]?\$?[\d,]+(\.\d+)?( ?%| pp)?")  # a number already formatted: right-aligned
NO_MATH = "cachecast-output tex2jax_ignore mathjax_ignore"
STYLE = ("<style>.cachecast-output table.cachecast-table{border-collapse:collapse;margin:4px 0 10px}"
         ".cachecast-output .cachecast-table th,.cachecast-output .cachecast-table td{padding:3px 10px;"
         "border-bottom:1px solid #ddd}.cachecast-output .cachecast-table th{text-align:left}"
         ".cachecast-banner{background:#fff3cd;color:#5c4400;border:2px solid #d4a017;padding:8px 12px;"
         "font-weight:bold;font-size:1.1em;margin:6px 0}</style>")


def escape(value: Any) -> str:
    """Text as HTML element content that shows exactly as written: <, >, & escaped, `$` as
    an entity. Not for attribute values (quotes are left as they are)."""
    return _html.escape("" if value is None else str(value), quote=False).replace("$", "&#36;")


def money(value: Decimal | float | int | None, places: int = 2) -> str:
    """Dollars with thousands separators and `places` decimals: "$1,234.50", "-$0.40"."""
    if value is None:
        return ""
    number = float(value)
    if math.isnan(number):
        return ""
    sign = "-" if number < 0 and round(abs(number), places) != 0 else ""
    return f"{sign}${abs(number):,.{places}f}"


class Html:
    """A display object: `html` (already escaped) as text/html, `plain` as text/plain."""

    def __init__(self, html: str, plain: str = "") -> None:
        self.html = html
        self.plain = plain

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict[str, str]:
        return {"text/html": f'<div class="{NO_MATH}">{STYLE}{self.html}</div>', "text/plain": self.plain}

    def __repr__(self) -> str:
        return self.plain

    def __add__(self, other: "Html") -> "Html":
        return Html(self.html + other.html, "\n".join(p for p in (self.plain, other.plain) if p))


def text(*paragraphs: str, strong: bool = False) -> Html:
    """Sentences as escaped paragraphs (never typeset, never markup)."""
    tag = ("<p><strong>", "</strong></p>") if strong else ("<p>", "</p>")
    return Html("".join(f"{tag[0]}{escape(p)}{tag[1]}" for p in paragraphs if p), "\n".join(paragraphs))


def banner(message: str) -> Html:
    """A message nobody scrolls past (e.g. SIMULATED DATA)."""
    return Html(f'<div class="cachecast-banner" role="alert">{escape(message)}</div>', message)


def cell(value: Any, spec: str | None = None) -> str:
    """One table value as text: `spec` is a format spec ("$" for money, "$4" for money with 4
    decimals, ".1%", ",d", ...); None and NaN are empty; bools read yes/no."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool) or type(value).__name__ == "bool_":
        return "yes" if value else "no"
    if spec and spec.startswith("$") and isinstance(value, (numbers.Real, Decimal)):
        return money(value, int(spec[1:] or 2))
    if spec and isinstance(value, (numbers.Real, Decimal)):
        return format(int(value) if spec.endswith("d") else float(value), spec)
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, datetime):  # pandas Timestamps too; to the minute, as a reader needs it
        return f"{value:%Y-%m-%d %H:%M}"
    return str(value)


def table(df: Any, formats: Mapping[str, str] | None = None, *, columns: Iterable[str] | None = None,
          labels: Mapping[str, str] | None = None, empty: str = "none", caption: str | None = None) -> Html:
    """A DataFrame as an escaped HTML table. `formats` maps column -> spec (see `cell`);
    `labels` renames headers for readers; an empty frame shows `empty` instead of bare headers."""
    formats, labels = dict(formats or {}), dict(labels or {})
    frame = df[list(columns)] if columns is not None else df
    cap = f"<caption style='text-align:left;font-weight:bold'>{escape(caption)}</caption>" if caption else ""
    if len(frame) == 0:
        return Html(f"{'<p><strong>' + escape(caption) + '</strong></p>' if caption else ''}"
                    f"<p class='cachecast-empty'><em>{escape(empty)}</em></p>",
                    f"{caption + ': ' if caption else ''}{empty}")
    heads = [labels.get(c, c) for c in frame.columns]
    head = "".join(f"<th{LEFT}>{escape(h)}</th>" for h in heads)
    rows, plain = [], ["\t".join(map(str, heads))]
    for record in frame.itertuples(index=False):
        cells, texts = [], []
        for col, value in zip(frame.columns, record):
            shown = cell(value, formats.get(col))
            numeric = (isinstance(value, (numbers.Real, Decimal)) and not isinstance(value, bool)
                       or isinstance(value, str) and NUMBER_TEXT.fullmatch(value) is not None)
            align = RIGHT if numeric else LEFT_NOWRAP if len(shown) <= SHORT else LEFT
            cells.append(f"<td{align}>{escape(shown)}</td>")
            texts.append(shown)
        rows.append("<tr>" + "".join(cells) + "</tr>")
        plain.append("\t".join(texts))
    return Html(f'<table class="cachecast-table">{cap}<thead><tr>{head}</tr></thead><tbody>{"".join(rows)}'
                "</tbody></table>", "\n".join(plain))


def show(*objects: Html) -> None:
    """Display each object in the running notebook."""
    from IPython.display import display

    display(*objects)
