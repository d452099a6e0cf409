"""``hospiflow forecast backtest`` on a plain CSV of hourly counts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from forecast_helpers import synthetic_series

from hospiflow.cli.forecast import group
from hospiflow.errors import ForecastError


@pytest.fixture()
def counts_csv(tmp_path: Path) -> Path:
    series = synthetic_series(8, seed=7)
    path = tmp_path / "arrivals.csv"
    frame = series.rename("arrivals").rename_axis("hour").reset_index()
    frame["hour"] = frame["hour"].dt.strftime("%Y-%m-%d %H:%M")
    frame.to_csv(path, index=False)
    return path


def test_backtest_prints_a_table_and_writes_json(counts_csv: Path, tmp_path: Path) -> None:
    """The command prints one row per model, marks the best, and writes the JSON scores."""
    out = tmp_path / "scores.json"
    result = CliRunner().invoke(
        group,
        [
            "backtest",
            "--series",
            str(counts_csv),
            "--time-column",
            "hour",
            "--count-column",
            "arrivals",
            "--test-days",
            "7",
            "--json",
            str(out),
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    for name in ("seasonal_naive", "how_mean", "poisson_glm", "gbm_poisson"):
        assert name in result.output
    data = json.loads(out.read_text())
    assert f"{data['best']} *" in result.output
    assert set(data["models"]) == {"seasonal_naive", "how_mean", "poisson_glm", "gbm_poisson"}


def test_bad_column_is_a_forecast_error(counts_csv: Path) -> None:
    """A wrong column name raises ForecastError (printed without traceback by the top CLI)."""
    result = CliRunner().invoke(
        group,
        [
            "backtest",
            "--series",
            str(counts_csv),
            "--time-column",
            "when",
            "--count-column",
            "arrivals",
        ],
    )
    assert isinstance(result.exception, ForecastError)
    assert "when" in str(result.exception)
