"""Staffing advice: the fewest doctors that keep the risk of saturation low enough.

For each coming hour and specialty, the advice is the smallest number of doctors
(from 1 up to ``settings.max_doctors``) whose calibrated probability of saturation
(:mod:`hospiflow.forecast.saturation`) is at most ``settings.target_probability``,
shown beside the rostered number: the **gap** (advised minus rostered) is what a
manager acts on (positive: call someone in; negative: room to spare).

Hours are decided in order, greedily: the queue an hour leaves behind depends on the
doctors of the hours before, so each hour starts from the state the *advised*
staffing of the previous hours would leave (the current state for the first one).
Every candidate number of doctors of an hour runs as its own row of one chain
(:mod:`hospiflow.forecast.chain`), all specialties at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hospiflow.forecast.chain import DEFAULT_CAPACITY, point_mass, propagate
from hospiflow.forecast.saturation import Calibrator, SaturationSettings, threshold_waiting

__all__ = ["StaffingAdvice", "staffing_advice"]


@dataclass
class StaffingAdvice:
    """Arrays ``(hours, specialties)``."""

    advised: np.ndarray
    rostered: np.ndarray
    probability_advised: np.ndarray
    probability_rostered: np.ndarray
    reachable: np.ndarray  # False where even max_doctors misses the target

    @property
    def gap(self) -> np.ndarray:
        return self.advised - np.round(self.rostered)


def staffing_advice(
    present_now: np.ndarray,
    arrivals: np.ndarray,
    rostered: np.ndarray,
    service_mean: np.ndarray,
    service_scv: np.ndarray,
    local_hour: np.ndarray,
    calibrator: Calibrator,
    settings: SaturationSettings,
    probability_rostered: np.ndarray,
    capacity: int = DEFAULT_CAPACITY,
    dt: float = 2.0,
) -> StaffingAdvice:
    """Advice for every hour; ``arrivals``, ``rostered``, ``service_*`` are (hours, S)."""
    hours, n_spec = arrivals.shape
    candidates = np.arange(1, settings.max_doctors + 1, dtype=float)
    n_cand = len(candidates)
    current = point_mass(np.asarray(present_now, dtype=float), capacity)  # (S, states)
    advised = np.zeros((hours, n_spec))
    p_advised = np.zeros((hours, n_spec))
    reachable = np.ones((hours, n_spec), dtype=bool)
    spec_index = np.repeat(np.arange(n_spec), n_cand)
    doctors = np.tile(candidates, n_spec)[:, None]
    factor = 2.0 / (1.0 + service_scv)
    for h in range(hours):
        start = np.repeat(current, n_cand, axis=0)
        rate = np.repeat(arrivals[h], n_cand)[:, None]
        mean = np.repeat(service_mean[h], n_cand)[:, None]
        threshold = threshold_waiting(doctors, settings) * np.repeat(factor[h], n_cand)[:, None]
        result = propagate(start, rate, doctors, mean, threshold=threshold, dt=dt)
        probability = calibrator(
            result.p_waiting_at_least[:, 0], spec_index, np.full(len(spec_index), local_hour[h])
        ).reshape(n_spec, n_cand)
        ok = probability <= settings.target_probability
        choice = np.where(ok.any(axis=1), ok.argmax(axis=1), n_cand - 1)
        reachable[h] = ok.any(axis=1)
        advised[h] = candidates[choice]
        p_advised[h] = probability[np.arange(n_spec), choice]
        rows = np.arange(n_spec) * n_cand + choice
        current = result.final[rows]
    return StaffingAdvice(advised, rostered, p_advised, probability_rostered, reachable)
