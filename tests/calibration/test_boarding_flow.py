"""The flow's fitted boarding (``[flow] boarding_minutes``, ``boarding_profile``) and hourly
profiles of the triage delay and first doctor contact, which a calibrated scenario uses."""

from __future__ import annotations

import dataclasses

import numpy as np

from hospiflow.records import Disposition
from hospiflow.simulation.engine import Engine
from hospiflow.simulation.scenario import load_scenario


def _run(**flow_changes: object):
    base = load_scenario("emergency")
    flow = dataclasses.replace(base.flow, wards=(), **flow_changes)
    return Engine(base.replace(days=21.0, flow=flow)).run()


def test_admitted_patients_without_a_ward_board_for_the_fitted_time():
    result = _run(boarding_minutes=120.0, boarding_cv=0.8)
    flow = result.flow
    admitted = flow.disposition == int(Disposition.ADMITTED)
    boarding = (flow.departure - flow.bed_request)[admitted]
    print(f"mean boarding {boarding.mean():.1f} min over {admitted.sum()} admissions")
    assert admitted.sum() > 1000
    assert abs(boarding.mean() / 120 - 1) < 0.08
    assert np.std(boarding) / boarding.mean() > 0.6


def test_boarding_and_triage_follow_their_hourly_profiles():
    night = tuple([3.0] * 8 + [0.2] * 16)  # long at night, short by day
    result = _run(boarding_minutes=60.0, boarding_profile=night, triage_profile=night)
    flow = result.flow
    admitted = flow.disposition == int(Disposition.ADMITTED)
    request_hour = ((flow.bed_request[admitted] // 60) % 24).astype(int)  # winter: no DST
    boarding = (flow.departure - flow.bed_request)[admitted]
    at_night, by_day = boarding[request_hour < 8].mean(), boarding[request_hour >= 8].mean()
    print(f"boarding at night {at_night:.0f} min, by day {by_day:.0f} min")
    assert at_night > 8 * by_day
    seen = ~np.isnan(result.start)
    wait = (result.start - result.arrival)[seen]
    hour = ((result.arrival[seen] // 60) % 24).astype(int)
    assert wait[hour < 6].mean() > 3 * wait[(hour >= 10) & (hour < 14)].mean()
