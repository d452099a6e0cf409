"""The Now status compares each specialty's queue with the usual for this hour of the
week: the mean of its waiting per doctor in the state samples one and two weeks
before (a 15-day run), computed here by hand from the stored samples."""

from __future__ import annotations

import sqlalchemy as sa

from hospiflow.runner import simulate_run
from hospiflow.simulation.scenario import default_scenario
from hospiflow.store import migrate, schema
from hospiflow.store.engine import create_engine_for
from hospiflow.web.app import create_app, state

WEEK_MS = 7 * 24 * 3_600_000


def test_usual_for_this_hour_is_the_same_hour_of_previous_weeks(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'usual.db'}"
    migrate.init(url)
    run_id = simulate_run(default_scenario(days=15.0, seed=5), database_url=url).run_id
    app = create_app({"DATABASE_URL": url, "TESTING": True})
    try:
        body = app.test_client().get(f"/api/v1/runs/{run_id}/now").get_json()
    finally:
        state(app).close()
    s = schema.state_snapshots
    engine = create_engine_for(url, readonly=True)
    try:
        with engine.connect() as connection:
            as_of = connection.execute(
                sa.select(sa.func.max(s.c.time_ms)).where(s.c.run_id == run_id)
            ).scalar()
            rows = connection.execute(
                sa.select(s.c.time_ms, s.c.specialty_idx, s.c.waiting, s.c.doctors_on_duty).where(
                    s.c.run_id == run_id, s.c.time_ms.in_([as_of - WEEK_MS, as_of - 2 * WEEK_MS])
                )
            ).all()
    finally:
        engine.dispose()
    assert len({r[0] for r in rows}) == 2  # both earlier weeks sampled (no DST change here)
    expected: dict[int, list[float]] = {}
    for _t, i, waiting, doctors in rows:
        expected.setdefault(i, []).append(waiting / max(doctors, 1))
    status = body["department_status"]
    reason = status["reason"]
    index = [sp["specialty"] for sp in body["specialties"]].index(reason["specialty"])
    want = sum(expected[index]) / len(expected[index])
    assert reason["usual_waiting_per_doctor"] == round(want, 2)
    if status["level"] != "green":
        assert f"usual for this hour {want:.1f} per doctor" in status["text"]
