"""The proof: fit on all but the last weeks, simulate those weeks, compare with what happened.

The twin is fitted on the visits before the held-out weeks, then run over them
(plus a week of lead-in, so the department is full when they start, and the
usual warm-up) ``replications`` times with independent seeds
(``simulation.replications``). Each replication and the observed visits are
measured the same way (:func:`measure`): arrivals and patients present (the exact
time-weighted census of ``store.census``) by local hour of the week, length of
stay p50/p90, the share out within 4 hours and the share admitted. The criteria
(issue 12): arrivals MAPE ≤ 10 %; census MAPE ≤ 10 % and the observed census inside
the replications' 90 % band (:func:`prediction_band`) for ≥ 80 % of the 168 hours;
LOS p50 and p90 within 10 %; share within 4 h within 3 points; admissions within
2 points. MAPE is the mean over the 168 hours of |simulated mean − observed| /
observed.

What is compared with what: for each hour of the week, the observed value is the
mean over the held-out weeks of one realisation (the site's); each replication gives
the same statistic (the mean over the same weeks of its own realisation, with its
own random arrivals), and the band is the range of those that holds one more
realisation 90 % of the time (:func:`prediction_band`). The band is thus a prediction
interval for one realisation, not a confidence interval for the twin's mean, and it
must hold the department's week-to-week swings (exit block):
that is why the fitted boarding varies by day in episodes (``exitblock``). Even a
perfect twin misses: on the round-trip site of ``tests/calibration`` the true
hospital's own replications (19 other seeds) hold the observed census for 80 % of
hours with a MAPE of 9.1 % (docs/architecture.md).
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.engine import Engine

from hospiflow.calibration.fit import Calibration, calibrate, plot_values
from hospiflow.calibration.history import (
    MIN_WEEKS,
    CalibrationError,
    data_days,
    days_text,
    history_of,
    local_midnight_ms,
    no_visits,
    read_visits,
)
from hospiflow.records import Disposition
from hospiflow.simulation.engine import SimulationResult
from hospiflow.simulation.replications import run_in_pool, run_measured
from hospiflow.simulation.scenario import Scenario
from hospiflow.store import sites as store_sites
from hospiflow.store.census import local_hour_edges, mean_census
from hospiflow.store.timeconv import MS_PER_MIN

HOURS = 168
LEAD_IN_DAYS = 7
BAND_LEVEL = 0.90  # the census band's coverage of one more realisation (issue 12)


@dataclass(frozen=True)
class Measures:
    arrivals: np.ndarray  # mean arrivals per local hour of the week
    census: np.ndarray  # mean patients present per local hour of the week
    los_p50: float
    los_p90: float
    within_4h: float
    admitted: float


@dataclass(frozen=True)
class Criterion:
    key: str  # stable, for translations (the dashboard's fidelity.<key>)
    name: str
    value: float
    target: str
    unit: str
    passed: bool


@dataclass
class Validation:
    calibration: Calibration
    scenario: Scenario
    holdout_start: str
    holdout_end: str
    replications: int
    criteria: list[Criterion]
    observed: Measures
    simulated: list[Measures]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.criteria)

    def criteria_json(self) -> list[dict[str, Any]]:
        return [asdict(c) for c in self.criteria]

    def series(self) -> dict[str, Any]:
        """What the fidelity card draws, by hour of the week from Monday 00:00: the
        held-out weeks' census and arrivals beside the replications' mean, and the census
        prediction band (:func:`prediction_band`) with its coverage."""
        twin = _twin(self.simulated)
        return {
            "census": {
                "observed": plot_values(self.observed.census),
                "twin": plot_values(twin.census),
                "low": plot_values(twin.low),
                "high": plot_values(twin.high),
                "coverage": round(twin.coverage, 4),
            },
            "arrivals": {
                "observed": plot_values(self.observed.arrivals),
                "twin": plot_values(twin.arrivals),
            },
        }


@dataclass(frozen=True)
class _Twin:
    """The replications by hour of the week: mean arrivals and census, the census band."""

    arrivals: np.ndarray
    census: np.ndarray
    low: np.ndarray
    high: np.ndarray
    coverage: float


def _twin(simulated: list[Measures]) -> _Twin:
    """What the criteria judge and the fidelity card draws, computed in one place."""
    census_runs = np.array([m.census for m in simulated])
    low, high, coverage = prediction_band(census_runs)
    arrivals = np.mean([m.arrivals for m in simulated], axis=0)
    return _Twin(arrivals, census_runs.mean(axis=0), low, high, coverage)


def measure(
    arrival_ms: np.ndarray,
    departure_ms: np.ndarray,
    disposition: np.ndarray,
    start_ms: int,
    end_ms: int,
    timezone: str,
) -> Measures:
    """The compared quantities over ``[start_ms, end_ms)``; a NaN departure is still present."""
    arrival = np.asarray(arrival_ms, dtype=float)
    departure = np.asarray(departure_ms, dtype=float)
    edges, labels = local_hour_edges(start_ms, end_ms, timezone)
    present = np.where(np.isnan(departure), float(end_ms), departure)
    census = mean_census(arrival.astype(np.int64), present.astype(np.int64), edges)
    counts = np.diff(np.searchsorted(np.sort(arrival), edges, side="left"))
    seen = np.bincount(labels, minlength=HOURS)
    with np.errstate(invalid="ignore", divide="ignore"):
        by_how_arrivals = np.bincount(labels, weights=counts, minlength=HOURS) / seen
        by_how_census = np.bincount(labels, weights=census, minlength=HOURS) / seen
    inside = (arrival >= start_ms) & (arrival < end_ms)
    los = (departure[inside] - arrival[inside]) / MS_PER_MIN
    los = los[np.isfinite(los)]
    fate = np.asarray(disposition, dtype=float)[inside]
    fate = fate[np.isfinite(fate) & (fate > 0)]
    return Measures(
        arrivals=by_how_arrivals,
        census=by_how_census,
        los_p50=float(np.percentile(los, 50)) if len(los) else float("nan"),
        los_p90=float(np.percentile(los, 90)) if len(los) else float("nan"),
        within_4h=float((los <= 240).mean()) if len(los) else float("nan"),
        admitted=float((fate == int(Disposition.ADMITTED)).mean()) if len(fate) else float("nan"),
    )


def measure_simulation(
    origin_ms: int, start_ms: int, end_ms: int, timezone: str, result: SimulationResult
) -> Measures:
    """:func:`measure` of a replication (its minutes counted from ``origin_ms``)."""
    if result.flow is None:
        raise CalibrationError("a calibrated scenario runs the patient flow", where="[flow]")
    arrival = origin_ms + result.arrival * MS_PER_MIN
    departure = origin_ms + result.flow.departure * MS_PER_MIN
    return measure(arrival, departure, result.flow.disposition, start_ms, end_ms, timezone)


def prediction_band(
    runs: np.ndarray, level: float = BAND_LEVEL
) -> tuple[np.ndarray, np.ndarray, float]:
    """Each column's band among the replications' values, and its coverage.

    The observed weeks are one more realisation, so the band must be a prediction
    interval for a new draw, not the spread of the replications. Between the k-th
    smallest and the k-th largest of R replications, a new draw from the same
    distribution falls with probability (R + 1 − 2k) / (R + 1), whatever that
    distribution (the R + 1 values are exchangeable; Wilks 1941; Hahn & Meeker,
    *Statistical Intervals*, 1991, ch. 5). k is the largest giving at least ``level``
    (1 below 19 replications: the range, coverage (R − 1) / (R + 1)). The 5th and
    95th percentiles of 20 replications, used before, sit near the 2nd smallest and
    largest: a band that holds a perfect twin's realisation 81 % of the time, so a
    perfect twin failed "≥ 80 % of hours inside" about every other time.
    """
    count = runs.shape[0]
    k = max(1, math.floor((count + 1) * (1 - level) / 2 + 1e-9))
    ordered = np.sort(runs, axis=0)
    return ordered[k - 1], ordered[count - k], (count + 1 - 2 * k) / (count + 1)


def _mape(simulated: np.ndarray, observed: np.ndarray) -> float:
    ok = np.isfinite(observed) & (observed > 0) & np.isfinite(simulated)
    return float(np.mean(np.abs(simulated[ok] - observed[ok]) / observed[ok]))


def criteria(observed: Measures, simulated: list[Measures]) -> list[Criterion]:
    """The issue's criteria, each with its value, target and verdict."""
    twin = _twin(simulated)
    inside = float(np.mean((observed.census >= twin.low) & (observed.census <= twin.high)))

    def mean(key: str) -> float:
        return float(np.mean([getattr(m, key) for m in simulated]))

    def relative(key: str) -> float:
        return abs(mean(key) - getattr(observed, key)) / getattr(observed, key)

    def points(key: str) -> float:
        return 100 * abs(mean(key) - getattr(observed, key))

    arrivals_mape = _mape(twin.arrivals, observed.arrivals)
    census_mape = _mape(twin.census, observed.census)
    return [
        Criterion(
            "arrivals_mape",
            "arrivals by hour of week (MAPE)",
            arrivals_mape,
            "≤ 10 %",
            "%",
            arrivals_mape <= 0.10,
        ),
        Criterion(
            "census_mape",
            "census by hour of week (MAPE)",
            census_mape,
            "≤ 10 %",
            "%",
            census_mape <= 0.10,
        ),
        Criterion(
            "census_band",
            f"census inside the {twin.coverage * 100:.0f} % band",
            inside,
            "≥ 80 % of hours",
            "%",
            inside >= 0.80,
        ),
        Criterion(
            "los_p50",
            "length of stay p50 (error)",
            relative("los_p50"),
            "≤ 10 %",
            "%",
            relative("los_p50") <= 0.10,
        ),
        Criterion(
            "los_p90",
            "length of stay p90 (error)",
            relative("los_p90"),
            "≤ 10 %",
            "%",
            relative("los_p90") <= 0.10,
        ),
        Criterion(
            "within_4h",
            "share within 4 h (points)",
            points("within_4h"),
            "≤ 3 points",
            "points",
            points("within_4h") <= 3,
        ),
        Criterion(
            "admissions",
            "admissions (points)",
            points("admitted"),
            "≤ 2 points",
            "points",
            points("admitted") <= 2,
        ),
    ]


