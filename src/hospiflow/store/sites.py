"""Sites (hospitals), their observed run, and the audit log.

A site's observed visits live in one run of kind ``import`` that grows with
each import: the run's catalog is the built-in specialties and pathologies
plus an ``unknown`` specialty (visits whose diagnosis maps nowhere), and any
specialty a source names that the catalog lacks is added to that run. Every
read query, rollup and view then works on a site as on a simulated run.
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hospiflow.catalog import load_catalog
from hospiflow.errors import HospiflowError, NotFoundError
from hospiflow.store import schema
from hospiflow.store.timeconv import now_ms

UNKNOWN_SPECIALTY = "unknown"
# What an observed run's data never hold: views say "not in this data" for these.
OBSERVED_LACKS = ("doctors", "rosters", "state_snapshots")


class SiteError(HospiflowError):
    """A site cannot be created or changed as asked."""

    code = "site_invalid"
    http_status = 422


def check_timezone(name: str) -> str:
    """``name`` if it is an IANA time zone, else a ``SiteError``."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise SiteError(f"unknown time zone {name!r}", where="--timezone") from error
    return name


def create_site(
    connection: Connection,
    name: str,
    timezone: str,
    *,
    code: str | None = None,
    capacity_spaces: int | None = None,
    roster: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Insert a site (name unique) and return it."""
    name = name.strip()
    if not name or len(name) > 100:
        raise SiteError("a site name has 1 to 100 characters", where="name")
    check_timezone(timezone)
    if capacity_spaces is not None and not 0 < capacity_spaces <= 10_000:
        raise SiteError("capacity must be between 1 and 10000 spaces", where="--capacity")
    exists = connection.execute(
        sa.select(schema.sites.c.id).where(schema.sites.c.name == name)
    ).first()
    if exists:
        raise SiteError(f"a site named {name!r} already exists", where="name")
    site_id = connection.execute(
        schema.sites.insert()
        .values(
            name=name,
            timezone=timezone,
            code=code,
            capacity_spaces=capacity_spaces,
            roster=roster,
            created_at_ms=now_ms(),
        )
        .returning(schema.sites.c.id)
    ).scalar_one()
    return get_site(connection, int(site_id))


def list_sites(connection: Connection) -> list[dict[str, Any]]:
    """Every site with its observed run's size and span."""
    s, r = schema.sites, schema.runs
    rows = connection.execute(
        sa.select(
            s,
            r.c.visits_count,
            r.c.start_utc_ms,
            r.c.end_utc_ms,
        )
        .select_from(s.outerjoin(r, r.c.id == s.c.run_id))
        .order_by(s.c.id)
    )
    return [dict(row._mapping) for row in rows]


def get_site(connection: Connection, site: int | str) -> dict[str, Any]:
    """A site by id or name (``NotFoundError`` if there is none)."""
    s = schema.sites
    where = s.c.id == site if isinstance(site, int) else s.c.name == site
    row = connection.execute(sa.select(s).where(where)).first()
    if row is None:
        raise NotFoundError(f"no site {site!r}", where="site")
    return dict(row._mapping)


def observed_run(connection: Connection, site: dict[str, Any]) -> int:
    """The site's observed run, created on first use (inside the caller's transaction).

    ``site`` may have been read before another writer (a feed in another process,
    an import) created the run: it is read again, its row locked (PostgreSQL; SQLite's
    writer already holds the write lock), so a site never gets two observed runs.
    """
    if site["run_id"] is not None:
        return int(site["run_id"])
    s = schema.sites
    current = connection.execute(
        sa.select(s.c.run_id).where(s.c.id == site["id"]).with_for_update()
    ).scalar()
    if current is not None:
        site["run_id"] = int(current)
        return int(current)
    created = now_ms()
    run_id = connection.execute(
        schema.runs.insert()
        .values(
            kind="import",
            label=f"{site['name']} (observed)",
            status="complete",
            parameters={
                "source": "observed",
                "site": site["name"],
                "site_id": site["id"],
                "lacks": list(OBSERVED_LACKS),
            },
            timezone=site["timezone"],
            start_utc_ms=created,
            end_utc_ms=created,
            created_at_ms=created,
            finished_at_ms=created,
            next_patient_no=1,  # its writers' counter (``store.patient_numbers``)
        )
        .returning(schema.runs.c.id)
    ).scalar_one()
    catalog = load_catalog()
    codes = [*catalog.specialty_codes, UNKNOWN_SPECIALTY]
    names = {s.code: s.name_en for s in catalog.specialties} | {UNKNOWN_SPECIALTY: "Unknown"}
    connection.execute(
        schema.specialties.insert(),
        [{"run_id": run_id, "idx": i, "code": c, "name": names[c]} for i, c in enumerate(codes)],
    )
    connection.execute(
        schema.pathologies.insert(),
        [
            {
                "run_id": run_id,
                "idx": i,
                "code": p.code,
                "name": p.name_en,
                "icd10": p.icd10,
                "specialty_idx": codes.index(p.specialty),
                "mean_treatment_min": p.mean_treatment_minutes,
            }
            for i, p in enumerate(catalog.pathologies)
        ],
    )
    connection.execute(
        schema.sites.update().where(schema.sites.c.id == site["id"]).values(run_id=run_id)
    )
    site["run_id"] = int(run_id)
    return int(run_id)


def add_specialty(connection: Connection, run_id: int, code: str) -> int:
    """Add a specialty a source names to the run's catalog; return its index."""
    t = schema.specialties
    last = connection.execute(
        sa.select(sa.func.max(t.c.idx)).where(t.c.run_id == run_id)
    ).scalar_one()
    idx = 0 if last is None else int(last) + 1
    connection.execute(t.insert().values(run_id=run_id, idx=idx, code=code, name=code))
    return idx


def site_of_run(connection: Connection, run_id: int) -> dict[str, Any] | None:
    """The site whose observed run is ``run_id``, if any."""
    row = connection.execute(sa.select(schema.sites).where(schema.sites.c.run_id == run_id)).first()
    return dict(row._mapping) if row else None


_QUALITY_VERSION = sa.select(
    schema.sites.c.run_id,
    sa.select(sa.func.max(schema.import_batches.c.id))
    .where(schema.import_batches.c.site_id == sa.bindparam("site_id"))
    .scalar_subquery(),
).where(schema.sites.c.id == sa.bindparam("site_id"))


def quality_version(connection: Connection, site_id: int) -> tuple[int | None, int | None]:
    """(observed run, newest import batch) of a site: what its quality report depends on.

    One statement built once: the dashboard asks for the report on every visit of its
    Data quality view, and the report itself is cached under this version.
    """
    row = connection.execute(_QUALITY_VERSION, {"site_id": site_id}).first()
    if row is None:
        raise NotFoundError(f"no site {site_id!r}", where="site")
    return row[0], row[1]


def audit(
    connection: Connection,
    actor: str,
    action: str,
    target: str,
    rows: int = 0,
    details: dict[str, Any] | None = None,
) -> None:
    """Record who did what to which data, and how many rows (never any patient data)."""
    connection.execute(
        schema.audit_log.insert().values(
            at_ms=now_ms(),
            actor=actor or "unknown",
            action=action,
            target=target,
            rows=rows,
            details=details or {},
        )
    )


def audit_entries(connection: Connection, limit: int = 200) -> list[dict[str, Any]]:
    """The latest audit entries, newest first."""
    a = schema.audit_log
    rows = connection.execute(sa.select(a).order_by(a.c.id.desc()).limit(limit))
    return [dict(row._mapping) for row in rows]
