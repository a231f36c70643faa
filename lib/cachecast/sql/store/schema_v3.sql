-- cachecast store, schema version 3: runs, results never counted twice, the API's miss
-- reason (issue 12). Applied once by cachecast.store.migrate(), in one transaction with its
-- schema_version row. Self-contained: it depends only on v1 and v2 (a v4 may be applied
-- before it on some stores). Never edit it once released.
--
-- * runs: all the builds made from one config, identified by run_name + config fingerprint
--   (build.json). budget_usd is the config's budget as it was at build time (build.json's,
--   else the config file's when its bytes still have the recorded fingerprint).
-- * manifests.run_id, batches.run_id: the run a build, and a batch sent from it, belong to.
-- * results.cache_miss_reason / cache_missed_input_tokens: diagnostics.cache_miss_reason of
--   a result line, flattened (its type, and the tokens it says were missed), when the line
--   carries it.
-- * dedupe keys of succeeded lines become custom_id + message id ('msg:<cid>:<id>'; a sync
--   Message without custom_id keeps 'msg:<id>'), so a repeated message id no longer merges
--   distinct requests, and a simulated line (msg_sim_) is one result whatever batch id it is
--   ingested under. Stored keys are rewritten to the new form here.

CREATE TABLE runs (
    run_id             TEXT PRIMARY KEY,  -- run_name || '@' || config_fingerprint
    run_name           TEXT,
    config_fingerprint TEXT,
    config_path        TEXT,              -- as build.json recorded it (relative to the build dir)
    budget_usd         DECIMAL(18, 6),    -- NULL: the config has none, or it could not be read
    budget_source      TEXT,              -- 'build.json' | 'config' | NULL
    first_seen_at      TIMESTAMP NOT NULL,
    last_seen_at       TIMESTAMP NOT NULL
);

ALTER TABLE manifests ADD COLUMN run_id TEXT;
ALTER TABLE manifests ADD COLUMN build_dir TEXT;
ALTER TABLE batches ADD COLUMN run_id TEXT;
ALTER TABLE batches ADD COLUMN ended_at TIMESTAMP;  -- the API's ended_at, when a caller records it (NULL otherwise)

ALTER TABLE results ADD COLUMN cache_miss_reason TEXT;
ALTER TABLE results ADD COLUMN cache_missed_input_tokens BIGINT;

UPDATE results SET dedupe_key = 'msg:' || coalesce(custom_id || ':', '') || message_id
WHERE result_type = 'succeeded' AND message_id IS NOT NULL AND message_id <> '';
