"""HL7 v2 ADT message files -> visits, and visits -> ADT messages.

Follows HL7 v2.5 chapter 2 (message structure, DTM, escape sequences) and
chapter 3 (ADT events, PID / PV1 / DG1 / EVN segments). A file holds many
messages; segments end with ``\\r``, ``\\n`` or ``\\r\\n`` (each counts as one
*line* in locations), MLLP framing bytes (``\\x0b`` before, ``\\x1c\\x0d``
after a message) and batch envelopes (FHS/BHS/BTS/FTS) are tolerated, and a
message starts at each ``MSH`` segment.

**Fields read.** MSH-9 event (``ADT^A04``; EVN-1 when MSH-9.2 is empty),
EVN-2 recorded time (else MSH-7) orders the messages, PID-3 patient id (first
repetition, component 1), PID-7 birth date, PID-8 sex, PID-11.5 postcode,
PV1-2 patient class, PV1-7.1 attending doctor, PV1-10 hospital service
(specialty), PV1-19 visit number (the visit id), PV1-36 discharge disposition,
PV1-44 admit (arrival) and PV1-45 discharge (departure) date/time, DG1-3
diagnosis (code^text^system: I10/I10C/ICD10 -> ICD-10, I9/I9C/ICD9 -> ICD-9).

**Events.** Messages are accumulated per visit number over *all* the files of
one ``read`` call and applied in order of their event time (EVN-2, else
MSH-7; file order breaks ties), so a discharge written before its
registration is fine. Each visit field takes its latest non-empty value.

* A04 (register) and A08 (update) give the arrival (PV1-44). A01/A06 (admit,
  outpatient -> inpatient) mark the visit admitted; their PV1-44 is only used
  when no A04/A08 gave one (an inpatient admit time is not the ED arrival).
* A03 (discharge): departure = PV1-45, else EVN-2; disposition from PV1-36,
  else ADMITTED when the visit was admitted, else DISCHARGED.
* A13 (cancel discharge) clears the departure and the discharge's disposition
  (an earlier admit still stands). A11 (cancel admit/visit) later than the
  last A04/A01/A06 removes the visit: it yields a ``Rejection`` with reason
  ``cancelled`` so it is counted, and no visit.
* A02 (transfer inside the hospital) only updates the fields it carries: the
  ED visit's state changes through A01/A06/A03, not through bed moves.
* Other events and message types -> ``Rejection`` ``unsupported_event``.

**First seen by a doctor.** ADT has no field for it. hospiflow convention:
the event time of the earliest A04/A08 whose PV1-7 (attending doctor) is
filled is ``first_seen``, and that PV1-7.1 is ``doctor_id`` (else the latest
PV1-7.1 of any message).

**Patient class.** Only visits with at least one message whose PV1-2 is in
``settings["patient_classes"]`` (comma-separated, default ``"E"``) are read;
other messages of such a visit still count (an A03 sent with class ``I``
after an admit). Messages of other classes are ignored silently, errors
included (a hospital-wide feed is mostly inpatients).

**Discharge disposition (PV1-36).** HL7 table 0112 is user-defined ("no
suggested values"); US sites use the UB-04 form locator 17 codes, read here:
01, 06, 08, 50, 71, 72 home -> DISCHARGED; 09 admitted to this hospital ->
ADMITTED; 02-05, 43, 51, 61-66, 70 -> TRANSFERRED; 20, 40-42 -> DIED; 07
"left against medical advice or discontinued care" (which NUBC also uses for
ED patients who leave unseen) -> LEFT_WITHOUT_BEING_SEEN when no doctor saw
the patient, else DISCHARGED; 30 "still a patient" -> no disposition. The
hospiflow local code ``LWBS`` means left without being seen.
``settings["disposition_codes"]`` adds or overrides codes (code -> a label of
``records.DISPOSITION_LABELS``); an unknown code rejects its message
(``bad_value`` PV1-36). The writer uses 01, 09, 02, LWBS and 20.

**Times.** DTM ``YYYY[MM[DD[HH[MM[SS[.S+]]]]]][+/-ZZZZ]``: with an offset the
instant is exact; without, it is local time in ``options.timezone`` (a
nonexistent or ambiguous local time follows zoneinfo's ``fold=0``: the
offset in force before the change). Times are returned in the site's zone.

**Rejections.** Location ``file.hl7:message N (line L)`` (``file.hl7:L`` for
lines outside any message: binary garbage, a segment before the first MSH),
field ``MSH-9``, ``PV1-44``, ..., reason ``bad_message``, ``missing_field``,
``bad_time``, ``bad_value``, ``unsupported_event``,
``departure_before_arrival`` or ``cancelled``. ``raw`` is the message with
identifying fields replaced by ``<redacted>`` (``redact_segment``).

**Speed.** ``hl7.parse`` (python-hl7 0.4.5) builds a full container tree:
about 2,300 messages/s here, under the 10,000/s goal. The reader therefore
splits only the segments and fields it needs with ``str.split``, honouring
the separators and escape character each MSH declares (about 23,000
messages/s on a generated 100,000-message file); python-hl7 remains
the reference parser the tests check this reader and the writer against.
Escape sequences are decoded by ``unescape`` below rather than
``hl7.util.unescape``, which logs the whole field value (possibly an
identifier) on a malformed sequence and calls the deprecated ``Logger.warn``.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import IO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from hospiflow.ingest.formats import IngestError, Item, ReadOptions, WriteOptions
from hospiflow.records import (
    DISPOSITION_LABELS,
    ICD9,
    ICD10,
    REDACTED,
    Disposition,
    Rejection,
    VisitRecord,
)

# --- HL7 vocabularies --------------------------------------------------------

_D = Disposition
# Table 0112 is user-defined; these are the UB-04 FL17 codes (see module docstring).
_TABLE_0112: dict[str, Disposition | None] = {
    **dict.fromkeys(("01", "06", "08", "50", "71", "72"), _D.DISCHARGED),
    "09": _D.ADMITTED,
    **dict.fromkeys(
        ("02", "03", "04", "05", "43", "51", "61", "62", "63", "64", "65", "66", "70"),
        _D.TRANSFERRED,
    ),
    **dict.fromkeys(("20", "40", "41", "42"), _D.DIED),
    "30": None,  # still a patient
    "LWBS": _D.LEFT_WITHOUT_BEING_SEEN,  # hospiflow local code
}
_LEFT_AMA = "07"  # left against medical advice or discontinued care
_WRITE_0112: dict[Disposition, str] = {
    _D.DISCHARGED: "01",
    _D.ADMITTED: "09",
    _D.TRANSFERRED: "02",
    _D.LEFT_WITHOUT_BEING_SEEN: "LWBS",
    _D.DIED: "20",
}
# HL7 table 0396 coding systems (plus common spellings); I10P is ICD-10-PCS (procedures).
_SYSTEMS = {
    **dict.fromkeys(("I10", "I10C", "ICD10", "ICD-10", "ICD10CM", "ICD-10-CM"), ICD10),
    **dict.fromkeys(("I9", "I9C", "ICD9", "ICD-9", "ICD9CM", "ICD-9-CM"), ICD9),
}
_SEX = {"F": "F", "M": "M"}  # table 0001; O, A, N, U -> "U"

_REGISTER = frozenset(("A04", "A08"))  # give the ED arrival and the first doctor
_ADMIT = frozenset(("A01", "A06"))
_SUPPORTED = frozenset(("A01", "A02", "A03", "A04", "A06", "A08", "A11", "A13"))
_ENVELOPE = frozenset(("FHS", "BHS", "BTS", "FTS"))
_MLLP = str.maketrans("", "", "\x0b\x1c")
_UPPER = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
_UPPER_DIGIT = _UPPER | frozenset("0123456789")

# --- redaction -----------------------------------------------------------------

# Field numbers holding identifiers, names, dates of birth, addresses, phones or
# staff. Segments not listed keep only their set id (field 1): NK1, GT1, IN1,
# OBX, Z-segments... may all carry identifying free text.
_IDENTIFYING: dict[str, frozenset[int]] = {
    "MSH": frozenset(),
    "EVN": frozenset((5,)),  # operator
    "PID": frozenset((2, 3, 4, 5, 6, 7, 9, 11, 12, 13, 14, 18, 19, 20, 21, 23)),
    "PV1": frozenset((7, 8, 9, 17, 19, 50, 52)),  # doctors, visit numbers
    "DG1": frozenset((16,)),  # diagnosing clinician
}


def redact_segment(line: str, separator: str = "|") -> str:
    """One segment with its identifying fields replaced by ``<redacted>``.

    PID-3/5/7/11/13 (ids, name, birth date, address, phone) and the other
    PID identifiers, PV1 doctors and visit numbers, EVN-5 and DG1-16 are
    hidden; in segments not known to be safe every field but the set id is.
    """
    parts = line.split(separator)
    name = parts[0]
    hidden = _IDENTIFYING.get(name)
    if name == "MSH":
        return line
    for number in range(1, len(parts)):
        if parts[number] and (number in hidden if hidden is not None else number > 1):
            parts[number] = REDACTED
    return separator.join(parts)


# --- escapes and times ------------------------------------------------------------


def unescape(value: str, separators: str, escape: str) -> str:
    """Decode HL7 escape sequences (v2.5 section 2.7): \\F\\ \\S\\ \\T\\ \\R\\ \\E\\ \\Xhh\\.

    ``separators`` is field, component, repetition, sub-component. Formatting
    and character-set sequences are dropped; nothing is logged.
    """
    if escape not in value:
        return value
    named = {
        "F": separators[0],
        "S": separators[1],
        "R": separators[2],
        "T": separators[3],
        "E": escape,
    }
    pieces = value.split(escape)
    out = [pieces[0]]
    # Odd pieces are sequence bodies, even pieces literal text; a lone escape is kept.
    for index in range(1, len(pieces), 2):
        body = pieces[index]
        if index + 1 >= len(pieces):
            out.append(escape + body)
            break
        if body in named:
            out.append(named[body])
        elif body[:1] == "X" and len(body) % 2 == 1:
            try:
                out.append(bytes.fromhex(body[1:]).decode("latin-1"))
            except ValueError:
                pass
        out.append(pieces[index + 1])
    return "".join(out)


_ESCAPES = str.maketrans({"\\": "\\E\\", "|": "\\F\\", "^": "\\S\\", "&": "\\T\\", "~": "\\R\\"})


def _escape(value: str) -> str:
    return value.translate(_ESCAPES)


class _TimeError(ValueError):
    """A DTM value that does not parse."""


_OFFSETS: dict[str, tzinfo] = {}


def _offset(text: str) -> tzinfo:
    zone = _OFFSETS.get(text)
    if zone is None:
        if len(text) != 5 or not text[1:].isdigit():
            raise _TimeError(text)
        minutes = int(text[1:3]) * 60 + int(text[3:5])
        if int(text[3:5]) > 59 or minutes > 14 * 60:
            raise _TimeError(text)
        zone = timezone(timedelta(minutes=-minutes if text[0] == "-" else minutes))
        _OFFSETS[text] = zone
    return zone


def _split_dtm(value: str) -> tuple[str, str, str]:
    """DTM -> (digits, fraction, offset) after checking its shape."""
    cut = value.find("+")
    if cut < 0:
        cut = value.find("-")
    stamp, offset = (value, "") if cut < 0 else (value[:cut], value[cut:])
    digits, _dot, fraction = stamp.partition(".")
    if (
        len(digits) not in (4, 6, 8, 10, 12, 14)
        or not (digits.isascii() and digits.isdigit())
        or (fraction and (len(digits) != 14 or not fraction.isdigit() or not fraction.isascii()))
        or (_dot and not fraction)
    ):
        raise _TimeError(value)
    return digits, fraction, offset


def parse_dtm(value: str, zone: tzinfo) -> datetime:
    """An HL7 DTM as an aware datetime in ``zone`` (naive values are local to ``zone``)."""
    digits, fraction, offset = _split_dtm(value)
    size = len(digits)
    try:
        moment = datetime(
            int(digits[0:4]),
            int(digits[4:6]) if size >= 6 else 1,
            int(digits[6:8]) if size >= 8 else 1,
            int(digits[8:10]) if size >= 10 else 0,
            int(digits[10:12]) if size >= 12 else 0,
            int(digits[12:14]) if size >= 14 else 0,
            int(fraction[:6].ljust(6, "0")) if fraction else 0,
            tzinfo=_offset(offset) if offset else zone,
        )
    except ValueError as error:
        raise _TimeError(value) from error
    return moment.astimezone(zone) if offset else moment


def _parse_birth(value: str) -> date:
    digits = _split_dtm(value)[0]
    try:
        return date(
            int(digits[0:4]),
            int(digits[4:6]) if len(digits) >= 6 else 1,
            int(digits[6:8]) if len(digits) >= 8 else 1,
        )
    except ValueError as error:
        raise _TimeError(value) from error


def _format_dtm(moment: datetime, zone: tzinfo) -> str:
    return moment.astimezone(zone).strftime("%Y%m%d%H%M%S%z")


# --- reading ----------------------------------------------------------------------


@dataclass(frozen=True)
class _Settings:
    zone: tzinfo
    classes: frozenset[str]
    codes: dict[str, Disposition | None]
    encoding: str


def _settings(options: ReadOptions) -> _Settings:
    try:
        zone = ZoneInfo(options.timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise IngestError(f"unknown time zone {options.timezone!r}", where="timezone") from error
    classes = options.settings.get("patient_classes", "E")
    if not isinstance(classes, str):
        classes = ",".join(str(c) for c in classes)
    codes = dict(_TABLE_0112)
    extra = options.settings.get("disposition_codes", {})
    if not isinstance(extra, dict):
        raise IngestError("must map codes to dispositions", where="disposition_codes")
    for code, label in extra.items():
        if str(label).lower() not in DISPOSITION_LABELS:
            known = ", ".join(sorted(DISPOSITION_LABELS))
            raise IngestError(f"unknown disposition {label!r} (known: {known})", where=str(code))
        codes[str(code)] = DISPOSITION_LABELS[str(label).lower()]
    return _Settings(
        zone=zone,
        classes=frozenset(c.strip().upper() for c in classes.split(",") if c.strip()),
        codes=codes,
        encoding=str(options.settings.get("encoding", "utf-8")),
    )


class _Bad(Exception):
    """A message that cannot be used: field, reason, sentence."""

    def __init__(self, field: str | None, reason: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.reason = reason
        self.message = message


@dataclass(slots=True)
class _Message:
    """The fields of one ADT message this reader uses, already checked."""

    event: str
    stamp: tuple[float, int]  # (event time as POSIX seconds, order in the input)
    time: datetime
    visit_id: str
    patient_class: str
    patient_id: str | None = None
    birth_date: date | None = None
    sex: str | None = None
    postcode: str | None = None
    doctor: str | None = None
    doctor_filled: bool = False
    specialty: str | None = None
    arrival: datetime | None = None
    departure: datetime | None = None
    disposition: str | None = None  # a PV1-36 code known to the table
    diagnosis: tuple[str, str | None] | None = None


@dataclass(slots=True)
class _Visit:
    """Everything the messages of one visit number said, merged latest-first."""

    location: str
    events: list[str] = field(default_factory=list)
    emergency: bool = False
    values: dict[str, tuple[tuple[float, int], object]] = field(default_factory=dict)
    arrival: tuple[int, tuple[float, int], datetime] | None = None
    # (stamp, departure, PV1-36 code) of the latest A03, or (stamp, None, None) for an A13
    discharge: tuple[tuple[float, int], datetime | None, str | None] | None = None
    discharged: bool = False
    admitted: bool = False
    registered: tuple[float, int] | None = None
    cancelled: tuple[float, int] | None = None
    first_seen: tuple[tuple[float, int], datetime, str | None] | None = None

    def keep(self, name: str, stamp: tuple[float, int], value: object) -> None:
        """Remember ``value`` unless a later message already set ``name``."""
        if value is None:
            return
        held = self.values.get(name)
        if held is None or held[0] <= stamp:
            self.values[name] = (stamp, value)

    def value(self, name: str) -> object:
        held = self.values.get(name)
        return None if held is None else held[1]


class _Fields:
    """Field access on one message's segments with the separators its MSH declares."""

    __slots__ = ("segments", "fs", "cs", "rs", "ss", "esc")

    def __init__(self, lines: list[str]) -> None:
        msh = lines[0]
        self.fs = msh[3:4] or "|"
        encoding = msh[4:].split(self.fs, 1)[0]
        self.cs = encoding[0:1] or "^"
        self.rs = encoding[1:2] or "~"
        self.esc = encoding[2:3] or "\\"
        self.ss = encoding[3:4] or "&"
        self.segments: dict[str, list[str]] = {}
        for line in lines:
            name = line[:3]
            if name not in self.segments:
                parts = line.split(self.fs)
                if name == "MSH":  # MSH-1 is the separator itself: shift by one
                    parts.insert(1, self.fs)
                self.segments[name] = parts

    def raw(self, segment: str, number: int) -> str:
        parts = self.segments.get(segment)
        return parts[number] if parts is not None and number < len(parts) else ""

    def get(self, segment: str, number: int, component: int = 1) -> str:
        """First repetition's component (1-based), unescaped; "" when absent."""
        parts = self.segments.get(segment)
        if parts is None or number >= len(parts):
            return ""
        value = parts[number]
        if not value:
            return ""
        value = value.split(self.rs, 1)[0] if self.rs in value else value
        if self.cs in value or component > 1:
            pieces = value.split(self.cs)
            value = pieces[component - 1] if component <= len(pieces) else ""
        if self.ss in value:
            value = value.split(self.ss, 1)[0]
        if self.esc in value:
            value = unescape(value, self.fs + self.cs + self.rs + self.ss, self.esc)
        return value.strip()

    def time(self, segment: str, number: int, zone: tzinfo) -> datetime | None:
        value = self.get(segment, number)
        if not value:
            return None
        try:
            return parse_dtm(value, zone)
        except _TimeError:
            name = f"{segment}-{number}"
            raise _Bad(name, "bad_time", f"{name} is not an HL7 date/time") from None


