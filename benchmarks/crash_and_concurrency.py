"""Crash and concurrency benchmark: kill a rating process at random moments, and rate from two
processes at once, then check that no acknowledged review was lost.

A review is *acknowledged* when ``Collection.rate`` has returned: the child process then writes
its log id to a pipe, as the app would show it to the user. After every ``SIGKILL`` the database
must pass ``PRAGMA integrity_check``, hold every acknowledged review, and each card's stored
state must equal the state after its newest scheduling row in the log (the log replayed).

Children are forked from this process (already holding the imports), so a kill costs
milliseconds, not an interpreter start. ``tests/test_reliability.py`` runs the same loops briefly.

    python benchmarks/crash_and_concurrency.py [--kills 200] [--ratings 500] [--seed 0]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sqlite3
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from studyapp.cards import load_deck  # noqa: E402
from studyapp.collection import Collection  # noqa: E402
from studyapp.scheduler import Rating, Settings  # noqa: E402
from studyapp.store import Store  # noqa: E402

CONTENT = ROOT / "content"


@dataclass
class Child:
    """A forked child process and the read end of the pipe it reports on."""

    pid: int
    pipe: object  # text file over the pipe's read end

    def lines(self) -> list[str]:
        """Every line the child wrote, to EOF (call after it has exited or been killed)."""
        return self.pipe.read().splitlines()


def fork(body: Callable[..., None], *args: object) -> Child:
    """Run ``body(report, *args)`` in a forked child; ``report(line)`` writes one pipe line.

    The child writes ``error <traceback>`` and exits 1 if ``body`` raises; it never returns
    into the caller's code (``os._exit``). The caller must hold no open SQLite connection.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read_fd)
        code = 0

        def report(line: str) -> None:
            os.write(write_fd, (line + "\n").encode())

        try:
            body(report, *args)
        except BaseException:
            report("error " + traceback.format_exc().replace("\n", " | "))
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    return Child(pid, os.fdopen(read_fd, "r"))


def rate_forever_or(report: Callable[[str], None], db: Path, content: Path,
                    card_ids: list[str], count: int | None, go_fd: int | None,
                    seed: int) -> None:
    """Child body: open the collection and rate ``card_ids`` in turn with random ratings,
    ``count`` times (``None``: until killed), reporting ``ok <review id>`` after each one.
    With ``go_fd``, wait for a byte on it before opening, so two children start together."""
    if go_fd is not None:
        report("ready")
        os.read(go_fd, 1)
    rng = random.Random(seed)
    collection = Collection.open(content, db, settings=Settings())
    step = 0
    while count is None or step < count:
        card_id = card_ids[step % len(card_ids)]
        review = collection.rate(card_id, rng.choice(list(Rating)), duration_ms=step)
        report(f"ok {review.id}")
        step += 1
    collection.close()


def acknowledged(lines: list[str]) -> tuple[set[int], list[str]]:
    """Review ids the child acknowledged, and the errors it reported."""
    ids = {int(line.split()[1]) for line in lines if line.startswith("ok ")}
    return ids, [line for line in lines if line.startswith("error ")]


def audit(db: Path, acked: set[int]) -> tuple[str, set[int], list[str]]:
    """Check the database after a crash or a race.

    Returns SQLite's integrity check result (``"ok"``), the acknowledged review ids missing
    from the log, and the cards whose stored state differs from their log's newest state.
    """
    conn = sqlite3.connect(db)
    integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    conn.close()
    store = Store(db)
    try:
        log = store.reviews()
        lost = acked - {review.id for review in log}
        newest = {}
        for review in log:
            if review.kind != "practice":
                newest[review.card_id] = review
        mismatched = []
        for card_id, state in store.card_states().items():
            row, card = newest.get(card_id), state.fsrs_card
            expected = None if row is None or row.state is None else (
                row.state, row.step, row.stability, row.difficulty, row.due, row.review_time)
            actual = None if card is None else (
                int(card.state), card.step, card.stability, card.difficulty, card.due,
                card.last_review)
            if expected != actual:
                mismatched.append(card_id)
    finally:
        store.close()
    return integrity, lost, mismatched


@dataclass
class CrashReport:
    kills: int
    acknowledged: int
    lost: int
    bad_integrity: int
    mismatched: int
    errors: list[str]


