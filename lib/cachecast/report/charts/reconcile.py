"""Reconcile chart: a pure function DataFrame -> Altair chart (frame from
cachecast.analyse.reconcile_store.ReconcileView.days).

billed_vs_audited: per UTC day, what Anthropic's cost report billed beside what the store
audited, as paired bars; a day with flagged cells gets a red mark above its bars, so a
difference that is small in dollars but beyond the tolerance is still seen.
"""
from __future__ import annotations

import altair as alt
import pandas as pd

from . import BACKGROUND

SERIES_COLORS = {"billed (Anthropic)": "#4c78a8", "audited (cachecast)": "#f58518"}


def billed_vs_audited(df: pd.DataFrame) -> alt.LayerChart:
    """Columns: day (YYYY-MM-DD), series ('billed (Anthropic)' | 'audited (cachecast)'), usd,
    flagged (cells flagged that day)."""
    series = [s for s in SERIES_COLORS if s in set(df["series"])] or list(SERIES_COLORS)
    x = alt.X("day:O", title="day (UTC)", axis=alt.Axis(labelAngle=-45))
    bars = alt.Chart(df).mark_bar().encode(
        x=x, xOffset=alt.XOffset("series:N", sort=series),
        y=alt.Y("usd:Q", title="cost (USD)", axis=alt.Axis(format="$,.2f")),
        color=alt.Color("series:N", scale=alt.Scale(domain=series, range=[SERIES_COLORS[s] for s in series]),
                        sort=series, title=None),
        tooltip=["day:O", "series:N", alt.Tooltip("usd:Q", format="$,.6f"), alt.Tooltip("flagged:Q", title="flagged cells")],
    )
    flagged = df[df["flagged"] > 0].groupby("day", as_index=False).agg(usd=("usd", "max"), flagged=("flagged", "max"))
    layers = [bars]
    if len(flagged):
        layers.append(alt.Chart(flagged).mark_point(shape="triangle-down", color="#d62728", size=90, filled=True,
                                                    yOffset=-8).encode(
            x=x, y="usd:Q", tooltip=["day:O", alt.Tooltip("flagged:Q", title="flagged cells")]))
    return alt.layer(*layers).properties(
        width=max(320, 28 * df["day"].nunique()), height=280,
        title="Billed by Anthropic against audited by cachecast, per day (red: cells beyond the tolerance)",
    ).properties(background=BACKGROUND)
