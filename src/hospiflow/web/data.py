"""The API's payloads: store query rows turned into small, chart-ready JSON.

Each ``*_payload`` function takes an open read-only connection, the run (a
``RunContext``) and parsed parameters, and returns the dict a view sends.
Time series are *columnar and dense*: one ``buckets`` axis (local bucket
starts, ISO 8601 with offset) shared by every series, one value per bucket
(0 or null where nothing happened), so a chart plots ``x = buckets``,
``y = series[i].values`` without joining anything.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from hospiflow.catalog.loader import load_catalog
from hospiflow.errors import NotFoundError
from hospiflow.records import EventKind
from hospiflow.store import bucketed, now, queries, trace
from hospiflow.store.sites import OBSERVED_LACKS
from hospiflow.store.timeconv import MS_PER_DAY, MS_PER_HOUR
from hospiflow.tension.status import AreaState, StatusRule, area_level, department_status
from hospiflow.web.schemas import BIGINT
from hospiflow.web.timeutil import (
    BadRequest,
    bucket_starts,
    count_buckets,
    local_iso,
    local_ms,
    parse_instant,
    utc_iso,
)

KIND_NAMES = {int(k): k.name.lower() for k in EventKind}
KIND_CODES = {name: code for code, name in KIND_NAMES.items()}
RECENT_ARRIVALS = 10


def _round(value: Any, digits: int = 3) -> float | None:
    if value is None:
        return None
    value = float(value)
    return round(value, digits) if math.isfinite(value) else None


# --------------------------------------------------------------------------- runs


@dataclass(frozen=True)
class RunCatalog:
    """A run's specialties, pathologies and doctors (immutable once the run exists)."""

    specialties: list[dict[str, Any]]  # idx order: code, name_en, name_fr
    pathologies: list[dict[str, Any]]  # idx order: code, icd10, names, specialty, mean
    doctors: list[dict[str, Any]]  # idx order: code, specialty_idx

    def specialty_idx(self, code: str) -> int:
        for i, s in enumerate(self.specialties):
            if s["code"] == code:
                return i
        known = ", ".join(s["code"] for s in self.specialties)
        raise BadRequest(f"unknown specialty {code!r} (this run has: {known})", where="specialty")

    def code(self, table: str, idx: int | None) -> str | None:
        if idx is None:
            return None
        items = getattr(self, table)
        return items[idx]["code"] if 0 <= idx < len(items) else None


def _french_names(parameters: dict[str, Any]) -> dict[str, str]:
    """French names by code from the run's catalog (the built-in one if unknown)."""
    name = parameters.get("catalog") if isinstance(parameters, dict) else None
    try:
        if name == "validation":
            from hospiflow.simulation.scenario import Scenario

            catalog = Scenario(catalog="validation").load_catalog()
        else:
            catalog = load_catalog(None)
    except Exception:  # noqa: BLE001 - names are a nicety; fall back to English
        return {}
    names = {s.code: s.name_fr for s in catalog.specialties}
    names.update({p.code: p.name_fr for p in catalog.pathologies})
    return names


def load_run_catalog(connection: Connection, run_id: int, parameters: dict[str, Any]) -> RunCatalog:
    """Read a run's catalog tables."""
    fr = _french_names(parameters)
    rows = queries.run_catalog(connection, run_id)
    specialties = [
        {"code": r["code"], "name_en": r["name"], "name_fr": fr.get(r["code"], r["name"])}
        for r in rows["specialties"]
    ]
    pathologies = [
        {
            "code": r["code"],
            "icd10": r["icd10"],
            "name_en": r["name"],
            "name_fr": fr.get(r["code"], r["name"]),
            "specialty_idx": r["specialty_idx"],
            "mean_treatment_min": _round(r["mean_treatment_min"]),
        }
        for r in rows["pathologies"]
    ]
    doctors = [{"code": r["code"], "specialty_idx": r["specialty_idx"]} for r in rows["doctors"]]
    return RunCatalog(specialties, pathologies, doctors)


@dataclass
class RunContext:
    """A run's row, its catalog and where its data end."""

    row: dict[str, Any]
    catalog: RunCatalog
    data_end_ms: int  # exclusive: the default end of every range

    @property
    def id(self) -> int:
        return int(self.row["id"])

    @property
    def tz(self) -> str:
        return self.row["timezone"]

    @property
    def start_ms(self) -> int:
        return int(self.row["start_utc_ms"])


