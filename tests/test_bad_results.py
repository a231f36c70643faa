"""Bad result files for `cachecast ingest` (issue 7): every line is accounted for. A broken
line is quarantined with its line number and a reason while the rest of its file loads
(ingested + duplicates + quarantined = lines read); a file that cannot be read at all is one
clear error line with exit code 2 and leaves the database as it was. Never a traceback,
never a line that silently disappears.

Small cases are in tests/data/bad/results/ (see the README there); big or binary ones are
generated into tmp_path. claude-sonnet-9-9 is the made-up model of unknown_model.jsonl.
"""
from __future__ import annotations

import gzip
import shutil
import zlib
from pathlib import Path

import duckdb
import pytest

from cachecast.cli import main

BAD = Path(__file__).parent / "data" / "bad" / "results"
TEN_MB = 10 * 1024 * 1024


def ingest(capsys, *argv) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        rc = main(["ingest", *map(str, argv)])
    except SystemExit as exc:
        rc = exc.code
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err
    return rc, cap.out, cap.err


@pytest.fixture
def db(tmp_path, store_template) -> Path:
    """A fresh store (a copy of the session's empty one: the schema is made once)."""
    path = tmp_path / "store.duckdb"
    shutil.copy(store_template, path)
    return path


def accounting(db: Path) -> dict:
    conn = duckdb.connect(str(db), read_only=True)
    try:
        row = conn.execute("SELECT coalesce(sum(lines_read), 0), coalesce(sum(ingested), 0), "
                           "coalesce(sum(duplicates), 0), coalesce(sum(quarantined), 0), "
                           "coalesce(sum(blank_lines), 0) FROM ingests").fetchone()
        quarantine = conn.execute("SELECT line_no, reason FROM quarantine ORDER BY line_no").fetchall()
        stored = conn.execute("SELECT count(*) FROM results").fetchone()[0]
    finally:
        conn.close()
    acc = dict(zip(("lines_read", "ingested", "duplicates", "quarantined", "blank_lines"), map(int, row)))
    assert acc["lines_read"] == acc["ingested"] + acc["duplicates"] + acc["quarantined"]
    assert stored == acc["ingested"] and len(quarantine) == acc["quarantined"]
    return {**acc, "quarantine": quarantine}


# corpus file -> (lines read, ingested, duplicates, {quarantined line: part of its reason})
QUARANTINE_CASES = {
    "truncated_last_line.jsonl": (3, 2, 0, {3: "not JSON"}),
    "invalid_json.jsonl": (3, 2, 0, {2: "not JSON"}),
    "not_an_object.jsonl": (6, 2, 0, {2: "not a result line", 3: "not a result line", 4: "not a result line",
                                      5: "not a result line"}),
    "unknown_result_type.jsonl": (3, 2, 0, {2: 'unknown result type "exploded"'}),
    "missing_usage.jsonl": (3, 2, 0, {2: "usage missing"}),
    "null_usage.jsonl": (3, 2, 0, {2: "usage missing or null"}),
    "negative_tokens.jsonl": (3, 2, 0, {2: "usage.input_tokens is negative (-12)"}),
    "float_tokens.jsonl": (3, 2, 0, {2: "usage.output_tokens is not an integer (40.5)"}),
    "string_tokens.jsonl": (3, 2, 0, {2: "usage.cache_read_input_tokens is a string"}),
    "huge_tokens.jsonl": (4, 2, 0, {2: "usage.output_tokens is implausibly large",
                                    3: "usage.input_tokens is implausibly large"}),
    "missing_custom_id.jsonl": (3, 2, 0, {2: "custom_id missing"}),
    "duplicate_line.jsonl": (3, 2, 1, {}),
    # the same custom_id answered twice with different messages: both were billed, so both stay
    "duplicate_custom_id.jsonl": (3, 3, 0, {}),
    # ids from outside need not match the request pattern; stored verbatim, escaped in reports
    "custom_id_pattern.jsonl": (3, 3, 0, {}),
    "cache_breakdown_mismatch.jsonl": (3, 3, 0, {}),  # unsplit creation is priced at the manifest TTL
    "valid_mixed.jsonl": (5, 5, 0, {}),
    "bom.jsonl": (2, 2, 0, {}),
    "crlf.jsonl": (2, 2, 0, {}),
    "empty.jsonl": (0, 0, 0, {}),
}


