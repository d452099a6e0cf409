"""The paired-t confidence interval of a difference between two systems.

With common random numbers (replication ``i`` of both arms uses the same seed),
the differences ``D_i = change_i - baseline_i`` are independent and identically
distributed across replications, so the mean difference gets the paired-t
interval (Law, *Simulation Modeling and Analysis*, 5th ed., 2015, §10.2.1;
common random numbers §11.2)::

    D̄ ± t_{n-1, 1-α/2} · S_D / √n

valid without assuming the two arms independent or of equal variance; the
positive correlation CRN induces shrinks ``S_D`` and so the interval.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

__all__ = ["PairedInterval", "paired_interval"]


@dataclass(frozen=True)
class PairedInterval:
    baseline_mean: float
    change_mean: float
    difference: float
    low: float
    high: float
    n: int  # pairs used (both values known)

    @property
    def significant(self) -> bool:
        """The interval excludes 0."""
        return self.low > 0 or self.high < 0


def paired_interval(
    baseline: np.ndarray, change: np.ndarray, confidence: float = 0.95
) -> PairedInterval:
    """Means of both arms and the paired-t interval of ``change - baseline``.

    Pairs where either value is NaN are left out; with fewer than two pairs the
    interval is NaN (it cannot be estimated). A zero spread gives a zero-width
    interval (the arms agree in every replication, as a null change does).
    """
    a = np.asarray(baseline, dtype=float)
    b = np.asarray(change, dtype=float)
    keep = ~(np.isnan(a) | np.isnan(b))
    a, b = a[keep], b[keep]
    n = len(a)
    nan = float("nan")
    if n == 0:
        return PairedInterval(nan, nan, nan, nan, nan, 0)
    d = b - a
    mean = float(d.mean())
    if n < 2:
        return PairedInterval(float(a.mean()), float(b.mean()), mean, nan, nan, n)
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * float(d.std(ddof=1)) / math.sqrt(n)
    return PairedInterval(float(a.mean()), float(b.mean()), mean, mean - half, mean + half, n)
