"""Pilot tests of the TUI: a temp copy of the deck, a temp database and a fixed clock."""

from __future__ import annotations

import asyncio
import functools
import gc
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rich.text import Text
from textual.content import Content
from textual.notifications import Notification, Notify
from textual.widgets import DataTable, Static
from textual.widgets._toast import Toast

from studyapp.app import InstanceLock, StudyApp
from studyapp.cards import load_deck
from studyapp.collection import Collection
from studyapp.scheduler import Rating
from studyapp.screens.deck import BANNER_LINES, DeckScreen
from studyapp.screens.help import HelpScreen, bindings_of
from studyapp.screens.review import AnswerInput, ReviewScreen
from studyapp.screens.stats import StatsScreen
from support import CONTENT


def sync(test):
    """Run an async test with ``asyncio.run`` (no pytest-asyncio needed); fixtures still apply."""

    @functools.wraps(test)
    def run(*args, **kwargs):
        asyncio.run(test(*args, **kwargs))

    return run


START = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)


class Clock:
    """A settable clock: the app and the test see the same, fixed time."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def deck(tmp_path: Path) -> Path:
    """A copy of the real deck that tests may edit or break."""
    return Path(shutil.copytree(CONTENT, tmp_path / "content"))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "reviews.db"


@pytest.fixture
def clock() -> Clock:
    return Clock()


class Recorder:
    """A ``message_hook`` keeping the notifications the app shows."""

    def __init__(self) -> None:
        self.notifications: list[Notification] = []

    def __call__(self, message: object) -> None:
        if isinstance(message, Notify):
            self.notifications.append(message.notification)

    def texts(self) -> str:
        return "\n".join(f"{n.title}: {n.message}" for n in self.notifications)


async def opened(app: StudyApp, pilot) -> Collection:
    """Wait (at most 20 s) until the worker has opened the collection."""
    for _ in range(400):
        if app.collection is not None:
            await pilot.pause()
            return app.collection
        if app.error:
            pytest.fail(f"the app could not open the collection: {app.error}")
        await pilot.pause(0.05)
    pytest.fail("the collection was not opened within 20 s")


def review_screen(app: StudyApp) -> ReviewScreen:
    assert isinstance(app.screen, ReviewScreen), f"expected the review screen, got {app.screen}"
    return app.screen


def rate_in_another_studyapp(deck: Path, db: Path, card_id: str, at: datetime) -> None:
    """Rate ``card_id`` Good at ``at`` through a collection of its own, as a second process
    would."""
    other = Collection.open(deck, db, clock=lambda: at)
    try:
        other.rate(card_id, Rating.Good)
    finally:
        other.close()


async def type_text(pilot, text: str) -> None:
    await pilot.press(*("space" if char == " " else char for char in text))


@sync
async def test_study_type_reveal_rate_undo_rate_and_restart(deck, db, clock):
    app = StudyApp(deck, db, clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        collection = await opened(app, pilot)
        first = collection.queue()[0]
        await pilot.press("s")
        screen = review_screen(app)
        assert screen.card_id == first and not screen.revealed
        assert not screen.check_action("rate", (3,)), "ratings must wait for the answer"

        await type_text(pilot, "seq2seq 3 ways")  # digits go into the box, they do not rate
        assert screen.query_one(AnswerInput).value == "seq2seq 3 ways"
        assert collection.store.reviews(first) == []
        await pilot.press("enter")
        assert screen.revealed
        assert str(screen.query_one("#typed", Static).render()) == "seq2seq 3 ways"
        assert screen.query_one(AnswerInput).disabled, "the answer box is read-only after reveal"

        await pilot.press("3")
        [good] = collection.store.reviews(first)
        assert (good.rating, good.kind) == (Rating.Good, "review")
        assert good.duration_ms is not None and good.duration_ms >= 0
        assert screen.card_id != first and not screen.revealed

        await pilot.press("ctrl+z")  # works while the next card's answer box has focus
        assert collection.store.reviews(first) == []
        assert screen.card_id == first and not screen.revealed

        await pilot.press("space", "4")  # space in an empty box reveals, as in Anki
        [easy] = collection.store.reviews(first)
        assert easy.rating == Rating.Easy
        await pilot.press("escape", "escape")
        assert isinstance(app.screen, DeckScreen)

    again = StudyApp(deck, db, clock=clock)
    async with again.run_test(size=(80, 24)) as pilot:
        collection = await opened(again, pilot)
        row = next(r for r in collection.overview() if r.card.id == first)
        assert row.state == "Review" and row.due > clock.now + timedelta(days=1)
        table = again.screen.query_one("#cards", DataTable)
        cells = table.get_row(first)
        assert cells[1] == "Review" and cells[2].startswith("in ") and cells[4] == "Easy"
        assert first not in collection.queue()


@sync
async def test_reveal_brings_the_answer_into_view_below_a_long_question(deck, db, clock):
    first = min(deck.glob("*.md"))  # new cards come in deck order
    long = "\n\n".join(f"Line {n} of a long question." for n in range(40))
    first.write_text(first.read_text(encoding="utf-8").replace(
        "## Question\n", f"## Question\n\n{long}\n", 1), encoding="utf-8")
    app = StudyApp(deck, db, clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(app, pilot)
        await pilot.press("s")
        screen = review_screen(app)
        body = screen.query_one("#card-body")
        assert body.scroll_y == 0
        await pilot.press("enter")
        await pilot.pause()
        answer = screen.query_one("#revealed").region
        assert body.scroll_y > 0
        assert body.region.y <= answer.y < body.region.y + body.region.height // 2 + 1, \
            "the answer should start on screen, by the middle of the card"


@sync
async def test_digits_in_the_answer_box_never_rate(deck, db, clock):
    app = StudyApp(deck, db, clock=clock)
    async with app.run_test() as pilot:
        collection = await opened(app, pilot)
        await pilot.press("s", "1", "2", "3", "4")
        screen = review_screen(app)
        assert screen.query_one(AnswerInput).value == "1234"
        assert collection.store.reviews() == []


@sync
async def test_bury_and_suspend_take_the_card_out_of_today(deck, db, clock):
    app = StudyApp(deck, db, clock=clock)
    async with app.run_test() as pilot:
        collection = await opened(app, pilot)
        first, second, third = collection.queue()[:3]
        await pilot.press("s", "escape")  # leave the answer box: single keys act
        screen = review_screen(app)
        await pilot.press("minus")
        assert screen.card_id == second
        await pilot.press("escape", "at")
        assert screen.card_id == third
        rows = {row.card.id: row for row in collection.overview()}
        assert rows[first].buried and not rows[first].suspended
        assert rows[second].suspended
        assert first not in collection.queue() and second not in collection.queue()
        await pilot.press("escape", "escape")
        table = app.screen.query_one("#cards", DataTable)
        assert "buried" in table.get_row(first)[5] and "susp" in table.get_row(second)[5]


@sync
async def test_suspend_on_the_deck_toggles_and_redraws_the_row(deck, db, clock):
    app = StudyApp(deck, db, clock=clock)
    async with app.run_test() as pilot:
        collection = await opened(app, pilot)
        table = app.screen.query_one("#cards", DataTable)
        first = collection.deck.ids[0]
        assert table.get_row(first)[5] == ""
        await pilot.press("at")
        assert table.get_row(first)[5] == "susp"
        assert first not in collection.queue()
        await pilot.press("at")
        assert table.get_row(first)[5] == ""
        assert first in collection.queue()


def make_nothing_due(deck: Path, db: Path, clock: Clock) -> str:
    """Suspend all cards but one and rate that one Easy; returns its id."""
    collection = Collection.open(deck, db, clock=clock)
    try:
        kept, *others = collection.deck.ids
        for card_id in others:
            collection.suspend(card_id)
        collection.rate(kept, Rating.Easy)
    finally:
        collection.close()
    return kept


@sync
async def test_empty_queue_says_when_and_practice_leaves_the_schedule_alone(deck, db, clock):
    kept = make_nothing_due(deck, db, clock)
    app = StudyApp(deck, db, clock=clock)
    async with app.run_test() as pilot:
        collection = await opened(app, pilot)
        due_before = next(r for r in collection.overview() if r.card.id == kept).due
        await pilot.press("s")
        screen = review_screen(app)
        assert screen.card_id is None
        message = str(screen.query_one("#empty-message", Static).render())
        assert "next card is due in" in message
        assert screen.check_action("practice", ()) and not screen.check_action("reveal", ())

        await pilot.press("p")
        assert screen.card_id == kept and screen.mode == "practice"
        await pilot.press("enter", "1")
        reviews = collection.store.reviews(kept)
        assert [r.kind for r in reviews] == ["review", "practice"]
        row = next(r for r in collection.overview() if r.card.id == kept)
        assert row.due == due_before and row.state == "Review"
        assert screen.card_id is None  # the practice round is over
        assert "Practice round done" in str(screen.query_one("#heading", Static).render())


@sync
async def test_a_broken_card_shows_a_banner_and_the_others_still_work(deck, db, clock):
    broken = min(deck.glob("*.md"))
    broken.write_text("---\nid: [oops\n---\nno sections\n", encoding="utf-8")
    app = StudyApp(deck, db, clock=clock)
    async with app.run_test() as pilot:
        collection = await opened(app, pilot)
        banner = app.screen.query_one("#problems", Static)
        assert banner.display and broken.name in str(banner.render())
        table = app.screen.query_one("#cards", DataTable)
        assert table.row_count == len(load_deck(CONTENT).cards) - 1
        await pilot.press("s", "enter", "3")
        assert len(collection.store.reviews()) == 1


@sync
async def test_many_broken_cards_show_a_count_the_first_in_full_and_how_to_see_all(deck, db,
                                                                                  clock):
    for n in range(15):
        (deck / f"zz-broken-{n:02}.md").write_text(f"---\nid: [oops{n}\n---\n",
                                                   encoding="utf-8")
    app = StudyApp(deck, db, clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        collection = await opened(app, pilot)
        problems = collection.deck.problems
        banner = app.screen.query_one("#problems", Static)
        text = str(banner.render())
        assert text.startswith(f"⚠ {len(problems)} problems in the card files in {deck}:")
        assert str(problems[0]).removeprefix(f"{deck}/") in text
        assert text.endswith("more: run `studyapp check "
                             f"{deck}` for the full list"), "the deck is not the default one"
        shown = sum(str(problem).removeprefix(f"{deck}/") in text for problem in problems)
        assert 1 <= shown < len(problems) and f"+{len(problems) - shown} more" in text
        assert banner.region.height == len(Content(text).wrap(banner.content_size.width)), \
            "every line of the banner is on screen"
        assert banner.region.height <= BANNER_LINES or shown == 1


@sync
async def test_edit_with_a_launcher_reloads_the_card(deck, db, clock):
    def launcher(path: Path) -> None:
        text = path.read_text(encoding="utf-8")
        path.write_text(text.replace("## Question\n", "## Question\n\nEDITED HERE.\n", 1),
                        encoding="utf-8")

    app = StudyApp(deck, db, clock=clock, editor_launcher=launcher)
    async with app.run_test() as pilot:
        await opened(app, pilot)
        await pilot.press("s", "escape", "e")
        await pilot.pause()
        screen = review_screen(app)
        assert "EDITED HERE." in screen.query_one("#question").markdown
        assert app.collection.deck.get(screen.card_id).question.startswith("EDITED HERE.")


@sync
async def test_edit_without_an_editor_says_how_to_set_one(deck, db, clock):
    recorder = Recorder()
    app = StudyApp(deck, db, clock=clock)  # conftest unsets VISUAL and EDITOR
    async with app.run_test(message_hook=recorder) as pilot:
        await opened(app, pilot)
        await pilot.press("s", "escape", "e")
        assert "Set $VISUAL or $EDITOR" in recorder.texts()
        assert isinstance(app.screen, ReviewScreen)


@sync
async def test_a_card_edited_on_disk_reloads_without_losing_the_session(deck, db, clock):
    app = StudyApp(deck, db, clock=clock)
    async with app.run_test() as pilot:
        collection = await opened(app, pilot)
        await pilot.press("s", "enter", "3")
        screen = review_screen(app)
        current = collection.deck.get(screen.card_id)
        current.path.write_text(current.path.read_text(encoding="utf-8").replace(
            "## Question\n", "## Question\n\nCHANGED ON DISK.\n", 1), encoding="utf-8")
        await pilot.pause(1.5)  # the content folder is polled once a second
        assert "CHANGED ON DISK." in screen.query_one("#question").markdown
        assert screen.card_id == current.id and len(app.session.changes) == 1


@sync
async def test_undo_is_refused_when_another_process_reviewed_the_card(deck, db, clock):
    recorder = Recorder()
    app = StudyApp(deck, db, clock=clock)
    async with app.run_test(message_hook=recorder) as pilot:
        collection = await opened(app, pilot)
        await pilot.press("s", "enter", "1")
        rated = app.session.changes[-1].card_id
        rate_in_another_studyapp(deck, db, rated, clock.now + timedelta(minutes=5))
        await pilot.press("ctrl+z")
        assert "Undo refused" in recorder.texts()
        assert len(collection.store.reviews(rated)) == 2


@sync
async def test_a_rating_that_cannot_be_saved_is_said_and_the_card_stays(deck, db, clock):
    """Another studyapp, its clock ahead, reviewed this card: ours cannot log an earlier one."""
    recorder = Recorder()
    app = StudyApp(deck, db, clock=clock)
    async with app.run_test(message_hook=recorder) as pilot:
        collection = await opened(app, pilot)
        await pilot.press("s", "enter")
        screen = review_screen(app)
        shown = screen.card_id
        rate_in_another_studyapp(deck, db, shown, clock.now + timedelta(hours=1))
        await pilot.press("3")
        assert "Rating not saved" in recorder.texts()
        assert "clock moved back" in recorder.texts()
        assert screen.card_id == shown and screen.revealed and app.session.changes == []
        assert len(collection.store.reviews(shown)) == 1
        clock.now += timedelta(hours=2)
        await pilot.press("3")
        assert len(collection.store.reviews(shown)) == 2 and screen.card_id != shown


@sync
async def test_a_second_instance_is_told_and_still_works(deck, db, clock):
    held = InstanceLock(db)  # another studyapp (flock is per open file, so this counts)
    assert held.acquired
    recorder = Recorder()
    try:
        app = StudyApp(deck, db, clock=clock)
        async with app.run_test(message_hook=recorder) as pilot:
            collection = await opened(app, pilot)
            assert "Already open" in recorder.texts()
            await pilot.press("s", "enter", "3")
            assert len(collection.store.reviews()) == 1
    finally:
        held.release()
    assert InstanceLock(db).acquired


@sync
async def test_the_footer_shows_only_the_keys_that_apply(deck, db, clock):
    app = StudyApp(deck, db, clock=clock)
    async with app.run_test() as pilot:
        await opened(app, pilot)

        def active() -> set[str]:
            return {binding.action for _key, binding in
                    ((k, b.binding) for k, b in app.active_bindings.items() if b.enabled)}

        await pilot.press("s")
        assert "reveal" in active() and "rate(3)" not in active() and "undo" not in active()
        assert "bury" not in active(), "while typing, '-' goes into the answer"
        await pilot.press("escape")
        assert {"bury", "suspend", "edit"} <= active()
        await pilot.press("space")
        assert "rate(3)" in active() and "reveal" not in active() and "bury" in active()
        await pilot.press("3")
        assert "undo" in active()


@sync
async def test_help_lists_every_binding_and_stats_open(deck, db, clock):
    app = StudyApp(deck, db, clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(app, pilot)
        await pilot.press("question_mark")
        assert isinstance(app.screen, HelpScreen)
        rows = app.screen.query_one("#help-keys", DataTable).row_count
        everything = [b for owner in (StudyApp, DeckScreen, ReviewScreen, AnswerInput,
                                      StatsScreen, HelpScreen) for b in bindings_of(owner)]
        assert rows >= len(everything)
        assert all(b.description for b in everything), "every binding needs a description"
        await pilot.press("escape", "t")
        assert isinstance(app.screen, StatsScreen)
        await pilot.press("escape")
        assert isinstance(app.screen, DeckScreen)


@sync
async def test_the_garbage_collector_is_back_on_once_the_deck_is_drawn_and_after_exit(deck, db,
                                                                                     clock):
    assert gc.isenabled()
    app = StudyApp(deck, db, clock=clock)
    async with app.run_test() as pilot:
        await opened(app, pilot)
        assert app.screen.query_one("#cards", DataTable).row_count
        assert gc.isenabled() and gc.get_freeze_count() > 0
    assert gc.isenabled() and gc.get_freeze_count() == 0


@sync
async def test_the_app_shows_why_the_database_cannot_be_opened(deck, tmp_path, clock):
    bad = tmp_path / "not-a-db.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    app = StudyApp(deck, bad, clock=clock)
    async with app.run_test() as pilot:
        for _ in range(200):
            if app.error:
                break
            await pilot.pause(0.05)
        await pilot.pause()
        banner = app.screen.query_one("#problems", Static)
        assert banner.display and "not a usable studyapp database" in str(banner.render())
    assert bad.read_bytes() == b"this is not sqlite" * 100


@contextmanager
def writes_fail(collection: Collection) -> Iterator[None]:
    """Every write through ``collection`` fails as on a read-only database file, even as root
    (where file modes stop no write): SQLite's ``query_only`` on the app's own connection
    refuses each write with "attempt to write a readonly database"; reads still work."""
    collection.store.db.execute("PRAGMA query_only = ON")
    try:
        yield
    finally:
        collection.store.db.execute("PRAGMA query_only = OFF")


@sync
async def test_a_database_that_cannot_be_written_is_said_and_the_review_goes_on(deck, db, clock):
    recorder = Recorder()
    app = StudyApp(deck, db, clock=clock)
    async with app.run_test(size=(80, 24), message_hook=recorder) as pilot:
        collection = await opened(app, pilot)
        await pilot.press("s", "enter", "3")
        screen = review_screen(app)
        rated = app.session.changes[-1].card_id
        shown = screen.card_id
        with writes_fail(collection):
            await pilot.press("ctrl+z")
            assert screen.card_id == shown and len(app.session.changes) == 1
            await pilot.press("enter", "3")
            assert screen.card_id == shown and screen.revealed, "the card stays to be rated"
            await pilot.press("minus")
            await pilot.press("at")
            assert screen.card_id == shown
        titles = [n.title for n in recorder.notifications if n.severity == "error"]
        assert titles == ["Undo refused", "Rating not saved", "Not buried", "Not suspended"]
        assert all("cannot write the database" in n.message for n in recorder.notifications
                   if n.severity == "error")
        assert [r.card_id for r in collection.store.reviews()] == [rated]
        row = next(r for r in collection.overview() if r.card.id == shown)
        assert not row.buried and not row.suspended

        await pilot.press("3")  # writable again: nothing was lost, the session goes on
        assert len(collection.store.reviews()) == 2 and screen.card_id != shown


@sync
async def test_suspending_on_a_database_that_cannot_be_written_is_said(deck, db, clock):
    recorder = Recorder()
    app = StudyApp(deck, db, clock=clock)
    async with app.run_test(message_hook=recorder) as pilot:
        collection = await opened(app, pilot)
        table = app.screen.query_one("#cards", DataTable)
        first = collection.deck.ids[0]
        with writes_fail(collection):
            await pilot.press("at")
        assert "Not saved: " in recorder.texts()
        assert "cannot write the database" in recorder.texts()
        assert isinstance(app.screen, DeckScreen) and table.get_row(first)[5] == ""
        await pilot.press("at")
        assert table.get_row(first)[5] == "susp"


@sync
async def test_help_lists_enter_to_reveal_says_when_escape_applies_and_scrolls(deck, db, clock):
    app = StudyApp(deck, db, clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        await opened(app, pilot)
        await pilot.press("f1")
        table = app.screen.query_one("#help-keys", DataTable)
        rows = [tuple(str(cell) for cell in table.get_row_at(i)) for i in range(table.row_count)]
        assert ("Review", "⏎", "Show answer") in rows
        escapes = [does for where, key, does in rows if (where, key) == ("Experiment", "esc")]
        assert len(escapes) == len(set(escapes)) == 2 and all("(wh" in d for d in escapes)

        assert table.max_scroll_y > 0
        await pilot.press("end")
        assert table.scroll_y == table.max_scroll_y
        await pilot.press("home")
        assert table.scroll_y == 0
        await pilot.press("pagedown")
        assert 0 < table.scroll_y
        await pilot.press("pageup")
        assert table.scroll_y == 0


@sync
async def test_enter_reveals_after_leaving_the_answer_box_and_never_rates(deck, db, clock):
    app = StudyApp(deck, db, clock=clock)
    async with app.run_test() as pilot:
        collection = await opened(app, pilot)
        await pilot.press("s", "escape", "enter")
        screen = review_screen(app)
        assert screen.revealed
        await pilot.press("enter")
        assert screen.revealed and collection.store.reviews() == []


@sync
async def test_stats_at_80x24_show_every_card_column_and_whole_review_counts(deck, db, clock):
    app = StudyApp(deck, db, clock=clock)
    async with app.run_test(size=(80, 24)) as pilot:
        collection = await opened(app, pilot)
        collection.rate(collection.deck.ids[0], Rating.Good)
        await pilot.press("t")
        screen = app.screen
        assert "1 review," in str(screen.query_one("#summary", Static).render())
        chart = Text.from_ansi(screen.query_one("#reviews-plot").plt.build()).plain
        labels = [line.split("┤")[0].strip() for line in chart.splitlines() if "┤" in line]
        assert labels == ["1", "0"], "a count axis has whole numbers"

        screen.query_one("#stats-tabs").active = "tab-cards"
        await pilot.pause()
        table = screen.query_one("#card-stats", DataTable)
        assert [str(c.label) for c in table.columns.values()] == [
            "Card", "State", "Stability", "Difficulty", "Recall"]
        assert table.virtual_size.width <= table.scrollable_content_region.width
        assert table.max_scroll_x == 0, "no column is cut off or hidden"


@sync
async def test_review_notifications_leave_the_answer_box_and_ratings_in_view(deck, db, clock):
    app = StudyApp(deck, db, clock=clock)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        collection = await opened(app, pilot)
        await pilot.press("s", "enter", "3", "ctrl+z")
        await pilot.pause()
        screen = review_screen(app)
        toasts = list(screen.query(Toast))
        assert toasts and "Undid Good" in str(toasts[-1].render())
        assert not toasts[-1].region.overlaps(screen.query_one("#answer-input").region)
        await pilot.press("enter")
        with writes_fail(collection):
            await pilot.press("3")
        await pilot.pause()
        ratings = screen.query_one("#ratings").region
        assert ratings.height and not any(t.region.overlaps(ratings) for t in screen.query(Toast))


def rating_labels(screen: ReviewScreen) -> list[str]:
    return [str(button.label) for button in screen.query("#ratings Button")]


def state_of(collection: Collection, card_id: str) -> str:
    return next(r for r in collection.overview() if r.card.id == card_id).state


@sync
async def test_undo_in_a_practice_round_reverts_this_session_only_and_as_it_was(deck, db,
                                                                                 clock):
    """The newcomer's steps: an Easy rating, back to the deck, a practice round, undo twice."""
    ids = load_deck(deck).ids
    rate_in_another_studyapp(deck, db, ids[0], clock.now - timedelta(days=1))  # before the app
    app = StudyApp(deck, db, clock=clock)
    recorder = Recorder()
    async with app.run_test(message_hook=recorder) as pilot:
        collection = await opened(app, pilot)
        await pilot.press("s")
        screen = review_screen(app)
        for _ in ids:  # everything Easy, so nothing is due
            await pilot.press("enter", "4")
        easy = app.session.changes[-1].review
        assert screen.card_id is None
        await pilot.press("escape", "s")
        screen = review_screen(app)
        await pilot.press("p")
        practised = screen.card_id
        await pilot.press("enter", "1", "ctrl+z")
        assert [r.kind for r in collection.store.reviews(practised)][-1] == "review", \
            "undoing a practice rating removes just that practice row"
        assert screen.card_id == practised and screen.practising

        await pilot.press("ctrl+z")
        assert "Undid Easy" in recorder.texts()
        assert screen.card_id == easy.card_id and not screen.practising
        assert "practice" not in str(screen.query_one("#heading", Static).render())
        await pilot.press("enter")
        assert all(label.split()[-1][0].isdigit() for label in rating_labels(screen)), \
            "a real review shows its intervals"
        await pilot.press("3")
        assert [r.kind for r in collection.store.reviews(easy.card_id)][-1] == "review"
        assert state_of(collection, easy.card_id) != "New"

        while app.session.changes:  # undo everything this app did, and no further
            app.session.undo()
        await pilot.press("ctrl+z")
        assert [r.kind for r in collection.store.reviews()] == ["review"]
        assert collection.store.reviews()[0].card_id == ids[0]
        assert state_of(collection, ids[0]) != "New"


