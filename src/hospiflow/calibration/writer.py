"""Writing a calibration: the scenario TOML (documented), its catalog, the fit report CSV.

The scenario names its catalog by a path relative to itself
(``my-hospital.catalog.toml`` beside ``my-hospital.toml``), so the pair can be
moved together; ``hospiflow scenario check`` and ``simulate --scenario`` read it.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

from hospiflow.calibration.fit import Calibration
from hospiflow.errors import HospiflowError
from hospiflow.simulation.scenario import Scenario, scenario_to_toml


def catalog_path(scenario_path: Path) -> Path:
    """Where the scenario's catalog goes: beside it, ``<stem>.catalog.toml``."""
    return scenario_path.with_name(scenario_path.stem + ".catalog.toml")


def scenario_text(calibration: Calibration, scenario: Scenario, catalog_name: str) -> str:
    """The documented scenario TOML: a header of how it was fitted and what was not."""
    header = [
        f"# Calibrated by `hospiflow calibrate` from site {calibration.site!r}: visits",
        f"# arriving {calibration.start} to {calibration.until} (excluded), time zone",
        f"# {calibration.timezone}. The fit report (CSV) gives every estimate and its method.",
        "#",
        "# Not estimated from the data (the default used, and why):",
    ]
    header += [
        f"# - {item.item}: {item.default} ({item.reason})" for item in calibration.not_estimated
    ] or ["# - nothing"]
    header.append("#")
    body = scenario_to_toml(scenario)
    lines = []
    for line in body.splitlines():
        if line.startswith("catalog = "):
            line = f'catalog = "{catalog_name}"'
        lines.append(line)
    return "\n".join(header + lines) + "\n"


def report_csv(calibration: Calibration) -> str:
    """The fit report: one row per estimate, then one per parameter not estimated."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "item", "value", "unit", "n", "method", "note"])
    for row in calibration.report:
        writer.writerow([row.section, row.item, row.value, row.unit, row.n, row.method, row.note])
    for item in calibration.not_estimated:
        writer.writerow(
            ["not estimated", item.item, item.default, "", "", "default used", item.reason]
        )
    return out.getvalue()


def write_calibration(calibration: Calibration, out: Path, report: Path | None = None) -> Scenario:
    """Write the scenario to ``out``, its catalog beside it and the report; return it."""
    catalog = catalog_path(out)
    try:
        catalog.write_text(calibration.catalog_toml, encoding="utf-8")
        scenario = calibration.scenario(catalog.resolve())
        out.write_text(scenario_text(calibration, scenario, catalog.name), encoding="utf-8")
        if report is not None:
            report.write_text(report_csv(calibration), encoding="utf-8")
    except OSError as error:
        raise HospiflowError(f"cannot write: {error.strerror}", where=str(error.filename)) from None
    return scenario
