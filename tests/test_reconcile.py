"""`cachecast reconcile` against the local server's cost and usage reports (issue 19, section 1).

The bill is built here, line by line, from the same simulated results the store ingests,
priced at Sonnet 5.5's standard rates from Anthropic's pricing table (FACTS.md: $2 input,
$2.50 5m write, $4 1h write, $0.10 read, $10 output per million tokens; the Batches API
halves each), so a reconcile of an untouched bill matches to the micro-dollar. Then known
differences are planted and reconcile must find exactly those, each with its cause.
"""
from __future__ import annotations

import json
import shutil
from datetime import date, datetime, timezone
from decimal import Decimal as D
from pathlib import Path
from typing import get_args

import pytest

from cachecast.cli import main
from cachecast.errors import InputError
from fakeapi_analytics import BilledUsage

ADMIN = "sk-ant-admin01-reconcile-test-0000"
SONNET = "claude-sonnet-5-5"  # named, not a role: the bill below is worked from its published rates
READ, OUT = "cache_read_input_tokens", "output_tokens"
TYPES = ("uncached_input_tokens", "cache_creation.ephemeral_5m_input_tokens",
         "cache_creation.ephemeral_1h_input_tokens", READ, OUT)
STANDARD = dict(zip(TYPES, (D(2), D("2.5"), D(4), D("0.10"), D(10))))  # $/MTok, Sonnet 5.5 (FACTS.md)
BATCH = {t: r / 2 for t, r in STANDARD.items()}  # 1 / 1.25 / 2 / 0.05 / 5
UTC = timezone.utc


def at(day: str, hour: int = 10) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


@pytest.fixture(scope="module")
def sim_lines(pilot_build, tmp_path_factory) -> list[str]:
    """The shipped pilot's 1,200 requests, simulated once (cachecast.sim), as JSON lines."""
    from cachecast.send import sim

    out = tmp_path_factory.mktemp("reconcile") / "pilot.jsonl"
    sim.simulate_build(pilot_build, out, output_fill_ratio=0.1)
    return out.read_text().splitlines()


