-- Audit queries over the views (sql/views.sql). $batch_id NULL means every batch.

-- name: summary_groups
-- The selected lines summed once per (batch, model, treatment, price source, day, succeeded
-- or not), into a temp table of a few rows: `summary` and `summary_truncation` both read it,
-- so the audit costs its lines (view request_costs) once. Tokens count succeeded requests
-- only (the others carry no usage); money is exact DECIMAL, and sums of these sums are exact.
CREATE OR REPLACE TEMP TABLE cc_audit_groups AS
SELECT batch_id, model, coalesce(treatment, '(no manifest)') AS treatment, price_source, priced_on,
    result_type = 'succeeded' AS ok,
    count(*) AS requests,
    count(*) FILTER (WHERE result_type = 'succeeded') AS succeeded,
    count(*) FILTER (WHERE result_type = 'errored') AS errored,
    count(*) FILTER (WHERE result_type = 'canceled') AS canceled,
    count(*) FILTER (WHERE result_type = 'expired') AS expired,
    sum(input_tokens) FILTER (WHERE result_type = 'succeeded') AS input_tokens,
    sum(cache_creation_input_tokens) FILTER (WHERE result_type = 'succeeded') AS cache_creation_input_tokens,
    sum(write_5m_tokens) FILTER (WHERE result_type = 'succeeded') AS write_5m_tokens,
    sum(write_1h_tokens) FILTER (WHERE result_type = 'succeeded') AS write_1h_tokens,
    sum(cache_read_input_tokens) FILTER (WHERE result_type = 'succeeded') AS cache_read_input_tokens,
    sum(output_tokens) FILTER (WHERE result_type = 'succeeded') AS output_tokens,
    sum(thinking_tokens) FILTER (WHERE result_type = 'succeeded') AS thinking_tokens,
    sum(web_search_requests) FILTER (WHERE result_type = 'succeeded') AS web_search_requests,
    sum(web_fetch_requests) FILTER (WHERE result_type = 'succeeded') AS web_fetch_requests,
    count(*) FILTER (WHERE result_type = 'succeeded' AND other_turns > 0) AS iteration_requests,
    count(*) FILTER (WHERE result_type = 'succeeded' AND stop_reason = 'max_tokens') AS truncated_requests,
    count(*) FILTER (WHERE result_type = 'succeeded' AND cache_read_input_tokens > 0) AS requests_reading,
    sum(cost_usd) AS cost_usd,
    sum(no_cache_cost_usd) AS no_cache_cost_usd,
    sum(input_cost_usd) AS input_cost_usd,
    sum(write_5m_cost_usd) AS write_5m_cost_usd,
    sum(write_1h_cost_usd) AS write_1h_cost_usd,
    sum(read_cost_usd) AS read_cost_usd,
    sum(output_cost_usd) AS output_cost_usd,
    sum(thinking_cost_usd) AS thinking_cost_usd,
    sum(web_search_cost_usd) AS web_search_cost_usd,
    sum(web_fetch_cost_usd) AS web_fetch_cost_usd,
    sum(iterations_cost_usd) AS iterations_cost_usd,
    sum(no_cache_iterations_cost_usd) AS no_cache_iterations_cost_usd,
    sum(cost_usd) FILTER (WHERE stop_reason = 'max_tokens') AS truncated_cost_usd,
    sum(output_tokens) FILTER (WHERE result_type = 'succeeded' AND stop_reason = 'max_tokens')
        AS truncated_output_tokens,
    sum(no_cache_input_cost_usd) AS no_cache_input_cost_usd,
    count(*) FILTER (WHERE result_type = 'succeeded' AND NOT priced) AS unpriced,
    count(*) FILTER (WHERE simulated) AS simulated_requests,
    count(*) FILTER (WHERE write_ttl_source = 'assumed_5m') AS ttl_assumed_requests,
    count(*) FILTER (WHERE long_context) AS long_context_requests,
    count(*) FILTER (WHERE result_type = 'succeeded' AND price_geo = 'us') AS us_only_requests,
    count(*) FILTER (WHERE result_type = 'succeeded' AND price_speed = 'fast') AS fast_requests
FROM request_costs
WHERE $batch_id IS NULL OR batch_id = $batch_id
GROUP BY ALL;

