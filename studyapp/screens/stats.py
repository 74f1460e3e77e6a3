"""Statistics: reviews per day, true retention, cards due ahead, and each card's memory state."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Static, TabbedContent, TabPane
from textual_plotext import PlotextPlot

from studyapp.messages import CollectionChanged
from studyapp.plaintext import plural
from studyapp.widgets.key_footer import KeyFooter

if TYPE_CHECKING:
    from datetime import date

    from studyapp.collection import Collection, Stats

DAYS = 30
"""Days shown back (reviews, retention) and ahead (cards due)."""


TICKS = 6
"""Labelled days on a time axis, and at most as many counts on a count axis."""
CARD_COLUMNS = (("State", 10), ("Stability", 9), ("Difficulty", 10), ("Recall", 6))
"""Columns of the Cards tab after the title, with their widths in cells ("Relearning",
"123.4 d"); the title takes what is left."""


def bar_days(plot: PlotextPlot, title: str, series: list[tuple[date, int]]) -> None:
    """Draw ``(day, count)`` pairs as bars, with a few days labelled ``"03/14"``."""
    plt = plot.plt
    plt.clear_data()
    plt.clear_figure()
    plt.title(title)
    if series:
        positions = list(range(len(series)))
        plt.bar(positions, [count for _day, count in series], width=0.6)
        every = max(1, len(series) // TICKS)
        plt.xticks(positions[::every], [day.strftime("%m/%d") for day, _ in series[::every]])
        top = max(count for _day, count in series)
        plt.yticks(range(0, top + 1, max(1, math.ceil(top / TICKS))))  # whole cards, reviews
    plot.refresh()


class StatsScreen(Screen[None]):
    """Plots over the last and the next 30 study days, and a per-card table."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "app.pop_screen", "Deck", id="back")]

    def __init__(self) -> None:
        super().__init__()
        self._stats: Stats | None = None
        """What the screen shows, once drawn."""

    def compose(self) -> ComposeResult:
        yield Static(id="summary")
        with TabbedContent(id="stats-tabs"):
            with TabPane("Reviews", id="tab-reviews"):
                yield PlotextPlot(id="reviews-plot")
            with TabPane("Retention", id="tab-retention"):
                yield PlotextPlot(id="retention-plot")
            with TabPane("Due", id="tab-due"):
                yield PlotextPlot(id="due-plot")
            with TabPane("Cards", id="tab-cards"):
                yield DataTable(id="card-stats", cursor_type="row", zebra_stripes=True)
        yield KeyFooter(compact=True, show_command_palette=False)

    @property
    def collection(self) -> Collection:
        return self.app.collection  # type: ignore[attr-defined]

    def on_mount(self) -> None:
        self.show_stats()

    def on_collection_changed(self, _message: CollectionChanged) -> None:
        self.show_stats()

    def show_stats(self) -> None:
        """Redraw everything from :meth:`Collection.stats`."""
        stats = self._stats = self.collection.stats(days=DAYS)
        retention = "—" if stats.true_retention is None else f"{stats.true_retention:.0%}"
        states = "  ·  ".join(f"{count} {state.lower()}"
                              for state, count in sorted(stats.counts_by_state.items()))
        reviews = sum(count for _day, count in stats.reviews_per_day)
        self.query_one("#summary", Static).update(
            f"[b]Last {DAYS} days[/b]: {plural(reviews, 'review')}, true retention {retention}"
            f"\n[b]Cards[/b]: {states}")
        self.plot_reviews(stats)
        self.plot_retention(stats)
        self.plot_due(stats)
        self.fill_card_table(stats)

    def plot_reviews(self, stats: Stats) -> None:
        bar_days(self.query_one("#reviews-plot", PlotextPlot),
                 f"Reviews per day, last {DAYS} days", stats.reviews_per_day)

    def plot_retention(self, stats: Stats) -> None:
        plot = self.query_one("#retention-plot", PlotextPlot)
        plt = plot.plt
        plt.clear_data()
        plt.clear_figure()
        first_day = stats.reviews_per_day[0][0] if stats.reviews_per_day else None
        if stats.retention_per_day and first_day is not None:
            days = [(day - first_day).days for day, _share in stats.retention_per_day]
            shares = [100 * share for _day, share in stats.retention_per_day]
            plt.plot(days, shares, marker="dot")
            plt.xlim(0, DAYS - 1)
            every = max(1, len(days) // TICKS)
            plt.xticks(days[::every], [day.strftime("%m/%d")
                                       for day, _ in stats.retention_per_day[::every]])
            plt.title("True retention per day: % of mature reviews not rated Again")
        else:
            plt.title("True retention: no reviews of cards in the Review state yet")
        plt.ylim(0, 100)
        plot.refresh()

    def plot_due(self, stats: Stats) -> None:
        bar_days(self.query_one("#due-plot", PlotextPlot),
                 f"Cards due, next {DAYS} days", stats.due_per_day)

    def on_resize(self) -> None:
        if self._stats is not None:  # the title column's width follows the screen's
            self.fill_card_table(self._stats)

    def fill_card_table(self, stats: Stats) -> None:
        """One row per card; the title column takes the width the other columns leave."""
        table = self.query_one("#card-stats", DataTable)
        table.clear(columns=True)
        taken = sum(width + 2 for _name, width in CARD_COLUMNS) + 2 + 2  # padding, scrollbar
        table.add_column("Card", width=max(12, self.size.width - taken), key="title")
        for name, width in CARD_COLUMNS:
            table.add_column(name, width=width, key=name.lower())
        for row in stats.per_card:
            table.add_row(
                Text(row.card.title, overflow="ellipsis", no_wrap=True),
                row.state,
                "—" if row.stability is None else f"{row.stability:.1f} d",
                "—" if row.difficulty is None else f"{row.difficulty:.1f}",
                "—" if row.retrievability is None else f"{row.retrievability:.0%}",
                key=row.card.id,
            )
