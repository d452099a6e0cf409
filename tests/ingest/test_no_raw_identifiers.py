"""Known raw identifiers, names, birth dates and postcodes written into every input
format never reach the database file, its WAL, the logs or any API answer."""

from __future__ import annotations

import io
import json
import logging
import re
import sqlite3
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from hospiflow.cli import main
from hospiflow.ingest.formats import WriteOptions, writer
from hospiflow.records import Disposition, VisitRecord
from hospiflow.web.app import create_app

PARIS = ZoneInfo("Europe/Paris")
PATIENT = "987650001"  # digits: MIMIC-IV ids are integers
VISIT = "555440001"
NAME = "Zorglubovitch"
FIRST_NAME = "Ermengarde"
POSTCODE = "75013"
BIRTH = date(1937, 4, 5)
TOKEN = "pii-admin-token-0123456789"


def records() -> list[VisitRecord]:
    """Twenty visits of two patients, with raw identifiers the store must never hold."""
    t0 = datetime(2025, 2, 3, 9, 0, tzinfo=PARIS)
    out = []
    for i in range(20):
        arrival = t0 + timedelta(hours=5 * i)
        out.append(
            VisitRecord(
                arrival=arrival,
                visit_id=str(int(VISIT) + i),
                patient_id=str(int(PATIENT) + i % 2),
                first_seen=arrival + timedelta(minutes=20),
                departure=arrival + timedelta(hours=3),
                acuity=2,
                disposition=Disposition.ADMITTED if i % 3 == 0 else Disposition.DISCHARGED,
                diagnosis="I21.9",
                birth_date=BIRTH,
                age_years=87,
                sex="F",
                postcode=POSTCODE,
                doctor_id="DR-SECRET-77",
            )
        )
    return out


def written(format_name: str) -> str:
    """The format's own writer output for the visits above."""
    buffer = io.StringIO()
    writer(format_name)(records(), buffer, WriteOptions(timezone="Europe/Paris"))
    return buffer.getvalue()


def with_names(format_name: str, text: str) -> str:
    """Put the patient's name (and a broken row carrying it) into the file, as real extracts do."""
    lines = text.splitlines()
    if format_name in ("csv", "rpu"):
        sep = ";" if format_name == "rpu" else ","
        lines[0] += f"{sep}NOM{sep}PRENOM"
        lines[1:] = [f"{line}{sep}{NAME}{sep}{FIRST_NAME}" for line in lines[1:]]
        broken = lines[1].split(sep)
        broken = [("not a date" if "2025" in cell else cell) for cell in broken]
        lines.append(sep.join(broken))
    elif format_name == "hl7":
        text = re.sub(r"PID\|1\|\|(\d+)\|\|", rf"PID|1||\1||{NAME}^{FIRST_NAME}", text)
        first = text.split("\n")[0]  # segments end with \r, messages with \n
        broken = first.replace("|20250203090000+0100", "|not-a-time")
        return text + broken.replace("555440001", "555449999") + "\n"
    elif format_name == "fhir":
        bundle = json.loads(text)
        for entry in bundle["entry"]:
            resource = entry["resource"]
            if resource["resourceType"] == "Patient":
                resource["name"] = [{"family": NAME, "given": [FIRST_NAME]}]
                resource["address"] = [{"postalCode": POSTCODE, "city": "Paris"}]
                resource["birthDate"] = BIRTH.isoformat()
        broken = json.loads(json.dumps(bundle["entry"][0]))
        bundle["entry"].append(broken)
        for entry in bundle["entry"]:
            if entry["resource"]["resourceType"] == "Encounter":
                bad = json.loads(json.dumps(entry))
                bad["resource"]["id"] = "broken-encounter"
                bad["resource"]["period"] = {"start": "not a date"}
                bundle["entry"].append(bad)
                break
        return json.dumps(bundle)
    return "\n".join(lines) + "\n"


