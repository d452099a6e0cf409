"""FHIR R4 reader and writer, on generated Encounter, Patient and Condition resources."""

from __future__ import annotations

import io
import json
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.condition import Condition
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.patient import Patient

from hospiflow.ingest import fhir
from hospiflow.ingest.formats import IngestError, ReadOptions, WriteOptions, reader, writer
from hospiflow.records import ICD9, ICD10, Disposition, Rejection, VisitRecord

ZONE = "Europe/Paris"
PARIS = ZoneInfo(ZONE)
OPTIONS = ReadOptions(timezone=ZONE)
WRITE = WriteOptions(timezone=ZONE)
MODELS = {"Encounter": Encounter, "Patient": Patient, "Condition": Condition}
# Distinctive generated identifiers, to prove they never leak into rejections.
PATIENT_ID, MRN, FAMILY, BIRTH = "pat-zebedee-42", "MRN-998877", "Quixotica", "1957-03-14"
EMER = {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "EMER"}
HL7_DISPOSITION = "http://terminology.hl7.org/CodeSystem/discharge-disposition"


def encounter(own: str, start: str | None = "2024-03-01T08:00:00+01:00", **extra: Any) -> dict:
    """A generated R4 emergency Encounter."""
    resource: dict[str, Any] = {
        "resourceType": "Encounter",
        "id": own,
        "status": "finished",
        "class": EMER,
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
    }
    if start is not None:
        resource["period"] = {"start": start, "end": "2024-03-01T11:30:00+01:00"}
    resource.update(extra)
    return resource


def patient(own: str = PATIENT_ID, **extra: Any) -> dict:
    """A generated Patient with identifying elements."""
    resource = {
        "resourceType": "Patient",
        "id": own,
        "identifier": [{"system": "urn:oid:1.2.250.1.71.4.2.7", "value": MRN}],
        "name": [{"family": FAMILY, "given": ["Ann"]}],
        "gender": "female",
        "birthDate": BIRTH,
    }
    resource.update(extra)
    return resource


def condition(own: str, value: str, system: str = "http://hl7.org/fhir/sid/icd-10", **extra: Any):
    """A generated Condition coded ``value`` in ``system``."""
    resource = {
        "resourceType": "Condition",
        "id": own,
        "code": {"coding": [{"system": system, "code": value}]},
        "subject": {"reference": f"Patient/{PATIENT_ID}"},
    }
    resource.update(extra)
    return resource


def ndjson(path: Path, *lines: dict | str) -> Path:
    """Write NDJSON lines (dicts are dumped, strings written as they are)."""
    path.write_text(
        "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines),
        encoding="utf-8",
    )
    return path


def bundle(path: Path, *resources: dict, kind: str = "collection", urls: bool = False) -> Path:
    """Write a Bundle of the resources (fullUrl urn:uuid:<id> when ``urls``)."""
    entries = []
    for resource in resources:
        entry: dict[str, Any] = {"resource": resource}
        if urls:
            entry["fullUrl"] = f"urn:uuid:{resource['id']}"
        if kind == "transaction":
            entry["request"] = {"method": "POST", "url": resource["resourceType"]}
        entries.append(entry)
    document = {"resourceType": "Bundle", "type": kind, "entry": entries}
    path.write_text(json.dumps(document, indent=2), encoding="utf-8")
    return path


def items(
    *paths: Path, options: ReadOptions = OPTIONS
) -> tuple[list[VisitRecord], list[Rejection]]:
    """Read with the registry's reader; split visits and rejections."""
    got = list(reader("fhir")(list(paths), options))
    visits = [item for item in got if isinstance(item, VisitRecord)]
    rejections = [item for item in got if isinstance(item, Rejection)]
    assert len(visits) + len(rejections) == len(got)
    return visits, rejections


