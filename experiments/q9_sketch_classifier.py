"""Q9: classify sketch-rnn stroke sequences with Conv1D + LSTM, against a length-only baseline.

Exercise 9 of chapter 15 trains a classifier on the SketchRNN (Quick, Draw!) data "available in
TensorFlow Datasets". TFDS 4.9 has no such dataset, so the project's own builder
(``experiments/quickdraw_sketch_rnn``) prepares any folder of ``{category}.npz`` stroke-3 files
(``--data-dir``; without it, the shared sketch-rnn files beside the checkout, else synthetic
shapes, and the log and the result say which) and ``tfds.load`` reads it. Sketches become
normalised (dx, dy, pen) sequences cropped or padded to ``--max-length`` with one policy for
every split; the Conv1D stack shortens them, so the LSTM gets a mask computed from the lengths
after striding (Keras 3 Conv1D drops masks). It reports top-1 and top-3 accuracy, per-class
recall, training throughput and how far sketch length alone gets. GPU runs use mixed precision;
``--strategy`` picks tf.distribute. ``--predict FILE.npz --model-path M.keras`` classifies the
sketches of a file with a saved model.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import protocol
import sketches

SHARED_SKETCHES = Path(__file__).resolve().parents[2] / "shared/data/sketchrnn"
"""The project's copy of three sketch-rnn files (sheep, Omniglot, kanji), beside the checkout."""
SKETCH_RNN_FILES = "https://storage.googleapis.com/quickdraw_dataset/sketchrnn/"
SPLITS = ("train", "validation", "test")
SMOKE_SIZES = {"train": 120, "valid": 40, "test": 40}
"""Sketches per class in each split (the files' names) of a smoke run and of synthetic data."""
SYNTHETIC_WARNING = (
    "Training on synthetic shapes, whose accuracy says nothing about real sketches; pass "
    "--data-dir DIR of {category}.npz sketch-rnn files (Quick, Draw!, e.g. "
    f"{SKETCH_RNN_FILES}sheep.npz) to train on real ones.")


def parse_args():
    parser = protocol.make_parser(__doc__, "q9_sketch_classifier")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="folder of {category}.npz stroke-3 files (the builder's manual_dir); "
                             f"default: the shared sketch-rnn files in {SHARED_SKETCHES}, else "
                             "synthetic shapes (the log and the result's details say which)")
    parser.add_argument("--categories", nargs="+", default=None,
                        help="categories to use (default: every .npz in --data-dir)")
    parser.add_argument("--tfds-dir", type=Path, default=None,
                        help="TFDS data_dir for the prepared dataset (default: OUTPUT_DIR/tfds)")
    parser.add_argument("--max-length", type=protocol.positive_int, default=100,
                        help="points per sketch after cropping or zero-padding (all splits)")
    parser.add_argument("--model", choices=("book", "tutorial"), default="book",
                        help="book: Conv1D 32/64/128 + LSTM; tutorial: Conv1D + 2 BiLSTM")
    parser.add_argument("--epochs", type=protocol.positive_int, default=6, help="training epochs")
    parser.add_argument("--batch-size", type=protocol.positive_int, default=128,
                        help="global batch size")
    parser.add_argument("--learning-rate", type=protocol.positive_float, default=2e-3,
                        help="Adam learning rate")
    parser.add_argument("--max-per-class", type=protocol.positive_int, default=None,
                        help="cap on training sketches per class (default: all)")
    parser.add_argument("--strategy", choices=("auto", "default", "mirrored", "multiworker"),
                        default="auto", help="tf.distribute strategy; auto: mirrored when more "
                        "than one GPU (or logical CPU) is visible; multiworker reads TF_CONFIG")
    parser.add_argument("--logical-cpus", type=protocol.positive_int,
                        default=os.environ.get("Q9_LOGICAL_CPUS", "1"),
                        help="split the CPU into this many logical devices (env Q9_LOGICAL_CPUS)")
    parser.add_argument("--predict", type=Path, default=None,
                        help="a .npz of stroke-3 sketches to classify with --model-path")
    parser.add_argument("--model-path", type=Path, default=None,
                        help="saved .keras model for --predict "
                             "(default: OUTPUT_DIR/sketch_classifier.keras)")
    return parser.parse_args()


