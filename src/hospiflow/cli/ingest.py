"""``hospiflow site``, ``hospiflow import`` and ``hospiflow export``: a hospital's own data."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from hospiflow.cli.db import database_options
from hospiflow.ingest.formats import FORMATS, IngestError, ReadOptions, import_reader
from hospiflow.ingest.pipeline import ImportSummary, import_items
from hospiflow.store import migrate
from hospiflow.store import sites as store_sites
from hospiflow.store.engine import create_engine_for, resolve_database_url
from hospiflow.store.timeconv import iso


def _engine(db: str | None, database_url: str | None, *, create: bool = False) -> Any:
    url = resolve_database_url(db, database_url)
    engine = create_engine_for(url)
    if create:
        migrate.init(engine)
    with engine.connect() as connection:
        migrate.ensure_current(connection)
    return engine


# -- site -------------------------------------------------------------------------------


@click.group(name="site")
def site_group() -> None:
    """Create and list sites: the hospitals whose own data you import."""


@site_group.command(name="create")
@click.argument("name")
@click.option("--timezone", default="Europe/Paris", show_default=True, help="IANA time zone.")
@click.option("--code", help="FINESS, ODS or another code of the site.")
@click.option("--capacity", type=int, help="Treatment spaces (boxes), if known.")
@click.option(
    "--roster",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Doctors' shifts, if known: a TOML file of [[shifts]] as in a scenario.",
)
@database_options
def site_create(
    name: str,
    timezone: str,
    code: str | None,
    capacity: int | None,
    roster: Path | None,
    db: str | None,
    database_url: str | None,
) -> None:
    """Create site NAME and its pseudonymisation key (a file of mode 0600)."""
    from hospiflow.ingest.pseudonym import create_key

    store_sites.check_timezone(timezone)
    shifts = _read_roster(roster) if roster is not None else None
    engine = _engine(db, database_url, create=True)
    try:
        with engine.begin() as connection:
            site = store_sites.create_site(
                connection, name, timezone, code=code, capacity_spaces=capacity, roster=shifts
            )
            key = create_key(site["name"])
            store_sites.audit(connection, "cli", "site_create", f"site:{site['name']}")
    finally:
        engine.dispose()
    click.echo(f"site {site['id']} {site['name']!r} created ({timezone})")
    if key is not None:
        click.echo(f"pseudonym key: {key} (keep it safe and out of the database backups)")


def _read_roster(path: Path) -> dict[str, Any]:
    """A roster file's [[shifts]], each checked as a scenario checks its shifts."""
    import tomllib

    from hospiflow.catalog import load_catalog
    from hospiflow.errors import ScenarioError
    from hospiflow.simulation.scenario import WEEKDAYS, Shift, validate_shift

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise store_sites.SiteError(f"cannot read the roster: {error}", where=str(path)) from error
    shifts = data.get("shifts")
    if set(data) != {"shifts"} or not isinstance(shifts, list) or not shifts:
        raise store_sites.SiteError(
            "a roster file holds [[shifts]] tables only (specialty, start, end, doctors, days)",
            where=str(path),
        )
    known = set(load_catalog().specialty_codes)
    for i, raw in enumerate(shifts):
        where = f"{path}: shifts[{i}]"
        try:
            shift = Shift(
                specialty=raw.get("specialty", ""),
                start=raw.get("start", ""),
                end=raw.get("end", ""),
                doctors=raw.get("doctors", -1),
                days=tuple(raw.get("days", WEEKDAYS)),
                label=raw.get("label", ""),
            )
            validate_shift(where, shift)
        except (AttributeError, TypeError) as error:
            raise store_sites.SiteError(f"not a shift table: {error}", where=where) from error
        except ScenarioError as error:
            raise store_sites.SiteError(error.message, where=error.where) from error
        if shift.specialty not in known:
            raise store_sites.SiteError(
                f"unknown specialty {shift.specialty!r} ({', '.join(sorted(known))})", where=where
            )
    return {"shifts": shifts}


@site_group.command(name="list")
@database_options
def site_list(db: str | None, database_url: str | None) -> None:
    """Every site with its observed data's span."""
    engine = _engine(db, database_url)
    try:
        with engine.connect() as connection:
            rows = store_sites.list_sites(connection)
    finally:
        engine.dispose()
    if not rows:
        click.echo("no sites (create one: hospiflow site create NAME)")
        return
    for r in rows:
        span = (
            f"{iso(r['start_utc_ms'], r['timezone'])} .. {iso(r['end_utc_ms'], r['timezone'])}"
            if r["run_id"] is not None
            else "no data yet"
        )
        click.echo(
            f"{r['id']:>4}  {r['name']:24}  {r['timezone']:18}  run {r['run_id'] or '-':>4}  "
            f"{r['visits_count'] or 0:>9} visits  {span}"
        )


