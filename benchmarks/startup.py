"""Start to first paint, whole process: studyapp against a minimal Textual app with a 9-row table.

Each app runs as its own ``python`` process on a pseudo-terminal (80x24) and exits right after
its first frame is written (``call_after_refresh(exit)`` in a subclass's ``on_mount``), so the
time covers interpreter start, imports, the first paint and shutdown. Runs alternate between the
two apps; the medians and their ratio are printed. The target is a ratio within 1.5.

    python benchmarks/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import select
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FLOOR = """
from textual.app import App
from textual.widgets import DataTable, Footer


class Floor(App):
    def compose(self):
        yield DataTable()
        yield Footer()

    def on_mount(self):
        table = self.query_one(DataTable)
        table.add_columns("Card", "State", "Due")
        for index in range(9):
            table.add_row(f"card {index}", "New", "new")
        self.call_after_refresh(self.exit)


Floor().run()
"""

STUDYAPP = """
import sys
from pathlib import Path

from studyapp.app import StudyApp


class FirstPaint(StudyApp):
    def on_mount(self):  # StudyApp.on_mount runs too: Textual calls both
        self.call_after_refresh(self.exit)


FirstPaint(Path(sys.argv[1]), Path(sys.argv[2])).run()
"""


def run_on_pty(argv: list[str], columns: int = 80, lines: int = 24) -> float:
    """Run ``argv`` with a pseudo-terminal as stdin/stdout/stderr; wall seconds to its exit."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", lines, columns, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color"}
    start = time.perf_counter()
    process = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                               cwd=ROOT, start_new_session=True)
    os.close(slave)
    output = bytearray()
    while True:  # drain the terminal so the app never blocks on a full buffer
        ready, _, _ = select.select([master], [], [], 0.05)
        if ready:
            try:
                chunk = os.read(master, 65536)
                if not chunk:
                    break
                output += chunk[-4000:]
            except OSError:
                break
        elif process.poll() is not None:
            break
    process.wait()
    elapsed = time.perf_counter() - start
    os.close(master)
    if process.returncode != 0:
        tail = output[-2000:].decode(errors="replace")
        raise RuntimeError(f"{argv[:2]} exited {process.returncode}:\n{tail}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=7, help="runs of each app (default: 7)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        content = Path(shutil.copytree(ROOT / "content", Path(tmp) / "content"))
        db = Path(tmp) / "reviews.db"
        floor_argv = [sys.executable, "-c", FLOOR]
        study_argv = [sys.executable, "-c", STUDYAPP, str(content), str(db)]
        run_on_pty(study_argv)  # warm the file cache and create the database
        floor, study = [], []
        for _ in range(args.runs):
            floor.append(run_on_pty(floor_argv))
            study.append(run_on_pty(study_argv))
    floor_s, study_s = statistics.median(floor), statistics.median(study)
    print(f"minimal Textual app, 9-row table: median {floor_s * 1000:.0f} ms "
          f"(min {min(floor) * 1000:.0f})")
    print(f"studyapp deck screen:             median {study_s * 1000:.0f} ms "
          f"(min {min(study) * 1000:.0f})")
    print(f"ratio: {study_s / floor_s:.2f} (target <= 1.5)")


if __name__ == "__main__":
    main()
