-- Views over the store. Re-created by cachecast.store.migrate() whenever VIEWS_REVISION
-- changes, so keep every statement a CREATE OR REPLACE and end each with ';' at a line end.

-- The cost formula, mirrored from cachecast.facts.costs.token_cost (the one Python cost path;
-- tests/test_cost_paths.py prices generated usages both ways to 1e-9): tokens x the rate in
-- USD per million tokens, exact DECIMAL(38, 15); the long-context rate when the call's whole
-- prompt exceeds the threshold.
CREATE OR REPLACE MACRO cc_usd(tokens, rate) AS CAST(coalesce(tokens * rate * 0.000001, 0) AS DECIMAL(38, 15));
CREATE OR REPLACE MACRO cc_long(prompt, threshold) AS coalesce(threshold IS NOT NULL AND prompt > threshold, false);
CREATE OR REPLACE MACRO cc_rate(long_context, base, long) AS CASE WHEN long_context THEN long ELSE base END;

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
    coalesce(r.web_fetch_requests, 0) > 0 AS has_web_fetch,
    CAST(coalesce(b.created_at, b.first_ingest_at) AS DATE) AS priced_on,
    CASE r.service_tier WHEN 'batch' THEN true WHEN 'standard' THEN false WHEN 'priority' THEN false
         ELSE r.is_batch END AS price_batch,
    coalesce(r.speed, 'standard') AS price_speed,
    CASE WHEN r.inference_geo IS NULL OR r.inference_geo IN ('global', 'not_available') THEN 'global'
         ELSE r.inference_geo END AS price_geo
FROM results r
LEFT JOIN batches b ON b.batch_id = r.batch_id;

-- Every price a succeeded line needs: its own kind of line, and one per model of its
-- usage.iterations (an advisor's turns are billed at the advisor model's rates, on the same
-- day, tier and geo; at standard speed unless the turn is on the line's own model: ASSUMED,
-- cachecast.facts.costs.price_usage). Ingest snapshots these prices, and quarantines a line
-- whose price cannot be known.
CREATE OR REPLACE VIEW line_price_keys AS
SELECT batch_id, ingest_id, line_no, model, priced_on, price_batch, price_speed, price_geo,
       has_web_search AS uses_web_search, has_web_fetch AS uses_web_fetch
FROM result_price_keys WHERE result_type = 'succeeded'
UNION ALL
SELECT DISTINCT batch_id, ingest_id, line_no, coalesce(it.model, model), priced_on, price_batch,
       CASE WHEN coalesce(it.model, model) = model THEN price_speed ELSE 'standard' END, price_geo, false, false
FROM (SELECT *, unnest(iterations) AS it FROM result_price_keys
      WHERE result_type = 'succeeded' AND iterations IS NOT NULL);