def generated_visits(n: int = 30) -> list[VisitRecord]:
    """Store-like visits: pseudonym ids, every disposition, ICD-10 and ICD-9, some without
    departure, first contact, patient or age."""
    start = datetime(2024, 3, 1, 8, 0, tzinfo=PARIS)
    codes = [("R07.9", None), ("S52.521A", ICD10), ("4019", ICD9), (None, None)]
    dispositions = [*Disposition, None]
    visits = []
    for number in range(n):
        arrival = start + timedelta(minutes=97 * number)
        code, system = codes[number % len(codes)]
        visits.append(
            VisitRecord(
                arrival=arrival,
                visit_id=f"{number:032x}" if number % 7 else f"odd id/{number}",
                patient_id=None if number % 13 == 5 else f"p{number % 9:031x}",
                first_seen=arrival + timedelta(minutes=12) if number % 4 else None,
                departure=arrival + timedelta(minutes=90 + number) if number % 8 else None,
                acuity=(number % 6) or None,
                disposition=dispositions[number % len(dispositions)],
                diagnosis=code,
                diagnosis_system=system,
                specialty="CARDIO" if number % 3 == 0 else None,
                doctor_id=f"d{number % 4}" if number % 5 else None,
                age_years=30 + number % 9,
                sex="FMU"[number % 3],
            )
        )
    return visits


def essentials(visit: VisitRecord, *, age: bool = True) -> tuple:
    """What a FHIR round trip keeps (times to the minute; age only where exact)."""

    def minute(moment: datetime | None) -> datetime | None:
        return moment.replace(second=0, microsecond=0) if moment else None

    system = ICD9 if visit.diagnosis_system == ICD9 else (ICD10 if visit.diagnosis else None)
    kept_age = visit.age_years if age and visit.patient_id else None
    kept_sex = visit.sex if visit.patient_id else None
    return (
        minute(visit.arrival),
        minute(visit.first_seen),
        minute(visit.departure),
        visit.visit_id,
        visit.patient_id,
        visit.diagnosis,
        system,
        visit.disposition,
        visit.acuity,
        visit.specialty,
        visit.doctor_id,
        kept_age,
        kept_sex,
    )


def first_visits(visits: list[VisitRecord]) -> list[VisitRecord]:
    """One visit per patient (plus patient-less ones): where the written age is exact."""
    seen: set[str] = set()
    kept = []
    for visit in visits:
        if visit.patient_id is None or visit.patient_id not in seen:
            kept.append(visit)
            if visit.patient_id:
                seen.add(visit.patient_id)
    return kept


def validate_all(resources: list[dict]) -> int:
    """Validate each resource with its R4B model; how many."""
    for resource in resources:
        MODELS[resource["resourceType"]].model_validate(resource)
    return len(resources)


# --- round trips ---------------------------------------------------------------------------------


def test_bundle_round_trip_keeps_every_visit(tmp_path):
    """write (a collection Bundle) then read gives back the same visits: times to the minute,
    ids (odd ones too), diagnosis and system, every disposition, acuity, specialty, doctor."""
    original = generated_visits()
    out = tmp_path / "visits.json"
    with out.open("w", encoding="utf-8") as handle:
        assert writer("fhir")(original, handle, WRITE) == len(original)
    visits, rejections = items(out)
    assert rejections == []
    kept = [essentials(v, age=False) for v in visits]
    assert kept == [essentials(v, age=False) for v in original]
    assert {v.disposition for v in visits} == {*Disposition, None}
    assert all(v.arrival.tzinfo is not None for v in visits)
    assert visits[0].source == "visits.json:entry 1"


def test_age_comes_back_exact_on_each_patients_first_visit(tmp_path):
    """birthDate = 1 January of (arrival year - age): the first visit's age comes back."""
    original = first_visits(generated_visits())
    out = io.StringIO()
    fhir.write(original, out, WRITE)
    path = tmp_path / "b.json"
    path.write_text(out.getvalue(), encoding="utf-8")
    visits, _ = items(path)
    assert [essentials(v) for v in visits] == [essentials(v) for v in original]
    with_patient = [v for v in visits if v.patient_id]
    assert all(v.birth_date == date(v.arrival.year - v.age_years, 1, 1) for v in with_patient)


def test_ndjson_round_trip_from_the_folder_or_the_encounter_file(tmp_path):
    """write_ndjson then read of the folder, or of Encounter.ndjson alone (Patient and
    Condition files found beside it), gives back the same visits."""
    original = first_visits(generated_visits(40))
    folder = tmp_path / "export"
    assert fhir.write_ndjson(original, folder, WRITE) == len(original)
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["Condition.ndjson", "Encounter.ndjson", "Patient.ndjson"]
    for source in (folder, folder / "Encounter.ndjson"):
        visits, rejections = items(source)
        assert rejections == []
        assert [essentials(v) for v in visits] == [essentials(v) for v in original]
    visits, _ = items(folder / "Encounter.ndjson")
    assert visits[2].source == "Encounter.ndjson:3"