FORMATS = ("csv", "rpu", "hl7", "fhir", "mimic-ed")
FILES = {
    "csv": "extract.csv",
    "rpu": "rpu.csv",
    "hl7": "adt.hl7",
    "fhir": "bundle.json",
    "mimic-ed": "edstays.csv",
}


def secrets_in(blob: bytes) -> list[str]:
    """Which raw values appear in ``blob``."""
    found = []
    for secret in (
        PATIENT,
        str(int(PATIENT) + 1),
        VISIT,
        NAME,
        FIRST_NAME,
        POSTCODE,
        "DR-SECRET-77",
        "1937-04-05",
        "05/04/1937",
        "19370405",
    ):
        if secret.encode() in blob:
            found.append(secret)
    return found


@pytest.mark.parametrize("format_name", FORMATS)
def test_no_raw_identifier_reaches_the_store_logs_or_api(
    format_name, tmp_path, monkeypatch, caplog
):
    """Import files full of identifiers, then look for them everywhere hospiflow writes."""
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("HOSPIFLOW_KEY_DIR", str(tmp_path / "keys"))
    db = tmp_path / "store.db"
    source = tmp_path / FILES[format_name]
    if format_name == "mimic-ed":
        from hospiflow.ingest.mimic_ed import write_folder

        write_folder(records(), tmp_path, WriteOptions(timezone="Europe/Paris"))
    else:
        source.write_text(with_names(format_name, written(format_name)), encoding="utf-8")
    assert secrets_in(source.read_bytes()), "the input must hold the identifiers"
    runner = CliRunner()
    outputs = []
    for args in (
        ["site", "create", "PII", "--db", str(db)],
        ["import", "--site", "PII", "--format", format_name, str(source), "--db", str(db)],
        ["site", "show", "PII", "--db", str(db)],
        ["site", "show", "PII", "--json", "--db", str(db)],
    ):
        result = runner.invoke(main, args, catch_exceptions=False)
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    # the WAL still holds the pages before a checkpoint: read it as it is
    blobs = {"database": db.read_bytes()}
    wal = Path(f"{db}-wal")
    if wal.exists():
        blobs["wal"] = wal.read_bytes()
    blobs["cli output"] = "\n".join(outputs).encode()
    blobs["logs"] = caplog.text.encode()
    app = create_app({"DATABASE_URL": f"sqlite:///{db}", "API_TOKEN": TOKEN})
    client = app.test_client()
    auth = {"Authorization": f"Bearer {TOKEN}"}
    answers = []
    sites = client.get("/api/v1/sites", headers=auth).get_json()
    site_id = sites["sites"][0]["id"] if "sites" in sites else sites["items"][0]["id"]
    run_id = client.get(f"/api/v1/sites/{site_id}", headers=auth).get_json()
    run_id = run_id.get("run_id") or run_id.get("site", {}).get("run_id")
    for path in (
        "/api/v1/sites",
        f"/api/v1/sites/{site_id}",
        f"/api/v1/sites/{site_id}/quality",
        f"/api/v1/sites/{site_id}/quarantine",
        "/api/v1/audit",
        "/api/v1/runs",
        f"/api/v1/runs/{run_id}",
        f"/api/v1/runs/{run_id}/now",
        f"/api/v1/runs/{run_id}/waits",
        f"/api/v1/runs/{run_id}/kpis",
        f"/api/v1/runs/{run_id}/reports/treatments",
        f"/api/v1/runs/{run_id}/export?format=csv",
        f"/api/v1/runs/{run_id}/export?format=hl7",
    ):
        response = client.get(path, headers=auth)
        assert response.status_code == 200, (path, response.get_data(as_text=True)[:300])
        answers.append(response.get_data())
    blobs["api"] = b"\n".join(answers)
    with sqlite3.connect(db) as connection:
        dump = "\n".join(connection.iterdump()).encode()
    blobs["sql dump"] = dump
    leaks = {where: secrets_in(blob) for where, blob in blobs.items() if secrets_in(blob)}
    assert leaks == {}
    summary = json.loads(outputs[-1])
    assert summary["visits"] == 20
