"""Ingest: every line accounted for, quarantine with line numbers and reasons, idempotence
under any file name, gzip (whole and cut short), damaged bytes, batch ids, manifest, prices.

The ids checked by name are those of tests/data/results_mixed.jsonl, and the price snapshot's
rows are those models' published rates; claude-imaginary-9 is made up (no price is known)."""
from __future__ import annotations

import gzip
import json
import shutil
from pathlib import Path

import anthropic.types
import pytest
from anthropic.types.messages import MessageBatchIndividualResponse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import roles
from cachecast.analyse import audit
from cachecast import cli, store
from cachecast.store import ingest
from cachecast.errors import InputError

DATA = Path(__file__).resolve().parent / "data"
MIXED = DATA / "results_mixed.jsonl"
QUARANTINE = DATA / "results_quarantine.jsonl"
MANIFEST = DATA / "manifest_mixed"


@pytest.fixture
def db(tmp_path):
    conn = store.connect(tmp_path / "store.duckdb")
    yield conn
    conn.close()


def lines_of(path: Path) -> list[str]:
    return path.read_text().splitlines()


def counts(report) -> tuple[int, int, int, int]:
    return report.lines_read, report.ingested, report.duplicates, report.quarantined


def one(conn, sql, *params):
    return conn.execute(sql, list(params)).fetchone()


# ------------------------------------------------------------------ the fixture is real


def test_fixture_lines_are_valid_sdk_objects():
    """Lines 1-6 and 8-12 are Message Batches result lines, line 7 a plain Message (sync run),
    line 13 is deliberately cut off."""
    lines = lines_of(MIXED)
    for n, line in enumerate(lines, start=1):
        if n == 7:
            assert anthropic.types.Message.model_validate_json(line).usage.cache_read_input_tokens == 1500
        elif n == 13:
            with pytest.raises(ValueError):
                MessageBatchIndividualResponse.model_validate_json(line)
        else:
            parsed = MessageBatchIndividualResponse.model_validate_json(line)
            assert parsed.result.type in {"succeeded", "errored", "canceled", "expired"}
    no_breakdown = MessageBatchIndividualResponse.model_validate_json(lines[3])
    assert no_breakdown.result.message.usage.cache_creation is None  # line 4: the TTL split is missing


# ------------------------------------------------------------------ accounting


def test_mixed_file_accounting_and_columns(db):
    report = ingest.ingest_paths(db, [MIXED], manifest=MANIFEST, progress=False)[0]
    assert counts(report) == (13, 11, 1, 1)
    assert report.lines_read == report.ingested + report.duplicates + report.quarantined
    assert one(db, "SELECT line_no, reason FROM quarantine") == (13, "not JSON")
    row = one(db, "SELECT is_batch, result_type, model, cache_creation_input_tokens, cache_write_5m_tokens, "
                  "cache_write_1h_tokens, raw FROM results WHERE line_no = 4")
    assert row[:6] == (True, "succeeded", "claude-sonnet-4-5-20250929", 500, None, None)  # no breakdown kept as NULL
    assert row[6] == lines_of(MIXED)[3]  # the raw line, exactly
    sync = one(db, "SELECT is_batch, custom_id, message_id, service_tier FROM results WHERE line_no = 7")
    assert sync == (False, None, "msg_07MixedSyncSonnet", "standard")
    err = one(db, "SELECT error_type, error_message, input_tokens FROM results WHERE line_no = 8")
    assert err == ("invalid_request_error", "max_tokens: Field required", None)
    assert one(db, "SELECT count(*) FROM results WHERE simulated")[0] == 0
    assert one(db, "SELECT lines_read, ingested, duplicates, quarantined FROM ingests") == (13, 11, 1, 1)


