"""Daily tension inputs from stored visits (SQLite and PostgreSQL): an imported site
with dispositions and ages, a simulated run without them; stored, and recomputed
when an import changes the visits."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from hospiflow.records import Disposition, VisitRecord
from hospiflow.store import migrate, sites
from hospiflow.store import tension as store_tension
from hospiflow.store.engine import create_engine_for
from hospiflow.store.timeconv import MS_PER_DAY
from hospiflow.tension.het import HetSettings, assess

PARIS = ZoneInfo("Europe/Paris")
START = datetime(2025, 1, 6, tzinfo=PARIS)  # a Monday
DAYS = 42


def _visits(rng: random.Random, start: datetime, days: int, prefix: str) -> list[VisitRecord]:
    """Visits of ``days`` days: 35-45 a day, a third admitted (3-5 h stays), ages 20-95."""
    out = []
    for d in range(days):
        for k in range(rng.randint(35, 45)):
            arrival = start + timedelta(days=d, minutes=rng.randrange(24 * 60))
            admitted = k % 3 == 0
            stay = rng.randrange(180, 300) if admitted else 60
            out.append(
                VisitRecord(
                    arrival=arrival,
                    source=f"t.csv:{len(out) + 2}",
                    visit_id=f"{prefix}{d:03d}{k:02d}",
                    departure=arrival + timedelta(minutes=stay),
                    disposition=Disposition.ADMITTED if admitted else Disposition.DISCHARGED,
                    diagnosis="J18.9",
                    age_years=rng.randrange(20, 96),
                )
            )
    return out


def _expected(visits: list[VisitRecord], day: datetime) -> dict[str, float]:
    mine = [v for v in visits if v.arrival.date() == day.date()]
    admitted = [v for v in mine if v.disposition == Disposition.ADMITTED]
    at = day.replace(hour=15)
    return {
        "attendances": len(mine),
        "admitted": len(admitted),
        "admitted_mean_stay_min": np.mean(
            [(v.departure - v.arrival).total_seconds() / 60 for v in admitted]  # type: ignore[operator]
        ),
        "attendances_75_plus": sum(1 for v in mine if (v.age_years or 0) >= 75),
        "present_at_15": sum(1 for v in visits if v.arrival <= at < v.departure),  # type: ignore[operator]
    }


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path, monkeypatch) -> Iterator[str]:
    monkeypatch.setenv("HOSPIFLOW_PSEUDONYM_KEY", "a-test-key-of-enough-length")
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        new: Callable[[str], str] = request.getfixturevalue("postgres_databases")
        yield new("tension")


def test_site_inputs_match_the_visits_and_follow_imports(url: str) -> None:
    from hospiflow.ingest.pipeline import import_items

    migrate.init(url)
    engine = create_engine_for(url)
    reader = create_engine_for(url, readonly=True)
    try:
        with engine.begin() as connection:
            site = sites.create_site(connection, "Hôpital Tension", "Europe/Paris")
        visits = _visits(random.Random(1), START, DAYS, "A")
        run_id = import_items(engine, site["id"], visits, format="csv").run_id
        with reader.connect() as connection:
            first = store_tension.daily(connection, run_id, writer=engine)
        assert first.recomputed and len(first.days_local_ms) == DAYS
        with reader.connect() as connection:
            again = store_tension.daily(connection, run_id, writer=engine)
            found = store_tension.availability(connection, run_id)
        assert not again.recomputed and again.version == first.version
        assert found["admission_rate"] is None and found["attendances_75_plus"] is None
        assert "no ward beds" in (found["beds_available"] or "")
        for d in (0, 17, DAYS - 1):
            day = START + timedelta(days=d)
            want = _expected(visits, day)
            for key, value in want.items():
                got = again.values[key][d]
                assert got == pytest.approx(value), (key, d)
        # a second import (one more week) changes the visits: recomputed and stored
        more = _visits(random.Random(2), START + timedelta(days=DAYS), 7, "B")
        import_items(engine, site["id"], more, format="csv")
        with reader.connect() as connection:
            later = store_tension.daily(connection, run_id, writer=engine)
        with reader.connect() as connection:  # a new transaction sees what was stored
            stored = store_tension.daily(connection, run_id)
        assert later.recomputed and len(later.days_local_ms) == DAYS + 7
        assert not stored.recomputed and stored.version == later.version
        assert later.days_local_ms[-1] - later.days_local_ms[0] == (DAYS + 6) * MS_PER_DAY
        out = assess(later.values, found, HetSettings())
        rate = out["indicators"]["admission_rate"]["value"]
        assert np.nanmean(rate) == pytest.approx(1 / 3, abs=0.02)  # k % 3 == 0
        assert (out["global"][28:] >= 0).all()  # five known indicators
    finally:
        engine.dispose()
        reader.dispose()


def test_a_simulated_run_without_admissions_says_so(tmp_path) -> None:
    from hospiflow.runner import simulate_run
    from hospiflow.simulation.scenario import plain_scenario

    url = f"sqlite:///{tmp_path / 'sim.db'}"
    migrate.init(url)
    run_id = simulate_run(plain_scenario(days=35.0, seed=2), database_url=url).run_id
    assert run_id is not None
    engine = create_engine_for(url)
    reader = create_engine_for(url, readonly=True)
    try:
        with reader.connect() as connection:
            found = store_tension.availability(connection, run_id)
            inputs = store_tension.daily(connection, run_id, writer=engine)
        assert found["admission_rate"].startswith("no admission recorded")
        assert found["attendances_75_plus"] == "no ages recorded in the data"
        assert np.isnan(inputs.values["admitted"]).all()
        assert (inputs.values["attendances"] > 100).all()
        assert (inputs.values["present_at_15"] > 0).all()
    finally:
        engine.dispose()
        reader.dispose()


def test_a_run_with_the_patient_flow_has_every_input(tmp_path) -> None:
    """The twin's patient flow (admissions, ages, acuity, ward beds, boarding) lets all six
    indicators and both crowding scores be computed; checked against the stored rows."""
    import sqlalchemy as sa

    from hospiflow.runner import simulate_run
    from hospiflow.simulation.scenario import load_scenario
    from hospiflow.store import schema
    from hospiflow.tension import scores

    url = f"sqlite:///{tmp_path / 'flow.db'}"
    migrate.init(url)
    scenario = load_scenario("emergency").replace(days=10.0, seed=4)
    run_id = simulate_run(scenario, database_url=url).run_id
    assert run_id is not None
    reader = create_engine_for(url, readonly=True)
    try:
        with reader.connect() as connection:
            found = store_tension.availability(connection, run_id)
            inputs = store_tension.daily(connection, run_id)
            r = schema.resource_snapshots
            middle = connection.execute(  # an instant inside the run
                sa.select(sa.func.min(r.c.time_ms) + 5 * MS_PER_DAY).where(r.c.run_id == run_id)
            ).scalar()
            crowd = store_tension.crowding_inputs(connection, run_id, int(middle))
            wards = connection.execute(
                sa.select(sa.func.sum(r.c.capacity), sa.func.sum(r.c.queue)).where(
                    r.c.run_id == run_id, r.c.time_ms == int(middle), r.c.resource == "ward"
                )
            ).one()
        assert all(reason is None for reason in found.values()), found
        for key in ("admitted", "admitted_mean_stay_min", "attendances_75_plus", "beds_available"):
            assert np.isfinite(inputs.values[key]).all(), key
        assert (inputs.values["admitted"] > 0).all()
        assert (inputs.values["beds_available"] >= 0).all()
        assert crowd["hospital_beds"] == wards[0] and crowd["boarding"] == wards[1]
        assert sum(crowd["patients_by_acuity"].values()) == crowd["patients_present"]
        value, band = scores.nedocs(*(crowd[k] for k in scores.NEDOCS_INPUTS))
        assert 0 <= value <= 200 and band
    finally:
        reader.dispose()
