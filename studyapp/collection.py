"""The collection: the deck on disk, the review state in SQLite and the FSRS scheduler together.

This is what the command line and the TUI use; neither touches the store's SQL directly. Every
method takes an optional ``now`` (aware UTC); by default it comes from the injected clock.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Literal

import fsrs

from studyapp import locations
from studyapp.cards import Card, Deck, ParseCache, load_deck
from studyapp.scheduler import Rating, Scheduler, Settings, State, load_settings
from studyapp.store import CardState, Review, Store, StoreError, UndoRefused

__all__ = ["LEARN_AHEAD_LIMIT", "CardRow", "Change", "Collection", "Counts", "Session", "Stats",
           "StoreError", "Today", "UndoRefused"]

NEW = "New"

LEARN_AHEAD_LIMIT = timedelta(minutes=20)
"""How early a learning or relearning card is shown when nothing else is left to study: Anki's
"learn ahead limit" (Preferences > Review, 20 minutes by default). A session then shows the
card whose next step is a few minutes away rather than stopping with "nothing is due"."""


def utc_now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True)
class CardRow:
    """One card with its scheduling state, as the deck overview shows it.

    ``state`` is ``"New"`` or an FSRS state name (Learning, Review, Relearning); ``due`` is UTC;
    ``stability`` in days; ``difficulty`` in [1, 10]; ``retrievability`` in [0, 1] at the time
    the row was made. ``changed`` is true when the card's text changed since its last review.
    """

    card: Card
    state: str
    due: datetime | None
    stability: float | None
    difficulty: float | None
    retrievability: float | None
    last_rating: Rating | None
    changed: bool
    suspended: bool
    buried: bool

    @property
    def has_experiment(self) -> bool:
        return self.card.experiment is not None


@dataclass(frozen=True)
class Counts:
    """Cards to study today, within the daily limits, as Anki's deck list shows them."""

    new: int
    learning: int
    review: int


@dataclass(frozen=True)
class Today:
    """The deck at one moment: see :meth:`Collection.today`."""

    rows: list[CardRow]
    counts: Counts
    queue: list[str]
    next_due: datetime | None


@dataclass(frozen=True)
class Stats:
    """Statistics over study days (see :meth:`Scheduler.study_day`).

    ``true_retention`` is the share of reviews of cards in the Review state that were not rated
    Again, over the period (``None`` when there were none), as Anki's "true retention".
    """

    counts_by_state: dict[str, int]
    reviews_per_day: list[tuple[date, int]]
    true_retention: float | None
    retention_per_day: list[tuple[date, float]]
    due_per_day: list[tuple[date, int]]
    per_card: list[CardRow]