def test_write_to_a_file_named_encounter_ndjson_writes_bulk_data(tmp_path):
    """The registry writer given a file named Encounter.ndjson writes NDJSON and companions."""
    original = first_visits(generated_visits(12))
    out = tmp_path / "Encounter.ndjson"
    with out.open("w", encoding="utf-8") as handle:
        assert writer("fhir")(original, handle, WRITE) == len(original)
    assert (tmp_path / "Patient.ndjson").is_file() and (tmp_path / "Condition.ndjson").is_file()
    visits, rejections = items(out)
    assert rejections == []
    assert [essentials(v) for v in visits] == [essentials(v) for v in original]


def test_every_written_resource_validates_with_r4b(tmp_path):
    """Each resource written (Bundle and NDJSON) is valid R4 per the R4B models."""
    original = generated_visits()
    out = io.StringIO()
    fhir.write(original, out, WRITE)
    document = json.loads(out.getvalue())
    Bundle.model_validate(document)
    resources = [entry["resource"] for entry in document["entry"]]
    kinds = {r["resourceType"] for r in resources}
    assert kinds == {"Encounter", "Patient", "Condition"}
    assert validate_all(resources) == len(resources)
    folder = tmp_path / "nd"
    fhir.write_ndjson(original, folder, WRITE)
    for name in ("Encounter", "Patient", "Condition"):
        lines = (folder / f"{name}.ndjson").read_text(encoding="utf-8").splitlines()
        assert lines and validate_all([json.loads(line) for line in lines]) == len(lines)


def test_written_times_carry_the_site_offset_and_status_follows_departure():
    """period.start is local time with its offset; no departure means in-progress."""
    arrival = datetime(2024, 7, 1, 6, 30, tzinfo=ZoneInfo("UTC"))
    records = [
        VisitRecord(arrival=arrival, visit_id="a"),
        VisitRecord(arrival=arrival, visit_id="b", departure=arrival + timedelta(hours=2)),
    ]
    out = io.StringIO()
    fhir.write(records, out, WRITE)
    encounters = [e["resource"] for e in json.loads(out.getvalue())["entry"]]
    assert encounters[0]["period"] == {"start": "2024-07-01T08:30:00+02:00"}
    assert [e["status"] for e in encounters] == ["in-progress", "finished"]
    assert encounters[1]["class"]["code"] == "EMER"


def test_an_empty_export_is_a_valid_bundle():
    """No visits: a collection Bundle without entry (FHIR JSON has no empty arrays)."""
    out = io.StringIO()
    assert fhir.write([], out, WRITE) == 0
    document = json.loads(out.getvalue())
    assert document == {"resourceType": "Bundle", "type": "collection"}
    Bundle.model_validate(document)


# --- bad input ------------------------------------------------------------------------------------


def test_invalid_resource_bad_json_and_missing_start_are_rejected_without_losing_good_lines(
    tmp_path,
):
    """Each bad line yields one Rejection with its line, element and reason; the good stay."""
    path = ndjson(
        tmp_path / "Encounter.ndjson",
        encounter("good-1"),
        '{"resourceType": "Encounter", "id": "cut',
        encounter("bad-time", participant=[{"period": {"start": "2024-03-01 08:20"}}]),
        encounter("no-start", start=None),
        encounter("date-only", start="2024-03-01"),
        encounter(
            "backwards",
            period={"start": "2024-03-01T08:00:00+01:00", "end": "2024-03-01T07:00:00+01:00"},
        ),
        "[1, 2]",
        patient("stray"),
        encounter("good-2"),
    )
    visits, rejections = items(path)
    assert [v.visit_id for v in visits] == ["good-1", "good-2"]
    got = [(r.location, r.reason, r.field) for r in rejections]
    assert got == [
        ("Encounter.ndjson:2", "bad_json", None),
        ("Encounter.ndjson:3", "invalid_resource", "participant[0].period.start"),
        ("Encounter.ndjson:4", "missing_field", "period.start"),
        ("Encounter.ndjson:5", "bad_time", "period.start"),
        ("Encounter.ndjson:6", "departure_before_arrival", "period.end"),
        ("Encounter.ndjson:7", "invalid_resource", None),
        ("Encounter.ndjson:8", "bad_value", "resourceType"),
    ]
    assert rejections[0].raw == ""  # an unreadable line is never echoed


