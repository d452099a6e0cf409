"""Distributions: arrivals follow the profiles, the pathology mix and the treatment times.

One long run (4 years at 50 patients/hour, ≈ 1.75 million patients, in the
default hospital's Europe/Paris time zone with its daily, weekly, monthly and
pathology seasonality) gives every cell enough patients for 2 % checks to
sit at ≥ 2.5 standard errors. Doctors are plentiful and on duty around the
clock: queues do not matter here. Targets are computed independently of the
simulator's calendar, from the scenario's profiles and ``zoneinfo`` (pandas),
so daylight-saving days (23 and 25 local hours) are counted as they are.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from hospiflow.simulation.engine import Engine, SimulationResult
from hospiflow.simulation.scenario import Scenario, Shift, plain_scenario

RATE = 50.0
YEARS = 4


@pytest.fixture(scope="module")
def scenario() -> Scenario:
    """The default hospital's profiles and seasonality, 4 years, ample 24/7 doctors."""
    base = plain_scenario()
    shifts = tuple(
        Shift(s, "00:00", "00:00", 4 * n) for s, n in base.doctors_per_specialty().items()
    )
    return base.replace(
        arrival_rate_per_hour=RATE, days=365.0 * YEARS, warmup_days=0.0, shifts=shifts
    )


@pytest.fixture(scope="module")
def result(scenario: Scenario) -> SimulationResult:
    """The long run (seed 7)."""
    return Engine(scenario).run()


def _normalised(profile: tuple[float, ...]) -> np.ndarray:
    values = np.asarray(profile, dtype=float)
    return values / values.mean()


@pytest.fixture(scope="module")
def reported_hours(scenario: Scenario) -> pd.DataFrame:
    """Each reported hour's local hour, weekday and month, and its expected arrivals."""
    utc = pd.date_range(
        pd.Timestamp(scenario.start_local).tz_convert("UTC"),
        periods=int(scenario.days * 24),
        freq="h",
    )
    local = utc.tz_convert(scenario.timezone)
    expected = (
        scenario.arrival_rate_per_hour
        * _normalised(scenario.hourly_profile)[local.hour]
        * _normalised(scenario.weekday_profile)[local.day_of_week]
        * _normalised(scenario.monthly_profile)[local.month - 1]
    )
    return pd.DataFrame(
        {
            "hour": local.hour,
            "weekday": local.day_of_week,
            "month": local.month,
            "expected": expected,
        }
    )


@pytest.fixture(scope="module")
def arrivals_local(scenario: Scenario, result: SimulationResult) -> pd.DatetimeIndex:
    """Every reported arrival as a local timestamp."""
    start = pd.Timestamp(scenario.start_local)
    return (start + pd.to_timedelta(result.arrival, unit="min")).tz_convert(scenario.timezone)


def _relative_errors(observed: np.ndarray, expected: np.ndarray) -> np.ndarray:
    return observed / expected - 1.0


def test_the_run_is_long_enough_and_crosses_daylight_saving(reported_hours, result):
    """The run sees ≥ 1.5 M patients and 23- and 25-hour local days (DST really happens)."""
    assert result.n_patients > 1_500_000
    local_days = pd.date_range(
        pd.Timestamp(result.run.start_utc), periods=len(reported_hours), freq="h"
    ).tz_convert(result.run.timezone)
    hours_per_day = pd.Series(1, index=local_days.normalize()).groupby(level=0).size()
    assert {23, 25} <= set(hours_per_day.iloc[1:-1].tolist())


def test_total_arrivals_match_the_mean_rate(scenario, result, reported_hours):
    """All arrivals together are within 0.5 % of λ × hours (profiles average to 1)."""
    expected = reported_hours["expected"].sum()
    assert result.n_patients == pytest.approx(expected, rel=0.005)
    assert expected == pytest.approx(RATE * 24 * scenario.days, rel=0.002)