def write_npz(path: Path, splits: dict[str, list[np.ndarray]]) -> None:
    """Save stroke-3 sketches as sketch-rnn does: one object array per split (train/valid/test)."""
    arrays = {}
    for name, items in splits.items():
        arrays[name] = np.empty(len(items), dtype=object)
        arrays[name][:] = items
    np.savez(path, **arrays)


def smoke_subset(source: Path, categories: list[str] | None, folder: Path) -> Path:
    """Write the first :data:`SMOKE_SIZES` sketches of each split of each ``{category}.npz`` in
    ``source`` (all of them, or only ``categories``) to the same names in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    names = categories or sorted(path.stem for path in source.glob("*.npz"))
    for name in names:
        if (source / f"{name}.npz").is_file():  # the builder names the missing ones and their URLs
            with np.load(source / f"{name}.npz", encoding="latin1", allow_pickle=True) as data:
                write_npz(folder / f"{name}.npz",
                          {split: list(data[split][:n]) for split, n in SMOKE_SIZES.items()})
    return folder


def synthetic_data(folder: Path, seed: int) -> Path:
    """Write three classes of synthetic shapes (``shape_0.npz`` to ``shape_2.npz``, see
    :func:`sketches.synthetic_sketches`), :data:`SMOKE_SIZES` sketches per split, to ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    ends = np.cumsum(list(SMOKE_SIZES.values()))
    for k, shapes in enumerate(sketches.synthetic_sketches(3, int(ends[-1]), rng)):
        write_npz(folder / f"shape_{k}.npz",
                  {split: shapes[end - n:end]
                   for (split, n), end in zip(SMOKE_SIZES.items(), ends, strict=True)})
    return folder


@dataclass(frozen=True)
class TrainingData:
    """The sketches a run trains on."""

    folder: Path
    """The ``{category}.npz`` files given to the builder as its ``manual_dir``."""
    source: str
    """What they are and why these, for the log and the result's details."""
    synthetic: bool
    """Made-up shapes: the accuracy says nothing about real sketches."""


def training_data(args) -> TrainingData:
    """Choose the sketches: ``--data-dir``, else the shared sketch-rnn files
    (:data:`SHARED_SKETCHES`), else synthetic shapes written under ``--output-dir``. A
    ``--smoke`` run takes the first :data:`SMOKE_SIZES` sketches per class of real files."""
    if args.data_dir is not None:
        source, origin = args.data_dir, f"the .npz files of --data-dir {args.data_dir}"
    elif SHARED_SKETCHES.is_dir():
        source, origin = SHARED_SKETCHES, (f"the shared sketch-rnn files in {SHARED_SKETCHES} "
                                           "(no --data-dir)")
    else:
        folder = synthetic_data(args.output_dir / "synthetic_data" / f"seed{args.seed}",
                                args.seed)
        return TrainingData(folder, f"synthetic shapes: no --data-dir and no shared sketch-rnn "
                                    f"files found at {SHARED_SKETCHES}", synthetic=True)
    if not args.smoke:
        return TrainingData(source, origin, synthetic=False)
    # One folder per source: the same category names may hold other sketches elsewhere.
    folder = args.output_dir / "smoke_data" / _digest(source)
    sizes = "/".join(str(n) for n in SMOKE_SIZES.values())
    return TrainingData(smoke_subset(source, args.categories, folder),
                        f"smoke: the first {sizes} train/valid/test sketches per class of "
                        f"{origin}", synthetic=False)


def _digest(folder: Path) -> str:
    """A short name for ``folder``, to keep what is prepared from different folders apart."""
    return hashlib.sha1(str(folder.resolve()).encode()).hexdigest()[:10]


def load_splits(data_dir: Path, categories: list[str], tfds_dir: Path):
    """Prepare the categories with the ``quickdraw_sketch_rnn`` builder and load every split.

    Returns ``({split: (sketches list of [points, 3] int16, labels [n] int64)}, class names)``.
    """
    import tensorflow_datasets as tfds

    import quickdraw_sketch_rnn

    if os.environ.get("TFDS_DISABLE_PROGRESS_BAR"):
        tfds.disable_progress_bar()
    config = quickdraw_sketch_rnn.config_for_categories(categories)
    datasets, info = tfds.load(
        "quickdraw_sketch_rnn", split=list(SPLITS), data_dir=tfds_dir, with_info=True,
        as_supervised=False, builder_kwargs={"config": config},
        download_and_prepare_kwargs={"download_config": tfds.download.DownloadConfig(
            manual_dir=data_dir)})
    splits = {}
    for name, dataset in zip(SPLITS, datasets, strict=True):
        examples = list(tfds.as_numpy(dataset))
        splits[name] = ([e["strokes"] for e in examples],
                        np.array([e["label"] for e in examples], np.int64))
    return splits, info.features["label"].names