def validate_site(
    engine: Engine,
    site_name: str,
    *,
    holdout_weeks: int = 8,
    replications: int = 20,
    workers: int | None = None,
    country: str = "FR",
    step: Callable[[str], None] | None = None,
    on_replication: Callable[[int], None] | None = None,
) -> Validation:
    """Fit on the site's visits before the last ``holdout_weeks`` weeks, simulate those
    weeks ``replications`` times and score the twin against them."""
    if holdout_weeks < 1:
        raise CalibrationError("must be at least 1 week", where="--holdout-weeks")
    if replications < 2:
        raise CalibrationError("a 90 % band needs at least 2 replications", where="--replications")
    with engine.connect() as connection:  # read, then let go: simulating takes a while
        site = store_sites.get_site(connection, site_name)
        run_id = site["run_id"]
        span = data_days(connection, int(run_id), site["timezone"]) if run_id else None
        visits = read_visits(connection, int(run_id)) if run_id else None
    if span is None or visits is None:
        raise CalibrationError(no_visits(site["name"]), where="--site")
    first, end = span
    holdout_start = end - timedelta(days=7 * holdout_weeks)
    if holdout_start - first < timedelta(weeks=MIN_WEEKS):
        left = max(0, (holdout_start - first).days)
        raise CalibrationError(
            f"site {site['name']!r} has {days_text((end - first).days)} of visits: holding "
            f"out {holdout_weeks} weeks leaves {days_text(left)} to fit on, and a calibration "
            f"needs at least {MIN_WEEKS} weeks",
            where="--holdout-weeks",
        )
    history = history_of(site, visits, span[0], holdout_start)
    calibration = calibrate(history, country, step)
    timezone = site["timezone"]
    lead_in = holdout_start - timedelta(days=LEAD_IN_DAYS)
    origin_ms = local_midnight_ms(lead_in, timezone)
    start_ms = local_midnight_ms(holdout_start, timezone)
    end_ms = local_midnight_ms(end, timezone)
    (step or (lambda _n: None))("simulating the held-out weeks")
    with tempfile.TemporaryDirectory(prefix="hospiflow-calibration-") as folder:
        catalog = Path(folder) / "catalog.toml"
        catalog.write_text(calibration.catalog_toml, encoding="utf-8")
        scenario = calibration.scenario(
            catalog,
            start_date=lead_in,
            days=float(LEAD_IN_DAYS + 7 * holdout_weeks),
            warmup_days=7.0,
        )
        measure_one = partial(measure_simulation, origin_ms, start_ms, end_ms, timezone)
        simulated = run_in_pool(
            run_measured,
            [(scenario, i, measure_one) for i in range(replications)],
            workers,
            on_replication,
        )
    observed = _observed(visits, start_ms, end_ms, timezone)
    return Validation(
        calibration=calibration,
        scenario=scenario,
        holdout_start=holdout_start.isoformat(),
        holdout_end=end.isoformat(),
        replications=replications,
        criteria=criteria(observed, simulated),
        observed=observed,
        simulated=simulated,
    )


def _observed(visits: pd.DataFrame, start_ms: int, end_ms: int, timezone: str) -> Measures:
    near = visits[
        (visits["arrival_ms"] < end_ms) & (visits["arrival_ms"] >= start_ms - 7 * 86_400_000)
    ]
    return measure(
        near["arrival_ms"].to_numpy(dtype=float),
        near["departure_ms"].to_numpy(dtype=float),
        near["disposition"].to_numpy(dtype=float),
        start_ms,
        end_ms,
        timezone,
    )
