-- Ingest of one results file (see cachecast/store/ingest/ for the why). Named statements,
-- each introduced by a "-- name:" line; values always come in as $parameters.
--
-- The file is parsed ONCE by DuckDB, and every line is shaped by one definition (`shaped`):
-- on the fast path read_json parses, shapes and inserts in one pass (insert_parsed); on the
-- staged path the lines are staged (stage_lines), then parsed one by one (view_staged_rows)
-- and shaped by the view cc_shaped that insert_lines reads. Every row (good, bad or
-- duplicate) goes into `results` with `reject_reason` set for lines that cannot be used;
-- later statements in the same transaction move rejected lines to `quarantine`, drop
-- duplicates and leave only good rows. Rejected and duplicate lines are rare, so moving them
-- afterwards is cheap, while a second pass over a 300 MB file is not.

-- name: macro_token_problem
-- Why a usage token count is unusable, or NULL when it is fine. The count arrives as JSON
-- text (json_transform with type JSON), so "12", 12.0, -3 and 1e30 are told apart from 12.
-- Absent/null is fine here (required fields are checked apart). 10,000,000 is ten times
-- the largest context window.
CREATE OR REPLACE TEMP MACRO cc_token_problem(v) AS
    CASE WHEN v IS NULL OR v = 'null' THEN NULL
         WHEN v[1] = '"' THEN 'is a string (' || left(v, 40) || ')'
         WHEN v[1] = '-' THEN 'is negative (' || left(v, 40) || ')'
         WHEN v[1] IN ('{', '[', 't', 'f') THEN 'is not a number (' || left(v, 40) || ')'
         WHEN strpos(v, '.') > 0 OR strpos(v, 'e') > 0 OR strpos(v, 'E') > 0 THEN 'is not an integer (' || v || ')'
         WHEN try_cast(v AS UBIGINT) IS NULL OR try_cast(v AS UBIGINT) > 10000000
              THEN 'is implausibly large (' || left(v, 40) || ' > 10,000,000)'
    END;

-- name: macro_token_ok
-- The cheap check every line gets: the text is exactly the digits of a count <= 10,000,000.
CREATE OR REPLACE TEMP MACRO cc_token_ok(v, n) AS
    v IS NULL OR (n IS NOT NULL AND n <= 10000000 AND CAST(n AS VARCHAR) = v);

-- name: macro_unusual
-- Lines whose raw text is always kept (results.raw): anything but a succeeded line that
-- ended normally, i.e. errored/canceled/expired lines and succeeded lines cut at max_tokens,
-- refused, paused or with an unknown stop reason. Ordinary succeeded lines keep only a
-- reference unless ingested with --keep-raw.
CREATE OR REPLACE TEMP MACRO cc_unusual(result_type, stop_reason) AS
    result_type IS DISTINCT FROM 'succeeded'
    OR stop_reason IS NULL OR stop_reason NOT IN ('end_turn', 'stop_sequence', 'tool_use');

-- name: macro_parse_raising
-- One JSON parse per line, into the result-line type of sql/store/result_line.sql (`line`):
-- the same schema insert_parsed reads with. A cast of JSON to a STRUCT behaves as
-- json_transform (missing keys and mismatched types NULL, unknown keys ignored) and raises
-- only on text that is not JSON.
CREATE OR REPLACE TEMP MACRO cc_parse_raising(line) AS try_cast(CAST(line AS JSON) AS {{store/result_line.sql:line}});

