"""The ``now`` answer for a site's observed visits, which have no trace and no state samples.

The state "now" is worked out from the visits, as of the data's end (the
newest arrival or departure, ``t``):

* present: arrived at or before ``t`` and not yet gone (``arrival <= t <
  departure``), or with no departure recorded and arrived less than
  ``OPEN_VISIT_HOURS`` before ``t`` (an extract cut while they were there);
* waiting: present and not yet seen by a doctor (no first-seen time, or one
  after ``t``), only when the site's data have first-seen times at all
  (else null: the data cannot tell);
* arrivals in the last hour against the usual for this hour of the week: the
  mean arrivals of the same local clock hour (the one holding ``t - 30 min``)
  over the previous ``USUAL_WEEKS`` weeks the data cover, from the hourly
  rollup;
* saturation (totals only, the rule in ``thresholds``): patients present
  against the site's declared treatment spaces (amber at 85 %, red at 100 %),
  or without a capacity against the site's own 90th and 97th percentiles of
  hourly census over the last year (``store.census.hourly``).

Doctor figures are null and named in ``not_in_data``: observed data never
hold rosters.

A site fed live (MLLP or REST push, ``hospiflow.feeds``) is described as of
*now* rather than its data end, and the answer gains ``feed``: when the last
message came, how long ago, and ``stale`` once that is over
``FEED_STALE_SECONDS`` (the feed has stopped: the figures may be out of date),
plus ``admitted_waiting`` in the totals: patients an A01 admitted who have
not left the department (waiting for a bed), with the longest such wait.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sqlalchemy.engine import Connection

from hospiflow.store import feeds as store_feeds
from hospiflow.store import observed as store
from hospiflow.store import sites
from hospiflow.store.timeconv import MS_PER_DAY, MS_PER_HOUR, MS_PER_MIN, now_ms
from hospiflow.tension.status import CENSUS_DAYS, census_status, census_thresholds
from hospiflow.web.data import RECENT_ARRIVALS, RunContext, _round
from hospiflow.web.timeutil import local_ms, utc_iso

MAX_STAY_MS = 73 * MS_PER_HOUR  # the importer refuses stays over 72 h
OPEN_VISIT_HOURS = 24
USUAL_WEEKS = 8
WEEK_MS = 7 * MS_PER_DAY
NOT_IN_DATA = ["doctors"]
FEED_STALE_SECONDS = 300.0  # default of the FEED_STALE_SECONDS setting


def feed_json(
    connection: Connection, run: RunContext, config: dict[str, Any], now: int
) -> dict[str, Any] | None:
    """The live feed's health, or None for a site that only has imports."""
    feed = store_feeds.feed_of_run(connection, run.id)
    if feed is None:
        return None
    last, messages = feed
    limit = float(config.get("FEED_STALE_SECONDS", FEED_STALE_SECONDS))
    ago = max(0.0, (now - last) / 1000)
    return {
        "last_message": utc_iso(last, run.tz),
        "seconds_since_last_message": round(ago, 1),
        "stale": ago > limit,
        "stale_after_seconds": limit,
        "messages": messages,
    }


def is_live(connection: Connection, run_id: int) -> bool:
    """Whether a feed writes into this run (its answers then change with the clock)."""
    return store_feeds.feed_of_run(connection, run_id) is not None


