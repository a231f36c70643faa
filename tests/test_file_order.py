"""No verdict rests on the order of a results file (issue 19, section 4).

The SDK's MessageBatch.results_url docstring: results in the file are not guaranteed to be in
the same order as the requests (nor in completion order). So the same lines in another order
must give the same audit and the same ledger, figure for figure: the pre-warm verdict, the
misses by cause, the anomalies, truncation, every dollar."""
from __future__ import annotations

import json
import random
from pathlib import Path

from cachecast import cli, store
from cachecast.analyse import audit
from cachecast.build.build_files import request_files
from cachecast.send import probe, sim
from _fixtures import read_jsonl

BATCH = "msgbatch_01OrderTest"


def run(capsys, *argv) -> tuple[int, str, str]:
    rc = cli.main([str(a) for a in argv])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def pilot_lines(build: Path) -> tuple[list[dict], probe.ProbeResult]:
    """The pilot pre-warmed and simulated as `submit --prewarm` runs it (best-effort hits, so
    writes and reads mix across the batch), a few answers cut off at max_tokens."""
    requests = [line for path in request_files(build) for line in read_jsonl(path)]
    cache = sim.Cache()
    message = sim.prewarm_cache(requests, cache=cache, now=-1.0)[0]
    shape = probe.shapes(build, "2026-10-21")[0]
    result = probe.ProbeResult(shape, True, 0, "ok", message_id=message["id"], usage=message["usage"])
    result.cost_usd, result.price_source = probe.usage_cost_of(shape, message["usage"], shape.ttl)
    lines = sim.simulate_lines(requests, cache=cache, concurrency=100, hit_probability=0.9, errored=6)
    for line in lines[40:60]:  # cut off at max_tokens: billed, reported as truncated
        line["result"]["message"]["stop_reason"] = "max_tokens"
    return lines, result


def store_of(capsys, tmp_path: Path, name: str, build: Path, lines: list[dict], result) -> Path:
    db, path = tmp_path / f"{name}.duckdb", tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    probe.record(db, build, [result])
    rc, _, err = run(capsys, "ingest", path, "--db", db, "--manifest", build, "--batch-id", BATCH,
                     "--priced-at", "2026-12-01")
    assert rc == 0, err
    return db


def everything(capsys, db: Path) -> dict:
    out = {}
    for label, argv in (("audit", ["audit", "--db", db, "--json"]),
                        ("audit batch", ["audit", "--db", db, "--json", "--batch-id", BATCH]),
                        ("ledger", ["ledger", "--db", db, "--json"]),
                        ("audit text", ["audit", "--db", db]), ("ledger text", ["ledger", "--db", db])):
        rc, text, err = run(capsys, *argv)
        assert rc == 0, err
        out[label] = text if label.endswith("text") else json.loads(text)
    conn = store.connect(db, read_only=True)
    try:
        summary, _ = audit.miss_causes(conn, BATCH)
        out["misses"] = summary.astype({"usd_lost": str}).to_dict("records")
        counts = audit.anomaly_counts(conn, BATCH)
        out["anomalies"] = sorted(zip(counts["kind"], counts["requests"], counts["usd_lost"].astype(str)))
        out["order chart"] = audit.hit_rate_over_order(conn, BATCH, bins=4)["token_hit_rate"].round(6).tolist()
    finally:
        conn.close()
    return out


def test_a_shuffled_results_file_changes_no_audit_or_ledger_figure(capsys, tmp_path, pilot_build):
    lines, result = pilot_lines(pilot_build)
    shuffled = list(lines)
    random.Random(7).shuffle(shuffled)
    assert [x["custom_id"] for x in shuffled] != [x["custom_id"] for x in lines]
    first = everything(capsys, store_of(capsys, tmp_path, "ordered", pilot_build, lines, result))
    second = everything(capsys, store_of(capsys, tmp_path, "shuffled", pilot_build, shuffled, result))
    # the file's order does show where it is shown as such (the results-file order chart) ...
    assert first.pop("order chart") != second.pop("order chart")
    # ... and nowhere else: every figure of audit --json, ledger --json and their text is the same
    for key in first:
        assert first[key] == second[key], key
    # and the figures compared are the ones issue 19 names, not empty ones
    got = first["audit batch"]
    [verdict] = got["prewarm"]
    assert verdict["reads"] > verdict["writes"] > 0 and verdict["first_wave_reads"] > 0
    assert verdict["verdict"].startswith("pre-warm paid $") and verdict["assumption"].startswith("ASSUMED")
    assert got["truncated_requests"] == 20 and got["errored"] == 6
    kinds = {m["kind"] for m in first["misses"]}
    assert {"first_wave", "repeat_write"} <= kinds
    assert first["ledger"]["truncated_requests"] == 20 and first["ledger"]["spent_usd"] > 0
