"""Reviewing: question, your typed answer beside the model answer, then a rating.

Three kinds of session share this screen: ``study`` (the collection's queue for today),
``single`` (one card opened from the deck) and ``practice`` (every card, logged as
``practice`` without touching the schedule). Every rating is committed by
:meth:`Collection.rate` before the next card is shown, so quitting at any moment loses nothing.
Ratings, buries and suspends go through the app's :class:`~studyapp.collection.Session`, whose
undo walks them back; an undone card comes back on screen as it was (reviewed or practised).
"""

from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING, ClassVar, Literal

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Button, Input, Static

from studyapp.messages import CollectionChanged
from studyapp.screens.store_errors import reports_store_errors
from studyapp.widgets.key_footer import KeyFooter
from studyapp.widgets.markdown_view import MarkdownView
from studyapp.widgets.rating_bar import RATING_LABELS, RatingBar

if TYPE_CHECKING:
    from pathlib import Path

    from studyapp.cards import Card
    from studyapp.collection import Collection, Session

Mode = Literal["study", "single", "practice"]


@functools.cache
def experiment_screen_class() -> type[Screen] | None:
    """``ExperimentScreen`` when its module imports, else ``None`` (then ``x`` is not bound)."""
    try:
        from studyapp.screens.experiment import ExperimentScreen
    except ImportError:
        return None
    return ExperimentScreen


