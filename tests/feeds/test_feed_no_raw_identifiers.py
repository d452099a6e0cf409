"""Raw identifiers sent by a live feed (MLLP PID fields, REST push ids) never reach the
database file, its WAL, the listener's log or any API answer: a byte scan."""

from __future__ import annotations

import signal
from datetime import timedelta
from pathlib import Path

import pytest
from mllp_helpers import adt, recent
from test_reliability import free_port, start_listener

from hospiflow.feeds.client import MllpClient

PATIENT = "IPP-98765432"
VISIT = "SEJ-55544401"
NAME = "Zorglubovitch"
POSTCODE = "75013"
BIRTH = "19370405"
SECRETS = [PATIENT, VISIT, NAME, POSTCODE, BIRTH, "DR-SECRET-77"]


def _message(event: str, control: str, when, **kwargs) -> bytes:
    text = adt(event, control, VISIT, when, patient=PATIENT, **kwargs).decode()
    text = text.replace("DUPONT^MARIE", f"{NAME}^ERMENGARDE").replace("19500601", BIRTH)
    return text.encode()


@pytest.mark.parametrize("empty_url", ["sqlite"], indirect=True)
def test_no_raw_identifier_anywhere(tmp_path: Path, make_app, engine, site) -> None:
    db_url = engine.url.render_as_string(hide_password=False)
    log = tmp_path / "listener.log"
    port = free_port()
    process = start_listener(db_url, site["name"], port, log)
    arrival = recent(60)
    try:
        with MllpClient("127.0.0.1", port) as client:
            assert client.send(_message("A04", "N1", arrival, arrival=arrival))[0] == "AA"
            seen = arrival + timedelta(minutes=10)
            sent = _message("A08", "N2", seen, arrival=arrival, doctor="DR-SECRET-77")
            assert client.send(sent)[0] == "AA"
            broken = _message("A03", "N3", seen).replace(b"EVN|A03|", b"EVN|A03|soon")
            assert client.send(broken)[0] == "AE"  # quarantined, redacted
            no_pv1 = b"\r".join(_message("A03", "N4", seen).split(b"\r")[:3])
            assert client.send(no_pv1)[0] == "AE"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(10)
    app = make_app(db_url)
    api = app.test_client()
    pushed = {
        "visits": [
            {
                "visit_id": "SEJ-55544402",
                "patient_id": PATIENT,
                "arrival": arrival.isoformat(),
                "postcode": POSTCODE,
                "birth_date": "1937-04-05",
                "doctor_id": "DR-SECRET-77",
            },
            {"visit_id": "SEJ-55544403", "patient_id": PATIENT, "arrival": "not a time"},
        ]
    }
    answer = api.post(f"/api/v1/sites/{site['id']}/visits", json=pushed, headers=site["admin"])
    assert answer.status_code == 200
    answers = [answer.get_data()]
    for path in (
        f"/api/v1/sites/{site['id']}/quarantine",
        f"/api/v1/sites/{site['id']}",
        "/api/v1/audit",
        "/api/v1/runs",
    ):
        reply = api.get(path, headers=site["admin"])
        assert reply.status_code == 200
        answers.append(reply.get_data())
    runs = api.get("/api/v1/runs").get_json()["runs"]
    run_id = next(r["id"] for r in runs if r["source"] == "observed")
    for path in ("now", "arrivals?bucket=hour", "export?format=csv"):
        reply = api.get(f"/api/v1/runs/{run_id}/{path}", headers=site["admin"])
        answers.append(reply.get_data())
    engine.dispose()
    database = Path(engine.url.database or "")
    blobs = {"log": log.read_bytes(), "api": b"\n".join(answers)}
    for suffix in ("", "-wal"):
        file = Path(f"{database}{suffix}")
        if file.exists():
            blobs[file.name] = file.read_bytes()
    # what was scanned holds what it should: the NACKs logged, the visits exported
    assert blobs["log"].count(b"NACK AE") == 2
    assert answers[-1].count(b"\n") == 3  # a header and the two visits, each line ended
    for where, blob in blobs.items():
        for secret in SECRETS:
            assert secret.encode() not in blob, f"{secret} found in {where}"
