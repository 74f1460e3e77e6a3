"""Q6: the LSTM cell, written out in NumPy and checked against keras.layers.LSTM.

Builds a ``keras.layers.LSTM(units, return_sequences=True, return_state=True)``, gives it random
weights, runs it on a random batch ``[batch, time, features]``, then runs the LSTM equations in
NumPy (float64) with the same weights and compares the output sequence and both final states
(h and c). They agree to float32 round-off.

Weight layout in Keras 3 (``keras/src/layers/rnn/lstm.py``, ``LSTMCell.build`` and ``call``):
``kernel`` ``[features, 4 * units]``, ``recurrent_kernel`` ``[units, 4 * units]``, ``bias``
``[4 * units]``, each split in four blocks in the gate order i (input), f (forget),
c (candidate, called g below) and o (output); activation tanh, recurrent activation sigmoid.
Equations: Géron, Hands-On Machine Learning (3rd ed.), chapter 15, Equation 15-4, written here
for row vectors (a batch of x_t times the kernel, as Keras computes it).
"""

from __future__ import annotations

import numpy as np

import protocol

EQUATIONS = """\
LSTM cell, one time step (x_t: [batch, features]; h, c: [batch, units]; '*' is elementwise):
  i_t = sigmoid(x_t W_xi + h_(t-1) W_hi + b_i)     input gate
  f_t = sigmoid(x_t W_xf + h_(t-1) W_hf + b_f)     forget gate
  g_t = tanh   (x_t W_xg + h_(t-1) W_hg + b_g)     candidate (Keras calls its block "c")
  o_t = sigmoid(x_t W_xo + h_(t-1) W_ho + b_o)     output gate
  c_t = f_t * c_(t-1) + i_t * g_t                   long-term state
  h_t = y_t = o_t * tanh(c_t)                       short-term state = output
Keras 3 stores [W_xi W_xf W_xg W_xo] as kernel, [W_hi W_hf W_hg W_ho] as recurrent_kernel
and [b_i b_f b_g b_o] as bias, concatenated along the last axis in this order."""

DIAGRAM = """\
c_(t-1) --->(*)------------->(+)----------+---------------------> c_t
             ^                ^           |
             |               (*)         tanh
             |              ^   ^         |
             |              |   |         v
            f_t           i_t   g_t  o_t->(*)-------+-----------> h_t
             |              |   |     |             |
          sigmoid     sigmoid   tanh  sigmoid       +-----------> y_t
             |              |   |     |
             +--------------+---+-----+
                            |
                     x_t, h_(t-1)   (each gate: one dense layer over both)"""


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function ``1 / (1 + exp(-z))``, elementwise."""
    return 1.0 / (1.0 + np.exp(-z))


def lstm_forward(inputs: np.ndarray, kernel: np.ndarray, recurrent_kernel: np.ndarray,
                 bias: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run an LSTM over ``inputs`` ``[batch, time, features]`` from zero states.

    ``kernel`` is ``[features, 4 * units]``, ``recurrent_kernel`` ``[units, 4 * units]`` and
    ``bias`` ``[4 * units]``, gates in Keras's order i, f, g (candidate), o. Returns
    ``(outputs, h, c)``: ``outputs`` ``[batch, time, units]`` (h_t at every step), and the final
    states ``h`` and ``c`` ``[batch, units]``. Raises ``ValueError`` on inconsistent shapes.
    """
    if inputs.ndim != 3:
        raise ValueError(f"inputs must be [batch, time, features], got shape {inputs.shape}")
    units = recurrent_kernel.shape[0]
    if (kernel.shape != (inputs.shape[2], 4 * units)
            or recurrent_kernel.shape != (units, 4 * units) or bias.shape != (4 * units,)):
        raise ValueError(f"weights do not fit {inputs.shape[2]} features and {units} units: "
                         f"kernel {kernel.shape}, recurrent_kernel {recurrent_kernel.shape}, "
                         f"bias {bias.shape}")
    batch, time_steps, _ = inputs.shape
    h = np.zeros((batch, units))
    c = np.zeros((batch, units))
    outputs = np.empty((batch, time_steps, units))
    for t in range(time_steps):
        z = inputs[:, t] @ kernel + h @ recurrent_kernel + bias
        z_i, z_f, z_g, z_o = np.split(z, 4, axis=1)
        i, f, g, o = sigmoid(z_i), sigmoid(z_f), np.tanh(z_g), sigmoid(z_o)
        c = f * c + i * g
        h = o * np.tanh(c)
        outputs[:, t] = h
    return outputs, h, c


