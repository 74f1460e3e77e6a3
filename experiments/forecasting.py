"""Daily series, forecasting windows, baselines and the training loop shared by Q4 and Q7.

Three sources give one :class:`DailySeries` (values in original units, a chronological split):

- ``seattle``: daily maximum temperature (deg C) in Seattle, 2012-2015, from the
  ``seattle-weather.csv`` file shipped inside the ``vega_datasets`` package (no network).
  Train 2012-2013, validation 2014, test 2015.
- ``ridership``: Chicago Transit Authority daily boardings (bus or rail), the series of Geron's
  chapter 15. Train 2016-01..2018-12, validation 2019-01..2019-05, test 2019-06 onward, as the
  book. Scaled by 1e6 for training, as the book.
- ``csv``: any daily series in a CSV file; chronological 70/15/15 split by default.

Gaps (missing dates) and duplicate dates are never silently shifted over: exact duplicate rows
are dropped, conflicting duplicates and gaps raise ``ValueError`` unless a policy says otherwise,
and what was done is kept in :attr:`DailySeries.report`.

Windows: the value at the last input step ``t`` is the *anchor*; the targets are the values at
``t+1 .. t+horizon``. A window belongs to a split when all its targets lie in that split; its
inputs may reach back into the previous split (past data only), so no day of a split is lost.

This module imports TensorFlow/Keras only inside the functions that train models.
"""

from __future__ import annotations

import argparse
import urllib.error
import urllib.request
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

RIDERSHIP_URL = ("https://github.com/ageron/data/raw/main/ridership/"
                 "CTA_-_Ridership_-_Daily_Boarding_Totals.csv")
RIDERSHIP_FILE = "CTA_-_Ridership_-_Daily_Boarding_Totals.csv"
DATASETS = ("seattle", "ridership", "csv")
BASELINES = ("persistence", "mean_last_7", "seasonal_naive")


@dataclass(frozen=True)
class DailySeries:
    """One daily series in original units, with a chronological train/validation/test split.

    ``values`` is ``[time]`` float64, ``dates`` the matching daily ``DatetimeIndex`` (no gaps).
    Indices ``[0, train_end)`` are train, ``[train_end, valid_end)`` validation and
    ``[valid_end, time)`` test. Models see ``(values - offset) / scale``. ``seasonal_lag`` is the
    lag in days of the seasonal naive baseline. ``report`` says what loading did about duplicates
    and gaps.
    """

    name: str
    unit: str
    values: np.ndarray
    dates: pd.DatetimeIndex
    train_end: int
    valid_end: int
    seasonal_lag: int
    offset: float = 0.0
    scale: float = 1.0
    report: dict[str, Any] = field(default_factory=dict)

    def split_bounds(self, split: str) -> tuple[int, int]:
        """``(start, stop)`` indices of ``split`` ("train", "valid" or "test")."""
        bounds = {"train": (0, self.train_end), "valid": (self.train_end, self.valid_end),
                  "test": (self.valid_end, len(self.values))}
        if split not in bounds:
            raise ValueError(f"unknown split {split!r}; expected one of {sorted(bounds)}")
        return bounds[split]


# --------------------------------------------------------------------------------------------
# Loading


