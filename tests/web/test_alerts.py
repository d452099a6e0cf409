"""Alerts: one per episode in a real store (SQLite and PostgreSQL), the webhook's retries
against a real HTTP server that first fails then accepts, the API and its token, and the
daily summary's numbers."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

from hospiflow.alerts.conditions import Condition, status_condition
from hospiflow.alerts.webhook import Webhook
from hospiflow.store import alerts as store
from hospiflow.store import schema
from hospiflow.store.engine import create_engine_for
from hospiflow.web.alerting import AlertWatcher, conditions, watched_runs

RED = {"level": "red", "text": "Cardiology: 9 waiting for 1 doctor", "reason": None}
GREEN = {"level": "green", "text": "green: every queue is short", "reason": None}


def _wait(predicate: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def busy_url(
    request: pytest.FixtureRequest,
    tmp_path: Any,
    postgres_databases: Callable[[str], str],
    simulate: Callable[..., int],
) -> str:
    """A store with an overloaded week (red hours), per backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'busy.db'}"
    else:
        url = postgres_databases("hospiflow_alerts")
    simulate(url, days=7, arrival_rate_per_hour=16.0)
    return url


def _observe(url: str, condition: Condition, webhook: bool = False) -> int | None:
    engine = create_engine_for(url)
    try:
        with engine.begin() as writer:
            return store.observe(writer, 1, condition, 1_000, webhook)
    finally:
        engine.dispose()


def test_an_episode_raises_one_alert_and_a_new_episode_another(busy_url: str) -> None:
    """Red, red again, a short clear spell and red again: one episode. Clear for an
    hour of the data's clock ends it; red after that is a new episode."""
    hour = store.QUIET_MS
    first = _observe(busy_url, status_condition(RED, 10))
    assert first is not None
    assert _observe(busy_url, status_condition(RED, 20)) is None  # same episode
    assert _observe(busy_url, status_condition(GREEN, 30)) is None  # clear: quiet time starts
    assert _observe(busy_url, status_condition(RED, 40)) is None  # back within the hour
    assert _observe(busy_url, status_condition(GREEN, 50)) is None
    assert _observe(busy_url, status_condition(GREEN, 50 + hour - 1)) is None  # still open
    engine = create_engine_for(busy_url)
    with engine.connect() as connection:
        (row,) = store.alert_rows(connection, 1)
        assert row["open_key"] == "1:status" and row["ended_ms"] == 50
    assert _observe(busy_url, status_condition(GREEN, 50 + hour)) is None  # ends it
    second = _observe(busy_url, status_condition(RED, 60 + hour))
    assert second is not None and second != first
    with engine.connect() as connection:
        rows = store.alert_rows(connection, 1)
        assert [r["id"] for r in rows] == [second, first]
        assert rows[1]["ended_ms"] == 50 and rows[1]["open_key"] is None
        assert rows[0]["ended_ms"] is None and rows[0]["open_key"] == "1:status"
    engine.dispose()


def test_two_checkers_at_once_raise_the_episode_once(busy_url: str) -> None:
    """The unique open key, not memory, keeps an episode to one alert."""
    engine = create_engine_for(busy_url)
    results: list[int | None] = []
    barrier = threading.Barrier(4)

    def check() -> None:
        barrier.wait()
        for _ in range(20):
            try:
                with engine.begin() as writer:
                    results.append(store.observe(writer, 1, status_condition(RED, 5), 1, False))
                return
            except sa.exc.OperationalError:  # SQLite busy: a real checker retries next tick
                time.sleep(0.05)

    threads = [threading.Thread(target=check) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with engine.connect() as connection:
        count = connection.execute(sa.select(sa.func.count()).select_from(schema.alerts)).scalar()
    engine.dispose()
    assert count == 1
    assert sum(1 for r in results if r is not None) == 1


class _Hook(BaseHTTPRequestHandler):
    fail_first = 2
    received: list[dict[str, Any]] = []  # noqa: RUF012 - reset per test
    tries = 0

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).tries += 1
        if type(self).tries <= type(self).fail_first:
            self.send_response(503)
            self.end_headers()
            return
        type(self).received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def hook() -> Iterator[tuple[str, type[_Hook]]]:
    handler = type("Hook", (_Hook,), {"received": [], "tries": 0, "fail_first": 2})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", handler
    server.shutdown()
    server.server_close()


def test_webhook_retries_with_backoff_until_the_server_accepts(hook: Any) -> None:
    url, handler = hook
    outcomes: list[tuple[int, str, int, str | None]] = []
    webhook = Webhook(url, lambda *a: outcomes.append(a), attempts=5, first_delay=0.05)
    try:
        started = time.monotonic()
        webhook.send(7, {"id": 7, "level": "red"})
        assert time.monotonic() - started < 0.5  # send never waits on the network
        _wait(lambda: webhook.idle() and bool(handler.received))
    finally:
        webhook.close()
    assert handler.tries == 3
    assert handler.received == [{"id": 7, "level": "red"}]
    assert [o[1] for o in outcomes] == ["pending", "pending", "sent"]
    assert [o[2] for o in outcomes] == [1, 2, 3]
    assert "503" in (outcomes[0][3] or "")


