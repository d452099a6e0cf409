"""A fed site raises an alert when its feed fills the department (both backends): the
server's check watches sites with a live feed, and the alert names the site."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from test_push import PARIS, _visits

from hospiflow.web.alerting import AlertWatcher, watched_runs


def test_a_fed_site_at_capacity_raises_one_alert(
    make_app: Any, url: str, engine: Any, site: Any
) -> None:
    app = make_app(url)
    client = app.test_client()
    watcher = AlertWatcher(app, every=3600)
    path = f"/api/v1/sites/{site['id']}/visits"
    start = datetime.now(PARIS).replace(microsecond=0) - timedelta(hours=6)
    quiet = client.post(path, json={"visits": _visits(4, start)}, headers=site["admin"])
    assert quiet.status_code == 200, quiet.get_data(as_text=True)
    with engine.connect() as connection:
        (run_id,) = watched_runs(connection)
    assert watcher.check() == []  # 2 patients present for 20 spaces: green
    later = start + timedelta(minutes=30)
    full = client.post(path, json={"visits": _visits(46, later, "W")}, headers=site["admin"])
    assert full.status_code == 200, full.get_data(as_text=True)
    raised = watcher.check()
    assert len(raised) == 1
    assert watcher.check() == []  # the same episode
    (alert,) = client.get(f"/api/v1/alerts?run_id={run_id}").get_json()["alerts"]
    assert alert["site"] == {"id": site["id"], "name": "Urgences Nord"}
    assert alert["kind"] == "status" and alert["level"] == "red"
    assert "patients present" in alert["reason"]
    assert alert["webhook"]["state"] == "off"  # no webhook configured
    watcher.stop()