def read_run(connection: Connection, run_id: int) -> dict[str, Any]:
    """The run's row; ``NotFoundError`` for absent (or impossible) ids."""
    if not 0 < run_id <= BIGINT:
        raise NotFoundError(f"no run {run_id}", where="run_id", run_id=run_id)
    return queries.run(connection, run_id)


def data_end(connection: Connection, row: dict[str, Any]) -> int:
    """Exclusive end of a run's data: its end when complete, else just after its newest record."""
    if row["status"] == "complete" and row["kind"] != "live":
        return int(row["end_utc_ms"])
    newest = [
        trace.data_end_ms(connection, row["id"]),
        trace.newest_event_ms(connection, row["id"]),
    ]
    known = [int(n) for n in newest if n is not None]
    return max(known) + 1 if known else int(row["start_utc_ms"])


def data_as_of(connection: Connection, row: dict[str, Any]) -> int | None:
    """When a run's data stand: the instant its views open on ("data as of").

    A finished simulation or an import: its end (an import's end is its newest
    arrival or departure); a live or running run: its newest record; None
    before it has any. Never the planned end of a live run, which lies ahead.
    """
    if row["status"] == "complete" and row["kind"] != "live":
        return int(row["end_utc_ms"])
    end = data_end(connection, row)
    return end - 1 if end > int(row["start_utc_ms"]) else None


GROWING_KINDS = ("live", "import")  # runs whose row changes after they complete


def run_version(row: dict[str, Any]) -> str:
    """What changes when a run's data do after it completed: an observed run's last import."""
    return str(row["finished_at_ms"]) if row["kind"] == "import" else ""


def is_observed(row: dict[str, Any]) -> bool:
    """Whether the run holds a site's observed visits (an import), not a simulation."""
    parameters = row.get("parameters")
    return isinstance(parameters, dict) and parameters.get("source") == "observed"


def run_source(row: dict[str, Any], site: dict[str, Any] | None = None) -> dict[str, Any]:
    """``source``, ``site`` and (observed runs) ``lacks``.

    From the run's parameters when the row has them, else from ``site`` (the
    sites table's row owning the run: run lists leave the parameters out).
    """
    if site is not None:
        owner = {"id": int(site["id"]), "name": str(site["name"])}
    elif is_observed(row) and isinstance(row["parameters"].get("site_id"), int):
        parameters = row["parameters"]
        owner = {"id": parameters["site_id"], "name": str(parameters.get("site") or "")}
    else:
        owner = None
    if owner is None and not is_observed(row):
        return {"source": "simulation", "site": None}
    lacks = (row.get("parameters") or {}).get("lacks") if is_observed(row) else None
    if not isinstance(lacks, list):
        lacks = list(OBSERVED_LACKS)
    return {"source": "observed", "site": owner, "lacks": [str(x) for x in lacks]}


