"""The patient flow's rules, checked on short runs of the ``emergency`` scenario."""

from __future__ import annotations

import numpy as np
import pytest

from hospiflow.errors import ScenarioError
from hospiflow.records import Disposition
from hospiflow.simulation.engine import Engine
from hospiflow.simulation.scenario import load_scenario, scenario_from_toml, scenario_to_toml

EMERGENCY = load_scenario("emergency")


@pytest.fixture(scope="module")
def month():
    engine = Engine(EMERGENCY.replace(days=30.0))
    return engine, engine.run()


def test_scenario_toml_round_trips_with_the_flow():
    text = scenario_to_toml(EMERGENCY)
    assert "[flow]" in text and "[[flow.wards]]" in text and "triage_scale" in text
    again = scenario_from_toml(text)
    assert again.flow == EMERGENCY.flow and again.flow_active


@pytest.mark.parametrize(
    ("snippet", "named"),
    [
        ('[flow]\ntriage_scale = "XYZ"\n', "flow.triage_scale"),
        ("[flow]\nacuity_mix = [1, 2]\n", "flow.acuity_mix"),
        ("[flow]\nadmission = 1.5\n", "flow.admission"),
        ("[flow]\nbeds = 3\n", "unknown key 'beds'"),
        ('[[flow.areas]]\nname = "a"\nspaces = -1\n', "flow.areas[0].spaces"),
        ("[flow.pathologies.nothing]\nadmission = 0.1\n", "flow.pathologies.nothing"),
    ],
)
def test_bad_flow_values_are_refused_naming_the_key(snippet, named):
    base = scenario_to_toml(load_scenario("default"))
    base = base[: base.index("\n# Patient flow.")] + "\n"
    with pytest.raises(ScenarioError) as caught:
        scenario_from_toml(base + snippet, where="my.toml")
    assert named in str(caught.value)


def test_dispositions_and_times_are_consistent(month):
    _, result = month
    flow = result.flow
    gone = flow.disposition > 0
    assert gone.mean() > 0.99
    lwbs = flow.disposition == int(Disposition.LEFT_WITHOUT_BEING_SEEN)
    assert np.isnan(result.start[lwbs]).all() and not np.isnan(result.start[gone & ~lwbs]).any()
    seen = gone & ~lwbs
    assert (result.arrival[seen] <= result.start[seen]).all()
    assert (result.end[seen] <= flow.departure[seen]).all()
    admitted = flow.disposition == int(Disposition.ADMITTED)
    assert admitted.any() and (flow.bed_request[admitted] <= flow.departure[admitted]).all()
    # a bed is asked for the admitted only; those transferred after one was asked for
    # boarded until the limit (the default's 24 h) without getting it
    transferred = flow.disposition == int(Disposition.TRANSFERRED)
    assert np.isnan(flow.bed_request[gone & ~admitted & ~transferred]).all()
    no_bed = transferred & ~np.isnan(flow.bed_request)
    limit = 60.0 * EMERGENCY.flow.max_boarding_hours
    assert np.allclose(flow.departure[no_bed] - flow.bed_request[no_bed], limit)
    # boarding happens: some admitted patients wait for a bed
    assert ((flow.departure - flow.bed_request)[admitted] > 0).any()


def test_spaces_never_exceed_their_area(month):
    _, result = month
    flow = result.flow
    for a, capacity in enumerate(flow.area_spaces):
        m = flow.space_area == a
        times = np.concatenate([flow.space_start_all[m], flow.space_end_all[m]])
        steps = np.concatenate([np.ones(m.sum()), -np.ones(m.sum())])
        order = np.lexsort((steps, times))  # a release before a take at the same instant
        assert np.cumsum(steps[order]).max() <= capacity


def test_doctors_take_the_most_urgent_waiting_patient_first(month):
    """Whenever a first assessment starts, no more urgent patient of that specialty was waiting
    for a doctor in a space (non-preemptive priority; CCMU: 5 most urgent)."""
    _, result = month
    flow = result.flow
    seen = ~np.isnan(result.start)
    checked = 0
    for s in range(len(result.run.specialties)):
        m = np.flatnonzero(seen & (result.specialty == s))
        order = m[np.argsort(result.start[m])]
        for p in order[::50]:
            t = result.start[p]
            waiting = m[(flow.space_start[m] < t) & (result.start[m] > t)]
            assert (flow.acuity[waiting] <= flow.acuity[p]).all()
            checked += 1
    assert checked > 100
