"""Real paired replications of the emergency department, small: a null change's
intervals hold 0, several more doctors shorten the wait, and the paired interval is
the textbook one."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from hospiflow.errors import ScenarioError
from hospiflow.simulation.scenario import Scenario, load_scenario
from hospiflow.whatif.changes import ChangeSet, change_set_from_dict
from hospiflow.whatif.compare import WhatIfSettings, run_whatif
from hospiflow.whatif.paired import paired_interval

SMALL = WhatIfSettings(replications=5, weeks=2, warmup_days=2, workers=2)


@pytest.fixture(scope="module")
def emergency() -> Scenario:
    return load_scenario("emergency")


def _row(result, key: str) -> dict:
    return next(m for m in result.as_dict()["measures"] if m["key"] == key)


def test_paired_interval_is_scipy_paired_t() -> None:
    rng = np.random.default_rng(3)
    a = rng.normal(50, 10, 12)
    b = a + rng.normal(-4, 3, 12)
    ci = paired_interval(a, b)
    reference = stats.ttest_rel(b, a).confidence_interval(0.95)
    assert (ci.low, ci.high) == pytest.approx((reference.low, reference.high))
    assert ci.difference == pytest.approx(float(np.mean(b - a)))
    assert ci.n == 12
    # NaN pairs are left out, one pair cannot give an interval
    assert paired_interval(np.array([1.0, np.nan, 3.0]), np.array([2.0, 5.0, 4.0])).n == 2
    assert np.isnan(paired_interval(np.array([1.0]), np.array([2.0])).low)


def test_null_change_interval_contains_zero(emergency: Scenario) -> None:
    ticks: list[tuple[int, int]] = []
    result = run_whatif(emergency, ChangeSet(), SMALL, progress=lambda d, t: ticks.append((d, t)))
    assert ticks[-1] == (10, 10) and [d for d, _ in ticks] == list(range(1, 11))
    keys = {m["key"] for m in result.as_dict()["measures"]}
    assert {
        "door_to_doctor_mean_min",
        "length_of_stay_mean_min",
        "share_within_4h",
        "boarding_hours_per_day",
        "red_hours",
        "red_days",
        "lwbs_share",
    } == keys
    for m in result.as_dict()["measures"]:
        assert m["pairs"] == 5
        assert m["low"] <= 0 <= m["high"], m
        assert not m["significant"]
    wait = _row(result, "door_to_doctor_mean_min")
    assert wait["baseline"] > 0 and wait["baseline"] == wait["change"]


def test_several_more_doctors_shorten_the_wait(emergency: Scenario) -> None:
    specialties = emergency.load_catalog().specialty_codes
    changes = change_set_from_dict(
        {
            "doctors": [
                {"specialty": s, "start": "08:00", "end": "00:00", "change": 2} for s in specialties
            ]
        }
    )
    result = run_whatif(emergency, changes, SMALL)
    wait = _row(result, "door_to_doctor_mean_min")
    print(
        f"\nwait {wait['baseline']:.1f} -> {wait['change']:.1f} min, "
        f"difference {wait['difference']:.1f} [{wait['low']:.1f}, {wait['high']:.1f}]"
    )
    assert wait["high"] < 0  # the whole interval says shorter
    assert wait["significant"]
    # the baseline arm is the same runs as the null what-if's (same seeds)
    null = run_whatif(emergency, ChangeSet(), SMALL)
    assert result.baseline == null.baseline


def test_budget_and_settings_are_refused_by_name(emergency: Scenario) -> None:
    with pytest.raises(ScenarioError) as caught:
        run_whatif(emergency, ChangeSet(), SMALL, max_patients=10_000)
    assert caught.value.where == "replications"
    for kwargs, where in (
        ({"replications": 1}, "replications"),
        ({"weeks": 0}, "weeks"),
        ({"weeks": 100}, "weeks"),
    ):
        with pytest.raises(ScenarioError) as bad:
            WhatIfSettings(**kwargs)
        assert bad.value.where == where


def test_both_arms_see_the_same_patients(emergency: Scenario) -> None:
    """Common random numbers: changing doctors or spaces leaves every patient's arrival,
    pathology, acuity and age the same in both arms. (Ward beds do not: the wards' initial
    census draws from the flow's stream, so a change of beds shifts the patients' draws.)"""
    from hospiflow.simulation.engine import Engine
    from hospiflow.whatif.changes import apply

    base = emergency.replace(days=3.0, warmup_days=1.0)
    changes = change_set_from_dict(
        {
            "doctors": [{"specialty": "cardiology", "start": "18:00", "end": "02:00", "change": 1}],
            "spaces": 4,
        }
    )
    a = Engine(base, seed=np.random.SeedSequence(5, spawn_key=(3,))).run()
    b = Engine(apply(base, changes), seed=np.random.SeedSequence(5, spawn_key=(3,))).run()
    assert a.flow is not None and b.flow is not None
    assert np.array_equal(a.arrival, b.arrival)
    assert np.array_equal(a.pathology, b.pathology)
    assert np.array_equal(a.flow.acuity, b.flow.acuity)
    assert np.array_equal(a.flow.age, b.flow.age)
    assert not np.array_equal(a.wait, b.wait, equal_nan=True)  # the change did change things
