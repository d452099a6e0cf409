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
    "department_red",
    "red_risk_backtest",
    "tension_risk_backtest",
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


def _fit_predict(
    features: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray
) -> np.ndarray:
    """Fit on the ``train`` rows with an outcome, predict the ``test`` rows."""
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
    design = np.column_stack([np.ones(len(y)), (features - centre) / scale])
    coef = _logistic_fit(design[rows], y[rows])
    out = np.full(len(y), np.nan)
    usable = test & np.isfinite(features).all(axis=1)
    out[usable] = _sigmoid(design[usable] @ coef)
    return out


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
    n = len(red)
    if not 0 < test_start < n - HORIZONS:
        raise ForecastError("the test period must leave hours before and after", where="test")
    how = hour_of_week(pd.DatetimeIndex(local_hours))
    base_table = _base_rate(how[:test_start], red[:test_start], 168)
    origins = np.arange(n - HORIZONS)
    horizons = []
    for k in range(1, HORIZONS + 1):
        target = origins + k
        y = red[target]
        base = base_table[how[target]]
        features = np.column_stack([np.minimum(load[origins], 3.0), red[origins], _logit(base)])
        p = _fit_predict(features, y, target < test_start, origins >= test_start)
        test = origins >= test_start
        horizons.append({"hours_ahead": k, **_score(p[test], base[test], y[test])})
    skills = [h["brier_skill"] for h in horizons if h["brier_skill"] is not None]
    return {
        "rule": rule.rule,
        "outcome": "department status red (hourly averages)",
        "base": "hour of the week, hours before the test period",
        "horizons": horizons,
        "mean_brier_skill": float(np.mean(skills)) if skills else None,
        "base_rate": float(np.nanmean(red[test_start:])),
    }


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
    g = np.asarray(global_levels, dtype=float)
    g[g < 0] = np.nan
    n = len(g)
    first_test = n - test_days
    if not 0 < first_test < n:
        raise ForecastError("must leave days before the test period", where="test_days")
    tension = np.where(np.isfinite(g), (g >= 3).astype(float), np.nan)
    lv = np.asarray(indicator_levels, dtype=float)
    at3 = np.where((lv >= 0).any(axis=0), (lv >= 3).sum(axis=0), np.nan)
    dow = pd.DatetimeIndex(days).day_of_week.to_numpy(dtype=np.int64)
    base_table = _base_rate(dow[:first_test], tension[:first_test], 7)
    today = np.arange(n - 1)
    tomorrow = today + 1
    y = tension[tomorrow]
    base = base_table[dow[tomorrow]]
    features = np.column_stack([g[today], tension[today], at3[today], _logit(base)])
    test = tomorrow >= first_test
    p = _fit_predict(features, y, tomorrow < first_test, test)
    return {
        "rule": (
            f"global tension level ≥ 3: at least {settings.global_indicators} of the six "
            f"HET indicators at level 3 or more (k = {settings.k:g})"
        ),
        "outcome": "tension tomorrow",
        "base": "day of the week, days before the test period",
        **_score(p[test], base[test], y[test]),
        "tension_days_before_test": int(np.nansum(tension[:first_test])),
    }
