"""Every error class answers one JSON shape with the right status, never a 500."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hospiflow.web.app import JSONProvider

API = "/api/v1"


def _error(response, status: int) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert body["error"]["message"]
    return body["error"]


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/runs/1/arrivals?buckt=day", "unknown_parameter"),
        ("/runs/1/now?x=1", "bad_request"),
        ("/health?verbose=1", "bad_request"),
        ("/runs/1/arrivals?bucket=day&bucket=hour", "bad_request"),
        ("/runs/1/arrivals?bucket=year", "invalid_parameter"),
        ("/runs/1/arrivals?by=doctor", "invalid_parameter"),
        ("/runs/1/arrivals?start=yesterday", "bad_request"),
        ("/runs/1/arrivals?start=2025-01-05&end=2025-01-02", "bad_request"),
        ("/runs/1/arrivals?start=1990-01-01&end=2025-01-01", "bad_request"),
        ("/runs/1/arrivals?bucket=hour&start=2020-01-01&end=2025-01-01", "bad_request"),
        ("/runs/1/waits?target_minutes=-5", "invalid_parameter"),
        ("/runs/1/treatments?limit=0", "invalid_parameter"),
        ("/runs/1/treatments?limit=4000", "bad_request"),
        ("/runs/1/treatments?cursor=not-a-cursor", "bad_request"),
        ("/runs/1/treatments?specialty=dentistry", "bad_request"),
        ("/runs/1/events?kind=arrival,teleport", "bad_request"),
        ("/runs/1/events?format=xml", "invalid_parameter"),
        ("/runs?status=paused", "invalid_parameter"),
    ],
)
def test_bad_requests(sqlite_client, path: str, code: str) -> None:
    """Malformed, unknown, repeated or out-of-limit parameters are 400 with a clear code."""
    error = _error(sqlite_client.get(API + path), 400)
    assert error["code"] == code


@pytest.mark.parametrize(
    "path",
    [
        "/runs/999",
        "/runs/999/now",
        "/runs/999/arrivals",
        "/runs/99999999999999999999999/kpis",
        "/runs/1/reports/nonsense",
        "/runs/999/reports/hourly_detail",
        "/no/such/endpoint",
    ],
)
def test_not_found(sqlite_client, path: str) -> None:
    """Unknown runs, reports and paths are 404 in the API's error shape."""
    _error(sqlite_client.get(API + path), 404)


def test_method_not_allowed(sqlite_client) -> None:
    """A wrong method is 405 in the same shape."""
    _error(sqlite_client.put(API + "/runs/1"), 405)


def test_error_names_the_parameter(sqlite_client) -> None:
    """The message and details say which parameter was wrong."""
    error = _error(sqlite_client.get(API + "/runs/1/arrivals?start=yesterday"), 400)
    assert error["details"]["where"] == "start"
    assert "start" in error["message"]


def test_json_provider_refuses_naive_datetimes() -> None:
    """Aware datetimes become ISO 8601 with offset; naive ones are refused, never guessed."""
    assert JSONProvider.default(datetime(2025, 1, 1, tzinfo=UTC)) == "2025-01-01T00:00:00+00:00"
    with pytest.raises(TypeError, match="naive"):
        JSONProvider.default(datetime(2025, 1, 1))


def test_unreadable_store_is_503(make_app, tmp_path) -> None:
    """A missing database file is a 503 in the error shape, not a 500."""
    client = make_app(f"sqlite:///{tmp_path / 'missing.db'}").test_client()
    error = _error(client.get(API + "/health"), 503)
    assert error["code"] == "store_unavailable"
