"""The experiment runner against tiny fixture scripts (no TensorFlow): real subprocesses, real
SQLite files and log files in ``tmp_path``."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from contextlib import aclosing
from pathlib import Path

import pytest

from studyapp import locations, runner
from studyapp.cards import Card, Experiment, UnsafeScriptError
from studyapp.collection import Collection, StoreError
from studyapp.runner import (
    ExperimentRun,
    ExperimentUnavailable,
    LineSplitter,
    LogLine,
    Progress,
    Result,
    format_runs,
    parse_event,
    run_headless,
    to_event,
)
from support import EXPERIMENTS

FIXTURES = Path(__file__).parent / "fixtures" / "experiments"

CARDS = {  # card id -> (fixture script, card args)
    "steps": ("steps.py", []),
    "crash": ("steps.py", ["--crash"]),
    "slow": ("steps.py", ["--steps", "20", "--delay", "0.5"]),
    "flood": ("flood.py", []),
    "spawn": ("spawn_and_sleep.py", []),
    "stubborn": ("spawn_and_sleep.py", ["--ignore-term"]),
    "long-line": ("long_line.py", []),
    "own-output": ("steps.py", ["--output-dir", "own"]),
}

CARD_FILE = """---
id: {id}
title: The {id} fixture
tags: [test]
sources: ["tests/fixtures/experiments/{script}"]
experiment:
  script: {script}
  args: {args}
---

## Question
What does {script} print?

## Answer
What the runner tests expect.
"""

# Opens the collection of ``tmp_path`` in another process, as the app or the CLI would.
DRIVER = """
import sys
from pathlib import Path
import studyapp.locations
studyapp.locations.experiments_dir = lambda: Path(sys.argv[1])
from studyapp.collection import Collection
collection = Collection.open(Path(sys.argv[2]), Path(sys.argv[3]))
"""


def make_experiments_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Copy the fixture scripts and ``protocol.py`` into ``tmp_path/experiments`` and make it
    the app's experiments folder."""
    folder = tmp_path / "experiments"
    folder.mkdir()
    for script in [EXPERIMENTS / "protocol.py", *FIXTURES.glob("*.py")]:
        shutil.copy(script, folder)
    monkeypatch.setattr(locations, "experiments_dir", lambda: folder)
    return folder


def open_collection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Collection:
    """A collection of one card per fixture (:data:`CARDS`) with its database in ``tmp_path``;
    run logs go to ``tmp_path/runs``."""
    make_experiments_dir(tmp_path, monkeypatch)
    monkeypatch.setattr(locations, "runs_dir", lambda database: tmp_path / "runs")
    content = tmp_path / "content"
    content.mkdir()
    for card_id, (script, args) in CARDS.items():
        (content / f"{card_id}.md").write_text(
            CARD_FILE.format(id=card_id, script=script, args=args).replace("'", '"'))
    collection = Collection.open(content, tmp_path / "study.db")
    assert collection.deck.problems == ()
    return collection


@pytest.fixture
def collection(tmp_path, monkeypatch):
    collection = open_collection(tmp_path, monkeypatch)
    yield collection
    collection.close()


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie awaiting its parent counts as dead)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


async def collect(run: ExperimentRun) -> list:
    await run.start()
    async with aclosing(run.lines()) as events:
        return [event async for event in events]


def run_card(collection: Collection, card_id: str, *extra: str, smoke: bool = False):
    run = ExperimentRun(collection, collection.card(card_id), extra, smoke=smoke)
    return run, asyncio.run(collect(run))


# -- parsing ----------------------------------------------------------------------------------

def test_parse_event_accepts_only_strict_json_objects_with_an_event_key():
    assert parse_event('{"event": "progress", "step": 1, "total": 2, "metrics": {}}') == {
        "event": "progress", "step": 1, "total": 2, "metrics": {}}
    assert parse_event('  {"event": "result", "metrics": {"a": null}}\n')["metrics"] == {"a": None}
    for line in ['{"event": "progress", "loss": NaN}', '{"event": 3}', '["event"]', "hello",
                 '{"step": 1}', '{"event": "progress", "step": oops}', ""]:
        assert parse_event(line) is None, line


def test_to_event_makes_typed_events_and_flags_malformed_ones():
    assert to_event('{"event":"progress","step":2,"total":4,"metrics":{"mae":null}}') == \
        Progress(2, 4, {"mae": None})
    result = to_event('{"event":"result","metrics":{"mae":0.5},"tables":[],"plots":[],'
                      '"artifacts":["/tmp/model.keras"]}')
    assert isinstance(result, Result) and result.artifacts == ["/tmp/model.keras"]
    assert to_event("epoch 1/3") == LogLine("epoch 1/3", malformed_event=False)
    for line in ['{"event": "progress", "step": oops}', '{"event": "progress", "step": 1}',
                 '{"event": "progress", "step": 1, "total": 0}',
                 '{"event": "result", "metrics": []}', '{"event": "unknown"}',
                 '{"event": "progress", "step": 1, "total": 2, "metrics": {"a": "x"}}']:
        assert to_event(line) == LogLine(line, malformed_event=True), line


