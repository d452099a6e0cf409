"""The five CSV reports of a run (columns documented in ``docs/reports.md``).

``hourly_detail.csv``, ``daily_pathology_stats.csv``, ``treatments.csv``,
``monthly_summary.csv`` and ``performance_metrics.csv``. Each file is written
once, with ``csv.writer`` over plain lists (about twice as fast as
``DataFrame.to_csv`` here), numbers rounded to 3 decimals so the same seed
gives byte-identical files. Times are local ISO 8601 with their UTC offset.
"""

from __future__ import annotations

import csv
import functools
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from hospiflow.simulation.engine import SimulationResult
from hospiflow.simulation.events import RunInfo
from hospiflow.simulation.recorder import (
    GroupStats,
    HourlyState,
    day_of,
    group_stats,
    hour_groups_by_month,
    hourly_state,
    kpis,
    month_of,
    reported_days,
    reported_months,
)

REPORT_FILES = (
    "hourly_detail.csv",
    "daily_pathology_stats.csv",
    "treatments.csv",
    "monthly_summary.csv",
    "performance_metrics.csv",
)
DIGITS = 3


def local_times(result: SimulationResult, minutes: np.ndarray) -> list[str]:
    """ISO 8601 local times with offset, truncated to the second, for run minutes."""
    cal = result.calendar
    if len(minutes) == 0:
        return []
    slot = np.clip(np.floor(minutes / 60.0).astype(np.int64) + cal.warmup_hours, 0, cal.n_slots - 1)
    offsets = cal.offset_minutes[slot]
    start_s = int(cal.start_utc.timestamp())
    # floor to the millisecond, then to the second: the store keeps epoch ms the same way
    milliseconds = np.floor(minutes * 60_000.0).astype(np.int64)
    return iso_local(start_s + milliseconds // 1000, offsets)


def iso_local(utc_seconds: np.ndarray, offset_minutes: np.ndarray) -> list[str]:
    """``YYYY-MM-DDTHH:MM:SS+HH:MM`` of UTC epoch seconds shown at the given UTC offsets.

    The one formatter of report times: the simulator's files and the store's
    ``store.reports`` both call it, so their times agree byte for byte.
    """
    utc_seconds = np.asarray(utc_seconds, dtype=np.int64)
    offsets = np.asarray(offset_minutes, dtype=np.int64)
    if len(utc_seconds) == 0:
        return []
    local = (utc_seconds + offsets * 60).astype("datetime64[s]")
    text = np.datetime_as_string(local, unit="s")
    labels: list[str] = np.char.add(text, _OFFSET_TEXT[offsets + 1440]).tolist()
    return labels


def _offset_text(minutes: int) -> str:
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


_OFFSET_TEXT = np.array([_offset_text(o) for o in range(-1440, 1441)])


def numbers(values: Any, digits: int = DIGITS) -> list[str]:
    """Cells of a measure: rounded to ``digits`` decimals and written as Python writes
    the rounded float (``repr``, as ``csv.writer`` would), NaN (or None) as an empty cell.

    Every report writes its measures through this. The text is built from the
    integer ``round(|x| * 10**digits)`` (whole part, then a precomputed
    fraction such as ".25"), which is ``repr`` of the rounded float for any
    ``|x| < 1e9`` and twice as fast; larger or infinite values use ``repr``.
    """
    rounded = np.round(np.asarray(values, dtype=float), digits)
    missing = np.isnan(rounded)
    magnitude = np.abs(np.where(missing, 0.0, rounded))
    if not np.all(magnitude < 1e9):  # inf, or large enough for repr's other forms
        return ["" if v != v else repr(v) for v in rounded.tolist()]
    scaled = np.rint(magnitude * 10**digits).astype(np.int64)
    whole, fraction = np.divmod(scaled, 10**digits)
    cells = [
        f"{w}{f}"
        for w, f in zip(whole.tolist(), _fractions(digits)[fraction].tolist(), strict=True)
    ]
    for i in np.flatnonzero(np.signbit(rounded) & ~missing).tolist():
        cells[i] = "-" + cells[i]
    for i in np.flatnonzero(missing).tolist():
        cells[i] = ""
    return cells


@functools.cache
def _fractions(digits: int) -> np.ndarray:
    """ ".0", ".001", ..., ".999" for ``digits`` = 3: the decimals ``repr`` writes."""
    return np.array(
        [("." + f"{k:0{digits}d}".rstrip("0")) if k else ".0" for k in range(10**digits)],
        dtype=object,
    )


def utilisation(busy: Any, on_duty: Any) -> np.ndarray:
    """``busy / on_duty`` where someone is on duty, NaN elsewhere."""
    busy = np.asarray(busy, dtype=float)
    on_duty = np.asarray(on_duty, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(on_duty > 0, busy / on_duty, np.nan)


def _cells(column: Iterable[Any]) -> list[str]:
    """A column's cells as ``csv.writer`` writes them: None empty, anything else ``str()``."""
    values = column if isinstance(column, list) else list(column)
    cells = list(map(str, values))
    if "None" in cells:  # a None, or the text "None": only then look at the values
        cells = ["" if value is None else cell for value, cell in zip(values, cells, strict=True)]
    return cells


def _joined(rows: Iterable[Sequence[str]], n_rows: int, n_columns: int) -> str | None:
    """The rows as CSV text when no cell needs quoting, else None.

    ``csv.writer`` (QUOTE_MINIMAL) quotes a cell holding ",", '"', "\\r" or
    "\\n". Joined text with no quote or carriage return, exactly
    ``n_columns - 1`` commas a row and one newline a row holds none, so it is
    byte for byte what ``csv.writer`` writes; four scans of the text check it.
    """
    text = "\n".join(map(",".join, rows)) + "\n"
    if (
        '"' in text
        or "\r" in text
        or text.count("\n") != n_rows
        or text.count(",") != n_rows * (n_columns - 1)
    ):
        return None
    return text


def write_csv(
    handle: TextIO, header: Sequence[str] | None, columns: Sequence[Iterable[Any]]
) -> None:
    """Write a header (unless None: a later chunk) and rows given as columns (None: empty).

    Report cells are codes, ISO times and numbers, which never need quoting:
    the rows are then joined directly, several times faster than
    ``csv.writer`` (which was most of a year's report time). When a cell
    does need quoting (a scenario may name a specialty "A, B"), the file goes
    through ``csv.writer``; both paths write the same bytes (tested).
    """
    cells = [_cells(column) for column in columns]
    lengths = {len(column) for column in cells}
    if len(lengths) > 1:
        raise ValueError(f"report columns differ in length: {sorted(lengths)}")
    n_rows = lengths.pop() if lengths else 0
    heading = [list(header)] if header is not None else []
    text = None
    if len(cells) >= 2:  # csv.writer writes a lone empty cell as "": leave that to it
        rows = itertools.chain(heading, zip(*cells, strict=True))
        text = _joined(rows, n_rows + len(heading), len(cells))
    if text is None:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerows(heading)
        writer.writerows(zip(*cells, strict=True))
    elif n_rows + len(heading):
        handle.write(text)


def _write(path: Path, header: Sequence[str], columns: Sequence[Iterable[Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        write_csv(handle, header, columns)


def _day_labels(result: SimulationResult, days: np.ndarray) -> list[str]:
    start = np.datetime64(result.run.parameters["time"]["start_date"], "D")
    labels: list[str] = np.datetime_as_string(
        start + days.astype("timedelta64[D]"), unit="D"
    ).tolist()
    return labels


def _month_labels(result: SimulationResult, months: np.ndarray) -> list[str]:
    start = np.datetime64(result.run.parameters["time"]["start_date"][:7], "M")
    labels: list[str] = np.datetime_as_string(
        start + months.astype("timedelta64[M]"), unit="M"
    ).tolist()
    return labels


HEADERS: dict[str, tuple[str, ...]] = {
    "hourly_detail.csv": (
        "hour",
        "specialty",
        "arrivals",
        "waiting",
        "in_treatment",
        "doctors_on_duty",
        "doctors_busy",
        "utilisation",
        "mean_wait_minutes",
        "left_without_being_seen",
    ),
    "daily_pathology_stats.csv": (
        "date",
        "pathology",
        "icd10",
        "specialty",
        "arrivals",
        "treated",
        "left_without_being_seen",
        "mean_wait_minutes",
        "p90_wait_minutes",
        "mean_treatment_minutes",
    ),
    "treatments.csv": (
        "patient_id",
        "pathology",
        "icd10",
        "specialty",
        "doctor",
        "arrival",
        "start",
        "end",
        "wait_minutes",
        "treatment_minutes",
    ),
    "monthly_summary.csv": (
        "month",
        "specialty",
        "arrivals",
        "treated",
        "left_without_being_seen",
        "mean_wait_minutes",
        "p50_wait_minutes",
        "p90_wait_minutes",
        "mean_treatment_minutes",
        "mean_waiting",
        "doctor_hours",
        "busy_hours",
        "utilisation",
    ),
    "performance_metrics.csv": (
        "metric",
        "scope",
        "value",
        "unit",
        "ci95_low",
        "ci95_high",
        "replications",
    ),
}


def _plain(values: Any) -> list[Any]:
    return values.tolist() if isinstance(values, np.ndarray) else list(values)


# -- formatting: raw columns in, the cells of a report out ---------------------------
# Both the simulator (from ``SimulationResult``) and the store (from its rollup
# tables, ``hospiflow.store.reports``) go through these, so the files agree.


def hourly_detail_columns(
    hours: Sequence[str],
    specialties: Sequence[str],
    arrivals: Any,
    waiting: Any,
    in_treatment: Any,
    doctors_on_duty: Any,
    mean_wait: Any,
    left_without_being_seen: Any,
) -> list[list[Any]]:
    """The cells of ``hourly_detail.csv`` from raw per-row values."""
    busy = numbers(in_treatment)
    return [
        list(hours),
        list(specialties),
        _plain(arrivals),
        numbers(waiting),
        busy,
        numbers(doctors_on_duty),
        busy,  # doctors busy: one patient each
        numbers(utilisation(in_treatment, doctors_on_duty)),
        numbers(mean_wait),
        _plain(left_without_being_seen),
    ]


def daily_pathology_columns(
    dates: Sequence[str],
    pathologies: Sequence[str],
    icd10: Sequence[str],
    specialties: Sequence[str],
    arrivals: Any,
    treated: Any,
    left_without_being_seen: Any,
    mean_wait: Any,
    p90_wait: Any,
    mean_treatment: Any,
) -> list[list[Any]]:
    """The cells of ``daily_pathology_stats.csv`` from raw per-row values."""
    return [
        list(dates),
        list(pathologies),
        list(icd10),
        list(specialties),
        _plain(arrivals),
        _plain(treated),
        _plain(left_without_being_seen),
        numbers(mean_wait),
        numbers(p90_wait),
        numbers(mean_treatment),
    ]


def treatment_columns(
    patient_ids: Sequence[str],
    pathologies: Sequence[str],
    icd10: Sequence[str],
    specialties: Sequence[str],
    doctors: Sequence[str],
    arrival: Sequence[str],
    start: Sequence[str],
    end: Sequence[str],
    wait: Any,
    treatment: Any,
) -> list[list[Any]]:
    """The cells of ``treatments.csv`` (times already ISO 8601 text)."""
    return [
        list(patient_ids),
        list(pathologies),
        list(icd10),
        list(specialties),
        list(doctors),
        list(arrival),
        list(start),
        list(end),
        numbers(wait),
        numbers(treatment),
    ]


def monthly_summary_columns(
    months: Sequence[str],
    specialties: Sequence[str],
    arrivals: Any,
    treated: Any,
    left_without_being_seen: Any,
    mean_wait: Any,
    p50_wait: Any,
    p90_wait: Any,
    mean_treatment: Any,
    mean_waiting: Any,
    doctor_hours: Any,
    busy_hours: Any,
) -> list[list[Any]]:
    """The cells of ``monthly_summary.csv`` from raw per-row values."""
    return [
        list(months),
        list(specialties),
        _plain(arrivals),
        _plain(treated),
        _plain(left_without_being_seen),
        numbers(mean_wait),
        numbers(p50_wait),
        numbers(p90_wait),
        numbers(mean_treatment),
        numbers(mean_waiting),
        numbers(doctor_hours),
        numbers(busy_hours),
        numbers(utilisation(busy_hours, doctor_hours)),
    ]


def performance_metrics_columns(
    metrics: Sequence[str],
    scopes: Sequence[str],
    values: Any,
    units: Sequence[str],
    ci95_low: Any,
    ci95_high: Any,
    replications: Any,
) -> list[list[Any]]:
    """The cells of ``performance_metrics.csv`` (4 decimals)."""
    return [
        list(metrics),
        list(scopes),
        numbers(values, 4),
        list(units),
        numbers(ci95_low, 4),
        numbers(ci95_high, 4),
        _plain(replications),
    ]


# -- raw tables from a result ----------------------------------------------------------


@dataclass(frozen=True)
class DailyPathologyTable:
    """Per reported local day (rows) x pathology (inner), flattened."""

    days: np.ndarray  # local day indices (0 = start_date)
    stats: GroupStats
    groups: np.ndarray  # each patient's row (day x pathology), -1 outside the reported days


def daily_pathology_table(result: SimulationResult) -> DailyPathologyTable:
    """Raw per-day and pathology statistics of ``daily_pathology_stats.csv``."""
    days = reported_days(result)
    first = int(days[0]) if len(days) else 0
    n_days = len(days)
    n_path = len(result.catalog.pathologies)
    day = day_of(result, result.arrival) - first
    groups = np.where((day >= 0) & (day < n_days), day * n_path + result.pathology, -1)
    return DailyPathologyTable(days, group_stats(result, groups, n_days * n_path), groups)


@dataclass(frozen=True)
class MonthlyTable:
    """Per reported local month (rows) x specialty (columns) of ``monthly_summary.csv``."""

    months: np.ndarray  # month indices (0 = start month)
    stats: GroupStats  # flattened month x specialty
    mean_waiting: np.ndarray
    doctor_hours: np.ndarray
    busy_hours: np.ndarray


def monthly_table(result: SimulationResult, hourly: HourlyState | None = None) -> MonthlyTable:
    """Raw per-month and specialty volumes, waits and time-averaged state."""
    months = reported_months(result)
    first = int(months[0]) if len(months) else 0
    n_months = len(months)
    n_spec = len(result.run.specialties)
    month = month_of(result, result.arrival) - first
    groups = np.where(
        (month >= 0) & (month < n_months) & (result.arrival < result.calendar.horizon_minute),
        month * n_spec + result.specialty,
        -1,
    )
    stats = group_stats(result, groups, n_months * n_spec)
    hourly = hourly or hourly_state(result)
    hour_month = hour_groups_by_month(result) - first
    duty = np.zeros((n_months, n_spec))
    busy = np.zeros((n_months, n_spec))
    waiting = np.zeros((n_months, n_spec))
    hours_in_month = np.bincount(hour_month, minlength=n_months)
    for s in range(n_spec):
        duty[:, s] = np.bincount(
            hour_month, weights=hourly.doctors_on_duty[:, s], minlength=n_months
        )
        busy[:, s] = np.bincount(hour_month, weights=hourly.in_treatment[:, s], minlength=n_months)
        waiting[:, s] = np.bincount(hour_month, weights=hourly.waiting[:, s], minlength=n_months)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_waiting = waiting / hours_in_month[:, None]
    return MonthlyTable(months, stats, mean_waiting.ravel(), duty.ravel(), busy.ravel())


# -- the files ----------------------------------------------------------------------------


def write_hourly_detail(
    result: SimulationResult, path: Path, hourly: HourlyState | None = None
) -> None:
    """Per hour and specialty: arrivals, time-averaged state, utilisation, mean wait."""
    hourly = hourly or hourly_state(result)
    hours, n_spec = hourly.arrivals.shape
    hour_labels = local_times(result, 60.0 * np.arange(hours))
    _write(
        path,
        HEADERS["hourly_detail.csv"],
        hourly_detail_columns(
            np.repeat(np.array(hour_labels, dtype=object), n_spec).tolist(),
            list(result.run.specialties) * hours,
            hourly.arrivals.ravel(),
            hourly.waiting.ravel(),
            hourly.in_treatment.ravel(),
            hourly.doctors_on_duty.ravel(),
            hourly.mean_wait.ravel(),
            hourly.left_without_being_seen.ravel(),
        ),
    )


def write_daily_pathology_stats(result: SimulationResult, path: Path) -> None:
    """Per local day and pathology: arrivals, treated, waits and treatment time."""
    table = daily_pathology_table(result)
    stats = table.stats
    n_days = len(table.days)
    catalog = result.catalog
    n_path = len(catalog.pathologies)
    _write(
        path,
        HEADERS["daily_pathology_stats.csv"],
        daily_pathology_columns(
            np.repeat(np.array(_day_labels(result, table.days), dtype=object), n_path).tolist(),
            list(catalog.pathology_codes) * n_days,
            [p.icd10 for p in catalog.pathologies] * n_days,
            [p.specialty for p in catalog.pathologies] * n_days,
            stats.arrivals,
            stats.treated,
            stats.left_without_being_seen,
            stats.mean_wait,
            stats.p90_wait,
            stats.mean_treatment,
        ),
    )


def patient_pseudonym(number: int) -> str:
    """The pseudonymous id of a simulated patient (no real identity exists)."""
    return f"SIM-{number:07d}"


def write_treatments(result: SimulationResult, path: Path) -> None:
    """One row per treatment, in arrival order."""
    treated = np.flatnonzero(~np.isnan(result.start))
    catalog = result.catalog
    pathologies = catalog.pathologies
    path_codes = [pathologies[j].code for j in range(len(pathologies))]
    icd = [pathologies[j].icd10 for j in range(len(pathologies))]
    specialties = result.run.specialties
    doctors = [d.code for d in result.run.doctors]
    j = result.pathology[treated].tolist()
    _write(
        path,
        HEADERS["treatments.csv"],
        treatment_columns(
            [patient_pseudonym(n) for n in treated.tolist()],
            [path_codes[k] for k in j],
            [icd[k] for k in j],
            [specialties[s] for s in result.specialty[treated].tolist()],
            [doctors[d] for d in result.doctor[treated].tolist()],
            local_times(result, result.arrival[treated]),
            local_times(result, result.start[treated]),
            local_times(result, result.end[treated]),
            result.wait[treated],
            result.treatment_minutes[treated],
        ),
    )


def write_monthly_summary(
    result: SimulationResult, path: Path, hourly: HourlyState | None = None
) -> None:
    """Per local month and specialty: volumes, waits, doctor hours and utilisation."""
    table = monthly_table(result, hourly)
    stats = table.stats
    n_months = len(table.months)
    n_spec = len(result.run.specialties)
    _write(
        path,
        HEADERS["monthly_summary.csv"],
        monthly_summary_columns(
            np.repeat(np.array(_month_labels(result, table.months), dtype=object), n_spec).tolist(),
            list(result.run.specialties) * n_months,
            stats.arrivals,
            stats.treated,
            stats.left_without_being_seen,
            stats.mean_wait,
            stats.p50_wait,
            stats.p90_wait,
            stats.mean_treatment,
            table.mean_waiting,
            table.doctor_hours,
            table.busy_hours,
        ),
    )


MetricRow = tuple[str, str, float, str]


@dataclass(frozen=True)
class MetricsTable:
    """The rows of ``performance_metrics.csv``, raw (NaN: not defined)."""

    metrics: list[str]
    scopes: list[str]
    values: np.ndarray
    units: list[str]
    ci95_low: np.ndarray
    ci95_high: np.ndarray
    replications: int


def metrics_table(replications: Sequence[Sequence[MetricRow]]) -> MetricsTable:
    """KPIs of one run, or the mean and 95 % t interval over several replications."""
    first = replications[0]
    n = len(replications)
    values = np.array([[row[2] for row in rep] for rep in replications], dtype=float)
    mean = np.nanmean(values, axis=0) if n > 1 else values[0]
    low = np.full(len(first), np.nan)
    high = np.full(len(first), np.nan)
    if n > 1:
        from scipy import stats  # imported here: a single run does not pay for scipy

        sd = np.nanstd(values, axis=0, ddof=1)
        half = stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)
        low, high = mean - half, mean + half
    return MetricsTable(
        [row[0] for row in first],
        [row[1] for row in first],
        mean,
        [row[3] for row in first],
        low,
        high,
        n,
    )


def write_performance_metrics(path: Path, replications: Sequence[Sequence[MetricRow]]) -> None:
    """Global KPIs; with several replications, their mean and a 95 % t confidence interval."""
    table = metrics_table(replications)
    _write(
        path,
        HEADERS["performance_metrics.csv"],
        performance_metrics_columns(
            table.metrics,
            table.scopes,
            table.values,
            table.units,
            table.ci95_low,
            table.ci95_high,
            [table.replications] * len(table.metrics),
        ),
    )


def write_reports(
    result: SimulationResult,
    out_dir: Path,
    other_replications: Sequence[Sequence[MetricRow]] = (),
) -> list[Path]:
    """Write the five reports of ``result`` into ``out_dir``; return their paths.

    ``other_replications`` are the KPIs of replications 2..N of the same
    scenario: ``performance_metrics.csv`` then holds the mean and 95 % CI.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [out_dir / name for name in REPORT_FILES]
    hourly = hourly_state(result)
    write_hourly_detail(result, paths[0], hourly)
    write_daily_pathology_stats(result, paths[1])
    write_treatments(result, paths[2])
    write_monthly_summary(result, paths[3], hourly)
    write_performance_metrics(paths[4], [kpis(result, hourly), *other_replications])
    return paths


class CsvReportSink:
    """A sink that writes the five reports when the run closes successfully."""

    wants_events = False

    def __init__(
        self, out_dir: Path, other_replications: Sequence[Sequence[MetricRow]] = ()
    ) -> None:
        self.out_dir = Path(out_dir)
        self.paths: list[Path] = []
        self.other_replications = other_replications

    def open(self, run: RunInfo) -> None:
        self.out_dir.mkdir(parents=True, exist_ok=True)

    def write_events(self, events: Sequence[Any]) -> None:  # pragma: no cover - not wanted
        pass

    def write_snapshots(self, snapshots: Sequence[Any]) -> None:
        pass

    def write_visits(self, visits: Sequence[Any]) -> None:  # pragma: no cover - not wanted
        pass

    def close(self, result: SimulationResult | None) -> None:
        if result is not None:
            self.paths = write_reports(result, self.out_dir, self.other_replications)
