"""Parquet export: partitioned by batch in hive layout, readable by any engine, atomic."""
from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from cachecast import cli, store
from cachecast.store import ingest
from cachecast.errors import InputError

DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "s.duckdb"
    conn = store.connect(path)
    ingest.ingest_paths(conn, [DATA / "results_mixed.jsonl"], batch_id="msgbatch_one",
                        manifest=DATA / "manifest_mixed", progress=False)
    ingest.ingest_paths(conn, [DATA / "results_quarantine.jsonl"], batch_id="msgbatch_two", progress=False)
    conn.close()
    return path


def test_export_hive_partitions_read_back(db, tmp_path, capsys):
    out = tmp_path / "export"
    assert cli.main(["export", "--db", str(db), "--out", str(out)]) == 0
    assert "13 result lines and 15 quarantined lines of 2 batch(es)" in capsys.readouterr().out
    assert sorted(p.name for p in (out / "results").iterdir()) == ["batch_id=msgbatch_one", "batch_id=msgbatch_two"]
    con = duckdb.connect()
    rows = con.execute("SELECT batch_id, count(*), sum(cost_usd), count(raw) FROM read_parquet(?, hive_partitioning = true) "
                       "GROUP BY 1 ORDER BY 1", [str(out / "results" / "*" / "*.parquet")]).fetchall()
    # raw text only for the unusual lines (ingested without --keep-raw): in msgbatch_one line 4
    # (max_tokens) and lines 8-10 (errored, canceled, expired) = 4 of 11
    assert [(b, n, r) for b, n, _, r in rows] == [("msgbatch_one", 11, 4), ("msgbatch_two", 2, 1)]
    assert float(rows[0][2]) == pytest.approx(0.025415)  # same exact cost as the audit (tests/test_audit.py)
    q = con.execute("SELECT count(*) FROM read_parquet(?, hive_partitioning = true)",
                    [str(out / "quarantine" / "*" / "*.parquet")]).fetchone()[0]
    assert q == 15
    for name in ("batches", "ingests", "manifest", "price_snapshot"):
        assert con.execute("SELECT count(*) FROM read_parquet(?)", [str(out / f"{name}.parquet")]).fetchone()[0] > 0
    assert (out / "export.json").exists()


def test_export_replaces_an_earlier_export_but_nothing_else(db, tmp_path):
    out = tmp_path / "export"
    conn = store.connect(db)
    from cachecast.store.export import export
    export(conn, out)
    (out / "results" / "stale.txt").write_text("old")
    export(conn, out)
    assert not (out / "results" / "stale.txt").exists()
    other = tmp_path / "precious"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(InputError, match="not an earlier cachecast export"):
        export(conn, other)
    assert (other / "keep.txt").read_text() == "mine"
    conn.close()
