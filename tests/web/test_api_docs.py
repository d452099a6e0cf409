"""The OpenAPI document and the docs page: complete, version 3.1, nothing from a CDN."""

from __future__ import annotations

import re

import pytest

EXPECTED_PATHS = {
    "/api/v1/health": {"get"},
    "/api/v1/catalog": {"get"},
    "/api/v1/runs": {"get", "post"},
    "/api/v1/runs/{run_id}": {"get", "delete"},
    "/api/v1/runs/{run_id}/now": {"get"},
    "/api/v1/runs/{run_id}/now/context": {"get"},
    "/api/v1/runs/{run_id}/now/longest": {"get"},
    "/api/v1/whatifs": {"post"},
    "/api/v1/whatifs/{whatif_id}": {"get"},
    "/api/v1/runs/{run_id}/tension": {"get"},
    "/api/v1/runs/{run_id}/tension/now": {"get"},
    "/api/v1/runs/{run_id}/arrivals": {"get"},
    "/api/v1/runs/{run_id}/arrivals/hour-of-week": {"get"},
    "/api/v1/runs/{run_id}/arrivals/seasonality": {"get"},
    "/api/v1/runs/{run_id}/catalog": {"get"},
    "/api/v1/runs/{run_id}/doctors/availability": {"get"},
    "/api/v1/runs/{run_id}/doctors/hour-of-week": {"get"},
    "/api/v1/runs/{run_id}/waits": {"get"},
    "/api/v1/runs/{run_id}/kpis": {"get"},
    "/api/v1/runs/{run_id}/treatments": {"get"},
    "/api/v1/runs/{run_id}/events": {"get"},
    "/api/v1/runs/{run_id}/reports/{name}": {"get"},
    "/api/v1/runs/{run_id}/stream": {"get"},
    "/api/v1/runs/{run_id}/forecast": {"get"},
    "/api/v1/runs/{run_id}/forecast/risk": {"get"},
    "/api/v1/runs/{run_id}/forecast/staffing": {"get"},
    "/api/v1/runs/{run_id}/forecast/backtest": {"get"},
    "/api/v1/runs/{run_id}/forecast/status": {"get"},
    "/api/v1/runs/{run_id}/census": {"get"},
    "/api/v1/runs/{run_id}/census/hour-of-week": {"get"},
    "/api/v1/runs/{run_id}/export": {"get"},
    "/api/v1/sites": {"get", "post"},
    "/api/v1/sites/{site_id}": {"get"},
    "/api/v1/sites/{site_id}/quality": {"get"},
    "/api/v1/sites/{site_id}/fidelity": {"get"},
    "/api/v1/sites/{site_id}/calibration": {"get"},
    "/api/v1/sites/{site_id}/quarantine": {"get"},
    "/api/v1/sites/{site_id}/imports": {"post"},
    "/api/v1/sites/{site_id}/visits": {"post"},
    "/api/v1/sites/{site_id}/fhir": {"post"},
    "/api/v1/audit": {"get"},
    "/api/v1/alerts": {"get"},
    "/api/v1/alerts/{alert_id}/acknowledge": {"post"},
    "/api/v1/runs/{run_id}/summary": {"get"},
}


def test_openapi_document(sqlite_client) -> None:
    """OpenAPI 3.1 lists every endpoint, the bearer scheme and the write routes' statuses."""
    spec = sqlite_client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    paths = {path: set(ops) - {"parameters"} for path, ops in spec["paths"].items()}
    assert paths == EXPECTED_PATHS
    assert spec["components"]["securitySchemes"]["BearerAuth"]["scheme"] == "bearer"
    post = spec["paths"]["/api/v1/runs"]["post"]
    assert {"202", "400", "401", "403", "409", "422"} <= set(post["responses"])
    assert post["security"] == [{"BearerAuth": []}]
    names = {
        p["name"] for p in spec["paths"]["/api/v1/runs/{run_id}/arrivals"]["get"]["parameters"]
    }
    assert {"bucket", "by", "start", "end", "run_id"} <= names


def test_docs_page_is_local(sqlite_client) -> None:
    """The docs page references no external host, and its assets are served here."""
    page = sqlite_client.get("/api/docs").get_data(as_text=True)
    assert "SwaggerUIBundle" in page
    loads = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', page)
    assert loads and not [url for url in loads if "//" in url]
    assert '"validatorUrl": null' in page  # no call to an online validator
    for asset in re.findall(r'(?:src|href)="(/api/docs/assets/[^"]+)"', page):
        response = sqlite_client.get(asset)
        assert response.status_code == 200, asset
        response.close()


@pytest.mark.parametrize("origin", ["https://evil.example", None])
def test_cors_off_by_default(sqlite_client, origin) -> None:
    """Without CORS_ORIGINS no response allows another origin."""
    headers = {"Origin": origin} if origin else {}
    response = sqlite_client.get("/api/v1/health", headers=headers)
    assert "Access-Control-Allow-Origin" not in response.headers


def test_cors_when_configured(make_app, sqlite_store) -> None:
    """With CORS_ORIGINS set, exactly those origins are allowed."""
    client = make_app(sqlite_store, CORS_ORIGINS="https://intranet.example").test_client()
    allowed = client.get("/api/v1/health", headers={"Origin": "https://intranet.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://intranet.example"
    other = client.get("/api/v1/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
