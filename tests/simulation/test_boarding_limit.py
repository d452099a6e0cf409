"""The boarding limit (``[flow] max_boarding_hours``, per ward or flow-wide).

A boarder still waiting for a ward bed when the limit runs out leaves the
department transferred (to another hospital): the bed request is withdrawn
(no ward stay ever starts for them), the space is freed, and the run counts
them in ``transfers_no_bed``. Without a limit (0, the key's default) the flow
is the one it was before the limit existed: a huge limit, which never fires,
gives the very same visits as no limit.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from hospiflow.errors import ScenarioError
from hospiflow.records import Disposition
from hospiflow.simulation.engine import Engine, SimulationResult
from hospiflow.simulation.flowconfig import Area, FlowConfig, Ward
from hospiflow.simulation.recorder import kpis
from hospiflow.simulation.scenario import (
    Scenario,
    default_scenario,
    scenario_from_toml,
    scenario_to_toml,
    stationary_scenario,
)

STATIONARY = stationary_scenario()
SPECIALTIES = STATIONARY.load_catalog().specialty_codes
LIMIT_HOURS = 2.0
BEDS = 3
TRANSFERRED = int(Disposition.TRANSFERRED)
ADMITTED = int(Disposition.ADMITTED)


def tiny_ward(limit_hours: float, **ward: object) -> Scenario:
    """Every specialty admits 40 % into one ward of 3 beds with 2-day stays: a queue at once."""
    return STATIONARY.replace(
        name="tiny-ward",
        days=10.0,
        warmup_days=0.0,
        flow=FlowConfig(
            enabled=True,
            admission=0.4,
            areas=(Area("boxes", 0),),
            max_boarding_hours=limit_hours,
            wards=(
                Ward(
                    "ward",
                    BEDS,
                    2.0,
                    SPECIALTIES,
                    occupancy_at_start=1.0,
                    discharge_by_profile=False,
                    **ward,  # type: ignore[arg-type]
                ),
            ),
        ),
    )


def boarding(result: SimulationResult) -> np.ndarray:
    """Minutes from bed request to leaving (to the run's end for those still there)."""
    flow = result.flow
    assert flow is not None
    end = np.where(np.isnan(flow.departure), result.end_minute, flow.departure)
    return end - flow.bed_request


@pytest.fixture(scope="module")
def limited() -> SimulationResult:
    return Engine(tiny_ward(LIMIT_HOURS)).run()


def test_boarders_leave_transferred_when_the_limit_runs_out(limited):
    flow = limited.flow
    limit = 60.0 * LIMIT_HOURS
    transferred = (flow.disposition == TRANSFERRED) & ~np.isnan(flow.bed_request)
    assert transferred.sum() > 50  # the ward is full: most admissions wait past the limit
    # their stay: time to the bed request, plus the limit (within a minute)
    stay = flow.departure[transferred] - limited.arrival[transferred]
    to_request = flow.bed_request[transferred] - limited.arrival[transferred]
    assert np.abs(stay - (to_request + limit)).max() < 1.0
    # nobody boards past the limit, and the admitted got their bed before it
    asked = ~np.isnan(flow.bed_request)
    assert (boarding(limited)[asked] <= limit + 1e-6).all()
    admitted = flow.disposition == ADMITTED
    assert admitted.any() and (boarding(limited)[admitted] < limit).all()
    metrics = {(m, s): v for m, s, v, _ in kpis(limited)}
    assert metrics[("transfers_no_bed", "all")] == transferred.sum()
    assert metrics[("transfers", "all")] >= transferred.sum()


def test_a_transferred_boarder_never_takes_a_bed_and_frees_the_space(limited):
    flow = limited.flow
    # ward stays: the census at the start plus one per patient admitted from the department
    census = BEDS  # occupancy_at_start = 1
    admitted = int((flow.disposition == ADMITTED).sum())
    assert len(flow.stay_start) == census + admitted
    transferred = (flow.disposition == TRANSFERRED) & ~np.isnan(flow.bed_request)
    assert not np.isin(flow.departure[transferred], flow.stay_start).any()
    # the space is held until the transfer, not a moment longer
    held = dict(zip(flow.space_start_all.tolist(), flow.space_end_all.tolist(), strict=False))
    for p in np.flatnonzero(transferred)[:20]:
        assert held[flow.space_start[p]] == flow.departure[p]


def test_without_a_limit_the_same_boarders_wait_longer():
    unlimited = Engine(tiny_ward(0.0)).run()
    flow = unlimited.flow
    asked = ~np.isnan(flow.bed_request)
    assert (boarding(unlimited)[asked] > 60.0 * LIMIT_HOURS).sum() > 50
    assert not ((flow.disposition == TRANSFERRED) & asked).any()


def test_a_ward_limit_overrides_the_flow_default():
    """The ward says 0 (no limit): the flow's 2 h does not apply to its boarders."""
    result = Engine(tiny_ward(LIMIT_HOURS, max_boarding_hours=0.0)).run()
    flow = result.flow
    asked = ~np.isnan(flow.bed_request)
    assert not ((flow.disposition == TRANSFERRED) & asked).any()
    assert (boarding(result)[asked] > 60.0 * LIMIT_HOURS).any()
    shorter = Engine(tiny_ward(0.0, max_boarding_hours=1.0)).run()
    asked = ~np.isnan(shorter.flow.bed_request)
    assert boarding(shorter)[asked].max() == pytest.approx(60.0, abs=1e-6)


def test_the_limit_caps_boarding_without_a_ward():
    """A specialty with no ward boards ``boarding_minutes``; past the limit: transferred."""
    scenario = STATIONARY.replace(
        days=10.0,
        flow=FlowConfig(
            enabled=True,
            admission=0.4,
            boarding_minutes=300.0,
            max_boarding_hours=4.0,
            areas=(Area("boxes", 0),),
        ),
    )
    result = Engine(scenario).run()
    flow = result.flow
    asked = ~np.isnan(flow.bed_request)
    transferred = asked & (flow.disposition == TRANSFERRED)
    assert transferred.sum() > 100
    assert np.allclose(boarding(result)[transferred], 240.0)
    assert (boarding(result)[asked & (flow.disposition == ADMITTED)] <= 240.0).all()


def _visits(result: SimulationResult) -> list[np.ndarray]:
    flow = result.flow
    assert flow is not None
    return [
        result.arrival,
        result.start,
        result.end,
        flow.departure,
        flow.bed_request,
        flow.disposition,
        flow.stay_end,
        flow.board_end,
    ]


@pytest.mark.parametrize("with_wards", [True, False])
def test_no_limit_and_a_limit_never_reached_give_the_same_run(with_wards):
    """The default hospital's January with no limit (the path every run took before it
    existed) and with a limit of a million hours: the same visits, to the bit."""
    base = default_scenario().replace(days=31.0, warmup_days=7.0)
    flow = (
        base.flow
        if with_wards
        else dataclasses.replace(base.flow, wards=(), boarding_minutes=200.0)
    )
    none = Engine(base.replace(flow=dataclasses.replace(flow, max_boarding_hours=0.0))).run()
    huge = Engine(base.replace(flow=dataclasses.replace(flow, max_boarding_hours=1e6))).run()
    for a, b in zip(_visits(none), _visits(huge), strict=True):
        assert np.array_equal(a, b, equal_nan=True)
    assert (boarding(none)[~np.isnan(none.flow.bed_request)] > 0).any()


def test_the_default_hospital_keeps_nobody_past_72_hours():
    """Its 24-hour limit: no January stay over 72 h (the import's plausibility bound), and
    some boarders transferred; without it, January kept boarders for days."""
    base = default_scenario().replace(days=31.0)
    assert base.flow.max_boarding_hours == 24
    result = Engine(base).run()
    los = result.flow_los
    assert np.nanmax(los) <= 72 * 60
    asked = ~np.isnan(result.flow.bed_request)
    assert boarding(result)[asked].max() <= 24 * 60 + 1e-6
    unlimited = Engine(
        base.replace(flow=dataclasses.replace(base.flow, max_boarding_hours=0.0))
    ).run()
    assert boarding(unlimited)[~np.isnan(unlimited.flow.bed_request)].max() > 24 * 60


def test_the_limit_round_trips_through_toml_and_bad_values_are_refused():
    scenario = tiny_ward(6.0, max_boarding_hours=12.5)
    text = scenario_to_toml(scenario)
    assert "max_boarding_hours = 6" in text and "max_boarding_hours = 12.5" in text
    again = scenario_from_toml(text)
    assert again.flow.max_boarding_hours == 6.0
    assert again.flow.wards[0].max_boarding_hours == 12.5
    with pytest.raises(ScenarioError) as caught:
        scenario_from_toml(text.replace("max_boarding_hours = 6\n", "max_boarding_hours = -1\n"))
    assert "flow.max_boarding_hours" in str(caught.value)
    with pytest.raises(ScenarioError) as caught:
        scenario_from_toml(text.replace("max_boarding_hours = 12.5", 'max_boarding_hours = "x"'))
    assert "flow.wards[0].max_boarding_hours" in str(caught.value)
