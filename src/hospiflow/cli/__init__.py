"""The ``hospiflow`` command.

Each sub-command group lives in its own module; this one only wires them
and turns ``HospiflowError`` into a one-line message and a non-zero exit.
"""

from __future__ import annotations

import sys

import click

from hospiflow import __version__
from hospiflow.errors import HospiflowError


class _Group(click.Group):
    """A click group that prints our errors without a traceback."""

    def invoke(self, ctx: click.Context):  # type: ignore[override]
        try:
            return super().invoke(ctx)
        except HospiflowError as error:
            click.secho(f"error: {error}", fg="red", err=True)
            sys.exit(2)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="hospiflow")
def main() -> None:
    """hospiflow: simulate, store, serve and forecast a hospital's activity."""


def _register() -> None:
    from hospiflow.cli import db, demo, forecast, ingest, queueing, serve, simulate, tokens

    main.add_command(simulate.simulate)
    main.add_command(simulate.scenario)
    main.add_command(queueing.group, name="queueing")
    main.add_command(db.group, name="db")
    main.add_command(forecast.group, name="forecast")
    main.add_command(serve.serve)
    main.add_command(serve.live)
    main.add_command(demo.demo)
    main.add_command(ingest.site_group, name="site")
    main.add_command(ingest.import_group, name="import")
    main.add_command(ingest.export, name="export")
    main.add_command(tokens.group, name="token")
    from hospiflow.cli import feeds

    main.add_command(feeds.ingest_group, name="ingest")
    main.add_command(feeds.replay, name="replay")


_register()
