"""Time in the store: UTC epoch milliseconds, and the hospital's wall clock.

The store keeps instants as integer milliseconds since the Unix epoch (UTC)
and, where calendar buckets are needed, the *local* wall-clock time encoded
the same way. Converting a batch of simulator minutes is vectorised with
NumPy: a year of events must not pay a ``zoneinfo`` call per row.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:  # NumPy is imported where a Clock converts: `hospiflow db status` needs none
    import numpy as np

MS_PER_MIN = 60_000
MS_PER_HOUR = 3_600_000
MS_PER_DAY = 86_400_000
# 1970-01-01 was a Thursday: add three days to count weeks from Monday.
EPOCH_WEEKDAY = 3


def to_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime (naive ones are refused: ambiguous)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()} has no time zone")
    return int((moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1))


def now_ms() -> int:
    """The current instant in epoch milliseconds."""
    return to_ms(datetime.now(UTC))


def from_ms(ms: int, timezone: str | None = None) -> datetime:
    """An aware datetime for epoch milliseconds, in ``timezone`` (UTC by default)."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=int(ms))
    return moment.astimezone(ZoneInfo(timezone)) if timezone else moment


def iso(ms: int | None, timezone: str | None = None) -> str | None:
    """ISO 8601 with an explicit offset (what the API returns), or None."""
    return None if ms is None else from_ms(ms, timezone).isoformat(timespec="milliseconds")


def local_wall_ms(local_ms: int) -> datetime:
    """The naive wall-clock datetime a ``*_local_ms`` value encodes."""
    return datetime(1970, 1, 1) + timedelta(milliseconds=int(local_ms))


class Clock:
    """Turns a run's minute offsets into UTC and local epoch milliseconds.

    The zone's UTC offsets are looked up once over the run's span (hour by
    hour, refined to the minute at each change), then applied to whole
    batches with ``np.searchsorted``.
    """

    def __init__(self, start: datetime, timezone: str, days: float) -> None:
        self.start_ms = to_ms(start)
        self.zone = ZoneInfo(timezone)
        # Margins: the simulator emits warm-up records before the start and
        # drains after the horizon.
        first = self.start_ms - 60 * MS_PER_DAY
        last = self.start_ms + int((days + 10) * MS_PER_DAY)
        self._changes, self._offsets = self._offsets_between(first, last)

    def _offset_ms(self, ms: int) -> int:
        offset = from_ms(ms).astimezone(self.zone).utcoffset()
        return int(offset // timedelta(milliseconds=1)) if offset else 0

    def _offsets_between(self, first: int, last: int) -> tuple[np.ndarray, np.ndarray]:
        import numpy as np

        changes = [first]
        offsets = [self._offset_ms(first)]
        for ms in range(first + MS_PER_HOUR, last + MS_PER_HOUR, MS_PER_HOUR):
            offset = self._offset_ms(ms)
            if offset != offsets[-1]:
                low, high = ms - MS_PER_HOUR, ms  # offset changes in (low, high]
                while high - low > MS_PER_MIN:
                    mid = (low + high) // 2 // MS_PER_MIN * MS_PER_MIN
                    if mid <= low:
                        mid = low + MS_PER_MIN
                    if self._offset_ms(mid) == offset:
                        high = mid
                    else:
                        low = mid
                changes.append(high)
                offsets.append(offset)
        return np.array(changes, dtype=np.int64), np.array(offsets, dtype=np.int64)

    def utc_ms(self, minutes: np.ndarray) -> np.ndarray:
        """UTC epoch ms of minute offsets since the start (floored to the ms)."""
        import numpy as np

        return self.start_ms + np.floor(np.asarray(minutes, dtype=np.float64) * MS_PER_MIN).astype(
            np.int64
        )

    def local_ms(self, utc_ms: np.ndarray) -> np.ndarray:
        """Local wall-clock epoch ms of UTC epoch ms (the zone's offset added)."""
        import numpy as np

        where = np.searchsorted(self._changes, utc_ms, side="right") - 1
        local: np.ndarray = utc_ms + self._offsets[np.clip(where, 0, len(self._offsets) - 1)]
        return local

    def local_ms_one(self, utc_ms: int) -> int:
        """``local_ms`` of a single instant."""
        return utc_ms + self._offset_ms(utc_ms)
