"""Delimited text and .xlsx with a mapping file, the canonical CSV and the hillmaker preset."""

from __future__ import annotations

import io
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest

from hospiflow.ingest import delimited
from hospiflow.ingest.delimited import (
    DEFAULT_MAPPING,
    FIELDS,
    load_mapping,
    mapping_documentation,
    read,
    read_hillmaker,
    write,
)
from hospiflow.ingest.formats import IngestError, ReadOptions, WriteOptions, reader, writer
from hospiflow.records import ICD9, ICD10, Disposition, Rejection, VisitRecord

PARIS = ZoneInfo("Europe/Paris")


def _paris(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=PARIS)


def _split(items: list) -> tuple[list[VisitRecord], list[Rejection]]:
    visits = [item for item in items if isinstance(item, VisitRecord)]
    rejections = [item for item in items if isinstance(item, Rejection)]
    assert len(visits) + len(rejections) == len(items)
    return visits, rejections


def _mapping(tmp_path: Path, text: str, name: str = "mapping.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- the mapping file ----------------------------------------------------------------------


def test_reference_mapping_is_complete_and_loads(tmp_path: Path) -> None:
    """The shipped reference documents every field and is itself a valid mapping."""
    text = mapping_documentation()
    for name in FIELDS:
        assert f"\n{name} = " in text, name
    for key in ("delimiter", "encoding", "decimal", "header", "skip_rows", "sheet", "formats"):
        assert key in text
    mapping = load_mapping(_mapping(tmp_path, text))
    assert mapping.delimiter == ";" and mapping.encoding == "latin-1" and mapping.decimal == ","
    assert mapping.columns["arrival"] == "Date entrée"
    assert set(mapping.columns) == set(FIELDS)
    assert mapping.dispositions["fugue"] is Disposition.LEFT_WITHOUT_BEING_SEEN
    assert mapping.sexes == {"1": "M", "2": "F", "i": "U"}
    assert mapping.acuities["ccmu p"] == 2
    assert mapping.specialties["med"] == "general_medicine"


BASE = '[columns]\narrival = "in"\n'


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        ('[sauce]\nx = 1\n[columns]\narrival = "in"\n', "[sauce]", 1),
        ('[source]\ndelimiter = ","\ncolour = "red"\n' + BASE, "colour", 3),
        ('[source]\nskip_rows = "2"\n' + BASE, "skip_rows", 2),
        ("[source]\nheader = 1\n" + BASE, "header", 2),
        ('[source]\ndelimiter = ":"\n' + BASE, "delimiter", 2),
        ('[source]\nencoding = "utf-16"\n' + BASE, "encoding", 2),
        ('[source]\ndecimal = ";"\n' + BASE, "decimal", 2),
        ("[source]\nskip_rows = -1\n" + BASE, "skip_rows", 2),
        ('[columns]\ndeparture = "out"\n', "arrival", 1),
        ('[columns]\narrival = "in"\nweight = "kg"\n', "weight", 3),
        ("[columns]\narrival = 3\n", "arrival", 2),
        ('[columns]\narrival = "  "\n', "arrival", 2),
        ('[time]\nformats = "%Y"\n' + BASE, "formats", 2),
        ('[time]\nformats = ["%d/%m/%Y %H:%M", "%m/%d/%Y %H:%M"]\n' + BASE, "formats", 2),
        ('[time]\ntimezone = "Mars/Olympus"\n' + BASE, "timezone", 2),
        (BASE + 'disposition = "mode"\n[values.disposition]\n"Home" = "gone"\n', '"Home"', 5),
        (BASE + 'sex = "s"\n[values.sex]\n"X" = "Q"\n', '"X"', 5),
        (BASE + 'acuity = "a"\n[values.acuity]\n"red" = "1"\n', '"red"', 5),
        (BASE + '[values.sex]\n"1" = "M"\n', "values.sex", 3),
        (BASE + '[values.colour]\n"1" = "M"\n', "colour", 3),
        ('[source]\nheader = false\n[columns]\narrival = "in"\n', "arrival", 4),
    ],
)
def test_mapping_errors_name_file_line_and_key(
    tmp_path: Path, text: str, key: str, line: int
) -> None:
    """Every mapping mistake raises IngestError naming the file, the line and the key."""
    path = _mapping(tmp_path, text)
    with pytest.raises(IngestError) as caught:
        load_mapping(path)
    message = str(caught.value)
    assert str(path) in message
    assert key.strip('"') in message
    assert caught.value.where == f"{path}:{line}"


