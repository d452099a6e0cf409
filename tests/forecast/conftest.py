"""Fixtures for the forecasting tests."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from forecast_helpers import UIHC_CSV


@pytest.fixture(scope="session")
def uihc_csv() -> Path:
    """The UIHC arrivals file beside the repository; skipped locally, failing in CI, if absent."""
    if not UIHC_CSV.is_file():
        reason = (
            "UIHC data not found at <repo>/../shared/ed-data/uihc-iowa/uihc_ed_arrivals.csv "
            "(real data is never copied into the repository)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(reason + "; CI=true requires it")
        pytest.skip(reason)
    return UIHC_CSV
