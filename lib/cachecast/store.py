"""The DuckDB store: one file holding batches, result lines, quarantine, manifests and the
price snapshot, with views for costs, rollups and anomalies.

Callers open connections (`connect(path)`) and own them; this module only makes sure the
schema is there and current. The schema is versioned (`schema_version` table) and migrated
forward by applying `sql/schema_vN.sql` files in order, each in one transaction, so a
database written by an older cachecast opens in a newer one. Views live in `sql/views.sql`
and are re-created whenever the library's views revision differs from the database's, so a
fix to a view reaches old databases without a schema change.

SQL lives in `sql/*.sql` as named statements (a "-- name: x" line starts each one). Values
always go in as parameters; the only identifiers ever built into SQL text are checked
against an allow-list (`checked_identifier`).
"""
from __future__ import annotations

import re
from datetime import datetime, timezone
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import duckdb

from .errors import InputError

SCHEMA_VERSION = 1
VIEWS_REVISION = 6
DEFAULT_PATH = Path("data/cachecast.duckdb")
# DuckDB's own default is 80% of RAM; a bound keeps a 1M-line ingest well under 1.5 GB RSS
# (DuckDB spills to <db>.tmp beyond it).
DEFAULT_MEMORY_LIMIT = "1GB"

_NAME = re.compile(r"^--\s*name:\s*([a-z0-9_]+)\s*$", re.MULTILINE)


def connect(path: str | Path, *, read_only: bool = False, memory_limit: str | None = DEFAULT_MEMORY_LIMIT,
            threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the store at `path` with a current schema."""
    path = Path(path)
    if read_only and not path.exists():
        raise InputError(f"{path}: no such database (ingest results first)")
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    _refuse_foreign_file(path)
    # never reach for the network: DuckDB would try to download an extension for, e.g., a SQLite file
    config: dict[str, Any] = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}
    if memory_limit:
        config["memory_limit"] = memory_limit
    if threads:
        config["threads"] = threads
    try:
        conn = duckdb.connect(str(path), read_only=read_only, config=config)
    except duckdb.Error as exc:
        raise _open_error(path, exc) from None
    try:  # DuckDB's own bar prints to stdout, where --json goes (query_progress() keeps working)
        conn.execute("SET enable_progress_bar_print = false")
    except duckdb.Error:
        pass  # in Jupyter without ipywidgets DuckDB refuses to touch the setting; it shows no bar there
    if read_only:
        version = _current_version(conn)
        if version != SCHEMA_VERSION:
            conn.close()
            raise InputError(f"{path}: schema version {version}, this cachecast needs {SCHEMA_VERSION}; "
                             "open it once without read_only to migrate")
        _temp_views_if_stale(conn)
        return conn
    migrate(conn)
    return conn


def migrate(conn: duckdb.DuckDBPyConnection) -> int:
    """Bring the schema to SCHEMA_VERSION and the views to VIEWS_REVISION; returns the
    version found before migrating (0 for a new database)."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, "
                 "views_revision INTEGER NOT NULL DEFAULT 0, applied_at TIMESTAMP NOT NULL)")
    found = _current_version(conn)
    if found > SCHEMA_VERSION:
        raise InputError(f"database schema version {found} is newer than this cachecast ({SCHEMA_VERSION}); "
                         "upgrade cachecast")
    for version in range(found + 1, SCHEMA_VERSION + 1):
        with transaction(conn):
            for statement in split_statements(read_sql(f"schema_v{version}.sql")):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version, views_revision, applied_at) VALUES (?, 0, ?)",
                         [version, utcnow()])
    revision = conn.execute("SELECT max(views_revision) FROM schema_version").fetchone()[0] or 0
    if revision != VIEWS_REVISION or found < SCHEMA_VERSION:
        with transaction(conn):
            for statement in split_statements(read_sql("views.sql")):
                conn.execute(statement)
            conn.execute("UPDATE schema_version SET views_revision = ? WHERE version = ?",
                         [VIEWS_REVISION, SCHEMA_VERSION])
    return found


