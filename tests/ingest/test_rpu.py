"""RPU extract reader and writer, on generated extracts (never real patient data)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from hospiflow.ingest import rpu
from hospiflow.ingest.formats import IngestError, ReadOptions, WriteOptions, reader, writer
from hospiflow.records import ICD10, Disposition, Rejection, VisitRecord

PARIS = ZoneInfo("Europe/Paris")
OPTIONS = ReadOptions(timezone="Europe/Paris")
# Distinctive generated identifying values, to prove they never leak into rejections.
BIRTH, POSTCODE, TOWN = "17/04/1937", "13579", "Zyxwbourg"
IPP, PASSAGE, MOTIF, NAME = "IPP9137731", "PASS4242917", "douleur Quentinesque", "Mlle Xyloph"

HEADER = (
    "FINESS;CP;COMMUNE;NAISSANCE;SEXE;ENTREE;MODE_ENTREE;PROVENANCE;TRANSPORT;TRANSPORT_PEC;"
    "MOTIF;GRAVITE;DP;DA;ACTE;MODE_SORTIE;DESTINATION;ORIENTATION;SORTIE"
)


def row(**values: str) -> str:
    """One extract line in HEADER's order, with sensible defaults."""
    cells = {
        "FINESS": "750000000",
        "CP": "75012",
        "COMMUNE": "PARIS",
        "NAISSANCE": "02/03/1980",
        "SEXE": "F",
        "ENTREE": "15/01/2024 10:05",
        "MODE_ENTREE": "8",
        "PROVENANCE": "5",
        "TRANSPORT": "PERSO",
        "TRANSPORT_PEC": "AUCUN",
        "MOTIF": "GASTRO04",
        "GRAVITE": "2",
        "DP": "J189",
        "DA": "",
        "ACTE": "",
        "MODE_SORTIE": "8",
        "DESTINATION": "",
        "ORIENTATION": "",
        "SORTIE": "15/01/2024 12:40",
    }
    cells.update(values)
    return ";".join(cells[name] for name in HEADER.split(";"))


def extract(path: Path, lines: list[str], header: str = HEADER, encoding: str = "utf-8") -> Path:
    """Write a generated extract: the header then the lines."""
    path.write_bytes(("\n".join([header, *lines]) + "\n").encode(encoding))
    return path


def items(
    *paths: Path, options: ReadOptions = OPTIONS
) -> tuple[list[VisitRecord], list[Rejection]]:
    """Read with the registry's reader; split visits and rejections."""
    got = list(reader("rpu")(list(paths), options))
    visits = [item for item in got if isinstance(item, VisitRecord)]
    rejections = [item for item in got if isinstance(item, Rejection)]
    assert len(visits) + len(rejections) == len(got)
    return visits, rejections


def utc(*parts: int) -> datetime:
    """A Paris wall-clock time as the UTC instant the reader gives."""
    return datetime(*parts, tzinfo=PARIS).astimezone(UTC)


def test_a_good_extract_gives_every_field(tmp_path):
    """Times become UTC instants, codes are mapped, identity and first-seen come from their
    columns."""
    header = HEADER + ";IPP;ID_PASSAGE;DATE_PEC"
    line = row(SEXE="I", DP="S525") + ";P-1;V-1;15/01/2024 10:30"
    visits, rejections = items(extract(tmp_path / "rpu.csv", [line], header))
    assert rejections == []
    (visit,) = visits
    assert visit.arrival == utc(2024, 1, 15, 10, 5) == datetime(2024, 1, 15, 9, 5, tzinfo=UTC)
    assert visit.departure == utc(2024, 1, 15, 12, 40)
    assert visit.first_seen == utc(2024, 1, 15, 10, 30)
    assert visit.arrival.tzinfo is not None
    assert (visit.acuity, visit.disposition) == (2, Disposition.DISCHARGED)
    assert (visit.diagnosis, visit.diagnosis_system) == ("S52.5", ICD10)
    assert (visit.sex, visit.postcode, visit.birth_date) == ("U", "75012", date(1980, 3, 2))
    assert (visit.visit_id, visit.patient_id) == ("V-1", "P-1")
    assert visit.source == "rpu.csv:2"


