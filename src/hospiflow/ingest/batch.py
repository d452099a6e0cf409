"""Visits read column by column: the fast form of many ``VisitRecord``s.

A reader that can parse a whole block of rows at once (the RPU reader, with
NumPy on the time columns) yields ``VisitBatch``es instead of one record per
row; ``pipeline.import_items`` turns a batch into visit rows with the same
checks, pseudonyms and classification as records, column by column. A batch
holds only rows its reader fully understood; any other row is yielded, in
file order, as the ``VisitRecord`` or ``Rejection`` the row-by-row path gives.

``records()`` gives the batch back as ``VisitRecord``s (equal to what the
row-by-row reader yields), so ``read`` keeps its contract for everyone else.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np

from hospiflow.records import Disposition, VisitRecord

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass
class VisitBatch:
    """Visits as columns. Times are UTC epoch milliseconds (``int64``); an absent
    departure or first-seen time has ``False`` in its ``has_*`` mask. Columns that
    a source never has (``specialty``...) may be ``None`` for "absent in every row"."""

    prefix: str  # a visit's source is prefix + its line ("extract.csv:" + "12")
    lines: np.ndarray
    arrival_ms: np.ndarray
    departure_ms: np.ndarray
    has_departure: np.ndarray
    first_seen_ms: np.ndarray
    has_first_seen: np.ndarray
    visit_id: list[str | None]
    patient_id: list[str | None]
    acuity: list[int | None]
    disposition: list[Disposition | None]
    diagnosis: list[str | None]
    diagnosis_system: list[str | None]
    birth_date: list[date | None]
    sex: list[str | None]
    postcode: list[str | None]
    specialty: list[str | None] | None = None
    doctor_id: list[str | None] | None = None
    age_years: list[int | None] | None = None

    def __len__(self) -> int:
        return len(self.lines)

    def slice(self, start: int, stop: int) -> VisitBatch:
        """Rows ``start:stop`` (the reader cuts a block around the rows it hands over one
        by one, so that everything stays in file order)."""
        values: dict[str, Any] = {}
        for spec in fields(self):
            value = getattr(self, spec.name)
            values[spec.name] = (
                value if value is None or spec.name == "prefix" else value[start:stop]
            )
        return VisitBatch(**values)

    def source(self, i: int) -> str:
        return f"{self.prefix}{int(self.lines[i])}"

    def record(self, i: int) -> VisitRecord:
        """Row ``i`` as the ``VisitRecord`` the row-by-row reader would have made."""
        return VisitRecord(
            _EPOCH + timedelta(milliseconds=int(self.arrival_ms[i])),
            self.source(i),
            self.visit_id[i],
            self.patient_id[i],
            _moment(self.first_seen_ms, self.has_first_seen, i),
            _moment(self.departure_ms, self.has_departure, i),
            self.acuity[i],
            self.disposition[i],
            self.diagnosis[i],
            self.diagnosis_system[i],
            None if self.specialty is None else self.specialty[i],
            None if self.doctor_id is None else self.doctor_id[i],
            self.birth_date[i],
            None if self.age_years is None else self.age_years[i],
            self.sex[i],
            self.postcode[i],
        )

    def records(self) -> Iterator[VisitRecord]:
        for i in range(len(self)):
            yield self.record(i)


def _moment(values: np.ndarray, present: np.ndarray, i: int) -> datetime | None:
    return _EPOCH + timedelta(milliseconds=int(values[i])) if present[i] else None
