"""Scenario builders shared by the simulation tests (a plain module: importable by name).

Test modules import it directly (``from sim_scenarios import ...``) when they
need a scenario at collection time, e.g. to parametrise over its specialties;
``conftest.py`` exposes the same builders as fixtures.
"""

from __future__ import annotations

from typing import Any

from hospiflow.simulation.flowconfig import FlowConfig
from hospiflow.simulation.scenario import Scenario, Shift, default_scenario

FLAT: dict[str, Any] = {
    "timezone": "UTC",
    "hourly_profile": (1.0,) * 24,
    "weekday_profile": (1.0,) * 7,
    "monthly_profile": (1.0,) * 12,
    "pathology_seasonality": False,
    "flow": FlowConfig(),  # the plain queueing model: the theory checks need it
}


def build_around_the_clock(
    doctors: dict[str, int] | None = None, scale: int = 1, **changes: Any
) -> Scenario:
    """The default catalog with flat profiles, no seasonality, UTC and 24/7 shifts.

    ``doctors`` gives each specialty's doctors (default: the default roster's
    headcount times ``scale``), every one of them on duty around the clock.
    """
    base = default_scenario()
    counts = doctors or {s: n * scale for s, n in base.doctors_per_specialty().items()}
    shifts = tuple(Shift(s, "00:00", "00:00", n, label="24h") for s, n in counts.items())
    return base.replace(**{**FLAT, "shifts": shifts, **changes})
