-- Views over the store. Re-created by cachecast.store.migrate() whenever VIEWS_REVISION
-- changes, so keep every statement a CREATE OR REPLACE and end each with ';' at a line end.

-- Each result line with the price_snapshot key of its kind of line (how it is priced).
--   * priced_on: the day of its batch (batches.created_at: from the API, --priced-at, or
--     the first ingest), so a September batch is priced at September's prices
--   * price_batch: usage.service_tier says it ('batch' -> batch rates; 'standard' or
--     'priority' -> standard rates: a sync line is standard even in a batch store); lines
--     without it fall back to the file's shape (batch results file -> batch)
--   * price_speed: usage.speed ('fast' -> fast-mode rates), standard when absent
--   * price_geo: usage.inference_geo 'us' -> the US-only rates; absent, 'global' or
--     'not_available' -> global; any other value has no price (the line is unpriced)
CREATE OR REPLACE VIEW result_price_keys AS
SELECT r.*,
    coalesce(r.web_search_requests, 0) > 0 AS has_web_search,
    CAST(coalesce(b.created_at, b.first_ingest_at) AS DATE) AS priced_on,
    CASE r.service_tier WHEN 'batch' THEN true WHEN 'standard' THEN false WHEN 'priority' THEN false
         ELSE r.is_batch END AS price_batch,
    coalesce(r.speed, 'standard') AS price_speed,
    CASE WHEN r.inference_geo IS NULL OR r.inference_geo IN ('global', 'not_available') THEN 'global'
         ELSE r.inference_geo END AS price_geo
FROM results r
LEFT JOIN batches b ON b.batch_id = r.batch_id;

