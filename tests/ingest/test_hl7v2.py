"""HL7 v2 ADT files -> visits and back (hospiflow.ingest.hl7v2), on generated messages."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import hl7
import pytest

from hospiflow.ingest import hl7v2
from hospiflow.ingest.formats import IngestError, ReadOptions, WriteOptions
from hospiflow.records import ICD9, ICD10, Disposition, Rejection, VisitRecord

PARIS = ZoneInfo("Europe/Paris")
# Made-up identifying values: none of them may show in a Rejection.
SECRETS = ("IPP778899", "DUPONT", "19710203", "RUE DES LILAS", "0611223344", "NDA445566")


def message(
    event: str,
    visit: str | None = "V1",
    *,
    when: str = "202401051030",
    patient_class: str = "E",
    arrival: str = "",
    departure: str = "",
    code: str = "",
    doctor: str = "",
    diagnosis: str = "",
    control: str = "C1",
    kind: str = "ADT",
) -> list[str]:
    """One ADT message as segment lines (made-up values)."""
    pv1 = [""] * 46
    pv1[0:3] = ["PV1", "1", patient_class]
    pv1[7] = doctor
    pv1[19] = visit or ""
    pv1[36] = code
    pv1[44] = arrival
    pv1[45] = departure
    segments = [
        f"MSH|^~\\&|EPIC|HOSP|||{when}||{kind}^{event}|{control}|P|2.5",
        f"EVN|{event}|{when}",
        "PID|1||P1^^^HOSP^PI||DOE^JANE||19800101|F|||1 MAIN ST^^PARIS^^75011||0102030405",
        "|".join(pv1),
    ]
    if diagnosis:
        segments.append(f"DG1|1||{diagnosis}|||F")
    return segments


def hl7_file(tmp_path: Path, *messages: list[str], sep: str = "\r", name: str = "adt.hl7") -> Path:
    """The messages in one file, segments ended by ``sep``."""
    path = tmp_path / name
    path.write_bytes("".join(sep.join(m) + sep for m in messages).encode())
    return path


def read(*paths: Path, **settings: object) -> tuple[list[VisitRecord], list[Rejection]]:
    """Visits and rejections read from the files."""
    items = list(hl7v2.read(list(paths), ReadOptions(timezone="Europe/Paris", settings=settings)))
    visits = [item for item in items if isinstance(item, VisitRecord)]
    rejections = [item for item in items if isinstance(item, Rejection)]
    assert len(visits) + len(rejections) == len(items)
    return visits, rejections


def local(text: str) -> datetime:
    """A Paris wall time written YYYYMMDDHHMM."""
    return datetime.strptime(text, "%Y%m%d%H%M").replace(tzinfo=PARIS)


def one_visit() -> list[list[str]]:
    """A registration, a doctor, a discharge home, in order."""
    return [
        message("A04", when="202401051030", arrival="202401051030", control="C1"),
        message("A08", when="202401051100", arrival="202401051030", doctor="D9", control="C2"),
        message("A03", when="202401051300", departure="202401051245", code="01", control="C3"),
    ]


def test_visit_from_registration_doctor_and_discharge(tmp_path: Path) -> None:
    """A04 + A08 with a doctor + A03 give arrival, first seen, departure and every field."""
    visits, rejections = read(hl7_file(tmp_path, *one_visit()))
    assert rejections == []
    (visit,) = visits
    assert visit.visit_id == "V1" and visit.patient_id == "P1"
    assert visit.arrival == local("202401051030")
    assert visit.first_seen == local("202401051100") and visit.doctor_id == "D9"
    assert visit.departure == local("202401051245")
    assert visit.disposition is Disposition.DISCHARGED
    assert visit.birth_date == date(1980, 1, 1) and visit.age_years == 44
    assert visit.sex == "F" and visit.postcode == "75011"
    assert visit.source == "adt.hl7:message 1 (line 1)"


def roundtrip_records() -> list[VisitRecord]:
    """One visit per disposition (and one still in the department), UTC arithmetic."""
    start = datetime(2024, 3, 30, 22, 0, tzinfo=UTC)  # spans the spring DST change
    records = []
    for index, disposition in enumerate([*Disposition, None]):
        arrival = start + timedelta(minutes=37 * index)
        unseen = disposition is Disposition.LEFT_WITHOUT_BEING_SEEN
        records.append(
            VisitRecord(
                arrival=arrival.astimezone(PARIS),
                visit_id=f"ps-visit-{index}",
                patient_id=f"ps-patient-{index}",
                first_seen=None if unseen else (arrival + timedelta(minutes=25)).astimezone(PARIS),
                departure=None
                if disposition is None
                else (arrival + timedelta(hours=4)).astimezone(PARIS),
                disposition=disposition,
                diagnosis="486" if index == 1 else "J18.9",
                diagnosis_system=ICD9 if index == 1 else ICD10,
                doctor_id=None if unseen or index == 2 else f"ps-doctor-{index}",
                age_years=30 + index,
                sex="M" if index % 2 else "F",
                specialty="MED" if index % 2 else None,
                postcode="75" if index % 2 else None,
            )
        )
    return records


KEPT = (
    *("arrival", "first_seen", "departure", "disposition", "diagnosis", "diagnosis_system"),
    *("doctor_id", "age_years", "sex", "patient_id", "specialty", "postcode"),
)


def test_round_trip_keeps_every_disposition(tmp_path: Path) -> None:
    """write -> read gives back each visit: times, disposition, diagnosis, age, doctor, sex."""
    records = roundtrip_records()
    out = io.StringIO()
    assert hl7v2.write(records, out, WriteOptions(timezone="Europe/Paris")) == len(records)
    path = tmp_path / "export.hl7"
    path.write_text(out.getvalue(), newline="")
    visits, rejections = read(path)
    assert rejections == []
    got = {visit.visit_id: visit for visit in visits}
    assert set(got) == {record.visit_id for record in records}
    for record in records:
        visit = got[record.visit_id]
        for name in KEPT:
            assert getattr(visit, name) == getattr(record, name), (record.visit_id, name)


def test_writer_output_is_valid_hl7_for_the_reference_parser() -> None:
    """python-hl7 parses every written message; control ids are unique; events are in time order."""
    out = io.StringIO()
    hl7v2.write(roundtrip_records(), out, WriteOptions(timezone="Europe/Paris", site_code="S1"))
    texts = [text for text in out.getvalue().split("\n") if text]
    assert all(text.endswith("\r") for text in texts)
    parsed = [hl7.parse(text) for text in texts]
    controls = [str(m.extract_field("MSH", 1, 10)) for m in parsed]
    assert len(set(controls)) == len(controls)
    times = [hl7.parse_datetime(str(m.extract_field("EVN", 1, 2))) for m in parsed]
    assert times == sorted(times)
    events = {str(m.extract_field("MSH", 1, 9, 1, 2)) for m in parsed}
    assert events == {"A04", "A08", "A01", "A03"}
    assert str(parsed[0].extract_field("MSH", 1, 4)) == "S1"
    assert str(parsed[0].extract_field("EVN", 1, 2)).endswith("+0100")


def test_writer_birth_date_is_first_january_of_arrival_year_minus_age() -> None:
    """A pseudonymised visit (age only) gets PID-7 = 1 January of (arrival year - age)."""
    out = io.StringIO()
    record = VisitRecord(arrival=local("202406151200"), visit_id="v", age_years=30)
    hl7v2.write([record], out, WriteOptions())
    assert str(hl7.parse(out.getvalue().strip()).extract_field("PID", 1, 7)) == "19940101"


def test_reader_fields_agree_with_the_reference_parser(tmp_path: Path) -> None:
    """Escaped and repeated fields are read as python-hl7 reads them."""
    lines = message("A04", visit="V\\F\\7", arrival="202401051030", doctor="D\\S\\1^SMITH")
    lines[2] = "PID|1||P\\T\\2^^^HOSP~OTHER^^^X||DOE||19800101|F"
    visits, rejections = read(hl7_file(tmp_path, lines))
    assert rejections == []
    reference = hl7.parse("\r".join(lines))
    assert visits[0].visit_id == reference.extract_field("PV1", 1, 19) == "V|7"
    assert visits[0].patient_id == reference.extract_field("PID", 1, 3, 1, 1) == "P&2"
    assert visits[0].doctor_id == reference.extract_field("PV1", 1, 7, 1, 1) == "D^1"


def test_out_of_order_messages_are_merged_by_event_time(tmp_path: Path) -> None:
    """A discharge and an update written before the registration still make one visit."""
    first, second, third = one_visit()
    visits, rejections = read(hl7_file(tmp_path, third, second, first))
    assert rejections == []
    (visit,) = visits
    assert visit.arrival == local("202401051030")
    assert visit.first_seen == local("202401051100")
    assert visit.departure == local("202401051245")
    assert visit.disposition is Disposition.DISCHARGED
    assert visit.source == "adt.hl7:message 1 (line 1)"


def test_messages_of_one_visit_across_files(tmp_path: Path) -> None:
    """A registration in one day's file and its discharge in the next make one visit."""
    first, _second, third = one_visit()
    monday = hl7_file(tmp_path, first, name="monday.hl7")
    tuesday = hl7_file(tmp_path, third, name="tuesday.hl7")
    visits, rejections = read(monday, tuesday)
    assert rejections == [] and len(visits) == 1
    assert visits[0].departure == local("202401051245")


