"""The RPU reader's block path (NumPy, ``VisitBatch``) agrees with its row-by-row path,
and an import through batches stores exactly what an import of records stores."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from hospiflow.ingest import rpu
from hospiflow.ingest.batch import VisitBatch
from hospiflow.ingest.formats import ReadOptions, import_reader
from hospiflow.ingest.pipeline import import_items
from hospiflow.store import schema, sites

OPTIONS = ReadOptions(timezone="Europe/Paris")
HEADER = (
    "FINESS;CP;NAISSANCE;SEXE;ENTREE;MOTIF;GRAVITE;DP;MODE_SORTIE;ORIENTATION;SORTIE;"
    "ID_PASSAGE;IPP;DATE_PEC"
)


def line(n: int, **values: str) -> str:
    cells = {
        "FINESS": "750000000",
        "CP": "75012",
        "NAISSANCE": "02/03/1980",
        "SEXE": "F",
        "ENTREE": "15/01/2024 10:05",
        "MOTIF": "GASTRO04",
        "GRAVITE": "2",
        "DP": "J189",
        "MODE_SORTIE": "8",
        "ORIENTATION": "",
        "SORTIE": "15/01/2024 12:40",
        "ID_PASSAGE": f"P{n}",
        "IPP": f"IPP{n % 5}",
        "DATE_PEC": "15/01/2024 10:30",
    }
    cells.update(values)
    return ";".join(cells[name] for name in HEADER.split(";"))


# Every kind of row: the common form, and each spelling or problem the block path
# must hand to the row-by-row path (which must then give the very same item).
ROWS = [
    line(0),
    line(1, ENTREE="1/2/2024 8:05", SORTIE="01/02/2024 09:05", DATE_PEC=""),
    line(2, ENTREE="01/02/2024 08:05:30", SORTIE="2024-02-01 09:05"),
    line(3, ENTREE="27/10/2024 02:50", SORTIE="27/10/2024 02:10", DATE_PEC=""),  # fold=1
    line(4, ENTREE="31/03/2024 02:30", SORTIE="31/03/2024 04:00", DATE_PEC="31/03/2024 03:10"),
    line(5, GRAVITE="X"),
    line(6, GRAVITE=" p ", MODE_SORTIE=" 8"),
    line(7, DP="R0600", SEXE="f"),
    line(8, DP="??"),
    line(9, NAISSANCE="31/02/1980"),
    line(10, NAISSANCE="", SEXE="X", CP=""),
    line(11, ORIENTATION="psa"),
    line(12, ORIENTATION="FUGUE", GRAVITE="D", MODE_SORTIE="9"),
    line(13, ENTREE=""),
    "750000000;75012;02/03/1980;F;15/01/2024 10:05",  # too few fields
    "",
    line(14) + ";;",  # trailing separators
    line(15, MOTIF='"two\nlines"'),  # a quoted cell over two physical lines
    line(16, SORTIE="15/01/2024 09:00"),  # departure before arrival
    line(17, ENTREE="30/02/2024 10:00"),
    line(18, ENTREE="15/01/2024 24:00"),
    line(19, DATE_PEC="15/01/2024 09:00"),  # seen before arrival
    line(20, SORTIE="", DATE_PEC="", GRAVITE="", MODE_SORTIE="", DP=""),
    line(21, ID_PASSAGE=" ", IPP=""),
    line(22, ENTREE="15/01/2024 10:05 "),
    line(23, ENTREE="15/01/2099 10:05", SORTIE="15/01/2099 11:05", DATE_PEC=""),  # future
    line(24, SORTIE="19/01/2024 12:40"),  # a stay over 72 h
    line(25, DATE_PEC="15/01/2024 13:00"),  # seen after departure
    line(26, ENTREE="27/10/2024 02:50", SORTIE="27/10/2024 04:00", DATE_PEC="27/10/2024 02:10"),
    *[
        line(
            100 + k,
            ENTREE=f"{1 + k % 28:02d}/0{1 + k % 9}/2023 {k % 24:02d}:{k % 60:02d}",
            SORTIE="",
            DATE_PEC="",
        )
        for k in range(40)
    ],
]


def extract(path: Path, rows: list[str], header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("block", [rpu.BLOCK, 1, 4])
def test_the_block_path_reads_every_row_as_the_row_path_does(tmp_path, monkeypatch, block):
    monkeypatch.setattr(rpu, "BLOCK", block)
    path = extract(tmp_path / "rpu.csv", ROWS)
    by_rows = list(rpu.read_rows([path], OPTIONS))
    assert list(rpu.read([path], OPTIONS)) == by_rows
    got = list(rpu.read_batches([path], OPTIONS))
    assert any(isinstance(item, VisitBatch) for item in got)
    flat = [r for i in got for r in (i.records() if isinstance(i, VisitBatch) else [i])]
    assert flat == by_rows
    assert len(by_rows) == len(ROWS) - 1  # the blank line only is skipped


@pytest.mark.parametrize("block", [rpu.BLOCK, 4])
@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_unquoted_blocks_split_by_pandas_read_as_the_row_path_does(
    tmp_path, monkeypatch, block, newline
):
    """Blocks without a quote are cut by pandas (short rows, blank and trailing-separator
    lines included): the very same items and line numbers as the csv module's rows."""
    monkeypatch.setattr(rpu, "BLOCK", block)
    split = rpu._split
    calls = []
    monkeypatch.setattr(rpu, "_split", lambda *args: calls.append(1) or split(*args))
    rows = [row for row in ROWS if '"' not in row]
    path = tmp_path / "rpu.csv"
    path.write_text(newline.join([HEADER, *rows]) + newline, encoding="utf-8", newline="")
    by_rows = list(rpu.read_rows([path], OPTIONS))
    got = list(rpu.read_batches([path], OPTIONS))
    flat = [r for i in got for r in (i.records() if isinstance(i, VisitBatch) else [i])]
    assert flat == by_rows
    assert len(calls) == -(-len(rows) // block)  # every block went through pandas
    assert len(by_rows) == len(rows) - 1  # the blank line only is skipped


def test_missing_optional_columns_read_alike(tmp_path):
    """A layout with absent columns (no ids, no first-seen, no SORTIE): the padded case."""
    path = extract(
        tmp_path / "short.csv", ["15/01/2024 10:05;2;J189", "x;2;J18", ";;"], "ENTREE;GRAVITE;DP"
    )
    assert list(rpu.read([path], OPTIONS)) == list(rpu.read_rows([path], OPTIONS))


@pytest.fixture
def two_sites(engine: sa.Engine, monkeypatch: pytest.MonkeyPatch) -> list[dict]:
    monkeypatch.setenv("HOSPIFLOW_PSEUDONYM_KEY", "a-test-key-of-enough-length")
    with engine.begin() as connection:
        return [sites.create_site(connection, name, "Europe/Paris") for name in ("rows", "blocks")]


def stored(engine: sa.Engine, run_id: int, site_id: int) -> tuple[list, list]:
    v, q = schema.visits, schema.quarantine
    with engine.connect() as connection:
        visits = connection.execute(
            sa.select(*[c for c in v.c if c.name not in ("id", "run_id")])
            .where(v.c.run_id == run_id)
            .order_by(v.c.id)
        ).all()
        quarantine = connection.execute(
            sa.select(q.c.location, q.c.field, q.c.reason, q.c.message, q.c.raw, q.c.day_local_ms)
            .where(q.c.site_id == site_id)
            .order_by(q.c.id)
        ).all()
    return [tuple(r) for r in visits], [tuple(r) for r in quarantine]


def import_both(engine, two_sites, path: Path) -> list[tuple[Any, Any]]:
    """The file imported into the first site row by row and into the second by blocks:
    each import's summary and what the store then holds."""
    results = []
    for site, read in zip(two_sites, (rpu.read_rows, import_reader("rpu")), strict=True):
        summary = import_items(engine, site["id"], read([path], OPTIONS), format="rpu")
        results.append((summary, stored(engine, summary.run_id, site["id"])))
    return results


def test_an_import_through_batches_stores_what_records_store(engine, two_sites, tmp_path):
    """Same visits (pseudonyms, local times, waits, ages, areas, codes, order), same
    quarantine, same summary; and a second import of the file adds nothing."""
    path = extract(tmp_path / "rpu.csv", ROWS)
    (by_rows, rows_stored), (by_blocks, blocks_stored) = import_both(engine, two_sites, path)
    assert blocks_stored == rows_stored
    assert len(rows_stored[0]) > 40 and len(rows_stored[1]) > 10
    for name in (
        "read",
        "imported",
        "duplicates",
        "quarantined",
        "by_reason",
        "unmapped_codes",
        "mapped_by",
        "first_arrival",
        "last_arrival",
        "site_totals",
    ):
        assert getattr(by_blocks, name) == getattr(by_rows, name), name
    again = import_items(
        engine, two_sites[1]["id"], import_reader("rpu")([path], OPTIONS), format="rpu"
    )
    assert (again.imported, again.updated) == (0, 0)
    assert again.duplicates == by_blocks.imported


@pytest.mark.parametrize(
    "repeats",
    [
        [line(0), line(7, DP="R0600", SEXE="f")],  # identical rows again: duplicates
        [line(0, DP="N40", SORTIE=""), line(101, GRAVITE="3")],  # corrections
    ],
)
def test_a_first_import_of_small_batches_counts_what_the_store_holds(
    engine, two_sites, tmp_path, monkeypatch, repeats
):
    """Blocks of 4 rows, with visits repeated in later blocks (a block holding a key
    already kept is not kept whole): the same visits as the row path stores, and the
    span, Data quality totals and rollups a first import counts from its batches are
    what the store derives from the visits it holds."""
    from hospiflow.store import rollups
    from hospiflow.store.quality import run_totals

    monkeypatch.setattr(rpu, "BLOCK", 4)
    path = extract(tmp_path / "rpu.csv", [*ROWS, *repeats])
    (by_rows, rows_stored), (by_blocks, blocks_stored) = import_both(engine, two_sites, path)
    assert blocks_stored == rows_stored
    assert by_blocks.imported == by_rows.imported
    assert by_blocks.duplicates + by_blocks.updated == len(repeats)
    tables = (schema.hourly_specialty, schema.daily_pathology, schema.monthly_specialty)
    v = schema.visits
    with engine.begin() as connection:
        run_id = by_blocks.run_id
        assert by_blocks.site_totals == run_totals(connection, run_id)
        run = connection.execute(sa.select(schema.runs).where(schema.runs.c.id == run_id)).one()
        first, last, left, n = connection.execute(
            sa.select(
                sa.func.min(v.c.arrival_ms),
                sa.func.max(v.c.arrival_ms),
                sa.func.max(v.c.departure_ms),
                sa.func.count(),
            ).where(v.c.run_id == run_id)
        ).one()
        assert (run.start_utc_ms, run.end_utc_ms, run.visits_count) == (first, max(last, left), n)
        counted = [
            sorted(tuple(r) for r in connection.execute(sa.select(t).where(t.c.run_id == run_id)))
            for t in tables
        ]
        rollups.from_visits(connection, run_id)
        derived = [
            sorted(tuple(r) for r in connection.execute(sa.select(t).where(t.c.run_id == run_id)))
            for t in tables
        ]
        connection.rollback()
    assert [len(t) for t in counted] == [len(t) for t in derived]
    assert all(counted)
    for mine, theirs in zip(counted, derived, strict=True):
        for a, b in zip(mine, theirs, strict=True):
            assert a == pytest.approx(b), (a, b)