def test_mapping_that_is_not_toml_names_the_file(tmp_path: Path) -> None:
    """A TOML syntax error is an IngestError naming the file and the parser's line."""
    path = _mapping(tmp_path, "[columns]\narrival = \n")
    with pytest.raises(IngestError, match="line 2") as caught:
        load_mapping(path)
    assert caught.value.where == str(path)


def test_header_without_a_mapped_column_is_a_mapping_error(tmp_path: Path) -> None:
    """A header lacking a mapped column fails the file, naming the column and the file."""
    mapping = _mapping(tmp_path, '[columns]\narrival = "in"\ndeparture = "Sortie"\n')
    data = tmp_path / "extract.csv"
    data.write_text("in,out\n2024-01-01 10:00,2024-01-01 11:00\n", encoding="utf-8")
    with pytest.raises(IngestError, match="'Sortie'") as caught:
        list(read([data], ReadOptions(mapping=mapping)))
    assert caught.value.where == str(data)


# --- French extract: ';', latin-1, decimal comma ------------------------------------------

FRENCH_HEADER = (
    "IEP;IPP;Date entrée;Date PEC;Date sortie;CCMU;Mode sortie;DP;Nomenclature;Age;"
    "Date naissance;Sexe;Médecin;Filière;Code postal;Nom"
)


def test_french_semicolon_latin1_file(tmp_path: Path) -> None:
    """A ';'-separated latin-1 extract with French dates and decimal commas is read whole."""
    mapping = _mapping(tmp_path, mapping_documentation())
    rows = [
        "2024001;881;03/01/2024 08:15;03/01/2024 08:40;03/01/2024 11:02;2;Domicile;J18.9;CIM10;"
        "42,0;01/02/1981;2;D12;MED;75012;Hélène Dupré",
        "2024002;882;03/01/2024 09:00;;03/01/2024 09:30:15;CCMU P;MUTATION;486;ICD9;7;;1;;"
        "TRAUMA;13001;Noël Façade",
        "2024003;883;2024-01-03T10:00:00+00:00;;;;admitted;;;;;I;;URG;;",
    ]
    data = tmp_path / "passages.csv"
    data.write_bytes(("\r\n".join([FRENCH_HEADER, *rows]) + "\r\n").encode("latin-1"))
    visits, rejections = _split(list(read([data], ReadOptions(mapping=mapping))))
    assert rejections == []
    first, second, third = visits
    assert first == VisitRecord(
        arrival=_paris(2024, 1, 3, 8, 15),
        source="passages.csv:2",
        visit_id="2024001",
        patient_id="881",
        first_seen=_paris(2024, 1, 3, 8, 40),
        departure=_paris(2024, 1, 3, 11, 2),
        acuity=2,
        disposition=Disposition.DISCHARGED,
        diagnosis="J18.9",
        diagnosis_system=ICD10,
        specialty="general_medicine",
        doctor_id="D12",
        birth_date=date(1981, 2, 1),
        age_years=42,
        sex="F",
        postcode="75012",
    )
    assert second.acuity == 2 and second.disposition is Disposition.ADMITTED
    assert second.departure == _paris(2024, 1, 3, 9, 30, 15)
    assert (second.diagnosis_system, second.sex, second.specialty) == (ICD9, "M", "traumatology")
    assert second.first_seen is None and second.birth_date is None and second.doctor_id is None
    assert third.arrival == _paris(2024, 1, 3, 11, 0) and third.arrival.tzinfo is PARIS
    assert (third.sex, third.specialty, third.source) == ("U", "URG", "passages.csv:4")


def test_auto_delimiter_tab_and_utf8_bom(tmp_path: Path) -> None:
    """delimiter = "auto" finds a tab; a UTF-8 byte order mark does not spoil the header."""
    mapping = _mapping(
        tmp_path, '[source]\ndelimiter = "auto"\n[columns]\narrival = "Arrivée"\nsex = "Sexe"\n'
    )
    data = tmp_path / "tab.tsv"
    lines = ["Arrivée\tSexe\tNote"] + [f"2024-05-0{d} 10:0{d}\tF\tok, fine" for d in range(1, 6)]
    data.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode("utf-8"))
    visits, rejections = _split(list(read([data], ReadOptions(mapping=mapping))))
    assert rejections == [] and len(visits) == 5
    assert visits[4].arrival == _paris(2024, 5, 5, 10, 5) and visits[4].sex == "F"


