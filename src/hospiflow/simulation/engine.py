"""The event engine: a heap of timestamped events, exact in continuous time.

Three sorted streams are merged: arrivals (drawn a chunk of 24 slots at a
time), the chunk's control events (shift starts and ends, state snapshots at
every step) and a heap of treatment ends and patience expiries. There is no
minute loop: a year of a 110k-patient hospital runs in well under a second.

The engine hands its records to sinks (``events.Sink``). It can run to the
end (``run``) or be advanced piece by piece (``advance_to``), which is what
live mode does against the wall clock.
"""

from __future__ import annotations

import bisect
import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import numpy as np

from hospiflow.catalog.models import Catalog
from hospiflow.simulation.arrivals import CHUNK_SLOTS, ArrivalSource, Streams
from hospiflow.simulation.calendar import (
    Calendar,
    build_calendar,
    duty_plans,
    hourly_arrival_rates,
)
from hospiflow.simulation.events import (
    Disposition,
    DoctorInfo,
    Event,
    RunInfo,
    Sink,
    Snapshot,
)
from hospiflow.simulation.model import Doctor, Hospital, Patient
from hospiflow.simulation.scenario import Scenario, scenario_to_dict

_TREATMENT_END = 0
_ABANDON = 1
_CONTROL_SHIFT_START = 0
_CONTROL_SHIFT_END = 1
_CONTROL_SNAPSHOT = 2
FLUSH_EVERY = 50_000
INF = math.inf


@dataclass
class SimulationResult:
    """Every reported patient and every duty period of a finished run, as arrays.

    One row per patient who arrived in the reported period (Ciw style):
    ``start``/``end`` are NaN for a patient who left without being seen
    (``left`` holds that time) or was still waiting when the run stopped.
    ``state_*`` arrays hold every patient (warm-up included) for the
    time-averaged state, which does not care who is reported.
    """

    run: RunInfo
    calendar: Calendar
    catalog: Catalog
    pathology: np.ndarray
    specialty: np.ndarray
    doctor: np.ndarray
    arrival: np.ndarray
    start: np.ndarray
    end: np.ndarray
    left: np.ndarray
    duty_doctor: np.ndarray
    duty_start: np.ndarray
    duty_end: np.ndarray
    doctor_specialty: np.ndarray
    state_specialty: np.ndarray
    state_arrival: np.ndarray
    state_start: np.ndarray
    state_end: np.ndarray
    end_minute: float

    @property
    def n_patients(self) -> int:
        return len(self.arrival)

    @property
    def wait(self) -> np.ndarray:
        return self.start - self.arrival

    @property
    def treatment_minutes(self) -> np.ndarray:
        return self.end - self.start


