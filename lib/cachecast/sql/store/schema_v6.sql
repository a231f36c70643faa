-- cachecast store, schema version 6: reconciliations against Anthropic's own cost and usage
-- reports (issue 19, `cachecast reconcile`). Applied once by cachecast.store.migrate(), in
-- one transaction with its schema_version row. It depends only on schema_v1 (results,
-- batches); no other version depends on it. Never edit it once released; later changes go
-- in a new file.
--
-- Each `cachecast reconcile` run is one row of `reconciliations`, its compared cells are rows
-- of `reconcile_cells` and its days rows of `reconcile_days`, so the ledger can say
-- "reconciled through DATE" (cachecast.analyse.reconcile_store.reconciled_through) and
-- notebooks/04_reconcile.ipynb can chart billed against audited without calling the API.
-- Money is DECIMAL(38, 15) US dollars, exact (the report's amounts are decimal strings in
-- cents). No key is ever stored: `filters` holds the report's filter values (ids such as
-- apikey_..., wrkspc_..., never a secret).

CREATE TABLE reconciliations (
    reconcile_id        TEXT PRIMARY KEY,   -- 'rc-' + UTC time of the run + 6 hex
    ran_at              TIMESTAMP NOT NULL, -- UTC
    since               DATE NOT NULL,      -- first day compared
    until               DATE NOT NULL,      -- last day compared (inclusive)
    filters             TEXT NOT NULL,      -- JSON object: the report's filter parameters as sent
    source              TEXT NOT NULL,      -- which endpoints (cachecast.send.analytics)
    amount_unit         TEXT NOT NULL,      -- 'cents' | 'dollars': how the report's amounts were read
    batch_day           TEXT NOT NULL,      -- 'created' | 'ended': which day a batch's lines were put on
    tolerance_pct       DECIMAL(9, 6) NOT NULL,   -- 0-100
    tolerance_usd       DECIMAL(18, 6) NOT NULL,
    report_refreshed_at TIMESTAMP,          -- the report's data_refreshed_at (oldest page), UTC
    billed_usd          DECIMAL(38, 15) NOT NULL,
    audited_usd         DECIMAL(38, 15) NOT NULL,
    cells               INTEGER NOT NULL,
    flagged             INTEGER NOT NULL,
    notes               TEXT NOT NULL       -- JSON list of sentences
);

-- One row per compared cell: a day, a model and a cost component (the report's cost_type and
-- token_type), with the report's context window and inference geo.
CREATE TABLE reconcile_cells (
    reconcile_id     TEXT NOT NULL,
    day              DATE NOT NULL,
    model            TEXT,              -- NULL: cost the report attributes to no model
    cost_type        TEXT NOT NULL,     -- tokens | web_search | code_execution | session_usage | ...
    token_type       TEXT,              -- the report's token_type on token rows (uncached_input_tokens, ...)
    context_window   TEXT,              -- '0-200k' | '200k-1M' on token rows
    inference_geo    TEXT,              -- 'global' | 'us' | 'not_available' on token rows
    billed_usd       DECIMAL(38, 15) NOT NULL,  -- the report's amount
    list_usd         DECIMAL(38, 15) NOT NULL,  -- the report's list_amount (before discounts)
    audited_usd      DECIMAL(38, 15) NOT NULL,  -- the store's cost of the same lines
    billed_tokens    BIGINT,            -- token rows: the usage report's count; web_search: searches
    audited_tokens   BIGINT,
    flagged          BOOLEAN NOT NULL,
    cause            TEXT,              -- see docs/reconcile.md: outside_traffic, not_ingested, ...
    explanation      TEXT               -- the sentence printed for a flagged cell
);

-- One row per day compared, so that a day with neither billed nor audited cost still counts
-- as reconciled.
CREATE TABLE reconcile_days (
    reconcile_id TEXT NOT NULL,
    day          DATE NOT NULL,
    billed_usd   DECIMAL(38, 15) NOT NULL,
    audited_usd  DECIMAL(38, 15) NOT NULL,
    flagged      INTEGER NOT NULL,      -- flagged cells of the day
    matched      BOOLEAN NOT NULL       -- no flagged cell that day
);