def run_json(
    row: dict[str, Any],
    progress: float | None,
    *,
    as_of_ms: int | None = None,
    detail: bool = False,
    site: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A run as the API shows it."""
    tz = row["timezone"]
    out = {
        "id": int(row["id"]),
        "kind": row["kind"],
        "label": row["label"] or "",
        "status": row["status"],
        "progress": _round(progress, 4),
        "seed": row["seed"],
        "timezone": tz,
        "start": utc_iso(row["start_utc_ms"], tz),
        "end": utc_iso(row["end_utc_ms"], tz),
        "created_at": utc_iso(row["created_at_ms"], tz),
        "finished_at": utc_iso(row["finished_at_ms"], tz),
        "error": row["error"],
        "counts": {
            "visits": int(row["visits_count"]),
            "treatments": int(row["treatments_count"]),
            "events": int(row["events_count"]),
            "snapshots": int(row["snapshots_count"]),
        },
        **run_source(row, site),
    }
    if detail or as_of_ms is not None:
        out["as_of"] = utc_iso(as_of_ms, tz)
    if detail:
        out["parameters"] = row.get("parameters") or {}
    return out


def estimate_progress(connection: Connection, row: dict[str, Any]) -> float | None:
    """Progress of a run from its data when no job in this process tracks it."""
    if row["status"] == "complete":
        return 1.0
    if row["status"] == "failed" or row["kind"] == "live":
        return None
    newest = trace.data_end_ms(connection, row["id"])
    span = int(row["end_utc_ms"]) - int(row["start_utc_ms"])
    if newest is None or span <= 0:
        return 0.0
    return max(0.0, min(0.999, (int(newest) - int(row["start_utc_ms"])) / span))


# --------------------------------------------------------------------------- ranges


@dataclass(frozen=True)
class Range:
    start_ms: int
    end_ms: int
    start_local: int
    end_local: int


def resolve_range(
    run: RunContext,
    start: str | None,
    end: str | None,
    config: dict[str, Any],
    bucket: str | None = None,
) -> Range:
    """The query's ``[start, end)``: parsed, defaulted to the run's data, within the limits.

    With no ``start`` and more buckets than ``MAX_BUCKETS``, the range is the
    latest ``MAX_BUCKETS`` buckets; an explicit range that long is refused.
    """
    tz = run.tz
    end_ms = parse_instant(end, tz, "end") if end else run.data_end_ms
    start_ms = parse_instant(start, tz, "start") if start else min(run.start_ms, end_ms - 1)
    if end_ms <= start_ms:
        raise BadRequest("must be after start", where="end", start=start, end=end)
    max_days = config["MAX_RANGE_DAYS"]
    if end_ms - start_ms > max_days * MS_PER_DAY:
        if start:
            raise BadRequest(
                f"the range covers more than {max_days:g} days; ask for a shorter one",
                where="start",
                max_range_days=max_days,
            )
        start_ms = end_ms - int(max_days * MS_PER_DAY)
    start_local, end_local = local_ms(start_ms, tz), local_ms(end_ms, tz)
    if bucket is not None:
        limit = config["MAX_BUCKETS"]
        if count_buckets(start_local, end_local, bucket) > limit:
            if start:
                raise BadRequest(
                    f"{bucket} buckets over this range exceed {limit}; ask for a shorter "
                    "range or a coarser bucket",
                    where="bucket",
                    max_buckets=limit,
                )
            step = {"hour": MS_PER_HOUR, "day": MS_PER_DAY, "week": 7 * MS_PER_DAY}.get(
                bucket, 31 * MS_PER_DAY
            )
            start_ms = end_ms - (limit - 1) * step
            start_local = local_ms(start_ms, tz)
    return Range(start_ms, end_ms, start_local, end_local)


def _series_keys(run: RunContext, by: str) -> list[tuple[int | None, str, str]]:
    """(idx, key, name) of each series of a split."""
    if by == "specialty":
        return [(i, s["code"], s["name_en"]) for i, s in enumerate(run.catalog.specialties)]
    if by == "pathology":
        return [(i, p["code"], p["name_en"]) for i, p in enumerate(run.catalog.pathologies)]
    return [(None, "all", "All")]


def _axis(starts: list[int], tz: str) -> list[str]:
    return [local_iso(s, tz) for s in starts]


# --------------------------------------------------------------------------- arrivals


def arrival_rows(
    connection: Connection, run: RunContext, rng: Range, bucket: str, by: str
) -> list[dict[str, Any]]:
    """Arrival counts per bucket (and key); ``queries.arrivals`` reads rollups when it can."""
    group = None if by == "none" else by
    return queries.arrivals(connection, run.id, rng.start_ms, rng.end_ms, bucket=bucket, by=group)


def arrivals_payload(
    connection: Connection, run: RunContext, rng: Range, bucket: str, by: str
) -> dict[str, Any]:
    rows = arrival_rows(connection, run, rng, bucket, by)
    starts = bucket_starts(rng.start_local, rng.end_local, bucket, run.tz)
    key_col = None if by == "none" else f"{by}_idx"
    index = {
        (row.get(key_col) if key_col else None, int(row["bucket_local_ms"])): row for row in rows
    }
    series = []
    for idx, key, name in _series_keys(run, by):
        values = [int(index[(idx, s)]["arrivals"]) if (idx, s) in index else 0 for s in starts]
        series.append({"key": key, "name": name, "values": values, "total": sum(values)})
    return {
        "ok": True,
        "run_id": run.id,
        "timezone": run.tz,
        "bucket": bucket,
        "by": by,
        "start": utc_iso(rng.start_ms, run.tz),
        "end": utc_iso(rng.end_ms, run.tz),
        "buckets": _axis(starts, run.tz),
        "series": series,
        "total": sum(s["total"] for s in series),
    }


def hours_per_slot(rng: Range) -> list[int]:
    """How many times each local hour of the week (Monday 00:00 = 0) occurs in the range."""
    first = -(-rng.start_local // MS_PER_HOUR)  # first whole local hour starting in range
    last = -(-rng.end_local // MS_PER_HOUR)
    total = max(0, last - first)
    counts = [total // 168] * 168
    first_slot = (first + 72) % 168  # 1970-01-01 00:00 was a Thursday: hour 72 of its week
    for i in range(total % 168):
        counts[(first_slot + i) % 168] += 1
    return counts


def hour_of_week_payload(
    connection: Connection, run: RunContext, rng: Range, by: str
) -> dict[str, Any]:
    rows = queries.hour_of_week_profile(
        connection, run.id, rng.start_ms, rng.end_ms, by=None if by == "none" else by
    )
    key_col = None if by == "none" else f"{by}_idx"
    index = {(row.get(key_col) if key_col else None, int(row["hour_of_week"])): row for row in rows}
    slots = hours_per_slot(rng)
    series = []
    for idx, key, name in _series_keys(run, by):
        counts = [int(index[(idx, h)]["arrivals"]) if (idx, h) in index else 0 for h in range(168)]
        means = [_round(c / n, 4) if n else None for c, n in zip(counts, slots, strict=True)]
        series.append({"key": key, "name": name, "arrivals": counts, "mean_per_hour": means})
    return {
        "ok": True,
        "run_id": run.id,
        "by": by,
        "start": utc_iso(rng.start_ms, run.tz),
        "end": utc_iso(rng.end_ms, run.tz),
        "hours_per_slot": slots,
        "series": series,
    }


def seasonality_payload(connection: Connection, run: RunContext, rng: Range) -> dict[str, Any]:
    arrivals = arrivals_payload(connection, run, rng, "month", "pathology")
    month_of = [int(iso[5:7]) - 1 for iso in arrivals["buckets"]]
    n_months = [month_of.count(m) for m in range(12)]
    series = []
    pathologies = run.catalog.pathologies
    for s, p in zip(arrivals["series"], pathologies, strict=True):
        sums = [0] * 12
        for m, value in zip(month_of, s["values"], strict=True):
            sums[m] += value
        series.append(
            {
                "key": s["key"],
                "name": s["name"],
                "icd10": p["icd10"],
                "specialty": run.catalog.specialties[p["specialty_idx"]]["code"],
                "values": s["values"],
                "month_of_year_mean": [
                    _round(sums[m] / n_months[m], 3) if n_months[m] else None for m in range(12)
                ],
            }
        )
    return {
        "ok": True,
        "run_id": run.id,
        "start": arrivals["start"],
        "end": arrivals["end"],
        "months": arrivals["buckets"],
        "series": series,
    }


# --------------------------------------------------------------------------- census


def _values(values: Any) -> list[float | None]:
    return [_round(v, 3) for v in values]


def census_payload(connection: Connection, run: RunContext, rng: Range) -> dict[str, Any]:
    """Mean patients present per hour (``store.census.hourly``), on the run's local axis."""
    from hospiflow.store import census

    hours, values = census.hourly(connection, run.id, rng.start_ms, rng.end_ms)
    return {
        "ok": True,
        "run_id": run.id,
        "timezone": run.tz,
        "bucket": "hour",
        "start": utc_iso(rng.start_ms, run.tz),
        "end": utc_iso(rng.end_ms, run.tz),
        "buckets": [utc_iso(int(h), run.tz) for h in hours],
        "values": _values(values),
    }


def census_hour_of_week_payload(
    connection: Connection, run: RunContext, rng: Range
) -> dict[str, Any]:
    """Mean patients present per local hour of the week (``store.census.hour_of_week``)."""
    from hospiflow.store import census

    values = census.hour_of_week(connection, run.id, rng.start_ms, rng.end_ms)
    return {
        "ok": True,
        "run_id": run.id,
        "start": utc_iso(rng.start_ms, run.tz),
        "end": utc_iso(rng.end_ms, run.tz),
        "values": _values(values),
    }


# --------------------------------------------------------------------------- catalog


def run_catalog_payload(run: RunContext) -> dict[str, Any]:
    cat = run.catalog
    headcount = [0] * len(cat.specialties)
    for d in cat.doctors:
        if 0 <= d["specialty_idx"] < len(headcount):
            headcount[d["specialty_idx"]] += 1
    return {
        "ok": True,
        "run_id": run.id,
        "specialties": [{**s, "doctors": headcount[i]} for i, s in enumerate(cat.specialties)],
        "pathologies": [
            {
                "code": p["code"],
                "icd10": p["icd10"],
                "name_en": p["name_en"],
                "name_fr": p["name_fr"],
                "specialty": cat.specialties[p["specialty_idx"]]["code"],
                "mean_treatment_min": p["mean_treatment_min"],
            }
            for p in cat.pathologies
        ],
    }


def builtin_catalog_payload() -> dict[str, Any]:
    catalog = load_catalog(None)
    return {
        "ok": True,
        "specialties": [
            {"code": s.code, "name_en": s.name_en, "name_fr": s.name_fr}
            for s in catalog.specialties
        ],
        "pathologies": [
            {
                "code": p.code,
                "icd10": p.icd10,
                "name_en": p.name_en,
                "name_fr": p.name_fr,
                "specialty": p.specialty,
                "mean_treatment_min": p.mean_treatment_minutes,
                "base_weight": p.base_weight,
                "monthly_factors": list(p.monthly_factors),
            }
            for p in catalog.pathologies
        ],
    }


# --------------------------------------------------------------------------- doctors


def availability_payload(
    connection: Connection, run: RunContext, rng: Range, bucket: str, by: str
) -> dict[str, Any]:
    by_specialty = by == "specialty"
    rows = queries.doctor_availability(
        connection, run.id, rng.start_ms, rng.end_ms, bucket=bucket, by_specialty=by_specialty
    )
    starts = bucket_starts(rng.start_local, rng.end_local, bucket, run.tz)
    key_col = "specialty_idx" if by_specialty else None
    index = {
        (row.get(key_col) if key_col else None, int(row["bucket_local_ms"])): row for row in rows
    }
    series = []
    for idx, key, name in _series_keys(run, by):
        values: dict[str, list[float | None]] = {
            "doctors_on_duty": [],
            "doctors_busy": [],
            "waiting": [],
        }
        for s in starts:
            row = index.get((idx, s))
            for column, out in values.items():
                out.append(_round(row[column]) if row is not None else None)
        series.append({"key": key, "name": name, **values})
    return {
        "ok": True,
        "run_id": run.id,
        "bucket": bucket,
        "by": by,
        "start": utc_iso(rng.start_ms, run.tz),
        "end": utc_iso(rng.end_ms, run.tz),
        "buckets": _axis(starts, run.tz),
        "series": series,
    }


def doctors_hour_of_week_payload(
    connection: Connection, run: RunContext, rng: Range
) -> dict[str, Any]:
    rows = bucketed.utilisation_hour_of_week(connection, run.id, rng.start_ms, rng.end_ms)
    n = len(run.catalog.specialties)
    sums: dict[tuple[int | None, int], dict[str, Any]] = {
        (int(r["specialty_idx"]), int(r["hour_of_week"])): r for r in rows
    }
    series = []
    total = [[0.0, 0.0, 0.0, 0.0, False] for _ in range(168)]  # on duty, busy, waiting means
    for idx, key, name in _series_keys(run, "specialty"):
        util: list[float | None] = []
        on: list[float | None] = []
        busy: list[float | None] = []
        waiting: list[float | None] = []
        for h in range(168):
            r = sums.get((idx, h))
            if r is None or not r["samples"]:
                util.append(None)
                on.append(None)
                busy.append(None)
                waiting.append(None)
                continue
            k = float(r["samples"])
            util.append(_round(float(r["busy"]) / float(r["on_duty"]), 4) if r["on_duty"] else None)
            on.append(_round(float(r["on_duty"]) / k))
            busy.append(_round(float(r["busy"]) / k))
            waiting.append(_round(float(r["waiting"]) / k))
            t = total[h]
            t[0] += float(r["on_duty"]) / k
            t[1] += float(r["busy"]) / k
            t[2] += float(r["waiting"]) / k
            t[4] = True
        series.append(
            {
                "key": key,
                "name": name,
                "utilisation": util,
                "doctors_on_duty": on,
                "doctors_busy": busy,
                "waiting": waiting,
            }
        )
    if n:
        series.append(
            {
                "key": "all",
                "name": "All",
                "utilisation": [_round(t[1] / t[0], 4) if t[4] and t[0] else None for t in total],
                "doctors_on_duty": [_round(t[0]) if t[4] else None for t in total],
                "doctors_busy": [_round(t[1]) if t[4] else None for t in total],
                "waiting": [_round(t[2]) if t[4] else None for t in total],
            }
        )
    return {
        "ok": True,
        "run_id": run.id,
        "start": utc_iso(rng.start_ms, run.tz),
        "end": utc_iso(rng.end_ms, run.tz),
        "series": series,
    }


# --------------------------------------------------------------------------- waits, KPIs


WAIT_COLUMNS = (
    "wait_mean_min",
    "wait_p50_min",
    "wait_p90_min",
    "los_mean_min",
    "los_p50_min",
    "los_p90_min",
)


def waits_payload(
    connection: Connection,
    run: RunContext,
    rng: Range,
    bucket: str,
    by: str,
    target_minutes: float,
) -> dict[str, Any]:
    rows = bucketed.waits_by_bucket(
        connection,
        run.id,
        rng.start_ms,
        rng.end_ms,
        bucket=None if bucket == "none" else bucket,
        by=None if by == "none" else by,
        target_minutes=target_minutes,
    )
    if bucket == "none":
        starts = [rng.start_local]
        index = {(None if by == "none" else int(r["key"]), rng.start_local): r for r in rows}
        axis = [utc_iso(rng.start_ms, run.tz)]
    else:
        starts = bucket_starts(rng.start_local, rng.end_local, bucket, run.tz)
        index = {
            (None if by == "none" else int(r["key"]), int(r["bucket_local_ms"])): r for r in rows
        }
        axis = _axis(starts, run.tz)
    series = []
    for idx, key, name in _series_keys(run, by):
        out: dict[str, list[Any]] = {
            "visits": [],
            "treated": [],
            **{c: [] for c in WAIT_COLUMNS},
            "seen_within_target_share": [],
            "left_without_being_seen": [],
            "left_without_being_seen_rate": [],
        }
        for s in starts:
            r = index.get((idx, s))
            visits = int(r["visits"]) if r else 0
            treated = int(r["treated"]) if r else 0
            lwbs = int(r["left_without_being_seen"]) if r else 0
            out["visits"].append(visits)
            out["treated"].append(treated)
            for c in WAIT_COLUMNS:
                out[c].append(_round(r[c]) if r else None)
            out["seen_within_target_share"].append(
                _round(int(r["seen_within_target"]) / treated, 4) if r and treated else None
            )
            out["left_without_being_seen"].append(lwbs)
            out["left_without_being_seen_rate"].append(_round(lwbs / visits, 4) if visits else None)
        series.append({"key": key, "name": name, **out})
    return {
        "ok": True,
        "run_id": run.id,
        "bucket": bucket,
        "by": by,
        "start": utc_iso(rng.start_ms, run.tz),
        "end": utc_iso(rng.end_ms, run.tz),
        "target_minutes": target_minutes,
        "buckets": axis,
        "series": series,
    }


def kpis_payload(connection: Connection, run: RunContext, rng: Range) -> dict[str, Any]:
    raw = queries.kpis(connection, run.id, rng.start_ms, rng.end_ms)
    counts = ("arrivals", "treated", "left_without_being_seen", "admissions")
    kpis: dict[str, Any] = {
        k: (
            int(v)
            if k in counts
            else {level: _round(w, 2) for level, w in v.items()}
            if isinstance(v, dict)
            else _round(v, 4)
        )
        for k, v in raw.items()
    }
    seen_somewhere = int(raw["arrivals"]) - int(raw["left_without_being_seen"]) > 0
    if run.row["kind"] == "import" and kpis["treated"] == 0 and seen_somewhere:
        kpis["treated"] = None  # observed data without first-seen times: unknown, not zero
    return {
        "ok": True,
        "run_id": run.id,
        "start": utc_iso(rng.start_ms, run.tz),
        "end": utc_iso(rng.end_ms, run.tz),
        "kpis": kpis,
    }


# --------------------------------------------------------------------------- now


def status_rule(config: dict[str, Any]) -> StatusRule:
    """The shared saturation rule (:mod:`hospiflow.tension.status`) with this app's thresholds."""
    return StatusRule(
        amber_waiting_per_doctor=float(config["AMBER_WAITING_PER_DOCTOR"]),
        red_waiting_per_doctor=float(config["RED_WAITING_PER_DOCTOR"]),
    )


def usual_waiting_per_doctor(
    connection: Connection, run: RunContext, as_of: int, n: int
) -> list[float | None]:
    """Per specialty, the usual patients waiting per doctor at this hour of the week
    (``store.now``), over this run and the history run it continues."""
    from hospiflow.forecast.history import predecessor

    runs = [run.id]
    before = predecessor(connection, run.row)
    if before is not None:
        runs.append(before)
    usual = now.usual_waiting_per_doctor(connection, runs, as_of, run.tz, n)
    return [_round(u, 2) for u in usual]


def department_status_of(
    run: RunContext,
    specialties: list[dict[str, Any]],
    usual: list[float | None],
    config: dict[str, Any],
) -> dict[str, Any]:
    """The Now status: the shared rule on every specialty's queue, the one that set the
    department's level, in words with its numbers and the usual for this hour."""
    rule = status_rule(config)
    areas = [
        AreaState(
            code=s["specialty"],
            name=s["name"],
            waiting=s["waiting"],
            doctors_on_duty=s["doctors_on_duty"],
            longest_wait_min=s["longest_wait_min"],
            usual_waiting_per_doctor=usual[i],
        )
        for i, s in enumerate(specialties)
    ]
    return department_status(areas, rule)


def _simulated_extras(counts: dict[str, int], arrivals_last_hour: int) -> dict[str, Any]:
    """The keys an observed run's ``now`` adds, as far as a simulation's samples tell them."""
    return {
        "present": counts["waiting"] + counts["in_treatment"],
        "longest_present_min": None,
        "arrivals_last_hour": arrivals_last_hour,
        "usual_arrivals_this_hour": None,
    }


def now_payload(connection: Connection, run: RunContext, config: dict[str, Any]) -> dict[str, Any]:
    state = queries.current_state(connection, run.id)
    n = len(run.catalog.specialties)
    per = {int(r["specialty_idx"]): r for r in state}
    as_of = int(state[0]["time_ms"]) if state else None
    expected = [int(per[i]["waiting"]) if i in per else 0 for i in range(n)]
    seen = (
        now.activity(connection, run.id, run.start_ms, as_of, expected, RECENT_ARRIVALS)
        if as_of is not None
        else now.Activity([None] * n, [0] * n, [0] * n, [0.0] * n, [0] * n)
    )
    longest, started, arrived = (
        seen.longest_wait_min,
        seen.treatments_started_last_hour,
        seen.arrivals_last_hour,
    )
    wait_sum, wait_n = seen.wait_sum_min, seen.wait_count
    recent = [
        {
            "id": int(event_id),
            "time": utc_iso(time_ms, run.tz),
            "pathology": run.catalog.code("pathologies", pathology),
            "specialty": run.catalog.code("specialties", s),
        }
        for time_ms, _kind, _patient, pathology, s, event_id in seen.recent_arrivals
    ]
    specialties = []
    totals = {"waiting": 0, "in_treatment": 0, "doctors_on_duty": 0, "doctors_busy": 0}
    rule = status_rule(config)
    for i, specialty in enumerate(run.catalog.specialties):
        r = per.get(i)
        counts = {
            "waiting": int(r["waiting"]) if r else 0,
            "in_treatment": int(r["in_treatment"]) if r else 0,
            "doctors_on_duty": int(r["doctors_on_duty"]) if r else 0,
            "doctors_busy": int(r["doctors_busy"]) if r else 0,
        }
        for k, v in counts.items():
            totals[k] += v
        level = area_level(counts["waiting"], counts["doctors_on_duty"], rule) if r else "unknown"
        status = None if level == "unknown" else level
        specialties.append(
            {
                "specialty": specialty["code"],
                "name": specialty["name_en"],
                **counts,
                "doctors_free": max(0, counts["doctors_on_duty"] - counts["doctors_busy"]),
                "longest_wait_min": _round(longest[i], 1),
                "mean_wait_last_hour_min": _round(wait_sum[i] / wait_n[i], 1)
                if wait_n[i]
                else None,
                "treatments_started_last_hour": started[i],
                "utilisation": _round(counts["doctors_busy"] / counts["doctors_on_duty"], 4)
                if counts["doctors_on_duty"]
                else None,
                "saturation": status,
                **_simulated_extras(counts, arrived[i]),
            }
        )
    known = [x for x in longest if x is not None]
    total_n = sum(wait_n)
    usual: list[float | None] = (
        usual_waiting_per_doctor(connection, run, as_of, n) if as_of is not None else [None] * n
    )
    department = department_status_of(run, specialties, usual, config)
    return {
        "ok": True,
        "run_id": run.id,
        "status": run.row["status"],
        "timezone": run.tz,
        "source": "simulation",
        "as_of": utc_iso(as_of, run.tz),
        "not_in_data": [],
        "thresholds": {
            "amber": {"waiting_per_doctor": rule.amber_waiting_per_doctor},
            "red": {"waiting_per_doctor": rule.red_waiting_per_doctor},
            "rule": rule.rule,
            "basis": "doctors",
        },
        "department_status": department,
        "specialties": specialties,
        "totals": {
            **totals,
            "doctors_free": max(0, totals["doctors_on_duty"] - totals["doctors_busy"]),
            "longest_wait_min": _round(max(known), 1) if known else None,
            "mean_wait_last_hour_min": _round(sum(wait_sum) / total_n, 1) if total_n else None,
            "treatments_started_last_hour": sum(started),
            "utilisation": _round(totals["doctors_busy"] / totals["doctors_on_duty"], 4)
            if totals["doctors_on_duty"]
            else None,
            "saturation": None if department["level"] == "unknown" else department["level"],
            **_simulated_extras(totals, sum(arrived)),
        },
        "recent_arrivals": recent,
    }


# --------------------------------------------------------------------------- lists


def encode_cursor(position: tuple[int, int] | None) -> str | None:
    """An opaque cursor for a keyset position ``(time_ms, id)``."""
    if position is None:
        return None
    raw = f"{position[0]}.{position[1]}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> tuple[int, int] | None:
    if cursor is None:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        time_text, id_text = base64.urlsafe_b64decode(padded.encode("ascii")).decode().split(".")
        position = (int(time_text), int(id_text))
    except (ValueError, UnicodeError):
        raise BadRequest("is not a cursor this API returned", where="cursor") from None
    if not all(abs(p) <= BIGINT for p in position):
        raise BadRequest("is not a cursor this API returned", where="cursor")
    return position


def parse_kinds(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    kinds = []
    for name in (part.strip().lower() for part in text.split(",")):
        if name not in KIND_CODES:
            raise BadRequest(
                f"unknown event kind {name!r} (known: {', '.join(KIND_CODES)})", where="kind"
            )
        kinds.append(KIND_CODES[name])
    return tuple(kinds)


def treatment_item(row: dict[str, Any], run: RunContext) -> dict[str, Any]:
    cat, tz = run.catalog, run.tz
    return {
        "id": int(row["id"]),
        "patient_no": int(row["patient_no"]),
        "doctor": cat.code("doctors", row["doctor_idx"]),
        "specialty": cat.code("specialties", row["specialty_idx"]),
        "pathology": cat.code("pathologies", row["pathology_idx"]),
        "arrival": utc_iso(row["arrival_ms"], tz),
        "start": utc_iso(row["start_ms"], tz),
        "end": utc_iso(row["end_ms"], tz),
        "wait_min": _round(row["wait_min"], 4),
        "duration_min": _round(row["duration_min"], 4),
    }


def event_item(row: dict[str, Any], run: RunContext) -> dict[str, Any]:
    cat = run.catalog
    return {
        "id": int(row["id"]),
        "time": utc_iso(row["time_ms"], run.tz),
        "kind": KIND_NAMES.get(int(row["kind"]), "unknown"),
        "patient_no": None if row["patient_no"] is None else int(row["patient_no"]),
        "pathology": cat.code("pathologies", row["pathology_idx"]),
        "specialty": cat.code("specialties", row["specialty_idx"]),
        "doctor": cat.code("doctors", row["doctor_idx"]),
    }


TREATMENT_CSV = (
    "id",
    "patient_no",
    "doctor",
    "specialty",
    "pathology",
    "arrival",
    "start",
    "end",
    "wait_min",
    "duration_min",
)
EVENT_CSV = ("id", "time", "kind", "patient_no", "pathology", "specialty", "doctor")
