"""Audit charts: pure functions DataFrame -> Altair chart (frames from cachecast.audit).

Display them with cachecast.charts.show so the exported HTML needs no network."""
from __future__ import annotations

import altair as alt
import pandas as pd

COMPONENTS = ["uncached input", "cache write 5m", "cache write 1h", "cache read", "output"]
COMPONENT_COLORS = ["#7f7f7f", "#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd"]
USD = alt.Axis(format="$,.4~f", tickCount=5)


def cost_components(df: pd.DataFrame) -> alt.Chart:
    """Stacked bars: the actual cost and the no-cache cost split by component.
    Columns: scenario ('actual' | 'no cache'), component, usd (audit.cost_components)."""
    return alt.Chart(df).mark_bar().encode(
        y=alt.Y("scenario:N", sort=["actual", "no cache"], title=None),
        x=alt.X("sum(usd):Q", title="cost (USD)", axis=USD),
        color=alt.Color("component:N", sort=COMPONENTS,
                        scale=alt.Scale(domain=COMPONENTS, range=COMPONENT_COLORS), title="component"),
        order=alt.Order("component_rank:Q"),
        tooltip=["scenario:N", "component:N", alt.Tooltip("usd:Q", format="$,.6f")],
    ).transform_calculate(
        component_rank=f"indexof({COMPONENTS!r}, datum.component)"
    ).properties(width=560, height=alt.Step(36), title="Cost by component: actual vs without caching")


def hit_rate_over_order(df: pd.DataFrame) -> alt.LayerChart:
    """Token and request hit rate per slice of completion order, one line pair per batch.
    Columns: batch_id, slice, first_request, last_request, requests, token_hit_rate,
    request_hit_rate (audit.hit_rate_over_order)."""
    long = df.melt(id_vars=["batch_id", "slice", "first_request", "last_request", "requests"],
                   value_vars=["token_hit_rate", "request_hit_rate"], var_name="measure", value_name="rate")
    long["measure"] = long["measure"].map({"token_hit_rate": "prompt tokens from cache",
                                           "request_hit_rate": "requests reading the cache"})
    line = alt.Chart(long).mark_line(point=True).encode(
        x=alt.X("first_request:Q", title="completion order (request number, results-file order)"),
        y=alt.Y("rate:Q", title="hit rate", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("measure:N", title=None),
        strokeDash=alt.StrokeDash("batch_id:N", title="batch"),
        tooltip=["batch_id:N", "measure:N", "first_request:Q", "last_request:Q", "requests:Q",
                 alt.Tooltip("rate:Q", format=".1%")],
    )
    return alt.layer(line).properties(width=560, height=260, title="Cache hit rate over completion order")


def tokens_by_type(df: pd.DataFrame) -> alt.Chart:
    """Stacked bars of tokens per treatment by kind. Columns: treatment, kind, tokens
    (audit.tokens_by_type)."""
    return alt.Chart(df).mark_bar().encode(
        y=alt.Y("treatment:N", title=None),
        x=alt.X("sum(tokens):Q", title="tokens", axis=alt.Axis(format=",.0f")),
        color=alt.Color("kind:N", sort=COMPONENTS, scale=alt.Scale(domain=COMPONENTS, range=COMPONENT_COLORS),
                        title="tokens"),
        order=alt.Order("kind_rank:Q"),
        tooltip=["treatment:N", "kind:N", alt.Tooltip("tokens:Q", format=",.0f")],
    ).transform_calculate(
        kind_rank=f"indexof({COMPONENTS!r}, datum.kind)"
    ).properties(width=560, height=alt.Step(28), title="Tokens by type per treatment")
