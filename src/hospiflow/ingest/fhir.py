"""FHIR R4 emergency visits: Encounter (+ Patient, Condition) in, and out.

Follows FHIR R4 (hl7.org/fhir/R4: Encounter, Patient, Condition, Bundle) and
the Bulk Data Access IG (hl7.org/fhir/uv/bulkdata: NDJSON, one resource a
line, one resource type a file). Every Encounter, Patient and Condition read
is validated with the ``fhir.resources.R4B`` pydantic models (R4B has the R4
shape of these three resources; the package's top level is R5, which rejects
R4 data). Validation checks structure, cardinality and datatypes (an id's
characters, a dateTime with its offset, ...), not terminology bindings.

**Files.** ``read`` takes files or folders (a folder: its ``*.ndjson`` and
``*.json`` files, ``.gz`` too). A file is told apart by content: when its
first non-blank line is a whole JSON resource other than a Bundle it is
NDJSON, otherwise the whole file is one JSON document: a Bundle of type
``transaction``, ``batch``, ``collection`` or ``searchset`` (any other type
raises ``IngestError``), or a single Encounter/Patient/Condition. An NDJSON
file's resource type comes from its name (``Encounter.ndjson``,
``1.Patient.ndjson``, ``Condition_2.ndjson``) or else its first resource;
files of other types (Observation, ...) are not read. ``Patient.ndjson`` and
``Condition.ndjson`` beside an Encounter file are read with it; all Patient
and Condition files are indexed first (only what a visit needs: birth date,
sex and reported id per patient; the ICD code per condition), then
Encounters are streamed. A Bundle's entries may come in any order and may
refer to each other by ``Type/id`` or by ``fullUrl`` (``urn:uuid:...``);
entries of other types, and entries without a resource (a DELETE), are
skipped.

**Which encounters.** Only emergency ones: ``Encounter.class`` (a Coding in
R4) with code ``EMER`` (v3 ActCode; any system), or the codes given in
``options.settings["encounter_class"]`` (a code, "EMER,AMB", or a list).
Other encounters are not visits of this department: they are skipped
silently, nothing is yielded (not an error). A well-formed non-emergency
class is skipped *before* validation, so a hospital-wide export is read at
the speed of its emergency part. Status ``cancelled`` and
``entered-in-error`` yield a Rejection (reason ``cancelled``): a data-quality
fact worth counting.

**Fields.** visit_id = the identifier of system ``http://hospiflow.example/
visit-id`` (written when a visit id is not a valid FHIR id), else
Encounter.id, else the first identifier's value. patient_id = the subject
Patient's own hospiflow identifier, else the id of the subject reference
("Patient/123" -> "123", "urn:uuid:u" -> "u"), else subject.identifier.value.
arrival = period.start (required); departure = period.end; first_seen = the
earliest participant.period.start (the first doctor contact) and doctor_id =
that participant's individual (reference id or identifier value). acuity =
a numeric code ("1", "2", ...) of Encounter.priority in any system; v3
ActPriority codes (EM, UR, R, ...) are not a triage scale and give ``None``.
specialty = serviceType code of system ``http://hospiflow.example/specialty``.
birth_date and sex from the Patient (birthDate only when a full date;
gender female/male -> F/M, other/unknown -> U), age_years from them.

**Disposition** (``hospitalization.dischargeDisposition``), by coding system,
the first system in this order that has a known code wins:

1. ``http://hospiflow.example/disposition``: the labels of
   ``records.DISPOSITION_LABELS`` (``admitted``, ``lwbs``, ``discharged``,
   ...). FHIR has no discharge-disposition code for "admitted to a ward of
   this hospital" nor for "left without being seen", so hospiflow writes
   these two in its own system (beside a standard code, see below);
2. NUBC UB-04 patient discharge status (``https://www.nubc.org/CodeSystem/
   PatDischargeStatus``, as US Core uses it): 01/06/07/50 -> DISCHARGED,
   09 ("admitted as an inpatient to this hospital") -> ADMITTED, 20/40/41/42
   -> DIED, 02-05/43/51/61-66/69/70 -> TRANSFERRED;
3. HL7 ``http://terminology.hl7.org/CodeSystem/discharge-disposition``:
   home, alt-home, aadvice -> DISCHARGED; other-hcf, hosp (hospice), long,
   psy, rehab, snf -> TRANSFERRED; exp -> DIED; oth -> ``None``.

Unknown codes give ``None`` (the visit is kept).

**Diagnosis**: the Condition of Encounter.diagnosis (lowest ``rank`` first,
then use ``billing``/``DD``, then order), else a Condition whose
``encounter`` points to the visit, else Encounter.reasonCode; from it the
first coding of an ICD-10 system (``http://hl7.org/fhir/sid/icd-10``,
``-cm``, any system with "icd-10"/"icd10"/"cim-10", or their OIDs; ICD-10-PCS
is a procedure system, never read) -> ``records.ICD10``, else ICD-9-CM
(``http://hl7.org/fhir/sid/icd-9-cm``, "icd-9") -> ``records.ICD9``. Codes are
kept as written.

**Times.** FHIR dateTimes carry their offset; they are converted to
``options.timezone``. A dateTime without a time of day (a date) is a
``bad_time`` Rejection.

**Rejections.** Location ``Encounter.ndjson:LINE`` (the file's name) or
``bundle.json:entry N`` (N from 1). Reasons: ``bad_json`` (a line that is not
JSON; ``raw`` empty), ``invalid_resource`` (R4B validation failed; field =
the first failing element path, e.g. ``participant[0].period.start``; the
message never echoes the value), ``cancelled``, ``missing_field``
(period.start), ``bad_time``, ``departure_before_arrival`` and ``bad_value``
(a resource of another type inside a one-type NDJSON file). An invalid
Patient or Condition is a Rejection located in its own file and its visits
are read without it. ``raw`` lists the resource's top-level elements with
identifying ones redacted, at any depth (id, identifier, name, birthDate,
address, telecom, subject, participant, text, ...).

**Writing.** ``write`` streams a FHIR R4 ``collection`` Bundle (or, when
``out`` is a file named ``*Encounter.ndjson``, Bulk Data NDJSON with
``Patient.ndjson`` and ``Condition.ndjson`` beside it; ``write_ndjson``
writes such a folder). Per visit: an Encounter (class EMER of v3 ActCode;
status finished, or in-progress without a departure; period; a participant
whose period.start is first_seen and individual the doctor; priority = the
numeric acuity; serviceType = the specialty; dischargeDisposition: HL7 home,
other-hcf or exp, for ADMITTED the hospiflow ``admitted`` with NUBC 09, for
LEFT_WITHOUT_BEING_SEEN the hospiflow ``lwbs`` with HL7 ``oth``), a
Condition (ICD-10 or ICD-9-CM, pointing to the Encounter) referenced from
Encounter.diagnosis (rank 1) and, once per patient at the end, a Patient.
Patient.birthDate is 1 January of (arrival year - age_years) of the
patient's first visit with an age, so that visit's age comes back exactly
(later visits of the same patient may differ by one year). A visit without
patient gets no Patient and its diagnosis goes to reasonCode (a Condition
needs a subject). Ids that are not valid FHIR ids are written as a hash id
plus an identifier of a hospiflow system the reader prefers. Local times
carry ``options.timezone``'s offset. Optional elements that carry nothing
hospiflow reads are left out: each nested element costs the reader a model.

**Speed.** R4B validation is the cost: fhir.resources builds a pydantic
model per nested element, with checks in Python around each. ``fhircheck``
(installed on import) computes those checks' per-class facts once, with the
library's own check run whenever one could fail: same verdicts, same errors,
about 1.6x less CPU. ``options.settings["workers"]`` (an integer, or "auto"
for one per CPU; default 1) validates NDJSON lines in that many processes,
started once per ``read`` (``spawn``), chunks of 500 lines, order kept;
every resource is still fully validated, and the results are identical.
"auto" uses them only for files of ``POOL_MIN_BYTES`` or more (starting
them costs more than they save on a small file), and if they die (a program
calling ``read`` without the ``if __name__ == "__main__"`` guard) this
process validates the rest; a number of processes raises instead. Bundles
are validated in-process. Why not "auto" by default: on this shared 2-core
machine under a load of 4-8 (``benchmarks/ingest.py --parts fhir``, 100,000
encounters + 100,000 Patients + 100,000 Conditions) two processes read
3,200 encounters/s against 4,700/s in one, each process waiting on the
others' turn on the cores. In that run ``json.loads`` of the 300,000 lines
went at 73,000 lines/s; before ``fhircheck``, in a run just before it
(load 4-8), one process read 3,300 encounters/s (json.loads: 95,000/s). On
the first 20,000 lines of each of those files, per CPU-second of the reading
process: 6,400 encounters (4,000 before ``fhircheck``); with workers the
reading process itself needs about 1/23 of that CPU, so ``read`` scales
with free cores.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import multiprocessing
import os
import re
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.patient import Patient
from pydantic import BaseModel, ValidationError

from hospiflow.ingest import fhircheck
from hospiflow.ingest.formats import IngestError, Item, ReadOptions, WriteOptions
from hospiflow.ingest.pseudonym import age_at
from hospiflow.records import (
    DISPOSITION_LABELS,
    ICD9,
    ICD10,
    REDACTED,
    Disposition,
    Rejection,
    VisitRecord,
    redact,
)

fhircheck.install()  # the same validation, faster (here: worker processes import this module)

# --- vocabulary ---------------------------------------------------------------------------

ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
HL7_DISPOSITION = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
HL7_DISPOSITION_R3 = "http://hl7.org/fhir/discharge-disposition"  # STU3's URL, still met
NUBC = "https://www.nubc.org/CodeSystem/PatDischargeStatus"
NUBC_OLD = "http://www.nubc.org/patient-discharge"
ICD10_URL = "http://hl7.org/fhir/sid/icd-10"
ICD9_URL = "http://hl7.org/fhir/sid/icd-9-cm"
# hospiflow's own code systems, for what FHIR R4 has no code for.
HOSPIFLOW = "http://hospiflow.example"
DISPOSITION_SYSTEM = f"{HOSPIFLOW}/disposition"
ACUITY_SYSTEM = f"{HOSPIFLOW}/acuity"
SPECIALTY_SYSTEM = f"{HOSPIFLOW}/specialty"
VISIT_ID_SYSTEM = f"{HOSPIFLOW}/visit-id"
PATIENT_ID_SYSTEM = f"{HOSPIFLOW}/patient-id"
DOCTOR_ID_SYSTEM = f"{HOSPIFLOW}/doctor-id"
FULL_URL_BASE = f"{HOSPIFLOW}/fhir"

BUNDLE_TYPES = frozenset({"transaction", "batch", "collection", "searchset"})
CANCELLED = frozenset({"cancelled", "entered-in-error"})
KINDS = ("Encounter", "Patient", "Condition")
MODELS: dict[str, type[BaseModel]] = {
    "Encounter": Encounter,
    "Patient": Patient,
    "Condition": Condition,
}

# Elements that identify a person (or are free text): never shown in a Rejection.
# ``reference`` and ``fullUrl`` too: a resource id is often the hospital's own number
# (Patient/<MRN>, Condition/dx-<visit number>).
IDENTIFYING = frozenset(
    "id identifier name birthdate address telecom subject patient participant individual text"
    " note contained contact photo preadmissionidentifier generalpractitioner link"
    " deceaseddatetime reference fullurl".split()
)

_D = Disposition
_HL7_CODES = {
    "home": _D.DISCHARGED,
    "alt-home": _D.DISCHARGED,
    "aadvice": _D.DISCHARGED,  # seen, then left against advice: no separate outcome
    "other-hcf": _D.TRANSFERRED,
    "hosp": _D.TRANSFERRED,  # hospice
    "long": _D.TRANSFERRED,
    "psy": _D.TRANSFERRED,
    "rehab": _D.TRANSFERRED,
    "snf": _D.TRANSFERRED,
    "exp": _D.DIED,
}
_NUBC_CODES = {
    **dict.fromkeys(("01", "06", "07", "50"), _D.DISCHARGED),
    "09": _D.ADMITTED,
    **dict.fromkeys(("20", "40", "41", "42"), _D.DIED),
    **dict.fromkeys(
        ("02", "03", "04", "05", "43", "51", "61", "62", "63", "64", "65", "66", "69", "70"),
        _D.TRANSFERRED,
    ),
}
# (system, code) -> (precedence, disposition): the lowest precedence among codings wins.
_DISPOSITIONS: dict[tuple[str, str], tuple[int, Disposition]] = {
    **{(DISPOSITION_SYSTEM, code): (0, d) for code, d in DISPOSITION_LABELS.items()},
    **{(system, code): (1, d) for system in (NUBC, NUBC_OLD) for code, d in _NUBC_CODES.items()},
    **{
        (system, code): (2, d)
        for system in (HL7_DISPOSITION, HL7_DISPOSITION_R3)
        for code, d in _HL7_CODES.items()
    },
}
_WRITE_DISPOSITION: dict[Disposition, list[dict[str, str]]] = {
    _D.DISCHARGED: [{"system": HL7_DISPOSITION, "code": "home", "display": "Home"}],
    _D.ADMITTED: [
        {"system": DISPOSITION_SYSTEM, "code": "admitted", "display": "Admitted to this hospital"},
        {"system": NUBC, "code": "09", "display": "Admitted as an inpatient to this hospital"},
    ],
    _D.TRANSFERRED: [
        {"system": HL7_DISPOSITION, "code": "other-hcf", "display": "Other healthcare facility"}
    ],
    _D.LEFT_WITHOUT_BEING_SEEN: [
        {"system": DISPOSITION_SYSTEM, "code": "lwbs", "display": "Left without being seen"},
        {"system": HL7_DISPOSITION, "code": "oth", "display": "Other"},
    ],
    _D.DIED: [{"system": HL7_DISPOSITION, "code": "exp", "display": "Expired"}],
}
_SEX = {"female": "F", "male": "M", "other": "U", "unknown": "U"}
_GENDER = {"F": "female", "M": "male", "U": "unknown"}
# OIDs (urn:oid:...) of ICD-10 (WHO), ICD-10-CM, ICD-9-CM (and its diagnosis volumes).
_OIDS = {
    "2.16.840.1.113883.6.3": ICD10,
    "2.16.840.1.113883.6.90": ICD10,
    "2.16.840.1.113883.6.2": ICD9,
    "2.16.840.1.113883.6.103": ICD9,
}
# ICD-10-PCS's canonical URL (HL7 THO) says "ICD10" but classifies procedures.
_PROCEDURE_SYSTEMS = frozenset({"http://www.cms.gov/medicare/coding/icd10"})
_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_NAME_TOKENS = re.compile(r"[^a-z]+")

# --- coding helpers -------------------------------------------------------------------------

_systems: dict[str, str | None] = {}


def icd_system(system: str | None) -> str | None:
    """``records.ICD10``, ``records.ICD9`` or ``None`` for a Coding.system URL (cached)."""
    if not system:
        return None
    known = _systems.get(system, "?")
    if known != "?":
        return known
    text = system.lower().rstrip("/")
    found = _OIDS.get(text.removeprefix("urn:oid:"))
    if found is not None or text in _PROCEDURE_SYSTEMS or "pcs" in text or "proc" in text:
        pass  # ICD-10-PCS and ICD-9-CM volume 3 classify procedures, not diagnoses
    elif any(tag in text for tag in ("icd-10", "icd10", "cim-10", "cim10")):
        found = ICD10
    elif any(tag in text for tag in ("icd-9", "icd9")):
        found = ICD9
    if len(_systems) < 1000:
        _systems[system] = found
    return found


def _icd(concept: Any) -> tuple[str, str] | None:
    """(code, system) of a CodeableConcept's ICD-10 coding, else its ICD-9 one."""
    if not isinstance(concept, dict):
        return None
    nine = None
    for coding in concept.get("coding") or ():
        code = coding.get("code")
        if not code:
            continue
        system = icd_system(coding.get("system"))
        if system == ICD10:
            return code.strip(), ICD10
        if system == ICD9 and nine is None:
            nine = (code.strip(), ICD9)
    return nine


