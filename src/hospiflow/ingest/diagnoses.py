"""ICD-10 (CIM-10) diagnosis codes -> the catalog's pathologies and specialties.

The map is a TOML file a person can edit (``diagnosis_map.toml`` beside this
module is the default): exact codes and prefixes name a pathology, ranges of
ICD-10 chapters name a fallback specialty. Codes matched by neither are
*unmapped*, counted and shown, never dropped. ICD-9 codes are never read as
ICD-10 (``486`` is pneumonia in ICD-9, not a category of ICD-10).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from hospiflow.catalog import Catalog, load_catalog
from hospiflow.ingest.formats import IngestError
from hospiflow.records import ICD9

# How a code was matched, stored nowhere but counted in import summaries.
BY_CODE = "code"
BY_CHAPTER = "chapter"
UNMAPPED = "unmapped"
NOT_ICD10 = "not_icd10"


@dataclass(frozen=True, slots=True)
class Match:
    """What a diagnosis code means for the catalog."""

    code: str  # the normalised code, dotted ("J18.9")
    pathology: str | None
    specialty: str | None
    how: str


def normalise(code: str) -> str:
    """``"j189 "`` -> ``"J18.9"``: upper case, no spaces, a dot after the category."""
    bare = code.strip().upper().replace(".", "").replace(" ", "")
    return f"{bare[:3]}.{bare[3:]}" if len(bare) > 3 else bare


class DiagnosisMap:
    """Looks codes up: the longest ``[codes]`` prefix, then the ``[chapters]`` range."""

    def __init__(
        self, codes: dict[str, str], chapters: list[tuple[str, str, str]], source: str
    ) -> None:
        self.codes = codes  # bare prefix ("J18") -> pathology code
        self.chapters = chapters  # (first category, last category, specialty)
        self.source = source
        self._longest = max((len(k) for k in codes), default=0)
        self._cache: dict[tuple[str, str | None], Match] = {}

    def lookup(self, code: str, system: str | None = None) -> Match:
        """The pathology and specialty of ``code`` (``system`` ICD9 never maps)."""
        key = (code, system)
        found = self._cache.get(key)
        if found is None:
            found = self._lookup(code, system)
            if len(self._cache) < 100_000:
                self._cache[key] = found
        return found

    def _lookup(self, code: str, system: str | None) -> Match:
        if system == ICD9:
            return Match(code.strip().upper(), None, None, NOT_ICD10)
        dotted = normalise(code)
        bare = dotted.replace(".", "")
        for length in range(min(len(bare), self._longest), 0, -1):
            pathology = self.codes.get(bare[:length])
            if pathology is not None:
                return Match(dotted, pathology, None, BY_CODE)
        category = bare[:3]
        if len(category) == 3 and category[0].isalpha() and category[1:].isdigit():
            for first, last, specialty in self.chapters:
                if first <= category <= last:
                    return Match(dotted, None, specialty, BY_CHAPTER)
        return Match(dotted, None, None, UNMAPPED)


def load_diagnosis_map(
    path: str | Path | None = None, catalog: Catalog | None = None
) -> DiagnosisMap:
    """Read and check a map (the built-in one when ``path`` is None)."""
    if path is None:
        return _builtin()
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise IngestError(f"cannot read the diagnosis map: {error}", where=source) from error
    return _parse(text, source, catalog or load_catalog())


@lru_cache(maxsize=1)
def _builtin() -> DiagnosisMap:
    text = resources.files("hospiflow.ingest").joinpath("diagnosis_map.toml").read_text("utf-8")
    return _parse(text, "diagnosis_map.toml", load_catalog())


def _parse(text: str, source: str, catalog: Catalog) -> DiagnosisMap:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise IngestError(f"not valid TOML: {error}", where=source) from error
    unknown = set(data) - {"codes", "chapters"}
    if unknown:
        raise IngestError(f"unknown table(s) {sorted(unknown)}", where=source)
    pathologies = set(catalog.pathology_codes)
    specialties = set(catalog.specialty_codes)
    codes: dict[str, str] = {}
    for key, value in _flatten(data.get("codes", {})).items():
        if value not in pathologies:
            raise IngestError(f"[codes] {key} = {value!r}: no such pathology", where=source)
        codes[key.upper().replace(".", "")] = value
    chapters = []
    for key, value in data.get("chapters", {}).items():
        first, _, last = key.upper().partition("-")
        if len(first) != 3 or len(last) != 3 or first > last:
            raise IngestError(f"[chapters] {key!r}: expected a range like 'I00-I99'", where=source)
        if value not in specialties:
            raise IngestError(f"[chapters] {key} = {value!r}: no such specialty", where=source)
        chapters.append((first, last, value))
    return DiagnosisMap(codes, chapters, source)


def _flatten(table: dict, prefix: str = "") -> dict[str, str]:
    """TOML reads ``T14.1 = ...`` as a nested table ``T14 -> 1``: join the keys back."""
    flat: dict[str, str] = {}
    for key, value in table.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, dict):
            flat.update(_flatten(value, name))
        else:
            flat[name] = str(value)
    return flat