def test_no_header_numbered_columns_and_skipped_banner(tmp_path: Path) -> None:
    """header = false maps 1-based column numbers; skip_rows drops a banner; lines stay right."""
    mapping = _mapping(
        tmp_path,
        "[source]\nheader = false\nskip_rows = 2\n"
        '[time]\nformats = ["%d/%m/%Y %H:%M"]\n[columns]\narrival = 2\nage = 3\n',
    )
    data = tmp_path / "export.csv"
    data.write_text(
        "EXPORT URGENCES\ngenerated 2024\nx,01/06/2024 23:59,5\ny,31/06/2024 10:00,6\n",
        encoding="utf-8",
    )
    visits, rejections = _split(list(read([data], ReadOptions(mapping=mapping))))
    assert [(v.arrival, v.age_years, v.source) for v in visits] == [
        (_paris(2024, 6, 1, 23, 59), 5, "export.csv:3")
    ]
    assert [(r.location, r.reason, r.field) for r in rejections] == [
        ("export.csv:4", "bad_time", "arrival")
    ]


def test_mapping_timezone_overrides_the_site(tmp_path: Path) -> None:
    """[time] timezone replaces options.timezone for local times."""
    mapping = _mapping(tmp_path, '[time]\ntimezone = "America/New_York"\n' + BASE)
    data = tmp_path / "ny.csv"
    data.write_text("in\n2024-07-01 12:00\n", encoding="utf-8")
    (visit,) = read([data], ReadOptions(mapping=mapping))
    assert visit.arrival == datetime(2024, 7, 1, 12, 0, tzinfo=ZoneInfo("America/New_York"))


# --- Excel ----------------------------------------------------------------------------------


def test_xlsx_with_typed_cells(tmp_path: Path) -> None:
    """A workbook's datetime, number and text cells are read; locations name sheet and row."""
    book = openpyxl.Workbook()
    book.active.title = "Notes"
    sheet = book.create_sheet("Passages")
    sheet.append(["Numéro", "Entrée", "Sortie", "Age", "Issue", "Naissance"])
    sheet.append([1001, datetime(2024, 2, 1, 8, 30), datetime(2024, 2, 1, 9, 45), 33, "home", None])
    sheet.append([1002.0, "01/02/2024 10:00", None, 3.0, "admit", datetime(2020, 5, 6)])
    sheet.append([1003, datetime(2024, 2, 1, 12, 0), datetime(2024, 2, 1, 11, 0), None, None, None])
    sheet.append([None, None, None, None, None, None])  # an empty row: skipped
    sheet.append([1004, "pas une date", None, None, None, None])
    data = tmp_path / "urgences.xlsx"
    book.save(data)
    mapping = _mapping(
        tmp_path,
        '[source]\nsheet = "Passages"\n[time]\nformats = ["%d/%m/%Y %H:%M"]\n'
        '[columns]\nvisit_id = "Numéro"\narrival = "Entrée"\ndeparture = "Sortie"\n'
        'age = "Age"\ndisposition = "Issue"\nbirth_date = "Naissance"\n',
    )
    visits, rejections = _split(list(read([data], ReadOptions(mapping=mapping))))
    assert [(v.source, v.visit_id, v.arrival, v.departure, v.age_years) for v in visits] == [
        (
            "urgences.xlsx:Passages!2",
            "1001",
            _paris(2024, 2, 1, 8, 30),
            _paris(2024, 2, 1, 9, 45),
            33,
        ),
        ("urgences.xlsx:Passages!3", "1002", _paris(2024, 2, 1, 10, 0), None, 3),
    ]
    assert visits[0].disposition is Disposition.DISCHARGED
    assert visits[1].disposition is Disposition.ADMITTED
    assert visits[1].birth_date == date(2020, 5, 6)
    assert [(r.location, r.reason, r.field) for r in rejections] == [
        ("urgences.xlsx:Passages!4", "departure_before_arrival", "departure"),
        ("urgences.xlsx:Passages!6", "bad_time", "arrival"),
    ]
    assert "1004" not in rejections[1].raw  # the visit id is an identifier


