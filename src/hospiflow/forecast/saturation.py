"""A queue forming: the early warning below the Now status's red, and its probability.

What this module forecasts, and what it does not
------------------------------------------------
Saturation has one definition, the Now status's red (:mod:`hospiflow.tension.status`:
8 or more patients waiting per doctor on duty in a specialty). Its risk, P(the status
is red) in each of the next 8 hours, and the risk of FEDORU tension tomorrow, are the
forecast's headline (:mod:`hospiflow.forecast.status_forecast`, with the fits of
:mod:`hospiflow.forecast.status_risk`): the Now status and the Forecast page mean the
same thing by red.

This module forecasts something else, for 7 days ahead and for the staffing advice: a
**queue forming**, the status's own measure (a specialty's patients waiting per doctor
on duty, no doctor counting as one, patients waiting with no doctor on duty always
counting), averaged over the hour, at ``waiting_per_doctor`` (setting, default 1.0)::

    queue_forming(s, h) = waiting(s, h) >= waiting_per_doctor * max(doctors_on_duty(s, h), 1)

Why not at the status's thresholds: this day-ahead queue model has no skill there.
Measured on one simulated year of the default hospital (91 test days, 17,472
specialty-hours), Brier skill over the hour-of-week base rate was 0.153 at 1 waiting
per doctor (base rate 10.9 %) and -0.023 at 4, the status's amber (base rate 1.4 %:
the calibration collapses to ~0). Red within the next hours is forecast from the
state now instead (skill 0.55 one hour ahead, 0.07 at eight: ``status_risk``). The
dashboard therefore labels this risk "queue forming (>= 1 waiting per doctor)" and
never "saturation"; some names here (``SaturationSettings``, the ``saturation``
metric of the store) keep their historical spelling. The hourly rollup keeps the
exact time averages of both quantities for every hour of a simulated run.

Probability of a queue forming
------------------------------
For each coming hour and specialty (:func:`raw_risk`):

1. the arrivals forecast (hourly means per specialty, the model ladder's best
   calendar model) gives the arrival rate of each hour;
2. the roster gives the doctors of each hour (:func:`rostered_doctors`, from the
   run's scenario through :func:`hospiflow.simulation.calendar.duty_plans`);
3. the specialty's pathology mix of that month gives the mean treatment time and
   its squared coefficient of variation (:func:`service_table`, through
   :func:`hospiflow.queueing.service_mixture`);
4. the time-varying queue of :mod:`hospiflow.forecast.chain`, started from the
   patients present now, gives for every hour the time-averaged probability that
   the queue is at or above the threshold. The threshold is scaled by the
   Allen-Cunneen factor ``2 / (1 + cs^2)``: with treatment times more variable than
   exponential, queues are longer than the exponential chain's by about that factor
   (:func:`hospiflow.queueing.allen_cunneen`).

That analytic probability ranks hours well but is not calibrated (the hourly mean
of a path is less variable than the instantaneous queue; shift ends and service
mixes are approximated). So it is **calibrated** (:class:`Calibrator`, a
Platt-style logistic map) on day-ahead backtest forecasts of past hours only, and
scored on later hours (:func:`hospiflow.forecast.riskbacktest.operational_backtest`).
Scores: the Brier score, its skill against the hour-of-week base rate (the share
of saturated hours at the same hour of the week and specialty before the test),
and a reliability table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any, TypedDict

import numpy as np
import pandas as pd

from hospiflow.errors import ForecastError
from hospiflow.forecast.chain import DEFAULT_CAPACITY, point_mass, propagate
from hospiflow.tension.status import StatusRule, levels_array

__all__ = [
    "Calibrator",
    "SaturationSettings",
    "brier",
    "hour_of_week_base_rate",
    "max_reliability_gap",
    "observed_saturation",
    "raw_risk",
    "ReliabilityBin",
    "reliability_table",
    "rostered_doctors",
    "service_table",
]


@dataclass(frozen=True)
class SaturationSettings:
    """The thresholds of the definition and of the staffing advice (all settings).

    ``waiting_per_doctor``: patients waiting per doctor on duty, averaged over the
    hour, at or above which the hour is saturated. ``target_probability``: the
    staffing advice keeps the probability of saturation at or below it.
    ``max_doctors``: the most doctors the advice ever proposes for one specialty.
    """

    waiting_per_doctor: float = 1.0
    target_probability: float = 0.1
    max_doctors: int = 12

    def __post_init__(self) -> None:
        if not (math.isfinite(self.waiting_per_doctor) and self.waiting_per_doctor > 0):
            raise ForecastError("must be a number > 0", where="waiting_per_doctor")
        if not 0 < self.target_probability < 1:
            raise ForecastError("must be strictly between 0 and 1", where="target_probability")
        if not 1 <= self.max_doctors <= 200:
            raise ForecastError("must be between 1 and 200", where="max_doctors")

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    @property
    def rule(self) -> str:
        return (
            "a queue is forming when the patients waiting, averaged over the hour, are at least "
            f"{self.waiting_per_doctor:g} per doctor on duty "
            "(averaged over the hour; no doctor counts as one, and patients waiting with no "
            "doctor on duty always count); the Now status's measure at this threshold, "
            "an early warning below its red"
        )


def observed_saturation(
    waiting: np.ndarray, doctors_on_duty: np.ndarray, settings: SaturationSettings
) -> np.ndarray:
    """The definition (the status rule's, at ``waiting_per_doctor``): 1.0 saturated, 0.0
    not, NaN where the state is unknown."""
    rule = StatusRule(settings.waiting_per_doctor, settings.waiting_per_doctor)
    level = levels_array(waiting, doctors_on_duty, rule)
    return np.where(level < 0, np.nan, (level >= 2).astype(float))


def threshold_waiting(doctors: np.ndarray, settings: SaturationSettings) -> np.ndarray:
    """Patients waiting at which an hour with ``doctors`` on duty is saturated."""
    return settings.waiting_per_doctor * np.maximum(np.asarray(doctors, dtype=float), 1.0)


# --------------------------------------------------------------------------- inputs


def rostered_doctors(scenario, hours_utc: pd.DatetimeIndex, specialties: Sequence[str]):
    """Doctors of the roster per UTC hour and specialty, averaged over each hour.

    The roster is the scenario's shifts (local wall-clock blocks by weekday),
    expanded by :func:`hospiflow.simulation.calendar.duty_plans` over the days the
    hours cover (any dates: before, during or after the run). Returns an array of
    shape ``(len(hours_utc), len(specialties))``.
    """
    from hospiflow.simulation.calendar import build_calendar, duty_plans

    hours_utc = pd.DatetimeIndex(hours_utc)
    if len(hours_utc) == 0:
        return np.zeros((0, len(specialties)))
    if hours_utc.tz is None:
        raise ForecastError("hours must be time-zone aware (UTC)", where="hours_utc")
    local_first = hours_utc.min().tz_convert(scenario.timezone)
    first_day = (local_first - pd.Timedelta(days=1)).date()
    span_days = int((hours_utc.max() - hours_utc.min()) / pd.Timedelta(days=1)) + 3
    plan_scenario = scenario.replace(start_date=first_day, days=float(span_days), warmup_days=0.0)
    calendar = build_calendar(plan_scenario, extra_hours=0)
    origin = pd.Timestamp(calendar.start_utc)
    total_minutes = span_days * 24 * 60
    index = {code: i for i, code in enumerate(specialties)}
    coverage = np.zeros((len(specialties), total_minutes + 1))
    for plan in duty_plans(plan_scenario, calendar):
        row = index.get(plan.specialty)
        if row is None:
            continue
        for a, b in plan.periods:
            lo, hi = int(round(max(a, 0))), int(round(min(b, total_minutes)))
            if hi > lo:
                coverage[row, lo] += 1
                coverage[row, hi] -= 1
    per_minute = np.cumsum(coverage, axis=1)[:, :total_minutes]
    per_hour = per_minute.reshape(len(specialties), -1, 60).mean(axis=2)  # hours from origin
    offsets = ((hours_utc - origin) / pd.Timedelta(hours=1)).to_numpy()
    positions = np.floor(offsets).astype(int)
    if positions.min() < 0 or positions.max() >= per_hour.shape[1]:
        raise ForecastError("hours outside the roster span", where="hours_utc")
    return per_hour[:, positions].T


def service_table(scenario, specialties: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Mean treatment minutes and squared CV per calendar month and specialty, (12, S) each.

    From the scenario's catalog: the pathology mix of each month
    (``Catalog.monthly_weights``) within each specialty, each pathology exponential
    (``treatment_distribution = "exponential"``) or fixed, combined by
    :func:`hospiflow.queueing.service_mixture`.
    """
    from hospiflow.queueing import service_mixture

    catalog = scenario.load_catalog()
    weights = catalog.monthly_weights(scenario.pathology_seasonality)
    owner = catalog.pathology_specialty_index()
    means = catalog.mean_treatment_minutes()
    codes = list(catalog.specialty_codes)
    cv2 = 1.0 if scenario.treatment_distribution == "exponential" else 0.0
    mean = np.full((12, len(specialties)), np.nan)
    scv = np.full((12, len(specialties)), np.nan)
    for j, code in enumerate(specialties):
        if code not in codes:
            raise ForecastError(f"specialty {code!r} is not in the catalog", where="specialties")
        mine = np.flatnonzero(owner == codes.index(code))
        for month in range(12):
            w = weights[month, mine]
            if w.sum() <= 0:
                w = np.ones(len(mine))
            mean[month, j], scv[month, j] = service_mixture(
                w.tolist(), means[mine].tolist(), [cv2] * len(mine)
            )
    return mean, scv


# --------------------------------------------------------------------------- risk


def raw_risk(
    present_now: np.ndarray,
    arrivals: np.ndarray,
    doctors: np.ndarray,
    service_mean: np.ndarray,
    service_scv: np.ndarray,
    settings: SaturationSettings,
    capacity: int = DEFAULT_CAPACITY,
    dt: float = 1.0,
):
    """The uncalibrated probability of saturation, and the chain's other outputs.

    Every argument but ``present_now`` (one per chain) is ``(chains, hours)``.
    Returns the :class:`~hospiflow.forecast.chain.ChainResult`, whose
    ``p_waiting_at_least`` is the raw probability.
    """
    factor = 2.0 / (1.0 + np.asarray(service_scv, dtype=float))  # Allen-Cunneen
    threshold = threshold_waiting(doctors, settings) * factor
    return propagate(
        point_mass(present_now, capacity),
        arrivals,
        doctors,
        service_mean,
        threshold=threshold,
        dt=dt,
    )


class Calibrator:
    """From the chain's raw probability to a calibrated one, learned on past hours.

    A Platt-style logistic regression (Platt 1999, "Probabilistic outputs for
    support vector machines") of the outcome on the raw probability's logit (and its
    square), the specialty and the local hour of the day, ridge-penalised, fitted
    on scored hours before the ones it is applied to. The raw chain errs in ways
    that follow the roster: at a shift end the chain drops the leaving doctors at
    once while real (and simulated) doctors finish their patient, so the first hour
    of a night shift looks worse to the chain than it is; and each specialty's
    service mix is only approximately exponential. The hour and specialty terms
    absorb those systematic offsets.

    Measured on the default hospital (2 years, test = the last 365 days): an
    isotonic regression on top (Zadrozny & Elkan 2002) lowered the Brier score by
    less than 0.1 % but its steps widened the worst reliability gap from 0.045 to
    0.051, so it is not used; refitting the calibration every 28 days on all past
    hours (rather than once) narrowed the gap from 0.053 to 0.045.

    Unfitted, it is the identity on the raw probability.
    """

    def __init__(self) -> None:
        self.coef_: np.ndarray | None = None
        self.n_specialties = 0

    def _features(self, raw: np.ndarray, specialty: np.ndarray, hour: np.ndarray) -> np.ndarray:
        p = np.clip(np.asarray(raw, dtype=float), 1e-4, 1 - 1e-4)
        x = np.log(p / (1 - p)) / 5.0
        n = len(x)
        spec = np.zeros((n, self.n_specialties))
        spec[np.arange(n), np.asarray(specialty, dtype=int)] = 1.0
        hours = np.zeros((n, 24))
        hours[np.arange(n), np.asarray(hour, dtype=int) % 24] = 1.0
        return np.column_stack([np.ones(n), x, x**2, spec[:, 1:], hours[:, 1:]])

    def fit(
        self,
        raw: np.ndarray,
        observed: np.ndarray,
        specialty: np.ndarray,
        hour: np.ndarray,
        n_specialties: int,
    ) -> Calibrator:
        """All arrays have the same shape (flattened); NaN outcomes are skipped."""
        raw, observed, specialty, hour = (
            np.asarray(a, dtype=float).ravel() for a in (raw, observed, specialty, hour)
        )
        ok = np.isfinite(raw) & np.isfinite(observed)
        if ok.sum() < 100:
            raise ForecastError(
                f"calibration needs at least 100 scored hours, got {int(ok.sum())}",
                where="calibration",
            )
        self.n_specialties = n_specialties
        design = self._features(raw[ok], specialty[ok], hour[ok])
        self.coef_ = _logistic_fit(design, observed[ok])
        return self

    @property
    def fitted(self) -> bool:
        return self.coef_ is not None

    def __call__(self, raw: np.ndarray, specialty: np.ndarray, hour: np.ndarray) -> np.ndarray:
        raw = np.asarray(raw, dtype=float)
        if self.coef_ is None:
            return np.clip(raw, 0.0, 1.0)
        shape = raw.shape
        flat = raw.ravel()
        spec = np.broadcast_to(specialty, shape).ravel()
        hours = np.broadcast_to(hour, shape).ravel()
        out = np.full(flat.shape, np.nan)
        ok = np.isfinite(flat)
        out[ok] = _sigmoid(self._features(flat[ok], spec[ok], hours[ok]) @ self.coef_)
        return out.reshape(shape)

    def to_dict(self) -> dict[str, Any]:
        if self.coef_ is None:
            return {}
        return {"n_specialties": self.n_specialties, "logistic": self.coef_.tolist()}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Calibrator:
        calibrator = cls()
        if data and data.get("logistic"):
            calibrator.n_specialties = int(data["n_specialties"])
            calibrator.coef_ = np.asarray(data["logistic"], dtype=float)
        return calibrator


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _logistic_fit(design: np.ndarray, y: np.ndarray, penalty: float = 1.0) -> np.ndarray:
    """Ridge-penalised logistic regression by Newton steps (no intercept penalty).

    A step that would lower the penalised likelihood is halved until it does not
    (a full Newton step can overshoot far when an outcome is nearly separable, e.g.
    "red next hour" by "red now"); steps that improve it are taken whole.
    """
    coef = np.zeros(design.shape[1])
    mean = float(np.clip(y.mean(), 1e-3, 1 - 1e-3))
    coef[0] = np.log(mean / (1 - mean))
    ridge = np.full(design.shape[1], penalty)
    ridge[0] = 0.0

    def objective(c: np.ndarray) -> float:
        z = design @ c
        return float(y @ z - np.logaddexp(0.0, z).sum() - 0.5 * ridge @ (c * c))

    current = objective(coef)
    for _ in range(50):
        p = _sigmoid(design @ coef)
        gradient = design.T @ (y - p) - ridge * coef
        hessian = (
            (design * (p * (1 - p))[:, None]).T @ design + np.diag(ridge) + 1e-9 * np.eye(len(coef))
        )
        step = np.linalg.solve(hessian, gradient)
        for _ in range(30):
            trial = objective(coef + step)
            if trial >= current - 1e-12 * abs(current):
                break
            step = step / 2.0
        coef += step
        current = objective(coef)
        if np.max(np.abs(step)) < 1e-8:
            break
    return coef


# --------------------------------------------------------------------------- scores


def brier(probability: np.ndarray, observed: np.ndarray) -> float:
    """Mean squared difference between probability and outcome (Brier 1950)."""
    p = np.asarray(probability, dtype=float).ravel()
    y = np.asarray(observed, dtype=float).ravel()
    ok = np.isfinite(p) & np.isfinite(y)
    if not ok.any():
        raise ForecastError("no scored hour", where="brier")
    return float(np.mean((p[ok] - y[ok]) ** 2))


def hour_of_week_base_rate(
    local_hours: pd.DatetimeIndex, observed: np.ndarray, smoothing: float = 1.0
) -> np.ndarray:
    """Share of saturated hours per hour of the week (rows) and specialty (columns).

    ``observed`` is ``(hours, specialties)``; a light Laplace-style pull toward the
    specialty's overall share (``smoothing`` pseudo-hours) keeps rare hours sane.
    Returns ``(168, specialties)``.
    """
    from hospiflow.forecast.features import hour_of_week

    how = hour_of_week(pd.DatetimeIndex(local_hours))
    y = np.asarray(observed, dtype=float)
    overall = np.nanmean(y, axis=0)
    rates = np.empty((168, y.shape[1]))
    for k in range(168):
        rows = y[how == k]
        hits = np.nansum(rows, axis=0)
        n = np.isfinite(rows).sum(axis=0)
        rates[k] = (hits + smoothing * overall) / (n + smoothing)
    return rates


class ReliabilityBin(TypedDict):
    """One bin of predicted probability; no mean (None) when the bin has no case."""

    low: float
    high: float
    cases: int
    predicted: float | None
    observed: float | None


def reliability_table(
    probability: np.ndarray, observed: np.ndarray, bins: int = 10
) -> list[ReliabilityBin]:
    """Predicted vs observed frequency in equal-width bins of predicted probability."""
    p = np.asarray(probability, dtype=float).ravel()
    y = np.asarray(observed, dtype=float).ravel()
    ok = np.isfinite(p) & np.isfinite(y)
    p, y = p[ok], y[ok]
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    table: list[ReliabilityBin] = []
    for b in range(bins):
        mine = which == b
        n = int(mine.sum())
        table.append(
            {
                "low": float(edges[b]),
                "high": float(edges[b + 1]),
                "cases": n,
                "predicted": float(p[mine].mean()) if n else None,
                "observed": float(y[mine].mean()) if n else None,
            }
        )
    return table


def max_reliability_gap(table: Sequence[ReliabilityBin], min_cases: int = 100) -> float:
    """The largest |predicted - observed| over bins of at least ``min_cases`` (0.0: none)."""
    return max(
        (
            abs(row["predicted"] - row["observed"])
            for row in table
            if row["cases"] >= min_cases
            and row["predicted"] is not None
            and row["observed"] is not None
        ),
        default=0.0,
    )
