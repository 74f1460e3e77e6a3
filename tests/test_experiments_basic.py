"""The four experiments that need no real data (Q1, Q2, Q3, Q6), run as real subprocesses."""

from __future__ import annotations

import pytest

from support import rows_by_first_cell, run_experiment


@pytest.mark.tensorflow
def test_q1_each_kind_has_its_shapes_and_beats_its_baseline(tmp_path):
    result, _ = run_experiment("q1_architectures.py", "--smoke", "--time-steps", "15",
                               output_dir=tmp_path)
    metrics = result["metrics"]
    assert metrics["seq2seq_mae"] < metrics["seq2seq_baseline_mae"]
    assert metrics["seq2vec_accuracy"] > metrics["seq2vec_baseline_accuracy"]
    assert metrics["vec2seq_mae"] < metrics["vec2seq_baseline_mae"]
    assert [metrics[f"{kind}_beats_baseline"] for kind in ("seq2seq", "seq2vec", "vec2seq")] \
        == [1, 1, 1]
    rows = rows_by_first_cell(result["tables"][0])
    assert (rows["seq2seq"]["input shape"], rows["seq2seq"]["output shape"]) \
        == ("(None, 15, 1)", "(None, 15, 1)")
    assert (rows["seq2vec"]["input shape"], rows["seq2vec"]["output shape"]) \
        == ("(None, 15, 1)", "(None, 1)")
    assert (rows["vec2seq"]["input shape"], rows["vec2seq"]["output shape"]) \
        == ("(None, 2)", "(None, 15, 1)")
    assert len(result["plots"][0]["series"]["vec2seq prediction"]) == 15


@pytest.mark.tensorflow
def test_q2_output_and_state_shapes_follow_the_flags(tmp_path):
    result, completed = run_experiment("q2_shapes.py", "--smoke", "--units", "5", "--batch", "3",
                               "--time-steps", "7", "--features", "2", output_dir=tmp_path)
    metrics = result["metrics"]
    assert (metrics["units"], metrics["ndim_with_return_sequences"], metrics["ndim_without"]) \
        == (5, 3, 2)
    rows = result["tables"][0]["rows"]
    assert len(rows) == 12  # 3 layers x return_sequences x return_state
    for layer, return_sequences, return_state, output, n_states, states in rows:
        assert output == ("(3, 7, 5)" if return_sequences else "(3, 5)")
        expected_states = (2 if layer == "LSTM" else 1) if return_state else 0
        assert n_states == expected_states
        assert states == (", ".join(["(3, 5)"] * n_states) or "-")
    assert metrics["max_abs_diff_last_output_vs_h"] < 1e-6
    # TensorFlow's start-up lines (printed before any log level applies) are filtered out
    assert "absl::InitializeLog" not in completed.stderr
    assert "cuInit" not in completed.stderr

    two_d = result["tables"][1]["rows"]
    assert [row[1] for row in two_d] == ["(3, 2)", "(3, 1, 2)"] * 3
    # Keras 3 refuses a 2-D input to a recurrent layer; a time axis of length 1 fixes it.
    assert metrics["two_d_input_raises"] == 1
    assert all(row[2].startswith("ValueError") and "ndim=3" in row[2] for row in two_d[::2])
    assert all(row[2] == "works: output (3, 5)" for row in two_d[1::2])


@pytest.mark.tensorflow
def test_q3_correct_stacks_train_and_a_missing_flag_breaks_the_stack(tmp_path):
    result, _ = run_experiment("q3_return_sequences.py", "--smoke", "--time-steps", "12",
                               output_dir=tmp_path)
    metrics = result["metrics"]
    assert metrics["broken_stack_raises"] == 1
    for name in ("deep_seq2seq", "deep_seq2vec"):
        assert metrics[f"{name}_loss"] < metrics[f"{name}_initial_loss"]
        assert metrics[f"{name}_loss"] < 0.5 * metrics[f"{name}_baseline_loss"]
    # One value per sequence cannot fit per-step targets much better than their mean.
    assert metrics["missing_top_seq2seq_output_ndim"] == 2
    assert metrics["missing_top_seq2seq_loss"] > 0.5 * metrics["missing_top_seq2seq_baseline_loss"]
    rows = rows_by_first_cell(result["tables"][0])
    assert rows["deep_seq2seq"]["output shape"] == "(None, 12, 1)"
    assert rows["deep_seq2vec"]["output shape"] == "(None, 1)"
    assert rows["broken_seq2vec"]["outcome"].startswith("error: ValueError")
    assert rows["deep_seq2seq"]["outcome"] == rows["deep_seq2vec"]["outcome"] == "trains"
    assert rows["missing_top_seq2seq"]["output shape"] == "(None, 1)"


@pytest.mark.tensorflow
def test_q6_numpy_lstm_matches_keras(tmp_path):
    result, _ = run_experiment("q6_lstm_cell.py", "--smoke", "--units", "5", "--features", "4",
                               "--time-steps", "9", output_dir=tmp_path)
    metrics = result["metrics"]
    diffs = [metrics[f"max_abs_diff_{name}"] for name in ("outputs", "h", "c")]
    assert max(diffs) < 1e-5
    assert metrics["numpy_matches_keras"] == 1  # a yes/no as a number: named for what 1 means
    details = rows_by_first_cell(result["tables"][-1])
    assert details["numpy_matches_keras"]["value"] == "yes: every difference is below 1e-05"
    shapes = {row[0]: row[1] for row in result["tables"][0]["rows"]}
    assert shapes == {"outputs": "(4, 9, 5)", "h": "(4, 5)", "c": "(4, 5)"}

    # A tolerance below float32 round-off: the answer is no, in words and as 0.
    result, completed = run_experiment("q6_lstm_cell.py", "--smoke", "--tolerance", "1e-30",
                                       output_dir=tmp_path)
    assert result["metrics"]["numpy_matches_keras"] == 0
    verdict = rows_by_first_cell(result["tables"][-1])["numpy_matches_keras"]["value"]
    assert verdict == "no: outputs, h, c differ by 1e-30 or more"
    assert f"NumPy LSTM matches keras.layers.LSTM? {verdict}" in completed.stdout
