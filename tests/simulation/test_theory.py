"""Theory: the simulator against Erlang C, Allen–Cunneen and Little's law.

Each check pools ≥ 20 independent replications of 365 days (fixed seeds, run
in a process pool like ``hospiflow simulate --replications``), so the
sampling error is a few percent and the tolerances of issue 2 hold with a
margin: mean wait within 10 % of Erlang C (16 % where ρ ≥ 0.85), P(wait > 0)
within 0.02, utilisation within 0.015, Allen–Cunneen within 15 %, Little's
law per run within 1 %.
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from sim_scenarios import build_around_the_clock

from hospiflow.queueing import allen_cunneen, mmc, service_mixture
from hospiflow.simulation.replications import run_replications
from hospiflow.simulation.scenario import Scenario, stationary_scenario

REPLICATIONS = 24
WORKERS = min(2, os.cpu_count() or 1)
MINUTES_PER_YEAR = 365 * 24 * 60.0

Metrics = dict[tuple[str, str], float]


def _replicate(scenario: Scenario, n: int) -> list[Metrics]:
    """KPIs of ``n`` replications, keyed by (metric, scope)."""
    reps = run_replications(scenario, range(n), WORKERS)
    return [{(metric, scope): float(value) for metric, scope, value, _ in rep} for rep in reps]


def _mean(runs: list[Metrics], metric: str, scope: str) -> float:
    return float(np.mean([run[(metric, scope)] for run in runs]))


# --------------------------------------------------------------------------- M/M/c

STATIONARY = stationary_scenario()
CATALOG = STATIONARY.load_catalog()
DOCTORS = STATIONARY.doctors_per_specialty()


def _stationary_theory() -> dict[str, object]:
    """Erlang C of each specialty: rate from the catalog's share of λ, one pathology each."""
    shares = CATALOG.monthly_weights(False)[0]
    theory = {}
    for pathology, share in zip(CATALOG.pathologies, shares, strict=True):
        rate = STATIONARY.arrival_rate_per_hour * float(share)
        theory[pathology.specialty] = mmc(
            rate, pathology.mean_treatment_minutes, DOCTORS[pathology.specialty]
        )
    return theory


THEORY = _stationary_theory()


@pytest.fixture(scope="module")
def stationary_runs() -> list[Metrics]:
    """24 replications × 365 days of the stationary validation scenario."""
    return _replicate(STATIONARY, REPLICATIONS)


def test_stationary_scenario_spans_the_utilisations_of_the_issue():
    """The validation scenario has ≥ 4 pooled 24/7 specialties, one pathology each, ρ 0.6–0.9."""
    assert STATIONARY.routing == "pooled"
    assert STATIONARY.days >= 365 and STATIONARY.warmup_days > 0
    assert len(THEORY) >= 4 and len(THEORY) == len(CATALOG.pathologies)
    assert all(shift.length_minutes == 1440 for shift in STATIONARY.shifts)
    rhos = sorted(result.utilisation for result in THEORY.values())
    assert rhos[0] == pytest.approx(0.60) and rhos[-1] == pytest.approx(0.90)


@pytest.mark.slow
@pytest.mark.parametrize("specialty", sorted(THEORY))
def test_mean_wait_matches_erlang_c(stationary_runs, specialty):
    """Each specialty's mean wait is within 10 % of Erlang C (16 % where ρ ≥ 0.85)."""
    theory = THEORY[specialty]
    tolerance = 0.16 if theory.utilisation >= 0.85 else 0.10
    simulated = _mean(stationary_runs, "wait_mean", specialty)
    assert simulated == pytest.approx(theory.mean_wait_minutes, rel=tolerance)


@pytest.mark.slow
@pytest.mark.parametrize("specialty", sorted(THEORY))
def test_probability_of_waiting_matches_erlang_c(stationary_runs, specialty):
    """Each specialty's share of patients who wait at all is within 0.02 of Erlang C."""
    simulated = _mean(stationary_runs, "p_wait_positive", specialty)
    assert simulated == pytest.approx(THEORY[specialty].p_wait, abs=0.02)


@pytest.mark.slow
@pytest.mark.parametrize("specialty", sorted(THEORY))
def test_utilisation_matches_offered_load(stationary_runs, specialty):
    """Busy time over on-duty time is within 0.015 of ρ = λ/(cμ)."""
    simulated = _mean(stationary_runs, "utilisation", specialty)
    assert simulated == pytest.approx(THEORY[specialty].utilisation, abs=0.015)


