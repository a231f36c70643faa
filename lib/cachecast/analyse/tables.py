"""The audit's tables as HTML for reports: reader-facing column labels and cell formats.

Values are formatted as text first, then pandas' to_html escapes them, so data (custom ids,
treatment names, error messages) can never become markup.
"""
from __future__ import annotations

import numbers
from decimal import Decimal
from typing import Any

import numpy as np

_LABELS = {
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
_RATES = {"token_hit_rate", "request_hit_rate"}
_MONEY = {"cost_usd", "no_cache_cost_usd", "savings_usd", "usd_lost"}


def table_html(df, columns: list[str] | None = None) -> str:
    """A DataFrame as an HTML table for reports: values formatted as text first, then
    pandas' to_html with escape=True, so data (custom ids, treatment names, error messages)
    can never become markup."""
    frame = df[columns] if columns else df
    frame = frame.copy()
    for col in frame.columns:
        frame[col] = [_cell(col, v) for v in frame[col]]
    frame.columns = [_LABELS.get(c, c) for c in frame.columns]
    return frame.to_html(index=False, escape=True, border=0, classes="cachecast-table", na_rep="")


def _cell(col: str, value: Any) -> str:
    if value is None or (isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral)
                         and float(value) != float(value)):
        return ""
    if col in _RATES:
        return f"{float(value):.1%}"
    if col in _MONEY:
        return f"{float(value):,.6f}"
    if col == "difference_pct":
        return f"{float(value):+.1f}%"
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, numbers.Integral):
        return f"{int(value):,}"
    if isinstance(value, (numbers.Real, Decimal)):
        number = float(value)
        return f"{number:,.0f}" if number.is_integer() else f"{number:,.4g}" if abs(number) < 1000 else f"{number:,.2f}"
    return str(value)
