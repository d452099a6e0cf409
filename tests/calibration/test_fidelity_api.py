"""A site's twin fidelity: stored in ``calibrations`` and served by
``GET /api/v1/sites/{id}/fidelity``, on SQLite and PostgreSQL."""

from __future__ import annotations

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


def test_fidelity_is_null_before_a_validation_then_the_newest(make_app, engine, url):
    with engine.begin() as connection:
        site = store_sites.create_site(connection, "CH Fidèle", "Europe/Paris")
    client = make_app(url).test_client()
    body = client.get(f"{API}/sites/{site['id']}/fidelity").get_json()
    assert body == {"ok": True, "site_id": site["id"], "fidelity": None}
    with engine.begin() as connection:
        for passed in (True, False):
            calibrations.save_calibration(
                connection,
                site["id"],
                kind="validation",
                until_local="2025-03-06",
                holdout_weeks=8,
                replications=20,
                scenario_toml="name = 'x'\n",
                catalog_toml="",
                criteria=CRITERIA if not passed else CRITERIA[:1],
                passed=passed,
                details={
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
