"""Fixtures for every test: a clean environment and a scratch working folder."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """No HOSPIFLOW_* setting leaks between tests, and nothing is written into the repository."""
    for name in list(os.environ):
        if name.startswith("HOSPIFLOW_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path_factory.mktemp("cwd"))
