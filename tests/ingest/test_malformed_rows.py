"""10,000 malformed rows mixed into a good RPU extract: each one quarantined with its
line and reason, and not one good row lost."""

from __future__ import annotations

import io
import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from hospiflow.ingest.formats import ReadOptions, WriteOptions, reader
from hospiflow.ingest.pipeline import import_items
from hospiflow.ingest.rpu import write
from hospiflow.records import Disposition, VisitRecord
from hospiflow.store import schema, sites

PARIS = ZoneInfo("Europe/Paris")
GOOD = 20_000
BAD = 10_000


def good_lines() -> tuple[str, list[str]]:
    """The header and 20,000 rows written by the RPU writer."""
    t0 = datetime(2025, 1, 1, tzinfo=PARIS)
    visits = [
        VisitRecord(
            arrival=t0 + timedelta(minutes=9 * i),
            visit_id=f"G{i}",
            patient_id=f"P{i % 4000}",
            departure=t0 + timedelta(minutes=9 * i + 150),
            acuity=1 + i % 5,
            disposition=Disposition.DISCHARGED,
            diagnosis="S52.5",
            age_years=30,
            sex="M",
        )
        for i in range(GOOD)
    ]
    text = io.StringIO()
    write(visits, text, WriteOptions(timezone="Europe/Paris"))
    header, *rows = text.getvalue().splitlines()
    return header, rows


def malformed(row: str, kind: int, n: int) -> tuple[str, str]:
    """A broken copy of a good row (another visit id) and the reason it must get."""
    cells = row.split(";")
    cells[19] = f"BAD{n}"  # ID_PASSAGE
    if kind == 0:
        cells[5] = "31/02/2025 25:61"  # ENTREE: no such time
        return ";".join(cells), "bad_time"
    if kind == 1:
        cells[5] = ""  # no ENTREE
        return ";".join(cells), "missing_field"
    if kind == 2:
        cells[11] = "9"  # GRAVITE outside CCMU 1-5, P, D
        return ";".join(cells), "bad_value"
    if kind == 3:
        return ";".join(cells[:7]), "bad_row"  # a line cut short
    cells[18] = "01/12/2024 00:00"  # SORTIE a month before ENTREE
    return ";".join(cells), "departure_before_arrival"


def test_ten_thousand_bad_rows_are_each_quarantined_and_no_good_row_is_lost(
    engine, tmp_path, monkeypatch
):
    """Every malformed line is in quarantine with its own line number and reason."""
    monkeypatch.setenv("HOSPIFLOW_PSEUDONYM_KEY", "malformed-rows-test-key")
    header, rows = good_lines()
    rng = random.Random(7)
    lines = [header]
    expected: dict[int, str] = {}
    bad_left = BAD
    for row in rows:
        lines.append(row)
        if bad_left and rng.random() < BAD / GOOD * 1.05:
            text, reason = malformed(row, bad_left % 5, bad_left)
            lines.append(text)
            expected[len(lines)] = reason  # 1-based line number of this row
            bad_left -= 1
    while bad_left:
        text, reason = malformed(rows[0], bad_left % 5, bad_left)
        lines.append(text)
        expected[len(lines)] = reason
        bad_left -= 1
    path = tmp_path / "rpu.csv"
    path.write_text("\n".join(lines) + "\n", encoding="cp1252")
    with engine.begin() as connection:
        sites.create_site(connection, "Malformed", "Europe/Paris")
    items = reader("rpu")([path], ReadOptions(timezone="Europe/Paris"))
    summary = import_items(engine, "Malformed", items, format="rpu", files=[path.name])
    assert len(expected) == BAD
    assert (summary.imported, summary.quarantined) == (GOOD, BAD)
    with engine.connect() as connection:
        found = {
            int(location.rsplit(":", 1)[1]): reason
            for location, reason in connection.execute(
                sa.select(schema.quarantine.c.location, schema.quarantine.c.reason)
            )
        }
        stored = connection.execute(
            sa.select(sa.func.count()).select_from(schema.visits)
        ).scalar_one()
    assert found == expected
    assert stored == GOOD
