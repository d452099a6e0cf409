"""A site's twin fidelity: stored in ``calibrations`` and served by
``GET /api/v1/sites/{id}/fidelity``, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

from hospiflow.store import calibrations
from hospiflow.store import sites as store_sites

API = "/api/v1"
CRITERIA = [
    {
        "name": "arrivals by hour of week (MAPE)",
        "value": 0.08,
        "target": "≤ 10 %",
        "unit": "%",
        "passed": True,
    },
    {
        "name": "admissions (points)",
        "value": 2.5,
        "target": "≤ 2 points",
        "unit": "points",
        "passed": False,
    },
]


def save_validation(
    connection: Any, site_id: int, criteria: list[dict[str, Any]], details: dict[str, Any]
) -> None:
    """A validation as ``calibrate --validate`` stores it, fitted before 2025-03-06."""
    calibrations.save_calibration(
        connection,
        site_id,
        kind="validation",
        until_local="2025-03-06",
        holdout_weeks=8,
        replications=20,
        scenario_toml="name = 'x'\n",
        catalog_toml="",
        criteria=criteria,
        passed=all(c["passed"] for c in criteria),
        details=details,
    )


def test_fidelity_is_null_before_a_validation_then_the_newest(make_app, engine, url):
    with engine.begin() as connection:
        site = store_sites.create_site(connection, "CH Fidèle", "Europe/Paris")
    client = make_app(url).test_client()
    body = client.get(f"{API}/sites/{site['id']}/fidelity").get_json()
    assert body == {"ok": True, "site_id": site["id"], "fidelity": None}
    with engine.begin() as connection:
        for passed in (True, False):
            save_validation(
                connection,
                site["id"],
                CRITERIA if not passed else CRITERIA[:1],
                {
                    "holdout_end": "2025-05-01",
                    "not_estimated": [{"item": "doctors", "default": "load", "reason": "none"}],
                },
            )
        calibrations.save_calibration(  # a plain fit is not a validation
            connection,
            site["id"],
            kind="fit",
            until_local="2025-05-01",
            scenario_toml="",
            catalog_toml="",
            details={},
        )
    fidelity = client.get(f"{API}/sites/{site['id']}/fidelity").get_json()["fidelity"]
    assert fidelity["passed"] is False and fidelity["replications"] == 20
    assert [c["passed"] for c in fidelity["criteria"]] == [True, False]
    assert fidelity["fitted_before"] == "2025-03-06" and fidelity["holdout_end"] == "2025-05-01"
    assert fidelity["not_estimated"][0]["item"] == "doctors"
    assert client.get(f"{API}/sites/999/fidelity").status_code == 404
    spec = client.get(f"{API}/openapi.json").get_json()
    assert "/api/v1/sites/{site_id}/fidelity" in spec["paths"]


PLOTS = {
    "arrivals": {"observed": [1.0] * 167 + [None], "fitted": [1.5] * 168},
    "care_time": {
        "family": "gamma",
        "cv": 0.8,
        "pathologies": [
            {
                "pathology": "influenza",
                "n": 40,
                "observed_p50": 50.0,
                "observed_p90": 120.0,
                "twin_p50": 48.5,
                "twin_p90": 110.2,
            }
        ],
    },
}


def test_calibration_is_the_newest_fit_of_either_kind_with_its_plots(make_app, engine, url):
    with engine.begin() as connection:
        site = store_sites.create_site(connection, "CH Ajusté", "Europe/Paris")
    client = make_app(url).test_client()
    answer = f"{API}/sites/{site['id']}/calibration"
    assert client.get(answer).get_json() == {"ok": True, "site_id": site["id"], "calibration": None}
    with engine.begin() as connection:
        calibrations.save_calibration(  # stored before plots existed: null, not an error
            connection,
            site["id"],
            kind="fit",
            until_local="2025-03-01",
            scenario_toml="",
            catalog_toml="",
            details={"fitted_from": "2025-01-01"},
        )
    old = client.get(answer).get_json()["calibration"]
    assert old["kind"] == "fit" and old["plots"] is None and old["fitted_before"] == "2025-03-01"
    with engine.begin() as connection:
        save_validation(
            connection,
            site["id"],
            CRITERIA,
            {
                "fitted_from": "2025-01-01",
                "plots": PLOTS,
                "series": {
                    "census": {
                        "observed": [30.0] * 168,
                        "twin": [31.0] * 168,
                        "low": [25.0] * 168,
                        "high": [36.0] * 168,
                        "coverage": 0.9048,
                    },
                    "arrivals": {"observed": [12.0] * 168, "twin": [12.5] * 168},
                },
            },
        )
    newest = client.get(answer).get_json()["calibration"]
    assert newest["kind"] == "validation" and newest["fitted_from"] == "2025-01-01"
    assert newest["plots"] == PLOTS  # None (an hour never seen) kept as null
    series = client.get(f"{API}/sites/{site['id']}/fidelity").get_json()["fidelity"]["series"]
    assert series["census"]["coverage"] == 0.9048 and len(series["arrivals"]["twin"]) == 168
    assert client.get(f"{API}/sites/999/calibration").status_code == 404
