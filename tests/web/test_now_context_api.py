"""/now/context and /now/longest on a week-long complete run with no forecast: what the
data cannot give is said (no forecast, no previous week), bad limits are refused."""

from __future__ import annotations

from typing import Any


def test_without_forecast_or_previous_week_the_answer_says_so(sqlite_client: Any) -> None:
    body = sqlite_client.get("/api/v1/runs/1/now/context").get_json()
    assert body["forecast"] is None and body["forecast_missing"] == "none"
    assert body["usual_weeks"] == 0  # a week of data: no earlier week to compare with
    figures = body["figures"]
    assert all(f["usual"] is None for f in figures.values())
    assert figures["waiting"]["hour_ago"] is not None
    assert figures["arrivals_last_hour"]["hour_ago"] > 0


def test_longest_present_is_limited_sorted_and_not_stored(sqlite_client: Any) -> None:
    response = sqlite_client.get("/api/v1/runs/1/now/longest?limit=3")
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    patients = body["patients"]
    assert 0 < len(patients) <= 3 <= body["present"]
    minutes = [p["minutes_present"] for p in patients]
    assert minutes == sorted(minutes, reverse=True) and minutes[-1] > 0
    for bad in ("0", "51", "x"):
        refused = sqlite_client.get(f"/api/v1/runs/1/now/longest?limit={bad}")
        assert refused.status_code == 400, bad
        assert refused.get_json()["error"]["code"]
    assert sqlite_client.get("/api/v1/runs/99/now/longest").status_code == 404
