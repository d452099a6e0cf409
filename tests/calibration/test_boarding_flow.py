"""The flow's fitted boarding (``[flow] boarding_minutes``, ``boarding_profile``) and hourly
profiles of the triage delay and first doctor contact, which a calibrated scenario uses."""

from __future__ import annotations

import dataclasses
from datetime import date

import numpy as np
import pytest

from hospiflow.calibration.exitblock import block_length, monthly_factors
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


def test_exit_block_days_scale_each_days_boarding_and_are_redrawn_per_run():
    """Day factors 0 or 2 (blocks of 1 day): each day's boarders all board ~0 or ~2 × the
    mean, and two seeds draw different sequences of days."""
    base = load_scenario("emergency")
    flow = dataclasses.replace(
        base.flow,
        wards=(),
        boarding_minutes=60.0,
        boarding_cv=0.3,
        boarding_days=(0.0, 2.0),
        boarding_block_days=1,
    )
    sequences = []
    for seed in (1, 2):
        flow_result = Engine(base.replace(days=21.0, flow=flow, seed=seed)).run().flow
        admitted = flow_result.disposition == int(Disposition.ADMITTED)
        request = flow_result.bed_request[admitted]
        boarding = flow_result.departure[admitted] - request
        day = (request // 1440).astype(int)  # winter: local days are UTC+1 days, none cut
        inside = (day >= 0) & (day < 21)
        means = np.array([boarding[inside & (day == d)].mean() for d in range(21)])
        print(f"seed {seed}: daily mean boarding {np.round(means).tolist()}")
        assert np.all((means < 1.0) | ((means > 90) & (means < 160)))
        sequences.append(means > 60)
        assert 0 < sequences[-1].sum() < 21
    assert not np.array_equal(sequences[0], sequences[1])


def test_block_length_follows_how_long_spells_last():
    rng = np.random.default_rng(3)
    assert block_length(rng.normal(1.0, 0.5, 120)) <= 2  # independent days
    spells = np.repeat(rng.choice([0.2, 2.5], 12), 10)  # spells of 10 days
    assert block_length(spells + rng.normal(0, 0.1, 120)) >= 5
    assert block_length((1.0,) * 30) == 1


def test_each_window_of_a_run_takes_a_level_the_site_has_had():
    """A site with a month of exit block (day factors 1.8) and a quiet month (0.2): days
    redrawn alone (blocks of 1 day) give every 4-week run about the mean level; with
    boarding_level_days = 28 a run's 4 weeks take the level of 28 consecutive days of
    the site from a random start, so runs range from quiet to blocked, as its months did."""
    base = load_scenario("emergency")
    days = (1.8,) * 28 + (0.2,) * 28
    spread = {}
    for level_days in (0, 28):
        flow = dataclasses.replace(
            base.flow,
            wards=(),
            boarding_minutes=60.0,
            boarding_cv=0.2,
            boarding_days=days,
            boarding_block_days=1,
            boarding_level_days=level_days,
        )
        levels = []
        for seed in range(1, 9):
            scenario = base.replace(days=21.0, warmup_days=7.0, flow=flow, seed=seed)
            result = Engine(scenario).run().flow
            admitted = result.disposition == int(Disposition.ADMITTED)
            levels.append(float(np.mean((result.departure - result.bed_request)[admitted])) / 60)
        print(f"level days {level_days}: run levels {np.round(levels, 2).tolist()}")
        spread[level_days] = (min(levels), max(levels))
    assert spread[0][0] > 0.55 and spread[0][1] < 1.45  # days alone average out
    assert spread[28][0] < 0.5 and spread[28][1] > 1.5  # months differ
    assert spread[28][0] > 0.1 and spread[28][1] < 2.0  # by levels the site has had


def test_exit_block_by_month_is_divided_out_of_the_days():
    """January's days 3, February's 1 with episodes, a 10-day March: January and
    February get their means (3 and 1 / the history's mean), March too few days (1), and
    the days left have mean 1 within every month seen, so the season is not counted twice."""
    rng = np.random.default_rng(5)
    months = np.repeat([1, 2, 3], [31, 28, 10])
    days = np.where(months == 1, 3.0, 1.0) * rng.choice([0.5, 1.5], len(months))
    days = days / days.mean()
    monthly, rest = monthly_factors(tuple(days), months)
    print(f"monthly {monthly[:3]}")
    assert monthly[0] / monthly[1] == pytest.approx(3.0, rel=0.2)
    assert monthly[2] == 1.0 and monthly[3:] == (1.0,) * 9
    rest_array = np.asarray(rest)
    for m in (1, 2):
        assert rest_array[months == m].mean() == pytest.approx(1.0, rel=0.15)
    assert rest_array.std() > 0.3  # the episodes stay


def test_waits_are_redrawn_on_the_days_of_exit_block():
    """triage_days beside boarding_days (0.3 or 1.7, blocks of 1 day): each run day takes
    both factors of one observed day, so days of long boarding are days of long waits."""
    base = load_scenario("emergency")
    pattern = (0.3, 1.7) * 10
    flow = dataclasses.replace(
        base.flow,
        wards=(),
        boarding_minutes=60.0,
        boarding_cv=0.2,
        boarding_days=pattern,
        boarding_block_days=1,
        triage_days=pattern,
        triage_profile=(1.0,) * 24,
    )
    result = Engine(base.replace(days=21.0, flow=flow, seed=3)).run()
    admitted = result.flow.disposition == int(Disposition.ADMITTED)
    request = result.flow.bed_request[admitted]
    boarding = result.flow.departure[admitted] - request
    wait = result.start - result.arrival
    arrival_day = (result.arrival // 1440).astype(int)  # winter: UTC+1, none cut
    request_day = (request // 1440).astype(int)
    days = range(1, 20)
    boards = [boarding[request_day == d].mean() for d in days]
    waits = [np.nanmean(wait[arrival_day == d]) for d in days]
    correlation = float(np.corrcoef(boards, waits)[0, 1])
    print(f"daily boarding {np.round(boards).tolist()}, waits {np.round(waits).tolist()}")
    assert correlation > 0.6  # waits also queue for doctors and spaces here
    assert max(waits) / min(waits) > 2.5


def test_boarders_take_the_factor_of_their_month():
    """boarding_monthly 3 in January, 1 in February: a run across both boards three times
    as long in January."""
    base = load_scenario("emergency")
    monthly = (3.0, 1.0) + (1.0,) * 10
    flow = dataclasses.replace(
        base.flow,
        wards=(),
        boarding_minutes=60.0,
        boarding_cv=0.2,
        boarding_days=(1.0,) * 30,
        boarding_monthly=monthly,
    )
    result = Engine(base.replace(start_date=date(2025, 1, 18), days=28.0, flow=flow)).run().flow
    admitted = result.disposition == int(Disposition.ADMITTED)
    request = result.bed_request[admitted]
    boarding = result.departure[admitted] - request
    january = request < 14 * 1440 - 60  # 14 local days from 18 January, UTC+1
    ratio = np.median(boarding[january]) / np.median(boarding[~january])
    print(f"January / February boarding {ratio:.2f}")
    assert 2.5 < ratio < 3.5


def test_boarders_ready_at_night_leave_when_beds_are_released_by_day():
    """Beds released only by day (08-20, 39 × the night's rate): 60 minutes of boarding
    asked for at 22-23 h end the next morning; asked for at 10-16 h, within the hour."""
    release = tuple([0.05] * 8 + [1.95] * 12 + [0.05] * 4)
    result = _run(boarding_minutes=60.0, boarding_cv=0.2, boarding_release_profile=release)
    flow = result.flow
    admitted = flow.disposition == int(Disposition.ADMITTED)
    request = flow.bed_request[admitted]
    boarding = flow.departure[admitted] - request
    hour = ((request // 60) % 24).astype(int)  # winter: no DST
    late = (hour >= 22) & (hour < 24)
    leave_hour = ((request[late] + boarding[late]) // 60) % 24
    print(
        f"asked 22-23 h: boarding {np.median(boarding[late]):.0f} min (median), "
        f"leaving at {np.median(leave_hour):.0f} h; asked 10-16 h: "
        f"{np.median(boarding[(hour >= 10) & (hour < 16)]):.0f} min"
    )
    assert late.sum() > 50
    assert np.all((leave_hour >= 8) & (leave_hour < 11))
    assert np.median(boarding[(hour >= 10) & (hour < 16)]) < 45