@pytest.mark.parametrize(
    ("values", "acuity", "disposition"),
    [
        ({"MODE_SORTIE": "6", "ORIENTATION": "MED"}, 2, Disposition.ADMITTED),
        ({"MODE_SORTIE": "7"}, 2, Disposition.TRANSFERRED),
        ({"MODE_SORTIE": "8"}, 2, Disposition.DISCHARGED),
        ({"MODE_SORTIE": "9", "GRAVITE": "5"}, 5, Disposition.DIED),
        ({"MODE_SORTIE": "8", "ORIENTATION": "PSA"}, 2, Disposition.LEFT_WITHOUT_BEING_SEEN),
        ({"MODE_SORTIE": "8", "ORIENTATION": "fugue"}, 2, Disposition.LEFT_WITHOUT_BEING_SEEN),
        ({"MODE_SORTIE": "8", "ORIENTATION": "SCAM"}, 2, Disposition.DISCHARGED),
        ({"MODE_SORTIE": "", "GRAVITE": "D"}, None, Disposition.DIED),
        ({"MODE_SORTIE": "6", "GRAVITE": "P", "ORIENTATION": "HO"}, None, Disposition.ADMITTED),
        ({"MODE_SORTIE": "", "GRAVITE": ""}, None, None),
        ({"MODE_SORTIE": " 7 ", "GRAVITE": " 4"}, 4, Disposition.TRANSFERRED),
    ],
)
def test_gravite_mode_sortie_and_orientation_give_acuity_and_disposition(
    tmp_path, values, acuity, disposition
):
    """CCMU levels, P, D, the four MODE_SORTIE codes and PSA/FUGUE/SCAM map as documented."""
    visits, rejections = items(extract(tmp_path / "rpu.csv", [row(**values)]))
    assert rejections == []
    assert (visits[0].acuity, visits[0].disposition) == (acuity, disposition)


@pytest.mark.parametrize(
    ("written", "dotted"),
    [
        ("J189", "J18.9"),
        ("J18.9", "J18.9"),
        ("j18.9 ", "J18.9"),
        ("S525", "S52.5"),
        ("I10", "I10"),
        ("R05", "R05"),
        ("R0600", "R06.00"),
        ("I10+0", "I10.0"),
        ("G01*", "G01"),
        ("A17.0\u2020", "A17.0"),
        ("S52-5", "S52.5"),
        ("S52521A", "S52.521A"),
    ],
)
def test_diagnosis_codes_are_dotted_after_the_category(written, dotted):
    """CIM-10 codes with or without a dot, marks and French extensions come out dotted."""
    assert rpu.dotted_icd10(written) == dotted


@pytest.mark.parametrize("written", ["douleur", "123", "J1", "JJ18", ""])
def test_what_is_not_a_cim10_code_is_refused(written):
    """Free text, numbers and truncated codes are not diagnoses."""
    assert rpu.dotted_icd10(written) is None


def test_every_bad_row_kind_is_rejected_where_and_why_and_good_rows_survive(tmp_path):
    """Each bad row gives one Rejection with its line, RPU column and reason; the good rows
    around it are all read."""
    lines = [
        row(),  # 2
        row(ENTREE=""),  # 3
        row(ENTREE="15/13/2024 10:05"),  # 4
        row(ENTREE="15/01/2024"),  # 5
        row(SORTIE="demain"),  # 6
        row(SORTIE="15/01/2024 09:00"),  # 7
        row(GRAVITE="7"),  # 8
        row(MODE_SORTIE="5"),  # 9
        row(DP="douleur thoracique"),  # 10
        row(NAISSANCE="31/02/1980"),  # 11
        "750000000;75012;PARIS",  # 12: too few fields
        row() + ";surplus",  # 13: one field too many
        "",  # 14: blank, skipped
        row(ENTREE="15/01/2024 10:61"),  # 15
        row(ENTREE="16/01/2024 08:00", SORTIE=""),  # 16
    ]
    visits, rejections = items(extract(tmp_path / "bad.csv", lines))
    assert [visit.source for visit in visits] == ["bad.csv:2", "bad.csv:16"]
    found = [(r.location, r.field, r.reason) for r in rejections]
    assert found == [
        ("bad.csv:3", "ENTREE", "missing_field"),
        ("bad.csv:4", "ENTREE", "bad_time"),
        ("bad.csv:5", "ENTREE", "bad_time"),
        ("bad.csv:6", "SORTIE", "bad_time"),
        ("bad.csv:7", "SORTIE", "departure_before_arrival"),
        ("bad.csv:8", "GRAVITE", "bad_value"),
        ("bad.csv:9", "MODE_SORTIE", "bad_value"),
        ("bad.csv:10", "DP", "bad_value"),
        ("bad.csv:11", "NAISSANCE", "bad_time"),
        ("bad.csv:12", None, "bad_row"),
        ("bad.csv:13", None, "bad_row"),
        ("bad.csv:15", "ENTREE", "bad_time"),
    ]
    assert all(r.message for r in rejections)


