"""Service and stay times: exponential, lognormal or gamma, chosen by AIC.

Each family is fitted by maximum likelihood with ``scipy.stats`` (location fixed at 0)
and the one with the smallest Akaike information criterion ``AIC = 2k − 2 ln L``
(Akaike 1974; k = 1 for the exponential, 2 for the others) is kept. Times are
clipped at half a minute: sources record minutes, and a zero has no likelihood
under these families.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

FAMILIES = ("exponential", "lognormal", "gamma")
MAX_SAMPLE = 20_000  # larger samples are thinned evenly: the fit is as good, and quick
MIN_SAMPLE = 30


@dataclass(frozen=True)
class FamilyFit:
    family: str
    mean: float
    cv: float
    log_likelihood: float
    aic: float


@dataclass(frozen=True)
class DistributionFit:
    """The fits of one sample, best (smallest AIC) first."""

    n: int
    fits: tuple[FamilyFit, ...]

    @property
    def best(self) -> FamilyFit:
        return self.fits[0]


def fit_times(values: np.ndarray) -> DistributionFit | None:
    """Fit the three families to positive durations (minutes); None under ``MIN_SAMPLE``."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) < MIN_SAMPLE:
        return None
    n = len(x)
    if n > MAX_SAMPLE:
        x = np.sort(x)[np.linspace(0, n - 1, MAX_SAMPLE).astype(np.int64)]
    x = np.maximum(x, 0.5)
    fits = []
    scale = float(x.mean())
    fits.append(_family("exponential", 1, stats.expon.logpdf(x, 0, scale).sum(), scale, 1.0))
    shape, _, lscale = stats.lognorm.fit(x, floc=0)
    s2 = shape**2
    fits.append(
        _family(
            "lognormal",
            2,
            stats.lognorm.logpdf(x, shape, 0, lscale).sum(),
            float(lscale * np.exp(s2 / 2)),
            float(np.sqrt(np.expm1(s2))),
        )
    )
    a, _, gscale = stats.gamma.fit(x, floc=0)
    fits.append(
        _family(
            "gamma",
            2,
            stats.gamma.logpdf(x, a, 0, gscale).sum(),
            float(a * gscale),
            float(1 / np.sqrt(a)),
        )
    )
    return DistributionFit(n, tuple(sorted(fits, key=lambda f: f.aic)))


def _family(name: str, k: int, loglik: float, mean: float, cv: float) -> FamilyFit:
    loglik = float(loglik)
    return FamilyFit(name, float(mean), float(cv), loglik, 2 * k - 2 * loglik)


def quantile(family: str, mean: float, cv: float, q: float) -> float:
    """The ``q``-quantile of ``family`` with this mean and coefficient of variation: what
    the twin draws for a pathology (its mean, the scenario's family and cv), to set beside
    the observed quantiles on the fit's plot."""
    if family == "exponential":
        return float(stats.expon.ppf(q, scale=mean))
    if family == "gamma":
        shape = 1.0 / cv**2
        return float(stats.gamma.ppf(q, shape, scale=mean / shape))
    if family == "lognormal":
        s2 = math.log1p(cv**2)
        return float(stats.lognorm.ppf(q, math.sqrt(s2), scale=mean * math.exp(-s2 / 2)))
    raise ValueError(f"unknown family {family!r} (one of {', '.join(FAMILIES)})")
