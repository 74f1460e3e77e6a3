"""Q4: forecasting the next seven days of a daily series with an RNN.

Geron's chapter 15 accepts two designs for a 7-day forecast: a *sequence-to-vector* RNN whose
Dense head outputs all seven values at once, and a *sequence-to-sequence* RNN
(``return_sequences=True`` throughout, a Dense(7) at every time step) trained to forecast the next
seven days at every step and used at its last step. This script first scores three naive
baselines on the test windows (persistence, mean of the last 7 days, seasonal naive), then trains
both designs with early stopping on validation MAE, and reports the test MAE per day ahead
(t+1 .. t+7) for every forecaster, and each model's ratio to persistence.

Default data: Seattle's daily maximum temperature (offline); --dataset ridership gives the book's
CTA series. With --calendar (on by default), the inputs carry day-of-year and day-of-week as
sin/cos channels beside the series; with --residual (on by default) the models predict the change
from the last observed value; with --window-norm (on by default) they see each window scaled by
its own mean and standard deviation and scale their forecast back, so they still forecast when
the series' level moves (CTA ridership fell by two thirds in March 2020).
"""

from __future__ import annotations

import numpy as np

import forecasting
import protocol

MODELS = ("seq2vec", "seq2seq")


def make_model(kind: str, window: int, n_features: int, horizon: int, units: int,
               residual: bool, window_norm: bool):
    """A 2-layer GRU forecaster; input ``[batch, window, features]``.

    ``seq2vec`` outputs ``[batch, horizon]``; ``seq2seq`` outputs ``[batch, window, horizon]``
    (the forecast made at every step). With ``residual`` the network predicts the change from the
    series' value at the same step (feature 0); with ``window_norm`` it works on each window
    scaled by its own statistics (:func:`forecasting.window_normalization`).
    """
    import keras

    inputs = keras.Input(shape=(window, n_features))
    features, restore = forecasting.window_normalization(inputs, window_norm)
    hidden = keras.layers.GRU(units, return_sequences=True)(features)
    hidden = keras.layers.GRU(units, return_sequences=kind == "seq2seq")(hidden)
    outputs = restore(forecasting.forecast_head(features, hidden, horizon, residual))
    return keras.Model(inputs, outputs, name=kind)


def save_last_window_png(path, dates, history, truth, forecasts, unit: str) -> None:
    """Plot the last test window: its history, the true next days and each forecast."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(9, 4))
    axes.plot(dates[: len(history)], history, color="black", label="history")
    future = dates[len(history):]
    axes.plot(future, truth, color="black", linestyle="--", marker="o", label="actual")
    for name, values in forecasts.items():
        axes.plot(future, values, marker=".", label=name)
    axes.set_ylabel(unit)
    axes.set_title("Last test window: the next seven days")
    axes.legend(fontsize="small")
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def main() -> None:
    args, series = forecasting.parse_args(forecasting.make_parser(__doc__, "q4_forecast"))
    horizon = 7
    protocol.quiet_tensorflow()
    import keras

    keras.utils.set_random_seed(args.seed)
    data = forecasting.prepare(series, args.window, horizon, calendar=args.calendar)
    print(f"{series.name}: {len(series.values)} days, windows train/valid/test = "
          f"{len(data.train.X)}/{len(data.valid.X)}/{len(data.test.X)}, "
          f"inputs [batch, {args.window}, {data.n_features}]; data report: {series.report}")

    anchors = data.test.anchors
    truth = forecasting.targets(series.values, anchors, horizon)
    forecasts = forecasting.baseline_forecasts(series.values, anchors, horizon,
                                               series.seasonal_lag)
    training = {}
    for kind in MODELS:
        print(f"training {kind}")
        model = make_model(kind, args.window, data.n_features, horizon, args.units,
                           args.residual, args.window_norm)
        training[kind] = forecasting.fit(model, data, kind == "seq2seq", args.epochs,
                                         args.patience, prefix=f"{kind}_")
        forecasts[kind] = forecasting.forecast(model, data, kind == "seq2seq")

    per_day = {name: forecasting.horizon_mae(values, truth) for name, values in forecasts.items()}
    overall = {name: float(mae.mean()) for name, mae in per_day.items()}
    persistence = overall["persistence"]
    best = min(MODELS, key=overall.get)
    metrics = {"persistence_mae": persistence}
    for name in (*forecasting.BASELINES[1:], *MODELS):
        metrics[f"{name}_mae"] = overall[name]
        metrics[f"{name}_vs_persistence"] = overall[name] / persistence
    for kind in MODELS:
        metrics[f"{kind}_best_epoch"] = training[kind]["best_epoch"]
    metrics.update(best_vs_persistence=overall[best] / persistence, test_windows=len(anchors))
    run_details = protocol.details(best_model=best, unit=series.unit, calendar=args.calendar,
                                   residual=args.residual, window_norm=args.window_norm,
                                   data_report=series.report)

    columns = ["forecaster", *[f"t+{day}" for day in range(1, horizon + 1)], "overall",
               "vs persistence"]
    rows = [[name, *[round(float(m), 3) for m in mae], round(overall[name], 3),
             round(overall[name] / persistence, 3)] for name, mae in per_day.items()]

    last = anchors[-1]
    history_start = max(0, last - args.window + 1)
    dates = series.dates[history_start: last + horizon + 1]
    history = series.values[history_start: last + 1]
    shown = {name: forecasts[name][-1] for name in ("persistence", "seasonal_naive", *MODELS)}
    args.output_dir.mkdir(parents=True, exist_ok=True)
    png = args.output_dir / "last_test_window.png"
    save_last_window_png(png, dates, history, truth[-1], shown, series.unit)
    x_future = np.arange(1, horizon + 1)
    series_points = {"history": list(zip(np.arange(1 - len(history), 1), history, strict=True)),
                     "actual": list(zip(x_future, truth[-1], strict=True)),
                     **{name: list(zip(x_future, values, strict=True))
                        for name, values in shown.items()}}

    print(f"best model: {best}, test MAE {overall[best]:.3f} {series.unit} = "
          f"{overall[best] / persistence:.2f}x persistence ({persistence:.3f})")
    protocol.result(
        metrics=metrics,
        tables=[protocol.table(f"Test MAE per day ahead ({series.unit})", columns, rows),
                run_details],
        plots=[protocol.plot(f"Last test window, ending {series.dates[last]:%Y-%m-%d}",
                             "days from the last input", series.unit, series_points)],
        artifacts=[png],
    )


if __name__ == "__main__":
    main()
