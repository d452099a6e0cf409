"""The hospital model: ``Patient``, ``Doctor`` and ``Hospital``.

The ``Hospital`` owns the queues and the routing rules; it changes state when
the engine tells it that something happened (an arrival, a treatment end, a
shift boundary) and puts the treatment ends it starts on the engine's event
heap. It knows nothing of time ordering (the engine's job) or of sinks.

Patients are many (110k a year) and short-lived, so they are kept by column
in ``Patients`` (one list per attribute, a patient is a row index): creating
an object per arrival cost a quarter of a run. ``Patient`` is the row as a
record, for reading one patient. Doctors are few and stay objects.

Routing policies:

* ``pooled`` — one queue per specialty, the next free doctor takes the next
  patient (first come, first served): an M/M/c queue.
* ``shortest-queue`` and ``random`` — each doctor has their own queue; an
  arriving patient joins the doctor with the fewest patients (waiting plus
  in treatment; ties to the first on the roster) or a doctor drawn at random.
  A doctor only treats their own queue, then patients that arrived while no
  doctor of the specialty was on duty. When a doctor goes off duty, their
  queue is shared out again by the same rule.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from heapq import heappush
from itertools import count
from typing import Any

from hospiflow.simulation.events import EventKind

_ARRIVAL = int(EventKind.ARRIVAL)
_ASSIGNMENT = int(EventKind.ASSIGNMENT)
_START = int(EventKind.TREATMENT_START)
_END = int(EventKind.TREATMENT_END)
_DEPARTURE = int(EventKind.DEPARTURE)
_ABANDONMENT = int(EventKind.ABANDONMENT)
_SHIFT_START = int(EventKind.SHIFT_START)
_SHIFT_END = int(EventKind.SHIFT_END)
NOT_YET = math.nan
NOBODY = -1
# kinds of the engine's heap entries (time, sequence, kind, subject)
TREATMENT_END = 0
ABANDON = 1
SHIFT_START = 2
SHIFT_END = 3
SNAPSHOT = 4


@dataclass(frozen=True)
class Patient:
    """One patient, read from ``Patients``. Times are NaN until they happen.

    ``number`` is negative for warm-up patients (never reported).
    """

    number: int
    pathology: int
    specialty: int
    arrival: float
    service_minutes: float
    start: float
    end: float
    doctor: int
    left: float

    @property
    def wait_minutes(self) -> float:
        return self.start - self.arrival


class Patients:
    """Every patient of a run, by column; row ``i`` is the ``i``-th arrival."""

    def __init__(self) -> None:
        self.number: list[int] = []
        self.pathology: list[int] = []
        self.specialty: list[int] = []
        self.arrival: list[float] = []
        self.service: list[
            float
        ] = []  # treatment minutes, drawn at arrival (common random numbers)
        self.patience: list[float] = []
        self.route: list[float] = []  # a uniform draw used by the random routing policy
        self.start: list[float] = []
        self.end: list[float] = []
        self.left: list[float] = []  # time the patient left without being seen
        self.doctor: list[int] = []
        self.assigned: list[int] = []  # the doctor whose own queue holds the patient

    def __len__(self) -> int:
        return len(self.arrival)

    def extend(
        self,
        number: Iterable[int],
        pathology: list[int],
        specialty: list[int],
        arrival: list[float],
        service: list[float],
        patience: list[float],
        route: list[float],
    ) -> range:
        """Add a batch of arrivals (sorted by time); return their row indices."""
        first = len(self.arrival)
        n = len(arrival)
        self.number.extend(number)
        self.pathology.extend(pathology)
        self.specialty.extend(specialty)
        self.arrival.extend(arrival)
        self.service.extend(service)
        self.patience.extend(patience)
        self.route.extend(route)
        self.start.extend([NOT_YET] * n)
        self.end.extend([NOT_YET] * n)
        self.left.extend([NOT_YET] * n)
        self.doctor.extend([NOBODY] * n)
        self.assigned.extend([NOBODY] * n)
        return range(first, first + n)

    def __getitem__(self, i: int) -> Patient:
        return Patient(
            self.number[i],
            self.pathology[i],
            self.specialty[i],
            self.arrival[i],
            self.service[i],
            self.start[i],
            self.end[i],
            self.doctor[i],
            self.left[i],
        )

    def gone(self, i: int) -> bool:
        """Left without being seen (skipped when a queue is served)."""
        return self.left[i] == self.left[i]  # not NaN


class Doctor:
    """A doctor: a specialty, a shift, a queue of their own and a busy/free status."""

    __slots__ = (
        "index",
        "specialty",
        "on_duty",
        "leaving",
        "patient",
        "queue",
        "queued",
        "duty_started",
    )

    def __init__(self, index: int, specialty: int) -> None:
        self.index = index
        self.specialty = specialty
        self.on_duty = False
        self.leaving = False  # shift over; goes off duty after the current patient
        self.patient = NOBODY  # row of the patient being treated
        self.queue: deque[int] = deque()  # own queue (per-doctor routing only)
        self.queued = 0  # patients in ``queue`` still waiting
        self.duty_started = 0.0

    @property
    def busy(self) -> bool:
        return self.patient != NOBODY


Emit = Callable[[float, int, int, int, int], None]


class Hospital:
    """Queues, doctors and routing of one hospital; counts its state per specialty."""

    def __init__(
        self,
        n_specialties: int,
        doctor_specialties: list[int],
        routing: str,
        calendar: list[tuple[float, int, int, Any]],
        emit: Emit | None,
    ) -> None:
        self.routing = routing
        self.pooled = routing == "pooled"
        self.patients = Patients()
        self.doctors = [Doctor(i, s) for i, s in enumerate(doctor_specialties)]
        self.queue: list[deque[int]] = [deque() for _ in range(n_specialties)]
        self.free: list[list[Doctor]] = [[] for _ in range(n_specialties)]
        self.available: list[list[Doctor]] = [[] for _ in range(n_specialties)]
        self.waiting = [0] * n_specialties
        self.in_treatment = [0] * n_specialties
        self.on_duty = [0] * n_specialties
        self.duty_periods: list[tuple[int, float, float]] = []
        self.departed: list[int] = []  # rows of patients who left, for the trace's visits
        self.calendar = calendar  # the engine's event heap: treatment ends go there
        self.sequence = count()  # tie-breaker of heap entries: first scheduled, first served
        self._emit = emit
        self._reported = self.patients.number  # a row is reported when its number is >= 0

    # ------------------------------------------------------------------ patients

    def arrive(self, p: int, now: float) -> None:
        """Patient row ``p`` comes in: treated at once by a free doctor, or queued."""
        patients = self.patients
        s = patients.specialty[p]
        emit = self._emit
        if emit is not None and self._reported[p] >= 0:
            emit(now, _ARRIVAL, p, s, NOBODY)
        if self.pooled:
            free = self.free[s]
            if free:  # the hot path, written out: straight to a free doctor
                doctor = free.pop()
                self.in_treatment[s] += 1
                patients.start[p] = now
                patients.doctor[p] = doctor.index
                doctor.patient = p
                if emit is not None and self._reported[p] >= 0:
                    emit(now, _START, p, s, doctor.index)
                heappush(
                    self.calendar,
                    (now + patients.service[p], next(self.sequence), TREATMENT_END, doctor),
                )
            else:
                self.waiting[s] += 1
                self.queue[s].append(p)
        else:
            self.waiting[s] += 1
            self._route(p, now)

    def _route(self, p: int, now: float) -> None:
        patients = self.patients
        s = patients.specialty[p]
        available = self.available[s]
        if not available:
            self.queue[s].append(p)
            patients.assigned[p] = NOBODY
            return
        if self.routing == "random":
            doctor = available[int(patients.route[p] * len(available))]
        else:
            doctor = min(available, key=_load)
        patients.assigned[p] = doctor.index
        if self._emit is not None and self._reported[p] >= 0:
            self._emit(now, _ASSIGNMENT, p, s, doctor.index)
        if doctor.patient == NOBODY and not doctor.queued:
            self._treat(p, doctor, now)
        else:
            doctor.queue.append(p)
            doctor.queued += 1

    def _treat(self, p: int, doctor: Doctor, now: float) -> None:
        patients = self.patients
        s = doctor.specialty
        self.waiting[s] -= 1
        self.in_treatment[s] += 1
        patients.start[p] = now
        patients.doctor[p] = doctor.index
        patients.assigned[p] = NOBODY
        doctor.patient = p
        if self._emit is not None and self._reported[p] >= 0:
            self._emit(now, _START, p, s, doctor.index)
        heappush(
            self.calendar, (now + patients.service[p], next(self.sequence), TREATMENT_END, doctor)
        )

    def finish(self, doctor: Doctor, now: float) -> None:
        """The doctor's current treatment ends; the doctor takes the next patient or rests."""
        patients = self.patients
        p = doctor.patient
        s = doctor.specialty
        patients.end[p] = now
        doctor.patient = NOBODY
        emit = self._emit
        if emit is not None:
            self.departed.append(p)
            if self._reported[p] >= 0:
                emit(now, _END, p, s, doctor.index)
                emit(now, _DEPARTURE, p, s, doctor.index)
        if doctor.leaving:
            self.in_treatment[s] -= 1
            self._go_off_duty(doctor, now)
        elif self.pooled:
            # the hot path of every run: hand the doctor the next patient still waiting
            queue = self.queue[s]
            left = patients.left
            while queue:
                q = queue.popleft()
                if left[q] != left[q]:  # NaN: still waiting
                    self.waiting[s] -= 1
                    patients.start[q] = now
                    patients.doctor[q] = doctor.index
                    doctor.patient = q
                    if emit is not None and self._reported[q] >= 0:
                        emit(now, _START, q, s, doctor.index)
                    heappush(
                        self.calendar,
                        (now + patients.service[q], next(self.sequence), TREATMENT_END, doctor),
                    )
                    return
            self.in_treatment[s] -= 1
            self.free[s].append(doctor)
        else:
            self.in_treatment[s] -= 1
            self._next(doctor, now)

    def _next(self, doctor: Doctor, now: float) -> None:
        gone = self.patients.gone
        s = doctor.specialty
        if not self.pooled:
            own = doctor.queue
            while own:
                p = own.popleft()
                if not gone(p):
                    doctor.queued -= 1
                    self._treat(p, doctor, now)
                    return
        queue = self.queue[s]
        while queue:
            p = queue.popleft()
            if not gone(p):
                self._treat(p, doctor, now)
                return
        if self.pooled:
            self.free[s].append(doctor)

    def abandon(self, p: int, now: float) -> None:
        """The patient's patience ran out: leaves without being seen, if still waiting."""
        patients = self.patients
        if patients.doctor[p] != NOBODY or patients.gone(p):
            return
        s = patients.specialty[p]
        patients.left[p] = now
        self.waiting[s] -= 1
        assigned = patients.assigned[p]
        if assigned != NOBODY:
            self.doctors[assigned].queued -= 1
            patients.assigned[p] = NOBODY
        if self._emit is not None:
            self.departed.append(p)
            if self._reported[p] >= 0:
                self._emit(now, _ABANDONMENT, p, s, NOBODY)
                self._emit(now, _DEPARTURE, p, s, NOBODY)

    # ------------------------------------------------------------------ shifts

    def shift_start(self, doctor: Doctor, now: float) -> None:
        """The doctor comes on duty (or stays, if still finishing the last shift's patient)."""
        s = doctor.specialty
        if doctor.leaving:
            doctor.leaving = False
            self.available[s].append(doctor)
            return
        if doctor.on_duty:
            return
        doctor.on_duty = True
        doctor.duty_started = now
        self.on_duty[s] += 1
        self.available[s].append(doctor)
        if self._emit is not None and now >= 0:
            self._emit(now, _SHIFT_START, NOBODY, s, doctor.index)
        self._next(doctor, now)

    def shift_end(self, doctor: Doctor, now: float) -> None:
        """The shift is over: off duty now if free, else after the current patient."""
        if not doctor.on_duty or doctor.leaving:
            return
        self.available[doctor.specialty].remove(doctor)
        if doctor.patient != NOBODY:
            doctor.leaving = True
            return
        if self.pooled:
            self.free[doctor.specialty].remove(doctor)
        self._go_off_duty(doctor, now)

    def _go_off_duty(self, doctor: Doctor, now: float) -> None:
        s = doctor.specialty
        doctor.on_duty = False
        doctor.leaving = False
        self.on_duty[s] -= 1
        self.duty_periods.append((doctor.index, doctor.duty_started, now))
        if self._emit is not None and now >= 0:
            self._emit(now, _SHIFT_END, NOBODY, s, doctor.index)
        if not self.pooled and doctor.queue:
            waiting = [p for p in doctor.queue if not self.patients.gone(p)]
            doctor.queue.clear()
            doctor.queued = 0
            for p in waiting:
                self._route(p, now)

    def close_duty(self, now: float) -> None:
        """At the end of the run, close the duty periods still open."""
        for doctor in self.doctors:
            if doctor.on_duty:
                self.duty_periods.append((doctor.index, doctor.duty_started, now))

    @property
    def patients_present(self) -> int:
        return sum(self.waiting) + sum(self.in_treatment)


def _load(doctor: Doctor) -> int:
    return doctor.queued + (doctor.patient != NOBODY)
