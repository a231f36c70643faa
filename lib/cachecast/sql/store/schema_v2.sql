-- cachecast store, schema version 2: prices as billed (issue 11). Applied once by
-- cachecast.store.migrate() after schema_v1.sql, in one transaction with its
-- schema_version row. Never edit it once released; later changes go in schema_v3.sql.
--
-- * batches.created_at: the day a batch is priced at. From the API (submit, fetch:
--   source 'api'), from `ingest --priced-at DATE` ('priced-at'), else the first ingest
--   ('ingest'). Batches stored before v2 get their first ingest time ('ingest').
-- * results: the usage fields that change the bill, flattened (inference_geo, speed,
--   server_tool_use counts); NULL on lines that do not carry them.
-- * price_snapshot: one row per (model, day, batch, speed, geo), so each batch is priced at
--   its own date and every kind of line has its rate. Rows captured before v2 held one
--   price per (model, batch); they are kept, unchanged, for the day of every batch that
--   used them, so an audit of an old batch does not change on upgrade.

ALTER TABLE batches ADD COLUMN created_at TIMESTAMP;
ALTER TABLE batches ADD COLUMN created_at_source TEXT;
UPDATE batches SET created_at = first_ingest_at, created_at_source = 'ingest';

ALTER TABLE results ADD COLUMN inference_geo TEXT;
ALTER TABLE results ADD COLUMN speed TEXT;
ALTER TABLE results ADD COLUMN web_search_requests BIGINT;
ALTER TABLE results ADD COLUMN web_fetch_requests BIGINT;

CREATE TABLE price_snapshot_v2 (
    model                  TEXT NOT NULL,     -- the model string exactly as in results.model
    priced_on              DATE NOT NULL,     -- the batch day these rates are in effect
    batch                  BOOLEAN NOT NULL,  -- Message Batches rates (service_tier batch)
    speed                  TEXT NOT NULL,     -- 'standard' | 'fast'
    geo                    TEXT NOT NULL,     -- 'global' | 'us' (inference_geo)
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
    web_search_per_1k      DECIMAL(18, 9),    -- USD per 1,000 web searches (NULL: not priced)
    source                 TEXT NOT NULL,     -- genai-prices version, day, correction rows applied
    captured_at            TIMESTAMP NOT NULL,
    PRIMARY KEY (model, priced_on, batch, speed, geo)
);

INSERT INTO price_snapshot_v2
SELECT DISTINCT p.model, CAST(b.first_ingest_at AS DATE), p.batch, 'standard', 'global',
       p.input, p.write_5m, p.write_1h, p.read, p.output, p.long_context_threshold,
       p.lc_input, p.lc_write_5m, p.lc_write_1h, p.lc_read, p.lc_output, NULL,
       p.source || ' (captured before schema v2, kept for this batch day)', p.captured_at
FROM price_snapshot p
JOIN results r ON r.model = p.model AND r.is_batch = p.batch
JOIN batches b ON b.batch_id = r.batch_id;

DROP TABLE price_snapshot;
ALTER TABLE price_snapshot_v2 RENAME TO price_snapshot;
