"""Review state in SQLite: schema migrations, FSRS card state, the review log, and experiment runs.

Every write is one ``BEGIN IMMEDIATE`` transaction, so two processes on the same file serialise
instead of overwriting each other, and a review acknowledged to the caller is committed (WAL
journal, ``synchronous=FULL``). Timestamps are stored as UTC ISO 8601 text with offset. Card ids
are the cards' slugs; ``fsrs_id`` is the integer surrogate ``fsrs.Card.card_id`` needs.

The review log keeps every rating with the card's FSRS state *after* it, so the current state of
a card is always the state after its newest ``review`` or ``manual`` log row (or new when there
is none); the ``cards`` table keeps a copy for fast queries. Log kinds: ``review`` (scheduled),
``practice`` (outside the schedule, changes nothing) and ``manual`` (a reset, as Anki logs it).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import shutil
import sqlite3
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import fsrs
import sqlite_utils
from sqlite_utils.migrations import Migrations

from studyapp.cards import SLUG
from studyapp.locations import backups_dir

KINDS = ("review", "practice", "manual")
RUN_STATUSES = ("running", "ok", "failed", "cancelled", "interrupted")
BUSY_TIMEOUT_S = 30.0
DAILY_BACKUPS_KEPT = 7

EXPORT_COLUMNS = (
    "card_id", "kind", "review_time", "rating", "review_duration_ms", "content_hash",
    "state", "step", "stability", "difficulty", "due",
)


class StoreError(Exception):
    """A problem with the database, or with a file it is copied to or from, with a message that
    says what is wrong and what to do."""


class UndoRefused(StoreError):
    """Undo would discard a review that is not the newest one of its card."""


migrations = Migrations("studyapp")


@migrations()
def m001_cards_and_reviews(db: sqlite_utils.Database) -> None:
    """Card state and the review log."""
    db.execute("""
        CREATE TABLE cards (
            card_id TEXT PRIMARY KEY,
            fsrs_id INTEGER NOT NULL UNIQUE,
            state INTEGER CHECK (state IN (1, 2, 3)),
            step INTEGER,
            stability REAL,
            difficulty REAL,
            due TEXT,
            last_review TEXT,
            suspended INTEGER NOT NULL DEFAULT 0,
            buried_until TEXT,
            last_rating INTEGER,
            last_content_hash TEXT
        )""")
    db.execute("""
        CREATE TABLE reviews (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            card_id TEXT NOT NULL REFERENCES cards(card_id) ON UPDATE CASCADE,
            kind TEXT NOT NULL CHECK (kind IN ('review', 'practice', 'manual')),
            rating INTEGER CHECK (rating BETWEEN 1 AND 4),
            review_time TEXT NOT NULL,
            review_duration_ms INTEGER,
            content_hash TEXT,
            state INTEGER,
            step INTEGER,
            stability REAL,
            difficulty REAL,
            due TEXT
        )""")
    db.execute("CREATE INDEX reviews_card ON reviews(card_id, review_time)")
    db.execute("CREATE INDEX reviews_time ON reviews(review_time)")


@migrations()
def m002_runs(db: sqlite_utils.Database) -> None:
    """Experiment runs."""
    db.execute("""
        CREATE TABLE runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            card_id TEXT NOT NULL,
            argv TEXT NOT NULL,
            started TEXT NOT NULL,
            finished TEXT,
            status TEXT NOT NULL CHECK (status IN
                ('running', 'ok', 'failed', 'cancelled', 'interrupted')),
            exit_code INTEGER,
            result TEXT,
            log_path TEXT NOT NULL,
            artifacts TEXT NOT NULL DEFAULT '[]',
            app_pid INTEGER
        )""")
    db.execute("CREATE INDEX runs_card ON runs(card_id, id)")


def to_text(moment: datetime | None) -> str | None:
    """A timezone-aware datetime as UTC ISO 8601 text with offset; ``ValueError`` if naive."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: pass a timezone-aware time")
    return moment.astimezone(UTC).isoformat()


