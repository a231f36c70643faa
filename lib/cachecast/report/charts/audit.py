"""Audit charts: pure functions DataFrame -> Altair chart (frames from cachecast.audit).

Colours come from cachecast.report.charts.PALETTE (the projection report uses the same ones); a
legend lists only the components the batch has (thinking and web search only when billed).
With more than one batch the hit-rate chart gets one column per batch. Display them with
cachecast.report.charts.show (spec + static SVG)."""
from __future__ import annotations

import altair as alt
import pandas as pd

from . import COMPONENTS, PALETTE, color

COMPONENT_COLORS = [PALETTE[c] for c in COMPONENTS]
USD = alt.Axis(format="$,.2f", tickCount=5)


def _spent(df: pd.DataFrame, key: str, value: str) -> pd.DataFrame:
    """Rows of the `key` series that are nonzero somewhere (zero series would crowd the legend)."""
    if not len(df):
        return df
    keep = df.groupby(key)[value].transform(lambda v: (v.abs() > 0).any())
    return df[keep].reset_index(drop=True)


def cost_components(df: pd.DataFrame) -> alt.Chart:
    """Stacked bars: the actual cost and the no-cache cost split by component (output is the
    answer; thinking, billed as output, is its own component).
    Columns: scenario ('actual' | 'no cache'), component, usd (audit.cost_components)."""
    df = _spent(df, "component", "usd")
    small = len(df) and float(df.groupby("scenario")["usd"].sum().max()) < 1
    return alt.Chart(df).mark_bar().encode(
        y=alt.Y("scenario:N", sort=["actual", "no cache"], title=None),
        x=alt.X("sum(usd):Q", title="cost (USD)", axis=alt.Axis(format="$,.4~f" if small else "$,.2f", tickCount=5)),
        color=color("component:N", df["component"], title="component", order=COMPONENTS),
        order=alt.Order("component_rank:Q"),
        tooltip=["scenario:N", "component:N", alt.Tooltip("usd:Q", format="$,.4f")],
    ).transform_calculate(
        component_rank=f"indexof({COMPONENTS!r}, datum.component)"
    ).properties(width=560, height=alt.Step(36), title="Cost by component: actual vs without caching")


def hit_rate_over_order(df: pd.DataFrame) -> alt.Chart:
    """Token and request hit rate per slice of request order: results-file order (which the
    API does not promise to be completion order) and, where the frame has it, submission
    order (the manifest's rows), one panel each; with several batches, one row per batch.
    Columns: batch_id, slice, first_request, last_request, requests, token_hit_rate,
    request_hit_rate, and optionally order (audit_view.AuditView.hit_rate)."""
    if "order" not in df:
        df = df.assign(order="results-file order")
    long = df.melt(id_vars=["batch_id", "order", "slice", "first_request", "last_request", "requests"],
                   value_vars=["token_hit_rate", "request_hit_rate"], var_name="measure", value_name="rate")
    long["measure"] = long["measure"].map({"token_hit_rate": "prompt tokens from cache",
                                           "request_hit_rate": "requests reading the cache"})
    orders = list(dict.fromkeys(long["order"]))
    x_title = f"request number in {orders[0]}" if len(orders) == 1 else "request number in that order"
    line = alt.Chart(long).mark_line(point=True).encode(
        x=alt.X("first_request:Q", title=x_title),
        y=alt.Y("rate:Q", title="hit rate", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        color=color("measure:N", long["measure"], title=None),
        tooltip=["batch_id:N", "order:N", "measure:N", "first_request:Q", "last_request:Q", "requests:Q",
                 alt.Tooltip("rate:Q", format=".1%")],
    )
    title = (f"Cache hit rate in {orders[0]}" if len(orders) == 1
             else "Cache hit rate in results-file order and in submission order")
    batches = long["batch_id"].nunique()
    if len(orders) == 1 and batches <= 1:
        return line.properties(width=560, height=260, title=title)
    if len(orders) == 1:  # one column per batch: overlaid lines of several batches are unreadable
        width = max(180, 560 // min(batches, 3))
        return line.properties(width=width, height=220).facet(
            facet=alt.Facet("batch_id:N", title="batch"), columns=3).properties(title=title)
    facet = {"column": alt.Column("order:N", title=None, sort=orders)}
    if batches > 1:
        facet["row"] = alt.Row("batch_id:N", title="batch")
    return line.properties(width=400, height=220).facet(**facet).properties(title=title)


def tokens_by_type(df: pd.DataFrame) -> alt.Chart:
    """Stacked bars of tokens per treatment by kind. Columns: treatment, kind, tokens
    (audit.tokens_by_type)."""
    df = _spent(df, "kind", "tokens")
    return alt.Chart(df).mark_bar().encode(
        y=alt.Y("treatment:N", title=None),
        x=alt.X("sum(tokens):Q", title="tokens", axis=alt.Axis(format=",.0f")),
        color=color("kind:N", df["kind"], title="tokens", order=COMPONENTS),
        order=alt.Order("kind_rank:Q"),
        tooltip=["treatment:N", "kind:N", alt.Tooltip("tokens:Q", format=",.0f")],
    ).transform_calculate(
        kind_rank=f"indexof({COMPONENTS!r}, datum.kind)"
    ).properties(width=560, height=alt.Step(28), title="Tokens by type per treatment")
