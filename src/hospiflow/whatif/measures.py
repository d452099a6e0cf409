"""What a what-if compares: a handful of measures of one run's reported period.

Each is computed from the run's flat arrays (no trace, no store). Patients are
those who arrived in the reported period; the department's hourly level is the
one saturation rule every view shares (``tension.status``: patients waiting per
doctor on duty, averaged over the hour, in each specialty; the department takes
its worst), the basis the forecast and ``tests/tension/test_status.py`` use.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hospiflow.simulation.engine import Engine, SimulationResult
from hospiflow.simulation.recorder import hourly_state
from hospiflow.simulation.scenario import Scenario
from hospiflow.tension.status import StatusRule, levels_array

__all__ = ["MEASURES", "Measure", "measure", "run_arm"]


@dataclass(frozen=True)
class Measure:
    key: str
    label: str
    unit: str
    lower_is_better: bool
    flow_only: bool = False  # needs the patient flow (dispositions, departures, boarding)


MEASURES: tuple[Measure, ...] = (
    Measure("door_to_doctor_mean_min", "door-to-doctor wait", "min", True),
    Measure("length_of_stay_mean_min", "length of stay", "min", True),
    Measure("share_within_4h", "within 4 h", "share", False),
    Measure("boarding_hours_per_day", "boarding", "h/day", True, flow_only=True),
    Measure("red_hours", "hours at red", "hours", True),
    Measure("red_days", "days with red", "days", True),
    Measure("lwbs_share", "left unseen", "share", True),
)


def _mean(values: np.ndarray) -> float:
    values = values[~np.isnan(values)]
    return float(values.mean()) if len(values) else float("nan")


def measure(result: SimulationResult, rule: StatusRule) -> dict[str, float]:
    """The measures of one run (NaN where the run cannot tell, e.g. boarding without flow)."""
    los = result.flow_los if result.flow is not None else result.departure - result.arrival
    gone = los[~np.isnan(los)]
    days = result.calendar.horizon_hours / 24.0
    n = result.n_patients
    if result.flow is not None:
        flow = result.flow
        admitted = ~np.isnan(flow.bed_request)
        boarded = (flow.departure - flow.bed_request)[admitted]
        boarding = float(np.nansum(boarded)) / 60.0 / days if days else float("nan")
    else:
        boarding = float("nan")
    state = hourly_state(result)
    department = levels_array(state.waiting, state.doctors_on_duty, rule).max(axis=1)
    red = department == 2
    cal = result.calendar
    day_of_hour = cal.day_index[cal.reported_slots()]
    return {
        "door_to_doctor_mean_min": _mean(result.wait),
        "length_of_stay_mean_min": _mean(los),
        "share_within_4h": float((gone <= 240).mean()) if len(gone) else float("nan"),
        "boarding_hours_per_day": boarding,
        "red_hours": float(red.sum()),
        "red_days": float(len(np.unique(day_of_hour[red]))),
        "lwbs_share": float((~np.isnan(result.left)).sum() / n) if n else float("nan"),
    }


def run_arm(
    scenario: Scenario, seed: int | np.random.SeedSequence, rule: StatusRule
) -> dict[str, float]:
    """One run of one arm, reduced to its measures (a pool task: a few numbers go back)."""
    return measure(Engine(scenario, seed=seed).run(), rule)
