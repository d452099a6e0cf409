"""The emergency department's patient flow (a scenario with ``[flow] enabled = true``).

A patient arrives and is triaged (acuity level, age and fate drawn at arrival:
common random numbers), waits for a treatment space of their area, then for a
doctor of their pathology's specialty. Both queues serve the most urgent
first, then the first come (non-preemptive priority: a patient in treatment
is never interrupted). After the first assessment a share of patients waits
for diagnostics, holding the space but not the doctor, then is reassessed.
Then the patient leaves: discharged, transferred, dead, or admitted; an
admitted patient needs a bed in the ward of the specialty and *boards* in
the space until one frees (``overflow = "board"``), or is transferred
elsewhere when none is free (``overflow = "transfer"``, a loss system). A
boarder still waiting when the ward's ``max_boarding_hours`` run out is
transferred to another hospital (the bed request withdrawn, the space
freed); with no limit (0) nothing is scheduled, so such runs are the same
event for event as before the limit existed. Ward stays last days; a stay
that is over ends at the next discharge hour drawn from
``ward_discharge_profile``. A patient still unseen by a doctor when
their patience runs out leaves without being seen (freeing their space).

With ``shared_physicians``, the doctors of that specialty (the emergency
physicians) see every patient first; the patients drawn for a specialist
consult then wait, still in their space, for a doctor of their pathology's
specialty (most urgent first) before the disposition. Waiting for a first
doctor is then counted under the physicians' specialty (their queue).

Like ``model.Hospital`` it keeps patients by column and puts its timed
events on the engine's heap; it knows nothing of time ordering or sinks.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from heapq import heappush
from itertools import count
from typing import Any

import numpy as np

from hospiflow.catalog.models import Catalog
from hospiflow.records import Disposition
from hospiflow.simulation.arrivals import unit_draws
from hospiflow.simulation.calendar import Calendar
from hospiflow.simulation.events import EventKind
from hospiflow.simulation.flowconfig import LEVELS, FlowConfig, priority_of_level
from hospiflow.simulation.model import (
    ABANDON,
    NOBODY,
    NOT_YET,
    SHIFT_END,
    SHIFT_START,
    SNAPSHOT,
    TREATMENT_END,
    Doctor,
    Emit,
    Patients,
)

DIAGNOSTICS_DONE = 5
WARD_DISCHARGE = 6
TRIAGE_DONE = 7
BOARDED = 8
BOARDING_LIMIT = 9
_ARRIVAL = int(EventKind.ARRIVAL)
_START = int(EventKind.TREATMENT_START)
_END = int(EventKind.TREATMENT_END)
_DEPARTURE = int(EventKind.DEPARTURE)
_ABANDONMENT = int(EventKind.ABANDONMENT)
_SHIFT_START = int(EventKind.SHIFT_START)
_SHIFT_END = int(EventKind.SHIFT_END)
_DISCHARGED = int(Disposition.DISCHARGED)
_ADMITTED = int(Disposition.ADMITTED)
_TRANSFERRED = int(Disposition.TRANSFERRED)
_LWBS = int(Disposition.LEFT_WITHOUT_BEING_SEEN)
_DIED = int(Disposition.DIED)
UNLIMITED = 1 << 40


@dataclass(frozen=True)
class FlowTables:
    """The flow's per-pathology parameters as arrays (rows: pathologies)."""

    acuity_cum: np.ndarray  # (n_path, LEVELS) cumulative shares of levels 1..5
    age_cum: np.ndarray  # (n_path, n_bands)
    diagnostics: np.ndarray  # (n_path,)
    admission: np.ndarray
    transfer: np.ndarray
    death: np.ndarray
    age_factor: np.ndarray  # (n_bands,)
    band_low: np.ndarray  # lower bound of each age band
    band_high: np.ndarray
    patience: np.ndarray  # (LEVELS,) mean minutes, 0 never
    discharge_cum: np.ndarray  # (24,)
    ward_of_specialty: np.ndarray  # (n_spec,), -1: no ward (admitted leave at once)
    area_of_level: np.ndarray  # (LEVELS + 1,) indexed by level
    consult: np.ndarray  # (n_path,) share needing a specialist consult
    pool: int  # specialty index of the shared emergency physicians, -1: none