def _event(fields: _Fields) -> str:
    kind = fields.get("MSH", 9, 1).upper()
    event = fields.get("MSH", 9, 2).upper() or fields.get("EVN", 1).upper()
    if not kind:
        raise _Bad("MSH-9", "missing_field", "MSH-9 (message type) is empty")
    if kind != "ADT" or event not in _SUPPORTED:
        shown = f"{kind}^{event}" if event else kind
        supported = ", ".join(sorted(_SUPPORTED))
        raise _Bad("MSH-9", "unsupported_event", f"{shown[:20]} is not read (ADT {supported})")
    return event


def _message(fields: _Fields, order: int, settings: _Settings) -> _Message | None:
    """The checked fields of one message; None for a message of another patient class."""
    if "PV1" not in fields.segments:
        _event(fields)  # an unsupported message says so before the missing PV1
        raise _Bad("PV1", "missing_field", "message without a PV1 segment")
    patient_class = fields.get("PV1", 2).upper()
    try:
        return _checked(fields, _event(fields), patient_class, order, settings)
    except _Bad:
        if patient_class and patient_class not in settings.classes:
            return None  # another class: ignored silently, errors included
        raise


def _checked(
    fields: _Fields, event: str, patient_class: str, order: int, settings: _Settings
) -> _Message:
    visit_id = fields.get("PV1", 19)
    if not visit_id:
        raise _Bad("PV1-19", "missing_field", "PV1-19 (visit number) is empty")
    zone = settings.zone
    time = fields.time("EVN", 2, zone) or fields.time("MSH", 7, zone)
    if time is None:
        raise _Bad("EVN-2", "missing_field", "neither EVN-2 nor MSH-7 gives the event time")
    message = _Message(
        event=event,
        stamp=(time.timestamp(), order),
        time=time,
        visit_id=visit_id,
        patient_class=patient_class,
        arrival=fields.time("PV1", 44, zone),
        departure=fields.time("PV1", 45, zone),
    )
    if "PID" in fields.segments:
        message.patient_id = fields.get("PID", 3) or None
        birth = fields.get("PID", 7)
        if birth:
            try:
                message.birth_date = _parse_birth(birth)
            except _TimeError:
                raise _Bad("PID-7", "bad_time", "PID-7 (birth date) is not an HL7 date") from None
        sex = fields.get("PID", 8).upper()
        message.sex = _SEX.get(sex, "U") if sex else None
        message.postcode = fields.get("PID", 11, 5) or None
    message.doctor_filled = bool(fields.raw("PV1", 7).strip(fields.cs + fields.rs + " "))
    message.doctor = fields.get("PV1", 7) or None
    message.specialty = fields.get("PV1", 10) or None
    code = fields.get("PV1", 36).upper()
    if code:
        if code not in settings.codes and code != _LEFT_AMA:
            raise _Bad("PV1-36", "bad_value", "PV1-36 (discharge disposition) code is unknown")
        message.disposition = code
    diagnosis = fields.get("DG1", 3)
    if diagnosis:
        system = fields.get("DG1", 3, 3).upper()
        message.diagnosis = (diagnosis, _SYSTEMS.get(system))
    return message


