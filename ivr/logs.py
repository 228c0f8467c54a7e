"""Structured logs: one JSON object per line, with the call's CallSid, and no phone numbers in clear."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

# Kept as they are: Twilio SIDs, hex digests and pseudonyms (caller-…), ISO dates and times, IPv4
# addresses. Matched first, so that their digits are not taken for a phone number.
_KEEP = (
    r"\b[A-Z]{2}[0-9a-fA-F]{32}\b"
    r"|\b(?=[0-9a-f]*[a-f])[0-9a-f]{12,64}\b"
    r"|\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?"
    r"|\b\d{1,3}(?:\.\d{1,3}){3}\b"
)
# Seven digits or more, with the separators people write numbers with; a leading + (or %2B in a URL).
_NUMBER = r"(?:\+|%2[bB])?\d(?:[ ()./-]{0,2}\d){6,}"
_SCAN = re.compile(f"(?P<keep>{_KEEP})|(?P<number>{_NUMBER})")
_MAYBE = re.compile(r"\d(?:[ ()./-]{0,2}\d){6}")
MASK = "<number>"
# A webhook puts what it did here in the WSGI environ (CallSid, caller pseudonym, event, node, part):
# gunicorn's access log line then says it, and the webhook needs no log line of its own.
STEP_ENVIRON = "ivr.step"
LOG_FORMATS = ("json", "text")


def mask_numbers(text: str) -> str:
    """Replace every phone-number-like run of 7+ digits in text with <number>."""
    if _MAYBE.search(text) is None:  # most lines: one quick scan instead of the full one
        return text
    return _SCAN.sub(lambda m: m.group("keep") or MASK, text)


class MaskNumbers(logging.Filter):
    """The last line of defence: no record leaves with a phone number in its message or traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Render the message once, masked, so every handler and formatter sees the safe text."""
        if getattr(record, "_ivr_masked", False):
            return True
        call_sid = None
        if record.name == "gunicorn.access" and isinstance(record.args, dict):
            record.http = _access_fields(record.args)
            step = record.args.get("{" + STEP_ENVIRON + "}e")  # gunicorn's name for an environ key
            if isinstance(step, dict):
                fields = {name: mask_numbers(str(value)) for name, value in step.items() if value is not None}
                call_sid = fields.pop("CallSid", None)
                record.step = fields
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: keep the raw message rather than drop the record
            message = f"{record.msg!s} {record.args!r}"
        record.msg, record.args = mask_numbers(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_numbers(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_numbers(record.stack_info)
        record.call_sid = call_sid or _call_sid()
        record._ivr_masked = True
        return True


def _access_fields(atoms: dict[str, Any]) -> dict[str, Any]:
    """The useful parts of a gunicorn access-log record (its args are the atoms of the log format)."""
    fields = {"method": atoms.get("m"), "path": atoms.get("U"), "status": atoms.get("s")}
    with contextlib.suppress(TypeError, ValueError):
        fields["ms"] = round(int(atoms.get("D", 0)) / 1000, 2)  # D is in microseconds
    return fields


def _call_sid() -> str | None:
    """The CallSid of the webhook being handled, if any."""
    try:
        from flask import has_request_context, request

        if has_request_context() and request.mimetype == "application/x-www-form-urlencoded":
            sid = request.form.get("CallSid")
            return sid[:64] if sid else None
    except Exception:  # logging must never fail because the request is odd
        return None
    return None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, CallSid where there is one."""

    def format(self, record: logging.LogRecord) -> str:
        """Format a (masked) record as a single line of JSON."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        call_sid = getattr(record, "call_sid", None)
        if call_sid:
            entry["CallSid"] = call_sid
        http = getattr(record, "http", None)
        if http:
            entry["http"] = http
        step = getattr(record, "step", None)
        if step:
            entry["call"] = step
        if record.exc_info and not record.exc_text:
            record.exc_text = mask_numbers(self.formatException(record.exc_info))
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """Plain lines for a terminal, with the CallSid when there is one."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s [%(process)d] %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """Format as text, adding the call's SID."""
        line = super().format(record)
        step = getattr(record, "step", None)
        if step:
            line += " " + " ".join(f"{name}={value}" for name, value in step.items())
        call_sid = getattr(record, "call_sid", None)
        return f"{line} [CallSid={call_sid}]" if call_sid else line


class LineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The line's log handler: masked, one record per line, JSON unless told otherwise."""

    def __init__(self, stream: TextIO | None = None, log_format: str = "json") -> None:
        super().__init__(stream if stream is not None else sys.stderr)
        # Without a stream of its own it writes to whatever sys.stderr is now (pytest swaps it).
        self._follow_stderr = stream is None
        self.addFilter(MaskNumbers())
        self.setFormatter(TextFormatter() if log_format == "text" else JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        """Write one record as one line."""
        if self._follow_stderr:
            self.stream = sys.stderr
        super().emit(record)


def configure(
    log_format: str = "json", level: int | str = logging.INFO, stream: TextIO | None = None
) -> None:
    """Send every logger's records through one masked handler on the root logger (idempotent)."""
    if log_format not in LOG_FORMATS:
        raise SystemExit(f"LOG_FORMAT must be one of {', '.join(LOG_FORMATS)}, not {log_format!r}")
    root = logging.getLogger()
    for handler in list(root.handlers):
        if isinstance(handler, LineHandler):
            root.removeHandler(handler)
    root.addHandler(LineHandler(stream, log_format))
    root.setLevel(level)


def gunicorn_logconfig(log_format: str = "json") -> dict[str, Any]:
    """A logging dictConfig for gunicorn: its error and access logs go through the line's handler too."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": "INFO", "handlers": ["line"]},
        "loggers": {
            # No handlers of their own: they reach the root's, once.
            "gunicorn.error": {"level": "INFO", "handlers": [], "propagate": True},
            "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": True},
        },
        "handlers": {
            "line": {"()": LineHandler, "log_format": log_format},
        },
        "formatters": {},
    }
