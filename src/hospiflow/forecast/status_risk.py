"""Risks on the shared saturation rule: the status turning red soon, tension tomorrow.

Two forecasts of exactly what the Now status and the Tension view show
(:mod:`hospiflow.tension.status`, :mod:`hospiflow.tension.het`), each a small
ridge-penalised logistic regression of transparent features (the same fit as the
risk calibration, :func:`hospiflow.forecast.saturation._logistic_fit`), fitted on
the hours or days before the test period and scored on it:

* **red within hours** (:func:`red_risk_backtest`): issued at every hour ``t``,
  the probability that the department's hourly status (its worst specialty, hourly
  time averages of waiting and doctors on duty) is *red* at hour ``t + k``,
  ``k = 1..8``. Features: the department's worst load now (patients waiting per
  doctor on duty over the red threshold), whether it is red now, and the logit of
  the hour-of-week base rate of hour ``t + k``. One fit per horizon.
* **tension tomorrow** (:func:`tension_risk_backtest`): issued at the end of each
  day, the probability that the next day's FEDORU global tension level is 3 or
  more (at least 3 indicators at level 3: "hôpital en tension"). Features: today's
  global level, whether today is in tension, the number of indicators at level 3
  or more today, and the logit of the day-of-week base rate.

Scores: the Brier score (Brier 1950) and its skill ``1 - BS / BS_base`` over the
base rate of the same hour of the week (red) or day of the week (tension),
estimated on every hour or day before the test period, as the saturation risk is
scored (:mod:`hospiflow.forecast.riskbacktest`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from hospiflow.errors import ForecastError
from hospiflow.forecast.features import hour_of_week
from hospiflow.forecast.saturation import _logistic_fit, _sigmoid, brier
from hospiflow.tension.het import HetSettings
from hospiflow.tension.status import StatusRule, levels_array

__all__ = [
    "HORIZONS",
    "Logistic",
    "RedModel",
    "census_red",
    "department_red",
    "RedRiskFit",
    "fit_red",
    "fit_red_now",
    "red_risk_backtest",
    "red_risk_now",
    "red_risk_scores",
    "tension_risk_backtest",
    "tension_risk_now",
]

HORIZONS = 8


def department_red(
    waiting: np.ndarray, doctors: np.ndarray, rule: StatusRule
) -> tuple[np.ndarray, np.ndarray]:
    """Per hour: the department red (1.0), not (0.0) or unknown (NaN), and its worst load
    (patients waiting per doctor on duty, over the red threshold; NaN unknown)."""
    level = levels_array(waiting, doctors, rule)  # (hours, specialties)
    known = (level >= 0).any(axis=1)
    red = np.where(known, (level.max(axis=1) == 2).astype(float), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        load = np.asarray(waiting, dtype=float) / np.maximum(np.asarray(doctors, float), 1.0)
    worst = np.where(known, np.nanmax(np.where(np.isfinite(load), load, -1.0), axis=1), np.nan)
    return red, np.maximum(worst, 0.0) / rule.red_waiting_per_doctor


def _logit(p: np.ndarray) -> np.ndarray:
    q = np.clip(np.asarray(p, dtype=float), 1e-3, 1 - 1e-3)
    return np.log(q / (1 - q))


def _base_rate(groups: np.ndarray, outcome: np.ndarray, n_groups: int) -> np.ndarray:
    """Share of positive outcomes per group, pulled lightly toward the overall share."""
    ok = np.isfinite(outcome)
    overall = float(np.mean(outcome[ok])) if ok.any() else 0.0
    hits = np.bincount(groups[ok], weights=outcome[ok], minlength=n_groups)
    n = np.bincount(groups[ok], minlength=n_groups)
    return (hits + overall) / (n + 1.0)


def _score(p: np.ndarray, base: np.ndarray, y: np.ndarray) -> dict[str, Any]:
    ok = np.isfinite(y) & np.isfinite(p) & np.isfinite(base)
    if not ok.any():
        raise ForecastError("no scored case in the test period", where="test_days")
    bs, bs_base = brier(p[ok], y[ok]), brier(base[ok], y[ok])
    return {
        "brier": bs,
        "brier_base_rate": bs_base,
        "brier_skill": 1.0 - bs / bs_base if bs_base > 0 else None,
        "base_rate": float(np.mean(y[ok])),
        "cases": int(ok.sum()),
    }


@dataclass(frozen=True)
class Logistic:
    """One fitted logistic map on standardised features (the fit of :func:`_fit`)."""

    centre: np.ndarray
    scale: np.ndarray
    coef: np.ndarray

    def __call__(self, features: np.ndarray) -> np.ndarray:
        """P(outcome) per row of ``features`` (NaN where a feature is unknown)."""
        features = np.atleast_2d(np.asarray(features, dtype=float))
        out = np.full(len(features), np.nan)
        usable = np.isfinite(features).all(axis=1)
        design = np.column_stack(
            [np.ones(int(usable.sum())), (features[usable] - self.centre) / self.scale]
        )
        out[usable] = _sigmoid(design @ self.coef)
        return out


def _fit(features: np.ndarray, y: np.ndarray, train: np.ndarray) -> Logistic:
    """Fit on the ``train`` rows with an outcome and known features."""
    rows = train & np.isfinite(y) & np.isfinite(features).all(axis=1)
    if rows.sum() < 100:
        raise ForecastError(
            f"the fit needs at least 100 past cases, got {int(rows.sum())}", where="test_days"
        )
    positives = int(y[rows].sum())
    if positives == 0 or positives == rows.sum():
        raise ForecastError(
            f"the outcome is {'never' if positives == 0 else 'always'} seen before the test "
            "period: nothing to learn from",
            where="test_days",
        )
    # standardised features: the Newton steps of the fit stay well conditioned
    centre = features[rows].mean(axis=0)
    scale = features[rows].std(axis=0)
    scale[scale == 0] = 1.0
    design = np.column_stack([np.ones(int(rows.sum())), (features[rows] - centre) / scale])
    return Logistic(centre, scale, _logistic_fit(design, y[rows]))


# ---------------------------------------------------------------- red within hours


def _red_features(load: np.ndarray, red: np.ndarray, base: np.ndarray) -> np.ndarray:
    """The red model's features at the origins: worst load now (capped), red now, and the
    logit of the target hour's hour-of-week base rate."""
    return np.column_stack([np.minimum(load, 3.0), red, _logit(base)])


