"""Structured logs: one JSON object per line, with the call's CallSid, and no phone numbers in clear."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

from ivr import privacy
from ivr.privacy import mask_fields

MASK = privacy.MASK
# A webhook puts what it did here in the WSGI environ (CallSid, caller pseudonym, event, node, part):
# gunicorn's access log line then says it, and the webhook needs no log line of its own.
STEP_ENVIRON = "ivr.step"
LOG_FORMATS = ("json", "text")
# What every LogRecord has; anything else on a record came from a log call's `extra=`.
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "http",
    "step",
    "call_sid",
    "_ivr_masked",
}


def mask_numbers(text: str) -> str:
    """Replace every phone number in text with <number> (ivr.privacy.mask_numbers)."""
    return privacy.mask_numbers(text)


class MaskNumbers(logging.Filter):
    """The last line of defence: no record leaves with a phone number in any field, at any depth."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask every field once, so every handler and formatter sees only safe values: the message
        (rendered with its args), the exception and stack text, every `extra=` field, gunicorn's
        access-log atoms (path, query, referer, user agent...) and the call's step and CallSid."""
        if getattr(record, "_ivr_masked", False):
            return True
        call_sid = None
        if record.name == "gunicorn.access" and isinstance(record.args, dict):
            # Each atom on its own: rendered together, "200 4567" (status, size) would look like one
            # 7-digit number.
            # Only the atoms the line writes: gunicorn passes one per request header, response
            # header and environ key too (fifty or so), and masking them all was most of the cost
            # of a webhook's access line (py-spy). The rest never reach the output: dropped here.
            wanted = _atoms_in(str(record.msg))
            atoms = {
                key: mask_numbers(v) if isinstance(v, str) else v
                for key, v in record.args.items()
                if key in wanted
            }
            record.args = atoms
            record.http = _access_fields(atoms)
            step = atoms.get("{" + STEP_ENVIRON + "}e")  # gunicorn's name for an environ key
            if isinstance(step, dict):
                fields = {name: mask_fields(str(value)) for name, value in step.items() if value is not None}
                call_sid = fields.pop("CallSid", None)
                record.step = fields
            message = _render(record)
        else:
            message = mask_numbers(_render(record))
        record.msg, record.args = message, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_numbers(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_numbers(record.stack_info)
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD:
                setattr(record, key, mask_fields(value))
        record.call_sid = mask_fields(call_sid or _call_sid())
        record._ivr_masked = True
        return True


# The atoms that the access line's http fields and the call's step read (`_access_fields`).
_FIELD_ATOMS = frozenset({"m", "U", "s", "q", "D", "{" + STEP_ENVIRON + "}e"})


@functools.lru_cache(maxsize=8)
def _atoms_in(access_format: str) -> frozenset[str]:
    """The atoms an access-log format names (`%(h)s`, `%({user-agent}i)s`...), and `_FIELD_ATOMS`."""
    return _FIELD_ATOMS | frozenset(re.findall(r"%\(([^)]*)\)", access_format))


def _render(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # a bad format string: keep the raw message rather than drop the record
        return f"{record.msg!s} {record.args!r}"


def _extra(record: logging.LogRecord) -> dict[str, Any]:
    """The fields a log call added with `extra=`."""
    return {key: value for key, value in record.__dict__.items() if key not in _STANDARD}


def _access_fields(atoms: dict[str, Any]) -> dict[str, Any]:
    """The useful parts of a gunicorn access-log record (its args are the atoms of the log format)."""
    fields = {"method": atoms.get("m"), "path": atoms.get("U"), "status": atoms.get("s")}
    if atoms.get("q"):
        fields["query"] = atoms["q"]
    with contextlib.suppress(TypeError, ValueError):
        fields["ms"] = round(int(atoms.get("D", 0)) / 1000, 2)  # D is in microseconds
    return fields


def _call_sid() -> str | None:
    """The CallSid of the webhook being handled, if any."""
    try:
        from flask import has_request_context, request

        if has_request_context() and request.mimetype == "application/x-www-form-urlencoded":
            sid = request.form.get("CallSid")
            return (sid or "").strip()[:64] or None
    except Exception:  # logging must never fail because the request is odd
        return None
    return None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, CallSid where there is one, the
    access log's http fields, the call's step, `extra=` fields, exception and stack text."""

    def format(self, record: logging.LogRecord) -> str:
        """Format a record as a single line of JSON, every field of it masked."""
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
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
        extra = _extra(record)
        if extra:
            entry["extra"] = extra
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exc"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        # MaskNumbers has masked each field on its own already (an access line's atoms one by one);
        # a record that did not pass through it is masked here.
        masked = entry if getattr(record, "_ivr_masked", False) else mask_fields(entry)
        assert isinstance(masked, dict)
        masked["pid"] = record.process  # ours, not the caller's: never masked
        return json.dumps(masked, ensure_ascii=False, default=str)


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
