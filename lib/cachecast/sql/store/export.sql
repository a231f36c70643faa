-- Parquet export of the store (cachecast.store.export). Paths always come in as $path.

-- name: results
-- Every result line with its manifest fields, rates and exact costs (view request_costs)
-- and the raw line, partitioned by batch (hive layout: results/batch_id=.../*.parquet).
COPY (
    SELECT c.*, r.raw
    FROM request_costs c
    JOIN results r ON r.ingest_id = c.ingest_id AND r.line_no = c.line_no
) TO $path (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (batch_id), OVERWRITE_OR_IGNORE);

-- name: quarantine
COPY (SELECT * FROM quarantine) TO $path (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (batch_id),
                                          OVERWRITE_OR_IGNORE);

-- name: batches
COPY (SELECT * FROM batch_rollup) TO $path (FORMAT parquet, COMPRESSION zstd);

-- name: ingests
COPY (SELECT * FROM ingests) TO $path (FORMAT parquet, COMPRESSION zstd);

-- name: manifest
COPY (SELECT * FROM manifest) TO $path (FORMAT parquet, COMPRESSION zstd);

-- name: price_snapshot
COPY (SELECT * FROM price_snapshot) TO $path (FORMAT parquet, COMPRESSION zstd);

-- name: counts
SELECT (SELECT count(*) FROM results) AS results,
       (SELECT count(*) FROM quarantine) AS quarantine,
       (SELECT count(*) FROM batches) AS batches;

-- name: unsafe_batch_ids
-- Batch ids that are not a safe single path component (hive partition folder names come
-- from them): the export refuses the store rather than trust DuckDB's escaping.
SELECT DISTINCT batch_id FROM (
    SELECT batch_id FROM results UNION ALL SELECT batch_id FROM quarantine UNION ALL SELECT batch_id FROM batches
) ids
WHERE batch_id IS NULL OR NOT regexp_full_match(batch_id, $pattern)
ORDER BY batch_id NULLS FIRST
LIMIT 1;
