"""The budget gate's three figures (issue 19, section 2): ceiling, worst expected, expected.

The ceiling is every request writing the cached prefix at the configured TTL, none reading,
and every output reaching max_tokens (thinking is billed as output and counts toward
max_tokens, so no request bills more output than that). Checked here against hand
calculations on the shipped pilot and full configs, and through `submit` and `project`.
"""
from __future__ import annotations

import json
from decimal import Decimal as D
from pathlib import Path

import pytest

from cachecast.build.batches import build, read_manifest
from cachecast.build.config import load_config
from cachecast.cli import main
from cachecast.plan.gate import BudgetError, check_budget, verdict

REPO = Path(__file__).resolve().parents[1]
PILOT = REPO / "config" / "eval_config.pilot.anthropic.yaml"
FULL = REPO / "config" / "eval_config.full.anthropic.yaml"

# Sonnet 5.5 standard rates, $ per million tokens (FACTS.md, Anthropic's pricing table):
# input 2, 1h write 4, read 0.10, output 10. The Batch API halves every one of them:
BATCH_INPUT = D(2) * D("0.5")      # = 1
BATCH_WRITE_1H = D(4) * D("0.5")   # = 2
BATCH_OUTPUT = D(10) * D("0.5")    # = 5


def _manifest_tokens(build_dir: Path) -> tuple[int, int, int]:
    """(requests, cached prefix S per request, the rest U summed over all requests)."""
    rows = read_manifest(build_dir)
    prefixes = {r["est_prefix_tokens"] for r in rows}
    assert all(r["cacheable"] for r in rows) and len(prefixes) == 1  # one shared prefix
    return len(rows), prefixes.pop(), sum(r["est_rest_tokens"] for r in rows)


def test_pilot_ceiling_by_hand(pilot_build):
    requests, S, U_total = _manifest_tokens(pilot_build)
    # the shipped pilot: 200 items x 3 treatments x 2 samples; the estimated prompt of the sample data
    assert (requests, S, U_total) == (1200, 1896, 92_136)
    # ceiling, in micro-dollars (tokens x $/MTok):
    #   writes   1,200 requests x 1,896 tokens x $2 (1h write, batch)      =  4,550,400
    #   rest     92,136 tokens x $1 (input, batch)                        =     92,136
    #   output   1,200 requests x 4,096 max_tokens x $5 (output, batch)   = 24,576,000
    #   total                                                              = 29,218,536 -> $29.218536
    writes = requests * S * BATCH_WRITE_1H
    rest = U_total * BATCH_INPUT
    output = requests * 4096 * BATCH_OUTPUT
    assert (writes, rest, output) == (4_550_400, 92_136, 24_576_000)
    v = verdict(pilot_build)
    assert v.figures.ceiling == (writes + rest + output) / 1_000_000 == D("29.218536")
    # worst expected: the same writes and rest, output 1,009.6 = answer 4,096 x 0.1 = 409.6 + thinking
    # 600 (effort medium, the dated planning assumption): 1,200 x 1,009.6 x $5 = 6,057,600
    #   4,550,400 + 92,136 + 6,057,600 = 10,700,136 -> $10.700136
    assert v.figures.worst_expected == D("10.700136")
    # within the $25 budget on the worst expected; the ceiling is over it: a warning, not a refusal
    assert v.within and v.figures.budget == 25 and v.figures.ceiling > 25
    # max_tokens that brings the ceiling within $25: (25 - 4.642536) / (1,200 x $5 / 1e6 = $0.006) = 3,392.9
    assert v.figures.max_tokens_within_budget() == 3392


def test_full_run_ceiling_by_hand(tmp_path):
    out = tmp_path / "full"
    build(load_config(FULL), out, progress=False)
    requests, S, U_total = _manifest_tokens(out)
    assert (requests, S, U_total) == (30_000, 1896, 2_323_024)
    # ceiling, in micro-dollars:
    #   writes   30,000 x 1,896 x $2   = 113,760,000
    #   rest     2,323,024 x $1        =   2,323,024
    #   output   30,000 x 4,096 x $5   = 614,400,000
    #   total                          = 730,483,024 -> $730.483024 (the issue's $730.52 is `project` on
    #   the config, whose mean rest of the prompt is 78.589 tokens rather than these files' 77.43)
    total = requests * S * BATCH_WRITE_1H + U_total * BATCH_INPUT + requests * 4096 * BATCH_OUTPUT
    assert total == 730_483_024
    v = verdict(out)
    assert v.figures.ceiling == total / D(1_000_000)
    # worst expected: output 1,009.6 -> 30,000 x 1,009.6 x $5 = 151,440,000;
    #   113,760,000 + 2,323,024 + 151,440,000 = 267,523,024 -> $267.523024, within the $524 budget
    assert v.figures.worst_expected == D("267.523024") and v.within
    assert v.figures.ceiling > 524  # the full run can cost more than its budget: the gate warns
    assert "warning: the ceiling, $730.48" in check_budget(out)


