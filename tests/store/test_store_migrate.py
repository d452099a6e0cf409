"""Alembic migrations: init creates the schema that ``schema.py`` describes."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from hospiflow.errors import StoreError
from hospiflow.store import migrate, schema
from hospiflow.store.engine import create_engine_for


def test_init_creates_exactly_the_declared_schema(url):
    """After init the database matches schema.py (no autogenerate diff) at the head revision."""
    engine = create_engine_for(url)
    try:
        with engine.connect() as connection:
            assert migrate.current_revision(connection) == migrate.head_revision()
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, schema.metadata) == []
    finally:
        engine.dispose()


def test_upgrade_and_init_are_idempotent(url):
    """Running upgrade or init again on a current database changes nothing."""
    assert migrate.upgrade(url) == migrate.head_revision()
    assert migrate.init(url) == migrate.head_revision()


def test_init_refuses_a_database_with_unknown_tables(empty_url):
    """init will not create its tables next to someone else's unversioned ones."""
    engine = create_engine_for(empty_url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("CREATE TABLE stranger (x INTEGER)")
        with pytest.raises(StoreError, match="no hospiflow schema revision"):
            migrate.init(engine)
    finally:
        engine.dispose()


def test_outdated_database_is_refused_until_upgraded(empty_url):
    """A database at no revision is refused by ensure_current, then accepted after upgrade."""
    engine = create_engine_for(empty_url)
    try:
        with engine.connect() as connection, pytest.raises(StoreError, match="db init"):
            migrate.ensure_current(connection)
        migrate.upgrade(engine)
        with engine.connect() as connection:
            migrate.ensure_current(connection)
            assert "visits" in sa.inspect(connection).get_table_names()
    finally:
        engine.dispose()


def _old_run(connection) -> None:
    """A complete run written by schema 0001: two specialties, three visits (one LWBS)."""
    day = 1_743_289_200_000  # 2025-03-29T23:00Z, Paris midnight
    connection.exec_driver_sql(
        "INSERT INTO runs (id, kind, status, parameters, timezone, start_utc_ms, end_utc_ms,"
        f" created_at_ms) VALUES (1, 'simulation', 'complete', '{{}}', 'Europe/Paris', {day},"
        f" {day + 86_400_000}, 0)"
    )
    connection.exec_driver_sql(
        "INSERT INTO specialties (run_id, idx, code, name) VALUES (1, 0, 'GM', 'General'),"
        " (1, 1, 'CA', 'Cardiology')"
    )
    connection.exec_driver_sql(
        "INSERT INTO pathologies (run_id, idx, code, name, icd10, specialty_idx) VALUES"
        " (1, 0, 'flu', 'Flu', 'J11', 0), (1, 1, 'angina', 'Angina', 'I20', 1)"
    )
    rows = [  # patient, pathology, specialty, minutes after the start, wait, disposition
        (0, 0, 0, 10, 5.0, 1),
        (1, 0, 0, 50, 15.0, 1),
        (2, 1, 1, 130, None, 4),
    ]
    for patient, path, spec, minute, wait, disposition in rows:
        arrival = day + minute * 60_000
        connection.exec_driver_sql(
            "INSERT INTO visits (run_id, patient_no, pseudonym, pathology_idx, specialty_idx,"
            " arrival_ms, arrival_local_ms, departure_ms, wait_min, los_min, disposition)"
            f" VALUES (1, {patient}, 'p', {path}, {spec}, {arrival}, {arrival + 3_600_000},"
            f" {arrival + 1_800_000}, {'NULL' if wait is None else wait}, 30.0, {disposition})"
        )
    connection.exec_driver_sql(
        f"INSERT INTO hourly_specialty VALUES (1, {day + 3_600_000}, 0, 2, 2, 0, 20.0, 60.0)"
    )


def test_upgrade_from_0001_rebuilds_the_rollups(empty_url):
    """A 0001 file with a complete run upgrades to head; its rollups are rebuilt from visits."""
    engine = create_engine_for(empty_url)
    try:
        assert migrate.upgrade(engine, "0001") == "0001"
        with engine.begin() as connection:
            _old_run(connection)
        with engine.connect() as connection, pytest.raises(StoreError, match="db upgrade"):
            migrate.ensure_current(connection)
        assert migrate.upgrade(engine) == migrate.head_revision()
        with engine.connect() as connection:
            migrate.ensure_current(connection)
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, schema.metadata) == []
            h = schema.hourly_specialty
            hourly = connection.execute(
                sa.select(
                    h.c.hour_ms,
                    h.c.specialty_idx,
                    h.c.arrivals,
                    h.c.treated,
                    h.c.left_without_being_seen,
                    h.c.mean_wait_min,
                    h.c.waiting,
                ).order_by(h.c.hour_ms, h.c.specialty_idx)
            ).all()
            day = 1_743_289_200_000
            assert [tuple(r) for r in hourly] == [
                (day, 0, 2, 2, 0, 10.0, None),
                (day + 7_200_000, 1, 1, 0, 1, None, None),
            ]
            d = schema.daily_pathology
            daily = connection.execute(
                sa.select(
                    d.c.day_local_ms, d.c.pathology_idx, d.c.specialty_idx, d.c.month_local_ms
                ).order_by(d.c.pathology_idx)
            ).all()
            local_day = day + 3_600_000  # 2025-03-30 00:00 local
            march = 1_740_787_200_000  # 2025-03-01 00:00 (local ms)
            assert [tuple(r) for r in daily] == [(local_day, 0, 0, march), (local_day, 1, 1, march)]
            m = schema.monthly_specialty
            monthly = connection.execute(
                sa.select(m.c.month_local_ms, m.c.specialty_idx, m.c.arrivals).order_by(
                    m.c.specialty_idx
                )
            ).all()
            assert [tuple(r) for r in monthly] == [(march, 0, 2), (march, 1, 1)]
        config = migrate.alembic_config()
        with engine.begin() as connection:  # and back down, to the 0001 rollups
            config.attributes["connection"] = connection
            command.downgrade(config, "0001")
        with engine.connect() as connection:
            assert migrate.current_revision(connection) == "0001"
            (n,) = connection.exec_driver_sql("SELECT SUM(arrivals) FROM hourly_specialty").one()
            assert n == 3
    finally:
        engine.dispose()


