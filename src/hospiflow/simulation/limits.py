"""The work budget of a scenario: bounds that keep one simulation finite.

A scenario that validates must also be one the machine can run: before these
bounds, ``arrivals.rate_per_hour = 10000`` for 60 days grew a server to 4.8 GB,
and a start date of 9999-12-30, a seed of 1e20 or a rate of 1e15 passed
validation and crashed later. ``check(scenario)`` is called by the scenario's
own validation, so ``hospiflow scenario check``, ``simulate``, ``live`` and the
API's what-ifs refuse the same scenarios with the same message. The API adds
a smaller budget of its own on top (``expected_patients`` against its
``MAX_SIMULATION_PATIENTS`` setting).

The budget is counted in **expected patients** (warm-up included): the mean
rate times the hours simulated, since profiles are rescaled to average 1
(``simulation.scenario``). The simulator's time and memory grow with it
(about 0.3 KB of memory per patient with the store's sink), not with the
calendar length alone.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from hospiflow.errors import ScenarioError

if TYPE_CHECKING:
    from hospiflow.simulation.scenario import Scenario

MAX_PATIENTS = 20_000_000
"""Expected patients of one run, warm-up included (50 years at ~45 an hour)."""
MAX_WARMUP_DAYS = 366.0
"""Longest warm-up: the state settles within days; a year is already generous."""
MAX_SEED = 2**63 - 1
"""Largest seed: the store keeps it as a 64-bit integer."""
FIRST_START = date(1900, 1, 1)
LAST_START = date(2199, 12, 31)
"""Start dates: a run (≤ 50 years) then ends well inside Python's calendar."""
MAX_SHIFTS = 1_000
"""Most shift blocks in a roster."""
MAX_DOCTORS = 10_000
"""Most doctors on a roster (the sum of every shift's ``doctors``)."""
MAX_NAME_CHARS = 200
"""Longest scenario name."""


def expected_patients(scenario: Scenario) -> float:
    """The expected number of arrivals over warm-up and reported period."""
    return scenario.arrival_rate_per_hour * 24.0 * (scenario.days + scenario.warmup_days)


def _refuse(where: str, message: str, value: Any, **details: Any) -> ScenarioError:
    return ScenarioError(f"{message}, got {value!r}", where=where, value=value, **details)


def check(scenario: Scenario, max_patients: float = MAX_PATIENTS) -> None:
    """Refuse a scenario whose work or values exceed the bounds above.

    Called after the scenario's own checks of types and signs, so the values
    here are finite numbers of the right kind.
    """
    if len(scenario.name) > MAX_NAME_CHARS:
        raise _refuse("name", f"must be at most {MAX_NAME_CHARS} characters", scenario.name[:40])
    if not FIRST_START <= scenario.start_date <= LAST_START:
        raise _refuse(
            "start_date",
            f"must be between {FIRST_START.isoformat()} and {LAST_START.isoformat()}",
            scenario.start_date.isoformat(),
        )
    if scenario.warmup_days > MAX_WARMUP_DAYS:
        raise _refuse("warmup_days", f"must be at most {MAX_WARMUP_DAYS:g}", scenario.warmup_days)
    if scenario.seed is not None and scenario.seed > MAX_SEED:
        raise _refuse("seed", "must be below 2**63", scenario.seed)
    if len(scenario.shifts) > MAX_SHIFTS:
        raise _refuse("shifts", f"must hold at most {MAX_SHIFTS} shifts", len(scenario.shifts))
    doctors = sum(shift.doctors for shift in scenario.shifts)
    if doctors > MAX_DOCTORS:
        raise _refuse("shifts", f"must name at most {MAX_DOCTORS} doctors in all", doctors)
    check_budget(scenario, max_patients, where="arrival_rate_per_hour")


def check_budget(scenario: Scenario, max_patients: float, where: str) -> None:
    """Refuse a scenario expecting more than ``max_patients`` patients."""
    patients = expected_patients(scenario)
    if patients > max_patients:
        raise ScenarioError(
            f"expects {patients:,.0f} patients (rate per hour × 24 × (days + warm-up days)); "
            f"the budget is {max_patients:,.0f}: lower the rate or the days",
            where=where,
            expected_patients=round(patients),
            max_patients=max_patients,
        )