def main() -> None:
    parser = protocol.make_parser(__doc__, "q6_lstm_cell")
    parser.add_argument("--units", type=protocol.positive_int, default=8, help="LSTM units")
    parser.add_argument("--batch", type=protocol.positive_int, default=4,
                        help="sequences per batch")
    parser.add_argument("--time-steps", type=protocol.positive_int, default=12,
                        help="time steps per sequence")
    parser.add_argument("--features", type=protocol.positive_int, default=3,
                        help="features per time step")
    parser.add_argument("--tolerance", type=protocol.positive_float, default=1e-5,
                        help="largest absolute difference that counts as a match")
    args = parser.parse_args()

    protocol.quiet_tensorflow()
    import keras

    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    print(EQUATIONS, DIAGRAM, sep="\n\n", end="\n\n")

    inputs = rng.normal(size=(args.batch, args.time_steps, args.features)).astype("float32")
    layer = keras.layers.LSTM(args.units, return_sequences=True, return_state=True)
    layer.build(inputs.shape)
    # Random weights everywhere (the default bias is 0 except f's 1s), so a wrong gate order
    # or layout cannot go unnoticed.
    layer.set_weights([rng.normal(scale=0.5, size=w.shape).astype("float32")
                       for w in layer.get_weights()])
    kernel, recurrent_kernel, bias = layer.get_weights()
    print(f"kernel {kernel.shape}, recurrent_kernel {recurrent_kernel.shape}, bias {bias.shape}")
    keras_outputs, keras_h, keras_c = (np.asarray(t) for t in layer(inputs))
    protocol.progress(1, 2, {})

    outputs, h, c = lstm_forward(inputs.astype("float64"), kernel.astype("float64"),
                                 recurrent_kernel.astype("float64"), bias.astype("float64"))
    protocol.progress(2, 2, {})
    diffs = {"outputs": float(np.max(np.abs(outputs - keras_outputs))),
             "h": float(np.max(np.abs(h - keras_h))),
             "c": float(np.max(np.abs(c - keras_c)))}
    too_far = [name for name, diff in diffs.items() if diff >= args.tolerance]
    for name, diff in diffs.items():
        print(f"max |NumPy - Keras| for {name}: {diff:.2e}")
    verdict = (f"no: {', '.join(too_far)} differ by {args.tolerance:g} or more" if too_far
               else f"yes: every difference is below {args.tolerance:g}")
    print(f"NumPy LSTM matches keras.layers.LSTM? {verdict}")

    steps = range(1, args.time_steps + 1)
    protocol.result(
        # 1 = yes, 0 = no: metrics are numbers; the details table says it in words.
        metrics={**{f"max_abs_diff_{name}": diff for name, diff in diffs.items()},
                 "tolerance": args.tolerance, "numpy_matches_keras": int(not too_far)},
        tables=[protocol.table(
            f"NumPy LSTM vs keras.layers.LSTM({args.units}) on inputs {inputs.shape}",
            ["tensor", "shape", "max abs difference", f"< {args.tolerance:g}"],
            [[name, str(array.shape), diffs[name], "no" if name in too_far else "yes"]
             for name, array in (("outputs", outputs), ("h", h), ("c", c))]),
            protocol.details(numpy_matches_keras=verdict)],
        plots=[protocol.plot("Unit 0 of sequence 0 over time", "time step", "h_t",
                             {"Keras": list(zip(steps, keras_outputs[0, :, 0], strict=True)),
                              "NumPy": list(zip(steps, outputs[0, :, 0], strict=True))})],
    )


if __name__ == "__main__":
    main()
