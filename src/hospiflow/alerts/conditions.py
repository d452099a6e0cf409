"""The conditions that raise an alert, from what the status and tension code answer.

Three kinds, each an *episode* while it holds (``hospiflow.store.alerts``):

* ``status``: the department status is red under the one saturation rule
  (``hospiflow.tension.status``: 8 waiting per doctor, or patients waiting with no
  doctor on duty; an imported site: patients present against its thresholds).
  Amber raises nothing: it is common (about 14 % of hours) and means "watch".
* ``het``: the FEDORU global tension of the data's latest day (3 of the HET
  indicators at level 3 or more, ``hospiflow.tension.het``).
* ``nedocs``: the NEDOCS score in the "overcrowded" band or worse (over 100,
  Weiss et al., Acad Emerg Med 2004;11:38-50), when the data allow the score.

Pure: the caller passes the answers it already computed, and the data's clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "NEDOCS_ALERT_BANDS",
    "Condition",
    "het_condition",
    "nedocs_condition",
    "status_condition",
]

NEDOCS_ALERT_BANDS = ("overcrowded", "severely_overcrowded", "dangerously_overcrowded")


@dataclass(frozen=True)
class Condition:
    """One check's finding: whether the alert condition holds, and what to say."""

    kind: str
    active: bool
    level: str
    reason: str
    data_ms: int
    details: dict[str, Any] = field(default_factory=dict)


def status_condition(status: dict[str, Any], data_ms: int) -> Condition:
    """Red department status (``department_status`` of ``now``)."""
    level = str(status.get("level") or "unknown")
    return Condition(
        kind="status",
        active=level == "red",
        level=level,
        reason=str(status.get("text") or level),
        data_ms=data_ms,
        details={"status": status},
    )


def het_condition(day: str, global_level: int, tension: bool, data_ms: int) -> Condition:
    """FEDORU global tension on the latest day (``day``: local date)."""
    return Condition(
        kind="het",
        active=bool(tension),
        level=f"het{global_level}" if global_level >= 0 else "unknown",
        reason=f"hospital tension on {day}: global level {global_level} (FEDORU HET)",
        data_ms=data_ms,
        details={"day": day, "global_level": int(global_level)},
    )


def nedocs_condition(score: dict[str, Any], data_ms: int) -> Condition:
    """NEDOCS "overcrowded" or worse (``score``: ``/tension/now``'s ``nedocs``)."""
    band = score.get("band")
    value = score.get("value")
    return Condition(
        kind="nedocs",
        active=band in NEDOCS_ALERT_BANDS,
        level=str(band or "unknown"),
        reason=(
            f"NEDOCS {value:.0f}: {str(band).replace('_', ' ')}"
            if value is not None
            else "NEDOCS not available"
        ),
        data_ms=data_ms,
        details={"value": value, "band": band},
    )
