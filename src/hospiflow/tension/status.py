"""Saturation: the one definition every view shares (Now status, forecast risk, Tension).

An **area** (a specialty with its own doctors) is, at an instant or averaged over an
hour, at one of four levels::

    load   = waiting / max(doctors_on_duty, 1)        patients waiting per doctor
    red    if load >= red_waiting_per_doctor           (default 8: act now)
           or patients wait and no doctor is on duty   (nobody will see them)
    amber  if load >= amber_waiting_per_doctor         (default 4: watch)
    green  otherwise
    unknown when the state is not in the data (never shown as green)

The department is at its worst area's level, and the answer names that area and
the numbers that made it so ("Pulmonology: 9 waiting for 1 doctor, longest 95 min").

Why these thresholds. The previous Now badge turned amber on one patient waiting
for one doctor and red on two (or on any wait over two hours): over a simulated
year of the plain hospital (built-in ``plain``) it was red 42 % of hours, so it
meant nothing. A queue of 8 patients per doctor is about four hours of work for a
doctor whose patients take 30 minutes each: somebody must act. Measured on one
simulated year (seed 1, 8 specialties, hourly averages), the plain hospital is red
in 2.2 % of hours and amber or worse in 13.7 %; the default hospital, whose patient
flow is calibrated to published ranges (22 % of patients still there after 4 h),
is red in 7.9 % and amber or worse in 31.9 % (``tests/tension/test_status.py``
prints the shares it measures). Both thresholds are settings.

Imported sites record no rosters, so their status uses the basis their data
allow (:func:`census_level`): patients present against declared treatment
spaces (amber 85 %, red 100 %), or against the site's own 90th / 97th
percentiles of hourly census.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from hospiflow.errors import HospiflowError

__all__ = [
    "LEVELS",
    "AreaState",
    "StatusRule",
    "area_level",
    "census_level",
    "census_thresholds",
    "department_status",
    "levels_array",
    "worse",
]

LEVELS = ("green", "amber", "red")
_RANK = {"unknown": -1, "green": 0, "amber": 1, "red": 2}


@dataclass(frozen=True)
class StatusRule:
    """Thresholds of the status, in patients waiting per doctor on duty (settings)."""

    amber_waiting_per_doctor: float = 4.0
    red_waiting_per_doctor: float = 8.0

    def __post_init__(self) -> None:
        for name in ("amber_waiting_per_doctor", "red_waiting_per_doctor"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise HospiflowError("must be a number > 0", where=name)
        if self.red_waiting_per_doctor < self.amber_waiting_per_doctor:
            raise HospiflowError(
                "must be at least amber_waiting_per_doctor", where="red_waiting_per_doctor"
            )

    def as_dict(self) -> dict[str, float]:
        return asdict(self)

    @property
    def rule(self) -> str:
        return (
            "per specialty, patients waiting per doctor on duty (no doctor counts as one): "
            f"red from {self.red_waiting_per_doctor:g}, amber from "
            f"{self.amber_waiting_per_doctor:g}, green below; red too when patients wait "
            "and no doctor is on duty; unknown when the data do not "
            "hold the queue. The department takes its worst specialty."
        )


@dataclass(frozen=True)
class AreaState:
    """What one area holds: ``None`` where the data cannot tell."""

    code: str
    name: str
    waiting: float | None
    doctors_on_duty: float | None
    longest_wait_min: float | None = None
    usual_waiting_per_doctor: float | None = None  # this hour of the week, recent weeks


def area_level(waiting: float | None, doctors: float | None, rule: StatusRule) -> str:
    """The definition for one area: green, amber, red, or unknown."""
    if waiting is None or doctors is None or not (math.isfinite(waiting)):
        return "unknown"
    load = waiting / max(doctors, 1.0)
    if load >= rule.red_waiting_per_doctor or (waiting > 0 and doctors <= 0):
        return "red"
    if load >= rule.amber_waiting_per_doctor:
        return "amber"
    return "green"


def levels_array(waiting: np.ndarray, doctors: np.ndarray, rule: StatusRule) -> np.ndarray:
    """The definition over arrays: 0 green, 1 amber, 2 red, -1 unknown (NaN input)."""
    w = np.asarray(waiting, dtype=float)
    d = np.asarray(doctors, dtype=float)
    known = np.isfinite(w) & np.isfinite(d)
    with np.errstate(invalid="ignore"):
        load = w / np.maximum(d, 1.0)
        red = (load >= rule.red_waiting_per_doctor) | ((w > 0) & (d <= 0))
        level = np.where(red, 2, 0)
        level = np.where((level == 0) & (load >= rule.amber_waiting_per_doctor), 1, level)
    return np.where(known, level, -1)


def worse(a: str, b: str) -> str:
    return a if _RANK[a] >= _RANK[b] else b


def _fmt(x: float) -> str:
    return f"{x:.0f}" if abs(x - round(x)) < 0.05 else f"{x:.1f}"


def _reason(area: AreaState, level: str, rule: StatusRule) -> dict[str, Any]:
    waiting = area.waiting or 0.0
    doctors = area.doctors_on_duty or 0.0
    load = waiting / max(doctors, 1.0)
    doctor_word = "doctor" if round(doctors) == 1 else "doctors"
    text = f"{area.name}: {_fmt(waiting)} waiting for {_fmt(doctors)} {doctor_word}"
    if area.longest_wait_min is not None:
        text += f", longest {area.longest_wait_min:.0f} min"
    threshold = rule.red_waiting_per_doctor if level == "red" else rule.amber_waiting_per_doctor
    if level in ("red", "amber") and doctors <= 0 and waiting > 0:
        text += " (no doctor on duty)"
    elif level in ("red", "amber"):
        text += f" ({_fmt(load)} per doctor, {level} from {threshold:g})"
    usual = area.usual_waiting_per_doctor
    if usual is not None:
        text += f"; usual for this hour {usual:.1f} per doctor"
    return {
        "specialty": area.code,
        "level": level,
        "waiting": area.waiting,
        "doctors_on_duty": area.doctors_on_duty,
        "waiting_per_doctor": round(load, 2),
        "longest_wait_min": area.longest_wait_min,
        "usual_waiting_per_doctor": usual,
        "threshold": threshold if level in ("red", "amber") else None,
        "text": text,
    }


def department_status(areas: Sequence[AreaState], rule: StatusRule) -> dict[str, Any]:
    """The department's level, the area that set it and why, and every area's level.

    Ties between areas at the same level go to the highest load. ``unknown`` only
    when no area is known: a known green area never hides behind an unknown one,
    and an unknown department is never green.
    """
    levels = [area_level(a.waiting, a.doctors_on_duty, rule) for a in areas]
    known = [i for i, lv in enumerate(levels) if lv != "unknown"]
    if not known:
        return {
            "level": "unknown",
            "reason": None,
            "text": "unknown: the data do not hold the queues",
            "areas": dict(zip([a.code for a in areas], levels, strict=True)),
            "rule": rule.rule,
        }

    def key(i: int) -> tuple[int, float]:
        a = areas[i]
        return _RANK[levels[i]], (a.waiting or 0.0) / max(a.doctors_on_duty or 0.0, 1.0)

    top = max(known, key=key)
    reason = _reason(areas[top], levels[top], rule)
    n_at = sum(1 for lv in levels if lv == levels[top])
    text = reason["text"] if levels[top] != "green" else "green: every queue is short"
    if levels[top] != "green" and n_at > 1:
        text += f" (and {n_at - 1} more {levels[top]})"
    return {
        "level": levels[top],
        "reason": reason,
        "text": text,
        "areas": dict(zip([a.code for a in areas], levels, strict=True)),
        "rule": rule.rule,
    }


AMBER_SHARE, RED_SHARE = 0.85, 1.0
AMBER_PERCENTILE, RED_PERCENTILE = 90, 97
CENSUS_DAYS = 365


def census_thresholds(
    capacity: int | None, hourly_census: np.ndarray
) -> tuple[float | None, float | None, str, str]:
    """Imported sites' (amber, red) patients present, the basis and the rule in words:
    the declared treatment spaces (85 %, 100 %), else the 90th and 97th percentiles of
    the site's hourly census (the caller passes its last ``CENSUS_DAYS`` days)."""
    if capacity:
        amber, red = AMBER_SHARE * capacity, RED_SHARE * capacity
        rule = (
            f"patients present against the site's {capacity} treatment spaces: amber from "
            f"{AMBER_SHARE:.0%} ({amber:g}), red from {RED_SHARE:.0%} ({red:g}); green below"
        )
        return amber, red, "capacity", rule
    values = np.asarray(hourly_census, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None, None, "none", "no capacity declared and no census to compare with"
    amber, red = (float(np.percentile(values, q)) for q in (AMBER_PERCENTILE, RED_PERCENTILE))
    rule = (
        "no capacity declared: patients present against this site's own hourly census over "
        f"the last {CENSUS_DAYS} days: amber from its {AMBER_PERCENTILE}th percentile "
        f"({amber:.1f}), red from its {RED_PERCENTILE}th ({red:.1f}); green below"
    )
    return round(amber, 2), round(red, 2), "census_percentiles", rule


def census_level(present: float | None, amber: float | None, red: float | None) -> str:
    """Imported sites' basis: patients present against two thresholds (see module)."""
    if present is None or amber is None or red is None:
        return "unknown"
    if present >= red:
        return "red"
    return "amber" if present >= amber else "green"


def census_status(
    present: int | None,
    amber: float | None,
    red: float | None,
    basis: str,
    rule: str,
    usual_present: float | None = None,
) -> dict[str, Any]:
    """The department status of a site without rosters, in the shape of
    :func:`department_status` (one hospital-wide area, ``all``)."""
    level = census_level(present, amber, red)
    if level == "unknown" or present is None:
        text = "unknown: " + rule
        reason = None
    else:
        text = f"All specialties: {present} patients present"
        if level != "green":
            threshold = red if level == "red" else amber
            text += f" ({level} from {threshold:g}, {basis.replace('_', ' ')})"
        if usual_present is not None:
            text += f"; usual for this hour {usual_present:.0f}"
        reason = {
            "specialty": "all",
            "level": level,
            "present": present,
            "amber": amber,
            "red": red,
            "basis": basis,
            "usual_present": usual_present,
            "text": text,
        }
    return {"level": level, "reason": reason, "text": text, "areas": {}, "rule": rule}
