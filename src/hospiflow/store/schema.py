"""The store's schema: every table and index, in one place (SQLAlchemy Core).

Conventions, chosen so the same SQL runs fast on SQLite and PostgreSQL:

* **Time** is an integer count of milliseconds since 1970-01-01T00:00Z
  (columns ending in ``_ms``). Integers sort and compare correctly on both
  backends, index compactly, and need no time-zone handling in SQL. The API
  renders them as ISO 8601 with an offset (``hospiflow.store.timeconv``).
* Columns ending in ``_local_ms`` hold the *hospital's wall-clock* time encoded
  the same way (UTC ms + the zone's offset at that instant, DST included).
  Calendar buckets (hour, day, week, month, hour of week) are plain integer
  arithmetic on them, so no time-zone database is needed inside SQL.
* **Catalog per run**: ``specialties``, ``pathologies`` and ``doctors`` are
  keyed by ``(run_id, idx)``, where ``idx`` is the simulator's index into
  ``RunInfo``'s tuples. A run's catalog can differ from another's (a custom
  ``pathologies.toml``, an import with its own codes) and the writer needs no
  lookup to translate indices. Codes (``code``) are stable across runs.
* Enumerations are small integers: ``events.kind`` is
  ``hospiflow.simulation.events.EventKind``, ``visits.disposition`` is
  ``Disposition``; ``-1`` "not applicable" indices are stored as NULL.
* Durations that the simulator measures exactly (``wait_min``,
  ``duration_min``, ``los_min``) are stored as floats beside the timestamps,
  so aggregates agree with the simulator's own reports to the last digit.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# A 64-bit surrogate key that is SQLite's rowid (``INTEGER PRIMARY KEY``) there.
RowId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
Json = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

RUN_KINDS = ("simulation", "import", "live")
RUN_STATUSES = ("running", "complete", "failed")


def _run_fk() -> sa.ForeignKey:
    return sa.ForeignKey("runs.id", ondelete="CASCADE")


runs = sa.Table(
    "runs",
    metadata,
    sa.Column("id", RowId, primary_key=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("label", sa.Text, nullable=False, server_default=""),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("parameters", Json, nullable=False),
    sa.Column("seed", sa.BigInteger),
    sa.Column("timezone", sa.Text, nullable=False),
    sa.Column("start_utc_ms", sa.BigInteger, nullable=False),
    sa.Column("end_utc_ms", sa.BigInteger, nullable=False),
    sa.Column("snapshot_step_min", sa.Float),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    sa.Column("finished_at_ms", sa.BigInteger),
    sa.Column("error", sa.Text),
    sa.Column("visits_count", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("treatments_count", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("events_count", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("snapshots_count", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("writer", sa.Text),  # host:pid writing a running run (its lease, 0008)
    sa.Column("heartbeat_ms", sa.BigInteger),  # the writer's last sign of life
    sa.Column("clock_min", sa.Float),  # a live run: every record before it is committed (0009)
    sa.Column("continues_run", sa.Integer),  # a live run: the history run it continues
    # a site's observed run: the next free patient number (``store.patient_numbers``, 0012)
    sa.Column("next_patient_no", sa.BigInteger),
    sa.CheckConstraint(f"kind IN {RUN_KINDS!r}", name="kind"),
    sa.CheckConstraint(f"status IN {RUN_STATUSES!r}", name="status"),
    sqlite_autoincrement=True,  # never reuse a deleted run's id: URLs name runs
)
sa.Index("ix_runs_status", runs.c.status, runs.c.id)

specialties = sa.Table(
    "specialties",
    metadata,
    sa.Column("run_id", RowId, _run_fk(), primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True),
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.UniqueConstraint("run_id", "code"),
)

pathologies = sa.Table(
    "pathologies",
    metadata,
    sa.Column("run_id", RowId, _run_fk(), primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True),
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("icd10", sa.Text, nullable=False),
    sa.Column("specialty_idx", sa.Integer, nullable=False),
    sa.Column("mean_treatment_min", sa.Float),
    sa.UniqueConstraint("run_id", "code"),
    sa.ForeignKeyConstraint(["run_id", "specialty_idx"], ["specialties.run_id", "specialties.idx"]),
)

doctors = sa.Table(
    "doctors",
    metadata,
    sa.Column("run_id", RowId, _run_fk(), primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True),
    sa.Column("code", sa.Text, nullable=False),
    sa.Column("specialty_idx", sa.Integer, nullable=False),
    sa.Column("shift", sa.Text, nullable=False, server_default=""),
    sa.ForeignKeyConstraint(["run_id", "specialty_idx"], ["specialties.run_id", "specialties.idx"]),
)

visits = sa.Table(
    "visits",
    metadata,
    sa.Column("id", RowId, primary_key=True),
    sa.Column("run_id", RowId, _run_fk(), nullable=False),
    sa.Column("patient_no", sa.BigInteger, nullable=False),
    # A pseudonym, never a raw identifier: the importer hashes real ones.
    sa.Column("pseudonym", sa.Text, nullable=False),
    sa.Column("pathology_idx", sa.Integer),
    sa.Column("icd10", sa.Text),
    sa.Column("specialty_idx", sa.Integer, nullable=False),
    sa.Column("acuity", sa.SmallInteger),
    sa.Column("arrival_ms", sa.BigInteger, nullable=False),
    sa.Column("arrival_local_ms", sa.BigInteger, nullable=False),
    sa.Column("departure_ms", sa.BigInteger),
    sa.Column("wait_min", sa.Float),  # NULL: never seen by a doctor
    sa.Column("los_min", sa.Float),
    sa.Column("disposition", sa.SmallInteger),
    # observed visits only (imports): what pseudonymised data may keep
    sa.Column("visit_key", sa.Text),  # keyed pseudonym of the source's visit id, or content key
    sa.Column("diagnosis_system", sa.String(8)),  # NULL: ICD-10 (simulations)
    sa.Column("age_years", sa.SmallInteger),
    sa.Column("sex", sa.String(1)),
    sa.Column("area", sa.String(3)),  # postcode's first two characters
    sa.Column("doctor_key", sa.Text),  # keyed pseudonym of the doctor
    # admitted patients: when the ward bed was asked for (boarding until departure_ms)
    sa.Column("bed_request_ms", sa.BigInteger),
)
# The run's longest stay in one index probe: census reads start that far back.
sa.Index("ix_visits_stay", visits.c.run_id, visits.c.los_min)
# A re-import recognises its visits. Partial: the simulator's visits (no key) cost
# this index nothing when a run is stored.
sa.Index(
    "ix_visits_key",
    visits.c.run_id,
    visits.c.visit_key,
    unique=True,
    sqlite_where=visits.c.visit_key.is_not(None),
    postgresql_where=visits.c.visit_key.is_not(None),
)
# Range scans by arrival; the extra columns make bucketed counts, wait and
# length-of-stay percentiles and the KPIs over a range index-only.
sa.Index(
    "ix_visits_arrival",
    visits.c.run_id,
    visits.c.arrival_ms,
    visits.c.arrival_local_ms,
    visits.c.specialty_idx,
    visits.c.pathology_idx,
    visits.c.wait_min,
    visits.c.los_min,
    visits.c.disposition,
)

treatments = sa.Table(
    "treatments",
    metadata,
    sa.Column("id", RowId, primary_key=True),
    sa.Column("run_id", RowId, _run_fk(), nullable=False),
    sa.Column("patient_no", sa.BigInteger, nullable=False),
    sa.Column("doctor_idx", sa.Integer),
    sa.Column("specialty_idx", sa.Integer, nullable=False),
    sa.Column("pathology_idx", sa.Integer),
    sa.Column("arrival_ms", sa.BigInteger, nullable=False),
    sa.Column("start_ms", sa.BigInteger, nullable=False),
    sa.Column("end_ms", sa.BigInteger, nullable=False),
    sa.Column("wait_min", sa.Float, nullable=False),
    sa.Column("duration_min", sa.Float, nullable=False),
)
# Keyset pagination and range aggregates on treatment start.
sa.Index("ix_treatments_start", treatments.c.run_id, treatments.c.start_ms, treatments.c.id)
# treatments.csv lists treatments in arrival (patient number) order.
sa.Index("ix_treatments_patient", treatments.c.run_id, treatments.c.patient_no)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", RowId, primary_key=True),
    sa.Column("run_id", RowId, _run_fk(), nullable=False),
    sa.Column("time_ms", sa.BigInteger, nullable=False),
    sa.Column("kind", sa.SmallInteger, nullable=False),
    sa.Column("patient_no", sa.BigInteger),
    sa.Column("pathology_idx", sa.Integer),
    sa.Column("specialty_idx", sa.Integer),
    sa.Column("doctor_idx", sa.Integer),
)
# Keyset pagination on (time, id); the id tie-breaks simultaneous events.
sa.Index("ix_events_time", events.c.run_id, events.c.time_ms, events.c.id)

state_snapshots = sa.Table(
    "state_snapshots",
    metadata,
    sa.Column("id", RowId, primary_key=True),
    sa.Column("run_id", RowId, _run_fk(), nullable=False),
    sa.Column("time_ms", sa.BigInteger, nullable=False),
    sa.Column("local_ms", sa.BigInteger, nullable=False),
    sa.Column("specialty_idx", sa.Integer, nullable=False),
    sa.Column("waiting", sa.Integer, nullable=False),
    sa.Column("in_treatment", sa.Integer, nullable=False),
    sa.Column("doctors_on_duty", sa.Integer, nullable=False),
    sa.Column("doctors_busy", sa.Integer, nullable=False),
)
sa.Index(
    "ix_snapshots_time",
    state_snapshots.c.run_id,
    state_snapshots.c.time_ms,
    state_snapshots.c.specialty_idx,
)

# The patient flow's resources at each snapshot step (simulated runs with [flow]):
# a treatment area ("space") or a ward ("ward"), its capacity (0: unlimited),
# how many are in use and the queue (patients waiting for a space; boarders).
resource_snapshots = sa.Table(
    "resource_snapshots",
    metadata,
    sa.Column("id", RowId, primary_key=True),
    sa.Column("run_id", RowId, _run_fk(), nullable=False),
    sa.Column("time_ms", sa.BigInteger, nullable=False),
    sa.Column("local_ms", sa.BigInteger, nullable=False),
    sa.Column("resource", sa.String(8), nullable=False),
    sa.Column("idx", sa.Integer, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("capacity", sa.Integer, nullable=False),
    sa.Column("in_use", sa.Integer, nullable=False),
    sa.Column("queue", sa.Integer, nullable=False),
)
sa.Index(
    "ix_resource_snapshots_time",
    resource_snapshots.c.run_id,
    resource_snapshots.c.time_ms,
    resource_snapshots.c.resource,
    resource_snapshots.c.idx,
)

forecasts = sa.Table(
    "forecasts",
    metadata,
    sa.Column("id", RowId, primary_key=True),
    sa.Column("run_id", RowId, _run_fk(), nullable=False),
    sa.Column("generated_at_ms", sa.BigInteger, nullable=False),
    sa.Column("target_ms", sa.BigInteger, nullable=False),
    sa.Column("specialty_idx", sa.Integer),  # NULL: the whole hospital
    sa.Column("metric", sa.Text, nullable=False, server_default="arrivals"),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("mean", sa.Float, nullable=False),
    sa.Column("quantiles", Json, nullable=False),
)
sa.Index(
    "ix_forecasts_target",
    forecasts.c.run_id,
    forecasts.c.model,
    forecasts.c.target_ms,
    forecasts.c.specialty_idx,
)
# A run's forecasts are read by kind of value (arrivals, daily arrivals, saturation,
# staffing, occupancy) over a range of target hours.
sa.Index("ix_forecasts_metric", forecasts.c.run_id, forecasts.c.metric, forecasts.c.target_ms)

FORECAST_KINDS = ("forecast", "backtest")

# One row per forecast run (``hospiflow forecast run``, live refreshes) and per
# backtest of a run: when, from which origin, which model, and a JSON payload
# (settings, the risk calibration, backtest scores). The ``forecasts`` rows of a
# forecast run carry its ``generated_at_ms``.
forecast_runs = sa.Table(
    "forecast_runs",
    metadata,
    sa.Column("id", RowId, primary_key=True),
    sa.Column("run_id", RowId, _run_fk(), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("generated_at_ms", sa.BigInteger, nullable=False),
    sa.Column("origin_ms", sa.BigInteger, nullable=False),  # first forecast hour (UTC)
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("payload", Json, nullable=False),
    sa.CheckConstraint(f"kind IN {FORECAST_KINDS!r}", name="kind"),
)
sa.Index(
    "ix_forecast_runs_run",
    forecast_runs.c.run_id,
    forecast_runs.c.kind,
    forecast_runs.c.generated_at_ms,
)

# Rollups, written in the run's last transaction (``store.rollups``). For a
# simulation they hold the simulator's own aggregates (``simulation.recorder``,
# raw floats), so ``store.reports`` rebuilds its five CSV reports byte for byte;
# for other sources (imports) they are derived from the visits with SQL and the
# columns SQL cannot know (time-averaged state, percentiles) are NULL. All keep
# every bucket of a simulation, empty ones included (the reports list them).
# SQLite stores them WITHOUT ROWID: the primary key is the table's order, so a
# range of buckets is one contiguous read.
hourly_specialty = sa.Table(
    "hourly_specialty",
    metadata,
    sa.Column("run_id", RowId, _run_fk(), primary_key=True),
    sa.Column("hour_ms", sa.BigInteger, primary_key=True),  # UTC start of the hour
    sa.Column("specialty_idx", sa.Integer, primary_key=True),
    sa.Column("hour_local_ms", sa.BigInteger, nullable=False),  # its local wall-clock start
    sa.Column("arrivals", sa.Integer, nullable=False),
    sa.Column("treated", sa.Integer, nullable=False),
    sa.Column("left_without_being_seen", sa.Integer, nullable=False),
    sa.Column("wait_sum_min", sa.Float, nullable=False),
    sa.Column("los_sum_min", sa.Float, nullable=False),
    sa.Column("mean_wait_min", sa.Float),
    # exact time averages over the hour (simulation only)
    sa.Column("waiting", sa.Float),
    sa.Column("in_treatment", sa.Float),
    sa.Column("doctors_on_duty", sa.Float),
    sqlite_with_rowid=False,
)

daily_pathology = sa.Table(
    "daily_pathology",
    metadata,
    sa.Column("run_id", RowId, _run_fk(), primary_key=True),
    sa.Column("day_local_ms", sa.BigInteger, primary_key=True),  # local midnight
    sa.Column("pathology_idx", sa.Integer, primary_key=True),
    sa.Column("specialty_idx", sa.Integer, nullable=False),
    sa.Column("month_local_ms", sa.BigInteger, nullable=False),  # first day of its month
    sa.Column("arrivals", sa.Integer, nullable=False),
    sa.Column("treated", sa.Integer, nullable=False),
    sa.Column("left_without_being_seen", sa.Integer, nullable=False),
    sa.Column("wait_sum_min", sa.Float, nullable=False),
    sa.Column("los_sum_min", sa.Float, nullable=False),
    sa.Column("mean_wait_min", sa.Float),
    sa.Column("p90_wait_min", sa.Float),
    sa.Column("mean_treatment_min", sa.Float),
    sqlite_with_rowid=False,
)

monthly_specialty = sa.Table(
    "monthly_specialty",
    metadata,
    sa.Column("run_id", RowId, _run_fk(), primary_key=True),
    sa.Column("month_local_ms", sa.BigInteger, primary_key=True),
    sa.Column("specialty_idx", sa.Integer, primary_key=True),
    sa.Column("arrivals", sa.Integer, nullable=False),
    sa.Column("treated", sa.Integer, nullable=False),
    sa.Column("left_without_being_seen", sa.Integer, nullable=False),
    sa.Column("mean_wait_min", sa.Float),
    sa.Column("p50_wait_min", sa.Float),
    sa.Column("p90_wait_min", sa.Float),
    sa.Column("mean_treatment_min", sa.Float),
    sa.Column("mean_waiting", sa.Float),
    sa.Column("doctor_hours", sa.Float),
    sa.Column("busy_hours", sa.Float),
    sqlite_with_rowid=False,
)

performance_metrics = sa.Table(
    "performance_metrics",
    metadata,
    sa.Column("run_id", RowId, _run_fk(), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),  # the report's row order
    sa.Column("metric", sa.Text, nullable=False),
    sa.Column("scope", sa.Text, nullable=False),  # 'all' or a specialty code
    sa.Column("value", sa.Float),
    sa.Column("unit", sa.Text, nullable=False),
    sa.Column("ci95_low", sa.Float),
    sa.Column("ci95_high", sa.Float),
    sa.Column("replications", sa.Integer, nullable=False, server_default="1"),
    sqlite_with_rowid=False,
)

# -- sites: a hospital's own data ------------------------------------------------------

# A site is a hospital. Its observed visits (imports, feeds) form one run of kind
# "import" (``run_id``) that grows with each import, so every view reads it
# exactly as it reads a simulated run.
sites = sa.Table(
    "sites",
    metadata,
    sa.Column("id", RowId, primary_key=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    sa.Column("timezone", sa.Text, nullable=False),
    sa.Column("code", sa.Text),  # FINESS, ODS, ...
    sa.Column("capacity_spaces", sa.Integer),  # treatment spaces (boxes), when declared
    sa.Column("roster", Json),  # doctors on duty by specialty and shift, when declared
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    sa.Column("run_id", RowId, sa.ForeignKey("runs.id", ondelete="SET NULL")),
    sqlite_autoincrement=True,
)

IMPORT_STATUSES = ("complete", "failed")

# One row per import: what was read, what came in, what was set aside.
import_batches = sa.Table(
    "import_batches",
    metadata,
    sa.Column("id", RowId, primary_key=True),
    sa.Column("site_id", RowId, sa.ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    sa.Column("format", sa.Text, nullable=False),
    sa.Column("files", Json, nullable=False),  # file names only, never their content
    sa.Column("actor", sa.Text, nullable=False, server_default=""),
    sa.Column("started_at_ms", sa.BigInteger, nullable=False),
    sa.Column("finished_at_ms", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("summary", Json, nullable=False),  # read, imported, duplicates, by reason...
    sa.CheckConstraint(f"status IN {IMPORT_STATUSES!r}", name="status"),
)
sa.Index("ix_import_batches_site", import_batches.c.site_id, import_batches.c.id)

# Rows, resources or messages an import could not take, with where and why.
# ``raw`` has identifiers redacted by the reader.
quarantine = sa.Table(
    "quarantine",
    metadata,
    sa.Column("id", RowId, primary_key=True),
    sa.Column("site_id", RowId, sa.ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    sa.Column(
        "batch_id", RowId, sa.ForeignKey("import_batches.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("location", sa.Text, nullable=False),
    sa.Column("field", sa.Text),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("raw", sa.Text, nullable=False, server_default=""),
    sa.Column("day_local_ms", sa.BigInteger),  # the visit's local day when it was readable
)
sa.Index("ix_quarantine_site", quarantine.c.site_id, quarantine.c.reason, quarantine.c.id)
sa.Index("ix_quarantine_batch", quarantine.c.batch_id, quarantine.c.id)

# Arrival counts of a site that gives only counts (a forecast-only site).
hourly_counts = sa.Table(
    "hourly_counts",
    metadata,
    sa.Column("run_id", RowId, _run_fk(), primary_key=True),
    sa.Column("hour_ms", sa.BigInteger, primary_key=True),
    sa.Column("hour_local_ms", sa.BigInteger, nullable=False),
    sa.Column("arrivals", sa.Integer, nullable=False),
    sqlite_with_rowid=False,
)

# Who imported, exported or deleted what, when, and how many rows.
audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", RowId, primary_key=True),
    sa.Column("at_ms", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),
    sa.Column("target", sa.Text, nullable=False),
    sa.Column("rows", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("details", Json, nullable=False),
)
sa.Index("ix_audit_log_at", audit_log.c.at_ms)

TOKEN_ROLES = ("viewer", "admin")

# API tokens: only their SHA-256 is stored; the token itself is shown once.
api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", RowId, primary_key=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    sa.CheckConstraint(f"role IN {TOKEN_ROLES!r}", name="role"),
)

# -- live feeds (HL7 v2 over MLLP, REST push) -------------------------------------------

# Every message a site's feed took, by its MSH-10 control id: a retransmission is
# answered as before and never applied twice.
feed_messages = sa.Table(
    "feed_messages",
    metadata,
    sa.Column("site_id", RowId, sa.ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("control_id", sa.Text, primary_key=True),
    sa.Column("received_at_ms", sa.BigInteger, nullable=False),
    sa.Column("event", sa.String(8), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # applied, held, ignored, quarantined
    sa.Column("answer", sa.Text, nullable=False, server_default=""),  # the reason of a NACK
    sqlite_with_rowid=False,
)

# Pseudonymised changes of messages that came before their visit (held until it appears).
feed_held = sa.Table(
    "feed_held",
    metadata,
    sa.Column("id", RowId, primary_key=True),
    sa.Column("site_id", RowId, sa.ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    sa.Column("visit_key", sa.Text, nullable=False),
    sa.Column("received_at_ms", sa.BigInteger, nullable=False),
    sa.Column("change", Json, nullable=False),
)
sa.Index("ix_feed_held_visit", feed_held.c.site_id, feed_held.c.visit_key)

# Per site: when its feed last spoke, and whether its rollups lag behind its visits.
feed_state = sa.Table(
    "feed_state",
    metadata,
    sa.Column("site_id", RowId, sa.ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("last_message_ms", sa.BigInteger),
    sa.Column("messages", sa.BigInteger, nullable=False, server_default="0"),
    sa.Column("rollups_dirty", sa.Boolean, nullable=False, server_default=sa.false()),
)

# Per run and local day: the FEDORU "hôpital en tension" inputs (hospiflow.store.tension),
# recomputed when the run's visits change (``version`` fingerprints them). NULL: the
# data do not allow that indicator.
tension_daily = sa.Table(
    "tension_daily",
    metadata,
    sa.Column("run_id", RowId, _run_fk(), primary_key=True),
    sa.Column("day_local_ms", sa.BigInteger, primary_key=True),  # local midnight
    sa.Column("version", sa.Text, nullable=False),
    sa.Column("attendances", sa.Integer, nullable=False),
    sa.Column("admitted", sa.Integer),
    sa.Column("disposition_known", sa.Integer),
    sa.Column("admitted_mean_stay_min", sa.Float),
    sa.Column("present_at_15", sa.Integer),
    sa.Column("attendances_75_plus", sa.Integer),
    sa.Column("beds_available", sa.Integer),
    sqlite_with_rowid=False,
)

# Alerts (hospiflow.store.alerts): one row per episode of a run at red or in tension,
# raised once (``open_key`` is set while the episode lasts and unique, so two checkers
# cannot raise it twice), acknowledged by a token holder, pushed to a webhook.
ALERT_KINDS = ("status", "het", "nedocs")
alerts = sa.Table(
    "alerts",
    metadata,
    sa.Column("id", RowId, primary_key=True),
    sa.Column("run_id", RowId, _run_fk(), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("level", sa.String(32), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("details", Json, nullable=False),
    sa.Column("data_ms", sa.BigInteger, nullable=False),  # the data's clock: episode start
    sa.Column("raised_ms", sa.BigInteger, nullable=False),  # the server's clock
    sa.Column("ended_ms", sa.BigInteger),  # the data's clock: when it cleared
    sa.Column("open_key", sa.Text, unique=True),  # "run:kind" while open, NULL after
    sa.Column("acknowledged_ms", sa.BigInteger),
    sa.Column("acknowledged_by", sa.Text),
    sa.Column("note", sa.Text),
    sa.Column("webhook_state", sa.String(16), nullable=False, server_default="off"),
    sa.Column("webhook_attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("webhook_error", sa.Text),
    sa.Column("webhook_ms", sa.BigInteger),
    sa.CheckConstraint(f"kind IN {ALERT_KINDS!r}", name="kind"),
)
sa.Index("ix_alerts_run_id", alerts.c.run_id, alerts.c.id)

ROLLUP_TABLES = (hourly_specialty, daily_pathology, monthly_specialty, performance_metrics)
EVENT_TABLES = (events, state_snapshots, treatments, visits)

# -- calibration: a site's fitted scenario and the proof that it reproduces the site -----

# One row per ``hospiflow calibrate``: the scenario (and catalog) fitted on the site's
# visits up to ``until_local``, and for a validation (``kind = "validation"``) the
# criteria measured on the held-out weeks (value, target, pass) and whether all hold.
calibrations = sa.Table(
    "calibrations",
    metadata,
    sa.Column("id", RowId, primary_key=True),
    sa.Column("site_id", RowId, sa.ForeignKey("sites.id", ondelete="CASCADE"), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # "fit" | "validation"
    sa.Column("created_at_ms", sa.BigInteger, nullable=False),
    sa.Column("until_local", sa.String(10), nullable=False),  # first day not used to fit
    sa.Column("holdout_weeks", sa.Integer),
    sa.Column("replications", sa.Integer),
    sa.Column("scenario_toml", sa.Text, nullable=False),
    sa.Column("catalog_toml", sa.Text, nullable=False),
    sa.Column("criteria", Json),  # validation: [{name, value, target, unit, passed}]
    sa.Column("passed", sa.Boolean),  # validation: every criterion holds
    sa.Column("details", Json),  # not estimated (with the default used), fit summary
    sqlite_autoincrement=True,
)
sa.Index("ix_calibrations_site", calibrations.c.site_id, calibrations.c.id)
