"""Helpers shared by the forecasting tests: synthetic Poisson series, the UIHC file path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[2]
UIHC_CSV = REPO_ROOT.parent / "shared" / "ed-data" / "uihc-iowa" / "uihc_ed_arrivals.csv"


def weekly_profile() -> np.ndarray:
    """A known hour-of-week rate: a daily cycle (low at night), busier Mondays, calmer Sundays."""
    hour = np.arange(24)
    daily = 4.0 + 3.0 * np.sin((hour - 8) / 24 * 2 * np.pi).clip(-0.8) + (hour >= 10) * 1.5
    weekday = np.array([1.25, 1.05, 1.0, 1.0, 1.05, 0.9, 0.8])
    return (weekday[:, None] * daily[None, :]).ravel()


def synthetic_series(weeks: int, seed: int = 0, start: str = "2023-01-02") -> pd.Series:
    """Poisson counts around :func:`weekly_profile`, starting on a Monday at 00:00."""
    index = pd.date_range(start, periods=weeks * 168, freq="h")
    rate = np.tile(weekly_profile(), weeks)
    counts = np.random.default_rng(seed).poisson(rate).astype(float)
    return pd.Series(counts, index=index, name="arrivals")


def poisson_mae_floor(rate: np.ndarray) -> float:
    """Expected MAE of the true mean against Poisson counts: mean of E|Y - mu|."""
    from scipy import stats

    k = np.arange(80)[None, :]
    mu = np.asarray(rate)[:, None]
    return float(np.mean(np.sum(stats.poisson.pmf(k, mu) * np.abs(k - mu), axis=1)))