def _reference_key(reference: Any) -> str | None:
    """'Type/id' of a reference ("http://x/fhir/Patient/1/_history/2" -> "Patient/1"),
    or the reference as it is (``urn:uuid:...``, ``#contained``)."""
    if not isinstance(reference, dict):
        return None
    text = reference.get("reference")
    if not text:
        return None
    if text.startswith(("urn:", "#")):
        return text
    parts = text.split("/")
    if len(parts) >= 4 and parts[-2] == "_history":
        parts = parts[:-2]
    return "/".join(parts[-2:]) if len(parts) >= 2 else text


def _key_id(key: str) -> str:
    """The id part of a reference key: "Patient/123" -> "123", "urn:uuid:u" -> "u"."""
    return key.rsplit("/", 1)[-1].rsplit(":", 1)[-1]


def _numeric_acuity(concept: Any) -> int | None:
    if not isinstance(concept, dict):
        return None
    for coding in concept.get("coding") or ():
        code = coding.get("code")
        if code and code.isascii() and code.isdigit() and len(code) <= 2:
            return int(code)
    return None


# --- rejections -------------------------------------------------------------------------------


def _scrub(value: Any) -> Any:
    """A copy of a JSON value with every identifying element (at any depth) redacted."""
    if isinstance(value, dict):
        return {
            key: REDACTED if key.lower() in IDENTIFYING else _scrub(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_scrub(item) for item in value]
    return value


def redact_resource(resource: Any) -> str:
    """A resource's top-level elements for the quarantine, identifying ones redacted."""
    if not isinstance(resource, dict):
        return f"<{type(resource).__name__}>"
    return redact(_scrub(resource), IDENTIFYING)


def _element_path(loc: Sequence[Any]) -> str | None:
    """A pydantic error location as a FHIR element path: participant[0].period.start."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part == "resource_type":
            path += ".resourceType" if path else "resourceType"
        elif isinstance(part, str) and part != "root" and part.replace("_", "").isalnum():
            path += f".{part}" if path else part
    return path or None


# What R4B said of one resource: None (valid) or (failing element path, short reason).
Verdict = tuple[str | None, str] | None


def _problem(error: Exception) -> tuple[str | None, str]:
    """The first failing element and a reason that never echoes the value."""
    if not isinstance(error, ValidationError):
        return None, type(error).__name__
    problems = error.errors(include_url=False)
    first: Mapping[str, Any] = problems[0] if problems else {}
    detail = str(first.get("msg", "invalid"))
    given = first.get("input")
    if isinstance(given, str) and given and given in detail:
        detail = detail.replace(given, REDACTED)
    if len(problems) > 1:
        detail += f" (and {len(problems) - 1} more)"
    return _element_path(first.get("loc", ())), detail[:200]


def _check(kind: str, resource: Any) -> Verdict:
    """Validate one resource with its R4B model; never raises."""
    try:
        MODELS[kind].model_validate(resource)
    except Exception as error:  # a third-party validator failing on one resource stops nothing
        return _problem(error)
    return None


def _invalid(kind: str, resource: Any, where: str, verdict: tuple[str | None, str]) -> Rejection:
    element, detail = verdict
    return Rejection(
        location=where,
        reason="invalid_resource",
        message=f"not a valid FHIR R4 {kind}: {element or 'resource'}: {detail}",
        field=element,
        raw=redact_resource(resource),
    )


def _validated(kind: str, resource: Any, where: str) -> Rejection | None:
    """``None`` when R4B accepts the resource, else its Rejection (never raises)."""
    verdict = _check(kind, resource)
    return None if verdict is None else _invalid(kind, resource, where, verdict)


class _Bad(Exception):
    """An Encounter that cannot be a visit: element, reason, sentence."""

    def __init__(self, element: str | None, reason: str, message: str) -> None:
        super().__init__(message)
        self.element = element
        self.reason = reason


# --- what visits need from Patients and Conditions ------------------------------------------


@dataclass
class _Index:
    """Patients and Conditions by reference key, holding only what visits use."""

    patients: dict[str, tuple[date | None, str | None, str | None]] = field(default_factory=dict)
    conditions: dict[str, tuple[str, str]] = field(default_factory=dict)
    by_encounter: dict[str, tuple[str, str]] = field(default_factory=dict)
    parent: _Index | None = None

    def patient(self, key: str) -> tuple[date | None, str | None, str | None] | None:
        found = self.patients.get(key)
        if found is None and self.parent is not None:
            return self.parent.patient(key)
        return found

    def condition(self, key: str) -> tuple[str, str] | None:
        found = self.conditions.get(key)
        if found is None and self.parent is not None:
            return self.parent.condition(key)
        return found

    def of_encounter(self, key: str) -> tuple[str, str] | None:
        found = self.by_encounter.get(key)
        if found is None and self.parent is not None:
            return self.parent.of_encounter(key)
        return found

    def add(self, kind: str, resource: dict[str, Any], keys: Sequence[str]) -> None:
        """Index a valid Patient or Condition under each of its keys."""
        if kind == "Patient":
            birth = resource.get("birthDate")
            born = (
                date.fromisoformat(birth) if isinstance(birth, str) and len(birth) == 10 else None
            )
            sex = _SEX.get(resource.get("gender") or "")
            own = _system_value(resource.get("identifier"), PATIENT_ID_SYSTEM)
            for key in keys:
                self.patients[key] = (born, sex, own)
            return
        code = _icd(resource.get("code"))
        if code is None:
            return  # no ICD code: nothing a visit could take from it
        for key in keys:
            self.conditions[key] = code
        encounter = _reference_key(resource.get("encounter"))
        if encounter is not None:
            self.by_encounter.setdefault(encounter, code)


def _system_value(identifiers: Any, system: str) -> str | None:
    for identifier in identifiers or ():
        if identifier.get("system") == system and identifier.get("value"):
            return identifier["value"]
    return None


def _keys(resource: dict[str, Any], full_url: str | None = None) -> list[str]:
    """The keys references may use for a resource: 'Type/id' and its fullUrl."""
    keys = []
    if resource.get("id"):
        keys.append(f"{resource['resourceType']}/{resource['id']}")
    if full_url:
        if full_url.startswith("urn:"):
            keys.append(full_url)
        elif (key := _reference_key({"reference": full_url})) and key not in keys:
            keys.append(key)
    return keys


# --- encounters -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Context:
    zone: tzinfo
    classes: frozenset[str]
    workers: int = 1
    auto: bool = False  # workers chosen by ``read``: only for large files, never an error
    pools: list[ProcessPoolExecutor] = field(default_factory=list, compare=False)

    def workers_for(self, path: Path) -> int:
        """Processes validating ``path``: none of its own for a small file when automatic
        (starting them costs more than they save below ``POOL_MIN_BYTES``)."""
        if self.auto and path.stat().st_size < POOL_MIN_BYTES:
            return 1
        return self.workers

    def pool(self) -> ProcessPoolExecutor:
        """The validation processes, started once for every file of a ``read``."""
        if not self.pools:
            spawn = multiprocessing.get_context("spawn")  # no fork of a threaded server
            self.pools.append(ProcessPoolExecutor(max_workers=self.workers, mp_context=spawn))
        return self.pools[0]

    def close(self) -> None:
        for pool in self.pools:
            pool.shutdown(wait=True, cancel_futures=True)
        self.pools.clear()

    @classmethod
    def of(cls, options: ReadOptions) -> _Context:
        wanted = options.settings.get("encounter_class", "EMER")
        if isinstance(wanted, str):
            wanted = wanted.split(",")
        if not isinstance(wanted, list | tuple) or not all(isinstance(c, str) for c in wanted):
            raise IngestError("a code, codes joined by commas, or a list", where="encounter_class")
        classes = frozenset(code.strip() for code in wanted if code.strip())
        if not classes:
            raise IngestError("no encounter class given", where="encounter_class")
        workers = options.settings.get("workers", 1)
        auto = workers == "auto"
        if auto:
            workers = os.cpu_count() or 1
        if isinstance(workers, bool) or not isinstance(workers, int) or not 1 <= workers <= 64:
            raise IngestError("a number of processes from 1 to 64, or 'auto'", where="workers")
        return cls(_zone(options.timezone), classes, workers, auto)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise IngestError(f"unknown time zone {name!r}", where="timezone") from error


def _time(text: Any, element: str, zone: tzinfo) -> datetime:
    if not isinstance(text, str) or "T" not in text:
        raise _Bad(element, "bad_time", f"{element} is a date without a time of day")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise _Bad(element, "bad_time", f"{element} is not a FHIR dateTime") from None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=zone)
    return moment.astimezone(zone)


def _disposition(hospitalization: Any) -> Disposition | None:
    if not hospitalization:
        return None
    concept = hospitalization.get("dischargeDisposition")
    best: tuple[int, Disposition] | None = None
    for coding in (concept or {}).get("coding") or ():
        found = _DISPOSITIONS.get((coding.get("system"), coding.get("code")))
        if found is not None and (best is None or found[0] < best[0]):
            best = found
    return best[1] if best else None


def _diagnosis(
    resource: dict[str, Any], own_keys: Sequence[str], index: _Index
) -> tuple[str, str] | None:
    """The visit's (code, system): ranked Encounter.diagnosis, Condition.encounter, reasonCode."""
    entries = resource.get("diagnosis")
    if entries:
        order: Sequence[int] = range(len(entries))
        if len(entries) > 1:
            order = sorted(
                order, key=lambda i: (entries[i].get("rank") or 10**9, _use(entries[i]), i)
            )
        for i in order:
            key = _reference_key(entries[i].get("condition"))
            found = index.condition(key) if key else None
            if found is not None:
                return found
    for key in own_keys:
        found = index.of_encounter(key)
        if found is not None:
            return found
    for concept in resource.get("reasonCode") or ():
        found = _icd(concept)
        if found is not None:
            return found
    return None


def _use(entry: dict[str, Any]) -> int:
    """0 for a billing or discharge diagnosis, 1 for any other use."""
    for coding in (entry.get("use") or {}).get("coding") or ():
        if coding.get("code") in ("billing", "DD"):
            return 0
    return 1


def _first_seen(participants: Any, zone: tzinfo) -> tuple[datetime | None, str | None]:
    """The earliest participant.period.start, and the individual of that participant
    (else of the first participant naming one)."""
    best: datetime | None = None
    who: str | None = None
    for number, participant in enumerate(participants or ()):
        start = (participant.get("period") or {}).get("start")
        moment = _time(start, f"participant[{number}].period.start", zone) if start else None
        if moment is not None and (best is None or moment < best):
            best = moment
            who = _individual(participant.get("individual"))
        elif best is None and who is None:
            who = _individual(participant.get("individual"))
    return best, who


def _individual(reference: Any) -> str | None:
    if not reference:
        return None
    key = _reference_key(reference)
    return _key_id(key) if key else (reference.get("identifier") or {}).get("value")


def _visit_id(resource: dict[str, Any]) -> str | None:
    identifiers = resource.get("identifier")
    own = _system_value(identifiers, VISIT_ID_SYSTEM) if identifiers else None
    if own:
        return own
    if resource.get("id"):
        return resource["id"]
    for identifier in identifiers or ():
        if identifier.get("value"):
            return identifier["value"]
    return None


def _patient(
    subject: Any, index: _Index
) -> tuple[str | None, tuple[date | None, str | None, str | None] | None]:
    """(reported patient id, indexed patient) of an Encounter.subject."""
    if not subject:
        return None, None
    key = _reference_key(subject)
    if key is None:
        return (subject.get("identifier") or {}).get("value"), None
    known = index.patient(key)
    if known is not None and known[2]:
        return known[2], known
    return _key_id(key), known


def _other_class(resource: dict[str, Any], classes: frozenset[str]) -> bool:
    """True for an Encounter whose class code is plainly not read: not worth validating."""
    klass = resource.get("class")
    return (
        isinstance(klass, dict)
        and isinstance(klass.get("code"), str)
        and (klass["code"] not in classes)
    )


_UNCHECKED: Any = object()


def _encounter(
    resource: dict[str, Any],
    where: str,
    index: _Index,
    context: _Context,
    full_url: str | None,
    verdict: Verdict = _UNCHECKED,
) -> Item | None:
    """The visit of one Encounter, its Rejection, or ``None`` when it is not an emergency.

    ``verdict`` is R4B's, when a worker process already validated the resource.
    """
    if _other_class(resource, context.classes):
        return None
    if verdict is _UNCHECKED:
        verdict = _check("Encounter", resource)
    if verdict is not None:
        return _invalid("Encounter", resource, where, verdict)
    if resource["class"].get("code") not in context.classes:
        return None
    try:
        status = resource.get("status")
        if status in CANCELLED:
            raise _Bad("status", "cancelled", f"encounter status is {status}")
        period = resource.get("period") or {}
        if not period.get("start"):
            raise _Bad("period.start", "missing_field", "period.start (the arrival) is missing")
        zone = context.zone
        arrival = _time(period["start"], "period.start", zone)
        departure = _time(period["end"], "period.end", zone) if period.get("end") else None
        if departure is not None and departure < arrival:
            raise _Bad(
                "period.end", "departure_before_arrival", "period.end is before period.start"
            )
        seen, doctor = _first_seen(resource.get("participant"), zone)
    except _Bad as bad:
        return Rejection(where, bad.reason, str(bad), bad.element, redact_resource(resource))
    patient_id, patient = _patient(resource.get("subject"), index)
    born, sex = (patient[0], patient[1]) if patient else (None, None)
    diagnosis = _diagnosis(resource, _keys(resource, full_url), index)
    service = resource.get("serviceType")
    return VisitRecord(
        arrival=arrival,
        source=where,
        visit_id=_visit_id(resource),
        patient_id=patient_id,
        first_seen=seen,
        departure=departure,
        acuity=_numeric_acuity(resource.get("priority")),
        disposition=_disposition(resource.get("hospitalization")),
        diagnosis=diagnosis[0] if diagnosis else None,
        diagnosis_system=diagnosis[1] if diagnosis else None,
        specialty=_system_code(service, SPECIALTY_SYSTEM),
        doctor_id=doctor,
        birth_date=born,
        age_years=age_at(born, arrival.date()) if born else None,
        sex=sex,
    )


def _system_code(concept: Any, system: str) -> str | None:
    for coding in (concept or {}).get("coding") or ():
        if coding.get("system") == system and coding.get("code"):
            return coding["code"]
    return None


# --- files --------------------------------------------------------------------------------------


def _open(path: Path) -> IO[str]:
    if path.name.lower().endswith(".gz"):
        return gzip.open(path, "rt", encoding="utf-8-sig")
    return path.open(encoding="utf-8-sig")


def _cannot(path: Path, error: Exception) -> IngestError:
    if isinstance(error, UnicodeDecodeError):
        return IngestError(f"not UTF-8 text (byte {error.start})", where=str(path))
    what = getattr(error, "strerror", None) or type(error).__name__
    return IngestError(f"cannot read: {what}", where=str(path))


def _kind_by_name(path: Path) -> str | None:
    stem = path.name.lower().removesuffix(".gz").removesuffix(".ndjson").removesuffix(".json")
    tokens = set(_NAME_TOKENS.split(stem))
    for kind in KINDS:
        if kind.lower() in tokens:
            return kind
    return None


@dataclass
class _Source:
    """One input file: NDJSON of one resource type, or a JSON document (a Bundle)."""

    path: Path
    ndjson: bool
    kind: str | None = None  # NDJSON only: the file's resource type


def _sniff(path: Path) -> _Source:
    """Tell NDJSON from a JSON document by the first non-blank line (module docstring)."""
    try:
        with _open(path) as handle:
            lines = (line for line in handle if line.strip())
            first = next(lines, None)
            if first is None:
                return _Source(path, True, _kind_by_name(path))
            try:
                resource = json.loads(first)
            except ValueError:
                return _Source(path, False)
            if not isinstance(resource, dict) or resource.get("resourceType") == "Bundle":
                return _Source(path, False)
            kind = _kind_by_name(path) or resource.get("resourceType")
            return _Source(path, True, kind if isinstance(kind, str) else None)
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise _cannot(path, error) from error


def _sources(paths: Sequence[Path]) -> list[_Source]:
    found: list[_Source] = []
    for path in paths:
        if path.is_dir():
            inside = sorted(
                p
                for p in path.iterdir()
                if p.is_file() and p.name.lower().endswith((".ndjson", ".json", ".ndjson.gz"))
            )
            if not inside:
                raise IngestError("no .ndjson or .json file in this folder", where=str(path))
            found.extend(_sniff(p) for p in inside)
        elif path.is_file():
            found.append(_sniff(path))
        else:
            raise IngestError("no such file", where=str(path))
    return found


def _companions(sources: list[_Source]) -> list[_Source]:
    """Patient and Condition NDJSON files: those given, then those beside Encounter files."""
    given = [s for s in sources if s.ndjson and s.kind in ("Patient", "Condition")]
    seen = {s.path.resolve() for s in given}
    for source in sources:
        if not (source.ndjson and source.kind == "Encounter"):
            continue
        for kind in ("Patient", "Condition"):
            beside = source.path.parent / f"{kind}.ndjson"
            if beside.is_file() and beside.resolve() not in seen:
                seen.add(beside.resolve())
                given.append(_Source(beside, True, kind))
    return given


def _ndjson(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of each non-blank line; IngestError when the file cannot be read."""
    try:
        with _open(path) as handle:
            for number, line in enumerate(handle, 1):
                if line.strip():
                    yield number, line
    except (OSError, EOFError, UnicodeDecodeError) as error:
        raise _cannot(path, error) from error


def _resources(
    name: str, kind: str | None, lines: Iterable[tuple[int, str]]
) -> Iterator[tuple[str, dict[str, Any] | None, Item | None]]:
    """(location, resource, or the Rejection of the line): one per NDJSON line given."""
    loads = json.loads
    for number, line in lines:
        where = f"{name}:{number}"
        try:
            resource = loads(line)
        except ValueError as error:
            column = getattr(error, "colno", None)
            at = f" (column {column})" if column else ""
            yield where, None, Rejection(where, "bad_json", f"the line is not JSON{at}")
            continue
        if not isinstance(resource, dict):
            message = f"the line holds a JSON {type(resource).__name__}, not a resource"
            yield where, None, Rejection(where, "invalid_resource", message)
            continue
        found = resource.get("resourceType")
        if found != kind:
            message = f"a {str(found)[:40]} resource in a {kind} file (one type a file)"
            rejection = Rejection(
                where, "bad_value", message, "resourceType", redact_resource(resource)
            )
            yield where, None, rejection
            continue
        yield where, resource, None


def _check_lines(kind: str, lines: list[str], classes: frozenset[str]) -> list[Verdict]:
    """R4B's verdict on each NDJSON line of ``kind`` (run in a worker process).

    Lines that are not JSON, not a ``kind`` resource or an Encounter of a
    class not read get ``None``: the main process handles them itself.
    """
    verdicts: list[Verdict] = []
    for line in lines:
        try:
            resource = json.loads(line)
        except ValueError:
            verdicts.append(None)
            continue
        if (
            not isinstance(resource, dict)
            or resource.get("resourceType") != kind
            or (kind == "Encounter" and _other_class(resource, classes))
        ):
            verdicts.append(None)
        else:
            verdicts.append(_check(kind, resource))
    return verdicts


_CHUNK = 500  # lines a worker validates at once
POOL_MIN_BYTES = 2_000_000  # NDJSON files smaller than this are validated in-process when automatic


def _chunks(lines: Iterator[tuple[int, str]]) -> Iterator[list[tuple[int, str]]]:
    chunk: list[tuple[int, str]] = []
    for item in lines:
        chunk.append(item)
        if len(chunk) == _CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _checked(
    source: _Source, context: _Context
) -> Iterator[tuple[str, dict[str, Any] | None, Item | None, Verdict]]:
    """Each line's (location, resource, Rejection, R4B verdict); with more than one
    worker, R4B validation runs in the context's processes, chunks in flight bounded,
    order kept. Automatic workers that die (a program without the ``__main__``
    guard, memory) leave the rest of the file to this process; chosen ones raise."""
    name, kind = source.path.name, source.kind or ""
    workers = context.workers_for(source.path)
    if workers <= 1:
        for where, resource, problem in _resources(name, kind, _ndjson(source.path)):
            yield where, resource, problem, _UNCHECKED
        return
    pool: ProcessPoolExecutor | None = context.pool()
    pending: deque[tuple[list[tuple[int, str]], Future[list[Verdict]] | None]] = deque()
    chunks = _chunks(_ndjson(source.path))
    while True:
        while len(pending) < 2 * workers:
            chunk = next(chunks, None)
            if chunk is None:
                break
            lines = [line for _, line in chunk]
            future = (
                None if pool is None else pool.submit(_check_lines, kind, lines, context.classes)
            )
            pending.append((chunk, future))
        if not pending:
            return
        chunk, future = pending.popleft()
        try:
            verdicts = (
                _check_lines(kind, [line for _, line in chunk], context.classes)
                if future is None
                else future.result()
            )
        except BrokenProcessPool as error:
            if not context.auto:
                message = "a validation worker process died (memory? __main__ guard?)"
                raise IngestError(message, where="workers") from error
            pool = None  # this process validates the rest, this chunk included
            pending = deque((c, None) for c, _ in pending)
            verdicts = _check_lines(kind, [line for _, line in chunk], context.classes)
        parsed = _resources(name, kind, chunk)
        for (where, resource, problem), verdict in zip(parsed, verdicts, strict=True):
            yield where, resource, problem, verdict


def _index_ndjson(source: _Source, index: _Index, context: _Context) -> Iterator[Item]:
    kind = source.kind or ""
    for where, resource, problem, verdict in _checked(source, context):
        if problem is not None:
            yield problem
            continue
        assert resource is not None
        if verdict is _UNCHECKED:
            verdict = _check(kind, resource)
        if verdict is not None:
            yield _invalid(kind, resource, where, verdict)
        else:
            index.add(kind, resource, _keys(resource))


def _read_encounters(source: _Source, index: _Index, context: _Context) -> Iterator[Item]:
    for where, resource, problem, verdict in _checked(source, context):
        if problem is not None:
            yield problem
            continue
        assert resource is not None
        item = _encounter(resource, where, index, context, None, verdict)
        if item is not None:
            yield item


def _document(path: Path) -> Any:
    try:
        with _open(path) as handle:
            return json.load(handle)
    except ValueError as error:
        if isinstance(error, UnicodeDecodeError):
            raise _cannot(path, error) from error
        line = getattr(error, "lineno", "?")
        message = f"neither NDJSON nor a JSON document (line {line})"
        raise IngestError(message, where=str(path)) from None
    except (OSError, EOFError) as error:
        raise _cannot(path, error) from error


def _bundle_entries(path: Path, document: Any) -> list[Any]:
    if not isinstance(document, dict):
        raise IngestError("the JSON document is not a FHIR resource", where=str(path))
    kind = document.get("resourceType")
    if kind in KINDS:
        return [{"resource": document}]  # a lone resource: a bundle of one
    if kind != "Bundle":
        raise IngestError(f"a {str(kind)[:40]} resource is not read (a Bundle is)", where=str(path))
    if document.get("type") not in BUNDLE_TYPES:
        allowed = ", ".join(sorted(BUNDLE_TYPES))
        raise IngestError(
            f"Bundle type {str(document.get('type'))[:40]!r} is not read ({allowed})",
            where=str(path),
        )
    entries = document.get("entry") or []
    if not isinstance(entries, list):
        raise IngestError("Bundle.entry is not a list", where=str(path))
    return entries


def _read_bundle(path: Path, parent: _Index, context: _Context) -> Iterator[Item]:
    """A Bundle's Patients and Conditions first, then its Encounters in entry order."""
    entries = _bundle_entries(path, _document(path))
    index = _Index(parent=parent)
    encounters: list[tuple[str, dict[str, Any], str | None]] = []
    for number, entry in enumerate(entries, 1):
        where = f"{path.name}:entry {number}"
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if resource is None:
            continue  # a DELETE or a search outcome without a resource
        kind = resource.get("resourceType") if isinstance(resource, dict) else None
        if kind not in KINDS:
            if not isinstance(resource, dict):
                yield Rejection(where, "invalid_resource", "entry.resource is not an object")
            continue
        full_url = entry.get("fullUrl") if isinstance(entry.get("fullUrl"), str) else None
        if kind == "Encounter":
            encounters.append((where, resource, full_url))
            continue
        rejection = _validated(kind, resource, where)
        if rejection is not None:
            yield rejection
        else:
            index.add(kind, resource, _keys(resource, full_url))
    for where, resource, full_url in encounters:
        item = _encounter(resource, where, index, context, full_url)
        if item is not None:
            yield item


def read(paths: Sequence[Path], options: ReadOptions) -> Iterator[Item]:
    """Emergency visits of FHIR R4 NDJSON (Bulk Data) files and Bundles, R4B-validated.

    See the module docstring for how files are told apart, which encounters
    are read, the field mapping, the disposition codes and the Rejections.
    ``options.settings["encounter_class"]`` names the class codes read (EMER).
    """
    context = _Context.of(options)
    sources = _sources(paths)
    index = _Index()
    try:
        for source in _companions(sources):
            yield from _index_ndjson(source, index, context)
        for source in sources:
            if not source.ndjson:
                yield from _read_bundle(source.path, index, context)
            elif source.kind == "Encounter":
                yield from _read_encounters(source, index, context)
    finally:
        context.close()


# --- writing ----------------------------------------------------------------------------------


def _hashed(value: str, prefix: str) -> str:
    return prefix + hashlib.sha256(value.encode()).hexdigest()[:40]


def _fhir_id(value: str, prefix: str) -> tuple[str, bool]:
    """(a valid FHIR id for ``value``, whether it had to be hashed)."""
    if _FHIR_ID.fullmatch(value):
        return value, False
    return _hashed(value, prefix), True


def _local(moment: datetime, zone: tzinfo) -> str:
    return moment.astimezone(zone).isoformat(timespec="seconds")


class _Resources:
    """Turns visits into Encounter and Condition resources; gathers one Patient each."""

    def __init__(self, zone: tzinfo) -> None:
        self.zone = zone
        self.patients: dict[str, dict[str, Any]] = {}
        self.written = 0

    def visit(self, record: VisitRecord) -> list[tuple[str, dict[str, Any]]]:
        """[("Encounter", resource), ("Condition", resource)?] for one visit."""
        zone = self.zone
        self.written += 1
        encounter: dict[str, Any] = {"resourceType": "Encounter"}
        if record.visit_id:
            encounter["id"], hashed = _fhir_id(record.visit_id, "v")
            if hashed:
                encounter["identifier"] = [{"system": VISIT_ID_SYSTEM, "value": record.visit_id}]
        encounter["status"] = "finished" if record.departure is not None else "in-progress"
        encounter["class"] = {"system": ACT_CODE, "code": "EMER", "display": "emergency"}
        if record.specialty:
            encounter["serviceType"] = {
                "coding": [{"system": SPECIALTY_SYSTEM, "code": record.specialty}]
            }
        if record.acuity is not None:
            encounter["priority"] = {
                "coding": [{"system": ACUITY_SYSTEM, "code": str(record.acuity)}]
            }
        patient = self._patient(record)
        if patient is not None:
            encounter["subject"] = {"reference": f"Patient/{patient}"}
        participant = self._participant(record)
        if participant:
            encounter["participant"] = [participant]
        period = {"start": _local(record.arrival, zone)}
        if record.departure is not None:
            period["end"] = _local(record.departure, zone)
        encounter["period"] = period
        condition = None
        if record.diagnosis:
            system = ICD9_URL if record.diagnosis_system == ICD9 else ICD10_URL
            concept = {"coding": [{"system": system, "code": record.diagnosis}]}
            if patient is None:
                encounter["reasonCode"] = [concept]  # a Condition needs a subject
            else:
                condition = self._condition(encounter.get("id"), patient, concept)
                encounter["diagnosis"] = [
                    {
                        "condition": {"reference": f"Condition/{condition['id']}"},
                        "rank": 1,
                    }
                ]
        if record.disposition is not None:
            encounter["hospitalization"] = {
                "dischargeDisposition": {"coding": _WRITE_DISPOSITION[record.disposition]}
            }
        out = [("Encounter", encounter)]
        if condition is not None:
            out.append(("Condition", condition))
        return out

    def _participant(self, record: VisitRecord) -> dict[str, Any] | None:
        if record.first_seen is None and not record.doctor_id:
            return None
        # No participant.type: each nested element costs the reader a model validation.
        participant: dict[str, Any] = {}
        if record.first_seen is not None:
            participant["period"] = {"start": _local(record.first_seen, self.zone)}
        if record.doctor_id:
            if _FHIR_ID.fullmatch(record.doctor_id):
                participant["individual"] = {"reference": f"Practitioner/{record.doctor_id}"}
            else:
                participant["individual"] = {
                    "identifier": {"system": DOCTOR_ID_SYSTEM, "value": record.doctor_id}
                }
        return participant

    def _condition(
        self, encounter_id: str | None, patient: str, concept: dict[str, Any]
    ) -> dict[str, Any]:
        if encounter_id is not None and len(encounter_id) <= 61:
            own = f"dx-{encounter_id}"
        else:
            own = _hashed(f"{encounter_id}#{self.written}", "dx-")
        condition: dict[str, Any] = {
            "resourceType": "Condition",
            "id": own,
            "code": concept,
            "subject": {"reference": f"Patient/{patient}"},
        }
        if encounter_id is not None:
            condition["encounter"] = {"reference": f"Encounter/{encounter_id}"}
        return condition

    def _patient(self, record: VisitRecord) -> str | None:
        """The visit's Patient id; the Patient is kept (and completed) until ``patients``."""
        if not record.patient_id:
            return None
        known = self.patients.get(record.patient_id)
        if known is None:
            own, hashed = _fhir_id(record.patient_id, "p")
            known = {"resourceType": "Patient", "id": own}
            if hashed:
                known["identifier"] = [{"system": PATIENT_ID_SYSTEM, "value": record.patient_id}]
            self.patients[record.patient_id] = known
        if "gender" not in known and record.sex in _GENDER:
            known["gender"] = _GENDER[record.sex]
        if "birthDate" not in known and record.age_years is not None:
            year = record.arrival.astimezone(self.zone).year - record.age_years
            if 1 <= year <= 9999:
                known["birthDate"] = f"{year:04d}-01-01"
        return known["id"]


def _dumps(resource: dict[str, Any]) -> str:
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":"))


