"""Sites and their observed visits through the API, on SQLite and PostgreSQL: list, detail,
quality, quarantine, upload, export, `now` at the data's end, census, runs marked by source."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from hospiflow.ingest import hl7v2
from hospiflow.ingest.formats import WriteOptions
from hospiflow.ingest.pipeline import import_items
from hospiflow.records import Disposition, Rejection, VisitRecord
from hospiflow.store import schema, sites, tokens

API = "/api/v1"
PARIS = ZoneInfo("Europe/Paris")
END = datetime(2025, 3, 10, 12, 0, tzinfo=PARIS)  # a Monday noon: the data's end
CARDIOLOGY, PULMONOLOGY = "I21.9", "J18.9"


def _visit(key: str, arrival: datetime, diagnosis: str, seen=None, departure=None):
    return VisitRecord(
        arrival=arrival,
        source=f"extract.csv:{key}",
        visit_id=f"V-{key}",
        patient_id=f"IPP-{key}",
        first_seen=seen,
        departure=departure,
        disposition=Disposition.DISCHARGED if departure else None,
        diagnosis=diagnosis,
        age_years=50,
    )


def history() -> list[VisitRecord]:
    """Monday 11:xx of each of the 8 previous weeks: 2, 1, 2, 1, ... pulmonology arrivals."""
    visits = []
    for week in range(1, 9):
        for n in range(2 if week % 2 else 1):
            arrival = END - timedelta(weeks=week, minutes=45 - 30 * n)
            visits.append(
                _visit(f"h{week}-{n}", arrival, PULMONOLOGY, departure=arrival + timedelta(hours=1))
            )
    return visits


def the_end() -> list[VisitRecord]:
    """The visits around the data's end (``END``, the latest departure).

    A: gone exactly at END (not present). B: cardiology, seen, still there (present
    2 h). C: cardiology, not seen (waiting 40 min). E: pulmonology, seen 10 min ago
    after a 20-minute wait. D: no departure but arrived 25 h ago (not present).
    F: left unseen an hour ago.
    """
    minutes = lambda m: END - timedelta(minutes=m)  # noqa: E731
    return [
        _visit("A", minutes(180), CARDIOLOGY, seen=minutes(170), departure=END),
        _visit("B", minutes(120), CARDIOLOGY, seen=minutes(90)),
        _visit("C", minutes(40), CARDIOLOGY),
        _visit("E", minutes(30), PULMONOLOGY, seen=minutes(10)),
        _visit("D", minutes(25 * 60), PULMONOLOGY),
        _visit("F", minutes(300), PULMONOLOGY, departure=minutes(60)),
    ]


BAD_ROW = Rejection(
    location="extract.csv:99",
    field="arrival",
    reason="bad_time",
    message="column ENTREE: not a date-time",
    raw="ENTREE=yesterday;IPP=<redacted>",
)


@pytest.fixture
def observed(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> dict:
    """A site (capacity 3) with the history, the end visits and one quarantined row."""
    monkeypatch.setenv("HOSPIFLOW_PSEUDONYM_KEY", "a-test-key-of-enough-length")
    with engine.begin() as connection:
        site = sites.create_site(connection, "Hôpital Test", "Europe/Paris", capacity_spaces=3)
        viewer = tokens.create_token(connection, "ward-screen", "viewer")
        admin = tokens.create_token(connection, "data-manager", "admin")
    items = [*history(), *the_end(), BAD_ROW]
    summary = import_items(engine, site["id"], items, format="csv", files=["extract.csv"])
    assert summary.quarantined == 1
    return {
        "site": site,
        "run_id": summary.run_id,
        "visits": summary.imported,
        "viewer": {"Authorization": f"Bearer {viewer}"},
        "admin": {"Authorization": f"Bearer {admin}"},
    }


@pytest.fixture
def client(make_app, url, observed):
    """A client on the observed store (reads open, admin token stored)."""
    return make_app(url).test_client()


def _ok(response, status: int = 200) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert body["ok"] is True
    return body


def test_sites_list_and_detail(client, observed) -> None:
    """Sites show their zone, capacity, observed run, visit count and arrival span."""
    listed = _ok(client.get(API + "/sites"))["sites"]
    assert len(listed) == 1
    site = listed[0]
    assert site["name"] == "Hôpital Test" and site["capacity_spaces"] == 3
    assert site["run_id"] == observed["run_id"] and site["source"] == "observed"
    assert site["visits"] == observed["visits"] == 18
    assert site["first_arrival"] == "2025-01-13T11:15:00.000+01:00"
    assert site["last_arrival"] == "2025-03-10T11:30:00.000+01:00"
    detail = _ok(client.get(f"{API}/sites/{site['id']}"))["site"]
    assert detail == site
    assert client.get(API + "/sites/999").status_code == 404


def test_quality_is_counts_for_viewers(make_app, url, observed) -> None:
    """Quality (counts only) is open to a viewer when reads need a token."""
    client = make_app(url, READS_NEED_TOKEN=True).test_client()
    path = f"{API}/sites/{observed['site']['id']}/quality"
    assert client.get(path).status_code == 401
    body = _ok(client.get(path, headers=observed["viewer"]))
    assert body["visits"] == 18 and body["quarantined"] == 1
    assert body["quarantine_by_reason"] == [{"reason": "bad_time", "count": 1}]
    assert body["imports"][0]["status"] == "complete"
    assert body["imports"][0]["files"] == ["extract.csv"]
    assert body["completeness"]["first_seen"] == pytest.approx(3 / 18, abs=1e-4)
    assert "raw" not in str(body)


def test_quality_is_cached_until_the_next_import(client, engine, observed) -> None:
    """The report is computed once per import: the same answer until new data come in."""
    path = f"{API}/sites/{observed['site']['id']}/quality"
    first = client.get(path, headers=observed["viewer"]).get_data()
    assert client.get(path, headers=observed["viewer"]).get_data() == first
    later = datetime(2025, 3, 12, 9, 0, tzinfo=ZoneInfo("Europe/Paris"))
    more = [_visit("LATE-1", later, "J18.9"), _visit("LATE-2", later, "S52.5")]
    import_items(engine, observed["site"]["id"], more, format="csv", files=["later.csv"])
    body = _ok(client.get(path, headers=observed["viewer"]))
    assert body["visits"] == 20 and body["imports"][0]["files"] == ["later.csv"]


def test_quarantine_is_admin_only(client, observed) -> None:
    """Quarantined rows (location, field, reason, redacted raw) need an admin token."""
    path = f"{API}/sites/{observed['site']['id']}/quarantine"
    assert client.get(path).status_code == 401
    forbidden = client.get(path, headers=observed["viewer"])
    assert forbidden.status_code == 403
    assert forbidden.get_json()["error"]["code"] == "forbidden"
    body = _ok(client.get(path + "?reason=bad_time", headers=observed["admin"]))
    [item] = body["items"]
    assert (item["location"], item["field"], item["reason"]) == (
        "extract.csv:99",
        "arrival",
        "bad_time",
    )
    assert item["raw"] == "ENTREE=yesterday;IPP=<redacted>"
    assert body["next"] is None
    assert _ok(client.get(path + "?reason=other", headers=observed["admin"]))["items"] == []


def test_now_at_the_data_end(client, observed) -> None:
    """`now` of an observed run: exact present/waiting counts at the newest departure."""
    body = _ok(client.get(f"{API}/runs/{observed['run_id']}/now"))
    assert body["source"] == "observed"
    assert body["as_of"] == "2025-03-10T12:00:00.000+01:00"
    assert body["not_in_data"] == ["doctors"]
    by = {s["specialty"]: s for s in body["specialties"]}
    cardiology, pulmonology, totals = by["cardiology"], by["pulmonology"], body["totals"]
    assert (cardiology["present"], cardiology["waiting"], cardiology["in_treatment"]) == (2, 1, 1)
    assert (pulmonology["present"], pulmonology["waiting"], pulmonology["in_treatment"]) == (
        1,
        0,
        1,
    )
    assert (totals["present"], totals["waiting"], totals["in_treatment"]) == (3, 1, 2)
    assert totals["longest_present_min"] == 120.0
    assert totals["longest_wait_min"] == 40.0 == cardiology["longest_wait_min"]
    assert totals["arrivals_last_hour"] == 2
    assert totals["treatments_started_last_hour"] == 1
    assert totals["mean_wait_last_hour_min"] == 20.0
    assert pulmonology["usual_arrivals_this_hour"] == 1.5 == totals["usual_arrivals_this_hour"]
    assert cardiology["usual_arrivals_this_hour"] == 0.0
    for key in ("doctors_on_duty", "doctors_busy", "doctors_free", "utilisation"):
        assert totals[key] is None and cardiology[key] is None
    # 3 present against 3 spaces: red (amber from 85 %)
    assert body["thresholds"]["basis"] == "capacity"
    assert body["thresholds"]["red"] == {"patients_present": 3.0}
    assert body["thresholds"]["amber"]["patients_present"] == pytest.approx(2.55)
    assert totals["saturation"] == "red"
    assert cardiology["saturation"] is None
    assert [a["specialty"] for a in body["recent_arrivals"][:2]] == ["pulmonology", "cardiology"]


def test_now_without_first_seen_times(make_app, url, engine, monkeypatch) -> None:
    """Data without any first-seen time: waiting is null (unknown), not zero."""
    monkeypatch.setenv("HOSPIFLOW_PSEUDONYM_KEY", "a-test-key-of-enough-length")
    with engine.begin() as connection:
        site = sites.create_site(connection, "Sans triage", "Europe/Paris", capacity_spaces=10)
    visits = [
        _visit("x", END - timedelta(hours=2), CARDIOLOGY, departure=END),
        _visit("y", END - timedelta(minutes=30), CARDIOLOGY),
    ]
    summary = import_items(engine, site["id"], visits, format="csv")
    body = _ok(make_app(url).test_client().get(f"{API}/runs/{summary.run_id}/now"))
    assert body["not_in_data"] == ["doctors", "first_seen"]
    assert body["totals"]["present"] == 1
    assert body["totals"]["waiting"] is None and body["totals"]["in_treatment"] is None
    assert body["totals"]["saturation"] == "green"  # 1 of 10 spaces


def test_runs_are_marked_by_source(make_app, url, observed, simulate) -> None:
    """/runs and /runs/{id} say simulation or observed, the site, and what observed data lack."""
    simulated = simulate(url, days=1)
    client = make_app(url).test_client()
    runs = {r["id"]: r for r in _ok(client.get(API + "/runs"))["runs"]}
    assert runs[simulated]["source"] == "simulation" and runs[simulated]["site"] is None
    mine = runs[observed["run_id"]]
    assert mine["source"] == "observed" and mine["kind"] == "import"
    assert mine["site"] == {"id": observed["site"]["id"], "name": "Hôpital Test"}
    assert mine["lacks"] == ["doctors", "rosters", "state_snapshots"]
    assert "lacks" not in runs[simulated]
    only = _ok(client.get(API + "/runs?source=observed"))["runs"]
    assert [r["id"] for r in only] == [observed["run_id"]]
    detail = _ok(client.get(f"{API}/runs/{observed['run_id']}"))["run"]
    assert detail["source"] == "observed"
    assert detail["as_of"] == "2025-03-10T12:00:00.000+01:00"


def _hl7(visits: list[VisitRecord]) -> bytes:
    out = io.StringIO()
    hl7v2.write(visits, out, WriteOptions(timezone="Europe/Paris"))
    return out.getvalue().encode()


def test_upload_imports_and_reimport_adds_nothing(client, observed) -> None:
    """A multipart upload runs the import; the answer is its summary; again: duplicates only."""
    new = [
        _visit(
            f"n{i}", END + timedelta(hours=i), CARDIOLOGY, departure=END + timedelta(hours=i + 1)
        )
        for i in range(1, 4)
    ]
    site_id = observed["site"]["id"]
    path = f"{API}/sites/{site_id}/imports"

    def upload():
        return client.post(
            path,
            data={"format": "hl7", "files": [(io.BytesIO(_hl7(new)), "feed.hl7")]},
            headers=observed["admin"],
            content_type="multipart/form-data",
        )

    summary = _ok(upload())["import"]
    assert (summary["imported"], summary["quarantined"], summary["status"]) == (3, 0, "complete")
    assert summary["files"] == ["feed.hl7"] and summary["actor"] == "data-manager"
    assert _ok(client.get(f"{API}/sites/{site_id}"))["site"]["visits"] == 21
    again = _ok(upload())["import"]
    assert (again["imported"], again["duplicates"]) == (0, 3)
    # the run grew: its answers are not served from the cache of the older data
    now = _ok(client.get(f"{API}/runs/{observed['run_id']}/now"))
    assert now["as_of"] == "2025-03-10T16:00:00.000+01:00"


@pytest.mark.parametrize(
    ("form", "status", "code"),
    [
        ({"format": "word"}, 400, "invalid_parameter"),
        ({"format": "hl7", "settings": "[1]"}, 400, "bad_request"),
        ({"format": "csv"}, 422, "ingest_invalid"),  # no mapping (or no csv reader yet)
    ],
)
def test_upload_rejections(client, observed, form, status, code) -> None:
    """A wrong format, settings that are not an object, an unreadable upload: 400/422."""
    data = {**form, "files": [(io.BytesIO(b"a;b\n1;2\n"), "x.csv")]}
    response = client.post(
        f"{API}/sites/{observed['site']['id']}/imports",
        data=data,
        headers=observed["admin"],
        content_type="multipart/form-data",
    )
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == code


def test_upload_over_the_size_limit(make_app, url, observed) -> None:
    """An upload over MAX_IMPORT_BYTES is 413 in the error shape."""
    client = make_app(url, MAX_IMPORT_BYTES=1000).test_client()
    response = client.post(
        f"{API}/sites/{observed['site']['id']}/imports",
        data={"format": "hl7", "files": [(io.BytesIO(b"x" * 5000), "big.hl7")]},
        headers=observed["admin"],
        content_type="multipart/form-data",
    )
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "too_large"


def test_create_site_and_audit(client, observed, tmp_path, monkeypatch) -> None:
    """POST /sites creates a site (201, Location) and its key; the audit names the token."""
    monkeypatch.delenv("HOSPIFLOW_PSEUDONYM_KEY")
    monkeypatch.setenv("HOSPIFLOW_KEY_DIR", str(tmp_path / "keys"))
    body = {
        "name": "CH Nord",
        "timezone": "Europe/Paris",
        "code": "590000001",
        "capacity_spaces": 12,
    }
    response = client.post(API + "/sites", json=body, headers=observed["admin"])
    site = _ok(response, 201)["site"]
    assert response.headers["Location"] == f"/api/v1/sites/{site['id']}"
    assert (site["name"], site["code"], site["visits"], site["run_id"]) == (
        "CH Nord",
        "590000001",
        0,
        None,
    )
    assert (tmp_path / "keys" / "CH_Nord.key").exists()
    again = client.post(API + "/sites", json=body, headers=observed["admin"])
    assert again.status_code == 422
    bad_zone = client.post(
        API + "/sites", json={"name": "X", "timezone": "Mars/Olympus"}, headers=observed["admin"]
    )
    assert bad_zone.status_code == 422
    entries = _ok(client.get(API + "/audit?limit=5", headers=observed["admin"]))["entries"]
    assert (entries[0]["action"], entries[0]["actor"], entries[0]["target"]) == (
        "site_create",
        "data-manager",
        "site:CH Nord",
    )
    assert client.get(API + "/audit", headers=observed["viewer"]).status_code == 403


def test_export_downloads_and_is_audited(client, observed) -> None:
    """An admin exports a run's visits as a file; the export is in the audit log."""
    path = f"{API}/runs/{observed['run_id']}/export?format=hl7"
    assert client.get(path, headers=observed["viewer"]).status_code == 403
    response = client.get(path, headers=observed["admin"])
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "attachment" in response.headers["Content-Disposition"]
    assert response.headers["X-Visits"] == "18"
    text = response.get_data(as_text=True)
    assert text.count("MSH|") >= 18
    assert "IPP-" not in text and "V-A" not in text  # pseudonyms only
    entries = _ok(client.get(API + "/audit", headers=observed["admin"]))["entries"]
    assert (entries[0]["action"], entries[0]["target"], entries[0]["rows"]) == (
        "export",
        f"run:{observed['run_id']}",
        18,
    )
    assert (
        client.get(f"{API}/runs/999/export?format=hl7", headers=observed["admin"]).status_code
        == 404
    )