def make_strategy(name: str):
    """The tf.distribute strategy for ``--strategy`` (see the option's help)."""
    import tensorflow as tf

    if name == "multiworker":
        return tf.distribute.MultiWorkerMirroredStrategy()
    devices = ([d.name for d in tf.config.list_logical_devices("GPU")]
               or [d.name for d in tf.config.list_logical_devices("CPU")])
    if name == "mirrored" or (name == "auto" and len(devices) > 1):
        return tf.distribute.MirroredStrategy(devices)
    return tf.distribute.get_strategy()


def cap_per_class(sketch_list, labels, cap, rng):
    """At most ``cap`` random training sketches per class (all when ``cap`` is None)."""
    if cap is None:
        return sketch_list, labels
    keep = np.concatenate([rng.permutation(np.flatnonzero(labels == c))[:cap]
                           for c in np.unique(labels)])
    keep.sort()
    return [sketch_list[i] for i in keep], labels[keep]


def predict(args) -> None:
    """Classify every sketch of ``args.predict`` with a saved model and its sidecar JSON."""
    import keras

    model_path = args.model_path or args.output_dir / "sketch_classifier.keras"
    if not model_path.exists():
        raise ValueError(f"--predict needs a saved model: {model_path} does not exist")
    meta = json.loads(model_path.with_suffix(".json").read_text())
    model = keras.saving.load_model(model_path, custom_objects={
        "LengthMask": sketches.length_mask_layer()})
    with np.load(args.predict, encoding="latin1", allow_pickle=True) as data:
        names = [k for k in ("train", "valid", "test") if k in data] or list(data.keys())
        items = [(k, i, s) for k in names for i, s in enumerate(data[k])]
    strokes, lengths = sketches.pad_or_crop([s for _, _, s in items], meta["max_length"],
                                            meta["delta_std"])
    probabilities = model.predict({"strokes": strokes, "lengths": lengths}, verbose=0)
    predicted = probabilities.argmax(axis=1)
    classes = meta["class_names"]
    confidences = probabilities.max(axis=1)
    for (split, index, _), label, p in zip(items, predicted, confidences, strict=True):
        print(f"{args.predict.name} {split}[{index}]: {classes[label]} ({p:.3f})")
    counts = np.bincount(predicted, minlength=len(classes))
    protocol.progress(1, 1)
    protocol.result(
        metrics={"sketches": len(items)},
        tables=[protocol.table("Predicted classes", ["class", "sketches"],
                               [[c, int(n)] for c, n in zip(classes, counts, strict=True)]),
                protocol.details(model=model_path)])