@dataclass(frozen=True)
class RedModel:
    """P(red at t + k), k = 1..HORIZONS: the hour-of-week base rate and one fit per horizon."""

    base_table: np.ndarray  # (168,)
    fits: tuple[Logistic, ...]

    def predict(self, load_now: float, red_now: float, target_how: np.ndarray) -> np.ndarray:
        """The HORIZONS probabilities from the state now and the targets' hours of the week."""
        base = self.base_table[np.asarray(target_how, dtype=np.int64)]
        features = _red_features(np.full(HORIZONS, load_now), np.full(HORIZONS, red_now), base)
        return np.array([fit(features[k : k + 1])[0] for k, fit in enumerate(self.fits)])


def fit_red(how: np.ndarray, red: np.ndarray, load: np.ndarray, before: int) -> RedModel:
    """Fit on the hours before row ``before`` (base rate and targets alike); ``how`` is the
    hour of the week of every row."""
    n = len(red)
    base_table = _base_rate(how[:before], red[:before], 168)
    origins = np.arange(n - 1)
    fits = []
    for k in range(1, HORIZONS + 1):
        o = origins[origins + k < n]
        target = o + k
        features = _red_features(load[o], red[o], base_table[how[target]])
        fits.append(_fit(features, red[target], target < before))
    return RedModel(base_table, tuple(fits))


def red_risk_scores(
    how: np.ndarray, red: np.ndarray, load: np.ndarray, test_start: int, rule: str
) -> dict[str, Any]:
    """Backtest of P(red at t + k) on any hourly red series (the queue rule or the census
    basis): fitted on targets before row ``test_start``, scored on origins from it on."""
    n = len(red)
    if not 0 < test_start < n - HORIZONS:
        raise ForecastError("the test period must leave hours before and after", where="test")
    model = fit_red(how, red, load, test_start)
    origins = np.arange(test_start, n - HORIZONS)
    horizons = []
    for k, fit in enumerate(model.fits, start=1):
        target = origins + k
        base = model.base_table[how[target]]
        p = fit(_red_features(load[origins], red[origins], base))
        horizons.append({"hours_ahead": k, **_score(p, base, red[target])})
    skills = [h["brier_skill"] for h in horizons if h["brier_skill"] is not None]
    return {
        "rule": rule,
        "outcome": "department status red (hourly averages)",
        "base": "hour of the week, hours before the test period",
        "horizons": horizons,
        "mean_brier_skill": float(np.mean(skills)) if skills else None,
        "base_rate": float(np.nanmean(red[test_start:])),
    }


