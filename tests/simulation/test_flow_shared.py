"""Shared emergency physicians with specialist consults (``[flow] shared_physicians``).

The common layout of real departments: emergency physicians, one pool, see every
patient first whatever the pathology; a share of each pathology's patients then
waits for a consult by a doctor of the pathology's specialty.

The queueing check: with an ample pool (40 physicians for 12.5 patients an hour, so
nobody waits for one) the pool is an M/G/∞ queue, whose departures are a Poisson
process in steady state (Mirasol 1963); consults are independent marks of it, so each
specialty's consults arrive as a Poisson process and, with exponential consults and
specialists around the clock, each specialty's consult queue is an M/M/c queue:
its mean wait is Erlang C's (checked inside the replications' 95 % CI, Bonferroni
over the specialties).
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np
import pytest

from hospiflow.errors import ScenarioError
from hospiflow.queueing import mmc
from hospiflow.simulation.engine import Engine
from hospiflow.simulation.flowconfig import Area, FlowConfig, PathologyFlow
from hospiflow.simulation.recorder import hourly_state, kpis
from hospiflow.simulation.replications import run_replications
from hospiflow.simulation.scenario import (
    Shift,
    default_scenario,
    scenario_from_toml,
    scenario_to_toml,
    stationary_scenario,
)

POOL = "general_medicine"
CONSULT = 0.3


def shared_hospital(days: float = 30.0):
    """The default hospital with emergency physicians (the general medicine posts, now
    17 around the day) and one specialist per other specialty by day and by night."""
    base = default_scenario(days=days)
    physicians = (
        Shift(POOL, "08:00", "20:00", 8, label="day"),
        Shift(POOL, "10:00", "22:00", 4, label="evening"),
        Shift(POOL, "20:00", "08:00", 5, label="night"),
    )
    specialists = tuple(
        Shift(code, start, end, 1, label=label)
        for code in base.doctors_per_specialty()
        if code != POOL
        for start, end, label in (("08:00", "20:00", "day"), ("20:00", "08:00", "night"))
    )
    pathologies = dict(base.flow.pathologies)
    pathologies["myocardial_infarction"] = dataclasses.replace(
        pathologies["myocardial_infarction"], consult=0.95
    )
    flow = dataclasses.replace(
        base.flow,
        shared_physicians=POOL,
        consult=CONSULT,
        consult_minutes=20.0,
        pathologies=pathologies,
    )
    return base.replace(name="shared", shifts=physicians + specialists, flow=flow)


@pytest.fixture(scope="module")
def month():
    scenario = shared_hospital()
    return scenario, Engine(scenario).run()


def test_scenario_show_documents_the_option_and_round_trips():
    scenario = shared_hospital()
    text = scenario_to_toml(scenario)
    assert f'shared_physicians = "{POOL}"' in text and "consult_minutes = 20" in text
    assert "emergency physicians" in text or "see every\n# patient first" in text
    assert "consult = 0.95" in text  # the per-pathology override
    assert scenario_from_toml(text) == scenario
    plain = scenario_to_toml(default_scenario())
    assert 'shared_physicians = ""' in plain  # documented, off, in the default too


@pytest.mark.parametrize(
    ("line", "bad", "named"),
    [
        ('shared_physicians = ""', 'shared_physicians = "dermatology"', "flow.shared_physicians"),
        ("consult = 0\n", "consult = 1.5\n", "flow.consult"),
        ("consult_minutes = 30", "consult_minutes = -3", "flow.consult_minutes"),
    ],
)
def test_bad_shared_values_are_refused_naming_the_key(line, bad, named):
    text = scenario_to_toml(default_scenario())
    assert line in text
    with pytest.raises(ScenarioError) as caught:
        scenario_from_toml(text.replace(line, bad, 1), where="my.toml")
    assert named in str(caught.value)


def test_physicians_see_everyone_first_and_specialists_give_the_consults(month):
    scenario, result = month
    flow = result.flow
    codes = result.catalog.specialty_codes
    pool = codes.index(POOL)
    seen = ~np.isnan(result.start)
    first_specialty = result.doctor_specialty[result.doctor[seen]]
    assert (first_specialty == pool).all()  # the physicians see every patient first
    asked = ~np.isnan(flow.consult_request)
    assert asked.sum() > 500
    assert (result.specialty[asked] != pool).all()  # their own specialty needs no consult
    begun = asked & ~np.isnan(flow.consult_start)
    assert (flow.consult_request[begun] >= result.start[begun]).all()
    waits = flow.consult_start[begun] - flow.consult_request[begun]
    assert (waits >= 0).all() and (waits > 0).mean() > 0.05  # consult waits appear
    done = begun & (flow.disposition > 0)
    assert (flow.consult_start[done] <= flow.departure[done]).all()
    # the share asked for: 30 % of the other specialties' seen patients, 95 % for infarcts
    mi = result.catalog.pathology_codes.index("myocardial_infarction")
    other = seen & (result.specialty != pool) & (result.pathology != mi)
    share = asked[other].mean()
    half = 4 * np.sqrt(CONSULT * (1 - CONSULT) / other.sum())
    assert abs(share - CONSULT) < half, share
    assert asked[seen & (result.pathology == mi)].mean() > 0.85
    metrics = {(m, s): v for m, s, v, _ in kpis(result)}
    assert metrics[("consults", "all")] == int(asked.sum())
    assert metrics[("consult_wait_mean", "all")] == pytest.approx(float(np.mean(waits)))


def test_first_waits_are_counted_in_the_physicians_queue(month):
    """Hourly waiting for a first doctor is the pool's: other specialties wait for none."""
    _, result = month
    state = hourly_state(result)
    pool = result.catalog.specialty_codes.index(POOL)
    others = np.delete(state.waiting, pool, axis=1)
    assert state.waiting[:, pool].sum() > 0 and np.allclose(others, 0.0)


