"""MIMIC-IV-ED reader and writer, on generated tables in the MIMIC schema (never real data)."""

from __future__ import annotations

import csv
import gzip
import io
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hospiflow.ingest import mimic_ed
from hospiflow.ingest.formats import IngestError, ReadOptions, WriteOptions, reader, writer
from hospiflow.records import ICD9, ICD10, Disposition, Rejection, VisitRecord

ZONE = "America/New_York"
NY = ZoneInfo(ZONE)
OPTIONS = ReadOptions(timezone=ZONE)
WRITE = WriteOptions(timezone=ZONE)
# Distinctive generated identifiers, to prove they never leak into rejections.
SUBJECT, HADM, STAY = "19999991", "27777771", "38888881"
COMPLAINT, RACE = "Chest pain Zebediah", "PORTUGUESE"


def table(path: Path, columns: tuple[str, ...], rows: list[dict[str, object]]) -> Path:
    """Write one generated MIMIC table (gzip when the name ends in .gz)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8", newline="") as handle:
        out = csv.writer(handle, lineterminator="\n")
        out.writerow(columns)
        for row in rows:
            out.writerow([row.get(column, "") for column in columns])
    return path


def stay(stay_id: str, intime: str, outtime: str = "", **extra: object) -> dict[str, object]:
    """One edstays row with sensible defaults."""
    row: dict[str, object] = {
        "subject_id": extra.pop("subject_id", "10000001"),
        "hadm_id": "",
        "stay_id": stay_id,
        "intime": intime,
        "outtime": outtime,
        "gender": "F",
        "race": "WHITE",
        "arrival_transport": "WALK IN",
        "disposition": "HOME",
    }
    row.update(extra)
    return row


def items(*paths: Path) -> tuple[list[VisitRecord], list[Rejection]]:
    """Read with the registry's reader; split visits and rejections."""
    got = list(reader("mimic-ed")(list(paths), OPTIONS))
    visits = [item for item in got if isinstance(item, VisitRecord)]
    rejections = [item for item in got if isinstance(item, Rejection)]
    assert len(visits) + len(rejections) == len(got)
    return visits, rejections


def generated_visits(n: int = 40) -> list[VisitRecord]:
    """Store-like visits: pseudonym ids, ages, every disposition, ICD-10 and ICD-9 codes."""
    start = datetime(2150, 3, 1, 8, 0, tzinfo=NY)
    codes = [("R07.9", None), ("S52.521A", ICD10), ("4019", ICD9), ("J18.9", None), (None, None)]
    dispositions = [*Disposition, None]
    visits = []
    for number in range(n):
        arrival = start + timedelta(minutes=97 * number)
        code, system = codes[number % len(codes)]
        visits.append(
            VisitRecord(
                arrival=arrival,
                visit_id=f"v-{number:04x}",
                patient_id=f"p-{number % 17:03d}",
                departure=arrival + timedelta(minutes=30 + number) if number % 9 else None,
                acuity=(number % 6) or None,
                disposition=dispositions[number % len(dispositions)],
                diagnosis=code,
                diagnosis_system=system,
                age_years=20 + number % 17,
                sex="FMU"[number % 3],
            )
        )
    return visits


def essentials(visit: VisitRecord) -> tuple:
    """What a MIMIC round trip keeps (times to the minute)."""
    minute = visit.arrival.replace(second=0, microsecond=0)
    leave = visit.departure.replace(second=0, microsecond=0) if visit.departure else None
    system = ICD9 if visit.diagnosis_system == ICD9 else (ICD10 if visit.diagnosis else None)
    return (
        minute,
        leave,
        visit.diagnosis,
        system,
        visit.disposition,
        visit.acuity,
        visit.age_years,
        visit.sex,
    )


@pytest.mark.parametrize("compress", [False, True])
def test_folder_round_trip_keeps_every_visit(tmp_path, compress):
    """write_folder then read of the folder gives back the same visits, plain and gzip."""
    original = generated_visits()
    # Each patient's age is exact on their first visit only (MIMIC anchors); keep one visit each.
    firsts = {visit.patient_id: visit for visit in reversed(original)}
    original = sorted(firsts.values(), key=lambda visit: visit.arrival)
    folder = tmp_path / "mimic"
    assert mimic_ed.write_folder(original, folder, WRITE, compress=compress) == len(original)
    suffix = ".csv.gz" if compress else ".csv"
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        f"{name}{suffix}" for name in ("edstays", "triage", "diagnosis", "patients")
    )
    visits, rejections = items(folder)
    assert rejections == []
    assert [essentials(v) for v in visits] == [essentials(v) for v in original]
    assert len({v.visit_id for v in visits}) == len(visits)
    assert all(v.arrival.tzinfo is not None for v in visits)


