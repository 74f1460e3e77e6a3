"""The event protocol between experiment scripts and studyapp, and the helpers every script shares.

An experiment script writes ordinary log text to stdout and, among it, *events*: one JSON object
per line with an ``"event"`` key. The runner (``studyapp/runner.py``) treats every other line as
log text, so a script can print freely. Events are strict JSON (``allow_nan=False``): a
non-finite number (NaN, +/-inf) is written as ``null`` and its dotted path is listed under the
event's ``"nonfinite"`` key, e.g. ``{"event": "progress", ..., "metrics": {"loss": null},
"nonfinite": ["metrics.loss"]}``.

Events:

``{"event": "progress", "step": i, "total": n, "metrics": {name: number}}``
    One per epoch or phase; ``step`` counts from 1 to ``total``. Emitted by
    :func:`progress_callback` during ``fit`` or by :func:`progress` for a hand-made phase.
``{"event": "result", "metrics": {...}, "tables": [...], "plots": [...], "artifacts": [...]}``
    Exactly one, last. ``metrics`` holds the headline numbers. Each table is
    ``{"title", "columns": [str], "rows": [[cell, ...]]}``; each plot is ``{"title", "x_label",
    "y_label", "series": {name: [[x, y], ...]}}``; ``artifacts`` are absolute paths of files the
    run saved. The TUI draws the tables and plots in the terminal.

This module imports neither TensorFlow nor Keras at import time (only :func:`quiet_tensorflow`
does), so ``--help`` is instant and the runner's tests need no TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

EVENT_KEY = "event"


def _finite_or_flag(value: Any, path: str, flagged: list[str]) -> Any:
    """Return ``value`` with non-finite floats replaced by ``None``, recording their paths."""
    if isinstance(value, Mapping):
        return {str(k): _finite_or_flag(v, f"{path}.{k}" if path else str(k), flagged)
                for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_flag(v, f"{path}.{i}", flagged) for i, v in enumerate(value)]
    if hasattr(value, "item") and callable(value.item):  # NumPy and TensorFlow scalars
        try:
            value = value.item()
        except (ValueError, TypeError):
            pass
    if isinstance(value, float) and not math.isfinite(value):
        flagged.append(path)
        return None
    return value


def encode_event(kind: str, **fields: Any) -> str:
    """Return one event as a single line of strict JSON (no trailing newline).

    Non-finite numbers anywhere in ``fields`` become ``null`` and their dotted paths are listed
    under ``"nonfinite"``. Raises ``TypeError`` for values JSON cannot represent.
    """
    flagged: list[str] = []
    payload = {EVENT_KEY: kind, **_finite_or_flag(fields, "", flagged)}
    if flagged:
        payload["nonfinite"] = flagged
    return json.dumps(payload, allow_nan=False, separators=(",", ":"))


def emit(kind: str, **fields: Any) -> None:
    """Write one event line to stdout and flush it, so a streaming reader sees it at once."""
    sys.stdout.write(encode_event(kind, **fields) + "\n")
    sys.stdout.flush()


def progress(step: int, total: int, metrics: Mapping[str, float] | None = None) -> None:
    """Emit a progress event: ``step`` of ``total`` (1-based), with optional metrics."""
    emit("progress", step=int(step), total=int(total), metrics=dict(metrics or {}))


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> dict[str, Any]:
    """Build a result table; every row must have one cell per column (``ValueError`` if not)."""
    rows = [list(row) for row in rows]
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(f"table {title!r}: row {row!r} has {len(row)} cells, "
                             f"expected {len(columns)}")
    return {"title": title, "columns": list(columns), "rows": rows}


def plot(title: str, x_label: str, y_label: str,
         series: Mapping[str, Iterable[Sequence[float]]]) -> dict[str, Any]:
    """Build a result plot: ``series`` maps a name to its ``[[x, y], ...]`` points."""
    return {"title": title, "x_label": x_label, "y_label": y_label,
            "series": {name: [[float(x), float(y)] for x, y in points]
                       for name, points in series.items()}}


def details(title: str = "Details", **values: Any) -> dict[str, Any]:
    """A two-column table for what describes a run but is not a headline number: the unit, the
    best model's name, the device, the data report."""
    return table(title, ["name", "value"],
                 [[name, value if isinstance(value, (int, float)) else str(value)]
                  for name, value in values.items()])


def result(metrics: Mapping[str, Any], tables: Sequence[Mapping[str, Any]] = (),
           plots: Sequence[Mapping[str, Any]] = (),
           artifacts: Iterable[os.PathLike[str] | str] = ()) -> None:
    """Emit the final result event; artifact paths are made absolute.

    ``metrics`` are numbers (booleans become 0 or 1); raises ``TypeError`` naming a metric that
    is not: put descriptive values in a :func:`details` table instead.
    """
    numbers = {}
    for name, value in metrics.items():
        if hasattr(value, "item") and callable(value.item):  # NumPy scalars
            value = value.item()
        if isinstance(value, bool):
            value = int(value)
        if not isinstance(value, (int, float)):
            raise TypeError(f"metric {name!r} is {value!r}, not a number; "
                            "put it in a details table")
        numbers[name] = value
    emit("result", metrics=numbers, tables=list(tables), plots=list(plots),
         artifacts=[str(Path(p).resolve()) for p in artifacts])


