"""Q4 over several seeds: the best model's 7-day test MAE as a ratio to persistence.

Runs ``experiments/q4_forecast.py`` once per seed (a real subprocess, CPU, oneDNN custom kernels
off so runs repeat), prints each seed's figures and the median ``best_vs_persistence``. The
card's target: median at most 0.85 on the default Seattle data.

    python benchmarks/forecast_seeds.py                  # seeds 0 1 2, full runs
    python benchmarks/forecast_seeds.py --seeds 0 1 2 3 4 -- --dataset ridership --csv FILE.csv

Arguments after ``--`` are passed to the script.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "q4_forecast.py"


def run_seed(seed: int, extra: list[str]) -> tuple[dict, str]:
    """Run the script for one seed; return its result event's metrics and the best model."""
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0", "CUDA_VISIBLE_DEVICES": ""}
    with tempfile.TemporaryDirectory() as output_dir:
        completed = subprocess.run(
            [sys.executable, "-u", str(SCRIPT), "--seed", str(seed), "--output-dir", output_dir,
             *extra], check=False, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            env=env)
    if completed.returncode != 0:
        raise RuntimeError(f"seed {seed} exited {completed.returncode}:\n"
                           f"{completed.stderr[-2000:]}")
    events = [json.loads(line) for line in completed.stdout.splitlines()
              if line.startswith('{"event":"result"')]
    if len(events) != 1:
        raise RuntimeError(f"seed {seed}: expected one result event, got {len(events)}")
    details = {row[0]: row[1] for row in events[0]["tables"][-1]["rows"]}
    return events[0]["metrics"], details["best_model"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2],
                        help="seeds to run (default: 0 1 2)")
    parser.add_argument("extra", nargs="*", help="arguments for q4_forecast.py, after --")
    args = parser.parse_args()

    ratios = []
    print(f"{'seed':>4} {'persistence':>11} {'seq2vec':>8} {'seq2seq':>8} {'best':>8} "
          f"{'ratio':>6} {'seconds':>7}")
    for seed in args.seeds:
        start = time.perf_counter()
        metrics, best = run_seed(seed, args.extra)
        ratios.append(metrics["best_vs_persistence"])
        print(f"{seed:>4} {metrics['persistence_mae']:>11.3f} {metrics['seq2vec_mae']:>8.3f} "
              f"{metrics['seq2seq_mae']:>8.3f} {best:>8} {ratios[-1]:>6.3f} "
              f"{time.perf_counter() - start:>7.0f}", flush=True)
    print(f"median best_vs_persistence over {len(ratios)} seeds: {statistics.median(ratios):.3f} "
          "(target <= 0.85)")


if __name__ == "__main__":
    main()