def test_every_quarantine_reason_with_its_line(db):
    report = ingest.ingest_paths(db, [QUARANTINE], progress=False)[0]
    assert counts(report) == (16, 2, 0, 14)
    got = dict(db.execute("SELECT line_no, reason FROM quarantine").fetchall())
    assert got == {
        2: "not JSON",
        3: 'not a result line: expected {"custom_id", "result"} or a Message object',  # [1, 2, 3]
        4: 'not a result line: expected {"custom_id", "result"} or a Message object',  # {"hello": ...}
        5: 'unknown result type "partially_succeeded"',
        6: "usage.input_tokens is negative (-5)",
        7: "usage.cache_read_input_tokens is not an integer (12.5)",
        8: 'usage.output_tokens is a string ("20")',
        9: "usage.cache_creation_input_tokens is implausibly large (99999999999999999999999 > 10,000,000)",
        10: "usage missing or null on a succeeded line",
        11: "usage missing or null on a succeeded line",
        12: "usage.cache_creation breakdown (80 + 80) exceeds cache_creation_input_tokens (100)",
        13: "usage.output_tokens is implausibly large (20000000 > 10,000,000)",
        14: "custom_id missing",
        15: "usage.input_tokens missing",
    }
    assert sorted(r[0] for r in db.execute("SELECT line_no FROM results").fetchall()) == [1, 16]
    raw = dict(db.execute("SELECT line_no, raw FROM quarantine").fetchall())
    assert raw[2] == "this is not json"


def test_count_beyond_bigint_is_quarantined_not_fatal(db, tmp_path):
    line = json.loads(lines_of(MIXED)[0])
    line["result"]["message"]["usage"]["input_tokens"] = 2**63  # fits UBIGINT, not BIGINT
    path = tmp_path / "big.jsonl"
    path.write_text(json.dumps(line) + "\n" + lines_of(MIXED)[1] + "\n")
    assert counts(ingest.ingest_paths(db, [path], progress=False)[0]) == (2, 1, 0, 1)
    assert "implausibly large" in one(db, "SELECT reason FROM quarantine")[0]


def test_same_lines_under_any_name_or_gzipped_add_nothing(db, tmp_path):
    first = ingest.ingest_paths(db, [MIXED], progress=False)[0]
    batch = first.batch_id
    copy = tmp_path / "msgbatch_01Renamed_results.jsonl"
    shutil.copy(MIXED, copy)
    packed = tmp_path / "results.jsonl.gz"
    packed.write_bytes(gzip.compress(MIXED.read_bytes()))
    for path in (MIXED, copy, packed):
        report = ingest.ingest_paths(db, [path], progress=False)[0]
        # issue 12: the copy named after its msgbatch_ id gives the inferred batch its real id
        # (one batch, renamed in place); the gzip after it finds that batch by fingerprint
        assert report.batch_id == batch and (report.ingested, report.quarantined) == (0, 0)
        assert report.duplicates == report.lines_read == 13
        if path == MIXED:
            batch = "msgbatch_01Renamed"
    assert one(db, "SELECT list(batch_id) FROM batches")[0] == ["msgbatch_01Renamed"]
    assert one(db, "SELECT count(*) FROM results")[0] == 11
    assert one(db, "SELECT count(*) FROM quarantine")[0] == 1
    assert one(db, "SELECT count(*) FROM ingests")[0] == 1  # nothing new, nothing recorded


def test_reordered_redownload_dedupes_messages_by_id(db, tmp_path):
    ingest.ingest_paths(db, [MIXED], batch_id="msgbatch_A", progress=False)
    shuffled = tmp_path / "again.jsonl"
    shuffled.write_text("\n".join(reversed(lines_of(MIXED)[:12])) + "\n")
    report = ingest.ingest_paths(db, [shuffled], batch_id="msgbatch_A", progress=False)[0]
    assert counts(report) == (12, 0, 12, 0)


def test_batch_id_from_name_and_explicit(db, tmp_path):
    path = tmp_path / "msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d_results.jsonl"
    path.write_text('{"custom_id":"a","result":{"type":"expired"}}\n')
    assert ingest.ingest_paths(db, [path], progress=False)[0].batch_id == "msgbatch_01HkcTjaV5uDC8jWR4ZsDV8d"
    plain = tmp_path / "results.jsonl"
    plain.write_text('{"custom_id":"b","result":{"type":"expired"}}\n')
    assert ingest.ingest_paths(db, [plain], progress=False)[0].batch_id.startswith("file-")
    # issue 14 (class 5): a line's identity no longer depends on the batch id, so the same
    # expired line under another --batch-id is the same line (a duplicate), not a second one
    again = ingest.ingest_paths(db, [path], batch_id="msgbatch_retry", progress=False)[0]
    assert (again.batch_id, again.ingested, again.duplicates) == ("msgbatch_retry", 0, 1)
    with pytest.raises(InputError, match="batch id"):
        ingest.ingest_paths(db, [path], batch_id="bad id; drop table", progress=False)