@sync
async def test_undo_walks_back_ratings_suspends_and_buries_newest_first(deck, db, clock):
    app = StudyApp(deck, db, clock=clock)
    recorder = Recorder()
    async with app.run_test(message_hook=recorder) as pilot:
        collection = await opened(app, pilot)
        first, second, third, fourth = collection.queue()[:4]
        await pilot.press("s", "enter", "1")  # Again
        screen = review_screen(app)
        await pilot.press("escape", "at")  # suspend the second card
        await pilot.press("enter", "2")  # Hard on the third
        assert screen.card_id == fourth
        await pilot.press("escape", "minus")  # bury the fourth

        rows = {row.card.id: row for row in collection.overview()}
        assert rows[second].suspended and rows[fourth].buried
        await pilot.press("ctrl+z")
        assert screen.card_id == fourth and not screen.revealed
        assert not next(r for r in collection.overview() if r.card.id == fourth).buried
        await pilot.press("ctrl+z")
        assert screen.card_id == third and collection.store.reviews(third) == []
        await pilot.press("ctrl+z")
        assert screen.card_id == second
        assert not next(r for r in collection.overview() if r.card.id == second).suspended
        await pilot.press("ctrl+z")
        assert screen.card_id == first and collection.store.reviews() == []
        assert [n.message for n in recorder.notifications if n.message.startswith("Undid")] == [
            "Undid bury", "Undid Hard", "Undid suspend", "Undid Again"]
        assert not screen.check_action("undo", ())
        assert screen.queue[:3] == [second, third, fourth], "each card comes back in turn"


