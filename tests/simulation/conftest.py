"""Fixtures of the simulation tests: small scenarios built in milliseconds, shared runs.

The long statistical runs live in the test modules that need them; what is
here is cheap and shared (a month of the plain hospital, a builder of
"around the clock" scenarios without daily or seasonal cycles).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sim_scenarios import build_around_the_clock

from hospiflow.simulation.engine import Engine, SimulationResult
from hospiflow.simulation.scenario import Scenario, plain_scenario


@pytest.fixture
def around_the_clock() -> Callable[..., Scenario]:
    """Builder of stationary-shaped scenarios on the 26-pathology default catalog."""
    return build_around_the_clock


@pytest.fixture(scope="session")
def month_scenario() -> Scenario:
    """The plain hospital (the default without the flow: shifts, daily and weekly cycles,
    seasonality) for 30 days."""
    return plain_scenario(days=30.0)


@pytest.fixture(scope="session")
def month_result(month_scenario: Scenario) -> SimulationResult:
    """One run of ``month_scenario`` (seed 7), shared read-only by many tests."""
    return Engine(month_scenario).run()


@pytest.fixture(scope="session")
def impatient_scenario() -> Scenario:
    """The plain hospital for 30 days with short patience: many leave unseen."""
    return plain_scenario(days=30.0, abandonment=True, mean_patience_minutes=20.0)


@pytest.fixture(scope="session")
def impatient_result(impatient_scenario: Scenario) -> SimulationResult:
    """One run of ``impatient_scenario``."""
    return Engine(impatient_scenario).run()
