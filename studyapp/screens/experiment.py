"""Run a card's experiment and watch it: live log, progress, elapsed time, then its result.

The command line is shown above an input for extra arguments and a smoke switch (on by default,
``s`` toggles it: a full run can take minutes); ``r`` (or the Run button) starts it in an async
worker around :class:`studyapp.runner.ExperimentRun`.
Log lines are collected and written to the ``Log`` every :data:`FLUSH_INTERVAL_S` in one batch,
so a script printing thousands of lines a second keeps the UI responsive. ``Escape`` or ``c``
cancels a running experiment (SIGTERM to its process group, SIGKILL after a grace period);
leaving the screen or quitting the app stops it too. At the end the result's metrics and tables
are shown as ``DataTable``s and its plots drawn with ``textual-plotext``; a crash shows the exit
status and the last lines. The progress bar stops with the run: full when it finished OK (early
stopping may skip the last epochs), where it got to otherwise. The card's past runs are listed
under "Runs".
"""

from __future__ import annotations

import shlex
from contextlib import aclosing
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import (
    Button,
    DataTable,
    Input,
    Label,
    Log,
    ProgressBar,
    Static,
    Switch,
    TabbedContent,
    TabPane,
)
from textual.worker import Worker, WorkerState
from textual_plotext import PlotextPlot

from studyapp import runner
from studyapp.cards import Card
from studyapp.plaintext import format_duration, format_value
from studyapp.runner import ExperimentRun, LogLine, Progress, Result
from studyapp.screens.store_errors import notify_store_error
from studyapp.widgets.key_footer import KeyFooter

if TYPE_CHECKING:
    from studyapp.collection import Collection

FLUSH_INTERVAL_S = 0.05
"""How often collected log lines are written to the ``Log``, in seconds."""
LOG_MAX_LINES = 10_000
"""Lines the ``Log`` keeps; the full output is in the run's log file."""
CRASH_LINES = 10
"""Last lines shown when a script fails."""