def test_xlsx_unknown_sheet_is_an_error(tmp_path: Path) -> None:
    """A mapping naming a sheet the workbook lacks fails, listing the sheets."""
    book = openpyxl.Workbook()
    book.active.title = "Feuil1"
    data = tmp_path / "w.xlsx"
    book.save(data)
    mapping = _mapping(tmp_path, '[source]\nsheet = "Passages"\n' + BASE)
    with pytest.raises(IngestError, match="Feuil1"):
        list(read([data], ReadOptions(mapping=mapping)))


# --- bad rows ---------------------------------------------------------------------------------

MIXED_MAPPING = """
[time]
formats = ["%Y-%m-%d %H:%M"]
[columns]
visit_id = "id"
arrival = "in"
first_seen = "seen"
departure = "out"
disposition = "outcome"
age = "age"
sex = "sex"
acuity = "triage"
diagnosis_system = "system"
birth_date = "born"
"""


def test_bad_rows_each_rejected_once_and_good_rows_kept(tmp_path: Path) -> None:
    """Every kind of bad row gives one Rejection at its line; every good row becomes a visit."""
    header = "id,in,seen,out,outcome,age,sex,triage,system,born,name"
    lines = [
        header,
        "V1,2024-03-01 10:00,2024-03-01 10:10,2024-03-01 11:00,home,40,F,2,icd10,,A",  # 2 good
        "V2,2024-03-01 10:00,,2024-03-01 11:00,home,40,F,2,icd10,,A,extra",  # 3 bad_row
        "V3,2024-03-01 25:00,,,home,40,F,2,,,A",  # 4 bad_time arrival
        "V4,,,2024-03-01 11:00,home,40,F,2,,,A",  # 5 missing_field
        "V5,2024-03-01 10:00,,2024-03-01 09:00,home,40,F,2,,,A",  # 6 departure_before
        "V6,2024-03-01 10:00,2024-03-01 09:59,,home,40,F,2,,,A",  # 7 seen_before
        "V7,2024-03-01 10:00,2024-03-01 12:00,2024-03-01 11:00,,,,,,,A",  # 8 seen_after
        "V8,2024-03-01 10:00,,,vanished,40,F,2,,,A",  # 9 bad_value disposition
        "V9,2024-03-01 10:00,,,home,forty,F,2,,,A",  # 10 bad_value age
        "V10,2024-03-01 10:00,,,home,40.5,F,2,,,A",  # 11 bad_value age
        "V11,2024-03-01 10:00,,,home,40,X,2,,,A",  # 12 bad_value sex
        "V12,2024-03-01 10:00,,,home,40,F,red,,,A",  # 13 bad_value acuity
        "V13,2024-03-01 10:00,,,home,40,F,2,snomed,,A",  # 14 bad_value system
        "V14,2024-03-01 10:00,,,home,40,F,2,,1990-13-01,A",  # 15 bad_time birth_date
        "V15,2024-03-01 10:00,,2024-03-01 10:30,died,7,M,5,I9,1990-01-01,A",  # 16 good
        "",  # 17 blank: skipped
        ",,,,,,,,,,",  # 18 empty cells: skipped
        "V16,2024-03-01 10:00,,bad,home,40,F,2,,,A",  # 19 bad_time departure
        "V17,2024-03-01 10:05,,,transferred,,U,,,,A",  # 20 good
    ]
    data = tmp_path / "mixed.csv"
    data.write_text("\n".join(lines) + "\n", encoding="utf-8")
    items = list(read([data], ReadOptions(mapping=_mapping(tmp_path, MIXED_MAPPING))))
    visits, rejections = _split(items)
    assert [(v.visit_id, v.source) for v in visits] == [
        ("V1", "mixed.csv:2"),
        ("V15", "mixed.csv:16"),
        ("V17", "mixed.csv:20"),
    ]
    assert visits[1].diagnosis_system == ICD9 and visits[1].disposition is Disposition.DIED
    assert [(r.location, r.reason, r.field) for r in rejections] == [
        ("mixed.csv:3", "bad_row", None),
        ("mixed.csv:4", "bad_time", "arrival"),
        ("mixed.csv:5", "missing_field", "arrival"),
        ("mixed.csv:6", "departure_before_arrival", "departure"),
        ("mixed.csv:7", "seen_before_arrival", "first_seen"),
        ("mixed.csv:8", "seen_after_departure", "first_seen"),
        ("mixed.csv:9", "bad_value", "disposition"),
        ("mixed.csv:10", "bad_value", "age"),
        ("mixed.csv:11", "bad_value", "age"),
        ("mixed.csv:12", "bad_value", "sex"),
        ("mixed.csv:13", "bad_value", "acuity"),
        ("mixed.csv:14", "bad_value", "diagnosis_system"),
        ("mixed.csv:15", "bad_time", "birth_date"),
        ("mixed.csv:19", "bad_time", "departure"),
    ]
    messages = {r.location: r.message for r in rejections}
    assert "'in' (arrival)" in messages["mixed.csv:4"] and "25:00" in messages["mixed.csv:4"]
    assert "'vanished'" in messages["mixed.csv:9"]
    assert "1990-13-01" not in messages["mixed.csv:15"]  # a birth date is never echoed


