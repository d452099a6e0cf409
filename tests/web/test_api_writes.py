"""Write endpoints: bearer-token rules, what-if simulations, deleting runs."""

from __future__ import annotations

import time

import pytest

API = "/api/v1"
WHAT_IF = {
    "base": "default",
    "label": "more patients",
    "changes": {"arrivals": {"rate_per_hour": 14}, "time": {"days": 2, "seed": 3}},
}
WRITE_ROUTES = [
    ("DELETE", "/runs/1", None, 200),
    ("POST", "/runs", WHAT_IF, 202),
]


def _send(client, method: str, path: str, body, headers=None):
    return client.open(API + path, method=method, json=body, headers=headers or {})


def _wait_complete(client, run_id: int, seconds: float = 60.0) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        run = client.get(f"{API}/runs/{run_id}").get_json()["run"]
        if run["status"] != "running":
            return run
        assert 0 <= run["progress"] <= 1
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not finish")


@pytest.mark.parametrize(("method", "path", "body", "ok_status"), WRITE_ROUTES)
def test_writes_disabled_without_token(make_app, private_store, method, path, body, ok_status):
    """With no token configured, write endpoints answer 403 (disabled, not open)."""
    client = make_app(private_store).test_client()
    for headers in ({}, {"Authorization": "Bearer anything"}):
        response = _send(client, method, path, body, headers)
        assert response.status_code == 403
        assert response.get_json()["error"]["code"] == "writes_disabled"