@pytest.mark.slow
@pytest.mark.parametrize("scope", ["all", *sorted(THEORY)])
def test_littles_law_holds_in_every_run(stationary_runs, scope):
    """In every run, the time-averaged number present L equals λ·W within 1 %."""
    for run in stationary_runs:
        rate_per_minute = run[("arrivals", scope)] / MINUTES_PER_YEAR
        expected = rate_per_minute * run[("length_of_stay_mean", scope)]
        assert run[("mean_patients_present", scope)] == pytest.approx(expected, rel=0.01)


@pytest.mark.slow
@pytest.mark.parametrize("scope", ["all", *sorted(THEORY)])
def test_littles_law_holds_for_the_queue_in_every_run(stationary_runs, scope):
    """In every run, the time-averaged number waiting Lq equals λ·Wq within 2 %.

    2 % rather than 1 %: Lq is the smaller quantity, so a busy period that
    straddles the start or the end of the year (counted in L over the year
    but not in the reported patients' waits, or the reverse) weighs more;
    over 24 runs the largest gap seen was 1.2 %, with no bias (mean 0.0 %).
    """
    for run in stationary_runs:
        rate_per_minute = run[("arrivals", scope)] / MINUTES_PER_YEAR
        expected = rate_per_minute * run[("wait_mean", scope)]
        assert run[("mean_waiting", scope)] == pytest.approx(expected, rel=0.02)


# --------------------------------------------------------------------------- Allen–Cunneen

MIX_RATE = 32.0  # patients/hour: lets every specialty sit at ρ 0.6–0.85 with whole doctors


def _mixture_setup() -> tuple[Scenario, dict[str, tuple[object, object, float]]]:
    """The 26-pathology catalog, flat and 24/7, each specialty staffed to the lowest ρ ≥ 0.6."""
    catalog = build_around_the_clock().load_catalog()
    shares = catalog.monthly_weights(False)[0]
    groups: dict[str, list[tuple[float, float]]] = {}
    for pathology, share in zip(catalog.pathologies, shares, strict=True):
        groups.setdefault(pathology.specialty, []).append(
            (float(share), pathology.mean_treatment_minutes)
        )
    doctors: dict[str, int] = {}
    theory = {}
    for specialty, items in groups.items():
        weights, means = zip(*items, strict=True)
        mean, cs2 = service_mixture(weights, means)
        rate = MIX_RATE * sum(weights)
        load = rate * mean / 60.0
        doctors[specialty] = int(load / 0.6)
        theory[specialty] = (
            allen_cunneen(rate, mean, doctors[specialty], cv2_arrival=1.0, cv2_service=cs2),
            mmc(rate, mean, doctors[specialty]),
            cs2,
        )
    scenario = build_around_the_clock(
        doctors, arrival_rate_per_hour=MIX_RATE, warmup_days=14.0, name="mixture"
    )
    return scenario, theory


MIXTURE, MIX_THEORY = _mixture_setup()


@pytest.fixture(scope="module")
def mixture_runs() -> list[Metrics]:
    """20 replications × 365 days of the pathology-mix scenario."""
    return _replicate(MIXTURE, 20)


def test_mixture_scenario_is_in_the_intended_range():
    """Every specialty of the mix scenario mixes pathologies (cs² > 1) at ρ 0.6–0.85."""
    for allen, _, cs2 in MIX_THEORY.values():
        assert 0.6 <= allen.utilisation <= 0.85
        assert cs2 > 1.0


@pytest.mark.slow
@pytest.mark.parametrize("specialty", sorted(MIX_THEORY))
def test_mean_wait_of_pathology_mixes_matches_allen_cunneen(mixture_runs, specialty):
    """A specialty treating pathologies of different lengths waits within 15 % of Allen–Cunneen."""
    allen = MIX_THEORY[specialty][0]
    simulated = _mean(mixture_runs, "wait_mean", specialty)
    assert simulated == pytest.approx(allen.mean_wait_minutes, rel=0.15)


@pytest.mark.slow
def test_erlang_c_alone_under_predicts_the_most_mixed_specialty(mixture_runs):
    """Where service times vary most, plain Erlang C misses by > 15 % (why Allen–Cunneen)."""
    specialty = max(MIX_THEORY, key=lambda s: MIX_THEORY[s][2])
    erlang = MIX_THEORY[specialty][1]
    assert _mean(mixture_runs, "wait_mean", specialty) > 1.15 * erlang.mean_wait_minutes


@pytest.mark.slow
def test_mixture_utilisation_matches_offered_load(mixture_runs):
    """With mixed services too, busy over on-duty time is within 0.015 of λ·E[S]/c."""
    for specialty, (allen, _, _) in MIX_THEORY.items():
        simulated = _mean(mixture_runs, "utilisation", specialty)
        assert simulated == pytest.approx(allen.utilisation, abs=0.015), specialty