@site_group.command(name="show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print everything as JSON.")
@database_options
def site_show(name: str, as_json: bool, db: str | None, database_url: str | None) -> None:
    """A site: its data's span and completeness, its imports, what was quarantined."""
    from hospiflow.store import quality

    engine = _engine(db, database_url)
    try:
        with engine.connect() as connection:
            site = store_sites.get_site(connection, _site_key(name))
            report = quality.site_quality(connection, site["id"])
            listed = {r["id"]: r for r in store_sites.list_sites(connection)}[site["id"]]
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps({"site": site, **report}, indent=2, default=str))
        return
    _print_site(site, listed, report)


def _print_site(site: dict[str, Any], listed: dict[str, Any], report: dict[str, Any]) -> None:
    console = Console()
    tz = site["timezone"]
    console.print(
        f"[bold]{site['name']}[/bold]  ({tz}, code {site['code'] or '-'}, "
        f"{site['capacity_spaces'] or 'no declared'} spaces)"
    )
    if site["run_id"] is None:
        console.print("no data imported yet")
        return
    console.print(
        f"{report.get('visits', 0):,} visits, observed run {site['run_id']}, "
        f"{iso(listed['start_utc_ms'], tz)} .. {iso(listed['end_utc_ms'], tz)}"
    )
    fields = Table(title="fields present (share of visits)")
    fields.add_column("field")
    fields.add_column("share", justify="right")
    for field_name, share in report["completeness"].items():
        fields.add_row(field_name, "not in this data" if not share else f"{share:.1%}")
    console.print(fields)
    if report["quarantine_by_reason"]:
        reasons = Table(title=f"quarantined: {report['quarantined']:,} rows")
        reasons.add_column("reason")
        reasons.add_column("rows", justify="right")
        for row in report["quarantine_by_reason"]:
            reasons.add_row(row["reason"], f"{row['count']:,}")
        console.print(reasons)
    if report["unmapped_codes"]:
        codes = Table(title="diagnosis codes mapped to no pathology")
        codes.add_column("code")
        codes.add_column("system")
        codes.add_column("visits", justify="right")
        for row in report["unmapped_codes"][:15]:
            codes.add_row(row["code"], row["system"], f"{row['visits']:,}")
        console.print(codes)
    imports = Table(title="imports (newest first)")
    for column in ("batch", "format", "files", "status", "read", "new", "dup.", "quar."):
        imports.add_column(column, justify="right" if column in ("read", "new") else "left")
    for batch in report["imports"][:10]:
        summary = batch["summary"]
        imports.add_row(
            str(batch["id"]),
            batch["format"],
            ", ".join(batch["files"])[:40],
            batch["status"],
            f"{summary.get('read', 0):,}",
            f"{summary.get('imported', 0):,}",
            f"{summary.get('duplicates', 0):,}",
            f"{summary.get('quarantined', 0):,}",
        )
    console.print(imports)


def _site_key(name: str) -> int | str:
    return int(name) if name.isdigit() else name


# -- import -----------------------------------------------------------------------------


