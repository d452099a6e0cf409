"""The fitted arrival rate of months the history does not cover."""

from __future__ import annotations

import numpy as np

from hospiflow.calibration.arrivals import RECENT_DAYS, fit_arrivals
from hospiflow.store.timeconv import MS_PER_HOUR


def test_months_not_seen_keep_the_latest_level_through_the_scenario_rescaling():
    """10 arrivals an hour in January, 7 in February: March onwards (not seen) get the
    level of the last 28 days, 7 an hour, once the scenario rescales the monthly
    profile to mean 1 (``scenario_rate``); January and February keep theirs."""
    rng = np.random.default_rng(12)
    start = np.datetime64("2025-01-01T00:00", "ms").astype(np.int64)
    hours = 59 * 24
    rate = np.where(np.arange(hours) < 31 * 24, 10.0, 7.0)
    counts = rng.poisson(rate)
    stamps = np.repeat(start + np.arange(hours) * MS_PER_HOUR, counts)
    stamps = stamps + rng.integers(0, MS_PER_HOUR, len(stamps))
    fit = fit_arrivals(stamps, int(start), int(start + hours * MS_PER_HOUR))
    assert fit.months_seen == (1, 2)
    monthly = np.asarray(fit.monthly)
    simulated = fit.scenario_rate * monthly / monthly.mean()  # what the scenario runs
    print(f"rate by month {np.round(simulated, 2).tolist()}, recent {fit.recent}")
    assert abs(simulated[0] - 10) < 0.3 and abs(simulated[1] - 7) < 0.3
    assert np.all(np.abs(simulated[2:] - 7) < 0.3)
    assert RECENT_DAYS == 28 and abs(fit.recent * fit.rate_per_hour - 7) < 0.3