-- One row per result line with its manifest row, the rates that apply and its cost.
-- Money is DECIMAL(38, 15) USD: tokens x (USD per million tokens) x 0.000001, exact.
--   * rates of the line's own kind (result_price_keys): its batch's day, batch or standard
--     tier, speed and inference geo; every correction is already in the rates
--     (cachecast.pricing), none is applied here
--   * cache writes split by TTL from usage.cache_creation; without that breakdown, the
--     creation is priced at the TTL the manifest requested (write_ttl_source = 'manifest'),
--     else as 5m writes (write_ttl_source = 'assumed_5m', listed in `anomalies`)
--   * the long-context tier reprices every token of a request whose total prompt
--     (input + creation + read) exceeds the model's threshold (Haiku 5.5: 100k)
--   * web searches (server_tool_use.web_search_requests) at the rate per 1,000
--   * thinking_cost_usd: the thinking_tokens part of output_cost_usd (already in it)
--   * no_cache_cost_usd: the same prompt tokens all at the input rate, plus the same output
--     and web searches
--   * errored, canceled and expired lines cost nothing
CREATE OR REPLACE VIEW request_costs AS
WITH joined AS (
    SELECT r.* EXCLUDE (raw, reject_reason, has_web_search),
           m.item_id, m.treatment, m.temperature, m."repeat", m.ttl AS requested_ttl, m.prefix_hash,
           m.cacheable, m.est_prefix_tokens, m.est_rest_tokens,
           r.input_tokens + r.cache_creation_input_tokens + r.cache_read_input_tokens AS prompt_tokens,
           r.cache_creation_input_tokens - coalesce(r.cache_write_5m_tokens, 0)
               - coalesce(r.cache_write_1h_tokens, 0) AS unsplit_creation
    FROM result_price_keys r
    LEFT JOIN batches b ON b.batch_id = r.batch_id
    LEFT JOIN manifest m ON m.manifest_id = b.manifest_id AND m.custom_id = r.custom_id
),
split AS (
    SELECT *,
        CASE WHEN coalesce(unsplit_creation, 0) = 0 THEN 'reported'
             WHEN requested_ttl IN ('5m', '1h') THEN 'manifest'
             ELSE 'assumed_5m' END AS write_ttl_source,
        coalesce(cache_write_5m_tokens, 0)
            + CASE WHEN unsplit_creation > 0 AND requested_ttl IS DISTINCT FROM '1h' THEN unsplit_creation ELSE 0 END
            AS write_5m_tokens,
        coalesce(cache_write_1h_tokens, 0)
            + CASE WHEN unsplit_creation > 0 AND requested_ttl = '1h' THEN unsplit_creation ELSE 0 END
            AS write_1h_tokens
    FROM joined
),
tiered AS (
    SELECT s.*,
        p.model IS NOT NULL
            AND (coalesce(s.web_search_requests, 0) = 0 OR p.web_search_per_1k IS NOT NULL) AS priced,
        p.source AS price_source,
        coalesce(p.long_context_threshold IS NOT NULL AND s.prompt_tokens > p.long_context_threshold, false)
            AS long_context,
        p.input, p.write_5m, p.write_1h, p.read, p.output,
        p.lc_input, p.lc_write_5m, p.lc_write_1h, p.lc_read, p.lc_output,
        p.web_search_per_1k AS rate_web_search_per_1k
    FROM split s
    LEFT JOIN price_snapshot p
      ON p.model = s.model AND p.priced_on = s.priced_on AND p.batch = s.price_batch
     AND p.speed = s.price_speed AND p.geo = s.price_geo
),
rates AS (
    SELECT * EXCLUDE (input, write_5m, write_1h, read, output, lc_input, lc_write_5m, lc_write_1h, lc_read, lc_output),
        CASE WHEN long_context THEN lc_input ELSE input END AS rate_input,
        CASE WHEN long_context THEN lc_write_5m ELSE write_5m END AS rate_write_5m,
        CASE WHEN long_context THEN lc_write_1h ELSE write_1h END AS rate_write_1h,
        CASE WHEN long_context THEN lc_read ELSE read END AS rate_read,
        CASE WHEN long_context THEN lc_output ELSE output END AS rate_output
    FROM tiered
),
costed AS (
    SELECT *,
        CAST(coalesce(input_tokens * rate_input * 0.000001, 0) AS DECIMAL(38, 15)) AS input_cost_usd,
        CAST(coalesce(write_5m_tokens * rate_write_5m * 0.000001, 0) AS DECIMAL(38, 15)) AS write_5m_cost_usd,
        CAST(coalesce(write_1h_tokens * rate_write_1h * 0.000001, 0) AS DECIMAL(38, 15)) AS write_1h_cost_usd,
        CAST(coalesce(cache_read_input_tokens * rate_read * 0.000001, 0) AS DECIMAL(38, 15)) AS read_cost_usd,
        CAST(coalesce(output_tokens * rate_output * 0.000001, 0) AS DECIMAL(38, 15)) AS output_cost_usd,
        CAST(coalesce(thinking_tokens * rate_output * 0.000001, 0) AS DECIMAL(38, 15)) AS thinking_cost_usd,
        CAST(coalesce(web_search_requests * rate_web_search_per_1k * 0.001, 0) AS DECIMAL(38, 15))
            AS web_search_cost_usd,
        CAST(coalesce(prompt_tokens * rate_input * 0.000001, 0) AS DECIMAL(38, 15)) AS no_cache_input_cost_usd
    FROM rates
)
SELECT *,
    input_cost_usd + write_5m_cost_usd + write_1h_cost_usd + read_cost_usd + output_cost_usd
        + web_search_cost_usd AS cost_usd,
    no_cache_input_cost_usd + output_cost_usd + web_search_cost_usd AS no_cache_cost_usd
FROM costed;

