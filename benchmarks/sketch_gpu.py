"""Benchmark: Q9's sketch classifier at Quick, Draw! scale (345 classes) on an NVIDIA GPU.

Builds a folder of 345 stroke-3 ``.npz`` files: the three real sketch-rnn files of
``../shared/data/sketchrnn`` plus 342 classes of synthetic shapes (``sketches.synthetic_sketches``),
then trains ``experiments/q9_sketch_classifier.py`` on it (mixed precision, tf.distribute auto)
and prints sketches/s, accuracy and the length-only baseline. It should fit in a few minutes on
one GPU. ``--tiny`` runs a 6-class, 1-epoch version on the CPU to check the plumbing.
Usage: ``python benchmarks/sketch_gpu.py [--tiny] [--per-class N] [--epochs N]``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from sketch_cpu import SHARED, print_report, run_classifier

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "experiments"))

from q9_sketch_classifier import write_npz  # noqa: E402

import sketches  # noqa: E402

N_CLASSES = 345


def build_folder(folder: Path, n_classes: int, per_class: int, seed: int) -> None:
    """Link the shared files into ``folder`` and add synthetic classes up to ``n_classes``."""
    shared = sorted(SHARED.glob("*.npz")) if SHARED.is_dir() else []
    for path in shared:
        (folder / path.name).symlink_to(path)
    n_valid = max(per_class // 10, 1)
    rng = np.random.default_rng(seed)
    synthetic = sketches.synthetic_sketches(n_classes - len(shared), per_class + 2 * n_valid, rng)
    for k, shapes in enumerate(synthetic):
        write_npz(folder / f"synthetic_{k:03d}.npz", {
            "train": shapes[:per_class], "valid": shapes[per_class:per_class + n_valid],
            "test": shapes[per_class + n_valid:]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    parser.add_argument("--tiny", action="store_true", help="6 classes, 1 epoch, on the CPU")
    parser.add_argument("--per-class", type=int, default=300,
                        help="synthetic training sketches per class (valid/test: a tenth each)")
    parser.add_argument("--epochs", type=int, default=5, help="training epochs")
    parser.add_argument("--batch-size", type=int, default=512, help="global batch size")
    args = parser.parse_args()
    n_classes = 6 if args.tiny else N_CLASSES
    per_class = 30 if args.tiny else args.per_class
    script_args = ["--epochs", "1" if args.tiny else str(args.epochs),
                   "--batch-size", str(args.batch_size)]
    if args.tiny:
        script_args += ["--max-per-class", "100"]
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "sketches"
        data_dir.mkdir()
        build_folder(data_dir, n_classes, per_class, seed=0)
        result, seconds = run_classifier(
            "--data-dir", str(data_dir), "--output-dir", str(Path(tmp) / "run"), *script_args,
            env={"CUDA_VISIBLE_DEVICES": ""} if args.tiny else None)
    print_report(result, seconds)


if __name__ == "__main__":
    main()
