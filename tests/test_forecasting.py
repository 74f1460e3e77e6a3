"""Tests for experiments/forecasting.py and the Q4 and Q7 scripts built on it."""

from __future__ import annotations

import math
import subprocess
import sys
import urllib.error
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from support import (
    EXPERIMENTS,
    require_tensorflow,
    rows_by_first_cell,
    run_experiment,
    shared_path,
)

sys.path.insert(0, str(EXPERIMENTS))
import forecasting  # noqa: E402

RIDERSHIP = ("data", "ridership", forecasting.RIDERSHIP_FILE)


# --- loading ---------------------------------------------------------------------------------


def test_seattle_loads_from_the_package_with_the_yearly_split():
    series = forecasting.load_seattle()
    assert len(series.values) == 1461
    assert series.dates[0] == pd.Timestamp("2012-01-01")
    assert series.dates[series.train_end] == pd.Timestamp("2014-01-01")
    assert series.dates[series.valid_end] == pd.Timestamp("2015-01-01")
    assert series.seasonal_lag == 365
    assert series.report["missing_dates"] == 0
    train = series.values[: series.train_end]
    assert series.offset == pytest.approx(train.mean())


def test_ridership_loads_from_shared_data_with_the_books_split():
    series = forecasting.load_ridership(shared_path(*RIDERSHIP), column="bus")
    assert series.dates[0] == pd.Timestamp("2016-01-01")
    assert series.dates[series.train_end] == pd.Timestamp("2019-01-01")
    assert series.dates[series.valid_end] == pd.Timestamp("2019-06-01")
    assert series.scale == 1e6
    assert series.report["missing_dates"] == 0
    assert series.report["conflicting_duplicate_dates"] == []


def test_truncate_keeps_the_split_dates_and_refuses_an_empty_test_split():
    series = forecasting.load_seattle()
    short = forecasting.truncate(series, "2015-03-31")
    assert short.dates[-1] == pd.Timestamp("2015-03-31")
    assert (short.train_end, short.valid_end) == (series.train_end, series.valid_end)
    np.testing.assert_array_equal(short.values, series.values[: len(short.values)])
    with pytest.raises(ValueError, match="fewer than 7 test days"):
        forecasting.truncate(series, "2015-01-03")


def test_ridership_reproduces_the_books_naive_lag7_mae():
    df = forecasting.read_ridership(shared_path(*RIDERSHIP))
    mae = forecasting.naive_lag7_mae(df)
    assert round(mae["bus"], 1) == 43915.6
    assert round(mae["rail"], 1) == 42143.3