# --------------------------------------------------------------------------- theory

STATIONARY = stationary_scenario()
CATALOG = STATIONARY.load_catalog()
AMPLE = 40
SHARE = 0.5
CONSULT_MINUTES = 30.0
SPECIALISTS = {code: 1 for code in CATALOG.specialty_codes if code != POOL}


def _theory_scenario():
    shifts = (Shift(POOL, "00:00", "00:00", AMPLE, label="24h"),) + tuple(
        Shift(code, "00:00", "00:00", n, label="24h") for code, n in SPECIALISTS.items()
    )
    return STATIONARY.replace(
        name="shared-theory",
        days=120.0,
        shifts=shifts,
        flow=FlowConfig(
            enabled=True,
            areas=(Area("boxes", 0),),
            shared_physicians=POOL,
            consult=SHARE,
            consult_minutes=CONSULT_MINUTES,
            pathologies={POOL: PathologyFlow(consult=0.0)},
        ),
    )


@pytest.mark.slow
def test_consult_queues_are_erlang_c_behind_an_ample_pool():
    scenario = _theory_scenario()
    shares = CATALOG.monthly_weights(False)[0]
    runs = run_replications(scenario, range(10), min(2, os.cpu_count() or 1))
    values = [{(m, s): float(v) for m, s, v, _ in rep} for rep in runs]
    from scipy import stats

    family = len(SPECIALISTS)
    lines = []
    for pathology, share in zip(CATALOG.pathologies, shares, strict=True):
        code = pathology.specialty
        if code == POOL:
            continue
        rate = scenario.arrival_rate_per_hour * float(share) * SHARE
        theory = mmc(rate, CONSULT_MINUTES, SPECIALISTS[code])
        x = np.array([run[("consult_wait_mean", code)] for run in values])
        half = stats.t.ppf(1 - 0.025 / family, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
        lines.append(
            (code, theory.utilisation, theory.mean_wait_minutes, x.mean() - half, x.mean() + half)
        )
    for code, rho, expected, low, high in lines:
        print(f"{code:18s} ρ={rho:.2f} Erlang C {expected:6.2f} min in [{low:.2f}, {high:.2f}]")
    for code, _, expected, low, high in lines:
        assert low <= expected <= high, code
