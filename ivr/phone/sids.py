"""Twilio's SIDs and status words as the line keys and compares them: one spelling each.

A SID is two capital letters and 32 hex digits (CA... a call, RE... a recording); Twilio writes the
hex in lower case. A SID that reaches the line as " CA0F...", "ca0f..." or "CA0F...\n" is the same
call, so every SID is stripped and, when it has the SID's shape, written "CA" + lower-case hex:
a call ended, a text sent once per call, a recording kept once are then one call and one recording
however the field is spelt. Status words (CallStatus, DialCallStatus, QueueResult) are Twilio's
lower-case words: " Completed" is "completed".
"""

from __future__ import annotations

import logging
import re
from urllib.parse import unquote, urlsplit

log = logging.getLogger("ivr.voice")

SID_LEN = 64  # the longest SID-like value kept (a real SID has 34 characters)
STATUS_LEN = 32
_SID = re.compile(r"([A-Za-z]{2})([0-9a-fA-F]{32})")


def sid(raw: str, prefix: str) -> str:
    """A SID field (CallSid: `prefix` "CA") in one spelling: "CA" + lower-case hex when it has a
    SID's shape with that prefix in any case; else the value stripped (at most SID_LEN characters:
    a test's or simulator's "CAlt1" stays "CAlt1"); "" when missing or blank."""
    value = raw.strip()
    found = _SID.fullmatch(value)
    if found and found.group(1).upper() == prefix:
        return prefix + found.group(2).lower()
    return value[:SID_LEN]


def status_word(raw: str) -> str:
    """A status field (CallStatus, DialCallStatus, QueueResult) as Twilio's lower-case word."""
    return raw.strip().lower()[:STATUS_LEN]


def recording_sid(form_sid: str, url: str) -> str:
    """The RecordingSid a <Record> action is kept once under, "RE" + lower-case hex.

    From the form's RecordingSid, or the last segment of RecordingUrl (Twilio's ".../Recordings/RE..."),
    its extension (".mp3", ".wav", ".json"), query and fragment ignored. When both are SIDs and differ
    the URL's wins: it is the audio the row keeps and staff play, so one recording is one row (the
    other is logged). When neither is a SID: the form's value stripped, else the URL's segment."""
    from_form = sid(form_sid, "RE")
    segment = unquote(urlsplit(url.strip()).path.rstrip("/").rsplit("/", 1)[-1])
    from_url = sid(segment.split(".", 1)[0], "RE")
    form_ok, url_ok = _is_sid(from_form, "RE"), _is_sid(from_url, "RE")
    if form_ok and url_ok and from_form != from_url:
        log.warning("RecordingSid %s is not the RecordingUrl's %s: kept as the URL's", from_form, from_url)
        return from_url
    if url_ok and not form_ok:
        return from_url
    return from_form or from_url[:SID_LEN]


def _is_sid(value: str, prefix: str) -> bool:
    return len(value) == 34 and value.startswith(prefix) and _SID.fullmatch(value) is not None
