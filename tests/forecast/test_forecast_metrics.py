"""Scores against values computed by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from hospiflow.errors import ForecastError
from hospiflow.forecast import metrics


def test_mae_and_rmse_by_hand() -> None:
    """MAE and RMSE of errors (1, -2, 0, 3) are 1.5 and sqrt(14/4)."""
    actual = np.array([3.0, 0.0, 5.0, 7.0])
    forecast = np.array([2.0, 2.0, 5.0, 4.0])
    assert metrics.mae(actual, forecast) == pytest.approx(1.5)
    assert metrics.rmse(actual, forecast) == pytest.approx(np.sqrt(14 / 4))


def test_unobserved_hours_are_skipped() -> None:
    """A NaN actual (hour not observed) does not count in any score."""
    actual = np.array([3.0, np.nan, 5.0])
    forecast = np.array([2.0, 100.0, 7.0])
    assert metrics.mae(actual, forecast) == pytest.approx(1.5)


def test_pinball_loss_by_hand() -> None:
    """rho_q(u) = u (q - 1[u<0]): under-forecasts cost q, over-forecasts cost 1 - q."""
    actual = np.array([10.0, 4.0])
    quantiles = np.array([[8.0, 12.0], [6.0, 3.0]])
    levels = [0.1, 0.9]
    # y=10: q0.1 at 8 -> u=2 -> 0.2 ; q0.9 at 12 -> u=-2 -> 2 * 0.1 = 0.2
    # y=4 : q0.1 at 6 -> u=-2 -> 2 * 0.9 = 1.8 ; q0.9 at 3 -> u=1 -> 0.9
    expected = (0.2 + 0.2 + 1.8 + 0.9) / 4
    assert metrics.pinball_loss(actual, quantiles, levels) == pytest.approx(expected)


def test_pinball_at_median_is_half_absolute_error() -> None:
    """At q = 0.5 the pinball loss is half the absolute error."""
    actual = np.array([1.0, 5.0, 9.0])
    median = np.array([[2.0], [5.0], [4.0]])
    assert metrics.pinball_loss(actual, median, [0.5]) == pytest.approx(0.5 * 6 / 3)


def test_pinball_rejects_wrong_shape() -> None:
    """Quantiles with the wrong number of levels are refused, naming the argument."""
    with pytest.raises(ForecastError) as caught:
        metrics.pinball_loss(np.ones(3), np.ones((3, 2)), [0.1, 0.5, 0.9])
    assert caught.value.where == "quantiles"


def test_coverage_counts_bounds_as_inside() -> None:
    """Coverage is the share inside [lower, upper], bounds included."""
    actual = np.array([1.0, 2.0, 3.0, 10.0])
    lower = np.array([1.0, 3.0, 0.0, 0.0])
    upper = np.array([1.0, 4.0, 3.0, 9.0])
    assert metrics.coverage(actual, lower, upper) == pytest.approx(0.5)


def test_seasonal_naive_scale_and_mase() -> None:
    """MASE divides the MAE by the in-sample MAE of y[t] - y[t-m] (Hyndman & Koehler 2006)."""
    train = pd.Series(
        [1.0, 2.0, 3.0, 2.0, 4.0, 3.0], index=pd.date_range("2024-01-01", periods=6, freq="h")
    )
    # m = 2: |3-1|, |2-2|, |4-3|, |3-2| -> mean 1.0 ; with m = 3: |2-1|,|4-2|,|3-3| -> 1.0
    assert metrics.seasonal_naive_scale(train, season_hours=2) == pytest.approx(1.0)
    scale = metrics.seasonal_naive_scale(train, season_hours=3)
    assert scale == pytest.approx(1.0)
    assert metrics.mase(np.array([5.0, 5.0]), np.array([3.0, 6.0]), 2.0) == pytest.approx(0.75)


def test_daily_mape_sums_hours_per_day() -> None:
    """Daily MAPE compares daily totals: +10 % on one day, -20 % on the next -> 15 %."""
    index = pd.date_range("2024-01-01", periods=48, freq="h")
    actual = np.full(48, 5.0)  # 120 per day
    forecast = np.concatenate([np.full(24, 5.5), np.full(24, 4.0)])  # 132 and 96
    assert metrics.daily_mape(index, actual, forecast) == pytest.approx(15.0)
