"""One HL7 v2 ADT message off the wire: check it, read it, answer it.

``parse`` turns the bytes of one MLLP frame into a ``Message`` (the fields
``hospiflow.ingest.hl7v2`` reads, through its own field splitter, so files and
feeds read ADT the same way) or a ``Bad`` naming what is wrong and where:

* not text starting with ``MSH`` (binary garbage) -> ``bad_message``, AR;
* MSH-2 encoding characters that are not 4 (or 5, v2.7) distinct
  non-alphanumeric characters other than the field separator -> ``bad_message``, AR;
* a line that is not a segment (three upper-case letters or digits, then the
  separator) -> ``bad_segment``, AE;
* what the file reader refuses (missing PV1, missing PV1-19, a bad DTM, an
  unsupported event, ...) -> its reason, AE (AR for an unsupported event).

``ack`` builds the acknowledgment (HL7 v2.5 section 2.9 "original mode"):
MSH, MSA (AA/AE/AR and the original MSH-10) and, for a NACK, ERR with the
table 0357 code, severity E and the reason as ERR-8 user message.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hospiflow.feeds.apply import Bad, Message, Outcome
from hospiflow.ingest import hl7v2

_SEGMENT_BREAKS = ("\r\n", "\n")
# HL7 table 0357 (message error condition codes)
_ERROR_CODES = {
    "missing_field": "101^Required field missing",
    "bad_time": "102^Data type error",
    "bad_value": "103^Table value not found",
    "unsupported_event": "201^Unsupported event code",
    "bad_message": "100^Segment sequence error",
    "bad_segment": "100^Segment sequence error",
}


def _lines(text: str) -> list[str]:
    for brk in _SEGMENT_BREAKS:
        text = text.replace(brk, "\r")
    return [line for line in text.split("\r") if line.strip()]


def _encoding_ok(msh: str) -> bool:
    fs = msh[3:4]
    if not fs or fs.isalnum() or fs.isspace():
        return False
    encoding = msh[4:].split(fs, 1)[0]
    return (
        len(encoding) in (4, 5)
        and len(set(encoding)) == len(encoding)
        and fs not in encoding
        and not any(c.isalnum() or c.isspace() for c in encoding)
    )


def header(text: str) -> tuple[str, str, str, str]:
    """(control id, event, sending application, sending facility) of a message, "" if absent."""
    lines = _lines(text)
    if not lines or not lines[0].startswith("MSH") or not _encoding_ok(lines[0]):
        return "", "", "", ""
    return _header(hl7v2._Fields(lines[:1]))


def _header(fields: hl7v2._Fields) -> tuple[str, str, str, str]:
    return (
        fields.get("MSH", 10)[:200],
        (fields.get("MSH", 9, 2) or "")[:8].upper(),
        fields.get("MSH", 3)[:60],
        fields.get("MSH", 4)[:60],
    )


def parse(
    data: bytes, number: int, settings: hl7v2._Settings, where: str = "mllp"
) -> Message | Bad:
    """One frame's bytes -> a readable message or why it is not one (nothing raw in a Bad)."""
    location = f"{where}:message {number}"
    text = data.decode("utf-8", errors="replace")
    lines = _lines(text)
    if not lines or not lines[0].startswith("MSH") or len(lines[0]) < 8:
        return Bad("", "", location, "bad_message", None, "not an HL7 message (no MSH)", "", True)
    if not _encoding_ok(lines[0]):
        control_id = ""
        return Bad(
            control_id,
            "",
            location,
            "bad_message",
            "MSH-2",
            "MSH-1/MSH-2 encoding characters are not valid HL7 separators",
            "",
            True,
        )
    # one field split serves the header, the checks and the ACK (a listener's hot path)
    fields = hl7v2._Fields(lines)
    control_id, event, app, facility = _header(fields)
    sender = (app, facility)
    fs = lines[0][3]
    for index, line in enumerate(lines[1:], start=2):
        if not hl7v2._is_segment(line, fs):
            text = f"segment {index} is not an HL7 segment (three letters or digits, then {fs!r})"
            raw = _redacted(lines, fs)
            return Bad(control_id, event, location, "bad_segment", None, text, raw, False, sender)
    if not control_id:
        text = "MSH-10 (control id) is empty"
        return Bad("", event, location, "missing_field", "MSH-10", text, "", False, sender)
    try:
        message = hl7v2._message(fields, number, settings)
    except hl7v2._Bad as bad:
        reject = bad.reason == "unsupported_event"
        raw = _redacted(lines, fs)
        return Bad(
            control_id, event, location, bad.reason, bad.field, bad.message, raw, reject, sender
        )
    return Message(control_id, event, location, message, sender)


def _redacted(lines: list[str], fs: str) -> str:
    """What the quarantine keeps of a refused message: identifying fields hidden."""
    return _short("\n".join(hl7v2.redact_segment(line, fs) for line in lines))


def _short(raw: str) -> str:
    return raw[:4000]


def ack(
    original: bytes | str | Message | Bad,
    outcome: Outcome | None,
    control: str,
    *,
    code: str | None = None,
    reason: str | None = None,
) -> bytes:
    """The ACK of ``original`` (its MSH-10 in MSA-2); ``code``/``reason`` override the outcome's.

    ``original`` is the message's bytes or text, or what ``parse`` made of it (whose
    header is read already)."""
    if isinstance(original, Message | Bad):
        control_id, event = original.control_id, original.event
        app, facility = original.sender
    else:
        text = original.decode("utf-8", "replace") if isinstance(original, bytes) else original
        control_id, event, app, facility = header(text)
    esc = hl7v2._escape
    status = code or (outcome.ack if outcome is not None else "AR")
    why = reason or (outcome.message if outcome is not None else None) or ""
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S+0000")
    segments = [
        f"MSH|^~\\&|HOSPIFLOW|HOSPIFLOW|{esc(app)}|{esc(facility)}|{stamp}||"
        f"ACK^{esc(event)}^ACK|{control}|P|2.5",
        f"MSA|{status}|{esc(control_id)}" + (f"|{esc(why[:200])}" if status != "AA" else ""),
    ]
    if status != "AA":
        kind = (outcome.reason if outcome is not None else None) or "bad_message"
        error = _ERROR_CODES.get(kind, "207^Application internal error")
        where = (outcome.field if outcome is not None else None) or ""
        segments.append(f"ERR||{esc(where)}|{error}^HL70357|E||||{esc(why[:200])}")
    return ("\r".join(segments) + "\r").encode()
