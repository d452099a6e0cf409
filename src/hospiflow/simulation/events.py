"""The simulator's output contract: flat records and the sink protocol.

The engine knows nothing of files, databases or the web. It hands flat
records (Ciw style: one row per thing that happened) to any number of
*sinks*. A CSV writer is one sink, the store's writer another.

Times are minutes since the run's start instant (``RunInfo.start_utc``),
as floats: the engine is continuous-time. Indices refer to
``RunInfo.specialties``, ``RunInfo.pathologies`` and ``RunInfo.doctors``;
``-1`` means "not applicable" (no doctor for an arrival, ...).

Batches are sequences of plain tuples in the field order of ``Event``,
``Snapshot`` and ``Visit`` (``Event._make(row)`` names one): building a
NamedTuple per record would cost the engine three times more.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol, runtime_checkable

from hospiflow.records import Disposition, EventKind

__all__ = [
    "Disposition",
    "DoctorInfo",
    "Event",
    "EventKind",
    "EventRow",
    "RunInfo",
    "Sink",
    "Snapshot",
    "SnapshotRow",
    "Visit",
    "VisitRow",
]


class Event(NamedTuple):
    """One entry of the full trace."""

    time_min: float
    kind: int
    patient: int  # -1 for shift events
    pathology: int  # -1 for shift events
    specialty: int
    doctor: int  # -1 when no doctor is involved


class Snapshot(NamedTuple):
    """Instantaneous state of one specialty, sampled at a step boundary."""

    time_min: float
    specialty: int
    waiting: int
    in_treatment: int
    doctors_on_duty: int
    doctors_busy: int


class Visit(NamedTuple):
    """One patient, emitted when the patient leaves (treated or abandoned).

    ``start_min``/``end_min`` are NaN and ``doctor`` is -1 when the patient
    left without being seen. In a flow run ``start_min`` is the first doctor
    contact and ``end_min`` the last (a reassessment after diagnostics);
    ``departure_min`` is leaving the department (after boarding, if admitted).
    """

    patient: int
    pathology: int
    specialty: int
    doctor: int
    arrival_min: float
    start_min: float
    end_min: float
    departure_min: float
    disposition: int
    # the patient flow's visits only ([flow] enabled): level on the triage scale,
    # age in years and when an admitted patient's bed was asked for
    acuity: int = -1
    age: int = -1
    bed_request_min: float = float("nan")


# What the engine sends: plain tuples in the field order of the NamedTuples
# above (a NamedTuple is one of these too, so a sink may be handed either).
EventRow = tuple[float, int, int, int, int, int]
SnapshotRow = tuple[float, int, int, int, int, int]
# a visit: its first nine fields, or all twelve in a flow run
VisitRow = (
    tuple[int, int, int, int, float, float, float, float, int]
    | tuple[int, int, int, int, float, float, float, float, int, int, int, float]
)


@dataclass(frozen=True)
class DoctorInfo:
    """A doctor of the run: identity, specialty index and shift label."""

    code: str
    specialty: int
    shift: str


@dataclass(frozen=True)
class RunInfo:
    """What a sink needs to interpret the records of a run."""

    start_utc: datetime
    timezone: str
    days: float
    seed: int | None
    specialties: tuple[str, ...]
    pathologies: tuple[str, ...]
    doctors: tuple[DoctorInfo, ...]
    snapshot_step_min: float
    parameters: dict[str, Any] = field(default_factory=dict)
    end_utc: datetime | None = (
        None  # end of the reported period (local days: may not be days x 24 h)
    )


@runtime_checkable
class Sink(Protocol):
    """Where the engine's records go.

    The engine calls ``open`` once, then the ``write_*`` methods with batches
    in non-decreasing time order, then ``close`` once (with the final result,
    or ``None`` if the run failed or was interrupted). A sink that does not
    need the full trace sets ``wants_events = False`` and the engine does not
    build it for that sink.
    """

    wants_events: bool

    def open(self, run: RunInfo) -> None: ...

    def write_events(self, events: Sequence[EventRow]) -> None: ...

    def write_snapshots(self, snapshots: Sequence[SnapshotRow]) -> None: ...

    def write_visits(self, visits: Sequence[VisitRow]) -> None: ...

    def close(self, result: Any | None) -> None: ...
