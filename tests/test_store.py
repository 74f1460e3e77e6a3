"""Tests for studyapp.store: real SQLite files in tmp_path, opened the way the app opens them."""

from __future__ import annotations

import math
import os
import random
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import fsrs
import pytest
import sqlite_utils

from studyapp.scheduler import Rating, Scheduler, Settings, State
from studyapp.store import EXPORT_COLUMNS, Store, StoreError, UndoRefused, migrations

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
EXACT = Scheduler(Settings(enable_fuzzing=False))
FUZZED = Scheduler(Settings(enable_fuzzing=True))


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store(tmp_path / "study.db")
    yield opened
    opened.close()


def rate(store: Store, card_id: str, rating: Rating, at: datetime,
         scheduler: Scheduler = EXACT, kind: str = "review"):
    """Record one rating the way Collection.rate does, with ``scheduler``."""
    def schedule(current: fsrs.Card | None, fsrs_id: int, _at: datetime) -> fsrs.Card:
        return scheduler.next_state(current or scheduler.new_card(fsrs_id, at), rating, at)

    return store.record_review(card_id, kind=kind, rating=int(rating), review_time=at,
                               duration_ms=1500, content_hash=f"hash-of-{card_id}",
                               schedule=schedule)


def fsrs_fields(card: fsrs.Card | None) -> dict | None:
    """An FSRS card as a dict without its integer surrogate id."""
    if card is None:
        return None
    fields = card.to_dict()
    del fields["card_id"]
    return fields


def comparable(store: Store) -> dict[str, tuple]:
    """Each card's scheduling state as plain values, for comparing two databases."""
    return {card_id: (fsrs_fields(s.fsrs_card), s.last_rating, s.last_content_hash)
            for card_id, s in store.card_states().items()}


def log_rows(store: Store) -> list[tuple]:
    """The review log without row ids."""
    return [(r.card_id, r.kind, r.rating, r.review_time, r.duration_ms, r.content_hash, r.state,
             r.step, r.stability, r.difficulty, r.due) for r in store.reviews()]


# -- migrations ---------------------------------------------------------------------------------


def test_an_empty_file_gets_every_migration_and_no_backup(tmp_path):
    path = tmp_path / "new.db"
    path.touch()
    store = Store(path)
    applied = [m.name for m in migrations.applied(store.db)]
    assert applied == [m.name for m in migrations._migrations]
    assert {"cards", "reviews", "runs"} <= set(store.db.table_names())
    assert next(store.db.query("PRAGMA journal_mode"))["journal_mode"] == "wal"
    store.close()
    assert not (tmp_path / "backups").exists(), "a brand-new database has nothing to back up"


def test_a_database_at_migration_1_gets_migration_2_and_a_backup_first(tmp_path):
    path = tmp_path / "old.db"
    old = sqlite_utils.Database(path)
    migrations.apply(old, stop_before="m002_runs")
    old.execute("INSERT INTO cards (card_id, fsrs_id) VALUES ('lstm-cell', 1)")
    old.execute("INSERT INTO reviews (card_id, kind, rating, review_time) "
                "VALUES ('lstm-cell', 'practice', 3, '2026-03-01T10:00:00+00:00')")
    old.conn.commit()
    old.close()

    store = Store(path)
    assert [m.name for m in migrations.applied(store.db)] == ["m001_cards_and_reviews",
                                                              "m002_runs"]
    assert store.runs() == []
    assert [r.card_id for r in store.reviews()] == ["lstm-cell"]
    store.close()

    backups = list((tmp_path / "backups").glob("studyapp-before-migration-*.db"))
    assert len(backups) == 1
    copy = sqlite_utils.Database(backups[0])
    assert [m.name for m in migrations.applied(copy)] == ["m001_cards_and_reviews"]
    assert "runs" not in copy.table_names()
    assert copy.execute("SELECT count(*) FROM reviews").fetchone()[0] == 1
    copy.close()


# -- reviews and undo ---------------------------------------------------------------------------


def test_a_review_writes_the_state_and_the_log_row_together(store):
    review = rate(store, "lstm-cell", Rating.Good, T0)
    state = store.card_state("lstm-cell")
    expected = EXACT.next_state(EXACT.new_card(state.fsrs_card.card_id, T0), Rating.Good, T0)
    assert fsrs_fields(state.fsrs_card) == fsrs_fields(expected)
    assert (review.state, review.step, review.stability, review.difficulty, review.due) == (
        int(expected.state), expected.step, expected.stability, expected.difficulty,
        expected.due)
    assert (state.last_rating, state.last_content_hash) == (Rating.Good, "hash-of-lstm-cell")


