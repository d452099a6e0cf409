"""Erlang B/C and the stationary M/M/c queue, with the Allen–Cunneen G/G/c correction.

Units follow the rest of hospiflow: arrival rates are *per hour*, service
and waiting times are in *minutes*. Offered load ``a = λ/μ`` is in Erlangs.

Sources:

- A. K. Erlang (1917), "Solution of some problems in the theory of
  probabilities of significance in automatic telephone exchanges",
  *Elektroteknikeren* 13 — the loss (B) and delay (C) formulas.
- D. Gross, J. F. Shortle, J. M. Thompson, C. M. Harris, *Fundamentals of
  Queueing Theory*, 4th ed. (2008), §2.3 — M/M/c measures and the waiting
  time distribution ``P(Wq > t) = C·exp(−(cμ − λ)t)``.
- A. O. Allen (1990), *Probability, Statistics, and Queueing Theory with
  Computer Science Applications*, 2nd ed., Academic Press — the
  Allen–Cunneen approximation ``Wq(G/G/c) ≈ Wq(M/M/c)·(ca² + cs²)/2``.

These are exact only for a stationary queue; hospiflow's simulator is the
reference when arrivals vary over the day or the year.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from numbers import Integral, Real
from typing import Any

from hospiflow.errors import QueueingError

MINUTES_PER_HOUR = 60.0


# --------------------------------------------------------------------------- validation


def _fail(where: str, parameter: str, requirement: str, value: object) -> QueueingError:
    return QueueingError(
        f"{parameter} must be {requirement}, got {value!s}",
        where=where,
        parameter=parameter,
        value=str(value),
    )


def _real(where: str, parameter: str, value: object) -> float:
    """``value`` as a finite float, or a QueueingError naming ``parameter``."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise _fail(where, parameter, "a finite number", value)
    number = float(value)
    if not math.isfinite(number):
        raise _fail(where, parameter, "a finite number", value)
    return number


def _non_negative(where: str, parameter: str, value: object) -> float:
    number = _real(where, parameter, value)
    if number < 0:
        raise _fail(where, parameter, "a finite number ≥ 0", value)
    return number


def _positive(where: str, parameter: str, value: object) -> float:
    number = _real(where, parameter, value)
    if number <= 0:
        raise _fail(where, parameter, "a finite number > 0", value)
    return number


def _servers(where: str, value: object, parameter: str = "servers") -> int:
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise _fail(where, parameter, "a whole number ≥ 1", value)
    return int(value)


# --------------------------------------------------------------------------- Erlang B and C


def _erlang_b(servers: int, offered_load: float) -> float:
    # B(n) = a·B(n−1) / (n + a·B(n−1)) stays in [0, 1]: no factorials, no overflow.
    blocking = 1.0
    for n in range(1, servers + 1):
        carried = offered_load * blocking
        blocking = carried / (n + carried)
    return blocking


def _erlang_c_from_b(servers: int, offered_load: float, blocking: float) -> float:
    utilisation = offered_load / servers
    if utilisation >= 1.0:
        return 1.0
    return blocking / (1.0 - utilisation * (1.0 - blocking))


def erlang_b(servers: int, offered_load: float) -> float:
    """Probability that an arrival finds all ``servers`` busy in a loss system (Erlang B).

    Uses the recursion ``B(0) = 1``, ``B(n) = a·B(n−1) / (n + a·B(n−1))``
    (Erlang 1917; e.g. Gross et al., *Fundamentals of Queueing Theory*),
    which equals ``(aᶜ/c!) / Σₖ aᵏ/k!`` but never forms a factorial, so it
    stays finite for thousands of servers.
    """
    c = _servers("erlang_b", servers)
    a = _non_negative("erlang_b", "offered_load", offered_load)
    return _erlang_b(c, a)


def erlang_c(servers: int, offered_load: float) -> float:
    """Probability that an arrival has to wait in an M/M/c queue (Erlang C).

    ``C = B / (1 − ρ(1 − B))`` with ``B`` the Erlang B value and
    ``ρ = a/c`` (Erlang 1917; Gross et al. §2.3). An unstable queue
    (``ρ ≥ 1``) makes everyone wait: the result is then 1.0.
    """
    c = _servers("erlang_c", servers)
    a = _non_negative("erlang_c", "offered_load", offered_load)
    return _erlang_c_from_b(c, a, _erlang_b(c, a))


# --------------------------------------------------------------------------- M/M/c


