"""A live-fed site's `now` and its SSE stream, on SQLite and PostgreSQL: as of now, the
feed's last message and stale flag, admissions waiting for a bed, a state within 1 s."""

from __future__ import annotations

import queue
import threading
import time
from datetime import timedelta

import sqlalchemy as sa
from mllp_helpers import adt, listening, recent

from hospiflow.feeds.client import MllpClient
from hospiflow.store import schema

API = "/api/v1"


def _run_id(engine: sa.Engine, site_id: int) -> int:
    with engine.connect() as connection:
        s = schema.sites
        return int(connection.execute(sa.select(s.c.run_id).where(s.c.id == site_id)).scalar())


def test_now_of_a_live_site(make_app, url, engine, site) -> None:
    with listening(engine, site["id"]) as listener, MllpClient("127.0.0.1", listener.port) as c:
        first = recent(200)
        assert c.send(adt("A04", "L1", "V1", first, arrival=first))[0] == "AA"
        admit = first + timedelta(minutes=30)
        assert c.send(adt("A01", "L2", "V1", admit, arrival=first))[0] == "AA"
        second = recent(20)
        assert c.send(adt("A04", "L3", "V2", second, arrival=second))[0] == "AA"
        gone = recent(100)
        assert c.send(adt("A04", "L4", "V3", gone, arrival=gone))[0] == "AA"
        assert c.send(adt("A03", "L5", "V3", recent(50), arrival=gone))[0] == "AA"
    run_id = _run_id(engine, site["id"])
    client = make_app(url, FEED_STALE_SECONDS=60, LIVE_CACHE_SECONDS=0).test_client()
    now = client.get(f"{API}/runs/{run_id}/now").get_json()
    totals = now["totals"]
    assert totals["present"] == 2
    assert totals["admitted_waiting"] == 1
    assert 199 <= totals["longest_admitted_wait_min"] <= 202
    assert 199 <= totals["longest_present_min"] <= 202  # as of now, not the last message
    assert totals["arrivals_last_hour"] == 1
    feed = now["feed"]
    assert feed["messages"] == 5 and feed["stale"] is False
    assert feed["seconds_since_last_message"] < 30
    # the feed falls silent: stale once over the threshold
    with engine.begin() as connection:
        f = schema.feed_state
        connection.execute(f.update().values(last_message_ms=f.c.last_message_ms - 120_000))
    later = client.get(f"{API}/runs/{run_id}/now").get_json()
    assert later["feed"]["stale"] is True and later["feed"]["seconds_since_last_message"] >= 120


def test_the_stream_moves_within_a_second(make_app, url, engine, site) -> None:
    with listening(engine, site["id"]) as listener, MllpClient("127.0.0.1", listener.port) as c:
        start = recent(30)
        assert c.send(adt("A04", "S1", "V1", start, arrival=start))[0] == "AA"
        run_id = _run_id(engine, site["id"])
        app = make_app(url, SSE_POLL_SECONDS=0.1)
        response = app.test_client().get(f"{API}/runs/{run_id}/stream", buffered=False)
        states: queue.Queue[tuple[float, str]] = queue.Queue()

        def read() -> None:
            seen = 0
            for chunk in response.response:
                text = chunk.decode() if isinstance(chunk, bytes) else chunk
                if "event: state" in text:
                    states.put((time.monotonic(), text))
                    seen += 1
                if seen >= 2:
                    return

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        _at, first = states.get(timeout=10)
        assert '"present":1' in first
        sent = time.monotonic()
        now = recent(0)
        assert c.send(adt("A04", "S2", "V2", now, arrival=now))[0] == "AA"
        at, second = states.get(timeout=10)
        assert at - sent <= 1.0, at - sent
        assert '"present":2' in second
        reader.join(10)
        response.close()