def test_a_participant_date_without_time_of_day_is_bad_time(tmp_path):
    """A participant period.start given as a date (a valid FHIR dateTime) is bad_time."""
    path = ndjson(
        tmp_path / "Encounter.ndjson",
        encounter("e1", participant=[{"period": {"start": "2024-03-01"}}]),
    )
    visits, rejections = items(path)
    assert visits == []
    assert [(r.reason, r.field) for r in rejections] == [
        ("bad_time", "participant[0].period.start")
    ]


def test_non_emergency_encounters_are_skipped_silently_unless_their_class_is_asked(tmp_path):
    """IMP and AMB encounters yield nothing (not an error); encounter_class reads them."""
    inpatient = {**EMER, "code": "IMP"}
    ambulatory = {**EMER, "code": "AMB"}
    path = ndjson(
        tmp_path / "Encounter.ndjson",
        encounter("ed"),
        encounter("ward", **{"class": inpatient}),
        encounter("clinic", **{"class": ambulatory}),
    )
    visits, rejections = items(path)
    assert [v.visit_id for v in visits] == ["ed"] and rejections == []
    both = ReadOptions(timezone=ZONE, settings={"encounter_class": "EMER,AMB"})
    visits, _ = items(path, options=both)
    assert [v.visit_id for v in visits] == ["ed", "clinic"]


def test_cancelled_and_entered_in_error_encounters_are_rejected(tmp_path):
    """Status cancelled / entered-in-error gives a Rejection 'cancelled' on status."""
    path = ndjson(
        tmp_path / "Encounter.ndjson",
        encounter("c1", status="cancelled"),
        encounter("c2", status="entered-in-error"),
        encounter("ok"),
    )
    visits, rejections = items(path)
    assert [v.visit_id for v in visits] == ["ok"]
    assert [(r.location, r.reason, r.field) for r in rejections] == [
        ("Encounter.ndjson:1", "cancelled", "status"),
        ("Encounter.ndjson:2", "cancelled", "status"),
    ]


def test_identifiers_never_appear_in_rejections(tmp_path):
    """Invalid Patients and Encounters: raw and message never hold ids, names, birth dates."""
    bad_patient = patient(birthDate="1957-02-30", telecom=[{"system": "phone", "value": "0611"}])
    bad_encounter = encounter(
        "enc-zebedee-7",
        status="cancelled",
        identifier=[{"value": MRN}],
        hospitalization={"preAdmissionIdentifier": {"value": MRN}},
    )
    path = bundle(tmp_path / "b.json", bad_patient, bad_encounter)
    _, rejections = items(path)
    assert [(r.reason, r.field) for r in rejections] == [
        ("invalid_resource", "birthDate"),
        ("cancelled", "status"),
    ]
    for rejection in rejections:
        text = rejection.raw + rejection.message
        for secret in (PATIENT_ID, MRN, FAMILY, "1957-02-30", "0611", "enc-zebedee-7"):
            assert secret not in text, (secret, text)
    assert "resourceType=Patient" in rejections[0].raw and "id=<redacted>" in rejections[0].raw
    assert "gender=female" in rejections[0].raw


def test_an_invalid_patient_or_condition_rejects_in_its_own_file_and_keeps_the_visit(tmp_path):
    """Companion resources that fail R4B are rejected where they are; visits stay, without them."""
    ndjson(tmp_path / "Patient.ndjson", patient(gender=["female"]))
    subjectless = condition("dx1", "J18.9")
    del subjectless["subject"]  # 1..1 in R4
    ndjson(tmp_path / "Condition.ndjson", subjectless)
    path = ndjson(
        tmp_path / "Encounter.ndjson",
        encounter("e1", diagnosis=[{"condition": {"reference": "Condition/dx1"}}]),
    )
    visits, rejections = items(path)
    assert [(r.location, r.reason, r.field) for r in rejections] == [
        ("Patient.ndjson:1", "invalid_resource", "gender"),
        ("Condition.ndjson:1", "invalid_resource", "subject"),
    ]
    assert len(visits) == 1
    assert (visits[0].patient_id, visits[0].sex, visits[0].diagnosis) == (PATIENT_ID, None, None)


