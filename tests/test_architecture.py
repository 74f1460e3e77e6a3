"""The house rules, checked: the headless core never loads Textual, nothing in studyapp/ loads
TensorFlow (experiments run in subprocesses), and the screens reach the database only through
the collection."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from support import ROOT

CORE = ["studyapp.cards", "studyapp.store", "studyapp.scheduler", "studyapp.collection",
        "studyapp.runner", "studyapp.cli"]
UI = ["studyapp.app", "studyapp.screens.deck", "studyapp.screens.review",
      "studyapp.screens.stats", "studyapp.screens.experiment"]


def loaded_after_importing(modules: list[str]) -> set[str]:
    """Top-level packages in ``sys.modules`` after importing ``modules`` in a fresh process."""
    code = ("import sys\n" + "".join(f"import {m}\n" for m in modules)
            + "print('\\n'.join(sorted({name.split('.')[0] for name in sys.modules})))")
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                               cwd=ROOT, timeout=120, check=True)
    return set(completed.stdout.split())


def test_the_headless_core_loads_neither_textual_nor_tensorflow():
    assert not loaded_after_importing(CORE) & {"textual", "tensorflow", "keras"}


def test_the_app_does_not_load_tensorflow():
    assert not loaded_after_importing(UI) & {"tensorflow", "keras", "tensorflow_datasets"}


@pytest.mark.parametrize("path", sorted((ROOT / "studyapp").glob("screens/*.py"))
                         + sorted((ROOT / "studyapp").glob("widgets/*.py"))
                         + [ROOT / "studyapp" / "app.py"], ids=lambda p: p.name)
def test_screens_reach_the_database_only_through_the_collection(path):
    source = path.read_text(encoding="utf-8")
    assert not re.search(r"\.store\.|\.execute\(|\.query\(|import sqlite", source)