def crash_loop(db: Path, content: Path, kills: int, seed: int = 0,
               max_delay_s: float = 0.03) -> CrashReport:
    """Start a child that rates until killed; ``SIGKILL`` it at a random moment after its
    first acknowledged review; audit the database; repeat ``kills`` times."""
    rng = random.Random(seed)
    card_ids = load_deck(content).ids
    acked: set[int] = set()
    report = CrashReport(0, 0, 0, 0, 0, [])
    for kill in range(kills):
        child = fork(rate_forever_or, db, content, card_ids, None, None, seed * 100_003 + kill)
        first = child.pipe.readline()  # blocks until the first acknowledged review
        time.sleep(rng.uniform(0, max_delay_s))
        os.kill(child.pid, signal.SIGKILL)
        os.waitpid(child.pid, 0)
        ids, errors = acknowledged([first.strip(), *child.lines()])
        child.pipe.close()
        report.errors += errors
        acked |= ids
        integrity, lost, mismatched = audit(db, acked)
        report.kills += 1
        report.bad_integrity += integrity != "ok"
        report.lost += len(lost)
        report.mismatched += len(mismatched)
    report.acknowledged = len(acked)
    return report


@dataclass
class RaceReport:
    acknowledged: int
    log_rows: int
    lost: int
    mismatched: int
    errors: list[str]


def race(db: Path, content: Path, cards_a: list[str], cards_b: list[str], count: int,
         seed: int = 0) -> RaceReport:
    """Two children open the same database at the same moment and rate ``count`` times each
    (``cards_a`` and ``cards_b`` may overlap); then audit the log against the acknowledgments."""
    go_read, go_write = os.pipe()
    children = [fork(rate_forever_or, db, content, cards, count, go_read, seed + i)
                for i, cards in enumerate((cards_a, cards_b))]
    os.close(go_read)
    for child in children:
        if child.pipe.readline().strip() != "ready":
            raise RuntimeError(f"child {child.pid} did not start")
    os.write(go_write, b"go")  # one byte each: both children start together
    os.close(go_write)
    acked: set[int] = set()
    errors: list[str] = []
    for child in children:
        ids, child_errors = acknowledged(child.lines())
        child.pipe.close()
        _pid, status = os.waitpid(child.pid, 0)
        if status != 0 and not child_errors:
            child_errors = [f"error child exited with status {status}"]
        acked |= ids
        errors += child_errors
    integrity, lost, mismatched = audit(db, acked)
    if integrity != "ok":
        errors.append(f"error integrity check: {integrity}")
    conn = sqlite3.connect(db)
    log_rows = conn.execute("SELECT count(*) FROM reviews").fetchone()[0]
    conn.close()
    return RaceReport(len(acked), log_rows, len(lost), len(mismatched), errors)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--kills", type=int, default=200, help="SIGKILLs of a rating process")
    parser.add_argument("--ratings", type=int, default=500,
                        help="ratings per process in each two-process race")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        content = Path(shutil.copytree(CONTENT, Path(scratch) / "content"))
        started = time.perf_counter()
        crash = crash_loop(Path(scratch) / "crash.db", content, args.kills, args.seed)
        print(f"crash: {crash.kills} SIGKILLs, {crash.acknowledged} acknowledged reviews, "
              f"{crash.lost} lost, {crash.bad_integrity} failed integrity checks, "
              f"{crash.mismatched} card states differing from the log, "
              f"{len(crash.errors)} errors ({time.perf_counter() - started:.1f} s)")
        ids = load_deck(content).ids
        for name, a, b in (("same card", ids[:1], ids[:1]),
                           ("different cards", ids[:4], ids[4:])):
            started = time.perf_counter()
            result = race(Path(scratch) / f"{name.replace(' ', '-')}.db", content, a, b,
                          args.ratings, args.seed)
            print(f"two processes, {name}: {result.acknowledged} acknowledged ratings, "
                  f"{result.log_rows} log rows, {result.lost} lost, {result.mismatched} card "
                  f"states differing from the log, {len(result.errors)} errors "
                  f"({time.perf_counter() - started:.1f} s)")
            for error in result.errors[:3]:
                print("  " + error[-400:])
        for error in crash.errors[:3]:
            print("  crash child: " + error[-400:])


if __name__ == "__main__":
    main()
