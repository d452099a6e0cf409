"""Reading and writing a run's forecasts (``forecasts`` + ``forecast_runs``).

A run keeps its **latest** forecast only: writing a forecast run replaces the
previous one of the same run (rows and header) in one transaction, so a live run
refreshed every simulated hour does not grow without bound and readers never see
half a forecast. The latest backtest of a run is kept the same way.

``forecasts.metric`` says what a row holds (``mean`` and the JSON ``quantiles``):

=================  ===================  ==============================================
metric             target               mean / quantiles
=================  ===================  ==============================================
``arrivals``       UTC hour             mean arrivals / list of quantiles (levels in
                                        the header's payload)
``arrivals_daily`` UTC local midnight   mean arrivals of the local day / quantiles
``saturation``     UTC hour             P(saturation) / drivers: ``arrivals``,
                                        ``doctors``, ``utilisation``, ``waiting``,
                                        ``raw``
``staffing``       UTC hour             advised doctors / ``rostered``, ``gap``,
                                        ``probability_rostered``, ``probability_advised``
``occupancy``      UTC hour             expected patients present at the hour's start /
                                        the hospital row: quantiles (the header's levels)
``status_red``     UTC hour (next 8)    P(department status red, the Now status's rule) /
                                        ``base_rate`` (hour of week)
``tension``        UTC local midnight   P(FEDORU global tension level >= 3 that day) /
                                        ``base_rate`` (day of week)
=================  ===================  ==============================================

The last two are the headline risks (:mod:`hospiflow.forecast.status_forecast`); their
backtested skills, rules, and the reasons when a risk is unavailable are in the
header's ``payload["status_risk"]``.

``specialty_idx`` NULL is the whole hospital.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from hospiflow.store import schema

__all__ = ["METRICS", "latest_header", "read_rows", "write_backtest", "write_forecast"]

METRICS = (
    "arrivals",
    "arrivals_daily",
    "saturation",
    "staffing",
    "occupancy",
    "status_red",
    "tension",
)

f = schema.forecasts
fr = schema.forecast_runs


def write_forecast(
    connection: Connection,
    run_id: int,
    *,
    generated_at_ms: int,
    origin_ms: int,
    model: str,
    payload: dict[str, Any],
    rows: Iterable[tuple[int, int | None, str, str, float, Any]],
) -> None:
    """Replace the run's forecast: ``rows`` are (target_ms, specialty, metric, model, mean,
    quantiles). Call inside a transaction (``engine.begin()``)."""
    connection.execute(f.delete().where(f.c.run_id == run_id))
    connection.execute(fr.delete().where(fr.c.run_id == run_id, fr.c.kind == "forecast"))
    connection.execute(
        fr.insert().values(
            run_id=run_id,
            kind="forecast",
            generated_at_ms=generated_at_ms,
            origin_ms=origin_ms,
            model=model,
            payload=payload,
        )
    )
    batch = [
        {
            "run_id": run_id,
            "generated_at_ms": generated_at_ms,
            "target_ms": int(target),
            "specialty_idx": None if specialty is None else int(specialty),
            "metric": metric,
            "model": name,
            "mean": float(mean),
            "quantiles": quantiles,
        }
        for target, specialty, metric, name, mean, quantiles in rows
    ]
    if batch:
        connection.execute(f.insert(), batch)


def write_backtest(
    connection: Connection,
    run_id: int,
    *,
    generated_at_ms: int,
    origin_ms: int,
    model: str,
    payload: dict[str, Any],
) -> None:
    """Replace the run's stored backtest scores."""
    connection.execute(fr.delete().where(fr.c.run_id == run_id, fr.c.kind == "backtest"))
    connection.execute(
        fr.insert().values(
            run_id=run_id,
            kind="backtest",
            generated_at_ms=generated_at_ms,
            origin_ms=origin_ms,
            model=model,
            payload=payload,
        )
    )


def latest_header(
    connection: Connection, run_id: int, kind: str = "forecast"
) -> dict[str, Any] | None:
    """The newest ``forecast_runs`` row of a run and kind, or None."""
    row = connection.execute(
        sa.select(fr)
        .where(fr.c.run_id == run_id, fr.c.kind == kind)
        .order_by(fr.c.generated_at_ms.desc(), fr.c.id.desc())
        .limit(1)
    ).first()
    return None if row is None else dict(row._mapping)


def read_rows(
    connection: Connection,
    run_id: int,
    metric: str,
    start_ms: int | None = None,
    end_ms: int | None = None,
) -> list[tuple[int, int | None, float, Any]]:
    """(target_ms, specialty_idx, mean, quantiles) of one metric, by target then specialty."""
    conditions = [f.c.run_id == run_id, f.c.metric == metric]
    if start_ms is not None:
        conditions.append(f.c.target_ms >= start_ms)
    if end_ms is not None:
        conditions.append(f.c.target_ms < end_ms)
    stmt = (
        sa.select(f.c.target_ms, f.c.specialty_idx, f.c.mean, f.c.quantiles)
        .where(*conditions)
        .order_by(f.c.target_ms, f.c.specialty_idx)
    )
    return [tuple(row) for row in connection.execute(stmt).all()]
