"""Q1: sequence-to-sequence, sequence-to-vector and vector-to-sequence RNNs.

Trains one tiny recurrent model of each kind on synthetic data and shows the shapes that
make each kind what it is, then checks that each beats a trivial baseline on a test set:

- seq2seq: input ``[batch, time, 1]`` -> output ``[batch, time, 1]``: the running mean of the
  sequence at every step (an RNN with ``return_sequences=True``, then a ``Dense`` applied to
  every step). Baseline: the per-step mean of the training targets. Metric: MAE.
- seq2vec: input ``[batch, time, 1]`` -> output ``[batch, 1]``: whether the sequence sums to
  more than zero (an RNN that returns only its last output, then a sigmoid ``Dense``).
  Baseline: always predict the training set's majority class. Metric: accuracy.
- vec2seq: input ``[batch, 2]`` (amplitude, angular frequency) -> output ``[batch, time, 1]``:
  the sine wave ``amplitude * sin(frequency * t)`` (``RepeatVector`` feeds the vector to the RNN
  at every step, ``return_sequences=True``). Baseline: the per-step mean of the training
  targets. Metric: MAE.

The kinds are those of Géron, Hands-On Machine Learning (3rd ed.), chapter 15, "Input and
Output Sequences" (Figure 15-4).
"""

from __future__ import annotations

import numpy as np

import protocol

SEQ2SEQ, SEQ2VEC, VEC2SEQ = "seq2seq", "seq2vec", "vec2seq"


