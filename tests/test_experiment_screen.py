"""ExperimentScreen driven with Textual's Pilot on the fixture scripts: real subprocesses, a real
database in ``tmp_path``."""

from __future__ import annotations

import asyncio
import shlex
import sys
import time

import pytest
from test_app import Recorder, writes_fail
from test_runner import alive, open_collection
from textual.app import App
from textual.content import Content
from textual.widgets import DataTable, Input, Log, ProgressBar, Static

from studyapp import runner
from studyapp.screens.experiment import ExperimentScreen
from studyapp.widgets.key_footer import KeyFooter
from support import EXPERIMENTS


class Host(App):
    """A bare app that shows one ExperimentScreen."""

    def __init__(self, screen: ExperimentScreen) -> None:
        super().__init__()
        self.experiment = screen

    def on_mount(self) -> None:
        self.push_screen(self.experiment)


@pytest.fixture
def collection(tmp_path, monkeypatch):
    collection = open_collection(tmp_path, monkeypatch)
    yield collection
    collection.close()


def screen_for(collection, card_id: str) -> ExperimentScreen:
    return ExperimentScreen(collection, collection.card(card_id), grace=0.5)


def status(screen: ExperimentScreen) -> str:
    return str(screen.query_one("#status", Static).render())


def table_rows(table: DataTable) -> list[list[str]]:
    return [[str(cell) for cell in table.get_row_at(i)] for i in range(table.row_count)]