@sync
async def test_a_card_deleted_mid_review_is_a_notification_that_says_so(deck, db, clock):
    recorder = Recorder()
    app = StudyApp(deck, db, clock=clock)
    async with app.run_test(message_hook=recorder) as pilot:
        collection = await opened(app, pilot)
        await pilot.press("s")
        screen = review_screen(app)
        shown = collection.deck.get(screen.card_id)
        shown.path.unlink()
        await pilot.pause(1.5)  # the content folder is polled once a second
        assert screen.card_id != shown.id
        assert f"The card {shown.id!r} was skipped: its file was deleted or moved." \
            in recorder.texts()
        assert "deck screen" not in recorder.texts()

        broken = collection.deck.get(screen.card_id)
        broken.path.write_text("---\nid: [oops\n---\n", encoding="utf-8")
        await pilot.pause(1.5)
        assert f"{broken.id!r} was skipped: its file can no longer be read: {broken.path.name}:2" \
            in recorder.texts()
        renamed = collection.deck.get(screen.card_id)
        renamed.path.write_text(renamed.path.read_text(encoding="utf-8").replace(
            f"id: {renamed.id}", "id: a-new-id", 1), encoding="utf-8")
        await pilot.pause(1.5)
        assert f"{renamed.id!r} was skipped: its file {renamed.path.name} has another id now" \
            in recorder.texts()
        await pilot.press("enter", "3")
        assert not [w for w in screen.query(".banner") if w.display], "nothing stays on screen"


