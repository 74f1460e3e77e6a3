"""Helpers for tests: project paths, the shared real data, and running experiment scripts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"
CONTENT = ROOT / "content"
SHARED = ROOT.parent / "shared"


def shared_path(*parts: str) -> Path:
    """Return a path under ``../shared`` (real data for tests).

    Skips the calling test with the reason when it is missing (a user's clone has no
    ``../shared``), but fails when ``CI`` is set, where it must be present.
    """
    path = SHARED.joinpath(*parts)
    if not path.exists():
        message = f"needs the project's shared data at {path} (not part of a user's clone)"
        if os.environ.get("CI"):
            pytest.fail(message + "; CI must provide it")
        pytest.skip(message)
    return path


def require_tensorflow() -> None:
    """Skip (or fail under ``CI``) when the ``experiments`` extra is not installed."""
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("TensorFlow is missing: CI installs the 'experiments' extra")
        pytest.skip("needs TensorFlow: pip install -e '.[experiments]'")


def run_experiment(script: str, *args: str, output_dir: Path, timeout: float = 240,
                   env: dict[str, str] | None = None) -> tuple[dict, subprocess.CompletedProcess]:
    """Run ``experiments/<script>`` as a real subprocess on the CPU and return its result event.

    Runs ``python -u script --output-dir OUTPUT_DIR ARGS...`` with oneDNN's custom kernels off
    (``TF_ENABLE_ONEDNN_OPTS=0``) so results repeat. Fails the test, showing the tail of the
    output, when the script exits non-zero or emits no result event.
    """
    require_tensorflow()
    full_env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0", "CUDA_VISIBLE_DEVICES": "",
                **(env or {})}
    completed = subprocess.run(
        [sys.executable, "-u", str(EXPERIMENTS / script), "--output-dir", str(output_dir), *args],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, env=full_env,
        cwd=ROOT,
    )
    tail = (completed.stdout[-3000:] + "\n--- stderr ---\n" + completed.stderr[-3000:])
    assert completed.returncode == 0, f"{script} exited {completed.returncode}:\n{tail}"
    events = [json.loads(line) for line in completed.stdout.splitlines()
              if line.startswith("{") and '"event"' in line]
    results = [e for e in events if e.get("event") == "result"]
    assert len(results) == 1, f"{script} emitted {len(results)} result events:\n{tail}"
    assert events[-1]["event"] == "result", "the result event must come last"
    return results[0], completed


def rows_by_first_cell(table: dict) -> dict[str, dict]:
    """The rows of a result event's table as ``{first cell: {column: cell}}``."""
    return {row[0]: dict(zip(table["columns"], row, strict=True)) for row in table["rows"]}
