"""Rolling-origin backtest: its protocol, its output, no look-ahead, the UIHC targets."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from forecast_helpers import synthetic_series

from hospiflow.errors import ForecastError
from hospiflow.forecast.backtest import backtest
from hospiflow.forecast.models import GBMPoisson, model_ladder
from hospiflow.forecast.series import load_series_csv

METRICS = {"mae", "rmse", "mase", "pinball", "coverage90", "daily_mape"}


def small_ladder():
    """The full ladder with a lighter GBM so the synthetic runs stay fast."""
    models = model_ladder(names=["seasonal_naive", "how_mean", "poisson_glm"])
    return [*models, GBMPoisson(max_iter=30)]


@pytest.fixture(scope="module")
def series() -> pd.Series:
    return synthetic_series(20, seed=5)


@pytest.fixture(scope="module")
def result(series: pd.Series):
    return backtest(series, small_ladder(), test_days=14, progress=False)


def test_result_json_has_the_documented_shape(result, tmp_path: Path) -> None:
    """JSON is exactly {test_start, test_end, best, models: {name: six scores}}."""
    path = tmp_path / "scores.json"
    result.to_json(path)
    data = json.loads(path.read_text())
    assert set(data) == {"test_start", "test_end", "best", "models"}
    assert set(data["models"]) == {"seasonal_naive", "how_mean", "poisson_glm", "gbm_poisson"}
    assert all(set(scores) == METRICS for scores in data["models"].values())
    assert data["best"] in data["models"]
    assert data["test_start"] == "2023-05-08T00:00:00"
    assert data["test_end"] == "2023-05-21T23:00:00"


def test_best_has_the_lowest_pinball_and_calendar_models_beat_naive(result) -> None:
    """``best`` minimises mean pinball loss; on Poisson noise the GLM beats seasonal naive."""
    pinballs = {name: scores.pinball for name, scores in result.models.items()}
    assert result.best == min(pinballs, key=pinballs.get)
    assert result.models["poisson_glm"].mase < result.models["seasonal_naive"].mase


def test_forecasts_cover_every_test_hour(result) -> None:
    """Every model has a finite mean forecast for each of the 14 x 24 test hours."""
    assert len(result.forecasts) == 14 * 24
    assert np.isfinite(result.forecasts.drop(columns="actual").to_numpy()).all()


def test_no_look_ahead(series: pd.Series) -> None:
    """Changing counts from a day on leaves every forecast for that day and before unchanged."""
    first = backtest(series, small_ladder(), test_days=10, refit_days=3, progress=False)
    cut = first.forecasts.index[5 * 24]  # 00:00 of the 6th test day, mid refit block
    perturbed = series.copy()
    future = perturbed.index >= cut
    perturbed[future] = perturbed[future] * 3 + 7
    second = backtest(perturbed, small_ladder(), test_days=10, refit_days=3, progress=False)
    before = first.forecasts.index < cut + pd.Timedelta(days=1)
    columns = [name for name in first.models]
    pd.testing.assert_frame_equal(
        first.forecasts.loc[before, columns], second.forecasts.loc[before, columns]
    )
    # and the perturbation does show up later, so the check can fail
    assert not first.forecasts.loc[~before, columns].equals(second.forecasts.loc[~before, columns])


def test_missing_hours_are_skipped(series: pd.Series) -> None:
    """Unobserved hours (a gap) in history and test neither fail nor count as zeros."""
    holed = series.drop(series.index[-100:-80]).drop(series.index[1000:1100])
    result = backtest(
        holed, model_ladder(names=["how_mean", "poisson_glm"]), test_days=7, progress=False
    )
    assert result.forecasts["actual"].isna().sum() == 20
    assert np.isfinite(result.models["poisson_glm"].mae)


def test_too_little_history_is_refused() -> None:
    """A test period leaving under four weeks of history raises ForecastError."""
    with pytest.raises(ForecastError, match="4 weeks of history"):
        backtest(synthetic_series(5), test_days=14, progress=False)


@pytest.mark.slow
def test_uihc_last_year_meets_the_targets(uihc_csv: Path) -> None:
    """On UIHC's last 365 days the best model reaches issue 6's MAE, pinball, coverage, MAPE."""
    series = load_series_csv(uihc_csv, "Date", "Arrivals", hour_column="Hour")
    result = backtest(series, country="US", subdivision="IA", test_days=365, progress=False)
    best = result.models[result.best]
    assert result.test_start == pd.Timestamp("2017-04-01 00:00")
    assert result.test_end == pd.Timestamp("2018-03-31 23:00")
    assert best.mae <= 2.10
    assert best.pinball <= 0.77
    assert 0.88 <= best.coverage90 <= 0.93
    assert best.daily_mape <= 8.0
    assert best.mase < result.models["seasonal_naive"].mase