def test_undecodable_line_is_quarantined_and_reading_goes_on(tmp_path: Path) -> None:
    """A line that is not UTF-8 becomes one bad_encoding rejection; rows after it are read."""
    data = tmp_path / "mixed-bytes.csv"
    data.write_bytes(
        b"in,name\n2024-01-01 10:00,ok\n2024-01-01 11:00,Ren\xe9\n2024-01-01 12:00,ok\n"
    )
    mapping = _mapping(tmp_path, BASE)
    visits, rejections = _split(list(read([data], ReadOptions(mapping=mapping))))
    assert [v.source for v in visits] == ["mixed-bytes.csv:2", "mixed-bytes.csv:4"]
    assert [(r.location, r.reason) for r in rejections] == [("mixed-bytes.csv:3", "bad_encoding")]
    assert "Ren" not in rejections[0].message and rejections[0].raw == ""


def test_undecodable_header_is_a_file_error(tmp_path: Path) -> None:
    """A header that does not decode means the encoding is wrong: the file fails, with its line."""
    data = tmp_path / "latin.csv"
    data.write_bytes("Entrée\n2024-01-01 10:00\n".encode("latin-1"))
    mapping = _mapping(tmp_path, '[columns]\narrival = "Entrée"\n')
    with pytest.raises(IngestError, match="encoding") as caught:
        list(read([data], ReadOptions(mapping=mapping)))
    assert caught.value.where == f"{data}:1"


def test_quoted_newlines_keep_line_numbers_right(tmp_path: Path) -> None:
    """Fields with embedded newlines span lines; later rows keep their physical line number."""
    data = tmp_path / "notes.csv"
    data.write_text(
        "in,note,age\n"
        '2024-01-01 10:00,"first line\nsecond line\nthird",30\n'  # lines 2-4
        "2024-01-01 11:00,plain,x\n"  # line 5: bad age
        '2024-01-01 12:00,"a\r\nb",31\n'  # lines 6-7
        "2024-01-01 13:00,plain,32\n",  # line 8
        encoding="utf-8",
        newline="",
    )
    mapping = _mapping(tmp_path, BASE + 'age = "age"\n')
    visits, rejections = _split(list(read([data], ReadOptions(mapping=mapping))))
    assert [v.source for v in visits] == ["notes.csv:2", "notes.csv:6", "notes.csv:8"]
    assert [(r.location, r.field) for r in rejections] == [("notes.csv:5", "age")]


def test_identifiers_never_reach_rejections(tmp_path: Path) -> None:
    """Identifying and unmapped columns are redacted in raw and never echoed in messages."""
    secrets = ["PAT-SECRET-77", "VIS-SECRET-88", "DOC-SECRET-99", "1970-04-05", "13009", "Durand"]
    data = tmp_path / "ids.csv"
    data.write_text(
        "pid,vid,doc,born,zip,patient_name,in,out,outcome\n"
        + "".join(
            f"PAT-SECRET-77,VIS-SECRET-88,DOC-SECRET-99,1970-04-05,13009,Jean Durand,{arrival},"
            f"{departure},{outcome}\n"
            for arrival, departure, outcome in [
                ("2024-01-01 10:00", "2024-01-01 09:00", "home"),  # departure before arrival
                ("2024-01-01 10:00", "", "nowhere"),  # bad disposition
                ("garbage", "", "home"),  # bad time
                ("", "", "home"),  # missing arrival
            ]
        )
        + "PAT-SECRET-77,VIS-SECRET-88,DOC-SECRET-99,1970-04-05,13009,Jean Durand,too,many,x,y\n",
        encoding="utf-8",
    )
    mapping = _mapping(
        tmp_path,
        '[columns]\npatient_id = "pid"\nvisit_id = "vid"\ndoctor_id = "doc"\nbirth_date = "born"\n'
        'postcode = "zip"\narrival = "in"\ndeparture = "out"\ndisposition = "outcome"\n',
    )
    visits, rejections = _split(list(read([data], ReadOptions(mapping=mapping))))
    assert visits == [] and len(rejections) == 5
    for rejection in rejections:
        text = f"{rejection.location} {rejection.message} {rejection.raw}"
        assert not [secret for secret in secrets if secret in text], text
        assert "pid=<redacted>" in rejection.raw and "patient_name=<redacted>" in rejection.raw
    assert "outcome=nowhere" in rejections[1].raw  # non-identifying values stay readable