def test_files_that_cannot_be_read_raise_ingest_error(tmp_path):
    """Missing file, not JSON at all, a history Bundle, a bad zone or class setting."""
    broken = tmp_path / "broken.json"
    broken.write_text("{\n  not json\n", encoding="utf-8")
    history = bundle(tmp_path / "history.json", encounter("e"), kind="history")
    latin = tmp_path / "latin.ndjson"
    latin.write_bytes(b'{"resourceType": "Encounter", "id": "\xe9"}\n')
    for path in (tmp_path / "missing.ndjson", broken, history, latin):
        with pytest.raises(IngestError):
            items(path)
    good = ndjson(tmp_path / "Encounter.ndjson", encounter("e"))
    for options in (
        ReadOptions(timezone="Mars/Olympus"),
        ReadOptions(settings={"encounter_class": 3}),
    ):
        with pytest.raises(IngestError):
            items(good, options=options)


# --- mapping --------------------------------------------------------------------------------------


def test_icd9_is_flagged_icd9_and_icd10_preferred_procedures_never_read(tmp_path):
    """ICD-9-CM is flagged ICD9; an ICD-10 coding beside it wins; PCS is no diagnosis."""
    both = {
        "coding": [
            {"system": "http://hl7.org/fhir/sid/icd-9-cm", "code": "486"},
            {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "J18.9"},
        ]
    }
    path = bundle(
        tmp_path / "b.json",
        condition("nine", "486", "http://hl7.org/fhir/sid/icd-9-cm"),
        condition("both", "x", code=both),
        condition("pcs", "0DT", "http://www.cms.gov/Medicare/Coding/ICD10"),
        condition("cim", "J189", "https://smt.esante.gouv.fr/terminologie-cim-10/"),
        *[
            encounter(f"e-{name}", diagnosis=[{"condition": {"reference": f"Condition/{name}"}}])
            for name in ("nine", "both", "pcs", "cim")
        ],
    )
    visits, rejections = items(path)
    assert rejections == []
    got = [(v.diagnosis, v.diagnosis_system) for v in visits]
    assert got == [("486", ICD9), ("J18.9", ICD10), (None, None), ("J189", ICD10)]
    assert fhir.icd_system("http://www.cms.gov/Medicare/Coding/ICD10-PCS") is None
    assert fhir.icd_system("urn:oid:2.16.840.1.113883.6.90") == ICD10


