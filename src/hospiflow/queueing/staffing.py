"""Staffing: the fewest doctors that meet a specialty's service targets.

Every target (mean wait, probability of waiting longer than ``t``,
utilisation) improves monotonically as doctors are added, so the fewest
servers is found by stepping up from the smallest stable count. Erlang B
is advanced one server at a time with its own recursion
(``B(c) = a·B(c−1)/(c + a·B(c−1))``, Erlang 1917), so a search costs
``O(answer)`` rather than ``O(answer²)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from hospiflow.errors import QueueingError
from hospiflow.queueing.erlang import (
    MINUTES_PER_HOUR,
    MMcResult,
    _fail,
    _non_negative,
    _positive,
    _result,
    _servers,
    allen_cunneen,
)


@dataclass(frozen=True, slots=True)
class _Targets:
    max_mean_wait_minutes: float | None
    max_p_wait_longer: tuple[float, float] | None
    max_utilisation: float | None

    def met_by(self, result: MMcResult) -> bool:
        if result.overloaded:
            return False
        if (
            self.max_mean_wait_minutes is not None
            and result.mean_wait_minutes > self.max_mean_wait_minutes
        ):
            return False
        if self.max_p_wait_longer is not None:
            t_minutes, p = self.max_p_wait_longer
            if result.p_wait_longer_than(t_minutes) > p:
                return False
        return self.max_utilisation is None or result.utilisation <= self.max_utilisation

    def describe(self) -> str:
        parts = []
        if self.max_mean_wait_minutes is not None:
            parts.append(f"mean wait ≤ {self.max_mean_wait_minutes:g} min")
        if self.max_p_wait_longer is not None:
            t_minutes, p = self.max_p_wait_longer
            parts.append(f"P(wait > {t_minutes:g} min) ≤ {p:g}")
        if self.max_utilisation is not None:
            parts.append(f"utilisation ≤ {self.max_utilisation:g}")
        return ", ".join(parts)


def _targets(
    where: str,
    max_mean_wait_minutes: float | None,
    max_p_wait_longer: Sequence[float] | None,
    max_utilisation: float | None,
) -> _Targets:
    if max_mean_wait_minutes is None and max_p_wait_longer is None and max_utilisation is None:
        raise QueueingError(
            "give at least one target: max_mean_wait_minutes, max_p_wait_longer or max_utilisation",
            where=where,
            parameter="targets",
        )
    wait = None
    if max_mean_wait_minutes is not None:
        wait = _non_negative(where, "max_mean_wait_minutes", max_mean_wait_minutes)
    tail = None
    if max_p_wait_longer is not None:
        if isinstance(max_p_wait_longer, str | bytes) or len(max_p_wait_longer) != 2:
            raise _fail(where, "max_p_wait_longer", "a pair (t_minutes, p)", max_p_wait_longer)
        t_minutes = _non_negative(where, "max_p_wait_longer t_minutes", max_p_wait_longer[0])
        p = _non_negative(where, "max_p_wait_longer p", max_p_wait_longer[1])
        if p > 1.0:
            raise _fail(where, "max_p_wait_longer p", "a probability in [0, 1]", p)
        tail = (t_minutes, p)
    utilisation = None
    if max_utilisation is not None:
        utilisation = _positive(where, "max_utilisation", max_utilisation)
        if utilisation > 1.0:
            raise _fail(where, "max_utilisation", "in (0, 1]", max_utilisation)
    return _Targets(wait, tail, utilisation)


def fewest_servers(
    arrival_rate_per_hour: float,
    mean_service_minutes: float,
    *,
    max_mean_wait_minutes: float | None = None,
    max_p_wait_longer: tuple[float, float] | None = None,
    max_utilisation: float | None = None,
    cv2_service: float = 1.0,
    cv2_arrival: float = 1.0,
    limit: int = 1000,
) -> int:
    """The fewest doctors whose stationary queue meets every given target.

    Targets: ``max_mean_wait_minutes`` (``Wq``), ``max_p_wait_longer`` as
    ``(t_minutes, p)`` meaning ``P(Wq > t) ≤ p``, ``max_utilisation`` (ρ).
    At least one is required; the answer is always stable (``c > a``).
    Waits use M/M/c (Erlang C) or, when a cv² differs from 1, the
    Allen–Cunneen approximation (Allen 1990). Raises ``QueueingError`` when
    no count up to ``limit`` suffices (e.g. ``p = 0`` with any arrivals).
    """
    where = "fewest_servers"
    rate = _non_negative(where, "arrival_rate_per_hour", arrival_rate_per_hour)
    service = _positive(where, "mean_service_minutes", mean_service_minutes)
    ca2 = _non_negative(where, "cv2_arrival", cv2_arrival)
    cs2 = _non_negative(where, "cv2_service", cv2_service)
    cap = _servers(where, limit, parameter="limit")
    targets = _targets(where, max_mean_wait_minutes, max_p_wait_longer, max_utilisation)

    load = rate / MINUTES_PER_HOUR * service
    start = max(1, math.floor(load) + 1)  # the smallest c with c > a
    if start > cap:
        raise QueueingError(
            f"a stable queue needs at least {start} servers, more than limit={cap}",
            where=where,
            parameter="limit",
            value=str(cap),
        )
    blocking = 1.0
    for n in range(1, start):
        carried = load * blocking
        blocking = carried / (n + carried)
    for servers in range(start, cap + 1):
        carried = load * blocking
        blocking = carried / (servers + carried)
        if targets.met_by(_result(rate, service, servers, blocking, ca2, cs2)):
            return servers
    raise QueueingError(
        f"no staffing up to limit={cap} servers meets {targets.describe()}",
        where=where,
        parameter="limit",
        value=str(cap),
    )


@dataclass(frozen=True, slots=True)
class StaffingRow:
    """One specialty's answer: its name, the fewest doctors, and that queue's measures."""

    name: str
    servers: int
    result: MMcResult


def staffing_table(
    demand: Mapping[str, Sequence[float]],
    *,
    max_mean_wait_minutes: float | None = None,
    max_p_wait_longer: tuple[float, float] | None = None,
    max_utilisation: float | None = None,
    limit: int = 1000,
) -> list[StaffingRow]:
    """The fewest doctors per specialty, in ``demand``'s order, under shared targets.

    ``demand`` maps a name to ``(arrival_rate_per_hour, mean_service_minutes)``
    or ``(arrival_rate_per_hour, mean_service_minutes, cv2_service)``; a cv²
    other than 1 switches that row to Allen–Cunneen (Allen 1990).
    Errors name the specialty in ``where``.
    """
    rows = []
    for name, values in demand.items():
        if isinstance(values, str | bytes) or len(values) not in (2, 3):
            raise _fail(
                f"staffing_table[{name}]",
                "demand",
                "(arrival_rate_per_hour, mean_service_minutes[, cv2_service])",
                values,
            )
        rate, service = values[0], values[1]
        cv2 = values[2] if len(values) == 3 else 1.0
        try:
            servers = fewest_servers(
                rate,
                service,
                max_mean_wait_minutes=max_mean_wait_minutes,
                max_p_wait_longer=max_p_wait_longer,
                max_utilisation=max_utilisation,
                cv2_service=cv2,
                limit=limit,
            )
        except QueueingError as error:
            raise QueueingError(
                error.message, where=f"staffing_table[{name}]", **error.details
            ) from error
        rows.append(StaffingRow(name, servers, allen_cunneen(rate, service, servers, 1.0, cv2)))
    return rows
