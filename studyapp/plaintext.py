"""Plain-text output for the command line: values, tables and durations."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any


def is_number(value: Any) -> bool:
    """Whether a value counts as a number in a table cell (``None`` stands for non-finite)."""
    return value is None or (isinstance(value, (int, float)) and not isinstance(value, bool))


def format_value(value: Any) -> str:
    """A cell for a text table: floats with 4 significant digits, ``None`` (non-finite) as
    ``n/a``."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    return str(value)


def format_table(columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Rows under a header, columns two spaces apart; all-number columns right-aligned."""
    rows = [list(row) for row in rows]
    cells = [[format_value(value) for value in row] for row in rows]
    widths = [max([len(name)] + [len(row[i]) for row in cells if i < len(row)])
              for i, name in enumerate(columns)]
    right = [bool(rows) and all(i < len(row) and is_number(row[i]) for row in rows)
             for i in range(len(columns))]

    def line(texts: Sequence[str]) -> str:
        return "  ".join(text.rjust(width) if align else text.ljust(width)
                         for text, width, align in zip(texts, widths, right, strict=False)).rstrip()

    return "\n".join([line(columns), *(line(row) for row in cells)])


def plural(count: int, noun: str) -> str:
    """``"1 review"``, ``"0 reviews"``, ``"3 reviews"``: a count and its noun in agreement."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def format_duration(seconds: float) -> str:
    """``0.4 s``, ``12 s``, ``3 min 5 s``, ``1 h 2 min``."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"