def red_risk_backtest(
    local_hours: pd.DatetimeIndex,
    waiting: np.ndarray,
    doctors: np.ndarray,
    test_start: int,
    rule: StatusRule | None = None,
) -> dict[str, Any]:
    """Backtest of P(department red at t + k), k = 1..8, issued every hour ``t``.

    ``local_hours`` are consecutive hours (local wall clock) of the ``(hours,
    specialties)`` arrays ``waiting`` and ``doctors`` (hourly averages); rows from
    ``test_start`` on are the test period. The fit uses origins whose target is
    before it; the hour-of-week base rate, every hour before it.
    """
    rule = rule or StatusRule()
    red, load = department_red(waiting, doctors, rule)
    how = hour_of_week(pd.DatetimeIndex(local_hours))
    return red_risk_scores(how, red, load, test_start, rule.rule)


def census_red(hourly_census: np.ndarray, red_threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """The census basis of a site without rosters (:func:`hospiflow.tension.status.
    census_level`): per hour, red (patients present, hourly mean, at or over the red
    threshold) and the load (present / red threshold); NaN unknown."""
    c = np.asarray(hourly_census, dtype=float)
    known = np.isfinite(c)
    red = np.where(known, (c >= red_threshold).astype(float), np.nan)
    return red, np.where(known, c / red_threshold, np.nan)


@dataclass(frozen=True)
class RedRiskFit:
    """The live red model (fitted on every hour) and the backtest of the same fit."""

    model: RedModel
    scores: dict[str, Any]
    test_days: int


def fit_red_now(
    how: np.ndarray, red: np.ndarray, load: np.ndarray, rule: str, test_days: int
) -> RedRiskFit:
    """Fit the live model on every hour of ``red`` (the fit of :func:`red_risk_scores`) and
    backtest that fit on the last ``test_days`` days."""
    n = len(red)
    if n < 24 * 14:
        raise ForecastError(
            f"{n} hours of status history; the risk needs at least two weeks", where="history"
        )
    scores = red_risk_scores(how[:n], red, load, n - 24 * test_days, rule)
    return RedRiskFit(fit_red(how[:n], red, load, n), scores, test_days)


def red_risk_now(fitted: RedRiskFit, how: np.ndarray, red: np.ndarray, load: np.ndarray) -> dict:
    """P(red) in each of the HORIZONS hours after the last row of ``red``, from the state of
    that row; ``how`` covers the rows and the HORIZONS hours after them."""
    n = len(red)
    if not np.isfinite(red[-1]):
        raise ForecastError("the status is not known in the last hour", where="history")
    target_how = how[n : n + HORIZONS]
    return {
        **fitted.scores,
        "probability": [float(p) for p in fitted.model.predict(load[-1], red[-1], target_how)],
        "hour_of_week_rate": [float(b) for b in fitted.model.base_table[target_how]],
        "now": {"red": bool(red[-1]), "load": float(load[-1])},
        "test_days": fitted.test_days,
    }


# ---------------------------------------------------------------- tension tomorrow


@dataclass(frozen=True)
class _TensionData:
    """Per day: tension (1/0/NaN), the global level (NaN unknown), indicators at 3+."""

    tension: np.ndarray
    level: np.ndarray
    at3: np.ndarray
    dow: np.ndarray


def _tension_data(
    days: pd.DatetimeIndex, indicator_levels: np.ndarray, global_levels: np.ndarray
) -> _TensionData:
    g = np.asarray(global_levels, dtype=float).copy()
    g[g < 0] = np.nan
    lv = np.asarray(indicator_levels, dtype=float)
    at3 = np.where((lv >= 0).any(axis=0), (lv >= 3).sum(axis=0), np.nan)
    tension = np.where(np.isfinite(g), (g >= 3).astype(float), np.nan)
    dow = pd.DatetimeIndex(days).day_of_week.to_numpy(dtype=np.int64)
    return _TensionData(tension, g, at3, dow)


def _tension_features(d: _TensionData, today: np.ndarray, base: np.ndarray) -> np.ndarray:
    """Today's global level, tension today, indicators at 3+ today, tomorrow's base logit."""
    return np.column_stack([d.level[today], d.tension[today], d.at3[today], _logit(base)])


def _fit_tension(d: _TensionData, before: int) -> tuple[np.ndarray, Logistic]:
    """Day-of-week base rate and the fit, on the days before ``before``."""
    known = int(np.isfinite(d.level[:before]).sum())
    if known < 100:
        raise ForecastError(
            f"the global tension level is known on {known} days before the test period, "
            "at least 100 needed (the history is too short, or its data lack inputs of the "
            "HET indicators)",
            where="test_days",
        )
    base_table = _base_rate(d.dow[:before], d.tension[:before], 7)
    today = np.arange(len(d.tension) - 1)
    tomorrow = today + 1
    features = _tension_features(d, today, base_table[d.dow[tomorrow]])
    return base_table, _fit(features, d.tension[tomorrow], tomorrow < before)


def _tension_rule(settings: HetSettings) -> str:
    return (
        f"global tension level ≥ 3: at least {settings.global_indicators} of the six "
        f"HET indicators at level 3 or more (k = {settings.k:g})"
    )


def tension_risk_backtest(
    days: pd.DatetimeIndex,
    indicator_levels: np.ndarray,
    global_levels: np.ndarray,
    test_days: int,
    settings: HetSettings | None = None,
) -> dict[str, Any]:
    """Backtest of P(global tension level ≥ 3 tomorrow), issued at the end of each day.

    ``days`` are consecutive local days; ``indicator_levels`` is ``(indicators, days)``
    and ``global_levels`` ``(days,)`` (-1 unknown), as :func:`hospiflow.tension.het.assess`
    gives them. The last ``test_days`` days are the test period.
    """
    settings = settings or HetSettings()
    return _tension_scores(
        _tension_data(days, indicator_levels, global_levels), test_days, settings
    )


def _tension_scores(d: _TensionData, test_days: int, settings: HetSettings) -> dict[str, Any]:
    """The backtest of :func:`tension_risk_backtest` on data already gathered."""
    n = len(d.tension)
    first_test = n - test_days
    if not 0 < first_test < n:
        raise ForecastError("must leave days before the test period", where="test_days")
    base_table, fit = _fit_tension(d, first_test)
    tomorrow = np.arange(first_test, n)
    base = base_table[d.dow[tomorrow]]
    p = fit(_tension_features(d, tomorrow - 1, base))
    return {
        "rule": _tension_rule(settings),
        "outcome": "tension tomorrow",
        "base": "day of the week, days before the test period",
        **_score(p, base, d.tension[tomorrow]),
        "tension_days_before_test": int(np.nansum(d.tension[:first_test])),
    }


def tension_risk_now(
    days: pd.DatetimeIndex,
    indicator_levels: np.ndarray,
    global_levels: np.ndarray,
    test_days: int,
    settings: HetSettings | None = None,
) -> dict[str, Any]:
    """The live risk: P(global tension level ≥ 3) the day after the last of ``days`` (complete
    days), fitted on every day (the fit of :func:`tension_risk_backtest`), with that fit's
    skill backtested on the last ``test_days`` days."""
    settings = settings or HetSettings()
    d = _tension_data(days, indicator_levels, global_levels)
    if not np.isfinite(d.level[-1]):
        raise ForecastError("the global tension level of the last day is unknown", where="days")
    scores = _tension_scores(d, test_days, settings)
    base_table, fit = _fit_tension(d, len(d.tension))
    target_dow = (int(d.dow[-1]) + 1) % 7
    base = base_table[[target_dow]]
    p = fit(_tension_features(d, np.array([len(d.tension) - 1]), base))[0]
    return {
        **scores,
        "probability": float(p),
        "day_of_week_rate": float(base[0]),
        "today": {"level": int(d.level[-1]), "tension": bool(d.tension[-1])},
        "test_days": test_days,
    }
