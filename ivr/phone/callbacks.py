"""Free call-backs after a missed call: queued with their guards, placed through Twilio's REST API
(Calls), followed to their outcome, tried again or given up.

A caller rings a missed-call number (IVR_MISSED_CALL_NUMBERS) and is rejected, which costs them
nothing; `CallBacks.take` queues a call-back, due IVR_CALLBACK_DELAY seconds later (they have hung
up by then), or when the quiet hours end. `place_due` (run by a thread in every serving process and
by `flask callbacks place-due`) claims each due call-back and asks Twilio to call the caller from
the number they rang, with answering-machine detection; the call's webhooks (ivr/phone/missed.py)
play the line, or hang up on a machine, and report the outcome here.
"""

from __future__ import annotations

import functools
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException

from ivr import numbers
from ivr.phone.texts import never_reached, rest_client, retry_delay
from ivr.store import Store
from ivr.store.core import utc_now
from ivr.store.missed import DUE, DueCallback, MissedQueued

log = logging.getLogger("ivr.callbacks")
# One call-back per number in this time, however often it rings: counted from the missed call that
# queued the last call-back and from that call-back's end (answered, given up or failed).
RECENT = timedelta(minutes=10)
MAX_CALLS = 3  # call-backs that ring a number for one missed call: the first and 2 retries
RETRY_AFTER = timedelta(minutes=10)  # after a machine, no answer, busy or a failed call
MAX_TRIES = 6  # tries in all, Twilio refusing one (a 5xx, the network) included: retried with back-off
RING_S = 30  # how long a call-back rings before it is "no-answer"
# Twilio errors no retry can mend (https://www.twilio.com/docs/api/errors): not a valid number
# (21211), not reachable (21214), no permission to call its country (21215, 13227), a number on
# Twilio's blocklist (21216). Anything else (429, 5xx, a network error) is tried again later.
PERMANENT = frozenset({13227, 21211, 21214, 21215, 21216})
# AnsweredBy values (https://www.twilio.com/docs/voice/answering-machine-detection) that are no person.
MACHINE = frozenset({"machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax"})
NOT_REACHED = frozenset({"busy", "no-answer", "failed", "canceled"})  # final CallStatus with no one
QUIET = "quiet hours"  # the note of a call-back held until they end
# What `take` says of a missed call: a call-back will come, or the call is from one of the line's
# own numbers (a call-back that rang a missed-call number, or a number calling itself): both are
# rejected, which costs nothing; anything else is answered as usual.
REJECT, OWN_NUMBER = "reject", "own number"
REJECTED = frozenset({REJECT, OWN_NUMBER})
_WHY_NOT = {
    "malformed": "not a valid number",
    "country": "in a country call-backs may not go to",
    "kind": "not a number call-backs may go to (toll-free, premium-rate...)",
}


def quiet_span(raw: str) -> tuple[time, time] | None:
    """IVR_CALLBACK_QUIET_HOURS ("21:00-08:00", checked with the settings) as (start, end); None for off."""
    if raw == "off":
        return None
    start, end = raw.split("-")
    return time.fromisoformat(start), time.fromisoformat(end)


