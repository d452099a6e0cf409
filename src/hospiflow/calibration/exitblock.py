"""Exit block by day: how much longer than usual admitted patients board on each day, and
how many consecutive days such spells last.

Boarding is not independent from one patient to the next: when the wards are full,
every admitted patient of that day (and of the days around it) waits. A twin that
draws each boarding time alone reproduces the mean but not that a department has
weeks of exit block and weeks without, so its replications agree far more than
stretches of the real department do. The daily factors below (a day's mean boarding
/ the overall mean) are resampled by the simulator in circular blocks
(``FlowHospital.plan_boarding_days``) of the length :func:`block_length` chooses.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

MAX_BLOCK_DAYS = 28


def daily_factors(boarding: pd.Series, local_day: pd.Series, mean: float) -> tuple[float, ...]:
    """Each local day's mean boarding / ``mean``, from the first day to the last (days
    without an admission count as ordinary: 1), clipped at 0 and scaled to mean 1."""
    days = local_day.astype(np.int64)
    by_day = boarding.groupby(days.to_numpy()).mean()
    span = pd.RangeIndex(int(days.min()), int(days.max()) + 1)
    factors = (by_day.reindex(span).fillna(mean) / mean).clip(lower=0.0).to_numpy()
    if factors.sum() <= 0:
        return ()
    return tuple(round(float(v), 4) for v in factors / factors.mean())


def block_length(series: tuple[float, ...] | np.ndarray) -> int:
    """Block length (days) for a circular block bootstrap of the series' mean, by the
    automatic rule of Politis & White (2004) with the correction of Patton, Politis &
    White (2009): flat-top lag window, bandwidth from the first run of insignificant
    autocorrelations. At least 1, at most :data:`MAX_BLOCK_DAYS` and the series' length."""
    x = np.asarray(series, dtype=float)
    n = len(x)
    if n < 8:
        return max(1, n)
    x = x - x.mean()
    autocovariance = np.array([np.dot(x[: n - k], x[k:]) / n for k in range(n)])
    if autocovariance[0] <= 0:
        return 1
    rho = autocovariance / autocovariance[0]
    runs = max(5, math.ceil(math.sqrt(math.log10(n))))
    threshold = 2.0 * math.sqrt(math.log10(n) / n)
    m = next(
        (m for m in range(n - runs) if np.all(np.abs(rho[m + 1 : m + 1 + runs]) < threshold)),
        n // 2,
    )
    big_m = max(1, min(2 * m, n - 1))
    k = np.arange(-big_m, big_m + 1)
    window = np.where(np.abs(k) / big_m <= 0.5, 1.0, 2.0 * (1.0 - np.abs(k) / big_m))
    lagged = autocovariance[np.abs(k)]
    g = float(np.sum(window * np.abs(k) * lagged))
    spectrum = float(np.sum(window * lagged))
    if spectrum <= 0 or g == 0:
        return 1
    b = (2.0 * g**2 / ((4.0 / 3.0) * spectrum**2)) ** (1 / 3) * n ** (1 / 3)
    return int(min(max(round(b), 1), MAX_BLOCK_DAYS, n))
