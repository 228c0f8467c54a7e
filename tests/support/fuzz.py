"""What Twilio posts to a webhook, for the property tests (tests/test_fuzz.py, tests/test_forms.py)."""

from __future__ import annotations

TWILIO_FIELDS = (
    "CallSid",
    "AccountSid",
    "From",
    "To",
    "Caller",
    "Called",
    "CallStatus",
    "Direction",
    "Digits",
    "SpeechResult",
    "Confidence",
    "DialCallStatus",
    "DialCallSid",
    "DialCallDuration",
    "CallDuration",
    "QueueResult",
    "RecordingUrl",
    "RecordingDuration",
    "ErrorCode",
    "ErrorUrl",
    "FinishedOnKey",
)