def clean_daily(frame: pd.DataFrame, date_column: str, value_column: str,
                duplicates: str = "error", gaps: str = "error") -> tuple[pd.Series, dict]:
    """Turn rows of ``(date, value)`` into a gap-free daily ``pd.Series`` sorted by date.

    Exact duplicate rows are dropped. Dates that repeat with different values raise
    ``ValueError`` naming them (``duplicates="error"``), or keep the first row (``"first"``) or
    the mean (``"mean"``). Rows with a missing value count as missing dates. Missing dates raise
    ``ValueError`` naming the first ones (``gaps="error"``) or are filled by linear interpolation
    in time (``"interpolate"``). Returns the series and a report of what was done.
    """
    if duplicates not in ("error", "first", "mean"):
        raise ValueError(f"duplicates must be 'error', 'first' or 'mean', not {duplicates!r}")
    if gaps not in ("error", "interpolate"):
        raise ValueError(f"gaps must be 'error' or 'interpolate', not {gaps!r}")
    for column in (date_column, value_column):
        if column not in frame.columns:
            raise ValueError(f"no column {column!r}; the columns are {list(frame.columns)}")
    rows = pd.DataFrame({"date": pd.to_datetime(frame[date_column]),
                         "value": pd.to_numeric(frame[value_column], errors="coerce")})
    if (rows["date"] != rows["date"].dt.normalize()).any():
        raise ValueError(f"column {date_column!r} has times of day; expected one value per day")
    report: dict[str, Any] = {"rows_read": len(rows)}
    before = len(rows)
    rows = rows.drop_duplicates()
    report["exact_duplicates_dropped"] = before - len(rows)
    missing_values = rows["value"].isna()
    report["missing_values"] = int(missing_values.sum())
    rows = rows[~missing_values].sort_values("date", kind="stable")

    repeated = rows["date"][rows["date"].duplicated(keep=False)].drop_duplicates()
    report["conflicting_duplicate_dates"] = [d.strftime("%Y-%m-%d") for d in repeated]
    if len(repeated) and duplicates == "error":
        shown = ", ".join(report["conflicting_duplicate_dates"][:5])
        raise ValueError(f"{len(repeated)} dates have several different values (first: {shown}); "
                         "pass --duplicates first or --duplicates mean to resolve them")
    grouped = rows.groupby("date")["value"]
    series = grouped.first() if duplicates == "first" else grouped.mean()

    full_range = pd.date_range(series.index.min(), series.index.max(), freq="D")
    missing_dates = full_range.difference(series.index)
    report["missing_dates"] = len(missing_dates)
    report["first_missing_dates"] = [d.strftime("%Y-%m-%d") for d in missing_dates[:5]]
    if len(missing_dates) and gaps == "error":
        raise ValueError(f"{len(missing_dates)} missing dates (first: "
                         f"{', '.join(report['first_missing_dates'])}); "
                         "pass --gaps interpolate to fill them")
    series = series.reindex(full_range).interpolate(method="time")
    report["interpolated_dates"] = len(missing_dates)
    series.index.name = "date"
    return series, report


def truncate(series: DailySeries, end: str) -> DailySeries:
    """The series up to and including the date ``end``; the splits keep their start dates.

    Raises ``ValueError`` when ``end`` leaves fewer than seven test days.
    """
    stop = int(series.dates.searchsorted(pd.Timestamp(end), side="right"))
    if stop < series.valid_end + 7:
        raise ValueError(f"--end {end} leaves fewer than 7 test days (the test split starts "
                         f"{series.dates[series.valid_end]:%Y-%m-%d})")
    return replace(series, values=series.values[:stop], dates=series.dates[:stop],
                   report={**series.report, "end": end})


def _split_at(dates: pd.DatetimeIndex, valid_start: str, test_start: str) -> tuple[int, int]:
    """Indices of the first validation day and the first test day."""
    return (int(dates.searchsorted(pd.Timestamp(valid_start))),
            int(dates.searchsorted(pd.Timestamp(test_start))))


def load_seattle() -> DailySeries:
    """Seattle daily maximum temperature (deg C), 2012-2015, 1,461 days, from ``vega_datasets``.

    Read from the CSV file inside the installed package, never from the network. Standardised
    with the training mean and standard deviation; seasonal lag 365 days.
    """
    import vega_datasets

    path = Path(vega_datasets.__file__).parent / "_data" / "seattle-weather.csv"
    series, report = clean_daily(pd.read_csv(path), "date", "temp_max")
    train_end, valid_end = _split_at(series.index, "2014-01-01", "2015-01-01")
    return _standardised("Seattle daily maximum temperature", "deg C", series, train_end,
                         valid_end, seasonal_lag=365, report=report)


