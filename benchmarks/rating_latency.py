"""Start-up and rating latency on a large collection: 10,000 cards and 1,000,000 reviews.

Generates a deck of small card files and a database (the schema from ``studyapp.store.Store``,
then rows inserted in bulk with ``executemany``) in a temporary folder, then drives the real app
with Textual's Pilot at 80x24:

- start: from creating the app to the deck table filled from the database;
- rating: from pressing ``3`` on a revealed card to the next card's question on screen
  (the rating is committed before that), median and 90th percentile over ``--ratings``.

Targets: start under 1.5 s; rating median under 100 ms (stretch: 16 ms).

    python benchmarks/rating_latency.py [--cards 10000] [--reviews 1000000] [--ratings 30]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from studyapp.app import StudyApp
from studyapp.screens.review import ReviewScreen
from studyapp.store import Store, to_text

NOW = datetime(2025, 3, 14, 12, 0, tzinfo=UTC)
CARD = """---
id: card-{index:05d}
title: Generated card {index}
tags: [benchmark]
sources:
  - "generated"
---

## Question

What is the output shape of layer {index} for inputs of shape `[batch, time, features]`?

## Answer

`[batch, time, units]` with `return_sequences=True`, else `[batch, units]`.
"""


def generate(folder: Path, cards: int, reviews: int, seed: int = 0) -> tuple[Path, Path]:
    """Write ``cards`` card files and a database holding ``reviews`` reviews of them."""
    rng = random.Random(seed)
    content = folder / "content"
    content.mkdir()
    for index in range(cards):
        (content / f"card-{index:05d}.md").write_text(CARD.format(index=index), encoding="utf-8")
    db = folder / "reviews.db"
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


async def measure(content: Path, db: Path, ratings: int) -> tuple[float, list[float]]:
    """Seconds to a filled deck table, and seconds per rating to the next question."""
    start = time.perf_counter()
    app = StudyApp(content, db, clock=lambda: NOW)
    async with app.run_test(size=(80, 24)) as pilot:
        while app.collection is None or not app.screen.query_one("#cards").row_count:
            if app.error:
                raise SystemExit(f"cannot open: {app.error}")
            await pilot.pause(0.01)
        started = time.perf_counter() - start
        await pilot.press("s")
        await pilot.pause()
        screen = app.screen
        if not isinstance(screen, ReviewScreen) or screen.card_id is None:
            raise SystemExit("no card to study")
        latencies = []
        for _ in range(ratings):
            await pilot.press("enter")
            await pilot.pause()
            before = screen.card_id
            tick = time.perf_counter()
            await pilot.press("3")
            await pilot.pause()  # until the next question is drawn
            latencies.append(time.perf_counter() - tick)
            if screen.card_id in (None, before):
                break
    return started, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cards", type=int, default=10_000, help="cards (default: 10000)")
    parser.add_argument("--reviews", type=int, default=1_000_000,
                        help="reviews in the log (default: 1000000)")
    parser.add_argument("--ratings", type=int, default=30, help="ratings timed (default: 30)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tick = time.perf_counter()
        content, db = generate(Path(tmp), args.cards, args.reviews)
        print(f"generated {args.cards} cards and {args.reviews} reviews "
              f"in {time.perf_counter() - tick:.1f} s")
        started, latencies = asyncio.run(measure(content, db, args.ratings))
    ms = sorted(1000 * s for s in latencies)
    print(f"start to filled deck table: {started:.2f} s (target < 1.5 s)")
    print(f"rating to next question: median {statistics.median(ms):.0f} ms, "
          f"p90 {ms[int(0.9 * (len(ms) - 1))]:.0f} ms over {len(ms)} ratings "
          "(target < 100 ms, stretch 16 ms)")


if __name__ == "__main__":
    main()
