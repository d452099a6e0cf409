"""The patients present longest at an instant, on SQLite and PostgreSQL: a site's visits
(hand-made, with open visits and acuity) and a simulation's trace (checked against its
visits, which a complete run has for everyone)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from hospiflow.ingest.pipeline import import_items
from hospiflow.records import Disposition, VisitRecord
from hospiflow.runner import simulate_run
from hospiflow.simulation.scenario import default_scenario
from hospiflow.store import migrate, schema, sites
from hospiflow.store.engine import create_engine_for
from hospiflow.store.present import longest_present
from hospiflow.store.timeconv import to_ms

DAY0 = datetime(2024, 1, 1, tzinfo=UTC)


def at(hours: float) -> datetime:
    return DAY0 + timedelta(hours=hours)


def visit(n: int, arrival: float, departure: float | None, acuity: int | None) -> VisitRecord:
    return VisitRecord(
        arrival=at(arrival),
        departure=None if departure is None else at(departure),
        source=f"gen:{n}",
        visit_id=f"V{n:07d}",
        acuity=acuity,
        disposition=Disposition.DISCHARGED,
    )


def test_a_sites_patients_present_longest_first(engine: sa.Engine, monkeypatch) -> None:
    """At 12:00: the 08:00 stay, then the open 11:00 visit, then 11:30; the one gone at
    11:00, the one not yet come and the open visit of the day before are not there."""
    monkeypatch.setenv("HOSPIFLOW_PSEUDONYM_KEY", "a-test-key-of-enough-length")
    with engine.begin() as connection:
        site = sites.create_site(connection, "Present test", "Europe/Paris")
        run = sites.observed_run(connection, site)
    records = [
        visit(1, 8.0, 14.0, 2),
        visit(2, 10.0, 11.0, 3),
        visit(3, 11.0, None, None),
        visit(4, 11.5, 13.0, 4),
        visit(5, 12.5, 13.5, 1),
        visit(6, -20.0, None, 5),  # open for 32 h: a lost departure, not a patient
    ]
    import_items(engine, "Present test", records, format="test", allow_future=True)
    with engine.connect() as connection:
        numbers = dict(
            connection.execute(
                sa.select(schema.visits.c.arrival_ms, schema.visits.c.patient_no).where(
                    schema.visits.c.run_id == run
                )
            ).all()
        )
        rows, count = longest_present(connection, run, to_ms(at(12)), 2, observed=True)
        everyone, _ = longest_present(connection, run, to_ms(at(12)), 10, observed=True)
    assert count == 3
    assert [r.arrival_ms for r in rows] == [to_ms(at(8)), to_ms(at(11))]
    assert [r.acuity for r in everyone] == [2, None, 4]
    assert [r.patient_no for r in everyone] == [numbers[to_ms(at(h))] for h in (8, 11, 11.5)]


def test_a_simulations_patients_present_come_from_its_trace(empty_url: str) -> None:
    """Trace-derived presence (arrived, no departure or abandonment yet) equals the
    visits' own [arrival, departure) at an instant, oldest arrivals first."""
    migrate.init(empty_url)
    outcome = simulate_run(
        default_scenario(days=2.0, warmup_days=1.0, seed=11), database_url=empty_url
    )
    run = outcome.run_id
    assert run is not None
    engine = create_engine_for(empty_url)
    v = schema.visits
    try:
        with engine.connect() as connection:
            start = connection.execute(
                sa.select(schema.runs.c.start_utc_ms).where(schema.runs.c.id == run)
            ).scalar_one()
            truth: list = []
            for minutes in range(24 * 60, 48 * 60, 37):  # the first instant with 3 or more
                instant = int(start) + minutes * 60_000
                truth = connection.execute(
                    sa.select(v.c.patient_no, v.c.arrival_ms)
                    .where(
                        v.c.run_id == run,
                        v.c.arrival_ms <= instant,
                        v.c.departure_ms > instant,
                        v.c.patient_no >= 0,
                    )
                    .order_by(v.c.arrival_ms, v.c.patient_no)
                ).all()
                if len(truth) >= 3:
                    break
            rows, count = longest_present(connection, run, instant, 2, observed=False)
    finally:
        engine.dispose()
    assert count == len(truth) >= 3
    assert [(r.patient_no, r.arrival_ms) for r in rows] == [tuple(t) for t in truth[:2]]
    assert all(r.specialty_idx is not None and r.pathology_idx is not None for r in rows)
    assert rows[0].arrival_ms <= rows[-1].arrival_ms < instant
