"""The FEDORU "hôpital en tension" (HET) daily indicators, scored against the site's
own history.

Definitions (FEDORU working group GT4, "Hôpital en tension - Synthèse FEDORU",
V03, November 2016; the indicator list as the regional observatories publish it,
e.g. RESURCA / Est-RESCUE, "Informations sur les indicateurs"):

====  =============================================================  ============
HET1  beds available in medicine and surgery (from the ROR)           lower is worse
HET2  attendances (passages) of the day                              higher is worse
HET3  mean length of stay in the ED of the patients admitted          higher is worse
HET4  admission rate after the ED (admitted or transferred / known)   higher is worse
HET5  patients present at 15:00                                      higher is worse
HET6  attendances of patients aged 75 or more                        higher is worse
====  =============================================================  ============

**Levels** (ORU Occitanie, "Tension hospitalière : qu'observe-t-on en 2022 ?"):
every indicator gets a level 0-4 against thresholds computed from the site's own
history; HET1's are reversed (level 4 when the value is at or below the mean
minus 4 standard deviations). Here level ``j`` (1-4) is reached at
``mean + j * k * SD`` (``mean - j * k * SD`` for HET1), ``k`` a setting (default 1).
The reference of a day is the same weekday over the previous ``reference_weeks``
weeks (Azéma O., "Quels indicateurs pour déclarer les établissements de santé en
tension et/ou en plan blanc", *Urgences 2010*, ch. 79: thresholds and means from
the same weekdays), with at least ``min_reference_days`` known values; with fewer,
or a reference with no spread, the level is unknown.

**Global tension**: a day is in tension when at least 3 of the 6 indicators reach
level 3 (ORU Occitanie 2022, which found 12 % of days in global tension across its
emergency departments that year). The global level of a day, shown in the
calendar, is 0-4: the highest level reached by at least 3 indicators (so level 3
or 4 is "global tension"). An indicator the data do not allow is never counted as
calm: when fewer than 3 indicators are known the global level is unknown.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TypedDict

import numpy as np

from hospiflow.errors import HospiflowError

__all__ = [
    "INDICATORS",
    "HetSettings",
    "Indicator",
    "assess",
    "global_levels",
    "indicator_levels",
    "indicator_values",
]


@dataclass(frozen=True)
class Indicator:
    code: str
    key: str
    label: str
    higher_is_worse: bool


INDICATORS = (
    Indicator("HET1", "beds_available", "beds available in medicine and surgery", False),
    Indicator("HET2", "attendances", "attendances", True),
    Indicator("HET3", "admitted_mean_stay_min", "mean stay of admitted patients (min)", True),
    Indicator("HET4", "admission_rate", "admission rate", True),
    Indicator("HET5", "present_at_15", "patients present at 15:00", True),
    Indicator("HET6", "attendances_75_plus", "attendances aged 75 or more", True),
)


@dataclass(frozen=True)
class HetSettings:
    """``k``: standard deviations per level; the reference window and its minimum."""

    k: float = 1.0
    reference_weeks: int = 52
    min_reference_days: int = 4
    global_indicators: int = 3
    global_level: int = 3

    def __post_init__(self) -> None:
        if not (math.isfinite(self.k) and 0 < self.k <= 10):
            raise HospiflowError("must be a number in (0, 10]", where="k")
        if not 1 <= self.reference_weeks <= 520:
            raise HospiflowError("must be between 1 and 520", where="reference_weeks")
        if not 2 <= self.min_reference_days <= self.reference_weeks:
            raise HospiflowError(
                "must be between 2 and reference_weeks", where="min_reference_days"
            )


def indicator_levels(
    values: np.ndarray, higher_is_worse: bool, settings: HetSettings
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per consecutive day: level (0-4, -1 unknown), reference mean and SD.

    ``values`` holds one value per consecutive local day (NaN where unknown); the
    reference of day ``d`` is days ``d - 7, d - 14, ...`` back ``reference_weeks``
    weeks (sample SD, ``ddof=1``).
    """
    v = np.asarray(values, dtype=float)
    n = len(v)
    weeks = settings.reference_weeks
    # lagged[w, d] = v[d - 7 (w + 1)]
    lagged = np.full((weeks, n), np.nan)
    for w in range(weeks):
        lag = 7 * (w + 1)
        if lag < n:
            lagged[w, lag:] = v[: n - lag]
    count = np.isfinite(lagged).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.nansum(lagged, axis=0) / np.maximum(count, 1)
        var = np.nansum((lagged - mean) ** 2, axis=0) / np.maximum(count - 1, 1)
    sd = np.sqrt(var)
    ok = np.isfinite(v) & (count >= settings.min_reference_days) & (sd > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = (v - mean) / (settings.k * sd)
        if not higher_is_worse:
            z = -z
        level = np.clip(np.floor(z), 0, 4)
    level = np.where(ok, level, -1).astype(int)
    mean = np.where(count >= settings.min_reference_days, mean, np.nan)
    sd = np.where(count >= settings.min_reference_days, sd, np.nan)
    return level, mean, sd


def global_levels(levels: np.ndarray, settings: HetSettings) -> np.ndarray:
    """Per day, from ``levels`` (indicators x days, -1 unknown): the highest level
    reached by at least ``global_indicators`` indicators (0-4), or -1 when fewer than
    that many are known."""
    lv = np.asarray(levels, dtype=int)
    known = (lv >= 0).sum(axis=0)
    out = np.zeros(lv.shape[1], dtype=int)
    for j in range(1, 5):
        out = np.where((lv >= j).sum(axis=0) >= settings.global_indicators, j, out)
    return np.where(known >= settings.global_indicators, out, -1)


def indicator_values(values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The six indicators' daily values from the stored daily inputs."""
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(
            values["disposition_known"] > 0,
            values["admitted"] / np.maximum(values["disposition_known"], 1),
            np.nan,
        )
    return {
        "beds_available": values["beds_available"],
        "attendances": values["attendances"],
        "admitted_mean_stay_min": values["admitted_mean_stay_min"],
        "admission_rate": rate,
        "present_at_15": values["present_at_15"],
        "attendances_75_plus": values["attendances_75_plus"],
    }


class IndicatorLevels(TypedDict):
    """One indicator over the days: its values, levels (-1: unknown), reference and why not."""

    value: np.ndarray
    level: np.ndarray
    mean: np.ndarray
    sd: np.ndarray
    reason: str | None


# ``assess``'s answer: every indicator, the global level and tension, per day
# (the call form: "global" is a Python keyword)
Assessment = TypedDict(
    "Assessment",
    {"indicators": dict[str, IndicatorLevels], "global": np.ndarray, "tension": np.ndarray},
)


def assess(
    values: dict[str, np.ndarray], unavailable: dict[str, str | None], settings: HetSettings
) -> Assessment:
    """Levels of every indicator and the global level, per day.

    Returns ``{"indicators": {key: {"value", "level", "mean", "sd", "reason"}},
    "global": levels, "tension": bool per day}``, arrays per day; ``reason`` is
    why an indicator is not available (``None`` when it is).
    """
    daily = indicator_values(values)
    n = len(values["attendances"])
    out: dict[str, IndicatorLevels] = {}
    all_levels = np.full((len(INDICATORS), n), -1, dtype=int)
    for i, ind in enumerate(INDICATORS):
        reason = unavailable.get(ind.key)
        v = np.asarray(daily[ind.key], dtype=float)
        if reason is not None or not np.isfinite(v).any():
            reason = reason or "no value in the data"
            level = np.full(n, -1, dtype=int)
            mean = sd = np.full(n, np.nan)
        else:
            level, mean, sd = indicator_levels(v, ind.higher_is_worse, settings)
        all_levels[i] = level
        out[ind.key] = {"value": v, "level": level, "mean": mean, "sd": sd, "reason": reason}
    glob = global_levels(all_levels, settings)
    return {"indicators": out, "global": glob, "tension": glob >= settings.global_level}