@dataclass(frozen=True, slots=True)
class MMcResult:
    """Stationary measures of one pooled queue served by ``servers`` doctors.

    Times are in minutes, lengths in patients. When ``overloaded`` (ρ ≥ 1)
    the queue has no steady state: waits and lengths are ``math.inf`` and
    ``p_wait`` is 1.0. ``cv2_arrival``/``cv2_service`` are 1.0 for the exact
    M/M/c model; other values mean the Allen–Cunneen G/G/c approximation.
    """

    arrival_rate_per_hour: float
    mean_service_minutes: float
    servers: int
    offered_load: float
    utilisation: float
    overloaded: bool
    p_wait: float
    mean_wait_minutes: float
    mean_time_in_system_minutes: float
    mean_queue_length: float
    mean_in_system: float
    cv2_arrival: float = 1.0
    cv2_service: float = 1.0

    @property
    def model(self) -> str:
        """``"M/M/c"`` when exact, ``"G/G/c (Allen-Cunneen)"`` when approximated."""
        if self.cv2_arrival == 1.0 and self.cv2_service == 1.0:
            return "M/M/c"
        return "G/G/c (Allen-Cunneen)"

    @property
    def _variability(self) -> float:
        return (self.cv2_arrival + self.cv2_service) / 2.0

    def p_wait_longer_than(self, t_minutes: float) -> float:
        """Probability that a patient waits more than ``t_minutes`` before treatment.

        M/M/c: ``P(Wq > t) = C·exp(−(cμ − λ)t)`` (Gross et al. §2.3). Under
        Allen–Cunneen the conditional wait keeps its exponential shape with
        its mean scaled by ``(ca² + cs²)/2``, so the decay rate is divided
        by the same factor — exact again when both cv² are 1.
        """
        t = _non_negative("p_wait_longer_than", "t_minutes", t_minutes)
        if self.overloaded:
            return 1.0
        if self.p_wait == 0.0 or t == 0.0:
            return self.p_wait
        if self._variability == 0.0:  # deterministic arrivals and service: nobody waits long
            return 0.0
        return self.p_wait * math.exp(-self._decay_per_minute * t)

    def wait_quantile(self, q: float) -> float:
        """The ``q``-quantile of the wait in minutes (e.g. ``q=0.9``: 90 % wait less).

        Inverts ``P(Wq > t) = C·exp(−rt)``: zero when ``q ≤ 1 − C``, else
        ``ln(C / (1 − q)) / r``; ``math.inf`` when overloaded or ``q = 1``.
        """
        level = _real("wait_quantile", "q", q)
        if not 0.0 <= level <= 1.0:
            raise _fail("wait_quantile", "q", "a probability in [0, 1]", q)
        if self.overloaded:
            return math.inf
        if level <= 1.0 - self.p_wait or self.p_wait == 0.0 or self._variability == 0.0:
            return 0.0
        if level == 1.0:
            return math.inf
        return math.log(self.p_wait / (1.0 - level)) / self._decay_per_minute

    @property
    def _decay_per_minute(self) -> float:
        arrival_per_minute = self.arrival_rate_per_hour / MINUTES_PER_HOUR
        spare = self.servers / self.mean_service_minutes - arrival_per_minute
        return spare / self._variability

    def as_dict(self) -> dict[str, Any]:
        """The fields plus ``model``, for JSON and tables."""
        return {**asdict(self), "model": self.model}


def _result(
    arrival_rate_per_hour: float,
    mean_service_minutes: float,
    servers: int,
    blocking: float,
    cv2_arrival: float = 1.0,
    cv2_service: float = 1.0,
) -> MMcResult:
    """Every measure from Erlang B, so staffing searches can step ``B`` by one server."""
    arrival_per_minute = arrival_rate_per_hour / MINUTES_PER_HOUR
    offered_load = arrival_per_minute * mean_service_minutes
    utilisation = offered_load / servers
    overloaded = utilisation >= 1.0
    if overloaded:
        p_wait = 1.0
        mean_wait = time_in_system = math.inf
    else:
        p_wait = _erlang_c_from_b(servers, offered_load, blocking)
        spare_per_minute = servers / mean_service_minutes - arrival_per_minute
        mean_wait = p_wait / spare_per_minute * (cv2_arrival + cv2_service) / 2.0
        time_in_system = mean_wait + mean_service_minutes
    return MMcResult(
        arrival_rate_per_hour=arrival_rate_per_hour,
        mean_service_minutes=mean_service_minutes,
        servers=servers,
        offered_load=offered_load,
        utilisation=utilisation,
        overloaded=overloaded,
        p_wait=p_wait,
        mean_wait_minutes=mean_wait,
        mean_time_in_system_minutes=time_in_system,
        mean_queue_length=arrival_per_minute * mean_wait,  # Little: Lq = λ·Wq
        mean_in_system=arrival_per_minute * time_in_system,  # Little: L = λ·W
        cv2_arrival=cv2_arrival,
        cv2_service=cv2_service,
    )


