"""Benchmark: Q9's sketch classifier on all the shared sketch-rnn data, on the CPU.

Trains ``experiments/q9_sketch_classifier.py`` on the three real sketch-rnn files in
``../shared/data/sketchrnn`` (aaron_sheep, omniglot, short_kanji: 47,400 training sketches) and
prints wall-clock time, test accuracy, per-class recall, the length-only baseline and training
throughput. Targets: >= 0.99 top-1, >= 0.97 recall on every class, in under 5 minutes on a
2-core CPU. Usage: ``python benchmarks/sketch_cpu.py [extra script options]``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data" / "sketchrnn"


def run_classifier(*args: str, env: dict[str, str] | None = None) -> tuple[dict, float]:
    """Run the Q9 script with ``args``; return its result event's metrics/tables and seconds."""
    start = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-u", str(ROOT / "experiments" / "q9_sketch_classifier.py"), *args],
        capture_output=True, text=True, env={**os.environ, **(env or {})})
    seconds = time.perf_counter() - start
    if completed.returncode != 0:
        sys.exit(f"q9_sketch_classifier.py failed:\n{completed.stdout[-3000:]}\n"
                 f"{completed.stderr[-3000:]}")
    results = [json.loads(line) for line in completed.stdout.splitlines()
               if line.startswith('{"event":"result"')]
    return results[-1], seconds


def print_report(result: dict, seconds: float) -> None:
    """Print the headline figures and the per-class table of a result event."""
    metrics = result["metrics"]
    print(f"wall clock: {seconds:.0f} s (training {metrics['train_seconds']:.0f} s)")
    for key in ("test_accuracy", "test_top3_accuracy", "min_class_recall",
                "length_baseline_accuracy", "train_sketches_per_second", "train_sketches",
                "classes"):
        print(f"{key}: {metrics[key]}")
    for table in result["tables"]:
        print(table["title"])
        print("  " + " | ".join(table["columns"]))
        for row in table["rows"]:
            print("  " + " | ".join(f"{c:.4f}" if isinstance(c, float) else str(c) for c in row))


def main() -> None:
    if not SHARED.is_dir():
        sys.exit(f"needs the shared sketch-rnn files in {SHARED}")
    with tempfile.TemporaryDirectory() as output_dir:
        result, seconds = run_classifier("--data-dir", str(SHARED), "--output-dir", output_dir,
                                         *sys.argv[1:], env={"CUDA_VISIBLE_DEVICES": ""})
    print_report(result, seconds)
    metrics = result["metrics"]
    print("targets met:", seconds < 300 and metrics["test_accuracy"] >= 0.99
          and metrics["min_class_recall"] >= 0.97)


if __name__ == "__main__":
    main()