def test_round_trip_through_the_registry_writer_and_file_named_edstays(tmp_path):
    """write() to a file named edstays.csv also writes its companions, so diagnosis,
    acuity and age come back; the same visit ids are read twice in a row."""
    original = generated_visits(12)
    firsts = {visit.patient_id: visit for visit in reversed(original)}
    original = sorted(firsts.values(), key=lambda visit: visit.arrival)
    out = tmp_path / "edstays.csv"
    with out.open("w", encoding="utf-8", newline="") as handle:
        assert writer("mimic-ed")(original, handle, WRITE) == len(original)
    assert (tmp_path / "diagnosis.csv").is_file() and (tmp_path / "triage.csv").is_file()
    visits, rejections = items(out)
    again, _ = items(out)
    assert rejections == []
    assert [essentials(v) for v in visits] == [essentials(v) for v in original]
    assert [v.visit_id for v in visits] == [v.visit_id for v in again]


def test_write_to_a_stream_gives_edstays_only_with_integer_ids():
    """A plain stream gets the edstays table; pseudonym ids become running integers,
    the same number for the same id, integer ids kept unless already taken."""
    arrival = datetime(2150, 1, 1, 10, tzinfo=NY)
    records = [
        VisitRecord(arrival=arrival, visit_id="abc", patient_id="x"),
        VisitRecord(arrival=arrival, visit_id="2", patient_id="x"),
        VisitRecord(arrival=arrival, visit_id="abc", patient_id="y"),
        VisitRecord(arrival=arrival, visit_id="def", patient_id="7"),
        VisitRecord(arrival=arrival, visit_id="1", patient_id="z"),
    ]
    out = io.StringIO()
    assert mimic_ed.write(records, out, WRITE) == 5
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert list(rows[0]) == list(mimic_ed.EDSTAYS_COLUMNS)
    assert [row["stay_id"] for row in rows] == ["1", "2", "1", "3", "4"]
    assert [row["subject_id"] for row in rows] == ["1", "1", "2", "7", "3"]
    assert rows[0]["intime"] == "2150-01-01 10:00:00"


def test_icd9_stays_icd9_and_icd10_is_dotted(tmp_path):
    """icd_version 9 keeps the code as given ("4019" is never ICD-10 "401.9");
    version 10 codes get their dot ("R079" -> "R07.9", "S52521A" -> "S52.521A")."""
    edstays = table(
        tmp_path / "edstays.csv",
        mimic_ed.EDSTAYS_COLUMNS,
        [stay(str(30000001 + i), f"2150-01-0{i + 1} 10:00:00") for i in range(5)],
    )
    table(
        tmp_path / "diagnosis.csv",
        mimic_ed.DIAGNOSIS_COLUMNS,
        [
            {"stay_id": "30000001", "seq_num": 1, "icd_code": "4019", "icd_version": 9},
            {"stay_id": "30000002", "seq_num": 1, "icd_code": "R079", "icd_version": 10},
            {"stay_id": "30000003", "seq_num": 1, "icd_code": "S52521A", "icd_version": 10},
            {"stay_id": "30000004", "seq_num": 1, "icd_code": "V5861", "icd_version": "9"},
            {"stay_id": "30000005", "seq_num": 1, "icd_code": "A09", "icd_version": "10"},
        ],
    )
    visits, rejections = items(edstays)
    assert rejections == []
    assert [(v.diagnosis, v.diagnosis_system) for v in visits] == [
        ("4019", ICD9),
        ("R07.9", ICD10),
        ("S52.521A", ICD10),
        ("V5861", ICD9),
        ("A09", ICD10),
    ]


