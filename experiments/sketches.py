"""Sketch classification helpers for exercise 9: stroke-3 preprocessing, masks, models, baselines.

A sketch in *stroke-3* format is an int array ``[points, 3]`` of (dx, dy, pen lifted after this
point) (Graves 2013; Ha & Eck 2017). NumPy-only at import; Keras is imported inside the model
functions, so tests of the preprocessing need no TensorFlow import.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import numpy as np

# (filters, kernel_size, strides) of the Conv1D layers, all padding="same".
BOOK_CONVS = ((32, 5, 2), (64, 5, 2), (128, 3, 2))  # Géron, ch. 15 exercise 9 solution
# TensorFlow tutorial "Recurrent Neural Networks for Drawing Classification"
TUTORIAL_CONVS = ((48, 5, 1), (64, 5, 1), (96, 3, 1))


def delta_std(sketches: Sequence[np.ndarray]) -> float:
    """Standard deviation of all dx and dy offsets of ``sketches`` (compute it on train only).

    Raises ``ValueError`` for an empty list or a zero spread.
    """
    if len(sketches) == 0:
        raise ValueError("delta_std needs at least one sketch")
    std = float(np.concatenate([s[:, :2] for s in sketches]).astype(np.float64).std())
    if std == 0:
        raise ValueError("all dx, dy offsets are equal: cannot normalise by a zero std")
    return std


def pad_or_crop(sketches: Sequence[np.ndarray], max_length: int,
                scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Normalise and fix the length of stroke-3 sketches, one policy for every split.

    Each sketch ``[points, 3]`` becomes ``[max_length, 3]`` float32 of (dx/scale, dy/scale, pen):
    the first ``max_length`` points when longer (cropped), zeros after its points when shorter
    (padded). Returns ``(strokes [n, max_length, 3], lengths [n] int32)`` where ``lengths`` counts
    the real points kept. Raises ``ValueError`` for ``max_length < 1`` or an empty sketch.
    """
    if max_length < 1:
        raise ValueError(f"max_length must be >= 1, got {max_length}")
    strokes = np.zeros((len(sketches), max_length, 3), np.float32)
    lengths = np.zeros(len(sketches), np.int32)
    for i, sketch in enumerate(sketches):
        if len(sketch) == 0:
            raise ValueError(f"sketch {i} has no points")
        kept = sketch[:max_length].astype(np.float32)
        strokes[i, :len(kept), :2] = kept[:, :2] / scale
        strokes[i, :len(kept), 2] = kept[:, 2]
        lengths[i] = len(kept)
    return strokes, lengths


