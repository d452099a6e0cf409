"""The ``hospiflow queueing`` commands: output carries the numbers, bad input raises."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from hospiflow.cli.queueing import group
from hospiflow.errors import QueueingError
from hospiflow.queueing import fewest_servers, mmc


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_mmc_prints_the_metrics(runner):
    """`mmc` prints load, utilisation, P(wait) and mean wait as computed by the library."""
    result = runner.invoke(
        group, ["mmc", "--rate", "10", "--service-minutes", "30", "--doctors", "6"]
    )
    assert result.exit_code == 0, result.output
    expected = mmc(10, 30, 6)
    assert "M/M/c" in result.output
    assert "5.0000" in result.output  # offered load
    assert "0.8333" in result.output  # utilisation
    assert f"{expected.p_wait:.4f}" in result.output
    assert f"{expected.mean_wait_minutes:.2f}" in result.output


def test_mmc_with_variable_service_uses_allen_cunneen(runner):
    """`--cv2-service 2` switches to Allen–Cunneen and scales the mean wait by 1.5."""
    result = runner.invoke(
        group,
        ["mmc", "--rate", "10", "--service-minutes", "30", "--doctors", "6", "--cv2-service", "2"],
    )
    assert result.exit_code == 0, result.output
    assert "Allen-Cunneen" in result.output
    assert f"{mmc(10, 30, 6).mean_wait_minutes * 1.5:.2f}" in result.output


def test_mmc_overloaded_says_so(runner):
    """Too few doctors prints an overload warning and infinite waits."""
    result = runner.invoke(
        group, ["mmc", "--rate", "10", "--service-minutes", "30", "--doctors", "4"]
    )
    assert result.exit_code == 0, result.output
    assert "overloaded" in result.output
    assert "inf" in result.output


def test_staff_prints_the_fewest_doctors(runner):
    """`staff` prints the same count as fewest_servers and that queue's P(wait > t)."""
    result = runner.invoke(
        group,
        [
            "staff", "--rate", "10", "--service-minutes", "30", "--max-wait", "15",
            "--max-p-wait", "30", "0.1", "--max-utilisation", "0.85",
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    doctors = fewest_servers(
        10, 30, max_mean_wait_minutes=15, max_p_wait_longer=(30, 0.1), max_utilisation=0.85
    )
    assert f"fewest doctors: {doctors}" in result.output
    assert "P(wait > 30 min)" in result.output
    assert f"{mmc(10, 30, doctors).p_wait_longer_than(30):.4f}" in result.output


@pytest.mark.parametrize(
    "arguments",
    [
        ["mmc", "--rate", "-1", "--service-minutes", "30", "--doctors", "6"],
        ["mmc", "--rate", "10", "--service-minutes", "0", "--doctors", "6"],
        ["mmc", "--rate", "10", "--service-minutes", "30", "--doctors", "0"],
        ["mmc", "--rate", "nan", "--service-minutes", "30", "--doctors", "6"],
        ["staff", "--rate", "10", "--service-minutes", "30"],
        ["staff", "--rate", "10", "--service-minutes", "30", "--max-utilisation", "2"],
    ],
)
def test_bad_input_raises_queueing_error(runner, arguments):
    """Impossible numbers surface as QueueingError for the top-level group to print."""
    result = runner.invoke(group, arguments)
    assert isinstance(result.exception, QueueingError), result.output


def test_unparseable_input_is_a_usage_error(runner):
    """Non-numeric input is click's own usage error (exit 2), not a crash."""
    result = runner.invoke(
        group, ["mmc", "--rate", "ten", "--service-minutes", "30", "--doctors", "6"]
    )
    assert result.exit_code == 2
