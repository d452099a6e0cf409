"""A listener in a thread of the test process, and ADT messages to send it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hospiflow.feeds.mllp import Limits, Listener

PARIS = ZoneInfo("Europe/Paris")


@contextmanager
def listening(engine: Any, site: Any, limits: Limits | None = None) -> Iterator[Listener]:
    """A started listener on a free 127.0.0.1 port, stopped after the block."""
    listener = Listener(engine, site, "127.0.0.1", 0, limits)
    loop = asyncio.new_event_loop()
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(listener.start())
        started.set()
        loop.run_forever()
        loop.close()

    thread = threading.Thread(target=run, name="test-mllp", daemon=True)
    thread.start()
    assert started.wait(10)
    try:
        yield listener
    finally:
        asyncio.run_coroutine_threadsafe(listener.close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


def adt(
    event: str,
    control: str,
    visit: str,
    when: datetime,
    *,
    patient: str = "IPP-4711",
    arrival: datetime | None = None,
    departure: datetime | None = None,
    doctor: str = "",
    disposition: str = "",
    patient_class: str = "E",
    diagnosis: str = "",
) -> bytes:
    """One ADT message as a hospital sends it (segments end with CR)."""
    stamp = when.strftime("%Y%m%d%H%M%S%z")
    pv1 = [""] * 46
    pv1[0:3] = ["PV1", "1", patient_class]
    pv1[7] = doctor
    pv1[19] = visit
    pv1[36] = disposition
    pv1[44] = arrival.strftime("%Y%m%d%H%M%S%z") if arrival else ""
    pv1[45] = departure.strftime("%Y%m%d%H%M%S%z") if departure else ""
    segments = [
        f"MSH|^~\\&|SIH|CHU|HOSPIFLOW|X|{stamp}||ADT^{event}^ADT_A01|{control}|P|2.5",
        f"EVN|{event}|{stamp}",
        f"PID|1||{patient}^^^CHU^PI||DUPONT^MARIE||19500601|F|||1 rue X^^Paris^^75013",
        "|".join(pv1).rstrip("|"),
    ]
    if diagnosis:
        segments.append(f"DG1|1||{diagnosis}^^I10|||W")
    return ("\r".join(segments) + "\r").encode()


def recent(minutes: float) -> datetime:
    return datetime.now(PARIS).replace(microsecond=0) - timedelta(minutes=minutes)
