"""Tests for the ``studyapp`` command: real subprocesses, a copy of the deck, a temp database."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from studyapp.collection import Collection
from studyapp.scheduler import Rating, Settings
from studyapp.store import EXPORT_COLUMNS
from support import CONTENT, ROOT

COMMANDS = ["check", "due", "rate", "undo", "suspend", "unsuspend", "bury", "reset", "rename-id",
            "stats", "export-reviews", "import-reviews", "backup", "restore", "config", "run",
            "runs"]
DECK_IDS = [
    "rnn-architectures", "rnn-tensor-shapes", "return-sequences", "seven-day-forecast",
    "rnn-training-difficulties", "lstm-cell", "conv1d-in-rnns", "video-classification",
    "sketchrnn-classifier",
]


def studyapp(*args: str, db: Path | None = None, content: Path | None = None,
             expect: int = 0, zone: str = "Europe/Berlin") -> subprocess.CompletedProcess:
    """Run ``python -m studyapp [--db DB] [--content DIR] ARGS`` and check its exit status."""
    options = [*(["--db", str(db)] if db else []), *(["--content", str(content)] if content
                                                     else [])]
    completed = subprocess.run(
        [sys.executable, "-m", "studyapp", *options, *args], capture_output=True, text=True,
        cwd=ROOT, timeout=60, env={**os.environ, "TZ": zone})
    assert completed.returncode == expect, (
        f"studyapp {' '.join(args)} exited {completed.returncode}, not {expect}\n"
        f"stdout: {completed.stdout}\nstderr: {completed.stderr}")
    return completed


def one_line_error(completed: subprocess.CompletedProcess, *fragments: str) -> str:
    """The single stderr line of a failed command; checks it has no traceback."""
    lines = completed.stderr.splitlines()
    assert len(lines) == 1 and "Traceback" not in completed.stderr, completed.stderr
    assert lines[0].startswith("studyapp: error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def due(db: Path, content: Path, *flags: str, zone: str = "Europe/Berlin") -> dict[str, dict]:
    rows = json.loads(studyapp("due", "--json", *flags, db=db, content=content,
                               zone=zone).stdout)
    return {row["id"]: row for row in rows}


def without_retrievability(rows: dict[str, dict]) -> dict[str, dict]:
    """Rows minus retrievability, which depends on the moment ``due`` ran."""
    return {i: {k: v for k, v in row.items() if k != "retrievability"} for i, row in rows.items()}


@pytest.fixture
def deck(tmp_path) -> Path:
    return shutil.copytree(CONTENT, tmp_path / "content")


@pytest.fixture
def db(tmp_path) -> Path:
    return tmp_path / "data" / "study.db"


def test_version_and_help_for_every_command():
    assert studyapp("--version").stdout.startswith("studyapp ")
    overview = studyapp("--help").stdout
    for command in COMMANDS:
        assert command in overview
        assert studyapp(command, "--help").stdout.startswith(f"usage: studyapp {command}")


def test_check_passes_the_real_deck_and_lists_it_in_deck_order():
    assert "9 cards, 0 problems" in studyapp("check").stdout
    listed = json.loads(studyapp("check", "--json").stdout)
    assert [card["id"] for card in listed["cards"]] == DECK_IDS
    assert all(card["title"] and card["path"].endswith(".md") for card in listed["cards"])
    assert (listed["problems"], listed["orphans"]) == ([], [])


def test_check_fails_on_a_broken_copy_with_file_and_line(deck):
    broken = deck / "03-return-sequences.md"
    broken.write_text(broken.read_text().replace("tags:", "tagz:", 1))
    completed = studyapp("check", str(deck), expect=1)
    assert f"{broken}:4: unknown front matter key 'tagz'" in completed.stderr
    assert "8 cards, 2 problems in" in completed.stdout  # the unknown key, and 'tags' missing
    listed = json.loads(studyapp("check", str(deck), "--json", expect=1).stdout)
    assert len(listed["cards"]) == 8
    assert {"path": str(broken), "line": 4, "message": "unknown front matter key 'tagz'; the "
            "keys are id, title, tags, sources, experiment (check the spelling)"} \
        in listed["problems"]


def test_check_checks_the_cards_when_the_database_is_damaged(tmp_path, deck):
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"\x00garbage" * 1000)
    broken = deck / "03-return-sequences.md"
    broken.write_text(broken.read_text().replace("sources:\n", "sources: []\nx:\n", 1))
    completed = studyapp("check", db=damaged, content=deck, expect=1)
    assert completed.stderr.splitlines()[-1].startswith(
        f"{damaged} is not a usable studyapp database")
    assert f"{broken}:5: sources is empty" in completed.stderr
    assert completed.stdout == f"8 cards, 3 problems in {deck} and {damaged}\n"
    listed = json.loads(studyapp("check", "--json", db=damaged, content=deck, expect=1).stdout)
    assert len(listed["cards"]) == 8
    assert listed["problems"][-1]["path"] == str(damaged)
    assert "not a usable studyapp database" in listed["problems"][-1]["message"]
    assert damaged.read_bytes() == b"\x00garbage" * 1000


def test_a_folder_without_cards_is_an_error_naming_it(tmp_path, db):
    folder = tmp_path / "nonexistent"
    (folder / "dir").mkdir(parents=True)  # e.g. made by an earlier --db nonexistent/dir/b.db
    for args in (["check", str(folder)], ["--content", str(folder), "due"]):
        one_line_error(studyapp(*args, db=db, expect=1),
                       f"card folder {folder} has no card files")


def collection(db: Path, deck: Path) -> Collection:
    """The same database opened in this process, to set up state without a subprocess each."""
    return Collection.open(deck, db, settings=Settings(enable_fuzzing=False))


def test_rate_undo_and_card_actions(db, deck):
    first = studyapp("rate", "lstm-cell", "good", "--at", "2026-01-05T10:00:00+01:00", db=db,
                     content=deck).stdout
    assert first.startswith("lstm-cell: good; next due 2026-01-05T09:10:00+00:00")
    one_line_error(studyapp("rate", "lstm-cell", "good", "--at", "2026-01-05T08:59:00Z", db=db,
                            content=deck, expect=1), "before its last review")
    assert "undid the review of lstm-cell rated good at" in studyapp("undo", db=db,
                                                                     content=deck).stdout
    one_line_error(studyapp("undo", db=db, content=deck, expect=1), "nothing to undo")
    one_line_error(studyapp("undo", "nosuch", db=db, content=deck, expect=1),
                   f"no card with id 'nosuch' in {deck}")

    setup = collection(db, deck)
    setup.rate("rnn-architectures", Rating.Again, at=datetime(2026, 1, 5, 9, tzinfo=UTC))
    setup.suspend("return-sequences")
    setup.close()
    for verb, card_id in (("suspend", "lstm-cell"), ("bury", "conv1d-in-rnns"),
                          ("unsuspend", "return-sequences"), ("reset", "rnn-architectures")):
        assert studyapp(verb, card_id, db=db, content=deck).stdout.startswith(f"{card_id}: ")
    rows = due(db, deck, "--all")
    assert list(rows) == DECK_IDS
    flags = {i: (r["state"], r["suspended"], r["buried"]) for i, r in rows.items()}
    assert flags["lstm-cell"] == ("New", True, False)
    assert flags["conv1d-in-rnns"] == ("New", False, True)
    assert flags["return-sequences"] == ("New", False, False)
    assert flags["rnn-architectures"] == ("New", False, False)
    assert studyapp("undo", db=db, content=deck).stdout.startswith(
        "undid the reset of rnn-architectures at ")


def test_due_says_when_the_next_card_is_due_when_nothing_is(db, deck):
    setup = collection(db, deck)
    for card_id in DECK_IDS:
        setup.rate(card_id, Rating.Easy, at=setup.now())
    next_due = setup.next_due()
    setup.close()
    assert studyapp("due", db=db, content=deck).stdout == (
        f"nothing due; the next card is due in 8d ({next_due:%Y-%m-%d %H:%M} UTC)\n")


def test_a_renamed_card_is_reported_as_an_orphan_and_rename_id_moves_its_history(db, deck):
    setup = collection(db, deck)
    setup.rate("lstm-cell", Rating.Easy, at=datetime(2026, 1, 5, 9, tzinfo=UTC))
    setup.close()
    card = deck / "06-lstm-cell.md"
    card.write_text(card.read_text().replace("id: lstm-cell", "id: lstm-cell-gates"))
    check = studyapp("check", db=db, content=deck)
    assert "state for 'lstm-cell' has no card" in check.stderr
    assert "rename-id lstm-cell NEW_ID" in check.stderr

    studyapp("rename-id", "lstm-cell", "lstm-cell-gates", db=db, content=deck)
    rows = due(db, deck, "--all")
    assert rows["lstm-cell-gates"]["state"] == "Review"


def test_export_then_import_into_an_empty_database_reproduces_due_exactly(tmp_path, db, deck):
    setup = Collection.open(deck, db, settings=Settings(enable_fuzzing=True))
    # Within the last 30 days of the real clock, which the CLI's stats use.
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=12)
    for step, card_id in enumerate(DECK_IDS[:6] * 4):
        setup.rate(card_id, list(Rating)[step * 7 % 4], at=start + timedelta(hours=step * 9))
    setup.rate(DECK_IDS[0], Rating.Again, at=start + timedelta(days=9), practice=True)
    setup.close()

    exported = tmp_path / "reviews.csv"
    assert "exported 25 reviews" in studyapp("export-reviews", str(exported), db=db,
                                             content=deck).stdout
    one_line_error(studyapp("export-reviews", str(exported), db=db, content=deck, expect=1),
                   f"{exported} already exists", "--force")
    assert "exported 25 reviews" in studyapp("export-reviews", "--force", str(exported), db=db,
                                             content=deck).stdout
    fresh = tmp_path / "fresh" / "study.db"
    assert "imported 25 reviews" in studyapp("import-reviews", str(exported), db=fresh,
                                             content=deck).stdout
    original, imported = due(db, deck, "--all"), due(fresh, deck, "--all")
    assert without_retrievability(imported) == without_retrievability(original)
    for card_id, row in original.items():
        assert imported[card_id]["retrievability"] == pytest.approx(row["retrievability"],
                                                                    rel=1e-6)

    stats = json.loads(studyapp("stats", "--json", db=fresh, content=deck).stdout)
    assert stats["counts_by_state"]["New"] == 3
    assert sum(n for _day, n in stats["reviews_per_day"]) == 24, "practice is not a review"
    assert len(stats["reviews_per_day"]) == 30 and len(stats["due_per_day"]) == 7


def test_import_refuses_a_time_without_offset_and_names_reviews_of_unknown_cards(tmp_path, db,
                                                                              deck):
    header = ",".join(EXPORT_COLUMNS)
    row = "{card},review,{time},3,,,2,0,2.3,2.1,2026-01-05T09:10:00+00:00"
    naive = tmp_path / "naive.csv"
    naive.write_text("\n".join([header, row.format(card="lstm-cell", time="2026-01-05T09:00Z"),
                                row.format(card="ghost", time="2026-11-30T10:00:00")]) + "\n")
    one_line_error(studyapp("import-reviews", str(naive), db=db, content=deck, expect=1),
                   f"{naive}:3: review_time '2026-11-30T10:00:00' has no UTC offset",
                   "nothing was imported")
    assert "exported 0 reviews" in studyapp("export-reviews", str(tmp_path / "out.csv"), db=db,
                                            content=deck).stdout

    mixed = tmp_path / "mixed.csv"
    mixed.write_text("\n".join([header, row.format(card="lstm-cell", time="2026-01-05T09:00Z"),
                                row.format(card="ghost", time="2026-01-05T09:00Z")]) + "\n")
    assert studyapp("import-reviews", str(mixed), db=db, content=deck).stdout == (
        f"imported 2 reviews from {mixed} (1 of them for cards not in the deck: ghost; kept, "
        "and 'studyapp check' lists them)\n")
    assert studyapp("import-reviews", str(mixed), db=db, content=deck).stdout == (
        f"imported 0 reviews from {mixed} (2 already in the log, skipped)\n")
    one_line_error(studyapp("import-reviews", str(tmp_path / "missing.csv"), db=db, content=deck,
                            expect=1), f"cannot read {tmp_path / 'missing.csv'} (No such file")


def test_backup_refuses_to_overwrite_and_names_what_it_cannot_write(tmp_path, db, deck):
    studyapp("due", db=db, content=deck)  # creates the database
    card = deck / "01-rnn-architectures.md"
    before = card.read_bytes()
    for destination, words in ((card, "already exists and was left as it is"),
                               (deck, "is a folder; give a file name"),
                               (Path("/proc/x.db"), "cannot create")):
        one_line_error(studyapp("backup", str(destination), db=db, content=deck, expect=1),
                       str(destination), words)
    assert card.read_bytes() == before
    one_line_error(studyapp("restore", str(deck), db=db, content=deck, expect=1),
                   f"cannot restore from {deck}: it is a folder")
    one_line_error(studyapp("due", db=tmp_path, content=deck, expect=1),
                   f"{tmp_path} is a folder, not a database file")


def test_backup_and_restore(tmp_path, db, deck):
    setup = collection(db, deck)
    setup.rate("lstm-cell", Rating.Good, at=datetime(2026, 1, 5, 9, tzinfo=UTC))
    copy = tmp_path / "copy.db"
    assert str(copy) in studyapp("backup", str(copy), db=db, content=deck).stdout
    setup.rate("lstm-cell", Rating.Again, at=datetime(2026, 1, 5, 9, 30, tzinfo=UTC))
    setup.close()
    restored = studyapp("restore", str(copy), db=db, content=deck).stdout
    assert "the previous contents were saved to" in restored
    after = collection(db, deck)
    assert [r.rating for r in after.store.reviews()] == [Rating.Good]
    after.close()


def test_config_shows_each_value_and_its_source(tmp_path, isolated_user_dirs):
    config = isolated_user_dirs / "xdg_config_home" / "studyapp" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("new_cards_per_day = 5\n")
    out = studyapp("config").stdout
    assert f"new_cards_per_day = 5  # {config}" in out
    assert "desired_retention = 0.9  # default" in out
    assert "learning_steps = [1.0, 10.0]  # default" in out


@pytest.mark.parametrize("args", [
    ["rate", "lstm-cell", "superb"],
    ["rate", "lstm-cell", "good", "--at", "yesterday"],
    ["rate", "lstm-cell", "good", "--at", "2026-01-05T09:00:00"],
    ["rate", "lstm-cell", "good", "--duration-ms", "-5"],
    ["rate", "lstm-cell", "good", "--duration-ms", "abc"],
    ["due", "--", "--all"],
    ["no-such-command"],
    ["rename-id", "only-one"],
])
def test_usage_errors_exit_2_without_a_traceback(args, db):
    completed = studyapp(*args, db=db, expect=2)
    assert completed.stderr.splitlines()[-1].startswith("studyapp")
    assert "error:" in completed.stderr and "Traceback" not in completed.stderr
    assert not db.exists()


def test_failures_exit_1_with_one_line(tmp_path, db, deck):
    one_line_error(studyapp("rate", "no-such-card", "good", db=db, content=deck, expect=1),
                   "no card with id 'no-such-card'")
    one_line_error(studyapp("rate", "lstm-cell", "good", "--at", "2999-01-01T00:00:00Z", db=db,
                            content=deck, expect=1), "is in the future")
    one_line_error(studyapp("runs", "no-such-card", db=db, content=deck, expect=1),
                   "no card with id 'no-such-card'")
    damaged = tmp_path / "damaged.db"
    damaged.write_bytes(b"\x00garbage" * 1000)
    one_line_error(studyapp("due", db=damaged, content=deck, expect=1),
                   str(damaged), "not a usable studyapp database")
    assert damaged.read_bytes() == b"\x00garbage" * 1000


def test_arguments_after_a_double_dash_go_to_the_experiment_script(monkeypatch):
    import studyapp.cli as cli
    import studyapp.runner as runner

    calls = []
    monkeypatch.setattr(cli, "_open", lambda args: "collection")
    monkeypatch.setattr(runner, "run_headless", lambda collection, card_id, extra, smoke:
                        calls.append((card_id, extra, smoke)) or 0)
    assert cli.main(["run", "lstm-cell", "--smoke", "--", "--seed", "3", "--smoke"]) == 0
    assert cli.main(["run", "lstm-cell"]) == 0
    assert calls == [("lstm-cell", ["--seed", "3", "--smoke"], True), ("lstm-cell", [], False)]
