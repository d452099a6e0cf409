"""The patient flow written the plain SimPy way: the reference of ``simulation.py``'s flow case.

Same stages and parameters as ``hospiflow.simulation.flow`` on a stationary
scenario (flat profiles, UTC, doctors around the clock): triage delay, a
``simpy.PriorityResource`` per treatment area and per specialty's doctors
(lower rank first, then first come; non-preemptive), patience racing each
queue (``request | timeout``), diagnostics holding the space, a reassessment,
dispositions, a ``simpy.Resource`` of beds per ward with boarding in the space
(racing the boarding limit: transferred when it runs out), ward stays ending
at the next discharge minute drawn from the profile, and wards filled at the
start like the engine's. Draws use ``random.Random`` per patient, the SimPy
habit; the flow's per-pathology tables come from ``flow_tables`` so both
models read the same numbers.
"""

from __future__ import annotations

import bisect
import math
import random

import numpy as np
import simpy

from hospiflow.simulation.flow import flow_tables
from hospiflow.simulation.flowconfig import LEVELS, priority_of_level
from hospiflow.simulation.scenario import Scenario

ADMITTED, TRANSFERRED, DIED, DISCHARGED, LWBS = 2, 3, 5, 1, 4


def simpy_flow_year(scenario: Scenario, seed: int) -> dict[str, np.ndarray]:
    """One run of the stationary flow scenario; per reported patient: wait, stay, disposition."""
    flow = scenario.flow
    catalog = scenario.load_catalog()
    tables = flow_tables(flow, catalog)
    rng = random.Random(seed)
    env = simpy.Environment()
    warmup = scenario.warmup_days * 1440.0
    end = warmup + scenario.days * 1440.0
    weights = catalog.monthly_weights(False)[0]
    path_cum = np.cumsum(weights / weights.sum()).tolist()
    spec_of = [catalog.specialty_codes.index(p.specialty) for p in catalog.pathologies]
    means = [p.mean_treatment_minutes for p in catalog.pathologies]
    doctors_of = scenario.doctors_per_specialty()
    doctors = [
        simpy.PriorityResource(env, capacity=doctors_of[code]) for code in catalog.specialty_codes
    ]
    spaces = [
        simpy.PriorityResource(env, capacity=a.spaces if a.spaces else 10**9) for a in flow.areas
    ]
    beds = [simpy.Resource(env, capacity=w.beds) for w in flow.wards]
    board_limit = [flow.boarding_limit_minutes(w) for w in flow.wards]
    rank = [priority_of_level(flow.triage_scale, level) for level in range(LEVELS + 1)]
    acuity_cum = tables.acuity_cum.tolist()
    age_cum = tables.age_cum.tolist()
    discharge_cum = tables.discharge_cum.tolist()
    d_sigma2 = math.log1p(flow.diagnostics_cv**2)
    t_sigma2 = math.log1p(0.25)
    out: dict[str, list[float]] = {"wait": [], "stay": [], "disposition": []}

    def discharge_time(due: float) -> float:
        minute = 60.0 * (bisect.bisect_left(discharge_cum, rng.random()) + rng.random())
        at = due - (due % 1440.0) + minute
        return at + 1440.0 if at < due else at

    def stay_in_bed(w: int, request, due: float):
        by_profile = flow.wards[w].discharge_by_profile
        yield env.timeout((discharge_time(due) if by_profile else due) - env.now)
        beds[w].release(request)

    def ward_stay_minutes(w: int) -> float:
        ward = flow.wards[w]
        if ward.stay_distribution == "exponential":
            return 1440.0 * ward.mean_stay_days * rng.expovariate(1.0)
        s2 = math.log1p(ward.stay_cv**2)
        return 1440.0 * ward.mean_stay_days * rng.lognormvariate(-s2 / 2, math.sqrt(s2))

    def record(arrival: float, seen: float, disposition: int) -> None:
        if arrival >= warmup:
            out["wait"].append(seen - arrival)
            out["stay"].append(env.now - arrival)
            out["disposition"].append(disposition)

    def patient():
        arrival = env.now
        j = bisect.bisect_left(path_cum, rng.random())
        s = spec_of[j]
        level = bisect.bisect_left(acuity_cum[j], rng.random()) + 1
        band = bisect.bisect_left(age_cum[j], rng.random())
        priority = rank[level]
        area = int(tables.area_of_level[level])
        admit = min(tables.admission[j] * tables.age_factor[band], 1.0)
        died, transfer = tables.death[j], tables.transfer[j]
        x = rng.random()
        fate = (
            DIED
            if x < died
            else TRANSFERRED
            if x < died + transfer
            else ADMITTED
            if x < min(died + transfer + admit, 1.0)
            else DISCHARGED
        )
        mean_patience = tables.patience[level - 1]
        deadline = arrival + mean_patience * rng.expovariate(1.0) if mean_patience else math.inf
        yield env.timeout(
            flow.triage_minutes * rng.lognormvariate(-t_sigma2 / 2, math.sqrt(t_sigma2))
        )
        if env.now >= deadline:
            record(arrival, math.nan, LWBS)
            return
        space = spaces[area].request(priority=priority)
        if deadline == math.inf:
            yield space
        else:
            got = yield space | env.timeout(deadline - env.now)
            if space not in got:
                space.cancel()
                record(arrival, math.nan, LWBS)
                return
        doctor = doctors[s].request(priority=priority)
        if deadline == math.inf:
            yield doctor
        else:
            got = yield doctor | env.timeout(max(0.0, deadline - env.now))
            if doctor not in got:
                doctor.cancel()
                spaces[area].release(space)
                record(arrival, math.nan, LWBS)
                return
        seen = env.now
        yield env.timeout(means[j] * rng.expovariate(1.0))
        doctors[s].release(doctor)
        if rng.random() < tables.diagnostics[j]:
            yield env.timeout(
                flow.diagnostics_mean_minutes
                * rng.lognormvariate(-d_sigma2 / 2, math.sqrt(d_sigma2))
            )
            doctor = doctors[s].request(priority=priority)
            yield doctor
            yield env.timeout(flow.reassessment_minutes * rng.expovariate(1.0))
            doctors[s].release(doctor)
        w = int(tables.ward_of_specialty[s])
        if fate == ADMITTED and w >= 0:
            if flow.wards[w].overflow == "transfer" and beds[w].count >= beds[w].capacity:
                fate = TRANSFERRED
            else:
                bed = beds[w].request()
                if board_limit[w] == math.inf:
                    yield bed
                else:
                    got = yield bed | env.timeout(board_limit[w])
                    if bed not in got:
                        bed.cancel()
                        fate = TRANSFERRED
                if fate == ADMITTED:
                    env.process(stay_in_bed(w, bed, env.now + ward_stay_minutes(w)))
        spaces[area].release(space)
        record(arrival, seen, fate)

    def arrivals():
        rate = scenario.arrival_rate_per_hour / 60.0
        while True:
            yield env.timeout(rng.expovariate(rate))
            if env.now >= end:
                return
            env.process(patient())

    for w, ward in enumerate(flow.wards):  # wards start partly full, like the engine's
        for _ in range(round(ward.beds * ward.occupancy_at_start)):
            bed = beds[w].request()
            env.process(stay_in_bed(w, bed, ward_stay_minutes(w) * rng.random()))
    env.process(arrivals())
    env.run(until=end + 2 * 1440.0)
    return {k: np.asarray(v, dtype=float) for k, v in out.items()}
