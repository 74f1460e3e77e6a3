"""Start-up and rating latency on a large collection: 10,000 cards and 1,000,000 reviews.

Generates a deck and a database in a folder: every card file carries the question and answer
of one of the bundled cards (so the markdown is as long as the real cards'), under its own id
and title; the database gets the schema from ``studyapp.store.Store``, then rows inserted in
bulk with ``executemany``. Each run then works on a copy of the database, with the user
folders (config, parse cache, backups) in a fresh temporary folder, and measures:

- cold start: the first start of a ``python`` process running the app on a pseudo-terminal
  (80x24), from launching it to the deck table painted with every card. Every card file is
  parsed (the parse cache is empty) and the daily backup is made: the first start after
  installing, or after every card changed.
- warm start: the same, started again (median of ``--starts``): what a daily user sees.
- rating: from pressing ``3`` on a revealed card to the first frame that shows the next card's
  question laid out (the rating is committed before it), driven by Textual's Pilot at 80x24. A
  frame is a call of ``App._display`` (Textual's private method that writes a screen update to
  the terminal; headless, the update is computed and not written). After each rating the
  benchmark waits for the app to go idle and checks that the heading shows the next card's
  title; ``cpu`` is the process time used from the key to idle, which includes work done after
  the frame (work that delays the next key).

Targets: start under 1.5 s; rating median under 100 ms (stretch: 16 ms, one frame).

    python benchmarks/rating_latency.py [--cards 10000] [--reviews 1000000] [--ratings 30]
                                        [--starts 3] [--folder DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from startup import run_on_pty

from studyapp.app import StudyApp
from studyapp.cards import load_deck
from studyapp.screens.review import ReviewScreen
from studyapp.store import Store, to_text

ROOT = Path(__file__).resolve().parents[1]
NOW = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
CARD = """---
id: card-{index:05d}
title: "{title} ({index})"
tags: [benchmark]
sources:
  - "generated"
---

## Question

{question}

## Answer

{answer}
"""

FILLED = """
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from studyapp.app import StudyApp

NOW = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)


class Filled(StudyApp):
    def on_mount(self):  # StudyApp.on_mount runs too: Textual calls both
        self.stamped = False
        self.set_interval(0.005, self.check_filled)

    def check_filled(self):
        collection = self.collection
        if self.error:
            raise SystemExit(self.error)
        if self.stamped or collection is None:
            return
        if self.screen.query_one("#cards").row_count == len(collection.deck.cards):
            self.stamped = True
            self.call_after_refresh(self.stamp)

    def stamp(self):
        Path(sys.argv[3]).write_text(repr(time.time()))
        self.exit()