def test_a11_cancels_the_visit_and_is_counted(tmp_path: Path) -> None:
    """An A11 after the registration removes the visit (a 'cancelled' rejection), others stay."""
    visits, rejections = read(
        hl7_file(
            tmp_path,
            message("A04", "V1", arrival="202401051030", when="202401051030"),
            message("A04", "V2", arrival="202401051040", when="202401051040"),
            message("A11", "V1", when="202401051050"),
        )
    )
    assert [visit.visit_id for visit in visits] == ["V2"]
    assert [(r.reason, r.field, r.location) for r in rejections] == [
        ("cancelled", "MSH-9", "adt.hl7:message 1 (line 1)")
    ]


def test_registration_after_a11_restores_the_visit(tmp_path: Path) -> None:
    """A new A04 later than the A11 registers the visit again."""
    visits, rejections = read(
        hl7_file(
            tmp_path,
            message("A04", arrival="202401051030", when="202401051030"),
            message("A11", when="202401051050"),
            message("A04", arrival="202401051100", when="202401051100"),
        )
    )
    assert rejections == []
    assert visits[0].arrival == local("202401051100")


def test_a13_cancels_the_discharge(tmp_path: Path) -> None:
    """An A13 after the A03 clears departure and disposition."""
    first, second, third = one_visit()
    cancel = message("A13", when="202401051310")
    visits, rejections = read(hl7_file(tmp_path, first, second, third, cancel))
    assert rejections == []
    assert visits[0].departure is None and visits[0].disposition is None
    assert visits[0].first_seen == local("202401051100")


