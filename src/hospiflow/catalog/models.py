"""Reference-data records: specialties and pathologies.

These are plain immutable values; loading and validating them from files is
``catalog.loader``'s job.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MONTHS = 12


@dataclass(frozen=True, slots=True)
class Specialty:
    """A medical specialty: the kind of doctor a pathology needs."""

    code: str
    name_en: str
    name_fr: str


@dataclass(frozen=True, slots=True)
class Pathology:
    """One of the conditions patients arrive with.

    ``monthly_factors`` multiply ``base_weight`` in each calendar month
    (January first) to give the pathology's share of arrivals that month.
    """

    code: str
    name_en: str
    name_fr: str
    icd10: str
    specialty: str
    mean_treatment_minutes: float
    base_weight: float
    monthly_factors: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Catalog:
    """The specialties and pathologies a hospital works with, in file order."""

    specialties: tuple[Specialty, ...]
    pathologies: tuple[Pathology, ...]
    source: str = "<built-in>"

    @property
    def specialty_codes(self) -> tuple[str, ...]:
        return tuple(s.code for s in self.specialties)

    @property
    def pathology_codes(self) -> tuple[str, ...]:
        return tuple(p.code for p in self.pathologies)

    def specialty(self, code: str) -> Specialty:
        for s in self.specialties:
            if s.code == code:
                return s
        raise KeyError(code)

    def pathology(self, code: str) -> Pathology:
        for p in self.pathologies:
            if p.code == code:
                return p
        raise KeyError(code)

    def monthly_weights(self, seasonality: bool = True) -> np.ndarray:
        """Arrival probability of each pathology per month: shape (12, n_pathologies).

        Rows sum to 1. Without seasonality every month uses the base weights.
        """
        base = np.array([p.base_weight for p in self.pathologies], dtype=float)
        if seasonality:
            factors = np.array([p.monthly_factors for p in self.pathologies], dtype=float).T
            weights = factors * base
        else:
            weights = np.tile(base, (MONTHS, 1))
        return weights / weights.sum(axis=1, keepdims=True)

    def pathology_specialty_index(self) -> np.ndarray:
        """For each pathology, the index of its specialty in ``specialties``."""
        index = {code: i for i, code in enumerate(self.specialty_codes)}
        return np.array([index[p.specialty] for p in self.pathologies], dtype=np.int64)

    def mean_treatment_minutes(self) -> np.ndarray:
        """Mean treatment time of each pathology, in file order."""
        return np.array([p.mean_treatment_minutes for p in self.pathologies], dtype=float)
