"""The store: schema created and migrated by the library, views refreshed, SQL files
parsed by name, identifiers only from allow-lists, clear errors for unusable files."""
from __future__ import annotations

import subprocess
import sys

import pytest

from cachecast import store
from cachecast.errors import InputError

TABLES = {"schema_version", "batches", "ingests", "results", "quarantine", "manifests", "manifest",
          "price_snapshot", "token_counts"}
VIEWS = {"request_costs", "batch_rollup", "treatment_rollup", "anomalies"}


def names(conn, kind):
    return {r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables WHERE table_type = ? "
                                       "AND table_schema = 'main'", [kind]).fetchall()}


def test_new_store_has_the_schema_and_views(tmp_path):
    conn = store.connect(tmp_path / "sub" / "s.duckdb")  # parent directories are created
    assert TABLES <= names(conn, "BASE TABLE") and VIEWS <= names(conn, "VIEW")
    assert conn.execute("SELECT max(version), max(views_revision) FROM schema_version").fetchone() == (
        store.SCHEMA_VERSION, store.VIEWS_REVISION)
    cols = dict(conn.execute("SELECT column_name, data_type FROM information_schema.columns "
                             "WHERE table_name = 'token_counts'").fetchall())
    assert cols == {"content_hash": "VARCHAR", "model": "VARCHAR", "tokens": "BIGINT", "counted_at": "TIMESTAMP"}
    results = dict(conn.execute("SELECT column_name, data_type FROM information_schema.columns "
                                "WHERE table_name = 'results'").fetchall())
    for col in ("input_tokens", "cache_creation_input_tokens", "cache_write_5m_tokens", "cache_write_1h_tokens",
                "cache_read_input_tokens", "output_tokens", "thinking_tokens"):
        assert results[col] == "BIGINT"
    assert {"service_tier", "model", "stop_reason", "result_type", "error_type", "error_message", "raw",
            "source_file", "line_no", "simulated", "is_batch"} <= set(results)
    conn.close()


def test_reopen_is_a_no_op_and_views_are_refreshed(tmp_path):
    path = tmp_path / "s.duckdb"
    store.connect(path).close()
    conn = store.connect(path)
    assert conn.execute("SELECT max(version) FROM schema_version").fetchone()[0] == store.SCHEMA_VERSION
    conn.execute("DROP VIEW anomalies")
    conn.execute("UPDATE schema_version SET views_revision = 0")  # as if written by an older cachecast
    conn.close()
    conn = store.connect(path)
    assert "anomalies" in names(conn, "VIEW")
    conn.close()


def test_newer_schema_and_non_database_files_are_refused(tmp_path):
    path = tmp_path / "s.duckdb"
    conn = store.connect(path)
    conn.execute("INSERT INTO schema_version VALUES (99, 1, now())")
    conn.close()
    with pytest.raises(InputError, match="newer than this cachecast"):
        store.connect(path)
    junk = tmp_path / "junk.duckdb"
    junk.write_text("not a database")
    with pytest.raises(InputError, match="not a DuckDB database"):
        store.connect(junk)
    results = tmp_path / "results.jsonl"  # DuckDB would open this as an in-memory view over the file
    results.write_text('{"custom_id": "a", "result": {"type": "expired"}}\n')
    with pytest.raises(InputError, match="not a DuckDB database"):
        store.connect(results)
    assert results.read_text().startswith('{"custom_id"')
    with pytest.raises(InputError, match="is a directory"):
        store.connect(tmp_path)
    with pytest.raises(InputError, match="no such database"):
        store.connect(tmp_path / "missing.duckdb", read_only=True)


def test_busy_database_is_one_sentence(tmp_path):
    """Another process writing the store: a clear 'busy' error, not a traceback."""
    path = tmp_path / "s.duckdb"
    store.connect(path).close()
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                               "print('open', flush=True); time.sleep(30)", str(path)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(InputError, match="database is busy"):
            store.connect(path)
    finally:
        holder.kill()
        holder.wait()


def test_no_network_and_no_progress_bar_on_stdout(tmp_path):
    conn = store.connect(tmp_path / "s.duckdb")
    settings = dict(conn.execute("SELECT name, value FROM duckdb_settings() WHERE name IN "
                                 "('autoinstall_known_extensions', 'autoload_known_extensions', "
                                 "'enable_progress_bar_print')").fetchall())
    assert settings == {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false",
                        "enable_progress_bar_print": "false"}
    conn.close()


def test_read_only_connection_sees_the_data(tmp_path):
    path = tmp_path / "s.duckdb"
    store.connect(path).close()
    conn = store.connect(path, read_only=True)
    assert conn.execute("SELECT count(*) FROM results").fetchone()[0] == 0
    conn.close()


def test_named_queries_and_statement_splitting():
    q = store.queries("store/ingest.sql")
    assert {"insert_lines", "stage_lines", "quarantine_rejected", "delete_duplicates"} <= set(q)
    assert all(not body.rstrip().endswith(";") for body in q.values())
    with pytest.raises(KeyError, match="no statement named"):
        store.query("analyse/audit.sql", "nope")
    assert store.split_statements("-- c\nCREATE TABLE a (x INT);\nCREATE VIEW b AS\nSELECT 1;\n") == [
        "CREATE TABLE a (x INT)", "CREATE VIEW b AS\nSELECT 1"]


def test_identifiers_only_from_an_allow_list():
    assert store.checked_identifier("results", ["results", "quarantine"]) == "results"
    with pytest.raises(InputError):
        store.checked_identifier("results; DROP TABLE x", ["results", "quarantine"])


def test_sql_files_take_values_only_as_parameters():
    """No Python string formatting of values into SQL: every value in the sql/ files is a
    $parameter; ingest/audit/export code passes dicts of parameters."""
    import inspect

    from cachecast.analyse import audit
    from cachecast.store import export, ingest
    for module in (audit, export, ingest, store):
        source = inspect.getsource(module)
        assert 'execute(f"' not in source and "execute(f'" not in source, module.__name__


def test_read_only_connection_to_a_store_with_stale_views_gets_current_ones(tmp_path):
    path = tmp_path / "old.duckdb"
    conn = store.connect(path)
    conn.execute("UPDATE schema_version SET views_revision = 0")  # as if written by an older cachecast
    conn.execute("CREATE OR REPLACE VIEW treatment_rollup AS SELECT 'stale' AS treatment")
    conn.close()
    ro = store.connect(path, read_only=True)
    cols = [d[0] for d in ro.execute("SELECT * FROM treatment_rollup").description]
    assert "batch_id" in cols and "cost_usd" in cols  # this version's view, not the stale one
    ro.close()