@pytest.mark.parametrize(("method", "path", "body", "ok_status"), WRITE_ROUTES)
@pytest.mark.parametrize(
    "authorization", [None, "Bearer wrong", "Basic czNjcmV0LXRva2Vu", "Bearer", "s3cret-token"]
)
def test_wrong_or_missing_token_is_401(
    make_app, private_store, token, method, path, body, ok_status, authorization
):
    """A missing, wrong or non-bearer credential is 401, and nothing is written."""
    client = make_app(private_store, API_TOKEN=token).test_client()
    headers = {} if authorization is None else {"Authorization": authorization}
    response = _send(client, method, path, body, headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"
    assert [r["id"] for r in client.get(API + "/runs").get_json()["runs"]] == [1]


@pytest.mark.parametrize(("method", "path", "body", "ok_status"), WRITE_ROUTES)
def test_right_token_is_accepted(make_app, private_store, token, method, path, body, ok_status):
    """The right bearer token performs the write."""
    client = make_app(private_store, API_TOKEN=token).test_client()
    response = _send(client, method, path, body, {"Authorization": f"Bearer {token}"})
    assert response.status_code == ok_status, response.get_data(as_text=True)
    assert response.get_json()["ok"] is True
    if method == "POST":
        _wait_complete(client, response.get_json()["run_id"])


def test_token_from_environment_and_file(make_app, private_store, tmp_path, monkeypatch):
    """The token can come from $HOSPIFLOW_API_TOKEN or the file named by $..._TOKEN_FILE."""
    monkeypatch.setenv("HOSPIFLOW_API_TOKEN", "from-env")
    client = make_app(private_store).test_client()
    assert client.get(API + "/health").get_json()["writes_enabled"] is True
    response = client.delete(API + "/runs/1", headers={"Authorization": "Bearer from-env"})
    assert response.status_code == 200
    monkeypatch.delenv("HOSPIFLOW_API_TOKEN")
    path = tmp_path / "token"
    path.write_text("from-file\n")
    monkeypatch.setenv("HOSPIFLOW_API_TOKEN_FILE", str(path))
    client = make_app(private_store).test_client()
    response = client.delete(API + "/runs/1", headers={"Authorization": "Bearer from-file"})
    assert response.status_code == 404  # authorised; the run is already gone


def test_what_if_completes_and_is_listed(make_app, private_store, token):
    """A what-if POST returns 202 and a run id; the run completes and appears in /runs."""
    client = make_app(private_store, API_TOKEN=token).test_client()
    auth = {"Authorization": f"Bearer {token}"}
    body = {**WHAT_IF, "changes": {**WHAT_IF["changes"], "routing": {"policy": "random"}}}
    response = client.post(API + "/runs", json=body, headers=auth)
    assert response.status_code == 202
    run_id = response.get_json()["run_id"]
    assert response.headers["Location"] == f"/api/v1/runs/{run_id}"
    run = _wait_complete(client, run_id)
    assert run["status"] == "complete" and run["progress"] == 1.0
    assert run["label"] == "more patients"
    assert run["parameters"]["arrivals"]["rate_per_hour"] == 14
    assert run["parameters"]["routing"]["policy"] == "random"
    listed = client.get(API + "/runs").get_json()["runs"]
    assert [r["id"] for r in listed] == [run_id, 1]
    kpis = client.get(f"{API}/runs/{run_id}/kpis").get_json()["kpis"]
    assert kpis["arrivals"] > 0


def test_what_if_replaces_the_roster(make_app, private_store, token):
    """`shifts` replaces the roster: a hospital of one specialty-less roster is refused (422)."""
    client = make_app(private_store, API_TOKEN=token).test_client()
    auth = {"Authorization": f"Bearer {token}"}
    shifts = [{"specialty": "cardiology", "start": "00:00", "end": "00:00", "doctors": 3}]
    response = client.post(
        API + "/runs", json={"changes": {"time": {"days": 1}, "shifts": shifts}}, headers=auth
    )
    assert response.status_code == 422
    assert "no doctor" in response.get_json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"changes": {"arrivals": {"rate_per_hour": -3}}}, 422, "scenario_invalid"),
        ({"changes": {"time": {"days": 4000}}}, 422, "scenario_invalid"),
        ({"changes": {"routing": {"policy": "telepathy"}}}, 422, "scenario_invalid"),
        ({"changes": {"catalog": "/etc/passwd"}}, 422, "scenario_invalid"),
        ({"changes": {"arrivals": {"rate": 3}}}, 400, "unknown_key"),
        ({"base": "mars"}, 400, "invalid_parameter"),
        ({"changes": {"time": {"days": "many"}}}, 400, "invalid_parameter"),
        ({"surprise": 1}, 400, "unknown_key"),
    ],
)
def test_what_if_rejections(make_app, private_store, token, body, status, code):
    """Malformed bodies are 400, impossible scenarios 422, both with the error shape."""
    client = make_app(private_store, API_TOKEN=token).test_client()
    response = client.post(API + "/runs", json=body, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.get_json()["error"]["code"] == code


@pytest.mark.parametrize(
    ("data", "content_type"),
    [("{not json", "application/json"), ("[1]", "application/json"), ("{}", "text/plain")],
)
def test_what_if_needs_a_json_object(make_app, private_store, token, data, content_type):
    """A body that is not a JSON object (or not declared JSON) is 400; nothing starts."""
    client = make_app(private_store, API_TOKEN=token).test_client()
    response = client.post(
        API + "/runs",
        data=data,
        headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
    )
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_json"
    assert len(client.get(API + "/runs").get_json()["runs"]) == 1


def test_busy_and_running_conflicts(make_app, private_store, token):
    """Over MAX_JOBS a POST is 409; deleting a run that is still running is 409."""
    client = make_app(private_store, API_TOKEN=token, MAX_JOBS=1).test_client()
    auth = {"Authorization": f"Bearer {token}"}
    long = {"changes": {"time": {"days": 365}}}
    first = client.post(API + "/runs", json=long, headers=auth)
    assert first.status_code == 202
    run_id = first.get_json()["run_id"]
    second = client.post(API + "/runs", json=WHAT_IF, headers=auth)
    assert second.status_code == 409
    assert second.get_json()["error"]["code"] == "too_many_runs"
    conflict = client.delete(f"{API}/runs/{run_id}", headers=auth)
    assert conflict.status_code == 409


def test_delete_removes_everything(make_app, private_store, token):
    """Deleting a run removes it from the list and its endpoints answer 404."""
    client = make_app(private_store, API_TOKEN=token).test_client()
    response = client.delete(API + "/runs/1", headers={"Authorization": f"Bearer {token}"})
    assert response.get_json() == {"ok": True, "deleted": 1}
    assert client.get(API + "/runs").get_json()["runs"] == []
    assert client.get(API + "/runs/1/now").status_code == 404
    entries = client.get(API + "/audit", headers={"Authorization": f"Bearer {token}"}).get_json()
    deletion = [e for e in entries["entries"] if e["action"] == "delete"]
    assert deletion and deletion[0]["target"] == "run:1" and deletion[0]["rows"] > 0
    assert deletion[0]["actor"] == "api-token"
