-- The run ledger (cachecast/ledger.py): a run's batches against its budget. Named
-- statements; values always come in as $parameters. Money stays DECIMAL here; the forecast
-- arithmetic (counts x cost per request) is done in Python with Decimal.

-- name: runs
-- Every run, the most recently active first (a batch ingested, else the build loaded).
SELECT r.run_id, r.run_name, r.config_fingerprint, r.budget_usd, r.budget_source,
    (SELECT count(*) FROM batches b WHERE b.run_id = r.run_id) AS batches,
    greatest(r.last_seen_at, coalesce((SELECT max(b.last_ingest_at) FROM batches b WHERE b.run_id = r.run_id),
                                      r.last_seen_at)) AS last_activity
FROM runs r
ORDER BY last_activity DESC, r.run_id;

-- name: run_batches
-- One row per batch of the run (view batch_rollup), in creation order.
SELECT br.batch_id, br.created_at, b.ended_at, br.last_ingest_at, br.requests, br.succeeded, br.errored,
    br.canceled, br.expired, br.token_hit_rate, br.request_hit_rate, br.cost_usd, br.no_cache_cost_usd,
    br.savings_usd, br.simulated, br.unpriced, br.truncated, br.truncated_cost_usd, br.models
FROM batch_rollup br JOIN batches b USING (batch_id)
WHERE b.run_id = $run_id
ORDER BY br.created_at, br.first_ingest_at, br.batch_id;

-- name: plan_by_group
-- Planned requests of the run (distinct custom_ids over its builds' manifests) per treatment
-- and model, and how many of them have succeeded in any batch of the run. Errored,
-- canceled and expired ones are still to send.
WITH planned AS (
    SELECT m.custom_id, min(coalesce(m.treatment, '(none)')) AS treatment, min(coalesce(m.model, '(none)')) AS model
    FROM manifest m JOIN manifests ms USING (manifest_id)
    WHERE ms.run_id = $run_id
    GROUP BY m.custom_id
),
done AS (
    SELECT DISTINCT r.custom_id
    FROM results r JOIN batches b USING (batch_id)
    WHERE b.run_id = $run_id AND r.result_type = 'succeeded'
)
SELECT p.treatment, p.model, count(*) AS planned, count(d.custom_id) AS succeeded
FROM planned p LEFT JOIN done d USING (custom_id)
GROUP BY ALL
ORDER BY ALL;

-- name: cost_by_group
-- Audited cost of succeeded requests per batch, treatment and model (the manifest's model
-- name, as plan_by_group groups by it) for the runs in $run_ids.
SELECT rc.batch_id, coalesce(m.treatment, '(none)') AS treatment, coalesce(m.model, rc.model) AS model,
    count(*) AS succeeded, sum(rc.cost_usd) AS cost_usd
FROM request_costs rc
JOIN batches b ON b.batch_id = rc.batch_id
LEFT JOIN manifest m ON m.manifest_id = b.manifest_id AND m.custom_id = rc.custom_id
WHERE list_contains($run_ids, b.run_id) AND rc.result_type = 'succeeded'
GROUP BY ALL
ORDER BY ALL;

-- name: run_truncation
-- Answers of the run's batches cut off at max_tokens, per model and treatment (as the
-- audit's truncation query: analyse/audit.sql).
SELECT rc.model, coalesce(rc.treatment, '(no manifest)') AS treatment,
    count(*) AS succeeded,
    count(*) FILTER (WHERE rc.stop_reason = 'max_tokens') AS truncated,
    coalesce(sum(rc.cost_usd) FILTER (WHERE rc.stop_reason = 'max_tokens'), 0) AS truncated_cost_usd,
    coalesce(sum(rc.output_tokens) FILTER (WHERE rc.stop_reason = 'max_tokens'), 0)::BIGINT AS truncated_output_tokens
FROM request_costs rc JOIN batches b ON b.batch_id = rc.batch_id
WHERE b.run_id = $run_id AND rc.result_type = 'succeeded'
GROUP BY ALL
ORDER BY ALL;

-- name: probes_exist
SELECT count(*) FROM information_schema.columns
WHERE table_schema = 'main' AND table_name = 'probes' AND column_name IN ('manifest_id', 'cost_usd');

-- name: probe_cost
-- Synchronous probes sent for the run's builds (schema v4), billed at standard rates.
SELECT coalesce(sum(p.cost_usd), 0) AS cost_usd, count(*) AS probes
FROM probes p JOIN manifests ms ON ms.manifest_id = p.manifest_id
WHERE ms.run_id = $run_id;

-- name: copy_csv
-- One table of the ledger or audit as CSV (the caller registers it as cc_csv).
COPY (SELECT * FROM cc_csv) TO $path (HEADER, DELIMITER ',');
