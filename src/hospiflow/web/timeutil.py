"""Time at the API's boundary: parsing query instants, naming calendar buckets.

The store keeps UTC epoch ms and, for calendar buckets, the hospital's
wall-clock time encoded the same way (``*_local_ms``, see
``store.schema``). The API speaks ISO 8601 with an explicit offset, always
in the run's time zone.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import overload
from zoneinfo import ZoneInfo

from hospiflow.errors import HospiflowError
from hospiflow.store.timeconv import EPOCH_WEEKDAY, MS_PER_DAY, MS_PER_HOUR, to_ms

_EPOCH_NAIVE = datetime(1970, 1, 1)
_DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
FIRST_YEAR, LAST_YEAR = 1900, 2999
"""Query instants stay within these years: far from the calendar's ends (year 1 and 9999),
so a bucket, its successor and any time zone offset are representable."""
FIRST_MS = to_ms(datetime(FIRST_YEAR, 1, 1, tzinfo=UTC))
LAST_MS = to_ms(datetime(LAST_YEAR + 1, 1, 1, tzinfo=UTC))
BUCKET_MS = {"hour": MS_PER_HOUR, "day": MS_PER_DAY, "week": 7 * MS_PER_DAY}


class BadRequest(HospiflowError):
    """A malformed or out-of-bounds request parameter (HTTP 400)."""

    code = "bad_request"
    http_status = 400


@lru_cache(maxsize=64)
def zone(name: str) -> ZoneInfo:
    """The ``ZoneInfo`` of an IANA name (cached: runs share a few zones)."""
    return ZoneInfo(name)


def local_ms(utc_ms: int, tz: str) -> int:
    """The wall-clock ``*_local_ms`` encoding of a UTC instant in ``tz``."""
    moment = datetime.fromtimestamp(utc_ms / 1000, tz=UTC).astimezone(zone(tz))
    offset = moment.utcoffset()
    return utc_ms + (int(offset // timedelta(milliseconds=1)) if offset else 0)


def wall(local: int) -> datetime:
    """The naive wall-clock datetime a ``*_local_ms`` value encodes."""
    return _EPOCH_NAIVE + timedelta(milliseconds=local)


@lru_cache(maxsize=200_000)
def local_iso(local: int, tz: str) -> str:
    """ISO 8601 with offset of a wall-clock ``*_local_ms`` instant in ``tz``.

    An ambiguous wall time (the repeated hour in autumn) takes its first
    occurrence. Cached: dashboards ask for the same buckets again and again.
    """
    return wall(local).replace(tzinfo=zone(tz)).isoformat()


def exists(local: int, tz: str) -> bool:
    """False for wall times skipped by a spring-forward change (no such instant)."""
    aware = wall(local).replace(tzinfo=zone(tz))
    return aware.astimezone(UTC).astimezone(zone(tz)).replace(tzinfo=None) == wall(local)


@overload
def utc_iso(utc_ms: int, tz: str) -> str: ...
@overload
def utc_iso(utc_ms: None, tz: str) -> None: ...
@overload
def utc_iso(utc_ms: int | None, tz: str) -> str | None: ...
def utc_iso(utc_ms: int | None, tz: str) -> str | None:
    """ISO 8601 with offset (the run's zone) of a UTC instant, or None."""
    if utc_ms is None:
        return None
    moment = datetime.fromtimestamp(utc_ms / 1000, tz=UTC).astimezone(zone(tz))
    return moment.isoformat(timespec="milliseconds")


def parse_instant(text: str, tz: str, name: str) -> int:
    """UTC epoch ms of a query value: a date (local midnight) or a date-time.

    ``2025-03-01`` is local midnight in the run's zone; a date-time without
    offset is local wall-clock time; one with an offset (or ``Z``) is that
    instant.
    """
    value = text.strip()
    try:
        if _DATE_ONLY.match(value):
            moment = datetime.combine(date.fromisoformat(value), datetime.min.time())
        else:
            moment = datetime.fromisoformat(value.replace("z", "Z"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=zone(tz))
        result = to_ms(moment)
    except (ValueError, OverflowError):
        raise BadRequest(
            f"must be an ISO 8601 date or date-time (e.g. 2025-03-01 or "
            f"2025-03-01T08:00:00+01:00), got {text!r}",
            where=name,
        ) from None
    if not FIRST_MS <= result < LAST_MS:
        raise BadRequest(
            f"must be between {FIRST_YEAR}-01-01 and {LAST_YEAR}-12-31, got {text!r}", where=name
        )
    return result


def _month_start(local: int) -> int:
    moment = wall(local)
    return int((datetime(moment.year, moment.month, 1) - _EPOCH_NAIVE) // timedelta(milliseconds=1))


def bucket_floor(local: int, bucket: str) -> int:
    """Start of the local bucket containing ``local`` (same arithmetic as ``store.sqlfuncs``)."""
    if bucket in ("hour", "day"):
        return local // BUCKET_MS[bucket] * BUCKET_MS[bucket]
    if bucket == "week":
        day = local // MS_PER_DAY
        return (day - (day + EPOCH_WEEKDAY) % 7) * MS_PER_DAY
    return _month_start(local)


def next_bucket(local: int, bucket: str) -> int:
    """The start of the bucket after the one starting at ``local``."""
    if bucket in BUCKET_MS:
        return local + BUCKET_MS[bucket]
    moment = wall(local)
    year, month = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    return int((datetime(year, month, 1) - _EPOCH_NAIVE) // timedelta(milliseconds=1))


def count_buckets(start_local: int, end_local: int, bucket: str) -> int:
    """How many buckets ``bucket_starts`` would return (cheap, for limits)."""
    first = bucket_floor(start_local, bucket)
    if bucket in BUCKET_MS:
        return max(0, -(-(end_local - first) // BUCKET_MS[bucket]))
    a, b = wall(first), wall(max(end_local - 1, first))
    return (b.year - a.year) * 12 + b.month - a.month + 1


def bucket_starts(start_local: int, end_local: int, bucket: str, tz: str) -> list[int]:
    """Local starts of every bucket meeting ``[start_local, end_local)``.

    Hours skipped by a spring-forward change are left out: they name no instant.
    """
    starts = []
    current = bucket_floor(start_local, bucket)
    while current < end_local:
        if bucket != "hour" or exists(current, tz):
            starts.append(current)
        current = next_bucket(current, bucket)
    return starts
