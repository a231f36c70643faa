"""`cachecast demo` end to end: offline, both reports, everything marked simulated.

The slowest test of the suite (two notebooks run through papermill, ~30 s on 2 cores);
it is the README's first command, so it is worth it."""
from __future__ import annotations

import pytest

import json
import re

from cachecast.cli import main

pytestmark = pytest.mark.slow  # notebooks, kernels or a browser: skipped by `make test-fast`

CANARY = "sk-ant-test-SECRET-CANARY-demo-93ce01"


def test_demo_writes_both_reports_offline(fake_api, tmp_path, monkeypatch, capfd):
    # A key and a base URL are set, pointing at the fake server: the demo must not use them.
    monkeypatch.setenv("ANTHROPIC_API_KEY", CANARY)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_api.url)
    assert main(["demo", "--out", str(tmp_path)]) == 0
    out, err = capfd.readouterr()  # fd level: the kernels write to the process's stderr
    assert fake_api.calls == []

    projection, audit = tmp_path / "reports" / "projection.html", tmp_path / "reports" / "audit.html"
    assert f"projection: {projection}" in out and f"audit:      {audit}" in out
    for step in ("build", "lint", "count", "project", "simulate", "ingest", "audit"):
        assert re.search(rf"^{step}\s", out, re.MULTILINE), step
    assert "lint: clean" in out and "ESTIMATE" in out and "SIMULATED" in out
    for report in (projection, audit):
        html = report.read_text()
        assert not re.search(r"<script[^>]+src=[\"']https?://", html), f"{report.name} loads a script from the network"
        assert "Traceback" not in html
    assert re.search(r"simulated", audit.read_text(), re.IGNORECASE)

    results = tmp_path / "build" / "demo" / "results" / "pilot-simulated.jsonl"
    lines = [json.loads(x) for x in results.read_text().splitlines()]
    assert len(lines) == 1200
    assert all(x["result"]["message"]["id"].startswith("msg_sim_") for x in lines if x["result"]["type"] == "succeeded")

    texts = [out, err] + [p.read_bytes().decode("utf-8", "replace") for p in tmp_path.rglob("*") if p.is_file()]
    assert not any(CANARY in t for t in texts)

    # the terminal quotes, for each run, the TTL and cost the report recommends (one function:
    # projection_report.recommend), and names the runner-up as the report does
    text = re.sub(r"<[^>]+>", " ", projection.read_text()).replace("&#36;", "$")
    for label in ("pilot", "full run"):
        line = next(x for x in out.splitlines() if re.match(rf"^project\s+{label}\s", x))
        ttl, cost = re.search(r"recommended (5m|1h) cache at \d+% hits (\$[\d,.]+)", line).groups()
        runner_up = re.search(r"runner-up: (.*?); (within|OVER) budget", line).group(1)
        assert re.search(rf"{label}: use the {ttl} TTL; [^.]*? it costs {re.escape(cost)} against", text), (label, line)
        assert f"runner-up: {runner_up}" in text, (label, runner_up)
    # a successful demo prints no kernel noise (the shutdown interrupt logged a KeyboardInterrupt)
    assert "KeyboardInterrupt" not in err and "[IPKernelApp]" not in err, err
