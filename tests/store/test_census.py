"""The census (patients present) from arrival and departure times, on SQLite and PostgreSQL:
hand-computed hours, midnight, open visits, instants, and hillmaker's hour-of-week hills."""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from hospiflow.ingest.pipeline import import_items
from hospiflow.records import Disposition, VisitRecord
from hospiflow.store import census, sites
from hospiflow.store.timeconv import MS_PER_HOUR, to_ms

DAY0 = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday


@pytest.fixture
def make_site(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch):
    """Factory: a site in a time zone with its (empty) observed run; returns the run id."""
    monkeypatch.setenv("HOSPIFLOW_PSEUDONYM_KEY", "a-test-key-of-enough-length")

    def make(timezone: str = "UTC", name: str = "Census test") -> tuple[str, int]:
        with engine.begin() as connection:
            site = sites.create_site(connection, name, timezone)
            return name, sites.observed_run(connection, site)

    return make


def stay(n: int, arrival: datetime, departure: datetime | None) -> VisitRecord:
    """Visit ``n`` from ``arrival`` to ``departure`` (None: no departure recorded)."""
    return VisitRecord(
        arrival=arrival,
        departure=departure,
        source=f"gen:{n}",
        visit_id=f"V{n:07d}",
        disposition=Disposition.DISCHARGED,
    )


def load(engine: sa.Engine, site: str, visits: list[VisitRecord]) -> None:
    import_items(engine, site, visits, format="test", allow_future=True)


def at(hours: float) -> datetime:
    return DAY0 + timedelta(hours=hours)


def ms(hours: float) -> int:
    return to_ms(at(hours))


def test_a_visit_counts_its_share_of_each_hour(engine, make_site):
    """10:30-12:15 gives 0.5, 1.0 and 0.25 in hours 10, 11 and 12, nothing before or after."""
    site, run = make_site()
    load(engine, site, [stay(1, at(10.5), at(12.25))])
    with engine.connect() as connection:
        hours, means = census.hourly(connection, run, ms(9), ms(14))
    assert hours.tolist() == [ms(h) for h in range(9, 14)]
    assert means.tolist() == pytest.approx([0.0, 0.5, 1.0, 0.25, 0.0], abs=1e-12)


def test_range_bounds_are_floored_and_ceiled_to_whole_hours(engine, make_site):
    """A range 09:20-11:10 covers the hours 9, 10 and 11."""
    site, run = make_site()
    load(engine, site, [stay(1, at(10.5), at(12.25))])
    with engine.connect() as connection:
        hours, means = census.hourly(connection, run, ms(9 + 1 / 3), ms(11 + 1 / 6))
    assert hours.tolist() == [ms(9), ms(10), ms(11)]
    assert means.tolist() == pytest.approx([0.0, 0.5, 1.0])


def test_overlapping_visits_add_up_across_midnight(engine, make_site):
    """Two stays across midnight: 23:00-01:30 and 23:45-00:15 give 1.25, 1.25, 0.5."""
    site, run = make_site()
    load(engine, site, [stay(1, at(23), at(25.5)), stay(2, at(23.75), at(24.25))])
    with engine.connect() as connection:
        hours, means = census.hourly(connection, run, ms(23), ms(26))
        by_spec_hours, by_spec = census.hourly_by_specialty(connection, run, ms(23), ms(26))
    assert means.tolist() == pytest.approx([1.25, 1.25, 0.5])
    assert by_spec_hours.tolist() == hours.tolist()
    assert np.sum(list(by_spec.values()), axis=0).tolist() == pytest.approx(means.tolist())
    assert len(by_spec) >= 2  # every specialty of the catalog is there, zeros included


def test_a_stay_that_began_long_before_the_range_still_counts(engine, make_site):
    """A 70-hour stay (arrived three days before) is present in the whole range."""
    site, run = make_site()
    load(engine, site, [stay(1, at(0), at(70)), stay(2, at(60), at(61))])
    with engine.connect() as connection:
        _, means = census.hourly(connection, run, ms(68), ms(71))
        assert census.present_at(connection, run, ms(69)) == 1
    assert means.tolist() == pytest.approx([1.0, 1.0, 0.0])


def test_no_visits_give_zeros(engine, make_site):
    """An empty run, and an empty range of a run with visits, give zeros for every hour."""
    site, run = make_site()
    with engine.connect() as connection:
        hours, means = census.hourly(connection, run, ms(0), ms(24))
        assert len(hours) == 24 and not means.any()
        assert census.present_at(connection, run, ms(5)) == 0
    load(engine, site, [stay(1, at(100), at(101))])
    with engine.connect() as connection:
        _, means = census.hourly(connection, run, ms(0), ms(24))
        _, by_spec = census.hourly_by_specialty(connection, run, ms(0), ms(24))
    assert not means.any() and not any(v.any() for v in by_spec.values())


def test_open_visits_count_only_when_recent(engine, make_site):
    """No departure: present until the range's end if within the data's last 24 h, else ignored."""
    site, run = make_site()
    load(
        engine,
        site,
        [
            stay(1, at(0), None),  # 30 h before the latest arrival: a lost departure
            stay(2, at(28.5), None),  # still present at the extract
            stay(3, at(30), at(30.5)),  # the latest arrival
        ],
    )
    with engine.connect() as connection:
        _, means = census.hourly(connection, run, ms(0), ms(32))
        assert census.present_at(connection, run, ms(29)) == 1
        assert census.present_at(connection, run, ms(5)) == 0
    assert not means[:28].any()
    assert means[28:].tolist() == pytest.approx([0.5, 1.0, 1.5, 1.0])


