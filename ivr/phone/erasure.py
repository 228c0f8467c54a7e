"""Erasing a caller's number, and purging what is past its retention period: the store's part
(ivr.store.erasure, ivr.store.retention) plus the recordings' audio at Twilio.

`erase_number` (staff: `flask data erase`, the dashboard) and `erase_caller` (the voice flow's
"forget me") delete everything kept for one number; `purge` (`flask data purge`) enforces every
retention period at once. Recordings are deleted at Twilio through its REST API
(`client.recordings(sid).delete()`, on the app's HttpClient seam, TWILIO_HTTP_CLIENT in tests),
then their rows; a recording Twilio could not delete now stays marked (hidden from staff) and the
next purge tries again. Each is claimed first, so no two processes delete the same one, and one
deleted is never deleted again (its row goes; Twilio's 404 for audio already gone counts as done).
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import asdict, replace
from datetime import datetime

from flask import current_app
from twilio.base.exceptions import TwilioException, TwilioRestException

from ivr import services
from ivr.numbers import caller_number
from ivr.phone.callers import Caller, identify
from ivr.phone.texts import rest_client
from ivr.store import Store
from ivr.store.audit import ERASE
from ivr.store.core import utc_now
from ivr.store.erasure import Erased
from ivr.store.retention import Periods

log = logging.getLogger("ivr.erasure")
NOT_FOUND = 404  # Twilio's answer for a recording already deleted: done


class InvalidNumberError(ValueError):
    """Not a phone number in international form (+91 98123 45678, 0091…): nothing to erase by."""


class StoreUnavailableError(RuntimeError):
    """The database could not erase now (it is down): nothing was erased."""


class AuditUnavailableError(RuntimeError):
    """The audit log could not record a staff erasure first: nothing was erased."""


def erase_number_for_staff(
    number: str, actor: str, *, role: str | None = None, now: datetime | None = None
) -> tuple[str, Erased]:
    """`erase_number` done by a person (a staff user, or "cli:" and a system user): recorded in the
    audit log first (`erase`, the caller's log pseudonym, "requested"; nothing is erased when that
    cannot be written), then with what went ("done: ...") or that it failed. The pseudonym and the
    counts. Raises InvalidNumberError, AuditUnavailableError or StoreUnavailableError."""
    read = caller_number(number)
    if read.reachable is None:
        raise InvalidNumberError(f"not a valid phone number in international form: {_masked(number)}")
    ref = identify(read.reachable, str(current_app.config["HASH_SALT"])).ref
    store = services.store()
    if not store.audit(actor, ERASE, ref, role=role, detail="requested"):
        raise AuditUnavailableError(f"the audit log in {store.url} could not be written: nothing was erased")
    try:
        erased = erase_number(number, now=now)
    except StoreUnavailableError:
        store.audit(actor, ERASE, ref, role=role, detail="failed: the database could not erase")
        raise
    store.audit(actor, ERASE, ref, role=role, detail="done: " + erased_summary(erased))
    return ref, erased


def erased_summary(erased: Erased) -> str:
    """What an erasure removed, the kinds it found only: "callers 1, callbacks 2" (or "nothing kept")."""
    found = [f"{kind.replace('_', ' ')} {n}" for kind, n in asdict(erased).items() if n]
    return ", ".join(found) or "nothing kept"


def erase_number(number: str, *, now: datetime | None = None) -> Erased:
    """Erase everything the line holds about `number`, in any spelling ("+91 98123-45678",
    "0091 98123 45678"), for the current app: the counts of what was removed, per kind.

    Raises InvalidNumberError for anything that is not a valid international number, StoreUnavailableError
    when the database cannot erase now (nothing was). For staff: the CLI and the dashboard."""
    read = caller_number(number)
    if read.reachable is None:
        raise InvalidNumberError(f"not a valid phone number in international form: {_masked(number)}")
    who = identify(read.reachable, str(current_app.config["HASH_SALT"]))
    erased = erase_caller(who, now=now)
    if erased is None:
        raise StoreUnavailableError(
            f"the database {services.store().url} could not erase now; nothing was erased"
        )
    return erased


def erase_caller(who: Caller, *, now: datetime | None = None) -> Erased | None:
    """Erase what is kept for this request's caller (or any Caller): the counts, None when the
    database failed (nothing erased) or the number is withheld (nothing is kept for it)."""
    if who.key is None:
        return None
    store = services.store()
    done = store.erase_caller(who.key, who.number, now=now)
    if done is None:
        return None
    erased, marked = done
    deleted = _eraser(store).delete(now=now, ids=marked) if marked else Counter[str]()
    return replace(erased, audio_deleted=deleted["deleted"], audio_pending=len(marked) - deleted["deleted"])


def purge(now: datetime | None = None) -> Counter[str]:
    """Enforce every retention period as of `now` (default: the line's clock), for the current
    app: what was removed per kind, and "failed" for each part the database could not do."""
    at = now or utc_now()
    store, cfg = services.store(), current_app.config
    periods = Periods.of_days(
        cfg["RETAIN_CALLBACK_DAYS"],
        cfg["RETAIN_RECORDING_DAYS"],
        cfg["RETAIN_PREFS_DAYS"],
        cfg["RETAIN_TEXT_DAYS"],
    )
    counts: Counter[str] = Counter()
    expired = store.purge_expired(at, periods)
    if expired is None:
        counts["failed"] += 1
    else:
        counts.update(expired)
    # The purges that each part of the line also runs by itself, so that one command does it all.
    counts["places"] += store.prune_places(at)
    counts["webhook_replies"] += store.prune_replies(at)
    counts["text_quota"] += store.prune_sms_quota(at)
    missed = store.tidy_missed(at)
    counts["missed_numbers"] += missed.get("purged", 0)
    counts["missed_calls"] += missed.get("deleted", 0)
    counts.update(_eraser(store).delete(now=at))
    counts["recordings_pending"] += store.recordings_pending()
    return counts


class RecordingEraser:
    """Deletes recordings marked for deletion: their audio at Twilio, then their rows."""

    def __init__(
        self, store: Store, account_sid: str | None, auth_token: str | None, http_client: object
    ) -> None:
        self.store = store
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.http_client = http_client

    def delete(self, *, now: datetime | None = None, ids: tuple[int, ...] | None = None) -> Counter[str]:
        """Delete what is marked (only `ids`, when given): {"deleted": n, "retry": m}."""
        counts: Counter[str] = Counter()
        if not (self.account_sid and self.auth_token):
            if ids or (ids is None and self.store.recordings_pending()):  # only when some wait
                log.warning("recordings to delete wait: TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN are not set")
            return counts
        client = rest_client(self.account_sid, self.auth_token, self.http_client)
        for rec in self.store.claim_recordings(now, ids):
            if rec.recording_sid is None or self._deleted_at_twilio(client, rec.recording_sid):
                if self.store.recording_deleted(rec.id):
                    counts["deleted"] += 1
                continue
            self.store.recording_not_deleted(rec.id)
            counts["retry"] += 1
        return counts

    @staticmethod
    def _deleted_at_twilio(client: object, sid: str) -> bool:
        try:
            client.recordings(sid).delete()  # type: ignore[attr-defined]
        except TwilioRestException as exc:
            if exc.status == NOT_FOUND:
                return True  # deleted before (a pass that died before deleting its row)
            log.warning(
                "recording %s not deleted at Twilio (HTTP %s, code %s): retried later",
                sid,
                exc.status,
                exc.code,
            )
            return False
        except (TwilioException, OSError) as exc:  # the network, a timeout: Twilio may be away
            log.warning("recording %s not deleted at Twilio (%s): retried later", sid, type(exc).__name__)
            return False
        return True


def _eraser(store: Store) -> RecordingEraser:
    cfg = current_app.config
    return RecordingEraser(
        store, cfg["TWILIO_ACCOUNT_SID"], cfg["TWILIO_REST_TOKEN"], cfg.get("TWILIO_HTTP_CLIENT")
    )


def _masked(number: str) -> str:
    """A number as an error may show it: its last two characters only."""
    shown = number.strip()
    return f"…{shown[-2:]}" if len(shown) > 2 else "…"
