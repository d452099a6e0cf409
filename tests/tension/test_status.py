"""The one status rule: levels, what it names, unknown never green, and how rare red
is on the default hospital (measured on a simulated year, printed)."""

from __future__ import annotations

import numpy as np
import pytest

from hospiflow.errors import HospiflowError
from hospiflow.tension.status import (
    AreaState,
    StatusRule,
    area_level,
    department_status,
    levels_array,
)

RULE = StatusRule()


def test_levels_follow_waiting_per_doctor() -> None:
    assert area_level(3, 1, RULE) == "green"  # one doctor, three waiting: busy, not alarming
    assert area_level(4, 1, RULE) == "amber"
    assert area_level(15, 2, RULE) == "amber"
    assert area_level(16, 2, RULE) == "red"
    assert area_level(8, 0, RULE) == "red"
    assert area_level(1, 0, RULE) == "red"  # patients wait and nobody will see them
    assert area_level(0, 0, RULE) == "green"
    assert area_level(None, 2, RULE) == "unknown"
    assert area_level(3, None, RULE) == "unknown"
    got = levels_array(np.array([3, 4, 16, np.nan, 1, 0]), np.array([1, 1, 2, 1, 0, 0]), RULE)
    assert got.tolist() == [0, 1, 2, -1, 2, 0]


def test_department_status_names_the_area_and_its_numbers() -> None:
    areas = [
        AreaState("cardiology", "Cardiology", 5, 2, 20.0),
        AreaState("pulmonology", "Pulmonology", 9, 1, 95.0, usual_waiting_per_doctor=1.5),
        AreaState("neurology", "Neurology", 17, 2, 40.0),
    ]
    status = department_status(areas, RULE)
    assert status["level"] == "red"
    assert status["reason"]["specialty"] == "pulmonology"  # 9 per doctor beats 8.5
    assert status["text"].startswith("Pulmonology: 9 waiting for 1 doctor, longest 95 min")
    assert "usual for this hour 1.5 per doctor" in status["text"]
    assert "(and 1 more red)" in status["text"]
    assert status["areas"] == {"cardiology": "green", "pulmonology": "red", "neurology": "red"}


def test_unknown_is_never_green_and_never_hides_a_known_level() -> None:
    unknown = [AreaState("a", "A", None, None), AreaState("b", "B", None, 2)]
    assert department_status(unknown, RULE)["level"] == "unknown"
    mixed = [*unknown, AreaState("c", "C", 1, 2)]
    status = department_status(mixed, RULE)
    assert status["level"] == "green" and status["reason"]["specialty"] == "c"


def test_rule_settings_are_checked() -> None:
    with pytest.raises(HospiflowError, match="red_waiting_per_doctor"):
        StatusRule(amber_waiting_per_doctor=5, red_waiting_per_doctor=4)
    with pytest.raises(HospiflowError, match="amber_waiting_per_doctor"):
        StatusRule(amber_waiting_per_doctor=0)


@pytest.mark.parametrize(
    ("name", "red_at_most", "amber_at_most"),
    [("plain", 0.05, 0.25), ("default", 0.10, 0.40)],
)
def test_red_is_rare_on_the_built_in_hospitals(name, red_at_most, amber_at_most) -> None:
    """A simulated year of a built-in hospital: share of hours the department is red
    (hourly time averages of every specialty's queue and doctors, the forecast's
    basis) and amber or worse. The old badge was red 42 % of hours on the plain
    hospital; the default (flow) hospital saturates more, as its calibration to
    published ranges wants (22 % of patients out after 4 h), yet red stays rare."""
    from hospiflow.simulation.engine import Engine
    from hospiflow.simulation.recorder import hourly_state
    from hospiflow.simulation.scenario import load_scenario

    result = Engine(load_scenario(name).replace(seed=1)).run()
    state = hourly_state(result)
    levels = levels_array(state.waiting, state.doctors_on_duty, RULE)
    department = levels.max(axis=1)
    red = float(np.mean(department == 2))
    amber_or_worse = float(np.mean(department >= 1))
    print(
        f"\n{name} hospital, {len(department)} hours: red {red:.1%} of hours, "
        f"amber or worse {amber_or_worse:.1%} (rule: {RULE.rule})"
    )
    assert (levels >= 0).all()
    assert 0.0 < red <= red_at_most
    assert red < amber_or_worse <= amber_at_most


def test_the_forecast_saturation_is_the_status_rule() -> None:
    """The forecast's "saturated" hour is the status rule at the forecast's threshold: at 4
    the Now badge's amber-or-worse, at 8 its red (one definition)."""
    from hospiflow.forecast.saturation import SaturationSettings, observed_saturation

    settings = SaturationSettings(waiting_per_doctor=RULE.amber_waiting_per_doctor)
    rng = np.random.default_rng(2)
    waiting = rng.poisson(3.0, size=(500, 8)).astype(float)
    doctors = rng.integers(0, 3, size=(500, 8)).astype(float)
    waiting[0, 0] = np.nan
    got = observed_saturation(waiting, doctors, settings)
    level = levels_array(waiting, doctors, RULE)
    assert np.isnan(got[0, 0]) and level[0, 0] == -1
    known = level >= 0
    assert np.array_equal(got[known] == 1.0, level[known] >= 1)
    red = observed_saturation(waiting, doctors, SaturationSettings(waiting_per_doctor=8.0))
    assert np.array_equal(red[known] == 1.0, level[known] == 2)
