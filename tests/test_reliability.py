"""Reliability: crashes, two instances, damaged disks, hostile card files, clocks and CI.

The crash and two-process loops are those of ``benchmarks/crash_and_concurrency.py`` (forked
children, real ``SIGKILL``), run briefly here and longer there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studyapp.cards import load_deck
from studyapp.collection import Collection
from studyapp.scheduler import Rating, Settings
from studyapp.store import Store, StoreError
from support import CONTENT, EXPERIMENTS, ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import crash_and_concurrency as loops  # noqa: E402


@pytest.fixture
def deck(tmp_path) -> Path:
    return shutil.copytree(CONTENT, tmp_path / "content")


# -- crashes and two instances ------------------------------------------------------------------


def test_killing_a_rating_process_never_loses_an_acknowledged_review(tmp_path, deck):
    report = loops.crash_loop(tmp_path / "study.db", deck, kills=20, seed=8)
    assert report.errors == []
    assert report.kills == 20 and report.acknowledged >= 20
    assert (report.lost, report.bad_integrity, report.mismatched) == (0, 0, 0)


@pytest.mark.parametrize("fresh", [True, False], ids=["fresh-database", "existing-database"])
@pytest.mark.parametrize("cards", ["same-card", "different-cards"])
def test_two_processes_rating_at_once_lose_and_overwrite_nothing(tmp_path, deck, fresh, cards):
    db = tmp_path / "study.db"
    if not fresh:
        Store(db).close()
    ids = load_deck(deck).ids
    a, b = (ids[:1], ids[:1]) if cards == "same-card" else (ids[:4], ids[4:])
    report = loops.race(db, deck, a, b, count=40, seed=3)
    assert report.errors == [], "\n".join(report.errors)
    assert report.acknowledged == report.log_rows == 80
    assert (report.lost, report.mismatched) == (0, 0)


# -- a full disk --------------------------------------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path):
    """A 512 KiB tmpfs (root only; skipped where mounting is not permitted)."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs",
                              str(mount_point)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill up (needs root with CAP_SYS_ADMIN): "
                    f"{mounted.stderr.decode().strip()}")
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


def test_a_full_disk_during_a_review_is_a_clear_error_and_loses_nothing(tiny_disk):
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    collection = Collection.open(CONTENT, tiny_disk / "study.db",
                                 settings=Settings(enable_fuzzing=False))
    store = collection.store
    try:
        collection.rate("lstm-cell", Rating.Good, at=start)
        filler = tiny_disk / "filler"
        with open(filler, "wb", buffering=0) as handle:
            try:
                while handle.write(b"\0" * 4096):
                    pass
            except OSError:  # ENOSPC: the disk is full
                pass
        with pytest.raises(StoreError, match="the disk is full"):
            for minute in range(1, 500):  # until the WAL cannot grow
                collection.rate(collection.deck.ids[minute % 9], Rating.Good,
                                at=start + timedelta(minutes=minute))
        acknowledged = len(store.reviews())
        assert store.db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        filler.unlink()
        collection.rate("lstm-cell", Rating.Again, at=start + timedelta(days=1))
        assert len(store.reviews()) == acknowledged + 1
    finally:
        collection.close()


def test_a_full_disk_during_a_backup_or_an_export_leaves_no_partial_file(tiny_disk, tmp_path):
    store = Store(tmp_path / "study.db")
    start = datetime(2026, 1, 5, 9, tzinfo=UTC)
    with store.db.conn:  # a log bigger than the tiny disk, in one transaction
        store.db.conn.execute("INSERT INTO cards (card_id, fsrs_id) VALUES ('lstm-cell', 1)")
        store.db.conn.executemany(
            "INSERT INTO reviews (card_id, kind, rating, review_time, content_hash) "
            "VALUES ('lstm-cell', 'review', 3, ?, ?)",
            [((start + timedelta(minutes=m)).isoformat(), "x" * 200) for m in range(3000)])
    earlier = tiny_disk / "reviews.csv"
    earlier.write_text("an earlier export\n")
    try:
        with pytest.raises(StoreError, match="cannot write the backup .*full"):
            store.backup(tiny_disk / "copy.db")
        with pytest.raises(StoreError, match=f"cannot write {earlier} .*nothing was written"):
            store.export_reviews(earlier, overwrite=True)
        with pytest.raises(StoreError, match="nothing was written"):
            store.export_reviews(tiny_disk / "new.csv")
    finally:
        store.close()
    assert earlier.read_text() == "an earlier export\n"
    assert [p.name for p in tiny_disk.iterdir()] == ["reviews.csv"]