def ridership_csv(csv: Path | None = None, timeout: float = 30.0) -> Path:
    """Path of the CTA ridership CSV: ``csv`` if given, else a cached download.

    The file is downloaded once from the book's data repository (:data:`RIDERSHIP_URL`) into the
    user cache dir (platformdirs). Raises ``ConnectionError`` saying to pass ``--csv`` when the
    download fails, and ``FileNotFoundError`` when ``csv`` does not exist.
    """
    if csv is not None:
        if not Path(csv).is_file():
            raise FileNotFoundError(f"no such file: {csv}")
        return Path(csv)
    from platformdirs import user_cache_dir

    cached = Path(user_cache_dir("studyapp", appauthor=False)) / "ridership" / RIDERSHIP_FILE
    if cached.is_file():
        return cached
    try:
        with urllib.request.urlopen(RIDERSHIP_URL, timeout=timeout) as response:
            content = response.read()
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        raise ConnectionError(
            f"could not download the CTA ridership data from {RIDERSHIP_URL} ({error}); "
            f"download {RIDERSHIP_FILE} yourself and pass --csv PATH") from error
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(content)
    return cached


def read_ridership(path: Path) -> pd.DataFrame:
    """The CTA table as the book prepares it: columns ``day_type, bus, rail``, indexed by date.

    Parse dates, sort, rename to ``date, day_type, bus, rail, total``, drop ``total``, then
    ``drop_duplicates()`` (Geron, *Hands-On ML* 3rd ed., ch. 15). Units: boardings per day.
    """
    df = pd.read_csv(path, parse_dates=["service_date"], date_format="%m/%d/%Y")
    df.columns = ["date", "day_type", "bus", "rail", "total"]
    df = df.sort_values("date").set_index("date")
    df = df.drop("total", axis=1)
    return df.drop_duplicates()


def naive_lag7_mae(df: pd.DataFrame, start: str = "2019-03", stop: str = "2019-05") -> pd.Series:
    """MAE of the naive forecast "same as a week ago" over ``start..stop``, per column.

    The book's figure: ``df[["bus", "rail"]].diff(7)["2019-03":"2019-05"].abs().mean()``, about
    43,916 bus and 42,143 rail boardings (Geron, ch. 15).
    """
    return df[["bus", "rail"]].diff(7)[start:stop].abs().mean()


def load_ridership(csv: Path | None = None, column: str = "rail") -> DailySeries:
    """CTA daily ``bus`` or ``rail`` boardings from 2016-01-01 on, split as the book.

    Train 2016-01..2018-12, validation 2019-01..2019-05, test 2019-06 onward; models see
    boardings / 1e6; seasonal lag 7 days. Raises ``ValueError`` for another ``column``.
    """
    if column not in ("bus", "rail"):
        raise ValueError(f"column must be 'bus' or 'rail', not {column!r}")
    df = read_ridership(ridership_csv(csv))["2016-01":].reset_index()
    series, report = clean_daily(df, "date", column)
    train_end, valid_end = _split_at(series.index, "2019-01-01", "2019-06-01")
    return DailySeries(f"CTA daily {column} boardings", "boardings", series.to_numpy(float),
                       series.index, train_end, valid_end, seasonal_lag=7, offset=0.0,
                       scale=1e6, report=report)


def load_csv(path: Path, date_column: str, value_column: str, duplicates: str = "error",
             gaps: str = "error", train_fraction: float = 0.7,
             valid_fraction: float = 0.15) -> DailySeries:
    """Any daily series from a CSV file, split chronologically by fractions (70/15/15).

    See :func:`clean_daily` for duplicates and gaps. Standardised with the training mean and
    standard deviation; seasonal lag 7 days. Raises ``ValueError`` for fractions that leave a
    split empty.
    """
    if not (0 < train_fraction and 0 < valid_fraction and train_fraction + valid_fraction < 1):
        raise ValueError("fractions must be positive and leave room for a test split; got "
                         f"train {train_fraction}, validation {valid_fraction}")
    series, report = clean_daily(pd.read_csv(path), date_column, value_column, duplicates, gaps)
    train_end = int(len(series) * train_fraction)
    valid_end = int(len(series) * (train_fraction + valid_fraction))
    return _standardised(f"{value_column} from {Path(path).name}", "units of the CSV", series,
                         train_end, valid_end, seasonal_lag=7, report=report)


