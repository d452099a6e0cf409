"""Short-term occupancy: the patients present 1 to 8 hours from now.

Patients present (waiting or in treatment) ``k`` hours ahead are those present now
who are still there, plus those who will arrive and still be there. The forecast
carries the current state forward through the time-varying queue of each specialty
(:mod:`hospiflow.forecast.chain`): the patients present now leave as the doctors on
the roster treat them (exponential treatment with the month's mean: the chain's
"remaining-time survival"), the forecast arrivals join, and the expected number
present at the end of each hour is read off the chain. The hospital total is the
sum over specialties.

The backtest compares it, at every horizon, with **persistence** ("as many as
now"), the benchmark published work measures against (Hoot et al. 2008 and later:
about 37 % lower mean squared error than persistence one hour ahead for a real
emergency department, where stays last hours; here stays last minutes to hours,
so the current state fades faster and the gain over persistence is larger).

A site's observed run has no roster and no doctors: its occupancy is projected from
the census instead (the patients present and the length of stay observed on the
site, :func:`hospiflow.forecast.census_risk.project`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import ndtri

from hospiflow.forecast.chain import point_mass, propagate

__all__ = [
    "HORIZONS",
    "OccupancyBand",
    "normal_band",
    "occupancy_backtest",
    "occupancy_band",
    "occupancy_forecast",
]

HORIZONS = 8
_CHUNK = 20_000


def occupancy_forecast(
    present_now: np.ndarray,
    arrivals: np.ndarray,
    doctors: np.ndarray,
    service_mean: np.ndarray,
    dt: float = 1.0,
) -> np.ndarray:
    """Expected patients present at the end of each hour, per chain: ``(chains, hours)``.

    ``present_now`` has one value per chain (specialty); the other arguments are
    ``(chains, hours)``.
    """
    result = propagate(point_mass(present_now), arrivals, doctors, service_mean, dt=dt)
    return result.present_end


@dataclass
class OccupancyBand:
    """The hospital's patients present at the end of each coming hour: the mean and the
    quantiles at ``levels`` (``quantiles``: hours x levels)."""

    mean: np.ndarray
    quantiles: np.ndarray


def occupancy_band(
    present_now: np.ndarray,
    arrivals: np.ndarray,
    doctors: np.ndarray,
    service_mean: np.ndarray,
    levels: list[float],
    dt: float = 1.0,
) -> OccupancyBand:
    """The chain's full distribution of the hospital total at each hour's end.

    Each specialty's chain is carried one hour at a time (its distribution at the end
    of an hour starts the next), and the hospital's distribution is the convolution
    of the specialties' ones: their queues share nothing (Poisson arrivals split by
    specialty are independent, Kingman's thinning), so the total is a sum of
    independent counts. The quantile at level ``q`` is the smallest ``n`` with
    ``P(N <= n) >= q``.
    """
    arrivals = np.asarray(arrivals, dtype=float)
    hours = arrivals.shape[1]
    dist = point_mass(present_now)
    means = np.empty(hours)
    quantiles = np.empty((hours, len(levels)))
    for h in range(hours):
        cut = slice(h, h + 1)
        dist = propagate(dist, arrivals[:, cut], doctors[:, cut], service_mean[:, cut], dt=dt).final
        total = np.ones(1)
        for row in dist:
            total = np.convolve(total, row)
        total = total / total.sum()
        means[h] = float(total @ np.arange(len(total)))
        cumulative = np.cumsum(total)
        quantiles[h] = np.searchsorted(cumulative, np.asarray(levels) - 1e-9)
    return OccupancyBand(means, quantiles)


def normal_band(mean: np.ndarray, var: np.ndarray, levels: list[float]) -> np.ndarray:
    """Quantiles (hours x levels) of a count taken normal with this mean and variance,
    never below zero: the census projection's band
    (:func:`hospiflow.forecast.census_risk.project`)."""
    spread = np.sqrt(np.maximum(np.asarray(var, dtype=float), 0.0))
    z = ndtri(np.asarray(levels, dtype=float))
    return np.maximum(np.asarray(mean, dtype=float)[:, None] + spread[:, None] * z[None, :], 0.0)


def occupancy_backtest(
    rolling: Any,
    grid: Any,
    roster: np.ndarray,
    service: np.ndarray,
    *,
    origins_mask: np.ndarray,
    settings: Any = None,
    dt: float = 2.0,
) -> dict[str, Any]:
    """MSE of the hospital's patients present 1..8 h ahead vs persistence, every test hour.

    ``rolling`` (:class:`~hospiflow.forecast.rolling.RollingForecasts`), ``grid``
    (:class:`~hospiflow.forecast.riskbacktest.StateGrid`), ``roster`` and ``service``
    are ``(origins, 32, specialties)``; origins where ``origins_mask`` is true are
    scored, from each of their hours.
    """
    days = np.flatnonzero(origins_mask)
    n_spec = rolling.means.shape[2]
    rows_day, rows_offset = [], []
    for i in days:
        for hour in range(int(rolling.hours_in_day[i])):
            rows_day.append(i)
            rows_offset.append(hour)
    day = np.asarray(rows_day)
    offset = np.asarray(rows_offset)
    window = offset[:, None] + np.arange(HORIZONS + 1)[None, :]  # start hour + 8 ahead
    hours = rolling.hours_utc[day[:, None], window]  # (origins, 9)
    present = grid.take(grid.present, hours)  # (origins, 9, S)
    now = present[:, 0].sum(axis=1)
    actual = present[:, 1:].sum(axis=2)  # (origins, 8)
    usable = np.isfinite(present).all(axis=(1, 2))

    def chains(values: np.ndarray) -> np.ndarray:
        picked = values[day[:, None], window[:, :HORIZONS]]  # (origins, 8, S)
        return picked.transpose(0, 2, 1).reshape(-1, HORIZONS)

    rates, doctors, means = chains(rolling.means), chains(roster), chains(service)
    start = np.nan_to_num(present[:, 0]).ravel()
    expected = np.empty((len(start), HORIZONS))
    for lo in range(0, len(start), _CHUNK):
        hi = min(lo + _CHUNK, len(start))
        expected[lo:hi] = occupancy_forecast(
            start[lo:hi], rates[lo:hi], doctors[lo:hi], means[lo:hi], dt=dt
        )
    forecast = expected.reshape(len(day), n_spec, HORIZONS).sum(axis=1)
    ok = usable
    per_horizon = []
    for k in range(HORIZONS):
        err_model = float(np.mean((forecast[ok, k] - actual[ok, k]) ** 2))
        err_persist = float(np.mean((now[ok] - actual[ok, k]) ** 2))
        per_horizon.append(
            {
                "hours_ahead": k + 1,
                "mse": err_model,
                "mse_persistence": err_persist,
                "improvement": 1.0 - err_model / err_persist if err_persist > 0 else None,
            }
        )
    return {
        "origins": int(ok.sum()),
        "mean_present": float(np.mean(now[ok])) if ok.any() else None,
        "horizons": per_horizon,
    }
