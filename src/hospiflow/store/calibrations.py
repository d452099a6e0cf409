"""A site's calibrations (table ``calibrations``, migration 0011): save one, read the latest."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hospiflow.store import schema
from hospiflow.store.timeconv import now_ms


def save_calibration(
    connection: Connection,
    site_id: int,
    *,
    kind: str,
    until_local: str,
    scenario_toml: str,
    catalog_toml: str,
    details: dict[str, Any],
    holdout_weeks: int | None = None,
    replications: int | None = None,
    criteria: list[dict[str, Any]] | None = None,
    passed: bool | None = None,
) -> int:
    """Store a calibration (``kind`` "fit" or "validation") and return its id."""
    c = schema.calibrations
    new_id = connection.execute(
        c.insert()
        .values(
            site_id=site_id,
            kind=kind,
            created_at_ms=now_ms(),
            until_local=until_local,
            holdout_weeks=holdout_weeks,
            replications=replications,
            scenario_toml=scenario_toml,
            catalog_toml=catalog_toml,
            criteria=criteria,
            passed=passed,
            details=details,
        )
        .returning(c.c.id)
    ).scalar_one()
    return int(new_id)


def latest_validation(connection: Connection, site_id: int) -> dict[str, Any] | None:
    """The site's newest validation (its twin fidelity), or None."""
    return _latest(connection, site_id, ("validation",))


def latest_calibration(connection: Connection, site_id: int) -> dict[str, Any] | None:
    """The site's newest fit, alone (``calibrate --out``) or a validation's, or None."""
    return _latest(connection, site_id, ("fit", "validation"))


def _latest(connection: Connection, site_id: int, kinds: tuple[str, ...]) -> dict[str, Any] | None:
    c = schema.calibrations
    row = connection.execute(
        sa.select(c)
        .where(c.c.site_id == site_id, c.c.kind.in_(kinds))
        .order_by(c.c.id.desc())
        .limit(1)
    ).first()
    return dict(row._mapping) if row else None
