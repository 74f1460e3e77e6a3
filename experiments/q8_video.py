"""Q8: classifying videos - a per-frame CNN feeding an RNN, a 3-D CNN, and a single frame.

A synthetic video dataset is made on the fly (seeded): each clip ``[frames, size, size, 1]``
shows a square moving one pixel per frame in one of four directions (the class: right, left,
down, up) among identical static squares and flickering pixel noise. The moving square's
position at the middle frame is uniform over the same box for every class and the distractors
look exactly like it, so the middle frame alone carries no information about the class: a model
that sees it cannot beat chance (1/4) except by luck. Only motion - change across frames -
tells the classes apart.

Three models are trained on the same clips and scored on the same test clips, with their number
of parameters and median seconds per training epoch measured in the same run:

- ``cnn_rnn``: Geron's answer, a CNN applied to every frame (``TimeDistributed`` Conv2D and
  pooling, then Flatten and Dense, so each frame becomes a vector that keeps *where* things
  are) feeding a sequence-to-vector GRU;
- ``conv3d``: 3-D convolutions over (time, height, width), then global max pooling;
- ``single_frame``: a 2-D CNN on the middle frame only - the baseline that shows time matters.
"""

from __future__ import annotations

import numpy as np

import protocol

DIRECTIONS = {"right": (0, 1), "left": (0, -1), "down": (1, 0), "up": (-1, 0)}  # (drow, dcol)
MODELS = ("cnn_rnn", "conv3d", "single_frame")
SMOKE = {"frames": 8, "size": 16, "train_size": 600, "epochs": 4}