def usual_arrivals(
    connection: Connection, run: RunContext, as_of: int, n: int
) -> tuple[list[float | None], float | None, int]:
    """Mean arrivals per specialty (and in total) in this local hour of the week over the
    previous ``USUAL_WEEKS`` weeks the data cover; and how many weeks that is."""
    slot = (local_ms(as_of - 30 * MS_PER_MIN, run.tz) // MS_PER_HOUR) * MS_PER_HOUR
    first = (local_ms(run.start_ms, run.tz) // MS_PER_HOUR) * MS_PER_HOUR
    hours = [slot - k * WEEK_MS for k in range(1, USUAL_WEEKS + 1)]
    hours = [h for h in hours if h >= first]
    if not hours:
        return [None] * n, None, 0
    rows = store.hourly_arrivals(
        connection, run.id, as_of - USUAL_WEEKS * WEEK_MS - 3 * MS_PER_HOUR, as_of, hours
    )
    sums = [0] * n
    for _hour, s, arrivals in rows:
        if 0 <= s < n:
            sums[s] += arrivals
    weeks = len(hours)
    return [_round(x / weeks, 2) for x in sums], _round(sum(sums) / weeks, 2), weeks


_THRESHOLDS: dict[tuple[str, int, int, int], tuple[float | None, float | None, str, str]] = {}
THRESHOLD_MINUTES = 10  # a live site's census percentiles, reused this long


def _thresholds(
    connection: Connection, run: RunContext, as_of: int, live: bool
) -> tuple[float | None, float | None, str, str]:
    """The thresholds of ``_thresholds_now``; a fed site's once per 10 minutes.

    A fed site's ``now`` is rebuilt on every committed message (the SSE stream);
    a year of hourly census barely moves in ten minutes, and reading it each time
    was most of that rebuild.
    """
    if not live:
        return _thresholds_now(connection, run, as_of)
    store_id = str(connection.engine.url)
    key = (
        store_id,
        run.id,
        int(run.row["created_at_ms"]),
        as_of // (THRESHOLD_MINUTES * MS_PER_MIN),
    )
    found = _THRESHOLDS.get(key)
    if found is None:
        if len(_THRESHOLDS) > 1000:
            _THRESHOLDS.clear()
        found = _THRESHOLDS[key] = _thresholds_now(connection, run, as_of)
    return found


def _thresholds_now(
    connection: Connection, run: RunContext, as_of: int
) -> tuple[float | None, float | None, str, str]:
    """(amber, red) patients-present thresholds, the basis and the rule in words
    (:func:`hospiflow.tension.status.census_thresholds`, the forecast's too)."""
    site = sites.site_of_run(connection, run.id)
    capacity = site.get("capacity_spaces") if site else None
    if capacity:
        return census_thresholds(capacity, np.empty(0))
    from hospiflow.store import census

    start = max(run.start_ms, as_of - CENSUS_DAYS * MS_PER_DAY)
    _hours, values = census.hourly(connection, run.id, start, as_of)
    return census_thresholds(None, values)


def _level(present: int, amber: float | None, red: float | None) -> str | None:
    if amber is None or red is None:
        return None
    if present >= red:
        return "red"
    return "amber" if present >= amber else "green"


class _Tally:
    """What one specialty (or the total) holds at ``as_of``."""

    def __init__(self) -> None:
        self.present = 0
        self.waiting = 0
        self.longest_present: float | None = None
        self.longest_wait: float | None = None
        self.arrivals_last_hour = 0
        self.started = 0
        self.wait_sum = 0.0

    def item(self, seen_known: bool, usual: float | None) -> dict[str, Any]:
        return {
            "waiting": self.waiting if seen_known else None,
            "in_treatment": self.present - self.waiting if seen_known else None,
            "doctors_on_duty": None,
            "doctors_busy": None,
            "doctors_free": None,
            "longest_wait_min": _round(self.longest_wait, 1) if seen_known else None,
            "mean_wait_last_hour_min": _round(self.wait_sum / self.started, 1)
            if self.started
            else None,
            "treatments_started_last_hour": self.started if seen_known else None,
            "utilisation": None,
            "saturation": None,
            "present": self.present,
            "longest_present_min": _round(self.longest_present, 1),
            "arrivals_last_hour": self.arrivals_last_hour,
            "usual_arrivals_this_hour": usual,
        }


def _tally(rows: list[store.VisitRow], as_of: int, n: int, seen_known: bool) -> list[_Tally]:
    """Per specialty, then the total (last)."""
    tallies = [_Tally() for _ in range(n + 1)]
    hour_ago = as_of - MS_PER_HOUR
    open_since = as_of - OPEN_VISIT_HOURS * MS_PER_HOUR
    for _id, arrival, departure, wait, s, _p in rows:
        targets = (tallies[s], tallies[n]) if 0 <= s < n else (tallies[n],)
        seen = None if wait is None else arrival + wait * MS_PER_MIN
        if departure is None:
            here = open_since < arrival <= as_of
        else:
            here = arrival <= as_of < departure
        waits = here and seen_known and (seen is None or seen > as_of)
        for t in targets:
            if arrival > hour_ago:
                t.arrivals_last_hour += 1
            if wait is not None and seen is not None and hour_ago < seen <= as_of:
                t.started += 1
                t.wait_sum += float(wait)
            if not here:
                continue
            t.present += 1
            minutes = (as_of - arrival) / MS_PER_MIN
            t.longest_present = max(t.longest_present or 0.0, minutes)
            if waits:
                t.waiting += 1
                t.longest_wait = max(t.longest_wait or 0.0, minutes)
    return tallies


def now_payload(connection: Connection, run: RunContext, config: dict[str, Any]) -> dict[str, Any]:
    """The ``now`` answer of an observed run (same keys as a simulated one; null if unknown)."""
    # the doctors' thresholds do not apply: saturation is on patients present
    specialties = run.catalog.specialties
    n = len(specialties)
    now = now_ms()
    feed = feed_json(connection, run, config, now)
    as_of = int(run.row["end_utc_ms"]) if int(run.row["visits_count"]) else None
    if feed is not None:
        as_of = max(as_of or now, now)  # a live site is described as it is now
    seen_known = False
    rows: list[store.VisitRow] = []
    usual: list[float | None] = [None] * n
    usual_total = None
    amber = red = None
    basis, rule = "none", "no visits yet"
    if as_of is not None:
        rows = store.visits_arrived(connection, run.id, as_of - MAX_STAY_MS, as_of)
        seen_known = store.has_first_seen(connection, run.id)
        usual, usual_total, _weeks = usual_arrivals(connection, run, as_of, n)
        amber, red, basis, rule = _thresholds(connection, run, as_of, feed is not None)
    tallies = _tally(rows, as_of or 0, n, seen_known)
    total = tallies[n].item(seen_known, usual_total)
    if feed is not None and as_of is not None:
        boarding = store_feeds.admitted_present(
            connection, run.id, as_of - OPEN_VISIT_HOURS * MS_PER_HOUR, as_of
        )
        total["admitted_waiting"] = len(boarding)
        total["longest_admitted_wait_min"] = (
            _round((as_of - min(a for a, _s in boarding)) / MS_PER_MIN, 1) if boarding else None
        )
    total["saturation"] = _level(tallies[n].present, amber, red) if as_of is not None else None
    recent = [
        {
            "id": int(visit_id),
            "time": utc_iso(arrival, run.tz),
            "pathology": run.catalog.code("pathologies", pathology),
            "specialty": run.catalog.code("specialties", s),
        }
        for visit_id, arrival, _d, _w, s, pathology in reversed(rows[-RECENT_ARRIVALS:])
    ]
    limits = {"amber": {"patients_present": amber}, "red": {"patients_present": red}}
    return {
        "ok": True,
        "run_id": run.id,
        "status": run.row["status"],
        "timezone": run.tz,
        "source": "observed",
        "as_of": utc_iso(as_of, run.tz),
        "not_in_data": [*NOT_IN_DATA, *([] if seen_known else ["first_seen"])],
        "thresholds": {**limits, "rule": rule, "basis": basis},
        "specialties": [
            {"specialty": s["code"], "name": s["name_en"], **tallies[i].item(seen_known, usual[i])}
            for i, s in enumerate(specialties)
        ],
        "totals": total,
        "department_status": census_status(
            tallies[n].present if as_of is not None else None, amber, red, basis, rule
        ),
        "recent_arrivals": recent,
        "feed": feed,
    }
