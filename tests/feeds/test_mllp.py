"""The MLLP listener on 127.0.0.1, on SQLite and PostgreSQL: ACK after commit, duplicates by
MSH-10, the ADT events, out-of-order messages held then applied or quarantined, NACKs."""

from __future__ import annotations

import time
from datetime import timedelta

import sqlalchemy as sa
from mllp_helpers import adt, listening, recent

from hospiflow.feeds.client import MllpClient, ack_code
from hospiflow.feeds.mllp import Limits
from hospiflow.store import schema


def _visits(engine: sa.Engine, site_id: int) -> list[dict]:
    with engine.connect() as connection:
        run_id = connection.execute(
            sa.select(schema.sites.c.run_id).where(schema.sites.c.id == site_id)
        ).scalar()
        v = schema.visits
        rows = connection.execute(sa.select(v).where(v.c.run_id == run_id).order_by(v.c.id))
        return [dict(r._mapping) for r in rows]


def test_a_visit_through_its_events(engine, site) -> None:
    arrival = recent(90)
    with listening(engine, site["id"]) as listener, MllpClient("127.0.0.1", listener.port) as c:
        assert c.send(adt("A04", "M1", "V1", arrival, arrival=arrival)) == ("AA", "")
        [visit] = _visits(engine, site["id"])  # committed before the ACK
        assert visit["departure_ms"] is None and visit["wait_min"] is None
        seen = arrival + timedelta(minutes=20)
        assert c.send(adt("A08", "M2", "V1", seen, arrival=arrival, doctor="DR1^HOUSE"))[0] == "AA"
        admit = arrival + timedelta(minutes=60)
        assert c.send(adt("A01", "M3", "V1", admit, arrival=arrival, diagnosis="J18.9"))[0] == "AA"
        [visit] = _visits(engine, site["id"])
        assert visit["wait_min"] == 20 and visit["disposition"] == 2  # admitted, still here
        assert visit["icd10"] == "J18.9"
        # the same message again: acknowledged, not applied twice
        assert c.send(adt("A01", "M3", "V1", admit, arrival=arrival))[0] == "AA"
        leave = arrival + timedelta(minutes=80)
        assert c.send(adt("A03", "M4", "V1", leave, arrival=arrival))[0] == "AA"
        [visit] = _visits(engine, site["id"])
        assert visit["los_min"] == 80 and visit["disposition"] == 2
        assert c.send(adt("A13", "M5", "V1", leave, arrival=arrival))[0] == "AA"
        [visit] = _visits(engine, site["id"])
        assert visit["departure_ms"] is None
        assert c.send(adt("A04", "M6", "V2", arrival, arrival=arrival))[0] == "AA"
        assert len(_visits(engine, site["id"])) == 2
        assert c.send(adt("A11", "M7", "V2", leave))[0] == "AA"
        assert len(_visits(engine, site["id"])) == 1
        # another patient class for an unknown visit: acknowledged and ignored
        assert c.send(adt("A04", "M8", "I9", arrival, patient_class="I"))[0] == "AA"
        assert len(_visits(engine, site["id"])) == 1
    with engine.connect() as connection:
        m = schema.feed_messages
        assert connection.execute(sa.select(sa.func.count()).select_from(m)).scalar() == 8


def test_a_discharge_before_its_registration_is_held(engine, site) -> None:
    arrival = recent(60)
    leave = arrival + timedelta(minutes=30)
    with listening(engine, site["id"]) as listener, MllpClient("127.0.0.1", listener.port) as c:
        assert c.send(adt("A03", "H1", "V9", leave, arrival=arrival))[0] == "AA"
        assert _visits(engine, site["id"]) == []
        assert c.send(adt("A04", "H2", "V9", arrival, arrival=arrival))[0] == "AA"
        [visit] = _visits(engine, site["id"])
        assert visit["los_min"] == 30 and visit["disposition"] == 1
        with engine.connect() as connection:
            held = connection.execute(sa.select(sa.func.count()).select_from(schema.feed_held))
            assert held.scalar() == 0


def test_held_messages_expire_into_the_quarantine(engine, site) -> None:
    limits = Limits(hold_seconds=0.2, rollup_seconds=0.2)
    leave = recent(5)
    with listening(engine, site["id"], limits) as listener:
        with MllpClient("127.0.0.1", listener.port) as c:
            assert c.send(adt("A03", "X1", "NEVER", leave))[0] == "AA"
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with engine.connect() as connection:
                q = schema.quarantine
                reasons = connection.execute(sa.select(q.c.reason)).scalars().all()
            if reasons:
                break
            time.sleep(0.1)
    assert reasons == ["orphan_message"]


def test_bad_messages_are_nacked_with_their_reason(engine, site) -> None:
    when = recent(10)
    with listening(engine, site["id"]) as listener, MllpClient("127.0.0.1", listener.port) as c:
        no_pv1 = b"\r".join(adt("A04", "B1", "V1", when).split(b"\r")[:3]) + b"\r"
        code, text = c.send(no_pv1)
        assert code == "AE" and "PV1" in text
        ack = c.exchange(adt("ZZZ", "B2", "V1", when).replace(b"ADT^ZZZ", b"ADT^A99"))
        assert ack_code(ack)[0] == "AR" and b"ERR|" in ack and b"201^" in ack
        bad_time = adt("A04", "B3", "V1", when).replace(b"EVN|A04|", b"EVN|A04|yesterday")
        assert c.send(bad_time)[0] == "AE"
        wrong_encoding = adt("A04", "B4", "V1", when).replace(b"MSH|^~\\&|", b"MSH|AB|", 1)
        assert c.send(wrong_encoding)[0] == "AR"
        assert c.send(b"\x00\xff\xfe garbage \x01")[0] == "AR"
        bad_segment = adt("A04", "B5", "V1", when).replace(b"\rEVN", b"\revn")
        assert c.send(bad_segment)[0] == "AE"
        # the connection still works, and a retransmitted NACKed message gets its NACK
        assert c.send(no_pv1)[0] == "AE"
        assert c.send(adt("A04", "B6", "V1", when, arrival=when))[0] == "AA"
    assert len(_visits(engine, site["id"])) == 1
    with engine.connect() as connection:
        q = schema.quarantine
        reasons = sorted(connection.execute(sa.select(q.c.reason)).scalars())
        raw = " ".join(connection.execute(sa.select(q.c.raw)).scalars())
    assert reasons == [
        "bad_message",
        "bad_message",
        "bad_segment",
        "bad_time",
        "missing_field",
        "unsupported_event",
    ]
    assert "DUPONT" not in raw and "IPP-4711" not in raw


def test_a_push_and_a_listener_started_before_the_site_had_a_run_share_one(
    make_app, url, engine, site
) -> None:
    """The listener's feed is made while the site has no run yet; a REST push then creates
    it: the listener's next message goes into that run, not into a second one."""
    arrival = recent(30)
    with listening(engine, site["id"]) as listener, MllpClient("127.0.0.1", listener.port) as c:
        client = make_app(url).test_client()
        body = {"visits": [{"visit_id": "R1", "arrival": recent(45).isoformat()}]}
        path = f"/api/v1/sites/{site['id']}/visits"
        assert client.post(path, json=body, headers=site["admin"]).get_json()["accepted"] == 1
        assert c.send(adt("A04", "M1", "V1", arrival, arrival=arrival))[0] == "AA"
    with engine.connect() as connection:
        runs = connection.execute(sa.select(sa.func.count()).select_from(schema.runs)).scalar()
    assert runs == 1
    assert len(_visits(engine, site["id"])) == 2
