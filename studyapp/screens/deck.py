"""The deck: every card with its scheduling state, and what is left to study today."""

from __future__ import annotations

import os
import shlex
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Static

from studyapp.messages import CollectionChanged
from studyapp.plaintext import plural
from studyapp.screens.store_errors import reports_store_errors
from studyapp.widgets.deck_table import DeckTable
from studyapp.widgets.key_footer import KeyFooter

if TYPE_CHECKING:
    from studyapp.cards import CardProblem
    from studyapp.collection import CardRow, Collection

COLUMNS = (("State", 7), ("Due", 8), ("Recall", 6), ("Last", 5), ("Notes", 11), ("Exp", 3))
"""Columns after the title, with their widths in cells; the title takes what is left."""
COLUMN_KEYS = ("title", *(name.lower() for name, _width in COLUMNS))
SHORT_STATE = {"New": "New", "Learning": "Learn", "Review": "Review", "Relearning": "Relearn"}
BANNER_LINES = 6
"""Lines the deck's problems banner takes at most, unless its first problem alone needs more."""


def truncate(text: str, width: int) -> str:
    """``text`` cut to ``width`` cells with an ellipsis when longer."""
    return text if len(text) <= width else text[:max(0, width - 1)] + "…"


def problems_banner(problems: Sequence[CardProblem], deck_dir: Path, width: int) -> str:
    """The deck's banner: how many problems the card files in ``deck_dir`` have, as many of them
    in full (``file:line: what to fix``) as fit in :data:`BANNER_LINES` lines of ``width`` cells
    (the first one always), and how to list the rest."""
    from studyapp import locations

    def rows(text: str) -> int:
        return len(Content(text).wrap(max(1, width)))  # as the banner will wrap it

    check = "studyapp check"
    if deck_dir.resolve() != locations.content_dir().resolve():  # --content elsewhere
        check += f" {shlex.quote(str(deck_dir))}"

    def more(left: int) -> str:
        return f"+{left} more: run `{check}` for the full list"

    header = f"⚠ {plural(len(problems), 'problem')} in the card files in {deck_dir}:"
    room = BANNER_LINES - rows(header) - rows(more(len(problems)))
    shown: list[str] = []
    for problem in problems:
        text = str(problem).removeprefix(f"{deck_dir}{os.sep}")
        if shown and rows(text) > room:
            break
        shown.append(text)
        room -= rows(text)
    left = len(problems) - len(shown)
    return "\n".join([header, *shown, *([more(left)] if left else [])])


def due_text(row: CardRow, now: datetime) -> str:
    """When the card is due, relative to ``now``: ``"new"``, ``"now"`` or ``"in 3d"``."""
    from studyapp.scheduler import format_interval  # imported with the collection, after paint

    if row.due is None:
        return "new"
    if row.due <= now:
        return "now"
    return f"in {format_interval(row.due - now)}"


def row_cells(row: CardRow, now: datetime, title_width: int) -> tuple[str | Text, ...]:
    """The table cells of one card (the title as plain ``Text``: brackets are not markup)."""
    notes = " ".join(word for word, flag in (("edited", row.changed), ("susp", row.suspended),
                                              ("buried", row.buried)) if flag)
    return (
        Text(truncate(row.card.title, title_width)),
        SHORT_STATE.get(row.state, row.state),
        due_text(row, now),
        "—" if row.retrievability is None else f"{row.retrievability:.0%}",
        "—" if row.last_rating is None else row.last_rating.name,
        notes,
        "▶" if row.has_experiment else "",
    )


