"""Property tests for the store (issue 7).

1. For ANY mix of valid, invalid, duplicate and blank result lines, `cachecast ingest`
   accounts for every line (ingested + duplicates + quarantined = lines read, blank lines
   apart), puts each line where it belongs (a valid line is never quarantined, a broken one
   never stored), and ingesting the same lines again, under the same or another file name,
   changes nothing.
2. For ANY usage record, reading the prefix from the cache never costs more than sending it
   uncached, and the audit's totals equal the sum of per-request costs worked out with
   cachecast.facts.pricing line by line.

Examples are kept few (each one is a fresh DuckDB file): the point is variety, not volume.
"""
from __future__ import annotations

import contextlib
import io
import json
import shutil
import tempfile
from decimal import Decimal
from pathlib import Path

import duckdb
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import roles
from cachecast.cli import main
from cachecast.facts.costs import usage_cost
from cachecast.facts.pricing import get_rates

MODEL = roles.default()  # expectations are computed from its rates (usage_cost), not written out
SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def fresh_db(tmp: Path, template: Path) -> Path:
    """A new store for one example: a copy of the session's empty, migrated one."""
    db = tmp / "store.duckdb"
    shutil.copy(template, db)
    return db


def run_cli(*argv: str | Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as exc:
            rc = exc.code
    return rc, out.getvalue(), err.getvalue()


def ingest(db: Path, *files: Path, batch_id: str = "msgbatch_prop") -> int:
    """0, or 1 when a file gave no result line at all (empty, or every line quarantined)."""
    rc, out, err = run_cli("ingest", *files, "--db", db, "--batch-id", batch_id)
    assert rc in (0, 1) and "Traceback" not in err, (rc, out, err)
    assert (rc == 1) == ("no result line could be used" in err), (rc, err)
    return rc


def query(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    conn = duckdb.connect(str(db), read_only=True)
    try:
        return conn.execute(sql, params or []).fetchall()
    finally:
        conn.close()


# --- result lines ---------------------------------------------------------------------------

def succeeded(cid: str, msg_id: str, inp: int, w5: int, w1: int, read: int, out: int) -> dict:
    return {"custom_id": cid, "result": {"type": "succeeded", "message": {
        "id": msg_id, "type": "message", "role": "assistant", "model": MODEL,
        "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": inp, "cache_creation_input_tokens": w5 + w1, "cache_read_input_tokens": read,
                  "output_tokens": out, "service_tier": "batch",
                  "cache_creation": {"ephemeral_5m_input_tokens": w5, "ephemeral_1h_input_tokens": w1}}}}}


tokens = st.integers(min_value=0, max_value=200_000)


@st.composite
def good_line(draw) -> tuple[str, str, tuple]:
    """(line, "ok", dedupe key): a message is stored once per message id, other results once
    per custom_id within the batch."""
    kind = draw(st.sampled_from(["succeeded", "succeeded", "errored", "canceled", "expired"]))
    n = draw(st.integers(min_value=0, max_value=12))  # small pools make duplicates likely
    if kind == "succeeded":
        line = succeeded(f"c{n}", f"msg_01P{n:04d}", *(draw(tokens) for _ in range(5)))
        return json.dumps(line), "ok", ("msg", n)
    result: dict = {"type": kind}
    if kind == "errored":
        result["error"] = {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
    return json.dumps({"custom_id": f"e{n}", "result": result}), "ok", ("cid", n)


def _bad_usage(draw) -> str:
    field = draw(st.sampled_from(["input_tokens", "cache_read_input_tokens", "output_tokens"]))
    value = draw(st.one_of(st.integers(max_value=-1), st.floats(min_value=0.5, max_value=1e6).filter(
        lambda f: f != int(f)), st.text(max_size=5), st.integers(min_value=10**7 + 1), st.just([1])))
    line = succeeded("bad", "msg_01BADUSAGE", 1, 0, 0, 1, 1)
    line["result"]["message"]["usage"][field] = value
    return json.dumps(line)


def _not_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return True
    return False


@st.composite
def bad_line(draw) -> tuple[str, str, None]:
    choice = draw(st.integers(min_value=0, max_value=5))
    if choice == 0:  # arbitrary text that is not JSON (and not blank)
        text = draw(st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\n\r"),
                            min_size=1, max_size=40).filter(lambda t: t.strip() and _not_json(t)))
    elif choice == 1:  # a valid line cut short
        full, _, _ = draw(good_line())
        text = full[: draw(st.integers(min_value=1, max_value=len(full) - 1))]
    elif choice == 2:  # JSON that is not an object
        text = json.dumps(draw(st.one_of(st.integers(), st.lists(st.integers(), max_size=3), st.text(max_size=5),
                                         st.none(), st.booleans())))
    elif choice == 3:
        text = _bad_usage(draw)
    elif choice == 4:  # unknown result type
        text = json.dumps({"custom_id": "u1", "result": {"type": draw(st.sampled_from(["exploded", "", "SUCCEEDED"]))}})
    else:  # succeeded without usage
        line = succeeded("nu", "msg_01NOUSAGE", 1, 0, 0, 1, 1)
        line["result"]["message"]["usage"] = draw(st.sampled_from([None, "n/a", []]))
        text = json.dumps(line)
    return text, "bad", None


lines_strategy = st.lists(st.one_of(good_line(), good_line(), bad_line(), st.just(("", "blank", None))),
                          min_size=0, max_size=30)


def _expected(lines: list[tuple[str, str, tuple | None]]) -> dict[str, int]:
    oks = [key for _, kind, key in lines if kind == "ok"]
    return {"lines_read": sum(kind != "blank" for _, kind, _ in lines), "ingested": len(set(oks)),
            "duplicates": len(oks) - len(set(oks)), "quarantined": sum(kind == "bad" for _, kind, _ in lines),
            "blank_lines": sum(kind == "blank" for _, kind, _ in lines)}


ACCOUNT = "SELECT lines_read, ingested, duplicates, quarantined, blank_lines FROM ingests ORDER BY ingest_id"
NAMES = ("lines_read", "ingested", "duplicates", "quarantined", "blank_lines")


@SETTINGS
@given(lines=lines_strategy, crlf=st.booleans())
def test_every_line_is_accounted_for_and_reingest_changes_nothing(store_template, lines, crlf):
    with tempfile.TemporaryDirectory(prefix="cachecast-prop-") as tmp:
        tmp = Path(tmp)
        path, db = tmp / "results.jsonl", fresh_db(tmp, store_template)
        path.write_bytes("".join(text + ("\r\n" if crlf else "\n") for text, _, _ in lines).encode())
        rc = ingest(db, path)
        assert rc == (0 if any(kind == "ok" for _, kind, _ in lines) else 1)
        recorded = query(db, ACCOUNT)
        if not recorded:  # a file with no non-blank line records no ingest (it says so on stdout)
            assert _expected(lines)["lines_read"] == 0
            return
        first = dict(zip(NAMES, recorded[-1]))
        assert first == _expected(lines)
        assert first["lines_read"] == first["ingested"] + first["duplicates"] + first["quarantined"]
        stored = query(db, "SELECT (SELECT count(*) FROM results), (SELECT count(*) FROM quarantine)")[0]
        assert stored == (first["ingested"], first["quarantined"])
        # the quarantine says where and why for each broken line
        bad_lines = sorted(i + 1 for i, (_, kind, _) in enumerate(lines) if kind == "bad")
        assert [r[0] for r in query(db, "SELECT line_no FROM quarantine ORDER BY line_no")] == bad_lines
        assert all(reason for (reason,) in query(db, "SELECT reason FROM quarantine"))

        shutil.copy(path, tmp / "renamed copy.jsonl")  # (same name again: test_bad_results.py)
        ingest(db, tmp / "renamed copy.jsonl")  # same lines under another name
        again = query(db, "SELECT (SELECT count(*) FROM results), (SELECT count(*) FROM quarantine)")[0]
        assert again == stored
        for row in query(db, ACCOUNT)[1:]:
            acc = dict(zip(NAMES, row))
            assert acc["ingested"] == 0 and acc["lines_read"] == first["lines_read"]
            assert acc["lines_read"] == acc["ingested"] + acc["duplicates"] + acc["quarantined"]


# --- costs ----------------------------------------------------------------------------------

usage_strategy = st.tuples(tokens, tokens, tokens, tokens, tokens)  # input, 5m write, 1h write, read, output


@settings(max_examples=200, deadline=None)
@given(usage=usage_strategy, batch=st.booleans())
def test_reading_the_prefix_never_costs_more_than_not_caching(usage, batch):
    """The same prompt with its cached part read (instead of written, or sent uncached) costs
    no more; and writing it costs more than sending it uncached (writes are 1.25x / 2x)."""
    inp, w5, w1, read, out = usage
    rates = get_rates(MODEL, batch)
    cached = read + w5 + w1
    as_read = usage_cost(rates, input_tokens=inp, write_5m=0, write_1h=0, read=cached, output=out)
    uncached = usage_cost(rates, input_tokens=inp + cached, write_5m=0, write_1h=0, read=0, output=out)
    as_reported = usage_cost(rates, input_tokens=inp, write_5m=w5, write_1h=w1, read=read, output=out)
    assert as_read <= uncached
    assert as_read <= as_reported
    if w5 + w1 > 0:
        assert as_reported > as_read


AUDIT_TOTALS = """SELECT sum(cost_usd), sum(no_cache_cost_usd), count(*) FILTER (WHERE result_type = 'succeeded')
                  FROM request_costs"""


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records=st.lists(usage_strategy, min_size=1, max_size=20), failed=st.integers(min_value=0, max_value=3))
def test_audit_totals_equal_the_sum_of_per_request_costs(store_template, records, failed):
    rates = get_rates(MODEL, batch=True)
    lines = [succeeded(f"c{i}", f"msg_01C{i:04d}", *u) for i, u in enumerate(records)]
    lines += [{"custom_id": f"x{i}", "result": {"type": "expired"}} for i in range(failed)]  # cost nothing
    expected = sum((usage_cost(rates, input_tokens=i, write_5m=w5, write_1h=w1, read=r, output=o)
                    for i, w5, w1, r, o in records), Decimal(0))
    expected_no_cache = sum((usage_cost(rates, input_tokens=i + w5 + w1 + r, write_5m=0, write_1h=0, read=0,
                                        output=o) for i, w5, w1, r, o in records), Decimal(0))
    with tempfile.TemporaryDirectory(prefix="cachecast-prop-") as tmp:
        path, db = Path(tmp) / "results.jsonl", fresh_db(Path(tmp), store_template)
        path.write_text("".join(json.dumps(line) + "\n" for line in lines))
        ingest(db, path)
        cost, no_cache, n = query(db, AUDIT_TOTALS)[0]
        assert n == len(records)
        assert Decimal(cost) == expected  # exact: DECIMAL in the store, Decimal here
        assert Decimal(no_cache) == expected_no_cache
        rc, out, err = run_cli("audit", "--db", db, "--json")
        assert rc == 0, err
        audit = json.loads(out)
        assert audit["succeeded"] == len(records) and audit["expired"] == failed
        assert abs(Decimal(str(audit["cost_usd"])) - expected) <= Decimal("0.000001")
        assert abs(Decimal(str(audit["no_cache_cost_usd"])) - expected_no_cache) <= Decimal("0.000001")
        assert audit["cost_usd"] <= audit["no_cache_cost_usd"] or any(w5 + w1 for _, w5, w1, _, _ in records)
