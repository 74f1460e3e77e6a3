"""Q9 sketch classifier: preprocessing, masks after striding, and real runs of the script."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from support import EXPERIMENTS, rows_by_first_cell, run_experiment

sys.path.insert(0, str(EXPERIMENTS))

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

    sketch_file = next((tmp_path / "smoke_data").glob("*.npz"))
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