def write_bundle(records: Iterable[VisitRecord], out: IO[str], options: WriteOptions) -> int:
    """Write visits as one FHIR R4 ``collection`` Bundle to ``out`` (an entry a line)."""
    resources = _Resources(_zone(options.timezone))
    out.write('{"resourceType":"Bundle","type":"collection"')
    separator = ',"entry":[\n'

    def entry(kind: str, resource: dict[str, Any]) -> None:
        nonlocal separator
        full_url = f"{FULL_URL_BASE}/{kind}/{resource['id']}" if "id" in resource else None
        item = {"fullUrl": full_url, "resource": resource} if full_url else {"resource": resource}
        out.write(separator)
        out.write(_dumps(item))
        separator = ",\n"

    for record in records:
        for kind, resource in resources.visit(record):
            entry(kind, resource)
    for patient in resources.patients.values():
        entry("Patient", patient)
    out.write("\n]}\n" if separator == ",\n" else "}\n")
    return resources.written


def _create(path: Path) -> IO[str]:
    try:
        return path.open("w", encoding="utf-8", newline="\n")
    except OSError as error:
        raise IngestError(f"cannot write: {error.strerror}", where=str(path)) from error


def _write_ndjson_to(
    records: Iterable[VisitRecord], encounters: IO[str], folder: Path, options: WriteOptions
) -> int:
    resources = _Resources(_zone(options.timezone))
    with _create(folder / "Condition.ndjson") as conditions:
        files = {"Encounter": encounters, "Condition": conditions}
        for record in records:
            for kind, resource in resources.visit(record):
                files[kind].write(_dumps(resource) + "\n")
    with _create(folder / "Patient.ndjson") as patients:
        for patient in resources.patients.values():
            patients.write(_dumps(patient) + "\n")
    return resources.written


def write_ndjson(records: Iterable[VisitRecord], folder: Path, options: WriteOptions) -> int:
    """Write visits as Bulk Data NDJSON: Encounter, Patient and Condition.ndjson in ``folder``."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise IngestError(f"cannot create: {error.strerror}", where=str(folder)) from error
    with _create(folder / "Encounter.ndjson") as encounters:
        return _write_ndjson_to(records, encounters, folder, options)


def write(records: Iterable[VisitRecord], out: IO[str], options: WriteOptions) -> int:
    """Write visits as a FHIR R4 collection Bundle; return how many.

    When ``out`` is a file named ``*Encounter.ndjson`` it gets Bulk Data
    NDJSON instead, with Patient.ndjson and Condition.ndjson beside it.
    """
    name = getattr(out, "name", None)
    if isinstance(name, str) and name.endswith("Encounter.ndjson") and Path(name).parent.is_dir():
        return _write_ndjson_to(records, out, Path(name).parent, options)
    return write_bundle(records, out, options)
