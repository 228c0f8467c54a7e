"""How a transfer ended, from what Twilio posts to a <Dial> or <Enqueue> action, in the engine's terms.

A <Dial action> gets `DialCallStatus` (Twilio's documented values: completed, answered, busy,
no-answer, failed, canceled); an <Enqueue action> gets `QueueResult` (bridged, bridging-in-process,
queue-full, error, system-error, hangup, leave, redirected) and `QueueTime`. Every value leads the
caller somewhere: a goodbye after a conversation, else a call back or a recorded question
(ivr.engine.people.after_dial), never a silent hang-up.

A transfer to a number is screened: the person who answers hears the whisper and must press 1
(ivr/phone/agents.py), because a voicemail that answers is an "answered" call to Twilio. So
"completed" (or "answered") alone does not mean the caller talked to anyone: the line asks its store
whether the whisper was accepted since the transfer began.
"""

from __future__ import annotations

import math
from datetime import datetime

from ivr.content.directory import Directory

# The DialCallStatus values that say the dialled leg was answered (by a person or a machine).
ANSWERED = frozenset({"completed", "answered"})
# The others, as the engine names them: the dialled party was not reached.
NOT_REACHED = {"busy": "busy", "no-answer": "no-answer", "failed": "failed", "canceled": "canceled"}
# QueueResult values that are not a <Leave>, in the engine's terms. "bridged": an agent took the
# call and the conversation ended; "hangup": the caller hung up while waiting. "bridging-in-process"
# and "redirected" leave the line unsure where the caller is: the choices, with no claim.
QUEUE_ENDS = {
    "bridged": "completed",
    "hangup": "hangup",
    "queue-full": "queue-full",
    "error": "error",
    "system-error": "failed",
    "bridging-in-process": "unknown",
    "redirected": "unknown",
}


def dial_outcome(status: str, *, screened: bool, accepted: bool | None) -> str:
    """The engine's outcome for a <Dial> that ended with `status` (DialCallStatus).

    `screened`: the answering party had to press 1 (the whisper); `accepted`: whether they did
    since this transfer began (None: the store could not say). An unknown or missing status is a
    transfer that failed.
    """
    if status in ANSWERED:
        if not screened or accepted is True:
            return "completed"
        return "declined" if accepted is False else "unknown"
    return NOT_REACHED.get(status, "failed")


def queue_outcome(result: str, *, waited_s: float, max_wait_s: int, open_now: bool) -> str:
    """The engine's outcome for an <Enqueue> that ended with `result` (QueueResult).

    A "leave" is the line's own <Leave> (ivr/phone/agents.py): the longest wait passed
    (`waited_s` >= `max_wait_s`), the specialty closed (not `open_now`), else the caller pressed star.
    """
    if result == "leave":
        if waited_s >= max_wait_s:
            return "waited"
        return "left" if open_now else "closed"
    return QUEUE_ENDS.get(result, "failed")


def waited(queue_time: str, enqueued_at: str, now: datetime) -> float:
    """Seconds a caller has waited in a queue: Twilio's QueueTime, or the time since the line put
    them in it (`enqueued_at`, Unix seconds in the signed URL), whichever is longer; 0 when neither
    is a number."""
    since = _number(enqueued_at)
    return max(0.0, _number(queue_time) or 0.0, now.timestamp() - since if since is not None else 0.0)


def _number(raw: str) -> float | None:
    try:
        value = float(raw[:16])
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def open_now(directory: Directory | None, specialty: str, now: datetime) -> bool:
    """Whether a queue's specialty takes calls at `now`; True for one the directory does not know
    (the queue then ends only by the longest wait or the caller's star)."""
    if directory is None or specialty not in directory.file.specialties:
        return True
    return directory.is_open(specialty, now)
