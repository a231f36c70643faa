-- cachecast store, schema version 7: every billed token priced (issue 19, section 3).
-- Applied once by cachecast.store.migrate(), in one transaction with its schema_version
-- row. It depends only on v1-v5. Never edit it once released; later changes go in a new file.
--
-- * results.iterations: usage.iterations of the line (SDK types/beta/beta_iterations_usage.py),
--   one entry per server-side turn (message, advisor_message, compaction, fallback_message),
--   each with its model (NULL: the line's own) and its tokens; NULL when the line has none.
--   The type is sql/store/result_line.sql `stored_iterations`, written out here because a
--   released migration must not change with a later edit of that file.
-- * results.server_tool_other: usage.server_tool_use when it holds a counter the SDK types do
--   not name (anything but web_search_requests and web_fetch_requests), as JSON; NULL otherwise.
--   Such a counter has no price: the audit lists it ("unpriced: N requests used X").
-- * price_snapshot.web_fetch_per_1k: USD per 1,000 web fetches. Rows captured before v7 get
--   0, the documented price (price_corrections.yaml web-fetch-no-charge: "Web fetch usage has
--   no additional charges beyond standard token costs"), which is also what those rows priced
--   web fetches at before: no audit of an old batch changes on upgrade.
-- Lines stored before v7 keep iterations NULL (the raw text of an ordinary line is not kept,
-- so they cannot be read again here): re-ingesting their results file adds nothing, as the
-- lines are already stored. A store with advisor or other server-side turns must be ingested
-- by this version or later for them to be priced.

ALTER TABLE results ADD COLUMN iterations STRUCT(type VARCHAR, model VARCHAR, input_tokens BIGINT,
    cache_creation_input_tokens BIGINT, cache_write_5m_tokens BIGINT, cache_write_1h_tokens BIGINT,
    cache_read_input_tokens BIGINT, output_tokens BIGINT)[];
ALTER TABLE results ADD COLUMN server_tool_other JSON;

ALTER TABLE price_snapshot ADD COLUMN web_fetch_per_1k DECIMAL(18, 9);
UPDATE price_snapshot SET web_fetch_per_1k = 0,
    source = source || '; web fetch: no charge (web-fetch-no-charge, filled by schema v7)';
