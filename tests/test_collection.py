"""Tests for studyapp.collection: a copy of the real deck and a real database in tmp_path."""

from __future__ import annotations

import shutil
import time
from datetime import UTC, date, datetime, timedelta

import pytest

from studyapp.cards import EmptyDeckError
from studyapp.collection import LEARN_AHEAD_LIMIT, Collection, Session, UndoRefused
from studyapp.scheduler import Rating, Settings, State
from support import CONTENT

# Berlin in January is UTC+1 with no DST change nearby; the study day starts at 04:00 local.
NOW = datetime(2026, 1, 12, 9, 0, tzinfo=UTC)
TODAY = date(2026, 1, 12)


@pytest.fixture(autouse=True)
def berlin(monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.fixture
def deck_dir(tmp_path):
    return shutil.copytree(CONTENT, tmp_path / "content")


def open_collection(deck_dir, **settings) -> Collection:
    opened = Collection.open(deck_dir, deck_dir.parent / "study.db", clock=lambda: NOW,
                             settings=Settings(enable_fuzzing=False, **settings))
    return opened


@pytest.fixture
def collection(deck_dir):
    opened = open_collection(deck_dir, new_cards_per_day=3)
    yield opened
    opened.close()


def at_day(day_offset: int, hour_utc: float = 9) -> datetime:
    """A moment ``day_offset`` days after NOW's date, at ``hour_utc`` (well after 03:00 UTC)."""
    return datetime(2026, 1, 12, tzinfo=UTC) + timedelta(days=day_offset, hours=hour_utc)


def test_new_cards_come_in_deck_order_within_the_daily_limit(collection):
    ids = collection.deck.ids
    assert collection.counts(NOW).new == 3
    assert collection.queue(NOW) == ids[:3]

    for offset, card_id in enumerate(ids[:3]):
        collection.rate(card_id, Rating.Good, at=NOW + timedelta(seconds=offset))
    later = NOW + timedelta(minutes=1)
    counts = collection.counts(later)
    assert (counts.new, counts.learning, counts.review) == (0, 3, 0)
    assert collection.queue(later) == ids[:3], \
        "no new cards left: learning cards due within the learn-ahead limit, in due order"
    # Still today at 03:59 local the next morning; the next study day brings 3 more.
    assert collection.counts(at_day(1, hour_utc=2.9)).new == 0
    tomorrow = at_day(1)
    assert collection.queue(tomorrow) == ids[:3] + ids[3:6], "due learning cards come first"


def test_the_daily_limit_counts_new_cards_introduced_today_only(collection):
    ids = collection.deck.ids
    collection.rate(ids[0], Rating.Good, at=NOW)
    collection.rate(ids[0], Rating.Good, at=NOW + timedelta(minutes=10))
    assert collection.counts(NOW + timedelta(minutes=11)).new == 2
    collection.undo(ids[0])
    collection.undo(ids[0])
    assert collection.counts(NOW + timedelta(minutes=11)).new == 3


def test_due_learning_cards_come_before_review_cards_before_new_ones(collection):
    ids = collection.deck.ids
    collection.rate(ids[5], Rating.Easy, at=at_day(-10))  # Review state, due in days
    collection.rate(ids[4], Rating.Again, at=NOW)  # Learning, due in a minute
    review_due = collection.store.card_state(ids[5]).fsrs_card.due
    moment = max(review_due, NOW + timedelta(minutes=2))
    assert moment.date() == TODAY or moment < at_day(1, 3)
    queue = collection.queue(moment)
    assert queue[:2] == [ids[4], ids[5]]
    assert queue[2:] == ids[:2], "one new card was used today; deck order after the others"


def test_suspend_unsuspend_bury_and_reset(collection):
    ids = collection.deck.ids
    collection.suspend(ids[0])
    assert ids[0] not in collection.queue(NOW)
    assert collection.overview(NOW)[0].suspended
    collection.unsuspend(ids[0])
    assert collection.queue(NOW)[0] == ids[0]

    until = collection.bury(ids[0], NOW)
    assert until == datetime(2026, 1, 13, 3, 0, tzinfo=UTC), "04:00 in Berlin the next day"
    assert ids[0] not in collection.queue(NOW)
    assert ids[0] not in collection.queue(until - timedelta(seconds=1))
    assert collection.overview(NOW)[0].buried
    assert collection.queue(until)[0] == ids[0]

    collection.rate(ids[1], Rating.Good, at=NOW)
    collection.reset(ids[1], NOW + timedelta(minutes=1))
    row = collection.overview(NOW + timedelta(minutes=2))[1]
    assert (row.state, row.due, row.stability) == ("New", None, None)
    assert [r.kind for r in collection.store.reviews(ids[1])] == ["review", "manual"]


@pytest.mark.parametrize("action", ["suspend", "unsuspend", "bury", "reset"])
def test_actions_on_a_card_not_in_the_deck_fail_and_store_nothing(collection, action):
    with pytest.raises(KeyError, match="no card with id 'no-such-card'"):
        getattr(collection, action)("no-such-card")
    assert collection.store.known_card_ids() == []
    assert collection.store.reviews() == []


def test_undo_names_an_unknown_card_and_still_reverts_an_orphan(collection):
    deck_dir = collection.deck.directory
    with pytest.raises(KeyError, match=f"no card with id 'no-such-card' in {deck_dir}"):
        collection.undo("no-such-card")
    card_id = collection.deck.ids[0]
    with pytest.raises(LookupError, match=f"nothing to undo: card '{card_id}' has no reviews"):
        collection.undo(card_id)
    collection.store.reset("renamed-away", NOW)  # history of a card no longer in the deck
    assert collection.undo("renamed-away").kind == "manual"


def test_opening_a_folder_without_cards_names_it(tmp_path):
    empty = tmp_path / "not-my-deck"
    empty.mkdir()
    with pytest.raises(EmptyDeckError, match=f"card folder {empty} has no card files"):
        Collection.open(empty, tmp_path / "study.db", settings=Settings())
    assert not (tmp_path / "study.db").exists(), "nothing is created for the wrong folder"


def test_practice_leaves_the_schedule_alone_and_is_logged(collection):
    card_id = collection.deck.ids[2]
    collection.rate(card_id, Rating.Good, at=NOW)
    before = collection.overview(NOW)[2]
    review = collection.rate(card_id, Rating.Again, at=NOW + timedelta(minutes=1), practice=True)
    assert review.kind == "practice"
    assert collection.overview(NOW)[2] == before


def test_a_review_dated_before_the_last_one_is_refused(collection):
    card_id = collection.deck.ids[0]
    collection.rate(card_id, Rating.Good, at=NOW)
    with pytest.raises(ValueError, match="clock moved back"):
        collection.rate(card_id, Rating.Good, at=NOW - timedelta(minutes=5))


def test_editing_a_reviewed_card_keeps_its_history_and_marks_it_changed(collection, deck_dir):
    card = collection.deck.cards[0]
    collection.rate(card.id, Rating.Good, at=NOW)
    assert not collection.overview(NOW)[0].changed

    card.path.write_text(card.path.read_text() + "\nOne more sentence in the answer.\n")
    collection.reload_deck()
    row = collection.overview(NOW)[0]
    assert row.changed and row.state == State.Learning.name
    assert len(collection.store.reviews(card.id)) == 1

    collection.rate(card.id, Rating.Good, at=NOW + timedelta(minutes=10))
    assert not collection.overview(NOW + timedelta(minutes=10))[0].changed


def test_orphans_are_listed_not_deleted(collection):
    card = collection.deck.cards[8]
    collection.rate(card.id, Rating.Good, at=NOW)
    card.path.unlink()
    collection.reload_deck()
    assert collection.orphans() == [card.id]
    assert len(collection.store.reviews(card.id)) == 1


def test_stats_reviews_per_day_true_retention_and_due_per_day(deck_dir):
    collection = open_collection(deck_dir, new_cards_per_day=20)
    ids = collection.deck.ids[:4]
    plan = {  # day offset -> ratings of the four cards that day
        -6: [Rating.Good, Rating.Good, Rating.Easy, Rating.Hard],
        -5: [Rating.Good, Rating.Again, Rating.Good, Rating.Good],
        -2: [Rating.Again, Rating.Good, Rating.Good, Rating.Hard],
        0: [Rating.Good, Rating.Good, Rating.Again, Rating.Easy],
    }
    for offset, ratings in plan.items():
        for minute, (card_id, rating) in enumerate(zip(ids, ratings, strict=True)):
            collection.rate(card_id, rating, at=at_day(offset) + timedelta(minutes=minute))
    collection.rate(ids[0], Rating.Again, at=NOW + timedelta(hours=1), practice=True)

    stats = collection.stats(NOW + timedelta(hours=2), days=7)

    assert stats.reviews_per_day == [(TODAY - timedelta(6 - i), n)
                                     for i, n in enumerate([4, 4, 0, 0, 4, 0, 4])]
    # True retention from the log: scheduled reviews of cards that were in Review before it.
    states: dict[str, int | None] = {}
    passed = total = 0
    for review in collection.store.reviews():
        if review.kind == "review":
            if states.get(review.card_id) == State.Review:
                total += 1
                passed += review.rating != Rating.Again
            states[review.card_id] = review.state
    assert total >= 4 and 0 < passed < total
    assert stats.true_retention == pytest.approx(passed / total)

    rows = collection.overview(NOW + timedelta(hours=2))
    due_days = [max(collection.scheduler.study_day(r.due), TODAY) for r in rows if r.due]
    assert stats.due_per_day == [(TODAY + timedelta(i), due_days.count(TODAY + timedelta(i)))
                                 for i in range(7)]
    assert stats.counts_by_state["New"] == 5
    assert sum(stats.counts_by_state.values()) == 9
    collection.close()


def test_review_cards_are_due_all_their_study_day_within_the_review_limit(deck_dir):
    collection = open_collection(deck_dir, maximum_reviews_per_day=1, new_cards_per_day=0)
    first, second = collection.deck.ids[:2]
    for card_id in (first, second):  # Good twice: out of the learning steps, into Review
        collection.rate(card_id, Rating.Good, at=NOW)
        collection.rate(card_id, Rating.Good, at=NOW + timedelta(minutes=10))
    due = collection.store.card_state(first).fsrs_card.due
    assert collection.store.card_state(first).fsrs_card.state == State.Review
    early_that_day = collection.scheduler.day_start(collection.scheduler.study_day(due)) \
        + timedelta(minutes=5)
    assert early_that_day < due, "the exact due time is later that day"
    assert collection.queue(early_that_day) == [first], "one review left within the limit of 1"
    assert collection.counts(early_that_day).review == 1
    collection.rate(first, Rating.Good, at=early_that_day)
    assert collection.counts(early_that_day).review == 0
    assert second not in collection.queue(early_that_day)
    collection.close()


def test_learning_cards_within_the_learn_ahead_limit_come_when_nothing_else_is_left(deck_dir):
    collection = open_collection(deck_dir, new_cards_per_day=2, learning_steps=(1.0, 60.0))
    first, second = collection.deck.ids[:2]
    collection.rate(first, Rating.Good, at=NOW)  # the 60-minute step
    due = collection.store.card_state(first).fsrs_card.due
    assert due == NOW + timedelta(minutes=60)
    assert collection.queue(due - LEARN_AHEAD_LIMIT) == [second], "a new card comes first"
    collection.rate(second, Rating.Good, at=NOW + timedelta(minutes=1))
    assert collection.queue(due - LEARN_AHEAD_LIMIT - timedelta(seconds=1)) == []
    assert collection.next_due(NOW + timedelta(minutes=2)) == due
    assert collection.queue(due - LEARN_AHEAD_LIMIT) == [first], "nothing else left: early"
    collection.close()


def test_a_session_undoes_its_own_changes_newest_first_and_nothing_older(collection):
    ids = collection.deck.ids
    collection.rate(ids[0], Rating.Good, at=NOW - timedelta(hours=1))  # before the session
    earlier_bury = NOW + timedelta(hours=2)
    collection.store.bury(ids[2], earlier_bury)
    session = Session(collection)
    again = session.rate(ids[0], Rating.Again)
    session.suspend(ids[1])
    session.bury(ids[2], practice=True)
    practice = session.rate(ids[3], Rating.Hard, practice=True)

    assert session.undo().review == practice
    assert collection.store.reviews(ids[3]) == []
    bury = session.undo()
    assert (bury.action, bury.card_id, bury.practice) == ("bury", ids[2], True)
    assert collection.store.card_state(ids[2]).buried_until == earlier_bury, "the bury before"
    assert session.undo().action == "suspend"
    assert not collection.store.card_state(ids[1]).suspended
    assert session.undo().review == again
    assert [r.kind for r in collection.store.reviews(ids[0])] == ["review"]
    with pytest.raises(LookupError, match="has not rated, buried or suspended a card yet"):
        session.undo()
    assert len(collection.store.reviews(ids[0])) == 1, "the review before the session stays"


def test_a_session_keeps_a_change_whose_undo_is_refused(collection):
    card_id = collection.deck.ids[0]
    session = Session(collection)
    session.rate(card_id, Rating.Good)
    collection.rate(card_id, Rating.Good, at=NOW + timedelta(minutes=10))  # another process
    with pytest.raises(UndoRefused):
        session.undo()
    assert len(session.changes) == 1 and len(collection.store.reviews(card_id)) == 2
