-- The store's side of `cachecast reconcile` (cachecast/analyse/reconcile.py) and the stored
-- results (schema v6). Named statements; values always come in as $parameters. Money stays
-- DECIMAL here; the comparison is done in Python with Decimal.

-- name: record_ended_at
-- The API's ended_at of a batch (submit --wait and fetch record it; reconcile --batch-day ended).
UPDATE batches SET ended_at = $ended_at WHERE batch_id = $batch_id;

-- name: line_count
-- Succeeded result lines in the store (an empty store has nothing to reconcile).
SELECT count(*) FROM results WHERE result_type = 'succeeded';

-- name: spend_range
-- The first and last day the store holds succeeded lines on ($batch_day: 'created' | 'ended').
SELECT min(day), max(day) FROM (
    SELECT CAST(CASE WHEN $batch_day = 'ended' THEN coalesce(b.ended_at, b.created_at, b.first_ingest_at)
                     ELSE coalesce(b.created_at, b.first_ingest_at) END AS DATE) AS day
    FROM results r JOIN batches b USING (batch_id)
    WHERE r.result_type = 'succeeded'
);

-- name: audited_groups
-- Succeeded lines by day, model, service tier, context window and inference geo, with the
-- tokens and exact cost (view request_costs) of each component. The day is the batch's
-- creation day (or, with $batch_day = 'ended', its end when recorded): the results file says
-- nothing about when each line ran. Context window: the report's tiers ('0-200k', '200k-1M')
-- by the request's whole prompt (input + cache writes + reads) above 200,000 tokens.
-- Inference geo: 'global' and 'us' as the line says, anything else (absent included)
-- 'not_available', as the report names unset regions.
-- A line's server-side turns other than its own (usage.iterations: an advisor's, a
-- compaction's; view iteration_costs) are billed under the turn's model, so they are parts
-- of their own here, grouped by that model (standard speed unless it is the line's model),
-- their context window by the turn's own prompt; they add tokens and dollars, not requests.
-- A line's own tokens are those its own components are billed for (billed_*: its executor
-- turns' when it has them).
WITH lines AS (
    SELECT rc.*, b.created_at_source,
        CAST(CASE WHEN $batch_day = 'ended' THEN coalesce(b.ended_at, b.created_at, b.first_ingest_at)
                  ELSE coalesce(b.created_at, b.first_ingest_at) END AS DATE) AS day
    FROM request_costs rc JOIN batches b ON b.batch_id = rc.batch_id
    WHERE rc.result_type = 'succeeded'
),
parts AS (
    SELECT day, model, prompt_tokens, inference_geo, price_batch, price_speed, is_batch, true AS is_line,
        simulated, priced, created_at_source, batch_id,
        billed_input_tokens AS input_tokens, input_cost_usd, billed_write_5m_tokens AS write_5m_tokens,
        write_5m_cost_usd, billed_write_1h_tokens AS write_1h_tokens, write_1h_cost_usd,
        billed_read_tokens AS read_tokens, read_cost_usd, billed_output_tokens AS output_tokens, output_cost_usd,
        web_search_requests, web_search_cost_usd
    FROM lines
    UNION ALL
    SELECT l.day, t.model, t.prompt_tokens, l.inference_geo, l.price_batch,
        CASE WHEN t.model = l.model THEN l.price_speed ELSE 'standard' END, l.is_batch, false,
        l.simulated, t.priced, l.created_at_source, l.batch_id,
        t.input_tokens, t.input_cost_usd, t.write_5m_tokens, t.write_5m_cost_usd, t.write_1h_tokens,
        t.write_1h_cost_usd, t.cache_read_input_tokens, t.read_cost_usd, t.output_tokens, t.output_cost_usd, 0, 0
    FROM iteration_costs t JOIN lines l ON l.ingest_id = t.ingest_id AND l.line_no = t.line_no
    WHERE NOT t.executor
)
SELECT day, model,
    CASE WHEN prompt_tokens > 200000 THEN '200k-1M' ELSE '0-200k' END AS context_window,
    CASE WHEN inference_geo IN ('global', 'us') THEN inference_geo ELSE 'not_available' END AS inference_geo,
    CASE WHEN price_batch THEN 'batch' ELSE 'standard' END AS service_tier,
    price_speed AS speed,
    is_batch,
    count(*) FILTER (WHERE is_line) AS requests,
    count(*) FILTER (WHERE is_line AND simulated) AS simulated_requests,
    count(*) FILTER (WHERE is_line AND NOT priced) AS unpriced_requests,
    count(*) FILTER (WHERE is_line AND created_at_source = 'ingest') AS dated_by_ingest,
    coalesce(sum(input_tokens), 0) AS uncached_input_tokens, sum(input_cost_usd) AS uncached_input_usd,
    coalesce(sum(write_5m_tokens), 0) AS write_5m_tokens, sum(write_5m_cost_usd) AS write_5m_usd,
    coalesce(sum(write_1h_tokens), 0) AS write_1h_tokens, sum(write_1h_cost_usd) AS write_1h_usd,
    coalesce(sum(read_tokens), 0) AS read_tokens, sum(read_cost_usd) AS read_usd,
    coalesce(sum(output_tokens), 0) AS output_tokens, sum(output_cost_usd) AS output_usd,
    coalesce(sum(web_search_requests), 0) AS web_searches, sum(web_search_cost_usd) AS web_search_usd,
    list(DISTINCT batch_id ORDER BY batch_id) AS batch_ids
FROM parts
WHERE day BETWEEN $since AND $until
GROUP BY ALL
ORDER BY ALL;

-- name: probes_exist
SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' AND table_name = 'probes';

-- name: probe_lines
-- Synchronous probes that were answered (billed at standard rates) in the range, by day sent.
SELECT CAST(sent_at AS DATE) AS day, model, ttl, simulated, input_tokens, cache_creation_input_tokens,
    cache_write_5m_tokens, cache_write_1h_tokens, cache_read_input_tokens, output_tokens
FROM probes
WHERE status = 'ok' AND CAST(sent_at AS DATE) BETWEEN $since AND $until
ORDER BY probe_id;

-- name: store_batches
-- Every batch the store holds lines of, with its day and how many lines (for "not yet ingested").
SELECT b.batch_id, b.created_at, b.ended_at, b.created_at_source,
    count(r.batch_id) AS lines, m.build_dir
FROM batches b
LEFT JOIN results r ON r.batch_id = b.batch_id
LEFT JOIN manifests m ON m.manifest_id = b.manifest_id
GROUP BY ALL
ORDER BY b.batch_id;

-- name: build_dirs
-- Build directories the store knows (ingest --manifest recorded them), whose batches.json
-- lists every batch submitted from them.
SELECT DISTINCT build_dir FROM manifests WHERE build_dir IS NOT NULL ORDER BY build_dir;

-- name: insert_reconciliation
INSERT INTO reconciliations VALUES ($reconcile_id, $ran_at, $since, $until, $filters, $source, $amount_unit,
    $batch_day, $tolerance_pct, $tolerance_usd, $report_refreshed_at, $billed_usd, $audited_usd, $cells, $flagged,
    $notes);

-- name: insert_cell
INSERT INTO reconcile_cells VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?);

