"""Q7: Conv1D layers in front of (or instead of) an RNN for a 7-day forecast.

Geron's chapter 15 shortens long sequences with a strided 1D convolution before the recurrent
layers, and replaces the RNN entirely with WaveNet, a stack of causal dilated convolutions.
This script trains three forecasters on the same windows and measures, in one run, their test
MAE, number of parameters and seconds per training epoch:

- ``gru``: two GRU layers;
- ``conv_gru``: Conv1D(kernel 4, strides 2, "valid") halving the sequence, then the same GRUs;
- ``wavenet``: causal Conv1D layers with kernel 2 and dilation 1, 2, 4, ... (receptive field at
  least the window), no recurrence.

All three use the same sequence-to-vector head (Dense(7) on the last step), so they are trained
and scored on exactly the same targets; a seq2seq head after a strided convolution would need its
targets downsampled too (the book's ``Y[:, 3::2]``). Data options as in Q4 (same windows, calendar
channels, residual head and window normalisation by default).
"""

from __future__ import annotations

import numpy as np

import forecasting
import protocol

MODELS = ("gru", "conv_gru", "wavenet")


def wavenet_dilations(window: int) -> list[int]:
    """Dilations 1, 2, 4, ... until kernel-2 causal convolutions see the whole window.

    The receptive field of the stack is ``1 + sum(dilations)``.
    """
    dilations = [1]
    while 1 + sum(dilations) < window:
        dilations.append(2 * dilations[-1])
    return dilations


def make_model(kind: str, window: int, n_features: int, horizon: int, units: int,
               residual: bool, window_norm: bool):
    """One of :data:`MODELS`; input ``[batch, window, features]``, output ``[batch, horizon]``.

    ``residual`` and ``window_norm`` as in Q4 (:func:`forecasting.forecast_head`,
    :func:`forecasting.window_normalization`).
    """
    import keras

    inputs = keras.Input(shape=(window, n_features))
    features, restore = forecasting.window_normalization(inputs, window_norm)
    hidden = features
    if kind == "wavenet":
        for rate in wavenet_dilations(window):
            hidden = keras.layers.Conv1D(units, kernel_size=2, padding="causal",
                                         dilation_rate=rate, activation="relu")(hidden)
        hidden = hidden[:, -1]  # the last step has seen the whole window
    else:
        if kind == "conv_gru":
            # With an odd (window - kernel), the last stride would skip the newest day: drop
            # the oldest one instead, so the last convolution ends on the last input step.
            hidden = keras.layers.Cropping1D(((window - 4) % 2, 0))(hidden)
            hidden = keras.layers.Conv1D(units, kernel_size=4, strides=2, padding="valid",
                                         activation="relu")(hidden)
        elif kind != "gru":
            raise ValueError(f"unknown model {kind!r}; expected one of {MODELS}")
        hidden = keras.layers.GRU(units, return_sequences=True)(hidden)
        hidden = keras.layers.GRU(units)(hidden)
    outputs = restore(forecasting.forecast_head(features, hidden, horizon, residual))
    return keras.Model(inputs, outputs, name=kind)


def summary_line(rows: dict[str, dict]) -> str:
    """One sentence on what the measured numbers show: speed per epoch, then test MAE.

    A spread of test MAE under 10% is called too small to judge from one run: a different seed
    alone moves a model's MAE by a few percent (``benchmarks/forecast_seeds.py``).
    """
    fastest = min(rows, key=lambda k: rows[k]["seconds_per_epoch"])
    slowest = max(rows, key=lambda k: rows[k]["seconds_per_epoch"])
    best = min(rows, key=lambda k: rows[k]["mae"])
    worst = max(rows, key=lambda k: rows[k]["mae"])
    speedup = rows[slowest]["seconds_per_epoch"] / rows[fastest]["seconds_per_epoch"]
    spread = rows[worst]["mae"] / rows[best]["mae"] - 1
    verdict = ("under 10%, too small to call from one run: compare several --seed"
               if spread < 0.10 else "large enough to matter; confirm it over several --seed")
    seconds = ", ".join(f"{k} {r['seconds_per_epoch']:.2f}" for k, r in rows.items())
    maes = ", ".join(f"{k} {r['mae']:.3f}" for k, r in rows.items())
    return (f"s/epoch: {seconds} ({fastest} {speedup:.1f}x faster than {slowest}); "
            f"test MAE: {maes} (best {best}, {spread:.0%} better than {worst}: {verdict})")


def main() -> None:
    args, series = forecasting.parse_args(forecasting.make_parser(__doc__, "q7_conv1d"))
    horizon = 7
    protocol.quiet_tensorflow()
    import keras

    keras.utils.set_random_seed(args.seed)
    data = forecasting.prepare(series, args.window, horizon, calendar=args.calendar)
    print(f"{series.name}: windows train/valid/test = {len(data.train.X)}/{len(data.valid.X)}/"
          f"{len(data.test.X)}, inputs [batch, {args.window}, {data.n_features}]")
    truth = forecasting.targets(series.values, data.test.anchors, horizon)
    persistence = forecasting.baseline_forecasts(series.values, data.test.anchors, horizon,
                                                 series.seasonal_lag)["persistence"]
    persistence_mae = float(forecasting.horizon_mae(persistence, truth).mean())

    rows, curves = {}, {}
    for kind in MODELS:
        model = make_model(kind, args.window, data.n_features, horizon, args.units, args.residual,
                           args.window_norm)
        print(f"training {kind}: {model.count_params()} parameters")
        trained = forecasting.fit(model, data, False, args.epochs, args.patience,
                                  prefix=f"{kind}_")
        mae = float(forecasting.horizon_mae(forecasting.forecast(model, data, False), truth).mean())
        rows[kind] = {"mae": mae, "parameters": model.count_params(),
                      "seconds_per_epoch": trained["seconds_per_epoch"],
                      "epochs": trained["epochs"], "best_epoch": trained["best_epoch"]}
        curves[kind] = list(enumerate(np.asarray(trained["history"]["val_mae"]) * series.scale, 1))

    line = summary_line(rows)
    print(f"what the numbers show: {line}")
    metrics = {"persistence_mae": persistence_mae}
    for kind, row in rows.items():
        metrics.update({f"{kind}_mae": row["mae"], f"{kind}_vs_persistence":
                        row["mae"] / persistence_mae, f"{kind}_parameters": row["parameters"],
                        f"{kind}_seconds_per_epoch": row["seconds_per_epoch"]})
    columns = ["model", f"test MAE ({series.unit})", "vs persistence", "parameters",
               "s / epoch (median)", "epochs run", "best epoch"]
    table_rows = [[kind, round(row["mae"], 3), round(row["mae"] / persistence_mae, 3),
                   row["parameters"], round(row["seconds_per_epoch"], 3), row["epochs"],
                   row["best_epoch"]] for kind, row in rows.items()]
    protocol.result(
        metrics=metrics,
        tables=[protocol.table("Conv1D vs RNN: same windows, seq2vec heads", columns, table_rows),
                protocol.details(unit=series.unit, window_norm=args.window_norm, summary=line)],
        plots=[protocol.plot("Validation MAE per epoch", "epoch",
                             f"validation MAE ({series.unit})", curves)],
    )


if __name__ == "__main__":
    main()