-- name: summary
-- The numbers behind `cachecast audit --json`, from summary_groups.
SELECT
    coalesce(sum(requests), 0)::BIGINT AS requests,
    coalesce(sum(succeeded), 0)::BIGINT AS succeeded,
    coalesce(sum(errored), 0)::BIGINT AS errored,
    coalesce(sum(canceled), 0)::BIGINT AS canceled,
    coalesce(sum(expired), 0)::BIGINT AS expired,
    coalesce(sum(input_tokens), 0)::BIGINT AS input_tokens,
    coalesce(sum(cache_creation_input_tokens), 0)::BIGINT AS cache_creation_input_tokens,
    coalesce(sum(write_5m_tokens), 0)::BIGINT AS write_5m_tokens,
    coalesce(sum(write_1h_tokens), 0)::BIGINT AS write_1h_tokens,
    coalesce(sum(cache_read_input_tokens), 0)::BIGINT AS cache_read_input_tokens,
    coalesce(sum(output_tokens), 0)::BIGINT AS output_tokens,
    coalesce(sum(thinking_tokens), 0)::BIGINT AS thinking_tokens,
    coalesce(sum(web_search_requests), 0)::BIGINT AS web_search_requests,
    coalesce(sum(web_fetch_requests), 0)::BIGINT AS web_fetch_requests,
    coalesce(sum(iteration_requests), 0)::BIGINT AS iteration_requests,
    coalesce(sum(truncated_requests), 0)::BIGINT AS truncated_requests,
    coalesce(sum(requests_reading), 0)::BIGINT AS requests_reading,
    coalesce(sum(cost_usd), 0) AS cost_usd,
    coalesce(sum(no_cache_cost_usd), 0) AS no_cache_cost_usd,
    coalesce(sum(input_cost_usd), 0) AS input_cost_usd,
    coalesce(sum(write_5m_cost_usd), 0) AS write_5m_cost_usd,
    coalesce(sum(write_1h_cost_usd), 0) AS write_1h_cost_usd,
    coalesce(sum(read_cost_usd), 0) AS read_cost_usd,
    coalesce(sum(output_cost_usd), 0) AS output_cost_usd,
    coalesce(sum(thinking_cost_usd), 0) AS thinking_cost_usd,
    coalesce(sum(web_search_cost_usd), 0) AS web_search_cost_usd,
    coalesce(sum(web_fetch_cost_usd), 0) AS web_fetch_cost_usd,
    coalesce(sum(iterations_cost_usd), 0) AS iterations_cost_usd,
    coalesce(sum(no_cache_iterations_cost_usd), 0) AS no_cache_iterations_cost_usd,
    coalesce(sum(truncated_cost_usd), 0) AS truncated_cost_usd,
    coalesce(sum(no_cache_input_cost_usd), 0) AS no_cache_input_cost_usd,
    coalesce(sum(unpriced), 0)::BIGINT AS unpriced,
    coalesce(sum(simulated_requests), 0)::BIGINT AS simulated_requests,
    coalesce(sum(ttl_assumed_requests), 0)::BIGINT AS ttl_assumed_requests,
    coalesce(sum(long_context_requests), 0)::BIGINT AS long_context_requests,
    coalesce(sum(us_only_requests), 0)::BIGINT AS us_only_requests,
    coalesce(sum(fast_requests), 0)::BIGINT AS fast_requests,
    count(DISTINCT batch_id) AS batches,
    string_agg(DISTINCT price_source, ' | ' ORDER BY price_source) AS price_sources,
    string_agg(DISTINCT CAST(priced_on AS VARCHAR), ', ' ORDER BY CAST(priced_on AS VARCHAR))
        FILTER (WHERE ok) AS priced_on
FROM cc_audit_groups;

-- name: summary_truncation
-- The rows of `truncation` below, from summary_groups: the succeeded lines' groups.
SELECT model, treatment,
    sum(succeeded)::BIGINT AS succeeded,
    sum(truncated_requests)::BIGINT AS truncated,
    coalesce(sum(truncated_cost_usd), 0) AS truncated_cost_usd,
    coalesce(sum(truncated_output_tokens), 0)::BIGINT AS truncated_output_tokens,
    coalesce(sum(cost_usd), 0) AS cost_usd
FROM cc_audit_groups
WHERE ok
GROUP BY ALL
ORDER BY model, treatment;

-- name: summary_drop
DROP TABLE IF EXISTS cc_audit_groups;