@dataclass
class CallBacks:
    """The missed-call numbers and their call-backs: `take` a missed call, `place_due` what is due,
    `answered` / `status` / `ended` for what became of each call."""

    store: Store
    account_sid: str | None
    auth_token: str | None
    public_base_url: str | None
    line_numbers: frozenset[str] = frozenset()  # the numbers in missed-call mode, E.164
    http_client: Any = None  # a twilio.http.HttpClient; tests fake Twilio's REST edge there
    # The line's other numbers in E.164 (IVR_LINE_NUMBER, TWILIO_SMS_FROM): never called back either.
    own_numbers: frozenset[str] = frozenset()
    country_codes: str = "91"
    delay: timedelta = timedelta(seconds=20)
    daily_limit: int = 3
    line_hourly_limit: int = 200  # call-backs the whole line queues an hour (IVR_CALLBACK_LINE_HOURLY_LIMIT)
    quiet: tuple[time, time] | None = (time(21), time(8))
    zone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Kolkata"))
    clock: Callable[[], datetime] = utc_now
    _logged: set[str] = field(default_factory=set, init=False, repr=False, compare=False)
    _line_capped_logged: datetime | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def configured(self) -> bool:
        """Whether call-backs can be placed: Twilio's credentials and the public address are set."""
        return bool(self.line_numbers and self.account_sid and self.auth_token and self.public_base_url)

    def missing(self) -> list[str]:
        """The settings call-backs need that are not set."""
        needed = {
            "TWILIO_ACCOUNT_SID": self.account_sid,
            "TWILIO_AUTH_TOKEN": self.auth_token,
            "PUBLIC_BASE_URL": self.public_base_url,
        }
        return [name for name, value in needed.items() if not value]

    def take(self, call_sid: str, caller_number: str | None, caller_key: str | None, line_number: str) -> str:
        """A call to the missed-call number `line_number`: "reject" when a call-back will come (queued
        now, or one already pending); "own number" when it comes from one of the line's own numbers
        (rejected, never called back: the line would call itself, or two missed-call numbers each
        other, for ever); else why the call is answered as usual: "withheld", "not allowed",
        "recent" (a call-back queued or ended in the last 10 minutes), "capped" (the number's daily
        cap), "line capped" (the line's hourly cap, IVR_CALLBACK_LINE_HOURLY_LIMIT), "no database" or
        "not configured" (no Twilio credentials: the line could not call back, so it does not
        reject)."""
        if caller_number is not None and self.is_own(caller_number, line_number):
            log.warning(
                "missed call=%s to %s rejected with no call-back: it comes from the line's own number %s",
                call_sid or "-",
                line_number,
                caller_number,
            )
            return OWN_NUMBER
        if not self.configured:
            if self._once("not configured"):
                log.warning(
                    "missed-call mode is not in effect: calls to %s are answered as usual, as no"
                    " call-back can be placed without %s",
                    ", ".join(sorted(self.line_numbers)),
                    " and ".join(self.missing()),
                )
            return "not configured"
        if caller_number is None or caller_key is None or not call_sid:
            log.info("missed call=%s answered as usual: the number is withheld", call_sid or "-")
            return "withheld"
        why_not = numbers.why_not_callable(caller_number, self.country_codes)
        if why_not is not None:
            log.info("missed call=%s answered as usual: the number is %s", call_sid, _WHY_NOT[why_not])
            return "not allowed"
        now = self.clock()
        due = self.after_quiet(now + self.delay, caller_number)
        note = QUIET if due > now + self.delay else None
        local = now.astimezone(self.zone)
        queued = self.store.queue_missed(
            call_sid,
            caller_key,
            caller_number,
            line_number,
            now=now,
            due=due,
            recent_since=now - RECENT,
            day_start=local.replace(hour=0, minute=0, second=0, microsecond=0),
            daily_limit=self.daily_limit,
            line_limit=self.line_hourly_limit,
            note=note,
        )
        outcome = _told(queued)
        if outcome == "line capped" and self._line_cap_news(now):
            log.warning(
                "missed calls answered as usual: the line has queued its %d call-backs of the last hour"
                " (IVR_CALLBACK_LINE_HOURLY_LIMIT); more callers than usual, or spoofed caller IDs",
                self.line_hourly_limit,
            )
        if outcome != REJECT:
            log.info("missed call=%s answered as usual: %s", call_sid, outcome)
        return outcome

    def is_own(self, number: str, *also: str) -> bool:
        """Whether `number` (E.164) is one of the line's own numbers, or one of `also`."""
        return number in self.line_numbers or number in self.own_numbers or number in also

    def _line_cap_news(self, now: datetime) -> bool:
        """True when the line-wide cap was last logged by this process an hour or more ago."""
        last = self._line_capped_logged
        if last is not None and now - last < timedelta(hours=1):
            return False
        self._line_capped_logged = now
        return True

    def _once(self, what: str) -> bool:
        """True the first time this process's call-backs are told `what` (to log it once)."""
        if what in self._logged:
            return False
        self._logged.add(what)
        return True

    def zone_for(self, number: str | None) -> ZoneInfo:
        """The time zone of the quiet hours of a call-back to `number`: its own, when its country
        (or area) has exactly one (ivr.numbers.time_zone_of), else the line's (IVR_TIME_ZONE)."""
        name = numbers.time_zone_of(number) if number else None
        return (_zone(name) if name else None) or self.zone

    def in_quiet(self, at: datetime, number: str | None = None) -> bool:
        """Whether `at` falls in the quiet hours where `number` is (zone_for; the line's if None)."""
        if self.quiet is None:
            return False
        start, end = self.quiet
        now = at.astimezone(self.zone_for(number)).time()
        return start <= now < end if start < end else (now >= start or now < end)

    def after_quiet(self, at: datetime, number: str | None = None) -> datetime:
        """`at`, or when the quiet hours it falls in end where `number` is."""
        if self.quiet is None or not self.in_quiet(at, number):
            return at
        zone = self.zone_for(number)
        local = at.astimezone(zone)
        end = datetime.combine(local.date(), self.quiet[1], tzinfo=zone)
        return (end if end > local else end + timedelta(days=1)).astimezone(at.tzinfo)

    def place_due(self, now: datetime | None = None, limit: int = 20) -> Counter[str]:
        """One pass of the sender: housekeeping, then each due call-back tried once, in the order
        they are due, unless it is in the quiet hours where it would ring ("held" till they end);
        how many ended each way ("placed", "retry", "failed", "claimed", "held"), and what
        housekeeping did."""
        at = now or self.clock()
        done: Counter[str] = Counter(self.store.tidy_missed(at))
        if not self.configured:
            return done
        for due in self.store.due_missed(at, limit):
            done[self.hold(due, at) if self.in_quiet(at, due.to_number) else self.attempt(due, at)] += 1
        return done

    def hold(self, due: DueCallback, now: datetime) -> str:
        """A call-back due before the quiet hours where it would ring, found in them (no placer ran
        in between): "held" till they end, never placed at night."""
        if not self.store.missed_hold(due.id, self.after_quiet(now, due.to_number), QUIET):
            return "claimed"
        log.info("call-back id=%d held: quiet hours where it would ring", due.id)
        return "held"

    def attempt(self, due: DueCallback, now: datetime) -> str:
        """Claim one call-back and ask Twilio to place it: "placed", "retry", "failed" or "claimed"."""
        if not self.store.claim_missed(due.id, now):
            return "claimed"
        tries = due.attempts + 1
        if self.is_own(due.to_number, due.line_number):  # queued before the line knew it as its own
            return self._not_placed(due, tries, now, "one of the line's own numbers: never called back", True)
        base = str(self.public_base_url)
        try:
            call = rest_client(self.account_sid, self.auth_token, self.http_client).calls.create(
                to=due.to_number,
                from_=due.line_number,
                url=f"{base}/voice?cb={due.id}",
                method="POST",
                status_callback=f"{base}/voice/status?cb={due.id}",
                status_callback_method="POST",
                machine_detection="Enable",
                timeout=RING_S,
            )
        except TwilioRestException as exc:
            return self._not_placed(
                due, tries, now, f"Twilio error {exc.code}: {exc.msg}", exc.code in PERMANENT
            )
        except (requests.RequestException, TwilioException) as exc:
            if never_reached(exc):
                return self._not_placed(due, tries, now, f"Twilio not reached: {type(exc).__name__}", False)
            # Twilio may have placed it before the answer was lost: never placed again (at most once).
            why = f"no clear answer from Twilio ({type(exc).__name__}): it may have rung"
            return self._not_placed(due, tries, now, why, True)
        sid = str(call.sid)
        early = self.store.missed_placed(due.id, sid, now)
        log.info("call-back id=%d placed: call=%s, try %d", due.id, sid, tries)
        if early:  # Twilio told its outcome before calls.create answered: followed now
            self.ended(due.id, sid, early)
        return "placed"

    def answered(self, missed_id: int, call_sid: str, answered_by: str) -> bool:
        """The call-back's call was answered (its url webhook): True when the line should play, for
        a person (or "unknown"); False for a machine, then tried again later."""
        if answered_by in MACHINE:
            self.ended(missed_id, call_sid, "machine")
            return False
        self.ended(missed_id, call_sid, answered_by or "human")
        return True

    def status(self, missed_id: int, call_sid: str, call_status: str, answered_by: str) -> None:
        """The call-back's final CallStatus (its status callback)."""
        if call_status in NOT_REACHED:
            self.ended(missed_id, call_sid, call_status)
        elif call_status == "completed":
            self.answered(missed_id, call_sid, answered_by)  # already answered: nothing moves

    def ended(self, missed_id: int, call_sid: str, outcome: str) -> None:
        """What became of the call `call_sid` of a call-back: a person took it ("human", "unknown":
        answered), or no one did (a "machine", "busy", "no-answer", "failed", "canceled": again in
        RETRY_AFTER, after the quiet hours, up to MAX_CALLS calls; then given up).

        Twilio may tell it before calls.create has answered, while the try is still claimed and its
        CallSid unknown to the store: it is then kept with the try (`missed_early`), and `attempt`
        follows it once the call is recorded as placed, so that no outcome is lost."""
        row = self.store.missed_call(missed_id)
        if row is not None and row.state in DUE and row.claimed_at is not None:
            if self.store.missed_early(missed_id, call_sid, outcome):
                log.info(
                    "call-back id=%d: %s before its placing was recorded: call=%s",
                    missed_id,
                    outcome,
                    call_sid,
                )
                return
            row = self.store.missed_call(missed_id)  # recorded as placed meanwhile
        if row is None or row.state != "calling" or row.outbound_sid != call_sid:
            return  # unknown, or already moved on (a redelivered or late callback)
        now = self.clock()
        if outcome not in NOT_REACHED and outcome != "machine":
            if self.store.missed_done(missed_id, "answered", outcome, now, outbound_sid=call_sid):
                log.info("call-back id=%d answered (%s): call=%s", missed_id, outcome, call_sid)
            return
        if row.attempts >= MAX_CALLS:
            self.store.missed_done(missed_id, "given-up", outcome, now, outbound_sid=call_sid)
            log.info("call-back id=%d given up after %d calls (%s)", missed_id, row.attempts, outcome)
            return
        self.store.missed_retry(
            missed_id, outcome, self.after_quiet(now + RETRY_AFTER, row.to_number), outbound_sid=call_sid
        )
        log.info("call-back id=%d not taken (%s): tried again in %s", missed_id, outcome, RETRY_AFTER)

    def _not_placed(self, due: DueCallback, tries: int, at: datetime, reason: str, permanent: bool) -> str:
        first = reason.splitlines()[0][:200]
        if permanent or tries >= MAX_TRIES:
            log.warning("call-back id=%d failed after %d tries: %s", due.id, tries, first)
            self.store.missed_done(due.id, "failed", "error", at, note=reason)
            return "failed"
        wait = retry_delay(tries)
        log.info("call-back id=%d not placed (%s); try %d in %.0f s", due.id, first, tries + 1, wait)
        self.store.missed_retry(
            due.id, "error", self.after_quiet(at + timedelta(seconds=wait), due.to_number), note=reason
        )
        return "retry"


def _told(queued: MissedQueued | None) -> str:
    """What a missed call gets from what the store did with it."""
    if queued is None:
        return "no database"
    return {"queued": REJECT, "pending": REJECT}.get(queued.outcome, queued.outcome)


@functools.lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo | None:
    """A time zone of phonenumbers' data by its name; None if this system's database lacks it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None
