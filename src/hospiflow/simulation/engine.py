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
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import numpy as np

from hospiflow.catalog.models import Catalog
from hospiflow.simulation.arrivals import CHUNK_SLOTS, ArrivalSource, Streams
from hospiflow.simulation.calendar import (
    Calendar,
    DutyPlan,
    build_calendar,
    duty_plans,
    hourly_arrival_rates,
)
from hospiflow.simulation.events import (
    Disposition,
    DoctorInfo,
    EventRow,
    RunInfo,
    Sink,
    SnapshotRow,
    VisitRow,
)
from hospiflow.simulation.flow import (
    WARD_DISCHARGE,
    FlowHospital,
    FlowPatients,
    draw_flow,
    flow_tables,
)
from hospiflow.simulation.model import (
    ABANDON,
    SHIFT_END,
    SHIFT_START,
    SNAPSHOT,
    TREATMENT_END,
    Doctor,
    Hospital,
    Patients,
)
from hospiflow.simulation.scenario import Scenario, scenario_to_dict

FLUSH_EVERY = 50_000
ResourceRow = tuple[float, str, int, int, int, int]
"""An area's or ward's state: (time, "space" | "ward", index, capacity, in use, queue)."""
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
    flow: FlowResult | None = None  # the patient flow's records ([flow] enabled), else None
    # aggregates derived once from the arrays above (the CSV and store sinks share them)
    derived: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_patients(self) -> int:
        return len(self.arrival)

    @property
    def flow_los(self) -> np.ndarray:
        """Minutes from arrival to leaving the department (flow runs; NaN: still there)."""
        los: np.ndarray = self.departure - self.arrival
        return los

    @property
    def departure(self) -> np.ndarray:
        """When each patient left the department (NaN: still there at the end)."""
        if self.flow is not None:
            return self.flow.departure
        departure: np.ndarray = np.where(np.isnan(self.left), self.end, self.left)
        return departure

    @property
    def wait(self) -> np.ndarray:
        wait: np.ndarray = self.start - self.arrival
        return wait

    @property
    def treatment_minutes(self) -> np.ndarray:
        minutes: np.ndarray = self.end - self.start
        return minutes


