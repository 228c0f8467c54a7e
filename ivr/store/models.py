"""The tables, as SQLAlchemy 2.0 typed declarative models. Changes need an Alembic migration."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    Integer,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Phone numbers appear in clear in three columns only, callbacks.callback_number,
# sms_outbox.to_number and missed_calls.to_number (until 7 days after it is done), because staff
# must call back and Twilio must send and call. Everywhere else a caller
# is the salted HMAC from ivr.privacy.caller_hash.
HASH_LEN = 64
SID_LEN = 64
NUMBER_LEN = 32
LANG_LEN = 16
NODE_LEN = 64  # a node id of the content's tree (journey_events.node's length)
LOGIN_KEY_LEN = 200  # "user:" and a username (64), or "ip:" and an address
ONCE_LEN = 140  # a side effect's "once" key: a CallSid (64), a space and a specialty or topic (64)
TOKEN_LEN = 128  # an I-Twilio-Idempotency-Token, as long as any seen (bounded: it is a header)
SMS_STATUSES = ("queued", "sent", "failed")
# A missed call's call-back: waiting for its first try (queued) or another (retry), being placed
# (claimed_at set), placed and ringing (calling); answered, given up after its tries, failed for
# good (a permanent Twilio error), or not called back at all over the daily cap (capped).
MISSED_STATES = ("queued", "retry", "calling", "answered", "given-up", "failed", "capped")
# What a staff user may do (ivr/web/roles.py says which pages each role opens): run the call centre
# (staff), review the content clinically (clinician), or everything and the audit log (admin).
STAFF_ROLES = ("staff", "clinician", "admin")
ACTOR_LEN = 80  # who did something: a staff username (64), or "cli:" and the system user


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite keeps no zone, so it is implied)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes; store UTC."""
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware one (datetime.now(UTC))")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        """Give back an aware UTC datetime."""
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# BIGINT ids on PostgreSQL; SQLite only auto-increments a column declared exactly INTEGER.
Id = Annotated[int, mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True)]
CallSid = Annotated[str, mapped_column(String(SID_LEN), index=True)]


class Base(DeclarativeBase):
    """Declarative base with constraint names Alembic can refer to (SQLite batch migrations)."""

    metadata = MetaData(
        naming_convention={
            "ix": "ix_%(column_0_label)s",
            "uq": "uq_%(table_name)s_%(column_0_name)s",
            "ck": "ck_%(table_name)s_%(constraint_name)s",
            "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
            "pk": "pk_%(table_name)s",
        }
    )
    type_annotation_map = {datetime: UTCDateTime()}  # noqa: RUF012


class KnownCaller(Base):
    """A caller known by pseudonym only, with what they chose last time and where they stopped."""

    __tablename__ = "callers"

    caller_hash: Mapped[str] = mapped_column(String(HASH_LEN), primary_key=True)
    language: Mapped[str | None] = mapped_column(String(LANG_LEN))
    rate: Mapped[str | None] = mapped_column(String(16))
    first_seen: Mapped[datetime]
    # When the caller last called (consented callers only): a caller unused for IVR_RETAIN_PREFS_DAYS
    # is forgotten by `flask data purge`.
    last_seen: Mapped[datetime] = mapped_column(index=True)
    # When the caller agreed ("To have me remember your language and speed next time, press 1") and
    # the version of the notice they heard (ivr/engine/consent.py NOTICE_VERSION): a row exists only
    # with both, so the line can show that consent was given (DPDP Act 2023, s. 6).
    consent_at: Mapped[datetime | None]
    consent_version: Mapped[str | None] = mapped_column(String(16))
    # The part of a topic the caller was hearing (a section id and a part) and when: offered on
    # their next call ("To carry on, press 1."), forgotten at the topic's end and after KEEP_PLACE
    # (30 days, ivr/store/calls.py). Only for that offer.
    place_node: Mapped[str | None] = mapped_column(String(NODE_LEN))
    place_part: Mapped[int | None]
    place_at: Mapped[datetime | None] = mapped_column(index=True)


class Call(Base):
    """One phone call: when, how it ended, in which language."""

    __tablename__ = "calls"

    call_sid: Mapped[str] = mapped_column(String(SID_LEN), primary_key=True)
    caller_hash: Mapped[str | None] = mapped_column(String(HASH_LEN), index=True)
    started_at: Mapped[datetime] = mapped_column(index=True)
    ended_at: Mapped[datetime | None]
    duration_seconds: Mapped[int | None]
    status: Mapped[str] = mapped_column(String(32))
    language: Mapped[str | None] = mapped_column(String(LANG_LEN))


class JourneyEvent(Base):
    """One step of a call's way through the menus (no foreign key: events outlive a lost call row)."""

    __tablename__ = "journey_events"

    id: Mapped[Id]
    call_sid: Mapped[CallSid]
    at: Mapped[datetime]
    event: Mapped[str] = mapped_column(String(32))
    node: Mapped[str] = mapped_column(String(64))
    part: Mapped[int]
    detail: Mapped[str | None] = mapped_column(String(200))