-- One row per batch: counts, tokens, hit rates, cost against no-cache, quarantine.
CREATE OR REPLACE VIEW batch_rollup AS
WITH r AS (
    SELECT batch_id,
        count(*) AS requests,
        count(*) FILTER (WHERE result_type = 'succeeded') AS succeeded,
        count(*) FILTER (WHERE result_type = 'errored') AS errored,
        count(*) FILTER (WHERE result_type = 'canceled') AS canceled,
        count(*) FILTER (WHERE result_type = 'expired') AS expired,
        coalesce(sum(input_tokens), 0)::BIGINT AS input_tokens,
        coalesce(sum(cache_creation_input_tokens), 0)::BIGINT AS cache_creation_input_tokens,
        coalesce(sum(write_5m_tokens) FILTER (WHERE result_type = 'succeeded'), 0)::BIGINT AS cache_write_5m_tokens,
        coalesce(sum(write_1h_tokens) FILTER (WHERE result_type = 'succeeded'), 0)::BIGINT AS cache_write_1h_tokens,
        coalesce(sum(cache_read_input_tokens), 0)::BIGINT AS cache_read_input_tokens,
        coalesce(sum(output_tokens), 0)::BIGINT AS output_tokens,
        count(*) FILTER (WHERE cache_read_input_tokens > 0) AS requests_reading,
        coalesce(sum(cost_usd), 0) AS cost_usd,
        coalesce(sum(no_cache_cost_usd), 0) AS no_cache_cost_usd,
        coalesce(bool_or(simulated), false) AS simulated,
        count(*) FILTER (WHERE result_type = 'succeeded' AND NOT priced) AS unpriced,
        string_agg(DISTINCT model, ', ' ORDER BY model) AS models
    FROM request_costs GROUP BY batch_id
),
q AS (SELECT batch_id, count(*) AS quarantined_lines FROM quarantine GROUP BY batch_id)
SELECT b.batch_id, b.manifest_id, b.first_ingest_at, b.last_ingest_at, b.created_at, b.created_at_source,
    coalesce(r.requests, 0) AS requests, coalesce(r.succeeded, 0) AS succeeded,
    coalesce(r.errored, 0) AS errored, coalesce(r.canceled, 0) AS canceled, coalesce(r.expired, 0) AS expired,
    coalesce(r.input_tokens, 0) AS input_tokens,
    coalesce(r.cache_creation_input_tokens, 0) AS cache_creation_input_tokens,
    coalesce(r.cache_write_5m_tokens, 0) AS cache_write_5m_tokens,
    coalesce(r.cache_write_1h_tokens, 0) AS cache_write_1h_tokens,
    coalesce(r.cache_read_input_tokens, 0) AS cache_read_input_tokens,
    coalesce(r.output_tokens, 0) AS output_tokens,
    coalesce(r.cache_read_input_tokens::DOUBLE
             / nullif(r.input_tokens + r.cache_creation_input_tokens + r.cache_read_input_tokens, 0), 0)
        AS token_hit_rate,
    coalesce(r.requests_reading::DOUBLE / nullif(r.succeeded, 0), 0) AS request_hit_rate,
    coalesce(r.cost_usd, 0) AS cost_usd,
    coalesce(r.no_cache_cost_usd, 0) AS no_cache_cost_usd,
    coalesce(r.no_cache_cost_usd, 0) - coalesce(r.cost_usd, 0) AS savings_usd,
    coalesce(r.simulated, false) AS simulated,
    coalesce(r.unpriced, 0) AS unpriced,
    r.models,
    coalesce(q.quarantined_lines, 0) AS quarantined_lines
FROM batches b
LEFT JOIN r USING (batch_id)
LEFT JOIN q USING (batch_id);

-- One row per batch and treatment, plus one per treatment over all batches (batch_id NULL);
-- treatment '(no manifest)' when unknown.
CREATE OR REPLACE VIEW treatment_rollup AS
SELECT batch_id,
    coalesce(treatment, '(no manifest)') AS treatment,
    string_agg(DISTINCT model, ', ' ORDER BY model) AS models,
    count(*) AS requests,
    count(*) FILTER (WHERE result_type = 'succeeded') AS succeeded,
    count(*) FILTER (WHERE result_type <> 'succeeded') AS failed,
    coalesce(sum(input_tokens), 0)::BIGINT AS input_tokens,
    coalesce(sum(cache_creation_input_tokens), 0)::BIGINT AS cache_creation_input_tokens,
    coalesce(sum(cache_read_input_tokens), 0)::BIGINT AS cache_read_input_tokens,
    coalesce(sum(output_tokens), 0)::BIGINT AS output_tokens,
    coalesce(sum(cache_read_input_tokens)::DOUBLE
             / nullif(sum(input_tokens) + sum(cache_creation_input_tokens) + sum(cache_read_input_tokens), 0), 0)
        AS token_hit_rate,
    coalesce((count(*) FILTER (WHERE cache_read_input_tokens > 0))::DOUBLE
             / nullif(count(*) FILTER (WHERE result_type = 'succeeded'), 0), 0) AS request_hit_rate,
    coalesce(sum(cost_usd), 0) AS cost_usd,
    coalesce(sum(no_cache_cost_usd), 0) AS no_cache_cost_usd,
    coalesce(sum(no_cache_cost_usd), 0) - coalesce(sum(cost_usd), 0) AS savings_usd
