"""Replicated what-ifs through the API: token-protected start, progress polled, the
differences with their intervals; bad change sets are 422 naming the field."""

from __future__ import annotations

import time

import pytest

API = "/api/v1"
SMALL = {"base": "emergency", "replications": 3, "weeks": 1}


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _wait(client, whatif_id: int, seconds: float = 180.0) -> tuple[dict, list[float]]:
    deadline = time.monotonic() + seconds
    seen: list[float] = []
    while time.monotonic() < deadline:
        answer = client.get(f"{API}/whatifs/{whatif_id}")
        assert answer.status_code == 200
        job = answer.get_json()["whatif"]
        seen.append(job["progress"])
        if job["status"] != "running":
            return job, seen
        time.sleep(0.05)
    raise AssertionError(f"what-if {whatif_id} did not finish")


def test_whatif_needs_an_admin_token(make_app, private_store, token) -> None:
    disabled = make_app(private_store).test_client()
    assert disabled.post(f"{API}/whatifs", json=SMALL).status_code == 403
    client = make_app(private_store, API_TOKEN=token).test_client()
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        assert client.post(f"{API}/whatifs", json=SMALL, headers=headers).status_code == 401
    assert client.get(f"{API}/whatifs/1").status_code == 404  # nothing was started


def test_whatif_runs_and_answers_the_differences(make_app, private_store, token) -> None:
    client = make_app(private_store, API_TOKEN=token).test_client()
    changes = {
        "doctors": [
            {"specialty": s, "start": "08:00", "end": "00:00", "change": 2}
            for s in ("general_medicine", "cardiology", "traumatology", "gastroenterology")
        ],
        "spaces": {"boxes": 4},
    }
    started = client.post(
        f"{API}/whatifs", json={**SMALL, "changes": changes}, headers=_auth(token)
    )
    assert started.status_code == 202, started.get_data(as_text=True)
    body = started.get_json()
    assert started.headers["Location"] == body["status_url"] == f"{API}/whatifs/{body['whatif_id']}"
    job, seen = _wait(client, body["whatif_id"])
    assert job["status"] == "complete", job["error"]
    assert seen == sorted(seen) and job["progress"] == 1.0 and job["done"] == job["total"] == 6
    result = job["result"]
    assert "boxes: 44 -> 48 spaces" in result["changes"]
    assert result["replications"] == 3 and result["weeks"] == 1
    by_key = {m["key"]: m for m in result["measures"]}
    assert set(by_key) == {
        "door_to_doctor_mean_min",
        "length_of_stay_mean_min",
        "share_within_4h",
        "boarding_hours_per_day",
        "red_hours",
        "red_days",
        "lwbs_share",
    }
    wait = by_key["door_to_doctor_mean_min"]
    assert wait["low"] <= wait["difference"] <= wait["high"]
    assert wait["difference"] == pytest.approx(wait["change"] - wait["baseline"])
    assert wait["difference"] < 0
    # a second what-if reuses the app's pool of workers
    from hospiflow.web.app import state

    jobs = state(client.application).jobs
    first_pool = jobs.pool()
    again = client.post(f"{API}/whatifs", json=SMALL, headers=_auth(token)).get_json()
    job, _ = _wait(client, again["whatif_id"])
    assert job["status"] == "complete"
    assert all(m["difference"] == 0 for m in job["result"]["measures"])  # a null change
    assert jobs.pool() is first_pool


@pytest.mark.parametrize(
    ("body", "status", "where"),
    [
        (
            {
                "changes": {
                    "doctors": [
                        {"specialty": "oncology", "start": "18:00", "end": "02:00", "change": 1}
                    ]
                }
            },
            422,
            "changes.doctors[0].specialty",
        ),
        ({"changes": {"spaces": {"corridor": 2}}}, 422, "changes.spaces.corridor"),
        ({"changes": {"arrivals_percent": -150}}, 422, "changes.arrivals_percent"),
        ({"changes": {"nurses": 2}}, 422, "changes"),
        ({"changes": {"ward_beds": "many"}}, 422, "changes.ward_beds"),
        ({"base": "plain", "changes": {"spaces": 2}}, 422, "changes"),
        ({"replications": 200, "weeks": 52}, 422, "replications"),
        ({"scenario": {"catalog": "/etc/passwd"}}, 422, "scenario.catalog"),
        ({"replications": 1}, 400, None),
        ({"base": "nowhere"}, 400, None),
    ],
)
def test_bad_requests_name_the_field(make_app, private_store, token, body, status, where) -> None:
    client = make_app(private_store, API_TOKEN=token).test_client()
    answer = client.post(f"{API}/whatifs", json={**SMALL, **body}, headers=_auth(token))
    assert answer.status_code == status, answer.get_data(as_text=True)
    error = answer.get_json()["error"]
    if where is not None:
        assert error["details"]["where"] == where
        assert where in error["message"]
    assert client.get(f"{API}/whatifs/1").status_code == 404  # no job was started


def test_whatif_on_a_whole_scenario(make_app, private_store, token) -> None:
    """A scenario given whole (as a calibrated file would be) is the base of the what-if."""
    from hospiflow.simulation.scenario import load_scenario, scenario_to_dict

    mine = scenario_to_dict(load_scenario("emergency").replace(name="my-hospital", seed=5))
    client = make_app(private_store, API_TOKEN=token).test_client()
    body = {
        "scenario": mine,
        "changes": {"ward_beds": {"medicine": 20}},
        "replications": 2,
        "weeks": 1,
    }
    started = client.post(f"{API}/whatifs", json=body, headers=_auth(token))
    assert started.status_code == 202, started.get_data(as_text=True)
    job, _ = _wait(client, started.get_json()["whatif_id"])
    assert job["status"] == "complete", job["error"]
    assert job["result"]["base"] == "my-hospital"
    assert job["result"]["changes"] == ["medicine: 282 -> 302 beds"]
