-- cachecast store, schema version 1. Applied once by cachecast.store.migrate(), inside one
-- transaction together with the schema_version row. Later versions add schema_v2.sql, ...;
-- never edit a released version's file (existing databases will not re-run it).

-- One row per Message Batch (or per sync run). batch_id comes from --batch-id, the
-- msgbatch_... id in the results file name, or a fingerprint of the file (see store/ingest/).
CREATE TABLE batches (
    batch_id        TEXT PRIMARY KEY,
    manifest_id     TEXT,             -- the build it was sent from (manifests.manifest_id), if known
    first_ingest_at TIMESTAMP NOT NULL,
    last_ingest_at  TIMESTAMP NOT NULL
);

-- One row per file ingested: the line accounting that `cachecast ingest` prints.
-- lines_read = ingested + duplicates + quarantined (blank lines are counted apart).
CREATE SEQUENCE ingest_id_seq START 1;
CREATE TABLE ingests (
    ingest_id    INTEGER PRIMARY KEY,
    batch_id     TEXT NOT NULL,
    source_file  TEXT NOT NULL,
    fingerprint  TEXT NOT NULL,       -- size + sha256 of the first and last MiB (finds re-ingests)
    bytes        BIGINT NOT NULL,
    lines_read   BIGINT NOT NULL,
    ingested     BIGINT NOT NULL,
    duplicates   BIGINT NOT NULL,
    quarantined  BIGINT NOT NULL,
    blank_lines  BIGINT NOT NULL,
    path_taken   TEXT NOT NULL,       -- 'fast' (one read_json pass), 'staged' (line reader) or 'sanitized' (see store/ingest/)
    started_at   TIMESTAMP NOT NULL,
    seconds      DOUBLE
);

-- One row per result line (Message Batches result, or a plain Message from a sync run).
-- Usage is flattened; token columns are NULL on errored/canceled/expired lines.
-- cache_write_5m/1h_tokens are usage.cache_creation's breakdown, NULL when the line has none
-- (older logs): the cost view then prices the creation at the manifest's requested TTL.
CREATE TABLE results (
    batch_id                    TEXT NOT NULL,
    ingest_id                   INTEGER NOT NULL,
    source_file                 TEXT NOT NULL,
    line_no                     BIGINT NOT NULL,   -- 1-based line in source_file; file order = completion order
    dedupe_key                  TEXT NOT NULL,     -- unique over the table, see ingest.py
    custom_id                   TEXT,
    is_batch                    BOOLEAN NOT NULL,  -- line from a batch results file (batch prices)
    result_type                 TEXT NOT NULL,     -- succeeded | errored | canceled | expired
    message_id                  TEXT,
    simulated                   BOOLEAN NOT NULL,  -- message id starts with msg_sim_ (cachecast.sim)
    model                       TEXT,
    stop_reason                 TEXT,
    service_tier                TEXT,
    input_tokens                BIGINT,
    cache_creation_input_tokens BIGINT,
    cache_write_5m_tokens       BIGINT,
    cache_write_1h_tokens       BIGINT,
    cache_read_input_tokens     BIGINT,
    output_tokens               BIGINT,
    thinking_tokens             BIGINT,
    error_type                  TEXT,
    error_message               TEXT,
    raw_bytes                   INTEGER,           -- length of `raw` (NULL when raw is not kept)
    -- raw: the line exactly as read, kept for every line that is not an ordinary succeeded
    -- one (errored/canceled/expired, stop_reason other than end_turn/stop_sequence/tool_use);
    -- for ordinary succeeded lines only with `cachecast ingest --keep-raw`, else NULL and the
    -- line is referenced by source_file + line_no (+ ingests.fingerprint of the file via
    -- ingest_id). Storing every line cost ~0.7 s per 200k lines and most of the store's size.
    -- (zstd: 6x smaller than the file, cheaper to write than the default string compression)
    raw                         TEXT USING COMPRESSION zstd,
    reject_reason               TEXT               -- NULL in every committed row; used only inside
                                                   -- the ingest transaction to route lines in one scan
);

-- Lines that could not be used, with where they were and why. The rest of their file loads.
CREATE TABLE quarantine (
    batch_id    TEXT NOT NULL,
    ingest_id   INTEGER NOT NULL,
    source_file TEXT NOT NULL,
    line_no     BIGINT NOT NULL,
    reason      TEXT NOT NULL,
    raw         TEXT NOT NULL,
    dedupe_key  TEXT NOT NULL
);

-- Build manifests (manifest.jsonl of `cachecast build`), joined to results by custom_id.
CREATE TABLE manifests (
    manifest_id TEXT PRIMARY KEY,    -- 'm-' + 16 hex identifying manifest.jsonl's content (ingest._content_id)
    source      TEXT NOT NULL,
    rows        BIGINT NOT NULL,
    loaded_at   TIMESTAMP NOT NULL
);
CREATE TABLE manifest (
    manifest_id       TEXT NOT NULL,
    custom_id         TEXT NOT NULL,
    item_id           TEXT,
    treatment         TEXT,
    temperature       DOUBLE,
    repeat            INTEGER,
    model             TEXT,
    ttl               TEXT,
    prefix_hash       TEXT,
    cacheable         BOOLEAN,
    skip_reason       TEXT,
    est_prefix_tokens BIGINT,
    est_rest_tokens   BIGINT,
    breakpoints       INTEGER,
    shard             TEXT
    -- (manifest_id, custom_id) is unique; ingest.load_manifest enforces it (no index: it
    -- cost 0.6 s per 200k rows, more than reading the manifest)
);

-- Rates used to cost results (cachecast.facts.pricing.snapshot_row), USD per million tokens, batch
-- discount applied on batch=true rows. Captured once per model and kept, so an audit of an
-- old batch does not change when the pricing package is upgraded.
CREATE TABLE price_snapshot (
    model                  TEXT NOT NULL,     -- the model string exactly as in results.model
    batch                  BOOLEAN NOT NULL,
    input                  DECIMAL(18, 9) NOT NULL,
    write_5m               DECIMAL(18, 9) NOT NULL,
    write_1h               DECIMAL(18, 9) NOT NULL,
    read                   DECIMAL(18, 9) NOT NULL,
    output                 DECIMAL(18, 9) NOT NULL,
    long_context_threshold BIGINT,
    lc_input               DECIMAL(18, 9),
    lc_write_5m            DECIMAL(18, 9),
    lc_write_1h            DECIMAL(18, 9),
    lc_read                DECIMAL(18, 9),
    lc_output              DECIMAL(18, 9),
    source                 TEXT NOT NULL,
    captured_at            TIMESTAMP NOT NULL,
    PRIMARY KEY (model, batch)
);

-- Exact token counts remembered by the tokens module (content hash -> count).
CREATE TABLE IF NOT EXISTS token_counts (
    content_hash TEXT PRIMARY KEY,
    model        TEXT NOT NULL,
    tokens       BIGINT NOT NULL,
    counted_at   TIMESTAMP NOT NULL
);