def test_a_failing_review_writes_nothing(store):
    rate(store, "lstm-cell", Rating.Good, T0)
    before, log = comparable(store), log_rows(store)

    def broken(current, fsrs_id, at):
        raise RuntimeError("scheduler crashed mid-review")

    with pytest.raises(RuntimeError):
        store.record_review("lstm-cell", kind="review", rating=3, review_time=T0 + timedelta(1),
                            duration_ms=None, content_hash=None, schedule=broken)
    with pytest.raises(RuntimeError):
        store.record_review("conv1d-in-rnns", kind="review", rating=3, review_time=T0,
                            duration_ms=None, content_hash=None, schedule=broken)
    assert comparable(store) == before
    assert log_rows(store) == log
    assert store.known_card_ids() == ["lstm-cell"], "the rolled-back card row must not stay"


def test_practice_is_logged_and_leaves_the_schedule_alone(store):
    rate(store, "lstm-cell", Rating.Good, T0)
    before = comparable(store)
    practice = rate(store, "lstm-cell", Rating.Again, T0 + timedelta(minutes=2), kind="practice")
    assert practice.kind == "practice" and practice.rating == Rating.Again
    assert comparable(store) == before


def test_a_review_dated_before_the_last_one_is_refused(store):
    rate(store, "lstm-cell", Rating.Good, T0)
    with pytest.raises(ValueError, match="before its last review"):
        rate(store, "lstm-cell", Rating.Good, T0 - timedelta(seconds=1))
    assert len(store.reviews()) == 1


def test_undo_restores_the_previous_state_exactly_and_new_after_the_first(store):
    rate(store, "lstm-cell", Rating.Good, T0)
    after_first = comparable(store)
    rate(store, "lstm-cell", Rating.Hard, T0 + timedelta(minutes=15))
    assert comparable(store) != after_first

    undone = store.undo("lstm-cell")
    assert undone.rating == Rating.Hard
    assert comparable(store) == after_first

    store.undo("lstm-cell")
    state = store.card_state("lstm-cell")
    assert state.fsrs_card is None and state.last_rating is None
    assert store.reviews() == []
    with pytest.raises(LookupError, match="nothing to undo"):
        store.undo("lstm-cell")


def test_undo_of_a_reset_brings_the_reviewed_state_back(store):
    rate(store, "lstm-cell", Rating.Good, T0)
    reviewed = comparable(store)
    store.reset("lstm-cell", T0 + timedelta(hours=1))
    assert store.card_state("lstm-cell").fsrs_card is None
    store.undo("lstm-cell")
    assert comparable(store) == reviewed


def test_undo_is_refused_when_the_card_has_a_newer_review(store):
    first = rate(store, "lstm-cell", Rating.Good, T0)
    rate(store, "lstm-cell", Rating.Easy, T0 + timedelta(minutes=20))
    before, log = comparable(store), log_rows(store)
    with pytest.raises(UndoRefused, match="reviewed again"):
        store.undo(review_id=first.id)
    assert (comparable(store), log_rows(store)) == (before, log)


# -- export, import, backup ---------------------------------------------------------------------


def simulate(store: Store, seed: int) -> None:
    """Two weeks of fuzzed reviews of three cards, with practice and a reset among them."""
    rng = random.Random(seed)
    moment = T0
    for step in range(60):
        moment += timedelta(hours=rng.choice([0.2, 1, 7, 30]))
        card_id = rng.choice(["lstm-cell", "conv1d-in-rnns", "return-sequences"])
        if step == 30:
            store.reset(card_id, moment)
        else:
            kind = "practice" if step % 11 == 5 else "review"
            rate(store, card_id, rng.choice(list(Rating)), moment, FUZZED, kind)


def test_export_and_import_reproduce_every_card_state_exactly_with_fuzzing(tmp_path, store):
    random.seed(15)  # fsrs fuzzes with the random module
    simulate(store, seed=1)
    csv_path = tmp_path / "reviews.csv"
    assert store.export_reviews(csv_path) == 60
    assert csv_path.read_text().splitlines()[0] == ",".join(EXPORT_COLUMNS)

    fresh = Store(tmp_path / "fresh.db")
    summary = fresh.import_reviews(csv_path)
    assert (summary.added, summary.skipped) == (60, 0)
    assert set(summary.added_by_card) == {"lstm-cell", "conv1d-in-rnns", "return-sequences"}
    assert comparable(fresh) == comparable(store)
    assert log_rows(fresh) == log_rows(store)
    again = fresh.import_reviews(csv_path)
    assert (again.added_by_card, again.skipped) == ({}, 60)  # a second import adds nothing
    assert log_rows(fresh) == log_rows(store)
    fresh.close()


