"""CSV exports that open safely in a spreadsheet: a cell a person could have written (a name, a title) that starts
like a formula is prefixed with an apostrophe, so Excel or LibreOffice shows it as text instead of running it."""

from __future__ import annotations

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def text_cell(value) -> str:
    value = "" if value is None else str(value)
    return f"'{value}" if value.startswith(FORMULA_START) else value
