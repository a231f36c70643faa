"""Run ledger charts: pure functions DataFrame -> Altair chart (frames from cachecast.ledger).

burn_down: cumulative spend after each batch against the budget line, with the forecast at
completion and its low-high range. trend: token hit rate and cost per succeeded request
across the run's batches. A legend lists only the series present (no budget line when the
run has no budget, no forecast when nothing is left); every chart has a white background.
"""
from __future__ import annotations

import altair as alt
import pandas as pd

from . import BACKGROUND, color

SERIES_COLORS = {"spent": "#4c78a8", "forecast": "#f58518", "forecast low": "#54a24b", "forecast high": "#e45756",
                 "budget": "#333333"}
SERIES = list(SERIES_COLORS)


def _color(values) -> alt.Color:
    present = [s for s in SERIES if s in set(values)]
    return alt.Color("series:N", scale=alt.Scale(domain=present, range=[SERIES_COLORS[s] for s in present]),
                     sort=present, title=None)


def burn_down(df: pd.DataFrame, budget_usd: float | None = None) -> alt.LayerChart:
    """Cumulative spend (x: requests succeeded so far) against the budget, and dashed lines from
    now to completion: the forecast and its low and high ends, the range shaded between them.
    Columns: requests_done, usd, series ('spent' | 'forecast' | 'forecast low' | 'forecast high'),
    label (ledger.burn_down_frame)."""
    data = df.copy()
    end = float(data["requests_done"].max() or 1)
    if budget_usd is not None:
        data = pd.concat([data, pd.DataFrame([{"requests_done": 0, "usd": float(budget_usd), "series": "budget",
                                               "label": "budget"},
                                              {"requests_done": end, "usd": float(budget_usd), "series": "budget",
                                               "label": "budget"}])], ignore_index=True)
    x = alt.X("requests_done:Q", title="requests succeeded (planned at the right end)")
    y = alt.Y("usd:Q", title="cumulative spend (USD)", axis=alt.Axis(format="$,.2f", tickCount=6))
    tooltip = ["series:N", "label:N", alt.Tooltip("requests_done:Q", format=","), alt.Tooltip("usd:Q", format="$,.4f")]
    base = alt.Chart(data)
    layers = []
    low, high = data[data["series"] == "forecast low"], data[data["series"] == "forecast high"]
    if len(low) and len(high):
        band = low[["requests_done", "usd"]].rename(columns={"usd": "low"}).merge(
            high[["requests_done", "usd"]].rename(columns={"usd": "high"}), on="requests_done")
        layers.append(alt.Chart(band).mark_area(opacity=0.15, color=SERIES_COLORS["forecast"]).encode(
            x=x, y="low:Q", y2="high:Q"))
    layers.append(base.transform_filter(alt.datum.series == "spent").mark_line(point=True).encode(
        x=x, y=y, color=_color(data["series"]), tooltip=tooltip))
    dashed = data[data["series"].isin(["forecast", "forecast low", "forecast high", "budget"])]
    if len(dashed):
        layers.append(alt.Chart(dashed).mark_line(strokeDash=[6, 4]).encode(
            x=x, y=y, color=_color(data["series"]), detail="series:N", tooltip=tooltip))
    return alt.layer(*layers).properties(
        width=560, height=300, title="Burn-down: cumulative spend against the budget, forecast to completion"
    ).properties(background=BACKGROUND)


def trend(df: pd.DataFrame) -> alt.HConcatChart:
    """Per batch, in order: prompt tokens from cache (left) and cost per succeeded request
    (right). Columns: order, batch_id, measure, value (ledger.trend_frame)."""
    hits = df[df["measure"] == "prompt tokens from cache"]
    costs = df[df["measure"] == "cost per succeeded request"]
    x = alt.X("order:O", title="batch (in creation order)", axis=alt.Axis(labelAngle=0))
    tooltip = ["batch_id:N", "measure:N"]
    left = alt.Chart(hits).mark_line(point=True).encode(
        x=x, y=alt.Y("value:Q", title="token hit rate", axis=alt.Axis(format="%"), scale=alt.Scale(domain=[0, 1])),
        color=color("measure:N", hits["measure"], title=None, legend=None),  # one series: the title says it
        tooltip=[*tooltip, alt.Tooltip("value:Q", format=".1%")],
    ).properties(width=260, height=220, title="Hit rate across batches")
    right = alt.Chart(costs).mark_line(point=True, color="#9467bd").encode(
        x=x, y=alt.Y("value:Q", title="cost per succeeded request (USD)", axis=alt.Axis(format="$,.4f")),
        tooltip=[*tooltip, alt.Tooltip("value:Q", format="$,.6f")],
    ).properties(width=260, height=220, title="Cost per succeeded request across batches")
    return alt.hconcat(left, right).properties(background=BACKGROUND)