class AnswerInput(Input):
    """The one-line answer box. Everything typed goes in, digits included; space in an empty
    box reveals instead (as in Anki), and Escape leaves the box so single keys act."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "leave", "Stop typing", id="stop-typing")]

    def check_consume_key(self, key: str, character: str | None) -> bool:
        if key == "space" and not self.value:
            return False  # the footer then shows the screen's space binding
        return super().check_consume_key(key, character)

    async def _on_key(self, event: events.Key) -> None:
        if event.key == "space" and not self.value:
            event.stop()
            event.prevent_default()  # Input's own handler would insert the space
            await self.run_action("screen.reveal")

    def action_leave(self) -> None:
        self.screen.set_focus(None)


class ReviewScreen(Screen[None]):
    """A review session. ``single`` opens one card; ``practice`` starts a practice round."""

    # The footer leaves out what the screen itself shows (the answer box says Enter reveals,
    # the buttons show the ratings), so it only redraws when undo, experiment or the empty
    # state change: redrawing it on every card costs tens of milliseconds.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,space", "reveal", "Show answer", id="reveal", show=False),
        Binding("1", "rate(1)", "Again", id="again", show=False),
        Binding("2", "rate(2)", "Hard", id="hard", show=False),
        Binding("3", "rate(3)", "Good", id="good", show=False),
        Binding("4", "rate(4)", "Easy", id="easy", show=False),
        Binding("u,ctrl+z", "undo", "Undo", id="undo"),
        Binding("minus", "bury", "Bury", id="bury"),
        Binding("at", "suspend", "Suspend", id="suspend"),
        Binding("e", "edit", "Edit", id="edit"),
        Binding("x", "experiment", "Experiment", id="experiment"),
        Binding("p", "practice", "Practice round", id="practice"),
        Binding("escape", "app.pop_screen", "Deck", id="back"),
    ]

    revealed: reactive[bool] = reactive(False)
    """Whether the answer is shown (the ratings then apply)."""
    card_id: reactive[str | None] = reactive(None)
    """The card on screen; ``None`` when the session has nothing left."""

    def __init__(self, *, single: str | None = None, practice: bool = False) -> None:
        super().__init__()
        self.mode: Mode = "single" if single else "practice" if practice else "study"
        self.queue: list[str] = [single] if single else []
        """Cards still to show in this session, after the one on screen."""
        self.practising = self.mode == "practice"
        """Whether the card on screen is practised (its rating logged as ``practice``)."""
        self.put_back: dict[str, bool] = {}
        """Cards that undo put back in the queue, by id: whether each is practised (else the
        session's mode decides)."""
        self.card_file: Path | None = None
        """The file of the card on screen, to say why the card is gone after a reload."""
        self.shown_at = time.monotonic()
        self._footer_shown: tuple[bool, ...] = ()

    def watch_revealed(self, revealed: bool) -> None:
        # display on the few widgets concerned: a class on the screen would restyle them all
        self.query_one("#revealed").display = revealed
        self.query_one("#ratings").display = revealed
        self.query_one("#answer-input").display = not revealed and self.card_id is not None
        self.update_footer()

    def watch_card_id(self, _card_id: str | None) -> None:
        empty = self.card_id is None
        self.query_one("#empty").display = empty
        self.query_one("#question").display = not empty
        self.query_one("#answer-input").display = not empty and not self.revealed
        self.update_footer()

    def update_footer(self) -> None:
        """Refresh the footer's keys when the set it shows changes."""
        card = self.current_card()
        shown = (card is None, bool(self.session.changes),
                 card is not None and card.experiment is not None)
        if shown != self._footer_shown:
            self._footer_shown = shown
            self.refresh_bindings()

    @property
    def collection(self) -> Collection:
        return self.app.collection  # type: ignore[attr-defined]

    @property
    def session(self) -> Session:
        """This app session's changes: what ``u`` undoes (shared by all screens)."""
        return self.app.session  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        yield Static(id="heading")
        with VerticalScroll(id="card-body"):
            yield MarkdownView(id="question")
            with Horizontal(id="revealed"):
                with Vertical(id="yours"):
                    yield Static("You wrote", classes="label")
                    yield Static(id="typed", markup=False)
                with Vertical(id="model"):
                    yield Static("Answer", classes="label")
                    yield MarkdownView(id="answer")
            with Vertical(id="empty"):
                yield Static(id="empty-message")
                yield Button("Practice round", id="start-practice", action="screen.practice",
                             compact=True)
        yield AnswerInput(placeholder="Type your answer (optional) · Enter shows the answer",
                          id="answer-input", compact=True)
        yield RatingBar(id="ratings")
        yield KeyFooter(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#revealed").display = False
        self.query_one("#ratings").display = False
        if self.mode == "practice":
            self.queue = self.practice_queue()
        self.next_card()

    # -- moving through the session -------------------------------------------------------------

    def practice_queue(self) -> list[str]:
        """Every card that is not suspended, in deck order."""
        return [row.card.id for row in self.collection.overview() if not row.suspended]

    def relayout(self) -> None:
        """Lay the whole screen out in the next frame.

        Each widget changed for a new card or a reveal asks for a new layout from its own
        message queue, and Textual may draw a frame before the last one asks: the next question
        above the previous answer, then two or three more frames. Asking here, from the screen,
        makes the next frame the finished one (median 60 ms to 17 ms from the key to the next
        question on screen, ``benchmarks/rating_latency.py``).
        """
        self.refresh(layout=True)

    def next_card(self) -> None:
        """Show the next card of the session, refilling a study session from the collection."""
        self.relayout()
        if not self.queue and self.mode == "study":
            self.queue = self.collection.queue()
        deck = self.collection.deck
        while self.queue and deck.get(self.queue[0]) is None:
            # its file was removed or broke since the queue was made
            self.put_back.pop(self.queue.pop(0), None)
        if not self.queue:
            if self.mode == "single":
                self.app.pop_screen()
                return
            self.card_id = None
            self.show_empty()
            return
        card_id = self.queue.pop(0)
        self.practising = self.put_back.pop(card_id, self.mode == "practice")
        self.card_id = card_id
        self.show_question()

    def current_card(self) -> Card | None:
        return None if self.card_id is None else self.collection.deck.get(self.card_id)

    def show_question(self) -> None:
        """Draw the current card's question with the answer hidden and the input cleared."""
        card = self.current_card()
        if card is None:
            return
        self.revealed = False
        self.show_heading(card)
        self.query_one("#question", MarkdownView).show(card.question)
        self.query_one("#answer", MarkdownView).show(card.answer)
        answer_input = self.query_one("#answer-input", AnswerInput)
        answer_input.disabled = False
        answer_input.value = ""
        answer_input.focus()
        self.query_one("#card-body", VerticalScroll).scroll_home(animate=False)
        self.card_file = card.path
        self.shown_at = time.monotonic()

    def show_heading(self, card: Card) -> None:
        """The card's title and how many cards are left in the session."""
        kind = "  ·  practice" if self.practising else "  ·  one card" if self.mode == "single" \
            else ""
        self.query_one("#heading", Static).update(
            Content.from_markup("[b]$title[/b]  [dim]$left more$kind[/dim]", title=card.title,
                                left=len(self.queue), kind=kind))

    def intervals(self, card_id: str) -> dict[int, str]:
        """The interval each rating would give, formatted, from the card's state stored now (one
        row: another studyapp may have rated it since it was shown); nothing when practising."""
        if self.practising:
            return {}
        from studyapp.scheduler import format_interval

        return {int(rating): format_interval(interval)
                for rating, interval in self.collection.preview(card_id).items()}

    def show_empty(self) -> None:
        """Nothing left: say when the next card is due and offer a practice round."""
        from studyapp.scheduler import format_interval

        self.revealed = False
        collection = self.collection
        if self.mode == "practice":
            self.query_one("#heading", Static).update("[b]Practice round done[/b]")
            text = "Every card went by once; the schedule was left alone."
        else:
            now = collection.now()
            due = collection.next_due(now)
            self.query_one("#heading", Static).update("[b]Nothing is due[/b]")
            text = ("No card is scheduled." if due is None else
                    f"The next card is due in {format_interval(due - now)} "
                    f"({due.astimezone():%a %d %b %H:%M}).")
        self.query_one("#empty-message", Static).update(
            f"{text}\n\nA practice round shows every card again and leaves the schedule alone.")
        self.query_one("#answer-input", AnswerInput).disabled = True

    # -- actions --------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        has_card = self.card_id is not None
        # While the answer box has focus, single-character keys are typed into it.
        typing = isinstance(self.focused, AnswerInput)
        if action == "reveal":
            return has_card and not self.revealed
        if action == "rate":
            return has_card and self.revealed
        if action in ("bury", "suspend", "edit"):
            return has_card and not typing
        if action == "experiment":
            card = self.current_card()
            return card is not None and card.experiment is not None and not typing \
                and experiment_screen_class() is not None
        if action == "undo":
            return bool(self.session.changes)
        if action == "practice":
            return not has_card
        return True

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_reveal()

    def action_reveal(self) -> None:
        if self.card_id is None or self.revealed:
            return
        typed = self.query_one("#answer-input", AnswerInput)
        self.query_one("#typed", Static).update(typed.value)
        self.query_one("#yours").display = bool(typed.value.strip())
        typed.disabled = True  # read-only from now on; the keys act
        self.query_one("#ratings", RatingBar).show_intervals(self.intervals(self.card_id))
        self.revealed = True
        self.relayout()
        self.query_one("#card-body", VerticalScroll).focus()
        self.call_after_refresh(self.scroll_to_answer)

    def scroll_to_answer(self) -> None:
        """Scroll the card just enough to show the answer's first lines (up to half the card's
        height), so that the question stays in view above the answer as far as it fits."""
        body = self.query_one("#card-body", VerticalScroll)
        region = self.query_one("#revealed").virtual_region_with_margin
        body.scroll_to_region(region._replace(height=min(region.height, body.size.height // 2)),
                              animate=False)

    # ValueError: this review would come before one another studyapp logged (a clock behind).
    @reports_store_errors("Rating not saved", also=(ValueError,),
                          hint="The card stays here: rate it again once that is fixed.")
    def action_rate(self, value: int) -> None:
        if self.card_id is None or not self.revealed:
            return
        from studyapp.collection import LEARN_AHEAD_LIMIT
        from studyapp.scheduler import Rating

        duration_ms = int((time.monotonic() - self.shown_at) * 1000)
        review = self.session.rate(self.card_id, Rating(value), duration_ms=duration_ms,
                                   practice=self.practising)
        if self.mode == "study" and not self.practising and review.due is not None \
                and review.due - review.review_time <= LEARN_AHEAD_LIMIT:
            # A learning step: back once the rest of the session is done, early if need be, as
            # Collection.queue gives learning cards (Anki's learn-ahead limit).
            self.queue.append(self.card_id)
        self.next_card()

    @reports_store_errors("Undo refused")  # UndoRefused (reviewed since elsewhere), a full disk
    def action_undo(self) -> None:
        try:
            change = self.session.undo()
        except LookupError as error:
            self.notify(f"Nothing to undo: {error}", severity="warning")
            return
        if self.card_id is not None:  # shown again after the card that comes back
            self.queue.insert(0, self.card_id)
            self.put_back[self.card_id] = self.practising
        if change.card_id in self.queue:
            self.queue.remove(change.card_id)
        self.queue.insert(0, change.card_id)
        self.put_back[change.card_id] = change.practice
        what = (change.action if change.review is None
                else RATING_LABELS.get(change.review.rating or 0, change.review.kind))
        self.notify(f"Undid {what}", timeout=2)
        self.next_card()

    @reports_store_errors("Not buried")
    def action_bury(self) -> None:
        card = self.current_card()
        if card is None:
            return
        until = self.session.bury(card.id, practice=self.practising)
        self.notify(f"Buried until {until.astimezone():%a %H:%M}", timeout=3)
        self.next_card()

    @reports_store_errors("Not suspended")
    def action_suspend(self) -> None:
        card = self.current_card()
        if card is None:
            return
        self.session.suspend(card.id, practice=self.practising)
        self.notify("Suspended; u undoes, @ on the deck screen unsuspends", timeout=3)
        self.next_card()

    def why_gone(self) -> str:
        """Why the card on screen is no longer in the reloaded deck: its file was deleted or
        moved, cannot be read (its first problem, as ``studyapp check`` says it), or holds
        another card id now."""
        deck, path = self.collection.deck, self.card_file
        problems = [str(problem).removeprefix(f"{deck.directory}/")
                    for problem in deck.problems if problem.path == path]
        if problems:
            reason = f"its file can no longer be read: {problems[0]}"
        elif path is not None and path.exists():
            reason = f"its file {path.name} has another id now"
        else:
            reason = "its file was deleted or moved"
        return f"The card {self.card_id!r} was skipped: {reason}."

    def action_edit(self) -> None:
        card = self.current_card()
        if card is None:
            return
        from studyapp.app import EditorNotConfigured

        try:
            self.app.editor_launcher(card.path)  # type: ignore[attr-defined]
        except EditorNotConfigured as error:
            self.notify(str(error), title="No editor", severity="error", timeout=8)
            return
        except OSError as error:
            self.notify(f"Cannot start the editor: {error}", severity="error", timeout=8)
            return
        self.app.reload_deck()  # type: ignore[attr-defined]

    def action_experiment(self) -> None:
        card = self.current_card()
        screen_class = experiment_screen_class()
        if card is not None and card.experiment is not None and screen_class is not None:
            self.app.push_screen(screen_class(self.collection, card))

    def action_practice(self) -> None:
        if self.card_id is not None:
            return
        self.mode = "practice"
        self.queue = self.practice_queue()
        self.next_card()

    def on_collection_changed(self, message: CollectionChanged) -> None:
        """After the files changed on disk: redraw the card on screen, or skip it if it is gone
        or broke (a notification says why)."""
        if message.reason != "deck" or self.card_id is None:
            return
        card = self.current_card()
        if card is None:
            self.notify(self.why_gone(), title="Card skipped", severity="warning", timeout=8,
                        markup=False)
            self.next_card()
            return
        self.relayout()
        self.query_one("#question", MarkdownView).show(card.question)
        self.query_one("#answer", MarkdownView).show(card.answer)
        self.show_heading(card)