def _temp_views_if_stale(conn: duckdb.DuckDBPyConnection) -> None:
    """A read-only connection cannot re-create the stored views, so a database last written by
    an older cachecast gets this version's views as temp views (they shadow the stored ones)."""
    revision = conn.execute("SELECT max(views_revision) FROM schema_version").fetchone()[0] or 0
    if revision == VIEWS_REVISION:
        return
    for statement in split_statements(read_sql("views.sql")):
        conn.execute(statement.replace("CREATE OR REPLACE VIEW", "CREATE OR REPLACE TEMP VIEW", 1))


def _refuse_foreign_file(path: Path) -> None:
    """DuckDB opens some other files (a .jsonl, .csv, .parquet) as an in-memory database with
    a view over them: an ingest would then 'succeed' and keep nothing. A DuckDB file has the
    magic bytes DUCK at offset 8."""
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a DuckDB database")
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb") as fh:
        head = fh.read(12)
    if head[8:12] != b"DUCK":
        raise InputError(f"{path}: exists and is not a DuckDB database (give a new or existing .duckdb file)")


def _open_error(path: Path, exc: BaseException) -> InputError:
    text = _first_line(exc)
    if "lock" in text.lower():
        return InputError(f"{path}: database is busy (another cachecast process has it open); "
                          "try again when it finishes")
    return InputError(f"{path}: cannot open as a DuckDB database ({text})")


def _current_version(conn: duckdb.DuckDBPyConnection) -> int:
    exists = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version' "
                          "AND table_schema = 'main'").fetchone()[0]
    if not exists:
        return 0
    return int(conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0])


class transaction:
    """`with transaction(conn):` BEGIN ... COMMIT, or ROLLBACK when the block raises."""

    def __init__(self, conn: duckdb.DuckDBPyConnection):
        self.conn = conn

    def __enter__(self) -> duckdb.DuckDBPyConnection:
        self.conn.execute("BEGIN TRANSACTION")
        return self.conn

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.conn.execute("COMMIT")
        else:
            try:
                self.conn.execute("ROLLBACK")
            except duckdb.Error:
                pass  # the failed statement may already have aborted the transaction


# ------------------------------------------------------------------ SQL files


def read_sql(filename: str) -> str:
    return resources.files("cachecast").joinpath("sql", filename).read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def queries(filename: str) -> dict[str, str]:
    """The named statements of a sql/ file: {name: statement text}."""
    text = read_sql(filename)
    parts = _NAME.split(text)
    named = {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}
    return {name: body.rstrip().rstrip(";") for name, body in named.items()}


def query(filename: str, name: str) -> str:
    try:
        return queries(filename)[name]
    except KeyError:
        raise KeyError(f"sql/{filename} has no statement named '{name}'") from None


def split_statements(text: str) -> list[str]:
    """Statements of a schema file, split on ';' at line ends (our files never put one
    inside a string literal at a line end)."""
    lines: list[str] = []
    out: list[str] = []
    for line in text.splitlines():
        if line.strip().startswith("--"):
            continue
        lines.append(line)
        if line.rstrip().endswith(";"):
            statement = "\n".join(lines).strip().rstrip(";")
            if statement:
                out.append(statement)
            lines = []
    rest = "\n".join(lines).strip()
    if rest:
        out.append(rest)
    return out


def checked_identifier(name: str, allowed: Iterable[str]) -> str:
    """An identifier that may be placed in SQL text: only one of `allowed`, never user text."""
    allowed = set(allowed)
    if name not in allowed:
        raise InputError(f"'{name}' is not one of: {', '.join(sorted(allowed))}")
    return name


def utcnow() -> datetime:
    """Naive UTC timestamp (DuckDB TIMESTAMP has no zone)."""
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
