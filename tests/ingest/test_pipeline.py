"""The import pipeline on a real SQLite file and on PostgreSQL: pseudonyms, checks,
idempotence, corrections, quarantine, atomicity."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from hospiflow.ingest.pipeline import import_items
from hospiflow.records import ICD9, Disposition, HourlyCount, Rejection, VisitRecord
from hospiflow.store import schema, sites
from hospiflow.store.quality import site_quality

PARIS = ZoneInfo("Europe/Paris")
T0 = datetime(2025, 3, 3, 8, 0, tzinfo=PARIS)


@pytest.fixture
def site(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A site named 'Hôpital Test' with a pseudonym key from the environment."""
    monkeypatch.setenv("HOSPIFLOW_PSEUDONYM_KEY", "a-test-key-of-enough-length")
    with engine.begin() as connection:
        return sites.create_site(connection, "Hôpital Test", "Europe/Paris", capacity_spaces=20)


def visit(n: int, **changes) -> VisitRecord:
    """Visit n: arrives n hours after T0, seen 10 min later, leaves 2 h later."""
    arrival = T0 + timedelta(hours=n)
    fields = dict(
        arrival=arrival,
        source=f"test.csv:{n + 2}",
        visit_id=f"V{n:06d}",
        patient_id=f"IPP{n % 7:05d}",
        first_seen=arrival + timedelta(minutes=10),
        departure=arrival + timedelta(hours=2),
        acuity=3,
        disposition=Disposition.DISCHARGED,
        diagnosis="J18.9",
        birth_date=date(1980, 6, 15),
        sex="F",
        postcode="75013",
    )
    fields.update(changes)
    return VisitRecord(**fields)


def stored(engine: sa.Engine, run_id: int) -> list[dict]:
    v = schema.visits
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(v).where(v.c.run_id == run_id).order_by(v.c.arrival_ms)
        ).all()
    return [dict(r._mapping) for r in rows]


def test_visits_are_stored_pseudonymised_and_minimised(engine, site):
    """Identifiers become keyed pseudonyms, the birth date an age, the postcode a département."""
    summary = import_items(engine, site["id"], [visit(i) for i in range(10)], format="test")
    assert (summary.read, summary.imported, summary.quarantined) == (10, 10, 0)
    rows = stored(engine, summary.run_id)
    assert len(rows) == 10
    first = rows[0]
    assert first["visit_key"] != "V000000" and len(first["visit_key"]) == 32
    assert "IPP" not in first["pseudonym"]
    assert first["age_years"] == 44  # born 1980-06-15, arrived 2025-03-03
    assert first["area"] == "75"
    assert first["wait_min"] == pytest.approx(10.0)
    assert first["los_min"] == pytest.approx(120.0)
    assert first["icd10"] == "J18.9"
    # visits 0 and 7 are the same patient: one pseudonym, and a different one for visit 1
    assert rows[0]["pseudonym"] == rows[7]["pseudonym"] != rows[1]["pseudonym"]
    with engine.connect() as connection:
        run = connection.execute(
            sa.select(schema.runs).where(schema.runs.c.id == summary.run_id)
        ).one()
        hourly = connection.execute(
            sa.select(sa.func.sum(schema.hourly_specialty.c.arrivals)).where(
                schema.hourly_specialty.c.run_id == summary.run_id
            )
        ).scalar_one()
    assert run.kind == "import" and run.status == "complete" and run.visits_count == 10
    assert hourly == 10


def test_the_same_key_gives_the_same_pseudonym_and_another_key_does_not(engine, site, monkeypatch):
    """Pseudonyms are keyed: re-importing with another key would not recognise the visits."""
    import_items(engine, site["id"], [visit(0)], format="test")
    monkeypatch.setenv("HOSPIFLOW_PSEUDONYM_KEY", "another-key-entirely-different")
    summary = import_items(engine, site["id"], [visit(0)], format="test")
    assert summary.imported == 1  # a new key, a new pseudonym: not recognised


def test_reimport_adds_nothing_and_a_later_extract_adds_only_what_is_new(engine, site):
    """Idempotence: the same file twice adds nothing; an overlapping extract adds the new days."""
    first = import_items(engine, site["id"], [visit(i) for i in range(50)], format="test")
    again = import_items(engine, site["id"], [visit(i) for i in range(50)], format="test")
    assert (again.imported, again.duplicates, again.updated) == (0, 50, 0)
    later = import_items(engine, site["id"], [visit(i) for i in range(30, 80)], format="test")
    assert (later.imported, later.duplicates) == (30, 20)
    assert len(stored(engine, first.run_id)) == 80