def conv_output_length(length, kernel_size: int, strides: int, padding: str = "same"):
    """Time steps out of a ``Conv1D`` for ``length`` steps in (ints, NumPy or tensor arrays).

    ``same``: ceil(length / strides); ``valid``: floor((length - kernel_size) / strides) + 1, at
    least 0 (the formulas of ``keras.layers.Conv1D``). Raises ``ValueError`` for another padding.
    """
    if padding == "same":
        return (length + strides - 1) // strides
    if padding == "valid":
        return np.maximum((length - kernel_size) // strides + 1, 0)
    raise ValueError(f"padding must be 'same' or 'valid', got {padding!r}")


@functools.cache
def length_mask_layer() -> type:
    """The ``LengthMask`` Keras layer class (registered for ``keras.saving.load_model``)."""
    import keras

    @keras.saving.register_keras_serializable(package="sketches")
    class LengthMask(keras.layers.Layer):
        """Boolean mask ``[batch, time]`` of the steps a Conv1D stack computed from real points.

        Keras 3 ``Conv1D`` drops masks, so the recurrent layers get this one explicitly:
        ``call(features [batch, time, channels], lengths [batch])``, with ``lengths`` the real
        points before the convs, each ``(kernel_size, strides)`` in ``convs`` applied in turn.
        """

        def __init__(self, convs: Sequence[Sequence[int]], **kwargs):
            super().__init__(**kwargs)
            self.convs = [tuple(c) for c in convs]

        def call(self, features, lengths):
            lengths = keras.ops.cast(lengths, "int32")
            for kernel_size, strides in self.convs:
                lengths = conv_output_length(lengths, kernel_size, strides, "same")
            steps = keras.ops.arange(keras.ops.shape(features)[1], dtype="int32")
            return keras.ops.less(steps[None, :], lengths[:, None])

        def get_config(self):
            return {**super().get_config(), "convs": self.convs}

    return LengthMask


def make_model(n_classes: int, max_length: int, kind: str = "book"):
    """The sketch classifier: inputs ``{"strokes": [batch, max_length, 3], "lengths": [batch]}``.

    ``book``: Conv1D 32/64/128 (kernels 5/5/3, strides 2) with batch norm, LSTM 128 over the
    masked steps, masked average pooling, Dense softmax (Géron's solution to exercise 9).
    ``tutorial``: Conv1D 48/64/96 (stride 1), two bidirectional LSTM 128 layers, Dense softmax
    (the TensorFlow drawing-classification tutorial). The output layer stays float32 under mixed
    precision. Raises ``ValueError`` for an unknown ``kind``.
    """
    import keras

    convs = {"book": BOOK_CONVS, "tutorial": TUTORIAL_CONVS}.get(kind)
    if convs is None:
        raise ValueError(f"model kind must be 'book' or 'tutorial', got {kind!r}")
    strokes = keras.Input((max_length, 3), name="strokes")
    lengths = keras.Input((), dtype="int32", name="lengths")
    x = strokes
    for filters, kernel_size, strides in convs:
        x = keras.layers.Conv1D(filters, kernel_size, strides=strides, padding="same",
                                activation="relu")(x)
        x = keras.layers.BatchNormalization()(x)
    mask = length_mask_layer()([(k, s) for _, k, s in convs])(x, lengths)
    if kind == "book":
        x = keras.layers.LSTM(128, return_sequences=True)(x, mask=mask)
        x = keras.layers.GlobalAveragePooling1D()(x, mask=mask)
    else:
        x = keras.layers.Bidirectional(keras.layers.LSTM(128, return_sequences=True))(x, mask=mask)
        x = keras.layers.Bidirectional(keras.layers.LSTM(128))(x, mask=mask)
    outputs = keras.layers.Dense(n_classes, activation="softmax", dtype="float32")(x)
    return keras.Model({"strokes": strokes, "lengths": lengths}, outputs, name=f"sketch_{kind}")


def length_baseline(train_lengths: np.ndarray, train_labels: np.ndarray,
                    lengths: np.ndarray, n_classes: int) -> np.ndarray:
    """Predict labels from sketch length alone: the most frequent training class at each length.

    The best any classifier of the length alone does on the training distribution (ties and
    unseen lengths go to the most frequent class overall). Shapes: ``[n]`` in, ``[n]`` out.
    """
    top = int(max(train_lengths.max(), lengths.max()))
    counts = np.zeros((top + 1, n_classes))
    np.add.at(counts, (train_lengths, train_labels), 1)
    prior = np.bincount(train_labels, minlength=n_classes)
    return np.argmax(counts + 1e-3 * prior / prior.sum(), axis=1)[lengths]


def synthetic_sketches(n_classes: int, per_class: int, rng: np.random.Generator
                       ) -> list[list[np.ndarray]]:
    """Simple distinct shapes in stroke-3 (int16), ``per_class`` noisy sketches per class.

    Class ``k`` is a polygon of ``3 + k % 7`` vertices traced ``1 + (k // 7) % 7`` times as a
    spiral growing by a factor set by ``k // 49``; each sketch gets a random size, rotation and
    +/-2 units of jitter. Returns ``[class][sketch]`` arrays of shape ``[points, 3]``.
    """
    classes = []
    for k in range(n_classes):
        vertices, turns, growth = 3 + k % 7, 1 + (k // 7) % 7, 1.0 + 0.15 * (k // 49)
        steps = np.arange(vertices * turns + 1)
        sketches = []
        for _ in range(per_class):
            angle = 2 * np.pi * steps / vertices + rng.uniform(0, 2 * np.pi)
            radius = rng.uniform(20, 60) * growth ** (steps / vertices)
            points = np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=1)
            points += rng.uniform(-2, 2, points.shape)
            sketch = np.zeros((len(steps), 3), np.int16)
            sketch[:, :2] = np.diff(np.round(points), axis=0, prepend=0)
            sketch[-1, 2] = 1
            sketches.append(sketch)
        classes.append(sketches)
    return classes
