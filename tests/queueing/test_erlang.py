"""Theory checks for Erlang B/C, M/M/c and Allen–Cunneen (textbook values, identities)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from hospiflow.errors import QueueingError
from hospiflow.queueing import (
    MMcResult,
    allen_cunneen,
    erlang_b,
    erlang_c,
    mmc,
    service_cv2_of_mixture,
    service_mixture,
)


def brute_force_erlang_b(servers: int, load: Fraction) -> Fraction:
    """Erlang B straight from its definition, in exact rational arithmetic."""
    terms = [load**k / math.factorial(k) for k in range(servers + 1)]
    return terms[-1] / sum(terms)


# --------------------------------------------------------------------------- Erlang B / C


@pytest.mark.parametrize("servers", [1, 2, 3, 5, 8, 13])
@pytest.mark.parametrize("load", [Fraction(1, 10), Fraction(1), Fraction(5, 2), Fraction(7)])
def test_erlang_b_matches_the_factorial_sum(servers, load):
    """The stable recursion equals (a^c/c!) / Σ a^k/k! for small c."""
    expected = float(brute_force_erlang_b(servers, load))
    assert erlang_b(servers, float(load)) == pytest.approx(expected, rel=1e-12)


def test_erlang_b_textbook_values():
    """B(1, a) = a/(1+a) and B(2, 1) = 1/5."""
    assert erlang_b(1, 3.0) == pytest.approx(0.75)
    assert erlang_b(2, 1.0) == pytest.approx(0.2)


def test_erlang_c_two_servers_one_erlang_is_one_third():
    """Erlang C for c=2, a=1 is exactly 1/3."""
    assert erlang_c(2, 1.0) == pytest.approx(1 / 3, rel=1e-12)


def test_erlang_c_table_value_ten_servers_eight_erlangs():
    """Erlang C for c=10, a=8 matches the published table value ≈ 0.4092."""
    assert erlang_c(10, 8.0) == pytest.approx(0.4092, abs=5e-5)


def test_erlang_c_single_server_is_utilisation():
    """For M/M/1 the probability of waiting is ρ."""
    assert erlang_c(1, 0.7) == pytest.approx(0.7, rel=1e-12)


def test_erlang_c_is_one_when_unstable():
    """ρ ≥ 1 makes every arrival wait."""
    assert erlang_c(4, 4.0) == 1.0
    assert erlang_c(4, 9.5) == 1.0


def test_zero_load_gives_zero_blocking_and_waiting():
    """No arrivals: nobody is blocked and nobody waits."""
    assert erlang_b(3, 0.0) == 0.0
    assert erlang_c(3, 0.0) == 0.0


def test_erlang_b_is_in_unit_interval_and_decreasing_in_servers():
    """B lies in [0, 1] and falls as servers are added."""
    values = [erlang_b(c, 12.0) for c in range(1, 40)]
    assert all(0.0 <= v <= 1.0 for v in values)
    assert all(a > b for a, b in zip(values, values[1:], strict=False))


def test_large_system_is_stable():
    """c=500, a=480 stays finite (no factorial overflow, no NaN)."""
    b = erlang_b(500, 480.0)
    c = erlang_c(500, 480.0)
    result = mmc(480 * 2.0, 30.0, 500)  # a = 960/h × 0.5 h = 480
    assert 0.0 < b < c < 1.0
    assert all(math.isfinite(x) for x in (result.p_wait, result.mean_wait_minutes))
    assert result.offered_load == pytest.approx(480.0)
    assert result.p_wait == pytest.approx(c)


def test_numpy_integer_servers_accepted():
    """A numpy integer is a whole number of servers."""
    assert erlang_c(np.int64(2), np.float64(1.0)) == pytest.approx(1 / 3)


# --------------------------------------------------------------------------- M/M/c


def test_mm1_closed_forms():
    """M/M/1: Wq = ρ/(μ−λ), W = 1/(μ−λ), L = ρ/(1−ρ)."""
    rate_per_hour, service = 1.5, 30.0  # λ = 0.025/min, μ = 1/30 per min, ρ = 0.75
    lam, mu = rate_per_hour / 60, 1 / service
    rho = lam / mu
    result = mmc(rate_per_hour, service, 1)
    assert result.utilisation == pytest.approx(0.75)
    assert result.p_wait == pytest.approx(rho)
    assert result.mean_wait_minutes == pytest.approx(rho / (mu - lam))
    assert result.mean_time_in_system_minutes == pytest.approx(1 / (mu - lam))
    assert result.mean_in_system == pytest.approx(rho / (1 - rho))
    assert result.mean_queue_length == pytest.approx(rho**2 / (1 - rho))


@pytest.mark.parametrize(("rate", "service", "servers"), [(10, 30, 6), (3, 45, 3), (100, 12, 25)])
def test_littles_law(rate, service, servers):
    """L = λW and Lq = λWq, with W = Wq + mean service."""
    result = mmc(rate, service, servers)
    lam = rate / 60
    assert result.mean_queue_length == pytest.approx(lam * result.mean_wait_minutes)
    assert result.mean_in_system == pytest.approx(lam * result.mean_time_in_system_minutes)
    assert result.mean_time_in_system_minutes == pytest.approx(result.mean_wait_minutes + service)
    assert result.mean_in_system == pytest.approx(result.mean_queue_length + result.offered_load)


def test_mmc_known_example():
    """10/h, 30 min, 6 doctors: a=5, ρ=5/6, Wq = C/(cμ−λ) by hand."""
    result = mmc(10, 30, 6)
    c = erlang_c(6, 5.0)
    assert result.offered_load == pytest.approx(5.0)
    assert result.utilisation == pytest.approx(5 / 6)
    assert result.p_wait == pytest.approx(c)
    assert result.mean_wait_minutes == pytest.approx(c / (6 / 30 - 10 / 60))
    assert not result.overloaded


@pytest.mark.parametrize("servers", [4, 5])
def test_overload_flag_and_infinite_waits(servers):
    """ρ ≥ 1 sets overloaded, p_wait 1 and infinite waits and lengths."""
    result = mmc(10, 30, servers)
    assert result.overloaded
    assert result.p_wait == 1.0
    assert math.isinf(result.mean_wait_minutes)
    assert math.isinf(result.mean_time_in_system_minutes)
    assert math.isinf(result.mean_queue_length)
    assert math.isinf(result.mean_in_system)
    assert result.p_wait_longer_than(60) == 1.0
    assert math.isinf(result.wait_quantile(0.5))


def test_no_arrivals_means_no_waits():
    """λ = 0: everything is zero and the tail helpers are 0-safe."""
    result = mmc(0, 30, 1)
    assert result.p_wait == 0.0
    assert result.mean_wait_minutes == 0.0
    assert result.mean_in_system == 0.0
    assert result.p_wait_longer_than(0) == 0.0
    assert result.p_wait_longer_than(10) == 0.0
    assert result.wait_quantile(0.99) == 0.0


def test_wait_tail_formula():
    """P(Wq > t) = C·exp(−(cμ−λ)t), and P(Wq > 0) = C."""
    result = mmc(10, 30, 6)
    decay = 6 / 30 - 10 / 60
    assert result.p_wait_longer_than(0) == pytest.approx(result.p_wait)
    for t in (1.0, 15.0, 120.0):
        assert result.p_wait_longer_than(t) == pytest.approx(result.p_wait * math.exp(-decay * t))


def test_wait_quantile_inverts_the_tail():
    """wait_quantile(q) is the t with P(Wq > t) = 1 − q, and 0 below 1 − C."""
    result = mmc(10, 30, 6)
    for q in (0.5, 0.9, 0.99):
        t = result.wait_quantile(q)
        assert result.p_wait_longer_than(t) == pytest.approx(1 - q)
    assert result.wait_quantile(1 - result.p_wait - 0.01) == 0.0
    assert result.wait_quantile(0.0) == 0.0
    assert math.isinf(result.wait_quantile(1.0))


def test_result_is_frozen_and_serialisable():
    """MMcResult cannot be mutated and as_dict carries the model name."""
    result = mmc(10, 30, 6)
    with pytest.raises(AttributeError):
        result.servers = 7  # type: ignore[misc]
    data = result.as_dict()
    assert data["model"] == "M/M/c"
    assert data["servers"] == 6
    assert isinstance(result, MMcResult)


# --------------------------------------------------------------------------- Allen–Cunneen


def test_allen_cunneen_equals_mmc_when_both_cv2_are_one():
    """With ca² = cs² = 1 the approximation is exactly M/M/c."""
    assert allen_cunneen(10, 30, 6) == mmc(10, 30, 6)
    assert allen_cunneen(10, 30, 6).model == "M/M/c"


def test_allen_cunneen_scales_the_mean_wait():
    """Wq(G/G/c) = Wq(M/M/c)·(ca² + cs²)/2; p_wait stays Erlang C; Little holds."""
    exact = mmc(10, 30, 6)
    approx = allen_cunneen(10, 30, 6, cv2_arrival=1.0, cv2_service=2.0)
    assert approx.mean_wait_minutes == pytest.approx(exact.mean_wait_minutes * 1.5)
    assert approx.p_wait == pytest.approx(exact.p_wait)
    assert approx.mean_queue_length == pytest.approx(10 / 60 * approx.mean_wait_minutes)
    assert approx.mean_in_system == pytest.approx(10 / 60 * approx.mean_time_in_system_minutes)
    assert approx.model.startswith("G/G/c")


def test_allen_cunneen_tail_keeps_the_mean():
    """The approximated tail integrates to the approximated mean wait: ∫P(Wq>t)dt = Wq."""
    approx = allen_cunneen(10, 30, 6, cv2_service=2.5)
    rate = approx.p_wait_longer_than(1.0) / approx.p_wait_longer_than(0.0)
    decay = -math.log(rate)
    assert approx.p_wait / decay == pytest.approx(approx.mean_wait_minutes)


def test_allen_cunneen_deterministic_queue_never_waits():
    """D/D/c (both cv² zero) predicts zero waits."""
    result = allen_cunneen(10, 30, 6, cv2_arrival=0.0, cv2_service=0.0)
    assert result.mean_wait_minutes == 0.0
    assert result.p_wait_longer_than(1.0) == 0.0
    assert result.wait_quantile(0.99) == 0.0


def test_mixture_of_equal_exponentials_has_cv2_one():
    """Identical exponential pathologies mix into an exponential: cs² = 1."""
    assert service_cv2_of_mixture([0.2, 0.3, 0.5], [20, 20, 20]) == pytest.approx(1.0)


def test_mixture_cv2_by_hand():
    """Two equally likely exponentials of 10 and 30 min: E[S]=20, E[S²]=1000, cs²=1.5."""
    mean, cv2 = service_mixture([1, 1], [10, 30])
    assert mean == pytest.approx(20.0)
    assert cv2 == pytest.approx(1000 / 400 - 1)


def test_mixture_with_deterministic_components():
    """cv2s=0 components use E[S²] = m²: a single fixed duration has cs² = 0."""
    assert service_cv2_of_mixture([1], [15], [0.0]) == pytest.approx(0.0)
    # 50/50 of fixed 10 and 30: E[S²] = 500, E[S] = 20 → cs² = 0.25
    assert service_cv2_of_mixture([1, 1], [10, 30], [0, 0]) == pytest.approx(0.25)


def test_mixture_weights_are_normalised():
    """Weights can be raw counts or rates: only their proportions matter."""
    assert service_cv2_of_mixture([2, 6], [10, 40]) == pytest.approx(
        service_cv2_of_mixture([0.25, 0.75], [10, 40])
    )


# --------------------------------------------------------------------------- dirty input


@pytest.mark.parametrize(
    ("call", "parameter"),
    [
        (lambda: erlang_b(0, 1.0), "servers"),
        (lambda: erlang_b(2.5, 1.0), "servers"),
        (lambda: erlang_b(True, 1.0), "servers"),
        (lambda: erlang_b(2, -1.0), "offered_load"),
        (lambda: erlang_c(-3, 1.0), "servers"),
        (lambda: erlang_c(2, math.nan), "offered_load"),
        (lambda: mmc(-1, 30, 2), "arrival_rate_per_hour"),
        (lambda: mmc(math.nan, 30, 2), "arrival_rate_per_hour"),
        (lambda: mmc(math.inf, 30, 2), "arrival_rate_per_hour"),
        (lambda: mmc("10", 30, 2), "arrival_rate_per_hour"),
        (lambda: mmc(10, 0, 2), "mean_service_minutes"),
        (lambda: mmc(10, -5, 2), "mean_service_minutes"),
        (lambda: mmc(10, math.nan, 2), "mean_service_minutes"),
        (lambda: mmc(10, 30, 0), "servers"),
        (lambda: mmc(10, 30, 6.0), "servers"),
        (lambda: allen_cunneen(10, 30, 6, cv2_arrival=-0.1), "cv2_arrival"),
        (lambda: allen_cunneen(10, 30, 6, cv2_service=math.nan), "cv2_service"),
        (lambda: mmc(10, 30, 6).p_wait_longer_than(-1), "t_minutes"),
        (lambda: mmc(10, 30, 6).p_wait_longer_than(math.nan), "t_minutes"),
        (lambda: mmc(10, 30, 6).wait_quantile(1.5), "q"),
        (lambda: mmc(10, 30, 6).wait_quantile(-0.1), "q"),
        (lambda: service_mixture([1], [0]), "means[0]"),
        (lambda: service_mixture([-1, 2], [10, 20]), "weights[0]"),
        (lambda: service_mixture([0, 0], [10, 20]), "weights"),
        (lambda: service_mixture([], []), "weights"),
        (lambda: service_mixture([1, 1], [10]), "weights"),
        (lambda: service_mixture([1], [10], [-1]), "cv2s[0]"),
    ],
)
def test_bad_parameters_raise_queueing_error_naming_them(call, parameter):
    """Every impossible input raises QueueingError whose message names the parameter."""
    with pytest.raises(QueueingError) as info:
        call()
    assert str(info.value).split(": ", 1)[1].startswith(parameter)
    assert info.value.details["parameter"] == parameter


def test_error_message_says_what_and_where():
    """Zero servers reads as 'servers must be a whole number ≥ 1, got 0' from mmc."""
    with pytest.raises(QueueingError) as info:
        mmc(10, 30, 0)
    assert info.value.message == "servers must be a whole number ≥ 1, got 0"
    assert info.value.where == "mmc"
