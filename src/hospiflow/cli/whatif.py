"""``hospiflow whatif``: paired replications of a scenario and its change, compared.

    hospiflow whatif --scenario my-hospital.toml --add-doctor cardiology@18:00-02:00 \\
        --spaces +4 --ward-beds medicine+10 --arrivals +5% --replications 20 --weeks 8

Prints, for each measure, the baseline mean, the change mean and the difference
with its 95 % paired-t interval (``hospiflow.whatif``).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from hospiflow.errors import ScenarioError
from hospiflow.simulation.scenario import WEEKDAYS, load_scenario
from hospiflow.whatif.changes import ChangeSet, DoctorChange
from hospiflow.whatif.compare import WhatIfResult, WhatIfSettings, run_whatif

_DOCTOR = re.compile(
    r"^(?:(?P<count>\d+)x)?(?P<specialty>[A-Za-z0-9_-]+)@(?P<start>\d\d:\d\d)-(?P<end>\d\d:\d\d)"
    r"(?:@(?P<days>[a-z,]+))?$"
)
_DELTA = re.compile(r"^(?P<name>.*?)(?P<delta>[+-]\d+)$")
_PERCENT = re.compile(r"^(?P<value>[+-]?\d+(?:\.\d+)?)\s*%$")
_FACTOR = re.compile(r"^[x×]?(?P<value>\d+(?:\.\d+)?)[x×]?$")
_HOURS = re.compile(r"^(?P<value>[+-]?\d+(?:\.\d+)?)\s*h?$")
_DAY_SETS = {"weekdays": WEEKDAYS[:5], "weekend": WEEKDAYS[5:]}
# the change set's fields, as the options that set them
_OPTION_OF = {
    "changes.spaces": "--spaces",
    "changes.ward_beds": "--ward-beds",
    "changes.arrivals_percent": "--arrivals",
    "changes.diagnostics_factor": "--diagnostics",
    "changes.discharge_hours_earlier": "--discharge-earlier",
    "changes.ward_stay_hours": "--ward-stay",
    "changes.boarding_hours_sooner": "--boarding-sooner",
    "replications": "--replications",
    "weeks": "--weeks",
    "warmup_days": "--warmup-days",
}


def _doctor(text: str, sign: int, where: str) -> DoctorChange:
    match = _DOCTOR.match(text.strip())
    if not match:
        raise ScenarioError(
            f"must read [Nx]SPECIALTY@HH:MM-HH:MM[@DAYS] (e.g. cardiology@18:00-02:00, "
            f"2xpediatrics@10:00-22:00@weekend), got {text!r}",
            where=where,
        )
    days_text = match["days"]
    days: tuple[str, ...]
    if days_text is None:
        days = WEEKDAYS
    elif days_text in _DAY_SETS:
        days = _DAY_SETS[days_text]
    else:
        days = tuple(days_text.split(","))
    count = int(match["count"] or 1)
    return DoctorChange(
        match["specialty"], match["start"], match["end"], sign * count, days, where=where
    )


def _deltas(values: tuple[str, ...], option: str) -> tuple[tuple[str, int], ...]:
    out = []
    for text in values:
        match = _DELTA.match(text.strip())
        if not match:
            raise ScenarioError(
                f"must read [NAME]+N or [NAME]-N (e.g. +4, boxes+4, medicine-10), got {text!r}",
                where=option,
            )
        out.append((match["name"].rstrip("=: "), int(match["delta"])))
    return tuple(out)


def _number(text: str | None, pattern: re.Pattern[str], option: str, form: str) -> float | None:
    if text is None:
        return None
    match = pattern.match(text.strip())
    if not match:
        raise ScenarioError(f"must read {form}, got {text!r}", where=option)
    value = float(match["value"])
    if not math.isfinite(value):
        raise ScenarioError(f"must be a finite number, got {text!r}", where=option)
    return value


def _diagnostics(text: str | None) -> float:
    """``0.8x`` (a factor) or ``-20%`` (a change of the turnaround)."""
    if text is None:
        return 1.0
    percent = _PERCENT.match(text.strip())
    if percent:
        return 1.0 + float(percent["value"]) / 100.0
    factor = _number(text, _FACTOR, "--diagnostics", "a factor such as 0.8x or a change -20%")
    assert factor is not None
    return factor


def change_set_from_options(
    add_doctor: tuple[str, ...] = (),
    remove_doctor: tuple[str, ...] = (),
    spaces: tuple[str, ...] = (),
    ward_beds: tuple[str, ...] = (),
    arrivals: str | None = None,
    diagnostics: str | None = None,
    discharge_earlier: int = 0,
    ward_stay: str | None = None,
    boarding_sooner: float = 0.0,
) -> ChangeSet:
    """The change set the options describe (each error names its option)."""
    doctors = [_doctor(text, 1, f"--add-doctor[{i}]") for i, text in enumerate(add_doctor)]
    doctors += [_doctor(text, -1, f"--remove-doctor[{i}]") for i, text in enumerate(remove_doctor)]
    growth = _number(arrivals, _PERCENT, "--arrivals", "a percentage such as +5% or -10%")
    stay = _number(ward_stay, _HOURS, "--ward-stay", "hours such as -2h or +6h")
    return ChangeSet(
        doctors=tuple(doctors),
        spaces=_deltas(spaces, "--spaces"),
        ward_beds=_deltas(ward_beds, "--ward-beds"),
        arrivals_percent=growth or 0.0,
        diagnostics_factor=_diagnostics(diagnostics),
        discharge_hours_earlier=discharge_earlier,
        ward_stay_hours=stay or 0.0,
        boarding_hours_sooner=boarding_sooner,
    )


def _as_option(error: ScenarioError) -> ScenarioError:
    """The same error naming the option the user typed instead of the change set's field."""
    where = error.where or ""
    for field_name, option in _OPTION_OF.items():
        if where == field_name or where.startswith(field_name + "."):
            suffix = where[len(field_name) + 1 :]
            return ScenarioError(
                error.message, where=option + (f" {suffix}" if suffix else ""), **error.details
            )
    return error