def test_a_corrected_visit_is_updated_not_doubled(engine, site):
    """A later extract that changes a visit's departure corrects the stored visit."""
    summary = import_items(engine, site["id"], [visit(i) for i in range(5)], format="test")
    fixed = visit(2, departure=T0 + timedelta(hours=2 + 5), disposition=Disposition.ADMITTED)
    again = import_items(engine, site["id"], [visit(0), fixed], format="test")
    assert (again.imported, again.updated, again.duplicates) == (0, 1, 1)
    rows = stored(engine, summary.run_id)
    assert len(rows) == 5
    assert rows[2]["los_min"] == pytest.approx(300.0)
    assert rows[2]["disposition"] == Disposition.ADMITTED


def test_visits_without_ids_are_recognised_by_content(engine, site):
    """No visit id: a content key (patient, arrival) still makes re-imports idempotent."""
    records = [visit(i, visit_id=None) for i in range(10)]
    import_items(engine, site["id"], records, format="test")
    again = import_items(engine, site["id"], records, format="test")
    assert (again.imported, again.duplicates) == (0, 10)


def test_bad_visits_are_quarantined_with_where_and_why(engine, site):
    """Future dates, departures before arrival and stays over 72 h are set aside, the rest kept."""
    records = [
        visit(0),
        visit(1, departure=T0),  # leaves before it arrives (arrived T0 + 1 h)
        visit(2, departure=T0 + timedelta(hours=2 + 80)),
        visit(3, arrival=datetime.now(PARIS) + timedelta(days=30), first_seen=None, departure=None),
        visit(4, first_seen=T0),  # seen before arrival
        Rejection("test.csv:99", "bad_time", "ENTREE is not a date", "ENTREE", "ENTREE=xx"),
        visit(5),
    ]
    summary = import_items(engine, site["id"], records, format="test")
    assert summary.imported == 2
    assert summary.quarantined == 5
    assert summary.by_reason == {
        "departure_before_arrival": 1,
        "implausible_stay": 1,
        "future_date": 1,
        "seen_outside_stay": 1,
        "bad_time": 1,
    }
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(schema.quarantine).order_by(schema.quarantine.c.id)
        ).all()
        report = site_quality(connection, site["id"])
    locations = {r.location for r in rows}
    assert locations == {"test.csv:3", "test.csv:4", "test.csv:5", "test.csv:6", "test.csv:99"}
    assert all("IPP" not in r.raw and "V0000" not in r.raw for r in rows)
    assert report["quarantined"] == 5
    # the four visits refused by the checks are counted on their arrival's local day
    days = Counter()
    for row in report["quarantine_by_day"]:
        days[row["day_local_ms"]] += row["count"]
    t0_day = int(datetime(2025, 3, 3, tzinfo=UTC).timestamp() * 1000)
    assert days[t0_day] == 3  # visits 1, 2 and 4 arrived on 3 March
    assert sum(days.values()) == 4  # the reader's bad_time row has no readable day
    assert {r["reason"] for r in report["quarantine_by_reason"]} == set(summary.by_reason)


def test_future_dates_pass_when_allowed(engine, site):
    """MIMIC-IV shifts dates into 2110-2210: --allow-future-dates takes them."""
    far = datetime(2150, 1, 1, 12, tzinfo=PARIS)
    summary = import_items(
        engine,
        site["id"],
        [visit(0, arrival=far, first_seen=None, departure=None)],
        format="t",
        allow_future=True,
    )
    assert summary.imported == 1


def test_diagnoses_map_to_the_catalog_and_unmapped_codes_are_counted(engine, site):
    """J18.9 is pneumonia; N40 falls back to its chapter; ICD-9 486 is never read as ICD-10."""
    records = [
        visit(0, diagnosis="J189"),
        visit(1, diagnosis="N40"),
        visit(2, diagnosis="486", diagnosis_system=ICD9),
        visit(3, diagnosis="ZZZ"),
        visit(4, diagnosis=None),
    ]
    summary = import_items(engine, site["id"], records, format="test")
    rows = stored(engine, summary.run_id)
    with engine.connect() as connection:
        codes = dict(
            connection.execute(
                sa.select(schema.specialties.c.idx, schema.specialties.c.code).where(
                    schema.specialties.c.run_id == summary.run_id
                )
            ).all()
        )
        pathologies = dict(
            connection.execute(
                sa.select(schema.pathologies.c.idx, schema.pathologies.c.code).where(
                    schema.pathologies.c.run_id == summary.run_id
                )
            ).all()
        )
        report = site_quality(connection, site["id"])
    assert pathologies[rows[0]["pathology_idx"]] == "pneumonia"
    assert (
        rows[1]["pathology_idx"] is None and codes[rows[1]["specialty_idx"]] == "general_medicine"
    )
    assert codes[rows[2]["specialty_idx"]] == "unknown" and rows[2]["diagnosis_system"] == ICD9
    assert codes[rows[3]["specialty_idx"]] == "unknown"
    assert summary.unmapped_codes == {"ICD-9 486": 1, "ZZZ": 1}
    assert {u["code"] for u in report["unmapped_codes"]} == {"486", "ZZZ"}