def _apply(visit: _Visit, message: _Message, settings: _Settings) -> None:
    """Fold one message into its visit (order-independent: stamps decide)."""
    stamp, event = message.stamp, message.event
    visit.events.append(event)
    if message.patient_class in settings.classes:
        visit.emergency = True
    for name in ("patient_id", "birth_date", "sex", "postcode", "specialty", "diagnosis"):
        visit.keep(name, stamp, getattr(message, name))
    visit.keep("doctor", stamp, message.doctor)
    if message.arrival is not None:
        rank = 2 if event in _REGISTER else 1 if event in _ADMIT else 0
        if visit.arrival is None or visit.arrival[:2] <= (rank, stamp):
            visit.arrival = (rank, stamp, message.arrival)
    if event in _REGISTER and message.doctor_filled:
        if visit.first_seen is None or stamp < visit.first_seen[0]:
            visit.first_seen = (stamp, message.time, message.doctor)
    if event in _ADMIT:
        visit.admitted = True
    if event in ("A04", "A01", "A06") and (visit.registered is None or visit.registered < stamp):
        visit.registered = stamp
    elif event == "A11" and (visit.cancelled is None or visit.cancelled < stamp):
        visit.cancelled = stamp
    elif event in ("A03", "A13") and (visit.discharge is None or visit.discharge[0] <= stamp):
        if event == "A03":
            visit.discharge = (stamp, message.departure or message.time, message.disposition)
        else:
            visit.discharge = (stamp, None, None)


