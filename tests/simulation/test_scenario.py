"""The scenario object and its TOML file: immutable, validated, round-tripping."""

from __future__ import annotations

import dataclasses
from datetime import date

import pytest

from hospiflow.errors import ScenarioError
from hospiflow.simulation.scenario import (
    Shift,
    default_scenario,
    load_scenario,
    scenario_from_toml,
    scenario_to_toml,
    stationary_scenario,
)


def _round_trip(scenario):
    return scenario_from_toml(scenario_to_toml(scenario))


@pytest.mark.parametrize(
    "scenario",
    [
        default_scenario(),
        stationary_scenario(),
        default_scenario(
            name="winter",
            start_date=date(2024, 11, 1),
            timezone="America/New_York",
            days=90.5,
            warmup_days=3.0,
            seed=123,
            snapshot_step_minutes=1.0,
            arrival_rate_per_hour=8.25,
            pathology_seasonality=False,
            treatment_distribution="fixed",
            routing="shortest-queue",
            abandonment=True,
            mean_patience_minutes=45.0,
            shifts=(
                Shift("general_medicine", "07:30", "19:30", 2, label="day"),
                Shift("general_medicine", "19:30", "07:30", 1, days=("sat", "sun")),
                *[
                    Shift(s, "00:00", "00:00", 2)
                    for s in default_scenario().doctors_per_specialty()
                ],
            ),
        ),
    ],
    ids=["default", "stationary", "everything-changed"],
)
def test_toml_round_trip_gives_the_same_scenario(scenario):
    """``scenario_to_toml`` then ``scenario_from_toml`` gives an equal scenario."""
    assert _round_trip(scenario) == scenario


def test_toml_file_round_trip(tmp_path):
    """A scenario written to a file loads back equal through ``load_scenario``."""
    scenario = default_scenario(days=10.0, routing="random")
    path = tmp_path / "s.toml"
    path.write_text(scenario_to_toml(scenario), encoding="utf-8")
    assert load_scenario(path) == scenario


def test_scenario_is_immutable_and_replace_validates():
    """A scenario cannot be changed in place; ``replace`` gives a validated copy."""
    scenario = default_scenario()
    with pytest.raises(dataclasses.FrozenInstanceError):
        scenario.days = 3.0  # type: ignore[misc]
    assert scenario.replace(days=3.0).days == 3.0 and scenario.days == 365.0
    with pytest.raises(ScenarioError):
        scenario.replace(days=-3.0)


def test_builtin_scenarios_load_by_name():
    """``load_scenario('default')`` and ``('stationary')`` are the helpers' scenarios."""
    assert load_scenario("default") == default_scenario()
    assert load_scenario("stationary") == stationary_scenario()
    assert default_scenario(days=5.0).days == 5.0


# --------------------------------------------------------------------------- round trips


def test_a_seedless_scenario_round_trips_without_a_seed():
    """``seed = None`` (fresh randomness every run) survives the TOML round trip."""
    assert _round_trip(default_scenario(seed=None)).seed is None


@pytest.mark.parametrize(
    "changes",
    [
        {"arrival_rate_per_hour": 12.3456789},
        {"days": 1234.5678},
        {"hourly_profile": (1 / 3,) * 24},
    ],
    ids=["rate", "days", "profile"],
)
def test_numbers_round_trip_exactly(changes):
    """Any float parameter survives the TOML round trip unchanged (repr precision)."""
    scenario = default_scenario(**changes)
    assert _round_trip(scenario) == scenario


@pytest.mark.parametrize(
    "changes",
    [
        {"name": 'ward "B"'},
        {"name": "C:\\temp\\ward"},
        {
            "shifts": (
                *default_scenario().shifts,
                Shift("cardiology", "08:00", "09:00", 1, label='"x"'),
            )
        },
    ],
    ids=["quote-in-name", "backslash-in-name", "quote-in-label"],
)
def test_text_with_quotes_or_backslashes_round_trips(changes):
    """Names and labels with quotes or backslashes are escaped in the TOML and read back."""
    scenario = default_scenario(**changes)
    assert _round_trip(scenario) == scenario
