"""The tension endpoints on simulated runs (the default hospital's flow: every input; the
plain hospital: no admissions, said so) and on an imported site with dispositions and
ages (SQLite and PostgreSQL), and their OpenAPI entries."""

from __future__ import annotations

import random
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hospiflow.store import migrate, sites
from hospiflow.store.engine import create_engine_for

sys.path.insert(0, str(Path(__file__).parent.parent / "tension"))
from test_store_tension import START, _visits  # noqa: E402

API = "/api/v1"
DAYS = 42


def _get(client, path: str) -> dict:
    response = client.get(API + path)
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["ok"] is True
    return body


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def site_url(request: pytest.FixtureRequest, tmp_path, monkeypatch) -> str:
    from hospiflow.ingest.pipeline import import_items

    monkeypatch.setenv("HOSPIFLOW_PSEUDONYM_KEY", "a-test-key-of-enough-length")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'site.db'}"
    else:
        new: Callable[[str], str] = request.getfixturevalue("postgres_databases")
        url = new("tension_api")
    migrate.init(url)
    engine = create_engine_for(url)
    try:
        with engine.begin() as connection:
            site = sites.create_site(
                connection, "Hôpital Tension", "Europe/Paris", capacity_spaces=6
            )
        assert (
            import_items(
                engine, site["id"], _visits(random.Random(4), START, DAYS, "S"), format="csv"
            ).run_id
            == 1
        )
    finally:
        engine.dispose()
    return url


def test_site_tension_levels_and_reasons(make_app: Callable[..., Any], site_url: str) -> None:
    client = make_app(site_url).test_client()
    body = _get(client, "/runs/1/tension")
    assert len(body["days"]) == DAYS and body["days"][0] == "2025-01-06"
    by_key = {i["key"]: i for i in body["indicators"]}
    assert [i["code"] for i in body["indicators"]] == [f"HET{j}" for j in range(1, 7)]
    assert by_key["beds_available"]["reason"].startswith("no ward beds")
    for key in ("attendances", "admitted_mean_stay_min", "admission_rate", "attendances_75_plus"):
        assert by_key[key]["reason"] is None, key
        assert all(v is not None for v in by_key[key]["values"])
    assert all(level == -1 for level in by_key["attendances"]["levels"][:28])
    assert all(level >= 0 for level in by_key["attendances"]["levels"][28:])
    assert body["known_indicators"][-1] == 5
    assert all(g >= 0 for g in body["global"][28:])
    assert body["tension"] == [g >= 3 for g in body["global"]]
    # a larger k never raises a level
    wider = _get(client, "/runs/1/tension?k=2")
    for a, b in zip(by_key["attendances"]["levels"], wider["indicators"][1]["levels"], strict=True):
        assert b <= a
    assert wider["version"] == body["version"]  # stored rows reused
    now = _get(client, "/runs/1/tension/now")
    assert now["status"]["level"] in ("green", "amber", "red")
    assert now["status"]["reason"]["basis"] == "capacity"
    assert "patients present" in now["status"]["text"]
    assert now["nedocs"]["value"] is None and "hospital_beds" in now["nedocs"]["missing"]
    assert now["edwin"]["reason"].startswith("not available")


def test_plain_simulated_run_says_what_is_not_available(
    make_app: Callable[..., Any], tmp_path: Path
) -> None:
    from hospiflow.runner import simulate_run
    from hospiflow.simulation.scenario import plain_scenario

    url = f"sqlite:///{tmp_path / 'plain.db'}"
    migrate.init(url)
    simulate_run(plain_scenario(days=7.0, warmup_days=1.0, seed=11), database_url=url)
    client = make_app(url).test_client()
    body = _get(client, "/runs/1/tension")
    by_key = {i["key"]: i for i in body["indicators"]}
    assert by_key["admission_rate"]["reason"].startswith("no admission recorded")
    assert by_key["attendances_75_plus"]["reason"] == "no ages recorded in the data"
    assert all(v is None for v in by_key["admission_rate"]["values"])
    assert all(v > 0 for v in by_key["attendances"]["values"])
    now = _get(client, "/runs/1/tension/now")
    same = _get(client, "/runs/1/now")["department_status"]
    assert now["status"] == same
    assert now["status"]["level"] != "unknown"
    assert set(now["edwin"]["missing"]) >= {"patients_by_acuity", "treatment_spaces"}


def test_default_simulated_run_has_the_flow_inputs(
    make_app: Callable[..., Any], private_store: str
) -> None:
    """The default hospital records admissions, ages and acuity: the indicators that need
    them are computed, not said missing."""
    client = make_app(private_store).test_client()
    body = _get(client, "/runs/1/tension")
    by_key = {i["key"]: i for i in body["indicators"]}
    for key in ("attendances", "admission_rate", "attendances_75_plus"):
        assert by_key[key]["reason"] is None, key
        assert all(v is not None for v in by_key[key]["values"]), key
    assert any(v > 0 for v in by_key["admission_rate"]["values"])
    now = _get(client, "/runs/1/tension/now")
    assert now["status"] == _get(client, "/runs/1/now")["department_status"]
    assert "patients_by_acuity" not in (now["edwin"].get("missing") or [])


def test_bad_parameters_and_unknown_runs(make_app: Callable[..., Any], private_store: str) -> None:
    client = make_app(private_store).test_client()
    bad = client.get(API + "/runs/1/tension?k=0")
    assert bad.status_code == 400 and "k" in bad.get_data(as_text=True)
    assert client.get(API + "/runs/1/tension?color=red").status_code == 400
    assert client.get(API + "/runs/1/tension/now?x=1").status_code == 400
    assert client.get(API + "/runs/999/tension").status_code == 404
    assert client.get(API + "/runs/999/tension/now").status_code == 404
    spec = client.get(API + "/openapi.json").get_json()
    for path in ("/api/v1/runs/{run_id}/tension", "/api/v1/runs/{run_id}/tension/now"):
        assert spec["paths"][path]["get"]["responses"]["200"]["content"]