def test_a_named_specialty_joins_the_run_catalog(engine, site):
    """A category the catalog lacks (hillmaker's PatType) becomes a specialty of the run."""
    summary = import_items(
        engine, site["id"], [visit(0, specialty="ART", diagnosis=None)], format="hillmaker"
    )
    with engine.connect() as connection:
        codes = (
            connection.execute(
                sa.select(schema.specialties.c.code).where(
                    schema.specialties.c.run_id == summary.run_id
                )
            )
            .scalars()
            .all()
        )
    assert "ART" in codes


def test_an_import_that_fails_midway_leaves_the_site_as_it_was(engine, site):
    """Atomic: a reader that dies after 7,000 records leaves no visit of that import."""
    import_items(engine, site["id"], [visit(i) for i in range(3)], format="test")

    def dying() -> Iterator[VisitRecord]:
        for i in range(100, 7_100):
            yield visit(i)
        raise OSError("disk went away")

    with pytest.raises(OSError):
        import_items(engine, site["id"], dying(), format="test")
    with engine.connect() as connection:
        n = connection.execute(sa.select(sa.func.count()).select_from(schema.visits)).scalar_one()
        batches = (
            connection.execute(
                sa.select(schema.import_batches.c.status).order_by(schema.import_batches.c.id)
            )
            .scalars()
            .all()
        )
    assert n == 3
    assert batches == ["complete", "failed"]


def test_hourly_counts_make_a_forecast_only_site(engine, site):
    """Counts land in hourly_counts and the hourly rollup; a corrected hour replaces the old."""
    hours = [HourlyCount(T0 + timedelta(hours=h), 5 + h % 3) for h in range(48)]
    summary = import_items(engine, site["id"], hours, format="counts")
    again = import_items(engine, site["id"], [HourlyCount(T0, 9)], format="counts")
    assert summary.hours == 48 and again.hours == 1
    with engine.connect() as connection:
        total = connection.execute(
            sa.select(sa.func.sum(schema.hourly_specialty.c.arrivals)).where(
                schema.hourly_specialty.c.run_id == summary.run_id
            )
        ).scalar_one()
    assert total == sum(5 + h % 3 for h in range(48)) - 5 + 9


def test_an_import_is_audited(engine, site):
    """Every import leaves an audit entry: who, what, how many rows."""
    import_items(engine, site["id"], [visit(i) for i in range(4)], format="test", actor="alice")
    with engine.connect() as connection:
        entries = sites.audit_entries(connection)
    assert entries[0]["action"] == "import" and entries[0]["actor"] == "alice"
    assert entries[0]["rows"] == 4


def test_wall_clock_times_across_a_spring_dst_gap_are_stored_as_real_instants(engine, site):
    """02:30 on the spring-forward night does not exist in Paris: it is stored as 03:30 +02."""
    gap = datetime(2025, 3, 30, 2, 30, tzinfo=PARIS)  # fold=0: read with the winter offset
    after = datetime(2025, 3, 30, 3, 45, tzinfo=PARIS)
    records = [
        visit(0, arrival=gap, first_seen=None, departure=None, visit_id="gap"),
        visit(0, arrival=after, first_seen=None, departure=None, visit_id="after"),
    ]
    summary = import_items(engine, site["id"], records, format="test")
    rows = stored(engine, summary.run_id)
    assert summary.imported == 2
    assert [r["arrival_local_ms"] - r["arrival_ms"] for r in rows] == [7_200_000, 7_200_000]
    with engine.connect() as connection:
        hours = (
            connection.execute(
                sa.select(schema.hourly_specialty.c.hour_ms).where(
                    schema.hourly_specialty.c.run_id == summary.run_id
                )
            )
            .scalars()
            .all()
        )
    assert len(hours) == 1  # both arrived in the hour 01:00-02:00 UTC


