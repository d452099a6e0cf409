"""Arrivals: a non-homogeneous Poisson process, drawn a day of slots at a time.

The rate is constant within each 60-minute slot (λ × hourly × weekday ×
monthly), so the process is sampled exactly by drawing a Poisson count per
slot and placing that many arrivals uniformly in it (the order statistics of
a Poisson process on an interval are uniform). Each random purpose has its
own stream, spawned from the run's seed, and is drawn in batches of one
chunk (24 slots): the same seed gives the same patients whatever the run
length, and changing one parameter does not reshuffle the other draws.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CHUNK_SLOTS = 24


@dataclass(frozen=True)
class ArrivalBatch:
    """Arrivals of one chunk of slots, sorted by time (run minutes)."""

    times: np.ndarray
    pathology: np.ndarray
    service_minutes: np.ndarray
    patience_minutes: np.ndarray
    route: np.ndarray


class Streams:
    """One ``numpy.random.Generator`` per random purpose, from ``SeedSequence(seed).spawn``."""

    # new purposes go at the end: ``spawn`` keeps the earlier children the same
    PURPOSES = ("arrivals", "pathology", "service", "patience", "routing", "flow", "exit_block")

    def __init__(self, seed: int | np.random.SeedSequence | None) -> None:
        sequence = (
            seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        )
        children = sequence.spawn(len(self.PURPOSES))
        for name, child in zip(self.PURPOSES, children, strict=True):
            setattr(self, name, np.random.default_rng(child))

    arrivals: np.random.Generator
    pathology: np.random.Generator
    service: np.random.Generator
    patience: np.random.Generator
    routing: np.random.Generator
    flow: np.random.Generator
    exit_block: np.random.Generator  # the days of exit block (flow.boarding_days)


class ArrivalSource:
    """Draws the arrivals of successive chunks of the calendar's slots."""

    def __init__(
        self,
        streams: Streams,
        slot_rates: np.ndarray,
        slot_months: np.ndarray,
        monthly_weights: np.ndarray,
        mean_minutes: np.ndarray,
        begin_minute: float,
        fixed_service: bool,
        mean_patience_minutes: float | None,
        distribution: str = "exponential",
        cv: float = 1.0,
    ) -> None:
        self.streams = streams
        self.slot_rates = slot_rates
        self.slot_months = slot_months
        self.cumulative = np.cumsum(monthly_weights, axis=1)
        self.cumulative[:, -1] = 1.0
        self.mean_minutes = mean_minutes
        self.begin_minute = begin_minute
        self.fixed_service = fixed_service
        self.mean_patience = mean_patience_minutes
        self.distribution = distribution
        self.cv = cv

    def chunk(self, first_slot: int, last_slot: int) -> ArrivalBatch:
        """Arrivals in slots ``[first_slot, last_slot)``."""
        s = self.streams
        rates = self.slot_rates[first_slot:last_slot]
        counts = s.arrivals.poisson(rates)
        n = int(counts.sum())
        slot = np.repeat(np.arange(first_slot, last_slot), counts)
        times = np.sort(self.begin_minute + 60.0 * (slot + s.arrivals.random(n)))
        months = self.slot_months[slot] - 1
        u = s.pathology.random(n)
        pathology = (self.cumulative[months] < u[:, None]).sum(axis=1)
        means = self.mean_minutes[pathology]
        service = (
            means
            if self.fixed_service
            else means * unit_draws(s.service, n, self.distribution, self.cv)
        )
        if self.mean_patience is None:
            patience = np.full(n, np.inf)
        else:
            patience = self.mean_patience * s.patience.exponential(1.0, n)
        route = s.routing.random(n)
        return ArrivalBatch(times, pathology, service, patience, route)


def unit_draws(rng: np.random.Generator, n: int, distribution: str, cv: float) -> np.ndarray:
    """``n`` draws of mean 1: exponential, or lognormal/gamma with coefficient of variation ``cv``.

    Lognormal: σ² = ln(1 + cv²), μ = −σ²/2; gamma: shape 1/cv², scale cv².
    """
    if distribution == "lognormal":
        sigma2 = math.log1p(cv * cv)
        return rng.lognormal(-sigma2 / 2.0, math.sqrt(sigma2), n)
    if distribution == "gamma":
        return rng.gamma(1.0 / (cv * cv), cv * cv, n)
    return rng.exponential(1.0, n)
