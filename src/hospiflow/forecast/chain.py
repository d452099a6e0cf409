"""The time-varying queue of one specialty as a Markov chain, from the current state.

Each specialty is an M(t)/M/c(t) queue: Poisson arrivals at the forecast rate of
each hour, ``c(t)`` doctors (the roster of that hour, time-averaged, fractional
at shift changes), exponential treatments with the mean of the specialty's
pathology mix. The number of patients present ``n`` (waiting or in treatment) is a
birth-death chain; its distribution is carried forward minute by minute from the
current state (the patients present now, a point mass) by the forward Kolmogorov
equations, integrated with a forward Euler step of ``dt`` minutes, shortened so that
no state ever loses more than half its probability in one step (stable, and
accurate to well under a percent at these rates).

This is the "time-varying approximation" the risk and occupancy forecasts share:
unlike a stationary formula per hour, the queue left over by a busy evening
carries into the night, and the patients already waiting count. Many chains
(specialties x forecast origins x candidate rosters) run at once as rows of one
array, so a year of daily backtest origins takes seconds.

The state space is truncated at ``capacity`` patients (arrivals beyond it are
lost); the default leaves the mass beyond it negligible for an emergency
department and is checked (:attr:`ChainResult.truncated`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from hospiflow.errors import ForecastError

__all__ = ["ChainResult", "propagate", "point_mass"]

DEFAULT_CAPACITY = 80


@dataclass
class ChainResult:
    """Per chain (row) and hour (column).

    ``p_waiting_at_least``: time-averaged over the hour, ``P(waiting >= k)`` for the
    threshold ``k`` of that hour (interpolated between integers);
    ``mean_waiting`` and ``mean_present``: time-averaged expectations over the hour;
    ``present_end``: expected patients present at the end of the hour;
    ``final``: the distribution at the end of the last hour (rows x capacity + 1);
    ``truncated``: the largest probability mass ever held at the capacity.
    """

    p_waiting_at_least: np.ndarray
    mean_waiting: np.ndarray
    mean_present: np.ndarray
    present_end: np.ndarray
    final: np.ndarray
    truncated: float


def point_mass(present: np.ndarray, capacity: int = DEFAULT_CAPACITY) -> np.ndarray:
    """Distributions concentrated on ``present`` patients (clipped to the capacity)."""
    present = np.clip(np.nan_to_num(np.asarray(present, dtype=float)), 0, capacity)
    rows = np.arange(len(present))
    dist = np.zeros((len(present), capacity + 1))
    dist[rows, np.round(present).astype(int)] = 1.0
    return dist


def propagate(
    initial: np.ndarray,
    arrivals_per_hour: np.ndarray,
    doctors: np.ndarray,
    mean_service_min: np.ndarray,
    threshold: np.ndarray | None = None,
    dt: float = 1.0,
) -> ChainResult:
    """Carry ``initial`` (rows x states) through the hours of the other arrays (rows x hours).

    ``threshold`` (rows x hours): patients waiting that count as "at least k"; NaN or
    None skips that output.
    """
    dist = np.array(initial, dtype=float, copy=True)
    rates = np.asarray(arrivals_per_hour, dtype=float)
    servers = np.asarray(doctors, dtype=float)
    service = np.asarray(mean_service_min, dtype=float)
    if rates.ndim != 2 or servers.shape != rates.shape or service.shape != rates.shape:
        raise ForecastError("arrivals, doctors and service must be (chains, hours)", where="chain")
    if dist.shape[0] != rates.shape[0]:
        raise ForecastError("one initial distribution per chain", where="chain")
    if np.any(rates < 0) or np.any(servers < 0) or np.any(service <= 0):
        raise ForecastError("rates and doctors must be >= 0, service > 0", where="chain")
    rows, hours = rates.shape
    capacity = dist.shape[1] - 1
    n = np.arange(capacity + 1, dtype=float)[None, :]
    # per-minute rate out of the busiest state; Euler needs rate * step well under 1
    fastest = float(np.max(rates / 60.0 + np.minimum(servers, capacity) / service, initial=0.0))
    steps = max(1, int(round(60.0 / dt)), int(math.ceil(60.0 * fastest / 0.5)))
    step = 60.0 / steps
    if threshold is None:
        threshold = np.full(rates.shape, np.nan)
    p_at_least = np.full((rows, hours), np.nan)
    mean_waiting = np.empty((rows, hours))
    mean_present = np.empty((rows, hours))
    present_end = np.empty((rows, hours))
    truncated = 0.0
    for h in range(hours):
        lam = (rates[:, h] / 60.0)[:, None] * step
        c = servers[:, h][:, None]
        mu = (1.0 / service[:, h])[:, None] * step
        death = np.minimum(n, c) * mu  # per step, rows x states
        birth = np.broadcast_to(lam, dist.shape).copy()
        birth[:, -1] = 0.0  # full: arrivals are lost
        waiting = np.maximum(n - c, 0.0)
        k = threshold[:, h][:, None]
        # P(waiting >= k) = P(n >= c + k), linear between integer thresholds
        level = c + k
        low = np.floor(level)
        frac = level - low
        weight_low = (n >= low).astype(float)
        weight_high = (n >= low + 1).astype(float)
        weights = (1 - frac) * weight_low + frac * weight_high
        acc_p = np.zeros(rows)
        acc_w = np.zeros(rows)
        acc_n = np.zeros(rows)
        for _ in range(steps):
            acc_p += np.sum(dist * weights, axis=1)
            acc_w += np.sum(dist * waiting, axis=1)
            acc_n += dist @ n[0]
            out = dist * (birth + death)
            new = dist - out
            new[:, 1:] += dist[:, :-1] * birth[:, :-1]
            new[:, :-1] += dist[:, 1:] * death[:, 1:]
            dist = new
        truncated = max(truncated, float(dist[:, -1].max()))
        p_at_least[:, h] = np.where(np.isfinite(k[:, 0]), acc_p / steps, np.nan)
        mean_waiting[:, h] = acc_w / steps
        mean_present[:, h] = acc_n / steps
        present_end[:, h] = dist @ n[0]
    return ChainResult(p_at_least, mean_waiting, mean_present, present_end, dist, truncated)