def train(args) -> None:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        keras.mixed_precision.set_global_policy("mixed_float16")
    strategy = make_strategy(args.strategy)

    data = training_data(args)
    print(f"Training data: {data.source}.")
    if data.synthetic:
        print(SYNTHETIC_WARNING)
    categories = args.categories or sorted(p.stem for p in data.folder.glob("*.npz"))
    if not categories:
        raise ValueError(f"no .npz files in {data.folder}: pass --data-dir or --categories")
    # One prepared folder per source folder: the same category names may hold other sketches.
    tfds_dir = args.tfds_dir or args.output_dir / "tfds" / _digest(data.folder)
    start = time.perf_counter()
    splits, class_names = load_splits(data.folder, categories, tfds_dir)
    load_seconds = time.perf_counter() - start
    n_classes = len(class_names)
    train_sketches, train_labels = cap_per_class(*splits["train"], args.max_per_class, rng)
    scale = sketches.delta_std(train_sketches)
    arrays = {}
    for name, (items, labels) in {**splits, "train": (train_sketches, train_labels)}.items():
        strokes, lengths = sketches.pad_or_crop(items, args.max_length, scale)
        raw_lengths = np.array([len(s) for s in items])
        arrays[name] = ({"strokes": strokes, "lengths": lengths}, labels, raw_lengths)
    print(f"{n_classes} classes, " + ", ".join(f"{k}: {len(v[1])}" for k, v in arrays.items())
          + f" sketches; delta std {scale:.2f}; loaded in {load_seconds:.1f} s; "
          f"{strategy.num_replicas_in_sync} replica(s) with {type(strategy).__name__}")

    # Baseline: sketch length alone.
    baseline = sketches.length_baseline(arrays["train"][2], arrays["train"][1],
                                        arrays["test"][2], n_classes)
    baseline_accuracy = float(np.mean(baseline == arrays["test"][1]))

    def dataset(name, shuffle=False):
        features, labels, _ = arrays[name]
        data = tf.data.Dataset.from_tensor_slices((features, labels))
        if shuffle:
            data = data.shuffle(len(labels), seed=args.seed)
        return data.batch(args.batch_size).prefetch(tf.data.AUTOTUNE)

    with strategy.scope():
        model = sketches.make_model(n_classes, args.max_length, args.model)
        model.compile(optimizer=keras.optimizers.Adam(args.learning_rate),
                      loss="sparse_categorical_crossentropy",
                      metrics=["accuracy", keras.metrics.SparseTopKCategoricalAccuracy(
                          k=3, name="top3_accuracy")])
    timer = protocol.epoch_timer()
    stop = keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=2,
                                         restore_best_weights=True)
    history = model.fit(dataset("train", shuffle=True), validation_data=dataset("validation"),
                        epochs=args.epochs, verbose=2,
                        callbacks=[timer, stop, protocol.progress_callback(args.epochs)])
    sketches_per_second = len(arrays["train"][1]) / timer.seconds_per_epoch

    probabilities = model.predict(arrays["test"][0], batch_size=args.batch_size, verbose=0)
    test_labels = arrays["test"][1]
    predicted = probabilities.argmax(axis=1)
    top3 = np.argsort(probabilities, axis=1)[:, -3:]
    recall = [float(np.mean(predicted[test_labels == c] == c)) if np.any(test_labels == c)
              else float("nan") for c in range(n_classes)]
    baseline_recall = [float(np.mean(baseline[test_labels == c] == c)) if np.any(test_labels == c)
                       else float("nan") for c in range(n_classes)]

    args.output_dir.mkdir(parents=True, exist_ok=True)
    model_path = args.output_dir / "sketch_classifier.keras"
    model.save(model_path)
    model_path.with_suffix(".json").write_text(json.dumps(
        {"class_names": list(class_names), "delta_std": scale, "max_length": args.max_length}))

    metrics = {
        "test_accuracy": float(np.mean(predicted == test_labels)),
        "test_top3_accuracy": float(np.mean((top3 == test_labels[:, None]).any(axis=1))),
        "min_class_recall": float(np.nanmin(recall)),
        "length_baseline_accuracy": baseline_accuracy,
        "train_sketches_per_second": sketches_per_second,
        "train_seconds": sum(timer.seconds),
        "classes": n_classes,
        "train_sketches": len(arrays["train"][1]),
        "replicas": strategy.num_replicas_in_sync,
        "max_length": args.max_length,
    }
    run_details = protocol.details(data=data.source, data_folder=data.folder,
                                   strategy=type(strategy).__name__,
                                   device="GPU" if gpus else "CPU", model=args.model)
    if n_classes <= 3:
        print(f"Top-3 accuracy is 1.0 by construction with {n_classes} classes.")
    print(json.dumps({k: metrics[k] for k in ("test_accuracy", "min_class_recall",
                                              "length_baseline_accuracy",
                                              "train_sketches_per_second")}))
    if data.synthetic:
        print(SYNTHETIC_WARNING)
    shown = range(n_classes) if n_classes <= 30 else np.argsort(recall)[:30]
    protocol.result(
        metrics=metrics,
        tables=[protocol.table(
            "Per-class test recall" + ("" if n_classes <= 30 else " (30 worst)"),
            ["class", "test sketches", "model recall", "length-only recall"],
            [[class_names[c], int(np.sum(test_labels == c)), recall[c], baseline_recall[c]]
             for c in shown]), run_details],
        plots=[protocol.plot("Accuracy per epoch", "epoch", "accuracy", {
            "train": list(enumerate(history.history["accuracy"], 1)),
            "validation": list(enumerate(history.history["val_accuracy"], 1))})],
        artifacts=[model_path, model_path.with_suffix(".json")])


def main() -> None:
    args = parse_args()
    protocol.quiet_tensorflow()
    import tensorflow as tf

    if args.logical_cpus > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * args.logical_cpus)
    if args.predict is not None:
        predict(args)
    else:
        train(args)


if __name__ == "__main__":
    main()
