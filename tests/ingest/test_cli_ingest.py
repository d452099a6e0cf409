"""The site, import and export commands: what a user types, and one clear line when it is wrong."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from hospiflow.cli import main
from hospiflow.ingest.delimited import load_mapping

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


@pytest.fixture
def db(tmp_path, monkeypatch) -> str:
    """A store with site 'CH Test' (its key in a folder of the test)."""
    monkeypatch.setenv("HOSPIFLOW_KEY_DIR", str(tmp_path / "keys"))
    path = str(tmp_path / "h.db")
    code, out = run("site", "create", "CH Test", "--capacity", "30", "--db", path)
    assert code == 0, out
    assert "pseudonym key" in out
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["site", "create", "X", "--timezone", "Mars/Olympus"], "unknown time zone"),
        (["site", "create", "CH Test"], "already exists"),
        (["site", "create", "Y", "--capacity", "0"], "capacity"),
        (["site", "show", "Nowhere"], "no site"),
        (["import", "--site", "Nowhere", "--format", "rpu", "README.md"], "no such file"),
        (["export", "--run", "99", "--format", "rpu", "--out", "x.csv"], "no run 99"),
    ],
)
def test_mistakes_give_one_clear_line(db, args, message):
    """Each mistake: exit 2, one line naming what is wrong, no traceback."""
    code, out = run(*args, "--db", db)
    assert code == 2, out
    assert message in out and "Traceback" not in out
    assert len(out.strip().splitlines()) == 1


def test_a_wrong_mapping_names_its_file_and_key(db, tmp_path):
    """A mapping without the arrival column is refused before anything is read."""
    mapping = tmp_path / "m.toml"
    mapping.write_text('[columns]\ndeparture = "SORTIE"\n', encoding="utf-8")
    code, out = run(
        "import",
        "--site",
        "CH Test",
        "--format",
        "csv",
        "--mapping",
        str(mapping),
        str(EXAMPLES / "visits.csv"),
        "--db",
        db,
    )
    assert code == 2 and "m.toml" in out and "arrival" in out


def test_mapping_show_is_a_valid_mapping(tmp_path):
    """The documented mapping printed by the command loads as it is."""
    code, out = run("import", "mapping", "show")
    assert code == 0
    path = tmp_path / "mapping.toml"
    path.write_text(out, encoding="utf-8")
    assert load_mapping(path).columns["arrival"]


@pytest.mark.parametrize(
    ("format_name", "path"),
    [
        ("rpu", "rpu.csv"),
        ("csv", "visits.csv"),
        ("fhir", "encounters.json"),
        ("hl7", "adt.hl7"),
        ("mimic-ed", "mimic-ed/edstays.csv"),
    ],
)
def test_every_shipped_example_imports_cleanly(db, format_name, path):
    """The examples a newcomer tries first import with nothing quarantined."""
    code, out = run(
        "import",
        "--site",
        "CH Test",
        "--format",
        format_name,
        str(EXAMPLES / path),
        "--db",
        db,
        "--json",
    )
    assert code == 0, out
    assert '"imported": 304' in out and '"quarantined": 0' in out


def test_a_roster_is_checked_and_kept(db, tmp_path):
    """A roster's shifts are validated like a scenario's; a bad one names the shift."""
    good = tmp_path / "roster.toml"
    good.write_text(
        '[[shifts]]\nspecialty = "cardiology"\nstart = "08:00"\nend = "20:00"\ndoctors = 2\n',
        encoding="utf-8",
    )
    assert run("site", "create", "With roster", "--roster", str(good), "--db", db)[0] == 0
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[shifts]]\nspecialty = "cardiology"\nstart = "8h"\nend = "20:00"\ndoctors = 2\n',
        encoding="utf-8",
    )
    code, out = run("site", "create", "Bad roster", "--roster", str(bad), "--db", db)
    assert code == 2 and "shifts[0].start" in out
