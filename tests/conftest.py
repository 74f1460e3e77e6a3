"""Fixtures for every test: the developer's own config, data and database stay out of it."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def isolated_user_dirs(tmp_path_factory, monkeypatch):
    """Keep the developer's own database, config and data out of every test."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(var, str(home / var.lower()))
    for var in ("STUDYAPP_DB", "STUDYAPP_CONTENT", "VISUAL", "EDITOR"):
        monkeypatch.delenv(var, raising=False)
    return home