def make_data(kind: str, n_sequences: int, time_steps: int,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(inputs, targets)`` for one kind of model, as float32 arrays.

    seq2seq: inputs ``[n, time, 1]`` uniform in [-1, 1), targets ``[n, time, 1]`` their running
    mean. seq2vec: the same inputs, targets ``[n, 1]`` equal to 1.0 when the sequence sums to more
    than 0, else 0.0. vec2seq: inputs ``[n, 2]`` (amplitude in [0.5, 1), angular frequency in
    [0.2, 0.6) radians per step), targets ``[n, time, 1]`` = ``amplitude * sin(frequency * t)``
    for t = 1..time. Raises ``ValueError`` for an unknown kind.
    """
    steps = np.arange(1, time_steps + 1)
    if kind in (SEQ2SEQ, SEQ2VEC):
        inputs = rng.uniform(-1.0, 1.0, size=(n_sequences, time_steps, 1))
        if kind == SEQ2SEQ:
            targets = np.cumsum(inputs, axis=1) / steps[None, :, None]
        else:
            targets = (inputs.sum(axis=1) > 0).astype(float)
    elif kind == VEC2SEQ:
        amplitude = rng.uniform(0.5, 1.0, size=(n_sequences, 1))
        frequency = rng.uniform(0.2, 0.6, size=(n_sequences, 1))
        inputs = np.concatenate([amplitude, frequency], axis=1)
        targets = (amplitude * np.sin(frequency * steps[None, :]))[..., None]
    else:
        raise ValueError(f"unknown kind {kind!r}; expected one of "
                         f"{SEQ2SEQ!r}, {SEQ2VEC!r}, {VEC2SEQ!r}")
    return inputs.astype("float32"), targets.astype("float32")


def make_model(kind: str, time_steps: int, units: int, learning_rate: float):
    """Build and compile the small Keras model for ``kind`` (see the module docstring).

    seq2seq and vec2seq are trained on MSE and report MAE; seq2vec on binary cross-entropy,
    reporting accuracy. Raises ``ValueError`` for an unknown kind.
    """
    import keras
    from keras import layers

    if kind == SEQ2SEQ:
        stack = [keras.Input(shape=(time_steps, 1)),
                 layers.SimpleRNN(units, return_sequences=True),
                 layers.Dense(1)]  # applied to every time step of the 3-D input
    elif kind == SEQ2VEC:
        stack = [keras.Input(shape=(time_steps, 1)),
                 layers.SimpleRNN(units),  # last output only: [batch, units]
                 layers.Dense(1, activation="sigmoid")]
    elif kind == VEC2SEQ:
        stack = [keras.Input(shape=(2,)),
                 layers.RepeatVector(time_steps),  # [batch, 2] -> [batch, time, 2]
                 layers.GRU(units, return_sequences=True),
                 layers.Dense(1)]
    else:
        raise ValueError(f"unknown kind {kind!r}; expected one of "
                         f"{SEQ2SEQ!r}, {SEQ2VEC!r}, {VEC2SEQ!r}")
    model = keras.Sequential(stack, name=kind)
    if kind == SEQ2VEC:
        model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                      loss="binary_crossentropy", metrics=["accuracy"])
    else:
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse", metrics=["mae"])
    return model


def baseline_score(kind: str, train_targets: np.ndarray, test_targets: np.ndarray) -> float:
    """The trivial baseline's test score: MAE of the per-step training mean, or, for seq2vec,
    the accuracy of always predicting the training set's majority class."""
    if kind == SEQ2VEC:
        majority = float(train_targets.mean() >= 0.5)
        return float(np.mean(test_targets == majority))
    return float(np.mean(np.abs(test_targets - train_targets.mean(axis=0))))


def main() -> None:
    parser = protocol.make_parser(__doc__, "q1_architectures")
    parser.add_argument("--train-size", type=protocol.positive_int, default=2000,
                        help="training sequences per model")
    parser.add_argument("--test-size", type=protocol.positive_int, default=500,
                        help="test sequences per model")
    parser.add_argument("--time-steps", type=protocol.positive_int, default=20,
                        help="sequence length")
    parser.add_argument("--units", type=protocol.positive_int, default=32,
                        help="recurrent units per model")
    parser.add_argument("--epochs", type=protocol.positive_int, default=30,
                        help="training epochs per model")
    parser.add_argument("--learning-rate", type=protocol.positive_float, default=0.01,
                        help="Adam's learning rate")
    args = parser.parse_args()
    if args.smoke:
        args.train_size, args.test_size, args.epochs = 600, 200, 6

    protocol.quiet_tensorflow()
    import keras

    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    metrics, rows, sine_series = {}, [], {}
    for kind in (SEQ2SEQ, SEQ2VEC, VEC2SEQ):
        x_train, y_train = make_data(kind, args.train_size, args.time_steps, rng)
        x_test, y_test = make_data(kind, args.test_size, args.time_steps, rng)
        model = make_model(kind, args.time_steps, args.units, args.learning_rate)
        print(f"\n== {kind}: input {model.input_shape} -> output {model.output_shape}")
        model.fit(x_train, y_train, epochs=args.epochs, batch_size=32, validation_split=0.2,
                  verbose=2, callbacks=[protocol.progress_callback(args.epochs, f"{kind}_")])
        _, score = model.evaluate(x_test, y_test, verbose=0)
        baseline = baseline_score(kind, y_train, y_test)
        metric = "accuracy" if kind == SEQ2VEC else "mae"
        beats = score > baseline if kind == SEQ2VEC else score < baseline
        metrics.update({f"{kind}_{metric}": score, f"{kind}_baseline_{metric}": baseline,
                        f"{kind}_beats_baseline": int(beats)})
        rows.append([kind, str(model.input_shape), str(model.output_shape), metric,
                     round(score, 4), round(baseline, 4), "yes" if beats else "no"])
        print(f"{kind}: test {metric} {score:.4f}, baseline {baseline:.4f}")
        if kind == VEC2SEQ:
            predicted = model.predict(x_test[:1], verbose=0)[0, :, 0]
            steps = range(1, args.time_steps + 1)
            sine_series = {"target": list(zip(steps, y_test[0, :, 0], strict=True)),
                           "vec2seq prediction": list(zip(steps, predicted, strict=True))}

    protocol.result(
        metrics=metrics,
        tables=[protocol.table(
            "One model of each kind (shapes as Keras reports them; None is the batch axis)",
            ["kind", "input shape", "output shape", "metric", "model (test)", "baseline (test)",
             "beats baseline"], rows)],
        plots=[protocol.plot("vec2seq: one test sine wave generated from its 2 parameters",
                             "time step", "value", sine_series)],
    )


if __name__ == "__main__":
    main()