def _standardised(name: str, unit: str, series: pd.Series, train_end: int, valid_end: int,
                  seasonal_lag: int, report: dict) -> DailySeries:
    values = series.to_numpy(float)
    train = values[:train_end]
    return DailySeries(name, unit, values, series.index, train_end, valid_end, seasonal_lag,
                       offset=float(train.mean()), scale=float(train.std() or 1.0), report=report)


def make_parser(description: str, experiment: str) -> argparse.ArgumentParser:
    """``protocol.make_parser`` plus the data and training options Q4 and Q7 share."""
    import protocol

    parser = protocol.make_parser(description, experiment)
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", choices=DATASETS, default="seattle",
                      help="seattle: daily max temperature (offline, from vega_datasets); "
                           "ridership: CTA boardings (the book's series); csv: your own file")
    data.add_argument("--csv", type=Path, default=None,
                      help="CSV file for --dataset csv, or the CTA file for --dataset ridership "
                           "(else downloaded once and cached)")
    data.add_argument("--column", choices=("bus", "rail"), default="rail",
                      help="ridership series to forecast")
    data.add_argument("--date-column", default="date", help="date column for --dataset csv")
    data.add_argument("--value-column", default="value", help="value column for --dataset csv")
    data.add_argument("--duplicates", choices=("error", "first", "mean"), default="error",
                      help="what to do with dates that repeat with different values (csv)")
    data.add_argument("--gaps", choices=("error", "interpolate"), default="error",
                      help="what to do with missing dates (csv)")
    data.add_argument("--end", default=None,
                      help="last date used (YYYY-MM-DD), e.g. 2020-02-29 to keep the COVID "
                           "collapse out of the CTA test split; default: the whole series")
    model = parser.add_argument_group("model and training")
    model.add_argument("--window", type=protocol.positive_int, default=56,
                       help="input days per window")
    model.add_argument("--units", type=protocol.positive_int, default=32,
                       help="units (or filters) per layer")
    model.add_argument("--epochs", type=protocol.positive_int, default=50,
                       help="maximum training epochs")
    model.add_argument("--patience", type=protocol.positive_int, default=10,
                       help="early-stopping patience (epochs) on validation MAE")
    model.add_argument("--calendar", action=argparse.BooleanOptionalAction, default=True,
                       help="add day-of-year and day-of-week sin/cos input channels")
    model.add_argument("--residual", action=argparse.BooleanOptionalAction, default=True,
                       help="models predict the change from the last observed value")
    model.add_argument("--window-norm", action=argparse.BooleanOptionalAction, default=True,
                       help="models see each window scaled by its own mean and standard "
                            "deviation, and scale their forecast back (RevIN)")
    return parser


def parse_args(parser: argparse.ArgumentParser) -> tuple[argparse.Namespace, DailySeries]:
    """Parse the options, shrink the run for ``--smoke`` and load the chosen series.

    A loading problem (a gap, a conflicting duplicate, a failed download) exits through
    ``parser.error`` with its message.
    """
    args = parser.parse_args()
    if args.smoke:
        args.window, args.units, args.epochs, args.patience = min(args.window, 21), 8, 2, 2
    try:
        series = load_from_args(args)
        if args.end is not None:
            series = truncate(series, args.end)
    except (ValueError, OSError) as error:
        parser.error(str(error))
    return args, series