@dataclass
class FlowResult:
    """The flow's per-patient columns (reported patients) and resource intervals (all).

    ``acuity`` is the level on the scenario's triage scale, ``disposition`` a
    ``Disposition`` value (0: still in the department at the end),
    ``bed_request`` when an admitted patient's bed was asked for (boarding
    lasts until ``departure``). Interval arrays cover warm-up patients too,
    for time-averaged state; open intervals end at the result's ``end_minute``.
    """

    scale: str
    acuity: np.ndarray
    age: np.ndarray
    disposition: np.ndarray
    departure: np.ndarray
    bed_request: np.ndarray
    space_start: np.ndarray
    area_names: tuple[str, ...]
    area_spaces: tuple[int, ...]  # 0: unlimited
    ward_names: tuple[str, ...]
    ward_beds: tuple[int, ...]
    space_area: np.ndarray  # intervals a space is held: area, start, end
    space_start_all: np.ndarray
    space_end_all: np.ndarray
    board_ward: np.ndarray  # boarding intervals: ward, start (bed request), end
    board_start: np.ndarray
    board_end: np.ndarray
    busy_specialty: np.ndarray  # doctor contacts: specialty, start, end
    busy_start: np.ndarray
    busy_end: np.ndarray
    stay_ward: np.ndarray  # ward stays (ED admissions and the initial census)
    stay_start: np.ndarray
    stay_end: np.ndarray
    # specialist consults (shared emergency physicians): asked for, begun; NaN: none
    consult_request: np.ndarray
    consult_start: np.ndarray


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
        self.spec_of_path_array = catalog.pathology_specialty_index()
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
            distribution=scenario.treatment_distribution,
            cv=scenario.treatment_cv,
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
        self.events: list[EventRow] = []
        self.snapshots: list[SnapshotRow] = []
        self.heap: list[tuple[float, int, int, Any]] = []
        self.flow = scenario.flow if scenario.flow_active else None
        self.hospital: Hospital | FlowHospital
        if self.flow is None:
            self.hospital = Hospital(
                n_specialties=len(catalog.specialties),
                doctor_specialties=[info.specialty for info in self.doctor_infos],
                routing=scenario.routing,
                calendar=self.heap,
                emit=self._emit if self.trace else None,
            )
        else:
            self.flow_tables = flow_tables(self.flow, catalog)
            wards = self.flow.wards
            self._stay_means = np.array([w.mean_stay_days for w in wards] or [1.0])
            self._stay_cvs = np.array([w.stay_cv for w in wards] or [1.0])
            self._stay_exponential = np.array(
                [w.stay_distribution == "exponential" for w in wards] or [False]
            )
            self.hospital = FlowHospital(
                self.flow,
                n_specialties=len(catalog.specialties),
                doctor_specialties=[info.specialty for info in self.doctor_infos],
                calendar=self.heap,
                clock=cal,
                emit=self._emit if self.trace else None,
            )
            self.hospital.ward_of_specialty = self.flow_tables.ward_of_specialty
            self.hospital.pool = self.flow_tables.pool
            self.hospital.fill_wards(streams.flow, cal.begin_minute)
            self.hospital.plan_boarding_days(streams.exit_block)
        self.resource_snapshots: list[ResourceRow] = []
        # Shift changes and snapshots go on the heap a chunk at a time, with
        # negative sequence numbers: at equal times they come before treatment
        # ends (the shift boundary is known first).
        shifts: list[tuple[float, int, Doctor | None]] = [
            (time, kind, doctor)
            for plan, doctor in zip(self.plans, self.hospital.doctors, strict=True)
            for a, b in plan.periods
            for time, kind in ((a, SHIFT_START), (b, SHIFT_END))
        ]
        shifts.sort(key=_control_order)
        self._shift_controls = shifts
        self._shift_times = [c[0] for c in shifts]
        self._control_sequence = -(10**15)
        self.now = cal.begin_minute
        self.next_chunk_slot = 0
        self.warmup_count = 0
        self.reported_count = 0
        self._pending_arrivals: range = range(0)  # rows of the current chunk's arrivals
        self._drawn: list[tuple[np.ndarray, np.ndarray]] = []  # arrival times and pathologies
        self._arrival_pos = 0
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
            end_utc=cal.start_utc + timedelta(hours=cal.horizon_hours),
        )
        self._opened = False
        self._finished = False

    @staticmethod
    def horizon_hours(scenario: Scenario) -> int:
        """Hours in the reported period (local days: DST days have 23 or 25)."""
        return scenario.horizon_hours

    @staticmethod
    def warmup_hours(scenario: Scenario) -> int:
        """Hours simulated before the reported period."""
        return math.ceil(scenario.warmup_days * 24)

    # ------------------------------------------------------------------ sinks

    def _emit(self, now: float, kind: int, patient: int, specialty: int, doctor: int) -> None:
        # plain tuples in ``Event`` field order: a NamedTuple per event costs 3x more
        if patient < 0:
            self.events.append((now, kind, -1, -1, specialty, doctor))
        else:
            patients = self.hospital.patients
            self.events.append(
                (
                    now,
                    kind,
                    patients.number[patient],
                    patients.pathology[patient],
                    specialty,
                    doctor,
                )
            )

    def flush(self) -> None:
        """Hand the buffered records to the sinks (live mode calls it every tick)."""
        departed = self.hospital.departed
        patients = self.hospital.patients
        reported = [p for p in departed if patients.number[p] >= 0]
        visits: list[VisitRow] = (
            [_flow_visit(patients, p) for p in reported]
            if isinstance(patients, FlowPatients)
            else [_visit(patients, p) for p in reported]
        )
        departed.clear()
        for sink in self.sinks:
            if self.snapshots:
                sink.write_snapshots(self.snapshots)
            write_resources = getattr(sink, "write_resources", None)
            if self.resource_snapshots and write_resources is not None:
                write_resources(self.resource_snapshots)
            if sink.wants_events:
                if self.events:
                    sink.write_events(self.events)
                if visits:
                    sink.write_visits(visits)
        self.events = []
        self.snapshots = []
        self.resource_snapshots = []

    # ------------------------------------------------------------------ scheduling

    def _load_chunk(self) -> bool:
        """Draw the next chunk's arrivals and schedule its controls; False when time is up."""
        cal = self.calendar
        first = self.next_chunk_slot
        if first >= cal.n_slots:
            return False
        arrivals_end = cal.warmup_hours + cal.horizon_hours
        if first >= arrivals_end and self.hospital.patients_present == 0:
            return False  # arrivals are over and everyone has left: nothing more to drain
        last = min(first + CHUNK_SLOTS, cal.n_slots)
        self.next_chunk_slot = last
        begin = cal.begin_minute + 60.0 * first
        end = cal.begin_minute + 60.0 * last
        self._chunk_end = end
        self._pending_arrivals = self._draw_patients(first, min(last, arrivals_end))
        self._arrival_pos = self._pending_arrivals.start
        controls = self._shift_controls[
            bisect.bisect_left(self._shift_times, begin) : bisect.bisect_left(
                self._shift_times, end
            )
        ]
        if self.trace:
            step = self.scenario.snapshot_step_minutes
            t = max(0.0, math.ceil(begin / step) * step)
            while t < end and t < cal.horizon_minute:
                controls.append((t, SNAPSHOT, None))
                t += step
            controls.sort(key=_control_order)
        heap = self.heap
        sequence = self._control_sequence
        for time, kind, subject in controls:
            sequence += 1
            heapq.heappush(heap, (time, sequence, kind, subject))
        self._control_sequence = sequence
        return True

    def _draw_patients(self, first: int, last: int) -> range:
        """Rows of the patients arriving in slots [first, last) (warm-up ones numbered < 0)."""
        if last <= first:
            return range(0)
        batch = self.arrivals.chunk(first, last)
        n = len(batch.times)
        warmup = int(np.count_nonzero(batch.times < 0))
        numbers = list(range(-1 - self.warmup_count, -1 - self.warmup_count - warmup, -1))
        numbers += range(self.reported_count, self.reported_count + n - warmup)
        self.warmup_count += warmup
        self.reported_count += n - warmup
        self._drawn.append((batch.times, batch.pathology))
        specialty = self.spec_of_path_array[batch.pathology]
        patience = batch.patience_minutes.tolist()
        draws = None
        if self.flow is not None:
            draws = draw_flow(
                self.arrivals.streams.flow,
                self.flow_tables,
                self.flow,
                batch.pathology,
                specialty,
                self._stay_means,
                self._stay_cvs,
                self._stay_exponential,
                self.scenario.treatment_distribution,
                self.scenario.treatment_cv,
                self._local_hours(batch.times),
                self._wait_day_factors(batch.times),
            )
            patience = draws.patience
        rows = self.hospital.patients.extend(
            numbers,
            batch.pathology.tolist(),
            specialty.tolist(),
            batch.times.tolist(),
            batch.service_minutes.tolist(),
            patience,
            batch.route.tolist(),
        )
        if draws is not None:
            self._flow_hospital.patients.add_flow(draws)
        return rows

    # ------------------------------------------------------------------ running

    def open(self) -> None:
        if not self._opened:
            for sink in self.sinks:
                sink.open(self.run_info)
            self._opened = True

    def advance_to(self, until: float) -> None:
        """Process every event strictly before ``until`` (run minutes)."""
        if self.flow is not None:
            self._advance_flow(until)
            return
        self.open()
        hospital = self.hospital
        heap = self.heap
        heappop = heapq.heappop
        finish = hospital.finish
        arrive = hospital.arrive
        abandonment = self.scenario.abandonment and self.flow is None
        patients = hospital.patients
        arrival = patients.arrival
        now = self.now
        while True:
            rows = self._pending_arrivals
            pos = self._arrival_pos
            n = rows.stop
            while pos < n:
                ta = arrival[pos]
                if ta >= until:
                    break
                while heap and heap[0][0] <= ta:
                    now, _, kind, subject = heappop(heap)
                    if kind == TREATMENT_END:
                        finish(subject, now)
                    else:
                        self._control(kind, subject, now)
                now = ta
                arrive(pos, ta)
                if abandonment and patients.doctor[pos] < 0:
                    heapq.heappush(
                        heap, (ta + patients.patience[pos], next(hospital.sequence), ABANDON, pos)
                    )
                pos += 1
            self._arrival_pos = pos
            boundary = self._chunk_end if self._chunk_end < until else until
            while heap and heap[0][0] < boundary:
                now, _, kind, subject = heappop(heap)
                if kind == TREATMENT_END:
                    finish(subject, now)
                else:
                    self._control(kind, subject, now)
            if pos < n or not self._next_chunk(until):
                break
        self._settle(now, until)

    def _next_chunk(self, until: float) -> bool:
        """Load the next chunk of arrivals when ``until`` lies beyond this one.

        Called once per chunk by both event loops: reports progress and flushes
        full event buffers. False when the loop must stop (``until`` reached or
        no arrivals left).
        """
        if self._chunk_end >= until:
            return False
        if not self._load_chunk():
            self._finished = True
            return False
        if self.progress is not None:
            self.progress(self._chunk_end)
        if len(self.events) >= FLUSH_EVERY:
            self.flush()
        return True

    def _settle(self, now: float, until: float) -> None:
        """Set the clock after a loop: the chunk's end when finished, else ``until``."""
        if self._finished:
            now = max(now, self._chunk_end)
        elif until != INF:
            now = max(now, until)
        self.now = now

    def _advance_flow(self, until: float) -> None:
        """``advance_to`` for the patient flow: every heap entry dispatched in one call.

        The flow puts four times more entries on the heap (triage ends, patience,
        diagnostics, ward discharges) than the plain model; a handler table indexed
        by the entry's kind saves the nested dispatch of ``_control``.
        """
        self.open()
        hospital = self._flow_hospital
        heap = self.heap
        heappop = heapq.heappop
        handlers = hospital.handlers(lambda _subject, now: self._snapshot(now))
        arrive = hospital.arrive
        arrival = hospital.patients.arrival
        now = self.now
        while True:
            pos = self._arrival_pos
            n = self._pending_arrivals.stop
            while pos < n:
                ta = arrival[pos]
                if ta >= until:
                    break
                while heap and heap[0][0] <= ta:
                    now, _, kind, subject = heappop(heap)
                    handlers[kind](subject, now)
                now = ta
                arrive(pos, ta)
                pos += 1
            self._arrival_pos = pos
            boundary = self._chunk_end if self._chunk_end < until else until
            while heap and heap[0][0] < boundary:
                now, _, kind, subject = heappop(heap)
                handlers[kind](subject, now)
            if pos < n or not self._next_chunk(until):
                break
        self._settle(now, until)

    @property
    def _flow_hospital(self) -> FlowHospital:
        """The hospital of a flow run (built when the scenario's ``[flow]`` is enabled)."""
        if not isinstance(self.hospital, FlowHospital):
            raise TypeError("the patient flow's records asked of a run without [flow]")
        return self.hospital

    def _slots(self, times: np.ndarray) -> np.ndarray:
        """The calendar's hour slot of each run time (clipped to the calendar)."""
        clock = self.calendar
        slots: np.ndarray = np.clip(
            np.floor_divide(times, 60.0).astype(np.int64) + clock.warmup_hours, 0, clock.n_slots - 1
        )
        return slots

    def _wait_day_factors(self, times: np.ndarray) -> np.ndarray | None:
        """The wait's factor of each arrival's local day (``triage_days`` as this run
        redrew them); None without."""
        days = getattr(self.hospital, "triage_day", None)
        if days is None:
            return None
        clock = self.calendar
        slots = self._slots(times)
        index = np.clip(clock.day_index[slots] - clock.day_index[0], 0, len(days) - 1)
        factors: np.ndarray = days[index]
        return factors

    def _local_hours(self, times: np.ndarray) -> np.ndarray | None:
        """The local hour (of the day, or of the week for a 168-hour triage profile) of each
        time; None when the triage delay has no hourly profile."""
        if self.flow is None or all(v == 1.0 for v in self.flow.triage_profile):
            return None
        clock = self.calendar
        slots = self._slots(times)
        hours: np.ndarray = clock.local_hour[slots]
        if len(self.flow.triage_profile) == 168:  # by hour of the week
            hours = clock.weekday[slots] * 24 + hours
        return hours

    def _control(self, kind: int, subject: Any, now: float) -> None:
        hospital = self.hospital
        if kind == ABANDON:
            hospital.abandon(subject, now)
        elif kind == SHIFT_START:
            hospital.shift_start(subject, now)
        elif kind == SHIFT_END:
            hospital.shift_end(subject, now)
        elif kind == SNAPSHOT:
            self._snapshot(now)
        else:  # DIAGNOSTICS_DONE, WARD_DISCHARGE, TRIAGE_DONE, BOARDED, BOARDING_LIMIT
            self._flow_hospital.control(kind, subject, now)

    def _snapshot(self, t: float) -> None:
        h = self.hospital
        busy = h.in_treatment
        self.snapshots.extend(
            (t, s, h.waiting[s], busy[s], h.on_duty[s], busy[s]) for s in range(len(busy))
        )
        if self.flow is not None:
            self.resource_snapshots.extend(_resources(self._flow_hospital, self.flow, t))

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
        patients = self.hospital.patients  # warm-up rows first, then the reported ones
        skip = self.warmup_count
        state_start = np.array(patients.start, dtype=float)
        state_end = np.array(patients.end, dtype=float)
        state_left = np.array(patients.left, dtype=float)
        arrival = np.concatenate([times for times, _ in self._drawn] or [np.zeros(0)])
        pathology = np.concatenate(
            [paths for _, paths in self._drawn] or [np.zeros(0, dtype=np.int64)]
        ).astype(np.int64)
        specialty = self.spec_of_path_array[pathology]
        never = self.now
        # a patient waits until treated or gone, and is in treatment until the end
        waited_until = np.where(
            ~np.isnan(state_start), state_start, np.where(~np.isnan(state_left), state_left, never)
        )
        treated_until = np.where(
            ~np.isnan(state_end), state_end, np.where(~np.isnan(state_start), never, waited_until)
        )
        duty = np.array(self.hospital.duty_periods, dtype=float).reshape(-1, 3)
        state_specialty = specialty
        if self.flow is not None:
            flow = self._flow_result(skip)
            # waiting lasts until first seen or gone; "treatment" state is the doctors' contacts
            treated_until = waited_until
            if self.flow_tables.pool >= 0:  # the first wait is in the shared physicians' queue
                state_specialty = np.full_like(specialty, self.flow_tables.pool)
        else:
            flow = None
        return SimulationResult(
            run=self.run_info,
            calendar=self.calendar,
            catalog=self.catalog,
            pathology=pathology[skip:],
            specialty=specialty[skip:],
            doctor=np.array(patients.doctor, dtype=np.int64)[skip:],
            arrival=arrival[skip:],
            start=state_start[skip:],
            end=state_end[skip:],
            left=state_left[skip:],
            duty_doctor=duty[:, 0].astype(np.int64),
            duty_start=duty[:, 1],
            duty_end=duty[:, 2],
            doctor_specialty=np.array([d.specialty for d in self.doctor_infos], dtype=np.int64),
            state_specialty=state_specialty,
            state_arrival=arrival,
            state_start=waited_until,
            state_end=treated_until,
            end_minute=self.now,
            flow=flow,
        )

    def _flow_result(self, skip: int) -> FlowResult:
        """The flow's columns and intervals so far (open intervals end now)."""
        h = self._flow_hospital
        flow = self.flow
        assert flow is not None
        p = h.patients
        now = self.now
        departure = np.array(p.departure, dtype=float)
        bed_request = np.array(p.bed_request, dtype=float)
        space_start = np.array(p.space_start, dtype=float)
        area = np.array(p.area, dtype=np.int64)
        held = ~np.isnan(space_start)
        space_end = np.where(np.isnan(departure), now, departure)
        boarding = ~np.isnan(bed_request)
        busy = np.array(h.busy_periods, dtype=float).reshape(-1, 3)
        open_busy = [(d.specialty, d.since, now) for d in h.doctors if d.patient >= 0]
        busy = np.vstack([busy, np.array(open_busy, dtype=float).reshape(-1, 3)])
        stays = list(h.ward_stays)
        stays += [
            (subject[0], subject[1], now)
            for _, _, kind, subject in self.heap
            if kind == WARD_DISCHARGE
        ]
        stay = np.array(stays, dtype=float).reshape(-1, 3)
        ward = h.ward_of_specialty[np.array(p.specialty, dtype=np.int64)]
        return FlowResult(
            scale=flow.triage_scale,
            acuity=np.array(p.level, dtype=np.int64)[skip:],
            age=np.array(p.age, dtype=np.int64)[skip:],
            disposition=np.array(p.disposition, dtype=np.int64)[skip:],
            departure=departure[skip:],
            bed_request=bed_request[skip:],
            space_start=space_start[skip:],
            area_names=tuple(a.name for a in flow.areas),
            area_spaces=tuple(a.spaces for a in flow.areas),
            ward_names=tuple(w.name for w in flow.wards),
            ward_beds=tuple(w.beds for w in flow.wards),
            space_area=area[held],
            space_start_all=space_start[held],
            space_end_all=space_end[held],
            board_ward=ward[boarding],
            board_start=bed_request[boarding],
            board_end=np.where(np.isnan(departure), now, departure)[boarding],
            busy_specialty=busy[:, 0].astype(np.int64),
            busy_start=busy[:, 1],
            busy_end=busy[:, 2],
            stay_ward=stay[:, 0].astype(np.int64),
            stay_start=stay[:, 1],
            stay_end=stay[:, 2],
            consult_request=np.array(p.consult_request, dtype=float)[skip:],
            consult_start=np.array(p.consult_start, dtype=float)[skip:],
        )