def test_project_json_gate_object_is_the_contract():
    out = _project_json(PILOT)
    gate = out["gate"]
    assert list(gate) == ["ceiling_usd", "worst_expected_usd", "expected_usd", "basis"]
    # project prices the config's token profile (its mean rest of the prompt U), not built files:
    #   ceiling  = 1,200 x (1,896 x $2 + U x $1 + 4,096 x $5) / 1e6
    #   worst    = 1,200 x (1,896 x $2 + U x $1 + 1,009.6 x $5) / 1e6
    #   expected = 1,200 x (1,896 x (0.8 x $0.05 + 0.2 x $2) + U x $1 + 1,009.6 x $5) / 1e6
    U = D(str(out["tokens"]["user_mean"]))  # rounded to 3 decimals in the JSON: within 1e-6 $ here
    assert out["requests"] == 1200 and out["tokens"]["system"] == 1896
    hand = {"ceiling_usd": 1200 * (1896 * 2 + U + 4096 * 5) / D(1_000_000),
            "worst_expected_usd": 1200 * (1896 * 2 + U + D("1009.6") * 5) / D(1_000_000),
            "expected_usd": 1200 * (1896 * (D("0.8") * D("0.05") + D("0.2") * 2) + U + D("1009.6") * 5) / D(1_000_000)}
    for name, value in hand.items():
        assert abs(D(str(gate[name])) - value) < D("1e-6"), name
    assert gate["basis"] == "worst_expected"
    assert gate["worst_expected_usd"] == out["worst_case_usd"] and out["within_budget"] is True
    ceiling = _project_json(PILOT, "--budget-basis", "ceiling")
    assert ceiling["gate"]["basis"] == "ceiling" and ceiling["within_budget"] is False


def _project_json(config: Path, *extra: str) -> dict:
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "cachecast.cli", "project", str(config), "--json", *extra],
                          capture_output=True, text=True, check=True)
    return json.loads(proc.stdout)


# ------------------------------------------------------------------ through submit


def _small_build(tmp_path: Path, budget: float) -> Path:
    from test_api import make_config

    out = tmp_path / "b"
    assert main(["build", str(make_config(tmp_path, budget=budget)), "--out", str(out)]) == 0
    return out


def test_submit_warns_when_only_the_ceiling_is_over(fake_api, monkeypatch, tmp_path, capsys):
    # 60 requests: worst expected ~ 60 x 8,900 micro-dollars = $0.53, ceiling ~ 60 x 24,350 = $1.46
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-gate-0000")
    out = _small_build(tmp_path, budget=1.0)
    capsys.readouterr()
    assert main(["submit", str(out), "--base-url", fake_api.url]) == 0
    captured = capsys.readouterr()
    assert "within budget: worst expected $0.5" in captured.out and "ceiling $1.46" in captured.out
    warning = [line for line in captured.err.splitlines() if line.startswith("warning: the ceiling")]
    assert len(warning) == 1 and "lower max_tokens (now 4,096" in warning[0] and "thinking.effort (now medium)" \
        in warning[0] and "--budget-basis ceiling" in warning[0]
    assert "/v1/messages/batches" in fake_api.paths("POST")


def test_submit_budget_basis_ceiling_refuses(fake_api, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-gate-0000")
    out = _small_build(tmp_path, budget=1.0)
    capsys.readouterr()
    assert main(["submit", str(out), "--base-url", fake_api.url, "--budget-basis", "ceiling"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the ceiling of these files, $1.4" in err
    assert "(--budget-basis ceiling); nothing was submitted (to lower it: lower max_tokens" in err
    assert "/v1/messages/batches" not in fake_api.paths("POST")


def test_gate_refuses_on_the_worst_expected_and_names_all_three(tmp_path):
    out = _small_build(tmp_path, budget=0.10)
    with pytest.raises(BudgetError) as exc:
        check_budget(out)
    text = str(exc.value)
    assert text.startswith("the worst expected spend of these files, $0.5") and "ceiling $1.46" in text


def test_projection_report_gate_frame_names_the_three_figures():
    from cachecast.report.projection_report import gate_frame, gate_warnings, plan

    p = plan(PILOT, pilot_items=10, full_items=200, exact=False, pilot_budget_usd=1.0)
    frame = gate_frame(p)
    pilot = frame[frame["run"] == "pilot"].set_index("figure")
    assert list(pilot.index) == ["ceiling", "worst expected", "expected"]
    assert pilot.loc["worst expected", "judged"] == "yes" and pilot.loc["ceiling", "judged"] == ""
    # 10 items x 3 x 2 = 60 requests; ceiling >= 60 x 4,096 x $5 / 1e6 = $1.2288 of output alone: over $1
    assert pilot.loc["ceiling", "usd"] > 1.2288 and pilot.loc["ceiling", "budget"] == "OVER budget"
    assert pilot.loc["worst expected", "budget"] == "within budget"
    warnings = gate_warnings(p)
    # the full run here is 200 items (1,200 requests) against the pilot config's $25: the $29.22 ceiling
    assert [w.split(",")[0] + "," + w.split(",")[1] for w in warnings] == [
        "pilot: the ceiling, $1.46 (every request writes the 1h cache", "full run: the ceiling, $29.22 (every request "
        "writes the 1h cache"]
    full = frame[frame["run"] == "full run"].set_index("figure")
    assert full.loc["worst expected", "budget"] == "within budget" and full.loc["ceiling", "usd"] == 29.22