async def wait_until(pilot, condition, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        await pilot.pause(0.05)


async def finish(pilot, screen: ExperimentScreen) -> None:
    await screen.workers.wait_for_complete()
    await pilot.pause()


def test_run_shows_log_progress_result_table_and_past_run(collection):
    async def scenario():
        screen = screen_for(collection, "steps")
        async with Host(screen).run_test(size=(110, 40)) as pilot:
            assert "$ python -u " in str(screen.query_one("#command", Static).render())
            assert screen.check_action("cancel", ()) is False
            await pilot.press("r")
            await finish(pilot, screen)

            bar = screen.query_one("#progress", ProgressBar)
            assert (bar.progress, bar.total) == (3, 3)
            assert list(screen.query_one("#log", Log).lines)[:2] == ["hello", "step 1"]
            tables = [table_rows(t) for t in screen.query("#result DataTable")]
            assert ["naive", "0.5"] in tables[1] and ["rnn", "0.25"] in tables[1]
            assert ["steps", "3"] in tables[0]
            assert len(screen.query("#result PlotextPlot")) == 1
            assert status(screen).startswith("finished after ")
            assert "exit status 0" in status(screen)
            assert "1 malformed event line" in status(screen)
            [past] = table_rows(screen.query_one("#runs", DataTable))
            assert past[0] == str(runner.runs(collection, "steps")[0].id)
            assert past[3] == "ok"

    asyncio.run(scenario())


def test_extra_arguments_and_smoke_switch_change_the_command(collection, tmp_path):
    async def scenario():
        screen = screen_for(collection, "steps")
        async with Host(screen).run_test(size=(110, 40)) as pilot:
            def command() -> str:
                return str(screen.query_one("#command", Static).render())

            beside_db = tmp_path / "experiment-outputs" / "steps"  # the db is tmp_path/study.db
            assert command().endswith(f"steps.py --output-dir {beside_db} --smoke"), \
                "a smoke run unless asked otherwise, its artefacts beside the database"
            await pilot.press("s")
            assert command().endswith(f"steps.py --output-dir {beside_db}")
            await pilot.press("s")
            await pilot.click("#extra")
            await pilot.press(*"--steps 2")
            assert command().endswith(f"steps.py --output-dir {beside_db} --steps 2 --smoke")
            await pilot.press("enter")  # submits the input
            await finish(pilot, screen)
            assert command() == "$ " + runner.display_command(
                runner.runs(collection, "steps")[0].argv), "the command shown is the one run"
            bar = screen.query_one("#progress", ProgressBar)
            assert (bar.progress, bar.total) == (2, 2)
            await pilot.click("#extra")
            await pilot.press(*" '--steps")
            assert str(screen.query_one("#command", Static).render()).startswith("cannot run:")
            await pilot.click("#run")
            assert "extra arguments: No closing quotation" in status(screen)
            assert runner.runs(collection, "steps")[0].argv[-3:] == ["--steps", "2", "--smoke"]

    asyncio.run(scenario())


@pytest.mark.parametrize("key", ["escape", "c"])
def test_cancel_a_long_run_says_cancelled(collection, key):
    async def scenario():
        screen = screen_for(collection, "slow")
        async with Host(screen).run_test(size=(110, 40)) as pilot:
            await pilot.press("r")
            await wait_until(pilot, lambda: screen.query_one("#progress", ProgressBar).progress)
            assert screen.check_action("cancel", ()) and not screen.check_action("back", ())
            await pilot.press(key)
            await finish(pilot, screen)
            assert status(screen).startswith("cancelled after ")
            assert status(screen).endswith(", stopped by SIGTERM"), "not 'exit status -15'"
            assert screen.check_action("cancel", ()) is False
            assert not alive(screen.run.pid)
            assert runner.runs(collection, "slow")[0].status == "cancelled"
            assert len(screen.app.screen_stack) == 2  # escape cancelled and stayed
            await pilot.press("escape")  # now it goes back
            assert len(screen.app.screen_stack) == 1

    asyncio.run(scenario())


def test_a_run_that_stops_early_ends_with_a_full_bar(collection):
    """Early stopping reports fewer steps than planned; a run that finished OK is still 100%."""
    async def scenario():
        screen = screen_for(collection, "steps")
        async with Host(screen).run_test(size=(110, 40)) as pilot:
            screen.query_one("#extra", Input).value = "--steps 6 --stop-after 5"
            await pilot.press("r")
            await finish(pilot, screen)
            assert status(screen).startswith("finished after ")
            bar = screen.query_one("#progress", ProgressBar)
            assert (bar.percentage, bar.total) == (1.0, 6)

    asyncio.run(scenario())


def test_a_run_cancelled_before_any_progress_stops_its_bar(collection):
    """Cancelled while it loads (no progress event yet): the bar stops at 0%, no animation."""
    async def scenario():
        screen = screen_for(collection, "spawn")
        async with Host(screen).run_test(size=(110, 40)) as pilot:
            screen.query_one("#extra", Input).value = "--no-progress"
            await pilot.press("r")
            await wait_until(pilot, lambda: screen.run is not None and screen.run.tail)
            assert screen.query_one("#progress", ProgressBar).percentage is None  # animating
            await pilot.press("c")
            await finish(pilot, screen)
            assert status(screen).startswith("cancelled after ")
            assert status(screen).endswith(", stopped by SIGTERM")
            assert screen.query_one("#progress", ProgressBar).percentage == 0.0
            [past] = table_rows(screen.query_one("#runs", DataTable))
            assert past[3:5] == ["cancelled", "SIGTERM"]

    asyncio.run(scenario())


def test_a_crash_shows_the_exit_status_and_the_last_lines(collection):
    async def scenario():
        screen = screen_for(collection, "crash")
        async with Host(screen).run_test(size=(110, 40)) as pilot:
            await pilot.press("r")
            await finish(pilot, screen)
            assert "failed" in status(screen) and "exit status 1" in status(screen)
            summary = str(screen.query_one("#summary", Static).render())
            assert "exit status 1" in summary
            assert "RuntimeError: the fixture crashed on purpose" in summary

    asyncio.run(scenario())


def test_a_flood_is_written_to_the_log_in_batches(collection, monkeypatch):
    writes = []
    original = Log.write_lines
    monkeypatch.setattr(Log, "write_lines",
                        lambda self, lines, **kw: writes.append(len(lines)) or original(
                            self, lines, **kw))

    async def scenario():
        screen = screen_for(collection, "flood")
        async with Host(screen).run_test(size=(110, 40)) as pilot:
            await pilot.press("r")
            await finish(pilot, screen)
            lines = screen.query_one("#log", Log).lines
            assert lines[-1] == "line 99999" and len(lines) == 10_000
            assert sum(writes) == 100_000
            assert len(writes) < 200, f"{len(writes)} writes for 100k lines"
            print(f"flood: {len(writes)} Log writes for 100k lines")

    asyncio.run(scenario())


def test_without_tensorflow_the_screen_names_the_extra_to_install(collection, monkeypatch):
    monkeypatch.setattr(runner, "find_spec", lambda name: None)

    async def scenario():
        screen = screen_for(collection, "steps")
        async with Host(screen).run_test(size=(110, 40)) as pilot:
            await pilot.press("r")
            await finish(pilot, screen)
            assert "pip install -e '.[experiments]'" in status(screen)
            assert runner.runs(collection) == []
            assert screen.query_one("#progress", ProgressBar).percentage == 0.0, "bar stopped"

    asyncio.run(scenario())


def test_quitting_the_app_stops_the_experiment(collection):
    async def scenario():
        screen = screen_for(collection, "spawn")
        async with Host(screen).run_test(size=(110, 40)) as pilot:
            await pilot.press("r")
            await wait_until(pilot, lambda: screen.query_one("#progress", ProgressBar).progress)
            grandchild = int(screen.run.tail[0].split()[1])
            await pilot.app.action_quit()
        return screen.run.pid, grandchild

    pids = asyncio.run(scenario())
    deadline = time.monotonic() + 5
    while any(map(alive, pids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(alive, pids))


def test_a_database_that_cannot_record_the_run_is_said_and_the_screen_stays(collection):
    recorder = Recorder()

    async def scenario():
        screen = screen_for(collection, "slow")
        async with Host(screen).run_test(size=(80, 24), message_hook=recorder) as pilot:
            with writes_fail(collection):
                await pilot.press("r")  # the run's start cannot be recorded
                await finish(pilot, screen)
            assert "Run not recorded" in recorder.texts()
            assert "could not record the run" in status(screen)
            assert runner.runs(collection) == []

            await pilot.press("r")
            await wait_until(pilot, lambda: screen.query_one("#progress", ProgressBar).progress)
            with writes_fail(collection):
                await pilot.press("c")  # nor can its end
                await finish(pilot, screen)
            assert recorder.texts().count("Run not recorded") == 2
            assert not screen.running and not alive(screen.run.pid)
            assert screen.app.screen is screen
            assert "cannot write the database" in recorder.texts()

    asyncio.run(scenario())


def test_at_80x24_the_end_status_wraps_whole_and_the_footer_matches_the_other_screens(
        collection):
    async def scenario():
        screen = screen_for(collection, "steps")
        async with Host(screen).run_test(size=(80, 24)) as pilot:
            await pilot.press("r")
            await finish(pilot, screen)
            line = screen.query_one("#status", Static)
            assert status(screen).endswith("1 malformed event line(s) shown as log text")
            assert line.region.right <= 80 and line.max_scroll_y == 0
            assert line.region.height == len(
                Content(status(screen)).wrap(line.content_size.width)), "no line is cut off"
            footer = screen.query_one(KeyFooter)
            assert footer.compact and not footer.show_command_palette

    asyncio.run(scenario())


def test_the_example_arguments_suit_every_script(collection):
    async def scenario():
        screen = screen_for(collection, "steps")
        async with Host(screen).run_test(size=(80, 24)):
            return screen.query_one("#extra", Input).placeholder

    example = asyncio.run(scenario()).split("e.g. ", 1)[1]
    sys.path.insert(0, str(EXPERIMENTS))
    import protocol

    protocol.make_parser("", "any").parse_args(shlex.split(example))  # options all scripts share
    for script in sorted(EXPERIMENTS.glob("q*.py")):  # Q4 and Q7 through forecasting's
        assert "make_parser(__doc__" in script.read_text(encoding="utf-8"), script.name