Filled(Path(sys.argv[1]), Path(sys.argv[2]), clock=lambda: NOW).run()
"""
"""A studyapp that writes the wall time (``time.time()``) at which its deck table, holding every
card, was painted to the file ``argv[3]``, then exits."""


def generate(folder: Path, cards: int, reviews: int, seed: int = 0) -> tuple[Path, Path]:
    """Write ``cards`` card files and a database holding ``reviews`` reviews of them.

    Returns ``(content folder, database)``; reuses them when ``folder`` already has both.
    """
    content, db = folder / "content", folder / "reviews.db"
    if content.is_dir() and db.is_file():
        return content, db
    rng = random.Random(seed)
    content.mkdir(parents=True)
    bundled = load_deck(ROOT / "content").cards
    for index in range(cards):
        model = bundled[index % len(bundled)]
        (content / f"card-{index:05d}.md").write_text(CARD.format(
            index=index, title=model.title.replace('"', "'"), question=model.question,
            answer=model.answer), encoding="utf-8")
    Store(db).close()  # the schema, migrated
    per_card = max(1, reviews // cards)
    conn = sqlite3.connect(db)
    with conn:
        card_rows, review_rows = [], []
        for index in range(cards):
            card_id = f"card-{index:05d}"
            stability = rng.uniform(1, 300)
            due = NOW + timedelta(days=rng.uniform(-3, 60))  # a few hundred due now
            card_rows.append((card_id, index + 1, 2, None, stability, rng.uniform(1, 10),
                              to_text(due), to_text(NOW - timedelta(days=1)), 0, None, 3, None))
            start = NOW - timedelta(days=730)
            for n in range(per_card):
                when = start + timedelta(days=730 * n / per_card, minutes=index % 1000)
                review_rows.append((card_id, "review", rng.choice((1, 3, 3, 3, 4)),
                                    to_text(when), 8000, None, 2, None, stability,
                                    5.0, to_text(when + timedelta(days=7))))
        conn.executemany("INSERT INTO cards VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", card_rows)
        conn.executemany(
            "INSERT INTO reviews (card_id, kind, rating, review_time, review_duration_ms, "
            "content_hash, state, step, stability, difficulty, due) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?)", review_rows)
    conn.close()
    return content, db


def start_seconds(content: Path, db: Path, stamp: Path) -> float:
    """Wall seconds from launching the app process to its deck table painted in full."""
    stamp.unlink(missing_ok=True)
    launched = time.time()
    run_on_pty([sys.executable, "-c", FILLED, str(content), str(db), str(stamp)])
    return float(stamp.read_text()) - launched


class FrameClock(StudyApp):
    """The app, noting the time of every frame and, when the frame's layout is the question
    state of the review screen (the answer box in place, the rating buttons not), the card on
    screen; ``None`` otherwise.

    Textual can draw a frame with new text in the previous layout (each widget asks for its
    layout from its own message queue), e.g. the next question above the last answer: such a
    frame does not count as the next card shown.
    """

    frames: list[tuple[float, str | None]]

    def _display(self, screen, renderable) -> None:  # noqa: ANN001 (Textual's private hook)
        super()._display(screen, renderable)
        if renderable is not None and not self._batch_count:
            question_laid_out = (isinstance(screen, ReviewScreen)
                                 and screen.query_one("#answer-input").region.height > 0
                                 and not screen.query_one("#ratings").region.height)
            self.frames.append((time.perf_counter(),
                                screen.card_id if question_laid_out else None))


async def rating_latencies(content: Path, db: Path, ratings: int) -> list[tuple[float, float]]:
    """``(seconds to the first frame showing the next card, CPU seconds to idle)`` per rating."""
    app = FrameClock(content, db, clock=lambda: NOW)
    app.frames = []
    measured = []
    async with app.run_test(size=(80, 24)) as pilot:
        while app.collection is None or not app.screen.query_one("#cards").row_count:
            if app.error:
                raise SystemExit(f"cannot open: {app.error}")
            await pilot.pause(0.01)
        await pilot.press("s")
        await pilot.pause()
        screen = app.screen
        if not isinstance(screen, ReviewScreen) or screen.card_id is None:
            raise SystemExit("no card to study")
        for _ in range(ratings):
            await pilot.press("enter")
            await pilot.pause()
            before = screen.card_id
            app.frames.clear()
            cpu, tick = time.process_time(), time.perf_counter()
            await pilot.press("3")
            await pilot.pause()  # until idle: the next card and whatever follows it
            cpu = time.process_time() - cpu
            if screen.card_id in (None, before):
                break  # the session ended (or the same card came back)
            title = app.collection.deck.get(screen.card_id).title
            if title not in str(screen.query_one("#heading").render()):
                raise SystemExit(f"the heading does not show {title!r} after the rating")
            painted = next(at for at, card_id in app.frames if card_id == screen.card_id)
            measured.append((painted - tick, cpu))
    return measured


def summary(name: str, seconds: list[float], target: str) -> str:
    ms = sorted(1000 * s for s in seconds)
    return (f"{name}: median {statistics.median(ms):.0f} ms, p90 {ms[int(0.9 * (len(ms) - 1))]:.0f}"
            f" ms over {len(ms)} ({target})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cards", type=int, default=10_000, help="cards (default: 10000)")
    parser.add_argument("--reviews", type=int, default=1_000_000,
                        help="reviews in the log (default: 1000000)")
    parser.add_argument("--ratings", type=int, default=30, help="ratings timed (default: 30)")
    parser.add_argument("--starts", type=int, default=3, help="warm starts timed (default: 3)")
    parser.add_argument("--folder", type=Path,
                        help="generate the collection here, or reuse the one there "
                             "(default: a temporary folder)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        scratch = Path(tmp)
        tick = time.perf_counter()
        content, generated = generate(args.folder or scratch / "generated", args.cards,
                                      args.reviews)
        print(f"{args.cards} cards and {args.reviews} reviews ready "
              f"in {time.perf_counter() - tick:.1f} s")
        db = scratch / "run" / "reviews.db"
        db.parent.mkdir()
        shutil.copyfile(generated, db)
        for name in ("XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
            os.environ[name] = str(scratch / name.lower())  # read by the app and its children
        stamp = scratch / "painted"
        cold = start_seconds(content, db, stamp)
        warm = [start_seconds(content, db, stamp) for _ in range(args.starts)]
        measured = asyncio.run(rating_latencies(content, db, args.ratings))
    print(f"load average: {' '.join(f'{load:.1f}' for load in os.getloadavg())} "
          f"on {os.cpu_count()} CPUs")
    print(f"cold start to the full deck table: {cold:.2f} s (target < 1.5 s)")
    print(f"warm start to the full deck table: median {statistics.median(warm):.2f} s, "
          f"min {min(warm):.2f} s over {len(warm)} (target < 1.5 s)")
    print(summary("rating to the next card painted", [painted for painted, _ in measured],
                  "target < 100 ms, stretch 16 ms"))
    print(summary("CPU per rating, key to idle", [cpu for _, cpu in measured],
                  "includes work after the frame"))


if __name__ == "__main__":
    main()