@pytest.mark.parametrize(("column", "value", "message"), [
    ("rating", "9", r"reviews\.csv:2: rating '9' is not 1-4"),
    ("card_id", "Not A Slug", r"reviews\.csv:2: card_id 'Not A Slug' is not a card id"),
    ("review_time", "2026-03-02T09:00:00",
     r"reviews\.csv:2: review_time '2026-03-02T09:00:00' has no UTC offset; add one"),
    ("review_time", "", r"reviews\.csv:2: review_time '' is not an ISO 8601 time"),
    ("due", "2026-03-02 09:10", r"reviews\.csv:2: due '2026-03-02 09:10' has no UTC offset"),
    ("due", "soon", r"reviews\.csv:2: due 'soon' is not an ISO 8601 time"),
])
def test_import_names_the_line_of_a_bad_value(tmp_path, store, column, value, message):
    rate(store, "lstm-cell", Rating.Good, T0)
    csv_path = tmp_path / "reviews.csv"
    store.export_reviews(csv_path)
    header, row = csv_path.read_text().splitlines()
    cells = row.split(",")
    cells[EXPORT_COLUMNS.index(column)] = value
    csv_path.write_text(header + "\n" + ",".join(cells) + "\n")
    fresh = Store(tmp_path / "fresh.db")
    with pytest.raises(ValueError, match=message):
        fresh.import_reviews(csv_path)
    csv_path.write_bytes(b"\xff\xfe garbage")
    with pytest.raises(ValueError, match=r"reviews\.csv: not UTF-8"):
        fresh.import_reviews(csv_path)
    for unreadable, reason in ((tmp_path / "missing.csv", "No such file"),
                               (tmp_path, "Is a directory")):
        with pytest.raises(ValueError, match=rf"cannot read {unreadable} \({reason}"):
            fresh.import_reviews(unreadable)
    fresh.close()


@pytest.mark.parametrize(("column", "value", "message"), [
    ("stability", "nan", "non-finite"),
    ("review_time", "2026-03-02T10:00:00", "has no UTC offset"),
])
def test_import_is_all_or_nothing_and_never_writes_nan_or_a_naive_time(tmp_path, store, column,
                                                                       value, message):
    rate(store, "lstm-cell", Rating.Good, T0)
    csv_path = tmp_path / "reviews.csv"
    store.export_reviews(csv_path)
    lines = csv_path.read_text().splitlines()
    bad = lines[1].split(",")
    bad[EXPORT_COLUMNS.index("card_id")] = "conv1d-in-rnns"
    bad[EXPORT_COLUMNS.index(column)] = value
    csv_path.write_text("\n".join([*lines, ",".join(bad)]) + "\n")

    fresh = Store(tmp_path / "fresh.db")
    with pytest.raises(ValueError, match=rf"reviews\.csv:3: .*{message}.*nothing was imported"):
        fresh.import_reviews(csv_path)
    assert fresh.reviews() == [] and fresh.known_card_ids() == []
    fresh.close()


def test_reviews_of_ids_not_in_any_deck_are_imported_and_counted_by_card(tmp_path, store):
    rate(store, "lstm-cell", Rating.Good, T0)
    rate(store, "ghost", Rating.Again, T0)
    csv_path = tmp_path / "reviews.csv"
    store.export_reviews(csv_path)
    fresh = Store(tmp_path / "fresh.db")
    assert fresh.import_reviews(csv_path).added_by_card == {"lstm-cell": 1, "ghost": 1}
    assert fresh.known_card_ids() == ["ghost", "lstm-cell"]
    fresh.close()


def test_export_never_replaces_a_file_unless_asked(tmp_path, store):
    rate(store, "lstm-cell", Rating.Good, T0)
    card = tmp_path / "01-card.md"
    card.write_text("---\nid: a-card\n---\n")
    with pytest.raises(StoreError, match=rf"{card} already exists.*pass --force to replace it"):
        store.export_reviews(card)
    assert card.read_text() == "---\nid: a-card\n---\n"
    with pytest.raises(StoreError, match=rf"{tmp_path} is a folder; give a file name"):
        store.export_reviews(tmp_path, overwrite=True)

    assert store.export_reviews(card, overwrite=True) == 1
    assert card.read_text().splitlines()[0] == ",".join(EXPORT_COLUMNS)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["01-card.md", "study.db",
                                                          "study.db-shm", "study.db-wal"]


