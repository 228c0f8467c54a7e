"""A caller's personal data of every kind, made through the store's own API, and counted back:
for the erasure and retention tests."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select

from ivr.privacy import caller_hash
from ivr.store import Store
from ivr.store.models import Call, Callback, KnownCaller, MissedCall, Recording, SmsOutbox, SmsQuota

SALT = "test-salt"  # tests.support.app.make_app's HASH_SALT
LINE = "+911140001234"  # a missed-call number of the line


@dataclass(frozen=True)
class Seeded:
    """One caller's data: their number, pseudonym, call and recording's Twilio SID."""

    number: str
    key: str
    call_sid: str
    recording_sid: str


def seed_caller(store: Store, number: str, at: datetime) -> Seeded:
    """Everything the line can hold for `number`, as of `at`: remembered choices and a place, a call
    and its journey, an open and a done call back, a recorded question, a queued and a sent text
    (and today's text count), a missed call with its call-back pending."""
    key = caller_hash(number, SALT)
    call_sid = "CA" + secrets.token_hex(16)
    rec_sid = "RE" + secrets.token_hex(16)
    assert store.save_consent(key, "n1", language="hi", rate="slow", now=at)
    assert store.save_place(key, "symptoms", 1)
    assert store.call_started(call_sid, key, "hi")
    assert store.record_event(call_sid, "option:1", "symptoms_causes", 0)
    assert store.add_callback(call_sid, key, number, specialty="neurologist") is not None
    done = store.add_callback(call_sid, key, number, specialty="help_desk")
    assert done is not None and store.callback_done(done, "asha")
    url = f"https://api.twilio.com/2010-04-01/Accounts/AC{'0' * 32}/Recordings/{rec_sid}"
    assert store.add_recording(call_sid, url, duration_seconds=12, recording_sid=rec_sid) is not None
    queued = store.queue_text(call_sid, number, "Symptoms…", caller_hash=key, daily_limit=3, now=at)
    assert queued is not None
    sent = store.queue_text(
        call_sid, number, "Causes…", once_key=f"{call_sid} causes", caller_hash=key, daily_limit=3, now=at
    )
    assert sent is not None and sent.id is not None and store.sms_sent(sent.id, "SM" + "1" * 32)
    missed = store.queue_missed(
        "CA" + secrets.token_hex(16),
        key,
        number,
        LINE,
        now=at,
        due=at + timedelta(seconds=20),
        recent_since=at - timedelta(minutes=10),
        day_start=at - timedelta(hours=1),
        daily_limit=3,
    )
    assert missed is not None
    return Seeded(number, key, call_sid, rec_sid)


def held(store: Store, who: Seeded) -> dict[str, int]:
    """How many rows of each kind the store holds for `who` (by pseudonym, number or call)."""
    theirs = select(Call.call_sid).where(or_(Call.caller_hash == who.key, Call.call_sid == who.call_sid))
    queries = {
        "callers": select(func.count()).select_from(KnownCaller).where(KnownCaller.caller_hash == who.key),
        "calls_linked": select(func.count()).select_from(Call).where(Call.caller_hash == who.key),
        "callbacks": select(func.count())
        .select_from(Callback)
        .where(or_(Callback.caller_hash == who.key, Callback.callback_number == who.number)),
        "missed_calls": select(func.count())
        .select_from(MissedCall)
        .where(or_(MissedCall.caller_hash == who.key, MissedCall.to_number == who.number)),
        "texts": select(func.count()).select_from(SmsOutbox).where(SmsOutbox.to_number == who.number),
        "text_quota": select(func.count()).select_from(SmsQuota).where(SmsQuota.caller_hash == who.key),
        "recordings": select(func.count()).select_from(Recording).where(Recording.call_sid.in_(theirs)),
        "recordings_listed": select(func.count())
        .select_from(Recording)
        .where(Recording.call_sid.in_(theirs), Recording.erase_requested_at.is_(None)),
    }
    with store.engine.connect() as conn:
        return {kind: int(conn.execute(query).scalar_one()) for kind, query in queries.items()}


EVERYTHING = {
    "callers": 1,
    "calls_linked": 1,
    "callbacks": 2,
    "missed_calls": 1,
    "texts": 2,
    "text_quota": 1,
    "recordings": 1,
    "recordings_listed": 1,
}
NOTHING = dict.fromkeys(EVERYTHING, 0)