def test_present_at_an_instant_is_half_open(engine, make_site):
    """Present from the arrival instant, gone at the departure instant."""
    site, run = make_site()
    load(engine, site, [stay(1, at(10), at(11)), stay(2, at(10.5), at(12))])
    with engine.connect() as connection:
        counts = [census.present_at(connection, run, ms(h)) for h in (9.9, 10, 10.5, 11, 12)]
    assert counts == [0, 1, 2, 1, 0]


def test_local_hours_skip_and_repeat_at_daylight_saving():
    """Paris: 23 local hours on the spring day (02:00 absent), 25 in autumn (02:00 twice)."""
    spring = to_ms(datetime(2025, 3, 29, 23, tzinfo=UTC))  # local midnight of 30 March
    edges, labels = census.local_hour_edges(spring, spring + 23 * MS_PER_HOUR, "Europe/Paris")
    hours_of_day = (labels % 24).tolist()
    assert len(labels) == 23 and 2 not in hours_of_day and hours_of_day[:3] == [0, 1, 3]
    assert set((labels // 24).tolist()) == {6}  # a Sunday
    autumn = to_ms(datetime(2025, 10, 25, 22, tzinfo=UTC))  # local midnight of 26 October
    edges, labels = census.local_hour_edges(autumn, autumn + 25 * MS_PER_HOUR, "Europe/Paris")
    assert len(labels) == 25 and (labels % 24).tolist().count(2) == 2
    assert np.all(np.diff(edges) == MS_PER_HOUR)


def test_hour_of_week_in_a_shifted_zone_uses_local_hours(engine, make_site):
    """New York (UTC-5 in January): a visit 10:00-11:00 local on Monday is hour 10 of the week."""
    site, run = make_site("America/New_York")
    arrival = datetime(2024, 1, 8, 15, tzinfo=UTC)  # Monday 10:00 in New York
    load(engine, site, [stay(1, arrival, arrival + timedelta(hours=1))])
    week = to_ms(datetime(2024, 1, 8, 5, tzinfo=UTC))
    with engine.connect() as connection:
        means = census.hour_of_week(connection, run, week, week + 168 * MS_PER_HOUR)
    assert means[10] == pytest.approx(1.0)
    assert np.nansum(means) == pytest.approx(1.0)


def test_hour_of_week_of_a_short_range_leaves_unseen_hours_nan(engine, make_site):
    """A one-day range has means for that day's 24 hours only."""
    site, run = make_site()
    load(engine, site, [stay(1, at(10.5), at(12.25))])
    with engine.connect() as connection:
        means = census.hour_of_week(connection, run, ms(0), ms(24))
    assert np.isfinite(means[:24]).all() and np.isnan(means[24:]).all()
    assert means[10:13].tolist() == pytest.approx([0.5, 1.0, 0.25])


def generated_stays(n: int, days: int, seed: int = 7) -> pd.DataFrame:
    """``n`` visits over ``days`` days from DAY0, busier by day, lognormal stays, to the minute."""
    rng = np.random.default_rng(seed)
    minute = rng.integers(0, days * 1440, 4 * n)
    hour = (minute // 60) % 24
    keep = rng.random(len(minute)) < 0.35 + 0.65 * np.sin(np.pi * hour / 24) ** 2
    minute = np.sort(minute[keep][:n])
    los = np.clip(np.round(rng.lognormal(np.log(200), 0.7, len(minute))), 5, 70 * 60)
    arrival = pd.Timestamp("2024-01-01") + pd.to_timedelta(minute, unit="min")
    return pd.DataFrame({"arrival": arrival, "departure": arrival + pd.to_timedelta(los, "min")})


def _hillmaker_means(frame: pd.DataFrame, days: int) -> np.ndarray:
    """hillmaker's mean occupancy by day of week and hour (Monday 00:00 first)."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)  # hillmaker resets the root logger
    try:
        from hillmaker import Scenario

        scenario = Scenario(
            scenario_name="census_check",
            data=frame,
            in_field="arrival",
            out_field="departure",
            start_analysis_dt=pd.Timestamp("2024-01-01"),
            end_analysis_dt=pd.Timestamp("2024-01-01") + pd.Timedelta(days=days - 1),
            bin_size_minutes=60,
            make_all_week_plots=False,
            stationary_stats=False,
        )
        scenario.compute_hills_stats()  # statistics only: no plot, no file
        summary = scenario.get_summary_df("occupancy", by_category=False, stationary=False)
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
    summary = summary.sort_values(["day_of_week", "bin_of_day"])
    assert summary["count"].tolist() == [days // 7] * 168
    return summary["mean"].to_numpy(dtype=float)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # hillmaker on a newer pandas
def test_hour_of_week_matches_hillmaker(engine, make_site):
    """The reference check: 168 mean occupancies equal hillmaker's on 4,000 generated visits."""
    try:
        import hillmaker  # noqa: F401
    except ImportError as error:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"hillmaker is required under CI=true ({error})")
        pytest.skip(f"hillmaker is not installed ({error})")
    days = 28
    frame = generated_stays(4000, days)
    site, run = make_site()
    visits = [
        stay(i, a.to_pydatetime().replace(tzinfo=UTC), d.to_pydatetime().replace(tzinfo=UTC))
        for i, (a, d) in enumerate(zip(frame["arrival"], frame["departure"], strict=True))
    ]
    load(engine, site, visits)
    with engine.connect() as connection:
        ours = census.hour_of_week(connection, run, ms(0), ms(days * 24))
    theirs = _hillmaker_means(frame, days)
    assert ours.shape == (168,) and ours.min() > 0.5
    np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-9)