def default_output_dir(experiment: str) -> Path:
    """Where a script saves artefacts unless ``--output-dir`` says otherwise.

    ``<user data dir>/studyapp/experiment-outputs/<experiment>`` (platformdirs), the same data
    dir as the app's database. studyapp's runner passes its own, beside the database it was
    opened with (``studyapp.locations.experiment_output_dir``).
    """
    from platformdirs import user_data_dir

    return Path(user_data_dir("studyapp", appauthor=False)) / "experiment-outputs" / experiment


def positive_int(text: str) -> int:
    """An ``argparse`` type: a whole number of at least 1 (a usage error otherwise)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def positive_float(text: str) -> float:
    """An ``argparse`` type: a finite number above 0 (a usage error otherwise)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number, not {text}")
    return value


class HelpFormatter(argparse.RawDescriptionHelpFormatter,
                    argparse.ArgumentDefaultsHelpFormatter):
    """``--help`` keeps the description's layout and shows every option's default."""


def make_parser(description: str, experiment: str, seed: int = 42) -> argparse.ArgumentParser:
    """An ``argparse`` parser with the options every script shares.

    ``--seed`` (fixed default), ``--smoke`` (a tiny run for a laptop CPU, well under a minute)
    and ``--output-dir``. Help texts show defaults. ``description`` is usually the script's
    ``__doc__``: it is shown with its own line breaks and lists, and its reStructuredText
    literals (double backquotes) as single backquotes.
    """
    parser = argparse.ArgumentParser(description=description.replace("``", "`"),
                                     formatter_class=HelpFormatter)
    parser.add_argument("--seed", type=int, default=seed,
                        help="random seed for NumPy, Python and TensorFlow")
    parser.add_argument("--smoke", action="store_true",
                        help="tiny run that finishes on a laptop CPU in well under a minute")
    parser.add_argument("--output-dir", type=Path, default=default_output_dir(experiment),
                        help="folder for saved models, plots and other artefacts")
    return parser


TENSORFLOW_START_NOISE = re.compile(
    r"All log messages before absl::InitializeLog|\] oneDNN custom operations are on"
    r"|cudart_stub\.cc.*Could not find cuda drivers|cpu_feature_guard\.cc|^To enable the following"
    r" instructions")
"""Lines TensorFlow's C++ libraries print to stderr while they load, whatever the log level."""


def quiet_tensorflow() -> None:
    """Silence TensorFlow's log noise and progress bars, then import TensorFlow.

    ``TF_CPP_MIN_LOG_LEVEL=3`` (unless set) also hides ``failed call to cuInit`` on machines
    without a GPU; real errors still reach Python as exceptions. The lines its libraries print
    while loading, before any log level applies (:data:`TENSORFLOW_START_NOISE`), are dropped;
    any other stderr output of the import is passed on.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("TFDS_DISABLE_PROGRESS_BAR", "1")  # read by our dataset code
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import logging
    import tempfile

    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)  # the C++ code writes to file descriptor 2, not sys.stderr
        try:
            import tensorflow  # noqa: F401
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            for line in captured.read().decode(errors="replace").splitlines(keepends=True):
                if not TENSORFLOW_START_NOISE.search(line):
                    sys.stderr.write(line)
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("absl").setLevel(logging.ERROR)


def epoch_timer():
    """A ``keras.callbacks.Callback`` timing each epoch of ``fit`` (wall clock, seconds).

    ``timer.seconds`` lists every epoch; ``timer.seconds_per_epoch`` is their median without the
    first epoch, which also traces and compiles the model (with it when it is the only one).
    """
    import statistics
    import time

    import keras

    class _EpochTimer(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []

        def on_epoch_begin(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
            self._started = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
            self.seconds.append(time.perf_counter() - self._started)

        @property
        def seconds_per_epoch(self) -> float:
            return statistics.median(self.seconds[1:] or self.seconds)

    return _EpochTimer()


def progress_callback(total_epochs: int, prefix: str = ""):
    """A ``keras.callbacks.Callback`` that emits one progress event per epoch.

    ``total_epochs`` is the ``epochs`` given to ``fit``; with early stopping the last step may be
    smaller. ``prefix`` is prepended to metric names, to tell several models apart in one run.
    """
    import keras

    class _Progress(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Mapping[str, float] | None = None) -> None:
            metrics = {f"{prefix}{k}": float(v) for k, v in (logs or {}).items()}
            progress(epoch + 1, total_epochs, metrics)

    return _Progress()
