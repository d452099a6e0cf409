"""Load a catalog of specialties and pathologies from a TOML file, strictly.

A catalog drives the whole simulation, so a typo must stop the load with a
message a hospital manager can act on: the file, the line, the entry and the
key, and why (``my.toml:42: pathologies[3] (influenza): missing key 'icd10'``).
Entries are numbered from 0 in file order, as in ``pathologies[0]``.

The format is the one of the built-in ``pathologies.toml``: an array of
``[[specialties]]`` tables and an array of ``[[pathologies]]`` tables.
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, NoReturn

from hospiflow.catalog.models import MONTHS, Catalog, Pathology, Specialty
from hospiflow.errors import CatalogError

BUILTIN_FILE = "pathologies.toml"
BUILTIN_SOURCE = "<built-in>"
BUILTIN_PATHOLOGY_COUNT = 26

SPECIALTY_KEYS = ("code", "name_en", "name_fr")
PATHOLOGY_KEYS = (
    "code",
    "name_en",
    "name_fr",
    "icd10",
    "specialty",
    "mean_treatment_minutes",
    "base_weight",
    "monthly_factors",
)
TOP_LEVEL_KEYS = ("specialties", "pathologies")

# Codes become database keys, URL parts and CSV columns: keep them snake_case.
CODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
# The shape of a WHO ICD-10 category ("N23") or subcategory ("J11.1", "S93.40").
# Only the shape is checked here; whether the code exists is a test-time check.
ICD10_PATTERN = re.compile(r"^[A-Z][0-9]{2}(\.[0-9A-Z]{1,2})?$")
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)

_SYNTAX_POSITION = re.compile(r"\s*\(at line (\d+), column (\d+)\)$")


def load_catalog(path: str | os.PathLike[str] | None = None) -> Catalog:
    """Load and validate a catalog; ``None`` gives the built-in one.

    The built-in catalog is parsed once and cached (a ``Catalog`` is immutable,
    so sharing it is safe); a user's file is read afresh on every call, so
    edits are picked up.

    Raises:
        CatalogError: the file cannot be read, is not valid TOML, or breaks a rule.
    """
    if path is None:
        return _load_builtin()
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        reason = exc.strerror or exc.__class__.__name__
        raise CatalogError(f"cannot read catalog file: {reason}", where=str(file)) from exc
    return parse_catalog(data, source=str(file))


def parse_catalog(data: str | bytes, *, source: str = "<string>") -> Catalog:
    """Validate a catalog given as TOML text; ``source`` names it in errors.

    Useful where the TOML does not come from a file (an upload, a test).
    """
    text = _decode(data, source)
    document = _Document(source, text.splitlines())
    content = _parse_toml(text, document)
    _check_top_level(content, document)
    specialties = _read_specialties(content["specialties"], document)
    pathologies = _read_pathologies(content["pathologies"], document, specialties)
    _check_every_month_has_arrivals(pathologies, document)
    return Catalog(specialties=specialties, pathologies=pathologies, source=source)


@lru_cache(maxsize=1)
def _load_builtin() -> Catalog:
    """Parse the packaged ``pathologies.toml`` (once: the result is cached)."""
    data = resources.files(__package__).joinpath(BUILTIN_FILE).read_bytes()
    where = f"hospiflow/catalog/{BUILTIN_FILE}"
    catalog = parse_catalog(data, source=where)
    count = len(catalog.pathologies)
    if count != BUILTIN_PATHOLOGY_COUNT:
        raise CatalogError(
            f"the built-in catalog must hold {BUILTIN_PATHOLOGY_COUNT} pathologies, not {count}",
            where=where,
        )
    return Catalog(catalog.specialties, catalog.pathologies, source=BUILTIN_SOURCE)


# --------------------------------------------------------------------------
# Locating errors in the text
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Document:
    """The catalog's text, kept to point errors at a line."""

    source: str
    lines: list[str] = field(repr=False)

    def where(self, line: int | None = None, column: int | None = None) -> str:
        """``file:line[:column]``, or just the file when the line is unknown."""
        parts = [self.source]
        if line is not None:
            parts.append(str(line))
            if column is not None:
                parts.append(str(column))
        return ":".join(parts)

    def fail(self, reason: str, line: int | None = None, **details: Any) -> NoReturn:
        raise CatalogError(reason, where=self.where(line), line=line, **details)

    def entry_line(self, table: str, index: int, code: str | None) -> int | None:
        """Line of the ``index``-th ``[[table]]`` header, else of its ``code = ...``."""
        header = re.compile(rf"^\s*\[\[\s*{re.escape(table)}\s*\]\]")
        seen = -1
        for number, line in enumerate(self.lines, start=1):
            if header.match(line):
                seen += 1
                if seen == index:
                    return number
        if code is not None:
            # Inline tables (``pathologies = [{ code = "x", ... }]``) have no header.
            assignment = re.compile(rf"\bcode\s*=\s*[\"']{re.escape(code)}[\"']")
            for number, line in enumerate(self.lines, start=1):
                if assignment.search(line):
                    return number
        return None

    def key_line(self, table: str, index: int, code: str | None, key: str) -> int | None:
        """Line of ``key = ...`` inside an entry, else the entry's own line."""
        start = self.entry_line(table, index, code)
        if start is None:
            return None
        assignment = re.compile(rf"^\s*{re.escape(key)}\s*=")
        for number in range(start + 1, len(self.lines) + 1):
            line = self.lines[number - 1]
            if line.lstrip().startswith("["):
                break
            if assignment.match(line):
                return number
        return start