def test_backup_and_restore(tmp_path, store):
    rate(store, "lstm-cell", Rating.Good, T0)
    saved_state = comparable(store)
    copy = store.backup()
    assert copy.parent == tmp_path / "backups"
    rate(store, "lstm-cell", Rating.Again, T0 + timedelta(minutes=30))
    rate(store, "conv1d-in-rnns", Rating.Easy, T0 + timedelta(minutes=31))

    previous = store.restore(copy)
    assert comparable(store) == saved_state
    assert len(store.reviews()) == 1
    before_restore = Store(previous)
    assert len(before_restore.reviews()) == 3, "the replaced contents must be kept"
    before_restore.close()


def test_restore_refuses_a_damaged_backup_and_keeps_the_database(tmp_path, store):
    rate(store, "lstm-cell", Rating.Good, T0)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"SQLite format 3\x00" + bytes(range(256)) * 8)
    with pytest.raises(StoreError, match="cannot restore from"):
        store.restore(garbage)
    assert len(store.reviews()) == 1
    with pytest.raises(StoreError, match="no such file"):
        store.restore(tmp_path / "missing.db")
    with pytest.raises(StoreError, match=f"cannot restore from {tmp_path}: it is a folder"):
        store.restore(tmp_path)


def test_a_backup_never_replaces_a_file(tmp_path, store):
    rate(store, "lstm-cell", Rating.Good, T0)
    other = tmp_path / "reviews.csv"
    other.write_text("card_id\n")
    with pytest.raises(StoreError, match=rf"{other} already exists and was left as it is; a "
                                         "backup never replaces a file"):
        store.backup(other)
    assert other.read_text() == "card_id\n"
    folder = tmp_path / "saved"
    folder.mkdir()
    with pytest.raises(StoreError, match=rf"{folder} is a folder; give a file name, e.g. "
                                         rf"{folder / 'studyapp-backup.db'}"):
        store.backup(folder)
    with pytest.raises(StoreError, match=r"cannot create /proc/studyapp\.db \(.*\); choose a "
                                         "folder you can write to"):
        store.backup(Path("/proc/studyapp.db"))
    with pytest.raises(StoreError, match=rf"cannot create the folder of {other / 'copy.db'}"):
        store.backup(other / "copy.db")
    assert list(folder.iterdir()) == []
    copy = Store(store.backup(folder / "nested" / "copy.db"))
    assert len(copy.reviews()) == 1
    copy.close()


def test_two_processes_backing_up_at_the_same_microsecond_both_succeed(store, monkeypatch):
    import studyapp.store as store_module

    class Frozen(datetime):
        @classmethod
        def now(cls, tz=None):
            return T0

    monkeypatch.setattr(store_module, "datetime", Frozen)
    made = []
    for pid in (4101, 4102):  # e.g. two studyapps forked at once, each making its daily backup
        monkeypatch.setattr(store_module.os, "getpid", lambda pid=pid: pid)
        made.append(store.backup(kind="daily"))
    assert made[0] != made[1] and all(path.is_file() for path in made)


def test_a_folder_given_as_the_database_is_named_as_a_folder(tmp_path):
    with pytest.raises(StoreError, match=rf"{tmp_path} is a folder, not a database file; give a "
                                         rf"file path .* e\.g\. {tmp_path / 'studyapp.db'}"):
        Store(tmp_path)


# -- files the store must refuse and leave alone -------------------------------------------------


def studyapp_db(path: Path) -> Path:
    """A studyapp database with one review, closed."""
    store = Store(path)
    rate(store, "lstm-cell", Rating.Good, T0)
    store.close()
    return path


