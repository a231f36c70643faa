-- Audit queries over the views (sql/views.sql). $batch_id NULL means every batch.

-- name: summary
-- The numbers behind `cachecast audit --json`. Tokens count succeeded requests only
-- (the others carry no usage); money is exact DECIMAL until the caller rounds it.
SELECT
    count(*) AS requests,
    count(*) FILTER (WHERE result_type = 'succeeded') AS succeeded,
    count(*) FILTER (WHERE result_type = 'errored') AS errored,
    count(*) FILTER (WHERE result_type = 'canceled') AS canceled,
    count(*) FILTER (WHERE result_type = 'expired') AS expired,
    coalesce(sum(input_tokens) FILTER (WHERE result_type = 'succeeded'), 0)::BIGINT AS input_tokens,
    coalesce(sum(cache_creation_input_tokens) FILTER (WHERE result_type = 'succeeded'), 0)::BIGINT
        AS cache_creation_input_tokens,
    coalesce(sum(write_5m_tokens) FILTER (WHERE result_type = 'succeeded'), 0)::BIGINT AS write_5m_tokens,
    coalesce(sum(write_1h_tokens) FILTER (WHERE result_type = 'succeeded'), 0)::BIGINT AS write_1h_tokens,
    coalesce(sum(cache_read_input_tokens) FILTER (WHERE result_type = 'succeeded'), 0)::BIGINT
        AS cache_read_input_tokens,
    coalesce(sum(output_tokens) FILTER (WHERE result_type = 'succeeded'), 0)::BIGINT AS output_tokens,
    count(*) FILTER (WHERE result_type = 'succeeded' AND cache_read_input_tokens > 0) AS requests_reading,
    coalesce(sum(cost_usd), 0) AS cost_usd,
    coalesce(sum(no_cache_cost_usd), 0) AS no_cache_cost_usd,
    coalesce(sum(input_cost_usd), 0) AS input_cost_usd,
    coalesce(sum(write_5m_cost_usd), 0) AS write_5m_cost_usd,
    coalesce(sum(write_1h_cost_usd), 0) AS write_1h_cost_usd,
    coalesce(sum(read_cost_usd), 0) AS read_cost_usd,
    coalesce(sum(output_cost_usd), 0) AS output_cost_usd,
    coalesce(sum(no_cache_input_cost_usd), 0) AS no_cache_input_cost_usd,
    count(*) FILTER (WHERE result_type = 'succeeded' AND NOT priced) AS unpriced,
    count(*) FILTER (WHERE simulated) AS simulated_requests,
    count(*) FILTER (WHERE write_ttl_source = 'assumed_5m') AS ttl_assumed_requests,
    count(*) FILTER (WHERE long_context) AS long_context_requests,
    count(DISTINCT batch_id) AS batches,
    string_agg(DISTINCT price_source, '; ') AS price_sources
FROM request_costs
WHERE $batch_id IS NULL OR batch_id = $batch_id;

-- name: unpriced_models
SELECT DISTINCT model, is_batch FROM request_costs
WHERE ($batch_id IS NULL OR batch_id = $batch_id) AND result_type = 'succeeded' AND NOT priced
ORDER BY 1, 2;

-- name: quarantined
SELECT count(*) FROM quarantine WHERE $batch_id IS NULL OR batch_id = $batch_id;

-- name: batch_exists
SELECT count(*) FROM batches WHERE batch_id = $batch_id;

-- name: batch_ids
SELECT batch_id FROM batches ORDER BY last_ingest_at DESC, batch_id;

-- name: batches
SELECT * FROM batch_rollup ORDER BY first_ingest_at, batch_id;

-- name: treatments_all_batches
-- Per treatment over the selected batches: the view's per-batch rows for one batch, its
-- all-batches rows (batch_id NULL, from GROUPING SETS) otherwise.
SELECT * EXCLUDE (batch_id) FROM treatment_rollup
WHERE batch_id IS NOT DISTINCT FROM $batch_id
ORDER BY treatment;

-- name: hit_rate_over_order
-- Succeeded requests in completion order (file order, per batch), cut into $bins equal
-- slices; a cache warming up shows as a rising line, an expiring one as a dip.
WITH ordered AS (
    SELECT batch_id, input_tokens, cache_creation_input_tokens, cache_read_input_tokens,
           row_number() OVER (PARTITION BY batch_id ORDER BY ingest_id, line_no) AS rank,
           count(*) OVER (PARTITION BY batch_id) AS n
    FROM request_costs
    WHERE ($batch_id IS NULL OR batch_id = $batch_id) AND result_type = 'succeeded'
),
binned AS (
    SELECT *, least($bins, 1 + ((rank - 1) * $bins) // n) AS slice FROM ordered
)
SELECT batch_id, slice,
    min(rank) AS first_request, max(rank) AS last_request, count(*) AS requests,
    sum(cache_read_input_tokens)::DOUBLE
        / nullif(sum(input_tokens + cache_creation_input_tokens + cache_read_input_tokens), 0) AS token_hit_rate,
    (count(*) FILTER (WHERE cache_read_input_tokens > 0))::DOUBLE / count(*) AS request_hit_rate,
    count(*) FILTER (WHERE cache_creation_input_tokens > 0) AS requests_writing
FROM binned
GROUP BY batch_id, slice
ORDER BY batch_id, slice;

-- name: anomalies
SELECT * FROM anomalies
WHERE $batch_id IS NULL OR batch_id = $batch_id
ORDER BY batch_id, completion_rank, kind;

-- name: anomaly_counts
SELECT kind, count(*) AS requests, sum(usd_lost) AS usd_lost, min(reason) AS example
FROM anomalies
WHERE $batch_id IS NULL OR batch_id = $batch_id
GROUP BY kind
ORDER BY requests DESC, kind;

-- name: errors_by_type
SELECT result_type,
    coalesce(error_type, CASE result_type WHEN 'errored' THEN 'unknown error' ELSE result_type END) AS error_type,
    count(*) AS requests,
    min(error_message) AS example_message
FROM results
WHERE ($batch_id IS NULL OR batch_id = $batch_id) AND result_type <> 'succeeded'
GROUP BY ALL
ORDER BY requests DESC, result_type, error_type;

-- name: quarantine
SELECT batch_id, source_file, line_no, reason, left(raw, 300) AS raw
FROM quarantine
WHERE $batch_id IS NULL OR batch_id = $batch_id
ORDER BY batch_id, source_file, line_no;

-- name: tokens_by_type
-- Prompt and output tokens per treatment, long format for stacked charts.
SELECT coalesce(treatment, '(no manifest)') AS treatment, kind, tokens FROM (
    SELECT treatment,
        sum(input_tokens) AS "uncached input",
        sum(write_5m_tokens) AS "cache write 5m",
        sum(write_1h_tokens) AS "cache write 1h",
        sum(cache_read_input_tokens) AS "cache read",
        sum(output_tokens) AS "output"
    FROM request_costs
    WHERE ($batch_id IS NULL OR batch_id = $batch_id) AND result_type = 'succeeded'
    GROUP BY treatment
) UNPIVOT (tokens FOR kind IN ("uncached input", "cache write 5m", "cache write 1h", "cache read", "output"))
ORDER BY treatment, kind;
