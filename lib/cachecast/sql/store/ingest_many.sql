-- Ingest of a chunk of small files in one set-based pass (issue 14, class 11; see
-- ingest.py, "many small files"). Named statements, each introduced by a "-- name:" line.
--
-- ingest.py writes the chunk's small clean files one after the other into one temporary file,
-- which ingest.sql stage_lines reads in one pass (read_json over 2,000 files cost 1.5 ms a
-- file, opening each); the rows are shaped by the very view one file uses (ingest.sql
-- view_shaped) into cc_many, keyed
-- (macro_line_key), checked against the store and against each other (duplicates, conflicts,
-- lines stored under other batches) for the whole chunk at once. One transaction then makes
-- the chunk's batch rows and their prices (ingest.sql upsert_batches, price_keys); what is
-- left per file is one small transaction: its rows (commit_rows) and its ingests row.
-- Files the chunk cannot take as they are (a rejected line, a conflict, an echoed key, a batch
-- to rename, ...) are dropped from cc_many and ingested one by one by ingest.py instead.

-- name: create_files
-- The chunk's files, in order; each one's lines are rows first_line .. first_line + lines - 1
-- of the chunk's one staged file (ingest.py writes the files one after the other).
CREATE OR REPLACE TEMP TABLE cc_files AS
SELECT unnest($file_idx) AS file_idx, unnest($first_lines) AS first_line, unnest($lines) AS lines,
       unnest($source_files) AS source_file, unnest($batch_ids) AS batch_id, unnest($ingest_ids) AS ingest_id;

-- name: view_rows
-- The staged lines (ingest.sql stage_lines) with their file and their line number in it,
-- parsed leniently: a line that is not JSON is rejected here, and its file leaves the chunk.
-- Rows are numbered as ingest.sql view_staged_rows numbers them (rowid + 1: cc_lines is
-- written once, in file order), without a window over the whole chunk.
CREATE OR REPLACE TEMP VIEW cc_rows AS
WITH numbered AS (SELECT rowid + 1 AS n, line FROM cc_lines)
SELECT f.file_idx, n - f.first_line + 1 AS line_no, line, cc_parse(line) AS j
FROM numbered
JOIN cc_files f ON n >= f.first_line AND n < f.first_line + f.lines;

-- name: shape_chunk
CREATE OR REPLACE TEMP TABLE cc_many AS
SELECT f.batch_id, f.ingest_id, f.source_file, s.* EXCLUDE (line, keep_line, raw_bytes),
       CASE WHEN keep_line THEN raw_bytes END AS raw_bytes, CASE WHEN keep_line THEN line END AS raw,
       false AS duplicate
FROM cc_shaped s
JOIN cc_files f USING (file_idx);

-- name: file_fitness
-- Rows and rejected lines per file: a file with a line to quarantine takes the one-file path.
SELECT file_idx, count(*) AS rows, count(*) FILTER (WHERE reject_reason IS NOT NULL) AS rejected
FROM cc_many GROUP BY file_idx;

-- name: key_lines
UPDATE cc_many SET dedupe_key = cc_line_key(cc_many) WHERE dedupe_key = 'pending';

-- name: drop_files
DELETE FROM cc_many WHERE list_contains($file_idx, file_idx);

-- name: secret_files
-- Files in which a text column holds the API key (escaped in the JSON, so Python's byte
-- check missed it): the one-file path redacts them (ingest.sql redact_secret).
SELECT DISTINCT file_idx FROM cc_many
WHERE strpos(coalesce(custom_id, '') || coalesce(message_id, '') || coalesce(model, '') || coalesce(stop_reason, '')
             || coalesce(service_tier, '') || coalesce(error_type, '') || coalesce(error_message, '')
             || coalesce(inference_geo, '') || coalesce(speed, '') || coalesce(cache_miss_reason, ''), $secret) > 0;

-- name: repeated_key_files
-- Files with a line that repeats a JSON key (ingest.sql macro_repeated_key): the one-file
-- path quarantines the line.
SELECT DISTINCT f.file_idx
FROM (SELECT rowid + 1 AS n, line FROM cc_lines) l  -- numbered as view_rows numbers them
JOIN cc_files f ON l.n >= f.first_line AND l.n < f.first_line + f.lines
WHERE CASE WHEN json_valid(l.line) THEN cc_repeated_key(l.line) END;

-- name: conflict_files
-- Files with a custom_id that another line of the same batch (in the chunk or stored) has
-- with different content: the one-file path reports the conflict (ingest.sql find_conflicts).
-- Only repeated custom_ids are hashed.
WITH ids AS (
    SELECT DISTINCT batch_id, custom_id FROM cc_many WHERE custom_id IS NOT NULL
),
stored AS (
    SELECT r.* FROM results r SEMI JOIN ids ON ids.batch_id = r.batch_id AND ids.custom_id = r.custom_id
    WHERE r.reject_reason IS NULL
),
repeated AS (
    SELECT batch_id, custom_id FROM (
        SELECT batch_id, custom_id FROM cc_many WHERE custom_id IS NOT NULL
        UNION ALL
        SELECT batch_id, custom_id FROM stored
    ) all_ids
    GROUP BY ALL HAVING count(*) > 1
),
hashed AS (
    SELECT batch_id, custom_id, cc_content_hash(m) AS content
    FROM cc_many m SEMI JOIN repeated USING (batch_id, custom_id)
    UNION ALL
    SELECT batch_id, custom_id, cc_content_hash(s) FROM stored s SEMI JOIN repeated USING (batch_id, custom_id)
),
conflicted AS (
    SELECT batch_id, custom_id FROM hashed GROUP BY ALL HAVING count(DISTINCT content) > 1
)
SELECT DISTINCT file_idx FROM cc_many SEMI JOIN conflicted USING (batch_id, custom_id);