def flow_tables(flow: FlowConfig, catalog: Catalog) -> FlowTables:
    """Resolve per-pathology overrides once into arrays the draws index."""
    paths = catalog.pathologies

    def per_path(key: str) -> np.ndarray:
        return np.array([flow.value(key, p.code, p.specialty) for p in paths], dtype=float)

    def cumulative(rows: np.ndarray) -> np.ndarray:
        rows = rows / rows.sum(axis=1, keepdims=True)
        cum = np.cumsum(rows, axis=1)
        cum[:, -1] = 1.0
        return cum

    ward_of = np.full(len(catalog.specialties), -1, dtype=np.int64)
    for w, ward in enumerate(flow.wards):
        for code in ward.specialties:
            ward_of[catalog.specialty_codes.index(code)] = w
    bands = np.array(flow.age_bands, dtype=float)
    discharge = np.array(flow.ward_discharge_profile, dtype=float)
    discharge_cum = np.cumsum(discharge / discharge.sum())
    discharge_cum[-1] = 1.0
    return FlowTables(
        acuity_cum=cumulative(per_path("acuity_mix")),
        age_cum=cumulative(per_path("age_mix")),
        diagnostics=per_path("diagnostics_share"),
        admission=per_path("admission"),
        transfer=per_path("transfer"),
        death=per_path("death"),
        age_factor=np.array(flow.admission_age_factor, dtype=float),
        band_low=bands,
        band_high=np.append(bands[1:], 100.0),
        patience=np.array(flow.patience_minutes, dtype=float),
        discharge_cum=discharge_cum,
        ward_of_specialty=ward_of,
        area_of_level=np.array(
            [0] + [flow.area_of_level(level) for level in range(1, LEVELS + 1)], dtype=np.int64
        ),
        consult=per_path("consult"),
        pool=(
            catalog.specialty_codes.index(flow.shared_physicians) if flow.shared_physicians else -1
        ),
    )


@dataclass(frozen=True)
class FlowDraws:
    """Per-patient flow attributes of one chunk of arrivals."""

    triage: list[float]  # minutes from arrival to the end of triage (0: none)
    level: list[int]
    priority: list[int]
    area: list[int]
    age: list[int]
    fate: list[int]
    diagnostics: list[float]  # turnaround minutes, 0: none
    reassessment: list[float]
    patience: list[float]  # inf: never leaves
    stay: list[float]  # ward stay minutes, should the patient be admitted
    discharge_minute: list[float]  # minute of the local day a ward stay may end at
    boarding: list[float]  # minutes boarding when admitted to no ward (0: leaves at once)
    consult: list[float] | None = None  # specialist consult minutes, 0: none (shared only)


