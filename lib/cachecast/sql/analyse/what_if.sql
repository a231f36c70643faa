-- `--prices FILE` as a what-if (analyse/what_if.py): the connection gets its own TEMP copy of
-- price_snapshot, which shadows the stored table for every view and query of that connection
-- (temp objects come first in DuckDB's search path), so snapshot_prices re-prices the copy and
-- the store is never written. Works on read-only connections too.

-- name: has_copy
SELECT count(*) FROM duckdb_tables() WHERE temporary AND table_name = 'price_snapshot';

-- name: copy
-- Runs before the copy exists, so the SELECT reads the stored table.
CREATE TEMP TABLE price_snapshot AS SELECT * FROM price_snapshot;

-- name: copy_key
-- The stored table's key, so insert_price's ON CONFLICT works on the copy as on the table.
CREATE UNIQUE INDEX cc_what_if_key ON price_snapshot (model, priced_on, batch, speed, geo);