@dataclass(frozen=True)
class _Entry:
    """One ``[[specialties]]`` or ``[[pathologies]]`` table being validated."""

    table: str
    index: int
    raw: dict[str, Any]
    document: _Document

    @property
    def code(self) -> str | None:
        code = self.raw.get("code")
        return code if isinstance(code, str) and code else None

    @property
    def label(self) -> str:
        name = f"{self.table}[{self.index}]"
        return f"{name} ({self.code})" if self.code else name

    def fail(self, reason: str, key: str | None = None) -> NoReturn:
        if key is None:
            line = self.document.entry_line(self.table, self.index, self.code)
        else:
            line = self.document.key_line(self.table, self.index, self.code, key)
        self.document.fail(
            f"{self.label}: {reason}",
            line,
            table=self.table,
            index=self.index,
            entry_code=self.code,
            key=key,
        )

    def check_keys(self, expected: tuple[str, ...]) -> None:
        """Refuse unknown keys (typos) and missing ones, in file order."""
        for key in self.raw:
            if key not in expected:
                self.fail(f"unknown key '{key}' (expected: {', '.join(expected)})", key)
        for key in expected:
            if key not in self.raw:
                self.fail(f"missing key '{key}'")

    def text(self, key: str) -> str:
        value = self.raw[key]
        if not isinstance(value, str):
            self.fail(f"'{key}' must be a string, not {_toml_type(value)}", key)
        if not value.strip():
            self.fail(f"'{key}' must not be empty", key)
        return value

    def code_value(self, key: str) -> str:
        value = self.text(key)
        if not CODE_PATTERN.match(value):
            self.fail(f"'{key}' = {value!r} must be snake_case (a-z, 0-9, _)", key)
        return value

    def number(self, key: str) -> float:
        value = self.raw[key]
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(f"'{key}' must be a number, not {_toml_type(value)}", key)
        if not math.isfinite(value):
            self.fail(f"'{key}' must be a finite number, not {value}", key)
        return float(value)

    def factors(self, key: str) -> tuple[float, ...]:
        value = self.raw[key]
        if not isinstance(value, list):
            self.fail(f"'{key}' must be an array of {MONTHS} numbers", key)
        if len(value) != MONTHS:
            self.fail(
                f"'{key}' has {len(value)} values, expected {MONTHS} (January..December)", key
            )
        factors = []
        for month, factor in zip(MONTH_NAMES, value, strict=True):
            if isinstance(factor, bool) or not isinstance(factor, int | float):
                self.fail(f"'{key}' for {month} must be a number, not {_toml_type(factor)}", key)
            if not math.isfinite(factor) or factor < 0:
                self.fail(f"'{key}' for {month} must be finite and >= 0, not {factor}", key)
            factors.append(float(factor))
        if not any(factors):
            self.fail(f"'{key}' are all zero: the pathology would never occur", key)
        return tuple(factors)


def _toml_type(value: Any) -> str:
    """The TOML name of a parsed value's type, for error messages."""
    names = {bool: "a boolean", int: "an integer", float: "a float", str: "a string"}
    names |= {list: "an array", dict: "a table"}
    return names.get(type(value), type(value).__name__)


# --------------------------------------------------------------------------
# Reading the file
# --------------------------------------------------------------------------


def _decode(data: str | bytes, source: str) -> str:
    """TOML is UTF-8; tolerate a byte-order mark, which Windows editors add."""
    if isinstance(data, str):
        return data
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CatalogError(
            f"not UTF-8 text (invalid byte at offset {exc.start})", where=source
        ) from exc