@pytest.fixture
def admin(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", ADMIN)


@pytest.fixture
def bill(fake_api):
    fake_api.analytics.prices = {SONNET: {**STANDARD, "web_search": D(10)}}
    return fake_api.analytics


def usage(line: str) -> dict:
    return json.loads(line)["result"]["message"]["usage"]


def tokens(lines: list[str]) -> dict[str, int]:
    """Tokens of each report token type over the lines, from their usage."""
    out = dict.fromkeys(TYPES, 0)
    for line in lines:
        u = usage(line)
        out["uncached_input_tokens"] += u["input_tokens"]
        out["cache_creation.ephemeral_5m_input_tokens"] += u["cache_creation"]["ephemeral_5m_input_tokens"]
        out["cache_creation.ephemeral_1h_input_tokens"] += u["cache_creation"]["ephemeral_1h_input_tokens"]
        out[READ] += u["cache_read_input_tokens"]
        out[OUT] += u["output_tokens"]
    return out


def billed(lines: list[str], when: datetime, **kw) -> list[BilledUsage]:
    """One bill record per line, as Anthropic would meter it."""
    out = []
    for line in lines:
        u = usage(line)
        out.append(BilledUsage(at=when, model=SONNET, uncached_input_tokens=u["input_tokens"],
                               cache_write_5m=u["cache_creation"]["ephemeral_5m_input_tokens"],
                               cache_write_1h=u["cache_creation"]["ephemeral_1h_input_tokens"],
                               cache_read=u["cache_read_input_tokens"], output_tokens=u["output_tokens"],
                               inference_geo=u["inference_geo"], **{"service_tier": u["service_tier"], **kw}))
    return out


def manifest_copy(pilot_build: Path, tmp_path: Path) -> Path:
    """The build's manifest and build.json in a directory of the test's own (for batches.json)."""
    out = tmp_path / "build"
    out.mkdir()
    for name in ("manifest.jsonl", "build.json"):
        shutil.copyfile(pilot_build / name, out / name)
    info = json.loads((out / "build.json").read_text())
    info["config"] = str((Path(__file__).resolve().parents[1] / "config" / "eval_config.pilot.anthropic.yaml"))
    (out / "build.json").write_text(json.dumps(info))
    return out


def ingest(db: Path, lines: list[str], batch_id: str, day: str, tmp_path: Path, manifest: Path | None = None) -> None:
    path = tmp_path / f"{batch_id}.jsonl"
    path.write_text("\n".join(lines) + "\n")
    extra = ["--manifest", str(manifest)] if manifest else []
    assert main(["ingest", str(path), "--db", str(db), "--batch-id", batch_id, "--priced-at", day, *extra]) == 0


def reconcile(capsys, db: Path, url: str, *args: str) -> tuple[int, dict | str, str]:
    capsys.readouterr()
    rc = main(["reconcile", "--db", str(db), "--base-url", url, *args])
    out, err = capsys.readouterr()
    return rc, (json.loads(out) if "--json" in args and out else out), err


def usd(n: int, rate: D) -> D:
    return D(n) * rate / 1_000_000


def over_tolerance(b: D, a: D) -> bool:
    """The default tolerance, by hand: more than $0.01 and more than 0.5% of the billed amount."""
    return abs(b - a) > max(D("0.01"), (b or a) * D("0.005"))


# ------------------------------------------------------------------ the planted differences


def test_reconcile_finds_exactly_the_planted_differences(fake_api, bill, admin, sim_lines, pilot_build, tmp_path,
                                                         capsys):
    A, B, C, D_all = sim_lines[:300], sim_lines[300:600], sim_lines[600:900], sim_lines[900:1100]
    C_late, D_stored = C[150:], D_all[:150]
    build = manifest_copy(pilot_build, tmp_path)
    db = tmp_path / "store.duckdb"
    for lines, batch_id, day in ((A, "msgbatch_A", "2026-11-20"), (B, "msgbatch_B", "2026-11-21"),
                                 (C, "msgbatch_C", "2026-11-23"), (D_stored, "msgbatch_D", "2026-11-26")):
        ingest(db, lines, batch_id, day, tmp_path, manifest=build)
    # the build's batches.json: A complete, D ran 200 requests of which the store has 150
    records = [{"shard": "requests-0001.jsonl", "batch_id": bid, "requests": n, "sha256": "0" * 64,
                "submitted_at": f"{day}T09:00:00Z", "created_at": f"{day}T09:00:00Z"}
               for bid, n, day in (("msgbatch_A", 300, "2026-11-20"), ("msgbatch_D", 200, "2026-11-26"))]
    (build / "batches.json").write_text(json.dumps({"batches": records}))

    read_at_020 = {READ: D("0.20")}  # planted: A's reads billed at $0.20 (Sonnet 5.5's read before 2026-10-07)
    bill.records = (billed(A, at("2026-11-20"), rates=read_at_020)
                    + billed(B, at("2026-11-21"), service_tier="standard")  # planted: B billed at full price
                    + billed(C[:150], at("2026-11-23", 22), batch_created_at=at("2026-11-23", 22))
                    + billed(C_late, at("2026-11-24", 1), batch_created_at=at("2026-11-23", 22))  # past midnight
                    + billed(D_all, at("2026-11-26")))  # planted: 50 lines of D never ingested
    bill.records.append(BilledUsage(at=at("2026-11-28", 9), model=SONNET, output_tokens=200_000,
                                    service_tier="standard", product="messages_api"))  # planted: another job

    expected: dict[tuple[str, str], tuple[str, D]] = {}

    def expect(day: str, token_type: str, b: D, a: D, cause: str) -> None:
        if over_tolerance(b, a):
            expected[(day, token_type)] = (cause, b - a)

    # A: reads at $0.10/MTok batch (half of $0.20) where the store priced $0.05
    expect("2026-11-20", READ, usd(tokens(A)[READ], D("0.10")), usd(tokens(A)[READ], BATCH[READ]),
           "price_correction")
    # B: every token type at the standard rate, 2x the store's batch rate
    for t, n in tokens(B).items():
        expect("2026-11-21", t, usd(n, STANDARD[t]), usd(n, BATCH[t]), "batch_discount")
    # C: the late half billed on 11-24, missing from 11-23
    for t in TYPES:
        whole, late = tokens(C)[t], tokens(C_late)[t]
        expect("2026-11-23", t, usd(whole - late, BATCH[t]), usd(whole, BATCH[t]), "neighbour_day")
        expect("2026-11-24", t, usd(late, BATCH[t]), D(0), "neighbour_day")
    # D: 200 lines billed, 150 in the store
    for t in TYPES:
        expect("2026-11-26", t, usd(tokens(D_all)[t], BATCH[t]), usd(tokens(D_stored)[t], BATCH[t]), "not_ingested")
    # the other job: 200,000 output tokens at the standard $10/MTok = $2.00
    expect("2026-11-28", OUT, usd(200_000, STANDARD[OUT]), D(0), "outside_traffic")
    assert expected[("2026-11-28", OUT)] == ("outside_traffic", D(2))
    assert {cause for cause, _ in expected.values()} == {"price_correction", "batch_discount", "neighbour_day",
                                                        "not_ingested", "outside_traffic"}
    from cachecast.analyse.reconcile import CAUSES

    assert {cause for cause, _ in expected.values()} <= set(CAUSES)

    rc, out, err = reconcile(capsys, db, fake_api.url, "--since", "2026-11-20", "--until", "2026-11-29", "--json")
    assert rc == 1, err  # flagged cells: the check failed
    found = {(c["day"], c["token_type"] or c["cost_type"]): (c["cause"], c["difference_usd"])
             for c in out["cells"] if c["flagged"]}
    assert found == {k: (cause, float(round(diff, 6))) for k, (cause, diff) in expected.items()}
    assert out["cells_flagged"] == len(expected) and out["matched"] is False
    # every other cell is within the tolerance, and exactly equal where nothing was planted
    quiet = [c for c in out["cells"] if not c["flagged"]]
    assert all(not over_tolerance(D(str(c["billed_usd"])), D(str(c["audited_usd"]))) for c in quiet)
    planted = {("2026-11-20", READ), *((day, t) for day in ("2026-11-21", "2026-11-23", "2026-11-24", "2026-11-26")
                                       for t in TYPES)}
    assert all((c["day"], c["token_type"]) in planted for c in quiet if c["difference_usd"] != 0)
    sentences = {c["cause"]: c["explanation"] for c in out["cells"] if c["flagged"]}
    assert "the bill's rate is $0.1000 per MTok against the $0.0500" in sentences["price_correction"]
    assert "batch msgbatch_D (2026-11-26" in sentences["not_ingested"] and "holds 150 of its lines" in \
        sentences["not_ingested"]
    assert "2x the store's cost" in sentences["batch_discount"]
    assert "200,000 tokens and $2.00 more" in sentences["outside_traffic"]


def test_an_untouched_bill_matches_and_reconciles_the_store(fake_api, bill, admin, sim_lines, pilot_build, tmp_path,
                                                           capsys):
    db = tmp_path / "store.duckdb"
    ingest(db, sim_lines[:400], "msgbatch_A", "2026-11-20", tmp_path, manifest=pilot_build)
    bill.records = billed(sim_lines[:400], at("2026-11-20"))
    rc, out, err = reconcile(capsys, db, fake_api.url, "--json")
    assert rc == 0, err
    assert out["matched"] and out["cells_flagged"] == 0 and out["since"] == out["until"] == "2026-11-20"
    # billed = audited, by hand: every token type of the 400 lines at the batch rates
    total = sum(usd(n, BATCH[t]) for t, n in tokens(sim_lines[:400]).items())
    assert out["billed_usd"] == out["audited_usd"] == float(round(total, 6))
    assert out["reconciled_through"] == "2026-11-20"
    # the ledger says so
    capsys.readouterr()
    assert main(["ledger", "--db", str(db)]) == 0
    text = capsys.readouterr().out
    assert "Reconciled with Anthropic's cost report through 2026-11-20" in text


# ------------------------------------------------------------------ what the API does not document


@pytest.mark.parametrize("mode, flagged", [("in_amount", 0), ("in_list", 0), ("none", "all")])
def test_batch_discount_either_way(fake_api, bill, admin, sim_lines, tmp_path, capsys, mode, flagged):
    """Whether `amount` of batch usage is after the 50%: in_amount and in_list match (we
    compare `amount`); with no discount in either, every cell is the batch discount."""
    db = tmp_path / "store.duckdb"
    ingest(db, sim_lines[:300], "msgbatch_A", "2026-11-20", tmp_path)
    bill.records, bill.batch_discount = billed(sim_lines[:300], at("2026-11-20")), mode
    rc, out, _ = reconcile(capsys, db, fake_api.url, "--json")
    cells = [c for c in out["cells"] if c["flagged"]]
    if flagged == 0:
        assert rc == 0 and not cells
        return
    assert rc == 1 and cells and len(cells) == sum(1 for c in out["cells"] if c["billed_usd"] > 0.01)
    assert {c["cause"] for c in cells} == {"batch_discount"}
    assert all("equals its list amount" in c["explanation"] for c in cells)


@pytest.mark.parametrize("unit", ["cents", "dollars"])
def test_amount_unit_either_way(fake_api, bill, admin, sim_lines, tmp_path, capsys, unit):
    db = tmp_path / "store.duckdb"
    ingest(db, sim_lines[:300], "msgbatch_A", "2026-11-20", tmp_path)
    bill.records, bill.amount_unit = billed(sim_lines[:300], at("2026-11-20")), unit
    rc, out, _ = reconcile(capsys, db, fake_api.url, "--json")
    if unit == "cents":
        assert rc == 0 and out["matched"]
    else:  # read as cents, dollar amounts are 1/100 of the store's: said once, on every cell
        assert rc == 1 and {c["cause"] for c in out["cells"] if c["flagged"]} == {"amount_unit"}
        assert any("--amount-unit dollars" in n for n in out["notes"])
        rc, out, _ = reconcile(capsys, db, fake_api.url, "--json", "--amount-unit", "dollars")
        assert rc == 0 and out["matched"] and out["amount_unit"] == "dollars"


@pytest.mark.parametrize("server_day", ["created", "ended"])
def test_which_day_a_batch_lands_on_either_way(fake_api, bill, admin, sim_lines, tmp_path, capsys, server_day):
    """A batch created late on 11-23 that ended on 11-24: the bill puts it on its creation or
    its end day; --batch-day matches either, and the wrong one is named a neighbouring day."""
    from cachecast.analyse.ingest_bridge import ingest_results

    db = tmp_path / "store.duckdb"
    path = tmp_path / "c.jsonl"
    path.write_text("\n".join(sim_lines[:300]) + "\n")
    ingest_results([path], db, batch_id="msgbatch_C", created_at="2026-11-23T22:00:00Z",
                   ended_at="2026-11-24T01:30:00Z")
    bill.batch_day = server_day
    bill.records = billed(sim_lines[:300], at("2026-11-24", 0), batch_created_at=at("2026-11-23", 22),
                          batch_ended_at=at("2026-11-24", 1))
    rc, out, _ = reconcile(capsys, db, fake_api.url, "--json", "--since", "2026-11-23", "--until", "2026-11-24",
                           "--batch-day", server_day)
    assert rc == 0 and out["matched"], out["cells"]
    other = "ended" if server_day == "created" else "created"
    rc, out, _ = reconcile(capsys, db, fake_api.url, "--json", "--since", "2026-11-23", "--until", "2026-11-24",
                           "--batch-day", other)
    causes = {c["cause"] for c in out["cells"] if c["flagged"]}
    assert rc == 1 and causes == {"neighbour_day"}
    assert {c["day"] for c in out["cells"] if c["flagged"]} == {"2026-11-23", "2026-11-24"}


@pytest.mark.parametrize("case, cause", [("half billed", "not_billed"), ("report behind", "report_lag"),
                                         ("nothing billed", "simulated")])
def test_the_store_holding_more_than_the_bill(fake_api, bill, admin, sim_lines, tmp_path, capsys, case, cause):
    db = tmp_path / "store.duckdb"
    ingest(db, sim_lines[:300], "msgbatch_A", "2026-11-20", tmp_path)
    bill.records = {"half billed": billed(sim_lines[:150], at("2026-11-20")),
                    "report behind": billed(sim_lines[:150], at("2026-11-20")), "nothing billed": []}[case]
    if case == "report behind":
        bill.refreshed_at = at("2026-11-20", 6)  # the report's data stops early that morning
    rc, out, _ = reconcile(capsys, db, fake_api.url, "--json")
    assert rc == 1 and {c["cause"] for c in out["cells"] if c["flagged"]} == {cause}
    assert all(c["difference_usd"] < 0 for c in out["cells"] if c["flagged"])


def test_probes_are_reconciled_at_standard_rates(fake_api, bill, admin, sim_lines, tmp_path, capsys):
    """A pre-warm probe (submit's synchronous call) is billed too: 56 input tokens and 1,896
    written at 1h, at standard rates on the day sent: 1,896 x $4 + 56 x $2 = 7,584 + 112
    micro-dollars = $0.007696."""
    from cachecast import store

    db = tmp_path / "store.duckdb"
    ingest(db, sim_lines[:100], "msgbatch_A", "2026-11-20", tmp_path)
    conn = store.connect(db)
    try:
        conn.execute("INSERT INTO probes (build_dir, shape_key, model, api_version, prewarm, ttl, custom_ids, requests, "
                     "probe_custom_id, max_tokens, status, input_tokens, cache_creation_input_tokens, "
                     "cache_write_5m_tokens, cache_write_1h_tokens, cache_read_input_tokens, output_tokens, cost_usd, "
                     "sent_at) VALUES ('b', 'k', ?, '2026-10-21', true, '1h', ['a'], 1, 'a', 0, 'ok', 56, 1896, 0, "
                     "1896, 0, 0, 0.007696, TIMESTAMP '2026-11-20 08:00:00')", [SONNET])
    finally:
        conn.close()
    bill.records = billed(sim_lines[:100], at("2026-11-20"))
    exact = ("--tolerance-usd", "0", "--tolerance-pct", "0")
    rc, out, _ = reconcile(capsys, db, fake_api.url, "--json", *exact)
    flagged = [(c["token_type"], c["difference_usd"], c["cause"]) for c in out["cells"] if c["flagged"]]
    assert rc == 1 and flagged == [("cache_creation.ephemeral_1h_input_tokens", -0.007584, "not_billed"),
                                   ("uncached_input_tokens", -0.000112, "not_billed")]
    bill.records.append(BilledUsage(at=at("2026-11-20", 8), model=SONNET, uncached_input_tokens=56,
                                    cache_write_1h=1896, service_tier="standard", product="messages_api"))
    rc, out, _ = reconcile(capsys, db, fake_api.url, "--json", *exact)
    assert rc == 0 and out["matched"]
    # the store's side follows the filters it can: only synchronous lines (the probe) are messages_api
    rc, out, _ = reconcile(capsys, db, fake_api.url, "--json", "--product", "messages_api", *exact)
    assert rc == 0 and round(out["audited_usd"], 6) == 0.007696 == round(out["billed_usd"], 6)


# ------------------------------------------------------------------ pagination and range splitting


def test_long_range_is_split_and_every_page_read(fake_api, bill, admin, sim_lines, tmp_path, capsys):
    db = tmp_path / "store.duckdb"
    days = ("2026-10-10", "2026-10-15", "2026-10-20", "2026-11-20")
    bill.records = []
    for i, day in enumerate(days):
        ingest(db, sim_lines[i * 100:(i + 1) * 100], f"msgbatch_{i}", day, tmp_path)
        bill.records += billed(sim_lines[i * 100:(i + 1) * 100], at(day))
    bill.max_page = 1  # one row (and its cost_type/token_type fan-out) per page
    rc, out, err = reconcile(capsys, db, fake_api.url, "--json", "--since", "2026-10-01", "--until", "2026-11-30")
    assert rc == 0 and out["matched"], err
    firsts = [(q["path"].rsplit("/", 1)[1], q["starting_at"], q["ending_at"]) for q in bill.queries if "page" not in q]
    # 61 days in two calls of at most 31 days each, for each report
    assert firsts == [("cost", "2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z"),
                      ("usage", "2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z"),
                      ("cost", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z"),
                      ("usage", "2026-11-01T00:00:00Z", "2026-12-01T00:00:00Z")]
    # October has 3 days of cost: 3 pages of one row for each report, each after the first by its cursor
    october = [q for q in bill.queries if q["starting_at"] == "2026-10-01T00:00:00Z"]
    assert len(october) == 6 and sum("page" in q for q in october) == 4
    days = {d["day"]: d for d in out["days"]}
    assert len(days) == 61 and all(days[d]["billed_usd"] > 0 for d in ("2026-10-10", "2026-10-15", "2026-10-20",
                                                                     "2026-11-20"))


def test_windows_by_hand():
    from cachecast.send.analytics import windows

    assert windows(date(2026, 1, 1), date(2026, 3, 5)) == [
        (date(2026, 1, 1), date(2026, 2, 1)), (date(2026, 2, 1), date(2026, 3, 4)), (date(2026, 3, 4), date(2026, 3, 6))]
    assert windows(date(2026, 5, 1), date(2026, 5, 1)) == [(date(2026, 5, 1), date(2026, 5, 2))]


# ------------------------------------------------------------------ bad input: one sentence each


@pytest.fixture
def small_store(sim_lines, tmp_path) -> Path:
    db = tmp_path / "store.duckdb"
    ingest(db, sim_lines[:50], "msgbatch_A", "2026-11-20", tmp_path)
    return db


def test_no_admin_key(fake_api, small_store, monkeypatch, capsys):
    monkeypatch.delenv("ANTHROPIC_ADMIN_KEY", raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-api03-not-for-reports-0000")  # never used for this
    rc, _, err = reconcile(capsys, small_store, fake_api.url)
    assert rc == 2 and err.count("\n") == 1 and "ANTHROPIC_ADMIN_KEY is not set" in err
    assert fake_api.calls == []


@pytest.mark.parametrize("status", [403, 401])
def test_a_standard_key_is_refused(fake_api, bill, small_store, monkeypatch, capsys, status):
    monkeypatch.setenv("ANTHROPIC_ADMIN_KEY", "sk-ant-api03-standard-key-0000")
    bill.non_admin_status = status
    rc, _, err = reconcile(capsys, small_store, fake_api.url)
    assert rc == 2 and err.count("\n") == 1 and "sk-ant-api03-standard" not in err
    assert f"refused the key in ANTHROPIC_ADMIN_KEY ({status}" in err and "Admin API key" in err


def test_a_range_before_the_earliest_day(fake_api, small_store, admin, capsys):
    rc, _, err = reconcile(capsys, small_store, fake_api.url, "--since", "2025-12-31")
    assert rc == 2 and err.count("\n") == 1
    assert "--since 2025-12-31 is before 2026-01-01, the earliest day Anthropic's cost report covers" in err
    assert fake_api.calls == []


def test_range_limits_by_hand():
    from cachecast.errors import InputError
    from cachecast.send.analytics import check_range

    with pytest.raises(InputError, match="more than 365 days ago"):
        check_range(date(2026, 3, 1), date(2026, 3, 2), today=date(2027, 6, 1))
    with pytest.raises(InputError, match="is after today"):
        check_range(date(2026, 3, 1), date(2026, 3, 9), today=date(2026, 3, 8))
    with pytest.raises(InputError, match="is before --since"):
        check_range(date(2026, 3, 2), date(2026, 3, 1), today=date(2026, 3, 8))


def test_an_empty_store(fake_api, admin, store_template, tmp_path, capsys):
    db = tmp_path / "empty.duckdb"
    shutil.copyfile(store_template, db)
    rc, _, err = reconcile(capsys, db, fake_api.url)
    assert rc == 2 and err.count("\n") == 1 and "holds no succeeded result lines" in err
    assert fake_api.calls == []


def test_a_filter_value_the_report_does_not_know(fake_api, small_store, admin, capsys):
    rc, _, err = reconcile(capsys, small_store, fake_api.url, "--product", "batches")
    assert rc == 2 and "product 'batches' is not one the cost report knows" in err and fake_api.calls == []


# ------------------------------------------------------------------ filters, contract, CSV, secrets


def test_filters_reach_the_report_and_exclude_other_traffic(fake_api, bill, admin, sim_lines, tmp_path, capsys):
    db = tmp_path / "store.duckdb"
    ingest(db, sim_lines[:300], "msgbatch_A", "2026-11-20", tmp_path)
    bill.records = billed(sim_lines[:300], at("2026-11-20"), api_key_id="apikey_eval")
    bill.records.append(BilledUsage(at=at("2026-11-20"), model=SONNET, output_tokens=500_000, api_key_id="apikey_other"))
    rc, out, _ = reconcile(capsys, db, fake_api.url, "--json")
    assert rc == 1 and [c["cause"] for c in out["cells"] if c["flagged"]] == ["outside_traffic"]
    assert any("not filtered to an identity" in n for n in out["notes"])
    rc, out, _ = reconcile(capsys, db, fake_api.url, "--json", "--api-key-id", "apikey_eval")
    assert rc == 0 and out["matched"] and out["filters"] == {"api_key_ids": ["apikey_eval"]}
    assert all(q.get("api_key_ids") == ["apikey_eval"] for q in bill.queries[-2:])


def test_json_contract(fake_api, bill, admin, sim_lines, tmp_path, capsys):
    db = tmp_path / "store.duckdb"
    ingest(db, sim_lines[:100], "msgbatch_A", "2026-11-20", tmp_path)
    bill.records = billed(sim_lines[:100], at("2026-11-20"))
    _, out, _ = reconcile(capsys, db, fake_api.url, "--json")
    assert list(out)[:20] == ["reconcile_id", "since", "until", "filters", "tolerance", "amount_unit", "batch_day",
                              "report_refreshed_at", "billed_usd", "audited_usd", "difference_usd", "billed_tokens",
                              "audited_tokens", "cells_compared", "cells_flagged", "matched", "reconciled_through",
                              "days", "cells", "notes"]
    assert out["tolerance"] == {"pct": 0.5, "usd": 0.01}
    cell = out["cells"][0]
    assert set(cell) == {"day", "model", "cost_type", "token_type", "context_window", "inference_geo", "billed_usd",
                         "list_usd", "audited_usd", "difference_usd", "difference_pct", "billed_tokens",
                         "audited_tokens", "difference_tokens", "flagged", "cause", "explanation"}
    assert {c["token_type"] for c in out["cells"]} <= set(TYPES) and cell["cost_type"] == "tokens"
    assert all(isinstance(c["billed_usd"], float) for c in out["cells"])


def test_csv_cells_are_neutralised(fake_api, bill, admin, sim_lines, tmp_path, capsys):
    db = tmp_path / "store.duckdb"
    ingest(db, sim_lines[:50], "msgbatch_A", "2026-11-20", tmp_path)
    evil = '=HYPERLINK("http://x.example","y")'
    bill.prices[evil] = STANDARD
    bill.records = billed(sim_lines[:50], at("2026-11-20"))
    bill.records.append(BilledUsage(at=at("2026-11-20"), model=evil, output_tokens=100_000))
    rc, _, _ = reconcile(capsys, db, fake_api.url, "--csv", str(tmp_path / "csv"))
    assert rc == 1
    text = (tmp_path / "csv" / "reconcile_cells.csv").read_text()
    assert "'=HYPERLINK" in text and ',=HYPERLINK' not in text and '"=HYPERLINK' not in text
    assert (tmp_path / "csv" / "reconcile_days.csv").read_text().startswith("day,billed_usd,audited_usd")


def test_csv_helper_by_hand():
    from cachecast._csv import neutralise

    assert [neutralise(v) for v in ("=1+1", "+1", "-2", "@SUM(A1)", "ok", -0.5, None)] == [
        "'=1+1", "'+1", "'-2", "'@SUM(A1)", "ok", -0.5, None]


def test_the_admin_key_is_written_nowhere(fake_api, bill, admin, sim_lines, tmp_path, capsys):
    import duckdb

    db = tmp_path / "store.duckdb"
    ingest(db, sim_lines[:50], "msgbatch_A", "2026-11-20", tmp_path)
    bill.records = billed(sim_lines[:50], at("2026-11-20"))
    rc, out, err = reconcile(capsys, db, fake_api.url, "--csv", str(tmp_path / "csv"))
    assert rc == 0 and ADMIN not in out + err
    con = duckdb.connect(str(db), read_only=True)
    try:
        for table in ("reconciliations", "reconcile_cells", "reconcile_days"):
            assert ADMIN not in json.dumps(con.execute(f"SELECT * FROM {table}").fetchall(), default=str)
    finally:
        con.close()
    assert all(ADMIN not in p.read_text() for p in (tmp_path / "csv").iterdir())


# ------------------------------------------------------------------ the store: reconciled through


def test_reconciled_through_stops_at_the_first_day_not_matched(fake_api, bill, admin, sim_lines, pilot_build, tmp_path,
                                                              capsys):
    from cachecast import store
    from cachecast.analyse.reconcile_store import reconciled_through

    db = tmp_path / "store.duckdb"
    for i, day in enumerate(("2026-11-20", "2026-11-21", "2026-11-22")):
        ingest(db, sim_lines[i * 100:(i + 1) * 100], f"msgbatch_{i}", day, tmp_path, manifest=pilot_build)
    good = billed(sim_lines[:100], at("2026-11-20")) + billed(sim_lines[100:200], at("2026-11-21"))
    bill.records = good + billed(sim_lines[200:300], at("2026-11-22"), service_tier="standard")
    rc, out, _ = reconcile(capsys, db, fake_api.url, "--json")
    assert rc == 1 and out["reconciled_through"] == "2026-11-21"  # 11-22 is flagged
    bill.records = good + billed(sim_lines[200:300], at("2026-11-22"))
    rc, out, _ = reconcile(capsys, db, fake_api.url, "--json", "--since", "2026-11-22", "--until", "2026-11-22")
    assert rc == 0 and out["reconciled_through"] == "2026-11-22"  # the later run decides for 11-22
    ingest(db, sim_lines[300:400], "msgbatch_3", "2026-11-25", tmp_path)  # a new day, not reconciled
    conn = store.connect(db)
    try:
        assert reconciled_through(conn) == date(2026, 11, 22)
    finally:
        conn.close()
    capsys.readouterr()
    assert main(["ledger", "--db", str(db), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["reconciled_through"] == "2026-11-22"


def test_no_save_keeps_nothing(fake_api, bill, admin, sim_lines, tmp_path, capsys):
    db = tmp_path / "store.duckdb"
    ingest(db, sim_lines[:50], "msgbatch_A", "2026-11-20", tmp_path)
    bill.records = billed(sim_lines[:50], at("2026-11-20"))
    rc, out, _ = reconcile(capsys, db, fake_api.url, "--json", "--no-save")
    assert rc == 0 and out["reconciled_through"] is None


# ------------------------------------------------------------------ the local server follows the SDK's types


def test_local_server_rows_are_the_sdk_types(fake_api, bill, sim_lines):
    from anthropic.types.beta.organization.analytics import BetaAnalyticsCostItem, BetaAnalyticsUsageItem
    from anthropic.types.beta.organization.analytics.beta_analytics_cost_group import BetaAnalyticsCostGroup

    from cachecast.analyse.reconcile import TOKEN_TYPES
    from cachecast.send.analytics import COST_GROUPS, USAGE_GROUPS
    from anthropic.types.beta.organization.beta_analytics_token_type import BetaAnalyticsTokenType

    assert set(TOKEN_TYPES) == set(get_args(BetaAnalyticsTokenType))  # every token type the report names
    bill.records = billed(sim_lines[:20], at("2026-11-20"))
    client = fake_api.client(api_key=ADMIN)
    kw = dict(starting_at="2026-11-20T00:00:00Z", ending_at="2026-11-21T00:00:00Z", time_bucket_width="1d")
    cost = client.beta.organization.analytics.cost.with_raw_response.list(group_by=list(COST_GROUPS), **kw).json()
    usage = client.beta.organization.analytics.usage.with_raw_response.list(group_by=list(USAGE_GROUPS), **kw).json()
    for row in cost["data"]:
        BetaAnalyticsCostItem.model_validate(row, strict=False)
        assert set(row["group"]) == set(BetaAnalyticsCostGroup.model_fields)
    for row in usage["data"]:
        BetaAnalyticsUsageItem.model_validate(row)
    assert cost["data"] and usage["data"] and cost["has_more"] is False


def test_local_server_refuses_what_the_api_refuses(fake_api, bill):
    import anthropic

    client = fake_api.client(api_key=ADMIN, max_retries=0)
    cost = client.beta.organization.analytics.cost
    for kwargs, message in (
            (dict(starting_at="2025-12-01T00:00:00Z"), "no earlier than 2026-01-01"),
            (dict(starting_at="2026-11-01T00:00:00Z", ending_at="2026-12-02T00:00:01Z"), "at most 31 days"),
            (dict(starting_at="2026-11-01T00:00:00Z", time_bucket_width="1d"), "ending_at: is required"),
            (dict(starting_at="2026-11-01T00:00:00Z", group_by=["model", "nonsense"]), "group_by.1"),
            (dict(starting_at="2026-11-01T00:00:00Z", extra_query={"colour": "red"}), "colour: Extra inputs"),
            (dict(starting_at="2026-11-01T00:00:00Z", page="not-a-cursor"), "page: not a cursor")):
        with pytest.raises(anthropic.BadRequestError, match=message):
            cost.list(**kwargs)


# ------------------------------------------------------------------ the report: notebook 04


@pytest.mark.slow
def test_reconcile_report_renders_offline(fake_api, bill, admin, sim_lines, tmp_path, capsys):
    import re

    db = tmp_path / "store.duckdb"
    ingest(db, sim_lines[:100], "msgbatch_A", "2026-11-20", tmp_path)
    ingest(db, sim_lines[100:200], "msgbatch_B", "2026-11-21", tmp_path)
    bill.records = billed(sim_lines[:100], at("2026-11-20")) + billed(sim_lines[100:200], at("2026-11-21"))
    bill.records.append(BilledUsage(at=at("2026-11-21"), model=SONNET, output_tokens=100_000))
    hostile = '<img src=x onerror=alert(1)>'  # a model name is data from outside: escaped like any other
    bill.prices[hostile] = STANDARD
    bill.records.append(BilledUsage(at=at("2026-11-21"), model=hostile, output_tokens=100_000))
    assert reconcile(capsys, db, fake_api.url)[0] == 1
    out = tmp_path / "reconcile.html"
    assert main(["report", "reconcile", "-p", "db_path", str(db), "--out", str(out)]) == 0
    html = out.read_text()
    assert '<script src="http' not in html and not re.search(r'<(script|link)[^>]+(src|href)="https?://', html)
    assert html.count('class="cachecast-spec"') == 1 and "billed (Anthropic)" in html  # the chart, inlined
    assert "outside_traffic" in html and "traffic outside the store" in html  # the flagged cell and its sentence
    assert "2026-11-20" in html and "Reconciled through 2026-11-20" in html
    assert ADMIN not in html
    assert hostile not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_prices_for_one_reconcile_do_not_change_the_store(fake_api, bill, admin, sim_lines, tmp_path, capsys):
    """--prices is a what-if for this command (as on audit and ledger); --store-prices keeps it."""
    db = tmp_path / "store.duckdb"
    ingest(db, sim_lines[:20], "msgbatch_A", "2026-11-20", tmp_path)
    bill.records = billed(sim_lines[:20], at("2026-11-20"))
    prices = tmp_path / "cheap.yaml"
    prices.write_text(f"batch_multiplier: 0.5\nsource: what-if\nmodels:\n  {SONNET}: "
                      "{input: 0.2, write_5m: 0.25, write_1h: 0.4, read: 0.01, output: 1}\n")

    def stored() -> list[tuple]:
        import duckdb

        con = duckdb.connect(str(db), read_only=True)
        try:
            return con.execute("SELECT model, input, output, source FROM price_snapshot ORDER BY ALL").fetchall()
        finally:
            con.close()

    before = stored()
    rc, rec, _ = reconcile(capsys, db, fake_api.url, "--json", "--prices", str(prices))
    assert rc == 1 and rec["cells_flagged"]  # the bill is at list prices; the what-if audit is not
    assert stored() == before
    reconcile(capsys, db, fake_api.url, "--json", "--prices", str(prices), "--store-prices")
    assert stored() != before and all(row[3].startswith("overrides: ") for row in stored())


def test_the_notebook_view_leaves_the_store_free(fake_api, bill, admin, sim_lines, tmp_path, capsys):
    """open_reconcile reads everything it shows and closes its read-only connection: a writer
    (ingest, the CLI) can open the store while a notebook holds the view."""
    import duckdb

    from cachecast.analyse.reconcile_store import open_reconcile

    db = tmp_path / "store.duckdb"
    ingest(db, sim_lines[:100], "msgbatch_A", "2026-11-20", tmp_path)
    bill.records = billed(sim_lines[:100], at("2026-11-20"))
    assert reconcile(capsys, db, fake_api.url)[0] == 0
    view = open_reconcile(db)
    duckdb.connect(str(db)).close()  # would raise "Could not set lock" while a reader held it
    assert len(view.days()) == 2 and view.cells().shape[0] > 0 and len(view.runs()) == 1


def test_the_notebook_view_without_a_reconciliation_names_the_store_and_the_command(store_template, tmp_path):
    from cachecast.analyse.reconcile_store import open_reconcile

    db = tmp_path / "empty.duckdb"
    shutil.copyfile(store_template, db)
    with pytest.raises(InputError, match=r"no reconciliation stored yet; run cachecast reconcile --db \S*empty\.duckdb"):
        open_reconcile(db)


def test_submit_wait_records_when_the_batch_ended(fake_api, monkeypatch, tmp_path):
    """--batch-day ended needs the API's ended_at in the store: submit --wait (and fetch) keep it."""
    import duckdb

    from test_api import make_config

    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-reconcile-0000")
    out, db = tmp_path / "b", tmp_path / "store.duckdb"
    assert main(["build", str(make_config(tmp_path)), "--out", str(out)]) == 0
    assert main(["submit", str(out), "--wait", "--db", str(db), "--base-url", fake_api.url,
                 "--poll-interval", "0"]) == 0
    ended = {b.id: b.ended_at for b in fake_api.batches.values()}
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT batch_id, ended_at FROM batches").fetchall()
    finally:
        con.close()
    assert rows and all(stored == ended[bid].astimezone(UTC).replace(tzinfo=None) for bid, stored in rows)