def _succeeded(custom_id: str, message_id: str, *, read: int = 0, write: int = 0, output: int = 5) -> dict:
    return {"custom_id": custom_id, "result": {"type": "succeeded", "message": {
        "id": message_id, "type": "message", "role": "assistant", "model": roles.default(),
        "content": [], "stop_reason": "end_turn", "stop_sequence": None,
        "usage": {"input_tokens": 10, "cache_creation_input_tokens": write, "cache_read_input_tokens": read,
                  "output_tokens": output, "service_tier": "batch"}}}}


def test_simulated_lines_are_counted_once_whatever_the_batch_id(db, tmp_path, capsys):
    """Issue 12 (replaces the old per-batch rule for msg_sim_ ids): the same custom_id +
    message id under a second batch id is a duplicate, said in one sentence."""
    path = tmp_path / "sim.jsonl"
    path.write_text(json.dumps(_succeeded("s1", "msg_sim_aaaaaaaaaaaa000000")) + "\n")
    assert ingest.ingest_paths(db, [path], batch_id="sim_run_1", progress=False)[0].ingested == 1
    assert ingest.ingest_paths(db, [path], batch_id="sim_run_1", progress=False)[0].duplicates == 1
    again = ingest.ingest_paths(db, [path], batch_id="sim_run_2", progress=False)[0]
    assert counts(again) == (1, 0, 1, 0)  # lines read 1 = 0 ingested + 1 duplicate + 0 quarantined
    assert again.stored_elsewhere == {"sim_run_1": 1}
    assert "1 line already stored under batch sim_run_1 (1) are counted as duplicates" in again.summary()
    assert one(db, "SELECT count(*), bool_and(simulated) FROM results") == (1, True)
    assert one(db, "SELECT count(*) FROM batches")[0] == 1  # nothing new: no empty second batch
    assert cli.main(["ingest", str(path), "--db", str(tmp_path / "cli.duckdb"), "--batch-id", "b1"]) == 0
    assert cli.main(["ingest", str(path), "--db", str(tmp_path / "cli.duckdb"), "--batch-id", "b2"]) == 0
    assert "already stored under batch b1" in capsys.readouterr().out


def test_empty_or_repeated_message_ids_do_not_merge_distinct_requests(db, tmp_path):
    """A message id "" (or one id on several custom_ids) must not collapse requests: the key is
    custom_id + message id, and without a message id the line's content."""
    lines = [_succeeded("a", ""), _succeeded("b", ""), _succeeded("c", "msg_same"), _succeeded("d", "msg_same"),
             _succeeded("a", "")]  # the last one repeats line 1 exactly: a duplicate
    path = tmp_path / "ids.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    assert counts(ingest.ingest_paths(db, [path], batch_id="b1", progress=False)[0]) == (5, 4, 1, 0)
    other = tmp_path / "ids-again.jsonl"
    other.write_text("".join(json.dumps(x) + "\n" for x in lines[:4]))
    assert counts(ingest.ingest_paths(db, [other], batch_id="b2", progress=False)[0]) == (4, 0, 4, 0)
    assert one(db, "SELECT count(DISTINCT custom_id), count(*) FROM results") == (4, 4)