def _cell(value: float | None, unit: str, signed: bool = False) -> str:
    if value is None:
        return "—"
    if unit == "share":
        return f"{100 * value:+.1f} pts" if signed else f"{100 * value:.1f} %"
    return f"{value:+.1f}" if signed else f"{value:.1f}"


def _verdict(row: dict[str, Any]) -> str:
    if row["low"] is None:
        return "cannot tell"
    if not row["significant"]:
        return "unclear"
    better = (row["difference"] < 0) == row["lower_is_better"]
    return "[green]better[/green]" if better else "[red]worse[/red]"


def print_result(result: WhatIfResult, console: Console) -> None:
    """The table of differences, and what was changed."""
    data = result.as_dict()
    console.print(f"What-if on [bold]{data['base']}[/bold]:")
    for line in data["changes"]:
        console.print(f"  {line}")
    table = Table(
        title=(
            f"{data['replications']} paired replications x {data['weeks']:g} weeks "
            f"(after {data['warmup_days']:g} days of warm-up), "
            f"{100 * data['confidence']:g} % paired-t intervals"
        )
    )
    table.add_column("measure")
    for header in ("baseline", "change", "difference", "95 % interval"):
        table.add_column(header, justify="right")
    table.add_column("")
    for row in data["measures"]:
        unit = row["unit"]
        interval = (
            "—"
            if row["low"] is None
            else f"[{_cell(row['low'], unit, True)}, {_cell(row['high'], unit, True)}]"
        )
        table.add_row(
            f"{row['label']} ({'%' if unit == 'share' else unit})",
            _cell(row["baseline"], unit),
            _cell(row["change"], unit),
            _cell(row["difference"], unit, True),
            interval,
            _verdict(row),
        )
    console.print(table)
    console.print(f"{data['seconds']:.1f} s; {data['method']}")