FROM request_costs
GROUP BY GROUPING SETS ((batch_id, coalesce(treatment, '(no manifest)')), (coalesce(treatment, '(no manifest)')));

-- Requests worth a look, one row per (request, kind), each with a reason in words and,
-- where it can be counted, the money it lost (usd_lost). The order results appear in the
-- results file is the completion-order proxy (completion_rank, per batch).
--   repeat_write       wrote a prefix that an earlier request of the batch had already
--                      written: a miss that should have been a hit (lost: write - read cost)
--   write_never_read   wrote tokens no later request of the batch read (lost: the write
--                      premium over sending those tokens uncached). Matched by prefix hash
--                      when the manifest is known, else by model (no later read at all).
--   no_cache_activity  the manifest marks it cacheable, but it neither wrote nor read
--   prefix_mismatch    its prefix hash differs from the one most of its treatment uses
--   ttl_mismatch       wrote at a TTL other than the one requested
--   ttl_assumed        creation without a TTL breakdown and no manifest TTL: priced as 5m
--   errored / canceled / expired   not run; reason = error type and message
CREATE OR REPLACE VIEW anomalies AS
WITH keys AS (
    -- file position (ingest, line) is the completion order; pos packs it into one number
    SELECT batch_id, ingest_id, line_no, model, prefix_hash,
        ingest_id::BIGINT * 1099511627776 + line_no AS pos,
        cache_creation_input_tokens > 0 AS is_write,
        cache_read_input_tokens > 0 AS is_read
    FROM request_costs
    WHERE result_type = 'succeeded'
),
by_prefix AS (
    -- per prefix (hash from the manifest): where its first write and its last read are.
    -- Aggregates and joins keep this linear; framed window counts were quadratic.
    SELECT batch_id, model, prefix_hash,
        min(pos) FILTER (WHERE is_write) AS first_write_pos,
        arg_min(line_no, pos) FILTER (WHERE is_write) AS first_write_line,
        max(pos) FILTER (WHERE is_read) AS last_read_pos
    FROM keys GROUP BY ALL
),
by_model AS (
    SELECT batch_id, model, max(pos) FILTER (WHERE is_read) AS last_read_pos_model
    FROM keys GROUP BY ALL
),
ordered AS (
    SELECT *, ingest_id::BIGINT * 1099511627776 + line_no AS pos FROM request_costs
),
ok AS (
    SELECT o.*,
        o.cache_creation_input_tokens > 0 AND o.pos > p.first_write_pos AS rewrote,
        p.first_write_line,
        coalesce(o.pos >= p.last_read_pos, true) AS no_later_read_prefix,
        coalesce(o.pos >= m.last_read_pos_model, true) AS no_later_read_model
    FROM ordered o
    JOIN by_prefix p ON p.batch_id = o.batch_id AND p.model = o.model AND p.prefix_hash IS NOT DISTINCT FROM o.prefix_hash
    JOIN by_model m ON m.batch_id = o.batch_id AND m.model = o.model
    WHERE o.result_type = 'succeeded'
),
prefix_counts AS (
    SELECT batch_id, treatment, model, prefix_hash, count(*) AS n
    FROM ok WHERE prefix_hash IS NOT NULL GROUP BY ALL
),
usual AS (
    SELECT batch_id, treatment, model,
        first(prefix_hash ORDER BY n DESC, prefix_hash) AS usual_prefix_hash,
        max(n) AS usual_n, sum(n) AS total_n
    FROM prefix_counts GROUP BY ALL
),
found AS (
    SELECT batch_id, ingest_id, source_file, line_no, custom_id, treatment, model,
        'repeat_write' AS kind,
        'wrote prefix ' || prefix_hash || ' (' || cache_creation_input_tokens || ' tokens) that an earlier '
            || 'request of this batch had already written (first at line ' || first_write_line
            || '): a miss that should have been a hit' AS reason,
        write_5m_cost_usd + write_1h_cost_usd
            - CAST(cache_creation_input_tokens * rate_read * 0.000001 AS DECIMAL(38, 15)) AS usd_lost
    FROM ok
    WHERE prefix_hash IS NOT NULL AND rewrote
    UNION ALL
    SELECT batch_id, ingest_id, source_file, line_no, custom_id, treatment, model,
        'write_never_read',
        'wrote ' || cache_creation_input_tokens || ' tokens to the cache ('
            || CASE WHEN write_1h_tokens > 0 AND write_5m_tokens > 0 THEN '5m and 1h'
                    WHEN write_1h_tokens > 0 THEN '1h' ELSE '5m' END
            || ') that no later request of this batch read'
            || CASE WHEN prefix_hash IS NULL THEN ' (no manifest: no later request of the model read anything)'
                    ELSE '' END,
        write_5m_cost_usd + write_1h_cost_usd
            - CAST(cache_creation_input_tokens * rate_input * 0.000001 AS DECIMAL(38, 15))
    FROM ok
    WHERE cache_creation_input_tokens > 0
      AND (CASE WHEN prefix_hash IS NOT NULL THEN no_later_read_prefix ELSE no_later_read_model END)
    UNION ALL
    SELECT batch_id, ingest_id, source_file, line_no, custom_id, treatment, model,
        'no_cache_activity',
        'the manifest marks it cacheable (about ' || coalesce(est_prefix_tokens, 0)
            || ' prefix tokens estimated) but it neither wrote nor read the cache',
        NULL
    FROM ok
    WHERE cacheable AND cache_creation_input_tokens = 0 AND cache_read_input_tokens = 0
    UNION ALL
    SELECT o.batch_id, o.ingest_id, o.source_file, o.line_no, o.custom_id, o.treatment, o.model,
        'prefix_mismatch',
        'prefix hash ' || o.prefix_hash || ' differs from ' || u.usual_prefix_hash || ', used by ' || u.usual_n
            || ' of ' || u.total_n || ' requests of treatment ' || coalesce(o.treatment, '?')
            || ': something before the breakpoint varies',
        NULL
    FROM ok o JOIN usual u
      ON u.batch_id = o.batch_id AND u.treatment IS NOT DISTINCT FROM o.treatment AND u.model = o.model
    WHERE o.prefix_hash IS NOT NULL AND o.prefix_hash <> u.usual_prefix_hash
    UNION ALL
    SELECT batch_id, ingest_id, source_file, line_no, custom_id, treatment, model,
        'ttl_mismatch',
        'requested a ' || requested_ttl || ' TTL but wrote '
            || CASE WHEN requested_ttl = '1h' THEN cache_write_5m_tokens || ' tokens at 5m'
                    ELSE cache_write_1h_tokens || ' tokens at 1h' END,
        NULL
    FROM ok
    WHERE (requested_ttl = '1h' AND cache_write_5m_tokens > 0) OR (requested_ttl = '5m' AND cache_write_1h_tokens > 0)
    UNION ALL
    SELECT batch_id, ingest_id, source_file, line_no, custom_id, treatment, model,
        'ttl_assumed',
        'usage has no cache_creation breakdown and the manifest gives no TTL: '
            || unsplit_creation || ' creation tokens priced as 5m writes',
        NULL
    FROM ok
    WHERE write_ttl_source = 'assumed_5m'
    UNION ALL
    SELECT batch_id, ingest_id, source_file, line_no, custom_id, treatment, model,
        result_type,
        CASE result_type
            WHEN 'errored' THEN coalesce(error_type, 'unknown error') || coalesce(': ' || error_message, '')
            WHEN 'expired' THEN 'expired: the batch ended before this request ran (not billed)'
            ELSE 'canceled: the batch was canceled before this request ran (not billed)' END,
        NULL
    FROM ordered
    WHERE result_type <> 'succeeded'
),
ranked AS (
    -- completion rank among all lines of the batch, computed on three narrow columns
    SELECT batch_id, ingest_id, line_no,
        row_number() OVER (PARTITION BY batch_id ORDER BY ingest_id, line_no) AS completion_rank
    FROM results
)
SELECT f.batch_id, r.completion_rank, f.* EXCLUDE (batch_id, ingest_id)
FROM found f JOIN ranked r USING (batch_id, ingest_id, line_no);
