"""The record vocabulary every source shares: simulated runs, imports and feeds.

The simulator is one source of visits among others (a CSV extract, a FHIR
export, an HL7 v2 feed). This module holds what they all speak, so the store,
the forecaster and the web layer depend on it rather than on the simulator:

* ``EventKind`` and ``Disposition``: small integers stored as they are;
* ``VisitRecord``: one emergency-department visit as an importer reads it,
  *before* pseudonymisation (raw identifiers, birth date, postcode). Only
  ``hospiflow.ingest.pipeline`` turns it into a stored row, and it keeps no raw
  identifier: they are hashed, the birth date becomes an age, the postcode
  its département;
* ``Rejection``: a row, resource or message an importer could not read, with
  *where* (file and line or record number), *which field* and *why*; its raw
  content has identifiers already redacted (``redact``).

Nothing here imports anything of ours.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import IntEnum
from typing import NamedTuple


class EventKind(IntEnum):
    """What happened. Stored as its integer value; ``name.lower()`` is its label."""

    ARRIVAL = 1
    ASSIGNMENT = 2  # a patient joins a doctor's own queue (routing random/shortest-queue)
    TREATMENT_START = 3
    TREATMENT_END = 4
    DEPARTURE = 5
    ABANDONMENT = 6  # left without being seen
    SHIFT_START = 7
    SHIFT_END = 8  # the doctor is off duty (after finishing the current patient)


class Disposition(IntEnum):
    """How a visit ended."""

    DISCHARGED = 1  # home
    ADMITTED = 2  # to a ward of the same hospital
    TRANSFERRED = 3  # to another hospital
    LEFT_WITHOUT_BEING_SEEN = 4
    DIED = 5


DISPOSITION_LABELS: dict[str, Disposition] = {d.name.lower(): d for d in Disposition}
# Accepted spellings in mapping files and answers; the first of each is canonical.
DISPOSITION_LABELS.update(
    {
        "home": Disposition.DISCHARGED,
        "admit": Disposition.ADMITTED,
        "transfer": Disposition.TRANSFERRED,
        "lwbs": Disposition.LEFT_WITHOUT_BEING_SEEN,
        "left": Disposition.LEFT_WITHOUT_BEING_SEEN,
        "dead": Disposition.DIED,
        "death": Disposition.DIED,
    }
)

# Diagnosis coding systems an importer may report; only ICD-10 maps to the catalog.
ICD10 = "icd10"
ICD9 = "icd9"


class VisitRecord(NamedTuple):
    """One emergency-department visit as read from a source (raw, not yet stored).

    Times are timezone-aware datetimes (an importer attaches the site's zone to
    naive local times). ``first_seen`` is the first contact with a doctor
    (door-to-doctor wait = ``first_seen - arrival``); ``departure`` is leaving
    the department. ``acuity`` is the numeric level of the site's triage scale
    (CCMU 1-5, ESI 1-5, ...), ``None`` when absent or not numeric.

    ``visit_id`` and ``patient_id`` are the source's raw identifiers: the
    pipeline replaces them with keyed pseudonyms and never stores them. When a
    source has no visit id the pipeline derives a content key (patient,
    arrival) so a re-import is still recognised.
    """

    arrival: datetime
    source: str = ""  # where it was read: "extract.csv:12", "Encounter.ndjson:3"
    visit_id: str | None = None
    patient_id: str | None = None
    first_seen: datetime | None = None
    departure: datetime | None = None
    acuity: int | None = None
    disposition: Disposition | None = None
    diagnosis: str | None = None  # the code as written ("J18.9", "486")
    diagnosis_system: str | None = None  # ICD10, ICD9 or None when unknown (taken as ICD-10)
    specialty: str | None = None  # a specialty code when the source names one
    doctor_id: str | None = None  # raw; pseudonymised like patients
    birth_date: date | None = None
    age_years: int | None = None
    sex: str | None = None  # "F", "M" or "U"
    postcode: str | None = None  # raw; only its first two characters are kept


@dataclass(frozen=True, slots=True)
class HourlyCount:
    """Arrivals in one hour, for sources that only give counts (a forecast-only site)."""

    hour_start: datetime  # timezone-aware start of the hour
    arrivals: int
    source: str = ""


@dataclass(frozen=True, slots=True)
class Rejection:
    """Something a source holds that could not become a visit, and why.

    ``location`` names the file and line (or record/message number),
    ``field`` the column or element at fault (``None`` for the whole row),
    ``reason`` a short machine-readable cause (``bad_time``, ``missing_field``,
    ``departure_before_arrival``, ...) and ``message`` a sentence for a person.
    ``raw`` is the row as read with identifiers already redacted.
    """

    location: str
    reason: str
    message: str
    field: str | None = None
    raw: str = ""


REDACTED = "<redacted>"


def redact(values: Mapping[str, object], identifying: Iterable[str]) -> str:
    """A row's raw text for the quarantine, with identifying fields blanked.

    ``identifying`` names the keys (columns, elements) that hold identifiers,
    names, birth dates, addresses or free text; their values are replaced by
    ``<redacted>`` so a quarantined row can be shown to an administrator.
    """
    hidden = {name.lower() for name in identifying}
    parts = []
    for key, value in values.items():
        shown = REDACTED if key.lower() in hidden and value not in (None, "") else value
        parts.append(f"{key}={shown if shown is not None else ''}")
    return "; ".join(parts)