def load_from_args(args: argparse.Namespace) -> DailySeries:
    """Load the series chosen by :func:`make_parser`'s data options."""
    if args.dataset == "seattle":
        return load_seattle()
    if args.dataset == "ridership":
        return load_ridership(args.csv, args.column)
    if args.csv is None:
        raise ValueError("--dataset csv needs --csv PATH")
    return load_csv(args.csv, args.date_column, args.value_column, args.duplicates, args.gaps)


# --------------------------------------------------------------------------------------------
# Windows


def calendar_features(dates: pd.DatetimeIndex) -> np.ndarray:
    """``[time, 4]``: sin and cos of the day of year (period 365.25) and of the day of week."""
    year = 2 * np.pi * dates.dayofyear.to_numpy() / 365.25
    week = 2 * np.pi * dates.dayofweek.to_numpy() / 7
    return np.stack([np.sin(year), np.cos(year), np.sin(week), np.cos(week)], axis=1)


def make_windows(series: np.ndarray, window: int,
                 horizon: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut a series into forecasting windows.

    ``series`` is ``[time]`` or ``[time, features]``; the target is feature 0. Returns
    ``X [n, window, features]`` (``X[i] = series[i : i+window]``), ``Y_vec [n, horizon]`` (the
    ``horizon`` values after the window) and ``Y_seq [n, window, horizon]`` (at step ``s``, the
    ``horizon`` values after step ``s``), with ``n = time - window - horizon + 1``. Raises
    ``ValueError`` when the series is too short or the sizes are not positive.
    """
    series = np.asarray(series, dtype=np.float32)
    if series.ndim == 1:
        series = series[:, None]
    if window < 1 or horizon < 1:
        raise ValueError(f"window and horizon must be positive, got {window} and {horizon}")
    n = len(series) - window - horizon + 1
    if n < 1:
        raise ValueError(f"a series of {len(series)} steps is too short for window {window} "
                         f"and horizon {horizon}")
    target = series[:, 0]
    # ahead[j] = target[j+1 : j+1+horizon]: the next `horizon` values after step j.
    ahead = np.lib.stride_tricks.sliding_window_view(target[1:], horizon)
    inputs = np.lib.stride_tricks.sliding_window_view(series, window, axis=0)[:n]
    X = np.ascontiguousarray(inputs.transpose(0, 2, 1))
    Y_seq = np.lib.stride_tricks.sliding_window_view(ahead, window, axis=0)[:n]
    Y_seq = np.ascontiguousarray(Y_seq.transpose(0, 2, 1))
    Y_vec = Y_seq[:, -1, :].copy()
    return X, Y_vec, Y_seq


@dataclass(frozen=True)
class Windows:
    """The windows of one split: ``anchors [n]`` are the indices of each window's last input."""

    X: np.ndarray
    Y_vec: np.ndarray
    Y_seq: np.ndarray
    anchors: np.ndarray


def split_windows(features: np.ndarray, start: int, stop: int, window: int,
                  horizon: int) -> Windows:
    """Windows whose ``horizon`` targets all lie in ``[start, stop)`` of ``features [time, f]``.

    Inputs may come from before ``start`` (past data). Raises ``ValueError`` when no window fits.
    """
    low = max(0, start - window)
    X, Y_vec, Y_seq = make_windows(features[low:stop], window, horizon)
    anchors = low + window - 1 + np.arange(len(X))
    return Windows(X, Y_vec, Y_seq, anchors)


def check_window_shapes(X: np.ndarray, Y: np.ndarray, window: int, horizon: int,
                        seq2seq: bool) -> None:
    """Raise ``ValueError`` unless ``X`` is ``[batch, window, features]`` and ``Y`` is
    ``[batch, horizon]`` (seq2vec) or ``[batch, window, horizon]`` (seq2seq)."""
    expected = (len(X), window, horizon) if seq2seq else (len(X), horizon)
    if X.ndim != 3 or X.shape[1] != window:
        raise ValueError(f"inputs must be [batch, {window}, features], got {X.shape}")
    if Y.shape != expected:
        kind = "seq2seq" if seq2seq else "seq2vec"
        raise ValueError(f"{kind} targets must have shape {expected}, got {Y.shape}")


@dataclass(frozen=True)
class ForecastData:
    """Scaled model inputs for the three splits, plus the series they came from."""

    series: DailySeries
    window: int
    horizon: int
    train: Windows
    valid: Windows
    test: Windows
    n_features: int


def prepare(series: DailySeries, window: int, horizon: int = 7,
            calendar: bool = False) -> ForecastData:
    """Scale the series, optionally add :func:`calendar_features`, and cut each split's windows."""
    scaled = ((series.values - series.offset) / series.scale)[:, None]
    if calendar:
        scaled = np.concatenate([scaled, calendar_features(series.dates)], axis=1)
    splits = {name: split_windows(scaled, *series.split_bounds(name), window, horizon)
              for name in ("train", "valid", "test")}
    return ForecastData(series, window, horizon, n_features=scaled.shape[1], **splits)


# --------------------------------------------------------------------------------------------
# Baselines and evaluation


def targets(values: np.ndarray, anchors: np.ndarray, horizon: int) -> np.ndarray:
    """``[n, horizon]``: the true values at ``anchor + 1 .. anchor + horizon``."""
    return values[anchors[:, None] + np.arange(1, horizon + 1)]


def baseline_forecasts(values: np.ndarray, anchors: np.ndarray, horizon: int,
                       seasonal_lag: int) -> dict[str, np.ndarray]:
    """The three naive forecasts ``[n, horizon]`` made at each anchor, from past data only.

    ``persistence``: the anchor's value repeated; ``mean_last_7``: the mean of the last seven
    values up to the anchor; ``seasonal_naive``: the value ``seasonal_lag`` days before each
    target day (read from the full series, so the lag may exceed the window). Raises
    ``ValueError`` if ``horizon > seasonal_lag`` (that would need future values) or if an anchor
    has too little history.
    """
    if horizon > seasonal_lag:
        raise ValueError(f"horizon {horizon} exceeds the seasonal lag {seasonal_lag}")
    if anchors.min() < max(6, seasonal_lag - 1):
        raise ValueError(f"anchor {anchors.min()} has too little history for lag {seasonal_lag}")
    steps = np.arange(1, horizon + 1)
    last_7 = values[anchors[:, None] - np.arange(7)]
    return {
        "persistence": np.repeat(values[anchors][:, None], horizon, axis=1),
        "mean_last_7": np.repeat(last_7.mean(axis=1, keepdims=True), horizon, axis=1),
        "seasonal_naive": values[anchors[:, None] + steps - seasonal_lag],
    }


def horizon_mae(forecast: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """``[horizon]``: mean absolute error per day ahead over all windows."""
    if forecast.shape != truth.shape:
        raise ValueError(f"forecast {forecast.shape} and truth {truth.shape} differ in shape")
    return np.abs(forecast - truth).mean(axis=0)


# --------------------------------------------------------------------------------------------
# Models and training (import Keras)


WINDOW_STD_FLOOR = 1e-3
"""Smallest standard deviation a window is divided by (in the series' scaled units)."""


def window_normalization(inputs, enabled: bool = True):
    """Normalise each window's series by its own mean and standard deviation; returns
    ``(features, restore)``.

    ``inputs`` is ``[batch, window, features]`` (feature 0 is the scaled series, the others
    calendar channels, left as they are). ``restore(outputs)`` maps the network's forecasts,
    ``[batch, horizon]`` or ``[batch, window, horizon]``, back to the series' scale, so the loss
    and the metrics are unchanged. Reversible instance normalisation (RevIN; Kim et al., "Reversible
    Instance Normalization for Accurate Time-Series Forecasting against Distribution Shift",
    ICLR 2022) without its learned affine weights: a model that learned the shape of weeks at
    one level still forecasts when the level moves, as CTA ridership did in March 2020. With
    ``enabled=False`` both are the identity.
    """
    if not enabled:
        return inputs, lambda outputs: outputs
    import keras

    ops = keras.ops
    series = inputs[:, :, :1]
    mean = ops.mean(series, axis=1, keepdims=True)  # [batch, 1, 1]
    std = ops.maximum(ops.std(series, axis=1, keepdims=True), WINDOW_STD_FLOOR)
    features = ops.concatenate([(series - mean) / std, inputs[:, :, 1:]], axis=-1)

    def restore(outputs):
        if len(outputs.shape) == 2:  # seq2vec [batch, horizon]
            return outputs * std[:, 0] + mean[:, 0]
        return outputs * std + mean

    return features, restore


def forecast_head(inputs, hidden, horizon: int, residual: bool):
    """Dense(``horizon``) on ``hidden``, plus the series' own value when ``residual``.

    ``inputs`` is ``[batch, window, features]`` (feature 0 is the scaled series). For a
    ``[batch, units]`` hidden state the output is ``[batch, horizon]`` and the residual adds the
    last input value; for ``[batch, window, units]`` (seq2seq) it is ``[batch, window, horizon]``
    and each step adds its own input value, so the network learns the change from it.
    """
    import keras

    outputs = keras.layers.Dense(horizon)(hidden)
    if not residual:
        return outputs
    return outputs + (inputs[:, :, :1] if len(hidden.shape) == 3 else inputs[:, -1, :1])


def last_step_mae(y_true, y_pred):
    """MAE of a seq2seq model's last step ``[batch, horizon]`` (the forecast that is used)."""
    import keras

    return keras.ops.mean(keras.ops.abs(y_true[:, -1] - y_pred[:, -1]))


def fit(model, data: ForecastData, seq2seq: bool, epochs: int, patience: int,
        learning_rate: float = 1e-3, batch_size: int = 32, prefix: str = "") -> dict[str, Any]:
    """Compile (Adam, Huber loss, MAE metric) and fit with early stopping on validation MAE.

    Seq2seq models are stopped on the MAE of their last step. The best weights are restored.
    Returns ``{"epochs": run, "best_epoch": ..., "seconds_per_epoch": median wall time of the
    epochs after the first (which also traces the graphs), "history": {...}}``.
    """
    import keras

    key = "Y_seq" if seq2seq else "Y_vec"
    train_y, valid_y = getattr(data.train, key), getattr(data.valid, key)
    for split, y in ((data.train, train_y), (data.valid, valid_y)):
        check_window_shapes(split.X, y, data.window, data.horizon, seq2seq)
    metrics = ["mae", last_step_mae] if seq2seq else ["mae"]
    monitor = "val_last_step_mae" if seq2seq else "val_mae"
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                  loss=keras.losses.Huber(), metrics=metrics)
    from protocol import epoch_timer, progress_callback

    timer = epoch_timer()
    stop = keras.callbacks.EarlyStopping(monitor=monitor, mode="min", patience=patience,
                                         restore_best_weights=True)
    history = model.fit(data.train.X, train_y, validation_data=(data.valid.X, valid_y),
                        epochs=epochs, batch_size=batch_size, verbose=2,
                        callbacks=[progress_callback(epochs, prefix), stop, timer])
    monitored = history.history[monitor]
    return {"epochs": len(monitored), "best_epoch": int(np.argmin(monitored)) + 1,
            "seconds_per_epoch": timer.seconds_per_epoch,
            "history": history.history}


def forecast(model, data: ForecastData, seq2seq: bool) -> np.ndarray:
    """The model's test forecasts ``[n, horizon]`` in original units (seq2seq: last step)."""
    check_window_shapes(data.test.X, data.test.Y_seq if seq2seq else data.test.Y_vec,
                        data.window, data.horizon, seq2seq)
    predicted = model.predict(data.test.X, verbose=0)
    if seq2seq:
        predicted = predicted[:, -1]
    return predicted * data.series.scale + data.series.offset