def test_admit_then_discharge_without_code_is_admitted(tmp_path: Path) -> None:
    """A01 marks the visit admitted; an A03 without PV1-36 keeps ADMITTED, departure = EVN-2."""
    visits, _ = read(
        hl7_file(
            tmp_path,
            message("A04", arrival="202401051030", when="202401051030"),
            message("A01", patient_class="I", arrival="202401051400", when="202401051400"),
            message("A03", patient_class="I", when="202401051405"),
        )
    )
    (visit,) = visits
    assert visit.disposition is Disposition.ADMITTED
    assert visit.arrival == local("202401051030")  # the A01's admit time is not the ED arrival
    assert visit.departure == local("202401051405")


@pytest.mark.parametrize(
    ("code", "doctor", "expected"),
    [
        ("01", "", Disposition.DISCHARGED),
        ("02", "", Disposition.TRANSFERRED),
        ("09", "", Disposition.ADMITTED),
        ("20", "", Disposition.DIED),
        ("41", "", Disposition.DIED),
        ("LWBS", "", Disposition.LEFT_WITHOUT_BEING_SEEN),
        ("07", "", Disposition.LEFT_WITHOUT_BEING_SEEN),
        ("07", "D1", Disposition.DISCHARGED),
        ("", "", Disposition.DISCHARGED),
    ],
)
def test_discharge_disposition_codes(
    tmp_path: Path, code: str, doctor: str, expected: Disposition
) -> None:
    """PV1-36 (table 0112, UB-04 codes + LWBS) maps to the disposition; 07 depends on a doctor."""
    visits, _ = read(
        hl7_file(
            tmp_path,
            message("A04", arrival="202401051030", when="202401051030", doctor=doctor),
            message("A03", when="202401051200", code=code),
        )
    )
    assert visits[0].disposition is expected


