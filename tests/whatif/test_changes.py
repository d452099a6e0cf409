"""The change set: every lever lands in the scenario where it should, and every bad
value is refused with the field named."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hospiflow.errors import ScenarioError
from hospiflow.records import Disposition
from hospiflow.simulation.calendar import build_calendar, duty_plans
from hospiflow.simulation.engine import Engine
from hospiflow.simulation.scenario import Scenario, load_scenario
from hospiflow.whatif.changes import ChangeSet, apply, change_set_from_dict, describe


@pytest.fixture(scope="module")
def emergency() -> Scenario:
    return load_scenario("emergency").replace(days=7.0, warmup_days=0.0)


def _on_duty(scenario: Scenario, specialty: str) -> dict[int, float]:
    """Doctors of ``specialty`` on duty at each local hour of the first full day (Wed)."""
    cal = build_calendar(scenario)
    counts = {h: 0.0 for h in range(24, 48)}
    for plan in duty_plans(scenario, cal):
        if plan.specialty != specialty:
            continue
        for a, b in plan.periods:
            for h in counts:
                if a <= 60 * h + 30 < b:
                    counts[h] += 1
    return {h - 24: n for h, n in counts.items()}


def test_null_change_is_the_base(emergency: Scenario) -> None:
    changed = apply(emergency, ChangeSet())
    assert changed.shifts == emergency.shifts
    assert changed.flow.areas == emergency.flow.areas
    assert changed.arrival_rate_per_hour == emergency.arrival_rate_per_hour
    assert ChangeSet().is_null
    assert "no change" in describe(emergency, ChangeSet())[0]


def test_a_doctor_added_over_an_evening_window(emergency: Scenario) -> None:
    changes = change_set_from_dict(
        {"doctors": [{"specialty": "cardiology", "start": "18:00", "end": "02:00", "change": 1}]}
    )
    before = _on_duty(emergency, "cardiology")
    after = _on_duty(apply(emergency, changes), "cardiology")
    added = {h: after[h] - before[h] for h in range(24)}
    assert added == {h: 1.0 if h >= 18 or h < 2 else 0.0 for h in range(24)}


def test_a_doctor_removed_over_part_of_a_shift(emergency: Scenario) -> None:
    """Removing one of the two day doctors from 12:00 to 16:00 leaves the rest of their day."""
    changes = change_set_from_dict(
        {"doctors": [{"specialty": "pulmonology", "start": "12:00", "end": "16:00", "change": -1}]}
    )
    before = _on_duty(emergency, "pulmonology")
    after = _on_duty(apply(emergency, changes), "pulmonology")
    removed = {h: before[h] - after[h] for h in range(24)}
    assert removed == {h: 1.0 if 12 <= h < 16 else 0.0 for h in range(24)}


def test_spaces_beds_arrivals_diagnostics_and_wards(emergency: Scenario) -> None:
    changes = change_set_from_dict(
        {
            "spaces": 4,
            "ward_beds": {"surgery": 10},
            "arrivals_percent": 5,
            "diagnostics_factor": 0.5,
            "discharge_hours_earlier": 2,
            "ward_stay_hours": -12,
        }
    )
    changed = apply(emergency, changes)
    areas = {a.name: a.spaces for a in changed.flow.areas}
    assert areas == {"resuscitation": 6, "boxes": 48, "fast-track": 10}  # the largest area
    wards = {w.name: (w.beds, w.mean_stay_days) for w in changed.flow.wards}
    assert wards["surgery"] == (90, 3.5)
    assert wards["medicine"] == (282, 5.5)
    assert changed.arrival_rate_per_hour == pytest.approx(12.5 * 1.05)
    assert changed.flow.diagnostics_mean_minutes == pytest.approx(37.5)
    profile = emergency.flow.ward_discharge_profile
    assert changed.flow.ward_discharge_profile[9] == profile[11]  # the 11:00 peak at 09:00
    lines = describe(emergency, changes)
    assert "boxes: 44 -> 48 spaces" in lines
    assert "surgery: 80 -> 90 beds" in lines


@pytest.mark.parametrize(
    ("data", "where", "says"),
    [
        (
            {"doctors": [{"specialty": "oncology", "start": "18:00", "end": "02:00", "change": 1}]},
            "changes.doctors[0].specialty",
            "not a specialty",
        ),
        (
            {
                "doctors": [
                    {"specialty": "cardiology", "start": "25:00", "end": "02:00", "change": 1}
                ]
            },
            "changes.doctors[0].start",
            "HH:MM",
        ),
        (
            {
                "doctors": [
                    {"specialty": "cardiology", "start": "18:00", "end": "02:00", "change": 0}
                ]
            },
            "changes.doctors[0].change",
            "not 0",
        ),
        (
            {
                "doctors": [
                    {"specialty": "neurology", "start": "12:00", "end": "16:00", "change": -3}
                ]
            },
            "changes.doctors[0].change",
            "cannot remove 3",
        ),
        (
            {"doctors": [{"specialty": "cardiology", "start": "18:00"}]},
            "changes.doctors[0]",
            "missing key 'change'",
        ),
        ({"spaces": {"corridor": 4}}, "changes.spaces.corridor", "no treatment area named"),
        ({"spaces": -44}, "changes.spaces", "would leave 'boxes' with 0 spaces"),
        ({"spaces": 2.5}, "changes.spaces", "whole number"),
        ({"ward_beds": {"medicine": -300}}, "changes.ward_beds.medicine", "with -18 beds"),
        ({"arrivals_percent": -100}, "changes.arrivals_percent", "above -100"),
        ({"diagnostics_factor": 0}, "changes.diagnostics_factor", "above 0"),
        ({"discharge_hours_earlier": 1.5}, "changes.discharge_hours_earlier", "whole number"),
        ({"ward_stay_hours": -200}, "changes.ward_stay_hours", "mean stay"),
        ({"nurses": 3}, "changes", "unknown key 'nurses'"),
    ],
)
def test_bad_change_sets_name_the_field(
    emergency: Scenario, data: dict, where: str, says: str
) -> None:
    with pytest.raises(ScenarioError) as caught:
        apply(emergency, change_set_from_dict(data))
    assert caught.value.where == where
    assert says in caught.value.message
    assert caught.value.http_status == 422


def test_flow_levers_need_a_flow_scenario() -> None:
    plain = load_scenario("plain").replace(days=7.0)
    with pytest.raises(ScenarioError, match="patient flow"):
        apply(plain, change_set_from_dict({"spaces": 2}))
    # doctors and arrivals work on any scenario
    changed = apply(plain, change_set_from_dict({"arrivals_percent": 10}))
    assert changed.arrival_rate_per_hour == pytest.approx(plain.arrival_rate_per_hour * 1.1)


def test_boarding_sooner_shortens_ward_stays_or_the_fitted_boarding(emergency: Scenario) -> None:
    """With wards, a bed frees N hours sooner (stays shorter); on a calibrated site without
    wards each boarder leaves N hours sooner than drawn (not before the bed request)."""
    changes = change_set_from_dict({"boarding_hours_sooner": 2})
    with_wards = apply(emergency, changes)
    assert [w.mean_stay_days for w in with_wards.flow.wards] == pytest.approx(
        [w.mean_stay_days - 2 / 24 for w in emergency.flow.wards]
    )
    site = emergency.replace(
        flow=dataclasses.replace(emergency.flow, wards=(), boarding_minutes=150.0)
    )
    sooner = apply(site, changes).flow
    assert sooner.boarding_minutes == 150.0 and sooner.boarding_sooner_minutes == 120.0
    assert "each fitted boarder 120 min sooner" in describe(site, changes)[0]
    # with unlimited spaces boarders delay nobody: the same requests in both runs
    free = [dataclasses.replace(a, spaces=0) for a in site.flow.areas]
    roomy = site.replace(days=14.0, flow=dataclasses.replace(site.flow, areas=tuple(free)))
    runs = [Engine(s).run().flow for s in (roomy, apply(roomy, changes))]
    admitted = [f.disposition == int(Disposition.ADMITTED) for f in runs]
    boarding = [(f.departure - f.bed_request)[a] for f, a in zip(runs, admitted, strict=True)]
    print(f"mean boarding {boarding[0].mean():.0f} -> {boarding[1].mean():.0f} min")
    assert boarding[1].min() >= 0
    assert np.array_equal(boarding[1], np.maximum(boarding[0] - 120.0, 0.0))  # same draws
    with pytest.raises(ScenarioError) as caught:
        apply(site, change_set_from_dict({"ward_beds": 10}))
    assert caught.value.where == "changes.ward_beds"
    assert "boarding_hours_sooner" in caught.value.message
    bare = site.replace(flow=dataclasses.replace(site.flow, boarding_minutes=0.0))
    with pytest.raises(ScenarioError) as none:
        apply(bare, changes)
    assert none.value.where == "changes.boarding_hours_sooner"
