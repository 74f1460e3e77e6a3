"""Q5 (unstable gradients, short memory) and Q8 (video classification), run as real subprocesses."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from support import EXPERIMENTS, rows_by_first_cell, run_experiment

sys.path.insert(0, str(EXPERIMENTS))
import q5_training_difficulties as q5  # noqa: E402
import q8_video as q8  # noqa: E402


def run_script(script: str, *args: str) -> subprocess.CompletedProcess:
    """Run a script for its argument handling only (a bad option: no TensorFlow)."""
    return subprocess.run([sys.executable, str(EXPERIMENTS / script), *args],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize(("script", "args", "message"), [
    ("q5_training_difficulties.py", ("--lengths", "5,1"), "at least 2"),
    ("q5_training_difficulties.py", ("--lengths", "5,x"), "comma-separated integers"),
    ("q8_video.py", ("--frames", "40", "--size", "32"), "does not fit"),
])
def test_bad_arguments_are_refused_with_a_message(script, args, message):
    completed = run_script(script, *args)
    assert completed.returncode == 2
    assert message in completed.stderr


# --- Q5 ----------------------------------------------------------------------------------------


def test_adding_problem_targets_are_the_sum_of_the_two_marked_values():
    inputs, targets = q5.adding_problem(64, 9, np.random.default_rng(0))
    assert inputs.shape == (64, 9, 2) and targets.shape == (64, 1)
    markers = inputs[:, :, 1]
    assert np.all(markers[:, :4].sum(axis=1) == 1) and np.all(markers[:, 4:].sum(axis=1) == 1)
    np.testing.assert_allclose(targets[:, 0], (inputs[:, :, 0] * markers).sum(axis=1), rtol=1e-6)
    with pytest.raises(ValueError, match="at least 2"):
        q5.adding_problem(4, 1, np.random.default_rng(0))


def test_gradient_verdict_flags_nonfinite_and_exploding_runs():
    steady = q5.gradient_verdict(np.full(20, 0.1), np.full(20, 2.0))
    assert (steady["exploded"], steady["diverged"], steady["first_nonfinite_step"]) \
        == (False, False, None)
    blown = q5.gradient_verdict(np.array([1.0, 50.0, np.nan, np.nan]),
                                np.array([10.0, 5e4, np.inf, np.nan]))
    assert (blown["exploded"], blown["diverged"], blown["first_nonfinite_step"]) == (True, True, 3)
    assert blown["max_norm"] == 5e4


@pytest.mark.tensorflow
@pytest.mark.parametrize("seed", ["0", "3"])
def test_q5_unclipped_relu_blows_up_and_clipped_tanh_stays_stable(tmp_path, seed):
    result, _ = run_experiment("q5_training_difficulties.py", "--smoke", "--seed", seed,
                               output_dir=tmp_path)
    metrics = result["metrics"]
    assert metrics["relu_unclipped_diverged"] == 1 or metrics["relu_unclipped_exploded"] == 1
    assert metrics["tanh_clipped_diverged"] == 0
    runs = rows_by_first_cell(result["tables"][0])
    assert list(runs) == [run.name for run in q5.GRADIENT_RUNS]
    assert runs["tanh_clipped"]["diverged"] == "no"
    assert runs["tanh_clipped"]["final loss"] < q5.DIVERGED_LOSS_FACTOR * q5.TARGET_VARIANCE
    memory = result["tables"][1]
    assert {(row[0], row[1]) for row in memory["rows"]} \
        == {(cell, 10) for cell in q5.MEMORY_CELLS}
    for cell, _length, _mse, r2, _solved, *_rest in memory["rows"]:  # one length (10) in smoke
        solved = r2 >= q5.SOLVED_R2
        assert metrics[f"{cell.lower()}_longest_solved"] == (10 if solved else 0)
    norms = result["plots"][0]["series"]
    assert len(norms["tanh_clipped"]) == q5.SMOKE["steps"]  # every step finite, every step drawn
    (steps_csv,) = result["artifacts"]
    recorded = np.loadtxt(steps_csv, delimiter=",", skiprows=1)
    assert recorded.shape == (q5.SMOKE["steps"], 2 * len(q5.GRADIENT_RUNS))


# --- Q8 ----------------------------------------------------------------------------------------


def test_clips_move_one_pixel_per_frame_in_the_labelled_direction():
    clips, labels = q8.make_clips(32, 6, 16, distractors=0, noise=0.0,
                                  rng=np.random.default_rng(1))
    assert clips.shape == (32, 6, 16, 16, 1) and set(labels) <= {0, 1, 2, 3}
    grid = np.indices((16, 16))
    for clip, label in zip(clips, labels, strict=True):
        centres = np.array([(grid * frame[:, :, 0]).sum(axis=(1, 2)) / frame.sum()
                            for frame in clip])
        steps = np.diff(centres, axis=0)
        np.testing.assert_allclose(steps, np.tile(list(q8.DIRECTIONS.values())[label], (5, 1)))


def test_middle_frame_position_does_not_depend_on_the_class():
    clips, labels = q8.make_clips(2000, 8, 16, distractors=0, noise=0.0,
                                  rng=np.random.default_rng(2))
    middle = clips[:, 4, :, :, 0]
    corners = [np.argwhere(frame)[0] for frame in middle]  # top-left pixel of the square
    per_class = [np.array(corners)[labels == k] for k in range(4)]
    for positions in per_class:
        assert positions.min() == min(p.min() for p in per_class)
        assert positions.max() == max(p.max() for p in per_class)
        assert abs(positions.mean() - np.mean(corners)) < 0.3


@pytest.mark.tensorflow
def test_q8_temporal_models_beat_the_single_frame_baseline(tmp_path):
    result, _ = run_experiment("q8_video.py", "--smoke", output_dir=tmp_path)
    metrics = result["metrics"]
    assert metrics["chance"] == 0.25
    accuracies = {kind: metrics[f"{kind}_accuracy"] for kind in q8.MODELS}
    assert set(rows_by_first_cell(result["tables"][0])) == set(q8.MODELS)
    # measured in smoke, seeds 0-3: single frame 0.23-0.28, cnn_rnn 0.40-0.45, conv3d 0.55-0.96
    assert accuracies["cnn_rnn"] > accuracies["single_frame"] + 0.05
    assert accuracies["conv3d"] > accuracies["single_frame"] + 0.2