def test_fingerprint_batch_takes_its_msgbatch_id_when_fetched(db, tmp_path):
    """results.jsonl ingested bare gets file-<fingerprint>; the same results fetched later as
    msgbatch_... (here re-serialized, so another fingerprint, with an errored line) rename that
    batch in place: one batch, each line once, errored lines not duplicated either."""
    lines = [_succeeded("a", "msg_01A", write=2000), _succeeded("b", "msg_01B", read=2000),
             {"custom_id": "c", "result": {"type": "errored", "error": {"type": "error", "error": {
                 "type": "overloaded_error", "message": "Overloaded"}}}}]
    bare = tmp_path / "results.jsonl"
    bare.write_text("".join(json.dumps(x) + "\n" for x in lines))
    first = ingest.ingest_paths(db, [bare], progress=False)[0]
    assert first.batch_id.startswith("file-") and first.ingested == 3
    before = audit.summary(db)
    fetched = tmp_path / "fetched.jsonl"
    fetched.write_text("".join(json.dumps(x, indent=None, separators=(",", ":")) + "\n" for x in reversed(lines)))
    later = ingest.ingest_paths(db, [fetched], batch_id="msgbatch_01Real", progress=False,
                                created_at="2026-11-02T10:00:00Z", created_at_source="api")[0]
    assert (later.batch_id, later.renamed_from, later.ingested, later.duplicates) == (
        "msgbatch_01Real", first.batch_id, 0, 3)
    assert "now has its real id msgbatch_01Real" in later.summary()
    assert one(db, "SELECT list(batch_id), list(created_at_source) FROM batches") == (["msgbatch_01Real"], ["api"])
    assert one(db, "SELECT count(*), count(DISTINCT batch_id) FROM results") == (3, 1)
    assert one(db, "SELECT list(DISTINCT batch_id) FROM ingests")[0] == ["msgbatch_01Real"]
    after = audit.summary(db)
    assert {k: after[k] for k in audit.CONTRACT_KEYS if k != "cost_usd"} == \
        {k: before[k] for k in audit.CONTRACT_KEYS if k != "cost_usd"}
    # ingesting it once more changes nothing, and a new inferred batch is not made
    assert ingest.ingest_paths(db, [bare], progress=False)[0].batch_id == "msgbatch_01Real"
    assert one(db, "SELECT count(*) FROM batches")[0] == 1


def test_cache_miss_reason_is_flattened_when_present(db, tmp_path):
    line = _succeeded("a", "msg_01Diag", write=2000)
    line["result"]["message"]["diagnostics"] = {"cache_miss_reason": {"type": "system_changed",
                                                                      "cache_missed_input_tokens": 1800}}
    plain = _succeeded("b", "msg_02Diag", write=2000)
    plain["result"]["message"]["diagnostics"] = {"cache_miss_reason": "previous_message_not_found"}
    path = tmp_path / "diag.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in (line, plain, _succeeded("c", "msg_03"))))
    ingest.ingest_paths(db, [path], batch_id="b1", progress=False)
    rows = db.execute("SELECT custom_id, cache_miss_reason, cache_missed_input_tokens FROM results "
                      "ORDER BY custom_id").fetchall()
    assert rows == [("a", "system_changed", 1800), ("b", "previous_message_not_found", None), ("c", None, None)]


# ------------------------------------------------------------------ damaged files


def test_blank_lines_crlf_bom_nul_and_bad_utf8_keep_line_numbers(db, tmp_path):
    good = MIXED.read_bytes().split(b"\n")
    data = (b"\xef\xbb\xbf" + good[0] + b"\r\n\n" + good[1] + b"\n   \n" + b'{"x":1}\x00junk\n'
            + b'{"custom_id":"\xff\xfe"}\n' + good[2] + b"\n\n\n" + good[3])
    path = tmp_path / "dirty.jsonl"
    path.write_bytes(data)
    report = ingest.ingest_paths(db, [path], progress=False)[0]
    assert report.path_taken == "sanitized"
    assert counts(report) == (6, 4, 0, 2) and report.blank_lines == 4  # lines 2, 4, 8, 9
    assert [r[0] for r in db.execute("SELECT line_no FROM results ORDER BY 1").fetchall()] == [1, 3, 7, 10]
    got = db.execute("SELECT line_no, reason FROM quarantine ORDER BY 1").fetchall()
    assert got == [(5, "contains NUL bytes"), (6, "not valid UTF-8 (byte 15)")]


