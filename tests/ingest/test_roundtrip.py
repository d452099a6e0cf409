"""Simulate -> export -> import, through the command line, in every format:
the same visits (times to the minute, diagnosis, disposition) and the same reports
where the data suffice."""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from hospiflow.cli import main
from hospiflow.records import Disposition
from hospiflow.store import schema
from hospiflow.store.engine import create_engine_for
from hospiflow.store.reports import report_csv

FORMATS = {
    "csv": "visits.csv",
    "rpu": "rpu.csv",
    "fhir": "encounters.json",
    "hl7": "adt.hl7",
    "mimic-ed": "edstays.csv",
}


def cli(*args: str) -> str:
    """Run hospiflow in-process; fail with its output if it fails."""
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope="module")
def simulated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 21-day simulated run (run 1) of the default hospital in a SQLite file.

    Its full flow: admissions, boarding in January's exit block, boarders transferred
    after 24 h (so no stay exceeds the import's 72-hour plausibility bound)."""
    folder = tmp_path_factory.mktemp("roundtrip")
    db = folder / "sim.db"
    cli("simulate", "--days", "21", "--seed", "11", "--db", str(db), "--no-reports", "--quiet")
    return db


def test_the_simulated_run_has_the_full_flow(simulated):
    """Admissions, boarders, and boarders transferred at the 24-hour limit; no stay over 72 h."""
    engine = create_engine_for(f"sqlite:///{simulated}")
    v = schema.visits
    hour = 3_600_000
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.select(
                    v.c.disposition, v.c.arrival_ms, v.c.bed_request_ms, v.c.departure_ms
                ).where(v.c.run_id == 1)
            ).all()
    finally:
        engine.dispose()
    admitted = [r for r in rows if r.disposition == int(Disposition.ADMITTED)]
    no_bed = [
        r
        for r in rows
        if r.disposition == int(Disposition.TRANSFERRED) and r.bed_request_ms is not None
    ]
    assert len(admitted) > 1000
    assert any(r.departure_ms - r.bed_request_ms > 4 * hour for r in admitted)  # boarding
    assert no_bed and all(
        abs(r.departure_ms - r.bed_request_ms - 24 * hour) < 60_000 for r in no_bed
    )
    assert max(r.departure_ms - r.arrival_ms for r in rows) <= 72 * hour


def visits(db: Path, run_id: int) -> list[tuple]:
    """(arrival minute, ICD-10, disposition, waited minute-rounded) of each visit, sorted."""
    engine = create_engine_for(f"sqlite:///{db}")
    v, p = schema.visits, schema.pathologies
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.select(
                    v.c.arrival_ms,
                    sa.func.coalesce(v.c.icd10, p.c.icd10),
                    v.c.disposition,
                    v.c.departure_ms,
                )
                .select_from(
                    v.outerjoin(p, (p.c.run_id == v.c.run_id) & (p.c.idx == v.c.pathology_idx))
                )
                .where(v.c.run_id == run_id)
            ).all()
    finally:
        engine.dispose()
    return sorted(
        (arrival // 60_000, code, disposition, departure // 60_000)
        for arrival, code, disposition, departure in rows
    )


def arrivals_by_hour(db: Path, run_id: int) -> Counter:
    """Arrivals per (hour, specialty) from the run's hourly report, empty buckets left out."""
    engine = create_engine_for(f"sqlite:///{db}")
    try:
        with engine.connect() as connection:
            text = report_csv(connection, run_id, "hourly_detail")
    finally:
        engine.dispose()
    counts: Counter = Counter()
    for row in csv.DictReader(io.StringIO(text)):
        if int(row["arrivals"]):
            counts[(row["hour"], row["specialty"])] += int(row["arrivals"])
    return counts


@pytest.mark.parametrize("format_name", sorted(FORMATS))
def test_export_then_import_gives_back_the_same_visits(simulated, tmp_path, format_name):
    """Every visit comes back (to the minute, same code and disposition), and so do the
    hourly arrivals per specialty of the reports."""
    db = tmp_path / "copy.db"
    db.write_bytes(simulated.read_bytes())
    out = tmp_path / FORMATS[format_name]
    cli("export", "--run", "1", "--format", format_name, "--out", str(out), "--db", str(db))
    cli("site", "create", "Round trip", "--db", str(db))
    first = cli(
        "import",
        "--site",
        "Round trip",
        "--format",
        format_name,
        str(out),
        "--db",
        str(db),
        "--json",
    )
    again = cli(
        "import",
        "--site",
        "Round trip",
        "--format",
        format_name,
        str(out),
        "--db",
        str(db),
        "--json",
    )
    assert '"quarantined": 0' in first, first
    assert '"imported": 0' in again, again  # a re-import adds nothing
    original, imported = visits(db, 1), visits(db, 2)
    assert len(imported) == len(original) > 1000
    assert imported == original
    assert arrivals_by_hour(db, 2) == arrivals_by_hour(db, 1)
