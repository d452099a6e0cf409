"""The formats hospiflow reads and writes, and the options every reader takes.

Each format is one module of ``hospiflow.ingest`` with ``read`` (and, where
exporting makes sense, ``write``); they are imported on first use so that
importing a CSV never loads the FHIR models.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from hospiflow.errors import HospiflowError
from hospiflow.records import HourlyCount, Rejection, VisitRecord

Item = VisitRecord | Rejection | HourlyCount


class IngestError(HospiflowError):
    """A source cannot be read at all (missing file, wrong mapping, unknown format)."""

    code = "ingest_invalid"
    http_status = 422


@dataclass(frozen=True)
class ReadOptions:
    """What a reader needs besides the files.

    ``timezone`` is the site's IANA zone, attached to naive local times.
    ``mapping`` is a mapping file for delimited text (``delimited``);
    ``settings`` carries format-specific choices by name (``encounter_class``
    for FHIR, ...), each documented in its module.
    """

    timezone: str = "Europe/Paris"
    mapping: Path | None = None
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WriteOptions:
    """What a writer needs: the zone local times are written in, the site's code."""

    timezone: str = "Europe/Paris"
    site_code: str | None = None  # FINESS (RPU), ODS, ...


Reader = Callable[[Sequence[Path], ReadOptions], Iterator[Item]]
Writer = Callable[[Iterable[VisitRecord], IO[str], WriteOptions], int]

# name -> (module, reader function, writer function or None, one line of help).
FORMATS: dict[str, tuple[str, str, str | None, str]] = {
    "csv": ("delimited", "read", "write", "delimited text or .xlsx with a mapping (--mapping)"),
    "rpu": ("rpu", "read", "write", "French RPU extract (FINESS;ENTREE;SORTIE;...;DP;MODE_SORTIE)"),
    "hillmaker": ("delimited", "read_hillmaker", None, "in/out timestamps and a category column"),
    "mimic-ed": ("mimic_ed", "read", "write", "MIMIC-IV-ED edstays.csv (+ triage, diagnosis)"),
    "fhir": ("fhir", "read", "write", "FHIR R4 Encounter NDJSON (Bulk Data) or Bundle JSON"),
    "hl7": ("hl7v2", "read", "write", "HL7 v2 ADT messages (A01/A03/A04/A08/A11/A13), a file"),
    "counts": ("counts", "read", None, "hourly arrival counts only: a forecast-only site"),
}


def _entry(name: str) -> tuple[Any, str, str | None]:
    if name not in FORMATS:
        known = ", ".join(sorted(FORMATS))
        raise IngestError(f"unknown format {name!r} (known: {known})", where="--format")
    module, read, write, _help = FORMATS[name]
    return importlib.import_module(f"hospiflow.ingest.{module}"), read, write


def reader(name: str) -> Reader:
    """The reading function of format ``name``."""
    module, read, _write = _entry(name)
    return getattr(module, read)


def import_reader(name: str) -> Callable[[Sequence[Path], ReadOptions], Iterator[Any]]:
    """What ``pipeline.import_items`` should read format ``name`` with: the module's
    ``read_batches`` (``VisitBatch``es of rows parsed a block at a time, the rest as
    ``read`` gives it) where it has one, else ``read``."""
    module, read, _write = _entry(name)
    if read == "read" and hasattr(module, "read_batches"):
        return module.read_batches
    return getattr(module, read)


def writer(name: str) -> Writer:
    """The writing function of format ``name`` (``IngestError`` if it has none)."""
    module, _read, write = _entry(name)
    if write is None:
        raise IngestError(f"format {name!r} cannot be exported", where="--format")
    return getattr(module, write)