def test_condition_found_from_the_encounter_or_pointing_to_it_and_rank_wins(tmp_path):
    """Encounter.diagnosis (lowest rank, then billing/DD), else Condition.encounter,
    else reasonCode; in NDJSON files as in Bundles."""
    conditions = [
        condition("c-second", "S52.5"),
        condition("c-first", "J18.9"),
        condition("c-points", "R07.9", encounter={"reference": "Encounter/e-pointed"}),
    ]
    ranked = [
        {"condition": {"reference": "Condition/c-second"}, "rank": 2},
        {"condition": {"reference": "Condition/c-first"}, "rank": 1},
    ]
    admission = {"coding": [{"code": "AD"}]}
    billing = {"coding": [{"code": "billing"}]}
    by_use = [
        {"condition": {"reference": "Condition/c-first"}, "use": admission},
        {"condition": {"reference": "Condition/c-second"}, "use": billing},
    ]
    reason = [{"coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "K35.8"}]}]
    encounters = [
        encounter("e-ranked", diagnosis=ranked),
        encounter("e-use", diagnosis=by_use),
        encounter("e-pointed"),
        encounter("e-reason", reasonCode=reason),
        encounter("e-none"),
    ]
    expected = ["J18.9", "S52.5", "R07.9", "K35.8", None]
    path = bundle(tmp_path / "b.json", *encounters, *conditions)
    visits, _ = items(path)
    assert [v.diagnosis for v in visits] == expected
    folder = tmp_path / "bulk"
    folder.mkdir()
    ndjson(folder / "Condition.ndjson", *conditions)
    visits, _ = items(ndjson(folder / "Encounter.ndjson", *encounters))
    assert [v.diagnosis for v in visits] == expected


def test_transaction_bundle_with_uuid_references_in_any_order(tmp_path):
    """Encounter before its Patient and Condition, references by fullUrl urn:uuid."""
    enc = encounter(
        "e1",
        subject={"reference": f"urn:uuid:{PATIENT_ID}"},
        diagnosis=[{"condition": {"reference": "urn:uuid:dx1"}}],
        participant=[
            {
                "period": {"start": "2024-03-01T08:40:00+01:00"},
                "individual": {"reference": "Practitioner/late"},
            },
            {
                "period": {"start": "2024-03-01T08:25:00+01:00"},
                "individual": {"reference": "Practitioner/first"},
            },
            {"individual": {"reference": "Practitioner/nurse"}},
        ],
    )
    path = bundle(
        tmp_path / "tx.json",
        enc,
        patient(),
        condition("dx1", "I21.9"),
        kind="transaction",
        urls=True,
    )
    visits, rejections = items(path)
    assert rejections == []
    (visit,) = visits
    assert visit.patient_id == PATIENT_ID
    assert visit.birth_date == date.fromisoformat(BIRTH) and visit.sex == "F"
    assert visit.age_years == 66
    assert visit.diagnosis == "I21.9"
    assert visit.first_seen == datetime(2024, 3, 1, 8, 25, tzinfo=PARIS)
    assert visit.doctor_id == "first"


def test_dispositions_from_hl7_nubc_and_hospiflow_codes(tmp_path):
    """HL7 discharge-disposition, NUBC 09 (admitted) and hospiflow lwbs map as documented;
    the hospiflow code wins over a standard one beside it."""

    def leaving(*codings: tuple[str, str]) -> dict:
        concept = {"coding": [{"system": system, "code": code} for system, code in codings]}
        return {"dischargeDisposition": concept}

    nubc = "https://www.nubc.org/CodeSystem/PatDischargeStatus"
    cases = [
        ((HL7_DISPOSITION, "home"), Disposition.DISCHARGED),
        ((HL7_DISPOSITION, "aadvice"), Disposition.DISCHARGED),
        ((HL7_DISPOSITION, "snf"), Disposition.TRANSFERRED),
        ((HL7_DISPOSITION, "exp"), Disposition.DIED),
        ((HL7_DISPOSITION, "oth"), None),
        ((nubc, "09"), Disposition.ADMITTED),
        (("http://hospiflow.example/disposition", "admitted"), Disposition.ADMITTED),
        (("http://local/codes", "home"), None),
    ]
    lines = [
        encounter(f"e{n}", hospitalization=leaving(coding)) for n, (coding, _) in enumerate(cases)
    ]
    both = leaving((HL7_DISPOSITION, "oth"), ("http://hospiflow.example/disposition", "lwbs"))
    lines.append(encounter("lwbs", hospitalization=both))
    visits, rejections = items(ndjson(tmp_path / "Encounter.ndjson", *lines))
    assert rejections == []
    expected = [disposition for _, disposition in cases] + [Disposition.LEFT_WITHOUT_BEING_SEEN]
    assert [v.disposition for v in visits] == expected


def test_acuity_is_a_numeric_priority_code_only(tmp_path):
    """Priority code "2" gives acuity 2; a v3 ActPriority code (EM) gives None."""
    numeric = {"coding": [{"system": "http://example.org/esi", "code": "2"}]}
    act = {
        "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-ActPriority", "code": "EM"}]
    }
    path = ndjson(
        tmp_path / "Encounter.ndjson",
        encounter("n", priority=numeric),
        encounter("a", priority=act),
    )
    visits, _ = items(path)
    assert [v.acuity for v in visits] == [2, None]


