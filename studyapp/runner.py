"""Run a card's experiment script as a subprocess and turn its output into events.

A run is ``python -u experiments/<script> [--output-dir DIR] <card args> <extra args>
[--smoke]``: an argv list, never a shell, with the app's own interpreter (``sys.executable``),
stdin closed, stderr merged into stdout and the child in a new session, so cancelling signals
its whole process group (SIGTERM, then SIGKILL after a grace period). ``DIR`` is beside the
database (:func:`build_argv`), so a run's artefacts move with ``--db`` like its log. Output is
read in chunks and split into lines by :class:`LineSplitter`; a line longer than
:data:`LINE_LIMIT` is cut into pieces rather than crashing the reader. Each line becomes a
:class:`LogLine`, :class:`Progress` or :class:`Result` per ``experiments/protocol.py`` (this
module never imports it: :func:`parse_event` is the one place that reads events). Every run is
recorded in the store and its raw output saved to a log file under
:func:`studyapp.locations.runs_dir`.

The core is asynchronous (:class:`ExperimentRun`, used by the TUI); :func:`run_headless` drives
the same core with ``asyncio.run`` for the command line. No Textual, no TensorFlow here:
:func:`require_tensorflow` only asks ``importlib`` whether it could be imported.
"""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.util import find_spec
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from studyapp import locations
from studyapp.cards import Card
from studyapp.plaintext import format_duration, format_table, format_value, is_number
from studyapp.store import Run

if TYPE_CHECKING:
    from studyapp.collection import Collection

LINE_LIMIT = 1024 * 1024
"""Longest line kept whole, in bytes (1 MiB); a longer one is split into pieces of this size."""
READ_CHUNK = 256 * 1024
"""Bytes read from the script's stdout at a time."""
CANCEL_GRACE_S = 3.0
"""Seconds between SIGTERM and SIGKILL when a run is cancelled."""
KILL_SETTLE_S = 0.2
"""Seconds a cancel waits, after SIGKILL, for the script's children to go."""
TAIL_LINES = 20
"""How many of the last log lines a run keeps for showing a crash."""
INSTALL_HINT = "pip install -e '.[experiments]'"
OUTPUT_DIR_OPTION = "--output-dir"
"""The option every script takes for the folder of its artefacts (``protocol.make_parser``)."""


class ExperimentUnavailable(RuntimeError):
    """Experiments cannot run here: TensorFlow (the ``experiments`` extra) is not installed."""


# -- events ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LogLine:
    """One line of ordinary output, without its line ending."""

    text: str
    malformed_event: bool = False
    """True when the line looked like an event (``{`` ... ``"event"``) but was not a valid one."""


@dataclass(frozen=True)
class Progress:
    """``step`` of ``total`` (1-based), e.g. an epoch, with that step's metrics (``None`` for a
    non-finite value)."""

    step: int
    total: int
    metrics: dict[str, float | None]


@dataclass(frozen=True)
class Result:
    """The script's final result event (see ``experiments/protocol.py`` for the shapes)."""

    metrics: dict[str, Any]
    tables: list[dict[str, Any]]
    """Each ``{"title", "columns": [str], "rows": [[cell, ...]]}``."""
    plots: list[dict[str, Any]]
    """Each ``{"title", "x_label", "y_label", "series": {name: [[x, y], ...]}}``."""
    artifacts: list[str]
    """Absolute paths of files the run saved."""
    event: dict[str, Any] = field(repr=False)
    """The event as parsed, which the store keeps."""


Event = LogLine | Progress | Result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not strict JSON")


def parse_event(line: str) -> dict[str, Any] | None:
    """The event on ``line`` as a dict, or ``None`` when the line is not a valid event.

    An event is a strict JSON object (no NaN or Infinity) on one line with a string ``"event"``
    key, e.g. ``{"event": "progress", "step": 1, "total": 3, "metrics": {"loss": 0.5}}``.
    """
    stripped = line.strip()
    if not _looks_like_event(stripped):
        return None
    try:
        value = json.loads(stripped, parse_constant=_reject_constant)
    except ValueError:
        return None
    if isinstance(value, dict) and isinstance(value.get("event"), str):
        return value
    return None


def _looks_like_event(stripped: str) -> bool:
    return stripped.startswith("{") and '"event"' in stripped