def _visit(patients: Patients, p: int) -> VisitRow:
    """Patient row ``p`` as a tuple in ``Visit`` field order."""
    number = patients.number[p]
    if patients.doctor[p] >= 0:
        end = patients.end[p]
        return (
            number,
            patients.pathology[p],
            patients.specialty[p],
            patients.doctor[p],
            patients.arrival[p],
            patients.start[p],
            end,
            end,
            int(Disposition.DISCHARGED),
        )
    return (
        number,
        patients.pathology[p],
        patients.specialty[p],
        -1,
        patients.arrival[p],
        math.nan,
        math.nan,
        patients.left[p],
        int(Disposition.LEFT_WITHOUT_BEING_SEEN),
    )


def _flow_visit(patients: FlowPatients, p: int) -> VisitRow:
    """A flow patient's row ``p`` as a tuple in ``Visit`` field order (acuity, age, bed request)."""
    seen = patients.doctor[p] >= 0
    return (
        patients.number[p],
        patients.pathology[p],
        patients.specialty[p],
        patients.doctor[p],
        patients.arrival[p],
        patients.start[p] if seen else math.nan,
        patients.end[p] if seen else math.nan,
        patients.departure[p],
        patients.disposition[p],
        patients.level[p],
        patients.age[p],
        patients.bed_request[p],
    )


def _resources(h: FlowHospital, flow: Any, t: float) -> list[ResourceRow]:
    """Instant state of every area and ward: (time, kind, index, capacity, in use, queue)."""
    rows: list[ResourceRow] = [
        (t, "space", a, area.spaces, used, h.space_waiting[a])
        for a, (area, used) in enumerate(zip(flow.areas, h.spaces_in_use(), strict=True))
    ]
    rows += [
        (t, "ward", w, ward.beds, used, len(h.bed_queue[w]))
        for w, (ward, used) in enumerate(zip(flow.wards, h.beds_in_use(), strict=True))
    ]
    return rows


def _control_order(item: tuple[float, int, Any]) -> tuple[float, int]:
    return item[0], item[1]


def _numbered(plans: list[DutyPlan]) -> list[tuple[int, DutyPlan]]:
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
