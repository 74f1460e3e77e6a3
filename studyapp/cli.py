"""The ``studyapp`` command: the TUI with no subcommand, scriptable subcommands otherwise.

Errors are one line on stderr: exit status 2 for usage errors (argparse's), 1 for failures.
Heavy modules (Textual, the store) are imported only by the commands that need them, so
``--help`` and ``check`` are quick.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from studyapp import __version__, locations
from studyapp.plaintext import format_table, plural

if TYPE_CHECKING:
    from studyapp.collection import CardRow, Collection

RATINGS = ("again", "hard", "good", "easy")
FUTURE_TOLERANCE = timedelta(minutes=1)
"""How far ahead of the clock ``rate --at`` may be (two machines' clocks differ a little)."""


def _timestamp(text: str) -> datetime:
    """Parse ``--at``: ISO 8601 with an offset (``Z`` allowed)."""
    from studyapp.store import parse_time  # the same rule as import-reviews

    try:
        return parse_time(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _milliseconds(text: str) -> int:
    """Parse ``--duration-ms``: a whole, non-negative number of milliseconds."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of milliseconds: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text}")
    return value


def _open(args: argparse.Namespace) -> Collection:
    from studyapp.collection import Collection

    return Collection.open(locations.content_dir(args.content), locations.database_path(args.db))


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _row_json(row: CardRow) -> dict:
    return {
        "id": row.card.id, "title": row.card.title, "state": row.state, "due": _iso(row.due),
        "stability": row.stability, "difficulty": row.difficulty,
        "retrievability": row.retrievability, "suspended": row.suspended, "buried": row.buried,
        "changed": row.changed,
    }


# -- commands -----------------------------------------------------------------------------------


def cmd_tui(args: argparse.Namespace) -> int:
    from studyapp.app import StudyApp

    StudyApp(locations.content_dir(args.content), locations.database_path(args.db)).run()
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    from studyapp.cards import load_deck

    directory = Path(args.directory) if args.directory else locations.content_dir(args.content)
    deck = load_deck(directory, locations.experiments_dir(), require_cards=True)
    problems = [{"path": str(p.path), "line": p.line, "message": p.message}
                for p in deck.problems]
    for problem in deck.problems:
        print(problem, file=sys.stderr)
    orphans: list[str] = []
    db = locations.database_path(args.db)
    if db.exists():
        from studyapp.store import Store, StoreError

        try:
            store = Store(db)
        except StoreError as error:  # the cards are checked all the same: they need no database
            problems.append({"path": str(db), "line": None, "message": str(error)})
            print(error, file=sys.stderr)
        else:
            orphans = [i for i in store.known_card_ids() if i not in set(deck.ids)]
            store.close()
    for orphan in orphans:
        print(f"{db}: state for {orphan!r} has no card in {directory} (kept; use "
              f"'studyapp rename-id {orphan} NEW_ID' if the card was renamed)", file=sys.stderr)
    if args.json:
        print(json.dumps({
            "cards": [{"id": c.id, "title": c.title, "path": str(c.path), "tags": list(c.tags),
                       "experiment": None if c.experiment is None else
                       {"script": c.experiment.script, "args": list(c.experiment.args)}}
                      for c in deck.cards],
            "problems": problems, "orphans": orphans,
        }, indent=2, ensure_ascii=False))
    else:
        print(f"{plural(len(deck.cards), 'card')}, {plural(len(problems), 'problem')} in "
              f"{directory}" + (f" and {db}" if len(problems) > len(deck.problems) else ""))
    return 1 if problems else 0


def cmd_due(args: argparse.Namespace) -> int:
    collection = _open(args)
    now = collection.now()
    today = collection.today(now)
    rows = today.rows
    if not args.all:
        queued = set(today.queue)
        end = collection.scheduler.next_day_start(now)
        rows = [r for r in rows if r.card.id in queued or
                (r.due is not None and r.due < end and not r.suspended and not r.buried)]
    if args.json:
        print(json.dumps([_row_json(r) for r in rows], indent=2))
        return 0
    if not rows:
        from studyapp.scheduler import format_interval

        upcoming = today.next_due
        print("nothing due; " + ("no card is scheduled (every card is suspended)"
                                 if upcoming is None else
                                 f"the next card is due in {format_interval(upcoming - now)} "
                                 f"({upcoming:%Y-%m-%d %H:%M} UTC)"))
        return 0
    print(format_table(
        ["id", "state", "due (UTC)", "stability", "difficulty", "R", "flags"],
        [[r.card.id, r.state, r.due and r.due.strftime("%Y-%m-%d %H:%M"),
          r.stability and f"{r.stability:.2f}d", r.difficulty and f"{r.difficulty:.2f}",
          r.retrievability and f"{r.retrievability:.0%}",
          " ".join(f for f, on in (("suspended", r.suspended), ("buried", r.buried),
                                    ("changed", r.changed)) if on)]
         for r in rows]))
    return 0


def cmd_rate(args: argparse.Namespace) -> int:
    from studyapp.scheduler import Rating

    collection = _open(args)
    if args.at is not None and args.at > collection.now() + FUTURE_TOLERANCE:
        # A review dated in the future would refuse every real review of the card until then.
        raise ValueError(f"--at {args.at.isoformat()} is in the future; reviews are recorded "
                         "when they happen")
    review = collection.rate(args.card_id, Rating[args.rating.capitalize()], at=args.at,
                             duration_ms=args.duration_ms)
    print(f"{args.card_id}: {args.rating}; next due {_iso(review.due)}")
    return 0


def cmd_undo(args: argparse.Namespace) -> int:
    review = _open(args).undo(args.card_id)
    what = {"manual": "the reset", "review": "the review",
            "practice": "the practice review"}[review.kind]
    rated = "" if review.rating is None else f" rated {RATINGS[review.rating - 1]}"
    print(f"undid {what} of {review.card_id}{rated} at {_iso(review.review_time)}")
    return 0


CARD_ACTIONS = {"suspend": "suspended", "unsuspend": "unsuspended", "bury": "buried",
                "reset": "reset: new again, history kept"}


def _card_action(verb: str) -> Callable[[argparse.Namespace], int]:
    def command(args: argparse.Namespace) -> int:
        outcome = getattr(_open(args), verb)(args.card_id)
        detail = f" until {_iso(outcome)}" if isinstance(outcome, datetime) else ""
        print(f"{args.card_id}: {CARD_ACTIONS[verb]}{detail}")
        return 0
    return command


def cmd_rename_id(args: argparse.Namespace) -> int:
    from studyapp.store import Store

    store = Store(locations.database_path(args.db))
    store.rename_card(args.old, args.new)
    print(f"moved the history of {args.old!r} to {args.new!r}")
    return 0


def cmd_stats(args: argparse.Namespace) -> int:
    stats = _open(args).stats(days=30)
    week = stats.due_per_day[:7]
    if args.json:
        print(json.dumps({
            "counts_by_state": stats.counts_by_state,
            "reviews_per_day": [[d.isoformat(), n] for d, n in stats.reviews_per_day],
            "true_retention": stats.true_retention,
            "due_per_day": [[d.isoformat(), n] for d, n in week],
        }, indent=2))
        return 0
    print("cards by state: " + ", ".join(f"{k} {v}" for k, v in stats.counts_by_state.items()))
    retention = "n/a" if stats.true_retention is None else f"{stats.true_retention:.1%}"
    print(f"true retention (last 30 days): {retention}")
    print("reviews per day (last 30 days): "
          + (", ".join(f"{d:%m-%d} {n}" for d, n in stats.reviews_per_day if n) or "none"))
    print("due on each of the next 7 days: " + ", ".join(f"{d:%a %m-%d} {n}" for d, n in week))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    count = _open(args).store.export_reviews(Path(args.file), overwrite=args.force)
    print(f"exported {plural(count, 'review')} to {args.file}")
    return 0


ORPHANS_NAMED = 5
"""How many card ids not in the deck ``import-reviews`` names before saying "and N more"."""


def cmd_import(args: argparse.Namespace) -> int:
    collection = _open(args)
    summary = collection.store.import_reviews(Path(args.file))
    notes = []
    orphans = sorted(i for i in summary.added_by_card if collection.deck.get(i) is None)
    if orphans:
        named = ", ".join(orphans[:ORPHANS_NAMED]) + (
            f" and {len(orphans) - ORPHANS_NAMED} more" if len(orphans) > ORPHANS_NAMED else "")
        notes.append(f"{sum(summary.added_by_card[i] for i in orphans)} of them for cards not "
                     f"in the deck: {named}; kept, and 'studyapp check' lists them")
    if summary.skipped:
        notes.append(f"{summary.skipped} already in the log, skipped")
    print(f"imported {plural(summary.added, 'review')} from {args.file}"
          + "".join(f" ({note})" for note in notes))
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    from studyapp.store import Store

    path = Store(locations.database_path(args.db)).backup(Path(args.file) if args.file else None)
    print(f"backed up to {path}")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from studyapp.store import Store

    saved = Store(locations.database_path(args.db)).restore(Path(args.file))
    print(f"restored from {args.file}; the previous contents were saved to {saved}")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    from studyapp.scheduler import load_settings

    path = locations.config_path()
    settings, sources = load_settings(path)
    print(f"# settings file: {path}{'' if path.exists() else ' (absent: defaults apply)'}")
    for name, source in sources.items():
        value = getattr(settings, name)
        shown = list(value) if isinstance(value, tuple) else value
        print(f"{name} = {json.dumps(shown)}  # {source}")
    print(f"# database: {locations.database_path(args.db)}")
    print(f"# content: {locations.content_dir(args.content)}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from studyapp.runner import run_headless

    return run_headless(_open(args), args.card_id, args.script_args, smoke=args.smoke)


def cmd_runs(args: argparse.Namespace) -> int:
    from studyapp.runner import format_runs, runs

    collection = _open(args)
    recorded = runs(collection, args.card_id)
    if args.card_id and not recorded:
        collection.card(args.card_id)  # a typo is an error, not "no runs yet"
    print(format_runs(recorded))
    return 0


# -- parser -------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for every command."""
    parser = argparse.ArgumentParser(
        prog="studyapp",
        description="Flashcards for RNNs and CNNs on sequences, scheduled with FSRS. "
                    "With no command, opens the study app.")
    parser.add_argument("--version", action="version", version=f"studyapp {__version__}")
    parser.add_argument("--db", metavar="PATH",
                        help="review database (default: $STUDYAPP_DB, else the user data dir)")
    parser.add_argument("--content", metavar="DIR",
                        help="deck folder (default: $STUDYAPP_CONTENT, else the bundled deck)")
    parser.set_defaults(handler=cmd_tui)
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    def add(name: str, handler: Callable, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(handler=handler)
        return sub

    check = add("check", cmd_check, "validate the cards; exit status 1 on any problem")
    check.add_argument("directory", nargs="?", metavar="DIR", help="deck folder to check")
    check.add_argument("--json", action="store_true",
                       help='print {"cards": [...], "problems": [{"path", "line", "message"}], '
                            '"orphans": [card ids]} as JSON')

    due = add("due", cmd_due, "list the cards due now and today")
    due.add_argument("--all", action="store_true", help="list every card")
    due.add_argument("--json", action="store_true", help="print JSON")

    rate = add("rate", cmd_rate, "record one review and print the next due time")
    rate.add_argument("card_id")
    rate.add_argument("rating", choices=RATINGS)
    rate.add_argument("--at", type=_timestamp, metavar="ISO8601",
                      help="review time with UTC offset (default: now)")
    rate.add_argument("--duration-ms", type=_milliseconds, metavar="N",
                      help="time spent answering, in milliseconds")

    undo = add("undo", cmd_undo, "revert the newest review (of CARD_ID)")
    undo.add_argument("card_id", nargs="?")

    for verb, text in (("suspend", "take a card out of the queues"),
                       ("unsuspend", "put a suspended card back"),
                       ("bury", "hide a card until the next study day"),
                       ("reset", "forget a card: it becomes new (history kept)")):
        add(verb, _card_action(verb), text).add_argument("card_id")

    rename = add("rename-id", cmd_rename_id, "move a card's history to a new id")
    rename.add_argument("old")
    rename.add_argument("new")

    stats = add("stats", cmd_stats, "counts by state, reviews per day, true retention, due soon")
    stats.add_argument("--json", action="store_true", help="print JSON")

    export = add("export-reviews", cmd_export, "write the whole review log as CSV")
    export.add_argument("file")
    export.add_argument("--force", action="store_true", help="replace FILE if it exists")
    add("import-reviews", cmd_import, "append a CSV export to the review log").add_argument("file")
    backup = add("backup", cmd_backup, "copy the database (default: into its backups folder)")
    backup.add_argument("file", nargs="?")
    add("restore", cmd_restore, "replace the database with a backup (the current one is saved)"
        ).add_argument("file")
    add("config", cmd_config, "print the effective settings and where each came from")

    run = add("run", cmd_run, "run a card's experiment; arguments after -- go to the script")
    run.add_argument("card_id")
    run.add_argument("--smoke", action="store_true", help="pass --smoke for a tiny run")
    run.usage = "studyapp run [-h] [--smoke] CARD_ID [-- ARGS ...]"
    run.epilog = "Arguments after -- are appended to the card's own, e.g. -- --epochs 3."
    runs = add("runs", cmd_runs, "list past experiment runs")
    runs.add_argument("card_id", nargs="?")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    script_args: list[str] = []
    if "--" in argv:  # everything after the first "--" is for an experiment script
        split = argv.index("--")
        argv, script_args = argv[:split], argv[split + 1:]
    args = parser.parse_args(argv)
    if script_args and args.handler is not cmd_run:
        parser.error(f"unexpected arguments after --: {' '.join(script_args)}")
    args.script_args = script_args
    try:
        return args.handler(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `studyapp due --json | head`: the reader has gone
        sys.stderr.close()
        return 1
    except Exception as error:
        # Bad input and environment problems are one line; anything else is a bug: traceback.
        # Their classes are looked up, not imported, to keep SQLite off the TUI's start-up path.
        store, runner = sys.modules.get("studyapp.store"), sys.modules.get("studyapp.runner")
        expected = ((ValueError, LookupError, OSError)
                    + ((store.StoreError,) if store else ())
                    + ((runner.ExperimentUnavailable,) if runner else ()))
        if not isinstance(error, expected):
            raise
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"studyapp: error: {message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