def to_event(line: str) -> Event:
    """Turn one output line into a :class:`Progress`, a :class:`Result` or a :class:`LogLine`.

    A progress event needs integer ``step`` and positive ``total`` and numeric metrics; a result
    needs a ``metrics`` object and lists of tables, plots and artifact paths. Anything that looks
    like an event and fails these checks (bad JSON, unknown kind, wrong shapes) is log text with
    ``malformed_event=True``.
    """
    event = parse_event(line)
    if event is None:
        return LogLine(line, malformed_event=_looks_like_event(line.strip()))
    kind = event["event"]
    if kind == "progress":
        step, total, metrics = event.get("step"), event.get("total"), event.get("metrics", {})
        if (isinstance(step, int) and isinstance(total, int) and total > 0
                and isinstance(metrics, dict) and all(map(is_number, metrics.values()))):
            return Progress(step, total, metrics)
    elif kind == "result":
        metrics, tables, plots, artifacts = (event.get(key, default) for key, default in (
            ("metrics", None), ("tables", []), ("plots", []), ("artifacts", [])))
        if (isinstance(metrics, dict) and isinstance(tables, list) and isinstance(plots, list)
                and all(isinstance(t, dict) for t in tables + plots)
                and isinstance(artifacts, list) and all(isinstance(a, str) for a in artifacts)):
            return Result(metrics, tables, plots, artifacts, event)
    return LogLine(line, malformed_event=True)


class LineSplitter:
    """Split a byte stream into text lines, at most ``limit`` bytes each.

    ``\\n`` ends a line and a trailing ``\\r`` is dropped; within a line, text before the last
    ``\\r`` is dropped, as a terminal would overwrite it (progress bars). Bytes that are not
    UTF-8 become U+FFFD. A line longer than ``limit`` comes out in ``limit``-byte pieces.
    """

    def __init__(self, limit: int = LINE_LIMIT) -> None:
        if limit < 1:
            raise ValueError(f"line limit must be at least 1 byte, not {limit}")
        self.limit = limit
        self._pending = bytearray()

    def feed(self, data: bytes) -> list[str]:
        """Add ``data``; return the lines it completed."""
        self._pending += data
        *complete, rest = self._pending.split(b"\n")
        self._pending = bytearray(rest)
        lines = [self._text(raw) for raw in complete]
        while len(self._pending) > self.limit:
            lines.append(self._text(self._pending[:self.limit]))
            del self._pending[:self.limit]
        return lines

    def close(self) -> list[str]:
        """The last line when the stream did not end with a newline."""
        rest, self._pending = self._pending, bytearray()
        return [self._text(rest)] if rest else []

    @staticmethod
    def _text(raw: bytes | bytearray) -> str:
        text = bytes(raw).decode("utf-8", errors="replace").rstrip("\r")
        return text.rsplit("\r", 1)[-1]


# -- starting and following a run -----------------------------------------------------------------

def require_tensorflow() -> None:
    """Raise :class:`ExperimentUnavailable`, naming the extra to install, when TensorFlow is
    missing. Cheap: asks ``importlib`` where it is, without importing it."""
    if find_spec("tensorflow") is None:
        raise ExperimentUnavailable(
            f"TensorFlow is not installed, so experiments cannot run; install the experiments "
            f"extra with: {INSTALL_HINT} (the rest of studyapp works without it)")


def build_argv(card: Card, extra_args: Sequence[str] = (), *, smoke: bool = False,
               experiments_dir: Path | None = None, database: Path | None = None) -> list[str]:
    """The command for ``card``'s experiment: ``[python, -u, script, --output-dir DIR,
    *card args, *extra_args]`` plus ``--smoke`` when asked.

    ``DIR`` is :func:`studyapp.locations.experiment_output_dir` of ``database``, so the run's
    artefacts sit beside the database like its logs and backups. It is left out without
    ``database`` and when the card's or the extra arguments give their own ``--output-dir``;
    it comes first, so that a later abbreviation (``--output``) still wins, as argparse keeps
    the last value.

    Raises ``ValueError`` when the card has no experiment and
    :class:`studyapp.cards.UnsafeScriptError` (a ``ValueError``) when its script is not a file
    inside ``experiments_dir`` (default :func:`studyapp.locations.experiments_dir`).
    """
    if card.experiment is None:
        raise ValueError(f"card {card.id!r} has no experiment to run")
    script = card.experiment.resolve(experiments_dir or locations.experiments_dir())
    args = [*card.experiment.args, *extra_args]
    if database is not None and not any(arg == OUTPUT_DIR_OPTION
                                        or arg.startswith(OUTPUT_DIR_OPTION + "=")
                                        for arg in args):
        output_dir = locations.experiment_output_dir(database, script.stem)
        args = [OUTPUT_DIR_OPTION, str(output_dir), *args]
    return [sys.executable, "-u", str(script), *args, *(["--smoke"] if smoke else [])]


