"""Dirty input: every impossible parameter is refused, naming the parameter and the value.

``ScenarioError``'s message reads ``<parameter>: <reason>, got <value>``,
prefixed with the file when the scenario came from one. The CLI prints it as
``error: ...`` without a traceback and exits with status 2.
"""

from __future__ import annotations

import math

import pytest
from click.testing import CliRunner

from hospiflow.cli import main
from hospiflow.errors import HospiflowError, ScenarioError
from hospiflow.simulation.scenario import (
    Shift,
    load_scenario,
    plain_scenario,
    scenario_from_toml,
    scenario_to_toml,
)

DEFAULT = plain_scenario()
NO_NEUROLOGY = tuple(shift for shift in DEFAULT.shifts if shift.specialty != "neurology")

# (id, changes to the default scenario, parameter named, value shown)
BAD_PARAMETERS = [
    ("negative-rate", {"arrival_rate_per_hour": -1.0}, "arrival_rate_per_hour", "-1.0"),
    ("nan-rate", {"arrival_rate_per_hour": math.nan}, "arrival_rate_per_hour", "nan"),
    ("infinite-rate", {"arrival_rate_per_hour": math.inf}, "arrival_rate_per_hour", "inf"),
    ("text-rate", {"arrival_rate_per_hour": "12"}, "arrival_rate_per_hour", "'12'"),
    ("hourly-23", {"hourly_profile": (1.0,) * 23}, "hourly_profile", "23"),
    ("weekday-8", {"weekday_profile": (1.0,) * 8}, "weekday_profile", "8"),
    ("monthly-11", {"monthly_profile": (1.0,) * 11}, "monthly_profile", "11"),
    (
        "nan-in-profile",
        {"hourly_profile": (1.0,) * 5 + (math.nan,) + (1.0,) * 18},
        "hourly_profile[5]",
        "nan",
    ),
    (
        "negative-in-profile",
        {"weekday_profile": (1.0, -2.0) + (1.0,) * 5},
        "weekday_profile[1]",
        "-2.0",
    ),
    ("all-zero-profile", {"monthly_profile": (0.0,) * 12}, "monthly_profile", "0.0"),
    ("unknown-routing", {"routing": "fastest"}, "routing", "'fastest'"),
    (
        "unknown-distribution",
        {"treatment_distribution": "weibull"},
        "treatment_distribution",
        "'weibull'",
    ),
    ("bad-timezone", {"timezone": "Mars/Olympus_Mons"}, "timezone", "'Mars/Olympus_Mons'"),
    ("empty-timezone", {"timezone": ""}, "timezone", "''"),
    ("negative-days", {"days": -3.0}, "days", "-3.0"),
    ("nan-warmup", {"warmup_days": math.nan}, "warmup_days", "nan"),
    ("zero-step", {"snapshot_step_minutes": 0.0}, "snapshot_step_minutes", "0.0"),
    ("negative-seed", {"seed": -1}, "seed", "-1"),
    ("zero-patience", {"mean_patience_minutes": 0.0}, "mean_patience_minutes", "0.0"),
    ("missing-catalog", {"catalog": "/no/such/catalog.toml"}, "catalog", "/no/such/catalog.toml"),
    (
        "shift-25h",
        {"shifts": (Shift("cardiology", "25:00", "08:00", 1),)},
        "shifts[0].start",
        "'25:00'",
    ),
    (
        "shift-end-no-colon",
        {"shifts": (*DEFAULT.shifts, Shift("cardiology", "08:00", "2000", 1))},
        f"shifts[{len(DEFAULT.shifts)}].end",
        "'2000'",
    ),
    (
        "negative-doctors",
        {"shifts": (Shift("cardiology", "08:00", "20:00", -2),)},
        "shifts[0].doctors",
        "-2",
    ),
    (
        "fractional-doctors",
        {"shifts": (Shift("cardiology", "08:00", "20:00", 1.5),)},
        "shifts[0].doctors",
        "1.5",
    ),
    (
        "unknown-weekday",
        {"shifts": (Shift("cardiology", "08:00", "20:00", 1, days=("mon", "funday")),)},
        "shifts[0].days",
        "'funday'",
    ),
    (
        "unknown-specialty",
        {"shifts": (*DEFAULT.shifts, Shift("dermatology", "08:00", "20:00", 1))},
        f"shifts[{len(DEFAULT.shifts)}].specialty",
        "'dermatology'",
    ),
    ("specialty-without-doctor", {"shifts": NO_NEUROLOGY}, "shifts", "neurology"),
    (
        "specialty-with-zero-doctors",
        {"shifts": (*NO_NEUROLOGY, Shift("neurology", "08:00", "20:00", 0))},
        "shifts",
        "neurology",
    ),
]


@pytest.mark.parametrize(
    ("changes", "parameter", "shown"),
    [case[1:] for case in BAD_PARAMETERS],
    ids=[case[0] for case in BAD_PARAMETERS],
)
def test_bad_parameter_is_refused_naming_parameter_and_value(changes, parameter, shown):
    """An impossible value raises ScenarioError whose message starts with the parameter."""
    with pytest.raises(ScenarioError) as caught:
        DEFAULT.replace(**changes)
    message = str(caught.value)
    assert message.startswith(f"{parameter}: "), message
    assert shown in message, message
    assert isinstance(caught.value, HospiflowError)