-- One row per entry of a succeeded line's usage.iterations (server-side turns: the
-- executor's own sampling turns, an advisor's, a compaction's), each priced at its own
-- model's rates (model absent: the line's) on the line's day, tier and geo, at standard
-- speed unless the turn is on the line's own model (ASSUMED, cachecast.facts.costs), its own
-- prompt judging the long-context tier; cache writes without a breakdown at the TTL the
-- manifest asked for, else 5m, as for the top level. executor: a message or fallback_message
-- turn (cachecast.facts.usage EXECUTOR_ITERATIONS).
CREATE OR REPLACE VIEW iteration_costs AS
WITH turns AS (
    SELECT r.batch_id, r.ingest_id, r.line_no, r.custom_id, r.model AS line_model, r.priced_on, r.price_batch,
           r.price_speed, r.price_geo, m.ttl AS requested_ttl, m.treatment,
           generate_subscripts(r.iterations, 1) AS turn, unnest(r.iterations) AS it
    FROM result_price_keys r
    LEFT JOIN batches b ON b.batch_id = r.batch_id
    LEFT JOIN manifest m ON m.manifest_id = b.manifest_id AND m.custom_id = r.custom_id
    WHERE r.result_type = 'succeeded' AND r.iterations IS NOT NULL
),
rated AS (
    SELECT t.batch_id, t.ingest_id, t.line_no, t.custom_id, t.treatment, t.turn, t.it.type AS turn_type,
        coalesce(t.it.model, t.line_model) AS model, t.it.type IN ('message', 'fallback_message') AS executor,
        p.model IS NOT NULL AS priced, p.source AS price_source,
        t.it.input_tokens AS input_tokens, t.it.cache_creation_input_tokens AS cache_creation_input_tokens,
        t.it.cache_read_input_tokens AS cache_read_input_tokens, t.it.output_tokens AS output_tokens,
        t.it.input_tokens + t.it.cache_creation_input_tokens + t.it.cache_read_input_tokens AS prompt_tokens,
        coalesce(t.it.cache_write_5m_tokens, 0)
            + CASE WHEN t.requested_ttl IS DISTINCT FROM '1h' THEN t.it.cache_creation_input_tokens
                   - coalesce(t.it.cache_write_5m_tokens, 0) - coalesce(t.it.cache_write_1h_tokens, 0) ELSE 0 END
            AS write_5m_tokens,
        coalesce(t.it.cache_write_1h_tokens, 0)
            + CASE WHEN t.requested_ttl = '1h' THEN t.it.cache_creation_input_tokens
                   - coalesce(t.it.cache_write_5m_tokens, 0) - coalesce(t.it.cache_write_1h_tokens, 0) ELSE 0 END
            AS write_1h_tokens,
        p.long_context_threshold, p.input, p.write_5m, p.write_1h, p.read, p.output,
        p.lc_input, p.lc_write_5m, p.lc_write_1h, p.lc_read, p.lc_output
    FROM turns t
    LEFT JOIN price_snapshot p
      ON p.model = coalesce(t.it.model, t.line_model) AND p.priced_on = t.priced_on AND p.batch = t.price_batch
     AND p.speed = CASE WHEN coalesce(t.it.model, t.line_model) = t.line_model THEN t.price_speed ELSE 'standard' END
     AND p.geo = t.price_geo
),
costed AS (
    SELECT * EXCLUDE (long_context_threshold, input, write_5m, write_1h, read, output,
                      lc_input, lc_write_5m, lc_write_1h, lc_read, lc_output),
        cc_usd(input_tokens, cc_rate(lc, input, lc_input)) AS input_cost_usd,
        cc_usd(write_5m_tokens, cc_rate(lc, write_5m, lc_write_5m)) AS write_5m_cost_usd,
        cc_usd(write_1h_tokens, cc_rate(lc, write_1h, lc_write_1h)) AS write_1h_cost_usd,
        cc_usd(cache_read_input_tokens, cc_rate(lc, read, lc_read)) AS read_cost_usd,
        cc_usd(output_tokens, cc_rate(lc, output, lc_output)) AS output_cost_usd,
        cc_usd(prompt_tokens, cc_rate(lc, input, lc_input)) AS no_cache_input_cost_usd
    FROM (SELECT *, cc_long(prompt_tokens, long_context_threshold) AS lc FROM rated)
)
SELECT * EXCLUDE (lc), lc AS long_context,
    input_cost_usd + write_5m_cost_usd + write_1h_cost_usd + read_cost_usd + output_cost_usd AS cost_usd,
    no_cache_input_cost_usd + output_cost_usd AS no_cache_cost_usd
FROM costed;

