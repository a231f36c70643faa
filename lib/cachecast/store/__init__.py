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

from .._paths import not_regular, open_regular
from ..errors import InputError

# Every schema_vN.sql the library ships, in the order they apply. A version may land before
# a lower one (v4, the probes table, was added while v3 was still being written): migrate()
# applies each listed version a database has not recorded yet, so a store migrated to v4
# still gets v3 when it appears. Each file must therefore not depend on the versions
# released beside it, only on those before them.
MIGRATIONS = (1, 2, 3, 4, 5, 6, 7)
SCHEMA_VERSION = max(MIGRATIONS)
VIEWS_REVISION = 9
DEFAULT_PATH = Path("data/cachecast.duckdb")
# DuckDB's own default is 80% of RAM; a bound keeps a 1M-line ingest well under 1.5 GB RSS
# (DuckDB spills to <db>.tmp beyond it).
DEFAULT_MEMORY_LIMIT = "1GB"

_NAME = re.compile(r"^--\s*name:\s*([a-z0-9_]+)\s*$", re.MULTILINE)


def connect(path: str | Path, *, read_only: bool = False, memory_limit: str | None = DEFAULT_MEMORY_LIMIT,
            threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """Open (creating if needed) the store at `path` with a current schema.

    Refused with one sentence, before DuckDB touches anything: `:memory:` (an ingest would
    report N rows and keep none), a FIFO or device, a path under a regular file, a file
    that is not a DuckDB database; after opening, a DuckDB database of another application
    (migrating would add cachecast's tables to it) or one DuckDB cannot read."""
    _refuse_in_memory(path)
    path = Path(path)
    try:
        _check_path(path, read_only)
    except OSError as exc:  # a name too long, a folder without permission: the user's path
        raise InputError(f"{path}: cannot be used as a database ({exc.strerror or exc})") from None
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
    _OPENED.append(path)
    del _OPENED[:-8]
    try:
        return _prepare(conn, path, read_only)
    except duckdb.Error as exc:  # the header was DuckDB's, the rest is not readable
        conn.close()
        raise _open_error(path, exc) from None
    except BaseException:
        conn.close()
        raise


def _prepare(conn: duckdb.DuckDBPyConnection, path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    try:  # DuckDB's own bar prints to stdout, where --json goes (query_progress() keeps working)
        conn.execute("SET enable_progress_bar_print = false")
    except duckdb.Error:
        pass  # in Jupyter without ipywidgets DuckDB refuses to touch the setting; it shows no bar there
    _refuse_other_application(conn, path)
    if read_only:
        version = _current_version(conn)
        if version != SCHEMA_VERSION or _missing_migrations(conn):
            raise OutdatedStore(f"{path}: schema version {version}, this cachecast needs {SCHEMA_VERSION}; "
                                "open it once without read_only to migrate")
        _temp_views_if_stale(conn)
        return conn
    migrate(conn)
    return conn


def connect_existing(path: str | Path, **kwargs: Any) -> duckdb.DuckDBPyConnection:
    """connect(), for commands that read a store (audit, ledger, export): a missing file is
    the user's mistake, said in one sentence, not a new empty store."""
    if not Path(path).exists():
        raise InputError(f"{path}: no such database (run cachecast ingest first)")
    return connect(path, **kwargs)


class OutdatedStore(InputError):
    """A read-only connection to a store an older cachecast wrote (its schema needs a migration)."""


def connect_reader(path: str | Path, **kwargs: Any) -> duckdb.DuckDBPyConnection:
    """A read-only connection to an existing store, for notebooks and reports: readers do not
    lock each other out, and a writer (ingest, the demo) waits only while one is open, so
    JupyterLab, papermill and the CLI can share a store when each closes it after use. A
    store an older cachecast wrote is migrated first, in one short write; a missing one is
    `missing_store`'s sentence."""
    if not Path(path).exists():
        raise missing_store(path)
    try:
        return connect(path, read_only=True, **kwargs)
    except OutdatedStore:
        connect(path, **kwargs).close()
    return connect(path, read_only=True, **kwargs)


def missing_store(path: str | Path) -> InputError:
    """The one sentence for a store that does not exist: which command makes it."""
    from .._shown_paths import shown_path

    p = Path(path)
    shown = p.as_posix() if not p.is_absolute() else shown_path(p)  # relative: as the user wrote it
    if p.name == "cachecast.duckdb" and p.parent.name == "demo" and p.parent.parent.name == "build":
        return InputError(f"{shown}: no such store yet; `make demo` (or `cachecast demo`) writes it, "
                          "or set db_path to a store of your own")
    return InputError(f"{shown}: no such store; `cachecast ingest RESULTS.jsonl --db {shown}` makes one")


def _check_path(path: Path, read_only: bool) -> None:
    if read_only and not path.exists():
        raise InputError(f"{path}: no such database (ingest results first)")
    if not read_only:
        _make_parent(path)
    _refuse_foreign_file(path)


def _refuse_in_memory(path: str | Path) -> None:
    """DuckDB reads ':memory:' (and ':memory:NAME') as a database that vanishes on close."""
    if str(path).startswith(":memory:"):
        raise InputError(f"{path}: is DuckDB's in-memory database, which keeps nothing after the command; "
                         "give a file such as data/cachecast.duckdb")


def _make_parent(path: Path) -> None:
    """Create the store's folder; a component that is a regular file (or a name too long,
    or no permission) is the user's path, said in one sentence rather than an OSError."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise InputError(f"{path}: {_first_file(path.parent)} is a file, not a directory") from None
    except NotADirectoryError:
        raise InputError(f"{path}: {_first_file(path.parent)} is a file, not a directory") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot create its folder ({exc.strerror})") from None


def _first_file(folder: Path) -> Path:
    """The first component of `folder` that exists and is not a directory."""
    for part in (*reversed(folder.parents), folder):
        if part.exists() and not part.is_dir():
            return part
    return folder


OWN_TABLES = {"schema_version", "token_counts"}  # token_counts: made by `count --exact` before any ingest


def _refuse_other_application(conn: duckdb.DuckDBPyConnection, path: Path) -> None:
    """A DuckDB file with tables but no cachecast schema belongs to something else:
    migrating it would write cachecast's tables into another application's database."""
    tables = {r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables "
                                         "WHERE table_schema = 'main' AND table_type = 'BASE TABLE'").fetchall()}
    if tables and "schema_version" not in tables and not tables <= OWN_TABLES:
        shown = ", ".join(sorted(tables)[:3]) + (", ..." if len(tables) > 3 else "")
        raise InputError(f"{path}: is not a cachecast store (a DuckDB database of something else, with tables "
                         f"{shown}); give a new file or a store written by cachecast ingest")


def migrate(conn: duckdb.DuckDBPyConnection) -> int:
    """Bring the schema to SCHEMA_VERSION and the views to VIEWS_REVISION; returns the
    version found before migrating (0 for a new database)."""
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL, "
                 "views_revision INTEGER NOT NULL DEFAULT 0, applied_at TIMESTAMP NOT NULL)")
    found = _current_version(conn)
    if found > SCHEMA_VERSION:
        raise InputError(f"database schema version {found} is newer than this cachecast ({SCHEMA_VERSION}); "
                         "upgrade cachecast")
    missing = _missing_migrations(conn)
    for version in missing:
        with transaction(conn):
            for statement in split_statements(read_sql(f"store/schema_v{version}.sql")):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version, views_revision, applied_at) VALUES (?, 0, ?)",
                         [version, utcnow()])
    revision = conn.execute("SELECT max(views_revision) FROM schema_version").fetchone()[0] or 0
    if revision != VIEWS_REVISION or missing:
        with transaction(conn):
            for statement in split_statements(read_sql("store/views.sql")):
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
    for statement in split_statements(read_sql("store/views.sql")):
        statement = statement.replace("CREATE OR REPLACE VIEW", "CREATE OR REPLACE TEMP VIEW", 1)
        conn.execute(statement.replace("CREATE OR REPLACE MACRO", "CREATE OR REPLACE TEMP MACRO", 1))


def _refuse_foreign_file(path: Path) -> None:
    """DuckDB opens some other files (a .jsonl, .csv, .parquet) as an in-memory database with
    a view over them: an ingest would then 'succeed' and keep nothing. A DuckDB file has the
    magic bytes DUCK at offset 8. A FIFO or device is refused before it is opened: reading
    one hangs or never ends."""
    if path.is_dir():
        raise InputError(f"{path}: is a directory, not a DuckDB database")
    problem = not_regular(path, "DuckDB database (.duckdb)")
    if problem:
        raise InputError(problem)
    if not path.exists() or path.stat().st_size == 0:
        return
    with open_regular(path, "DuckDB database (.duckdb)") as fh:
        head = fh.read(12)
    if head[8:12] != b"DUCK":
        raise InputError(f"{path}: is not a cachecast store (it exists and is not a DuckDB database; "
                         "give a new or existing .duckdb file)")


_LOCK = re.compile(r"\block\b", re.IGNORECASE)  # DuckDB: 'Could not set lock on file ...: Conflicting lock'
# DuckDB's words for a block whose bytes changed: "Corrupt database file: computed checksum X
# does not match stored checksum Y in block at location Z" (at open, or in any later query)
_DAMAGE = re.compile(r"corrupt database|checksum .*does not match|does not match stored checksum", re.IGNORECASE)
_OPENED: list[Path] = []  # stores this process opened, most recent last (for damage_sentence)


def damage_sentence(exc: BaseException | str, path: str | Path | None = None) -> str | None:
    """"the store is damaged at PATH; ..." when `exc` is DuckDB reporting a damaged block
    (at open or during a query, in this process or a notebook's kernel), else None. PATH is
    `path`, else the store this process opened last."""
    if not _DAMAGE.search(str(exc)):
        return None
    where = path if path is not None else (_OPENED[-1] if _OPENED else "the store")
    return (f"the store is damaged at {where} (DuckDB found a block whose checksum does not match); restore it from "
            "a copy or re-ingest the results into a new store")


def _open_error(path: Path, exc: BaseException) -> InputError:
    text = first_line(exc)
    damaged = damage_sentence(text, path)
    if damaged:
        return InputError(damaged)
    if _LOCK.search(text):
        return InputError(f"{path}: database is busy (another cachecast process has it open); "
                          "try again when it finishes")
    if "different configuration than existing connections" in text:  # read-only and writable in one process
        return InputError(f"{path}: database is busy (this process has it open in another mode, e.g. a notebook "
                          "kernel holding a connection); close that connection first")
    if "no space left on device" in text.lower():
        return InputError(f"disk full while writing {path}; nothing was committed")
    if "permission denied" in text.lower():
        return InputError(f"{path}: permission denied")
    if "file name too long" in text.lower():
        return InputError(f"{path}: file name too long")
    return InputError(f"{path}: is not a cachecast store (DuckDB cannot read it: {text}); "
                      "it may be truncated or damaged, or written by a newer DuckDB")


def _missing_migrations(conn: duckdb.DuckDBPyConnection) -> list[int]:
    """Listed versions this database has not applied, in order (gaps tolerated, see MIGRATIONS)."""
    applied = {int(r[0]) for r in conn.execute("SELECT version FROM schema_version").fetchall()}
    return [v for v in MIGRATIONS if v not in applied]


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
    """filename: <package>/<name>.sql under cachecast/sql/ (each package's SQL in its folder)."""
    return resources.files("cachecast").joinpath("sql", *filename.split("/")).read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def queries(filename: str) -> dict[str, str]:
    """The named statements of a sql/ file: {name: statement text}, includes expanded.

    `{{name}}` in a statement is replaced by the named fragment `name` of the same file,
    `{{package/file.sql:name}}` by that of another file: how the result-line schema is
    written once (sql/store/result_line.sql) and used wherever a statement needs a type
    (read_json's columns, a cast): DuckDB takes a type only as text in the statement, so a
    macro cannot stand for one; the statement is generated instead."""
    text = read_sql(filename)
    parts = _NAME.split(text)
    named = {parts[i]: parts[i + 1].strip() for i in range(1, len(parts) - 1, 2)}
    raw = {name: body.rstrip().rstrip(";") for name, body in named.items()}
    return {name: _expand(body, filename, raw) for name, body in raw.items()}


_INCLUDE = re.compile(r"\{\{(?:([a-z0-9_]+/[a-z0-9_]+\.sql):)?([a-z0-9_]+)\}\}")


def _expand(body: str, filename: str, own: dict[str, str], depth: int = 0) -> str:
    """`body` with its includes replaced (comment lines of a fragment dropped: it may land
    inside a quoted type, as in read_json's columns)."""
    if "{{" not in body:
        return body
    if depth > 8:
        raise RuntimeError(f"sql/{filename}: includes nest too deep")

    def one(match: re.Match) -> str:
        other, name = match.group(1), match.group(2)
        table = queries(other) if other else own
        if name not in table:
            raise KeyError(f"sql/{other or filename} has no fragment named '{name}'")
        text = "\n".join(line for line in table[name].splitlines() if not line.lstrip().startswith("--")).strip()
        return text if other else _expand(text, filename, own, depth + 1)

    return _INCLUDE.sub(one, body)


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


def first_line(exc: BaseException) -> str:
    """An error's first line: DuckDB's messages go on with candidates and context lines."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# ------------------------------------------------------------------ runs (issue 12)


def record_run(conn: duckdb.DuckDBPyConnection, manifest_id: str, build_dir: Path) -> str | None:
    """Link a loaded manifest to its run (run_name + config fingerprint from the build's
    build.json); returns the run id, or None for a manifest without a build.json (a bare
    manifest.jsonl cannot say which run it belongs to). Why here: ingest and the ledger
    both need it, and the store is the one module below both."""
    import hashlib
    import json

    info_path = Path(build_dir) / "build.json"
    try:
        info = json.loads(info_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or not info.get("run_name"):
        return None
    fingerprint = info.get("config_fingerprint")
    run_id = f"{info['run_name']}@{fingerprint or 'unknown'}"
    budget, source = _build_budget(info, info_path.parent, fingerprint, hashlib)
    q = queries("store/runs.sql")
    conn.execute(q["upsert_run"], {"run_id": run_id, "run_name": info["run_name"], "fingerprint": fingerprint,
                                   "config_path": info.get("config"), "budget_usd": budget,
                                   "budget_source": source, "now": utcnow()})
    conn.execute(q["link_manifest_run"], {"manifest_id": manifest_id, "run_id": run_id,
                                          "build_dir": str(Path(build_dir).resolve())})
    conn.execute(q["link_batches_run"], {"manifest_id": manifest_id})
    return run_id


def _build_budget(info: dict, build_dir: Path, fingerprint: str | None, hashlib: Any) -> tuple[Any, str | None]:
    """The run's budget as it was at build: build.json's budget_usd when it records one, else
    the config file's, only while its bytes still have the fingerprint the build recorded (an
    edited config is another run's budget)."""
    from decimal import Decimal, InvalidOperation

    def as_money(value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            return None
        try:
            return Decimal(str(value))
        except InvalidOperation:
            return None

    if "budget_usd" in info:
        return as_money(info["budget_usd"]), "build.json"
    if not info.get("config") or not fingerprint:
        return None, None
    config = (build_dir / info["config"]).resolve()
    try:
        data = config.read_bytes()
    except OSError:
        return None, None
    if hashlib.sha256(data).hexdigest()[:16] != fingerprint:
        return None, None
    import yaml

    try:
        raw = yaml.safe_load(data)
    except yaml.YAMLError:
        return None, None
    value = raw.get("budget_usd") if isinstance(raw, dict) else None
    return (as_money(value), "config") if value is not None else (None, "config")