def test_line_splitter_joins_chunks_and_handles_carriage_returns_bad_bytes_and_long_lines():
    splitter = LineSplitter(limit=8)
    assert splitter.feed(b"ab") == []
    assert splitter.feed(b"c\r\nde") == ["abc"]
    assert splitter.feed(b"f 10%\rdef 50%\n") == ["def 50%"]
    assert splitter.feed(b"\xff\n") == ["\ufffd"]
    assert splitter.feed(b"0123456789abcdefXY") == ["01234567", "89abcdef"]
    assert splitter.close() == ["XY"]
    assert splitter.close() == []
    with pytest.raises(ValueError, match="at least 1 byte"):
        LineSplitter(limit=0)


# -- running ----------------------------------------------------------------------------------

def test_events_stream_in_output_order_and_the_run_is_recorded(collection, tmp_path):
    run, events = run_card(collection, "steps")

    kinds = [(type(e).__name__, getattr(e, "text", getattr(e, "step", None))) for e in events]
    assert kinds == [("LogLine", "hello"),
                     ("LogLine", "step 1"), ("Progress", 1),
                     ("LogLine", "step 2"), ("Progress", 2),
                     ("LogLine", "step 3"), ("Progress", 3),
                     ("LogLine", '{"event": "progress", "step": oops}'), ("Result", None)]
    assert events[2] == Progress(1, 3, {"loss": 1.0, "mae": None})
    assert events[7].malformed_event and run.malformed_events == 1
    assert events[-1].tables[0]["rows"] == [["naive", 0.5], ["rnn", 0.25]]
    assert (run.status, run.returncode) == ("ok", 0)

    [recorded] = runner.runs(collection, "steps")
    assert (recorded.id, recorded.status, recorded.exit_code) == (run.run_id, "ok", 0)
    assert recorded.argv == run.argv and recorded.argv[:2] == [sys.executable, "-u"]
    assert recorded.argv[2] == str(tmp_path / "experiments" / "steps.py")
    assert recorded.result == events[-1].event
    assert recorded.finished >= recorded.started
    log = Path(recorded.log_path)
    assert log.parent == tmp_path / "runs"
    assert log.read_text().splitlines()[:3] == [
        "hello", "step 1",
        ('{"event":"progress","step":1,"total":3,"metrics":{"loss":1.0,"mae":null},'
         '"nonfinite":["metrics.mae"]}')]


def test_extra_arguments_and_smoke_are_appended_to_the_card_arguments(collection):
    run, events = run_card(collection, "slow", "--delay", "0", smoke=True)
    assert run.argv[5:] == ["--steps", "20", "--delay", "0.5", "--delay", "0", "--smoke"]
    assert events[-1].metrics["smoke"] == 1
    assert events[-1].tables[-1]["rows"][0][1].endswith(
        " --steps 20 --delay 0.5 --delay 0 --smoke")


def test_artefacts_go_beside_the_database_not_to_the_user_data_dir(collection, tmp_path,
                                                                   monkeypatch):
    """A temporary ``--db`` keeps a run's artefacts with it, as it keeps the run's log."""
    user_data = tmp_path / "user-data"
    monkeypatch.setenv("XDG_DATA_HOME", str(user_data))  # the scripts' own default is under it
    run, events = run_card(collection, "steps")
    beside_db = tmp_path / "experiment-outputs" / "steps"  # the database is tmp_path / "study.db"
    assert events[-1].artifacts == [str(beside_db / "steps.txt")]
    assert (beside_db / "steps.txt").read_text() == "3 steps\n"
    assert not user_data.exists()
    assert run.argv[3:5] == ["--output-dir", str(beside_db)]
    assert locations.experiment_output_dir(collection.store.path, "steps") == beside_db


@pytest.mark.parametrize(("card_id", "extra", "chosen"), [
    ("own-output", (), "own"),  # the card's args: relative to the project root (the cwd)
    ("steps", ("--output-dir=elsewhere",), "elsewhere"),
    ("steps", ("--output", "abbreviated"), "abbreviated"),  # argparse keeps the last one
])
def test_an_output_dir_given_in_the_arguments_wins(collection, tmp_path, card_id, extra, chosen):
    run, events = run_card(collection, card_id, *extra)
    assert events[-1].artifacts == [str(tmp_path / chosen / "steps.txt")]
    assert not (tmp_path / "experiment-outputs" / "steps").exists()
    assert sum(arg.startswith("--output") for arg in run.argv) == 1 + (chosen == "abbreviated")


