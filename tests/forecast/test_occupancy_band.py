"""The band of patients present over the next hours: the chain's own distribution,
summed over independent specialties, checked against the M/M/infinity transient law."""

from __future__ import annotations

import numpy as np
from scipy import stats

from hospiflow.forecast.occupancy import normal_band, occupancy_band, occupancy_forecast

LEVELS = [0.05, 0.5, 0.95]


def test_many_doctors_give_the_poisson_law_of_an_infinite_server_queue() -> None:
    """From an empty department with more doctors than patients can ever be (M/M/inf),
    N(t) is Poisson with mean lambda * m * (1 - exp(-t/m)); two specialties add up."""
    rates = np.array([[6.0] * 4, [3.0] * 4])  # per hour
    service = np.full((2, 4), 30.0)  # minutes
    doctors = np.full((2, 4), 80.0)
    band = occupancy_band(np.zeros(2), rates, doctors, service, LEVELS)
    hours = np.arange(1, 5)
    mean = (6.0 + 3.0) * 0.5 * (1 - np.exp(-hours * 60 / 30.0))
    np.testing.assert_allclose(band.mean, mean, rtol=0.01)
    for h in range(4):
        expected = stats.poisson.ppf(LEVELS, mean[h])
        assert np.all(np.abs(band.quantiles[h] - expected) <= 1), (h, band.quantiles[h], expected)


def test_band_holds_the_mean_of_the_occupancy_forecast() -> None:
    """Carried an hour at a time, the chain keeps the mean the one-pass forecast gives."""
    rates = np.array([[4.0, 5.0, 6.0], [2.0, 2.0, 1.0]])
    doctors = np.array([[2.0, 2.0, 1.0], [1.0, 1.0, 1.0]])
    service = np.full((2, 3), 25.0)
    present = np.array([7.0, 2.0])
    band = occupancy_band(present, rates, doctors, service, LEVELS)
    one_pass = occupancy_forecast(present, rates, doctors, service).sum(axis=0)
    np.testing.assert_allclose(band.mean, one_pass, rtol=0.01)
    assert np.all(band.quantiles[:, 0] <= band.mean) and np.all(band.mean <= band.quantiles[:, 2])
    assert np.all(band.quantiles[:, 0] < band.quantiles[:, 2])


def test_nobody_arriving_and_nobody_treating_keeps_everyone() -> None:
    """No arrivals, no doctors: the patients present stay, the band is a point."""
    band = occupancy_band(
        np.array([3.0, 4.0]), np.zeros((2, 2)), np.zeros((2, 2)), np.full((2, 2), 30.0), LEVELS
    )
    np.testing.assert_allclose(band.mean, [7.0, 7.0])
    assert band.quantiles.tolist() == [[7.0, 7.0, 7.0], [7.0, 7.0, 7.0]]


def test_normal_band_is_never_negative() -> None:
    band = normal_band(np.array([10.0, 0.5]), np.array([4.0, 1.0]), LEVELS)
    np.testing.assert_allclose(band[0], [10 - 1.6449 * 2, 10, 10 + 1.6449 * 2], atol=1e-3)
    assert band[1, 0] == 0.0 and band[1, 2] > 0.5
