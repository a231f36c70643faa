-- Statements of cachecast.probe and the probe/pre-warm functions of cachecast.audit
-- (issue 15). The table is made by schema_v4.sql. Values always go in as parameters.

-- name: insert_probe
INSERT INTO probes (build_dir, manifest_id, shape_key, prefix_hash, model, api_version, prewarm, ttl,
                    custom_ids, requests, probe_custom_id, max_tokens, status, error_message, message_id,
                    simulated, input_tokens, cache_creation_input_tokens, cache_write_5m_tokens,
                    cache_write_1h_tokens, cache_read_input_tokens, output_tokens, cost_usd, price_source, sent_at)
VALUES ($build_dir, $manifest_id, $shape_key, $prefix_hash, $model, $api_version, $prewarm, $ttl,
        $custom_ids, $requests, $probe_custom_id, $max_tokens, $status, $error_message, $message_id,
        $simulated, $input_tokens, $cache_creation_input_tokens, $cache_write_5m_tokens,
        $cache_write_1h_tokens, $cache_read_input_tokens, $output_tokens, $cost_usd, $price_source, $sent_at);

-- Probe cost (standard rates) of the builds the selected batches came from; every probe
-- when $batch_id is NULL. A probe belongs to its build (manifest_id), so it is counted
-- once however many batches that build became.
-- name: probe_cost
SELECT count(*) AS probes,
       count(*) FILTER (WHERE prewarm) AS prewarm_probes,
       coalesce(sum(cost_usd), 0) AS probe_cost_usd,
       coalesce(sum(cost_usd) FILTER (WHERE prewarm), 0) AS prewarm_cost_usd
FROM probes p
WHERE $batch_id IS NULL
   OR p.manifest_id IN (SELECT manifest_id FROM batches WHERE batch_id = $batch_id);

-- The first wave of every (batch, cached prefix) that a pre-warm probe wrote: the first
-- $first_wave succeeded lines of that prefix in completion order (ingest, line), how many
-- read the cache and how many wrote it, and what the reads saved against writing (each
-- read token at the line's own write rate of the requested TTL minus its read rate: in
-- the first wave, without a pre-warm, every request writes). The pre-warm probes' cost is
-- shared evenly among the batches of their build that have that prefix.
-- name: prewarm_first_wave
WITH lines AS (
    SELECT c.batch_id, b.manifest_id, c.prefix_hash, c.requested_ttl, c.cache_read_input_tokens,
           c.cache_creation_input_tokens, c.rate_read, c.rate_write_5m, c.rate_write_1h, c.simulated,
           row_number() OVER (PARTITION BY c.batch_id, c.prefix_hash ORDER BY c.ingest_id, c.line_no) AS pos
    FROM request_costs c
    JOIN batches b ON b.batch_id = c.batch_id
    WHERE c.result_type = 'succeeded' AND c.prefix_hash IS NOT NULL
      AND ($batch_id IS NULL OR c.batch_id = $batch_id)
),
warmed AS (
    SELECT manifest_id, prefix_hash, count(*) AS probes, sum(cost_usd) AS probe_cost_usd
    FROM probes WHERE prewarm AND status = 'ok'
    GROUP BY manifest_id, prefix_hash
),
sharing AS (
    SELECT manifest_id, prefix_hash, count(DISTINCT batch_id) AS batches
    FROM lines GROUP BY manifest_id, prefix_hash
)
SELECT l.batch_id, l.prefix_hash,
       count(*) AS first_wave_lines,
       count(*) FILTER (WHERE l.cache_read_input_tokens > 0) AS first_wave_reads,
       count(*) FILTER (WHERE l.cache_creation_input_tokens > 0) AS first_wave_writes,
       CAST(coalesce(sum(CASE WHEN l.cache_read_input_tokens > 0 THEN
                l.cache_read_input_tokens * ((CASE WHEN l.requested_ttl = '1h' THEN l.rate_write_1h
                                                   ELSE l.rate_write_5m END) - l.rate_read) * 0.000001
                ELSE 0 END), 0) AS DECIMAL(38, 15)) AS saved_usd,
       CAST(max(w.probe_cost_usd) / max(s.batches) AS DECIMAL(38, 15)) AS probe_cost_usd,
       bool_or(l.simulated) AS simulated
FROM lines l
JOIN warmed w ON w.manifest_id = l.manifest_id AND w.prefix_hash = l.prefix_hash
JOIN sharing s ON s.manifest_id = l.manifest_id AND s.prefix_hash = l.prefix_hash
WHERE l.pos <= $first_wave
GROUP BY l.batch_id, l.prefix_hash
ORDER BY l.batch_id, l.prefix_hash;
