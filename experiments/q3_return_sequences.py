"""Q3: where a deep RNN needs ``return_sequences=True``.

A recurrent layer consumes a 3-D input ``[batch, time, features]``, so every recurrent layer
that feeds another one must return its whole output sequence (``return_sequences=True``);
otherwise it passes on only its last output, ``[batch, units]``. The top layer returns
sequences for a sequence-to-sequence model and does not for a sequence-to-vector model.

The task is an echo: the input is noise uniform in [-1, 1), shaped ``[batch, time, 1]``, and the
target is the input from ``--delay`` steps earlier: at every step for seq2seq (``[batch, time,
1]``, zero before the first echo), at the last step only for seq2vec (``[batch, 1]``). Four
two-layer SimpleRNN stacks:

1. deep seq2seq, flags (True, True) + a Dense applied to every step: trains.
2. deep seq2vec, flags (True, False) + Dense: trains.
3. deep seq2vec with the lower layer's flag missing, (False, False): Keras refuses to build it
   (the real exception is caught and shown); stack 2 is its fix.
4. the seq2vec stack (True, False) given the per-step targets of stack 1: its output is 2-D,
   ``[batch, 1]``, one value per sequence instead of one per step. What Keras then does is
   measured, not assumed.

Losses are MSE on a test set, before and after training, beside the MSE of always predicting
the training targets' mean. Géron, Hands-On Machine Learning
(3rd ed.), chapter 15, "Deep RNNs".
"""

from __future__ import annotations

import numpy as np

import protocol


def make_echo_data(n_sequences: int, time_steps: int, delay: int, rng: np.random.Generator
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return ``(inputs, per_step_targets, last_step_targets)`` as float32 arrays.

    ``inputs`` is ``[n, time, 1]`` uniform in [-1, 1); ``per_step_targets[:, t] =
    inputs[:, t - delay]`` (0 for ``t < delay``), ``[n, time, 1]``; ``last_step_targets`` is its
    last step, ``[n, 1]``. Raises ``ValueError`` unless ``0 <= delay < time_steps``.
    """
    if not 0 <= delay < time_steps:
        raise ValueError(f"delay must be in [0, time_steps={time_steps}), got {delay}")
    inputs = rng.uniform(-1.0, 1.0, size=(n_sequences, time_steps, 1)).astype("float32")
    per_step = np.zeros_like(inputs)
    per_step[:, delay:] = inputs[:, :time_steps - delay]
    return inputs, per_step, per_step[:, -1]


def make_stack(flags: tuple[bool, ...], time_steps: int, units: int):
    """A compiled ``Sequential``: one SimpleRNN per flag (its ``return_sequences``), then Dense(1).

    Keras builds the model as it is created, so a stack whose recurrent layer receives a 2-D
    input raises here (a ``ValueError`` in Keras 3.15).
    """
    import keras
    from keras import layers

    model = keras.Sequential(
        [keras.Input(shape=(time_steps, 1))]
        + [layers.SimpleRNN(units, return_sequences=flag, name=f"rnn_{i}")
           for i, flag in enumerate(flags, start=1)]
        + [layers.Dense(1, name="dense")])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return model


def main() -> None:
    parser = protocol.make_parser(__doc__, "q3_return_sequences")
    parser.add_argument("--train-size", type=protocol.positive_int, default=2000,
                        help="training sequences")
    parser.add_argument("--test-size", type=protocol.positive_int, default=500,
                        help="test sequences")
    parser.add_argument("--time-steps", type=protocol.positive_int, default=20,
                        help="sequence length")
    parser.add_argument("--delay", type=int, default=2, help="steps between an input and its echo")
    parser.add_argument("--units", type=protocol.positive_int, default=16,
                        help="units per recurrent layer")
    parser.add_argument("--epochs", type=protocol.positive_int, default=15,
                        help="training epochs per stack")
    args = parser.parse_args()
    if not 0 <= args.delay < args.time_steps:
        parser.error(f"--delay must be between 0 and --time-steps - 1 ({args.time_steps - 1}), "
                     f"not {args.delay}")
    if args.smoke:
        args.train_size, args.test_size, args.epochs = 600, 200, 4

    protocol.quiet_tensorflow()
    import keras

    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    x_train, seq_train, last_train = make_echo_data(args.train_size, args.time_steps,
                                                    args.delay, rng)
    x_test, seq_test, last_test = make_echo_data(args.test_size, args.time_steps, args.delay, rng)

    configs = [  # name, return_sequences flags, targets (train, test)
        ("deep_seq2seq", (True, True), (seq_train, seq_test)),
        ("deep_seq2vec", (True, False), (last_train, last_test)),
        ("broken_seq2vec", (False, False), (last_train, last_test)),
        ("missing_top_seq2seq", (True, False), (seq_train, seq_test)),
    ]
    metrics, rows, failed = {}, [], set()
    for name, flags, (y_train, y_test) in configs:
        print(f"\n== {name}: return_sequences per layer {flags}, "
              f"targets {tuple(y_train.shape[1:])} per sequence")
        try:
            model = make_stack(flags, args.time_steps, args.units)
        except Exception as error:  # report whatever Keras raises, whatever its type
            message = str(error).strip().splitlines()[0]
            print(f"building it raised {type(error).__name__}: {message}")
            print("fix: return_sequences=True on every recurrent layer below the top "
                  "(the deep_seq2vec stack)")
            failed.add(name)
            rows.append([name, str(flags), "-", f"error: {type(error).__name__}: {message}",
                         "-", "-", "-"])
            continue
        print(f"output shape {model.output_shape}")
        initial_loss = model.evaluate(x_test, y_test, verbose=0)
        model.fit(x_train, y_train, epochs=args.epochs, batch_size=32, validation_split=0.2,
                  verbose=2, callbacks=[protocol.progress_callback(args.epochs, f"{name}_")])
        loss = model.evaluate(x_test, y_test, verbose=0)
        baseline_loss = float(np.mean((y_test - y_train.mean()) ** 2))
        metrics.update({f"{name}_initial_loss": initial_loss, f"{name}_loss": loss,
                        f"{name}_baseline_loss": baseline_loss,
                        f"{name}_output_ndim": len(model.output_shape)})
        learned = loss < 0.5 * baseline_loss  # measured: at least halves the mean's error
        if model.output_shape[1:] != y_test.shape[1:]:
            outcome = (f"no error: output {model.output_shape} is broadcast against targets "
                       f"{(None, *y_test.shape[1:])}, one value for every step")
        else:
            outcome = "trains" if learned else "builds, but did not learn the echo"
        print(f"{outcome}; test MSE {initial_loss:.4f} -> {loss:.4f} "
              f"(predicting the training mean: {baseline_loss:.4f})")
        rows.append([name, str(flags), str(model.output_shape), outcome,
                     round(initial_loss, 4), round(loss, 4), round(baseline_loss, 4)])

    metrics["broken_stack_raises"] = int("broken_seq2vec" in failed)
    protocol.result(
        metrics=metrics,
        tables=[protocol.table(
            f"Two-layer SimpleRNN stacks on an echo (delay {args.delay}) of "
            f"{args.time_steps}-step sequences",
            ["stack", "return_sequences (lower, top)", "output shape", "outcome",
             "MSE before", "MSE after", "MSE of the training mean"], rows)],
    )


if __name__ == "__main__":
    main()