class Engine:
    """Runs one scenario, feeding its records to the sinks."""

    def __init__(
        self,
        scenario: Scenario,
        sinks: Sequence[Sink] = (),
        progress: Callable[[float], None] | None = None,
        seed: int | np.random.SeedSequence | None = None,
        catalog: Catalog | None = None,
        extra_hours: int | None = None,
    ) -> None:
        self.scenario = scenario
        self.catalog = catalog or scenario.load_catalog()
        self.calendar = build_calendar(
            scenario, **({} if extra_hours is None else {"extra_hours": extra_hours})
        )
        self.sinks = list(sinks)
        self.progress = progress
        self.trace = any(getattr(sink, "wants_events", False) for sink in self.sinks)
        cal = self.calendar
        catalog = self.catalog
        self.spec_of_path = catalog.pathology_specialty_index().tolist()
        streams = Streams(scenario.seed if seed is None else seed)
        self.arrivals = ArrivalSource(
            streams,
            hourly_arrival_rates(scenario, cal),
            cal.month,
            catalog.monthly_weights(scenario.pathology_seasonality),
            catalog.mean_treatment_minutes(),
            cal.begin_minute,
            fixed_service=scenario.treatment_distribution == "fixed",
            mean_patience_minutes=scenario.mean_patience_minutes if scenario.abandonment else None,
        )
        spec_index = {code: i for i, code in enumerate(catalog.specialty_codes)}
        self.plans = duty_plans(scenario, cal)
        self.doctor_infos = tuple(
            DoctorInfo(
                code=f"{plan.specialty}-{k + 1:02d}",
                specialty=spec_index[plan.specialty],
                shift=plan.shift,
            )
            for k, plan in _numbered(self.plans)
        )
        self.events: list[Event] = []
        self.snapshots: list[Snapshot] = []
        self.hospital = Hospital(
            n_specialties=len(catalog.specialties),
            doctor_specialties=[info.specialty for info in self.doctor_infos],
            routing=scenario.routing,
            start_treatment=self._schedule_end,
            emit=self._emit if self.trace else None,
        )
        self._shift_controls = sorted(
            (
                (time, kind, doctor)
                for plan, doctor in zip(self.plans, self.hospital.doctors, strict=True)
                for a, b in plan.periods
                for time, kind in ((a, _CONTROL_SHIFT_START), (b, _CONTROL_SHIFT_END))
            ),
            key=_control_order,
        )
        self._shift_times = [c[0] for c in self._shift_controls]
        self.heap: list[tuple[float, int, int, Any]] = []
        self.seq = 0
        self.now = cal.begin_minute
        self.next_chunk_slot = 0
        self.patients: list[Patient] = []  # reported patients, in arrival order
        self.all_patients: list[Patient] = []
        self.warmup_count = 0
        self.reported_count = 0
        self._pending_arrivals: list[Patient] = []
        self._arrival_pos = 0
        self._controls: list[tuple[float, int, Any]] = []
        self._control_pos = 0
        self._chunk_end = cal.begin_minute
        self.run_info = RunInfo(
            start_utc=cal.start_utc,
            timezone=scenario.timezone,
            days=scenario.days,
            seed=scenario.seed if seed is None else None,
            specialties=catalog.specialty_codes,
            pathologies=catalog.pathology_codes,
            doctors=self.doctor_infos,
            snapshot_step_min=scenario.snapshot_step_minutes,
            parameters=scenario_to_dict(scenario),
        )
        self._opened = False
        self._finished = False

    @staticmethod
    def horizon_hours(scenario: Scenario) -> int:
        """Hours in the reported period."""
        return math.ceil(scenario.days * 24)

    @staticmethod
    def warmup_hours(scenario: Scenario) -> int:
        """Hours simulated before the reported period."""
        return math.ceil(scenario.warmup_days * 24)

    # ------------------------------------------------------------------ sinks

    def _emit(
        self, now: float, kind: int, patient: Patient | None, specialty: int, doctor: int
    ) -> None:
        # plain tuples in ``Event`` field order: a NamedTuple per event costs 3x more
        if patient is None:
            self.events.append((now, kind, -1, -1, specialty, doctor))
        else:
            self.events.append((now, kind, patient.number, patient.pathology, specialty, doctor))

    def flush(self) -> None:
        """Hand the buffered records to the sinks (live mode calls it every tick)."""
        departed = self.hospital.departed
        visits = [_visit(p) for p in departed if p.number >= 0] if self.trace else []
        departed.clear()
        for sink in self.sinks:
            if self.snapshots:
                sink.write_snapshots(self.snapshots)
            if sink.wants_events:
                if self.events:
                    sink.write_events(self.events)
                if visits:
                    sink.write_visits(visits)
        self.events = []
        self.snapshots = []

    # ------------------------------------------------------------------ scheduling

    def _schedule_end(self, patient: Patient, doctor: Doctor, now: float) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (now + patient.service, self.seq, _TREATMENT_END, doctor))

    def _load_chunk(self) -> bool:
        """Draw the next chunk's arrivals and controls; False when the timeline is over."""
        cal = self.calendar
        first = self.next_chunk_slot
        if first >= cal.n_slots:
            return False
        if first >= cal.warmup_hours + cal.horizon_hours and self.hospital.patients_present == 0:
            return False  # arrivals are over and everyone has left: nothing more to drain
        last = min(first + CHUNK_SLOTS, cal.n_slots)
        self.next_chunk_slot = last
        begin = cal.begin_minute + 60.0 * first
        end = cal.begin_minute + 60.0 * last
        self._chunk_end = end
        horizon = cal.horizon_minute
        arrivals: list[Patient] = []
        arrival_end_slot = min(last, cal.warmup_hours + cal.horizon_hours)
        if arrival_end_slot > first:
            batch = self.arrivals.chunk(first, arrival_end_slot)
            spec = self.spec_of_path
            for t, j, service, patience, route in zip(
                batch.times.tolist(),
                batch.pathology.tolist(),
                batch.service_minutes.tolist(),
                batch.patience_minutes.tolist(),
                batch.route.tolist(),
                strict=True,
            ):
                if t < 0:
                    number = -1 - self.warmup_count
                    self.warmup_count += 1
                else:
                    number = self.reported_count
                    self.reported_count += 1
                patient = Patient(number, j, spec[j], t, service, patience, route)
                arrivals.append(patient)
                if number >= 0:
                    self.patients.append(patient)
            self.all_patients.extend(arrivals)
        lo = bisect.bisect_left(self._shift_times, begin)
        hi = bisect.bisect_left(self._shift_times, end)
        controls = self._shift_controls[lo:hi]
        if self.trace:
            step = self.scenario.snapshot_step_minutes
            t = max(0.0, math.ceil(begin / step) * step)
            while t < end and t < horizon:
                controls.append((t, _CONTROL_SNAPSHOT, None))
                t += step
            controls.sort(key=_control_order)
        self._pending_arrivals = arrivals
        self._arrival_pos = 0
        self._controls = controls
        self._control_pos = 0
        return True

    # ------------------------------------------------------------------ running

    def open(self) -> None:
        if not self._opened:
            for sink in self.sinks:
                sink.open(self.run_info)
            self._opened = True

    def advance_to(self, until: float) -> None:
        """Process every event strictly before ``until`` (run minutes)."""
        self.open()
        hospital = self.hospital
        heap = self.heap
        abandonment = self.scenario.abandonment
        while True:
            if self._arrival_pos >= len(self._pending_arrivals) and self._control_pos >= len(
                self._controls
            ):
                # chunk exhausted: the heap may still hold events of this chunk
                if heap and heap[0][0] < min(self._chunk_end, until):
                    self._pop_heap(hospital, heap)
                    continue
                if self._chunk_end >= until:
                    break
                if not self._load_chunk():
                    self._finished = True
                    break
                if self.progress is not None:
                    self.progress(self._chunk_end)
                if len(self.events) >= FLUSH_EVERY:
                    self.flush()
                continue
            arrivals = self._pending_arrivals
            ta = arrivals[self._arrival_pos].arrival if self._arrival_pos < len(arrivals) else INF
            controls = self._controls
            tc = controls[self._control_pos][0] if self._control_pos < len(controls) else INF
            th = heap[0][0] if heap else INF
            if tc <= ta and tc <= th:
                if tc >= until:
                    break
                self.now = tc
                _, kind, doctor = controls[self._control_pos]
                self._control_pos += 1
                if kind == _CONTROL_SNAPSHOT:
                    self._snapshot(tc)
                elif kind == _CONTROL_SHIFT_START:
                    hospital.shift_start(doctor, tc)
                else:
                    hospital.shift_end(doctor, tc)
            elif ta < th:
                if ta >= until:
                    break
                self.now = ta
                patient = arrivals[self._arrival_pos]
                self._arrival_pos += 1
                hospital.arrive(patient, ta)
                if abandonment and patient.doctor < 0:
                    self.seq += 1
                    heapq.heappush(heap, (ta + patient.patience, self.seq, _ABANDON, patient))
            else:
                if th >= until:
                    break
                self._pop_heap(hospital, heap)
        if self._finished:
            self.now = max(self.now, self._chunk_end)
        elif until != INF:
            self.now = max(self.now, until)

    def _pop_heap(self, hospital: Hospital, heap: list) -> None:
        t, _, kind, obj = heapq.heappop(heap)
        self.now = t
        if kind == _TREATMENT_END:
            hospital.finish(obj, t)
        else:
            hospital.abandon(obj, t)

    def _snapshot(self, t: float) -> None:
        h = self.hospital
        busy = h.in_treatment
        self.snapshots.extend(
            (t, s, h.waiting[s], busy[s], h.on_duty[s], busy[s]) for s in range(len(busy))
        )

    def run(self) -> SimulationResult:
        """Run to the end (horizon plus drain), close the sinks, return the result."""
        try:
            self.advance_to(INF)
        except BaseException:
            self.abort()
            raise
        return self.finish()

    def finish(self) -> SimulationResult:
        """Stop here: flush, build the result, close every sink with it."""
        try:
            result = self.result()
            self.flush()
        except BaseException:
            self.abort()
            raise
        for sink in self.sinks:
            sink.close(result)
        return result

    def abort(self) -> None:
        """The run failed or was interrupted: flush what can be, close the sinks without result."""
        self._flush_quietly()
        for sink in self.sinks:
            sink.close(None)

    def _flush_quietly(self) -> None:
        try:
            self.flush()
        except Exception:  # noqa: BLE001 - the original error matters more
            pass

    def result(self) -> SimulationResult:
        """The arrays of every reported patient and duty period so far."""
        end = self.calendar.begin_minute + 60.0 * self.calendar.n_slots
        self.hospital.close_duty(min(self.now, end))
        patients = self.patients

        def column(attr: str, dtype: Any = float, source: list[Patient] = patients) -> np.ndarray:
            return np.array(list(map(attrgetter(attr), source)), dtype=dtype).reshape(-1)

        start = column("start")
        finished = column("end")
        left = column("left")
        everyone = self.all_patients
        state_start = column("start", source=everyone)
        state_end = column("end", source=everyone)
        state_left = column("left", source=everyone)
        never = self.now
        # a patient waits until treated or gone, and is in treatment until the end
        waited_until = np.where(
            ~np.isnan(state_start), state_start, np.where(~np.isnan(state_left), state_left, never)
        )
        state_end = np.where(
            ~np.isnan(state_end), state_end, np.where(~np.isnan(state_start), never, waited_until)
        )
        duty = np.array(self.hospital.duty_periods, dtype=float).reshape(-1, 3)
        return SimulationResult(
            run=self.run_info,
            calendar=self.calendar,
            catalog=self.catalog,
            pathology=column("pathology", np.int64),
            specialty=column("specialty", np.int64),
            doctor=column("doctor", np.int64),
            arrival=column("arrival"),
            start=start,
            end=finished,
            left=left,
            duty_doctor=duty[:, 0].astype(np.int64),
            duty_start=duty[:, 1],
            duty_end=duty[:, 2],
            doctor_specialty=np.array([d.specialty for d in self.doctor_infos], dtype=np.int64),
            state_specialty=column("specialty", np.int64, everyone),
            state_arrival=column("arrival", source=everyone),
            state_start=waited_until,
            state_end=state_end,
            end_minute=self.now,
        )


