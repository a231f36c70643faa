"""Many files in one ingest call (issue 14, class 11): small clean files go through one
set-based pass per chunk and then one transaction each (path 'chunked'); whatever a chunk
cannot take goes through the one-file path. Whatever the path, the store must end up exactly
as when the files are ingested one at a time: these tests ingest the same folders both ways
and compare every table. The speed itself is measured in bench/fig_manyfiles.py."""
from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

import roles
from cachecast.store import ingest
from cachecast import store

DATA = Path(__file__).resolve().parent / "data"
MIXED = DATA / "results_mixed.jsonl"
MODEL = roles.default()
KEY = "sk-ant-api03-" + "k" * 40


def succeeded(cid: str, msg: str, tokens: int = 10, model: str = MODEL) -> str:
    usage = {"input_tokens": tokens, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
             "output_tokens": 5, "service_tier": "batch"}
    message = {"id": msg, "type": "message", "role": "assistant", "model": model, "content": [],
               "stop_reason": "end_turn", "stop_sequence": None, "usage": usage}
    return json.dumps({"custom_id": cid, "result": {"type": "succeeded", "message": message}})


def errored(cid: str, text: str = "Overloaded") -> str:
    return json.dumps({"custom_id": cid, "result": {"type": "errored", "error": {
        "type": "error", "error": {"type": "overloaded_error", "message": text}}}})


def shard(folder: Path, name: str, *lines: str, end: str = "\n") -> Path:
    path = folder / name
    path.write_text(end.join(lines) + end)
    return path


def clean_shards(folder: Path, n: int, start: int = 0) -> list[Path]:
    return [shard(folder, f"s{i:03d}.jsonl", succeeded(f"r{i}-a", f"msg_{i}_a"), succeeded(f"r{i}-b", f"msg_{i}_b"),
                  errored(f"r{i}-e")) for i in range(start, start + n)]


def hostile_folder(folder: Path) -> None:
    """Clean shards (enough for the parallel commits) mixed with every kind of file a chunk
    must hand to the one-file path, and lines that repeat across files."""
    folder.mkdir()
    clean_shards(folder, 14)
    shard(folder, "s100-copy.jsonl", *(folder / "s001.jsonl").read_text().splitlines())  # all duplicates
    shard(folder, "s101-overlap.jsonl", succeeded("r2-a", "msg_2_a"), succeeded("x1", "msg_x1"))  # one repeat
    shard(folder, "s102-quarantine.jsonl", succeeded("q1", "msg_q1"), '{"custom_id": "q2", "result": 7}', "not json")
    shard(folder, "s103-conflict.jsonl", succeeded("r3-a", "msg_3_a", tokens=999))  # r3-a, other tokens
    shard(folder, "s104-crlf.jsonl", succeeded("c1", "msg_c1"), errored("c2"), end="\r\n")
    shard(folder, "s105-blank.jsonl", succeeded("b1", "msg_b1"), "", succeeded("b2", "msg_b2"))
    shard(folder, "s106-dupkey.jsonl", succeeded("d1", "msg_d1").replace('"custom_id": "d1"',
                                                                        '"custom_id": "d1", "custom_id": "d9"'))
    shard(folder, "s107-[glob].jsonl", succeeded("g1", "msg_g1"))
    shard(folder, "s107-g.jsonl", succeeded("WRONG", "msg_wrong"))  # what DuckDB's glob would read instead
    shard(folder, "s108-nonewline.jsonl", succeeded("n1", "msg_n1"), succeeded("n2", "msg_n2"), end="")
    (folder / "s109.jsonl.gz").write_bytes(gzip.compress((succeeded("z1", "msg_z1") + "\n").encode()))
    shard(folder, "s110-unusual.jsonl", succeeded("u1", "msg_u1").replace("end_turn", "max_tokens"))
    shard(folder, "s111-sync.jsonl", json.dumps(json.loads(succeeded("m1", "msg_m1"))["result"]["message"]))
    (folder / "s112-empty.jsonl").write_text("")


def ingest_both(tmp_path: Path, monkeypatch, files: list[str], before=None, **kwargs) -> tuple[dict, dict]:
    """Ingest `files` chunked and one at a time into two fresh stores (after `before(conn)`);
    returns each store's tables and reports."""
    out = {}
    for mode in ("chunked", "one_by_one"):
        conn = store.connect(tmp_path / f"{mode}.duckdb")
        try:
            if before:
                before(conn)
            with monkeypatch.context() as m:
                if mode == "one_by_one":
                    m.setattr(ingest, "MANY_FILES", 10**9)
                reports = ingest.ingest_paths(conn, files, progress=False, **kwargs)
            out[mode] = tables(conn) | {"reports": [r.summary() for r in reports],
                                        "paths": [r.path_taken for r in reports]}
        finally:
            conn.close()
    return out["chunked"], out["one_by_one"]


