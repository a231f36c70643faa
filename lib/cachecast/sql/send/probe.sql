-- Statements of cachecast.send.probe and the probe/pre-warm functions of cachecast.audit
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

-- name: any_prewarm
-- Whether prewarm_first_wave can find anything: it costs every line of the store when it runs.
SELECT EXISTS (SELECT 1 FROM probes WHERE prewarm AND status = 'ok');

-- The pre-warm verdict of every (batch, cached prefix) that a pre-warm probe wrote, from what
-- its succeeded lines show: how many read the prefix and how many wrote it. The results
-- file's order is not completion order (SDK MessageBatch.results_url), so nothing here reads
-- it: the verdict is the same for the same lines in any order.
-- Without a pre-warm the first wave of a prefix, min($first_wave, lines) requests sent
-- together, would all write it (FACTS.md: concurrent identical requests all pay the write);
-- $first_wave is that ASSUMPTION (the concurrency of cachecast.sim, --first-wave). With the
-- pre-warm the entry exists before the first wave, so the wave reads as the batch's lines of
-- the prefix read: cachecast.analyse.prewarm takes the wave's reads (the writes the pre-warm
-- avoided) as wave x reads / lines, and their saving as wave / lines of read_saving, the
-- saving of every read (its tokens at the write rate of the requested TTL minus the read
-- rate). The pre-warm probes' cost is shared evenly among the batches of their build that
-- have that prefix. Money stays exact DECIMAL here; Python divides (Decimal).
-- name: prewarm_first_wave
WITH warmed AS (
    SELECT manifest_id, prefix_hash, count(*) AS probes, sum(cost_usd) AS probe_cost_usd
    FROM probes WHERE prewarm AND status = 'ok'
    GROUP BY manifest_id, prefix_hash
),
lines AS (
    SELECT c.batch_id, b.manifest_id, c.prefix_hash, c.cache_read_input_tokens, c.cache_creation_input_tokens,
           c.simulated,
           cc_usd(c.cache_read_input_tokens, (CASE WHEN c.requested_ttl = '1h' THEN c.rate_write_1h ELSE c.rate_write_5m END)
                                             - c.rate_read) AS saving
    FROM request_costs c
    JOIN batches b ON b.batch_id = c.batch_id
    SEMI JOIN warmed w ON w.manifest_id = b.manifest_id AND w.prefix_hash = c.prefix_hash
    WHERE c.result_type = 'succeeded' AND ($batch_id IS NULL OR c.batch_id = $batch_id)
),
counts AS (
    SELECT batch_id, manifest_id, prefix_hash, count(*) AS lines,
           count(*) FILTER (WHERE cache_read_input_tokens > 0) AS reads,
           count(*) FILTER (WHERE cache_creation_input_tokens > 0) AS writes,
           coalesce(sum(saving) FILTER (WHERE cache_read_input_tokens > 0), 0) AS read_saving,
           bool_or(simulated) AS simulated
    FROM lines GROUP BY ALL
),
sharing AS (
    SELECT manifest_id, prefix_hash, count(DISTINCT batch_id) AS batches
    FROM counts GROUP BY manifest_id, prefix_hash
)
SELECT c.batch_id, c.prefix_hash, c.lines, c.reads, c.writes, c.read_saving,
       CAST(w.probe_cost_usd / sh.batches AS DECIMAL(38, 15)) AS probe_cost_usd, c.simulated
FROM counts c
JOIN warmed w ON w.manifest_id = c.manifest_id AND w.prefix_hash = c.prefix_hash
JOIN sharing sh ON sh.manifest_id = c.manifest_id AND sh.prefix_hash = c.prefix_hash
ORDER BY c.batch_id, c.prefix_hash;
