"""The reader-facing column labels of the audit's tables (the report's and notebook 02's
headers; the CSV files keep the column names)."""
from __future__ import annotations

LABELS = {
    "treatment": "treatment", "models": "models", "requests": "requests", "succeeded": "succeeded",
    "failed": "not run", "input_tokens": "uncached input", "cache_creation_input_tokens": "cache writes",
    "cache_read_input_tokens": "cache reads", "output_tokens": "output", "token_hit_rate": "tokens from cache",
    "request_hit_rate": "requests reading", "cost_usd": "cost $", "no_cache_cost_usd": "no-cache $",
    "savings_usd": "saved $", "kind": "kind", "usd_lost": "lost $", "example": "example",
    "line_no": "line", "custom_id": "custom_id", "reason": "reason", "file_rank": "file order",
    "result_type": "result", "error_type": "error type", "example_message": "example message",
    "source_file": "file", "raw": "raw line (start)", "batch_id": "batch", "model": "model",
    "metric": "metric", "projected": "projected", "actual": "actual", "actual_scaled": "actual, scaled",
    "difference": "difference", "difference_pct": "difference %",
}