def _visit(p: Patient) -> tuple:
    """The patient as a tuple in ``Visit`` field order."""
    if p.doctor >= 0:
        return (
            p.number,
            p.pathology,
            p.specialty,
            p.doctor,
            p.arrival,
            p.start,
            p.end,
            p.end,
            int(Disposition.DISCHARGED),
        )
    return (
        p.number,
        p.pathology,
        p.specialty,
        -1,
        p.arrival,
        math.nan,
        math.nan,
        p.left,
        int(Disposition.LEFT_WITHOUT_BEING_SEEN),
    )


def _control_order(item: tuple[float, int, Any]) -> tuple[float, int]:
    return item[0], item[1]


def _numbered(plans: list) -> list[tuple[int, Any]]:
    """Number doctors 1, 2, ... within each specialty, in roster order."""
    counters: dict[str, int] = {}
    numbered = []
    for plan in plans:
        k = counters.get(plan.specialty, 0)
        counters[plan.specialty] = k + 1
        numbered.append((k, plan))
    return numbered


def simulate(
    scenario: Scenario,
    sinks: Sequence[Sink] = (),
    progress: Callable[[float], None] | None = None,
) -> SimulationResult:
    """Run a scenario to the end and return its result (the sinks get every record)."""
    return Engine(scenario, sinks, progress).run()