def _check(acc: dict, expected: tuple) -> None:
    lines_read, ingested, duplicates, quarantined = expected
    assert (acc["lines_read"], acc["ingested"], acc["duplicates"]) == (lines_read, ingested, duplicates), acc
    assert [line for line, _ in acc["quarantine"]] == sorted(quarantined), acc["quarantine"]
    for line, reason in acc["quarantine"]:
        assert quarantined[line] in reason, (line, reason)


@pytest.mark.parametrize("name", sorted(QUARANTINE_CASES))
def test_bad_result_file(db, capsys, name):
    _, ingested, duplicates, _ = QUARANTINE_CASES[name]
    want = 0 if ingested + duplicates else 1  # a file that gives no result line at all is exit 1
    rc, out, err = ingest(capsys, BAD / name, "--db", db)
    assert rc == want, err
    acc = accounting(db)
    _check(acc, QUARANTINE_CASES[name])
    rc, out, err = ingest(capsys, BAD / name, "--db", db)  # again: nothing changes
    assert rc == want and accounting(db)["quarantine"] == acc["quarantine"]
    assert accounting(db)["ingested"] == acc["ingested"]


def test_a_file_with_no_result_line_exits_1_and_keeps_its_quarantine(db, tmp_path, capsys):
    """Every line quarantined (not a results file, most likely): exit 1 with one sentence on
    stderr naming the file, after the other files are loaded and the quarantine is stored."""
    junk = tmp_path / "notes.jsonl"
    junk.write_text('{"hello": 1}\nnot json\n[1, 2]\n')
    rc, out, err = ingest(capsys, BAD / "valid_mixed.jsonl", junk, "--db", db)
    assert rc == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "notes.jsonl: no result line could be used (all 3 of its lines were quarantined)" \
        in lines[0], err
    acc = accounting(db)
    assert acc["ingested"] == 5 and acc["quarantined"] == 3  # the good file loaded; the junk is accounted for
    assert ingest(capsys, BAD / "valid_mixed.jsonl", "--db", db)[0] == 0  # all duplicates: still results


def test_bom_and_crlf_store_the_same_rows_as_the_clean_file(tmp_path, capsys):
    def rows(path: Path):
        db = tmp_path / f"{path.name}.duckdb"
        assert ingest(capsys, path, "--db", db, "--batch-id", "msgbatch_same")[0] == 0
        conn = duckdb.connect(str(db), read_only=True)
        try:
            return conn.execute("SELECT custom_id, input_tokens, cache_creation_input_tokens, "
                                "cache_read_input_tokens, output_tokens FROM results ORDER BY custom_id").fetchall()
        finally:
            conn.close()

    clean = tmp_path / "clean.jsonl"
    clean.write_bytes((BAD / "crlf.jsonl").read_bytes().replace(b"\r\n", b"\n"))
    expected = rows(clean)
    assert len(expected) == 2 and rows(BAD / "bom.jsonl") == expected and rows(BAD / "crlf.jsonl") == expected


def _good() -> bytes:
    return (BAD / "crlf.jsonl").read_bytes().replace(b"\r\n", b"\n")


def _many(n: int) -> bytes:
    template = _good().splitlines()[0].decode()
    return "".join(template.replace('"r1"', f'"g{i}"').replace("msg_01GOOD1", f"msg_01G{i:06d}") + "\n"
                   for i in range(n)).encode()


GENERATED = {  # name -> (bytes, lines read, ingested, {quarantined line: reason part})
    "non_utf8": (lambda: _good() + b'{"custom_id": "r9", "x": "caf\xe9"}\n', 3, 2, {3: "not valid UTF-8"}),
    "nul_bytes": (lambda: _good() + b"\x00\x00\x00\n", 3, 2, {3: ""}),
    "nested_too_deeply": (lambda: _good() + b"[" * 100_000 + b"]" * 100_000 + b"\n", 3, 2, {3: ""}),
    "ten_mb_garbage_line": (lambda: _good() + b"x" * TEN_MB + b"\n", 3, 2, {3: "not JSON"}),
    "ten_mb_valid_line": (lambda: _good().replace(b'"text": "4"', b'"text": "' + b"z" * TEN_MB + b'"', 1), 2, 2, {}),
    "blank_lines": (lambda: _good() + b"\n  \n" + _good().replace(b"GOOD", b"MORE"), 4, 4, {}),
}


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_bad_result_file(tmp_path, db, capsys, name):
    make, lines_read, ingested, quarantined = GENERATED[name]
    path = tmp_path / f"{name}.jsonl"
    path.write_bytes(make())
    rc, out, err = ingest(capsys, path, "--db", db)
    assert rc == 0, err
    _check(accounting(db), (lines_read, ingested, 0, quarantined))