@pytest.mark.slow
def test_arrivals_per_local_hour_of_day_follow_the_hourly_profile(reported_hours, arrivals_local):
    """Arrivals in each local hour of the day are within 2 % of λ × hourly profile."""
    observed = np.bincount(arrivals_local.hour, minlength=24)
    expected = reported_hours.groupby("hour")["expected"].sum().to_numpy()
    errors = _relative_errors(observed, expected)
    assert np.abs(errors).max() < 0.02, np.round(errors, 4)


@pytest.mark.slow
def test_arrivals_per_weekday_follow_the_weekday_profile(reported_hours, arrivals_local):
    """Arrivals on each weekday are within 2 % of λ × weekday profile."""
    observed = np.bincount(arrivals_local.day_of_week, minlength=7)
    expected = reported_hours.groupby("weekday")["expected"].sum().to_numpy()
    errors = _relative_errors(observed, expected)
    assert np.abs(errors).max() < 0.02, np.round(errors, 4)


@pytest.mark.slow
def test_arrivals_per_month_follow_the_monthly_profile(reported_hours, arrivals_local):
    """Arrivals in each calendar month are within 2 % of λ × monthly profile × its hours."""
    observed = np.bincount(arrivals_local.month - 1, minlength=12)
    expected = reported_hours.groupby("month")["expected"].sum().to_numpy()
    errors = _relative_errors(observed, expected)
    assert np.abs(errors).max() < 0.02, np.round(errors, 4)


@pytest.mark.slow
def test_pathology_mix_passes_a_chi_square_test(result, arrivals_local):
    """Counts per (month, pathology) fit ``catalog.monthly_weights`` (χ², p > 0.001)."""
    weights = result.catalog.monthly_weights(True)
    n_path = weights.shape[1]
    month = arrivals_local.month.to_numpy() - 1
    observed = np.bincount(month * n_path + result.pathology, minlength=12 * n_path)
    observed = observed.reshape(12, n_path)
    expected = observed.sum(axis=1, keepdims=True) * weights
    assert expected.min() > 5  # the χ² approximation holds
    # degrees of freedom: 12 months × (n_path − 1), the month totals being fixed
    chi2 = float((((observed - expected) ** 2) / expected).sum())
    p_value = stats.chi2.sf(chi2, 12 * (n_path - 1))
    assert p_value > 0.001, (chi2, p_value)


@pytest.mark.slow
def test_seasonal_pathologies_peak_in_their_season(result, arrivals_local):
    """Influenza arrives mostly in winter and heat stroke in summer, as the catalog says."""
    codes = result.catalog.pathology_codes
    month = arrivals_local.month.to_numpy()
    winter = np.isin(month, (12, 1, 2))
    summer = np.isin(month, (6, 7, 8))
    flu = result.pathology == codes.index("influenza")
    heat = result.pathology == codes.index("heat_stroke")
    assert (flu & winter).sum() > 3 * (flu & summer).sum()
    assert (heat & summer).sum() > 3 * (heat & winter).sum()


@pytest.mark.slow
def test_mean_treatment_time_of_every_pathology_matches_the_catalog(result):
    """Each pathology's mean treatment time is within 2 % of the catalog's mean."""
    means = result.catalog.mean_treatment_minutes()
    treated = ~np.isnan(result.treatment_minutes)
    assert treated.all()
    for j, pathology in enumerate(result.catalog.pathologies):
        mine = result.treatment_minutes[result.pathology == j]
        assert len(mine) > 10_000, pathology.code
        assert mine.mean() == pytest.approx(means[j], rel=0.02), pathology.code


@pytest.mark.slow
def test_treatment_times_are_exponential(result):
    """Treatment time over its pathology's mean follows Exp(1) (KS test on 20 000 of them)."""
    means = result.catalog.mean_treatment_minutes()
    scaled = result.treatment_minutes / means[result.pathology]
    ks = stats.kstest(scaled[:20_000], "expon")
    assert ks.pvalue > 0.001, ks