def test_gzip_whole_and_cut_short(db, tmp_path):
    body = b"\n".join(MIXED.read_bytes().split(b"\n")[:11]) + b"\n"
    packed = gzip.compress(body)
    cut = tmp_path / "cut.jsonl.gz"
    cut.write_bytes(packed[: len(packed) * 2 // 3])
    report = ingest.ingest_paths(db, [cut], progress=False)[0]
    assert report.quarantined == 1 and report.lines_read == report.ingested + report.quarantined
    line_no, reason = one(db, "SELECT line_no, reason FROM quarantine")
    assert line_no == report.lines_read and reason.startswith("gzip stream cut short")
    whole = tmp_path / "whole.jsonl.gz"
    whole.write_bytes(packed)
    again = ingest.ingest_paths(db, [whole], progress=False)[0]
    assert again.ingested + again.duplicates == 11 and again.quarantined == 0
    assert one(db, "SELECT count(DISTINCT message_id) FROM results")[0] == 8  # every succeeded line once


def test_not_gzip_and_missing_file_are_clear_errors(tmp_path, capsys):
    fake = tmp_path / "results.jsonl.gz"
    fake.write_bytes(MIXED.read_bytes())
    assert cli.main(["ingest", str(fake), "--db", str(tmp_path / "s.duckdb")]) == 2
    assert "named .gz but is not a gzip file" in capsys.readouterr().err
    assert cli.main(["ingest", str(tmp_path / "nope.jsonl"), "--db", str(tmp_path / "s.duckdb")]) == 2
    assert "nope.jsonl: file not found" in capsys.readouterr().err


def test_empty_file(db, tmp_path):
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    assert counts(ingest.ingest_paths(db, [path], progress=False)[0]) == (0, 0, 0, 0)


def test_bom_trailing_blank_lines_and_an_over_long_line(db, tmp_path):
    good = lines_of(MIXED)
    bom = tmp_path / "bom.jsonl"
    bom.write_bytes(b"\xef\xbb\xbf" + "\n".join(good[:2]).encode() + b"\n\n\n")
    report = ingest.ingest_paths(db, [bom], progress=False)[0]
    assert counts(report) == (2, 2, 0, 0) and report.blank_lines == 2
    huge = json.loads(good[2])
    huge["result"]["message"]["content"][0]["text"] = "z" * (ingest.read.MAX_LINE + 10)
    path = tmp_path / "huge.jsonl"
    path.write_text("\n".join([good[4], json.dumps(huge), good[5]]) + "\n")
    report = ingest.ingest_paths(db, [path], progress=False)[0]
    assert counts(report) == (3, 2, 0, 1)
    line_no, reason, size = one(db, "SELECT line_no, reason, strlen(raw) FROM quarantine")
    assert (line_no, reason) == (2, "line longer than 16,777,216 bytes") and size == 4000  # its start is kept
    assert one(db, "SELECT line_no FROM results WHERE message_id = 'msg_06MixedHaikuRead'")[0] == 3


def test_long_line_is_read(db, tmp_path):
    line = json.loads(lines_of(MIXED)[0])
    line["result"]["message"]["content"][0]["text"] = "x" * 3_000_000  # beyond DuckDB's default 2 MB line size
    path = tmp_path / "long.jsonl"
    path.write_text(json.dumps(line) + "\n" + lines_of(MIXED)[1] + "\n")
    assert counts(ingest.ingest_paths(db, [path], progress=False)[0]) == (2, 2, 0, 0)


# ------------------------------------------------------------------ prices and manifest


def test_unknown_model_line_is_quarantined_with_its_reason_and_the_rest_kept(db, tmp_path):
    """Issue 19 section 6: one line no price is known for is quarantined (its reason says so,
    with the overrides snippet), the other lines of its file are ingested; given a price
    later (--prices FILE), the same file brings the line in and it leaves quarantine."""
    lines = lines_of(MIXED)
    line = json.loads(lines[0])
    line["result"]["message"]["model"] = "claude-imaginary-9"
    path = tmp_path / "unknown.jsonl"
    path.write_text(json.dumps(line) + "\n" + "".join(x + "\n" for x in lines[1:]))
    [report] = ingest.ingest_paths(db, [path], progress=False)
    priced = [r for r in report.reasons if r.startswith("no price:")]
    assert report.lines_read == len(lines) == report.ingested + report.duplicates + report.quarantined
    kept = {r[0] for r in db.execute("SELECT custom_id FROM results").fetchall()}
    assert line["custom_id"] not in kept and len(kept) == report.ingested
    assert report.reasons["not JSON"] == 1 and report.quarantined == 2  # MIXED's own bad line, and this one
    [(reason, raw)] = db.execute("SELECT reason, raw FROM quarantine WHERE line_no = 1").fetchall()
    assert priced == [reason] and reason.startswith("no price: no known price for model 'claude-imaginary-9'")
    assert "--prices" in reason and json.loads(raw) == line  # the line's text, for the reader of the quarantine
    prices = tmp_path / "prices.yaml"
    prices.write_text('{source: test, batch_multiplier: 0.5, models: {"claude-imaginary-9": '
                      '{input: 1, write_5m: 1.25, write_1h: 2, read: 0.1, output: 5}}}')
    [again] = ingest.ingest_paths(db, [path], progress=False, overrides=prices)
    assert (again.ingested, again.quarantined) == (1, 0)
    assert db.execute("SELECT reason FROM quarantine").fetchall() == [("not JSON",)]
    assert one(db, "SELECT count(*) FROM results WHERE model = 'claude-imaginary-9'")[0] == 1


def test_price_snapshot_holds_both_rates_per_model(db):
    ingest.ingest_paths(db, [MIXED], progress=False)
    rows = db.execute("SELECT model, batch, input, write_5m, write_1h, read, output FROM price_snapshot "
                      "ORDER BY model, batch").fetchall()
    as_text = [(m, b, *(str(x.normalize()) for x in r)) for m, b, *r in rows]
    assert ("claude-haiku-4-5-20251001", True, "0.5", "0.625", "1", "0.05", "2.5") in as_text
    assert ("claude-sonnet-4-5-20250929", True, "1.5", "1.875", "3", "0.15", "7.5") in as_text
    assert ("claude-sonnet-4-5-20250929", False, "3", "3.75", "6", "0.3", "15") in as_text


@pytest.mark.parametrize("which", ["clean", "mixed"])
def test_a_bad_manifest_stores_nothing_of_the_file(tmp_path, which):
    """The manifest loads in a thread while the first file is parsed (fast path: a clean file;
    staged: results_mixed, which has a line to quarantine): its error still stops the file
    before anything of it, or of the manifest, is stored."""
    path = MIXED
    if which == "clean":
        path = tmp_path / "clean.jsonl"
        path.write_text("\n".join(lines_of(MIXED)[:12]) + "\n")
    bad = tmp_path / "build"
    bad.mkdir()
    rows = lines_of(MANIFEST / "manifest.jsonl")
    (bad / "manifest.jsonl").write_text("\n".join(rows + rows[:1]) + "\n")  # a custom_id twice
    conn = store.connect(tmp_path / "s.duckdb")
    with pytest.raises(InputError, match="a custom_id appears twice"):
        ingest.ingest_paths(conn, [path], manifest=bad, progress=False)
    stored = {t: one(conn, f"SELECT count(*) FROM {t}")[0]
              for t in ("results", "quarantine", "batches", "ingests", "manifest", "manifests", "price_snapshot")}
    assert stored == dict.fromkeys(stored, 0)
    conn.close()


def test_a_new_manifest_links_the_batch_to_its_run(tmp_path):
    """The file's transaction cannot see a manifest committed while it ran: the run is linked
    after the file, and the batch belongs to it all the same."""
    build = tmp_path / "build"
    shutil.copytree(MANIFEST, build)
    (build / "build.json").write_text(json.dumps({"run_name": "eval-a", "config_fingerprint": "f00d"}))
    conn = store.connect(tmp_path / "s.duckdb")
    report = ingest.ingest_paths(conn, [MIXED], manifest=build, batch_id="msgbatch_RUN", progress=False)[0]
    assert report.ingested > 0
    assert one(conn, "SELECT run_id FROM batches WHERE batch_id = 'msgbatch_RUN'") == ("eval-a@f00d",)
    assert one(conn, "SELECT count(*) FROM manifests WHERE run_id = 'eval-a@f00d'") == (1,)
    conn.close()


def test_manifest_join_and_reload(db, tmp_path):
    ingest.ingest_paths(db, [MIXED], manifest=MANIFEST, progress=False)
    row = one(db, "SELECT item_id, treatment, temperature, requested_ttl, prefix_hash FROM request_costs "
                  "WHERE custom_id = 'item03__control__t0__r1'")
    assert row == ("item03", "control", 0.0, "5m", "bbbb2222bbbb2222")
    assert ingest.load_manifest(db, MANIFEST) == ingest.load_manifest(db, MANIFEST / "manifest.jsonl")
    assert one(db, "SELECT count(*) FROM manifests")[0] == 1
    bad = tmp_path / "bad_manifest"
    bad.mkdir()
    (bad / "manifest.jsonl").write_text("not json\n")
    with pytest.raises(InputError, match="not a cachecast build manifest"):
        ingest.load_manifest(db, bad)
    with pytest.raises(InputError, match="no manifest.jsonl"):
        ingest.load_manifest(db, tmp_path)


def test_manifest_given_later_attaches_to_the_batch(db):
    first = ingest.ingest_paths(db, [MIXED], progress=False)[0]
    assert one(db, "SELECT manifest_id FROM batches")[0] is None
    ingest.ingest_paths(db, [MIXED], manifest=MANIFEST, progress=False)
    assert one(db, "SELECT manifest_id FROM batches WHERE batch_id = ?", first.batch_id)[0].startswith("m-")


# ------------------------------------------------------------------ CLI and progress


def test_cli_ingest_prints_accounting(tmp_path, capsys):
    db = tmp_path / "cli.duckdb"
    assert cli.main(["ingest", str(MIXED), str(QUARANTINE), "--db", str(db), "--manifest", str(MANIFEST)]) == 0
    out = capsys.readouterr().out
    assert "13 lines read = 11 ingested + 1 duplicates + 1 quarantined" in out
    assert "quarantined 1: not JSON" in out
    assert "total: 29 lines read = 13 ingested + 1 duplicates + 15 quarantined" in out


def test_raw_text_kept_for_unusual_lines_and_all_with_keep_raw(tmp_path):
    # results_mixed: lines 1-3, 5-7, 11, 12 are ordinary succeeded lines (end_turn); line 4 ended
    # at max_tokens; 8-10 are errored/canceled/expired; 12 is a duplicate of 11; 13 is quarantined
    clean = tmp_path / "clean.jsonl"
    clean.write_text("\n".join(lines_of(MIXED)[:12]) + "\n")  # no bad line: the fast path takes it
    conn = store.connect(tmp_path / "default.duckdb")
    report = ingest.ingest_paths(conn, [clean], progress=False)[0]
    assert report.path_taken == "fast" and counts(report) == (12, 11, 1, 0)
    kept = dict(conn.execute("SELECT line_no, raw FROM results WHERE raw IS NOT NULL").fetchall())
    assert sorted(kept) == [4, 8, 9, 10]
    assert all(kept[n] == lines_of(MIXED)[n - 1] for n in kept)  # exactly as read
    assert one(conn, "SELECT source_file, raw_bytes FROM results WHERE line_no = 1") == (str(clean), None)
    db = tmp_path / "keep.duckdb"
    assert cli.main(["ingest", str(MIXED), "--db", str(db), "--keep-raw"]) == 0
    conn = store.connect(db)
    rows = conn.execute("SELECT line_no, raw FROM results ORDER BY line_no").fetchall()
    assert len(rows) == 11 and all(raw == lines_of(MIXED)[n - 1] for n, raw in rows)
    assert one(conn, "SELECT path_taken FROM ingests") == ("staged",)
    # the fast and the staged path store the same values (only raw differs)
    staged = store.connect(tmp_path / "staged.duckdb")
    assert ingest.ingest_paths(staged, [clean], keep_raw=True, progress=False)[0].path_taken == "staged"
    columns = "SELECT * EXCLUDE (raw, raw_bytes) FROM results ORDER BY line_no"
    fast = store.connect(tmp_path / "default.duckdb")
    assert fast.execute(columns).fetchall() == staged.execute(columns).fetchall()


def test_progress_bar_does_not_break_ingest(db, capsys):
    report = ingest.ingest_paths(db, [MIXED], progress=True)[0]
    assert report.ingested == 11


# ------------------------------------------------------------------ properties


VALID = lines_of(MIXED)[:11]
INVALID = ["", "garbage", "[]", '{"custom_id":"z","result":{"type":"weird"}}', lines_of(QUARANTINE)[5]]


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(VALID + INVALID), min_size=1, max_size=25))
def test_every_line_accounted_and_reingest_adds_nothing(tmp_path_factory, picks):
    tmp = tmp_path_factory.mktemp("prop")
    path = tmp / "results.jsonl"
    path.write_text("\n".join(picks) + "\n")
    conn = store.connect(tmp / "p.duckdb")
    try:
        first = ingest.ingest_paths(conn, [path], progress=False)[0]
        assert first.lines_read + first.blank_lines == len(picks)
        assert first.lines_read == first.ingested + first.duplicates + first.quarantined
        before = audit.summary(conn)
        second = ingest.ingest_paths(conn, [path], progress=False)[0]
        assert (second.ingested, second.quarantined) == (0, 0)
        assert audit.summary(conn) == before
    finally:
        conn.close()