@pytest.mark.parametrize("kept", [1_000_000, 4])  # all rows kept to the end; flushed early
def test_a_first_import_counts_repeats_and_totals_as_the_store_would(
    engine, site, monkeypatch, kept
):
    """A run's first import keeps its rows in memory: a key repeated in a later chunk is a
    duplicate or a correction, as on a re-import, and the totals it counts itself are
    what the store's own query gives (and the visits indexes are all there after)."""
    from hospiflow.ingest import pipeline
    from hospiflow.store.quality import run_totals

    monkeypatch.setattr(pipeline, "CHUNK", 3)
    monkeypatch.setattr(pipeline, "PENDING_MAX", kept)
    records = [
        visit(0),
        visit(1, diagnosis="ZZZ", first_seen=None),
        visit(2, diagnosis=None, acuity=None, birth_date=None),
        visit(3, departure=None, first_seen=None),
        visit(0),  # a later chunk: identical -> duplicate
        visit(1, diagnosis="N40"),  # a later chunk: changed -> correction
        visit(6, diagnosis="486", diagnosis_system=ICD9, disposition=None),
    ]
    summary = import_items(engine, site["id"], records, format="test")
    assert (summary.imported, summary.duplicates, summary.updated) == (5, 1, 1)
    rows = stored(engine, summary.run_id)
    assert [r["patient_no"] for r in rows] == [1, 2, 3, 4, 5]
    assert rows[1]["icd10"] == "N40" and rows[1]["wait_min"] == pytest.approx(10.0)
    with engine.connect() as connection:
        assert summary.site_totals == run_totals(connection, summary.run_id)
        run = connection.execute(
            sa.select(schema.runs).where(schema.runs.c.id == summary.run_id)
        ).one()
        names = {i["name"] for i in sa.inspect(connection).get_indexes("visits")}
    assert summary.site_totals["visits"] == 5
    assert summary.site_totals["completeness"]["diagnosis"] == 0.8
    assert [u["code"] for u in summary.site_totals["unmapped_codes"]] == ["486"]
    assert run.visits_count == 5 and run.start_utc_ms == rows[0]["arrival_ms"]
    assert run.end_utc_ms == rows[-1]["departure_ms"]
    assert {i.name for i in schema.visits.indexes} <= names
    again = import_items(engine, site["id"], records[:4], format="test")
    with engine.connect() as connection:
        assert again.site_totals == run_totals(connection, summary.run_id)
    assert (again.imported, again.duplicates, again.updated) == (0, 3, 1)


def test_a_first_import_rollups_are_what_sql_derives_from_its_visits(engine, site):
    """``rollups.from_rows`` (a first import, from the rows in hand) gives the very rows
    ``rollups.from_visits`` derives with SQL: hours across the autumn DST change, days,
    months, left-unseen counts, visits without wait, departure or pathology."""
    from hospiflow.store import rollups

    autumn = datetime(2024, 10, 27, 0, 30, tzinfo=UTC)  # 02:30 CEST, then 02:30 CET an hour on
    records = [
        visit(
            k,
            arrival=autumn + timedelta(minutes=37 * k),
            first_seen=None if k % 4 == 0 else autumn + timedelta(minutes=37 * k + k % 9),
            departure=None if k % 5 == 0 else autumn + timedelta(minutes=37 * k + 60 + k),
            disposition=Disposition.LEFT_WITHOUT_BEING_SEEN if k % 6 == 0 else None,
            diagnosis=("J18.9", "N40", "S52.5", None, "ZZZ")[k % 5],
        )
        for k in range(3000)  # two and a bit months, a month boundary
    ]
    summary = import_items(engine, site["id"], records, format="test", allow_future=True)
    tables = (schema.hourly_specialty, schema.daily_pathology, schema.monthly_specialty)

    def read(connection) -> list[list[tuple]]:
        return [
            sorted(
                tuple(r)
                for r in connection.execute(sa.select(t).where(t.c.run_id == summary.run_id)).all()
            )
            for t in tables
        ]

    with engine.begin() as connection:
        from_rows = read(connection)
        rollups.from_visits(connection, summary.run_id)
        from_sql = read(connection)
        connection.rollback()
    assert [len(t) for t in from_rows] == [len(t) for t in from_sql]
    assert [len(t) > n for t, n in zip(from_rows, (1000, 100, 5), strict=True)] == [True] * 3
    for mine, theirs in zip(from_rows, from_sql, strict=True):
        for a, b in zip(mine, theirs, strict=True):
            assert a == pytest.approx(b), (a, b)
