"""Happy paths of every read endpoint, on SQLite and PostgreSQL, checked against each other."""

from __future__ import annotations

import csv
import io
from datetime import datetime

import pytest

API = "/api/v1"


def _get(client, path: str) -> dict:
    response = client.get(API + path)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["ok"] is True
    return body


def _aware(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    assert moment.utcoffset() is not None, text
    return moment


def test_health(client) -> None:
    """Health answers with the backend and whether writes are enabled."""
    body = _get(client, "/health")
    assert body["database"] in ("sqlite", "postgresql")
    assert body["writes_enabled"] is True
    _aware(body["time"])


def test_runs_list_and_detail(client) -> None:
    """The run list and one run: status, progress, ISO times with offsets, parameters."""
    runs = _get(client, "/runs")["runs"]
    assert [r["id"] for r in runs] == [1]
    run = runs[0]
    assert run["status"] == "complete" and run["progress"] == 1.0
    assert run["timezone"] == "Europe/Paris"
    assert _aware(run["start"]).isoformat().startswith("2025-01-01T00:00:00+01:00")
    assert run["counts"]["visits"] > 1000
    detail = _get(client, "/runs/1")["run"]
    assert detail["parameters"]["time"]["days"] == 7
    _aware(detail["as_of"])
    assert _get(client, "/runs?status=complete&kind=simulation")["runs"][0]["id"] == 1
    assert _get(client, "/runs?status=running")["runs"] == []


def test_now(client) -> None:
    """Now: per-specialty state whose totals add up, saturation by the documented rule."""
    body = _get(client, "/runs/1/now")
    _aware(body["as_of"])
    specialties = body["specialties"]
    assert len(specialties) == 8
    for key in ("waiting", "in_treatment", "doctors_on_duty", "doctors_busy", "doctors_free"):
        assert body["totals"][key] == sum(s[key] for s in specialties)
    for s in specialties:
        assert s["doctors_free"] == s["doctors_on_duty"] - s["doctors_busy"]
        assert s["saturation"] in ("green", "amber", "red")
        if s["waiting"] == 0:
            assert s["saturation"] == "green"
        if s["waiting"] and s["doctors_on_duty"] == 0:
            assert s["saturation"] == "red"
    assert body["thresholds"]["red"]["waiting_per_doctor"] == 8.0
    status = body["department_status"]
    assert status["level"] == body["totals"]["saturation"]
    assert status["areas"] == {s["specialty"]: s["saturation"] for s in specialties}
    top = status["reason"]
    assert top["waiting"] == next(
        s["waiting"] for s in specialties if s["specialty"] == top["specialty"]
    )
    assert status["text"].startswith(
        next(s["name"] for s in specialties if s["specialty"] == top["specialty"])
    ) or status["text"].startswith("green")
    assert len(body["recent_arrivals"]) == 10
    times = [_aware(a["time"]) for a in body["recent_arrivals"]]
    assert times == sorted(times, reverse=True)


def test_arrivals_agree_across_buckets_and_splits(client) -> None:
    """Arrivals by hour, day, week, month and by specialty/pathology all sum to the KPI count."""
    total = _get(client, "/runs/1/kpis")["kpis"]["arrivals"]
    assert total > 1000
    for bucket in ("hour", "day", "week", "month"):
        for by in ("none", "specialty", "pathology"):
            body = _get(client, f"/runs/1/arrivals?bucket={bucket}&by={by}")
            assert body["total"] == total, (bucket, by)
            for series in body["series"]:
                assert len(series["values"]) == len(body["buckets"])
    days = _get(client, "/runs/1/arrivals?bucket=day")
    assert len(days["buckets"]) == 7
    assert days["buckets"][0] == "2025-01-01T00:00:00+01:00"
    by_specialty = _get(client, "/runs/1/arrivals?bucket=day&by=specialty")
    assert len(by_specialty["series"]) == 8


def test_arrivals_range(client) -> None:
    """A sub-range counts only its arrivals; bounds may be dates or date-times with offsets."""
    one_day = _get(client, "/runs/1/arrivals?bucket=hour&start=2025-01-02&end=2025-01-03")
    assert len(one_day["buckets"]) == 24
    same = _get(
        client,
        "/runs/1/arrivals?bucket=day&start=2025-01-01T23:00:00Z&end=2025-01-02T23:00:00%2B00:00",
    )
    assert same["total"] == one_day["total"]
    assert same["start"] == "2025-01-02T00:00:00.000+01:00"


def test_hour_of_week(client) -> None:
    """168 slots per series; over a week each hour occurs once, so the mean is the count."""
    body = _get(client, "/runs/1/arrivals/hour-of-week")
    assert body["hours_per_slot"] == [1] * 168
    (series,) = body["series"]
    assert sum(series["arrivals"]) == _get(client, "/runs/1/kpis")["kpis"]["arrivals"]
    assert series["mean_per_hour"] == [float(c) for c in series["arrivals"]]
    split = _get(client, "/runs/1/arrivals/hour-of-week?by=specialty")
    assert len(split["series"]) == 8


def test_seasonality(client) -> None:
    """Monthly arrivals per pathology with ICD-10 codes and a 12-month profile."""
    body = _get(client, "/runs/1/arrivals/seasonality")
    assert body["months"] == ["2025-01-01T00:00:00+01:00"]
    assert len(body["series"]) == 26
    first = body["series"][0]
    assert first["icd10"] and first["specialty"]
    assert len(first["month_of_year_mean"]) == 12
    assert first["month_of_year_mean"][0] == first["values"][0]


def test_catalogs(client) -> None:
    """The run's catalog and the built-in one: ICD-10 codes, French and English names."""
    run = _get(client, "/runs/1/catalog")
    assert len(run["specialties"]) == 8 and len(run["pathologies"]) == 26
    assert all(s["doctors"] > 0 for s in run["specialties"])
    cardiology = next(s for s in run["specialties"] if s["code"] == "cardiology")
    assert cardiology["name_fr"] == "Cardiologie"
    builtin = _get(client, "/catalog")
    assert {p["icd10"] for p in builtin["pathologies"]} == {p["icd10"] for p in run["pathologies"]}
    assert all(len(p["monthly_factors"]) == 12 for p in builtin["pathologies"])


def test_doctors(client) -> None:
    """Availability per bucket (busy ≤ on duty) and utilisation by hour of week."""
    body = _get(client, "/runs/1/doctors/availability?bucket=day")
    assert len(body["buckets"]) == 7 and len(body["series"]) == 8
    for series in body["series"]:
        for on, busy in zip(series["doctors_on_duty"], series["doctors_busy"], strict=True):
            assert 0 <= busy <= on
    total = _get(client, "/runs/1/doctors/availability?bucket=hour&by=none")
    assert len(total["series"]) == 1 and len(total["buckets"]) == 7 * 24
    how = _get(client, "/runs/1/doctors/hour-of-week")
    assert [s["key"] for s in how["series"]][-1] == "all"
    for series in how["series"]:
        assert all(u is None or 0 <= u <= 1 for u in series["utilisation"])


def test_waits(client) -> None:
    """Waits over the range and per day; shares within a target grow with the target."""
    overall = _get(client, "/runs/1/waits")
    (series,) = overall["series"]
    kpis = _get(client, "/runs/1/kpis")["kpis"]
    assert series["visits"] == [kpis["arrivals"]]
    assert series["wait_mean_min"][0] == pytest.approx(kpis["wait_mean_min"], abs=1e-3)
    assert series["wait_p50_min"][0] <= series["wait_p90_min"][0]
    loose = _get(client, "/runs/1/waits?target_minutes=240")["series"][0]
    assert loose["seen_within_target_share"][0] >= series["seen_within_target_share"][0]
    daily = _get(client, "/runs/1/waits?bucket=day&by=specialty")
    assert len(daily["buckets"]) == 7 and len(daily["series"]) == 8
    assert sum(sum(s["visits"]) for s in daily["series"]) == kpis["arrivals"]


def test_treatments_pages_and_csv(client) -> None:
    """Keyset pages chain without gaps or repeats and the CSV export holds the same rows."""
    seen: list[int] = []
    cursor = None
    for _ in range(3):
        query = "limit=50&specialty=cardiology" + (f"&cursor={cursor}" if cursor else "")
        body = _get(client, f"/runs/1/treatments?{query}")
        seen += [item["id"] for item in body["items"]]
        assert all(item["specialty"] == "cardiology" for item in body["items"])
        cursor = body["next"]
    assert len(seen) == len(set(seen)) == 150
    response = client.get(f"{API}/runs/1/treatments?format=csv&specialty=cardiology")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [int(r["id"]) for r in rows[:150]] == seen
    assert all(r["specialty"] == "cardiology" for r in rows)


def test_events_filters(client) -> None:
    """Events filter by kind and time range; times are ordered within the page."""
    body = _get(
        client, "/runs/1/events?kind=arrival,departure&start=2025-01-03&end=2025-01-04&limit=500"
    )
    assert {item["kind"] for item in body["items"]} == {"arrival", "departure"}
    times = [_aware(item["time"]) for item in body["items"]]
    assert times == sorted(times)
    assert times[0] >= _aware("2025-01-03T00:00:00+01:00")
    shifts = _get(client, "/runs/1/events?kind=shift_start&limit=5")["items"]
    assert all(item["patient_no"] is None and item["doctor"] for item in shifts)


@pytest.mark.parametrize("name", ["hourly_detail", "treatments.csv", "performance_metrics"])
def test_reports(client, name: str) -> None:
    """The five CSV reports download as CSV."""
    response = client.get(f"{API}/runs/1/reports/{name}")
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/csv"
    assert len(response.get_data(as_text=True).splitlines()) > 1


def test_large_answers_are_gzipped_for_clients_that_accept_it(sqlite_client) -> None:
    """A large JSON answer comes gzipped when asked for, identical once decompressed."""
    import gzip as gzip_module
    import json

    path = "/api/v1/runs/1/arrivals?bucket=hour&by=specialty"
    plain = sqlite_client.get(path)
    assert plain.headers.get("Content-Encoding") is None
    for _ in range(2):  # computed, then from the cache
        packed = sqlite_client.get(path, headers={"Accept-Encoding": "gzip, deflate"})
        assert packed.headers["Content-Encoding"] == "gzip"
        assert "Accept-Encoding" in packed.headers["Vary"]
        unpacked = json.loads(gzip_module.decompress(packed.get_data()))
        assert unpacked == plain.get_json()
    small = sqlite_client.get("/api/v1/health", headers={"Accept-Encoding": "gzip"})
    assert small.headers.get("Content-Encoding") is None


# Answers that must not depend on the backend: the same seeded run is in both stores.
SAME_ON_BOTH = (
    "/runs/1",
    "/runs/1/now",
    "/runs/1/catalog",
    "/runs/1/arrivals?bucket=day&by=specialty",
    "/runs/1/arrivals?bucket=hour&by=pathology&start=2025-01-03&end=2025-01-04T06:30",
    "/runs/1/arrivals?bucket=week",
    "/runs/1/arrivals/hour-of-week",
    "/runs/1/arrivals/seasonality",
    "/runs/1/census/hour-of-week",
    "/runs/1/doctors/availability?bucket=day&by=specialty",
    "/runs/1/doctors/hour-of-week",
    "/runs/1/waits?bucket=day&by=pathology",
    "/runs/1/waits?bucket=none&by=specialty",
    "/runs/1/kpis",
    "/runs/1/treatments?limit=200&specialty=cardiology",
    "/runs/1/events?limit=200&kind=arrival",
)
# What legitimately differs: when each store wrote its run.
WRITTEN_AT = {"created_at", "finished_at", "updated_at"}


def _differences(a: object, b: object, where: str = "") -> list[str]:
    """Paths where two JSON answers differ (floats to 1e-9 relative: SQL sums differ in order)."""
    if isinstance(a, dict) and isinstance(b, dict):
        if a.keys() != b.keys():
            return [f"{where}: keys {sorted(a.keys() ^ b.keys())}"]
        return [
            d
            for key in a
            if key not in WRITTEN_AT
            for d in _differences(a[key], b[key], f"{where}.{key}")
        ]
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            return [f"{where}: {len(a)} vs {len(b)} items"]
        return [
            d
            for i, (x, y) in enumerate(zip(a, b, strict=True))
            for d in _differences(x, y, f"{where}[{i}]")
        ]
    if isinstance(a, float) or isinstance(b, float):
        if (
            isinstance(a, int | float)
            and isinstance(b, int | float)
            and a == pytest.approx(b, rel=1e-9)
        ):
            return []
    elif a == b:
        return []
    return [f"{where}: {a!r} vs {b!r}"]


@pytest.mark.postgres
def test_sqlite_and_postgresql_give_the_same_answers(
    make_app, sqlite_store, postgres_store
) -> None:
    """Every read of the same seeded run answers the same on SQLite and on PostgreSQL."""
    lite = make_app(sqlite_store).test_client()
    pg = make_app(postgres_store).test_client()
    for path in SAME_ON_BOTH:
        a, b = _get(lite, path), _get(pg, path)
        assert _differences(a, b) == [], path
    for name in ("daily_pathology_stats", "treatments"):
        a, b = lite.get(f"{API}/runs/1/reports/{name}"), pg.get(f"{API}/runs/1/reports/{name}")
        assert a.status_code == b.status_code == 200, name
        assert a.get_data().count(b"\n") > 100, name
        assert a.get_data() == b.get_data(), name
