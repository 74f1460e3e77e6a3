"""Snapshot tests of the screens at 80x24 and 120x40, with a fixed clock and fixed reviews.

Regenerate after an intended change with ``pytest --snapshot-update tests/test_snapshots.py``
and look at the SVGs in ``tests/__snapshots__/`` before committing them.
"""

from __future__ import annotations

import os
import shutil
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from studyapp.app import StudyApp
from studyapp.collection import Collection
from studyapp.scheduler import Rating, Settings
from support import CONTENT

NOW = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]
HISTORY = [Rating.Good, Rating.Good, Rating.Again, Rating.Good, Rating.Easy, Rating.Hard]
"""Ratings given to the first cards over the past days, so every column and plot has data."""


@pytest.fixture
def utc_local_time():
    """Local time is UTC during the test: study days start at a local hour."""
    saved = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    yield
    if saved is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = saved
    time.tzset()


@pytest.fixture
def app(tmp_path: Path, utc_local_time) -> StudyApp:
    """The app on a copy of the deck whose first cards have a few weeks of reviews.

    Fuzzing is off while seeding and local time is UTC, so every run draws the same days.
    """
    deck = Path(shutil.copytree(CONTENT, tmp_path / "content"))
    db = tmp_path / "reviews.db"
    start = NOW - timedelta(days=24)
    collection = Collection.open(deck, db, clock=lambda: NOW,
                                 settings=Settings(enable_fuzzing=False))
    try:
        for index, card_id in enumerate(collection.deck.ids[:4]):
            when = start + timedelta(hours=index)
            for rating in HISTORY[index:]:
                review = collection.rate(card_id, rating, at=when, duration_ms=8000)
                when = max(review.due, when + timedelta(minutes=1))
                if when >= NOW:
                    break
        collection.suspend(collection.deck.ids[5])
    finally:
        collection.close()
    return StudyApp(deck, db, clock=lambda: NOW)


async def wait_opened(pilot) -> None:
    """Wait until the collection is open and the deck drawn."""
    for _ in range(400):
        if pilot.app.collection is not None:
            break
        await pilot.pause(0.05)
    await pilot.pause()


@pytest.mark.parametrize("size", SIZES)
def test_deck(snap_compare, app, size):
    assert snap_compare(app, terminal_size=size, run_before=wait_opened)


@pytest.mark.parametrize("size", SIZES)
def test_review_question(snap_compare, app, size):
    async def study(pilot) -> None:
        await wait_opened(pilot)
        await pilot.press("s", *"rnn")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=study)


@pytest.mark.parametrize("size", SIZES)
def test_review_revealed(snap_compare, app, size):
    async def reveal(pilot) -> None:
        await wait_opened(pilot)
        await pilot.press("s", *"rnn", "enter")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=reveal)


@pytest.mark.parametrize("size", SIZES)
def test_stats(snap_compare, app, size):
    async def stats(pilot) -> None:
        await wait_opened(pilot)
        await pilot.press("t")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=stats)


@pytest.mark.parametrize("size", SIZES)
def test_help(snap_compare, app, size):
    async def show_help(pilot) -> None:
        await wait_opened(pilot)
        await pilot.press("f1")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=show_help)
