"""The hospital model: ``Patient``, ``Doctor`` and ``Hospital``.

The ``Hospital`` owns the queues and the routing rules; it changes state when
the engine tells it that something happened (an arrival, a treatment end, a
shift boundary) and reports back the treatments to schedule. It knows
nothing of time ordering (the engine's job) or of sinks.

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
from collections.abc import Callable

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


class Patient:
    """One arrival. ``number`` is negative for warm-up patients (never reported)."""

    __slots__ = (
        "number",
        "pathology",
        "specialty",
        "arrival",
        "service",
        "patience",
        "route",
        "start",
        "end",
        "doctor",
        "left",
        "gone",
        "assigned",
    )

    def __init__(
        self,
        number: int,
        pathology: int,
        specialty: int,
        arrival: float,
        service: float,
        patience: float,
        route: float,
    ) -> None:
        self.number = number
        self.pathology = pathology
        self.specialty = specialty
        self.arrival = arrival
        self.service = service  # treatment minutes, drawn at arrival (common random numbers)
        self.patience = patience
        self.route = route  # a uniform draw used by the random routing policy
        self.start = NOT_YET  # times are NaN until they happen
        self.end = NOT_YET
        self.doctor = -1
        self.left = NOT_YET  # time the patient left without being seen
        self.gone = False  # left without being seen: skipped when a queue is served
        self.assigned: Doctor | None = None  # the doctor whose own queue holds the patient


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
        self.patient: Patient | None = None
        self.queue: deque[Patient] = deque()  # own queue (per-doctor routing only)
        self.queued = 0  # patients in ``queue`` still waiting
        self.duty_started = 0.0

    @property
    def busy(self) -> bool:
        return self.patient is not None


Emit = Callable[[float, int, Patient | None, int, int], None]


class Hospital:
    """Queues, doctors and routing of one hospital; counts its state per specialty."""

    def __init__(
        self,
        n_specialties: int,
        doctor_specialties: list[int],
        routing: str,
        start_treatment: Callable[[Patient, Doctor, float], None],
        emit: Emit | None,
    ) -> None:
        self.routing = routing
        self.pooled = routing == "pooled"
        self.doctors = [Doctor(i, s) for i, s in enumerate(doctor_specialties)]
        self.queue: list[deque[Patient]] = [deque() for _ in range(n_specialties)]
        self.free: list[list[Doctor]] = [[] for _ in range(n_specialties)]
        self.available: list[list[Doctor]] = [[] for _ in range(n_specialties)]
        self.waiting = [0] * n_specialties
        self.in_treatment = [0] * n_specialties
        self.on_duty = [0] * n_specialties
        self.duty_periods: list[tuple[int, float, float]] = []
        self.departed: list[Patient] = []
        self._start_treatment = start_treatment
        self._emit = emit

    # ------------------------------------------------------------------ patients

    def arrive(self, patient: Patient, now: float) -> None:
        """A patient comes in: treated at once by a free doctor, or queued."""
        s = patient.specialty
        if self._emit is not None and patient.number >= 0:
            self._emit(now, _ARRIVAL, patient, s, -1)
        self.waiting[s] += 1
        if self.pooled:
            free = self.free[s]
            if free:
                self._treat(patient, free.pop(), now)
            else:
                self.queue[s].append(patient)
        else:
            self._route(patient, now)

    def _route(self, patient: Patient, now: float) -> None:
        s = patient.specialty
        available = self.available[s]
        if not available:
            self.queue[s].append(patient)
            patient.assigned = None
            return
        if self.routing == "random":
            doctor = available[int(patient.route * len(available))]
        else:
            doctor = min(available, key=_load)
        patient.assigned = doctor
        if self._emit is not None and patient.number >= 0:
            self._emit(now, _ASSIGNMENT, patient, s, doctor.index)
        if doctor.patient is None and not doctor.queued:
            self._treat(patient, doctor, now)
        else:
            doctor.queue.append(patient)
            doctor.queued += 1

    def _treat(self, patient: Patient, doctor: Doctor, now: float) -> None:
        s = patient.specialty
        self.waiting[s] -= 1
        self.in_treatment[s] += 1
        patient.start = now
        patient.doctor = doctor.index
        patient.assigned = None
        doctor.patient = patient
        if self._emit is not None and patient.number >= 0:
            self._emit(now, _START, patient, s, doctor.index)
        self._start_treatment(patient, doctor, now)

    def finish(self, doctor: Doctor, now: float) -> None:
        """The doctor's current treatment ends; the doctor takes the next patient or rests."""
        patient = doctor.patient
        assert patient is not None
        s = doctor.specialty
        patient.end = now
        doctor.patient = None
        self.in_treatment[s] -= 1
        self.departed.append(patient)
        if self._emit is not None and patient.number >= 0:
            self._emit(now, _END, patient, s, doctor.index)
            self._emit(now, _DEPARTURE, patient, s, doctor.index)
        if doctor.leaving:
            self._go_off_duty(doctor, now)
        else:
            self._next(doctor, now)

    def _next(self, doctor: Doctor, now: float) -> None:
        s = doctor.specialty
        if not self.pooled:
            own = doctor.queue
            while own:
                patient = own.popleft()
                if not patient.gone:
                    doctor.queued -= 1
                    self._treat(patient, doctor, now)
                    return
        queue = self.queue[s]
        while queue:
            patient = queue.popleft()
            if not patient.gone:
                self._treat(patient, doctor, now)
                return
        if self.pooled:
            self.free[s].append(doctor)

    def abandon(self, patient: Patient, now: float) -> None:
        """The patient's patience ran out: leaves without being seen, if still waiting."""
        if patient.gone or patient.doctor >= 0:
            return
        s = patient.specialty
        patient.left = now
        patient.gone = True
        self.waiting[s] -= 1
        if patient.assigned is not None:
            patient.assigned.queued -= 1
            patient.assigned = None
        self.departed.append(patient)
        if self._emit is not None and patient.number >= 0:
            self._emit(now, _ABANDONMENT, patient, s, -1)
            self._emit(now, _DEPARTURE, patient, s, -1)

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
            self._emit(now, _SHIFT_START, None, s, doctor.index)
        self._next(doctor, now)

    def shift_end(self, doctor: Doctor, now: float) -> None:
        """The shift is over: off duty now if free, else after the current patient."""
        if not doctor.on_duty or doctor.leaving:
            return
        self.available[doctor.specialty].remove(doctor)
        if doctor.patient is not None:
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
            self._emit(now, _SHIFT_END, None, s, doctor.index)
        if not self.pooled and doctor.queue:
            waiting = [p for p in doctor.queue if not p.gone]
            doctor.queue.clear()
            doctor.queued = 0
            for patient in waiting:
                self._route(patient, now)

    def close_duty(self, now: float) -> None:
        """At the end of the run, close the duty periods still open."""
        for doctor in self.doctors:
            if doctor.on_duty:
                self.duty_periods.append((doctor.index, doctor.duty_started, now))

    @property
    def patients_present(self) -> int:
        return sum(self.waiting) + sum(self.in_treatment)


def _load(doctor: Doctor) -> int:
    return doctor.queued + (doctor.patient is not None)
