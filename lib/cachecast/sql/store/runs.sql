-- Runs (store.record_run): which run a loaded manifest, and the batches ingested under it,
-- belong to. Written by the store when a manifest is loaded; the ledger reads the runs table
-- (sql/analyse/ledger.sql). Named statements; values always come in as $parameters.

-- name: upsert_run
-- A run is every build of one config (run_name + fingerprint); a later build of it keeps
-- the budget first recorded unless that one was unknown.
INSERT INTO runs (run_id, run_name, config_fingerprint, config_path, budget_usd, budget_source, first_seen_at,
                  last_seen_at)
VALUES ($run_id, $run_name, $fingerprint, $config_path, $budget_usd, $budget_source, $now, $now)
ON CONFLICT (run_id) DO UPDATE
    SET last_seen_at = excluded.last_seen_at,
        budget_usd = coalesce(runs.budget_usd, excluded.budget_usd),
        budget_source = CASE WHEN runs.budget_usd IS NULL THEN excluded.budget_source ELSE runs.budget_source END;

-- name: link_manifest_run
-- The first run a manifest was loaded for keeps it: two configs that build byte-identical
-- manifests (only the budget differs) share one manifest row, and re-linking it would move
-- the first run's batches into the second.
UPDATE manifests SET run_id = coalesce(run_id, $run_id), build_dir = coalesce(build_dir, $build_dir)
WHERE manifest_id = $manifest_id;

-- name: link_batches_run
-- Batches ingested before their manifest was given join its run too.
UPDATE batches SET run_id = m.run_id
FROM manifests m
WHERE m.manifest_id = $manifest_id AND batches.manifest_id = m.manifest_id AND batches.run_id IS NULL;
