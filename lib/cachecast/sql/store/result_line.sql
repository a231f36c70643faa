-- The result-line schema, written once: the DuckDB types a results line is parsed into.
-- Statements elsewhere include these fragments by name ({{store/result_line.sql:line}},
-- expanded by cachecast.store.queries), because DuckDB takes a type only as text inside a
-- statement (read_json's columns, a cast): a macro cannot stand for a type, so the
-- statement is generated. The Python side of the same schema is cachecast.facts.usage
-- (one typed Usage object, mapped from the SDK's types); tests/test_usage_types.py checks
-- that both name every field of the SDK's BetaUsage.
--
-- Strings come out as VARCHAR, token counts as JSON text (sql/store/ingest.sql
-- cc_token_problem tells "12", 12.0, -3 and 1e30 apart from 12). server_tool_use and
-- iterations are kept as JSON here: every counter survives (one the SDK types do not name
-- is listed by the audit as unpriced, never dropped), and a malformed iterations value is
-- told apart from an absent one (ingest.sql view_shaped casts it to the `iteration` list).
-- The usage structure sits under result.message (batch result lines) and at the top level
-- (sync Message lines).

-- name: iteration
-- One entry of usage.iterations (SDK types/beta/beta_iterations_usage.py: message,
-- advisor_message, compaction, fallback_message; model absent on message and compaction).
STRUCT(type VARCHAR, model VARCHAR, input_tokens JSON, cache_creation_input_tokens JSON,
       cache_read_input_tokens JSON, output_tokens JSON,
       cache_creation STRUCT(ephemeral_5m_input_tokens JSON, ephemeral_1h_input_tokens JSON))

-- name: usage
-- SDK types/beta/beta_usage.py (BetaUsage, a superset of types/usage.py).
STRUCT(input_tokens JSON, cache_creation_input_tokens JSON, cache_read_input_tokens JSON, output_tokens JSON,
       cache_creation STRUCT(ephemeral_5m_input_tokens JSON, ephemeral_1h_input_tokens JSON),
       output_tokens_details STRUCT(thinking_tokens JSON), service_tier VARCHAR, inference_geo VARCHAR,
       speed VARCHAR, server_tool_use JSON, iterations JSON)

-- name: message
STRUCT(id VARCHAR, model VARCHAR, stop_reason VARCHAR, usage {{usage}}, diagnostics JSON)

-- name: line
-- A Message Batches result line {"custom_id", "result": {"type", "message" | "error"}}, or a
-- sync Message / API error body (type, id, model, stop_reason, usage at the top level).
STRUCT(custom_id VARCHAR,
       result STRUCT(type VARCHAR, message {{message}}, error STRUCT(error STRUCT(type VARCHAR, message VARCHAR))),
       type VARCHAR, id VARCHAR, model VARCHAR, stop_reason VARCHAR, usage {{usage}}, diagnostics JSON,
       error STRUCT(type VARCHAR, message VARCHAR))

-- name: stored_iterations
-- usage.iterations as stored in results.iterations (schema_v7.sql): counts as BIGINT, the
-- cache_creation breakdown flattened (NULL where the entry has none).
STRUCT(type VARCHAR, model VARCHAR, input_tokens BIGINT, cache_creation_input_tokens BIGINT,
       cache_write_5m_tokens BIGINT, cache_write_1h_tokens BIGINT, cache_read_input_tokens BIGINT,
       output_tokens BIGINT)[]
