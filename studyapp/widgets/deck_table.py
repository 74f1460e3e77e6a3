"""A ``DataTable`` for thousands of one-line rows in fixed-width columns: the deck.

After rows are added, ``DataTable`` measures every cell of every new row on its next idle
(formatting each ``str`` as markup, then asking Rich for its width) to size auto-width columns
and auto-height rows: about 1.2 s for 10,000 rows of seven columns on a small CPU, during which
the deck screen cannot answer a key. The deck table has neither kind, so the only thing left to
compute is the scrollable size. Cells are still formatted and rendered, lazily, for the rows on
screen.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.text import Text
from textual.geometry import Size
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey


class DeckTable(DataTable[str | Text]):
    """A ``DataTable`` that skips measuring cells when no column or row needs measuring.

    Give every column a ``width`` and add rows with the default ``height=1`` and no label;
    otherwise it measures like any ``DataTable`` (correct, only slower).
    """

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        new_rows = list(new_rows)
        rows = self.rows
        measure = any(column.auto_width for column in self.columns.values()) or any(
            rows[key].auto_height or rows[key].label is not None
            for key in new_rows if key in rows)
        if measure:
            super()._update_dimensions(new_rows)
            return
        width = sum(column.get_render_width(self) for column in self.columns.values())
        header_height = self.header_height if self.show_header else 0
        self.virtual_size = Size(width + self._row_label_column_width,
                                 self._total_row_height + header_height)