-- One row per result line with its manifest row, the rates that apply and its cost.
-- Money is DECIMAL(38, 15) USD: tokens x (USD per million tokens) x 0.000001, exact (cc_usd).
--   * rates of the line's own kind (result_price_keys): its batch's day, batch or standard
--     tier, speed and inference geo; every correction is already in the rates
--     (cachecast.facts.pricing), none is applied here
--   * cache writes split by TTL from usage.cache_creation; without that breakdown, the
--     creation is priced at the TTL the manifest requested (write_ttl_source = 'manifest'),
--     else as 5m writes (write_ttl_source = 'assumed_5m', listed in `anomalies`)
--   * the long-context tier reprices every token of a request whose total prompt
--     (input + creation + read) exceeds the model's threshold (Haiku 5.5: 100k; Sonnet 4: 200k)
--   * usage.iterations (view iteration_costs), as the advisor tool docs say they are billed
--     (cachecast.facts.usage): when the iterations hold the executor's own turns (message,
--     fallback_message), those turns ARE the line's input/write/read/output cost and the
--     top-level usage (the first executor turn restated, with the turns' output summed) is
--     not priced again; the other turns (advisor_message, compaction) are
--     iterations_cost_usd, their own component. Without executor turns the top-level usage is
--     priced and every iteration is added as iterations_cost_usd.
--   * web searches (server_tool_use.web_search_requests) at the rate per 1,000; web fetches
--     likewise (documented: no charge). Other counters have no price: the audit lists them.
--   * thinking_cost_usd: the thinking_tokens part of output_cost_usd (already in it)
--   * no_cache_cost_usd: the same prompt tokens all at the input rate, plus the same output,
--     iterations and server tools
--   * errored, canceled and expired lines cost nothing
CREATE OR REPLACE VIEW request_costs AS
WITH joined AS (
    SELECT r.* EXCLUDE (raw, reject_reason, has_web_search, has_web_fetch),
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
line_turns AS (
    SELECT ingest_id, line_no,
        bool_or(executor) AS executor_turns,
        bool_and(priced) AS turns_priced,
        count(*) FILTER (WHERE NOT executor) AS other_turns,
        sum(input_cost_usd) FILTER (WHERE executor) AS x_input, sum(write_5m_cost_usd) FILTER (WHERE executor) AS x_write_5m,
        sum(write_1h_cost_usd) FILTER (WHERE executor) AS x_write_1h, sum(read_cost_usd) FILTER (WHERE executor) AS x_read,
        sum(output_cost_usd) FILTER (WHERE executor) AS x_output,
        sum(no_cache_input_cost_usd) FILTER (WHERE executor) AS x_plain_input,
        sum(input_tokens) FILTER (WHERE executor) AS x_input_tokens,
        sum(write_5m_tokens) FILTER (WHERE executor) AS x_write_5m_tokens,
        sum(write_1h_tokens) FILTER (WHERE executor) AS x_write_1h_tokens,
        sum(cache_read_input_tokens) FILTER (WHERE executor) AS x_read_tokens,
        sum(output_tokens) FILTER (WHERE executor) AS x_output_tokens,
        coalesce(sum(cost_usd) FILTER (WHERE NOT executor), 0) AS o_cost,
        coalesce(sum(no_cache_cost_usd) FILTER (WHERE NOT executor), 0) AS o_plain
    FROM iteration_costs GROUP BY ingest_id, line_no
),
tiered AS (
    SELECT s.*,
        p.model IS NOT NULL AND coalesce(lt.turns_priced, true)
            AND (coalesce(s.web_search_requests, 0) = 0 OR p.web_search_per_1k IS NOT NULL)
            AND (coalesce(s.web_fetch_requests, 0) = 0 OR p.web_fetch_per_1k IS NOT NULL) AS priced,
        p.source AS price_source,
        cc_long(s.prompt_tokens, p.long_context_threshold) AS long_context,
        p.input, p.write_5m, p.write_1h, p.read, p.output,
        p.lc_input, p.lc_write_5m, p.lc_write_1h, p.lc_read, p.lc_output,
        p.web_search_per_1k AS rate_web_search_per_1k, p.web_fetch_per_1k AS rate_web_fetch_per_1k,
        coalesce(lt.executor_turns, false) AS executor_turns, coalesce(lt.other_turns, 0) AS other_turns,
        lt.x_input, lt.x_write_5m, lt.x_write_1h, lt.x_read, lt.x_output, lt.x_plain_input,
        lt.x_input_tokens, lt.x_write_5m_tokens, lt.x_write_1h_tokens, lt.x_read_tokens, lt.x_output_tokens,
        coalesce(lt.o_cost, 0) AS iterations_cost_usd, coalesce(lt.o_plain, 0) AS no_cache_iterations_cost_usd
    FROM split s
    LEFT JOIN price_snapshot p
      ON p.model = s.model AND p.priced_on = s.priced_on AND p.batch = s.price_batch
     AND p.speed = s.price_speed AND p.geo = s.price_geo
    LEFT JOIN line_turns lt ON lt.ingest_id = s.ingest_id AND lt.line_no = s.line_no
),
rates AS (
    SELECT * EXCLUDE (input, write_5m, write_1h, read, output, lc_input, lc_write_5m, lc_write_1h, lc_read, lc_output),
        cc_rate(long_context, input, lc_input) AS rate_input,
        cc_rate(long_context, write_5m, lc_write_5m) AS rate_write_5m,
        cc_rate(long_context, write_1h, lc_write_1h) AS rate_write_1h,
        cc_rate(long_context, read, lc_read) AS rate_read,
        cc_rate(long_context, output, lc_output) AS rate_output
    FROM tiered
),
costed AS (
    SELECT * EXCLUDE (x_input, x_write_5m, x_write_1h, x_read, x_output, x_plain_input, x_input_tokens,
                      x_write_5m_tokens, x_write_1h_tokens, x_read_tokens, x_output_tokens),
        -- the tokens the line's own components are billed for: the top-level usage, or the sum
        -- of its executor turns (the top level restates only the first one's input and reads)
        CASE WHEN executor_turns THEN x_input_tokens ELSE input_tokens END AS billed_input_tokens,
        CASE WHEN executor_turns THEN x_write_5m_tokens ELSE write_5m_tokens END AS billed_write_5m_tokens,
        CASE WHEN executor_turns THEN x_write_1h_tokens ELSE write_1h_tokens END AS billed_write_1h_tokens,
        CASE WHEN executor_turns THEN x_read_tokens ELSE cache_read_input_tokens END AS billed_read_tokens,
        CASE WHEN executor_turns THEN x_output_tokens ELSE output_tokens END AS billed_output_tokens,
        CASE WHEN executor_turns THEN x_input ELSE cc_usd(input_tokens, rate_input) END AS input_cost_usd,
        CASE WHEN executor_turns THEN x_write_5m ELSE cc_usd(write_5m_tokens, rate_write_5m) END AS write_5m_cost_usd,
        CASE WHEN executor_turns THEN x_write_1h ELSE cc_usd(write_1h_tokens, rate_write_1h) END AS write_1h_cost_usd,
        CASE WHEN executor_turns THEN x_read ELSE cc_usd(cache_read_input_tokens, rate_read) END AS read_cost_usd,
        CASE WHEN executor_turns THEN x_output ELSE cc_usd(output_tokens, rate_output) END AS output_cost_usd,
        cc_usd(thinking_tokens, rate_output) AS thinking_cost_usd,
        CAST(coalesce(web_search_requests * rate_web_search_per_1k * 0.001, 0) AS DECIMAL(38, 15))
            AS web_search_cost_usd,
        CAST(coalesce(web_fetch_requests * rate_web_fetch_per_1k * 0.001, 0) AS DECIMAL(38, 15))
            AS web_fetch_cost_usd,
        CASE WHEN executor_turns THEN x_plain_input ELSE cc_usd(prompt_tokens, rate_input) END
            AS no_cache_input_cost_usd
    FROM rates
)
SELECT *,
    input_cost_usd + write_5m_cost_usd + write_1h_cost_usd + read_cost_usd + output_cost_usd
        + iterations_cost_usd + web_search_cost_usd + web_fetch_cost_usd AS cost_usd,
    no_cache_input_cost_usd + output_cost_usd + no_cache_iterations_cost_usd + web_search_cost_usd
        + web_fetch_cost_usd AS no_cache_cost_usd
FROM costed;

-- One row per batch: counts, tokens, hit rates, cost against no-cache, answers cut off at
-- max_tokens (truncated) and what they cost, quarantine.
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
        count(*) FILTER (WHERE result_type = 'succeeded' AND stop_reason = 'max_tokens') AS truncated,
        coalesce(sum(cost_usd) FILTER (WHERE stop_reason = 'max_tokens'), 0) AS truncated_cost_usd,
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
    coalesce(r.truncated, 0) AS truncated,
    coalesce(r.truncated_cost_usd, 0) AS truncated_cost_usd,
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
-- where it can be counted, the money it lost (usd_lost). No finding reads the order of the
-- results file, which is not completion order (SDK MessageBatch.results_url docstring): a
-- line is judged by what it and the other lines of its prefix show. file_rank is the line's
-- position in the results file(s), to list rows in a stable order, and nothing more.
--   repeat_write       wrote a prefix that another request of the batch wrote too: every
--                      write of a prefix but one (the first by custom_id, message id) is a
--                      miss, from the first wave or an expiry (misses by cause tells them
--                      apart); lost: write - read cost
--   write_never_read   wrote a prefix no request of the batch read (the write premium over
--                      sending those tokens uncached). Matched by prefix hash when the
--                      manifest is known, else by model (no request of the model read at all).
--   no_cache_activity  the manifest marks it cacheable, but it neither wrote nor read
--   prefix_mismatch    its prefix hash differs from the one most of its treatment uses
--   ttl_mismatch       wrote at a TTL other than the one requested
--   ttl_assumed        creation without a TTL breakdown and no manifest TTL: priced as 5m
--   errored / canceled / expired   not run; reason = error type and message
CREATE OR REPLACE VIEW anomalies AS
WITH keys AS (
    SELECT batch_id, model, prefix_hash, line_no,
        coalesce(custom_id, '') || chr(31) || coalesce(message_id, '') AS who,
        cache_creation_input_tokens > 0 AS is_write,
        cache_read_input_tokens > 0 AS is_read
    FROM request_costs
    WHERE result_type = 'succeeded'
),
by_prefix AS (
    -- per prefix (hash from the manifest): its first writer by custom_id, and how many read it.
    -- Aggregates and joins keep this linear.
    SELECT batch_id, model, prefix_hash,
        min(who) FILTER (WHERE is_write) AS first_writer,
        arg_min(line_no, who) FILTER (WHERE is_write) AS first_write_line,
        count(*) FILTER (WHERE is_write) AS writers,
        count(*) FILTER (WHERE is_read) AS readers
    FROM keys GROUP BY ALL
),
by_model AS (
    SELECT batch_id, model, count(*) FILTER (WHERE is_read) AS readers_model
    FROM keys GROUP BY ALL
),
ok AS (
    SELECT c.*,
        c.cache_creation_input_tokens > 0
            AND coalesce(c.custom_id, '') || chr(31) || coalesce(c.message_id, '') <> p.first_writer AS rewrote,
        p.first_write_line, p.writers,
        p.readers = 0 AS never_read_prefix,
        m.readers_model = 0 AS never_read_model
    FROM request_costs c
    JOIN by_prefix p ON p.batch_id = c.batch_id AND p.model = c.model AND p.prefix_hash IS NOT DISTINCT FROM c.prefix_hash
    JOIN by_model m ON m.batch_id = c.batch_id AND m.model = c.model
    WHERE c.result_type = 'succeeded'
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
        'wrote prefix ' || prefix_hash || ' (' || cache_creation_input_tokens || ' tokens), which ' || (writers - 1)
            || ' other request(s) of this batch wrote too (the first by custom_id at line ' || first_write_line
            || '): a miss, from the first wave or an expired entry' AS reason,
        write_5m_cost_usd + write_1h_cost_usd - cc_usd(cache_creation_input_tokens, rate_read) AS usd_lost
    FROM ok
    WHERE prefix_hash IS NOT NULL AND rewrote
    UNION ALL
    SELECT batch_id, ingest_id, source_file, line_no, custom_id, treatment, model,
        'write_never_read',
        'wrote ' || cache_creation_input_tokens || ' tokens to the cache ('
            || CASE WHEN write_1h_tokens > 0 AND write_5m_tokens > 0 THEN '5m and 1h'
                    WHEN write_1h_tokens > 0 THEN '1h' ELSE '5m' END
            || ') that no request of this batch read'
            || CASE WHEN prefix_hash IS NULL THEN ' (no manifest: no request of the model read anything)'
                    ELSE '' END,
        write_5m_cost_usd + write_1h_cost_usd - cc_usd(cache_creation_input_tokens, rate_input)
    FROM ok
    WHERE cache_creation_input_tokens > 0
      AND (CASE WHEN prefix_hash IS NOT NULL THEN never_read_prefix ELSE never_read_model END)
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
    FROM request_costs
    WHERE result_type <> 'succeeded'
),
ranked AS (
    -- the line's position in the results file(s) of its batch, for a stable listing order only
    SELECT batch_id, ingest_id, line_no,
        row_number() OVER (PARTITION BY batch_id ORDER BY ingest_id, line_no) AS file_rank
    FROM results
)
SELECT f.batch_id, r.file_rank, f.* EXCLUDE (batch_id, ingest_id)
FROM found f JOIN ranked r USING (batch_id, ingest_id, line_no);