class DeckScreen(Screen[None]):
    """The deck table and today's counts; the first screen, drawn before the database opens."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open_card", "Open card", id="open-card", priority=True),
        Binding("s", "study", "Study", id="study"),
        Binding("t", "stats", "Stats", id="stats"),
        Binding("at", "toggle_suspend", "Suspend/unsuspend", id="toggle-suspend"),
        Binding("q", "app.quit", "Quit", id="quit"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._rows: dict[str, CardRow] = {}
        """The rows in the table, by card id, in table order."""
        self._cells: dict[str, tuple[str | Text, ...]] = {}
        """The cells in the table, by card id, in table order."""
        self._title_width = 0

    def compose(self) -> ComposeResult:
        yield Static("studyapp  ·  opening the database…", id="today")
        yield Static(id="problems", classes="banner error", markup=False)
        yield DeckTable(id="cards", cursor_type="row", zebra_stripes=True)
        yield KeyFooter(compact=True, show_command_palette=False)

    @property
    def collection(self) -> Collection | None:
        return self.app.collection  # type: ignore[attr-defined]

    def on_mount(self) -> None:
        self.query_one("#problems").display = False
        self.refresh_deck()

    def on_screen_resume(self) -> None:
        self.refresh_deck()

    def on_collection_changed(self, _message: CollectionChanged) -> None:
        self.refresh_deck()

    def on_resize(self) -> None:
        self.refresh_deck()

    def title_width(self) -> int:
        """Cells left for the title column at the current width (at least 12)."""
        taken = sum(width + 2 for _name, width in COLUMNS) + 2 + 2  # cell padding, scrollbar
        return max(12, self.size.width - taken)

    def refresh_deck(self) -> None:
        """Redraw the counts, the problems banner and the table from the collection."""
        error = getattr(self.app, "error", None)
        problems = self.query_one("#problems", Static)
        if error:
            problems.update(f"Cannot open the collection: {error}")
            problems.display = True
            self.query_one("#today", Static).update("studyapp")
            return
        collection = self.collection
        if collection is None:
            return
        now = collection.now()
        today = collection.today(now)
        counts = today.counts
        self.query_one("#today", Static).update(
            f"[b]Today[/b]  [$text-primary]{counts.new} new[/]  ·  "
            f"[$text-warning]{counts.learning} learning[/]  ·  "
            f"[$text-success]{counts.review} review[/]")  # text-*: readable on light themes too
        deck_problems = collection.deck.problems
        problems.update(problems_banner(deck_problems, collection.deck.directory,
                                        self.size.width - 2))  # the banner's padding
        problems.display = bool(deck_problems)
        self.fill_table(today.rows, now)
        self.refresh_bindings()

    def fill_table(self, rows: list[CardRow], now: datetime) -> None:
        """Show ``rows`` in the table, keeping the cursor on the same card.

        When the table holds the same cards at the same width, only the cells that changed are
        updated (after a study session, a few rows of thousands); otherwise it is rebuilt.
        """
        table = self.query_one("#cards", DeckTable)
        title_width = self.title_width()
        cells = {row.card.id: row_cells(row, now, title_width) for row in rows}
        if title_width == self._title_width and list(cells) == list(self._cells):
            for card_id, new in cells.items():
                old = self._cells[card_id]
                if new != old:
                    for key, before, after in zip(COLUMN_KEYS, old, new, strict=True):
                        if before != after:
                            table.update_cell(card_id, key, after)
        else:
            selected = self.selected_card_id()
            table.clear(columns=True)
            table.add_column("Card", width=title_width, key="title")
            for name, width in COLUMNS:
                table.add_column(name, width=width, key=name.lower())
            for card_id, card_cells in cells.items():
                table.add_row(*card_cells, key=card_id)
            if selected is not None and selected in table.rows:
                table.move_cursor(row=table.get_row_index(selected), animate=False)
        self._rows = {row.card.id: row for row in rows}
        self._cells, self._title_width = cells, title_width

    def selected_card_id(self) -> str | None:
        """The id of the card under the cursor, or ``None`` for an empty table."""
        table = self.query_one("#cards", DeckTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("open_card", "study", "stats", "toggle_suspend"):
            if self.collection is None:
                return False
            if action in ("open_card", "toggle_suspend"):
                return self.selected_card_id() is not None
        return True

    def action_open_card(self) -> None:
        card_id = self.selected_card_id()
        if card_id is not None:
            from studyapp.screens.review import ReviewScreen

            self.app.push_screen(ReviewScreen(single=card_id))

    def action_study(self) -> None:
        from studyapp.screens.review import ReviewScreen

        self.app.push_screen(ReviewScreen())

    def action_stats(self) -> None:
        from studyapp.screens.stats import StatsScreen

        self.app.push_screen(StatsScreen())

    @reports_store_errors("Not saved")
    def action_toggle_suspend(self) -> None:
        card_id = self.selected_card_id()
        collection = self.collection
        if card_id is None or collection is None:
            return
        row = self._rows[card_id]  # as the table shows it
        if row.suspended:
            collection.unsuspend(card_id)
            self.notify(f"{row.card.title}: back in the queues")
        else:
            collection.suspend(card_id)
            self.notify(f"{row.card.title}: suspended (@ again to unsuspend)")
        self.refresh_deck()