def display_command(argv: Sequence[str]) -> str:
    """``argv`` as a shell-quoted line, with the interpreter shown as ``python``."""
    return shlex.join(["python", *argv[1:]])


class ExperimentRun:
    """One run of a card's experiment, recorded in ``collection.store``.

    Use::

        run = ExperimentRun(collection, card, ["--epochs", "2"])
        await run.start()
        async with contextlib.aclosing(run.lines()) as events:
            async for event in events:
                ...              # LogLine, Progress or Result
        run.status, run.returncode

    and ``await run.cancel()`` from another task to stop it. ``runs_dir`` (default: a ``runs``
    folder beside the database, :func:`studyapp.locations.runs_dir`) receives the raw output
    as ``<UTC start>-<card>.log``; the script saves its artefacts beside the database too
    (``--output-dir``, see :func:`build_argv`).
    Raises ``ValueError``/``UnsafeScriptError`` as :func:`build_argv` does.
    """

    def __init__(self, collection: Collection, card: Card, extra_args: Sequence[str] = (),
                 *, smoke: bool = False, experiments_dir: Path | None = None,
                 runs_dir: Path | None = None, line_limit: int = LINE_LIMIT) -> None:
        self.card = card
        self.store = collection.store
        self.extra_args = list(extra_args)
        self.smoke = smoke
        self.experiments_dir = experiments_dir or locations.experiments_dir()
        self.runs_dir = runs_dir or locations.runs_dir(collection.store.path)
        self.argv = build_argv(card, self.extra_args, smoke=smoke,
                               experiments_dir=self.experiments_dir, database=self.store.path)
        self.splitter = LineSplitter(line_limit)
        self.run_id: int | None = None
        self.log_path: Path | None = None
        self.status: str | None = None
        """``None`` until finished, then ``ok``, ``failed`` or ``cancelled``."""
        self.result: Result | None = None
        self.malformed_events = 0
        """How many lines looked like events but were not valid ones."""
        self.tail: deque[str] = deque(maxlen=TAIL_LINES)
        """The last log lines, to show when the script crashes."""
        self._process: asyncio.subprocess.Process | None = None
        self._log: IO[bytes] | None = None
        self._started_at = 0.0
        self._finished_at: float | None = None
        self._cancelled = False

    @property
    def returncode(self) -> int | None:
        """The script's exit status (negative: killed by that signal); ``None`` while running."""
        return None if self._process is None else self._process.returncode

    @property
    def running(self) -> bool:
        """Started and not finished yet."""
        return self._process is not None and self.status is None

    @property
    def pid(self) -> int | None:
        """The script's process id (also its process group id)."""
        return None if self._process is None else self._process.pid

    @property
    def elapsed(self) -> float:
        """Seconds since the start (frozen at the end); 0 before."""
        if not self._started_at:
            return 0.0
        return (self._finished_at or time.monotonic()) - self._started_at

    async def start(self) -> None:
        """Check the script again, record the run, open its log and launch the process.

        Raises :class:`ExperimentUnavailable` without TensorFlow, ``UnsafeScriptError`` when the
        script is no longer safe, :class:`~studyapp.store.StoreError` when the run cannot be
        recorded (nothing is left behind), ``OSError`` when the process cannot start (the run is
        then recorded as failed) and ``RuntimeError`` when called twice.
        """
        if self._process is not None or self.run_id is not None:
            raise RuntimeError("this run was already started; make a new ExperimentRun")
        require_tensorflow()
        self.argv = build_argv(self.card, self.extra_args, smoke=self.smoke,
                               experiments_dir=self.experiments_dir, database=self.store.path)
        started = datetime.now(UTC)
        self._log, self.log_path = _new_log_file(self.runs_dir, self.card.id, started)
        try:
            self.run_id = self.store.start_run(self.card.id, self.argv, self.log_path, started)
        except BaseException:  # e.g. a read-only database: leave no orphan log file behind
            self._log.close()
            self.log_path.unlink()
            self._log = self.log_path = None
            raise
        self._started_at = time.monotonic()
        try:
            self._process = await asyncio.create_subprocess_exec(
                *self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, start_new_session=True,
                cwd=self.experiments_dir.parent)
        except OSError:
            self._finish("failed")
            raise

    async def lines(self) -> AsyncIterator[Event]:
        """Yield the run's events in output order until the script exits, then record the end.

        Close it with ``contextlib.aclosing``: if the consumer stops early or is cancelled, the
        script is cancelled too.
        """
        if self._process is None or self._process.stdout is None:
            raise RuntimeError("call start() before lines()")
        stdout = self._process.stdout
        try:
            while chunk := await stdout.read(READ_CHUNK):
                self._log.write(chunk)
                for line in self.splitter.feed(chunk):
                    yield self._note(to_event(line))
            for line in self.splitter.close():
                yield self._note(to_event(line))
            await self._process.wait()
        finally:
            try:
                if self._process.returncode is None:
                    await self.cancel()
            finally:
                self._finish("cancelled" if self._cancelled
                             else "ok" if self._process.returncode == 0 else "failed")

    def _note(self, event: Event) -> Event:
        if isinstance(event, LogLine):
            self.tail.append(event.text)
            self.malformed_events += event.malformed_event
        elif isinstance(event, Result):
            self.result = event
        return event

    def _finish(self, status: str) -> None:
        if self.status is not None:
            return
        self.status = status
        self._finished_at = time.monotonic()
        if self._log is not None:
            self._log.close()
        result = self.result.event if self.result else None
        artifacts = self.result.artifacts if self.result else []
        self.store.finish_run(self.run_id, status, self.returncode, result, datetime.now(UTC),
                              artifacts)

    def terminate(self) -> None:
        """Send SIGTERM to the script's process group now, without waiting (for app exit)."""
        if self.running:
            self._cancelled = True
            self._signal_group(signal.SIGTERM)

    async def cancel(self, grace: float = CANCEL_GRACE_S) -> None:
        """Stop the script: SIGTERM its process group, wait up to ``grace`` seconds for it to
        exit, then SIGKILL whatever is left of the group (children included). The run ends as
        ``cancelled``. Does nothing when it is not running."""
        if not self.running or self._process.returncode is not None:
            return
        self._cancelled = True
        self._signal_group(signal.SIGTERM)
        try:
            await asyncio.wait_for(self._process.wait(), grace)
        except TimeoutError:
            pass
        self._signal_group(signal.SIGKILL)  # the script if it lingers, and its children
        await self._process.wait()
        # SIGKILL lands asynchronously; give the children a moment to die. The group can outlive
        # them as unreaped zombies (a container's init may never reap), hence the time limit.
        deadline = time.monotonic() + KILL_SETTLE_S
        while self._signal_group(0) and time.monotonic() < deadline:
            await asyncio.sleep(0.01)

    def _signal_group(self, signum: int) -> bool:
        """Send ``signum`` to the script's process group; ``False`` when the group is gone."""
        try:
            os.killpg(self._process.pid, signum)
        except ProcessLookupError:
            return False
        return True


