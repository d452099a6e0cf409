"""Mixes and dispositions: acuity and age mix, admission by pathology and age band.

The flow admits a patient of pathology ``p`` in age band ``b`` with probability
``admission[p] × factor[b]``. Both are fitted by iterative proportional fitting of
that multiplicative model to the observed admissions (Deming & Stephan 1940; it
converges to the Poisson maximum-likelihood estimate, which for probabilities well
below 1 is the binomial one), factors scaled so the patients' mean factor is 1.
Transfers and deaths are single shares (too rare to split).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from hospiflow.records import Disposition
from hospiflow.simulation.flowconfig import LEVELS

MIN_GROUP = 30  # a pathology's own mix needs this many visits with the value
AGE_BANDS = (0, 15, 45, 75)


@dataclass(frozen=True)
class DispositionFit:
    known: int  # visits with a disposition, not left unseen
    admission: float  # share of those (the flow's fate)
    transfer: float
    death: float
    left_unseen: float
    admission_by_pathology: dict[str, float]
    age_factor: tuple[float, ...] | None  # None: ages not in the data
    observed_by_band: tuple[float, ...] | None  # admitted share per band


@dataclass(frozen=True)
class MixFit:
    acuity: tuple[float, ...] | None  # None: acuity not in the data
    acuity_by_pathology: dict[str, tuple[float, ...]] = field(default_factory=dict)
    age: tuple[float, ...] | None = None
    age_by_pathology: dict[str, tuple[float, ...]] = field(default_factory=dict)


def _shares(values: pd.Series, length: int, offset: int) -> tuple[float, ...]:
    counts = np.bincount(values.astype(int) - offset, minlength=length)[:length].astype(float)
    return tuple(round(float(v), 4) for v in counts / counts.sum())


def age_band(age: pd.Series) -> pd.Series:
    """Index of each age's band in ``AGE_BANDS``."""
    return pd.Series(np.searchsorted(AGE_BANDS, age.to_numpy(), side="right") - 1, index=age.index)


def fit_mix(visits: pd.DataFrame) -> MixFit:
    """Acuity mix (levels 1..5) and age-band mix, overall and per pathology."""
    acuity = visits["acuity"].where(visits["acuity"].between(1, LEVELS))
    mix_acuity = None
    by_path_acuity: dict[str, tuple[float, ...]] = {}
    if acuity.notna().mean() >= 0.5:
        mix_acuity = _shares(acuity.dropna(), LEVELS, 1)
        for code, group in acuity.groupby(visits["pathology"]):
            group = group.dropna()
            if len(group) >= MIN_GROUP:
                by_path_acuity[str(code)] = _shares(group, LEVELS, 1)
    ages = visits["age"].where(visits["age"].between(0, 130))
    mix_age = None
    by_path_age: dict[str, tuple[float, ...]] = {}
    if ages.notna().mean() >= 0.5:
        bands = age_band(ages.dropna())
        mix_age = _shares(bands, len(AGE_BANDS), 0)
        for code, group in bands.groupby(visits.loc[bands.index, "pathology"]):
            if len(group) >= MIN_GROUP:
                by_path_age[str(code)] = _shares(group, len(AGE_BANDS), 0)
    return MixFit(mix_acuity, by_path_acuity, mix_age, by_path_age)


def fit_dispositions(visits: pd.DataFrame, iterations: int = 50) -> DispositionFit:
    """Shares of each disposition; admission by pathology × age band (IPF)."""
    every = visits[visits["disposition"].notna()]
    lwbs = every["disposition"].astype(int) == int(Disposition.LEFT_WITHOUT_BEING_SEEN)
    # the flow draws a fate at arrival and a patient leaving unseen never meets it:
    # the shares are of the patients who stayed to be seen
    known = every[~lwbs]
    disposition = known["disposition"].astype(int)
    admitted = (disposition == int(Disposition.ADMITTED)).to_numpy(dtype=float)
    n = max(len(known), 1)
    pathology = known["pathology"].fillna("").to_numpy()
    codes = sorted({c for c in pathology if c})
    ages = known["age"].where(known["age"].between(0, 130))
    with_age = ages.notna().mean() >= 0.5 if len(known) else False
    band = age_band(ages.fillna(45)).to_numpy() if with_age else np.zeros(len(known), dtype=int)
    n_bands = len(AGE_BANDS) if with_age else 1
    path_index = np.array([codes.index(c) if c else -1 for c in pathology], dtype=int)
    mine = path_index >= 0
    rate = np.full(len(codes), admitted.mean() if len(known) else 0.0)
    factor = np.ones(n_bands)
    pi, bi, y = path_index[mine], band[mine], admitted[mine]
    for _ in range(iterations):
        expected_p = np.bincount(pi, weights=factor[bi], minlength=len(codes))
        rate = np.where(
            expected_p > 0,
            np.bincount(pi, weights=y, minlength=len(codes)) / np.maximum(expected_p, 1e-12),
            0.0,
        )
        expected_b = np.bincount(bi, weights=rate[pi], minlength=n_bands)
        factor = np.where(
            expected_b > 0,
            np.bincount(bi, weights=y, minlength=n_bands) / np.maximum(expected_b, 1e-12),
            1.0,
        )
        scale = float(factor[bi].mean()) if len(bi) else 1.0
        factor = factor / scale
    by_band = None
    if with_age:
        by_band = tuple(
            round(float(admitted[band == b].mean()) if (band == b).any() else 0.0, 4)
            for b in range(n_bands)
        )
    return DispositionFit(
        known=len(known),
        admission=float(admitted.sum() / n),
        transfer=float((disposition == int(Disposition.TRANSFERRED)).sum() / n),
        death=float((disposition == int(Disposition.DIED)).sum() / n),
        left_unseen=float(lwbs.sum() / max(len(every), 1)),
        admission_by_pathology={
            c: round(float(min(r, 1.0)), 4) for c, r in zip(codes, rate, strict=True)
        },
        age_factor=tuple(round(float(f), 4) for f in factor) if with_age else None,
        observed_by_band=by_band,
    )