-- name: macro_count
-- A token count given as JSON text (an iteration's): the number, NULL when it is not a
-- plain count <= 10,000,000 (cc_token_ok); cc_count_ok says whether it is usable.
CREATE OR REPLACE TEMP MACRO cc_count(v) AS
    CASE WHEN cc_token_ok(CAST(v AS VARCHAR), try_cast(CAST(v AS VARCHAR) AS UBIGINT))
         THEN try_cast(CAST(v AS VARCHAR) AS UBIGINT) END;

-- name: macro_count_ok
CREATE OR REPLACE TEMP MACRO cc_count_ok(v) AS cc_token_ok(CAST(v AS VARCHAR), try_cast(CAST(v AS VARCHAR) AS UBIGINT));

-- name: macro_repeated_key
-- Whether a raw line repeats a key in an object ingest reads (issue 14, class 6): a parse
-- keeps one value silently, so such a line is ambiguous and is quarantined (staged path and
-- chunks; on the fast path read_json or `shaped`'s macro_repeated_json sends the file to the
-- staged path). json_keys lists every key of each object as parsed, repeats included, so the
-- check is exact per object, `type` and `id` and escaped spellings ("\u006dodel") too, while
-- the same key in two content blocks (two objects) is no repeat. The iterations entries (a list: another parse)
-- are looked at only when the line names them or has an escape that could spell the name.
CREATE OR REPLACE TEMP MACRO cc_repeated_key(line) AS
    list_bool_or(list_transform(
        json_keys(line, ['$', '$.result', '$.result.message', '$.result.message.usage',
                         '$.result.message.usage.cache_creation', '$.result.message.usage.output_tokens_details',
                         '$.result.message.usage.server_tool_use', '$.result.message.diagnostics',
                         '$.result.message.diagnostics.cache_miss_reason', '$.result.error', '$.result.error.error',
                         '$.usage', '$.usage.cache_creation', '$.usage.output_tokens_details', '$.usage.server_tool_use',
                         '$.diagnostics', '$.diagnostics.cache_miss_reason', '$.error']),
        lambda k: len(k) > list_unique(k)))
    OR CASE WHEN contains(line, 'iterations') OR contains(line, '\u') THEN list_bool_or(list_transform(
            flatten([json_keys(line, '$.result.message.usage.iterations[*]'),
                     json_keys(line, '$.result.message.usage.iterations[*].cache_creation'),
                     json_keys(line, '$.usage.iterations[*]'), json_keys(line, '$.usage.iterations[*].cache_creation')]),
            lambda k: len(k) > list_unique(k))) ELSE false END;

-- name: macro_repeated_json
-- Whether the objects a parsed line keeps as JSON text repeat a key (usage.server_tool_use,
-- each usage.iterations entry and its cache_creation, diagnostics and its cache_miss_reason):
-- JSON text keeps repeats, while read_json refuses a repeated key of a STRUCT field itself
-- (insert_parsed). Either way the line is rejected, the fast path gives up, and the staged
-- path finds the line with macro_repeated_key and names the key. `u` is a usage STRUCT, `d`
-- a diagnostics JSON.
CREATE OR REPLACE TEMP MACRO cc_repeated_json(u, d) AS
    coalesce(list_bool_or(list_transform(
        flatten([json_keys(u.server_tool_use, ['$']), json_keys(d, ['$', '$.cache_miss_reason']),
                 json_keys(u.iterations, '$[*]'), json_keys(u.iterations, '$[*].cache_creation')]),
        lambda k: len(k) > list_unique(k))), false);

-- name: repeated_key_staged
-- Staged path: the staged lines that repeat a key, with their line numbers (a line that is
-- not JSON is quarantined for that instead). With macro_repeated_json's objects, as text.
SELECT line_no, line
FROM (SELECT rowid + 1 AS line_no, line FROM cc_lines)  -- numbered as view_staged_rows numbers them
WHERE CASE WHEN json_valid(line) THEN cc_repeated_key(line) END
ORDER BY line_no;

-- name: macro_parse_strict
-- Fast path: a malformed line raises, the transaction rolls back and the file is parsed
-- again with macro_parse_lenient (store/ingest/load.py).
CREATE OR REPLACE TEMP MACRO cc_parse(line) AS cc_parse_raising(line);

-- name: macro_parse_lenient
CREATE OR REPLACE TEMP MACRO cc_parse(line) AS try(cc_parse_raising(line));

-- name: stage_lines
-- Every line of the file, in file order, into a temp table (DuckDB spills it to disk past
-- its memory limit). read_csv with no delimiter, quote or escape is DuckDB's fastest
-- parallel line reader. Staging first numbers the lines (view_staged_rows: the rowids of a
-- table written once in file order; a window over read_csv would make the whole pipeline
-- single-threaded), and lets store/ingest/checks.py check the numbering (read_csv skips
-- empty lines) before parsing anything.
CREATE OR REPLACE TEMP TABLE cc_lines AS
SELECT line
FROM read_csv($path, columns = {'line': 'VARCHAR', 'extra': 'VARCHAR'}, header = false,
              delim = '\0', quote = '', escape = '', auto_detect = false,
              strict_mode = false, null_padding = true, max_line_size = 16777216);

-- name: insert_parsed
-- Fast path: ONE parallel read_json pass, parsing each line straight into the STRUCT that
-- macro_parse_strict would give (the one schema, result_line.sql `line`), shaping it
-- (`shaped`) and inserting it into `results`, all in the same pass and in file order
-- (preserve_insertion_order). read_json numbers no rows: number_parsed numbers them next.
-- read_json does not expose the line text either, so this path stores no raw text by
-- itself: store/ingest/load.py copies the few unusual lines' text in after (wanted_raw),
-- checks that the rows are the file's physical lines, and falls back to stage_lines (the
-- line-exact, lenient path) on any error, any rejected line or --keep-raw, rolling this
-- back. read_json refuses a line that repeats a key of a STRUCT field (see
-- macro_repeated_json). $paths is a list holding the one file. Needs the macros
-- (store/ingest/load.py _macros).
INSERT INTO results BY NAME
SELECT $batch_id AS batch_id, $ingest_id AS ingest_id, $source_file AS source_file,
       * EXCLUDE (file_idx, line, keep_line)
FROM (
    WITH cc_rows AS (
        SELECT 0 AS file_idx, CAST(0 AS BIGINT) AS line_no, CAST(NULL AS VARCHAR) AS line, j
        FROM read_json($paths, format = 'newline_delimited', maximum_object_size = 16777216,
                       records = false, columns = {'j': '{{store/result_line.sql:line}}'})
    )
    SELECT * FROM ({{shaped}})
);

-- name: number_parsed
-- The fast path's line numbers: the rows insert_parsed just added are still this
-- transaction's own, held in insertion order (= file order: preserve_insertion_order) under
-- consecutive row ids, so a line's number is its row id less the first one, plus 1.
-- DuckDB does not document this (it documents only that preserve_insertion_order keeps the
-- order of results): tests/test_ingest.py checks it past one row group, with rows stored and
-- deleted before, so an upgrade that changes it fails the tests rather than the numbering.
-- A row_number() window over read_json would materialize every parsed row first, in one
-- thread.
UPDATE results SET line_no = rowid - (SELECT min(rowid) FROM results WHERE ingest_id = $ingest_id) + 1
WHERE ingest_id = $ingest_id;

-- name: view_staged_rows
-- The rows view_shaped shapes, from the staged lines (one json_transform per line). A
-- line's number is its staged row's rowid + 1: cc_lines was written once, in file order
-- (preserve_insertion_order), so its rowids are 0, 1, 2, ... in that order.
CREATE OR REPLACE TEMP VIEW cc_rows AS
SELECT 0 AS file_idx, rowid + 1 AS line_no, line, cc_parse(line) AS j FROM cc_lines;

-- name: staged_stats
SELECT count(*) AS rows, coalesce(sum(strlen(line)), 0) AS bytes FROM cc_lines;

-- name: drop_staged
DROP VIEW IF EXISTS cc_shaped;
DROP VIEW IF EXISTS cc_rows;
DROP TABLE IF EXISTS cc_lines;

-- name: view_shaped
-- Every row of cc_rows shaped (`shaped`): the staged path and a chunk of small files
-- (ingest_many.sql) shape through this view; the fast path shapes as it parses (insert_parsed).
CREATE OR REPLACE TEMP VIEW cc_shaped AS {{shaped}};