class _ImportGroup(click.Group):
    """``hospiflow import FILE...`` imports; ``hospiflow import mapping show`` documents."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args or args[0] not in self.commands or args[0] == "files":
            if args and args[0] in ("--help", "-h"):
                return super().parse_args(ctx, args)
            args = ["files", *args]
        return super().parse_args(ctx, args)


@click.group(name="import", cls=_ImportGroup)
def import_group() -> None:
    """Import visit records into a site: hospiflow import --site NAME --format FMT FILE...

    Formats: csv (with --mapping), rpu, hillmaker, mimic-ed, fhir, hl7, counts.
    Identifiers are pseudonymised with the site's key; bad rows are quarantined
    with their line and reason; re-importing a file adds nothing.
    """


@import_group.command(name="files")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--site", "site", required=True, help="Site name or id.")
@click.option(
    "--format",
    "format_name",
    type=click.Choice(sorted(FORMATS)),
    required=True,
    help="Format of the files.",
)
@click.option("--mapping", type=click.Path(path_type=Path), help="Mapping file (format csv).")
@click.option("--diagnosis-map", type=click.Path(path_type=Path), help="ICD-10 map (TOML).")
@click.option("--allow-future-dates", is_flag=True, help="Accept arrivals after today (MIMIC).")
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="KEY=VALUE",
    help="A format setting (e.g. encounter_class=EMER).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--quiet", is_flag=True, help="No progress display.")
@database_options
def import_files(
    paths: tuple[Path, ...],
    site: str,
    format_name: str,
    mapping: Path | None,
    diagnosis_map: Path | None,
    allow_future_dates: bool,
    settings: tuple[str, ...],
    as_json: bool,
    quiet: bool,
    db: str | None,
    database_url: str | None,
) -> None:
    """Import PATHS into a site."""
    from hospiflow.ingest.diagnoses import load_diagnosis_map

    for path in paths:
        if not path.exists():
            raise IngestError("no such file", where=str(path))
    options_settings: dict[str, str] = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise IngestError(f"expected KEY=VALUE, got {item!r}", where="--set")
        options_settings[key.strip()] = value.strip()
    engine = _engine(db, database_url)
    try:
        with engine.connect() as connection:
            site_row = store_sites.get_site(connection, _site_key(site))
        options = ReadOptions(
            timezone=site_row["timezone"], mapping=mapping, settings=options_settings
        )
        items = import_reader(format_name)(list(paths), options)
        diagnoses = load_diagnosis_map(diagnosis_map) if diagnosis_map else None
        console = Console(stderr=True)
        with Progress(
            SpinnerColumn(),
            TextColumn("importing {task.fields[what]}"),
            TextColumn("{task.completed:,.0f} records"),
            TimeElapsedColumn(),
            console=console,
            disable=quiet or not console.is_terminal,
            transient=True,
        ) as progress:
            task = progress.add_task("import", what=", ".join(p.name for p in paths), total=None)
            summary = import_items(
                engine,
                site_row["id"],
                items,
                format=format_name,
                files=[p.name for p in paths],
                diagnosis_map=diagnoses,
                allow_future=allow_future_dates,
                progress=lambda n: progress.update(task, completed=n),
            )
    finally:
        engine.dispose()
    if as_json:
        click.echo(json.dumps(summary.as_dict(), indent=2))
    else:
        _print_summary(summary)


def _print_summary(summary: ImportSummary) -> None:
    console = Console()
    table = Table(title=f"import into {summary.site} ({summary.format})", show_header=False)
    table.add_column("what")
    table.add_column("count", justify="right")
    for label, value in (
        ("read", summary.read),
        ("imported (new)", summary.imported),
        ("corrected", summary.updated),
        ("duplicates (already there)", summary.duplicates),
        ("quarantined", summary.quarantined),
        ("hourly counts", summary.hours),
    ):
        table.add_row(label, f"{value:,}")
    for reason, n in summary.by_reason.items():
        table.add_row(f"  quarantined: {reason}", f"{n:,}")
    if summary.unmapped_codes:
        total = sum(summary.unmapped_codes.values())
        table.add_row("unmapped diagnosis codes (visits)", f"{total:,}")
    console.print(table)
    if summary.first_arrival:
        console.print(f"arrivals from {summary.first_arrival} to {summary.last_arrival}")
    console.print(f"batch {summary.batch_id}, {summary.seconds:.1f} s")


@import_group.group(name="mapping")
def mapping_group() -> None:
    """The mapping file of format csv."""


@mapping_group.command(name="show")
def mapping_show() -> None:
    """Print a complete, documented mapping file to start from."""
    from hospiflow.ingest.delimited import mapping_documentation

    sys.stdout.write(mapping_documentation())


# -- export -----------------------------------------------------------------------------


@click.command(name="export")
@click.option("--run", "run_id", type=int, required=True, help="Run id (hospiflow db status).")
@click.option(
    "--format",
    "format_name",
    type=click.Choice(["csv", "rpu", "fhir", "hl7", "mimic-ed"]),
    required=True,
)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option("--site-code", help="FINESS or other code written in the file (rpu).")
@database_options
def export(
    run_id: int,
    format_name: str,
    out: Path,
    site_code: str | None,
    db: str | None,
    database_url: str | None,
) -> None:
    """Write a run's visits in a hospital format (pseudonymised ids only)."""
    from hospiflow.ingest.export import export_run

    engine = _engine(db, database_url)
    try:
        written = export_run(engine, run_id, format_name, out, site_code=site_code)
    finally:
        engine.dispose()
    click.echo(f"{written:,} visits written to {out}")
