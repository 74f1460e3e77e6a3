"""Q2: the input and output shapes of SimpleRNN, LSTM and GRU layers in Keras 3.

Calls each recurrent layer (``units=U``) on a real batch shaped ``[batch, time, features]``
with every combination of ``return_sequences`` and ``return_state`` and records what comes
back:

- ``return_sequences=True``: the output at every step, ``[batch, time, units]`` (3-D);
  ``False`` (the default): the last step's output only, ``[batch, units]`` (2-D).
- ``return_state=True``: a list ``[output, *final_states]``, one state ``[batch, units]`` for
  SimpleRNN and GRU (h) and two for LSTM (h and c). The final h equals the last step's output.

Then feeds a 2-D input ``[batch, features]`` (no time axis) to each layer and reports what
Keras actually does, and that adding a time axis of length 1 (``[batch, 1, features]``) works.
"""

from __future__ import annotations

import numpy as np

import protocol

LAYER_NAMES = ("SimpleRNN", "LSTM", "GRU")


def shape_text(tensor) -> str:
    """A tensor's shape as text, e.g. ``"(4, 16)"``."""
    return str(tuple(int(d) for d in tensor.shape))


def call_layer(layer_name: str, inputs: np.ndarray, units: int, return_sequences: bool,
               return_state: bool) -> tuple[object, list]:
    """Call a fresh ``keras.layers.<layer_name>`` on ``inputs`` and return ``(output, states)``.

    ``inputs`` is ``[batch, time, features]``; ``states`` is empty unless ``return_state``.
    """
    import keras

    layer = getattr(keras.layers, layer_name)(
        units, return_sequences=return_sequences, return_state=return_state)
    outputs = layer(inputs)
    if return_state:
        return outputs[0], list(outputs[1:])
    return outputs, []


def first_line(error: Exception) -> str:
    """The first line of an exception's message."""
    return str(error).strip().splitlines()[0]


def main() -> None:
    parser = protocol.make_parser(__doc__, "q2_shapes")
    parser.add_argument("--units", type=protocol.positive_int, default=16,
                        help="units U of every recurrent layer")
    parser.add_argument("--batch", type=protocol.positive_int, default=4,
                        help="sequences per batch")
    parser.add_argument("--time-steps", type=protocol.positive_int, default=10,
                        help="time steps per sequence")
    parser.add_argument("--features", type=protocol.positive_int, default=3,
                        help="features per time step")
    args = parser.parse_args()

    protocol.quiet_tensorflow()
    import keras

    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    sequences = rng.normal(size=(args.batch, args.time_steps, args.features)).astype("float32")
    vectors = sequences[:, 0, :]  # [batch, features]: no time axis
    print(f"input [batch, time, features] = {sequences.shape}; units = {args.units}")

    shape_rows, input_rows = [], []
    ndims = {True: set(), False: set()}
    state_counts, h_gaps, two_d_raises = {}, [], []
    for step, layer_name in enumerate(LAYER_NAMES, start=1):
        for return_sequences in (False, True):
            for return_state in (False, True):
                output, states = call_layer(layer_name, sequences, args.units,
                                            return_sequences, return_state)
                ndims[return_sequences].add(len(output.shape))
                state_text = ", ".join(shape_text(s) for s in states) or "-"
                shape_rows.append([layer_name, return_sequences, return_state,
                                   shape_text(output), len(states), state_text])
                print(f"{layer_name}(return_sequences={return_sequences}, "
                      f"return_state={return_state}): output {shape_text(output)}, "
                      f"states [{state_text}]")
                if return_state:
                    state_counts[layer_name] = len(states)
                    last_output = output[:, -1, :] if return_sequences else output
                    h_gaps.append(float(np.max(np.abs(np.asarray(last_output)
                                                      - np.asarray(states[0])))))

        layer = getattr(keras.layers, layer_name)(args.units, name=layer_name.lower())
        try:
            outcome = f"works: output {shape_text(layer(vectors))}"
            two_d_raises.append(False)
        except Exception as error:  # report whatever Keras raises, whatever its type
            outcome = f"{type(error).__name__}: {first_line(error)}"
            two_d_raises.append(True)
        input_rows.append([layer_name, shape_text(vectors), outcome])
        with_time_axis = vectors[:, np.newaxis, :]  # [batch, 1, features]
        input_rows.append([layer_name, shape_text(with_time_axis),
                           f"works: output {shape_text(layer(with_time_axis))}"])
        print(f"{layer_name} on 2-D input {shape_text(vectors)}: {outcome}")
        protocol.progress(step, len(LAYER_NAMES))

    # One rank per setting for all three layers (unpacking fails loudly if they disagree).
    (ndim_with,), (ndim_without,) = ndims[True], ndims[False]
    protocol.result(
        metrics={
            "units": args.units,
            "ndim_with_return_sequences": ndim_with,
            "ndim_without": ndim_without,
            **{f"{name.lower()}_state_count": count for name, count in state_counts.items()},
            "max_abs_diff_last_output_vs_h": max(h_gaps),
            "two_d_input_raises": int(all(two_d_raises)),
        },
        tables=[
            protocol.table(f"Outputs for input {shape_text(sequences)} = [batch, time, "
                           f"features] and units={args.units}",
                           ["layer", "return_sequences", "return_state", "output shape",
                            "states", "state shapes"], shape_rows),
            protocol.table("A 2-D input [batch, features], then the same with a time axis",
                           ["layer", "input shape", "outcome"], input_rows),
        ],
    )


if __name__ == "__main__":
    main()