class Callback(Base):
    """A caller asked to be called back: the number is kept in clear for staff, for that only."""

    __tablename__ = "callbacks"

    id: Mapped[Id]
    call_sid: Mapped[CallSid]
    caller_hash: Mapped[str | None] = mapped_column(String(HASH_LEN))
    callback_number: Mapped[str] = mapped_column(String(NUMBER_LEN))
    specialty: Mapped[str | None] = mapped_column(String(64))
    language: Mapped[str | None] = mapped_column(String(LANG_LEN))
    requested_at: Mapped[datetime]
    done_at: Mapped[datetime | None]
    done_by: Mapped[str | None] = mapped_column(String(64))
    # "CallSid specialty": one call back per call and specialty, however often Twilio redelivers.
    once_key: Mapped[str | None] = mapped_column(String(ONCE_LEN), unique=True, index=True)


class Recording(Base):
    """A voice message a caller left, for staff to review."""

    __tablename__ = "recordings"

    id: Mapped[Id]
    call_sid: Mapped[CallSid]
    recording_url: Mapped[str] = mapped_column(String(500))
    duration_seconds: Mapped[int | None]
    specialty: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime]
    reviewed_at: Mapped[datetime | None]
    reviewed_by: Mapped[str | None] = mapped_column(String(64))
    # Twilio's RecordingSid: one row per recording, however often its action is redelivered.
    recording_sid: Mapped[str | None] = mapped_column(String(SID_LEN), unique=True, index=True)
    # To be deleted (an erasure, or past IVR_RETAIN_RECORDING_DAYS): hidden from staff at once, the
    # audio deleted at Twilio and then the row, by the eraser or `flask data purge`'s retries;
    # erase_claimed_at is set by the one process deleting it now, so it is never deleted twice.
    erase_requested_at: Mapped[datetime | None] = mapped_column(index=True)
    erase_claimed_at: Mapped[datetime | None]


class SmsOutbox(Base):
    """A text message to send through Twilio; the number is in clear because sending needs it."""

    __tablename__ = "sms_outbox"
    __table_args__ = (CheckConstraint(f"status IN {SMS_STATUSES!r}", name="status"),)

    id: Mapped[Id]
    call_sid: Mapped[str | None] = mapped_column(String(SID_LEN), index=True)
    to_number: Mapped[str] = mapped_column(String(NUMBER_LEN))
    body: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), index=True)
    twilio_sid: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    # "CallSid topic": one text per call and topic, however often the caller or Twilio asks.
    once_key: Mapped[str | None] = mapped_column(String(ONCE_LEN), unique=True, index=True)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    # A queued text is sent from this time on (None: now); a claimed one is being sent by one sender.
    next_attempt_at: Mapped[datetime | None] = mapped_column(index=True)
    claimed_at: Mapped[datetime | None]


class SmsQuota(Base):
    """Texts queued for one caller (by pseudonym) on one UTC day: the daily cap is kept here."""

    __tablename__ = "sms_quota"

    caller_hash: Mapped[str] = mapped_column(String(HASH_LEN), primary_key=True)
    day: Mapped[str] = mapped_column(String(10), primary_key=True)  # YYYY-MM-DD, UTC
    texts: Mapped[int]