-- name: mark_duplicates
-- A line is a duplicate when its key is stored already, or is on an earlier line of the
-- chunk (an earlier file, or earlier in its own file): the first occurrence stays, as when
-- the files are ingested one after the other (ingest.sql delete_duplicates).
UPDATE cc_many SET duplicate = d.dup
FROM (
    SELECT file_idx, line_no,
           row_number() OVER (PARTITION BY dedupe_key ORDER BY file_idx, result_type <> 'succeeded', line_no) > 1
           OR dedupe_key IN (SELECT dedupe_key FROM results) AS dup
    FROM cc_many
) d
WHERE cc_many.file_idx = d.file_idx AND cc_many.line_no = d.line_no;

-- name: elsewhere
-- Per file: the other batches its lines are already stored under (in the store, or kept from
-- an earlier file of the chunk) -> lines, as ingest.sql duplicates_elsewhere says for one file.
WITH other AS (
    SELECT m.file_idx, m.line_no, r.batch_id AS other
    FROM cc_many m JOIN results r ON r.dedupe_key = m.dedupe_key AND r.batch_id <> m.batch_id
    UNION ALL
    SELECT m.file_idx, m.line_no, e.batch_id
    FROM cc_many m
    JOIN cc_many e ON e.dedupe_key = m.dedupe_key AND e.batch_id <> m.batch_id AND e.file_idx < m.file_idx
                  AND NOT e.duplicate
)
SELECT file_idx, other, count(DISTINCT line_no) AS lines
FROM other GROUP BY ALL ORDER BY file_idx, lines DESC, other;

-- name: file_counts
SELECT file_idx, count(*) AS rows, count(*) FILTER (WHERE duplicate) AS duplicates
FROM cc_many GROUP BY file_idx ORDER BY file_idx;

-- name: file_kinds
-- The kinds of billed line each file brings (what ingest.sql price_keys tells apart, before
-- its rules are applied; an iteration on another model is a kind of its own, at standard
-- speed): a file that brings no new kind to its batch needs no price lookup.
SELECT DISTINCT file_idx, batch_id, model, service_tier, is_batch, speed, inference_geo,
       coalesce(web_search_requests, 0) > 0 AS web_search
FROM cc_many WHERE NOT duplicate AND result_type = 'succeeded'
UNION
SELECT DISTINCT file_idx, batch_id, it_model, service_tier, is_batch, CASE WHEN it_model = model THEN speed END,
       inference_geo, false
FROM (SELECT *, coalesce(unnest(iterations).model, model) AS it_model FROM cc_many
      WHERE NOT duplicate AND result_type = 'succeeded' AND iterations IS NOT NULL);

-- name: commit_rows
INSERT INTO results BY NAME
SELECT * EXCLUDE (file_idx, duplicate) FROM cc_many WHERE file_idx = $file_idx AND NOT duplicate;

-- name: share_chunk
-- For the commit cursors (ingest.py _commit_parallel): a temp table is seen by its own
-- connection only, an attached in-memory database by every cursor of the store.
ATTACH IF NOT EXISTS ':memory:' AS cachecast_chunk;
CREATE OR REPLACE TABLE cachecast_chunk.many AS SELECT * FROM cc_many;

-- name: commit_shared_rows
INSERT INTO results BY NAME
SELECT * EXCLUDE (file_idx, duplicate) FROM cachecast_chunk.many WHERE file_idx = $file_idx AND NOT duplicate;

-- name: unshare_chunk
DETACH DATABASE IF EXISTS cachecast_chunk;

-- name: drop_chunk
DROP VIEW IF EXISTS cc_shaped;
DROP VIEW IF EXISTS cc_rows;
DROP TABLE IF EXISTS cc_many;
DROP TABLE IF EXISTS cc_lines;
DROP TABLE IF EXISTS cc_files;

-- name: next_ingest_ids
SELECT nextval('ingest_id_seq') FROM range($n);

-- name: previous_batches
-- The batch the first ingest of each fingerprint went to (ingest.sql previous_batch_for_fingerprint).
SELECT fingerprint, arg_min(batch_id, ingest_id) FROM ingests
WHERE list_contains($fingerprints, fingerprint) GROUP BY fingerprint;

-- name: known_batches
SELECT batch_id FROM batches WHERE list_contains($batch_ids, batch_id);

-- name: batch_days
-- The day each stored batch of the chunk is priced at (result_price_keys priced_on).
SELECT batch_id, CAST(coalesce(created_at, first_ingest_at) AS DATE) FROM batches
WHERE list_contains($batch_ids, batch_id);

-- name: trial_rows
-- The rows of the files to commit, inserted in a transaction that is rolled back: so that
-- ingest.sql price_keys reads them through the very views the audit prices with.
INSERT INTO results BY NAME
SELECT * EXCLUDE (file_idx, duplicate) FROM cc_many WHERE list_contains($file_idx, file_idx) AND NOT duplicate;

-- name: touch_batches
-- After the chunk's files: their batches' last ingest time (a batch per file or many files
-- of one batch alike, in one statement).
UPDATE batches SET last_ingest_at = $now WHERE list_contains($batch_ids, batch_id);