# --- canonical CSV ---------------------------------------------------------------------------


def _canonical_visits() -> list[VisitRecord]:
    fall_back = datetime(2024, 10, 27, 1, 40, tzinfo=ZoneInfo("UTC"))  # 02:40 CET, 2nd time
    return [
        VisitRecord(
            arrival=_paris(2024, 3, 1, 8, 15),
            visit_id="v-1",
            patient_id="p-1",
            first_seen=_paris(2024, 3, 1, 8, 40),
            departure=_paris(2024, 3, 1, 11, 2),
            acuity=3,
            disposition=Disposition.LEFT_WITHOUT_BEING_SEEN,
            diagnosis="J18.9",
            diagnosis_system=ICD10,
            age_years=42,
            sex="F",
            specialty="pulmonology",
        ),
        VisitRecord(
            arrival=fall_back - timedelta(minutes=70),  # 02:30 CEST, the first 02:30
            departure=fall_back,
            visit_id="v-2, with comma",
            diagnosis="486",
            diagnosis_system=ICD9,
            disposition=Disposition.DIED,
        ),
        VisitRecord(arrival=datetime(2024, 7, 14, 23, 59, 59, tzinfo=ZoneInfo("UTC"))),
    ]


def test_canonical_csv_round_trip(tmp_path: Path) -> None:
    """write -> read (no mapping) gives the same visits, DST repeated hour included."""
    records = _canonical_visits()
    out = io.StringIO()
    assert write(records, out, WriteOptions(timezone="Europe/Paris")) == 3
    lines = out.getvalue().splitlines()
    assert lines[0] == ",".join(delimited.CANONICAL_HEADER)
    assert lines[1] == (
        "v-1,p-1,2024-03-01 08:15,2024-03-01 08:40,2024-03-01 11:02,3,"
        "left_without_being_seen,J18.9,icd10,42,F,pulmonology"
    )
    assert "2024-10-27 02:30," in lines[2] and "2024-10-27 02:40+01:00" in lines[2]
    data = tmp_path / "canonical.csv"
    data.write_text(out.getvalue(), encoding="utf-8")
    got, rejections = _split(list(read([data], ReadOptions(timezone="Europe/Paris"))))
    assert rejections == []
    for before, after in zip(records, got, strict=True):
        for name in ("visit_id", "patient_id", "acuity", "disposition", "diagnosis"):
            assert getattr(after, name) == getattr(before, name), name
        for name in ("diagnosis_system", "age_years", "sex", "specialty"):
            assert getattr(after, name) == getattr(before, name), name
        for name in ("arrival", "first_seen", "departure"):
            # Instants, not ==: PEP 495 makes inter-zone == False for an ambiguous local time.
            moment, read_back = getattr(before, name), getattr(after, name)
            expected = None if moment is None else moment.replace(second=0).timestamp()
            assert (None if read_back is None else read_back.timestamp()) == expected, name
    assert got[1].departure.timestamp() - got[1].arrival.timestamp() == 70 * 60


def test_writer_gives_age_from_birth_date_and_registry_finds_it(tmp_path: Path) -> None:
    """A birth date without an age is written as the age at arrival; csv is in the registry."""
    out = io.StringIO()
    record = VisitRecord(arrival=_paris(2024, 3, 1, 8, 0), birth_date=date(2000, 3, 2))
    assert writer("csv")([record], out, WriteOptions()) == 1
    assert out.getvalue().splitlines()[1].split(",")[9] == "23"
    assert reader("csv") is read and reader("hillmaker") is read_hillmaker
    assert DEFAULT_MAPPING.columns["age"] == "age"