-- name: unpriced_models
SELECT DISTINCT model, price_batch, priced_on, price_speed, price_geo FROM request_costs
WHERE ($batch_id IS NULL OR batch_id = $batch_id) AND result_type = 'succeeded' AND NOT priced
ORDER BY ALL;

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
-- Succeeded requests in results-file order (per batch; the API does not promise that this
-- is the order they finished in), cut into $bins equal slices; a cache warming up shows as
-- a rising line, an expiring one as a dip. A display: no figure of the audit uses this order.
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

-- name: hit_rate_over_submission
-- The same slices in submission order: the row order of the build's manifest (the order
-- the requests were written into the batch files; rowid is the manifest table's insertion
-- order, which is never updated or deleted). Only requests that have a manifest row.
WITH ordered AS (
    SELECT c.batch_id, c.input_tokens, c.cache_creation_input_tokens, c.cache_read_input_tokens,
           row_number() OVER (PARTITION BY c.batch_id ORDER BY m.rowid) AS rank,
           count(*) OVER (PARTITION BY c.batch_id) AS n
    FROM request_costs c
    JOIN batches b ON b.batch_id = c.batch_id
    JOIN manifest m ON m.manifest_id = b.manifest_id AND m.custom_id = c.custom_id
    WHERE ($batch_id IS NULL OR c.batch_id = $batch_id) AND c.result_type = 'succeeded'
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

-- name: submission_order_check
-- Succeeded requests of the batch(es); those with no manifest row (submission order covers the
-- batch only when 0), and those whose place in the results file differs from their place
-- in submission order (0: the file lists them in the order they were submitted).
WITH k AS (
    SELECT c.batch_id, m.custom_id IS NULL AS unplaced,
           row_number() OVER (PARTITION BY c.batch_id ORDER BY c.ingest_id, c.line_no) AS file_rank,
           row_number() OVER (PARTITION BY c.batch_id ORDER BY m.rowid) AS submitted_rank
    FROM request_costs c
    LEFT JOIN batches b ON b.batch_id = c.batch_id
    LEFT JOIN manifest m ON m.manifest_id = b.manifest_id AND m.custom_id = c.custom_id
    WHERE ($batch_id IS NULL OR c.batch_id = $batch_id) AND c.result_type = 'succeeded'
)
SELECT count(*) AS succeeded, count(*) FILTER (WHERE unplaced) AS without_manifest_row,
       count(*) FILTER (WHERE file_rank <> submitted_rank) AS out_of_order
FROM k;

-- name: anomalies
SELECT * FROM anomalies
WHERE $batch_id IS NULL OR batch_id = $batch_id
ORDER BY batch_id, file_rank, kind;

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
        sum(output_tokens - coalesce(thinking_tokens, 0)) AS "output",
        sum(coalesce(thinking_tokens, 0)) AS "thinking"
    FROM request_costs
    WHERE ($batch_id IS NULL OR batch_id = $batch_id) AND result_type = 'succeeded'
    GROUP BY treatment
) UNPIVOT (tokens FOR kind IN ("uncached input", "cache write 5m", "cache write 1h", "cache read", "output", "thinking"))
ORDER BY treatment, kind;

