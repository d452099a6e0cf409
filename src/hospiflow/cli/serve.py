"""``hospiflow serve`` (the API and dashboard on waitress) and ``hospiflow live``.

Listening beyond loopback exposes a hospital's data to a network: there every
API read needs a token (``READS_NEED_TOKEN``), and the server refuses to start
while no token exists (``hospiflow token create``, or ``HOSPIFLOW_API_TOKEN``).
"""

from __future__ import annotations

import errno
import gc
import ipaddress
import logging
import signal
import sys
from collections.abc import Callable
from typing import Any

import click

from hospiflow.cli.db import database_options
from hospiflow.errors import HospiflowError
from hospiflow.store import migrate
from hospiflow.store.engine import resolve_database_url

DEFAULT_THREADS = 32  # each Server-Sent Events client holds one thread


def live_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--speed``, ``--continue-from``, ``--scenario``."""
    command = click.option(
        "--scenario",
        "scenario_source",
        default="default",
        show_default=True,
        help="Built-in scenario (default, stationary) or a scenario TOML file.",
    )(command)
    command = click.option(
        "--continue-from",
        "continue_from",
        type=int,
        metavar="RUN_ID",
        help="Start where this (complete) history run ends: same hospital, the next day.",
    )(command)
    return click.option(
        "--speed",
        type=click.FloatRange(min=0, min_open=True),
        default=60.0,
        show_default=True,
        help="Simulated seconds per real second (60: an hour a minute; 1: real time).",
    )(command)


def is_loopback(host: str) -> bool:
    """Whether ``host`` only accepts connections from this machine (127.0.0.0/8, ::1)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def _check_exposure(app: Any, host: str) -> None:
    """Off loopback, reads need a token and some token must exist, or no start."""
    if is_loopback(host):
        return
    app.config["READS_NEED_TOKEN"] = True
    if not app.extensions["hospiflow.auth"].any_token():
        raise HospiflowError(
            f"refusing to listen on {host} with no API token: anyone on the network could "
            "read the store; create one (hospiflow token create NAME --role viewer|admin) "
            "or set HOSPIFLOW_API_TOKEN",
            where="--host",
        )


def _check_listen(host: str, port: int) -> None:
    """Refuse an address this machine cannot listen on, or a port already taken, up front."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as error:
        raise HospiflowError(
            f"cannot listen on {host}: not an address ({error})", where="--host"
        ) from error
    family, kind, proto, _name, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            taken = error.errno == errno.EADDRINUSE
            reason = f"port {port} is already in use" if taken else error.strerror
            raise HospiflowError(
                f"cannot listen on {host}:{port}: {reason}", where="--port" if taken else "--host"
            ) from error


def _sigterm_as_interrupt() -> None:
    def handler(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, handler)


def _service(url: str, scenario_source: str, continue_from: int | None, speed: float) -> Any:
    from hospiflow.live import LiveService, plan_live

    plan = plan_live(url, scenario_source, continue_from)
    if plan.resume is not None:
        click.echo(
            f"live run {plan.resume} (continuing run {continue_from}) was interrupted: "
            "it carries on from its last stored minute",
            err=True,
        )
    return LiveService.from_plan(url, plan, speed=speed)


@click.command()
@database_options
@live_options
@click.option(
    "--for", "seconds", type=click.FloatRange(min=0), help="Stop after this many real seconds."
)
def live(
    db: str | None,
    database_url: str | None,
    scenario_source: str,
    continue_from: int | None,
    speed: float,
    seconds: float | None,
) -> None:
    """Run the hospital live: events and 1-minute snapshots into the store as they happen.

    Stop with Ctrl-C: the run is then complete. `hospiflow serve` (here or in
    another terminal) streams it.
    """
    url = resolve_database_url(db, database_url)
    migrate.init(url)
    service = _service(url, scenario_source, continue_from, speed)

    def stop(_signum: int, _frame: Any) -> None:
        service.live.stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    click.echo(f"live run at {speed:g}x; stop with Ctrl-C", err=True)
    try:
        result = service.run(seconds)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    click.echo(f"live run {service.run_id} stopped: {result.n_patients:,} patients")


@click.command()
@database_options
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--threads",
    type=click.IntRange(min=16),
    default=DEFAULT_THREADS,
    show_default=True,
    help="Worker threads (each live stream holds one).",
)
@click.option("--live", "with_live", is_flag=True, help="Also run a live simulation in-process.")
@live_options
@click.option("--mllp-site", help="Also listen for a site's HL7 v2 feed (MLLP) in-process.")
@click.option("--mllp-port", default=2575, show_default=True, type=int, help="With --mllp-site.")
def serve(
    db: str | None,
    database_url: str | None,
    host: str,
    port: int,
    threads: int,
    with_live: bool,
    scenario_source: str,
    continue_from: int | None,
    speed: float,
    mllp_site: str | None = None,
    mllp_port: int = 2575,
) -> None:
    """Serve the API (/api/v1, docs at /api/docs) and the dashboard on waitress.

    On a host other than loopback every API read needs a token, and the server
    does not start until one exists (`hospiflow token create`).
    """
    from hospiflow.web import server
    from hospiflow.web.app import create_app, state

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    _check_listen(host, port)
    url = resolve_database_url(db, database_url)
    migrate.init(url)
    app = create_app({"DATABASE_URL": url})
    try:
        _check_exposure(app, host)
    except BaseException:
        state(app).close()
        raise
    from hospiflow.live import OrphanReaper

    reaper = OrphanReaper(url).start()
    from hospiflow.web.alerting import AlertWatcher

    alerts = AlertWatcher(app).start()
    service = None
    if with_live or continue_from is not None:
        service = _service(url, scenario_source, continue_from, speed)
        run_id = service.start()
        state(app).live = service
        click.echo(f"live run {run_id} at {speed:g}x", err=True)
    feed = _feed(url, mllp_site, host, mllp_port) if mllp_site else None
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    click.echo(f"hospiflow at http://{shown}:{port}/  (API docs: /api/docs)", err=True)
    _sigterm_as_interrupt()
    # what startup built (modules, the app, its caches) lives as long as the process:
    # frozen out of the collector's way, a 1,000-visit push no longer makes it walk
    # all of it (~20 % of a push's CPU)
    gc.freeze()
    try:
        server.serve(app, host=host, port=port, threads=threads, channel_timeout=300)
    except KeyboardInterrupt:
        pass
    finally:
        if service is not None:
            service.stop()
        if feed is not None:
            feed.stop()
        reaper.stop()
        alerts.stop()
        state(app).close()
    sys.exit(0)


def _feed(url: str, site: str, host: str, port: int) -> Any:
    """The site's MLLP listener in a thread of the server (``hospiflow.feeds.mllp``)."""
    from hospiflow.feeds.mllp import InThread, Listener
    from hospiflow.store.engine import create_engine_for

    key: int | str = int(site) if site.isdigit() else site
    feed = InThread(Listener(create_engine_for(url), key, host, port))
    bound = feed.start()
    click.echo(f"MLLP listener for site {site} on {host}:{bound}", err=True)
    return feed