def test_head_revision_read_from_the_scripts_is_alembics() -> None:
    """``head_revision`` parses the scripts (fast start-up); Alembic must agree."""
    from alembic.script import ScriptDirectory

    alembic_head = ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
    assert migrate.head_revision() == alembic_head


def test_upgrade_to_0012_counts_each_sites_patient_numbers(empty_url):
    """0012 sets a site's run's counter past its largest patient number (1 for a run
    without visits) and leaves simulated runs without one."""
    engine = create_engine_for(empty_url)
    try:
        assert migrate.upgrade(engine, "0011") == "0011"
        with engine.begin() as connection:
            for run_id, kind in ((1, "simulation"), (2, "import"), (3, "import")):
                connection.exec_driver_sql(
                    "INSERT INTO runs (id, kind, status, parameters, timezone, start_utc_ms,"
                    f" end_utc_ms, created_at_ms) VALUES ({run_id}, '{kind}', 'complete', '{{}}',"
                    " 'Europe/Paris', 0, 0, 0)"
                )
                connection.exec_driver_sql(
                    f"INSERT INTO specialties (run_id, idx, code, name) VALUES ({run_id}, 0,"
                    " 'GM', 'General')"
                )
            for site_id, run_id in ((1, 2), (2, 3)):
                connection.exec_driver_sql(
                    "INSERT INTO sites (id, name, timezone, created_at_ms, run_id) VALUES"
                    f" ({site_id}, 'site {site_id}', 'Europe/Paris', 0, {run_id})"
                )
            for run_id, patient in ((1, 0), (1, 40), (2, 3), (2, 17), (2, 5)):
                connection.exec_driver_sql(
                    "INSERT INTO visits (run_id, patient_no, pseudonym, specialty_idx,"
                    f" arrival_ms, arrival_local_ms) VALUES ({run_id}, {patient}, 'p', 0, 0, 0)"
                )
        assert migrate.upgrade(engine) == migrate.head_revision()
        with engine.connect() as connection:
            r = schema.runs
            counters = connection.execute(
                sa.select(r.c.id, r.c.next_patient_no).order_by(r.c.id)
            ).all()
            assert [tuple(row) for row in counters] == [(1, None), (2, 18), (3, 1)]
    finally:
        engine.dispose()