def test_unknown_disposition_code_rejects_and_setting_maps_it(tmp_path: Path) -> None:
    """An unknown PV1-36 code is bad_value; settings['disposition_codes'] makes it known."""
    path = hl7_file(
        tmp_path,
        message("A04", arrival="202401051030", when="202401051030"),
        message("A03", when="202401051200", code="ZZ"),
    )
    visits, rejections = read(path)
    assert [(r.reason, r.field) for r in rejections] == [("bad_value", "PV1-36")]
    assert visits[0].departure is None
    visits, rejections = read(path, disposition_codes={"ZZ": "transfer"})
    assert rejections == [] and visits[0].disposition is Disposition.TRANSFERRED
    with pytest.raises(IngestError):
        read(path, disposition_codes={"ZZ": "elsewhere"})


@pytest.mark.parametrize("sep", ["\r", "\n", "\r\n"])
def test_segment_separators(tmp_path: Path, sep: str) -> None:
    """Files with \\r, \\n or \\r\\n segment ends read the same; lines count the same."""
    bad = message("A04", visit=None, arrival="202401051030", control="C9")
    visits, rejections = read(hl7_file(tmp_path, *one_visit(), bad, sep=sep))
    assert len(visits) == 1 and visits[0].departure == local("202401051245")
    assert [r.location for r in rejections] == ["adt.hl7:message 4 (line 13)"]


def test_mllp_framed_file(tmp_path: Path) -> None:
    """MLLP start (\\x0b) and end (\\x1c\\r) bytes around each message are tolerated."""
    path = tmp_path / "mllp.hl7"
    path.write_bytes(b"".join(b"\x0b" + "\r".join(m).encode() + b"\r\x1c\r" for m in one_visit()))
    visits, rejections = read(path)
    assert rejections == []
    assert visits[0].departure == local("202401051245")
    assert visits[0].first_seen == local("202401051100")


def test_binary_garbage_between_messages_is_one_rejection(tmp_path: Path) -> None:
    """Undecodable bytes between messages give a bad_message rejection; messages are kept."""
    first, second, third = one_visit()
    path = tmp_path / "adt.hl7"
    garbage = b"\x00\xff\xfe\x89PNG garbage DUPONT\n\x07\x08more\n"
    path.write_bytes(
        ("\n".join(first) + "\n").encode() + garbage + ("\n".join(second + third) + "\n").encode()
    )
    visits, rejections = read(path)
    assert len(visits) == 1 and visits[0].first_seen == local("202401051100")
    assert [(r.location, r.reason, r.field) for r in rejections] == [
        ("adt.hl7:5", "bad_message", None)
    ]
    assert "DUPONT" not in rejections[0].raw


def test_segment_before_any_msh_is_rejected(tmp_path: Path) -> None:
    """A PID line before the first MSH is reported, the following message still read."""
    path = tmp_path / "adt.hl7"
    orphan = "PID|1||IPP778899||DUPONT\r"
    path.write_text(orphan + "\r".join(one_visit()[0]) + "\r", newline="")
    visits, rejections = read(path)
    assert len(visits) == 1
    assert [(r.location, r.reason) for r in rejections] == [("adt.hl7:1", "bad_message")]
    assert "IPP778899" not in rejections[0].raw


