"""Q9 sketch classifier: preprocessing, masks after striding, and real runs of the script."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from support import EXPERIMENTS, rows_by_first_cell, run_experiment

sys.path.insert(0, str(EXPERIMENTS))

import q9_sketch_classifier as q9  # noqa: E402

import sketches  # noqa: E402

SCRIPT = "q9_sketch_classifier.py"


def _sketch(n_points: int, value: int) -> np.ndarray:
    sketch = np.full((n_points, 3), value, np.int16)
    sketch[:, 2] = 0
    sketch[-1, 2] = 1
    return sketch


def test_pad_or_crop_same_policy_for_every_split():
    """A sketch gets the same array whichever split it sits in, cropped or padded alike."""
    long, short = _sketch(12, 4), _sketch(3, -2)
    train, train_lengths = sketches.pad_or_crop([long, short], max_length=5, scale=2.0)
    test, test_lengths = sketches.pad_or_crop([short, long], max_length=5, scale=2.0)
    np.testing.assert_array_equal(train[0], test[1])
    np.testing.assert_array_equal(train[1], test[0])
    assert list(train_lengths) == [5, 3] and list(test_lengths) == [3, 5]
    np.testing.assert_allclose(train[0, :, :2], 2.0)  # first 5 points kept, dx/scale
    np.testing.assert_array_equal(train[1, 3:], 0)  # zero padding after the points
    assert train[1, 2, 2] == 1  # the pen lift survives
    with pytest.raises(ValueError):
        sketches.pad_or_crop([long], max_length=0, scale=1.0)


def test_delta_std_uses_offsets_only():
    data = [np.array([[3, -3, 1], [-3, 3, 0]], np.int16)]
    assert sketches.delta_std(data) == pytest.approx(3.0)
    with pytest.raises(ValueError):
        sketches.delta_std([np.zeros((4, 3), np.int16)])


@pytest.mark.tensorflow
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_lengths_after_striding_match_conv1d(padding):
    """conv_output_length agrees with the time steps a real Conv1D stack returns."""
    import keras

    for length in (1, 2, 7, 13, 14, 100):
        x = np.zeros((1, length, 3), np.float32)
        expected = length
        for kernel_size, strides in ((5, 2), (3, 2), (3, 1)):
            if padding == "valid" and expected < kernel_size:
                break
            x = keras.layers.Conv1D(4, kernel_size, strides=strides, padding=padding)(x)
            expected = sketches.conv_output_length(expected, kernel_size, strides, padding)
            assert x.shape[1] == expected, (length, kernel_size, strides)


@pytest.mark.tensorflow
def test_length_mask_marks_real_steps():
    """The model's mask: after three stride-2 'same' convs, 13 points leave 2 real steps of 13."""
    layer = sketches.length_mask_layer()([(5, 2), (5, 2), (3, 2)])
    features = np.zeros((3, 13, 8), np.float32)  # 100 points -> 50 -> 25 -> 13 steps
    mask = np.asarray(layer(features, np.array([13, 100, 1], np.int32)))
    assert mask.sum(axis=1).tolist() == [2, 13, 1]
    assert mask[0].tolist() == [True, True] + [False] * 11


def test_length_baseline_picks_the_commonest_class_per_length():
    train_lengths = np.array([3, 3, 3, 9, 9])
    train_labels = np.array([0, 0, 1, 1, 1])
    predicted = sketches.length_baseline(train_lengths, train_labels, np.array([3, 9, 5]), 2)
    assert predicted.tolist() == [0, 1, 1]  # unseen length: the most frequent class


def _options(tmp_path: Path, **given) -> argparse.Namespace:
    """The options :func:`q9.training_data` reads, as the script's defaults unless given."""
    return argparse.Namespace(**{"data_dir": None, "categories": None, "smoke": False,
                                 "seed": 42, "output_dir": tmp_path / "out", **given})