def tables(conn) -> dict:
    def rows(sql: str) -> list:
        return conn.execute(sql).fetchall()
    return {
        "results": rows("SELECT * EXCLUDE (ingest_id) FROM results ORDER BY source_file, line_no"),
        "ingests": rows("SELECT * EXCLUDE (ingest_id, seconds, started_at, path_taken) FROM ingests "
                        "ORDER BY source_file"),
        "quarantine": rows("SELECT * EXCLUDE (ingest_id) FROM quarantine ORDER BY source_file, line_no"),
        "batches": rows("SELECT batch_id, manifest_id, created_at_source, run_id FROM batches ORDER BY 1"),
        "prices": rows("SELECT model, priced_on, batch, speed, geo, input, output FROM price_snapshot ORDER BY ALL"),
        "whole": rows("SELECT i.source_file FROM ingests i LEFT JOIN results r USING (ingest_id) "
                      "GROUP BY i.source_file, i.ingested HAVING count(r.line_no) <> i.ingested"),
    }


def assert_same(chunked: dict, one_by_one: dict) -> None:
    for name in one_by_one:
        if name != "paths":
            assert chunked[name] == one_by_one[name], name
    assert chunked["whole"] == []  # every ingests row has exactly its ingested rows


@pytest.mark.parametrize("batch_id", ["msgbatch_many", None], ids=["one batch", "a batch per file"])
def test_a_hostile_folder_ends_as_when_ingested_one_file_at_a_time(tmp_path, monkeypatch, batch_id):
    folder = tmp_path / "results"
    hostile_folder(folder)
    chunked, one_by_one = ingest_both(tmp_path, monkeypatch, [str(folder / "*.jsonl*")], batch_id=batch_id)
    assert_same(chunked, one_by_one)
    paths = dict(zip(sorted(p.name for p in folder.iterdir()), chunked["paths"]))
    # in one batch, s003 shares a custom_id with s103 (other content): both take the one-file
    # path, which reports the conflict; in a batch each, they do not conflict
    conflicted = {"s003.jsonl"} if batch_id else set()
    assert {paths[f"s{i:03d}.jsonl"] for i in range(14) if f"s{i:03d}.jsonl" not in conflicted} == {"chunked"}
    for name in (*conflicted, "s102-quarantine.jsonl", "s104-crlf.jsonl", "s106-dupkey.jsonl", "s107-[glob].jsonl",
                 "s109.jsonl.gz"):
        assert paths[name] != "chunked", name
    g1 = [r for r in chunked["results"] if r[1].endswith("s107-[glob].jsonl")]
    assert [r[4] for r in g1] == ["g1"]  # the file itself, not s107-g.jsonl


def test_the_conflict_is_reported_with_its_lines(tmp_path, monkeypatch):
    folder = tmp_path / "results"
    folder.mkdir()
    clean_shards(folder, 8)
    shard(folder, "s900.jsonl", succeeded("r3-a", "msg_3_a", tokens=999))
    conn = store.connect(tmp_path / "s.duckdb")
    reports = ingest.ingest_paths(conn, [str(folder / "*.jsonl")], batch_id="msgbatch_c", progress=False)
    last = reports[-1]
    assert last.conflicts == {"r3-a": ([1], [f"{folder / 's003.jsonl'}:1"])}
    assert {r.path_taken for i, r in enumerate(reports[:-1]) if i != 3} == {"chunked"}
    assert reports[3].path_taken == last.path_taken == "fast"  # the two lines of r3-a


def test_lines_stored_under_another_batch_are_named_and_not_counted(tmp_path, monkeypatch):
    folder = tmp_path / "results"
    folder.mkdir()
    files = clean_shards(folder, 8)

    def before(conn):
        ingest.ingest_paths(conn, [files[2]], batch_id="msgbatch_first", progress=False)

    chunked, one_by_one = ingest_both(tmp_path, monkeypatch, [str(f) for f in files], before=before,
                                      batch_id="msgbatch_second")
    assert_same(chunked, one_by_one)
    assert "3 lines already stored under batch msgbatch_first" in chunked["reports"][2]


def test_an_inferred_batch_takes_its_real_id_once(tmp_path, monkeypatch):
    """Files first ingested without a batch id (file-<fingerprint>), then again under names
    with their msgbatch_ id: each inferred batch is renamed, nothing is stored twice."""
    folder, named = tmp_path / "results", tmp_path / "named"
    folder.mkdir()
    named.mkdir()
    files = clean_shards(folder, 7)
    renamed = [shard(named, f"msgbatch_{i:03d}x.jsonl", *f.read_text().splitlines()) for i, f in enumerate(files)]

    def before(conn):
        ingest.ingest_paths(conn, [str(f) for f in files], progress=False)

    chunked, one_by_one = ingest_both(tmp_path, monkeypatch, [str(f) for f in renamed], before=before)
    assert_same(chunked, one_by_one)
    assert [b[0] for b in chunked["batches"]] == [f"msgbatch_{i:03d}x" for i in range(7)]