def test_missing_visit_number(tmp_path: Path) -> None:
    """A message without PV1-19 is a missing_field rejection at its message and line."""
    good = message("A04", "V2", arrival="202401051030")
    visits, rejections = read(
        hl7_file(tmp_path, good, message("A04", None, arrival="202401051030"))
    )
    assert [visit.visit_id for visit in visits] == ["V2"]
    (rejection,) = rejections
    assert (rejection.location, rejection.field, rejection.reason) == (
        "adt.hl7:message 2 (line 5)",
        "PV1-19",
        "missing_field",
    )


@pytest.mark.parametrize(
    ("value", "field"), [("2024013T1030", "PV1-44"), ("202413051030", "PV1-44")]
)
def test_bad_time(tmp_path: Path, value: str, field: str) -> None:
    """A PV1-44 that is not a DTM (or an impossible date) is bad_time; the message is dropped."""
    visits, rejections = read(
        hl7_file(tmp_path, message("A04", arrival=value), message("A04", "V2", arrival="20240105"))
    )
    assert [visit.visit_id for visit in visits] == ["V2"]
    assert [(r.field, r.reason) for r in rejections] == [(field, "bad_time")]
    assert value not in rejections[0].message


def test_bad_event_time_and_birth_date(tmp_path: Path) -> None:
    """A bad EVN-2 and a bad PID-7 are bad_time rejections naming their field."""
    bad_event = message("A04", arrival="202401051030", when="2024-01-05")
    bad_birth = message("A04", "V2", arrival="202401051030")
    bad_birth[2] = bad_birth[2].replace("19800101", "19801341")
    visits, rejections = read(hl7_file(tmp_path, bad_event, bad_birth))
    assert visits == []
    assert sorted((r.field, r.reason) for r in rejections) == [
        ("EVN-2", "bad_time"),
        ("PID-7", "bad_time"),
    ]


def test_visit_without_arrival_is_rejected(tmp_path: Path) -> None:
    """A visit whose messages never give PV1-44 is a missing_field PV1-44 rejection."""
    visits, rejections = read(hl7_file(tmp_path, message("A03", when="202401051200", code="01")))
    assert visits == []
    assert [(r.field, r.reason, r.raw) for r in rejections] == [
        ("PV1-44", "missing_field", "events=A03")
    ]


def test_departure_before_arrival(tmp_path: Path) -> None:
    """A discharge earlier than the arrival is departure_before_arrival."""
    visits, rejections = read(
        hl7_file(
            tmp_path,
            message("A04", arrival="202401051030"),
            message("A03", departure="202401050930", when="202401051200"),
        )
    )
    assert visits == []
    assert [(r.field, r.reason) for r in rejections] == [("PV1-45", "departure_before_arrival")]


def test_icd9_diagnosis_is_flagged(tmp_path: Path) -> None:
    """DG1-3 with system I9 gives diagnosis_system ICD9; I10 gives ICD10; unknown gives None."""
    visits, _ = read(
        hl7_file(
            tmp_path,
            message("A04", "V1", arrival="202401051030", diagnosis="486^PNEUMONIA^I9"),
            message("A04", "V2", arrival="202401051030", diagnosis="J18.9^PNEUMONIA^I10"),
            message("A04", "V3", arrival="202401051030", diagnosis="X1^SOMETHING^LOCAL"),
        )
    )
    got = {v.visit_id: (v.diagnosis, v.diagnosis_system) for v in visits}
    assert got == {"V1": ("486", ICD9), "V2": ("J18.9", ICD10), "V3": ("X1", None)}


def test_other_patient_classes_are_skipped_silently(tmp_path: Path) -> None:
    """Inpatient visits (even malformed) are ignored; patient_classes widens the filter."""
    path = hl7_file(
        tmp_path,
        message("A04", "V1", arrival="202401051030"),
        message("A04", "V2", arrival="202401051030", patient_class="O"),
        message("A01", "V3", arrival="bad", patient_class="I"),
    )
    visits, rejections = read(path)
    assert [visit.visit_id for visit in visits] == ["V1"] and rejections == []
    visits, _ = read(path, patient_classes="E,O")
    assert sorted(visit.visit_id for visit in visits) == ["V1", "V2"]