-- name: miss_causes_table
-- Every succeeded request that wrote to the cache, with the cause of its miss (issue 12) and
-- the dollars that miss lost. One kind per write (the kinds partition the writes), plus
-- ttl_mismatch as an extra row where the TTL written is not the one requested:
--   prefix_drift      its prefix hash differs from the one most of its treatment uses (batch):
--                     something before the breakpoint varies; lost = write - read cost
--   write_never_read  no request of the batch read its prefix; lost = write premium over input
--   first_wave        the first $concurrency writes of a prefix that was read: sent before any
--                     write of it could be read (FACTS.md: concurrent identical requests all
--                     write). The first write of each prefix is the price of caching (lost 0);
--                     the others in the wave lose write - read, unavoidably
--   repeat_write      writes of a read prefix beyond the assumed concurrency: avoidable
--   ttl_mismatch      (extra row) wrote at a TTL other than requested; lost = the 1h premium
--                     when 1h was written for a 5m request, else 0 (a 5m write for a 1h request
--                     costs less now and shows up later as repeat writes)
-- Order: the results file's order is not completion order, so no finding uses it. Which
-- writes of a prefix count as its first wave is decided by custom_id (then message id, never
-- the line number); $concurrency is an ASSUMPTION (cachecast.audit.miss_assumption). Every write of one
-- prefix writes the same tokens, so the totals depend neither on that choice nor on file order.
-- Made as a temp table (cc_miss_rows) so the summary below aggregates the exact DECIMALs.
CREATE OR REPLACE TEMP TABLE cc_miss_rows AS
WITH base AS (
    SELECT * FROM request_costs
    WHERE ($batch_id IS NULL OR batch_id = $batch_id) AND result_type = 'succeeded'
),
readers AS (
    SELECT batch_id, model, prefix_hash, count(*) FILTER (WHERE cache_read_input_tokens > 0) AS readers
    FROM base GROUP BY ALL
),
prefix_counts AS (
    SELECT batch_id, treatment, model, prefix_hash, count(*) AS n
    FROM base WHERE prefix_hash IS NOT NULL GROUP BY ALL
),
usual AS (
    SELECT batch_id, treatment, model, first(prefix_hash ORDER BY n DESC, prefix_hash) AS usual_prefix_hash
    FROM prefix_counts GROUP BY ALL
),
writes AS (
    SELECT b.batch_id, b.line_no, b.custom_id, b.treatment, b.model, b.prefix_hash, b.requested_ttl,
        b.cache_creation_input_tokens AS written_tokens, b.cache_write_5m_tokens, b.cache_write_1h_tokens,
        b.write_5m_cost_usd + b.write_1h_cost_usd AS write_cost,
        cc_usd(b.cache_creation_input_tokens, b.rate_read) AS read_cost,
        cc_usd(b.cache_creation_input_tokens, b.rate_input) AS input_cost,
        cc_usd(coalesce(b.cache_write_1h_tokens, 0), b.rate_write_1h - b.rate_write_5m) AS premium_1h,
        b.cache_miss_reason AS api_reason, b.cache_missed_input_tokens AS api_missed_tokens,
        coalesce(r.readers, 0) AS readers, u.usual_prefix_hash,
        row_number() OVER (PARTITION BY b.batch_id, b.model, b.prefix_hash ORDER BY b.custom_id, b.message_id)
            AS wave_rank
    FROM base b
    LEFT JOIN readers r ON r.batch_id = b.batch_id AND r.model = b.model
                       AND r.prefix_hash IS NOT DISTINCT FROM b.prefix_hash
    LEFT JOIN usual u ON u.batch_id = b.batch_id AND u.treatment IS NOT DISTINCT FROM b.treatment
                     AND u.model = b.model
    WHERE b.cache_creation_input_tokens > 0
),
kinded AS (
    SELECT *,
        CASE WHEN prefix_hash IS NOT NULL AND usual_prefix_hash IS NOT NULL AND prefix_hash <> usual_prefix_hash
                  THEN 'prefix_drift'
             WHEN readers = 0 THEN 'write_never_read'
             WHEN wave_rank <= $concurrency THEN 'first_wave'
             ELSE 'repeat_write' END AS kind
    FROM writes
)
SELECT batch_id, line_no, custom_id, treatment, model, prefix_hash, kind,
    kind IN ('repeat_write', 'write_never_read', 'prefix_drift') AS avoidable, written_tokens,
    CASE kind WHEN 'prefix_drift' THEN write_cost - read_cost
              WHEN 'write_never_read' THEN write_cost - input_cost
              WHEN 'first_wave' THEN CASE WHEN wave_rank = 1 THEN 0 ELSE write_cost - read_cost END
              ELSE write_cost - read_cost END AS usd_lost,
    CASE kind WHEN 'prefix_drift' THEN 'prefix ' || prefix_hash || ' differs from ' || usual_prefix_hash
                                       || ', the one most of treatment ' || coalesce(treatment, '?') || ' uses'
              WHEN 'write_never_read' THEN 'no request of this batch read prefix ' || coalesce(prefix_hash, '(unknown)')
              WHEN 'first_wave' THEN CASE WHEN wave_rank = 1 THEN 'first write of prefix ' || coalesce(prefix_hash, '(unknown)')
                                          ELSE 'written in the first wave, before the first write could be read' END
              ELSE 'prefix ' || coalesce(prefix_hash, '(unknown)') || ' written again beyond the first wave of '
                   || $concurrency END AS reason,
    api_reason, api_missed_tokens
