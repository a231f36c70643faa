"""cachecast export --db DB --out DIR: the store as Parquet, partitioned by batch (hive)."""
from __future__ import annotations

from pathlib import Path



def add_parser(sub) -> None:
    p = sub.add_parser("export", help="export the store as Parquet partitioned by batch (hive layout)")
    p.add_argument("--db", type=Path, required=True, help="DuckDB store written by `cachecast ingest`")
    p.add_argument("--out", type=Path, required=True, help="directory to write (replaced if an earlier export)")
    p.set_defaults(run=run)


def run(args) -> int:
    from ... import store
    from ...store.export import export

    conn = store.connect_existing(args.db)
    try:
        report = export(conn, args.out)
    finally:
        conn.close()
    print(f"exported {report.results:,} result lines and {report.quarantine:,} quarantined lines of "
          f"{report.batches:,} batch(es) to {report.out}/ (Parquet, hive layout by batch_id)")
    return 0
