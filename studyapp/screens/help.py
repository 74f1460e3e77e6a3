"""Help: every key of every screen, with what it does (a key's tooltip, where it has one, says
when it applies; the footer shows the short description)."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static


def bindings_of(owner: type) -> list[Binding]:
    """The bindings a class declares, one per key (``"escape,q"`` gives two)."""
    return list(Binding.make_bindings(getattr(owner, "BINDINGS", [])))


class HelpScreen(ModalScreen[None]):
    """A table of the keys of the app and of each screen; Escape, ? or q closes it.
    Home, End, PageUp and PageDown scroll it."""

    # Priority over the table's own keys: its Home and End scroll sideways.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark,q", "app.pop_screen", "Close help", id="close"),
        Binding("home", "scroll_keys('home')", "First keys", id="top", priority=True),
        Binding("end", "scroll_keys('end')", "Last keys", id="bottom", priority=True),
        Binding("pageup", "scroll_keys('page_up')", "Page up", id="page-up", priority=True),
        Binding("pagedown", "scroll_keys('page_down')", "Page down", id="page-down",
                priority=True),
    ]

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box"):
            yield Static("[b]Keys[/b]  ·  the footer shows the ones that apply right now",
                         id="help-title")
            yield DataTable(id="help-keys", cursor_type="none", zebra_stripes=True)

    def on_mount(self) -> None:
        from studyapp.screens.deck import DeckScreen
        from studyapp.screens.review import AnswerInput, ReviewScreen, experiment_screen_class
        from studyapp.screens.stats import StatsScreen

        groups: list[tuple[str, type]] = [
            ("Everywhere", type(self.app)), ("Deck", DeckScreen), ("Review", ReviewScreen),
            ("Answer box", AnswerInput), ("Stats", StatsScreen), ("Help", HelpScreen)]
        if (experiment := experiment_screen_class()) is not None:
            groups.append(("Experiment", experiment))
        table = self.query_one("#help-keys", DataTable)
        table.add_columns("Where", "Key", "Does")
        for where, owner in groups:
            for binding in bindings_of(owner):
                table.add_row(where, Text(self.app.get_key_display(binding)),
                              Text(binding.tooltip or binding.description))

    def action_scroll_keys(self, where: str) -> None:
        """Scroll the table of keys: ``where`` is ``home``, ``end``, ``page_up`` or
        ``page_down``."""
        getattr(self.query_one("#help-keys", DataTable), f"scroll_{where}")(animate=False)