def parse_time(text: str) -> datetime:
    """Parse ISO 8601 text that a user or a file gave (``Z`` allowed); ``ValueError`` naming the
    text when it is not a time or has no UTC offset (a naive time is ambiguous)."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset; add one, e.g. Z or +01:00")
    return moment


def from_text(text: str | None) -> datetime | None:
    """Parse stored ISO 8601 text back into a datetime with ``tzinfo=timezone.utc`` exactly."""
    if text is None:
        return None
    return datetime.fromisoformat(text).astimezone(UTC)


@dataclass(frozen=True)
class Review:
    """One row of the review log; the FSRS state fields are the card's state *after* it.

    ``stability`` is in days, ``difficulty`` in [1, 10], ``due`` and ``review_time`` are UTC.
    ``rating`` is ``None`` only for ``manual`` rows (resets).
    """

    id: int
    card_id: str
    kind: str
    rating: int | None
    review_time: datetime
    duration_ms: int | None
    content_hash: str | None
    state: int | None
    step: int | None
    stability: float | None
    difficulty: float | None
    due: datetime | None

    @classmethod
    def from_row(cls, row: dict) -> Review:
        return cls(
            id=row["id"], card_id=row["card_id"], kind=row["kind"], rating=row["rating"],
            review_time=from_text(row["review_time"]), duration_ms=row["review_duration_ms"],
            content_hash=row["content_hash"], state=row["state"], step=row["step"],
            stability=row["stability"], difficulty=row["difficulty"], due=from_text(row["due"]),
        )


@dataclass(frozen=True)
class ImportSummary:
    """What :meth:`Store.import_reviews` did: log rows added, by card id (cards the deck may not
    have among them), and rows skipped because the log already had them."""

    added_by_card: dict[str, int]
    skipped: int

    @property
    def added(self) -> int:
        """Log rows added, all cards together."""
        return sum(self.added_by_card.values())


@dataclass(frozen=True)
class CardState:
    """What the database knows of one card.

    ``fsrs_card`` is ``None`` while the card is new (no scheduled review yet).
    ``last_rating`` and ``last_content_hash`` come from the newest ``review`` log row.
    """

    card_id: str
    fsrs_card: fsrs.Card | None
    suspended: bool
    buried_until: datetime | None
    last_rating: int | None
    last_content_hash: str | None


@dataclass(frozen=True)
class Run:
    """One experiment run; times are UTC, ``result`` is the script's final result event."""

    id: int
    card_id: str
    argv: list[str]
    started: datetime
    finished: datetime | None
    status: str
    exit_code: int | None
    result: dict | None
    log_path: str
    artifacts: list[str]


def _process_alive(pid: int | None) -> bool:
    """Whether a process with this id exists (on this machine)."""
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextmanager
def _new_file(path: Path, *, example: str, if_exists: str,
              replace: bool = False) -> Iterator[Path]:
    """Create an empty file for the block to fill, which becomes ``path`` when the block
    succeeds and is removed when it fails; raises :class:`StoreError` naming ``path``.

    Without ``replace`` the file is ``path`` itself, created atomically, so an existing file is
    never touched: the error says so and ends with ``if_exists`` (what to do). With ``replace``
    it is a scratch file beside ``path`` that replaces it at the end, so a failed write leaves
    the old file whole. A folder at ``path`` is refused, suggesting ``path / example``.
    """
    if path.is_dir():
        raise StoreError(f"{path} is a folder; give a file name, e.g. {path / example}")
    target = path.with_name(f".{path.name}.{os.getpid()}.tmp") if replace else path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:  # e.g. a file stands where a folder of the path should be
        raise StoreError(f"cannot create the folder of {path} ({error.strerror}); choose "
                         "another place") from None
    try:
        target.open("x").close()
    except FileExistsError:
        raise StoreError(f"{path} already exists and was left as it is; {if_exists}") from None
    except OSError as error:
        raise StoreError(f"cannot create {path} ({error.strerror}); choose a folder you can "
                         "write to") from None
    try:
        yield target
        if replace:
            os.replace(target, path)
    except BaseException as error:
        target.unlink(missing_ok=True)
        if isinstance(error, OSError):
            raise StoreError(f"cannot write {path} ({error.strerror}); nothing was "
                             "written") from error
        raise


def _checked_float(value: float | None, card_id: str, name: str) -> float | None:
    if value is None:
        return None
    if not math.isfinite(value) or value <= 0:
        raise StoreError(
            f"card {card_id!r}: stored {name} {value!r} is not a positive finite number; "
            f"run 'studyapp reset {card_id}' to start the card afresh")
    return value


