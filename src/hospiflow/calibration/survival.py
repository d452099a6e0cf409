"""Patience of patients who leave without being seen, estimated with right censoring.

A patient seen by a doctor after waiting ``w`` minutes did not leave during ``w``:
their patience is only known to exceed ``w`` (right-censored at ``w``). A patient
who left unseen after ``t`` minutes has patience ``t``. The plain mean of those who
left is biased low (only the impatient leave); instead:

- the exponential maximum-likelihood estimate with right censoring, the mean
  patience ``Σ exposure / events`` (total minutes at risk over the number who left;
  Cox & Oakes, *Analysis of Survival Data*, 1984, §3.2), which the simulator's
  exponential patience uses;
- the Kaplan–Meier estimate (Kaplan & Meier 1958, ``scipy.stats.ecdf`` on
  ``CensoredData``) of the probability of still waiting after 1 and 4 hours,
  reported beside it as a check of the exponential shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class PatienceFit:
    left: int  # patients who left unseen (events)
    seen: int  # censored observations
    mean_minutes: float  # 0: nobody left (never leaves)
    km_stay_1h: float | None  # Kaplan–Meier P(patience > 60 min)
    km_stay_4h: float | None
    exponential_stay_4h: float | None  # exp(−240 / mean), to compare


def fit_patience(left_after: np.ndarray, seen_after: np.ndarray) -> PatienceFit:
    """Minutes to leaving unseen (events) and minutes to the first doctor (censored)."""
    events = np.asarray(left_after, dtype=float)
    events = np.maximum(events[np.isfinite(events)], 0.0)
    censored = np.asarray(seen_after, dtype=float)
    censored = np.maximum(censored[np.isfinite(censored)], 0.0)
    if len(events) == 0:
        return PatienceFit(0, len(censored), 0.0, None, None, None)
    mean = float((events.sum() + censored.sum()) / len(events))
    km1 = km4 = None
    if len(censored):
        data = stats.CensoredData(uncensored=events, right=censored)
        survival = stats.ecdf(data).sf
        km1 = float(survival.evaluate(np.array([60.0]))[0])
        km4 = float(survival.evaluate(np.array([240.0]))[0])
    return PatienceFit(
        left=len(events),
        seen=len(censored),
        mean_minutes=mean,
        km_stay_1h=km1,
        km_stay_4h=km4,
        exponential_stay_4h=float(np.exp(-240.0 / mean)) if mean > 0 else None,
    )