-- name: insert_day
INSERT INTO reconcile_days VALUES (?, ?, ?, ?, ?, ?);

-- name: reconciliations
-- Every stored reconciliation, the latest first.
SELECT * FROM reconciliations ORDER BY ran_at DESC, reconcile_id DESC;

-- name: cells_of
SELECT * EXCLUDE (reconcile_id) FROM reconcile_cells WHERE reconcile_id = $reconcile_id
ORDER BY day, model NULLS LAST, cost_type, token_type NULLS LAST, context_window NULLS LAST, inference_geo NULLS LAST;

-- name: days_of
SELECT * EXCLUDE (reconcile_id) FROM reconcile_days WHERE reconcile_id = $reconcile_id ORDER BY day;

-- name: reconciled_through
-- The last day D such that every day up to D on which the store holds spend (succeeded
-- lines, by their batch's creation day) has been compared and matched, its latest
-- reconciliation deciding; NULL when no such day exists. A day compared later with flags,
-- or a spend day never compared, stops the run of matched days.
WITH latest AS (
    SELECT day, matched FROM (
        SELECT d.day, d.matched, row_number() OVER (PARTITION BY d.day ORDER BY r.ran_at DESC, r.reconcile_id DESC) AS n
        FROM reconcile_days d JOIN reconciliations r USING (reconcile_id)
    ) WHERE n = 1
),
spend AS (
    SELECT DISTINCT CAST(coalesce(b.created_at, b.first_ingest_at) AS DATE) AS day
    FROM results r JOIN batches b USING (batch_id)
    WHERE r.result_type = 'succeeded'
),
bad AS (
    SELECT day FROM latest WHERE NOT matched
    UNION
    SELECT s.day FROM spend s LEFT JOIN latest l USING (day) WHERE l.day IS NULL
)
SELECT max(l.day)
FROM latest l
WHERE l.matched AND l.day < coalesce((SELECT min(day) FROM bad), DATE '9999-12-31');