def _fsrs_card(row: dict) -> fsrs.Card | None:
    """Build the ``fsrs.Card`` for a ``cards`` row, or ``None`` for a new card."""
    if row["state"] is None:
        return None
    card_id = row["card_id"]
    return fsrs.Card(
        card_id=row["fsrs_id"], state=fsrs.State(row["state"]), step=row["step"],
        stability=_checked_float(row["stability"], card_id, "stability"),
        difficulty=_checked_float(row["difficulty"], card_id, "difficulty"),
        due=from_text(row["due"]), last_review=from_text(row["last_review"]),
    )


def _state_columns(card: fsrs.Card | None) -> dict:
    """The FSRS columns for ``card`` (all ``None`` for a new card). Never writes NaN."""
    if card is None:
        return {"state": None, "step": None, "stability": None, "difficulty": None, "due": None}
    for name in ("stability", "difficulty"):
        value = getattr(card, name)
        if value is not None and not math.isfinite(value):
            raise StoreError(f"refusing to store non-finite {name} {value!r}")
    return {"state": int(card.state), "step": card.step, "stability": card.stability,
            "difficulty": card.difficulty, "due": to_text(card.due)}


class Store:
    """The review database at ``path``, migrated to the current schema when opened.

    Raises :class:`StoreError` when the file is not a SQLite database, is damaged, was written by
    a newer studyapp, or cannot be created or written. Before migrating an existing database, a
    copy is saved in the backups folder beside it. The file is never overwritten or deleted.
    """

    def __init__(self, path: Path, *, busy_timeout_s: float = BUSY_TIMEOUT_S) -> None:
        self.path = Path(path)
        if self.path.is_dir():
            raise StoreError(f"{self.path} is a folder, not a database file; give a file path "
                             f"with --db or STUDYAPP_DB, e.g. {self.path / 'studyapp.db'}")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise StoreError(f"cannot create the folder for {self.path}: {error.strerror}; "
                             "choose another place with --db or STUDYAPP_DB") from error
        existed = self.path.exists() and self.path.stat().st_size > 0
        conn = None
        try:
            conn = sqlite3.connect(self.path, timeout=busy_timeout_s, isolation_level=None,
                                   check_same_thread=False)
            self.db = sqlite_utils.Database(conn)
            self.db.execute(f"PRAGMA busy_timeout = {int(busy_timeout_s * 1000)}")
            self.db.execute("PRAGMA foreign_keys = ON")
            self._check_readable()
            self._check_schema(existed)  # before anything writes, e.g. the journal mode
            self._use_wal(busy_timeout_s)
            self.db.execute("PRAGMA synchronous = FULL")
            self._migrate(existed)
        except (sqlite3.DatabaseError, StoreError) as error:
            if conn is not None:
                conn.close()  # leaves no -wal or -shm file beside a refused database
            if isinstance(error, StoreError):
                raise
            raise self._explain(error) from error

    def _explain(self, error: sqlite3.Error) -> StoreError:
        message = str(error)
        if "readonly" in message or "unable to open" in message:
            return StoreError(f"{self.path}: cannot write the database ({message}); check the "
                              "permissions of the file and its folder, or use --db elsewhere")
        if "not a database" in message or "malformed" in message or "corrupt" in message:
            return StoreError(f"{self.path} is not a usable studyapp database ({message}); it "
                              "was left untouched: restore a backup with 'studyapp restore FILE' "
                              "or point --db at another file")
        if "full" in message:
            return StoreError(f"{self.path}: the disk is full ({message}); nothing was lost, "
                              "free some space and try again")
        return StoreError(f"{self.path}: {message}")

    def _use_wal(self, busy_timeout_s: float) -> None:
        """Switch the file to WAL. SQLite fails at once, without its busy wait, when another
        studyapp is switching the same new file, so retry for up to ``busy_timeout_s``."""
        deadline = time.monotonic() + busy_timeout_s
        while True:
            try:
                if next(self.db.query("PRAGMA journal_mode"))["journal_mode"] != "wal":
                    self.db.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)

    def _check_readable(self) -> None:
        """Fail early, without writing, when the file is not a SQLite database."""
        self.db.query("SELECT count(*) FROM sqlite_master").__next__()

    def _check_schema(self, existed: bool) -> None:
        """Refuse, without writing, a database of a newer studyapp or of another program."""
        # Every step this studyapp knows is pending on an empty database (public API; the list
        # itself is private to sqlite-utils).
        known = {m.name for m in migrations.pending(sqlite_utils.Database(memory=True))}
        applied = {m.name for m in migrations.applied(self.db)}
        if applied - known:
            raise StoreError(
                f"{self.path} was written by a newer studyapp (schema steps "
                f"{', '.join(sorted(applied - known))}); upgrade studyapp to open it. "
                "The file was left untouched.")
        if existed and not applied and self.db.table_names():
            raise StoreError(f"{self.path} is a SQLite database but not a studyapp one; it was "
                             "left untouched: point --db at another file")

    def _migrate(self, existed: bool) -> None:
        if not migrations.pending(self.db):
            return
        if existed and migrations.applied(self.db):
            self.backup(kind="before-migration")  # outside the transaction: it would wait on it
        with self._write():  # a second studyapp opening the file now waits, then finds it done
            if migrations.pending(self.db):
                migrations.apply(self.db)

    # -- transactions ---------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sqlite_utils.Database]:
        """One ``BEGIN IMMEDIATE`` transaction: the write lock is taken before anything is read."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as error:
            raise self._explain(error) from error
        try:
            yield self.db
            self.db.execute("COMMIT")
        except BaseException as error:
            if self.db.conn.in_transaction:
                self.db.execute("ROLLBACK")
            if isinstance(error, sqlite3.Error):
                raise self._explain(error) from error
            raise

    def close(self) -> None:
        """Close the connection."""
        self.db.close()

    # -- card state -----------------------------------------------------------------------------

    def _ensure_card(self, card_id: str) -> dict:
        row = next(self.db.query("SELECT * FROM cards WHERE card_id = ?", [card_id]), None)
        if row is None:
            fsrs_id = next(self.db.query(
                "SELECT coalesce(max(fsrs_id), 0) + 1 AS n FROM cards"))["n"]
            self.db.execute("INSERT INTO cards (card_id, fsrs_id) VALUES (?, ?)",
                            [card_id, fsrs_id])
            row = next(self.db.query("SELECT * FROM cards WHERE card_id = ?", [card_id]))
        return row


    @staticmethod
    def _card_state(row: dict) -> CardState:
        return CardState(
            card_id=row["card_id"], fsrs_card=_fsrs_card(row), suspended=bool(row["suspended"]),
            buried_until=from_text(row["buried_until"]), last_rating=row["last_rating"],
            last_content_hash=row["last_content_hash"])

    def card_states(self) -> dict[str, CardState]:
        """Every card the database knows, by id (cards never touched are absent: they are new).

        Raises :class:`StoreError` naming the card when stored state is not finite or positive.
        """
        rows = self.db.query("SELECT * FROM cards")
        return {row["card_id"]: self._card_state(row) for row in rows}

    def card_state(self, card_id: str) -> CardState | None:
        """The stored state of one card, or ``None`` when the database has never seen it."""
        row = next(self.db.query("SELECT * FROM cards WHERE card_id = ?", [card_id]), None)
        return None if row is None else self._card_state(row)

    def record_review(
        self, card_id: str, *, kind: str, rating: int,
        review_time: datetime | Callable[[], datetime], duration_ms: int | None,
        content_hash: str | None,
        schedule: Callable[[fsrs.Card | None, int, datetime], fsrs.Card],
    ) -> Review:
        """Record one rating in one write transaction and return the new log row.

        ``review_time`` is an aware datetime or a clock; a clock is read once the write lock is
        held, so a review by another process that held the lock meanwhile is never "later".
        ``schedule(current, fsrs_id, review_time)`` gets the card's current state (``None`` when
        new) read inside the transaction and returns the state after the review; for
        ``kind="practice"`` it is not called and the schedule is left alone. Raises
        ``ValueError`` for a review dated before the card's last review (the clock moved back)
        or a bad kind or rating.
        """
        if kind not in ("review", "practice"):
            raise ValueError(f"kind must be 'review' or 'practice', not {kind!r}")
        if rating not in (1, 2, 3, 4):
            raise ValueError(f"rating must be 1-4, not {rating!r}")
        if duration_ms is not None and (not isinstance(duration_ms, int) or duration_ms < 0):
            raise ValueError(f"duration must be a non-negative number of milliseconds, "
                             f"not {duration_ms!r}")
        with self._write():
            if callable(review_time):
                review_time = review_time()
            when = to_text(review_time)
            row = self._ensure_card(card_id)
            current = _fsrs_card(row)
            newest = next(self.db.query(
                "SELECT max(review_time) AS t FROM reviews WHERE card_id = ?", [card_id]))["t"]
            if newest is not None and from_text(newest) > review_time:
                raise ValueError(
                    f"card {card_id!r}: review time {when} is before its last review at "
                    f"{newest}; has the clock moved back?")
            after = (current if kind == "practice"
                     else schedule(current, row["fsrs_id"], review_time))
            columns = _state_columns(after)
            cursor = self.db.execute(
                "INSERT INTO reviews (card_id, kind, rating, review_time, review_duration_ms, "
                "content_hash, state, step, stability, difficulty, due) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [card_id, kind, rating, when, duration_ms, content_hash, *columns.values()])
            if kind == "review":
                self.db.execute(
                    "UPDATE cards SET state = ?, step = ?, stability = ?, difficulty = ?, "
                    "due = ?, last_review = ?, buried_until = NULL, last_rating = ?, "
                    "last_content_hash = ? WHERE card_id = ?",
                    [*columns.values(), when, rating, content_hash, card_id])
            return self.review(cursor.lastrowid)

    def review(self, review_id: int) -> Review:
        """One log row by its id; ``KeyError`` if there is none."""
        row = next(self.db.query("SELECT * FROM reviews WHERE id = ?", [review_id]), None)
        if row is None:
            raise KeyError(review_id)
        return Review.from_row(row)

    def reviews(self, card_id: str | None = None, since: datetime | None = None) -> list[Review]:
        """Log rows, oldest first; optionally of one card and at or after ``since`` (UTC)."""
        where, params = [], []
        if card_id is not None:
            where.append("card_id = ?")
            params.append(card_id)
        if since is not None:
            where.append("review_time >= ?")
            params.append(to_text(since))
        sql = "SELECT * FROM reviews" + (" WHERE " + " AND ".join(where) if where else "")
        # Oldest first by review time (imports can add old reviews with new ids); it also lets
        # SQLite use the time index for ``since`` instead of scanning the whole log.
        order = " ORDER BY id" if card_id is not None else " ORDER BY review_time, id"
        return [Review.from_row(row) for row in self.db.query(sql + order, params)]

    def previous_states(self, since: datetime) -> dict[int, int | None]:
        """For each ``review`` row at or after ``since`` (UTC): the FSRS state of its card just
        before it (``None`` when the card was new), by review id."""
        return {row["id"]: row["before"] for row in self.db.query(
            "SELECT r.id, (SELECT p.state FROM reviews p WHERE p.card_id = r.card_id "
            "AND (p.review_time, p.id) < (r.review_time, r.id) AND p.kind != 'practice' "
            "ORDER BY p.review_time DESC, p.id DESC LIMIT 1) AS before "
            "FROM reviews r WHERE r.kind = 'review' AND r.review_time >= ?", [to_text(since)])}

    def undo(self, card_id: str | None = None, *, review_id: int | None = None) -> Review:
        """Remove the newest log row (of ``card_id``, or exactly ``review_id``) and restore the
        card's state from the log as it was before it, in one transaction.

        Raises ``LookupError`` when there is nothing to undo and :class:`UndoRefused` when
        ``review_id`` is not its card's newest row (another process reviewed it since).
        """
        with self._write():
            if review_id is not None:
                row = next(self.db.query("SELECT * FROM reviews WHERE id = ?", [review_id]), None)
                if row is None:
                    raise LookupError(f"review {review_id} is no longer in the log")
            else:
                sql = "SELECT * FROM reviews" + (" WHERE card_id = ?" if card_id else "")
                row = next(self.db.query(sql + " ORDER BY id DESC LIMIT 1",
                                         [card_id] if card_id else []), None)
                if row is None:
                    raise LookupError(f"nothing to undo: card {card_id!r} has no reviews"
                                      if card_id else "nothing to undo: the log is empty")
            undone = Review.from_row(row)
            newer = next(self.db.query(
                "SELECT id, review_time FROM reviews WHERE card_id = ? AND id > ? LIMIT 1",
                [undone.card_id, undone.id]), None)
            if newer is not None:
                raise UndoRefused(
                    f"card {undone.card_id!r} was reviewed again at {newer['review_time']} "
                    "(perhaps by another studyapp); undo that review first")
            self.db.execute("DELETE FROM reviews WHERE id = ?", [undone.id])
            if undone.kind != "practice":
                self._restore_from_log(undone.card_id)
            return undone

    def _newest_row(self, card_id: str, kinds: tuple[str, ...]) -> dict:
        """The card's newest log row of one of ``kinds`` by review time, or ``{}``. By time, not
        id: an import can add older reviews after newer ones."""
        marks = ", ".join("?" * len(kinds))
        return next(self.db.query(
            f"SELECT * FROM reviews WHERE card_id = ? AND kind IN ({marks}) "
            "ORDER BY review_time DESC, id DESC LIMIT 1", [card_id, *kinds]), {})

    def _restore_from_log(self, card_id: str) -> None:
        """Set the card's state to the state after its newest scheduling log row (or new), and
        its last rating and content hash to those of its newest review."""
        scheduling = self._newest_row(card_id, ("review", "manual"))
        review = self._newest_row(card_id, ("review",))
        self.db.execute(
            "UPDATE cards SET state = ?, step = ?, stability = ?, difficulty = ?, due = ?, "
            "last_review = ?, last_rating = ?, last_content_hash = ? WHERE card_id = ?",
            [scheduling.get("state"), scheduling.get("step"), scheduling.get("stability"),
             scheduling.get("difficulty"), scheduling.get("due"),
             scheduling.get("review_time") if scheduling.get("kind") == "review" else None,
             review.get("rating"), review.get("content_hash"), card_id])

    def set_suspended(self, card_id: str, suspended: bool) -> None:
        """Suspend (take out of every queue) or unsuspend a card."""
        with self._write():
            self._ensure_card(card_id)
            self.db.execute("UPDATE cards SET suspended = ? WHERE card_id = ?",
                            [int(suspended), card_id])

    def bury(self, card_id: str, until: datetime | None) -> None:
        """Hide a card from the queues until ``until`` (UTC; ``None`` unburies)."""
        with self._write():
            self._ensure_card(card_id)
            self.db.execute("UPDATE cards SET buried_until = ? WHERE card_id = ?",
                            [to_text(until), card_id])

    def reset(self, card_id: str, when: datetime) -> Review:
        """Forget a card: it becomes new again. Logged as a ``manual`` row, as Anki does."""
        with self._write():
            self._ensure_card(card_id)
            cursor = self.db.execute(
                "INSERT INTO reviews (card_id, kind, review_time) VALUES (?, 'manual', ?)",
                [card_id, to_text(when)])
            self._restore_from_log(card_id)
            return self.review(cursor.lastrowid)

    def rename_card(self, old: str, new: str) -> None:
        """Move a card's state, history and runs from id ``old`` to ``new``.

        Raises ``LookupError`` when ``old`` is unknown and ``ValueError`` when ``new`` is taken.
        """
        with self._write():
            if next(self.db.query("SELECT 1 FROM cards WHERE card_id = ?", [old]), None) is None:
                raise LookupError(f"the database has no card {old!r}")
            if next(self.db.query("SELECT 1 FROM cards WHERE card_id = ?", [new]), None):
                raise ValueError(f"the database already has a card {new!r}")
            self.db.execute("UPDATE cards SET card_id = ? WHERE card_id = ?", [new, old])
            self.db.execute("UPDATE runs SET card_id = ? WHERE card_id = ?", [new, old])

    def known_card_ids(self) -> list[str]:
        """Ids of every card with state or history in the database."""
        return [row["card_id"] for row in self.db.query("SELECT card_id FROM cards ORDER BY 1")]

    # -- export, import, backup -----------------------------------------------------------------

    def export_reviews(self, path: Path, *, overwrite: bool = False) -> int:
        """Write the whole log as CSV (``EXPORT_COLUMNS``, UTC times); returns the row count.

        Raises :class:`StoreError` when ``path`` is a folder or cannot be written, or exists and
        ``overwrite`` is false. An overwritten file is replaced only by a complete export.
        """
        with _new_file(Path(path), example="reviews.csv", replace=overwrite,
                       if_exists="choose a new file name, or pass --force to replace it"
                       ) as target, open(target, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(EXPORT_COLUMNS)
            count = 0
            sql = f"SELECT {', '.join(EXPORT_COLUMNS)} FROM reviews ORDER BY id"
            for row in self.db.query(sql):
                writer.writerow(["" if v is None else v for v in row.values()])
                count += 1
        return count

    def import_reviews(self, path: Path) -> ImportSummary:
        """Append the rows of an export to the log and set each card to its newest logged state.

        The state is taken from the log, not recomputed, so fuzzed intervals come back exactly.
        A row already in the log (same card, kind and time) is skipped, so importing a file twice
        adds nothing. Rows of card ids the deck does not have are kept too (``studyapp check``
        lists such orphans). All or nothing: raises ``ValueError`` naming the file, and the line
        and value of the first bad row (a time without UTC offset is one).
        """
        def number(text: str, kind: type) -> int | float | None:
            return None if text == "" else kind(text)

        def moment(record: dict, column: str) -> str | None:
            text = record[column] or ""
            if text == "" and column == "due":  # a new card's state has no due time
                return None
            try:
                return to_text(parse_time(text))
            except ValueError as error:
                raise ValueError(f"{column} {error}") from None

        try:
            text = Path(path).read_bytes().decode("utf-8-sig")
        except OSError as error:
            raise ValueError(f"cannot read {path} ({error.strerror}); give the path of a CSV "
                             "file written by 'studyapp export-reviews'") from None
        except UnicodeDecodeError as error:
            raise ValueError(f"{path}: not UTF-8 text ({error.reason} at byte {error.start})"
                             ) from None
        with self._write():
            reader = csv.DictReader(io.StringIO(text, newline=""))
            missing = set(EXPORT_COLUMNS) - set(reader.fieldnames or ())
            if missing:
                raise ValueError(f"{path}: missing columns {', '.join(sorted(missing))}")
            added: Counter[str] = Counter()
            skipped = 0
            for line, record in enumerate(reader, start=2):
                try:
                    if not SLUG.fullmatch(record["card_id"] or ""):
                        raise ValueError(f"card_id {record['card_id'][:80]!r} is not a card id "
                                         "(lowercase letters, digits and hyphens)")
                    if record["kind"] not in KINDS:
                        raise ValueError(f"unknown kind {record['kind']!r}")
                    if record["rating"] not in (("",) if record["kind"] == "manual"
                                                else ("1", "2", "3", "4")):
                        raise ValueError(f"rating {record['rating']!r} is not 1-4 "
                                         "(or empty for a manual row)")
                    values = [
                        record["card_id"], record["kind"],
                        moment(record, "review_time"), number(record["rating"], int),
                        number(record["review_duration_ms"], int), record["content_hash"] or None,
                        number(record["state"], int), number(record["step"], int),
                        number(record["stability"], float), number(record["difficulty"], float),
                        moment(record, "due"),
                    ]
                    for value in values:
                        if isinstance(value, float) and not math.isfinite(value):
                            raise ValueError(f"non-finite number {value!r}")
                except (ValueError, TypeError) as error:
                    raise ValueError(f"{path}:{line}: {error}; nothing was imported from "
                                     "the file") from error
                if next(self.db.query(
                        "SELECT 1 FROM reviews WHERE card_id = ? AND kind = ? AND review_time = ?",
                        values[:3]), None):
                    skipped += 1
                    continue
                self._ensure_card(record["card_id"])
                self.db.execute(
                    f"INSERT INTO reviews ({', '.join(EXPORT_COLUMNS)}) "
                    f"VALUES ({', '.join('?' * len(EXPORT_COLUMNS))})", values)
                added[record["card_id"]] += 1
            for card_id in added:
                self._restore_from_log(card_id)
        return ImportSummary(dict(added), skipped)

    def backup(self, destination: Path | None = None, *, kind: str = "manual") -> Path:
        """Copy the database with SQLite's online backup API and return the copy's path.

        Default destination: ``backups/studyapp-<kind>-<UTC time>-<process id>.db`` beside the
        database. Never replaces a file: raises :class:`StoreError` when ``destination`` exists,
        is a folder or cannot be written (a partial copy is removed).
        """
        if destination is None:
            stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
            # The process id too: two studyapps started at once make their daily backups at the
            # same microsecond (seen with forked processes).
            destination = backups_dir(self.path) / f"studyapp-{kind}-{stamp}-{os.getpid()}.db"
        with _new_file(Path(destination), example="studyapp-backup.db",
                       if_exists="a backup never replaces a file: give a new file name, or none "
                       f"for a dated one in {backups_dir(self.path)}") as target:
            try:
                copy = sqlite3.connect(target)
                try:
                    self.db.conn.backup(copy)
                finally:
                    copy.close()
            except sqlite3.Error as error:
                raise StoreError(f"cannot write the backup {destination} ({error}); nothing was "
                                 "written") from error
        return Path(destination)

    def daily_backup(self, keep: int = DAILY_BACKUPS_KEPT) -> Path | None:
        """Make an automatic backup unless one was made in the last 24 hours (by the file
        system's clock), keeping the newest ``keep``. Returns the new backup's path, or ``None``.
        """
        folder = backups_dir(self.path)
        existing = sorted(folder.glob("studyapp-daily-*.db"))
        if existing and time.time() - existing[-1].stat().st_mtime < 24 * 3600:
            return None
        made = self.backup(kind="daily")
        for old in sorted(folder.glob("studyapp-daily-*.db"))[:-keep]:
            old.unlink()
        return made

    def restore(self, source: Path) -> Path:
        """Replace this database's contents with the backup ``source``.

        The current contents are saved first (``studyapp-before-restore-*.db``), whose path is
        returned. Raises :class:`StoreError` when ``source`` is not a sound studyapp database.
        """
        if Path(source).is_dir():
            raise StoreError(f"cannot restore from {source}: it is a folder; give a backup file, "
                             f"e.g. one in {backups_dir(self.path)}")
        if not Path(source).is_file():
            raise StoreError(f"cannot restore from {source}: no such file")
        with tempfile.TemporaryDirectory() as scratch:
            # Work on a copy: opening migrates, and the user's backup must stay as it is.
            copy = Path(scratch) / "restore.db"
            shutil.copyfile(source, copy)
            try:
                candidate = Store(copy)
            except StoreError:
                raise StoreError(f"cannot restore from {source}: it is not a studyapp database "
                                 "(or it is damaged); the current database was left as it "
                                 "was") from None
            try:
                check = next(candidate.db.query("PRAGMA integrity_check"))["integrity_check"]
                if check != "ok":
                    raise StoreError(f"cannot restore from {source}: it fails SQLite's "
                                     f"integrity check ({check})")
                saved = self.backup(kind="before-restore")
                candidate.db.conn.backup(self.db.conn)
            finally:
                candidate.close()
        return saved

    # -- experiment runs ------------------------------------------------------------------------

    def start_run(self, card_id: str, argv: list[str], log_path: Path, started: datetime) -> int:
        """Record a run that this process is starting; returns its id (status ``running``)."""
        with self._write():
            cursor = self.db.execute(
                "INSERT INTO runs (card_id, argv, started, status, log_path, app_pid) "
                "VALUES (?, ?, ?, 'running', ?, ?)",
                [card_id, json.dumps(argv), to_text(started), str(log_path), os.getpid()])
            return cursor.lastrowid

    def finish_run(self, run_id: int, status: str, exit_code: int | None, result: dict | None,
                   finished: datetime, artifacts: list[str] = ()) -> None:
        """Record how a run ended: ``status`` is ``ok``, ``failed`` or ``cancelled``."""
        if status not in RUN_STATUSES:
            raise ValueError(f"unknown run status {status!r}")
        with self._write():
            self.db.execute(
                "UPDATE runs SET status = ?, exit_code = ?, result = ?, finished = ?, "
                "artifacts = ? WHERE id = ?",
                [status, exit_code, None if result is None else json.dumps(result),
                 to_text(finished), json.dumps(list(artifacts)), run_id])

    def mark_interrupted_runs(self) -> int:
        """Mark runs left ``running`` by an app process that no longer exists as
        ``interrupted``; returns how many. Runs of a live app (a second instance) are left."""
        with self._write():
            dead = [row["id"] for row in self.db.query(
                        "SELECT id, app_pid FROM runs WHERE status = 'running'")
                    if not _process_alive(row["app_pid"])]
            for run_id in dead:
                self.db.execute("UPDATE runs SET status = 'interrupted' WHERE id = ?", [run_id])
            return len(dead)

    def runs(self, card_id: str | None = None) -> list[Run]:
        """Recorded runs, newest first; optionally of one card."""
        sql = "SELECT * FROM runs" + (" WHERE card_id = ?" if card_id else "") + " ORDER BY id DESC"
        return [
            Run(id=row["id"], card_id=row["card_id"], argv=json.loads(row["argv"]),
                started=from_text(row["started"]), finished=from_text(row["finished"]),
                status=row["status"], exit_code=row["exit_code"],
                result=None if row["result"] is None else json.loads(row["result"]),
                log_path=row["log_path"], artifacts=json.loads(row["artifacts"]))
            for row in self.db.query(sql, [card_id] if card_id else [])
        ]
