"""Every path the app uses, resolved in one place.

The bundled deck (``content/``) and the experiment scripts (``experiments/``) sit beside the
package in the checkout, which the README installs in editable mode. User data (database,
backups, experiment run logs and artefacts) lives in the platform's user data dir and settings
in its user config dir (``platformdirs``). ``--db`` / ``STUDYAPP_DB`` and ``--content`` /
``STUDYAPP_CONTENT`` override the database and the deck; what belongs to a database sits beside
it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from platformdirs import user_cache_path, user_config_path, user_data_path

APP_NAME = "studyapp"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def content_dir(override: str | os.PathLike[str] | None = None) -> Path:
    """The deck folder: ``override``, else ``$STUDYAPP_CONTENT``, else the bundled ``content/``."""
    chosen = override or os.environ.get("STUDYAPP_CONTENT")
    return Path(chosen).expanduser().resolve() if chosen else PROJECT_ROOT / "content"


def experiments_dir() -> Path:
    """The folder of experiment scripts; a card's script must resolve inside it."""
    return PROJECT_ROOT / "experiments"


def data_dir() -> Path:
    """The user data dir, e.g. ``~/.local/share/studyapp`` on Linux (not created here)."""
    return user_data_path(APP_NAME, appauthor=False)


def database_path(override: str | os.PathLike[str] | None = None) -> Path:
    """The review database: ``override``, else ``$STUDYAPP_DB``, else ``<data dir>/studyapp.db``."""
    chosen = override or os.environ.get("STUDYAPP_DB")
    return Path(chosen).expanduser() if chosen else data_dir() / "studyapp.db"


def backups_dir(database: Path) -> Path:
    """Where automatic and manual backups of ``database`` go: a ``backups/`` folder beside it."""
    return database.parent / "backups"


def runs_dir(database: Path) -> Path:
    """Where experiment runs recorded in ``database`` keep their logs: a ``runs/`` folder
    beside it, like its backups."""
    return database.parent / "runs"


def experiment_output_dir(database: Path, experiment: str) -> Path:
    """Where an experiment run from studyapp with ``database`` saves its artefacts (models,
    prepared datasets, plots): ``<folder of database>/experiment-outputs/<experiment>``, e.g.
    ``experiment-outputs/q9_sketch_classifier`` for the script ``q9_sketch_classifier.py``. Not
    ``experiments``: a database kept in the checkout's root would mix outputs with the scripts.

    With the default database this is the scripts' own default (``protocol.default_output_dir``),
    so runs from the app and from the shell share their artefacts; ``--db`` moves them with the
    database, like its runs and backups.
    """
    return database.parent / "experiment-outputs" / experiment


def config_path() -> Path:
    """The scheduler settings file, e.g. ``~/.config/studyapp/config.toml`` on Linux."""
    return user_config_path(APP_NAME, appauthor=False) / "config.toml"


def deck_cache_path(content: Path) -> Path:
    """The parse cache of the deck in ``content``: ``<user cache dir>/decks/<digest>.json``."""
    digest = hashlib.sha256(str(Path(content).resolve()).encode()).hexdigest()[:16]
    return user_cache_path(APP_NAME, appauthor=False) / "decks" / f"{digest}.json"