def test_stored_visits_hold_no_identifier(engine, observed) -> None:
    """Sanity of the fixture: the store holds pseudonyms, never the raw visit ids."""
    with engine.connect() as connection:
        keys = connection.execute(sa.select(schema.visits.c.visit_key)).scalars().all()
    assert keys and not [k for k in keys if k and k.startswith("V-")]


@pytest.fixture
def small_site(engine, monkeypatch) -> int:
    """A site without a declared capacity: x 10:00-12:00, y from 11:30 and z from 11:50 (open).

    Its data end at noon (x's departure); hourly census 1.0 then 1 + 0.5 + 1/6.
    """
    monkeypatch.setenv("HOSPIFLOW_PSEUDONYM_KEY", "a-test-key-of-enough-length")
    with engine.begin() as connection:
        site = sites.create_site(connection, "Sans capacité", "Europe/Paris")
    visits = [
        _visit("x", END - timedelta(hours=2), CARDIOLOGY, departure=END),
        _visit("y", END - timedelta(minutes=30), CARDIOLOGY),
        _visit("z", END - timedelta(minutes=10), PULMONOLOGY),
    ]
    return import_items(engine, site["id"], visits, format="csv").run_id


def test_census_per_hour_and_hour_of_week(make_app, url, small_site) -> None:
    """Census: time-weighted mean present per hour; 168 hour-of-week means, Monday first."""
    client = make_app(url).test_client()
    body = _ok(client.get(f"{API}/runs/{small_site}/census"))
    assert body["buckets"] == ["2025-03-10T10:00:00.000+01:00", "2025-03-10T11:00:00.000+01:00"]
    assert body["values"] == pytest.approx([1.0, 1 + 0.5 + 1 / 6], abs=1e-3)
    week = _ok(client.get(f"{API}/runs/{small_site}/census/hour-of-week"))["values"]
    assert len(week) == 168
    assert week[10] == pytest.approx(1.0) and week[11] == pytest.approx(1 + 0.5 + 1 / 6, abs=1e-3)
    assert client.get(f"{API}/runs/{small_site}/census?bucket=day").status_code == 400


def test_now_saturation_without_capacity_uses_census_percentiles(make_app, url, small_site):
    """No capacity declared: present (2) against the site's own p90/p97 of hourly census."""
    body = _ok(make_app(url).test_client().get(f"{API}/runs/{small_site}/now"))
    thresholds = body["thresholds"]
    assert thresholds["basis"] == "census_percentiles"
    assert "percentile" in thresholds["rule"]
    hourly = [1.0, 1 + 0.5 + 1 / 6]
    assert thresholds["amber"]["patients_present"] == pytest.approx(
        hourly[0] + 0.90 * (hourly[1] - hourly[0]), abs=0.01
    )
    assert thresholds["red"]["patients_present"] == pytest.approx(
        hourly[0] + 0.97 * (hourly[1] - hourly[0]), abs=0.01
    )
    assert body["totals"]["present"] == 2
    assert body["totals"]["saturation"] == "red"