def test_a_damaged_database_is_never_overwritten_by_the_command(tmp_path, deck):
    """The command line's view of what test_store checks on Store: one line, file untouched."""
    db = tmp_path / "study.db"
    db.write_bytes(b"SQLite format 3\x00" + os.urandom(3000))
    before = db.read_bytes()
    for command in (["rate", "lstm-cell", "good"], ["due"]):
        completed = subprocess.run(
            [sys.executable, "-m", "studyapp", "--db", str(db), "--content", str(deck),
             *command], capture_output=True, text=True, timeout=60)
        assert completed.returncode == 1
        assert completed.stderr.count("\n") == 1 and "Traceback" not in completed.stderr
        assert db.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["content", "study.db"]


# -- hostile card files -------------------------------------------------------------------------

KEYS = ["id", "title", "tags", "sources", "experiment", "script", "args", "Id", "x", ""]
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True),
                    st.text(max_size=20), st.sampled_from(["---", "## Question", "../x.py",
                                                           "/etc/passwd", "lstm-cell"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(KEYS), inner, max_size=3)),
    max_leaves=6)
front_matter = st.one_of(
    st.dictionaries(st.sampled_from(KEYS), values, max_size=6).map(
        lambda d: yaml.safe_dump(d, allow_unicode=True)),
    st.text(max_size=80),  # anything at all between the --- lines
)
body_lines = st.lists(st.one_of(
    st.sampled_from(["## Question", "## Answer", "# Question", "Answer", "---", "```", "",
                     "    ## Answer", "> ## Question", "- ## Answer", "==="]),
    st.text(max_size=30)), max_size=12)


@st.composite
def card_texts(draw) -> str:
    opening = draw(st.sampled_from(["---\n", "", "--- \n", "\ufeff---\n", "+++\n"]))
    closing = draw(st.sampled_from(["---\n", "...\n", "", "--\n"]))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = opening + draw(front_matter) + "\n" + closing + "\n".join(draw(body_lines))
    return text.replace("\n", newline)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(text=card_texts(), raw=st.binary(max_size=200), as_bytes=st.booleans())
def test_hostile_card_files_never_crash_the_loader_and_spare_the_valid_cards(
        tmp_path_factory, text, raw, as_bytes):
    folder = tmp_path_factory.mktemp("deck")
    for name in ("01-rnn-architectures.md", "06-lstm-cell.md"):
        shutil.copy(CONTENT / name, folder / name)
    hostile = folder / "zz-hostile.md"  # last in file-name order: valid ids always come first
    hostile.write_bytes(raw if as_bytes else text.encode("utf-8"))
    line_count = hostile.read_bytes().count(b"\n") + hostile.read_bytes().count(b"\r") + 1

    deck = load_deck(folder, EXPERIMENTS)

    assert deck.ids[:2] == ["rnn-architectures", "lstm-cell"]
    loaded = deck.get(deck.ids[-1]) if len(deck.ids) == 3 else None
    assert (loaded is not None) != bool(deck.problems), "a file is a card or has problems"
    for problem in deck.problems:
        assert problem.path == hostile
        assert problem.message
        if problem.line is None:
            assert "is empty" in problem.message
        else:
            assert 1 <= problem.line <= line_count + 1, (problem, line_count)


@pytest.mark.parametrize("script, message", [
    ("../studyapp/cli.py", "contains '..'"),
    ("/usr/bin/env", "absolute path"),
    ("escape.py", "outside"),
    ("q99_missing.py", "not an existing file"),
    ("", "empty"),
])
def test_a_card_whose_experiment_leaves_experiments_is_refused(tmp_path, script, message):
    experiments = tmp_path / "experiments"
    experiments.mkdir()
    (experiments / "escape.py").symlink_to(ROOT / "studyapp" / "cli.py")
    card = tmp_path / "deck" / "card.md"
    card.parent.mkdir()
    card.write_text("---\nid: a-card\ntitle: A card\ntags: [rnn]\nsources: [Géron, ch. 15]\n"
                    f"experiment:\n  script: {json.dumps(script)}\n---\n\n"
                    "## Question\n\nWhy?\n\n## Answer\n\nBecause.\n")

    deck = load_deck(card.parent, experiments)

    assert deck.cards == ()
    [problem] = deck.problems
    assert problem.line == 7, "the line of 'script:'"
    assert message in problem.message


# -- time ---------------------------------------------------------------------------------------


