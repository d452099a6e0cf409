"""Staffing: fewest doctors meeting targets, monotonicity, and dirty input."""

from __future__ import annotations

import math

import pytest

from hospiflow.errors import QueueingError
from hospiflow.queueing import allen_cunneen, fewest_servers, mmc, staffing_table


def test_mean_wait_target_met_by_answer_and_not_by_one_less():
    """The returned c meets Wq ≤ target and c − 1 does not."""
    c = fewest_servers(10, 30, max_mean_wait_minutes=15)
    assert mmc(10, 30, c).mean_wait_minutes <= 15
    assert mmc(10, 30, c - 1).mean_wait_minutes > 15
    assert c == 7  # 6 doctors wait 17.6 min on average


def test_tail_target_met_by_answer_and_not_by_one_less():
    """P(Wq > 30) ≤ 0.1 holds at c and fails at c − 1."""
    c = fewest_servers(10, 30, max_p_wait_longer=(30, 0.1))
    assert mmc(10, 30, c).p_wait_longer_than(30) <= 0.1
    assert mmc(10, 30, c - 1).p_wait_longer_than(30) > 0.1


def test_utilisation_target():
    """ρ ≤ 0.85 with a = 5 needs ceil(5/0.85) = 6 doctors."""
    assert fewest_servers(10, 30, max_utilisation=0.85) == 6
    assert fewest_servers(10, 30, max_utilisation=0.5) == 10


def test_every_target_must_hold():
    """With several targets the answer is the largest of the single-target answers."""
    single = [
        fewest_servers(40, 20, max_mean_wait_minutes=2),
        fewest_servers(40, 20, max_p_wait_longer=(10, 0.05)),
        fewest_servers(40, 20, max_utilisation=0.8),
    ]
    combined = fewest_servers(
        40, 20, max_mean_wait_minutes=2, max_p_wait_longer=(10, 0.05), max_utilisation=0.8
    )
    assert combined == max(single)


def test_answer_is_always_stable():
    """Even a generous target returns c > a (a = 5 exactly needs 6)."""
    assert fewest_servers(10, 30, max_utilisation=1.0) == 6
    assert fewest_servers(10, 30, max_mean_wait_minutes=1e9) == 6
    assert fewest_servers(9, 30, max_mean_wait_minutes=1e9) == 5  # a = 4.5


def test_no_arrivals_needs_one_doctor():
    """λ = 0 still staffs one doctor and meets any target."""
    assert fewest_servers(0, 30, max_mean_wait_minutes=0) == 1


@pytest.mark.parametrize("target", [60, 30, 15, 5, 1, 0.1])
def test_monotone_in_arrival_rate(target):
    """More arrivals never need fewer doctors."""
    counts = [fewest_servers(r, 30, max_mean_wait_minutes=target) for r in range(1, 60, 3)]
    assert counts == sorted(counts)


def test_monotone_in_target():
    """A stricter wait target never needs fewer doctors."""
    targets = [120, 60, 30, 15, 5, 1, 0.1, 0.01]
    counts = [fewest_servers(20, 25, max_mean_wait_minutes=t) for t in targets]
    assert counts == sorted(counts)


def test_matches_brute_force_over_many_cases():
    """The incremental search agrees with evaluating mmc for every c."""
    for rate in (1, 7, 23, 61):
        for service in (10, 30, 90):
            for target in (1, 10, 45):
                c = fewest_servers(rate, service, max_mean_wait_minutes=target)
                brute = next(
                    n
                    for n in range(1, 1000)
                    if not mmc(rate, service, n).overloaded
                    and mmc(rate, service, n).mean_wait_minutes <= target
                )
                assert c == brute


def test_variable_service_uses_allen_cunneen():
    """cs² > 1 lengthens waits, so it can need more doctors; the answer meets Allen–Cunneen."""
    plain = fewest_servers(30, 40, max_mean_wait_minutes=3)
    variable = fewest_servers(30, 40, max_mean_wait_minutes=3, cv2_service=3.0)
    assert variable >= plain
    assert allen_cunneen(30, 40, variable, cv2_service=3.0).mean_wait_minutes <= 3
    assert allen_cunneen(30, 40, variable - 1, cv2_service=3.0).mean_wait_minutes > 3


def test_large_system():
    """a = 480 staffs quickly and stays just above the load (square-root staffing)."""
    c = fewest_servers(960, 30, max_mean_wait_minutes=1)
    assert 480 < c < 480 + 3 * math.sqrt(480)
    assert mmc(960, 30, c).mean_wait_minutes <= 1


def test_staffing_table_rows():
    """staffing_table answers each specialty in order, with its measures."""
    rows = staffing_table(
        {"cardiology": (10, 30), "dermatology": (4, 15, 2.0)}, max_mean_wait_minutes=15
    )
    assert [row.name for row in rows] == ["cardiology", "dermatology"]
    assert rows[0].servers == fewest_servers(10, 30, max_mean_wait_minutes=15)
    assert rows[1].servers == fewest_servers(4, 15, max_mean_wait_minutes=15, cv2_service=2.0)
    assert rows[1].result.cv2_service == 2.0
    assert rows[0].result == mmc(10, 30, rows[0].servers)


def test_staffing_table_error_names_the_specialty():
    """A bad row's error says which specialty it came from."""
    with pytest.raises(QueueingError) as info:
        staffing_table({"ok": (1, 10), "bad": (-1, 10)}, max_utilisation=0.9)
    assert info.value.where == "staffing_table[bad]"
    assert info.value.details["parameter"] == "arrival_rate_per_hour"


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"arrival_rate_per_hour": -1}, "arrival_rate_per_hour"),
        ({"arrival_rate_per_hour": math.nan}, "arrival_rate_per_hour"),
        ({"mean_service_minutes": 0}, "mean_service_minutes"),
        ({"max_mean_wait_minutes": -1}, "max_mean_wait_minutes"),
        ({"max_mean_wait_minutes": math.nan}, "max_mean_wait_minutes"),
        ({"max_p_wait_longer": (30,)}, "max_p_wait_longer"),
        ({"max_p_wait_longer": (-1, 0.1)}, "max_p_wait_longer t_minutes"),
        ({"max_p_wait_longer": (30, 1.5)}, "max_p_wait_longer p"),
        ({"max_utilisation": 0}, "max_utilisation"),
        ({"max_utilisation": 1.2}, "max_utilisation"),
        ({"cv2_service": -1}, "cv2_service"),
        ({"cv2_arrival": math.inf}, "cv2_arrival"),
        ({"limit": 0}, "limit"),
        ({"limit": 3}, "limit"),  # a = 5 needs at least 6
        ({"max_p_wait_longer": (30, 0.0), "limit": 50}, "limit"),  # unattainable: search runs out
    ],
)
def test_bad_parameters_raise_queueing_error_naming_them(kwargs, parameter):
    """Every impossible input or unreachable target raises QueueingError naming it."""
    arguments = {
        "arrival_rate_per_hour": 10,
        "mean_service_minutes": 30,
        "max_mean_wait_minutes": 15,
        "limit": 200,
    } | kwargs
    rate = arguments.pop("arrival_rate_per_hour")
    service = arguments.pop("mean_service_minutes")
    with pytest.raises(QueueingError) as info:
        fewest_servers(rate, service, **arguments)
    assert info.value.details["parameter"] == parameter
    assert parameter.split()[0] in str(info.value)


def test_at_least_one_target_required():
    """Calling without any target is an error, not a silent answer."""
    with pytest.raises(QueueingError, match="at least one target"):
        fewest_servers(10, 30)