def test_a_bad_first_seen_is_rejected_under_its_column(tmp_path):
    """An unreadable DATE_PEC rejects the row with field DATE_PEC and reason bad_time."""
    header = HEADER + ";DATE_PEC"
    _visits, rejections = items(extract(tmp_path / "rpu.csv", [row() + ";10h30"], header))
    assert [(r.field, r.reason) for r in rejections] == [("DATE_PEC", "bad_time")]


def test_identifying_values_never_appear_in_rejections(tmp_path):
    """Birth date, postcode, town, IPP, visit id, free-text MOTIF and unknown columns are
    redacted from raw, and no message repeats them."""
    header = HEADER + ";IPP;NUM_PASSAGE;NOM"
    identifying = {
        "NAISSANCE": BIRTH,
        "CP": POSTCODE,
        "COMMUNE": TOWN,
        "MOTIF": MOTIF,
    }
    tail = f";{IPP};{PASSAGE};{NAME}"
    lines = [
        row(**identifying, ENTREE="") + tail,
        row(**identifying, GRAVITE="9") + tail,
        row(**identifying, DP="XX") + tail,
        row(**{**identifying, "NAISSANCE": "99/99/1937"}) + tail,
        row(**identifying, SORTIE="15/01/2024 09:00") + tail,
        ";".join([POSTCODE, TOWN, BIRTH, IPP, PASSAGE, NAME]),
    ]
    _visits, rejections = items(extract(tmp_path / "rpu.csv", lines, header))
    assert len(rejections) == len(lines)
    secrets = [BIRTH, "1937", POSTCODE, TOWN, IPP, PASSAGE, MOTIF, NAME]
    for rejection in rejections:
        text = f"{rejection.raw} {rejection.message} {rejection.field} {rejection.location}"
        for secret in secrets:
            assert secret not in text, (secret, rejection)
        assert "<redacted>" in rejection.raw
    assert "GRAVITE=9" in rejections[1].raw  # coded columns stay readable


def test_columns_in_any_order_and_case_with_extras_and_missing_optionals(tmp_path):
    """Shuffled, lower-case, accented and extra columns are matched; absent optional columns
    read as empty."""
    header = "Sortie;Mode Sortie;Entrée;gravite;dp;Extra;orient"
    line = "15/01/2024 12:00;6;15/01/2024 10:00;3;I10;whatever;UHCD"
    visits, rejections = items(extract(tmp_path / "rpu.csv", [line], header))
    assert rejections == []
    (visit,) = visits
    assert visit.arrival == utc(2024, 1, 15, 10, 0)
    assert visit.departure == utc(2024, 1, 15, 12, 0)
    assert (visit.acuity, visit.disposition, visit.diagnosis) == (3, Disposition.ADMITTED, "I10")
    assert (visit.sex, visit.postcode, visit.birth_date, visit.visit_id) == (None,) * 4


def test_only_entree_is_required(tmp_path):
    """A one-column extract is read; an extract without ENTREE is an IngestError."""
    visits, rejections = items(extract(tmp_path / "min.csv", ["15/01/2024 10:00"], "ENTREE"))
    assert (len(visits), rejections) == (1, [])
    with pytest.raises(IngestError, match="ENTREE"):
        items(extract(tmp_path / "none.csv", ["15/01/2024 10:00"], "SORTIE"))


def test_id_columns_named_by_settings(tmp_path):
    """visit_id_column / patient_id_column pick the columns; a named column not in the header
    is an IngestError."""
    path = extract(tmp_path / "rpu.csv", [row() + ";N-7;X-9"], HEADER + ";NDA;DOSSIER")
    settings = {"visit_id_column": "nda", "patient_id_column": "DOSSIER"}
    visits, _ = items(path, options=ReadOptions(timezone="Europe/Paris", settings=settings))
    assert (visits[0].visit_id, visits[0].patient_id) == ("N-7", "X-9")
    wrong = ReadOptions(timezone="Europe/Paris", settings={"visit_id_column": "NUM_SEJOUR"})
    with pytest.raises(IngestError, match="visit_id_column"):
        items(path, options=wrong)


