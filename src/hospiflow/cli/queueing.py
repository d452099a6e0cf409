"""``hospiflow queueing``: the analytic model from the command line.

A quick answer before (or instead of) a simulation: how long patients wait
with so many doctors, and how many doctors a wait target needs. Bad input
raises ``QueueingError``; the top-level group prints it and exits 2.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import click
from rich.console import Console
from rich.table import Table

from hospiflow.queueing import MMcResult, allen_cunneen, fewest_servers

_rate = click.option(
    "--rate", type=float, required=True, help="Patient arrivals per hour (Poisson)."
)
_service = click.option(
    "--service-minutes", type=float, required=True, help="Mean treatment time in minutes."
)
_cv2_service = click.option(
    "--cv2-service",
    type=float,
    default=1.0,
    show_default=True,
    help="Squared coefficient of variation of treatment times (1 = exponential, M/M/c).",
)
_cv2_arrival = click.option(
    "--cv2-arrival",
    type=float,
    default=1.0,
    show_default=True,
    help="Squared coefficient of variation of inter-arrival times (1 = Poisson).",
)


def _number(value: float, digits: int) -> str:
    return "inf" if math.isinf(value) else f"{value:.{digits}f}"


def _table(result: MMcResult, title: str, extra: Sequence[tuple[str, str]] = ()) -> Table:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("model", result.model),
        ("arrival rate (per hour)", _number(result.arrival_rate_per_hour, 3)),
        ("mean service (minutes)", _number(result.mean_service_minutes, 3)),
        ("doctors", str(result.servers)),
        ("offered load (Erlangs)", _number(result.offered_load, 4)),
        ("utilisation", _number(result.utilisation, 4)),
        ("overloaded", "yes" if result.overloaded else "no"),
        ("P(wait > 0)", _number(result.p_wait, 4)),
        ("mean wait (minutes)", _number(result.mean_wait_minutes, 2)),
        ("mean time in system (minutes)", _number(result.mean_time_in_system_minutes, 2)),
        ("mean queue length", _number(result.mean_queue_length, 3)),
        ("mean in system", _number(result.mean_in_system, 3)),
        ("90th percentile wait (minutes)", _number(result.wait_quantile(0.9), 2)),
        *extra,
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def _print(table: Table, result: MMcResult) -> None:
    console = Console(width=100)
    console.print(table)
    if result.overloaded:
        console.print(
            "[bold red]overloaded:[/] arrivals exceed what these doctors can treat; "
            "the queue grows without bound."
        )


@click.group()
def group() -> None:
    """Analytic queueing: Erlang C waits and staffing for one pooled specialty queue."""


@group.command("mmc")
@_rate
@_service
@click.option("--doctors", type=int, required=True, help="Doctors serving the queue.")
@_cv2_service
@_cv2_arrival
def mmc_command(
    rate: float, service_minutes: float, doctors: int, cv2_service: float, cv2_arrival: float
) -> None:
    """Waits and queue lengths for a given number of doctors (M/M/c or Allen–Cunneen)."""
    result = allen_cunneen(rate, service_minutes, doctors, cv2_arrival, cv2_service)
    _print(_table(result, f"{result.model} with {result.servers} doctors"), result)


@group.command("staff")
@_rate
@_service
@click.option("--max-wait", type=float, default=None, help="Target mean wait in minutes.")
@click.option(
    "--max-p-wait",
    type=(float, float),
    default=None,
    metavar="MINUTES PROBABILITY",
    help="Target P(wait > MINUTES) ≤ PROBABILITY, e.g. --max-p-wait 30 0.1.",
)
@click.option("--max-utilisation", type=float, default=None, help="Target utilisation ρ.")
@_cv2_service
@_cv2_arrival
@click.option(
    "--limit", type=int, default=1000, show_default=True, help="Most doctors to consider."
)
def staff_command(
    rate: float,
    service_minutes: float,
    max_wait: float | None,
    max_p_wait: tuple[float, float] | None,
    max_utilisation: float | None,
    cv2_service: float,
    cv2_arrival: float,
    limit: int,
) -> None:
    """The fewest doctors meeting every given target, and their queue's measures."""
    doctors = fewest_servers(
        rate,
        service_minutes,
        max_mean_wait_minutes=max_wait,
        max_p_wait_longer=max_p_wait,
        max_utilisation=max_utilisation,
        cv2_service=cv2_service,
        cv2_arrival=cv2_arrival,
        limit=limit,
    )
    result = allen_cunneen(rate, service_minutes, doctors, cv2_arrival, cv2_service)
    extra = []
    if max_p_wait is not None:
        t_minutes = max_p_wait[0]
        extra.append(
            (f"P(wait > {t_minutes:g} min)", _number(result.p_wait_longer_than(t_minutes), 4))
        )
    click.echo(f"fewest doctors: {doctors}")
    _print(_table(result, f"{result.model} with {doctors} doctors", extra), result)
