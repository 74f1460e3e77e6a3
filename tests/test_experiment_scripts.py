"""What every experiment script shares: a header docstring and a ``--help`` that lists the common
options without loading TensorFlow (so it is instant)."""

from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from support import EXPERIMENTS

SCRIPTS = sorted(path.name for path in EXPERIMENTS.glob("q[0-9]_*.py"))


def test_there_is_one_script_per_exercise():
    assert [name[:2] for name in SCRIPTS] == [f"q{n}" for n in range(1, 10)]


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_starts_with_a_docstring_saying_what_it_demonstrates(script):
    docstring = ast.get_docstring(ast.parse((EXPERIMENTS / script).read_text(encoding="utf-8")))
    assert docstring and len(docstring.split()) > 15


@pytest.mark.parametrize("script", SCRIPTS)
def test_help_shows_the_common_options_without_importing_tensorflow(script):
    completed = subprocess.run(
        [sys.executable, "-X", "importtime", str(EXPERIMENTS / script), "--help"],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert completed.stdout.startswith("usage:")
    for option in ("--seed", "--smoke", "--output-dir"):
        assert option in completed.stdout
    assert "(default:" in completed.stdout
    imported = {line.rsplit("|", 1)[-1].strip().split(".")[0]
                for line in completed.stderr.splitlines() if line.startswith("import time:")}
    assert not imported & {"tensorflow", "keras", "tensorflow_datasets"}


@pytest.mark.parametrize(("script", "option"), [
    ("q1_architectures.py", "--units"), ("q2_shapes.py", "--units"),
    ("q3_return_sequences.py", "--units"), ("q4_forecast.py", "--units"),
    ("q5_training_difficulties.py", "--units"), ("q6_lstm_cell.py", "--units"),
    ("q7_conv1d.py", "--units"), ("q8_video.py", "--epochs"),
    ("q9_sketch_classifier.py", "--batch-size")])
def test_a_size_below_one_is_a_usage_error_not_a_traceback(script, option):
    completed = subprocess.run([sys.executable, str(EXPERIMENTS / script), option, "0"],
                               capture_output=True, text=True, timeout=60,
                               stdin=subprocess.DEVNULL)
    assert completed.returncode == 2
    assert f"{option}: must be at least 1, not 0" in completed.stderr
    assert "Traceback" not in completed.stderr
