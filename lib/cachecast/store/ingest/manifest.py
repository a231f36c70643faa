"""A build's manifest.jsonl, loaded into the store beside the first results file.

The manifest is read on a cursor of its own, in a thread, while the first file is parsed:
DuckDB releases the GIL, and its insert leaves a core partly idle (0.1 s of a 200k-line
ingest). What the order of the two loads must not change:
- a bad manifest stores nothing of the file: the file's transaction waits for the manifest
  (`ready`) before it records its batch, and rolls back on the manifest's error;
- the batch belongs to the build's run: the file's transaction began before the manifest was
  committed and cannot see it, so the run is linked after the file (`finish`), as a manifest
  loaded before runs existed is (store.record_run links every batch of the manifest)."""
from __future__ import annotations

import tempfile
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb

from ... import store
from ...errors import InputError
from .read import content_id, literal_path

FILE = "store/ingest.sql"


@dataclass
class ManifestLoad:
    """One manifest, loaded or loading: its id now, its rows once `ready` returns."""

    manifest_id: str
    build_dir: Path
    _job: Future | None = None

    def ready(self) -> str:
        """Wait for the rows; raise the manifest's InputError if it could not be loaded."""
        if self._job is not None:
            self._job.result()
        return self.manifest_id

    def finish(self, conn: duckdb.DuckDBPyConnection) -> str:
        """After the files: the manifest loaded (or its error raised), and its run linked."""
        self.ready()
        if self._job is not None:
            self._job = None
            _link_run(conn, self.manifest_id, self.build_dir)
        return self.manifest_id

    def abandon(self) -> None:
        """The ingest failed: let a load under way end (its cursor closes), whatever it found."""
        if self._job is not None:
            self._job.exception()


def start_manifest(conn: duckdb.DuckDBPyConnection, path: Path) -> ManifestLoad:
    """Begin loading a build's manifest.jsonl (a build directory or the file). A path that is
    no manifest file is refused now; a manifest the store holds already is only linked to its
    run; any other is loaded in a thread (see the module docstring)."""
    path = path / "manifest.jsonl" if path.is_dir() else path
    if not path.is_file():
        raise InputError(f"{path}: no manifest.jsonl (give the directory `cachecast build` wrote)")
    manifest_id = "m-" + content_id(path)[:16]
    if conn.execute(store.query(FILE, "manifest_known"), {"manifest_id": manifest_id}).fetchone()[0]:
        _link_run(conn, manifest_id, path.parent)
        return ManifestLoad(manifest_id, path.parent)
    pool = ThreadPoolExecutor(max_workers=1)
    job = pool.submit(_load_rows, conn.cursor(), manifest_id, path)
    pool.shutdown(wait=False)
    return ManifestLoad(manifest_id, path.parent, job)


def load_manifest(conn: duckdb.DuckDBPyConnection, path: Path) -> str:
    """Load a build's manifest.jsonl (a build directory or the file); returns its id.
    Loading the same manifest again is a no-op."""
    return start_manifest(conn, path).finish(conn)


def _load_rows(cursor: duckdb.DuckDBPyConnection, manifest_id: str, path: Path) -> None:
    """The manifest's rows and its `manifests` row, in one transaction on `cursor`."""
    try:
        with store.transaction(cursor), tempfile.TemporaryDirectory(prefix="cachecast-manifest-") as tmp:
            cursor.execute(store.query(FILE, "load_manifest"),
                           {"manifest_id": manifest_id, "path": str(literal_path(path, Path(tmp)))})
            if cursor.execute(store.query(FILE, "manifest_duplicate"), {"manifest_id": manifest_id}).fetchone():
                raise duckdb.ConstraintException("duplicate custom_id")
            cursor.execute(store.query(FILE, "record_manifest"),
                           {"manifest_id": manifest_id, "source": str(path), "now": store.utcnow()})
    except duckdb.ConstraintException:
        raise InputError(f"{path}: a custom_id appears twice; this is not a manifest from cachecast build") from None
    except duckdb.Error as exc:
        raise InputError(f"{path}: not a cachecast build manifest ({store.first_line(exc)})") from None
    finally:
        cursor.close()


def _link_run(conn: duckdb.DuckDBPyConnection, manifest_id: str, build_dir: Path) -> None:
    """Record the run the build belongs to (build.json beside manifest.jsonl), also for a
    manifest loaded before runs existed; a manifest that failed to load links nothing."""
    if not conn.execute(store.query(FILE, "manifest_known"), {"manifest_id": manifest_id}).fetchone()[0]:
        return
    with store.transaction(conn):
        store.record_run(conn, manifest_id, build_dir)
