"""The five CSV reports: documented columns, counts that agree with each other and the run."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pytest

from hospiflow.simulation.engine import simulate
from hospiflow.simulation.recorder import kpis
from hospiflow.simulation.reports import (
    REPORT_FILES,
    CsvReportSink,
    numbers,
    write_csv,
    write_reports,
)

DOCS = Path(__file__).resolve().parents[2] / "docs" / "reports.md"
HEADERS = {
    "hourly_detail.csv": "hour,specialty,arrivals,waiting,in_treatment,doctors_on_duty,"
    "doctors_busy,utilisation,mean_wait_minutes,left_without_being_seen",
    "daily_pathology_stats.csv": "date,pathology,icd10,specialty,arrivals,treated,"
    "left_without_being_seen,mean_wait_minutes,p90_wait_minutes,mean_treatment_minutes",
    "treatments.csv": "patient_id,pathology,icd10,specialty,doctor,arrival,start,end,"
    "wait_minutes,treatment_minutes",
    "monthly_summary.csv": "month,specialty,arrivals,treated,left_without_being_seen,"
    "mean_wait_minutes,p50_wait_minutes,p90_wait_minutes,mean_treatment_minutes,"
    "mean_waiting,doctor_hours,busy_hours,utilisation",
    "performance_metrics.csv": "metric,scope,value,unit,ci95_low,ci95_high,replications",
}
OFFSET_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d$")


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def impatient_reports(tmp_path_factory, impatient_scenario):
    """The five reports of the 30-day run with abandonment, read back as rows."""
    out = tmp_path_factory.mktemp("reports")
    sink = CsvReportSink(out)
    result = simulate(impatient_scenario, [sink])
    assert [p.name for p in sink.paths] == list(REPORT_FILES)
    return result, out, {name: _read(out / name) for name in REPORT_FILES}


def test_exactly_five_files_with_the_documented_headers(impatient_reports):
    """The run writes exactly the five files, each with the header of ``docs/reports.md``."""
    _, out, _ = impatient_reports
    assert sorted(p.name for p in out.iterdir()) == sorted(REPORT_FILES)
    for name, header in HEADERS.items():
        first = (out / name).read_text(encoding="utf-8").split("\n", 1)[0]
        assert first == header, name


def _documented_columns() -> dict[str, list[str]]:
    """Column names per file, from the tables of ``docs/reports.md``."""
    columns: dict[str, list[str]] = {}
    current = None
    for line in DOCS.read_text(encoding="utf-8").splitlines():
        heading = re.match(r"^## (\S+\.csv)", line)
        if heading:
            current = heading.group(1)
            columns[current] = []
        elif current and line.startswith("| `"):
            first_cell = line.split("|")[1]
            columns[current] += re.findall(r"`([a-z0-9_]+)`", first_cell)
    return columns


@pytest.mark.skipif(not DOCS.is_file(), reason="docs/reports.md not found")
def test_headers_match_the_documentation():
    """``docs/reports.md`` documents each file's columns in the order the files have them."""
    assert {name: ",".join(cols) for name, cols in _documented_columns().items()} == HEADERS


def test_treatments_has_one_row_per_treated_patient(impatient_reports):
    """treatments.csv has one row per patient seen, none for those who left unseen."""
    result, _, tables = impatient_reports
    rows = tables["treatments.csv"]
    treated = np.flatnonzero(~np.isnan(result.start))
    left = np.flatnonzero(~np.isnan(result.left))
    assert len(left) > 0
    assert len(rows) == len(treated)
    ids = {row["patient_id"] for row in rows}
    assert ids == {f"SIM-{i:07d}" for i in treated}
    assert not ids & {f"SIM-{i:07d}" for i in left}


def test_treatments_rows_agree_with_the_run(impatient_reports):
    """Each row's wait and duration are the run's, rounded to 3 decimals; times carry offsets."""
    result, _, tables = impatient_reports
    rows = tables["treatments.csv"]
    treated = np.flatnonzero(~np.isnan(result.start))
    waits = np.array([float(row["wait_minutes"]) for row in rows])
    durations = np.array([float(row["treatment_minutes"]) for row in rows])
    np.testing.assert_allclose(waits, result.wait[treated], atol=5e-4)
    np.testing.assert_allclose(durations, result.treatment_minutes[treated], atol=5e-4)
    doctors = [d.code for d in result.run.doctors]
    for row, i in zip(rows[:500], treated[:500], strict=True):
        assert row["doctor"] == doctors[result.doctor[i]]
        assert row["pathology"] == result.catalog.pathologies[result.pathology[i]].code
        assert row["doctor"].startswith(row["specialty"])
        for key in ("arrival", "start", "end"):
            assert OFFSET_TIME.match(row[key]), row[key]
        assert row["arrival"] <= row["start"] <= row["end"]


def test_hourly_arrivals_sum_to_treatments_plus_left_unseen(impatient_reports):
    """Σ hourly arrivals = rows of treatments.csv + Σ hourly LWBS = patients of the run."""
    result, _, tables = impatient_reports
    hourly = tables["hourly_detail.csv"]
    arrivals = sum(int(row["arrivals"]) for row in hourly)
    lwbs = sum(int(row["left_without_being_seen"]) for row in hourly)
    assert lwbs > 0
    assert arrivals == len(tables["treatments.csv"]) + lwbs == result.n_patients