-- name: shaped
-- Every row of cc_rows(file_idx, line_no, line, j) shaped into the columns of `results`
-- (less batch_id, ingest_id, source_file and raw, which the caller adds), and keep_line for
-- the caller. The one definition of what a line means, for
-- one file (insert_lines) and for a chunk of small files (ingest_many.sql).
WITH shaped AS (
    -- shape: 'message' = a Message from a sync run (may carry a top-level custom_id),
    -- 'error' = an API error body from a sync run, 'batch' = Message Batches result line
    SELECT *,
        CASE WHEN j.type = 'message' THEN 'message'
             WHEN j.type = 'error' THEN 'error'
             WHEN j.custom_id IS NOT NULL OR j.result.type IS NOT NULL THEN 'batch' END AS shape
    FROM cc_rows
),
fields AS (
    SELECT file_idx, line_no, line, j IS NULL AS unparsed, shape,
        j.custom_id AS custom_id,
        CASE shape WHEN 'batch' THEN j.result.type WHEN 'message' THEN 'succeeded' WHEN 'error' THEN 'errored' END
            AS result_type,
        CASE shape WHEN 'batch' THEN j.result.message.id ELSE j.id END AS message_id,
        CASE shape WHEN 'batch' THEN j.result.message.model ELSE j.model END AS model,
        CASE shape WHEN 'batch' THEN j.result.message.stop_reason ELSE j.stop_reason END AS stop_reason,
        CASE shape WHEN 'batch' THEN j.result.message.usage ELSE j.usage END AS u,
        -- diagnostics.cache_miss_reason (FACTS.md): a type string, or an object with `type`
        -- and cache_missed_input_tokens; undocumented inside batches, read when present
        CASE shape WHEN 'batch' THEN j.result.message.diagnostics ELSE j.diagnostics END -> 'cache_miss_reason'
            AS miss,
        CASE shape WHEN 'batch' THEN j.result.error.error.type ELSE j.error.type END AS error_type,
        CASE shape WHEN 'batch' THEN j.result.error.error.message ELSE j.error.message END AS error_message,
        -- a repeated key in the objects kept as JSON text (macro_repeated_json), under
        -- result.message or at the top level, whichever shape the line has
        (j.result.message.usage.server_tool_use IS NOT NULL OR j.result.message.usage.iterations IS NOT NULL
         OR j.result.message.diagnostics IS NOT NULL OR j.usage.server_tool_use IS NOT NULL
         OR j.usage.iterations IS NOT NULL OR j.diagnostics IS NOT NULL)
        AND (cc_repeated_json(j.result.message.usage, j.result.message.diagnostics)
             OR cc_repeated_json(j.usage, j.diagnostics)) IS TRUE AS repeated
    FROM shaped
),
texts AS (
    -- token counts as JSON text, e.g. '12', '"12"', '12.0', '-3' (cast: plain text comparisons)
    SELECT *,
        CAST(u.input_tokens AS VARCHAR) AS t_in,
        CAST(u.cache_creation_input_tokens AS VARCHAR) AS t_creation,
        CAST(u.cache_read_input_tokens AS VARCHAR) AS t_read,
        CAST(u.output_tokens AS VARCHAR) AS t_out,
        CAST(u.cache_creation.ephemeral_5m_input_tokens AS VARCHAR) AS t_5m,
        CAST(u.cache_creation.ephemeral_1h_input_tokens AS VARCHAR) AS t_1h,
        CAST(u.output_tokens_details.thinking_tokens AS VARCHAR) AS t_thinking,
        CAST(u.server_tool_use -> 'web_search_requests' AS VARCHAR) AS t_web_search,
        CAST(u.server_tool_use -> 'web_fetch_requests' AS VARCHAR) AS t_web_fetch,
        -- usage.iterations (SDK BetaIterationsUsage): NULL when absent, else the list (NULL again
        -- when it is not a list of iteration objects: iterations_problem)
        CASE WHEN u.iterations IS NOT NULL THEN try_cast(u.iterations AS {{store/result_line.sql:iteration}}[]) END
            AS its
    FROM fields
),
valued AS (
    SELECT *,
        try_cast(t_in AS UBIGINT) AS n_in,
        try_cast(t_creation AS UBIGINT) AS n_creation,
        try_cast(t_read AS UBIGINT) AS n_read,
        try_cast(t_out AS UBIGINT) AS n_out,
        try_cast(t_5m AS UBIGINT) AS n_5m,
        try_cast(t_1h AS UBIGINT) AS n_1h,
        try_cast(t_thinking AS UBIGINT) AS n_thinking,
        try_cast(t_web_search AS UBIGINT) AS n_web_search,
        try_cast(t_web_fetch AS UBIGINT) AS n_web_fetch,
        u.cache_creation IS NOT NULL AS has_breakdown,
        CASE WHEN u.iterations IS NULL OR json_type(u.iterations) = 'NULL' THEN NULL
             WHEN its IS NULL THEN 'usage.iterations is not a list of iteration objects'
             WHEN NOT list_bool_and(list_transform(its, lambda x: x.type IS NOT NULL AND x.input_tokens IS NOT NULL
                      AND x.output_tokens IS NOT NULL AND cc_count_ok(x.input_tokens) AND cc_count_ok(x.output_tokens)
                      AND cc_count_ok(x.cache_creation_input_tokens) AND cc_count_ok(x.cache_read_input_tokens)
                      AND cc_count_ok(x.cache_creation.ephemeral_5m_input_tokens)
                      AND cc_count_ok(x.cache_creation.ephemeral_1h_input_tokens)))
                  THEN 'usage.iterations has an entry without its type, input_tokens or output_tokens, or with a '
                       || 'token count that is not a plain count'
        END AS iterations_problem
    FROM texts
),
judged AS (
    SELECT *,
        -- the common case in a few cheap comparisons; the full list of reasons only for the rest
        CASE WHEN shape IS NOT NULL AND NOT repeated
                  AND result_type IN ('succeeded', 'errored', 'canceled', 'expired')
                  AND (shape <> 'batch' OR custom_id IS NOT NULL)
                  AND (result_type <> 'succeeded' OR (
                        message_id IS NOT NULL AND model IS NOT NULL AND u IS NOT NULL
                        AND n_in IS NOT NULL AND n_out IS NOT NULL
                        AND cc_token_ok(t_in, n_in) AND cc_token_ok(t_out, n_out)
                        AND cc_token_ok(t_creation, n_creation)
                        AND cc_token_ok(t_read, n_read)
                        AND cc_token_ok(t_5m, n_5m)
                        AND cc_token_ok(t_1h, n_1h)
                        AND cc_token_ok(t_thinking, n_thinking)
                        AND cc_token_ok(t_web_search, n_web_search)
                        AND cc_token_ok(t_web_fetch, n_web_fetch)
                        AND coalesce(n_5m, 0) + coalesce(n_1h, 0) <= coalesce(n_creation, coalesce(n_5m, 0) + coalesce(n_1h, 0))
                        AND iterations_problem IS NULL))
             THEN NULL
             ELSE coalesce(
                CASE WHEN unparsed AND trim(line) = '' THEN 'blank' END,
                CASE WHEN unparsed AND json_valid(line) THEN 'not a result line: JSON but not an object' END,
                CASE WHEN unparsed THEN 'not JSON' END,
                CASE WHEN shape IS NULL THEN 'not a result line: expected {"custom_id", "result"} or a Message object' END,
                -- (the staged path names the key: store/ingest/checks.py _ambiguity)
                CASE WHEN repeated THEN 'duplicate JSON key in usage.server_tool_use, usage.iterations or '
                                        || 'diagnostics: the line is ambiguous' END,
                CASE WHEN shape = 'batch' AND custom_id IS NULL THEN 'custom_id missing' END,
                CASE WHEN shape = 'batch' AND result_type IS NULL THEN 'result.type missing' END,
                CASE WHEN result_type NOT IN ('succeeded', 'errored', 'canceled', 'expired')
                     THEN 'unknown result type "' || left(result_type, 40) || '"' END,
                CASE WHEN message_id IS NULL THEN 'succeeded line without a message id' END,
                CASE WHEN u IS NULL THEN 'usage missing or null on a succeeded line' END,
                CASE WHEN model IS NULL THEN 'message without a model' END,
                'usage.input_tokens ' || cc_token_problem(t_in),
                'usage.cache_creation_input_tokens ' || cc_token_problem(t_creation),
                'usage.cache_read_input_tokens ' || cc_token_problem(t_read),
                'usage.output_tokens ' || cc_token_problem(t_out),
                'usage.cache_creation.ephemeral_5m_input_tokens ' || cc_token_problem(t_5m),
                'usage.cache_creation.ephemeral_1h_input_tokens ' || cc_token_problem(t_1h),
                'usage.output_tokens_details.thinking_tokens ' || cc_token_problem(t_thinking),
                'usage.server_tool_use.web_search_requests ' || cc_token_problem(t_web_search),
                'usage.server_tool_use.web_fetch_requests ' || cc_token_problem(t_web_fetch),
                CASE WHEN n_in IS NULL THEN 'usage.input_tokens missing' END,
                CASE WHEN n_out IS NULL THEN 'usage.output_tokens missing' END,
                iterations_problem,
                'usage.cache_creation breakdown (' || coalesce(n_5m, 0) || ' + ' || coalesce(n_1h, 0)
                    || ') exceeds cache_creation_input_tokens (' || n_creation || ')',
                'unusable line')
        END AS reject_reason
    FROM valued
),
final AS (
    SELECT *, reject_reason IS NULL AND result_type = 'succeeded' AS ok FROM judged
)
SELECT
    file_idx,
    line_no,
    -- never count a result twice (issues 12 and 14): a succeeded line is its custom_id +
    -- message id whatever file or batch id it comes in under (simulated msg_sim_ ids
    -- included). A message id alone would merge distinct requests that share one (a proxy's
    -- constant id). Every other line is keyed by key_lines ('pending' until then) from its
    -- parsed content, never from the batch id or the file.
    CASE WHEN reject_reason IS NOT NULL THEN 'rejected'
         WHEN result_type = 'succeeded' AND message_id <> '' THEN 'msg:' || coalesce(custom_id || ':', '') || message_id
         ELSE 'pending' END AS dedupe_key,
    custom_id,
    coalesce(shape = 'batch', false) AS is_batch,
    coalesce(result_type, 'rejected') AS result_type,
    message_id,
    coalesce(starts_with(message_id, 'msg_sim_'), false) AS simulated,
    model,
    stop_reason,
    u.service_tier AS service_tier,
    -- token columns only for usable succeeded lines (a rejected line may hold 2**63, which
    -- does not fit BIGINT); `ok` below is that condition
    CASE WHEN ok THEN n_in END AS input_tokens,
    -- a breakdown with no total (allowed by the SDK types, never seen) gives the total
    CASE WHEN ok THEN coalesce(n_creation, CASE WHEN has_breakdown THEN coalesce(n_5m, 0) + coalesce(n_1h, 0) END, 0) END
        AS cache_creation_input_tokens,
    CASE WHEN ok AND has_breakdown THEN coalesce(n_5m, 0) END AS cache_write_5m_tokens,
    CASE WHEN ok AND has_breakdown THEN coalesce(n_1h, 0) END AS cache_write_1h_tokens,
    CASE WHEN ok THEN coalesce(n_read, 0) END AS cache_read_input_tokens,
    CASE WHEN ok THEN n_out END AS output_tokens,
    CASE WHEN ok THEN n_thinking END AS thinking_tokens,
    -- what else changes the bill (cachecast.facts.pricing prices each kind of line)
    CASE WHEN ok THEN u.inference_geo END AS inference_geo,
    CASE WHEN ok THEN u.speed END AS speed,
    CASE WHEN ok THEN n_web_search END AS web_search_requests,
    CASE WHEN ok THEN n_web_fetch END AS web_fetch_requests,
    -- per-turn usage (server-side tools such as the advisor), each turn's counts; a breakdown
    -- with no total gives the total, as for the top level
    CASE WHEN ok AND len(its) > 0 THEN CAST(list_transform(its, lambda x: {
        'type': x.type, 'model': x.model, 'input_tokens': cc_count(x.input_tokens),
        'cache_creation_input_tokens': coalesce(cc_count(x.cache_creation_input_tokens),
            CASE WHEN x.cache_creation IS NOT NULL THEN coalesce(cc_count(x.cache_creation.ephemeral_5m_input_tokens), 0)
                 + coalesce(cc_count(x.cache_creation.ephemeral_1h_input_tokens), 0) END, 0),
        'cache_write_5m_tokens': CASE WHEN x.cache_creation IS NOT NULL
            THEN coalesce(cc_count(x.cache_creation.ephemeral_5m_input_tokens), 0) END,
        'cache_write_1h_tokens': CASE WHEN x.cache_creation IS NOT NULL
            THEN coalesce(cc_count(x.cache_creation.ephemeral_1h_input_tokens), 0) END,
        'cache_read_input_tokens': coalesce(cc_count(x.cache_read_input_tokens), 0),
        'output_tokens': cc_count(x.output_tokens)}) AS {{store/result_line.sql:stored_iterations}}) END AS iterations,
    -- server_tool_use counters the SDK types do not name, kept whole (the audit lists them as unpriced)
    CASE WHEN ok AND json_type(u.server_tool_use) = 'OBJECT'
              AND len(list_filter(json_keys(u.server_tool_use),
                                  lambda k: k NOT IN ('web_search_requests', 'web_fetch_requests'))) > 0
         THEN u.server_tool_use END AS server_tool_other,
    CASE WHEN ok THEN CASE json_type(miss) WHEN 'VARCHAR' THEN miss ->> '$' WHEN 'OBJECT' THEN miss ->> 'type' END
         END AS cache_miss_reason,
    CASE WHEN ok THEN try_cast(miss ->> 'cache_missed_input_tokens' AS BIGINT) END AS cache_missed_input_tokens,
    error_type,
    error_message,
    strlen(line) AS raw_bytes,
    line,
    -- the raw text is kept where someone will want to read it (see macro_unusual), or always
    -- with --keep-raw; otherwise source_file + line_no (+ the file's fingerprint in ingests)
    -- point at it
    reject_reason IS NOT NULL OR cc_unusual(result_type, stop_reason) AS keep_line,
    reject_reason
FROM final;

-- name: insert_lines
INSERT INTO results BY NAME
SELECT $batch_id AS batch_id, $ingest_id AS ingest_id, $source_file AS source_file,
       * EXCLUDE (file_idx, line, keep_line),
       CASE WHEN $keep_raw OR keep_line THEN line END AS raw
FROM cc_shaped;

-- name: macro_line_key
-- The identity of every line that has no (custom_id, message id) (issue 14, class 5): result
-- type + custom_id + an md5 of the canonical JSON of what was parsed from it (to_json of the
-- stored columns: fixed key order, no whitespace), so the same line is the same key in any
-- file, with LF or CRLF, one more line or not, under any batch id, on the fast, staged or
-- chunked path. `r` is a row of `results` (or of ingest_many.sql's cc_many, same columns).
-- schema_v5.sql rewrites stored keys with this very expression: keep the two equal.
CREATE OR REPLACE TEMP MACRO cc_line_key(r) AS
    'r:' || r.result_type || ':' || coalesce(r.custom_id, '') || ':' || md5(CAST(to_json({
        'is_batch': r.is_batch, 'result_type': r.result_type, 'custom_id': r.custom_id, 'message_id': r.message_id,
        'model': r.model, 'stop_reason': r.stop_reason, 'service_tier': r.service_tier, 'input_tokens': r.input_tokens,
        'cache_creation_input_tokens': r.cache_creation_input_tokens, 'cache_write_5m_tokens': r.cache_write_5m_tokens,
        'cache_write_1h_tokens': r.cache_write_1h_tokens, 'cache_read_input_tokens': r.cache_read_input_tokens,
        'output_tokens': r.output_tokens, 'thinking_tokens': r.thinking_tokens, 'inference_geo': r.inference_geo,
        'speed': r.speed, 'web_search_requests': r.web_search_requests, 'web_fetch_requests': r.web_fetch_requests,
        'error_type': r.error_type, 'error_message': r.error_message}) AS VARCHAR));

-- name: macro_content_hash
-- What two lines of one custom_id must share not to be a conflict (issue 14, class 6): the
-- parsed content, message id included (find_conflicts, and ingest_many.sql's gate).
CREATE OR REPLACE TEMP MACRO cc_content_hash(r) AS
    md5(CAST(to_json({'result_type': r.result_type, 'message_id': r.message_id, 'model': r.model,
        'stop_reason': r.stop_reason, 'service_tier': r.service_tier, 'input_tokens': r.input_tokens,
        'cache_creation_input_tokens': r.cache_creation_input_tokens,
        'cache_write_5m_tokens': r.cache_write_5m_tokens, 'cache_write_1h_tokens': r.cache_write_1h_tokens,
        'cache_read_input_tokens': r.cache_read_input_tokens, 'output_tokens': r.output_tokens,
        'thinking_tokens': r.thinking_tokens, 'inference_geo': r.inference_geo, 'speed': r.speed,
        'web_search_requests': r.web_search_requests, 'web_fetch_requests': r.web_fetch_requests,
        'error_type': r.error_type, 'error_message': r.error_message}) AS VARCHAR));

-- name: key_lines
UPDATE results SET dedupe_key = cc_line_key(results)
WHERE ingest_id = $ingest_id AND dedupe_key = 'pending';

-- name: fast_rejected
-- The fast path takes only files whose every line is usable (quarantine needs the text).
SELECT count(*) FROM results WHERE ingest_id = $ingest_id AND reject_reason IS NOT NULL;

-- name: wanted_raw
-- Lines whose text the fast path must still copy in (macro_unusual), in file order.
SELECT line_no FROM results
WHERE ingest_id = $ingest_id AND raw IS NULL AND cc_unusual(result_type, stop_reason)
ORDER BY line_no;

-- name: create_raw_table
CREATE OR REPLACE TEMP TABLE cc_raw (line_no BIGINT, raw TEXT);

-- name: fill_raw
INSERT INTO cc_raw SELECT unnest($line_nos), unnest($texts);

-- name: apply_raw
UPDATE results SET raw = r.raw, raw_bytes = strlen(r.raw)
FROM cc_raw r
WHERE results.ingest_id = $ingest_id AND results.line_no = r.line_no;

-- name: line_stats
SELECT count(*) AS rows,
       count(*) FILTER (WHERE reject_reason = 'blank') AS blank
FROM results WHERE ingest_id = $ingest_id;

-- name: create_sanitized_table
CREATE OR REPLACE TEMP TABLE sanitized_lines (line_no BIGINT, reason TEXT, raw TEXT);

-- name: apply_sanitized
-- Lines the sanitizer had to replace (invalid UTF-8, NUL bytes, a cut-off gzip tail): their
-- reason and their text (undecodable bytes shown as U+FFFD) replace the placeholder's.
UPDATE results SET reject_reason = s.reason, raw = s.raw, raw_bytes = strlen(s.raw)
FROM sanitized_lines s
WHERE results.ingest_id = $ingest_id AND results.line_no = s.line_no;

-- name: redact_secret
-- The API key, when a server or proxy echoed it into result data, never reaches the store:
-- every text column of this ingest's rows, before quarantine copies the raw text.
UPDATE results SET
    custom_id = replace(custom_id, $secret, '[redacted]'),
    message_id = replace(message_id, $secret, '[redacted]'),
    dedupe_key = replace(dedupe_key, $secret, '[redacted]'),
    model = replace(model, $secret, '[redacted]'),
    stop_reason = replace(stop_reason, $secret, '[redacted]'),
    service_tier = replace(service_tier, $secret, '[redacted]'),
    error_type = replace(error_type, $secret, '[redacted]'),
    error_message = replace(error_message, $secret, '[redacted]'),
    raw = replace(raw, $secret, '[redacted]'),
    reject_reason = replace(reject_reason, $secret, '[redacted]'),
    inference_geo = replace(inference_geo, $secret, '[redacted]'),
    speed = replace(speed, $secret, '[redacted]'),
    cache_miss_reason = replace(cache_miss_reason, $secret, '[redacted]'),
    iterations = list_transform(iterations, lambda x: struct_update(x, model := replace(x.model, $secret, '[redacted]'))),
    server_tool_other = CAST(replace(CAST(server_tool_other AS VARCHAR), $secret, '[redacted]') AS JSON),
    raw_bytes = CASE WHEN raw IS NULL THEN raw_bytes ELSE strlen(replace(raw, $secret, '[redacted]')) END
WHERE ingest_id = $ingest_id AND strpos(coalesce(custom_id, '') || coalesce(message_id, '') || coalesce(dedupe_key, '') || coalesce(model, '') || coalesce(stop_reason, '') || coalesce(service_tier, '') || coalesce(error_type, '') || coalesce(error_message, '') || coalesce(raw, '') || coalesce(reject_reason, '') || coalesce(inference_geo, '') || coalesce(speed, '') || coalesce(cache_miss_reason, '') || coalesce(CAST(iterations AS VARCHAR), '') || coalesce(CAST(server_tool_other AS VARCHAR), ''), $secret) > 0;

-- name: quarantine_rejected
-- Quarantine key: text + occurrence (issue 14: not the batch id, which may be inferred from
-- the file), so the same broken line ingested again under any name or batch adds nothing,
-- while two identical broken lines in one file are both kept.
INSERT INTO quarantine BY NAME
SELECT batch_id, ingest_id, source_file, line_no, reason, raw, dedupe_key
FROM (
    SELECT batch_id, ingest_id, source_file, line_no, reject_reason AS reason, raw,
           'q:' || md5(raw) || ':' || row_number() OVER (PARTITION BY md5(raw) ORDER BY line_no) AS dedupe_key
    FROM results
    WHERE ingest_id = $ingest_id AND reject_reason IS NOT NULL AND reject_reason <> 'blank'
) q
WHERE q.dedupe_key NOT IN (SELECT dedupe_key FROM quarantine);

-- name: count_rejected
SELECT count(*) FROM results
WHERE ingest_id = $ingest_id AND reject_reason IS NOT NULL AND reject_reason <> 'blank';

-- name: delete_rejected
DELETE FROM results WHERE ingest_id = $ingest_id AND reject_reason IS NOT NULL;

-- name: delete_duplicates
-- A line is a duplicate when its dedupe_key is already stored (earlier ingest) or appears
-- on an earlier line of this file. The first occurrence stays.
DELETE FROM results
WHERE ingest_id = $ingest_id
  AND line_no IN (
    SELECT line_no FROM (
        SELECT line_no, dedupe_key,
               -- (a succeeded line first: an unbilled line of a conflict carries its key, drop_conflicting)
               row_number() OVER (PARTITION BY dedupe_key ORDER BY result_type <> 'succeeded', line_no) AS occurrence
        FROM results WHERE ingest_id = $ingest_id
    ) mine
    WHERE occurrence > 1
       OR dedupe_key IN (SELECT dedupe_key FROM results WHERE ingest_id <> $ingest_id)
  );

-- name: previous_batch_for_fingerprint
SELECT batch_id FROM ingests WHERE fingerprint = $fingerprint ORDER BY ingest_id LIMIT 1;

-- name: next_ingest_id
SELECT nextval('ingest_id_seq');

-- name: upsert_batches
-- The batch rows of one file (a list of one) or of a chunk's files (ingest_many.sql).
-- created_at (the day the batch is priced at) comes from the API ('api'), --priced-at
-- ('priced-at') or the first ingest ('ingest'); a later ingest replaces it only with a
-- date from an equal or better source, never with its own ingest time.
INSERT INTO batches (batch_id, manifest_id, first_ingest_at, last_ingest_at, created_at, created_at_source)
SELECT unnest($batch_ids), $manifest_id, $now, $now, coalesce($created_at, $now), $created_at_source
ON CONFLICT (batch_id) DO UPDATE
    SET last_ingest_at = excluded.last_ingest_at,
        manifest_id = coalesce(excluded.manifest_id, batches.manifest_id),
        created_at = CASE WHEN excluded.created_at_source <> 'ingest'
                           AND cc_source_rank(excluded.created_at_source) >= cc_source_rank(batches.created_at_source)
                          THEN excluded.created_at ELSE batches.created_at END,
        created_at_source = CASE WHEN excluded.created_at_source <> 'ingest'
                           AND cc_source_rank(excluded.created_at_source) >= cc_source_rank(batches.created_at_source)
                          THEN excluded.created_at_source ELSE batches.created_at_source END;

-- name: macro_source_rank
CREATE OR REPLACE TEMP MACRO cc_source_rank(s) AS CASE s WHEN 'api' THEN 3 WHEN 'priced-at' THEN 2 ELSE 1 END;

-- name: batch_created
SELECT created_at, created_at_source FROM batches WHERE batch_id = $batch_id;

-- name: record_ingest
INSERT INTO ingests (ingest_id, batch_id, source_file, fingerprint, bytes, lines_read, ingested, duplicates,
                     quarantined, blank_lines, conflicts, path_taken, started_at, seconds)
VALUES ($ingest_id, $batch_id, $source_file, $fingerprint, $bytes, $lines_read, $ingested, $duplicates,
        $quarantined, $blank_lines, $conflicts, $path_taken, $started_at, $seconds);

-- name: price_keys
-- The kinds of line (view line_price_keys: model, batch day, tier, speed, geo; a line's
-- iterations bring their own models) of some batches ($batch_ids: one file's, or a chunk's
-- in ingest_many.sql) or of the whole store ($batch_ids NULL), and whether price_snapshot
-- can cost them yet (a row without a web search or web fetch price cannot cost a line that
-- used the tool).
SELECT k.model, k.priced_on, k.price_batch, k.price_speed, k.price_geo,
    bool_and(p.model IS NOT NULL AND (NOT k.uses_web_search OR p.web_search_per_1k IS NOT NULL)
             AND (NOT k.uses_web_fetch OR p.web_fetch_per_1k IS NOT NULL)) AS priced
FROM line_price_keys k
LEFT JOIN price_snapshot p
  ON p.model = k.model AND p.priced_on = k.priced_on AND p.batch = k.price_batch
 AND p.speed = k.price_speed AND p.geo = k.price_geo
WHERE ($batch_ids IS NULL OR list_contains(CAST($batch_ids AS VARCHAR[]), k.batch_id))
GROUP BY ALL
ORDER BY ALL;

-- name: ingest_price_keys
-- The kinds of line of one ingest ($ingest_id), for the price check before its lines are kept.
SELECT DISTINCT model, priced_on, price_batch, price_speed, price_geo
FROM line_price_keys WHERE ingest_id = $ingest_id
ORDER BY ALL;

-- name: reject_unpriced
-- Lines of this ingest that need a price cachecast cannot know ($model ... $geo, one kind of
-- line): rejected with the reason, so quarantine_priced moves them to quarantine.
UPDATE results SET reject_reason = $reason
FROM line_price_keys k
WHERE results.ingest_id = $ingest_id AND k.ingest_id = $ingest_id AND k.line_no = results.line_no
  AND k.model = $model AND k.priced_on = $priced_on AND k.price_batch = $batch AND k.price_speed = $speed
  AND k.price_geo = $geo;

-- name: rejected_without_raw
SELECT line_no FROM results WHERE ingest_id = $ingest_id AND reject_reason IS NOT NULL AND raw IS NULL ORDER BY line_no;

-- name: quarantine_priced
-- A line without a price is quarantined with its reason, keyed 'p:' + the line's own identity
-- (not its text, which the fast path does not keep): the same line ingested again without a
-- price adds nothing, and once a price is known (--prices FILE) it is ingested and leaves
-- quarantine (release_priced).
INSERT INTO quarantine BY NAME
SELECT r.batch_id, r.ingest_id, r.source_file, r.line_no, r.reject_reason AS reason,
       coalesce(r.raw, '(the line is in ' || r.source_file || ' at line ' || r.line_no || ')') AS raw,
       'p:' || r.dedupe_key AS dedupe_key
FROM results r
WHERE r.ingest_id = $ingest_id AND r.reject_reason IS NOT NULL
  AND 'p:' || r.dedupe_key NOT IN (SELECT dedupe_key FROM quarantine);

-- name: release_priced
-- Lines of this ingest that are priced now, but were quarantined for their price before.
DELETE FROM quarantine
WHERE dedupe_key IN (SELECT 'p:' || dedupe_key FROM results WHERE ingest_id = $ingest_id AND reject_reason IS NULL)
  AND starts_with(dedupe_key, 'p:');

-- name: insert_price
-- A new row, or the re-priced one (replace: audit --prices FILE for the models the file
-- covers; or filling the web search price of a row captured before schema v2).
INSERT INTO price_snapshot (model, priced_on, batch, speed, geo, input, write_5m, write_1h, read, output,
                            long_context_threshold, lc_input, lc_write_5m, lc_write_1h, lc_read, lc_output,
                            web_search_per_1k, web_fetch_per_1k, source, captured_at)
VALUES ($model, $priced_on, $batch, $speed, $geo, $input, $write_5m, $write_1h, $read, $output,
        $long_context_threshold, $lc_input, $lc_write_5m, $lc_write_1h, $lc_read, $lc_output,
        $web_search_per_1k, $web_fetch_per_1k, $source, $captured_at)
ON CONFLICT (model, priced_on, batch, speed, geo) DO UPDATE
    SET input = CASE WHEN $replace THEN excluded.input ELSE price_snapshot.input END,
        write_5m = CASE WHEN $replace THEN excluded.write_5m ELSE price_snapshot.write_5m END,
        write_1h = CASE WHEN $replace THEN excluded.write_1h ELSE price_snapshot.write_1h END,
        read = CASE WHEN $replace THEN excluded.read ELSE price_snapshot.read END,
        output = CASE WHEN $replace THEN excluded.output ELSE price_snapshot.output END,
        long_context_threshold = CASE WHEN $replace THEN excluded.long_context_threshold
                                      ELSE price_snapshot.long_context_threshold END,
        lc_input = CASE WHEN $replace THEN excluded.lc_input ELSE price_snapshot.lc_input END,
        lc_write_5m = CASE WHEN $replace THEN excluded.lc_write_5m ELSE price_snapshot.lc_write_5m END,
        lc_write_1h = CASE WHEN $replace THEN excluded.lc_write_1h ELSE price_snapshot.lc_write_1h END,
        lc_read = CASE WHEN $replace THEN excluded.lc_read ELSE price_snapshot.lc_read END,
        lc_output = CASE WHEN $replace THEN excluded.lc_output ELSE price_snapshot.lc_output END,
        web_search_per_1k = CASE WHEN $replace OR price_snapshot.web_search_per_1k IS NULL
                                 THEN excluded.web_search_per_1k ELSE price_snapshot.web_search_per_1k END,
        web_fetch_per_1k = CASE WHEN $replace OR price_snapshot.web_fetch_per_1k IS NULL
                                THEN excluded.web_fetch_per_1k ELSE price_snapshot.web_fetch_per_1k END,
        source = CASE WHEN $replace THEN excluded.source
                      WHEN price_snapshot.web_search_per_1k IS NULL AND excluded.web_search_per_1k IS NOT NULL
                      THEN price_snapshot.source || '; web search: ' || excluded.source
                      ELSE price_snapshot.source END,
        captured_at = CASE WHEN $replace THEN excluded.captured_at ELSE price_snapshot.captured_at END;

-- name: manifest_known
SELECT count(*) FROM manifests WHERE manifest_id = $manifest_id;

-- name: load_manifest
INSERT INTO manifest BY NAME
SELECT $manifest_id AS manifest_id, custom_id, item_id, treatment, temperature, "repeat", model, ttl,
       prefix_hash, cacheable, skip_reason, est_prefix_tokens, est_rest_tokens, breakpoints, shard
FROM read_json($path, format = 'newline_delimited',
               columns = {'custom_id': 'VARCHAR', 'item_id': 'VARCHAR', 'treatment': 'VARCHAR',
                          'temperature': 'DOUBLE', 'repeat': 'INTEGER', 'model': 'VARCHAR', 'ttl': 'VARCHAR',
                          'prefix_hash': 'VARCHAR', 'cacheable': 'BOOLEAN', 'skip_reason': 'VARCHAR',
                          'est_prefix_tokens': 'BIGINT', 'est_rest_tokens': 'BIGINT',
                          'breakpoints': 'INTEGER', 'shard': 'VARCHAR'});

-- name: manifest_duplicate
-- The manifest table has no primary key (its index cost more than the whole load); a
-- custom_id twice in one manifest is refused here instead, inside the load's transaction.
SELECT custom_id FROM manifest WHERE manifest_id = $manifest_id GROUP BY custom_id HAVING count(*) > 1 LIMIT 1;

-- name: record_manifest
INSERT INTO manifests (manifest_id, source, rows, loaded_at)
SELECT $manifest_id, $source, count(*), $now FROM manifest WHERE manifest_id = $manifest_id;

-- name: duplicates_elsewhere
-- Lines of this ingest already stored under ANOTHER batch id (the same results ingested
-- again under a new name or --batch-id): batch -> lines. Ingest says so and does not count them.
SELECT o.batch_id, count(DISTINCT mine.line_no) AS lines
FROM results mine
JOIN results o ON o.dedupe_key = mine.dedupe_key AND o.ingest_id <> mine.ingest_id
WHERE mine.ingest_id = $ingest_id AND mine.reject_reason IS NULL AND o.batch_id <> $batch_id
GROUP BY o.batch_id
ORDER BY lines DESC, o.batch_id;

-- name: batch_known
SELECT count(*) FROM batches WHERE batch_id = $batch_id;

-- name: rename_batch_row
-- A batch first stored under an inferred id (file-<fingerprint>) takes its real msgbatch_
-- id: the row is copied under the new id (every column, whatever later versions add) and
-- the old one removed, in the ingest's transaction.
INSERT INTO batches BY NAME SELECT * REPLACE ($new_id AS batch_id) FROM batches WHERE batch_id = $old_id;

-- name: rename_batch_drop
DELETE FROM batches WHERE batch_id = $old_id;

-- name: rename_batch_results
-- (keys carry no batch id since schema v5: only the column moves)
UPDATE results SET batch_id = $new_id WHERE batch_id = $old_id;

-- name: rename_batch_quarantine
UPDATE quarantine SET batch_id = $new_id WHERE batch_id = $old_id;

-- name: rename_batch_ingests
UPDATE ingests SET batch_id = $new_id WHERE batch_id = $old_id;

-- name: link_batch_runs
-- A batch belongs to the run of the build it was sent from (manifests.run_id).
UPDATE batches SET run_id = m.run_id
FROM manifests m
WHERE list_contains($batch_ids, batches.batch_id) AND m.manifest_id = batches.manifest_id AND m.run_id IS NOT NULL;

-- name: any_repeated_custom_id
-- The cheap gate before find_conflicts: is any custom_id of this ingest on two lines of the
-- batch (this file or an earlier one)? Usually not, and then nothing is hashed.
SELECT EXISTS (
    SELECT custom_id FROM results
    WHERE (ingest_id = $ingest_id OR batch_id = $batch_id) AND reject_reason IS NULL
      AND custom_id IN (SELECT custom_id FROM results WHERE ingest_id = $ingest_id AND reject_reason IS NULL)
    GROUP BY custom_id HAVING count(*) > 1
);

-- name: find_conflicts
-- Lines of this ingest whose custom_id is on another line of the same batch (this file or an
-- earlier one) with different content (issue 14, class 6). Only repeated custom_ids are
-- hashed (the same canonical JSON as key_lines), so a file without repeats pays one GROUP BY.
CREATE OR REPLACE TEMP TABLE cc_conflicts AS
WITH mine AS (
    SELECT custom_id FROM results WHERE ingest_id = $ingest_id AND reject_reason IS NULL AND custom_id IS NOT NULL
),
repeated AS (
    SELECT custom_id FROM (
        SELECT custom_id FROM mine
        UNION ALL
        SELECT custom_id FROM results
        WHERE batch_id = $batch_id AND ingest_id <> $ingest_id AND custom_id IN (SELECT custom_id FROM mine)
    ) all_ids
    GROUP BY custom_id HAVING count(*) > 1
),
candidates AS (
    SELECT ingest_id, line_no, source_file, custom_id, result_type, dedupe_key,
           cc_content_hash(results) AS content
    FROM results
    WHERE custom_id IN (SELECT custom_id FROM repeated) AND reject_reason IS NULL
      AND (ingest_id = $ingest_id OR batch_id = $batch_id)
)
SELECT *,
       -- the line that stays for an unbilled result: the batch's first line of the custom_id;
       -- a succeeded line is billed and never dropped
       first_value(dedupe_key) OVER (PARTITION BY custom_id ORDER BY result_type = 'succeeded' DESC,
                                     ingest_id, line_no) AS kept_key
FROM candidates
WHERE custom_id IN (SELECT custom_id FROM candidates GROUP BY custom_id HAVING count(DISTINCT content) > 1);

-- name: conflict_lines
-- custom_id -> line numbers of this file, and the lines in earlier files, in order.
SELECT custom_id,
       list(line_no ORDER BY line_no) FILTER (WHERE ingest_id = $ingest_id) AS here,
       list(source_file || ':' || line_no ORDER BY ingest_id, line_no) FILTER (WHERE ingest_id <> $ingest_id) AS before
FROM cc_conflicts GROUP BY custom_id ORDER BY min(CASE WHEN ingest_id = $ingest_id THEN line_no END);

-- name: drop_conflicting
-- An unbilled line (errored/canceled/expired) in conflict takes the key of the line that
-- stays, so delete_duplicates counts it as a duplicate: one result per custom_id.
UPDATE results SET dedupe_key = c.kept_key
FROM cc_conflicts c
WHERE results.ingest_id = $ingest_id AND c.ingest_id = $ingest_id AND results.line_no = c.line_no
  AND results.result_type <> 'succeeded';