def test_error_is_structured_for_the_api():
    """The error carries the parameter (``where``) and the value (``details``) separately."""
    with pytest.raises(ScenarioError) as caught:
        DEFAULT.replace(routing="fastest")
    assert caught.value.where == "routing"
    assert caught.value.details["value"] == "fastest"
    assert caught.value.code == "scenario_invalid"


def test_a_pathology_without_doctor_is_fine_when_no_patient_comes():
    """Rate 0 needs no doctor: coverage is only checked when patients arrive."""
    assert DEFAULT.replace(arrival_rate_per_hour=0.0, shifts=()).shifts == ()


def _write(tmp_path, text: str):
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")
    return path


FILE_CASES = [
    ("unknown-key", "[arrivals]\nrate = 3\n", "unknown key 'rate' in [arrivals]"),
    ("unknown-section", "[colours]\nred = 1\n", "unknown key 'colours'"),
    ("unknown-shift-key", '[[shifts]]\nspeciality = "cardiology"\n', "unknown key 'speciality'"),
    ("missing-shift-key", '[[shifts]]\nspecialty = "cardiology"\n', "missing key"),
    ("syntax-error", "[arrivals\nrate_per_hour = 3\n", "invalid TOML"),
    ("syntax-error-value", "[arrivals]\nrate_per_hour = twelve\n", "invalid TOML"),
    ("bad-date", '[time]\nstart_date = "2025-13-01"\n', "start_date"),
    ("negative-rate", "[arrivals]\nrate_per_hour = -4\n", "[arrivals] rate_per_hour: must be"),
    ("profile-not-list", "[arrivals]\nhourly_profile = 1\n", "hourly_profile"),
    (
        "bad-shift-time",
        "[[shifts]]\nspecialty = 'cardiology'\nstart = '25:00'\nend = '08:00'\ndoctors = 1\n",
        "shifts[0].start",
    ),
]


@pytest.mark.parametrize(
    ("text", "expected"), [case[1:] for case in FILE_CASES], ids=[case[0] for case in FILE_CASES]
)
def test_bad_scenario_file_is_refused_naming_the_file(tmp_path, text, expected):
    """A bad scenario file raises ScenarioError naming the file, then the key or line."""
    path = _write(tmp_path, text)
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message
    assert expected in message, message


def test_toml_syntax_error_gives_the_line(tmp_path):
    """A TOML syntax error names the line and column."""
    path = _write(tmp_path, 'name = "x"\n\n[arrivals]\nrate_per_hour = = 3\n')
    with pytest.raises(ScenarioError, match=r"line 4"):
        load_scenario(path)


def test_missing_scenario_file_is_refused(tmp_path):
    """A scenario path that does not exist raises ScenarioError naming it."""
    missing = tmp_path / "nowhere.toml"
    with pytest.raises(ScenarioError) as caught:
        load_scenario(missing)
    assert str(caught.value).startswith(f"{missing}: cannot read scenario file")


def test_wrong_type_in_file_is_a_scenario_error_not_a_crash(tmp_path):
    """Types TOML allows but the scenario does not (a table as rate) give ScenarioError."""
    for text in (
        "[arrivals]\nrate_per_hour = { a = 1 }\n",
        "[time]\nseed = 1.5\n",
        "[time]\ndays = true\n",
        "[routing]\npolicy = 3\n",
        "shifts = 3\n",
        "[time]\ntimezone = 7\n",
    ):
        with pytest.raises(ScenarioError):
            scenario_from_toml(text, where="x.toml")


def test_valid_file_loads(tmp_path):
    """The negative control: the default scenario's own TOML loads without error."""
    path = _write(tmp_path, scenario_to_toml(DEFAULT))
    assert load_scenario(path) == DEFAULT


# --------------------------------------------------------------------------- CLI


def _invoke(args):
    return CliRunner().invoke(main, args)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["simulate", "--rate", "-1", "--no-reports", "--quiet"], "arrival_rate_per_hour"),
        (["simulate", "--days", "nan", "--no-reports", "--quiet"], "days"),
        (["simulate", "--scenario", "/no/such/file.toml", "--quiet"], "/no/such/file.toml"),
        (["scenario", "show", "/no/such/file.toml"], "/no/such/file.toml"),
    ],
    ids=["negative-rate", "nan-days", "missing-scenario", "show-missing"],
)
def test_cli_prints_the_error_without_traceback(args, expected):
    """The CLI prints ``error: <message>`` (no traceback) and exits with status 2."""
    result = _invoke(args)
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert result.output.startswith("error: "), result.output
    assert expected in result.output
    assert "Traceback" not in result.output


def test_cli_check_of_a_bad_file_names_the_file(tmp_path):
    """``scenario check`` on a file with a bad shift names the file and the shift key."""
    path = _write(
        tmp_path, "[[shifts]]\nspecialty = 'cardiology'\nstart = '8h'\nend = '20:00'\ndoctors = 1\n"
    )
    result = _invoke(["scenario", "check", str(path)])
    assert result.exit_code == 2
    assert f"error: {path}: shifts[0].start" in result.output
    assert "Traceback" not in result.output


def test_cli_rejects_an_unknown_routing_before_running():
    """An unknown ``--routing`` is a usage error (non-zero exit, the choices listed)."""
    result = _invoke(["simulate", "--routing", "fastest", "--no-reports", "--quiet"])
    assert result.exit_code != 0
    assert "fastest" in result.output and "pooled" in result.output