def test_a_run_that_cannot_be_recorded_does_not_start_and_leaves_no_log(collection):
    collection.store.db.execute("PRAGMA query_only = ON")  # every write now fails
    run = ExperimentRun(collection, collection.card("steps"))
    with pytest.raises(StoreError, match="readonly"):
        asyncio.run(run.start())
    assert run.running is False and run.log_path is None
    assert list(run.runs_dir.glob("*.log")) == []


def test_exit_status_and_crash_are_recorded_as_failed(collection):
    run, events = run_card(collection, "steps", "--exit-code", "3")
    assert (run.status, run.returncode) == ("failed", 3)
    assert isinstance(events[-1], Result)

    run, events = run_card(collection, "crash")
    assert (run.status, run.returncode, run.result) == ("failed", 1, None)
    assert run.tail[-1] == "RuntimeError: the fixture crashed on purpose"
    assert [r.status for r in runner.runs(collection)] == ["failed", "failed"]
    assert runner.runs(collection, "crash")[0].result is None


@pytest.mark.parametrize("card_id", ["spawn", "stubborn"])
def test_cancel_stops_the_whole_process_group(collection, card_id):
    """SIGTERM stops ``spawn`` and its grandchild; ``stubborn`` ignores it and needs SIGKILL."""
    grace = 2.0  # far above what a SIGTERM takes, even on a loaded machine

    async def scenario():
        run = ExperimentRun(collection, collection.card(card_id))
        await run.start()
        grandchild, cancelling, took = None, None, None
        async with aclosing(run.lines()) as events:
            async for event in events:
                if isinstance(event, LogLine) and event.text.startswith("grandchild "):
                    grandchild = int(event.text.split()[1])
                if isinstance(event, Progress):  # printed after the grandchild started
                    started = time.monotonic()
                    cancelling = asyncio.create_task(run.cancel(grace=grace))
        await cancelling
        took = time.monotonic() - started
        return run, grandchild, took

    run, grandchild, took = asyncio.run(scenario())
    assert grandchild is not None
    assert not alive(run.pid) and not alive(grandchild)
    assert run.status == "cancelled"
    assert run.returncode == (-signal.SIGKILL if card_id == "stubborn" else -signal.SIGTERM)
    signal_name = "SIGKILL" if card_id == "stubborn" else "SIGTERM"
    assert runner.describe_exit(run.returncode) == f"stopped by {signal_name}"
    assert runner.run_row(runner.runs(collection, card_id)[0])[4] == signal_name
    assert (took >= grace) == (card_id == "stubborn")
    assert runner.runs(collection, card_id)[0].status == "cancelled"


def test_a_consumer_that_stops_early_cancels_the_script(collection):
    async def scenario():
        run = ExperimentRun(collection, collection.card("spawn"))
        await run.start()
        async with aclosing(run.lines()) as events:
            async for event in events:
                if isinstance(event, LogLine):
                    return run, int(event.text.split()[1])

    run, grandchild = asyncio.run(scenario())
    assert run.status == "cancelled"
    assert not alive(run.pid) and not alive(grandchild)


def test_a_flood_of_output_is_read_completely(collection):
    started = time.monotonic()
    run, events = run_card(collection, "flood", "--lines", "100000")
    took = time.monotonic() - started
    lines = [e.text for e in events if isinstance(e, LogLine)]
    assert lines == [f"line {i}" for i in range(100_000)]
    assert isinstance(events[-1], Result) and run.status == "ok"
    assert Path(run.log_path).read_text().count("\n") == 100_001
    assert took < 30, f"100k lines took {took:.1f} s"


def test_a_line_longer_than_the_limit_is_split_not_fatal(collection):
    run, events = run_card(collection, "long-line")
    texts = [e.text for e in events if isinstance(e, LogLine)]
    assert [len(t) for t in texts] == [runner.LINE_LIMIT] * 3 + [len("after the long line")]
    assert texts[-1] == "after the long line" and isinstance(events[-1], Result)
    assert Path(run.log_path).read_bytes().startswith(
        b"x" * (3 * runner.LINE_LIMIT) + b"\nafter the long line\n{")


def test_a_run_left_by_a_dead_app_is_marked_interrupted(collection, tmp_path):
    """A process starts a run and is SIGKILLed; the next ``Collection.open`` marks it."""
    app = subprocess.Popen(
        [sys.executable, "-c", DRIVER + """
import asyncio
from studyapp.runner import ExperimentRun
async def main():
    run = ExperimentRun(collection, collection.card("spawn"))
    await run.start()
    print(run.pid, flush=True)
    await asyncio.sleep(120)
asyncio.run(main())
""", str(tmp_path / "experiments"), str(tmp_path / "content"), str(tmp_path / "study.db")],
        stdout=subprocess.PIPE, text=True, env={**os.environ,
                                                "XDG_DATA_HOME": str(tmp_path / "data")})
    try:
        experiment_pid = int(app.stdout.readline())
        assert runner.runs(collection, "spawn")[0].status == "running"
    finally:
        app.kill()
        app.wait()
    try:
        reopened = Collection.open(tmp_path / "content", tmp_path / "study.db")
        [run] = runner.runs(reopened, "spawn")
        assert (run.status, run.finished) == ("interrupted", None)
        reopened.close()
    finally:
        os.killpg(experiment_pid, signal.SIGKILL)  # the orphaned experiment survives its app