def test_visit_id_falls_back_to_the_identifier_and_ndjson_kind_comes_from_content(tmp_path):
    """An Encounter without id uses its first identifier; an NDJSON file of any name is
    recognised by its first resource; a pretty-printed lone Encounter is read too."""
    no_id = encounter("x", identifier=[{"system": "urn:local", "value": "ED-2024-1"}])
    del no_id["id"]
    odd = ndjson(tmp_path / "export-part-1.ndjson", no_id)
    visits, _ = items(odd)
    assert [v.visit_id for v in visits] == ["ED-2024-1"]
    lone = tmp_path / "one.json"
    lone.write_text(json.dumps(encounter("solo"), indent=2), encoding="utf-8")
    visits, _ = items(lone)
    assert [(v.visit_id, v.source) for v in visits] == [("solo", "one.json:entry 1")]


def test_arrival_in_another_offset_is_converted_to_the_site_zone(tmp_path):
    """period.start in UTC ("Z") comes back as the same instant in Europe/Paris."""
    path = ndjson(
        tmp_path / "Encounter.ndjson",
        encounter("z", period={"start": "2024-03-01T07:00:00Z"}),
    )
    (visit,), _ = items(path)
    assert visit.arrival == datetime(2024, 3, 1, 8, 0, tzinfo=PARIS)
    assert visit.arrival.tzinfo == PARIS and visit.departure is None


def test_validation_in_worker_processes_gives_the_same_items(tmp_path, monkeypatch):
    """settings workers=2 (R4B in two processes, chunks of 7 lines) yields exactly what one
    process yields, in the same order, rejections included."""
    monkeypatch.setattr(fhir, "_CHUNK", 7)
    folder = tmp_path / "bulk"
    fhir.write_ndjson(first_visits(generated_visits(60)), folder, WRITE)
    path = folder / "Encounter.ndjson"
    with path.open("a", encoding="utf-8") as handle:
        handle.write("not json\n")
        handle.write(json.dumps(encounter("bad", status=7)) + "\n")
        handle.write(json.dumps(encounter("ward", **{"class": {**EMER, "code": "IMP"}})) + "\n")
    ndjson(folder / "Patient.ndjson", patient(), patient("p2", birthDate="1957-02-30"))
    one = list(fhir.read([path], OPTIONS))
    two = list(fhir.read([path], ReadOptions(timezone=ZONE, settings={"workers": 2})))
    assert two == one
    reasons = [item.reason for item in one if isinstance(item, Rejection)]
    assert reasons == ["invalid_resource", "bad_json", "invalid_resource"]
    with pytest.raises(IngestError):
        list(fhir.read([path], ReadOptions(settings={"workers": 0})))


def test_automatic_workers_that_die_leave_the_file_to_this_process(tmp_path, monkeypatch):
    """With automatic workers, a pool whose processes die (a program
    without the ``__main__`` guard) costs nothing but speed: every line is still
    validated, in this process, and the items are those of one process; workers
    chosen in the settings raise instead."""
    from concurrent.futures import Future
    from concurrent.futures.process import BrokenProcessPool

    class DeadPool:
        submitted = 0

        def submit(self, *args):
            DeadPool.submitted += 1
            future: Future = Future()
            future.set_exception(BrokenProcessPool("gone"))
            return future

        def shutdown(self, **kwargs):
            pass

    monkeypatch.setattr(fhir, "_CHUNK", 7)
    monkeypatch.setattr(fhir, "POOL_MIN_BYTES", 0)
    folder = tmp_path / "bulk"
    fhir.write_ndjson(first_visits(generated_visits(40)), folder, WRITE)
    path = folder / "Encounter.ndjson"
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(encounter("bad", status=7)) + "\n")
    one = list(fhir.read([path], ReadOptions(timezone=ZONE, settings={"workers": 1})))
    monkeypatch.setattr(
        fhir._Context, "pool", lambda self: self.pools.append(DeadPool()) or self.pools[0]
    )
    auto = ReadOptions(timezone=ZONE, settings={"workers": "auto"})
    assert list(fhir.read([path], auto)) == one
    assert DeadPool.submitted > 0  # the pool was tried
    assert [i.reason for i in one if isinstance(i, Rejection)] == ["invalid_resource"]
    with pytest.raises(IngestError, match="worker process died"):
        list(fhir.read([path], ReadOptions(timezone=ZONE, settings={"workers": 2})))