def test_first_listed_diagnosis_wins_whatever_the_row_order(tmp_path):
    """The diagnosis is the row with seq_num 1 even when seq_num 2 comes first in the file."""
    edstays = table(
        tmp_path / "edstays.csv", mimic_ed.EDSTAYS_COLUMNS, [stay("30000001", "2150-01-01 10:00")]
    )
    table(
        tmp_path / "diagnosis.csv",
        mimic_ed.DIAGNOSIS_COLUMNS,
        [
            {"stay_id": "30000001", "seq_num": 2, "icd_code": "E119", "icd_version": 10},
            {"stay_id": "30000001", "seq_num": 1, "icd_code": "J189", "icd_version": 10},
            {"stay_id": "30000001", "seq_num": 3, "icd_code": "I10", "icd_version": 10},
        ],
    )
    visits, _ = items(edstays)
    assert [v.diagnosis for v in visits] == ["J18.9"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("HOME", Disposition.DISCHARGED),
        ("ADMITTED", Disposition.ADMITTED),
        ("TRANSFER", Disposition.TRANSFERRED),
        ("LEFT WITHOUT BEING SEEN", Disposition.LEFT_WITHOUT_BEING_SEEN),
        ("ELOPED", Disposition.LEFT_WITHOUT_BEING_SEEN),
        ("LEFT AGAINST MEDICAL ADVICE", Disposition.DISCHARGED),
        ("EXPIRED", Disposition.DIED),
        ("OTHER", None),
        ("", None),
        ("admitted", Disposition.ADMITTED),
    ],
)
def test_dispositions(tmp_path, text, expected):
    """Each MIMIC disposition maps to its hospiflow outcome (OTHER and empty: none)."""
    edstays = table(
        tmp_path / "edstays.csv",
        mimic_ed.EDSTAYS_COLUMNS,
        [stay("30000001", "2150-01-01 10:00:00", "2150-01-01 12:00:00", disposition=text)],
    )
    visits, rejections = items(edstays)
    assert rejections == []
    assert [v.disposition for v in visits] == [expected]


def test_fields_age_sex_times_and_future_dates(tmp_path):
    """Ids, local times in the site's zone (years 2110-2210 read as they are), acuity,
    sex, and age = anchor_age + (year of intime - anchor_year) from hosp/patients."""
    ed = tmp_path / "ed"
    ed.mkdir()
    (tmp_path / "hosp").mkdir()
    edstays = table(
        ed / "edstays.csv.gz",
        mimic_ed.EDSTAYS_COLUMNS,
        [
            stay("30000001", "2153-07-04 23:59:59", "2153-07-05 02:10:00", gender="M"),
            stay("30000002", "2153-12-30 10:00:00", subject_id="10000002", gender=""),
        ],
    )
    table(
        ed / "triage.csv.gz",
        mimic_ed.TRIAGE_COLUMNS,
        [{"subject_id": "10000001", "stay_id": "30000001", "acuity": "2.0"}],
    )
    table(
        tmp_path / "hosp" / "patients.csv",
        mimic_ed.PATIENTS_COLUMNS,
        [{"subject_id": "10000001", "gender": "M", "anchor_age": 60, "anchor_year": 2150}],
    )
    visits, rejections = items(tmp_path)  # the PhysioNet layout: ed/ inside the folder
    assert rejections == []
    first, second = visits
    assert (first.visit_id, first.patient_id, first.source) == (
        "30000001",
        "10000001",
        "edstays.csv.gz:2",
    )
    assert first.arrival == datetime(2153, 7, 4, 23, 59, 59, tzinfo=NY)
    assert first.arrival.utcoffset() == timedelta(hours=-4)
    assert first.departure == datetime(2153, 7, 5, 2, 10, tzinfo=NY)
    assert (first.acuity, first.sex, first.age_years) == (2, "M", 63)
    assert (second.acuity, second.sex, second.age_years, second.departure) == (
        None,
        None,
        None,
        None,
    )
    assert edstays.name == "edstays.csv.gz"


def test_bom_crlf_and_uppercase_headers_are_read(tmp_path):
    """A UTF-8 BOM, CRLF line ends, upper-case headers and quoted fields still read."""
    edstays = tmp_path / "EDSTAYS.CSV"
    edstays.write_bytes(
        b"\xef\xbb\xbfSUBJECT_ID,HADM_ID,STAY_ID,INTIME,OUTTIME,GENDER,RACE,"
        b"ARRIVAL_TRANSPORT,DISPOSITION\r\n"
        b'10000001,,30000001,2150-01-01 10:00:00,2150-01-01 11:00:00,F,"WHITE, OTHER",'
        b"WALK IN,ADMITTED\r\n"
    )
    (tmp_path / "triage.csv").write_bytes(
        b'\xef\xbb\xbfSTAY_ID,ACUITY,CHIEFCOMPLAINT\r\n30000001,1.0,"Fall, \r\nhead"\r\n'
    )
    visits, rejections = items(edstays)
    assert rejections == []
    assert [(v.visit_id, v.acuity, v.disposition, v.source) for v in visits] == [
        ("30000001", 1, Disposition.ADMITTED, "EDSTAYS.CSV:2")
    ]