class ExperimentScreen(Screen):
    """The experiment behind ``card``: run, follow, cancel, and see results and past runs."""

    DEFAULT_CSS = """
    ExperimentScreen { layout: vertical; }
    ExperimentScreen #title { text-style: bold; padding: 0 1; }
    ExperimentScreen #command { color: $text-muted; padding: 0 1; }
    ExperimentScreen #controls { height: auto; }
    ExperimentScreen #extra { width: 1fr; }
    ExperimentScreen #controls Label { padding: 1 1 0 2; }
    ExperimentScreen #status-row { height: 1; padding: 0 1; }
    ExperimentScreen #elapsed { width: 12; padding: 0 1; }
    ExperimentScreen #status { height: auto; padding: 0 1; }
    ExperimentScreen #status.-failed { color: $error; }
    ExperimentScreen #status.-ok { color: $success; }
    ExperimentScreen TabbedContent { height: 1fr; }
    ExperimentScreen #summary { padding: 0 1 1 1; }
    ExperimentScreen #result DataTable { height: auto; max-height: 20; margin-bottom: 1; }
    ExperimentScreen #result PlotextPlot { height: 20; margin-bottom: 1; }
    ExperimentScreen .table-title { text-style: bold; padding: 0 1; }
    """

    AUTO_FOCUS = "#run"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("r", "run", "Run", id="experiment.run"),
        Binding("s", "toggle_smoke", "Smoke on/off", id="experiment.smoke"),
        # Escape cancels while a run is going, and goes back otherwise: the help says which.
        Binding("escape", "cancel", "Cancel", id="experiment.cancel",
                tooltip="Cancel the run (while one runs)"),
        Binding("c", "cancel", "Cancel", show=False, id="experiment.cancel_c",
                tooltip="Cancel the run (while one runs)"),
        Binding("escape", "back", "Back", id="experiment.back",
                tooltip="Back to the card (when none runs)"),
    ]

    running: reactive[bool] = reactive(False, bindings=True)
    """An experiment is running: "cancel" applies, "run" and "back" do not."""

    def __init__(self, collection: Collection, card: Card, *,
                 experiments_dir: Path | None = None, runs_dir: Path | None = None,
                 grace: float = runner.CANCEL_GRACE_S) -> None:
        super().__init__()
        self.collection = collection
        self.card = card
        self.experiments_dir = experiments_dir
        self.runs_dir = runs_dir
        self.grace = grace
        self.run: ExperimentRun | None = None
        self._pending: list[str] = []

    # -- layout -----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static(f"Experiment: {self.card.title}", id="title", markup=False)
        yield Static(id="command", markup=False)
        with Horizontal(id="controls"):
            yield Input(placeholder="extra arguments, e.g. --seed 1", id="extra")
            yield Label("smoke")
            yield Switch(value=True, id="smoke")  # a quick run unless asked otherwise
            yield Button("Run", id="run", variant="primary")
        with Horizontal(id="status-row"):
            yield ProgressBar(id="progress", show_eta=False)
            yield Static(id="elapsed")
        yield Static(id="status", markup=False)  # a line of its own: it wraps, never cut
        with TabbedContent(id="tabs"):
            with TabPane("Log", id="log-tab"):
                yield Log(id="log", max_lines=LOG_MAX_LINES)
            with TabPane("Result", id="result-tab"):
                yield VerticalScroll(id="result")
            with TabPane("Runs", id="runs-tab"):
                yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield KeyFooter(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#runs", DataTable).add_columns(*runner.RUN_COLUMNS)
        self._show_past_runs()
        self._show_command()

    def on_unmount(self) -> None:
        """Leaving the screen or quitting the app stops the experiment at once."""
        if self.run is not None:
            self.run.terminate()

    # -- the command ------------------------------------------------------------------------------

    def _extra_args(self) -> list[str]:
        """The input split like a shell would; ``ValueError`` for unbalanced quotes."""
        return shlex.split(self.query_one("#extra", Input).value)

    def _argv(self) -> list[str]:
        return runner.build_argv(self.card, self._extra_args(),
                                 smoke=self.query_one("#smoke", Switch).value,
                                 experiments_dir=self.experiments_dir,
                                 database=self.collection.database_path)

    @on(Input.Changed, "#extra")
    @on(Switch.Changed, "#smoke")
    def _show_command(self) -> None:
        try:
            text = "$ " + runner.display_command(self._argv())
        except ValueError as error:
            text = f"cannot run: {error}"
        self.query_one("#command", Static).update(text)

    # -- actions ----------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":
            return self.running
        if action in ("run", "back", "toggle_smoke"):
            return not self.running
        return True

    @on(Button.Pressed, "#run")
    @on(Input.Submitted, "#extra")
    def action_run(self) -> None:
        """Start the experiment with the extra arguments and smoke switch as they are now."""
        if self.running:
            return
        try:
            extra_args = self._extra_args()
        except ValueError as error:
            self._set_status(f"extra arguments: {error}", "-failed")
            return
        self.run_experiment(extra_args, self.query_one("#smoke", Switch).value)

    def action_toggle_smoke(self) -> None:
        """Switch between a smoke run (``--smoke``: tiny, quick) and the full experiment."""
        smoke = self.query_one("#smoke", Switch)
        smoke.value = not smoke.value

    def action_cancel(self) -> None:
        """Cancel the running experiment; its worker then reports "cancelled"."""
        if self.run is not None and self.running:
            self._set_status(f"cancelling (SIGTERM, then SIGKILL after {self.grace:g} s)…")
            self.run_worker(self.run.cancel(self.grace), group="cancel", exclusive=True)

    def action_back(self) -> None:
        """Return to the previous screen."""
        self.dismiss()

    # -- the run ----------------------------------------------------------------------------------

    @work(exclusive=True, group="experiment", exit_on_error=False)
    async def run_experiment(self, extra_args: list[str], smoke: bool) -> None:
        """Start a run and follow it to the end; errors end up in
        :meth:`on_worker_state_changed`."""
        self._reset()
        self.run = run = ExperimentRun(self.collection, self.card, extra_args, smoke=smoke,
                                       experiments_dir=self.experiments_dir,
                                       runs_dir=self.runs_dir)
        self._set_status("starting…")
        await run.start()
        self.running = True
        self._set_status(f"running (run {run.run_id})")
        timer = self.set_interval(FLUSH_INTERVAL_S, self._flush)
        try:
            async with aclosing(run.lines()) as events:
                async for event in events:
                    if isinstance(event, LogLine):
                        self._pending.append(event.text)
                    elif isinstance(event, Progress):
                        self._show_progress(event)
                    elif isinstance(event, Result):
                        await self._show_result(event)
        finally:
            timer.stop()
            self._flush()
            self.running = False
        self._show_end(run)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Show why a run could not start or failed (no TensorFlow, unsafe script...); a
        database that cannot record the run's start or end says so in a notification."""
        if event.worker.group != "experiment" or event.state != WorkerState.ERROR:
            return
        from studyapp.collection import StoreError

        self._stop_progress(complete=False)
        error = event.worker.error
        if isinstance(error, StoreError):
            notify_store_error(self, error, "Run not recorded")
            self._set_status("error: the database could not record the run", "-failed")
        else:
            self._set_status(f"error: {error}", "-failed")

    def _reset(self) -> None:
        self.query_one("#log", Log).clear()
        self.query_one("#result", VerticalScroll).remove_children()
        self.query_one("#progress", ProgressBar).update(total=None, progress=0)
        self._pending.clear()
        self.query_one("#tabs", TabbedContent).active = "log-tab"

    def _flush(self) -> None:
        """Write the collected lines to the log in one go and tick the elapsed time."""
        if self._pending:
            lines, self._pending = self._pending, []
            self.query_one("#log", Log).write_lines(lines)
        if self.run is not None:
            self.query_one("#elapsed", Static).update(format_duration(self.run.elapsed))

    def _show_progress(self, progress: Progress) -> None:
        self.query_one("#progress", ProgressBar).update(total=progress.total,
                                                        progress=progress.step)
        self._set_status(runner.format_progress(progress))

    def _stop_progress(self, complete: bool) -> None:
        """Stop the bar once the run is over: full when ``complete`` (a run that finished OK,
        even if early stopping skipped its last steps), else where it got to, at 0% when no step
        was reported; never the animation of an unknown total."""
        bar = self.query_one("#progress", ProgressBar)
        total = bar.total or 1
        bar.update(total=total, progress=total if complete else bar.progress)

    async def _show_result(self, result: Result) -> None:
        pane = self.query_one("#result", VerticalScroll)
        await pane.mount_all(_data_table("Metrics", ["metric", "value"], result.metrics.items()))
        for table in result.tables:
            await pane.mount_all(_data_table(table.get("title", ""), table.get("columns", []),
                                             table.get("rows", [])))
        for spec in result.plots:
            plot = PlotextPlot()
            await pane.mount_all([_title(spec.get("title", "")), plot])
            _draw(plot, spec)
        await pane.mount_all([Label(f"artifact: {path}", markup=False)
                              for path in result.artifacts])

    def _show_end(self, run: ExperimentRun) -> None:
        words = {"ok": "finished", "failed": "failed", "cancelled": "cancelled"}
        self._stop_progress(complete=run.status == "ok")
        took = format_duration(run.elapsed)
        message = f"{words[run.status]} after {took}, {runner.describe_exit(run.returncode)}"
        if run.malformed_events:
            message += f"; {run.malformed_events} malformed event line(s) shown as log text"
        self._set_status(message, {"ok": "-ok", "failed": "-failed"}.get(run.status, ""))
        if run.status == "failed":
            tail = "\n".join(list(run.tail)[-CRASH_LINES:])
            self.query_one("#result", VerticalScroll).mount(
                Static(f"The script failed ({runner.describe_exit(run.returncode)}). "
                       "Last lines:\n\n"
                       f"{tail}\n\nFull log: {run.log_path}", id="summary", markup=False),
                before=0)
        if run.status != "cancelled":
            self.query_one("#tabs", TabbedContent).active = "result-tab"
        self._show_past_runs()

    def _set_status(self, text: str, css_class: str = "") -> None:
        status = self.query_one("#status", Static)
        status.update(text)
        for name in ("-ok", "-failed"):
            status.set_class(name == css_class, name)

    def _show_past_runs(self) -> None:
        table = self.query_one("#runs", DataTable)
        table.clear()
        for run in runner.runs(self.collection, self.card.id):
            table.add_row(*(format_value(cell) for cell in runner.run_row(run)))

    def watch_running(self, running: bool) -> None:
        self.set_class(running, "-running")
        for selector in ("#extra", "#smoke", "#run"):
            self.query_one(selector).disabled = running


def _data_table(title: str, columns: list[str], rows: Any) -> list[Any]:
    """A bold title and a ``DataTable`` of ``rows`` (cells formatted as in the CLI)."""
    table = DataTable(zebra_stripes=True, cursor_type="row")
    table.add_columns(*columns)
    table.add_rows([[format_value(cell) for cell in row] for row in rows])
    return [_title(title), table]


def _title(text: str) -> Label:
    return Label(text, classes="table-title", markup=False)


def _draw(plot: PlotextPlot, spec: dict[str, Any]) -> None:
    """Draw one result plot: a line per series; points with a missing (non-finite) value are
    left out."""
    plt = plot.plt
    plt.title(spec.get("title", ""))
    plt.xlabel(spec.get("x_label", ""))
    plt.ylabel(spec.get("y_label", ""))
    for name, points in spec.get("series", {}).items():
        finite = [(x, y) for x, y in points if x is not None and y is not None]
        plt.plot([x for x, _ in finite], [y for _, y in finite], label=name)
    plot.refresh()
