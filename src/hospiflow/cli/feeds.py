"""``hospiflow ingest mllp`` (a live HL7 v2 feed) and ``hospiflow replay`` (a past day, now)."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import click

from hospiflow.cli.db import database_options
from hospiflow.cli.ingest import _engine
from hospiflow.errors import HospiflowError
from hospiflow.store import sites as store_sites

if TYPE_CHECKING:
    from hospiflow.feeds.mllp import Limits


def _site_key(name: str) -> int | str:
    return int(name) if name.isdigit() else name


@click.group(name="ingest")
def ingest_group() -> None:
    """Take a site's visits live: hospiflow ingest mllp --site NAME --port 2575."""


def limit_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """The listener's limits, shared by ``ingest mllp`` and ``serve --mllp-site``."""
    options = [
        click.option("--max-connections", default=32, show_default=True, type=int),
        click.option(
            "--max-message-bytes",
            default=1_048_576,
            show_default=True,
            type=int,
            help="Larger messages are refused (AR) and their connection closed.",
        ),
        click.option(
            "--message-timeout",
            default=30.0,
            show_default=True,
            type=float,
            help="Seconds a message may take to arrive once started (slow senders).",
        ),
        click.option(
            "--idle-timeout", default=600.0, show_default=True, type=float, help="Seconds."
        ),
        click.option(
            "--hold-seconds",
            default=600.0,
            show_default=True,
            type=float,
            help="How long a message waits for its visit before it is quarantined.",
        ),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def limits_of(values: dict[str, Any]) -> Limits:
    from hospiflow.feeds.mllp import Limits

    return Limits(
        max_connections=values["max_connections"],
        max_message_bytes=values["max_message_bytes"],
        message_seconds=values["message_timeout"],
        idle_seconds=values["idle_timeout"],
        hold_seconds=values["hold_seconds"],
    )


@ingest_group.command(name="mllp")
@click.option("--site", required=True, help="Site name or id.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=2575, show_default=True, type=int, help="0: any free port.")
@limit_options
@database_options
def mllp(site: str, host: str, port: int, db: str | None, database_url: str | None, **limits):
    """Listen for HL7 v2 ADT messages (MLLP) and apply each to SITE before its ACK."""
    from hospiflow.feeds.mllp import run

    logging.basicConfig(
        level=os.environ.get("HOSPIFLOW_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    engine = _engine(db, database_url)
    run(engine, _site_key(site), host, port, limits_of(limits))


@click.command(name="replay")
@click.option("--site", required=True, help="The site whose stored history is replayed.")
@click.option("--from", "start", required=True, help="First day replayed (YYYY-MM-DD, local).")
@click.option("--days", default=1.0, show_default=True, type=float)
@click.option("--speed", default=60.0, show_default=True, type=float, help="Times faster.")
@click.option(
    "--to",
    "target",
    default="mllp://127.0.0.1:2575",
    show_default=True,
    help="mllp://HOST:PORT (a listener) or http://HOST:PORT (a server's REST push).",
)
@click.option("--target-site", type=int, help="REST: the receiving site's id.")
@click.option("--token", envvar="HOSPIFLOW_API_TOKEN", help="REST: an admin token.")
@database_options
def replay(
    site: str,
    start: str,
    days: float,
    speed: float,
    target: str,
    target_site: int | None,
    token: str | None,
    db: str | None,
    database_url: str | None,
) -> None:
    """Re-send a site's history through a live feed as if it were happening now."""
    from hospiflow.feeds import replay as replaying

    if speed <= 0 or days <= 0:
        raise HospiflowError("--speed and --days must be positive", where="--speed")
    engine = _engine(db, database_url)
    with engine.connect() as connection:
        row = store_sites.get_site(connection, _site_key(site))
    try:
        first = datetime.fromisoformat(start).replace(tzinfo=ZoneInfo(row["timezone"]))
    except ValueError:
        raise HospiflowError("not a date (YYYY-MM-DD)", where="--from") from None
    records = replaying.history(engine, row["id"], first, days)
    plan = replaying.schedule(records, first, speed, datetime.now(UTC))
    stats = replaying.ReplayStats(visits=len(records), events=len(plan))
    click.echo(f"replaying {len(records)} visits ({len(plan)} events) at x{speed:g} to {target}")
    if target.startswith("mllp://"):
        host, _colon, port = target.removeprefix("mllp://").rpartition(":")
        replaying.replay_mllp(plan, host, int(port), row["timezone"], stats)
    elif target.startswith(("http://", "https://")):
        if not token or target_site is None:
            raise HospiflowError("REST replay needs --token and --target-site", where="--to")
        replaying.replay_rest(plan, target, token, target_site, stats)
    else:
        raise HospiflowError("mllp://HOST:PORT or http://HOST:PORT", where="--to")
    click.echo(
        f"sent {stats.sent}, refused {stats.refused}, at most {stats.late_seconds:.1f} s late"
    )
