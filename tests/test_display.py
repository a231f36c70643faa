"""Display helpers (issue 13): money never typeset, one money format, "none" for empty
tables, the provenance header, one palette for every chart, chart outputs with a static
fallback, the projection's recommendation and the anomaly table grouped by kind."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import altair as alt
import pandas as pd
import pytest

from cachecast.report import display as d
from cachecast.report import provenance
from cachecast.report.charts import PALETTE, VEGALITE_MIME, ChartOutput, color, present
from cachecast.report.charts import audit as audit_charts
from cachecast.report.charts import projection as projection_charts

REPO = Path(__file__).resolve().parents[1]
EVIL = '<script>alert("$x$")</script>'


def test_text_writes_no_dollar_and_escapes_markup():
    html = d.text("within budget: $177.18 in the worst case against $200.00", EVIL)._repr_mimebundle_()
    assert "$" not in html["text/html"] and "&#36;177.18" in html["text/html"]
    assert "tex2jax_ignore" in html["text/html"] and "mathjax_ignore" in html["text/html"]
    assert "<script>" not in html["text/html"] and "&lt;script&gt;" in html["text/html"]
    assert html["text/plain"].startswith("within budget: $177.18")  # plain text as written


@pytest.mark.parametrize("value, places, shown", [
    (1234.5, 2, "$1,234.50"), (Decimal("0.004"), 2, "$0.00"), (-0.4, 2, "-$0.40"), (-0.001, 2, "$0.00"),
    (0.0123456, 4, "$0.0123"), (0, 2, "$0.00"), (None, 2, "")])
def test_money(value, places, shown):
    assert d.money(value, places) == shown


def test_table_formats_money_and_says_none_when_empty():
    frame = pd.DataFrame({"treatment": [EVIL], "cost $": [1234.5678], "per request": [0.012345], "n": [1200]})
    html = d.table(frame, {"cost $": "$", "per request": "$4", "n": ",d"})._repr_mimebundle_()["text/html"]
    assert "&#36;1,234.57" in html and "&#36;0.0123" in html and "1,200" in html
    assert "<script>" not in html and "$" not in html
    empty = d.table(frame.iloc[0:0], caption="Errors by type")._repr_mimebundle_()
    assert "none" in empty["text/html"] and "<table" not in empty["text/html"]
    assert empty["text/plain"] == "Errors by type: none"


def test_banner_and_text_concatenate():
    both = d.banner("SIMULATED") + d.text("a $1 b")
    html = both._repr_mimebundle_()["text/html"]
    assert html.index("SIMULATED") < html.index("a &#36;1 b") and 'role="alert"' in html


def test_provenance_header_names_what_produced_the_report():
    config = REPO / "config" / "eval_config.pilot.anthropic.yaml"
    when = datetime(2026, 12, 1, 12, 0, tzinfo=timezone.utc)
    header = provenance.header({"pilot_items": 10, "evil": EVIL}, config_path=config, simulated=True,
                               price_source="genai-prices 0.2.3 bundled snapshot, prices in effect 2026-12-01",
                               api_version="2026-10-21", generated_at=when)
    plain = header._repr_mimebundle_()["text/plain"]
    assert plain.startswith("SIMULATED DATA")
    for needle in ("config: config/eval_config.pilot.anthropic.yaml (sha256:", provenance.fingerprint(config),
                   "pilot_items=10", "cachecast: 0.1.0", "anthropic-version 2026-10-21", "prices in effect 2026-12-01",
                   "model facts:", "generated: 2026-12-01 12:00 UTC"):
        assert needle in plain, needle
    assert str(REPO) not in plain  # relative to the project, never the machine's absolute path
    html = header._repr_mimebundle_()["text/html"]
    assert "cachecast-banner" in html and "<script>" not in html
    assert re.fullmatch(r"sha256:[0-9a-f]{12}", provenance.fingerprint(config))
    assert "SIMULATED" not in provenance.header({}, simulated=False)._repr_mimebundle_()["text/html"]


def test_provenance_shows_no_absolute_path_and_no_null_parameter(tmp_path, monkeypatch):
    """Relative to the project; else to the config's folder; a temporary folder never by name;
    home as ~; anything else by its last two parts. The sha256 stays; nulls are not listed."""
    home = tmp_path / "home" / "ann"
    (home / "runs").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    cfg_dir = tmp_path / "cfgs"
    cfg_dir.mkdir()
    config = cfg_dir / "eval.yaml"
    config.write_text("x: 1\n")
    rows = dict(provenance.facts({
        "db_path": str(REPO / "build" / "demo" / "cachecast.duckdb"),  # in the project
        "manifest_dir": str(cfg_dir / "build" / "pilot"),               # under the config's folder
        "projection_json": str(tmp_path / "elsewhere" / "p.json"),      # a temporary folder
        "prices": "/srv/shared/prices/negotiated.yaml",                 # outside everything
        "batch_id": None, "exact": False}, config_path=config))
    assert rows["config"] == f"eval.yaml ({provenance.fingerprint(config)})"
    assert rows["parameters"] == ('db_path="build/demo/cachecast.duckdb", manifest_dir="build/pilot", '
                                  'projection_json="a temporary build", prices="…/prices/negotiated.yaml", '
                                  'exact=false')
    from cachecast._shown_paths import shown_path
    # the home folder as ~ (checked outside a temporary folder: HOME under /tmp is "temporary" first)
    monkeypatch.setenv("HOME", "/home/ann")
    assert shown_path("/home/ann/runs/store.duckdb") == "~/runs/store.duckdb"


def test_palette_has_one_colour_per_component_and_legends_list_only_present_series():
    for name in ("uncached input", "cache write 5m", "cache write 1h", "cache read", "output", "thinking"):
        assert name in PALETTE
    assert PALETTE["cache 5m"] == PALETTE["cache write 5m"] and PALETTE["cache 1h"] == PALETTE["cache write 1h"]
    assert present(["output", "cache read", "output", "uncached input"]) == ["uncached input", "cache read", "output"]
    scale = color("c:N", ["cache 5m", "no cache"]).to_dict()["scale"]
    assert scale == {"domain": ["no cache", "cache 5m"], "range": [PALETTE["no cache"], PALETTE["cache 5m"]]}


def _color_domains(spec) -> list[list[str]]:
    found = []

    def walk(node):
        if isinstance(node, dict):
            scale = node.get("scale") if isinstance(node.get("scale"), dict) else None
            if scale and "domain" in scale and "range" in scale:
                found.append(scale["domain"])
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(spec)
    return found


def test_same_component_same_colour_in_both_reports_and_5m_only_runs_show_no_1h():
    from cachecast.report import projection_report as pr

    plan = pr.plan(REPO / "config" / "eval_config.full.anthropic.yaml", pilot_items=10, full_items=100, ttl="5m",
                   exact=False)
    spec = projection_charts.cost_components(pr.components_frame(plan)).to_dict()
    domains = _color_domains(spec)
    assert domains and all("cache write 1h" not in dom and "cache 1h" not in dom for dom in domains)
    curve = projection_charts.sensitivity(pr.sensitivity_frame(plan.full), pr.break_even_frame(plan.full), None)
    assert all("cache 1h" not in dom for dom in _color_domains(curve.to_dict()))
    audit_frame = pd.DataFrame({"scenario": ["actual", "actual", "no cache"], "component": ["cache read", "thinking",
                                "uncached input"], "usd": [1.0, 0.5, 3.0]})
    audit_spec = audit_charts.cost_components(audit_frame.assign(usd=[1.0, 0.5, 3.0])).to_dict()
    colours = {}
    for s in (spec, audit_spec):
        enc = s.get("spec", s)["encoding"]["color"]["scale"]
        colours.update(dict(zip(enc["domain"], enc["range"])))
        assert all(PALETTE[k] == v for k, v in zip(enc["domain"], enc["range"]))
    assert "web search" not in audit_spec["encoding"]["color"]["scale"]["domain"]  # zero everywhere: no legend entry


def test_hit_rate_chart_gets_a_column_per_batch_only_with_several_batches():
    row = {"slice": 1, "first_request": 1, "last_request": 10, "requests": 10, "token_hit_rate": 0.5,
           "request_hit_rate": 0.6}
    one = audit_charts.hit_rate_over_order(pd.DataFrame([{**row, "batch_id": "a"}])).to_dict()
    two = audit_charts.hit_rate_over_order(pd.DataFrame([{**row, "batch_id": "a"}, {**row, "batch_id": "b"}])).to_dict()
    assert "facet" not in one and two["facet"]["field"] == "batch_id"


def test_chart_output_carries_spec_and_static_svg_on_white():
    chart = alt.Chart(pd.DataFrame({"x": [EVIL, "b"], "y": [1, 2]})).mark_bar().encode(x="x:N", y="y:Q")
    data, meta = ChartOutput(chart)._repr_mimebundle_()
    assert set(data) == {VEGALITE_MIME, "image/svg+xml", "text/plain"}  # no text/html: Lab would prefer it
    assert data[VEGALITE_MIME]["background"] == "white" and "v5" in data[VEGALITE_MIME]["$schema"]
    assert data["image/svg+xml"].lstrip().startswith("<svg") and "<path" in data["image/svg+xml"]
    assert "<script" not in data["image/svg+xml"]  # the data value is escaped text in the SVG
    assert meta[VEGALITE_MIME]["embed_options"]["renderer"] == "svg"


def test_recommendation_names_ttl_budget_hit_rate_and_break_even():
    from cachecast.report import projection_report as pr
    from cachecast.send.sim import hit_rate_table

    plan = pr.plan(REPO / "config" / "eval_config.full.anthropic.yaml", pilot_items=200, full_items=5000,
                   budget_usd=200, exact=False)
    sim = hit_rate_table(plan.runs, concurrency=100, duration_minutes=60, hit_probability=0.95)
    full = pr.recommend(plan.full, sim)
    assert full.ttl in ("5m", "1h") and full.budget_holds == "above" and 0 < full.budget_hit_rate < 1
    # at the threshold the total is the budget (exact arithmetic)
    assert abs(pr._total(plan.full, full.ttl, full.budget_hit_rate) - plan.full.budget_usd) < Decimal("1e-9")
    lines = pr.recommendation_lines(plan, sim)
    assert lines[0].startswith(f"full run: use the {full.ttl} TTL")
    assert f"budget holds at hit rates above {full.budget_hit_rate:.1%}" in lines[0]
    assert f"Break-even for {plan.full.model}: 5m" in lines[0]
    # the pilot's 5m entries expire between waves 5 minutes apart: 5m is not recommended there
    assert pr.recommend(plan.pilot, sim).ttl != "5m"
    table = pr.simulated_frame(plan, sim)
    assert list(table.columns) == list(pr.SIM_LABELS)
    pilot_5m = table[(table["run"] == "pilot") & (table["ttl"] == "5m")].iloc[0]
    assert pilot_5m["request_hit_rate"] == 0 and "expires before the next wave" in pilot_5m["why"]
    assert "break-even" in pilot_5m["informs"]


def test_anomalies_grouped_by_kind_and_first_wave_named_unavoidable():
    from cachecast.report import audit_view

    frame = pd.DataFrame([
        {"kind": "repeat_write", "file_rank": 2, "line_no": 2, "custom_id": "b", "treatment": "t",
         "usd_lost": 0.01, "reason": "wrote prefix p: first wave of the batch, unavoidable"},
        {"kind": "write_never_read", "file_rank": 9, "line_no": 9, "custom_id": "c", "treatment": "t",
         "usd_lost": 0.02, "reason": "wrote 10 tokens"}] + [
        {"kind": audit_view.FIRST_WAVE, "file_rank": n, "line_no": n, "custom_id": f"r{n}", "treatment": "t",
         "usd_lost": 0.001, "reason": "x"} for n in range(3, 9)])
    grouped = audit_view.by_kind(frame)
    assert list(grouped["kind"]) == [audit_view.FIRST_WAVE, "repeat_write", "write_never_read"]
    assert grouped.iloc[0]["requests"] == 6 and "unavoidable" in grouped.iloc[0]["meaning"]
    assert "should have been a hit" not in grouped.iloc[0]["meaning"]
    assert len(audit_view.examples(frame, per_kind=2)) == 2 + 1 + 1
    assert d.table(audit_view.by_kind(frame.iloc[0:0])).plain == "none"


def test_each_recommendation_names_the_runner_up_and_why_it_lost():
    """The shipped configs, simulated as notebook 01 does: the pilot's 5m entries die between
    waves 5 minutes apart (simulated 0%), so 1h wins and 5m is named with the rate it would
    reach; in the full run both reach the planning rate and 5m wins on cheaper writes."""
    from cachecast.report import projection_report as pr
    from cachecast.report.display import money
    from cachecast.send.sim import hit_rate_table

    plan = pr.plan(REPO / "config" / "eval_config.full.anthropic.yaml", pilot_items=200, full_items=5000,
                   exact=False)
    sim = hit_rate_table(plan.runs, concurrency=100, duration_minutes=60, hit_probability=0.95)
    pilot, full = pr.recommend(plan.pilot, sim), pr.recommend(plan.full, sim)
    assert (pilot.ttl, pilot.runner_up.ttl, pilot.runner_up.judged_at, pilot.runner_up.capped) == ("1h", "5m", 0, True)
    # the runner-up's cost is the 5m total at its judged rate (0%: every request writes)
    assert pilot.runner_up.cost == pr._total(plan.pilot, "5m", Decimal(0)) > pilot.cost
    assert pilot.why_not == f"5m would reach only 0% in a batch this long (simulated): {money(pilot.runner_up.cost)}"
    assert (full.ttl, full.runner_up.ttl, full.runner_up.judged_at, full.runner_up.capped) == ("5m", "1h", Decimal("0.8"), False)
    # Sonnet 5.5 batch: 1h write 2x input, 5m write 1.25x (FACTS.md prices: 4 / 2.50 against 2)
    assert full.why_not == (f"1h would cost {money(pr._total(plan.full, '1h', Decimal('0.8')))} at the same 80%: "
                            "its cache writes cost more (2x the input rate, against 1.25x)")
    lines = pr.recommendation_lines(plan, sim)
    assert f"runner-up: {full.why_not}" in lines[0] and f"runner-up: {pilot.why_not}" in lines[1]
    # the demo's terminal line comes from the same recommendation
    assert pr.advice(full).startswith(f"full run 30,000 requests: no cache {money(plan.full.no_cache.total)}") and f"recommended 5m cache at 80% hits {money(full.cost)}" in pr.advice(full)


def test_one_ttl_names_no_cache_as_runner_up_and_not_caching_names_the_best_ttl():
    from cachecast.report import projection_report as pr
    from cachecast.report.display import money

    plan = pr.plan(REPO / "config" / "eval_config.full.anthropic.yaml", pilot_items=10, full_items=100, ttl="5m",
                   exact=False)
    r = pr.recommend(plan.full)
    assert r.ttl == "5m" and r.runner_up.ttl is None
    assert r.why_not == f"no cache would cost {money(plan.full.no_cache.total)} ({money(plan.full.no_cache.total - r.cost)} more)"
    low = pr.plan(REPO / "config" / "eval_config.full.anthropic.yaml", pilot_items=10, full_items=100,
                  hit_rates=[0.05, 0.1, 0.15], ttl="1h", exact=False)  # 1h breaks even at 51.3%
    r = pr.recommend(low.full)
    assert r.ttl is None and r.runner_up.ttl == "1h"
    assert r.why_not.startswith(f"1h at 10%: {money(r.runner_up.cost)}, more than without caching (break-even 51.3%)")
    assert "do not cache" in pr.recommendation_lines(low)[0] and r.why_not in pr.recommendation_lines(low)[0]