class MissedCall(Base):
    """A missed call to a missed-call number (rejected, so free to the caller) and its call-back:
    every try and how it went. The number is kept only until the call-back is done and 7 days
    more (ivr.store.missed.NUMBER_KEPT), then purged; the row itself goes after 30 days."""

    __tablename__ = "missed_calls"
    __table_args__ = (CheckConstraint(f"state IN {MISSED_STATES!r}", name="state"),)

    id: Mapped[Id]
    # The missed call's CallSid: one call-back per missed call, however often Twilio redelivers it.
    call_sid: Mapped[str] = mapped_column(String(SID_LEN), unique=True)
    caller_hash: Mapped[str] = mapped_column(String(HASH_LEN), index=True)
    to_number: Mapped[str | None] = mapped_column(String(NUMBER_LEN))
    line_number: Mapped[str] = mapped_column(String(NUMBER_LEN))  # the line's number it came to
    state: Mapped[str] = mapped_column(String(16), index=True)
    attempts: Mapped[int] = mapped_column(Integer, server_default="0")
    created_at: Mapped[datetime] = mapped_column(index=True)
    next_attempt_at: Mapped[datetime | None] = mapped_column(index=True)
    claimed_at: Mapped[datetime | None]
    done_at: Mapped[datetime | None]
    # The call-back's CallSid (its webhooks find the row by it) and how the last try went.
    outbound_sid: Mapped[str | None] = mapped_column(String(SID_LEN), index=True)
    outcome: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(String(500))


class WebhookReply(Base):
    """The reply given to a webhook request carrying I-Twilio-Idempotency-Token, kept for a day so
    that Twilio's redelivery of that request gets the same reply and does no work twice."""

    __tablename__ = "webhook_replies"

    token: Mapped[str] = mapped_column(String(TOKEN_LEN), primary_key=True)
    status: Mapped[int]
    mimetype: Mapped[str | None] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(index=True)


class StaffUser(Base):
    """Someone who works the call centre; the password only as a hash."""

    __tablename__ = "staff_users"

    id: Mapped[Id]
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime]
    # Every session cookie carries the number current when it was opened; raising it (logging out,
    # a new password, `flask staff revoke`) ends every session opened before, copies included.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    role: Mapped[str] = mapped_column(String(16), default="staff", server_default="staff")

    __table_args__ = (CheckConstraint(f"role IN {STAFF_ROLES!r}", name="role"),)


class AuditEntry(Base):
    """Something a person did with personal data or the line's records: a staff view of a number or
    a recording, an erasure, an export, a clinical sign-off. Written before the thing is shown or
    done (a view that cannot be logged is not shown), kept for as long as the line runs."""

    __tablename__ = "audit_log"

    id: Mapped[Id]
    at: Mapped[datetime] = mapped_column(index=True)
    actor: Mapped[str] = mapped_column(String(ACTOR_LEN), index=True)
    role: Mapped[str | None] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32), index=True)
    # What it was done to, never a number in clear: "callbacks no. 3, no. 4", "recording 7",
    # "caller-ab12cd34ef56".
    target: Mapped[str] = mapped_column(String(500))
    detail: Mapped[str | None] = mapped_column(String(500))


class LoginFailure(Base):
    """Failed staff logins for one key ("user:NAME" or "ip:ADDRESS") in a window from its first one."""

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(String(LOGIN_KEY_LEN), primary_key=True)
    failures: Mapped[int]
    # Seconds since the epoch (the clock every server process shares); rows past it count for nothing.
    window_ends: Mapped[float] = mapped_column(Float, index=True)


class SignOff(Base):
    """A clinician's sign-off of one topic in one language: for the text whose content hash it names
    (ivr/content/signoff.py), so a change to the text leaves it for an older text. Never changed:
    a new sign-off is a new row, and the latest for a topic and language counts."""

    __tablename__ = "signoffs"

    id: Mapped[Id]
    topic: Mapped[str] = mapped_column(String(NODE_LEN), index=True)
    lang: Mapped[str] = mapped_column(String(LANG_LEN))
    content_hash: Mapped[str] = mapped_column(String(HASH_LEN))  # SHA-256, hex
    clinician: Mapped[str] = mapped_column(String(120))  # the name as they signed: "Dr. Meera Iyer"
    signed_on: Mapped[date]  # the day they signed, in the line's time zone
    signed_by: Mapped[str] = mapped_column(String(64))  # the staff username logged in
    at: Mapped[datetime]  # when it was saved, UTC
