"""Projection charts: pure functions DataFrame -> Altair chart (frames from projection_report).

Colours come from cachecast.report.charts.PALETTE (the audit report uses the same ones), and each
legend lists only the series the data has: a 5m-only run shows no "cache 1h". Display
them with cachecast.report.charts.show (spec + static SVG)."""
from __future__ import annotations

import altair as alt
import pandas as pd

from . import COMPONENTS, PALETTE, color

COMPONENT_ORDER = COMPONENTS
OPTION_COLORS = {k: PALETTE[k] for k in ("no cache", "cache 5m", "cache 1h")}
USD = alt.Axis(format="$,.2f")
# projection_report's labels -> the component names both reports' legends use
_SAME_AS_AUDIT = {"cache reads": "cache read", "output (answer)": "output"}


def audit_components(df: pd.DataFrame) -> pd.DataFrame:
    """components_frame with the audit report's component names (writes split by TTL), and
    without components that cost nothing anywhere (they would only crowd the legend)."""
    df = df.copy()
    writes = df["component"] == "cache writes"
    df.loc[writes, "component"] = "cache write " + df.loc[writes, "ttl"].astype(str)
    df["component"] = df["component"].replace(_SAME_AS_AUDIT)
    spent = df.groupby("component")["usd"].transform(lambda v: (v.abs() > 0).any())
    return df[spent].reset_index(drop=True)


def cost_components(df: pd.DataFrame) -> alt.FacetChart:
    """Stacked bars: each scenario's cost split into uncached input, writes, reads, the answer
    and thinking (billed as output, shown apart). Columns: run, scenario, order, component, usd."""
    df = audit_components(df)
    base = alt.Chart(df).mark_bar().encode(
        y=alt.Y("scenario:N", sort=alt.EncodingSortField("order"), title=None),
        x=alt.X("sum(usd):Q", title="cost (USD)", axis=USD),
        color=color("component:N", df["component"], title="component", order=COMPONENT_ORDER),
        order=alt.Order("component_rank:Q"),
        tooltip=["run:N", "scenario:N", "component:N", alt.Tooltip("usd:Q", format="$,.2f")],
    ).transform_calculate(
        component_rank=f"indexof({COMPONENT_ORDER!r}, datum.component)"
    ).properties(width=520, height=alt.Step(22))
    return base.facet(row=alt.Row("run:N", title=None, sort=["pilot", "full run"])).resolve_scale(x="independent") \
        .properties(title="Cost by component")


def sensitivity(curve: pd.DataFrame, break_even: pd.DataFrame, budget_usd: float | None,
                title: str = "Total cost against cache hit rate") -> alt.LayerChart:
    """Cost lines for no cache / 5m / 1h against hit rate, break-even points, budget line.
    curve: option, hit_rate, usd; break_even: option, hit_rate, usd, label."""
    color_ = color("option:N", curve["option"], title=None)
    lines = alt.Chart(curve).mark_line().encode(
        x=alt.X("hit_rate:Q", title="hit rate (share of requests reading the cache)", axis=alt.Axis(format="%")),
        y=alt.Y("usd:Q", title="total cost (USD)", axis=USD),
        color=color_,
        tooltip=["option:N", alt.Tooltip("hit_rate:Q", format=".0%"), alt.Tooltip("usd:Q", format="$,.2f")],
    )
    layers: list[alt.Chart] = [lines]
    if len(break_even):
        points = alt.Chart(break_even).mark_point(filled=True, size=90, shape="diamond").encode(
            x="hit_rate:Q", y="usd:Q", color=color_, tooltip=["label:N"])
        rules = alt.Chart(break_even).mark_rule(strokeDash=[2, 3]).encode(x="hit_rate:Q", color=color_)
        labels = alt.Chart(break_even).mark_text(align="left", dx=6, dy=-8).encode(
            x="hit_rate:Q", y="usd:Q", text="label:N")
        layers += [rules, points, labels]
    subtitle = []
    top = float(curve["usd"].max()) if len(curve) else 0.0
    if budget_usd is not None and budget_usd <= 1.5 * top:
        budget = pd.DataFrame([{"usd": budget_usd, "label": f"budget ${budget_usd:,.2f}"}])
        layers.append(alt.Chart(budget).mark_rule(color="#d62728", strokeWidth=2).encode(y="usd:Q"))
        layers.append(alt.Chart(budget).mark_text(align="left", x=4, dy=-6, color="#d62728").encode(
            y="usd:Q", text="label:N"))
    elif budget_usd is not None:  # drawing it would squash every line at the bottom
        subtitle.append(f"budget ${budget_usd:,.2f} is above every option at any hit rate (line not drawn)")
    return alt.layer(*layers).properties(width=560, height=320,
                                         title=alt.Title(title, subtitle=subtitle) if subtitle else title)


def ttl_comparison(df: pd.DataFrame) -> alt.FacetChart:
    """5m vs 1h side by side per hit-rate scenario. Columns: run, scenario, order, ttl, usd, no_cache_usd."""
    bars = alt.Chart(df).mark_bar().encode(
        x=alt.X("scenario:N", sort=alt.EncodingSortField("order"), title=None, axis=alt.Axis(labelAngle=0)),
        xOffset=alt.XOffset("ttl:N", sort=["5m", "1h"]),
        y=alt.Y("usd:Q", title="total cost (USD)", axis=USD),
        color=color("ttl:N", df["ttl"], title="TTL"),
        tooltip=["run:N", "scenario:N", "ttl:N", alt.Tooltip("hit_rate:Q", format=".0%"),
                 alt.Tooltip("usd:Q", format="$,.2f")],
    )
    no_cache = alt.Chart(df).mark_rule(color="#7f7f7f", strokeDash=[4, 3]).encode(
        y="mean(no_cache_usd):Q", tooltip=[alt.Tooltip("mean(no_cache_usd):Q", title="no cache", format="$,.2f")])
    return alt.layer(bars, no_cache, data=df).properties(width=300, height=260).facet(
        column=alt.Column("run:N", title=None, sort=["pilot", "full run"])).resolve_scale(y="independent") \
        .properties(title="TTL comparison (dashed: no cache)")


def what_if(df: pd.DataFrame, initial_hit_rate: float = 0.8) -> alt.LayerChart:
    """Interactive: a hit-rate slider (works in the exported HTML, no kernel) recomputes each
    run x option total = fixed + h x hit + (1 - h) x miss; bars turn red above the budget.
    Columns: run, option, label, fixed, hit, miss, budget."""
    h = alt.param(name="hit_rate", value=initial_hit_rate,
                  bind=alt.binding_range(min=0, max=1, step=0.01, name="cache hit rate "))
    base = alt.Chart(df).transform_calculate(
        total="datum.fixed + hit_rate * datum.hit + (1 - hit_rate) * datum.miss",
        over="isValid(datum.budget) && datum.total > datum.budget",
        text="format(datum.total, '$,.2f') + (datum.over ? '  over budget' : '')",
    ).encode(y=alt.Y("label:N", title=None, sort=None))
    bars = base.mark_bar().encode(
        x=alt.X("total:Q", title="total cost (USD) at the chosen hit rate", axis=USD),
        color=alt.condition("datum.over", alt.value("#d62728"), color("option:N", df["option"], title=None)),
        tooltip=["label:N", alt.Tooltip("total:Q", format="$,.2f"), alt.Tooltip("budget:Q", format="$,.2f")],
    ).add_params(h)
    text = base.mark_text(align="left", dx=4).encode(x="total:Q", text="text:N")
    return alt.layer(bars, text).properties(width=520, height=alt.Step(26),
                                            title="What if: drag the slider to set the hit rate")