def test_ingesting_the_folder_again_adds_nothing(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    clean_shards(folder, 12)
    conn = store.connect(tmp_path / "s.duckdb")
    first = ingest.ingest_paths(conn, [str(folder / "*.jsonl")], batch_id="msgbatch_a", progress=False)
    before = tables(conn)
    again = ingest.ingest_paths(conn, [str(folder / "*.jsonl")], batch_id="msgbatch_a", progress=False)
    assert sum(r.ingested for r in first) == 36 and sum(r.ingested for r in again) == 0
    assert sum(r.duplicates for r in again) == 36 and {r.path_taken for r in again} == {"chunked"}
    assert tables(conn) == before


def test_a_line_without_a_price_leaves_the_chunk_and_is_quarantined(tmp_path):
    """A model without a price (issue 19 section 6): its file takes the one-file path, which
    quarantines that line with its reason; every other file is committed whole from the chunk."""
    folder = tmp_path / "results"
    folder.mkdir()
    clean_shards(folder, 10)
    shard(folder, "s005b.jsonl", succeeded("p1", "msg_p1", model="claude-unpriced-9"))
    conn = store.connect(tmp_path / "s.duckdb")
    reports = ingest.ingest_paths(conn, [str(folder / "*.jsonl")], batch_id="msgbatch_p", progress=False)
    got = tables(conn)
    assert got["whole"] == []
    failing = next(r for r in reports if r.source_file.endswith("s005b.jsonl"))
    assert (failing.ingested, failing.quarantined, failing.path_taken) == (0, 1, "fast")
    assert {r.path_taken for r in reports if r is not failing} == {"chunked"}
    assert not [r for r in got["results"] if r[4] == "p1"]
    [(reason,)] = conn.execute("SELECT reason FROM quarantine").fetchall()
    assert "claude-unpriced-9" in reason


def test_an_echoed_key_is_redacted_in_a_chunk(tmp_path, monkeypatch):
    """The key in an error message, plain or JSON-escaped: the file leaves the chunk and the
    one-file path redacts it."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    folder = tmp_path / "results"
    folder.mkdir()
    clean_shards(folder, 8)
    shard(folder, "s050.jsonl", errored("k1", f"bad key {KEY}"))
    escaped = KEY.replace("-", "\\u002d")
    shard(folder, "s051.jsonl", errored("k2", "x").replace('"x"', f'"bad key {escaped}"'))
    conn = store.connect(tmp_path / "s.duckdb")
    ingest.ingest_paths(conn, [str(folder / "*.jsonl")], batch_id="msgbatch_k", progress=False)
    text = json.dumps(conn.execute("SELECT * FROM results").fetchall(), default=str)
    assert KEY not in text and text.count("[redacted]") >= 2


def test_unusual_lines_keep_their_text(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    files = clean_shards(folder, 6)
    conn = store.connect(tmp_path / "s.duckdb")
    ingest.ingest_paths(conn, [str(f) for f in files], batch_id="msgbatch_u", progress=False)
    raws = conn.execute("SELECT custom_id, raw, raw_bytes FROM results WHERE raw IS NOT NULL ORDER BY 1").fetchall()
    assert [(cid, raw, n) for cid, raw, n in raws] == [
        (f"r{i}-e", errored(f"r{i}-e"), len(errored(f"r{i}-e"))) for i in range(6)]
    assert conn.execute("SELECT count(*) FROM results WHERE raw IS NULL AND raw_bytes IS NULL").fetchone()[0] == 12


def test_a_progress_bar_counts_files(tmp_path, capsys):
    folder = tmp_path / "results"
    folder.mkdir()
    clean_shards(folder, 6)
    conn = store.connect(tmp_path / "s.duckdb")
    ingest.ingest_paths(conn, [str(folder / "*.jsonl")], batch_id="msgbatch_b", progress=True)
    err = capsys.readouterr().err
    assert "ingest" in err and "/6 [" in err


def test_a_glob_named_file_is_read_literally_on_its_own(tmp_path):
    """One file whose name has glob characters (issue 14, class 7): DuckDB expands them in any
    path it reads, so r47[1].jsonl used to load r471.jsonl."""
    literal = shard(tmp_path, "r47[1].jsonl", succeeded("mine", "msg_mine"))
    shard(tmp_path, "r471.jsonl", succeeded("other", "msg_other"))
    conn = store.connect(tmp_path / "s.duckdb")
    report = ingest.ingest_paths(conn, [literal], progress=False)[0]
    assert report.ingested == 1
    assert conn.execute("SELECT custom_id FROM results").fetchall() == [("mine",)]
    gz = tmp_path / "z[1].jsonl.gz"
    gz.write_bytes(gzip.compress((succeeded("zipped", "msg_zipped") + "\n").encode()))
    (tmp_path / "z1.jsonl.gz").write_bytes(gzip.compress((succeeded("nope", "msg_nope") + "\n").encode()))
    assert ingest.ingest_paths(conn, [gz], progress=False)[0].ingested == 1
    assert ("zipped",) in conn.execute("SELECT custom_id FROM results").fetchall()


def kinds_folder(folder: Path, n: int) -> None:
    """A batch per file (msgbatch_ in each name), with kinds of line that price apart: batch
    and standard tier, web search, an advisor's turns on another model (issue 19)."""
    folder.mkdir()
    for i in range(n):
        shard(folder, f"msgbatch_k{i:03d}.jsonl", succeeded(f"r{i}-a", f"msg_{i}_a"), succeeded(f"r{i}-b", f"msg_{i}_b"),
              errored(f"r{i}-e"))
    standard = json.loads(succeeded("t1", "msg_t1"))
    standard["result"]["message"]["usage"]["service_tier"] = "standard"
    searched = json.loads(succeeded("w1", "msg_w1"))
    searched["result"]["message"]["usage"]["server_tool_use"] = {"web_search_requests": 2}
    advised = (DATA / "advisor" / "results_advisor.jsonl").read_text().splitlines()[1]
    shard(folder, "msgbatch_t000.jsonl", json.dumps(standard), succeeded("t2", "msg_t2"))
    shard(folder, "msgbatch_w000.jsonl", json.dumps(searched))
    shard(folder, "msgbatch_v000.jsonl", advised, succeeded("v2", "msg_v2"))


def every_price(conn) -> list:
    return conn.execute("SELECT * EXCLUDE (captured_at) FROM price_snapshot ORDER BY ALL").fetchall()


@pytest.mark.parametrize("created_at", [None, "2026-12-01"], ids=["ingest day", "priced at"])
def test_a_batch_per_file_gets_the_rows_and_prices_of_the_one_file_path(tmp_path, monkeypatch, created_at):
    """Each file its own batch: the chunk makes the batch rows and snapshots the prices for all
    of them at once; the store is what ingesting the files one at a time gives, and the audit
    prices each batch's lines at that batch's own snapshot alike."""
    from cachecast.analyse import audit

    folder = tmp_path / "results"
    kinds_folder(folder, 12)
    chunked, one_by_one = ingest_both(tmp_path, monkeypatch, [str(folder / "*.jsonl")], created_at=created_at)
    assert_same(chunked, one_by_one)
    assert set(chunked["paths"]) == {"chunked"}
    assert len(chunked["batches"]) == 15
    summaries, prices = [], []
    for mode in ("chunked", "one_by_one"):
        conn = store.connect(tmp_path / f"{mode}.duckdb")
        try:
            summaries.append(audit.summary(conn))
            prices.append(every_price(conn))
        finally:
            conn.close()
    assert summaries[0] == summaries[1] and prices[0] == prices[1]
    kinds = {(model, batch) for model, _, batch, *_ in prices[0]}
    assert {(MODEL, True), (MODEL, False)} <= kinds and len(prices[0]) >= 3  # and the advisor's model


def test_a_batch_per_file_looks_each_price_up_once(tmp_path, monkeypatch):
    """A folder with a batch per file holds thousands of batches with the same few kinds of
    line (model, day, tier, speed, geo): each kind is looked up once per call, not per batch."""
    from cachecast.facts import pricing

    folder = tmp_path / "results"
    folder.mkdir()
    for i in range(30):
        shard(folder, f"msgbatch_n{i:03d}.jsonl", succeeded(f"r{i}-a", f"msg_{i}_a"), errored(f"r{i}-e"))
    looked: list[tuple] = []
    real = pricing.get_rates

    def counting(model, batch, *args, **kwargs):
        looked.append((model, batch, kwargs.get("at"), kwargs.get("speed"), kwargs.get("geo")))
        return real(model, batch, *args, **kwargs)

    monkeypatch.setattr(pricing, "get_rates", counting)
    conn = store.connect(tmp_path / "s.duckdb")
    reports = ingest.ingest_paths(conn, [str(folder / "*.jsonl")], progress=False)
    assert {r.path_taken for r in reports} == {"chunked"} and len({r.batch_id for r in reports}) == 30
    assert len(looked) == len(set(looked)) == 1
    assert conn.execute("SELECT count(*) FROM price_snapshot").fetchone()[0] == 1
    assert conn.execute("SELECT count(*) FROM request_costs WHERE result_type = 'succeeded' AND NOT priced"
                        ).fetchone()[0] == 0
