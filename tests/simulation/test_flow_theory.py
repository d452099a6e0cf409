"""Theory for the patient flow: priority queues, ward beds, Little's law.

* Non-preemptive priority M/M/c with classes of equal service rate (Cobham
  1954; Kella & Yechiali 1985): the mean wait of class k is
  W_k = W0 / ((1 − σ_{k−1})(1 − σ_k)), W0 = C(c, a) / (cμ) the mean residual
  work until a server frees (C the Erlang C probability of waiting at the
  total load a = λ/μ), σ_k = Σ_{i≤k} λ_i / (cμ). Checked per class and
  specialty: the exact value lies inside the confidence interval of the
  replications' means, 95 % jointly over the module's 26 interval checks
  (Bonferroni: each interval at 1 − 0.05/26; with 26 separate 95 % intervals
  one would miss about three times in four even with an exact model).
* Ward beds fed by the ED's admissions, with exponential stays and no
  discharge hours: admissions leave stationary M/M/c doctor queues (Burke:
  Poisson), so the ward is M/M/c: the mean boarding time is the Erlang C
  mean wait; with ``overflow = "transfer"`` it is M/M/c/c and the share of
  admissions sent elsewhere is Erlang B.
* Little's law on treatment spaces and ward beds in every run.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from hospiflow.queueing import erlang_b, mmc
from hospiflow.simulation.engine import Engine
from hospiflow.simulation.flowconfig import Area, FlowConfig, Ward
from hospiflow.simulation.recorder import kpis
from hospiflow.simulation.replications import run_replications
from hospiflow.simulation.scenario import Scenario, stationary_scenario

WORKERS = min(2, os.cpu_count() or 1)
REPLICATIONS = 20
STATIONARY = stationary_scenario()
CATALOG = STATIONARY.load_catalog()
DOCTORS = STATIONARY.doctors_per_specialty()
SHARES = (0.2, 0.3, 0.5)  # ESI levels 1, 2, 3 (1 most urgent)


def _replicate(scenario: Scenario, n: int) -> list[dict[tuple[str, str], float]]:
    reps = run_replications(scenario, range(n), WORKERS)
    return [{(metric, scope): float(value) for metric, scope, value, _ in rep} for rep in reps]


def _ci(values: list[float], family: int = 1) -> tuple[float, float]:
    """The confidence interval of the mean of independent replications (Student t).

    95 % for one check; for a family of ``family`` checks, Bonferroni's
    95 % / family each, so that all of them hold together with 95 % confidence
    (24 checks at 95 % each would miss one about 70 % of the time).
    """
    from scipy import stats

    x = np.asarray(values, dtype=float)
    half = stats.t.ppf(1 - 0.025 / family, len(x) - 1) * x.std(ddof=1) / np.sqrt(len(x))
    return float(x.mean() - half), float(x.mean() + half)


# --------------------------------------------------------------------------- priority M/M/c

PRIORITY = STATIONARY.replace(
    name="priority",
    flow=FlowConfig(
        enabled=True,
        triage_scale="ESI",
        acuity_mix=(*SHARES, 0.0, 0.0),
        areas=(Area("boxes", 0),),
    ),
)


def priority_waits(rate_per_hour: float, minutes: float, doctors: int) -> list[float]:
    """Mean wait (minutes) of each class of ``SHARES``, most urgent first (Cobham)."""
    theory = mmc(rate_per_hour, minutes, doctors)
    w0 = theory.p_wait * minutes / doctors
    load = rate_per_hour * minutes / 60.0 / doctors
    waits, sigma = [], 0.0
    for share in SHARES:
        before = sigma
        sigma += share * load
        waits.append(w0 / ((1 - before) * (1 - sigma)))
    return waits


def _priority_theory() -> dict[str, tuple[float, list[float]]]:
    shares = CATALOG.monthly_weights(False)[0]
    theory = {}
    for pathology, share in zip(CATALOG.pathologies, shares, strict=True):
        rate = PRIORITY.arrival_rate_per_hour * float(share)
        c = DOCTORS[pathology.specialty]
        rho = rate * pathology.mean_treatment_minutes / 60.0 / c
        theory[pathology.specialty] = (
            rho,
            priority_waits(rate, pathology.mean_treatment_minutes, c),
        )
    return theory


PRIORITY_THEORY = _priority_theory()
# every interval check of this module, held jointly at 95 % (Bonferroni): the priority
# classes of each specialty, the Erlang C boarding and the Erlang B blocking
FAMILY = len(PRIORITY_THEORY) * len(SHARES) + 2


def test_priority_formula_reduces_to_erlang_c_for_one_class():
    """With one class W_1 = W0 / (1 − ρ): the Erlang C mean wait."""
    theory = mmc(10.0, 30.0, 6)
    w0 = theory.p_wait * 30.0 / 6
    assert w0 / (1 - theory.utilisation) == pytest.approx(theory.mean_wait_minutes)


def test_priority_scenario_spans_the_loads_of_the_issue():
    rhos = sorted(rho for rho, _ in PRIORITY_THEORY.values())
    assert rhos[0] == pytest.approx(0.6) and rhos[-1] == pytest.approx(0.9)
    assert sum(1 for s in SHARES if s > 0) >= 3


@pytest.fixture(scope="module")
def priority_runs():
    return _replicate(PRIORITY, REPLICATIONS)


@pytest.mark.slow
@pytest.mark.parametrize("specialty", sorted(PRIORITY_THEORY))
def test_priority_waits_by_class_match_cobham(priority_runs, specialty):
    """Each class's mean door-to-doctor wait: Cobham's exact value inside the replicated CI
    (95 % for the family of every class and specialty, Bonferroni)."""
    rho, waits = PRIORITY_THEORY[specialty]
    lines = []
    for level, expected in enumerate(waits, start=1):
        values = [run[(f"door_to_doctor_mean_acuity_{level}", specialty)] for run in priority_runs]
        low, high = _ci(values, family=FAMILY)
        lines.append((level, expected, low, high))
    print(
        f"{specialty} ρ={rho:.2f}: "
        + "; ".join(f"class {k}: {e:.2f} in [{lo:.2f}, {hi:.2f}]" for k, e, lo, hi in lines)
    )
    for level, expected, low, high in lines:
        assert low <= expected <= high, (specialty, level, expected, low, high)
    # the most urgent class waits least, the least urgent most
    assert lines[0][1] < lines[1][1] < lines[2][1]


# --------------------------------------------------------------------------- ward beds

ADMISSION = 0.2
BEDS = 12
STAY_DAYS = 240 / 1440  # 4 hours: many busy cycles in a year
WARD_RATE = STATIONARY.arrival_rate_per_hour * ADMISSION  # per hour


def _ward_scenario(overflow: str) -> Scenario:
    return STATIONARY.replace(
        name=f"ward-{overflow}",
        flow=FlowConfig(
            enabled=True,
            admission=ADMISSION,
            areas=(Area("boxes", 0),),
            wards=(
                Ward(
                    "ward",
                    BEDS,
                    STAY_DAYS,
                    CATALOG.specialty_codes,
                    stay_distribution="exponential",
                    overflow=overflow,
                    occupancy_at_start=0.8,
                    discharge_by_profile=False,
                ),
            ),
        ),
    )


@pytest.mark.slow
def test_boarding_is_the_erlang_c_wait_of_the_ward():
    """Mean boarding of admitted patients: Erlang C of M/M/c beds inside the (joint 95 %) CI."""
    runs = _replicate(_ward_scenario("board"), 12)
    theory = mmc(WARD_RATE, STAY_DAYS * 1440, BEDS)
    assert 0.75 < theory.utilisation < 0.9
    low, high = _ci([run[("boarding_mean", "all")] for run in runs], family=FAMILY)
    print(f"boarding: Erlang C {theory.mean_wait_minutes:.2f} min in [{low:.2f}, {high:.2f}]")
    assert low <= theory.mean_wait_minutes <= high
    occupancy = np.mean([run[("ward_occupancy", "all")] for run in runs])
    assert occupancy == pytest.approx(theory.utilisation, abs=0.01)


@pytest.mark.slow
def test_lost_admissions_are_erlang_b_when_overflow_is_transferred():
    """With no boarding (overflow transferred) the share of admissions lost is Erlang B."""
    runs = _replicate(_ward_scenario("transfer"), 12)
    load = WARD_RATE * STAY_DAYS * 24
    expected = erlang_b(BEDS, load)
    lost = [
        run[("transfers", "all")] / (run[("transfers", "all")] + run[("admissions", "all")])
        for run in runs
    ]
    low, high = _ci(lost, family=FAMILY)
    print(f"blocking: Erlang B {expected:.4f} in [{low:.4f}, {high:.4f}]")
    assert low <= expected <= high
    assert all(run[("boarding_mean", "all")] == 0 for run in runs)


# --------------------------------------------------------------------------- Little's law


def test_littles_law_on_spaces_and_wards():
    """Time-averaged spaces and beds in use equal arrival rate × mean holding time (2 %)."""
    scenario = _ward_scenario("board").replace(days=120.0)
    result = Engine(scenario).run()
    flow = result.flow
    horizon = result.calendar.horizon_minute
    # spaces: every interval clipped to the reported period, against the time average
    start = np.clip(flow.space_start_all, 0, horizon)
    end = np.clip(flow.space_end_all, 0, horizon)
    held = float((end - start).sum())
    metrics = {(m, s): v for m, s, v, _ in kpis(result)}
    assert metrics[("spaces_in_use_mean", "all")] == pytest.approx(held / horizon, rel=1e-9)
    inside = (flow.space_start_all >= 0) & (flow.space_start_all < horizon)
    rate = inside.sum() / horizon
    mean_hold = float((flow.space_end_all - flow.space_start_all)[inside].mean())
    assert metrics[("spaces_in_use_mean", "all")] == pytest.approx(rate * mean_hold, rel=0.02)
    entered = (flow.stay_start >= 0) & (flow.stay_start < horizon)
    ward_rate = entered.sum() / horizon
    ward_stay = float((flow.stay_end - flow.stay_start)[entered].mean())
    assert metrics[("ward_beds_in_use_mean", "all")] == pytest.approx(
        ward_rate * ward_stay, rel=0.02
    )
