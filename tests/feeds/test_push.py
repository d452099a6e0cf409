"""REST push of visits (JSON, FHIR) into a site, on SQLite and PostgreSQL: per-item results,
idempotence by visit id, corrections, quarantine, all-or-nothing batches, tokens."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from hospiflow.store import schema

API = "/api/v1"
PARIS = ZoneInfo("Europe/Paris")


def _visits(n: int, start: datetime | None = None, prefix: str = "V") -> list[dict]:
    start = start or datetime.now(PARIS).replace(microsecond=0) - timedelta(hours=6)
    out = []
    for i in range(n):
        arrival = start + timedelta(minutes=7 * i)
        out.append(
            {
                "visit_id": f"{prefix}{i:05d}",
                "patient_id": f"IPP{i:06d}",
                "arrival": arrival.isoformat(),
                "first_seen": (arrival + timedelta(minutes=25)).isoformat(),
                "departure": (arrival + timedelta(hours=2)).isoformat() if i % 2 else None,
                "disposition": "home" if i % 2 else None,
                "diagnosis": "J18.9",
                "sex": "F",
                "birth_date": "1950-06-01",
                "postcode": "75013",
            }
        )
    return out


def _visit_count(engine: sa.Engine, run_id: int | None) -> int:
    with engine.connect() as connection:
        v = schema.visits
        return connection.execute(
            sa.select(sa.func.count()).where(v.c.run_id == run_id)
        ).scalar_one()


def _run_id(engine: sa.Engine, site_id: int) -> int | None:
    with engine.connect() as connection:
        s = schema.sites
        return connection.execute(sa.select(s.c.run_id).where(s.c.id == site_id)).scalar()


def test_push_accepts_then_duplicates_then_corrects(make_app, url, engine, site) -> None:
    client = make_app(url).test_client()
    path = f"{API}/sites/{site['id']}/visits"
    batch = _visits(10)
    answer = client.post(path, json={"visits": batch}, headers=site["admin"])
    assert answer.status_code == 200, answer.get_data(as_text=True)
    body = answer.get_json()
    assert body["accepted"] == 10 and body["duplicates"] == 0
    assert [r["status"] for r in body["results"]] == ["accepted"] * 10
    run_id = _run_id(engine, site["id"])
    assert _visit_count(engine, run_id) == 10

    again = client.post(path, json={"visits": batch}, headers=site["admin"]).get_json()
    assert again["duplicates"] == 10 and again["accepted"] == 0
    assert _visit_count(engine, run_id) == 10

    batch[0]["departure"] = batch[0]["first_seen"]  # discharged now: a correction
    batch[0]["disposition"] = "admitted"
    fixed = client.post(path, json={"visits": batch[:3]}, headers=site["admin"]).get_json()
    assert [r["status"] for r in fixed["results"]] == ["updated", "duplicate", "duplicate"]
    with engine.connect() as connection:
        v = schema.visits
        dispositions = connection.execute(
            sa.select(v.c.disposition).where(v.c.run_id == run_id, v.c.departure_ms.is_not(None))
        ).scalars()
        assert 2 in list(dispositions)
    # the run's span and count follow, and the `now` view sees them present
    now = client.get(f"{API}/runs/{run_id}/now").get_json()
    assert now["totals"]["present"] >= 4


def test_bad_items_are_quarantined_and_the_rest_committed(make_app, url, engine, site) -> None:
    client = make_app(url).test_client()
    batch = _visits(4)
    batch[1]["arrival"] = "yesterday"
    batch[2]["departure"] = (datetime.now(PARIS) - timedelta(days=3)).isoformat()
    batch[3]["colour"] = "blue"
    answer = client.post(
        f"{API}/sites/{site['id']}/visits", json={"visits": batch}, headers=site["admin"]
    )
    body = answer.get_json()
    assert answer.status_code == 200, body
    statuses = [(r["status"], r.get("reason"), r.get("field")) for r in body["results"]]
    assert statuses == [
        ("accepted", None, None),
        ("quarantined", "bad_value", "arrival"),
        ("quarantined", "departure_before_arrival", "departure"),
        ("quarantined", "unknown_field", "colour"),
    ]
    quarantine = client.get(f"{API}/sites/{site['id']}/quarantine", headers=site["admin"])
    reasons = sorted(r["reason"] for r in quarantine.get_json()["items"])
    assert reasons == ["bad_value", "departure_before_arrival", "unknown_field"]
    text = quarantine.get_data(as_text=True)
    assert "IPP000002" not in text and "75013" not in text


def test_a_batch_is_all_or_nothing(make_app, url, engine, site) -> None:
    """A batch that fails after its visits were written leaves none of them behind."""
    app = make_app(url)
    client = app.test_client()
    path = f"{API}/sites/{site['id']}/visits"
    assert client.post(path, json={"visits": _visits(3)}, headers=site["admin"]).status_code == 200
    run_id = _run_id(engine, site["id"])
    from hospiflow.web import push_api

    with app.app_context():
        feed, _lock = push_api._feed(site["id"], "push-json")
    original = feed._touch

    def broken(*args, **kwargs):
        original(*args, **kwargs)
        raise RuntimeError("disk full")  # after the inserts, before the commit

    feed._touch = broken  # type: ignore[method-assign]
    answer = client.post(path, json={"visits": _visits(5, prefix="W")}, headers=site["admin"])
    assert answer.status_code == 500
    assert _visit_count(engine, run_id) == 3  # none of the five
    feed._touch = original  # type: ignore[method-assign]
    answer = client.post(path, json={"visits": _visits(5, prefix="W")}, headers=site["admin"])
    assert answer.get_json()["accepted"] == 5
    assert _visit_count(engine, run_id) == 8


def test_push_needs_an_admin_token_and_a_batch(make_app, url, site) -> None:
    client = make_app(url).test_client()
    path = f"{API}/sites/{site['id']}/visits"
    body = {"visits": _visits(1)}
    assert client.post(path, json=body).status_code == 401
    assert client.post(path, json=body, headers=site["viewer"]).status_code == 403
    assert client.post(path, json=[1], headers=site["admin"]).status_code == 400
    assert client.post(path, json={"visits": []}, headers=site["admin"]).status_code == 400
    missing = client.post(f"{API}/sites/999/visits", json=body, headers=site["admin"])
    assert missing.status_code == 404


def test_push_fhir_bundle_and_ndjson(make_app, url, engine, site) -> None:
    client = make_app(url).test_client()
    start = datetime.now(PARIS).replace(microsecond=0) - timedelta(hours=3)

    def encounter(n: int) -> dict:
        return {
            "resourceType": "Encounter",
            "id": f"enc{n}",
            "identifier": [{"system": "urn:visit", "value": f"F{n}"}],
            "status": "in-progress",
            "class": {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "code": "EMER",
            },
            "period": {"start": (start + timedelta(minutes=10 * n)).isoformat()},
        }

    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": encounter(n)} for n in range(3)],
    }
    path = f"{API}/sites/{site['id']}/fhir"
    answer = client.post(
        path,
        data=json.dumps(bundle),
        headers={**site["admin"], "Content-Type": "application/fhir+json"},
    )
    body = answer.get_json()
    assert answer.status_code == 200, body
    assert body["accepted"] == 3, body
    ndjson = "\n".join(json.dumps(encounter(n)) for n in range(2, 5))
    answer = client.post(
        path, data=ndjson, headers={**site["admin"], "Content-Type": "application/fhir+ndjson"}
    )
    body = answer.get_json()
    assert (body["accepted"], body["duplicates"]) == (2, 1), body
    assert _visit_count(engine, _run_id(engine, site["id"])) == 5


def test_push_is_in_the_openapi_document(make_app, url) -> None:
    spec = make_app(url).test_client().get(f"{API}/openapi.json").get_json()
    post = spec["paths"]["/api/v1/sites/{site_id}/visits"]["post"]
    schema_ref = post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert schema_ref.endswith("PushVisits")
    assert "PushResult" in spec["components"]["schemas"]
    assert "/api/v1/sites/{site_id}/fhir" in spec["paths"]