def test_unsupported_event_and_message_type(tmp_path: Path) -> None:
    """An ADT^A28 and an ORU^R01 are unsupported_event rejections on MSH-9."""
    visits, rejections = read(
        hl7_file(
            tmp_path,
            message("A28", arrival="202401051030"),
            message("R01", "V2", kind="ORU", arrival="202401051030"),
        )
    )
    assert visits == []
    assert [(r.field, r.reason) for r in rejections] == [("MSH-9", "unsupported_event")] * 2


def test_missing_message_type_and_pv1(tmp_path: Path) -> None:
    """An empty MSH-9 and a message without PV1 are missing_field rejections."""
    no_type = message("A04", arrival="202401051030")
    no_type[0] = no_type[0].replace("ADT^A04", "")
    no_pv1 = message("A04", "V2", arrival="202401051030")[:3]
    _, rejections = read(hl7_file(tmp_path, no_type, no_pv1))
    assert [(r.field, r.reason) for r in rejections] == [
        ("MSH-9", "missing_field"),
        ("PV1", "missing_field"),
    ]


def test_identifiers_never_in_rejections(tmp_path: Path) -> None:
    """Rejection raw and message hide PID-3/5/7/11/13, the visit number and the doctor."""
    lines = message("A04", visit="NDA445566", arrival="bad", doctor="DR123^HOUSE")
    lines[2] = (
        "PID|1||IPP778899^^^HOSP^PI||DUPONT^JEAN||19710203|M|||"
        "12 RUE DES LILAS^^PARIS^^75011||0611223344"
    )
    lines.append("NK1|1|DUPONT^MARIE|SPO|12 RUE DES LILAS")
    _, rejections = read(hl7_file(tmp_path, lines))
    (rejection,) = rejections
    assert rejection.reason == "bad_time"
    for secret in (*SECRETS, "DR123", "HOUSE", "MARIE"):
        assert secret not in rejection.raw and secret not in rejection.message
    assert "PV1|1|E" in rejection.raw and "<redacted>" in rejection.raw


def test_redact_segment_keeps_safe_fields() -> None:
    """redact_segment hides identifying PID fields and keeps sex and set id."""
    line = "PID|1||IPP778899||DUPONT||19710203|F|||RUE DES LILAS||0611223344"
    assert hl7v2.redact_segment(line) == (
        "PID|1||<redacted>||<redacted>||<redacted>|F|||<redacted>||<redacted>"
    )
    assert hl7v2.redact_segment("ZPV|1|SECRET") == "ZPV|1|<redacted>"


def test_times_with_offset_and_local_times() -> None:
    """DTM with an offset is that instant; without, Paris local time (fold=0 in the DST gap)."""
    assert hl7v2.parse_dtm("202401051030+0000", PARIS) == datetime(2024, 1, 5, 10, 30, tzinfo=UTC)
    assert hl7v2.parse_dtm("20240105103015.25-0500", PARIS) == datetime(
        2024, 1, 5, 15, 30, 15, 250000, tzinfo=UTC
    )
    assert hl7v2.parse_dtm("2024010510", PARIS) == local("202401051000")
    gap = hl7v2.parse_dtm("202403310230", PARIS)
    assert gap.astimezone(UTC) == datetime(2024, 3, 31, 1, 30, tzinfo=UTC)
    for bad in ("20240", "202401051030+01", "20240105.5", "２０２４"):
        with pytest.raises(ValueError):
            hl7v2.parse_dtm(bad, PARIS)


def test_unreadable_file_raises_ingest_error(tmp_path: Path) -> None:
    """A missing file is an IngestError naming it, not a crash."""
    with pytest.raises(IngestError) as caught:
        read(tmp_path / "absent.hl7")
    assert caught.value.where is not None and caught.value.where.endswith("absent.hl7")