def make_clips(n_clips: int, frames: int, size: int, distractors: int, noise: float,
               rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Sample clips ``[n_clips, frames, size, size, 1]`` (float32, [0, 1]), labels ``[n_clips]``.

    Label ``k`` is the ``k``-th key of :data:`DIRECTIONS`. The moving square (side ``size // 8``,
    at least 2 pixels) moves one pixel per frame; at the middle frame ``frames // 2`` its corner is
    uniform over a box that keeps the whole path inside the frame, the same box for every
    direction. ``distractors`` identical squares stay still at uniform positions; every pixel of
    every frame gets independent uniform noise in ``[0, noise]``. Raises ``ValueError`` when the
    path cannot fit (``size - side < 2 * (frames // 2)``) or a count is not positive.
    """
    side = max(2, size // 8)
    if n_clips < 1 or frames < 2:
        raise ValueError(f"need at least 1 clip of 2 frames, got {n_clips} clips of {frames}")
    middle = frames // 2
    if size - side < 2 * middle:  # room for `middle` pixels of travel either way of the middle
        raise ValueError(f"a {side}-pixel square moving {middle} pixels either way from the "
                         f"middle frame does not fit in {size}x{size} frames; use fewer frames "
                         "or larger frames")
    if distractors < 0 or not 0 <= noise < 1:
        raise ValueError(f"distractors must be >= 0 and noise in [0, 1), got {distractors} "
                         f"and {noise}")
    low, high = middle, size - side - middle  # corner range at the middle frame, any direction
    clips = rng.uniform(0, noise, size=(n_clips, frames, size, size, 1)).astype("float32")
    labels = rng.integers(0, len(DIRECTIONS), n_clips)
    steps = np.array(list(DIRECTIONS.values()))
    for clip, label in zip(clips, labels, strict=True):
        for row, col in rng.integers(0, size - side + 1, size=(distractors, 2)):
            clip[:, row:row + side, col:col + side] = 1.0
        corner = rng.integers(low, high + 1, size=2)
        for t in range(frames):
            row, col = corner + (t - middle) * steps[label]
            clip[t, row:row + side, col:col + side] = 1.0
    return clips, labels


def make_model(kind: str, frames: int, size: int):
    """One of :data:`MODELS`, compiled (Adam, sparse categorical cross-entropy, accuracy).

    ``cnn_rnn`` and ``conv3d`` take clips ``[batch, frames, size, size, 1]``, ``single_frame``
    takes one frame ``[batch, size, size, 1]``; all output class probabilities ``[batch, 4]``.
    Raises ``ValueError`` for an unknown kind.
    """
    import keras
    from keras import layers

    def frame_cnn():  # [size, size, 1] -> [features], keeping where things are (Flatten)
        return [layers.Conv2D(8, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
                layers.Conv2D(16, 3, padding="same", activation="relu"), layers.MaxPooling2D(2),
                layers.Flatten(), layers.Dense(32, activation="relu")]

    if kind == "cnn_rnn":
        body = [keras.Input((frames, size, size, 1)),
                *[layers.TimeDistributed(layer) for layer in frame_cnn()], layers.GRU(32)]
    elif kind == "conv3d":
        body = [keras.Input((frames, size, size, 1)),
                layers.Conv3D(8, 3, padding="same", activation="relu"), layers.MaxPooling3D(2),
                layers.Conv3D(16, 3, padding="same", activation="relu"),
                layers.GlobalMaxPooling3D(), layers.Dense(32, activation="relu")]
    elif kind == "single_frame":
        body = [keras.Input((size, size, 1)), *frame_cnn()]
    else:
        raise ValueError(f"unknown model {kind!r}; expected one of {MODELS}")
    model = keras.Sequential([*body, layers.Dense(len(DIRECTIONS), activation="softmax")],
                             name=kind)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def parse_args():
    parser = protocol.make_parser(__doc__, "q8_video", seed=0)
    parser.add_argument("--frames", type=int, default=16,
                        help=f"frames per clip (smoke: {SMOKE['frames']})")
    parser.add_argument("--size", type=int, default=32,
                        help=f"frame height and width in pixels (smoke: {SMOKE['size']})")
    parser.add_argument("--distractors", type=int, default=3,
                        help="static squares per clip that look like the moving one")
    parser.add_argument("--noise", type=float, default=0.3,
                        help="amplitude of the uniform pixel noise, in [0, 1)")
    parser.add_argument("--train-size", type=int, default=1200,
                        help="training clips; validation and test get a quarter and a half of it "
                             f"(smoke: {SMOKE['train_size']})")
    parser.add_argument("--epochs", type=protocol.positive_int, default=8,
                        help=f"training epochs per model (smoke: {SMOKE['epochs']})")
    parser.add_argument("--batch-size", type=protocol.positive_int, default=32,
                        help="clips per training step")
    args = parser.parse_args()
    if args.smoke:
        for name, value in SMOKE.items():
            setattr(args, name, value)
    if args.train_size < 8:
        parser.error(f"--train-size must be at least 8, not {args.train_size}")
    try:  # one throwaway clip checks --frames, --size, --distractors and --noise together
        make_clips(1, args.frames, args.size, args.distractors, args.noise, np.random.default_rng())
    except ValueError as error:
        parser.error(str(error))
    return args


def main() -> None:
    args = parse_args()
    rng = np.random.default_rng(args.seed)
    data = {split: make_clips(n, args.frames, args.size, args.distractors, args.noise, rng)
            for split, n in (("train", args.train_size), ("valid", args.train_size // 4),
                             ("test", args.train_size // 2))}
    protocol.quiet_tensorflow()
    import keras

    print(f"clips [batch, {args.frames}, {args.size}, {args.size}, 1]: train/valid/test = "
          f"{args.train_size}/{args.train_size // 4}/{args.train_size // 2}, classes "
          f"{list(DIRECTIONS)}")
    middle = args.frames // 2
    rows = {}
    for kind in MODELS:
        keras.utils.set_random_seed(args.seed)
        model = make_model(kind, args.frames, args.size)
        (x_train, y_train), (x_valid, y_valid), (x_test, y_test) = (
            (x[:, middle] if kind == "single_frame" else x, y)
            for x, y in (data["train"], data["valid"], data["test"]))
        print(f"training {kind}: {model.count_params()} parameters")
        timer = protocol.epoch_timer()
        model.fit(x_train, y_train, validation_data=(x_valid, y_valid), epochs=args.epochs,
                  batch_size=args.batch_size, verbose=2,
                  callbacks=[timer, protocol.progress_callback(args.epochs, prefix=f"{kind}_")])
        _, accuracy = model.evaluate(x_test, y_test, verbose=0)
        rows[kind] = {"accuracy": float(accuracy), "parameters": model.count_params(),
                      "seconds_per_epoch": timer.seconds_per_epoch}

    chance = 1 / len(DIRECTIONS)
    metrics = {"chance": chance, "test_clips": args.train_size // 2}
    for kind, row in rows.items():
        metrics.update({f"{kind}_accuracy": row["accuracy"], f"{kind}_parameters":
                        row["parameters"], f"{kind}_seconds_per_epoch": row["seconds_per_epoch"]})
    protocol.result(
        metrics=metrics,
        tables=[protocol.table(
            f"Moving-square clips ({args.frames} frames of {args.size}x{args.size}, "
            f"{args.distractors} static look-alikes), chance {chance:.2f}",
            ["model", "test accuracy", "parameters", "s / epoch (median)"],
            [[kind, round(row["accuracy"], 3), row["parameters"],
              round(row["seconds_per_epoch"], 2)] for kind, row in rows.items()])],
    )


if __name__ == "__main__":
    main()