def _parse_toml(text: str, document: _Document) -> dict[str, Any]:
    """Parse, turning tomllib's ``(at line L, column C)`` into ``file:L:C``."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        reason = str(exc)
        position = _SYNTAX_POSITION.search(reason)
        if position is None:
            raise CatalogError(f"TOML syntax error: {reason}", where=document.source) from exc
        line, column = int(position[1]), int(position[2])
        raise CatalogError(
            f"TOML syntax error: {reason[: position.start()]}",
            where=document.where(line, column),
            line=line,
            column=column,
        ) from exc


def _check_top_level(content: dict[str, Any], document: _Document) -> None:
    for key in content:
        if key not in TOP_LEVEL_KEYS:
            document.fail(
                f"unknown top-level key '{key}' (expected: {', '.join(TOP_LEVEL_KEYS)})",
                _top_level_line(document, key),
                key=key,
            )
    for key in TOP_LEVEL_KEYS:
        if key not in content:
            document.fail(f"missing [[{key}]]: at least one entry is needed", key=key)
        value = content[key]
        if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
            document.fail(
                f"'{key}' must be an array of tables ([[{key}]])",
                _top_level_line(document, key),
                key=key,
            )
        if not value:
            document.fail(f"'{key}' is empty: at least one entry is needed", key=key)


def _top_level_line(document: _Document, key: str) -> int | None:
    """Line where a top-level key is assigned or opened as a table."""
    pattern = re.compile(rf"^\s*(\[+\s*{re.escape(key)}\b|{re.escape(key)}\s*=)")
    for number, line in enumerate(document.lines, start=1):
        if pattern.match(line):
            return number
    return None


def _read_specialties(raw: list[dict[str, Any]], document: _Document) -> tuple[Specialty, ...]:
    specialties: list[Specialty] = []
    first_index: dict[str, int] = {}
    for index, item in enumerate(raw):
        entry = _Entry("specialties", index, item, document)
        entry.check_keys(SPECIALTY_KEYS)
        code = entry.code_value("code")
        _refuse_duplicate(entry, code, first_index)
        specialties.append(Specialty(code, entry.text("name_en"), entry.text("name_fr")))
    return tuple(specialties)


def _read_pathologies(
    raw: list[dict[str, Any]], document: _Document, specialties: tuple[Specialty, ...]
) -> tuple[Pathology, ...]:
    declared = [s.code for s in specialties]
    pathologies: list[Pathology] = []
    first_index: dict[str, int] = {}
    for index, item in enumerate(raw):
        entry = _Entry("pathologies", index, item, document)
        entry.check_keys(PATHOLOGY_KEYS)
        code = entry.code_value("code")
        _refuse_duplicate(entry, code, first_index)
        pathologies.append(_read_pathology(entry, code, declared))
    return tuple(pathologies)


def _read_pathology(entry: _Entry, code: str, declared: list[str]) -> Pathology:
    name_en, name_fr = entry.text("name_en"), entry.text("name_fr")
    icd10 = entry.text("icd10")
    if not ICD10_PATTERN.match(icd10):
        entry.fail(f"'icd10' = {icd10!r} is not an ICD-10 code (like 'J11.1' or 'N23')", "icd10")
    specialty = entry.text("specialty")
    if specialty not in declared:
        entry.fail(
            f"specialty '{specialty}' is not declared in [[specialties]] "
            f"(declared: {', '.join(declared)})",
            "specialty",
        )
    minutes = entry.number("mean_treatment_minutes")
    if minutes <= 0:
        entry.fail(
            f"'mean_treatment_minutes' must be > 0, not {minutes:g}", "mean_treatment_minutes"
        )
    weight = entry.number("base_weight")
    if weight < 0:
        entry.fail(f"'base_weight' must be >= 0, not {weight:g}", "base_weight")
    factors = entry.factors("monthly_factors")
    return Pathology(code, name_en, name_fr, icd10, specialty, minutes, weight, factors)


def _refuse_duplicate(entry: _Entry, code: str, first_index: dict[str, int]) -> None:
    """Codes are keys everywhere downstream: each must appear once per table."""
    if code in first_index:
        first = first_index[code]
        line = entry.document.entry_line(entry.table, first, code)
        at_line = f", line {line}" if line is not None else ""
        entry.fail(
            f"duplicate code '{code}' (already used by {entry.table}[{first}]{at_line})", "code"
        )
    first_index[code] = entry.index


def _check_every_month_has_arrivals(
    pathologies: tuple[Pathology, ...], document: _Document
) -> None:
    """Each month's mix is normalised to sum to 1, so it needs a positive total."""
    for month, name in enumerate(MONTH_NAMES):
        if not any(p.base_weight * p.monthly_factors[month] > 0 for p in pathologies):
            document.fail(
                f"no pathology can occur in {name}: base_weight x monthly_factors is 0 for all",
                month=name,
            )