@pytest.fixture
def berlin(monkeypatch):
    monkeypatch.setenv("TZ", "Europe/Berlin")  # clocks go forward on 2026-03-29 at 02:00
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_reviews_across_a_dst_change_count_on_the_right_study_day(berlin, deck, tmp_path):
    collection = Collection.open(deck, tmp_path / "study.db",
                                 settings=Settings(enable_fuzzing=False, new_cards_per_day=2))
    moments = [  # UTC; the study day starts at 04:00 local: 03:00 UTC before, 02:00 UTC after
        datetime(2026, 3, 28, 2, 59, tzinfo=UTC),  # 03:59 CET -> study day 27th
        datetime(2026, 3, 28, 3, 0, tzinfo=UTC),  # 04:00 CET -> 28th
        datetime(2026, 3, 29, 1, 59, tzinfo=UTC),  # 03:59 CEST -> 28th (a 23-hour day)
        datetime(2026, 3, 29, 2, 0, tzinfo=UTC),  # 04:00 CEST -> 29th
    ]
    for moment, card_id in zip(moments, collection.deck.ids, strict=False):
        collection.rate(card_id, Rating.Good, at=moment)
    stats = collection.stats(now=datetime(2026, 3, 29, 12, tzinfo=UTC), days=3)
    assert stats.reviews_per_day == [(date(2026, 3, 27), 1), (date(2026, 3, 28), 2),
                                     (date(2026, 3, 29), 1)]
    # The two new cards of the 28th were its limit; the 29th allows one more after its one.
    assert collection.counts(datetime(2026, 3, 29, 1, 59, 30, tzinfo=UTC)).new == 0
    assert collection.counts(datetime(2026, 3, 29, 2, 0, 30, tzinfo=UTC)).new == 1
    collection.close()


def test_reviews_are_ordered_by_instant_not_by_local_wall_clock(deck, tmp_path):
    collection = Collection.open(deck, tmp_path / "study.db",
                                 settings=Settings(enable_fuzzing=False))
    collection.rate("lstm-cell", Rating.Good, at=datetime.fromisoformat("2026-06-01T10:00+02:00"))
    # A later instant at an earlier wall-clock time in its own zone: accepted.
    collection.rate("lstm-cell", Rating.Good, at=datetime.fromisoformat("2026-06-01T09:30Z"))
    # An earlier instant at a later wall-clock time in its own zone: refused.
    with pytest.raises(ValueError, match="before its last review"):
        collection.rate("lstm-cell", Rating.Good,
                        at=datetime.fromisoformat("2026-06-01T11:00+03:00"))
    assert len(collection.store.reviews()) == 2
    collection.close()


def test_a_time_zone_change_between_runs_does_not_move_due_dates(tmp_path, deck):
    db = tmp_path / "study.db"

    def studyapp(zone: str, *args: str) -> str:
        completed = subprocess.run(
            [sys.executable, "-m", "studyapp", "--db", str(db), "--content", str(deck), *args],
            capture_output=True, text=True, timeout=60, env={**os.environ, "TZ": zone})
        assert completed.returncode == 0, completed.stderr
        return completed.stdout

    studyapp("America/Los_Angeles", "rate", "lstm-cell", "easy",
             "--at", "2026-01-05T18:00:00-08:00")
    dues = [{row["id"]: row["due"] for row in json.loads(studyapp(zone, "due", "--all",
                                                                  "--json"))}
            for zone in ("Asia/Tokyo", "Europe/Berlin")]
    assert dues[0] == dues[1]
    assert dues[0]["lstm-cell"].startswith("2026-01-") and dues[0]["lstm-cell"].endswith(
        "T02:00:00+00:00"), "an exact UTC instant: the review time plus whole days"


# -- CI -----------------------------------------------------------------------------------------


def test_under_ci_a_missing_shared_path_fails_instead_of_skipping(tmp_path):
    test_file = tmp_path / "test_needs_shared.py"
    test_file.write_text("from support import shared_path\n\n"
                         "def test_it():\n    shared_path('no-such-data-set')\n")
    outcomes = {}
    for ci in ("1", None):
        env = {k: v for k, v in os.environ.items() if k != "CI"}
        env["PYTHONPATH"] = str(ROOT / "tests")
        if ci:
            env["CI"] = ci
        completed = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rfs",
             str(test_file)], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
        outcomes[ci] = (completed.returncode, completed.stdout)
    assert outcomes["1"][0] == 1 and "1 failed" in outcomes["1"][1]
    assert "CI must provide it" in outcomes["1"][1]
    assert outcomes[None][0] == 0 and "1 skipped" in outcomes[None][1]
