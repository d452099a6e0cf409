"""The patient flow's records in the store: acuity, age, bed requests, spaces and wards."""

from __future__ import annotations

import sqlalchemy as sa

from hospiflow.simulation.engine import Engine
from hospiflow.simulation.recorder import kpis as sim_kpis
from hospiflow.simulation.scenario import load_scenario
from hospiflow.store import queries, schema
from hospiflow.store.runs import delete_run
from hospiflow.store.sink import StoreSink


def test_flow_run_stores_acuity_age_boarding_and_resources(engine):
    scenario = load_scenario("emergency").replace(days=4.0)
    sink = StoreSink(engine, scenario.load_catalog())
    result = Engine(scenario, [sink]).run()
    v, r = schema.visits, schema.resource_snapshots
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(
                v.c.acuity, v.c.age_years, v.c.disposition, v.c.bed_request_ms, v.c.departure_ms
            ).where(v.c.run_id == sink.run_id)
        ).all()
        resources = connection.execute(
            sa.select(r.c.resource, r.c.name, r.c.capacity, r.c.in_use, r.c.queue).where(
                r.c.run_id == sink.run_id
            )
        ).all()
    assert len(rows) == result.n_patients
    assert {row.acuity for row in rows} <= {1, 2, 3, 4, 5} and len(
        {row.acuity for row in rows}
    ) >= 3
    assert all(0 <= row.age_years < 100 for row in rows)
    admitted = [row for row in rows if row.disposition == 2]
    assert admitted and all(row.bed_request_ms is not None for row in admitted)
    assert all(row.bed_request_ms <= row.departure_ms for row in admitted)
    # a bed is asked for the admitted, and for boarders transferred at the 24-hour limit
    assert all(row.bed_request_ms is None for row in rows if row.disposition not in (2, 3))
    no_bed = [row for row in rows if row.disposition == 3 and row.bed_request_ms is not None]
    assert all(abs(row.departure_ms - row.bed_request_ms - 86_400_000) <= 1 for row in no_bed)
    hours = 4 * 24
    names = {area.name for area in scenario.flow.areas} | {w.name for w in scenario.flow.wards}
    assert {row.name for row in resources} == names
    assert len(resources) == hours * len(names)
    assert all(row.in_use <= row.capacity for row in resources if row.capacity)
    with engine.connect() as connection:
        api = queries.kpis(connection, sink.run_id)
    sim = {(m, s): value for m, s, value, _ in sim_kpis(result)}
    assert api["admissions"] == sim[("admissions", "all")]
    assert api["transfers_no_bed"] == sim[("transfers_no_bed", "all")] == len(no_bed) > 0
    assert abs(api["within_4h_share"] - sim[("share_within_4h", "all")]) < 1e-9
    assert abs(api["boarding_hours"] - sim[("boarding_hours", "all")]) < 0.01
    by_acuity = api["door_to_doctor_mean_min_by_acuity"]
    assert set(by_acuity) <= {"1", "2", "3", "4", "5"} and len(by_acuity) >= 3
    assert abs(by_acuity["2"] - sim[("door_to_doctor_mean_acuity_2", "all")]) < 1e-6
    assert 0 < api["spaces_in_use_mean"] and 0 < api["ward_occupancy"] <= 1
    with engine.begin() as connection:
        delete_run(connection, sink.run_id)
    with engine.connect() as connection:
        left = connection.execute(sa.select(sa.func.count()).select_from(r)).scalar()
    assert left == 0