# --- hillmaker -------------------------------------------------------------------------------


def test_hillmaker_preset(tmp_path: Path) -> None:
    """InRoomTS/OutRoomTS/PatType stays become visits (US and ISO times), without ids."""
    data = tmp_path / "ShortStay.csv"
    data.write_text(
        "PatID,InRoomTS,OutRoomTS,PatType\n"
        "1,1/1/1996 7:44,1/1/1996 8:50,IV\n"
        "2,1996-01-01 08:28:00,1996-01-01 09:20:00,IV\n"
        "3,12/31/1996 23:10,1/1/1997 0:05,MYE\n"
        "4,1/2/1996 9:00,1/2/1996 8:00,ART\n",
        encoding="utf-8",
    )
    visits, rejections = _split(list(read_hillmaker([data], ReadOptions())))
    assert [(v.arrival, v.departure, v.specialty) for v in visits] == [
        (_paris(1996, 1, 1, 7, 44), _paris(1996, 1, 1, 8, 50), "IV"),
        (_paris(1996, 1, 1, 8, 28), _paris(1996, 1, 1, 9, 20), "IV"),
        (_paris(1996, 12, 31, 23, 10), _paris(1997, 1, 1, 0, 5), "MYE"),
    ]
    assert all(v.visit_id is None and v.patient_id is None for v in visits)
    assert [(r.location, r.reason) for r in rejections] == [
        ("ShortStay.csv:5", "departure_before_arrival")
    ]
    assert "PatID=<redacted>" in rejections[0].raw


def test_hillmaker_columns_from_settings(tmp_path: Path) -> None:
    """settings in_column/out_column/category_column/delimiter name other columns."""
    data = tmp_path / "stays.csv"
    data.write_text("start;end;unit\n2024-02-01 10:00;2024-02-01 12:00;OBS\n", encoding="utf-8")
    settings = {
        "in_column": "start",
        "out_column": "end",
        "category_column": "unit",
        "delimiter": ";",
    }
    (visit,) = read_hillmaker([data], ReadOptions(settings=settings))
    assert (visit.arrival, visit.departure, visit.specialty) == (
        _paris(2024, 2, 1, 10, 0),
        _paris(2024, 2, 1, 12, 0),
        "OBS",
    )
    with pytest.raises(IngestError, match="InRoomTS"):
        list(read_hillmaker([data], ReadOptions()))


def test_daylight_saving_times(tmp_path: Path) -> None:
    """A stay across the repeated hour is kept; a skipped local time is read with fold=0."""
    data = tmp_path / "dst.csv"
    data.write_text(
        "arrival,departure\n"
        "2024-10-27 02:50,2024-10-27 02:10+01:00\n"  # 02:50 CEST -> 02:10 CET: 20 min later
        "2024-03-31 02:30,\n",  # does not exist in Paris: read with the offset before (+01:00)
        encoding="utf-8",
    )
    mapping = _mapping(tmp_path, '[columns]\narrival = "arrival"\ndeparture = "departure"\n')
    visits, rejections = _split(list(read([data], ReadOptions(mapping=mapping))))
    assert rejections == []
    stay = visits[0].departure.timestamp() - visits[0].arrival.timestamp()
    assert stay == 20 * 60
    assert (
        visits[1].arrival.timestamp()
        == datetime(2024, 3, 31, 1, 30, tzinfo=ZoneInfo("UTC")).timestamp()
    )


def test_fast_time_path_keeps_the_format_exact(tmp_path: Path) -> None:
    """Sliced formats accept only their own shape: a 'T' separator or 31 February is bad_time."""
    data = tmp_path / "shape.csv"
    data.write_text(
        "in\n2024-03-01 10:00\n2024-03-01T10:00\n2024-02-31 10:00\n2024-03-01 24:00\n"
        "2024-03-01 10:00\n",
        encoding="utf-8",
    )
    mapping = _mapping(tmp_path, '[time]\nformats = ["%Y-%m-%d %H:%M"]\n' + BASE)
    visits, rejections = _split(list(read([data], ReadOptions(mapping=mapping))))
    assert [v.source for v in visits] == ["shape.csv:2", "shape.csv:6"]
    assert [(r.location, r.reason) for r in rejections] == [
        ("shape.csv:3", "bad_time"),
        ("shape.csv:4", "bad_time"),
        ("shape.csv:5", "bad_time"),
    ]