FROM kinded
UNION ALL
SELECT batch_id, line_no, custom_id, treatment, model, prefix_hash, 'ttl_mismatch', true, written_tokens,
    CASE WHEN requested_ttl = '5m' THEN premium_1h ELSE 0 END,
    'requested a ' || requested_ttl || ' TTL but wrote '
        || CASE WHEN requested_ttl = '1h' THEN cache_write_5m_tokens || ' tokens at 5m'
                ELSE cache_write_1h_tokens || ' tokens at 1h' END,
    api_reason, api_missed_tokens
FROM kinded
WHERE (requested_ttl = '1h' AND cache_write_5m_tokens > 0) OR (requested_ttl = '5m' AND cache_write_1h_tokens > 0);

-- name: miss_causes_rows
SELECT * FROM cc_miss_rows ORDER BY batch_id, kind, custom_id, line_no;

-- name: miss_causes_drop
DROP TABLE IF EXISTS cc_miss_rows;

-- name: miss_causes_summary
-- miss_causes_table grouped by batch and kind:
-- requests, dollars lost, and the API's own reasons where result lines carried them.
SELECT batch_id, kind, bool_or(avoidable) AS avoidable, count(*) AS requests,
    sum(written_tokens)::BIGINT AS written_tokens, sum(usd_lost) AS usd_lost,
    string_agg(DISTINCT api_reason, ', ' ORDER BY api_reason) AS api_reasons
FROM cc_miss_rows
GROUP BY batch_id, kind
ORDER BY batch_id, list_position(['first_wave', 'repeat_write', 'write_never_read', 'prefix_drift', 'ttl_mismatch'], kind);

-- name: iterations
-- Server-side turns (usage.iterations, view iteration_costs) by type and model: how many
-- turns, on how many requests, their tokens and what they cost, each at its model's rates.
SELECT turn_type, model, executor, count(*) AS turns, count(DISTINCT (ingest_id, line_no)) AS requests,
    sum(input_tokens)::BIGINT AS input_tokens, sum(cache_creation_input_tokens)::BIGINT AS cache_creation_input_tokens,
    sum(cache_read_input_tokens)::BIGINT AS cache_read_input_tokens, sum(output_tokens)::BIGINT AS output_tokens,
    sum(cost_usd) AS cost_usd, bool_and(priced) AS priced
FROM iteration_costs
WHERE $batch_id IS NULL OR batch_id = $batch_id
GROUP BY ALL
ORDER BY executor, turn_type, model;

-- name: unpriced_tools
-- usage.server_tool_use counters the SDK types do not name (results.server_tool_other): no
-- rate is known for them, so the audit lists them ("unpriced: N requests used X"), never
-- drops them. uses: the counts summed (NULL where a value is not a number).
SELECT counter, count(*) AS requests, sum(try_cast(server_tool_other ->> counter AS BIGINT))::BIGINT AS uses
FROM (
    SELECT server_tool_other, unnest(json_keys(server_tool_other)) AS counter
    FROM results
    WHERE ($batch_id IS NULL OR batch_id = $batch_id) AND result_type = 'succeeded' AND server_tool_other IS NOT NULL
)
WHERE counter NOT IN ('web_search_requests', 'web_fetch_requests')
  AND coalesce(try_cast(server_tool_other ->> counter AS BIGINT), 1) <> 0
GROUP BY counter
ORDER BY counter;

-- name: truncation
-- Answers cut off at max_tokens (stop_reason "max_tokens", stored on every line) per model
-- and treatment: how many of the succeeded ones, and the dollars spent on them (billed
-- like any other answer; thinking counts toward max_tokens).
SELECT model, coalesce(treatment, '(no manifest)') AS treatment,
    count(*) AS succeeded,
    count(*) FILTER (WHERE stop_reason = 'max_tokens') AS truncated,
    coalesce(sum(cost_usd) FILTER (WHERE stop_reason = 'max_tokens'), 0) AS truncated_cost_usd,
    coalesce(sum(output_tokens) FILTER (WHERE stop_reason = 'max_tokens'), 0)::BIGINT AS truncated_output_tokens,
    coalesce(sum(cost_usd), 0) AS cost_usd
FROM request_costs
WHERE ($batch_id IS NULL OR batch_id = $batch_id) AND result_type = 'succeeded'
GROUP BY ALL
ORDER BY model, treatment;

