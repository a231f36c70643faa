-- cachecast store, schema version 4: the synchronous probes sent before a batch (issue 15).
-- Applied once by cachecast.store.migrate(), in one transaction with its schema_version
-- row. It depends only on schema_v1/v2 (v3, the ledger, is independent of it and may be
-- applied before or after it). Never edit it once released; later changes go in a new file.
--
-- `cachecast probe` (and `submit`, which runs it first) sends ONE synchronous Messages
-- call per distinct request shape of a build, to have the API validate the shape now
-- rather than as thousands of errored batch lines hours later, and (with --prewarm) to
-- write the cached prefix before the batch's first wave. Those calls are billed at
-- STANDARD rates (not batch), so each is a row here and the audit and the ledger count
-- them as the run's probe cost.
--
-- Columns (the ledger may read every one of them):
--   probe_id              1, 2, ... in the order sent
--   build_dir             the build directory as given to probe/submit
--   manifest_id           'm-' + 16 hex of the build's manifest.jsonl content, as ingest
--                         computes it: joins batches.manifest_id, so a probe belongs to
--                         every batch created from that build
--   shape_key             16 hex: model, api version, thinking + output_config, tools,
--                         every other param except the message content, and the cached
--                         prefix hash (cachecast.send.probe.shape_key)
--   prefix_hash           the manifest's prefix_hash of the shape (NULL: nothing cached)
--   model, api_version    of the call
--   prewarm               true: the call kept the real cached prefix and TTL (it wrote the
--                         cache); false: cache_control markers were removed (it only validated)
--   ttl                   the TTL the pre-warm wrote ('5m' | '1h'; NULL without pre-warm)
--   custom_ids            the custom_ids of every request sharing this shape
--   requests              how many they are
--   probe_custom_id       the request whose params were sent (the shape's first)
--   max_tokens            as sent: 0 where the model accepts it, else the smallest valid
--   status                'ok' (answered) | 'rejected' (400/404: not billed)
--   error_message         the API's own message when rejected
--   message_id            the Message id the API answered (msg_sim_...: the local server)
--   simulated             true when message_id is a cachecast.sim id
--   input_tokens ... output_tokens   the response's usage, as reported (NULL when rejected)
--   cost_usd              exact USD at standard rates of the day sent (0 when rejected)
--   price_source          the rates used (genai-prices version, day, corrections)
--   sent_at               UTC time the call was answered

CREATE SEQUENCE probe_id_seq START 1;

CREATE TABLE probes (
    probe_id                    BIGINT PRIMARY KEY DEFAULT nextval('probe_id_seq'),
    build_dir                   TEXT NOT NULL,
    manifest_id                 TEXT,
    shape_key                   TEXT NOT NULL,
    prefix_hash                 TEXT,
    model                       TEXT NOT NULL,
    api_version                 TEXT NOT NULL,
    prewarm                     BOOLEAN NOT NULL,
    ttl                         TEXT,
    custom_ids                  VARCHAR[] NOT NULL,
    requests                    BIGINT NOT NULL,
    probe_custom_id             TEXT NOT NULL,
    max_tokens                  BIGINT NOT NULL,
    status                      TEXT NOT NULL,
    error_message               TEXT,
    message_id                  TEXT,
    simulated                   BOOLEAN NOT NULL DEFAULT false,
    input_tokens                BIGINT,
    cache_creation_input_tokens BIGINT,
    cache_write_5m_tokens       BIGINT,
    cache_write_1h_tokens       BIGINT,
    cache_read_input_tokens     BIGINT,
    output_tokens               BIGINT,
    cost_usd                    DECIMAL(18, 9) NOT NULL,
    price_source                TEXT,
    sent_at                     TIMESTAMP NOT NULL
);
