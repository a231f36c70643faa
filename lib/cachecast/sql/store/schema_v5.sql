-- cachecast store, schema version 5: one identity per result line (issue 14, class 5).
-- Applied once by cachecast.store.migrate(), in one transaction with its schema_version
-- row, after v1-v4. Never edit it once released; later changes go in a new file.
--
-- Before v5 an errored, canceled or expired line (and a succeeded line with an empty
-- message id, and any line without custom_id) was keyed by its batch id plus custom_id or
-- line text, and a quarantined line by batch + text. The batch id can come from the file's
-- fingerprint, so the same lines were stored again when their file had one more line, CRLF
-- endings or another --batch-id (an audit reported 14 requests for 9). From v5:
--
-- * results: a succeeded line with a message id keeps 'msg:<custom_id>:<message id>' (v3);
--   every other line is 'r:<result type>:<custom_id>:<md5 of to_json of its parsed
--   columns>' (the expression of ingest.sql key_lines, copied here: keep them equal);
-- * the copies this makes visible (two rows with one key: the same line stored under two
--   batch ids) are the double counts; the earliest row (first ingest, first line) stays,
--   the later copies are removed, as a re-ingest today would count them as duplicates;
-- * quarantine: 'q:<md5 of the text>:<occurrence>', numbered over the whole table (first
--   ingest first). No quarantined line is removed;
-- * ingests.conflicts: custom_ids of the file found on another line of its batch with
--   different content (issue 14, class 6; said by ingest with the line numbers).

ALTER TABLE ingests ADD COLUMN conflicts INTEGER NOT NULL DEFAULT 0;

UPDATE results SET dedupe_key = 'r:' || result_type || ':' || coalesce(custom_id, '') || ':' || md5(CAST(to_json({
        'is_batch': is_batch, 'result_type': result_type, 'custom_id': custom_id, 'message_id': message_id,
        'model': model, 'stop_reason': stop_reason, 'service_tier': service_tier, 'input_tokens': input_tokens,
        'cache_creation_input_tokens': cache_creation_input_tokens, 'cache_write_5m_tokens': cache_write_5m_tokens,
        'cache_write_1h_tokens': cache_write_1h_tokens, 'cache_read_input_tokens': cache_read_input_tokens,
        'output_tokens': output_tokens, 'thinking_tokens': thinking_tokens, 'inference_geo': inference_geo,
        'speed': speed, 'web_search_requests': web_search_requests, 'web_fetch_requests': web_fetch_requests,
        'error_type': error_type, 'error_message': error_message}) AS VARCHAR))
WHERE NOT (result_type = 'succeeded' AND coalesce(message_id, '') <> '');

DELETE FROM results USING (
    SELECT ingest_id, line_no,
           row_number() OVER (PARTITION BY dedupe_key ORDER BY ingest_id, line_no) AS occurrence
    FROM results
) copies
WHERE results.ingest_id = copies.ingest_id AND results.line_no = copies.line_no AND copies.occurrence > 1;

UPDATE quarantine SET dedupe_key = renumbered.dedupe_key
FROM (
    SELECT ingest_id, line_no,
           'q:' || md5(raw) || ':' || row_number() OVER (PARTITION BY md5(raw) ORDER BY ingest_id, line_no) AS dedupe_key
    FROM quarantine
) renumbered
WHERE quarantine.ingest_id = renumbered.ingest_id AND quarantine.line_no = renumbered.line_no;