def test_cp1252_utf8_bom_tab_and_trailing_separators(tmp_path):
    """A CP1252 extract, a UTF-8 one with a BOM, a tab-separated one and one with ';' ending
    every line all read the same visit."""
    town = "Saint-Étienne l’Œuf"  # ’ and Œ exist in CP1252 but not in Latin-1
    lines = [row(COMMUNE=town)]
    cp1252 = extract(tmp_path / "cp1252.csv", lines, encoding="cp1252")
    bom = tmp_path / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + (HEADER + "\n" + lines[0] + "\n").encode())
    tabbed = extract(tmp_path / "tab.csv", [lines[0].replace(";", "\t")], HEADER.replace(";", "\t"))
    trailing = extract(tmp_path / "trailing.csv", [lines[0] + ";"], HEADER + ";")
    assert rpu.detect_encoding(cp1252) == "cp1252"
    assert rpu.detect_encoding(bom) == "utf-8-sig"
    for path in (cp1252, bom, tabbed, trailing):
        visits, rejections = items(path)
        assert rejections == [], path
        assert [(v.arrival, v.diagnosis) for v in visits] == [(utc(2024, 1, 15, 10, 5), "J18.9")]
    # a bad row of a CP1252 file keeps its (redacted) accents out of sight, its codes readable
    bad = extract(tmp_path / "bad1252.csv", [row(COMMUNE=town, GRAVITE="Z")], encoding="cp1252")
    _visits, rejections = items(bad)
    assert "GRAVITE=Z" in rejections[0].raw and "Étienne" not in rejections[0].raw


def test_files_that_cannot_be_read_are_ingest_errors(tmp_path):
    """A missing file, an empty one, an undecodable one and an unknown zone raise
    IngestError."""
    with pytest.raises(IngestError, match="no such file"):
        items(tmp_path / "absent.csv")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(IngestError, match="empty"):
        items(empty)
    undecodable = tmp_path / "binary.csv"
    undecodable.write_bytes((HEADER + "\n").encode() + b"\x81\x8d\x8f\x90\x9d;;\n")
    with pytest.raises(IngestError, match="UTF-8"):
        items(undecodable)
    with pytest.raises(IngestError, match="time zone"):
        items(extract(tmp_path / "rpu.csv", [row()]), options=ReadOptions(timezone="Mars/Olympus"))


def test_daylight_saving_changes_follow_fold_zero(tmp_path):
    """A time in the repeated autumn hour is its first occurrence (a SORTIE its second when the
    first is before ENTREE); one in the spring gap is shifted an hour forward; the hours
    around them are exact."""
    lines = [
        row(ENTREE="27/10/2024 02:30", SORTIE="27/10/2024 03:10"),  # ambiguous: CEST
        row(ENTREE="27/10/2024 01:59", SORTIE=""),
        row(ENTREE="31/03/2024 02:30", SORTIE="31/03/2024 03:45"),  # nonexistent
        row(ENTREE="31/03/2024 01:59", SORTIE="31/03/2024 03:00"),
        row(ENTREE="27/10/2024 02:50", SORTIE="27/10/2024 02:10"),  # left in the second 02h
    ]
    visits, rejections = items(extract(tmp_path / "dst.csv", lines))
    assert rejections == []
    assert visits[0].arrival == datetime(2024, 10, 27, 0, 30, tzinfo=UTC)  # 02:30 +02:00
    assert visits[0].departure == datetime(2024, 10, 27, 2, 10, tzinfo=UTC)  # 03:10 +01:00
    assert visits[1].arrival == datetime(2024, 10, 26, 23, 59, tzinfo=UTC)
    assert visits[2].arrival == datetime(2024, 3, 31, 1, 30, tzinfo=UTC)  # = 03:30 +02:00
    assert visits[2].departure == datetime(2024, 3, 31, 1, 45, tzinfo=UTC)
    assert visits[3].arrival == datetime(2024, 3, 31, 0, 59, tzinfo=UTC)
    assert visits[3].departure == datetime(2024, 3, 31, 1, 0, tzinfo=UTC)
    assert visits[4].arrival == datetime(2024, 10, 27, 0, 50, tzinfo=UTC)  # 02:50 +02:00
    assert visits[4].departure == datetime(2024, 10, 27, 1, 10, tzinfo=UTC)  # 02:10 +01:00


