"""SQL pieces the read queries share: half-open ranges, dict rows, calendar buckets.

Buckets work on ``*_local_ms`` columns. Hours, days and weeks are integer
arithmetic (identical on both backends); months need the backend's date
functions, so ``month_start`` compiles to ``strftime`` on SQLite and
``date_trunc`` on PostgreSQL.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

from hospiflow.store.timeconv import EPOCH_WEEKDAY, MS_PER_DAY, MS_PER_HOUR

BUCKETS = ("hour", "day", "week", "month")

Ms = sa.ColumnElement[int]
"""A SQL expression of epoch milliseconds (a ``*_ms`` column or arithmetic on one)."""


def in_range(column: Ms, start_ms: int | None, end_ms: int | None) -> list[sa.ColumnElement[bool]]:
    """Conditions for ``start_ms <= column < end_ms`` (``None``: that side unbounded)."""
    conditions = []
    if start_ms is not None:
        conditions.append(column >= start_ms)
    if end_ms is not None:
        conditions.append(column < end_ms)
    return conditions


def dict_rows(result: CursorResult[Any]) -> list[dict[str, Any]]:
    """Every row of ``result`` as a plain dict (column label -> value)."""
    return [dict(row) for row in result.mappings()]


def floor_to(column: Ms, step_ms: int) -> Ms:
    """``column`` floored to a multiple of ``step_ms`` (times are after 1970: truncation floors)."""
    return (column // step_ms) * step_ms


def week_start(column: Ms) -> Ms:
    """Local midnight of the Monday starting the week of ``column``."""
    day = column // MS_PER_DAY
    return (day - (day + EPOCH_WEEKDAY) % 7) * MS_PER_DAY


def hour_of_week(column: Ms) -> sa.ColumnElement[int]:
    """0 = Monday 00:00-01:00 local ... 167 = Sunday 23:00-24:00."""
    return (column // MS_PER_HOUR + 24 * EPOCH_WEEKDAY) % 168


class month_start(FunctionElement[int]):  # noqa: N801 - reads like the SQL function it is
    """Local epoch ms of the first instant of the month of a ``*_local_ms`` value."""

    type = sa.BigInteger()
    inherit_cache = True
    name = "month_start"


@compiles(month_start, "sqlite")
def _month_start_sqlite(element: month_start, compiler: Any, **kw: Any) -> str:
    (arg,) = list(element.clauses)
    value = compiler.process(arg, **kw)
    return (
        f"(CAST(strftime('%s', ({value}) / 1000, 'unixepoch', 'start of month') AS INTEGER) * 1000)"
    )


@compiles(month_start, "postgresql")
def _month_start_postgresql(element: month_start, compiler: Any, **kw: Any) -> str:
    (arg,) = list(element.clauses)
    value = compiler.process(arg, **kw)
    return (
        "(CAST(EXTRACT(EPOCH FROM date_trunc('month', "
        f"to_timestamp(({value}) / 1000) AT TIME ZONE 'UTC')) AS BIGINT) * 1000)"
    )


def bucket_start(column: Ms, bucket: str) -> Ms:
    """The start of ``column``'s hour, day, week (Monday) or month."""
    if bucket == "hour":
        return floor_to(column, MS_PER_HOUR)
    if bucket == "day":
        return floor_to(column, MS_PER_DAY)
    if bucket == "week":
        return week_start(column)
    if bucket == "month":
        return month_start(column)
    raise ValueError(bucket)