def _disposition(visit: _Visit, settings: _Settings) -> Disposition | None:
    if visit.discharge is None or visit.discharge[1] is None:
        return Disposition.ADMITTED if visit.admitted else None
    code = visit.discharge[2]
    if code is None:
        return Disposition.ADMITTED if visit.admitted else Disposition.DISCHARGED
    if code == _LEFT_AMA and code not in settings.codes:
        seen = visit.first_seen is not None
        return Disposition.DISCHARGED if seen else Disposition.LEFT_WITHOUT_BEING_SEEN
    return settings.codes[code]


def _age(birth: date | None, arrival: datetime) -> int | None:
    if birth is None:
        return None
    day = arrival.date()
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


def _visit_item(visit_id: str, visit: _Visit, settings: _Settings) -> Item | None:
    """The visit's record, a Rejection, or None for a visit of another patient class."""
    if not visit.emergency:
        return None
    summary = f"events={','.join(visit.events)}"
    if visit.cancelled is not None and (
        visit.registered is None or visit.registered < visit.cancelled
    ):
        return Rejection(
            visit.location, "cancelled", "visit cancelled by an A11 message", "MSH-9", summary
        )
    if visit.arrival is None:
        text = "no message of this visit gives PV1-44 (admit date/time, the arrival)"
        return Rejection(visit.location, "missing_field", text, "PV1-44", summary)
    arrival = visit.arrival[2]
    departure = visit.discharge[1] if visit.discharge else None
    if departure is not None and departure < arrival:
        text = "the discharge (PV1-45 or the A03 time) is before the arrival (PV1-44)"
        return Rejection(visit.location, "departure_before_arrival", text, "PV1-45", summary)
    diagnosis = visit.value("diagnosis")
    code, system = diagnosis if isinstance(diagnosis, tuple) else (None, None)
    birth = visit.value("birth_date")
    birth = birth if isinstance(birth, date) else None
    seen = visit.first_seen
    return VisitRecord(
        arrival=arrival,
        source=visit.location,
        visit_id=visit_id,
        patient_id=_text(visit.value("patient_id")),
        first_seen=seen[1] if seen else None,
        departure=departure,
        disposition=_disposition(visit, settings),
        diagnosis=code,
        diagnosis_system=system,
        specialty=_text(visit.value("specialty")),
        doctor_id=seen[2] if seen and seen[2] else _text(visit.value("doctor")),
        birth_date=birth,
        age_years=_age(birth, arrival),
        sex=_text(visit.value("sex")),
        postcode=_text(visit.value("postcode")),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _is_segment(line: str, separator: str) -> bool:
    return (
        len(line) >= 3
        and line[0] in _UPPER
        and line[1] in _UPPER_DIGIT
        and line[2] in _UPPER_DIGIT
        and (len(line) == 3 or line[3] == separator)
    )


def _chunks(handle: IO[str]) -> Iterator[tuple[int, list[str] | None, int]]:
    """(first line number, the message's segments or None for garbage, line count)."""
    message: list[str] = []
    start = 0
    garbage_start, garbage_lines = 0, 0
    separator = "|"
    for number, line in enumerate(handle, 1):
        line = line.rstrip("\n")
        if "\x0b" in line or "\x1c" in line:
            line = line.translate(_MLLP)
        if not line.strip():
            continue
        if line.startswith("MSH") and len(line) > 8:
            if garbage_lines:
                yield garbage_start, None, garbage_lines
                garbage_lines = 0
            if message:
                yield start, message, len(message)
            message, start, separator = [line], number, line[3]
        elif message and _is_segment(line, separator):
            if garbage_lines:
                yield garbage_start, None, garbage_lines
                garbage_lines = 0
            message.append(line)
        elif line[:3] in _ENVELOPE and _is_segment(line, line[3:4] or "|"):
            continue
        else:
            if not garbage_lines:
                garbage_start = number
            garbage_lines += 1
    if garbage_lines:
        yield garbage_start, None, garbage_lines
    if message:
        yield start, message, len(message)


def _raw(lines: list[str]) -> str:
    separator = lines[0][3:4] or "|"
    return "\n".join(redact_segment(line, separator) for line in lines)


def _read_file(
    path: Path, settings: _Settings, visits: dict[str, _Visit], order: int
) -> Iterator[Rejection | int]:
    """Rejections of one file as they come; visits are folded into ``visits``.

    Yields the running message order last so ``read`` can continue it.
    """
    name = path.name
    try:
        handle = path.open(encoding=settings.encoding, errors="replace", newline=None)
    except OSError as error:
        raise IngestError(f"cannot open: {error.strerror}", where=str(path)) from error
    except LookupError as error:
        raise IngestError(f"unknown encoding {settings.encoding!r}", where="encoding") from error
    count = 0
    with handle:
        for line_number, lines, size in _chunks(handle):
            if lines is None:
                text = f"{size} line(s) that are not HL7 segments"
                raw = f"<{size} line(s) not shown>"
                yield Rejection(f"{name}:{line_number}", "bad_message", text, None, raw)
                continue
            count += 1
            order += 1
            location = f"{name}:message {count} (line {line_number})"
            try:
                message = _message(_Fields(lines), order, settings)
            except _Bad as bad:
                yield Rejection(location, bad.reason, bad.message, bad.field, _raw(lines))
                continue
            if message is None:
                continue
            visit = visits.get(message.visit_id)
            if visit is None:
                visit = visits[message.visit_id] = _Visit(location)
            _apply(visit, message, settings)
    yield order


def read(paths: Sequence[Path], options: ReadOptions) -> Iterator[Item]:
    """Visits from HL7 v2 ADT message files (see the module docstring for the rules).

    Message rejections come as the files are read; visits come at the end,
    once every message of every file has been merged per visit number.
    """
    settings = _settings(options)
    visits: dict[str, _Visit] = {}
    order = 0
    for path in paths:
        for item in _read_file(Path(path), settings, visits, order):
            if isinstance(item, int):
                order = item
            else:
                yield item
    for visit_id, visit in visits.items():
        record = _visit_item(visit_id, visit, settings)
        if record is not None:
            yield record


# --- writing ----------------------------------------------------------------------

_STRUCTURE = {"A04": "ADT_A01", "A08": "ADT_A01", "A01": "ADT_A01", "A03": "ADT_A03"}
_ORDER = {"A04": 0, "A08": 1, "A01": 2, "A03": 3}


def _events(record: VisitRecord) -> list[tuple[datetime, str]]:
    """The ADT messages one visit becomes, with their times."""
    events = [(record.arrival, "A04")]
    if record.first_seen is not None:
        events.append((record.first_seen, "A08"))
    if record.disposition is Disposition.ADMITTED:
        events.append((record.departure or record.first_seen or record.arrival, "A01"))
    if record.departure is not None:
        events.append((record.departure, "A03"))
    return events


def _segments(
    record: VisitRecord, event: str, moment: datetime, control: str, zone: tzinfo, site: str
) -> list[str]:
    when = _format_dtm(moment, zone)
    birth = record.birth_date
    if birth is None and record.age_years is not None:
        # Pseudonymised visits carry an age only: 1 January of (arrival year - age).
        birth = date(record.arrival.astimezone(zone).year - record.age_years, 1, 1)
    pid = ["PID", "1", "", _escape(record.patient_id or ""), "", "", ""]
    pid += [birth.strftime("%Y%m%d") if birth else "", record.sex or ""]
    if record.postcode:
        pid += ["", "", "^^^^" + _escape(record.postcode)]
    pv1 = [""] * 46
    pv1[0:3] = ["PV1", "1", "E"]
    if event == "A08":
        # PV1-7 filled = first seen; no id -> a family name only, so doctor_id stays None.
        pv1[7] = _escape(record.doctor_id) if record.doctor_id else "^DR"
    elif event == "A03" and record.doctor_id:
        pv1[7] = _escape(record.doctor_id)
    pv1[10] = _escape(record.specialty or "")
    pv1[19] = _escape(record.visit_id or "")
    pv1[44] = _format_dtm(record.arrival, zone)
    if event == "A03":
        pv1[36] = _WRITE_0112[record.disposition] if record.disposition else ""
        pv1[45] = when
    segments = [
        f"MSH|^~\\&|HOSPIFLOW|{site}|||{when}||ADT^{event}^{_STRUCTURE[event]}|{control}|P|2.5",
        f"EVN|{event}|{when}",
        "|".join(pid),
        "|".join(pv1).rstrip("|"),
    ]
    if record.diagnosis and event in ("A08", "A03"):
        system = "I9" if record.diagnosis_system == ICD9 else "I10"
        kind = "F" if event == "A03" else "W"  # table 0052: final / working
        segments.append(f"DG1|1||{_escape(record.diagnosis)}^^{system}|||{kind}")
    return segments


def write(records: Iterable[VisitRecord], out: IO[str], options: WriteOptions) -> int:
    """Visits as HL7 v2.5 ADT messages, all visits' events in time order.

    Each visit: A04 at arrival (PV1-44), A08 at first seen with PV1-7 (the
    doctor), A01 when admitted (at departure), A03 at departure with PV1-36
    (codes 01/09/02/LWBS/20) and PV1-45; DG1 on the A08 and A03. Segments end
    with ``\\r``, messages with ``\\n``; times carry the offset of
    ``options.timezone``; MSH-10 control ids are unique in the file. A visit
    without ``visit_id`` gets ``HF<n>``. A disposition without a departure is
    lost (except ADMITTED), and a departure without one reads back DISCHARGED.
    """
    events: list[tuple[datetime, int, int, str, VisitRecord]] = []
    count = 0
    for record in records:
        count += 1
        if record.visit_id is None:
            record = record._replace(visit_id=f"HF{count}")
        for moment, event in _events(record):
            events.append((moment, count, _ORDER[event], event, record))
    events.sort(key=lambda item: item[:3])
    zone = ZoneInfo(options.timezone)
    site = _escape(options.site_code or "")
    for number, (moment, _visit, _order, event, record) in enumerate(events, 1):
        segments = _segments(record, event, moment, f"HF{number:09d}", zone, site)
        out.write("\r".join(segments) + "\r\n")
    return count