def test_ridership_download_failure_says_to_pass_csv(monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(forecasting.urllib.request, "urlopen", offline)
    with pytest.raises(ConnectionError, match="--csv"):
        forecasting.ridership_csv(None)


def write_csv(path: Path, rows: list[tuple[str, float]]) -> Path:
    pd.DataFrame(rows, columns=["day", "level"]).to_csv(path, index=False)
    return path


def days(start: str, n: int) -> list[str]:
    return [d.strftime("%Y-%m-%d") for d in pd.date_range(start, periods=n)]


def test_csv_drops_exact_duplicates_and_reports_them(tmp_path):
    rows = [(d, float(i)) for i, d in enumerate(days("2020-01-01", 40))]
    path = write_csv(tmp_path / "s.csv", rows + [rows[5]])
    series = forecasting.load_csv(path, "day", "level")
    assert series.report["exact_duplicates_dropped"] == 1
    np.testing.assert_array_equal(series.values, np.arange(40.0))
    assert (series.train_end, series.valid_end) == (28, 34)


def test_csv_conflicting_duplicate_raises_naming_the_date_or_follows_the_policy(tmp_path):
    rows = [(d, float(i)) for i, d in enumerate(days("2020-01-01", 40))]
    path = write_csv(tmp_path / "s.csv", rows + [("2020-01-06", 100.0)])
    with pytest.raises(ValueError, match="2020-01-06"):
        forecasting.load_csv(path, "day", "level")
    first = forecasting.load_csv(path, "day", "level", duplicates="first")
    mean = forecasting.load_csv(path, "day", "level", duplicates="mean")
    assert first.values[5] == 5.0
    assert mean.values[5] == 52.5
    assert mean.report["conflicting_duplicate_dates"] == ["2020-01-06"]


def test_csv_gap_raises_naming_the_first_missing_date_or_is_interpolated(tmp_path):
    rows = [(d, float(i)) for i, d in enumerate(days("2020-01-01", 40))]
    del rows[10:12]  # 2020-01-11 and 2020-01-12 missing
    path = write_csv(tmp_path / "s.csv", rows)
    with pytest.raises(ValueError, match="2020-01-11"):
        forecasting.load_csv(path, "day", "level")
    filled = forecasting.load_csv(path, "day", "level", gaps="interpolate")
    assert filled.report["missing_dates"] == 2
    assert filled.report["first_missing_dates"] == ["2020-01-11", "2020-01-12"]
    np.testing.assert_allclose(filled.values, np.arange(40.0))  # linear in time: no shift


# --- windows ---------------------------------------------------------------------------------


def test_windows_align_targets_on_0_to_99():
    X, Y_vec, Y_seq = forecasting.make_windows(np.arange(100), window=10, horizon=7)
    n = 100 - 10 - 7 + 1
    assert X.shape == (n, 10, 1) and Y_vec.shape == (n, 7) and Y_seq.shape == (n, 10, 7)
    for i in (0, 41, n - 1):
        np.testing.assert_array_equal(X[i, :, 0], np.arange(i, i + 10))
        np.testing.assert_array_equal(Y_vec[i], np.arange(i + 10, i + 17))
        for step in range(10):  # the target at step t is the values t+1 .. t+7
            t = i + step
            np.testing.assert_array_equal(Y_seq[i, step], np.arange(t + 1, t + 8))
    assert Y_seq[n - 1, -1, -1] == 99


def test_split_windows_keep_targets_inside_the_split_and_inputs_in_the_past():
    features = np.arange(100.0)[:, None]
    windows = forecasting.split_windows(features, start=60, stop=80, window=10, horizon=7)
    np.testing.assert_array_equal(windows.anchors, np.arange(59, 73))
    assert windows.Y_vec.min() == 60 and windows.Y_vec.max() == 79
    np.testing.assert_array_equal(windows.X[:, -1, 0], windows.anchors)


def test_window_shapes_are_checked():
    X, Y_vec, Y_seq = forecasting.make_windows(np.arange(50), window=10, horizon=7)
    forecasting.check_window_shapes(X, Y_seq, 10, 7, seq2seq=True)
    with pytest.raises(ValueError, match="seq2vec targets"):
        forecasting.check_window_shapes(X, Y_seq, 10, 7, seq2seq=False)
    with pytest.raises(ValueError, match="inputs"):
        forecasting.check_window_shapes(X[:, :5], Y_vec, 10, 7, seq2seq=False)
    with pytest.raises(ValueError, match="too short"):
        forecasting.make_windows(np.arange(10), window=10, horizon=7)


# --- baselines -------------------------------------------------------------------------------


def test_baselines_on_a_small_series():
    values = np.arange(20.0) ** 2
    forecasts = forecasting.baseline_forecasts(values, np.array([9, 12]), horizon=3,
                                               seasonal_lag=7)
    np.testing.assert_array_equal(forecasts["persistence"], [[81] * 3, [144] * 3])
    np.testing.assert_allclose(forecasts["mean_last_7"][:, 0],
                               [values[3:10].mean(), values[6:13].mean()])
    np.testing.assert_array_equal(forecasts["seasonal_naive"], [[9, 16, 25], [36, 49, 64]])
    truth = forecasting.targets(values, np.array([9, 12]), 3)
    np.testing.assert_array_equal(truth, [[100, 121, 144], [169, 196, 225]])
    np.testing.assert_allclose(forecasting.horizon_mae(forecasts["persistence"], truth),
                               [(19 + 25) / 2, (40 + 52) / 2, (63 + 81) / 2])


def test_seasonal_baseline_reaches_before_the_window_but_never_ahead():
    values = np.arange(400.0)
    forecasts = forecasting.baseline_forecasts(values, np.array([380]), horizon=7,
                                               seasonal_lag=365)
    np.testing.assert_array_equal(forecasts["seasonal_naive"][0], np.arange(16, 23))
    with pytest.raises(ValueError, match="history"):
        forecasting.baseline_forecasts(values, np.array([100]), 7, 365)
    with pytest.raises(ValueError, match="seasonal lag"):
        forecasting.baseline_forecasts(values, np.array([380]), 8, 7)


# --- scripts ---------------------------------------------------------------------------------


@pytest.mark.tensorflow
def test_q4_smoke_run_reports_every_forecaster_per_day(tmp_path):
    result, _ = run_experiment("q4_forecast.py", "--smoke", output_dir=tmp_path)
    metrics = result["metrics"]
    for name in ("seq2vec", "seq2seq", "mean_last_7", "seasonal_naive"):
        assert math.isfinite(metrics[f"{name}_vs_persistence"])
    table, details = result["tables"]
    best = rows_by_first_cell(details)["best_model"]["value"]
    assert metrics["best_vs_persistence"] == metrics[f"{best}_vs_persistence"] \
        == min(metrics["seq2vec_vs_persistence"], metrics["seq2seq_vs_persistence"])
    assert table["columns"][1:8] == [f"t+{d}" for d in range(1, 8)]
    assert [row[0] for row in table["rows"]] == ["persistence", "mean_last_7",
                                                 "seasonal_naive", "seq2vec", "seq2seq"]
    (png,) = result["artifacts"]
    assert Path(png).is_file() and Path(png).read_bytes()[:4] == b"\x89PNG"
    assert len(result["plots"][0]["series"]["actual"]) == 7


def test_q4_rejects_a_csv_with_a_gap_naming_the_date(tmp_path):
    rows = [(d, float(i % 9)) for i, d in enumerate(days("2020-01-01", 120))]
    del rows[30]
    path = write_csv(tmp_path / "gap.csv", rows)
    completed = subprocess.run(
        [sys.executable, str(EXPERIMENTS / "q4_forecast.py"), "--dataset", "csv", "--csv",
         str(path), "--date-column", "day", "--value-column", "level", "--smoke"],
        check=False, capture_output=True, text=True, timeout=60)
    assert completed.returncode == 2
    assert "2020-01-31" in completed.stderr and "--gaps interpolate" in completed.stderr


@pytest.mark.tensorflow
def test_q7_smoke_run_measures_mae_parameters_and_speed(tmp_path):
    result, completed = run_experiment("q7_conv1d.py", "--smoke", output_dir=tmp_path)
    metrics = result["metrics"]
    for kind in ("gru", "conv_gru", "wavenet"):
        assert math.isfinite(metrics[f"{kind}_mae"]) and metrics[f"{kind}_mae"] > 0
        assert metrics[f"{kind}_parameters"] > 0
        assert metrics[f"{kind}_seconds_per_epoch"] > 0
    table, _details = result["tables"]
    assert [row[0] for row in table["rows"]] == ["gru", "conv_gru", "wavenet"]
    assert "what the numbers show: s/epoch: gru" in completed.stdout


@pytest.mark.tensorflow
@pytest.mark.parametrize("window", [20, 21])
def test_q7_strided_conv_sees_the_newest_day_whatever_the_window(window):
    require_tensorflow()
    sys.path.insert(0, str(EXPERIMENTS))
    import keras
    import q7_conv1d

    model = q7_conv1d.make_model("conv_gru", window, 1, 7, units=4, residual=False,
                                 window_norm=False)
    conv = next(layer for layer in model.layers if isinstance(layer, keras.layers.Conv1D))
    kernel, bias = conv.get_weights()
    # A kernel of ones makes the last convolution step the (ReLU of the) sum of the days it
    # covers, so it is non-zero exactly when it covers the newest day.
    conv.set_weights([np.ones_like(kernel), np.zeros_like(bias)])
    features = keras.Model(model.input, conv.output)
    inputs = np.zeros((1, window, 1), "float32")
    inputs[0, -1, 0] = 10.0
    assert features(inputs).numpy()[0, -1].min() == pytest.approx(10.0)


@pytest.mark.tensorflow
@pytest.mark.parametrize(("script", "kind"), [
    ("q4_forecast", "seq2vec"), ("q4_forecast", "seq2seq"),
    ("q7_conv1d", "gru"), ("q7_conv1d", "conv_gru"), ("q7_conv1d", "wavenet")])
def test_window_normalised_models_follow_the_series_level_and_scale(script, kind):
    """With window_norm, forecasting ``a * x + b`` gives ``a * forecast(x) + b``: a level shift
    (CTA ridership in March 2020) moves the forecast with it, whatever the weights."""
    require_tensorflow()
    sys.path.insert(0, str(EXPERIMENTS))
    import importlib

    make_model = importlib.import_module(script).make_model
    series = np.random.default_rng(0).normal(size=(3, 24, 1)).astype("float32")
    for residual in (True, False):
        model = make_model(kind, 24, 1, 7, units=4, residual=residual, window_norm=True)
        forecast = model(series).numpy()
        shifted = model(3.0 * series + 5.0).numpy()
        np.testing.assert_allclose(shifted, 3.0 * forecast + 5.0, rtol=1e-4, atol=1e-4)
