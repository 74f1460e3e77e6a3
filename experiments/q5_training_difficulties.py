"""Q5: why RNNs are hard to train - unstable gradients and a short memory.

Both parts use the adding problem (Hochreiter & Schmidhuber 1997; Le, Jaitly & Hinton 2015,
arXiv:1504.00941): each sequence ``[time, 2]`` has random values in channel 0 and a 2-hot marker
in channel 1 (one mark in each half); the target is the sum of the two marked values. Predicting
the mean (1.0) scores an MSE equal to the target variance, 2 x 1/12 = 1/6: the baseline.

1. Unstable gradients. Five SimpleRNNs (the same data, seed and recurrent weights, an orthogonal
   recurrent kernel with gain ``--recurrent-gain``, plain SGD with a large learning rate) are
   trained in a ``tf.GradientTape`` loop that records the loss and the gradient global norm at
   every step: ReLU and tanh, each with and without gradient clipping (``clipnorm``), and tanh
   with layer normalisation inside the cell (Geron's ``LNSimpleRNNCell``, Ba et al. 2016,
   arXiv:1607.06450). A run *exploded* when its gradient global norm went above
   :data:`EXPLODING_NORM` or became non-finite; it *diverged* when its loss became non-finite or
   ended above :data:`DIVERGED_LOSS_FACTOR` times the baseline.
2. Limited short-term memory. SimpleRNN, LSTM and GRU are trained with Adam on the adding problem
   as the sequences grow (``--lengths``); a length counts as solved when the validation R^2
   (1 - MSE / baseline) reaches :data:`SOLVED_R2`. The table gives the longest length solved.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import protocol

TARGET_VARIANCE = 2 / 12  # Var(U1 + U2) for two independent U(0, 1): the mean predictor's MSE
EXPLODING_NORM = 1e3  # a gradient global norm above this, or non-finite, counts as exploding
DIVERGED_LOSS_FACTOR = 10.0  # final loss above this times TARGET_VARIANCE counts as diverged
SOLVED_R2 = 0.75  # validation R^2 a cell must reach for a length to count as solved
MEMORY_CELLS = ("SimpleRNN", "LSTM", "GRU")
SMOKE = {"steps": 40, "lengths": "10", "epochs": 2, "train_size": 1000}


@dataclass(frozen=True)
class GradientRun:
    """One SimpleRNN setting of the unstable-gradients part."""

    name: str
    activation: str
    clipped: bool
    layer_norm: bool


GRADIENT_RUNS = (
    GradientRun("relu_unclipped", "relu", clipped=False, layer_norm=False),
    GradientRun("relu_clipped", "relu", clipped=True, layer_norm=False),
    GradientRun("tanh_unclipped", "tanh", clipped=False, layer_norm=False),
    GradientRun("tanh_clipped", "tanh", clipped=True, layer_norm=False),
    GradientRun("tanh_layer_norm", "tanh", clipped=False, layer_norm=True),
)


def adding_problem(n_sequences: int, length: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sample the adding problem: inputs ``[n, length, 2]`` and targets ``[n, 1]`` (float32).

    Channel 0 holds U(0, 1) values, channel 1 is 1 at one step of the first half and one step
    of the second half, 0 elsewhere; the target is the sum of the two marked values. Raises
    ``ValueError`` when ``length < 2`` or ``n_sequences < 1``.
    """
    if length < 2:
        raise ValueError(f"length must be at least 2 (one mark per half), got {length}")
    if n_sequences < 1:
        raise ValueError(f"n_sequences must be positive, got {n_sequences}")
    values = rng.uniform(size=(n_sequences, length))
    markers = np.zeros((n_sequences, length))
    rows = np.arange(n_sequences)
    markers[rows, rng.integers(0, length // 2, n_sequences)] = 1.0
    markers[rows, rng.integers(length // 2, length, n_sequences)] = 1.0
    inputs = np.stack([values, markers], axis=-1).astype("float32")
    targets = (values * markers).sum(axis=1, keepdims=True).astype("float32")
    return inputs, targets


def layer_norm_rnn(units: int, activation: str, recurrent_initializer):
    """``keras.layers.RNN`` over ``LNSimpleRNNCell``: ``[batch, time, f]`` -> ``[batch, units]``.

    The cell is a ``SimpleRNNCell`` without activation, then ``LayerNormalization``, then the
    activation (Geron, ch. 15, "Fighting the Unstable Gradients Problem"). The class is defined
    here so that ``--help`` does not import Keras.
    """
    import keras

    class LNSimpleRNNCell(keras.layers.Layer):
        def __init__(self, units, activation="tanh", **kwargs):
            super().__init__(**kwargs)
            self.state_size = units
            self.output_size = units
            self.simple_rnn_cell = keras.layers.SimpleRNNCell(
                units, activation=None, recurrent_initializer=recurrent_initializer)
            self.layer_norm = keras.layers.LayerNormalization()
            self.activation = keras.activations.get(activation)

        def build(self, input_shape):  # input_shape: [batch, features] of one time step
            self.simple_rnn_cell.build(input_shape)
            self.layer_norm.build((input_shape[0], self.output_size))

        def call(self, inputs, states):
            outputs, _ = self.simple_rnn_cell(inputs, states)
            norm_outputs = self.activation(self.layer_norm(outputs))
            return norm_outputs, [norm_outputs]

    return keras.layers.RNN(LNSimpleRNNCell(units, activation))


def train_recording_gradients(model, optimizer, inputs: np.ndarray, targets: np.ndarray,
                              batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """One pass of MSE training, one step per batch; returns ``(losses, norms)``, each ``[steps]``.

    ``norms`` are the gradient global norms before any clipping (the optimizer clips, if asked).
    Non-finite values are kept, so the caller can see when a run blew up.
    """
    import tensorflow as tf

    @tf.function
    def train_step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return loss, tf.linalg.global_norm(gradients)

    losses, norms = [], []
    for start in range(0, len(inputs), batch_size):
        loss, norm = train_step(inputs[start:start + batch_size], targets[start:start + batch_size])
        losses.append(float(loss))
        norms.append(float(norm))
    return np.array(losses), np.array(norms)


def gradient_verdict(losses: np.ndarray, norms: np.ndarray) -> dict:
    """Summarise one run: final loss (mean of the last tenth of steps), max norm, and flags."""
    tail = losses[-max(1, len(losses) // 10):]
    nonfinite_steps = np.flatnonzero(~np.isfinite(losses))
    final_loss = float(tail.mean())
    finite_norms = norms[np.isfinite(norms)]
    return {
        "final_loss": final_loss,
        "max_norm": float(finite_norms.max()) if len(finite_norms) else float("nan"),
        "first_nonfinite_step": int(nonfinite_steps[0]) + 1 if len(nonfinite_steps) else None,
        "exploded": bool(not np.all(np.isfinite(norms)) or np.any(norms > EXPLODING_NORM)),
        "diverged": bool(len(nonfinite_steps)
                         or final_loss > DIVERGED_LOSS_FACTOR * TARGET_VARIANCE),
    }


def run_gradient_part(args, rng: np.random.Generator) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Train every :data:`GRADIENT_RUNS` setting; returns ``{name: (losses, norms)}``."""
    import keras

    inputs, targets = adding_problem(args.steps * args.batch_size, args.length, rng)
    traces = {}
    for index, run in enumerate(GRADIENT_RUNS, 1):
        keras.utils.set_random_seed(args.seed)  # the same initial weights for every run
        recurrent_initializer = keras.initializers.Orthogonal(gain=args.recurrent_gain)
        if run.layer_norm:
            recurrent = layer_norm_rnn(args.units, run.activation, recurrent_initializer)
        else:
            recurrent = keras.layers.SimpleRNN(args.units, activation=run.activation,
                                               recurrent_initializer=recurrent_initializer)
        model = keras.Sequential([keras.Input((args.length, 2)), recurrent, keras.layers.Dense(1)])
        optimizer = keras.optimizers.SGD(args.learning_rate,
                                         clipnorm=args.clipnorm if run.clipped else None)
        losses, norms = train_recording_gradients(model, optimizer, inputs, targets,
                                                  args.batch_size)
        traces[run.name] = losses, norms
        verdict = gradient_verdict(losses, norms)
        print(f"{run.name}: {verdict}")
        protocol.progress(index, len(GRADIENT_RUNS),
                          {f"{run.name}_final_loss": verdict["final_loss"]})
    return traces


def make_memory_model(cell: str, length: int, units: int):
    """A compiled ``cell`` (one of :data:`MEMORY_CELLS`) then ``Dense(1)``.

    Input ``[batch, length, 2]``, output ``[batch, 1]``; MSE loss, Adam (learning rate 3e-3).
    Raises ``ValueError`` for an unknown cell.
    """
    import keras

    if cell not in MEMORY_CELLS:
        raise ValueError(f"unknown cell {cell!r}; expected one of {MEMORY_CELLS}")
    layer = getattr(keras.layers, cell)(units)
    model = keras.Sequential([keras.Input((length, 2)), layer, keras.layers.Dense(1)], name=cell)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), loss="mse")
    return model


def run_memory_part(args, rng: np.random.Generator) -> dict[tuple[str, int], dict]:
    """Train every cell at every length; returns ``{(cell, length): {r2, mse, ...}}``."""
    import keras

    rows = {}
    for length in args.lengths:
        train = adding_problem(args.train_size, length, rng)
        valid = adding_problem(max(200, args.train_size // 4), length, rng)
        for cell in MEMORY_CELLS:
            keras.utils.set_random_seed(args.seed)
            model = make_memory_model(cell, length, args.units)
            print(f"training {cell} on length {length}: {model.count_params()} parameters")
            timer = protocol.epoch_timer()
            history = model.fit(*train, validation_data=valid, epochs=args.epochs, batch_size=64,
                                verbose=2, callbacks=[timer, protocol.progress_callback(
                                    args.epochs, prefix=f"{cell}_T{length}_")])
            mse = float(history.history["val_loss"][-1])
            rows[cell, length] = {"mse": mse, "r2": 1 - mse / TARGET_VARIANCE,
                                  "parameters": model.count_params(),
                                  "seconds_per_epoch": timer.seconds_per_epoch}
    return rows


def longest_solved(rows: dict[tuple[str, int], dict], cell: str) -> int:
    """The longest length at which ``cell`` reached :data:`SOLVED_R2` (0 when none)."""
    return max((length for (name, length), row in rows.items()
                if name == cell and row["r2"] >= SOLVED_R2), default=0)


def parse_lengths(text: str) -> list[int]:
    """``"5,10,20"`` -> ``[5, 10, 20]``; ``ValueError`` unless every length is an integer >= 2."""
    try:
        lengths = [int(part) for part in text.split(",")]
    except ValueError:
        raise ValueError(f"--lengths must be comma-separated integers, got {text!r}") from None
    if not lengths or min(lengths) < 2:
        raise ValueError(f"every length must be at least 2, got {text!r}")
    return sorted(set(lengths))


def parse_args():
    parser = protocol.make_parser(__doc__, "q5_training_difficulties", seed=0)
    parser.add_argument("--length", type=int, default=50,
                        help="sequence length T of the unstable-gradients part")
    parser.add_argument("--steps", type=protocol.positive_int, default=200,
                        help=f"SGD steps per gradient run (smoke: {SMOKE['steps']})")
    parser.add_argument("--batch-size", type=protocol.positive_int, default=32,
                        help="sequences per SGD step")
    parser.add_argument("--learning-rate", type=protocol.positive_float, default=0.05,
                        help="SGD learning rate of the gradient runs (large on purpose)")
    parser.add_argument("--recurrent-gain", type=protocol.positive_float, default=1.5,
                        help="gain of the orthogonal recurrent initializer (>1 makes ReLU explode)")
    parser.add_argument("--clipnorm", type=protocol.positive_float, default=1.0,
                        help="gradient norm clipping of the clipped runs")
    parser.add_argument("--units", type=protocol.positive_int, default=32,
                        help="recurrent units of every model")
    parser.add_argument("--lengths", default="5,10,20,40",
                        help="comma-separated lengths of the memory part "
                             f"(smoke: {SMOKE['lengths']})")
    parser.add_argument("--epochs", type=protocol.positive_int, default=10,
                        help=f"epochs per memory model (smoke: {SMOKE['epochs']})")
    parser.add_argument("--train-size", type=protocol.positive_int, default=4000,
                        help=f"training sequences per memory length (smoke: {SMOKE['train_size']})")
    args = parser.parse_args()
    if args.smoke:
        for name, value in SMOKE.items():
            setattr(args, name, value)
    try:
        args.lengths = parse_lengths(args.lengths)
        if args.length < 2:
            raise ValueError(f"--length must be at least 2, not {args.length}")
    except ValueError as error:
        parser.error(str(error))
    return args


def main() -> None:
    args = parse_args()
    protocol.quiet_tensorflow()
    import keras

    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    args.output_dir.mkdir(parents=True, exist_ok=True)

    print(f"part 1: unstable gradients, adding problem T={args.length}, SGD "
          f"lr={args.learning_rate}, recurrent gain {args.recurrent_gain}, {args.steps} steps")
    traces = run_gradient_part(args, rng)
    verdicts = {name: gradient_verdict(*trace) for name, trace in traces.items()}
    steps_csv = args.output_dir / "gradient_steps.csv"
    columns = [series for losses_and_norms in traces.values() for series in losses_and_norms]
    np.savetxt(steps_csv, np.column_stack(columns), delimiter=",", comments="", header=",".join(
                   f"{name}_{column}" for name in traces for column in ("loss", "gradient_norm")))
    print(f"part 2: short-term memory, lengths {args.lengths}")
    memory = run_memory_part(args, rng)

    metrics = {"variance_baseline_mse": TARGET_VARIANCE, "exploding_norm": EXPLODING_NORM,
               "solved_r2": SOLVED_R2}
    for name, verdict in verdicts.items():
        metrics[f"{name}_diverged"] = int(verdict["diverged"])
        metrics[f"{name}_exploded"] = int(verdict["exploded"])
    for cell in MEMORY_CELLS:
        metrics[f"{cell.lower()}_longest_solved"] = longest_solved(memory, cell)
    gradient_table = protocol.table(
        f"Unstable gradients: adding problem T={args.length}, {args.steps} SGD steps "
        f"(exploded: norm > {EXPLODING_NORM:g} or non-finite; diverged: non-finite loss or final "
        f"loss > {DIVERGED_LOSS_FACTOR:g} x baseline {TARGET_VARIANCE:.3f})",
        ["run", "final loss", "max gradient norm", "first non-finite step", "exploded",
         "diverged"],
        [[name, float(f"{v['final_loss']:.4g}"), float(f"{v['max_norm']:.3g}"),
          v["first_nonfinite_step"] or "-",
          "yes" if v["exploded"] else "no", "yes" if v["diverged"] else "no"]
         for name, v in verdicts.items()])
    memory_table = protocol.table(
        f"Short-term memory: validation R^2 = 1 - MSE / {TARGET_VARIANCE:.3f} (solved: >= "
        f"{SOLVED_R2}), {args.epochs} epochs of Adam",
        ["cell", "length", "validation MSE", "R^2", "solved", "parameters", "s / epoch"],
        [[cell, length, round(row["mse"], 4), round(row["r2"], 3),
          "yes" if row["r2"] >= SOLVED_R2 else "no", row["parameters"],
          round(row["seconds_per_epoch"], 2)] for (cell, length), row in memory.items()])
    longest_table = protocol.table(
        "Longest length solved", ["cell", "longest T solved (0: none)"],
        [[cell, metrics[f"{cell.lower()}_longest_solved"]] for cell in MEMORY_CELLS])
    protocol.result(
        metrics=metrics,
        tables=[gradient_table, memory_table, longest_table],
        plots=[protocol.plot("Gradient global norm per step (non-finite steps left out)",
                             "SGD step", "log10 gradient global norm",
                             {name: [(step, np.log10(norm)) for step, norm in enumerate(norms, 1)
                                     if np.isfinite(norm) and norm > 0]
                              for name, (_, norms) in traces.items()}),
               protocol.plot("Validation R^2 against sequence length", "length T", "R^2",
                             {cell: [(length, row["r2"]) for (name, length), row in memory.items()
                                     if name == cell] for cell in MEMORY_CELLS})],
        artifacts=[steps_csv],
    )


if __name__ == "__main__":
    main()