@sync
async def test_a_learning_card_due_within_the_learn_ahead_limit_starts_a_session(deck, db, clock):
    kept = make_nothing_due(deck, db, clock)
    other = Collection.open(deck, db, clock=clock)
    try:
        other.reset(kept)
        other.rate(kept, Rating.Again, at=clock.now + timedelta(seconds=1))
        other.rate(kept, Rating.Good, at=clock.now + timedelta(minutes=1))  # due in 10 minutes
    finally:
        other.close()
    clock.now += timedelta(minutes=2)
    app = StudyApp(deck, db, clock=clock)
    async with app.run_test() as pilot:
        await opened(app, pilot)
        await pilot.press("s")
        assert review_screen(app).card_id == kept, "as mid-session: shown early, not 'in 9m'"


@sync
async def test_intervals_come_from_the_state_stored_when_the_answer_is_revealed(deck, db, clock):
    app = StudyApp(deck, db, clock=clock)
    async with app.run_test() as pilot:
        await opened(app, pilot)
        await pilot.press("s")
        screen = review_screen(app)
        shown = screen.card_id
        as_new = screen.intervals(shown)
        rate_in_another_studyapp(deck, db, shown, clock.now)
        clock.now += timedelta(minutes=1)
        await pilot.press("enter")
        fresh = screen.intervals(shown)
        assert fresh != as_new
        assert rating_labels(screen) == [f"{value} {label} {fresh[value]}" for value, label in
                                         ((1, "Again"), (2, "Hard"), (3, "Good"), (4, "Easy"))]
