"""Forecast scores, each with the definition it follows.

All functions skip pairs whose actual value is NaN (hour not observed).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from hospiflow.errors import ForecastError

__all__ = [
    "coverage",
    "daily_mape",
    "mae",
    "mase",
    "pinball_loss",
    "rmse",
    "seasonal_naive_scale",
]


def _pair(actual: np.ndarray, forecast: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    actual = np.asarray(actual, dtype=float)
    forecast = np.asarray(forecast, dtype=float)
    if actual.shape[0] != forecast.shape[0]:
        raise ForecastError(
            f"{actual.shape[0]} actual values but {forecast.shape[0]} forecasts", where="metrics"
        )
    observed = np.isfinite(actual)
    if not observed.any():
        raise ForecastError("no observed value to score against", where="metrics")
    return actual[observed], forecast[observed]


def mae(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute error."""
    y, f = _pair(actual, forecast)
    return float(np.mean(np.abs(y - f)))


def rmse(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Root mean squared error."""
    y, f = _pair(actual, forecast)
    return float(np.sqrt(np.mean((y - f) ** 2)))


def seasonal_naive_scale(train: pd.Series, season_hours: int = 168) -> float:
    """In-sample MAE of the seasonal naive forecast ``y[t - m]`` on ``train``.

    The denominator of the seasonal MASE (Hyndman & Koehler 2006, "Another look at
    measures of forecast accuracy", IJF 22(4), eq. for seasonal data with ``m = 168``:
    same hour last week). ``train`` is an hourly series on its full grid (NaN = not
    observed); pairs with a missing side are skipped.
    """
    values = train.to_numpy(dtype=float)
    if len(values) <= season_hours:
        raise ForecastError(
            f"MASE needs more than {season_hours} training hours, got {len(values)}",
            where="train",
        )
    diff = np.abs(values[season_hours:] - values[:-season_hours])
    diff = diff[np.isfinite(diff)]
    if len(diff) == 0 or diff.mean() == 0:
        raise ForecastError("the seasonal naive scale is zero or undefined", where="train")
    return float(diff.mean())


def mase(actual: np.ndarray, forecast: np.ndarray, scale: float) -> float:
    """Mean absolute scaled error: ``MAE / scale`` (Hyndman & Koehler 2006).

    Below 1 means better out of sample than same-hour-last-week was in sample.
    """
    return mae(actual, forecast) / scale


def pinball_loss(actual: np.ndarray, quantiles: np.ndarray, levels: Sequence[float]) -> float:
    """Mean pinball (quantile) loss over all hours and quantile levels.

    For level ``q`` and quantile forecast ``f``, ``rho_q(y - f)`` with
    ``rho_q(u) = u (q - 1[u < 0])`` (Koenker & Bassett 1978, "Regression Quantiles",
    Econometrica 46(1)); a proper scoring rule for quantiles, whose average over a
    dense grid of levels approximates the CRPS up to a factor 2 (Gneiting & Raftery
    2007, "Strictly proper scoring rules, prediction, and estimation", JASA 102).
    ``quantiles`` has shape ``(n, len(levels))``.
    """
    y, f = _pair(actual, quantiles)
    q = np.asarray(levels, dtype=float)
    if f.ndim != 2 or f.shape[1] != len(q):
        raise ForecastError(
            f"quantiles must have shape (n, {len(q)}), got {f.shape}", where="quantiles"
        )
    u = y[:, None] - f
    return float(np.mean(u * (q[None, :] - (u < 0))))


def coverage(actual: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> float:
    """Share of actual values inside ``[lower, upper]`` (bounds included)."""
    actual = np.asarray(actual, dtype=float)
    bounds = np.column_stack([np.asarray(lower, float), np.asarray(upper, float)])
    y, b = _pair(actual, bounds)
    return float(np.mean((y >= b[:, 0]) & (y <= b[:, 1])))


def daily_mape(index: pd.DatetimeIndex, actual: np.ndarray, forecast: np.ndarray) -> float:
    """Mean absolute percentage error of daily totals, in percent.

    Hourly forecasts and actuals are summed per calendar day over the observed hours
    only; days whose actual total is zero are skipped (the percentage is undefined).
    """
    actual = np.asarray(actual, dtype=float)
    forecast = np.asarray(forecast, dtype=float)
    observed = np.isfinite(actual)
    days = pd.DatetimeIndex(index)[observed].normalize()
    totals = pd.DataFrame({"y": actual[observed], "f": forecast[observed]}).groupby(days.to_numpy())
    sums = totals.sum()
    sums = sums[sums["y"] > 0]
    if sums.empty:
        raise ForecastError("no day with arrivals to score against", where="metrics")
    return float(100 * np.mean(np.abs(sums["f"] - sums["y"]) / sums["y"]))