class Collection:
    """A deck and its review database. Use :meth:`open`."""

    def __init__(self, deck: Deck, store: Store, scheduler: Scheduler,
                 clock: Callable[[], datetime], cache: ParseCache | None = None) -> None:
        self.deck = deck
        self.store = store
        self.scheduler = scheduler
        self._clock = clock
        self._cache = cache

    @classmethod
    def open(cls, content_dir: Path, db_path: Path, *, clock: Callable[[], datetime] | None = None,
             settings: Settings | None = None) -> Collection:
        """Load the deck in ``content_dir`` and open (migrating) the database at ``db_path``.

        Settings default to the user's config file. Makes the daily backup when it is due, and
        marks runs left ``running`` by a dead app ``interrupted``. Raises ``FileNotFoundError``
        for a missing deck folder, :class:`~studyapp.cards.EmptyDeckError` (a ``ValueError``) for
        a folder without card files, :class:`StoreError` for database problems and
        ``ValueError`` for bad settings; every message names the folder or file.
        """
        if settings is None:
            settings, _sources = load_settings(locations.config_path())
        cache = ParseCache(locations.deck_cache_path(content_dir))
        deck = load_deck(content_dir, locations.experiments_dir(), cache, require_cards=True)
        store = Store(db_path)
        store.daily_backup()
        store.mark_interrupted_runs()
        return cls(deck, store, Scheduler(settings), clock or utc_now, cache)

    def close(self) -> None:
        """Close the database."""
        self.store.close()

    @property
    def database_path(self) -> Path:
        """The review database file (its backups, run logs and experiment outputs sit beside
        it: :mod:`studyapp.locations`)."""
        return self.store.path

    def now(self) -> datetime:
        """The injected clock's time (aware UTC)."""
        return self._clock().astimezone(UTC)

    def reload_deck(self) -> Deck:
        """Read the content folder again (after an edit); returns the new deck."""
        self.deck = load_deck(self.deck.directory, locations.experiments_dir(), self._cache)
        return self.deck

    def card(self, card_id: str) -> Card:
        """The card with this id; ``KeyError`` with a clear message when the deck has none."""
        card = self.deck.get(card_id)
        if card is None:
            raise KeyError(f"no card with id {card_id!r} in {self.deck.directory}")
        return card

    # -- the overview and the queue -------------------------------------------------------------

    def _row(self, card: Card, state: CardState | None, now: datetime) -> CardRow:
        fsrs_card = state.fsrs_card if state else None
        return CardRow(
            card=card,
            state=NEW if fsrs_card is None else fsrs_card.state.name,
            due=None if fsrs_card is None else fsrs_card.due,
            stability=None if fsrs_card is None else fsrs_card.stability,
            difficulty=None if fsrs_card is None else fsrs_card.difficulty,
            retrievability=self.scheduler.retrievability(fsrs_card, now),
            last_rating=None if state is None or state.last_rating is None
            else Rating(state.last_rating),
            changed=bool(state and state.last_content_hash
                         and state.last_content_hash != card.content_hash),
            suspended=bool(state and state.suspended),
            buried=bool(state and state.buried_until and state.buried_until > now),
        )

    def overview(self, now: datetime | None = None) -> list[CardRow]:
        """Every card in deck order with its state."""
        now = now or self.now()
        states = self.store.card_states()
        return [self._row(card, states.get(card.id), now) for card in self.deck.cards]

    def _studied_today(self, now: datetime) -> tuple[int, int]:
        """(new cards introduced, Review-state cards reviewed) so far in ``now``'s study day."""
        start = self.scheduler.day_start(self.scheduler.study_day(now))
        before = self.store.previous_states(since=start)
        introduced = {r.card_id for r in self.store.reviews(since=start)
                      if r.kind == "review" and before[r.id] is None}
        return len(introduced), sum(state == State.Review for state in before.values())

    def today(self, now: datetime | None = None) -> Today:
        """Every card's row, today's counts, the study queue and the next due time, from one
        read of the database.

        The queue holds learning and relearning cards that are due, then review cards due today,
        then new cards in deck order, within the daily limits; suspended and buried cards are
        left out. As in Anki, a review card is due for its whole study day (its interval is in
        days), while learning steps are minutes apart: learning cards due later today count in
        ``counts.learning`` but join the queue only at their due time, or up to
        :data:`LEARN_AHEAD_LIMIT` earlier when nothing else is left (Anki's learn-ahead limit).
        """
        now = now or self.now()
        rows = self.overview(now)
        end_of_day = self.scheduler.next_day_start(now)
        learning, review, new = [], [], []
        for row in rows:
            if row.suspended or row.buried:
                continue
            if row.state == NEW:
                new.append(row)
            elif row.state == State.Review.name:
                if row.due < end_of_day:
                    review.append(row)
            elif row.due < end_of_day:
                learning.append(row)
        learning.sort(key=lambda r: r.due)
        review.sort(key=lambda r: r.due)
        new_done, reviews_done = self._studied_today(now)
        limits = self.scheduler.settings
        review = review[:max(0, limits.maximum_reviews_per_day - reviews_done)]
        held_back = len(new) > max(0, limits.new_cards_per_day - new_done)
        new = new[:max(0, limits.new_cards_per_day - new_done)]
        upcoming = [r.due for r in rows
                    if not r.suspended and not r.buried and r.due is not None and r.due > now]
        if held_back or any(r.buried and not r.suspended for r in rows):
            upcoming.append(end_of_day)
        queue = [r.card.id for r in learning if r.due <= now] + [r.card.id for r in review + new]
        if not queue:
            queue = [r.card.id for r in learning if r.due <= now + LEARN_AHEAD_LIMIT]
        return Today(
            rows=rows,
            counts=Counts(new=len(new), learning=len(learning), review=len(review)),
            queue=queue,
            next_due=min(upcoming, default=None),
        )

    def counts(self, now: datetime | None = None) -> Counts:
        """How many new, learning and review cards are left today, within the daily limits."""
        return self.today(now).counts

    def queue(self, now: datetime | None = None) -> list[str]:
        """Ids of the cards to study now, in order (see :meth:`today`)."""
        return self.today(now).queue

    def next_due(self, now: datetime | None = None) -> datetime | None:
        """When the next card that is not suspended becomes due (UTC), or ``None``. Buried cards
        and new cards held back by the daily limit count as due when the next study day starts.
        """
        return self.today(now).next_due

    # -- reviewing ------------------------------------------------------------------------------

    def preview(self, card_id: str, now: datetime | None = None) -> dict[Rating, timedelta]:
        """The interval each rating would give the card now (fuzzing off)."""
        now = now or self.now()
        state = self.store.card_state(card_id)
        current = state.fsrs_card if state else None
        return self.scheduler.preview(current or self.scheduler.new_card(0, now), now)

    def rate(self, card_id: str, rating: Rating, *, at: datetime | None = None,
             duration_ms: int | None = None, practice: bool = False) -> Review:
        """Rate a card and commit the review before returning it.

        ``practice=True`` logs the rating with kind ``practice`` and leaves the schedule alone.
        Raises ``KeyError`` for a card not in the deck and ``ValueError`` for a review dated
        before the card's last one.
        """
        card = self.card(card_id)

        def schedule(current: fsrs.Card | None, fsrs_id: int, moment: datetime) -> fsrs.Card:
            current = current or self.scheduler.new_card(fsrs_id, moment)
            return self.scheduler.next_state(current, rating, moment, duration_ms)

        return self.store.record_review(
            card_id, kind="practice" if practice else "review", rating=int(rating),
            # without ``at``, the clock is read under the write lock (see record_review)
            review_time=self.now if at is None else at.astimezone(UTC),
            duration_ms=duration_ms, content_hash=card.content_hash, schedule=schedule)

    def undo(self, card_id: str | None = None, *, review_id: int | None = None) -> Review:
        """Revert the newest review (of ``card_id``), or exactly ``review_id``.

        Raises ``KeyError`` for a ``card_id`` that is neither in the deck nor in the database,
        ``LookupError`` when there is nothing to undo and :class:`UndoRefused` when the card has
        been reviewed since ``review_id`` (for instance by another process).
        """
        if card_id is not None and self.store.card_state(card_id) is None:
            self.card(card_id)  # a typo is "no such card", not "nothing to undo"
        return self.store.undo(card_id, review_id=review_id)

    def suspend(self, card_id: str) -> None:
        """Take the card out of every queue until it is unsuspended."""
        self.store.set_suspended(self.card(card_id).id, True)

    def unsuspend(self, card_id: str) -> None:
        """Put a suspended card back in the queues."""
        self.store.set_suspended(self.card(card_id).id, False)

    def bury(self, card_id: str, now: datetime | None = None) -> datetime:
        """Hide the card until the next study day starts; returns that moment (UTC)."""
        until = self.scheduler.next_day_start(now or self.now())
        self.store.bury(self.card(card_id).id, until)
        return until

    def reset(self, card_id: str, now: datetime | None = None) -> Review:
        """Forget the card: it becomes new again (logged as a ``manual`` row)."""
        return self.store.reset(self.card(card_id).id, now or self.now())

    # -- statistics -----------------------------------------------------------------------------

    def stats(self, now: datetime | None = None, days: int = 30) -> Stats:
        """Counts by state, reviews and true retention per study day over the last ``days``
        days, and cards due on each of the next ``days`` study days."""
        now = now or self.now()
        rows = self.overview(now)
        today = self.scheduler.study_day(now)
        first_day = today - timedelta(days=days - 1)
        recent = self.store.reviews(since=self.scheduler.day_start(first_day))
        per_day = Counter(self.scheduler.study_day(r.review_time)
                          for r in recent if r.kind == "review")
        # True retention: reviews of cards that were in the Review state before the rating.
        previous_state = self.store.previous_states(since=self.scheduler.day_start(first_day))
        passed: Counter[date] = Counter()
        total: Counter[date] = Counter()
        for review in recent:
            if review.kind == "review" and previous_state.get(review.id) == State.Review:
                day = self.scheduler.study_day(review.review_time)
                total[day] += 1
                passed[day] += review.rating != Rating.Again
        due_days = Counter(
            max(self.scheduler.study_day(r.due), today) for r in rows
            if r.due is not None and not r.suspended)
        period = [first_day + timedelta(days=i) for i in range(days)]
        ahead = [today + timedelta(days=i) for i in range(days)]
        return Stats(
            counts_by_state=dict(Counter(r.state for r in rows)),
            reviews_per_day=[(d, per_day[d]) for d in period],
            true_retention=(sum(passed.values()) / sum(total.values())) if total else None,
            retention_per_day=[(d, passed[d] / total[d]) for d in period if total[d]],
            due_per_day=[(d, due_days[d]) for d in ahead],
            per_card=rows,
        )

    def orphans(self) -> list[str]:
        """Ids with state in the database but no card in the deck (never deleted silently)."""
        ids = set(self.deck.ids)
        return [card_id for card_id in self.store.known_card_ids() if card_id not in ids]