def test_hourly_detail_covers_every_hour_and_specialty(impatient_scenario, impatient_reports):
    """hourly_detail.csv has one row per reported hour and specialty; busy ≤ on duty."""
    result, _, tables = impatient_reports
    hourly = tables["hourly_detail.csv"]
    n_spec = len(result.run.specialties)
    assert len(hourly) == int(impatient_scenario.days * 24) * n_spec
    assert hourly[0]["hour"] == "2025-01-01T00:00:00+01:00"
    for row in hourly:
        assert float(row["doctors_busy"]) <= float(row["doctors_on_duty"]) + 1e-3
        if row["utilisation"]:
            assert 0.0 <= float(row["utilisation"]) <= 1.0 + 1e-3


def test_daily_and_monthly_totals_match_the_run(impatient_reports):
    """Daily and monthly files count every patient once: arrivals, treated and LWBS."""
    result, _, tables = impatient_reports
    treated = int((~np.isnan(result.start)).sum())
    left = int((~np.isnan(result.left)).sum())
    for name in ("daily_pathology_stats.csv", "monthly_summary.csv"):
        rows = tables[name]
        assert sum(int(r["arrivals"]) for r in rows) == result.n_patients, name
        assert sum(int(r["treated"]) for r in rows) == treated, name
        assert sum(int(r["left_without_being_seen"]) for r in rows) == left, name
    days = {row["date"] for row in tables["daily_pathology_stats.csv"]}
    assert len(days) == 30 and min(days) == "2025-01-01" and max(days) == "2025-01-30"
    assert {row["month"] for row in tables["monthly_summary.csv"]} == {"2025-01"}


def test_performance_metrics_are_the_kpis(impatient_reports):
    """performance_metrics.csv holds the run's KPIs (4 decimals), one run, no interval."""
    result, _, tables = impatient_reports
    rows = tables["performance_metrics.csv"]
    expected = kpis(result)
    assert [(r["metric"], r["scope"]) for r in rows] == [(m, s) for m, s, _, _ in expected]
    for row, (_, _, value, unit) in zip(rows, expected, strict=True):
        assert row["unit"] == unit
        assert row["replications"] == "1"
        assert row["ci95_low"] == row["ci95_high"] == ""
        if np.isnan(value):
            assert row["value"] == ""
        else:
            assert float(row["value"]) == pytest.approx(value, abs=5e-5)
    metrics = {(r["metric"], r["scope"]): float(r["value"] or "nan") for r in rows}
    assert metrics[("left_without_being_seen", "all")] > 0
    scopes = {r["scope"] for r in rows}
    assert scopes == {"all", *result.run.specialties}


def test_times_follow_daylight_saving(tmp_path, impatient_scenario):
    """Local times switch from +01:00 to +02:00 on the last Sunday of March (Europe/Paris)."""
    from datetime import date

    scenario = impatient_scenario.replace(start_date=date(2025, 3, 29), days=3.0)
    result = simulate(scenario, [])
    write_reports(result, tmp_path)
    hours = [row["hour"] for row in _read(tmp_path / "hourly_detail.csv")][
        :: len(result.run.specialties)
    ]
    assert len(hours) == 3 * 24 - 1  # local days: the spring day has 23 hours
    assert hours[0] == "2025-03-29T00:00:00+01:00"
    assert hours[-1] == "2025-03-31T23:00:00+02:00"  # the period ends at local midnight
    assert "2025-03-30T01:00:00+01:00" in hours and "2025-03-30T03:00:00+02:00" in hours
    assert not any(h.startswith("2025-03-30T02:") for h in hours)


# -- the report writer's fast path writes what csv.writer and repr would ---------------


def _csv_writer_text(header, columns) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(zip(*columns, strict=True))
    return buffer.getvalue()


def _write_csv_text(header, columns) -> str:
    buffer = io.StringIO()
    write_csv(buffer, header, columns)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "names",
    [
        ["cardio", "trauma", "SIM-0000001"],  # nothing to quote: the joined path
        ["cardio, adult", "trauma", "x"],  # a comma
        ['the "A" team', "trauma", "x"],  # a quote
        ["two\nlines", "trauma", "x"],  # a newline
        ["carriage\rreturn", "trauma", "x"],
        ["None", "trauma", "x"],  # the text "None" is not an empty cell
    ],
)
def test_write_csv_writes_the_bytes_csv_writer_writes(names):
    rng = np.random.default_rng(3)
    waits = np.round(rng.exponential(30.0, 3), 3).tolist()
    columns = [names, [1, 2, 3], waits, [None, 4.5, None], ["", "b", "c"]]
    header = ["name", "count", "wait", "maybe", "text"]
    assert _write_csv_text(header, columns) == _csv_writer_text(header, columns)


def test_write_csv_without_header_and_without_rows():
    assert _write_csv_text(["a", "b"], [[], []]) == "a,b\n"
    buffer = io.StringIO()
    write_csv(buffer, None, [["x", "y"], [1, 2]])
    assert buffer.getvalue() == "x,1\ny,2\n"
    with pytest.raises(ValueError, match="differ in length"):
        write_csv(io.StringIO(), None, [["x"], [1, 2]])


def test_numbers_are_repr_of_the_rounded_float():
    rng = np.random.default_rng(11)
    values = np.concatenate(
        [
            rng.exponential(50.0, 20_000),
            -rng.exponential(5.0, 2_000),
            rng.uniform(0, 1e8, 2_000),
            [0.0, -0.0, -0.0004, 0.0005, 0.9995, 1e9, 3e17, -1e12, np.inf, -np.inf, np.nan],
        ]
    )
    for digits in (3, 4):
        expected = ["" if v != v else repr(v) for v in np.round(values, digits).tolist()]
        assert numbers(values, digits) == expected
        small = values[np.abs(values) < 1e9]  # the integer path on its own
        expected = ["" if v != v else repr(v) for v in np.round(small, digits).tolist()]
        assert numbers(small, digits) == expected