def test_the_hour_cache_gives_the_same_instants_as_zoneinfo():
    """Cached-hour parsing agrees with zoneinfo for every quarter hour of a year with two DST
    changes, in seconds and ISO forms too."""
    zone = ZoneInfo("America/New_York")
    clock = rpu.LocalClock(zone)
    moment = datetime(2023, 1, 1)
    while moment.year == 2023:
        expected = moment.replace(tzinfo=zone).astimezone(UTC)
        stamp = moment.strftime("%d/%m/%Y %H:%M")
        assert clock(stamp) == expected, stamp
        assert clock(stamp + ":00") == expected, stamp
        assert clock(moment.strftime("%Y-%m-%d %H:%M")) == expected, stamp
        moment += timedelta(minutes=15)
    assert clock("1/2/2023 9:05") == datetime(2023, 2, 1, 9, 5, tzinfo=zone).astimezone(UTC)
    assert clock("01/02/2023 09:05:17") == datetime(2023, 2, 1, 14, 5, 17, tzinfo=UTC)


def store_like_visits(n: int = 60) -> list[VisitRecord]:
    """Visits as the store gives them: pseudonyms, ages, every disposition, waits."""
    start = datetime(2024, 2, 1, 7, 0, 31, tzinfo=UTC)
    codes = ["J18.9", "S52.5", "I10", "R06.00", None]
    dispositions = [*Disposition, None]
    visits = []
    for number in range(n):
        arrival = start + timedelta(minutes=131 * number, seconds=number)
        visits.append(
            VisitRecord(
                arrival=arrival,
                visit_id=f"vk-{number:05x}",
                patient_id=f"pk-{number % 13:04d}",
                first_seen=arrival + timedelta(minutes=7.5) if number % 4 else None,
                departure=arrival + timedelta(minutes=45 + number) if number % 7 else None,
                acuity=(number % 6) or None,
                disposition=dispositions[number % len(dispositions)],
                diagnosis=codes[number % len(codes)],
                age_years=number % 97,
                sex="FMU"[number % 3],
                postcode="69" if number % 2 else None,
            )
        )
    return visits


def minute(moment: datetime | None) -> datetime | None:
    """The instant truncated to the minute (what the extract holds)."""
    return moment.replace(second=0, microsecond=0) if moment is not None else None


def test_write_then_read_gives_back_the_same_visits(tmp_path):
    """Times to the minute, diagnosis, all five dispositions, acuity, age, sex, identity and
    waits survive a round trip; FINESS and CP are written as documented."""
    original = store_like_visits()
    path = tmp_path / "export.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        written = writer("rpu")(original, out, WriteOptions(site_code="690000001"))
    assert written == len(original)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0].split(";")[:3] == ["FINESS", "CP", "COMMUNE"]
    assert lines[2].startswith("690000001;69000;;")
    back, rejections = items(path)
    assert rejections == []
    assert len(back) == len(original)
    assert {v.disposition for v in back} == {*Disposition, None}
    for old, new in zip(original, back, strict=True):
        assert new.arrival == minute(old.arrival)
        assert new.departure == minute(old.departure)
        assert new.first_seen == minute(old.first_seen)
        assert (new.diagnosis, new.disposition, new.acuity) == (
            old.diagnosis,
            old.disposition,
            old.acuity,
        )
        assert (new.visit_id, new.patient_id, new.sex) == (old.visit_id, old.patient_id, old.sex)
        assert new.birth_date is not None
        assert new.arrival.astimezone(PARIS).year - new.birth_date.year == old.age_years


def test_the_writer_uses_local_times_and_rpu_codes():
    """ENTREE is Paris wall-clock time, left-without-being-seen is MODE_SORTIE 8 with PSA, an
    ICD-9 code is not written as CIM-10, sex U is I."""
    arrival = datetime(2024, 7, 1, 22, 15, 59, tzinfo=UTC)
    visits = [
        VisitRecord(arrival, disposition=Disposition.LEFT_WITHOUT_BEING_SEEN, sex="U"),
        VisitRecord(arrival, diagnosis="4019", diagnosis_system="icd9", age_years=40),
    ]
    out = io.StringIO()
    assert rpu.write(visits, out, WriteOptions()) == 2
    header, first, second = (line.split(";") for line in out.getvalue().splitlines())
    first_row = dict(zip(header, first, strict=True))
    second_row = dict(zip(header, second, strict=True))
    assert first_row["ENTREE"] == "02/07/2024 00:15"
    assert first_row["FINESS"] == "000000000"
    assert (first_row["MODE_SORTIE"], first_row["ORIENTATION"], first_row["SEXE"]) == (
        "8",
        "PSA",
        "I",
    )
    assert (second_row["DP"], second_row["NAISSANCE"]) == ("", "01/01/1984")