def _sketch_file(path: Path, per_split: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    q9.write_npz(path, {split: [_sketch(4 + i % 5, 1) for i in range(per_split)]
                        for split in ("train", "valid", "test")})
    return path


def _split_sizes(path: Path) -> dict[str, int]:
    with np.load(path, allow_pickle=True) as data:
        return {split: len(data[split]) for split in data.files}


def test_without_data_the_sketches_are_synthetic_and_said_to_be(tmp_path, monkeypatch):
    """No --data-dir and no shared files: synthetic shapes, smoke or not, and the source says
    so and where the shared files were looked for."""
    monkeypatch.setattr(q9, "SHARED_SKETCHES", tmp_path / "no-shared")
    for smoke in (False, True):
        data = q9.training_data(_options(tmp_path, smoke=smoke))
        assert data.synthetic
        assert data.source == ("synthetic shapes: no --data-dir and no shared sketch-rnn files "
                               f"found at {tmp_path / 'no-shared'}")
        assert sorted(p.name for p in data.folder.glob("*.npz")) == [
            "shape_0.npz", "shape_1.npz", "shape_2.npz"]
        assert _split_sizes(data.folder / "shape_0.npz") == q9.SMOKE_SIZES
    assert "says nothing about real sketches" in q9.SYNTHETIC_WARNING
    assert "--data-dir DIR of {category}.npz" in q9.SYNTHETIC_WARNING


def test_the_data_source_is_data_dir_else_the_shared_files_and_smoke_takes_a_subset(
        tmp_path, monkeypatch):
    shared = _sketch_file(tmp_path / "shared" / "cat.npz", 150).parent
    mine = _sketch_file(tmp_path / "mine" / "dog.npz", 150).parent
    monkeypatch.setattr(q9, "SHARED_SKETCHES", shared)

    data = q9.training_data(_options(tmp_path))
    assert (data.folder, data.synthetic) == (shared, False)
    assert data.source == f"the shared sketch-rnn files in {shared} (no --data-dir)"
    data = q9.training_data(_options(tmp_path, data_dir=mine))
    assert data.folder == mine and data.source == f"the .npz files of --data-dir {mine}"

    data = q9.training_data(_options(tmp_path, data_dir=mine, smoke=True))  # not the shared ones
    assert data.source == ("smoke: the first 120/40/40 train/valid/test sketches per class of "
                           f"the .npz files of --data-dir {mine}")
    assert [p.name for p in data.folder.glob("*.npz")] == ["dog.npz"]
    assert _split_sizes(data.folder / "dog.npz") == {"train": 120, "valid": 40, "test": 40}
    assert data.folder != q9.training_data(_options(tmp_path, smoke=True)).folder


@pytest.mark.tensorflow
def test_a_checkout_without_shared_data_says_it_trains_on_synthetic_shapes(tmp_path):
    """A user's clone has no ../shared: the log and the result's details say the sketches are
    synthetic, not real ones."""
    experiments = tmp_path / "clone" / "experiments"  # no tmp_path / "shared" beside the clone
    shutil.copytree(EXPERIMENTS, experiments, ignore=shutil.ignore_patterns(
        "__pycache__", "q[1-8]_*.py", "forecasting.py"))
    # An absolute script path replaces the project's experiments folder in run_experiment.
    result, completed = run_experiment(str(experiments / SCRIPT), "--smoke", "--epochs", "1",
                                       output_dir=tmp_path / "out")
    lines = completed.stdout.splitlines()
    assert ("Training data: synthetic shapes: no --data-dir and no shared sketch-rnn files found "
            f"at {tmp_path / 'shared' / 'data' / 'sketchrnn'}.") in lines
    assert lines.count(q9.SYNTHETIC_WARNING) == 2  # before training and beside the figures
    details = rows_by_first_cell(result["tables"][-1])
    assert details["data"]["value"].startswith("synthetic shapes: ")
    assert Path(details["data_folder"]["value"]).parent == tmp_path / "out" / "synthetic_data"


@pytest.mark.tensorflow
def test_smoke_run_and_predict(tmp_path):
    """A --smoke run learns something, saves a model, and --predict classifies a file with it."""
    result, _ = run_experiment(SCRIPT, "--smoke", output_dir=tmp_path)
    metrics = result["metrics"]
    assert metrics["classes"] == 3 and metrics["train_sketches"] == 360
    assert metrics["test_accuracy"] > 1 / 3 + 0.15
    assert metrics["test_top3_accuracy"] == 1.0  # three classes only
    assert metrics["train_sketches_per_second"] > 0
    rows = result["tables"][0]["rows"]
    assert len(rows) == 3 and all(0.0 <= row[2] <= 1.0 for row in rows)
    model_path = tmp_path / "sketch_classifier.keras"
    assert str(model_path) in result["artifacts"]

    data_folder = Path(rows_by_first_cell(result["tables"][-1])["data_folder"]["value"])
    assert data_folder.is_relative_to(tmp_path)
    sketch_file = next(data_folder.glob("*.npz"))
    predicted, completed = run_experiment(
        SCRIPT, "--predict", str(sketch_file), "--model-path", str(model_path),
        output_dir=tmp_path / "predict")
    with np.load(sketch_file, allow_pickle=True) as data:
        n_sketches = sum(len(data[k]) for k in data.files)
    assert predicted["metrics"]["sketches"] == n_sketches
    counts = {row[0]: row[1] for row in predicted["tables"][0]["rows"]}
    assert sum(counts.values()) == n_sketches
    assert f"{sketch_file.name} test[0]:" in completed.stdout


@pytest.mark.tensorflow
def test_mirrored_on_two_logical_cpus(tmp_path):
    """--strategy auto with two logical CPUs trains with MirroredStrategy on 2 replicas."""
    result, _ = run_experiment(SCRIPT, "--smoke", "--epochs", "2", output_dir=tmp_path,
                               env={"Q9_LOGICAL_CPUS": "2"})
    details = rows_by_first_cell(result["tables"][-1])
    assert details["strategy"]["value"] == "MirroredStrategy"
    assert result["metrics"]["replicas"] == 2
    assert result["metrics"]["test_accuracy"] > 0