def test_webhook_gives_up_and_says_why(hook: Any) -> None:
    url, handler = hook
    handler.fail_first = 100
    outcomes: list[tuple[int, str, int, str | None]] = []
    webhook = Webhook(url, lambda *a: outcomes.append(a), attempts=3, first_delay=0.02)
    try:
        webhook.send(1, {"id": 1})
        _wait(lambda: webhook.idle() and len(outcomes) == 3)
    finally:
        webhook.close()
    assert outcomes[-1][1:3] == ("failed", 3)
    assert handler.received == []


def test_watcher_raises_on_a_live_run_and_the_webhook_delivers(
    busy_url: str, make_app: Callable[..., Any], hook: Any, token: str
) -> None:
    """A running live run over an overloaded hospital is red: one alert, delivered after
    the webhook server's two refusals, visible in /alerts, acknowledged with a token."""
    from hospiflow.live import LiveService, live_run_scenario

    url, handler = hook
    scenario, label = live_run_scenario(busy_url, continue_from=1)
    live = LiveService(busy_url, scenario, speed=3600.0, label=label, forecast=False)
    live_id = live.start()
    app = make_app(busy_url, API_TOKEN=token, ALERT_WEBHOOK=url)
    watcher = AlertWatcher(app, every=3600)
    watcher.webhook.first_delay = 0.05  # type: ignore[union-attr]
    client = app.test_client()
    try:
        engine = create_engine_for(busy_url)
        with engine.connect() as connection:
            assert watched_runs(connection) == [live_id]
        engine.dispose()

        def red_now() -> bool:
            with app.app_context():
                found = {c.kind: c for c in conditions(live_id)}
            return "status" in found and found["status"].active

        _wait(red_now, 60)
        raised = watcher.check()
        assert len(raised) == 1
        assert watcher.check() == [] or red_now() is False  # same episode: nothing new
        _wait(lambda: bool(handler.received), 30)
        got = handler.received[0]
        assert got["run_id"] == live_id and got["level"] == "red" and got["kind"] == "status"
        assert got["reason"] and got["time"]
        _wait(lambda: client.get("/api/v1/alerts").json["alerts"][0]["webhook"]["state"] == "sent")
        listed = client.get(f"/api/v1/alerts?run_id={live_id}").json
        assert listed["webhook"] is True
        item = listed["alerts"][-1]
        assert item["webhook"]["attempts"] == 3 and item["acknowledged"] is None
        assert client.post(f"/api/v1/alerts/{item['id']}/acknowledge", json={}).status_code == 401
        answer = client.post(
            f"/api/v1/alerts/{item['id']}/acknowledge",
            json={"note": "called the on-call doctor"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 200, answer.json
        assert answer.json["alert"]["acknowledged"]["by"]
        acked = client.get("/api/v1/alerts?acknowledged=true").json["alerts"]
        assert [a["id"] for a in acked] == [item["id"]]
        assert acked[0]["acknowledged"]["note"] == "called the on-call doctor"
    finally:
        watcher.stop()
        live.stop()


def test_unknown_alert_is_404_and_bad_body_400(
    make_app: Callable[..., Any], busy_url: str, token: str
) -> None:
    client = make_app(busy_url, API_TOKEN=token).test_client()
    auth = {"Authorization": f"Bearer {token}"}
    assert client.post("/api/v1/alerts/99/acknowledge", json={}, headers=auth).status_code == 404
    huge = client.post(f"/api/v1/alerts/{2**64}/acknowledge", json={}, headers=auth)
    assert huge.status_code == 404  # beyond a 64-bit id: not found, not an overflow (500)
    bad = client.post("/api/v1/alerts/99/acknowledge", json={"who": 1}, headers=auth)
    assert bad.status_code == 400
    assert client.get("/api/v1/alerts?acknowledged=maybe").status_code == 400


def test_daily_summary_numbers_agree_with_the_visits(
    make_app: Callable[..., Any], busy_url: str
) -> None:
    client = make_app(busy_url).test_client()
    body = client.get("/api/v1/runs/1/summary").json
    assert body["day"] == "2025-01-06"  # the run's last day is the 7th: yesterday of the data
    day = client.get("/api/v1/runs/1/summary?day=2025-01-03").json
    engine = create_engine_for(busy_url)
    from hospiflow.store.summary import day_bounds

    start, end = day_bounds(__import__("datetime").date(2025, 1, 3), "Europe/Paris")
    v = schema.visits
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(v.c.wait_min, v.c.los_min).where(
                v.c.run_id == 1, v.c.arrival_ms >= start, v.c.arrival_ms < end
            )
        ).all()
    engine.dispose()
    waits = np.array([r[0] for r in rows if r[0] is not None])
    stays = np.array([r[1] for r in rows if r[1] is not None])
    assert day["arrivals"]["count"] == len(rows) > 0
    assert day["waits"]["median"] == round(float(np.median(waits)), 1)
    assert day["stays"]["p90"] == round(float(np.percentile(stays, 90)), 1)
    assert day["within_4h"]["share"] == round(float(np.mean(stays <= 240)), 4)
    assert day["arrivals"]["usual"] is None  # no earlier Friday in a week-long run
    reds = sum(s["red_hours"] for s in day["staffing"])
    assert reds > 0  # the overloaded hospital has red hours
    assert client.get("/api/v1/runs/1/summary?day=2031-01-01").status_code == 400