def test_staged_rowids_follow_the_file_past_one_row_group(tmp_path):
    """The staged path numbers a line by its staged row's rowid + 1 (ingest.sql
    view_staged_rows): that holds only while a table written once in file order has its
    rowids in that order, also for a file read in parallel, in several row groups (122,880
    rows each)."""
    import duckdb

    path = tmp_path / "r.jsonl"
    n = 300_000
    path.write_text("".join(f'{{"custom_id": "c{i}"}}\n' for i in range(1, n + 1)))
    conn = duckdb.connect(config={"threads": 4})
    conn.execute("SET preserve_insertion_order = true")
    conn.execute(store.query("store/ingest.sql", "stage_lines"), {"path": str(path)})
    wrong = conn.execute("SELECT count(*) FROM cc_lines WHERE line <> '{\"custom_id\": \"c' || (rowid + 1) || '\"}'"
                         ).fetchone()[0]
    assert (conn.execute("SELECT count(*) FROM cc_lines").fetchone()[0], wrong) == (n, 0)
    conn.close()


def test_fast_path_numbers_lines_in_file_order_past_one_row_group(tmp_path):
    """The fast path numbers its rows from their row ids inside the transaction (ingest.sql
    number_parsed): that holds only while the rows one INSERT adds keep file order under
    consecutive row ids, also read in parallel, in several row groups, into a table that
    already holds rows, some of them deleted."""
    from cachecast.store.ingest.load import _macros

    path = tmp_path / "r.jsonl"
    n = 300_000
    path.write_text("".join(f'{{"custom_id": "c{i}"}}\n' for i in range(1, n + 1)))
    conn = store.connect(tmp_path / "s.duckdb", threads=4)
    conn.execute("SET preserve_insertion_order = true")
    _macros(conn)  # insert_parsed shapes as it parses
    for ingest_id in (1, 2, 3):
        ids = {"ingest_id": ingest_id, "batch_id": "b"}
        with store.transaction(conn):
            conn.execute(store.query("store/ingest.sql", "insert_parsed"),
                         {**ids, "paths": [str(path)], "source_file": str(path)})
            conn.execute(store.query("store/ingest.sql", "number_parsed"), {"ingest_id": ingest_id})
        conn.execute("DELETE FROM results WHERE ingest_id = ? AND line_no % 7 = 0", [ingest_id])
        if ingest_id == 2:
            conn.execute("CHECKPOINT")
    rows = conn.execute("SELECT ingest_id, count(*), count(*) FILTER (WHERE custom_id <> 'c' || line_no) "
                        "FROM results GROUP BY ingest_id ORDER BY ingest_id").fetchall()
    kept = n - n // 7
    assert rows == [(1, kept, 0), (2, kept, 0), (3, kept, 0)]
    conn.close()
