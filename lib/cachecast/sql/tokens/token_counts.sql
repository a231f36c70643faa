-- Exact token counts from messages.count_tokens, remembered by content hash so a re-run of
-- `cachecast count --exact` (or a projection) makes no API calls. content_hash is the
-- sha256 of the exact JSON counted, model included (tokenizers differ per model).
CREATE TABLE IF NOT EXISTS token_counts (
    content_hash TEXT PRIMARY KEY,
    model        TEXT NOT NULL,
    tokens       INTEGER NOT NULL,
    counted_at   TIMESTAMP NOT NULL
);