def test_missing_triage_and_diagnosis_files_still_give_the_visits(tmp_path):
    """Without triage, diagnosis or patients beside edstays, visits are read without them."""
    edstays = table(
        tmp_path / "edstays.csv",
        mimic_ed.EDSTAYS_COLUMNS,
        [stay("30000001", "2150-01-01 10:00:00"), stay("30000002", "2150-01-01 11:00:00")],
    )
    visits, rejections = items(edstays)
    assert rejections == []
    assert [(v.visit_id, v.acuity, v.diagnosis, v.age_years) for v in visits] == [
        ("30000001", None, None, None),
        ("30000002", None, None, None),
    ]


def test_companion_named_explicitly_is_used(tmp_path):
    """A triage table given by path (elsewhere) joins to the edstays file given."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    edstays = table(
        tmp_path / "a" / "my_extract.csv",
        mimic_ed.EDSTAYS_COLUMNS,
        [stay("30000001", "2150-01-01 10:00:00")],
    )
    triage = table(
        tmp_path / "b" / "triage.csv",
        mimic_ed.TRIAGE_COLUMNS,
        [{"stay_id": "30000001", "acuity": "4"}],
    )
    visits, _ = items(triage, edstays)
    assert [v.acuity for v in visits] == [4]


def test_bad_edstays_rows_are_rejected_and_good_rows_kept(tmp_path):
    """Each bad edstays row gives one Rejection with its line, column and reason."""
    rows = [
        stay("30000001", "2150-01-01 10:00:00"),  # line 2, good
        stay("", "2150-01-01 10:00:00"),  # 3
        stay("30000003", ""),  # 4
        stay("30000004", "2150-13-01 10:00:00"),  # 5
        stay("30000005", "2150-01-01 10:00:00", "yesterday"),  # 6
        stay("30000006", "2150-01-01 10:00:00", "2150-01-01 09:00:00"),  # 7
        stay("30000007", "2150-01-01 10:00:00", disposition="TELEPORTED"),  # 8
        stay("30000009", "2150-01-01 12:00:00"),  # 10, good
    ]
    edstays = table(tmp_path / "edstays.csv", mimic_ed.EDSTAYS_COLUMNS, rows)
    lines = edstays.read_text().splitlines()
    lines.insert(8, "10000001,,30000008,2150-01-01 10:00:00")  # line 9: too few columns
    edstays.write_text("\n".join(lines) + "\n")
    visits, rejections = items(edstays)
    assert [v.visit_id for v in visits] == ["30000001", "30000009"]
    assert [(r.location, r.field, r.reason) for r in rejections] == [
        ("edstays.csv:3", "stay_id", "missing_field"),
        ("edstays.csv:4", "intime", "missing_field"),
        ("edstays.csv:5", "intime", "bad_time"),
        ("edstays.csv:6", "outtime", "bad_time"),
        ("edstays.csv:7", "outtime", "departure_before_arrival"),
        ("edstays.csv:8", "disposition", "bad_value"),
        ("edstays.csv:9", None, "bad_value"),
    ]


def test_bad_companion_rows_reject_without_dropping_the_visit(tmp_path):
    """A bad triage acuity or diagnosis version yields a Rejection in that file, the visit
    is kept with the field None; bad rows of stays not in edstays are ignored."""
    edstays = table(
        tmp_path / "edstays.csv",
        mimic_ed.EDSTAYS_COLUMNS,
        [stay("30000001", "2150-01-01 10:00:00"), stay("30000002", "2150-01-01 11:00:00")],
    )
    table(
        tmp_path / "triage.csv",
        mimic_ed.TRIAGE_COLUMNS,
        [
            {"stay_id": "30000001", "acuity": "7"},  # line 2
            {"stay_id": "39999999", "acuity": "urgent"},  # unknown stay
            {"stay_id": "30000002", "acuity": "3"},
        ],
    )
    table(
        tmp_path / "diagnosis.csv",
        mimic_ed.DIAGNOSIS_COLUMNS,
        [
            {"stay_id": "30000002", "seq_num": 1, "icd_code": "R079", "icd_version": 11},
            {"stay_id": "30000002", "seq_num": 2, "icd_code": "I10", "icd_version": 10},
            {"stay_id": "39999999", "seq_num": "x", "icd_code": "I10", "icd_version": 10},
            {"stay_id": "30000001", "seq_num": 1, "icd_code": "I10", "icd_version": 10},
        ],
    )
    table(
        tmp_path / "patients.csv",
        mimic_ed.PATIENTS_COLUMNS,
        [{"subject_id": "10000001", "anchor_age": "sixty", "anchor_year": 2150}],
    )
    visits, rejections = items(edstays)
    assert [(v.visit_id, v.acuity, v.diagnosis, v.age_years) for v in visits] == [
        ("30000001", None, "I10", None),
        ("30000002", 3, None, None),
    ]
    assert sorted((r.location, r.field, r.reason) for r in rejections) == [
        ("diagnosis.csv:2", "diagnosis.icd_version", "bad_value"),
        ("patients.csv:2", "patients.anchor_age", "bad_value"),
        ("triage.csv:2", "triage.acuity", "bad_value"),
    ]


def test_identifiers_never_appear_in_rejections(tmp_path):
    """subject_id, hadm_id, stay_id, chief complaint and race are redacted in raw and message."""
    edstays = table(
        tmp_path / "edstays.csv",
        mimic_ed.EDSTAYS_COLUMNS,
        [
            stay(STAY, "not a time", subject_id=SUBJECT, hadm_id=HADM, race=RACE),
            stay(STAY[:-1] + "2", "2150-01-01 10:00:00", subject_id=SUBJECT, race=RACE),
        ],
    )
    table(
        tmp_path / "triage.csv",
        mimic_ed.TRIAGE_COLUMNS,
        [
            {
                "subject_id": SUBJECT,
                "stay_id": STAY[:-1] + "2",
                "acuity": "9",
                "chiefcomplaint": COMPLAINT,
            }
        ],
    )
    visits, rejections = items(edstays)
    assert len(visits) == 1 and len(rejections) == 2
    for rejection in rejections:
        text = f"{rejection.raw} {rejection.message} {rejection.location}"
        assert "<redacted>" in rejection.raw
        for secret in (SUBJECT, HADM, STAY, STAY[:-1] + "2", COMPLAINT, RACE):
            assert secret not in text


def test_files_that_cannot_be_read_raise_ingest_error(tmp_path):
    """No edstays in a folder, a corrupt .gz, non-UTF-8 text, a missing column, a bad
    zone: IngestError naming the file."""
    with pytest.raises(IngestError, match="edstays"):
        list(mimic_ed.read([tmp_path], OPTIONS))
    corrupt = tmp_path / "edstays.csv.gz"
    corrupt.write_bytes(b"not gzip at all")
    with pytest.raises(IngestError) as caught:
        list(mimic_ed.read([corrupt], OPTIONS))
    assert caught.value.where == str(corrupt)
    latin = tmp_path / "latin" / "edstays.csv"
    latin.parent.mkdir()
    latin.write_bytes(b"subject_id,stay_id,intime\n1,2,2150-01-01 10:00:00 \xe9\n")
    with pytest.raises(IngestError, match="UTF-8"):
        list(mimic_ed.read([latin], OPTIONS))
    partial = tmp_path / "partial" / "edstays.csv"
    partial.parent.mkdir()
    partial.write_text("subject_id,stay_id\n1,2\n")
    with pytest.raises(IngestError, match="intime"):
        list(mimic_ed.read([partial], OPTIONS))
    with pytest.raises(IngestError, match="time zone"):
        list(mimic_ed.read([partial], ReadOptions(timezone="Mars/Olympus")))


def test_dotted_icd10():
    """The ICD-10 dot goes after the category; short or dotted codes are unchanged."""
    assert mimic_ed.dotted_icd10("R079") == "R07.9"
    assert mimic_ed.dotted_icd10("S52521A") == "S52.521A"
    assert mimic_ed.dotted_icd10("I10") == "I10"
    assert mimic_ed.dotted_icd10("J18.9") == "J18.9"


def test_later_visits_of_a_subject_follow_the_anchor_arithmetic(tmp_path):
    """patients.csv anchors each subject on its first visit with an age: that age comes back
    exactly, later visits get anchor_age + (year - anchor_year), as in MIMIC."""
    records = [
        VisitRecord(arrival=datetime(2150, 12, 30, 9, tzinfo=NY), visit_id="a", patient_id="p"),
        VisitRecord(
            arrival=datetime(2150, 12, 31, 9, tzinfo=NY),
            visit_id="b",
            patient_id="p",
            age_years=40,
        ),
        VisitRecord(
            arrival=datetime(2151, 1, 2, 9, tzinfo=NY), visit_id="c", patient_id="p", age_years=40
        ),
    ]
    mimic_ed.write_folder(records, tmp_path, WRITE)
    patients = list(csv.DictReader(io.StringIO((tmp_path / "patients.csv").read_text())))
    assert [(row["anchor_age"], row["anchor_year"]) for row in patients] == [("40", "2150")]
    visits, _ = items(tmp_path)
    assert [v.age_years for v in visits] == [40, 40, 41]