@dataclass(frozen=True)
class Change:
    """One change a :class:`Session` made to a card, with what undo needs to revert it.

    ``action`` is ``"rating"`` (``review`` is its log row), ``"bury"`` (``before`` is the card's
    ``buried_until`` before it, ``None`` when it was not buried) or ``"suspend"`` (``before``
    tells whether it was suspended already). ``practice`` is true for a change made in a practice
    round: once undone, the card is practised again, not reviewed.
    """

    action: Literal["rating", "bury", "suspend"]
    card_id: str
    practice: bool
    review: Review | None = None
    before: datetime | bool | None = None


class Session:
    """The ratings, buries and suspends of one app session, newest last, and undo over them.

    As Anki's undo, :meth:`undo` walks this session's own changes back, newest first; a review
    made before the session began, or by another process, is never undone here (``studyapp
    undo`` on the command line reverts the newest review of the log).
    """

    def __init__(self, collection: Collection) -> None:
        self.collection = collection
        self.changes: list[Change] = []
        """What :meth:`undo` reverts, newest last."""

    def rate(self, card_id: str, rating: Rating, *, duration_ms: int | None = None,
             practice: bool = False) -> Review:
        """Rate the card now through :meth:`Collection.rate` (same errors) and remember it."""
        review = self.collection.rate(card_id, rating, duration_ms=duration_ms,
                                      practice=practice)
        self.changes.append(Change("rating", card_id, practice, review=review))
        return review

    def bury(self, card_id: str, *, practice: bool = False) -> datetime:
        """Bury the card through :meth:`Collection.bury`, remembering its bury before."""
        state = self.collection.store.card_state(card_id)
        until = self.collection.bury(card_id)
        self.changes.append(Change("bury", card_id, practice,
                                   before=state.buried_until if state else None))
        return until

    def suspend(self, card_id: str, *, practice: bool = False) -> None:
        """Suspend the card through :meth:`Collection.suspend` and remember it."""
        state = self.collection.store.card_state(card_id)
        self.collection.suspend(card_id)
        self.changes.append(Change("suspend", card_id, practice,
                                   before=bool(state and state.suspended)))

    def undo(self) -> Change:
        """Revert the newest change and return it: a rating's log row is removed (a practice
        row only that), a bury or suspend gives the card back what it replaced.

        Raises ``LookupError`` when there is nothing to undo, or when the review was removed from
        the log meanwhile (the change is then forgotten); :class:`UndoRefused` when the card was
        reviewed since by another process and :class:`StoreError` when the database cannot be
        written (the change then stays, to be undone later).
        """
        if not self.changes:
            raise LookupError("this session has not rated, buried or suspended a card yet")
        change = self.changes[-1]
        store = self.collection.store
        try:
            if change.review is not None:
                self.collection.undo(review_id=change.review.id)
            elif change.action == "bury":
                store.bury(change.card_id, change.before)
            else:
                store.set_suspended(change.card_id, bool(change.before))
        except LookupError:
            self.changes.pop()
            raise
        self.changes.pop()
        return change