def _check_queue(
    where: str, arrival_rate_per_hour: float, mean_service_minutes: float, servers: int
) -> tuple[float, float, int]:
    return (
        _non_negative(where, "arrival_rate_per_hour", arrival_rate_per_hour),
        _positive(where, "mean_service_minutes", mean_service_minutes),
        _servers(where, servers),
    )


def mmc(arrival_rate_per_hour: float, mean_service_minutes: float, servers: int) -> MMcResult:
    """Stationary M/M/c measures: Poisson arrivals, exponential service, one pooled queue.

    ``a = λ/μ``, ``ρ = a/c``, ``C`` = Erlang C, ``Wq = C/(cμ − λ)``,
    ``W = Wq + 1/μ``, ``Lq = λWq``, ``L = λW`` (Erlang 1917; Gross et al. §2.3).
    """
    rate, service, c = _check_queue("mmc", arrival_rate_per_hour, mean_service_minutes, servers)
    load = rate / MINUTES_PER_HOUR * service
    return _result(rate, service, c, _erlang_b(c, load))


def allen_cunneen(
    arrival_rate_per_hour: float,
    mean_service_minutes: float,
    servers: int,
    cv2_arrival: float = 1.0,
    cv2_service: float = 1.0,
) -> MMcResult:
    """G/G/c measures by the Allen–Cunneen approximation.

    ``Wq ≈ Wq(M/M/c) · (ca² + cs²)/2`` where ``ca²``, ``cs²`` are the squared
    coefficients of variation of inter-arrival and service times (Allen
    1990, after Cunneen). ``p_wait`` stays the Erlang C value; ``W``, ``Lq``
    and ``L`` follow from Little's law. Needed because a specialty treating
    pathologies of different lengths has ``cs² > 1`` and plain Erlang C then
    under-predicts waits (see :func:`service_cv2_of_mixture`).
    """
    rate, service, c = _check_queue(
        "allen_cunneen", arrival_rate_per_hour, mean_service_minutes, servers
    )
    ca2 = _non_negative("allen_cunneen", "cv2_arrival", cv2_arrival)
    cs2 = _non_negative("allen_cunneen", "cv2_service", cv2_service)
    load = rate / MINUTES_PER_HOUR * service
    return _result(rate, service, c, _erlang_b(c, load), ca2, cs2)


# --------------------------------------------------------------------------- service mixtures


def service_mixture(
    weights: Sequence[float], means: Sequence[float], cv2s: Sequence[float] | None = None
) -> tuple[float, float]:
    """Mean (minutes) and squared coefficient of variation of a mixture of service times.

    A specialty treats several pathologies: with probability ``wᵢ`` (weights
    are normalised) a treatment has mean ``mᵢ`` and squared CV ``cv2ᵢ``
    (1 = exponential, the default). By the law of total expectation
    ``E[S] = Σ wᵢmᵢ`` and ``E[S²] = Σ wᵢ(1 + cv2ᵢ)mᵢ²``, so
    ``cs² = E[S²]/E[S]² − 1``.
    """
    where = "service_mixture"
    if cv2s is None:
        cv2s = [1.0] * len(means)
    if not len(weights) == len(means) == len(cv2s):
        raise QueueingError(
            f"weights, means and cv2s must have the same length, got "
            f"{len(weights)}, {len(means)} and {len(cv2s)}",
            where=where,
            parameter="weights",
        )
    if len(weights) == 0:
        raise _fail(where, "weights", "a non-empty sequence", "[]")
    w = [_non_negative(where, f"weights[{i}]", x) for i, x in enumerate(weights)]
    m = [_positive(where, f"means[{i}]", x) for i, x in enumerate(means)]
    v = [_non_negative(where, f"cv2s[{i}]", x) for i, x in enumerate(cv2s)]
    total = math.fsum(w)
    if total <= 0.0:
        raise _fail(where, "weights", "not all zero", list(weights))
    mean = math.fsum(wi * mi for wi, mi in zip(w, m, strict=True)) / total
    second = math.fsum(wi * (1.0 + vi) * mi * mi for wi, mi, vi in zip(w, m, v, strict=True))
    second /= total
    return mean, max(second / (mean * mean) - 1.0, 0.0)


def service_cv2_of_mixture(
    weights: Sequence[float], means: Sequence[float], cv2s: Sequence[float] | None = None
) -> float:
    """Squared coefficient of variation ``cs²`` of a mixture of service times.

    The input :func:`allen_cunneen` needs for a specialty whose pathologies
    have different mean durations; see :func:`service_mixture` for the formula.
    A mixture of identical exponentials gives 1; different means give more.
    """
    return service_mixture(weights, means, cv2s)[1]
