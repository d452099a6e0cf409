"""The ``hospiflow simulate`` and ``hospiflow scenario`` commands."""

from __future__ import annotations

import csv

import pytest
from click.testing import CliRunner

from hospiflow.cli import main
from hospiflow.simulation.reports import REPORT_FILES
from hospiflow.simulation.scenario import (
    default_scenario,
    load_scenario,
    scenario_from_toml,
)


def _invoke(*args: str):
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return result


def _metrics(path) -> list[dict[str, str]]:
    with (path / "performance_metrics.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_simulate_writes_the_five_reports_and_says_where(tmp_path):
    """``simulate --days --seed --out`` writes the five files and prints their paths."""
    out = tmp_path / "reports"
    result = _invoke("simulate", "--days", "3", "--seed", "7", "--out", str(out), "--quiet")
    assert sorted(p.name for p in out.iterdir()) == sorted(REPORT_FILES)
    for name in REPORT_FILES:
        assert str(out / name) in result.output


def test_simulate_twice_with_the_same_seed_gives_identical_files(tmp_path):
    """Two CLI runs with the same seed write byte-identical reports; another seed differs."""
    for name, seed in (("a", "11"), ("b", "11"), ("c", "12")):
        _invoke("simulate", "--days", "2", "--seed", seed, "--out", str(tmp_path / name), "--quiet")
    for report in REPORT_FILES:
        assert (tmp_path / "a" / report).read_bytes() == (tmp_path / "b" / report).read_bytes()
    treatments = "treatments.csv"
    assert (tmp_path / "a" / treatments).read_bytes() != (tmp_path / "c" / treatments).read_bytes()


def test_simulate_prints_a_summary_table(tmp_path):
    """Without ``--quiet`` a summary table of the run is printed (on stderr)."""
    result = _invoke("simulate", "--days", "1", "--out", str(tmp_path))
    assert "mean wait" in result.output and "utilisation" in result.output


def test_overrides_reach_the_scenario(tmp_path):
    """``--rate 0`` runs with no arrivals: the metrics say so."""
    _invoke("simulate", "--days", "2", "--rate", "0", "--out", str(tmp_path), "--quiet")
    arrivals = next(
        r for r in _metrics(tmp_path) if r["metric"] == "arrivals" and r["scope"] == "all"
    )
    assert float(arrivals["value"]) == 0.0


@pytest.mark.slow
def test_replications_add_confidence_intervals(tmp_path):
    """``--replications 4`` fills ci95_low ≤ value ≤ ci95_high and the replication count."""
    _invoke(
        "simulate",
        "--days",
        "5",
        "--replications",
        "4",
        "--workers",
        "2",
        "--out",
        str(tmp_path),
        "--quiet",
    )
    rows = _metrics(tmp_path)
    assert {row["replications"] for row in rows} == {"4"}
    wait = next(r for r in rows if r["metric"] == "wait_mean" and r["scope"] == "all")
    low, value, high = (float(wait[k]) for k in ("ci95_low", "value", "ci95_high"))
    assert low < value < high
    for row in rows:
        if row["value"] and row["ci95_low"]:
            assert (
                float(row["ci95_low"])
                <= float(row["value"]) + 1e-4
                <= float(row["ci95_high"]) + 2e-4
            )


def test_single_run_has_empty_confidence_intervals(tmp_path):
    """One replication: ci95 columns are empty and replications is 1."""
    _invoke("simulate", "--days", "1", "--out", str(tmp_path), "--quiet")
    rows = _metrics(tmp_path)
    assert {row["replications"] for row in rows} == {"1"}
    assert {row["ci95_low"] for row in rows} == {""}


@pytest.mark.parametrize("name", ["default", "plain", "stationary", "emergency"])
def test_scenario_show_output_loads_back(name):
    """``scenario show`` prints TOML that loads back to the very same scenario."""
    output = _invoke("scenario", "show", name).output
    assert scenario_from_toml(output) == load_scenario(name)


def test_the_default_hospital_has_the_flow_and_plain_has_not():
    """``default`` (alias ``emergency``) is the flow hospital; ``plain`` the same without it."""
    default, plain = default_scenario(), load_scenario("plain")
    assert default.flow_active and not plain.flow_active
    assert load_scenario("emergency") == default
    assert (default.arrival_rate_per_hour, default.hourly_profile) == (
        plain.arrival_rate_per_hour,
        plain.hourly_profile,
    )


def test_scenario_show_to_a_file_then_check_and_simulate_it(tmp_path):
    """``scenario show > my.toml``; ``scenario check my.toml``; ``simulate --scenario my.toml``."""
    path = tmp_path / "my.toml"
    text = _invoke("scenario", "show").output.replace("days = 365", "days = 2")
    path.write_text(text, encoding="utf-8")
    assert load_scenario(path).days == 2.0
    assert "valid" in _invoke("scenario", "check", str(path)).output
    out = tmp_path / "out"
    _invoke("simulate", "--scenario", str(path), "--out", str(out), "--quiet")
    hourly = (out / "hourly_detail.csv").read_text(encoding="utf-8").splitlines()
    assert len(hourly) == 1 + 2 * 24 * 8


def test_simulate_the_stationary_scenario_by_name(tmp_path):
    """``--scenario stationary`` runs the built-in validation scenario."""
    _invoke(
        "simulate", "--scenario", "stationary", "--days", "1", "--out", str(tmp_path), "--quiet"
    )
    first = (tmp_path / "hourly_detail.csv").read_text(encoding="utf-8").splitlines()[1]
    assert first.startswith("2025-01-01T00:00:00+00:00,")  # UTC, as the scenario says