def _new_log_file(folder: Path, card_id: str, started: datetime) -> tuple[IO[bytes], Path]:
    """Create ``<folder>/<UTC start>-<card id>[-n].log`` exclusively and open it for writing."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{started:%Y%m%dT%H%M%SZ}-{card_id}"
    for n in range(1, 1000):
        path = folder / (f"{stem}.log" if n == 1 else f"{stem}-{n}.log")
        try:
            return open(path, "xb"), path
        except FileExistsError:
            continue
    raise OSError(f"cannot create a new log file for {card_id!r} in {folder}")


def runs(collection: Collection, card_id: str | None = None) -> list[Run]:
    """Recorded runs, newest first; optionally of one card."""
    return collection.store.runs(card_id)


# -- plain-text output for the command line -------------------------------------------------------

def format_progress(progress: Progress) -> str:
    """A compact line, e.g. ``[3/10] loss=0.1234 val_mae=0.5``."""
    metrics = " ".join(f"{name}={format_value(value)}" for name, value in progress.metrics.items())
    return f"[{progress.step}/{progress.total}] {metrics}".rstrip()


def format_result(result: Result) -> str:
    """The result as plain text: metrics, each table, a line per plot, the artifacts."""
    parts = [format_table(["metric", "value"], result.metrics.items())]
    for table in result.tables:
        parts.append(f"{table.get('title', '')}\n"
                     + format_table(table.get("columns", []), table.get("rows", [])))
    for plot in result.plots:
        series = ", ".join(f"{name} ({len(points)} points)"
                           for name, points in plot.get("series", {}).items())
        parts.append(f"plot {plot.get('title', '')!r}: {series}")
    parts.extend(f"artifact: {path}" for path in result.artifacts)
    return "\n\n".join(parts)


RUN_COLUMNS = ("run", "started (UTC)", "took", "status", "exit", "result")
"""Columns of :func:`run_row`."""


def run_row(run: Run) -> list[Any]:
    """One run as cells under :data:`RUN_COLUMNS`: id, UTC start, duration, status, exit code
    (the signal's name when one ended the script) and the first two result metrics."""
    took = format_duration((run.finished - run.started).total_seconds()) if run.finished else ""
    metrics = list(((run.result or {}).get("metrics") or {}).items())[:2]
    return [run.id, f"{run.started:%Y-%m-%d %H:%M}", took, run.status,
            "" if run.exit_code is None else signal_name(run.exit_code) or run.exit_code,
            " ".join(f"{name}={format_value(value)}" for name, value in metrics)]


def format_runs(recorded: Sequence[Run]) -> str:
    """A text table of runs for ``studyapp runs``: :data:`RUN_COLUMNS` plus the card id."""
    if not recorded:
        return "no experiment runs yet"
    rows = [[*row[:1], run.card_id, *row[1:]] for run in recorded for row in [run_row(run)]]
    return format_table([RUN_COLUMNS[0], "card", *RUN_COLUMNS[1:]], rows)


def signal_name(returncode: int | None) -> str | None:
    """The signal that ended a script, e.g. ``"SIGTERM"`` for the return code -15 (``asyncio``
    reports a process killed by signal N as -N); ``None`` when it exited by itself or runs."""
    if returncode is None or returncode >= 0:
        return None
    try:
        return signal.Signals(-returncode).name
    except ValueError:  # a signal number this platform has no name for
        return f"signal {-returncode}"


def describe_exit(returncode: int | None) -> str:
    """How a script ended, in words: ``exit status 3``, or ``stopped by SIGTERM`` when a signal
    ended it (a cancelled run: SIGTERM, or SIGKILL after the grace period)."""
    if returncode is None:
        return "no exit status yet"
    name = signal_name(returncode)
    return f"stopped by {name}" if name else f"exit status {returncode}"


def exit_status(returncode: int | None) -> int:
    """A shell-style exit status: ``128 + N`` for a process killed by signal N."""
    if returncode is None:
        return 1
    return 128 - returncode if returncode < 0 else returncode


def run_headless(collection: Collection, card_id: str, extra_args: Sequence[str], *,
                 smoke: bool = False, out: IO[str] = sys.stdout,
                 experiments_dir: Path | None = None, runs_dir: Path | None = None) -> int:
    """Run ``card_id``'s experiment in the foreground, printing its output to ``out``.

    Log lines are printed as they come, progress as :func:`format_progress` lines, the result as
    :func:`format_result`, then a summary line with the run id, status and log file. Returns the
    script's exit status (``128 + N`` when killed by signal N), or 130 on Ctrl-C, after the
    script's process group was cancelled. Raises ``KeyError`` for an unknown card,
    ``ValueError`` for a card without a (safe) script and :class:`ExperimentUnavailable`
    without TensorFlow.
    """
    card = collection.card(card_id)
    run = ExperimentRun(collection, card, extra_args, smoke=smoke,
                        experiments_dir=experiments_dir, runs_dir=runs_dir)
    return asyncio.run(_follow(run, out))


async def _follow(run: ExperimentRun, out: IO[str]) -> int:
    """Start ``run`` and print its events; on Ctrl-C (the task is cancelled) cancel it."""
    print(f"$ {display_command(run.argv)}", file=out, flush=True)
    await run.start()
    interrupted = False
    try:
        async with aclosing(run.lines()) as events:
            async for event in events:
                if isinstance(event, LogLine):
                    print(event.text, file=out)
                elif isinstance(event, Progress):
                    print(format_progress(event), file=out, flush=True)
                else:
                    print("\n" + format_result(event) + "\n", file=out)
    except asyncio.CancelledError:  # asyncio.run turns Ctrl-C into cancelling this task
        interrupted = True
        await run.cancel()
    if run.malformed_events:
        print(f"note: {run.malformed_events} line(s) looked like events but were not valid "
              "JSON events; they are shown as log text", file=out)
    print(f"run {run.run_id}: {run.status}, {describe_exit(run.returncode)}, "
          f"{format_duration(run.elapsed)}; log: {run.log_path}", file=out, flush=True)
    return 130 if interrupted else exit_status(run.returncode)