def draw_flow(
    rng: np.random.Generator,
    tables: FlowTables,
    flow: FlowConfig,
    pathology: np.ndarray,
    specialty: np.ndarray,
    stay_means: np.ndarray,
    stay_cvs: np.ndarray,
    stay_exponential: np.ndarray,
    distribution: str,
    cv: float,
    local_hour: np.ndarray | None = None,
    day_factor: np.ndarray | None = None,
) -> FlowDraws:
    """Draw a chunk's triage, age, fate, diagnostics, patience and ward stays (vectorised)."""
    n = len(pathology)
    u = rng.random((n, 6))
    level = (tables.acuity_cum[pathology] < u[:, :1]).sum(axis=1) + 1
    band = (tables.age_cum[pathology] < u[:, 1:2]).sum(axis=1)
    age = np.floor(
        tables.band_low[band] + (tables.band_high[band] - tables.band_low[band]) * u[:, 2]
    ).astype(np.int64)
    admit = np.minimum(tables.admission[pathology] * tables.age_factor[band], 1.0)
    died = tables.death[pathology]
    transfer = tables.transfer[pathology]
    x = u[:, 3]
    fate = np.where(
        x < died,
        _DIED,
        np.where(
            x < died + transfer,
            _TRANSFERRED,
            np.where(x < np.minimum(died + transfer + admit, 1.0), _ADMITTED, _DISCHARGED),
        ),
    )
    has_diagnostics = u[:, 4] < tables.diagnostics[pathology]
    sigma2 = math.log1p(flow.diagnostics_cv**2)
    turnaround = flow.diagnostics_mean_minutes * rng.lognormal(-sigma2 / 2, math.sqrt(sigma2), n)
    diagnostics = np.where(has_diagnostics, turnaround, 0.0)
    reassessment = flow.reassessment_minutes * unit_draws(rng, n, distribution, cv)
    mean_patience = tables.patience[level - 1]
    patience = np.where(mean_patience > 0, mean_patience * rng.exponential(1.0, n), np.inf)
    ward = tables.ward_of_specialty[specialty]
    safe = np.maximum(ward, 0)
    s2 = np.log1p(stay_cvs[safe] ** 2)
    lognormal = rng.lognormal(-s2 / 2, np.sqrt(s2), n)
    exponential = rng.exponential(1.0, n)
    stay = 1440.0 * stay_means[safe] * np.where(stay_exponential[safe], exponential, lognormal)
    hour = (tables.discharge_cum < u[:, 5:6]).sum(axis=1)
    discharge_minute = 60.0 * (hour + rng.random(n))
    priority = np.array([priority_of_level(flow.triage_scale, lv) for lv in range(LEVELS + 1)])
    t2 = math.log1p(flow.triage_cv**2)  # triage times: lognormal
    triage = flow.triage_minutes * rng.lognormal(-t2 / 2, math.sqrt(t2), n)
    if local_hour is not None:  # the arrival's local hour: waits by time of day
        triage = triage * np.asarray(flow.triage_profile, dtype=float)[local_hour]
    if day_factor is not None:  # the arrival day's crowding (triage_days)
        triage = triage * day_factor
    boarding = np.zeros(n)
    if flow.boarding_minutes > 0:  # drawn only then: other scenarios keep their streams
        b2 = math.log1p(flow.boarding_cv**2)
        boarding = flow.boarding_minutes * rng.lognormal(-b2 / 2, math.sqrt(b2), n)
    consult = None
    if tables.pool >= 0:  # drawn last: the other draws stay those of a run without it
        needs = (rng.random(n) < tables.consult[pathology]) & (specialty != tables.pool)
        minutes = flow.consult_minutes * unit_draws(rng, n, distribution, cv)
        consult = np.where(needs, minutes, 0.0).tolist()
    return FlowDraws(
        triage=triage.tolist(),
        level=level.tolist(),
        priority=priority[level].tolist(),
        area=tables.area_of_level[level].tolist(),
        age=age.tolist(),
        fate=fate.tolist(),
        diagnostics=diagnostics.tolist(),
        reassessment=reassessment.tolist(),
        patience=patience.tolist(),
        stay=stay.tolist(),
        discharge_minute=discharge_minute.tolist(),
        boarding=boarding.tolist(),
        consult=consult,
    )


class FlowPatients(Patients):
    """``Patients`` plus the flow's columns (times NaN until they happen)."""

    def __init__(self) -> None:
        super().__init__()
        self.triage: list[float] = []
        self.level: list[int] = []
        self.priority: list[int] = []
        self.area: list[int] = []
        self.age: list[int] = []
        self.fate: list[int] = []
        self.diagnostics: list[float] = []
        self.reassessment: list[float] = []
        self.stay: list[float] = []
        self.discharge_minute: list[float] = []
        self.boarding: list[float] = []
        self.consult: list[float] = []  # specialist consult minutes, 0: none
        self.consult_request: list[float] = []
        self.consult_start: list[float] = []
        self.stage: list[int] = []  # 0: first assessment next, 1: reassessment, 2: consult
        self.timed: list[bool] = []  # patience expiry scheduled
        self.space_start: list[float] = []
        self.bed_request: list[float] = []
        self.departure: list[float] = []
        self.disposition: list[int] = []

    def add_flow(self, draws: FlowDraws) -> None:
        n = len(draws.level)
        self.triage.extend(draws.triage)
        self.level.extend(draws.level)
        self.priority.extend(draws.priority)
        self.area.extend(draws.area)
        self.age.extend(draws.age)
        self.fate.extend(draws.fate)
        self.diagnostics.extend(draws.diagnostics)
        self.reassessment.extend(draws.reassessment)
        self.stay.extend(draws.stay)
        self.discharge_minute.extend(draws.discharge_minute)
        self.boarding.extend(draws.boarding)
        self.consult.extend(draws.consult if draws.consult is not None else [0.0] * n)
        self.consult_request.extend([NOT_YET] * n)
        self.consult_start.extend([NOT_YET] * n)
        self.stage.extend([0] * n)
        self.timed.extend([False] * n)
        self.space_start.extend([NOT_YET] * n)
        self.bed_request.extend([NOT_YET] * n)
        self.departure.extend([NOT_YET] * n)
        self.disposition.extend([0] * n)