def truncated(path: Path) -> Path:
    data = studyapp_db(path).read_bytes()
    path.write_bytes(data[:len(data) // 3])
    return path


def garbage(path: Path) -> Path:
    path.write_bytes(random.Random(3).randbytes(20_000))
    return path


def foreign_sqlite(path: Path) -> Path:
    """Another program's SQLite database (rollback journal, no studyapp tables)."""
    other = sqlite3.connect(path)
    other.execute("CREATE TABLE notes (body TEXT)")
    other.execute("INSERT INTO notes VALUES ('mine, not studyapp''s')")
    other.commit()
    other.close()
    return path


def newer_schema(path: Path) -> Path:
    studyapp_db(path)
    db = sqlite_utils.Database(path)
    db["_sqlite_migrations"].insert({"migration_set": "studyapp", "name": "m099_from_the_future",
                                     "applied_at": "2030-01-01 00:00:00+00:00"})
    db.close()
    return path


@pytest.mark.parametrize("make, message", [
    (truncated, "not a usable studyapp database"),
    (garbage, "not a usable studyapp database"),
    (foreign_sqlite, "not a studyapp one"),
    (newer_schema, "newer studyapp.*m099_from_the_future"),
])
def test_damaged_or_foreign_files_are_refused_and_left_byte_for_byte(tmp_path, make, message):
    path = make(tmp_path / "study.db")
    before = path.read_bytes()
    with pytest.raises(StoreError, match=message) as raised:
        Store(path)
    assert str(path) in str(raised.value)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.db"], \
        "no journal, WAL or backup may be left beside a refused file"


@contextmanager
def read_only(folder: Path) -> Iterator[Path]:
    """``folder`` seen through a path where nothing can be written, even by root.

    File modes do not stop root, so as root this is a read-only bind mount of ``folder``; the
    test is skipped when the mount is not permitted (no CAP_SYS_ADMIN).
    """
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [folder, *folder.iterdir()]}
        for p in modes:
            p.chmod(0o555 if p.is_dir() else 0o444)
        try:
            yield folder
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    view = folder.with_name(folder.name + "-read-only")
    view.mkdir()
    bound = subprocess.run(["mount", "--bind", str(folder), str(view)],
                           capture_output=True).returncode == 0
    if not bound or subprocess.run(["mount", "-o", "remount,ro,bind", str(view)],
                                   capture_output=True).returncode != 0:
        if bound:
            subprocess.run(["umount", str(view)], check=True)
        pytest.skip("running as root, where file modes stop no write, and a read-only bind "
                    "mount is not permitted here (needs CAP_SYS_ADMIN)")
    try:
        yield view
    finally:
        subprocess.run(["umount", str(view)], check=True)


def test_a_read_only_folder_gives_a_clear_error_for_a_new_database(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    with read_only(folder) as view, pytest.raises(StoreError, match="cannot write the database"):
        Store(view / "study.db")


def test_a_read_only_database_gives_a_clear_error_and_is_left_alone(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    path = studyapp_db(folder / "study.db")
    before = path.read_bytes()
    with read_only(folder) as view:
        with pytest.raises(StoreError, match="cannot write the database"):
            store = Store(view / "study.db")
            try:
                rate(store, "lstm-cell", Rating.Good, T0 + timedelta(days=2))
            finally:
                store.close()
    assert path.read_bytes() == before


@pytest.mark.parametrize("bad", [math.inf, -math.inf, -1.0, 0.0])
def test_a_non_finite_or_non_positive_stored_stability_names_the_card(store, bad):
    rate(store, "lstm-cell", Rating.Good, T0)
    store.db.execute("UPDATE cards SET stability = ? WHERE card_id = 'lstm-cell'", [bad])
    with pytest.raises(StoreError, match="'lstm-cell'.*stability.*studyapp reset lstm-cell"):
        store.card_states()
    with pytest.raises(StoreError, match="lstm-cell"):
        store.card_state("lstm-cell")


def test_a_non_finite_state_is_never_written(store):
    rate(store, "lstm-cell", Rating.Good, T0)
    log = log_rows(store)

    def nan_schedule(current, fsrs_id, at):
        broken = EXACT.next_state(current, Rating.Good, T0 + timedelta(days=1))
        broken.stability = math.nan
        return broken

    with pytest.raises(StoreError, match="non-finite stability"):
        store.record_review("lstm-cell", kind="review", rating=3,
                            review_time=T0 + timedelta(days=1), duration_ms=None,
                            content_hash=None, schedule=nan_schedule)
    assert log_rows(store) == log
    assert store.db.execute("SELECT count(*) FROM reviews WHERE stability IS NULL "
                            "AND kind = 'review'").fetchone()[0] == 0


def test_importing_older_reviews_keeps_the_state_of_the_newest(tmp_path, store):
    older = Store(tmp_path / "older.db")
    rate(older, "lstm-cell", Rating.Good, T0 - timedelta(days=30))
    older.export_reviews(tmp_path / "older.csv")
    older.close()
    for minutes in (0, 20, 24 * 60):
        rate(store, "lstm-cell", Rating.Good, T0 + timedelta(minutes=minutes))
    before = store.card_state("lstm-cell").fsrs_card
    assert store.import_reviews(tmp_path / "older.csv").added == 1
    after = store.card_state("lstm-cell").fsrs_card
    assert (after.state, after.due, after.stability) == (before.state, before.due,
                                                         before.stability)
    first_today = store.reviews("lstm-cell")[0]  # logged before the import, reviewed after it
    assert store.previous_states(T0)[first_today.id] == State.Learning  # not new
