"""CSV files that are safe to open in a spreadsheet.

A cell that begins with `=`, `+`, `-` or `@` is read by Excel, LibreOffice and Google Sheets
as a formula; a custom_id, model name or error message from a results file could then run
one (CSV injection). Such text cells get a leading single quote, which the spreadsheet
shows as text and hides. Numbers are written as numbers (a negative difference stays -0.5),
so only strings are changed.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Iterable, Sequence

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


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