@pytest.mark.parametrize("script", ["/bin/true", "../steps.py", "escape.py", "missing.py"])
def test_unsafe_scripts_are_refused_before_anything_runs(collection, tmp_path, script):
    outside = tmp_path / "outside.py"
    outside.write_text("print('escaped')\n")
    (tmp_path / "experiments" / "escape.py").symlink_to(outside)
    card = Card(id="bad", title="Bad", tags=(), sources=(), question="?", answer="!",
                path=tmp_path / "bad.md", experiment=Experiment(script), content_hash="0")
    with pytest.raises(UnsafeScriptError):
        ExperimentRun(collection, card)
    assert runner.runs(collection) == []


def test_a_script_swapped_for_a_symlink_after_loading_is_refused_at_start(collection, tmp_path):
    run = ExperimentRun(collection, collection.card("steps"))
    script = tmp_path / "experiments" / "steps.py"
    script.unlink()
    script.symlink_to(FIXTURES / "steps.py")
    with pytest.raises(UnsafeScriptError, match="outside"):
        asyncio.run(run.start())
    assert runner.runs(collection) == [] and not (tmp_path / "runs").exists()


def test_without_tensorflow_a_run_names_the_extra_to_install(collection, monkeypatch):
    monkeypatch.setattr(runner, "find_spec", lambda name: None)
    run = ExperimentRun(collection, collection.card("steps"))
    with pytest.raises(ExperimentUnavailable, match=r"pip install -e '\.\[experiments\]'"):
        asyncio.run(run.start())
    with pytest.raises(ExperimentUnavailable):
        run_headless(collection, "steps", [])
    assert runner.runs(collection) == []


def test_a_card_without_experiment_is_refused(collection, tmp_path):
    card = Card(id="plain", title="Plain", tags=(), sources=(), question="?", answer="!",
                path=tmp_path / "plain.md", experiment=None, content_hash="0")
    with pytest.raises(ValueError, match="no experiment"):
        ExperimentRun(collection, card)


# -- headless ---------------------------------------------------------------------------------

def test_run_headless_prints_log_progress_and_result_and_returns_the_exit_status(collection):
    out = io.StringIO()
    assert run_headless(collection, "steps", ["--exit-code", "4"], out=out) == 4
    text = out.getvalue()
    assert text.startswith("$ python -u ")
    lines = text.splitlines()
    assert lines[1:4] == ["hello", "step 1", "[1/3] loss=1 mae=n/a"]
    assert "Errors\nmodel   MAE\nnaive   0.5\nrnn    0.25" in text
    assert "plot 'Loss': train (3 points)" in text
    assert "note: 1 line(s) looked like events" in text
    assert lines[-1].startswith(f"run {runner.runs(collection)[0].id}: failed, exit status 4, ")

    listing = format_runs(runner.runs(collection))
    header, row = listing.splitlines()
    assert header.split() == ["run", "card", "started", "(UTC)", "took", "status", "exit",
                              "result"]
    assert row.split()[1] == "steps" and "failed" in row and "steps=3" in row
    assert format_runs([]) == "no experiment runs yet"
    with pytest.raises(KeyError, match="nope"):
        run_headless(collection, "nope", [])


def test_run_headless_on_ctrl_c_cancels_the_group_and_returns_130(collection, tmp_path):
    cli = subprocess.Popen(
        [sys.executable, "-c", DRIVER + """
from studyapp.runner import run_headless
raise SystemExit(run_headless(collection, "spawn", []))
""", str(tmp_path / "experiments"), str(tmp_path / "content"), str(tmp_path / "study.db")],
        stdout=subprocess.PIPE, text=True)
    lines = []
    while not (line := cli.stdout.readline()).startswith("grandchild "):
        assert line, f"no grandchild line in {lines}"
        lines.append(line)
    grandchild = int(line.split()[1])
    assert cli.stdout.readline().startswith("[1/2]")
    cli.send_signal(signal.SIGINT)
    rest = cli.communicate(timeout=30)[0]
    assert cli.returncode == 130, rest
    [run] = runner.runs(collection, "spawn")
    assert run.status == "cancelled" and f"run {run.id}: cancelled, stopped by SIGTERM, " in rest
    deadline = time.monotonic() + 5
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(grandchild)
