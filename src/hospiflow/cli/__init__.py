"""The ``hospiflow`` command.

Each sub-command group lives in its own module; this one only wires them
and turns every failure into a one-line message and a non-zero exit
(``cli/failures.py``).

Commands are registered by name and imported only when run: importing
every group up front cost 3-5 s (SciPy, pandas, the forecaster) before
``hospiflow --help`` could answer. ``COMMANDS`` keeps each command's
one-line help so the command list needs no import
(``tests/test_cli_startup.py`` checks it matches the commands themselves).
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from hospiflow import __version__

# name -> (module under hospiflow.cli, attribute, one-line help shown by --help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "simulate": (
        "simulate",
        "simulate",
        "Simulate the hospital: write the five CSV reports and the run into the store.",
    ),
    "scenario": ("simulate", "scenario", "Show or check scenario files."),
    "whatif": (
        "whatif",
        "whatif",
        "Compare a scenario with a change of it: paired replications, 95 % intervals.",
    ),
    "queueing": (
        "queueing",
        "group",
        "Analytic queueing: Erlang C waits and staffing for one pooled specialty queue.",
    ),
    "db": ("db", "group", "Create, upgrade and inspect the store."),
    "forecast": (
        "forecast",
        "group",
        "Forecast hourly arrivals and measure how good the forecasts are.",
    ),
    "serve": (
        "serve",
        "serve",
        "Serve the API (/api/v1, docs at /api/docs) and the dashboard on waitress.",
    ),
    "live": (
        "serve",
        "live",
        "Run the hospital live: events and 1-minute snapshots into the store as they happen.",
    ),
    "demo": (
        "demo",
        "demo",
        "Build a year of history, then serve the dashboard with the hospital live.",
    ),
    "site": (
        "ingest",
        "site_group",
        "Create and list sites: the hospitals whose own data you import.",
    ),
    "import": (
        "ingest",
        "import_group",
        "Import visit records into a site: hospiflow import --site NAME --format FMT FILE...",
    ),
    "calibrate": (
        "calibrate",
        "calibrate",
        "Fit the twin to a site's visits (--out FILE.toml), or prove it (--validate).",
    ),
    "export": (
        "ingest",
        "export",
        "Write a run's visits in a hospital format (pseudonymised ids only).",
    ),
    "ingest": (
        "feeds",
        "ingest_group",
        "Take a site's visits live: hospiflow ingest mllp --site NAME --port 2575.",
    ),
    "replay": (
        "feeds",
        "replay",
        "Re-send a site's history through a live feed as if it were happening now.",
    ),
    "token": (
        "tokens",
        "group",
        "Create, list and revoke API tokens (viewer: read; admin: also write).",
    ),
}


def _shorten(text: str, limit: int) -> str:
    """``text`` cut at a word to fit ``limit`` characters, "..." marking the cut (as click)."""
    if len(text) <= limit:
        return text
    return text[: max(limit - 3, 1)].rsplit(" ", 1)[0] + "..."


class _Group(click.Group):
    """Loads each command on first use; prints our errors as one line, never a traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*COMMANDS, *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name not in COMMANDS:
            return None
        module_name, attribute, _help = COMMANDS[cmd_name]
        module = importlib.import_module(f"hospiflow.cli.{module_name}")
        command: click.Command = getattr(module, attribute)
        self.add_command(command, name=cmd_name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        limit = formatter.width - 6 - max(len(name) for name in self.list_commands(ctx))
        rows = [(name, _shorten(COMMANDS[name][2], limit)) for name in COMMANDS]
        rows += [
            (name, command.get_short_help_str(limit))
            for name, command in sorted(self.commands.items())
            if name not in COMMANDS and not command.hidden
        ]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(sorted(rows))

    def invoke(self, ctx: click.Context) -> Any:
        from hospiflow.cli.failures import one_line

        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        except Exception as error:  # noqa: BLE001 - every failure becomes one line
            message, code = one_line(error)
            click.secho(f"error: {message}", fg="red", err=True)
            sys.exit(code)


@click.group(cls=_Group)
@click.version_option(__version__, prog_name="hospiflow")
def main() -> None:
    """hospiflow: simulate, store, serve and forecast a hospital's activity."""