class FlowDoctor(Doctor):
    """A doctor who also remembers when the current contact began (busy intervals)."""

    __slots__ = ("since",)

    def __init__(self, index: int, specialty: int) -> None:
        super().__init__(index, specialty)
        self.since = 0.0


class PriorityQueue:
    """Levels of FIFO queues: pop the most urgent level's first patient (lazy removal)."""

    __slots__ = ("levels", "size")

    def __init__(self) -> None:
        self.levels: list[deque[int]] = [deque() for _ in range(LEVELS)]
        self.size = 0  # entries, including patients who left (skipped when popped)

    def push(self, p: int, priority: int) -> None:
        self.levels[priority].append(p)
        self.size += 1

    def pop(self, left: list[float]) -> int:
        """The next patient who has not left unseen (``left[p]`` still NaN), or NOBODY."""
        if not self.size:
            return NOBODY
        for queue in self.levels:
            while queue:
                p = queue.popleft()
                self.size -= 1
                t = left[p]
                if t != t:
                    return p
        return NOBODY


class FlowHospital:
    """Spaces, doctors (pooled per specialty, by priority), diagnostics and wards."""

    def __init__(
        self,
        flow: FlowConfig,
        n_specialties: int,
        doctor_specialties: list[int],
        calendar: list[tuple[float, int, int, Any]],
        clock: Calendar,
        emit: Emit | None,
    ) -> None:
        self.flow = flow
        self.pooled = True
        self.patients = FlowPatients()
        self.doctors = [FlowDoctor(i, s) for i, s in enumerate(doctor_specialties)]
        self.doctor_queue = [PriorityQueue() for _ in range(n_specialties)]
        self.free: list[list[FlowDoctor]] = [[] for _ in range(n_specialties)]
        self.waiting = [0] * n_specialties  # arrived, not yet seen by a doctor
        self.in_treatment = [0] * n_specialties  # doctors busy
        self.on_duty = [0] * n_specialties
        self.duty_periods: list[tuple[int, float, float]] = []
        # (specialty, start, end) of each doctor contact, flat: one array at the end, cheaply
        self.busy_periods: list[float] = []
        self.departed: list[int] = []
        self.calendar = calendar
        self.clock = clock
        self.sequence = count()
        self._emit = emit
        self._reported = self.patients.number
        self.space_free = [a.spaces if a.spaces > 0 else UNLIMITED for a in flow.areas]
        self.space_capacity = [a.spaces for a in flow.areas]
        self.space_queue = [PriorityQueue() for _ in flow.areas]
        self.space_waiting = [0] * len(flow.areas)
        self.beds_free = [w.beds for w in flow.wards]
        self.bed_queue: list[deque[int]] = [deque() for _ in flow.wards]
        self.transfer_overflow = [w.overflow == "transfer" for w in flow.wards]
        self.by_profile = [w.discharge_by_profile for w in flow.wards]
        self.ward_stays: list[tuple[int, float, float]] = []  # (ward, start, end)
        self.boarding_factor = list(flow.boarding_profile)
        self.boarding_day: list[float] = []  # by local day from the first slot's ([]: 1)
        self.triage_day: np.ndarray | None = None  # the wait's factor, same days
        self.release = [
            v / (sum(flow.boarding_release_profile) / 24.0) for v in flow.boarding_release_profile
        ]
        self.timed_release = any(v != 1.0 for v in flow.boarding_release_profile)
        # minutes a boarder may wait for a bed, per ward, then the last for no ward (inf: none)
        self.board_limit = [flow.boarding_limit_minutes(w) for w in flow.wards]
        self.board_limit.append(flow.boarding_limit_minutes(None))
        self.treatment_factor = list(flow.treatment_profile)
        self.timed_treatment = any(v != 1.0 for v in flow.treatment_profile)
        self.present = 0
        self.ward_of_specialty: np.ndarray = np.zeros(0, dtype=np.int64)
        self.pool = -1  # specialty of the shared emergency physicians (-1: none)

    # ------------------------------------------------------------------ wards at the start

    def fill_wards(self, rng: np.random.Generator, now: float) -> None:
        """Start each ward at ``occupancy_at_start`` with residual stays of a stationary ward.

        A bed observed at a random instant holds a length-biased stay (lognormal
        (μ + σ², σ²); gamma(2) for exponential stays), of which a uniform share is left.
        """
        for w, ward in enumerate(self.flow.wards):
            n = round(ward.beds * ward.occupancy_at_start)
            mean = 1440.0 * ward.mean_stay_days
            if ward.stay_distribution == "exponential":
                biased = mean * rng.gamma(2.0, 1.0, n)
            else:
                s2 = math.log1p(ward.stay_cv**2)
                biased = mean * rng.lognormal(-s2 / 2 + s2, math.sqrt(s2), n)
            for residual, minute in zip(
                (biased * rng.random(n)).tolist(), (1440.0 * rng.random(n)).tolist(), strict=True
            ):
                self.beds_free[w] -= 1
                self._schedule_discharge(w, now, now + residual, minute)

    def plan_boarding_days(self, rng: np.random.Generator) -> None:
        """This run's boarding factor of each local day: circular blocks of
        ``boarding_block_days`` consecutive days of ``boarding_days`` from random starts
        (a circular block bootstrap, Politis & Romano 1992), so exit block keeps the
        length of its episodes and runs differ as much as stretches of the site's days.
        With ``boarding_level_days``, each window of that many of the run's days is then
        rescaled to mean the level of as many consecutive observed days from a random
        start: exit block's level drifts over weeks with the wards' load, so runs differ
        as the site's months do, by levels the site has had (a bootstrap of the level on
        the scale of weeks, of the episodes within it on the scale of days). Last, each
        day takes the factor of its month (``boarding_monthly``): exit block's season."""
        observed = np.asarray(self.flow.boarding_days, dtype=float)
        if not len(observed):
            return
        waits = np.asarray(self.flow.triage_days or (1.0,) * len(observed), dtype=float)
        clock = self.clock
        days = int(clock.day_index[-1] - clock.day_index[0]) + 1
        block = self.flow.boarding_block_days
        starts = rng.integers(0, len(observed), -(-days // block))
        index = (starts[:, None] + np.arange(block)[None, :]).ravel()[:days] % len(observed)
        plan, wait_plan = observed[index], waits[index]
        window = min(self.flow.boarding_level_days, len(observed))
        if window > 0:  # drawn only then: scenarios without it keep their draws
            starts = rng.integers(0, len(observed), -(-days // window))
            for k, start in enumerate(starts.tolist()):
                taken = (start + np.arange(window)) % len(observed)
                for series, part in ((observed, plan), (waits, wait_plan)):
                    part = part[k * window : (k + 1) * window]
                    if part.mean() > 0:
                        part *= series[taken].mean() / part.mean()
        if any(v != 1.0 for v in self.flow.boarding_monthly):
            first = np.searchsorted(clock.day_index, clock.day_index[0] + np.arange(days))
            month = clock.month[np.minimum(first, clock.n_slots - 1)]
            plan = plan * np.asarray(self.flow.boarding_monthly, dtype=float)[month - 1]
        self.boarding_day = plan.tolist()
        if self.flow.triage_days:
            self.triage_day = wait_plan

    def _schedule_discharge(self, w: int, start: float, due: float, minute: float) -> None:
        end = due
        if self.by_profile[w]:
            clock = self.clock
            slot = int(due // 60.0) + clock.warmup_hours
            slot = min(max(slot, 0), clock.n_slots - 1)
            shift = float(clock.offset_minutes[slot] - clock.offset_minutes[clock.warmup_hours])
            local = due + shift
            end = local - (local % 1440.0) + minute - shift
            if end < due:
                end += 1440.0
        heappush(self.calendar, (end, next(self.sequence), WARD_DISCHARGE, (w, start)))

    # ------------------------------------------------------------------ patients

    def arrive(self, p: int, now: float) -> None:
        """Patient row ``p`` comes in: takes a space of their area, or waits for one."""
        patients = self.patients
        s = patients.specialty[p]
        self.waiting[self._first_queue(s)] += 1
        self.present += 1
        if self._emit is not None and self._reported[p] >= 0:
            self._emit(now, _ARRIVAL, p, s, NOBODY)
        # Patience is timed only for a patient who may wait: one who would leave during
        # triage, else from the moment they join a queue (most never do: fewer events).
        triage = patients.triage[p]
        if patients.patience[p] < triage:
            self._time_patience(p)
        if triage > 0:
            heappush(self.calendar, (now + triage, next(self.sequence), TRIAGE_DONE, p))
        else:
            self._seek_space(p, now)

    def _seek_space(self, p: int, now: float) -> None:
        """After triage: a space of the patient's area, or its queue (most urgent first)."""
        patients = self.patients
        if patients.left[p] == patients.left[p]:  # left during triage
            return
        a = patients.area[p]
        if self.space_free[a]:
            self.space_free[a] -= 1
            patients.space_start[p] = now
            self._to_doctor(p, now)
        else:
            self.space_waiting[a] += 1
            self.space_queue[a].push(p, patients.priority[p])
            self._time_patience(p)

    def _time_patience(self, p: int) -> None:
        """Schedule the patient's leaving unseen at arrival + patience (once; never if infinite)."""
        patients = self.patients
        patience = patients.patience[p]
        if patience != math.inf and not patients.timed[p]:
            patients.timed[p] = True
            heappush(
                self.calendar,
                (patients.arrival[p] + patience, next(self.sequence), ABANDON, p),
            )

    def _first_queue(self, specialty: int) -> int:
        """The specialty whose doctors see a patient first: the shared pool, or their own."""
        return self.pool if self.pool >= 0 else specialty

    def _to_doctor(self, p: int, now: float) -> None:
        patients = self.patients
        s = patients.specialty[p]
        if patients.stage[p] < 2:
            s = self._first_queue(s)
        free = self.free[s]
        if free:
            self._treat(p, free.pop(), now)
        else:
            self.doctor_queue[s].push(p, patients.priority[p])
            if not patients.stage[p]:
                self._time_patience(p)

    def _treat(self, p: int, doctor: FlowDoctor, now: float) -> None:
        patients = self.patients
        s = doctor.specialty
        self.in_treatment[s] += 1
        doctor.patient = p
        doctor.since = now
        stage = patients.stage[p]
        if stage == 0:
            self.waiting[s] -= 1
            patients.start[p] = now
            patients.doctor[p] = doctor.index
            minutes = patients.service[p]
            if self.timed_treatment:
                minutes *= self.treatment_factor[self._local_hour(now)]
            if self._emit is not None and self._reported[p] >= 0:
                self._emit(now, _START, p, s, doctor.index)
        elif stage == 1:
            minutes = patients.reassessment[p]
        else:
            patients.consult_start[p] = now
            minutes = patients.consult[p]
        heappush(self.calendar, (now + minutes, next(self.sequence), TREATMENT_END, doctor))

    def finish(self, doctor: FlowDoctor, now: float) -> None:
        """A doctor contact ends: diagnostics, or the disposition; the doctor takes the next."""
        patients = self.patients
        p = doctor.patient
        s = doctor.specialty
        self.busy_periods.extend((s, doctor.since, now))
        doctor.patient = NOBODY
        self.in_treatment[s] -= 1
        stage = patients.stage[p]
        if stage == 0 and patients.diagnostics[p] > 0:
            patients.stage[p] = 1
            heappush(
                self.calendar,
                (now + patients.diagnostics[p], next(self.sequence), DIAGNOSTICS_DONE, p),
            )
        elif stage < 2 and patients.consult[p] > 0:
            patients.stage[p] = 2
            patients.consult_request[p] = now
            self._to_doctor(p, now)
        else:
            patients.end[p] = now
            if self._emit is not None and self._reported[p] >= 0:
                self._emit(now, _END, p, s, doctor.index)
            self._dispose(p, now)
        if doctor.leaving:
            self._go_off_duty(doctor, now)
            return
        self._next(doctor, now)

    def _next(self, doctor: FlowDoctor, now: float) -> None:
        q = self.doctor_queue[doctor.specialty].pop(self.patients.left)
        if q == NOBODY:
            self.free[doctor.specialty].append(doctor)
        else:
            self._treat(q, doctor, now)

    def handlers(self, snapshot: Any) -> list[Any]:
        """The handler of each kind of heap entry, indexed by kind (the engine's dispatch)."""
        table: list[Any] = [None] * 10
        table[TREATMENT_END] = self.finish
        table[ABANDON] = self.abandon
        table[SHIFT_START] = self.shift_start
        table[SHIFT_END] = self.shift_end
        table[SNAPSHOT] = snapshot
        table[DIAGNOSTICS_DONE] = self._to_doctor
        table[WARD_DISCHARGE] = self._ward_discharge
        table[TRIAGE_DONE] = self._seek_space
        table[BOARDED] = self._boarded
        table[BOARDING_LIMIT] = self._boarding_limit
        return table

    def control(self, kind: int, subject: Any, now: float) -> None:
        """The flow's own timed events."""
        if kind == DIAGNOSTICS_DONE:
            self._to_doctor(subject, now)
        elif kind == TRIAGE_DONE:
            self._seek_space(subject, now)
        elif kind == BOARDED:
            self._boarded(subject, now)
        elif kind == BOARDING_LIMIT:
            self._boarding_limit(subject, now)
        else:
            self._ward_discharge(subject, now)

    def _dispose(self, p: int, now: float) -> None:
        patients = self.patients
        fate = patients.fate[p]
        if fate != _ADMITTED:
            self._depart(p, now, fate)
            return
        patients.bed_request[p] = now
        w = int(self.ward_of_specialty[patients.specialty[p]])
        if w < 0:
            if patients.boarding[p] > 0:
                minutes = patients.boarding[p] * self.boarding_factor[self._local_hour(now)]
                if self.boarding_day:
                    minutes *= self.boarding_day[self._local_day(now)]
                end = self._released(now, minutes) if self.timed_release else now + minutes
                end = max(now, end - self.flow.boarding_sooner_minutes)
                limit = self.board_limit[-1]
                kind = BOARDED if end - now <= limit else BOARDING_LIMIT
                heappush(self.calendar, (min(end, now + limit), next(self.sequence), kind, p))
            else:
                self._depart(p, now, _ADMITTED)
        elif self.beds_free[w]:
            self.beds_free[w] -= 1
            self._schedule_discharge(w, now, now + patients.stay[p], patients.discharge_minute[p])
            self._depart(p, now, _ADMITTED)
        elif self.transfer_overflow[w]:
            self._depart(p, now, _TRANSFERRED)
        else:
            self.bed_queue[w].append(p)
            limit = self.board_limit[w]
            if limit != math.inf:
                heappush(self.calendar, (now + limit, next(self.sequence), BOARDING_LIMIT, p))

    def _released(self, now: float, minutes: float) -> float:
        """When ``minutes`` of boarding, on the clock of ``boarding_release_profile``
        (beds released faster by day, hardly at night), have passed since ``now``."""
        t = now
        hour = math.floor(now / 60.0)  # counted in whole hours: float rounding cannot stall
        while True:
            rate = self.release[self._local_hour(hour * 60.0)]
            to_hour = max((hour + 1) * 60.0 - t, 0.0)
            if rate * to_hour >= minutes:
                return t + minutes / rate
            minutes -= rate * to_hour
            hour += 1
            t = hour * 60.0

    def _local_day(self, now: float) -> int:
        clock = self.clock
        slot = min(max(int(now // 60.0) + clock.warmup_hours, 0), clock.n_slots - 1)
        return int(clock.day_index[slot] - clock.day_index[0])

    def _local_hour(self, now: float) -> int:
        clock = self.clock
        slot = min(max(int(now // 60.0) + clock.warmup_hours, 0), clock.n_slots - 1)
        return int(clock.local_hour[slot])

    def _boarded(self, p: int, now: float) -> None:
        """A boarder with no modelled ward leaves for the bed found for them."""
        self._depart(p, now, _ADMITTED)

    def _boarding_limit(self, p: int, now: float) -> None:
        """The boarding limit ran out: a boarder still waiting is transferred elsewhere."""
        patients = self.patients
        if patients.departure[p] == patients.departure[p]:  # got a bed in time
            return
        w = int(self.ward_of_specialty[patients.specialty[p]])
        if w >= 0:
            self.bed_queue[w].remove(p)  # FIFO with one limit per ward: nearly always the head
        self._depart(p, now, _TRANSFERRED)

    def _ward_discharge(self, subject: tuple[int, float], now: float) -> None:
        w, start = subject
        self.ward_stays.append((w, start, now))
        queue = self.bed_queue[w]
        if queue:
            p = queue.popleft()
            patients = self.patients
            self._schedule_discharge(w, now, now + patients.stay[p], patients.discharge_minute[p])
            self._depart(p, now, _ADMITTED)
        else:
            self.beds_free[w] += 1

    def _depart(self, p: int, now: float, disposition: int) -> None:
        patients = self.patients
        patients.departure[p] = now
        patients.disposition[p] = disposition
        self.present -= 1
        if self._emit is not None:
            self.departed.append(p)
            if self._reported[p] >= 0:
                self._emit(now, _DEPARTURE, p, patients.specialty[p], patients.doctor[p])
        self._free_space(patients.area[p], now)

    def _free_space(self, a: int, now: float) -> None:
        if self.space_waiting[a]:
            q = self.space_queue[a].pop(self.patients.left)
            if q != NOBODY:
                self.space_waiting[a] -= 1
                self.patients.space_start[q] = now
                self._to_doctor(q, now)
                return
        self.space_free[a] += 1

    def abandon(self, p: int, now: float) -> None:
        """Patience ran out: leaves without being seen if no doctor has seen them yet."""
        patients = self.patients
        if patients.doctor[p] != NOBODY or patients.left[p] == patients.left[p]:
            return
        s = patients.specialty[p]
        patients.left[p] = now
        patients.departure[p] = now
        patients.disposition[p] = _LWBS
        self.waiting[self._first_queue(s)] -= 1
        self.present -= 1
        if self._emit is not None:
            self.departed.append(p)
            if self._reported[p] >= 0:
                self._emit(now, _ABANDONMENT, p, s, NOBODY)
                self._emit(now, _DEPARTURE, p, s, NOBODY)
        a = patients.area[p]
        if patients.space_start[p] == patients.space_start[p]:  # held a space
            self._free_space(a, now)
        elif now - patients.arrival[p] >= patients.triage[p]:  # was queued for a space
            self.space_waiting[a] -= 1  # its queue entry is skipped when reached

    # ------------------------------------------------------------------ shifts

    def shift_start(self, doctor: FlowDoctor, now: float) -> None:
        """The doctor comes on duty (or stays, if still finishing the last shift's patient)."""
        if doctor.leaving:
            doctor.leaving = False
            return
        if doctor.on_duty:
            return
        s = doctor.specialty
        doctor.on_duty = True
        doctor.duty_started = now
        self.on_duty[s] += 1
        if self._emit is not None and now >= 0:
            self._emit(now, _SHIFT_START, NOBODY, s, doctor.index)
        self._next(doctor, now)

    def shift_end(self, doctor: FlowDoctor, now: float) -> None:
        """The shift is over: off duty now if free, else after the current patient."""
        if not doctor.on_duty or doctor.leaving:
            return
        if doctor.patient != NOBODY:
            doctor.leaving = True
            return
        self.free[doctor.specialty].remove(doctor)
        self._go_off_duty(doctor, now)

    def _go_off_duty(self, doctor: FlowDoctor, now: float) -> None:
        s = doctor.specialty
        doctor.on_duty = False
        doctor.leaving = False
        self.on_duty[s] -= 1
        self.duty_periods.append((doctor.index, doctor.duty_started, now))
        if self._emit is not None and now >= 0:
            self._emit(now, _SHIFT_END, NOBODY, s, doctor.index)

    def close_duty(self, now: float) -> None:
        """At the end of the run, close the duty periods still open."""
        for doctor in self.doctors:
            if doctor.on_duty:
                self.duty_periods.append((doctor.index, doctor.duty_started, now))
            if doctor.patient != NOBODY:
                self.busy_periods.extend((doctor.specialty, doctor.since, now))
                doctor.since = now

    @property
    def patients_present(self) -> int:
        return self.present

    # ------------------------------------------------------------------ state

    def spaces_in_use(self) -> list[int]:
        """Spaces held now, per area (unlimited areas: patients holding one)."""
        return [
            (cap if cap else UNLIMITED) - free
            for cap, free in zip(self.space_capacity, self.space_free, strict=True)
        ]

    def beds_in_use(self) -> list[int]:
        return [w.beds - free for w, free in zip(self.flow.wards, self.beds_free, strict=True)]