@click.command()
@click.option(
    "--scenario",
    "scenario_source",
    default="default",
    show_default=True,
    help="Built-in scenario (default, plain, stationary) or a scenario TOML file.",
)
@click.option(
    "--add-doctor",
    multiple=True,
    metavar="[Nx]SPECIALTY@HH:MM-HH:MM[@DAYS]",
    help="More doctors over a window, e.g. cardiology@18:00-02:00 (repeatable; DAYS: "
    "mon,tue,... weekdays or weekend).",
)
@click.option(
    "--remove-doctor",
    multiple=True,
    metavar="[Nx]SPECIALTY@HH:MM-HH:MM[@DAYS]",
    help="Fewer doctors over a window inside one of the specialty's shifts (repeatable).",
)
@click.option(
    "--spaces",
    multiple=True,
    metavar="[AREA]+N",
    help="Treatment spaces added (or -N removed) to an area; no name: the largest area.",
)
@click.option(
    "--ward-beds",
    multiple=True,
    metavar="[WARD]+N",
    help="Ward beds added (or -N removed); no name: the largest ward.",
)
@click.option("--arrivals", metavar="+P%", help="Arrival growth, e.g. +5% or -10%.")
@click.option(
    "--diagnostics", metavar="FACTOR", help="Diagnostics turnaround: a factor (0.8x) or -20%."
)
@click.option(
    "--discharge-earlier",
    type=int,
    default=0,
    metavar="HOURS",
    help="Wards discharge this many hours earlier in the day.",
)
@click.option("--ward-stay", metavar="+Hh", help="Every ward stay longer or shorter, e.g. -6h.")
@click.option(
    "--boarding-sooner",
    type=float,
    default=0.0,
    metavar="HOURS",
    help="Admitted patients leave for a bed this many hours sooner (ward stays shorter; a "
    "calibrated site's fitted boarding time shorter).",
)
@click.option("--replications", type=int, default=20, show_default=True)
@click.option("--weeks", type=float, default=8.0, show_default=True, help="Period simulated.")
@click.option("--warmup-days", type=float, help="Warm-up before the period (default: scenario's).")
@click.option("--workers", type=int, help="Processes (default: one per core).")
@click.option(
    "--json",
    "json_out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the result as JSON.",
)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def whatif(
    scenario_source: str,
    add_doctor: tuple[str, ...],
    remove_doctor: tuple[str, ...],
    spaces: tuple[str, ...],
    ward_beds: tuple[str, ...],
    arrivals: str | None,
    diagnostics: str | None,
    discharge_earlier: int,
    ward_stay: str | None,
    boarding_sooner: float,
    replications: int,
    weeks: float,
    warmup_days: float | None,
    workers: int | None,
    json_out: Path | None,
    quiet: bool,
) -> None:
    """Compare a scenario with a change of it: paired replications, 95 % intervals."""
    base = load_scenario(scenario_source)
    try:
        changes = change_set_from_options(
            add_doctor,
            remove_doctor,
            spaces,
            ward_beds,
            arrivals,
            diagnostics,
            discharge_earlier,
            ward_stay,
            boarding_sooner,
        )
        settings = WhatIfSettings(
            replications=replications, weeks=weeks, warmup_days=warmup_days, workers=workers
        )
        if workers is not None and not 1 <= workers <= 64:
            raise ScenarioError(f"must be from 1 to 64, got {workers}", where="--workers")
        console = Console(stderr=True, quiet=quiet)
        columns = (
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=console, transient=True) as progress:
            task = progress.add_task("Simulating baseline and change", total=2 * replications)
            result = run_whatif(
                base,
                changes,
                settings,
                progress=lambda done, total: progress.update(task, completed=done, total=total),
            )
    except ScenarioError as error:
        raise _as_option(error) from None
    print_result(result, Console())
    if json_out is not None:
        json_out.write_text(json.dumps(result.as_dict(), indent=2) + "\n", encoding="utf-8")
        click.echo(f"Result written to {json_out}")