@pytest.mark.parametrize("fraction", [0.3, 0.9])
def test_gzip_cut_short_keeps_every_complete_line_and_quarantines_the_cut(tmp_path, db, capsys, fraction):
    """A download cut off mid-stream: what decompresses is kept, the cut is quarantined, and
    the books say how many lines were read (never a silently empty or shortened file)."""
    data = _many(20_000)  # ~8 MB decompressed, so the cut falls past the first read block too
    packed = gzip.compress(data)
    path = tmp_path / "results.jsonl.gz"
    path.write_bytes(packed[: int(len(packed) * fraction)])
    readable = len(zlib.decompressobj(31).decompress(path.read_bytes()).split(b"\n")) - 1  # complete lines
    rc, out, err = ingest(capsys, path, "--db", db)
    assert rc == 0, err
    acc = accounting(db)
    assert acc["ingested"] == readable and acc["quarantined"] == 1, (acc["ingested"], readable)
    (line, reason), = acc["quarantine"]
    assert line == readable + 1 and "gzip" in reason


def test_complete_gzip_loads_like_the_plain_file(tmp_path, db, capsys):
    path = tmp_path / "results.jsonl.gz"
    path.write_bytes(gzip.compress(_many(500)))
    assert ingest(capsys, path, "--db", db)[0] == 0
    acc = accounting(db)
    assert (acc["lines_read"], acc["ingested"], acc["quarantined"]) == (500, 500, 0)


def _one_error(rc: int, out: str, err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("cachecast ingest: error: "), (rc, err)
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def test_unknown_model_line_is_quarantined_the_rest_of_the_file_kept(db, capsys):
    """No price, no guess ($0 would hide real spend): the line goes to quarantine with one
    sentence naming the model and the way out (issue 19 section 6), and the file's other lines
    are ingested; the file is not refused whole for one line."""
    assert ingest(capsys, BAD / "valid_mixed.jsonl", "--db", db)[0] == 0
    rc, out, err = ingest(capsys, BAD / "unknown_model.jsonl", "--db", db)
    assert rc == 0 and not err, err
    assert "3 lines read = 0 ingested + 2 duplicates + 1 quarantined" in out  # r1 and r2 are valid_mixed's
    [reason] = [line for line in out.splitlines() if line.strip().startswith("quarantined 1: no price:")]
    assert "claude-sonnet-9-9" in reason and "--prices" in reason


def test_directory_instead_of_a_results_file(tmp_path, capsys):
    (tmp_path / "results").mkdir()
    _one_error(*ingest(capsys, tmp_path / "results", "--db", tmp_path / "store.duckdb"), "results", "directory")


def test_missing_results_file(tmp_path, capsys):
    _one_error(*ingest(capsys, tmp_path / "nope.jsonl", "--db", tmp_path / "store.duckdb"), "nope.jsonl")


def test_results_file_given_as_the_database(tmp_path, capsys):
    """A swapped --db (a results file where the database should be) must not be overwritten,
    nor opened: DuckDB reads a .jsonl path as an in-memory database with a view over the file,
    so an ingest there would "succeed" and keep nothing."""
    precious = tmp_path / "results.jsonl"
    precious.write_bytes(_good())
    _one_error(*ingest(capsys, BAD / "valid_mixed.jsonl", "--db", precious), "results.jsonl")
    assert precious.read_bytes() == _good()


def test_not_a_duckdb_database(tmp_path, capsys):
    db = tmp_path / "store.duckdb"
    db.write_bytes(b"not a database\n" * 100)
    _one_error(*ingest(capsys, BAD / "valid_mixed.jsonl", "--db", db), "store.duckdb")


def test_duckdb_never_draws_its_progress_bar_on_stdout(db):
    """DuckDB draws its progress bar on stdout for queries over 2 s, even into a pipe: that
    would break `audit --json` (one JSON object on stdout) on a large store."""
    from cachecast import store

    conn = store.connect(db)
    try:
        assert conn.execute("SELECT current_setting('enable_progress_bar_print')").fetchone()[0] is False
    finally:
        conn.close()


def test_the_store_never_downloads_extensions(db):
    """Opening a non-DuckDB file (SQLite) made DuckDB fetch an extension from the network."""
    from cachecast import store

    conn = store.connect(db)
    try:
        assert conn.execute("SELECT current_setting('autoinstall_known_extensions')").fetchone()[0] is False
    finally:
        conn.close()
