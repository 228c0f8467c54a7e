"""A missed call that costs the caller nothing: rejected (<Reject reason="busy"/>), then called back
through Twilio's REST API (faked at its HttpClient seam) into the same line, with its guards:
withheld and foreign numbers, one call-back per 10 minutes, a daily cap, quiet hours, answering
machines, retries and Twilio's errors. The call-back's webhooks are signed and rate-limited as the
caller's own."""

from __future__ import annotations

import re
import secrets
import threading
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest
from flask import Flask

from ivr import services
from ivr.config import REPO_ROOT
from ivr.content import load_content
from ivr.phone.callbacks import RECENT, RETRY_AFTER
from ivr.phone.texts import retry_delay
from ivr.privacy import caller_hash
from ivr.simulator import FlaskTransport, Phone, Turn
from ivr.store.missed import MissedRow
from ivr.web.staff import hash_password
from tests.support.app import AUTH_TOKEN, BASE_URL, IN_HOURS, SignedClient, indian_mobile, make_app
from tests.support.twilio_fake import FakeTwilioHttp
from tests.support.twiml import assert_valid_twiml, gather
from tests.support.web import STAFF_PASSWORD, STAFF_USER, log_in

pytestmark = pytest.mark.integration

CONTENT = load_content(REPO_ROOT)
EN, HI = CONTENT.prompts["en"].phrases, CONTENT.prompts["hi"].phrases
LINE = "+911140001234"  # the line's missed-call number
CALLS = "/Calls.json"
HASH_SALT = "test-salt"  # tests.support.app's


class Clock:
    """The line's clock, moved on by the test."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at

    def tick(self, **delta: float) -> None:
        self.at += timedelta(**delta)


def missed_app(clock: Clock, fake: FakeTwilioHttp, **overrides: Any) -> Flask:
    """A line whose number LINE is in missed-call mode, on `clock`, with Twilio's REST edge faked;
    its own database (an in-memory SQLite unless told), so that it places only its own call-backs."""
    settings = {"MISSED_CALL_NUMBERS": LINE, "PUBLIC_BASE_URL": BASE_URL, "TWILIO_HTTP_CLIENT": fake}
    settings["DATABASE_URL"] = "sqlite://"
    return make_app(CLOCK=clock, **{**settings, **overrides})


def phone(app: Flask, caller: str | None = None) -> Phone:
    number = caller or indian_mobile()
    return Phone(
        FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN, caller=number, line_number=LINE
    )


def a_line(at: datetime = IN_HOURS, **overrides: Any) -> tuple[Clock, FakeTwilioHttp, Flask, Phone]:
    """A missed-call line (missed_app) on its clock at `at`, its fake of Twilio's REST edge, and a
    caller with a new Indian mobile number."""
    clock, fake = Clock(at), FakeTwilioHttp()
    app = missed_app(clock, fake, **overrides)
    return clock, fake, app, phone(app)


def ring(handset: Phone) -> Turn:
    """The caller rings the missed-call number: a new call each time."""
    handset.call_sid = "CA" + secrets.token_hex(16)
    handset.direction = "inbound"
    return handset.dial()


def rejected(turn: Turn) -> bool:
    """Whether the line refused the call with <Reject reason="busy"/>, nothing else, valid TwiML."""
    (root,) = turn.documents
    assert_valid_twiml(ET.tostring(root))
    return [(v.tag, v.attrib) for v in root] == [("Reject", {"reason": "busy"})]


def calls(fake: FakeTwilioHttp) -> list[dict[str, object]]:
    """The calls the line asked Twilio to place."""
    return [sent.data for sent in fake.sent if sent.uri.endswith(CALLS)]


def cb_of(placed: dict[str, object]) -> int:
    return int(parse_qs(urlsplit(str(placed["Url"])).query)["cb"][0])


def row(app: Flask, placed: dict[str, object]) -> MissedRow:
    found = services.store(app).missed_call(cb_of(placed))
    assert found is not None
    return found


def rows_of(app: Flask, *handsets: Phone) -> list[MissedRow]:
    """The missed calls of these phones' numbers, newest first (the tests' SQLite file is shared)."""
    keys = {caller_hash(handset.caller, HASH_SALT) for handset in handsets}
    return [r for r in services.store(app).missed_calls() if r.caller_hash in keys]


def place(app: Flask, clock: Clock) -> dict[str, int]:
    return dict(services.callbacks(app).place_due(clock()))


def status(app: Flask, placed: dict[str, object], sid: str, call_status: str, answered_by: str = "") -> int:
    """Twilio's status callback of the call-back placed as `placed`, with Twilio's CallSid `sid`."""
    client = SignedClient(app)
    form = {"CallSid": sid, "From": LINE, "To": str(placed["To"]), "Direction": "outbound-api"}
    form |= {"CallStatus": call_status, **({"AnsweredBy": answered_by} if answered_by else {})}
    code, _ = client.post(str(placed["StatusCallback"]).removeprefix(BASE_URL), form)
    return code


def called_back(app: Flask, clock: Clock, fake: FakeTwilioHttp, handset: Phone) -> dict[str, object]:
    """`handset` rings the missed-call number and the line places its call-back: the call placed."""
    assert rejected(ring(handset))
    clock.tick(seconds=20)
    assert place(app, clock)["placed"] == 1
    return calls(fake)[-1]


def answered(app: Flask, handset: Phone, placed: dict[str, object], by: str = "human") -> Turn:
    sid = row(app, placed).outbound_sid
    assert sid is not None
    return handset.answer_call_back(str(placed["Url"]), sid, by)


def test_a_missed_call_is_rejected_then_called_back_once_with_the_right_parameters(database_url: str) -> None:
    clock, fake = Clock(IN_HOURS), FakeTwilioHttp()
    app = missed_app(clock, fake, DATABASE_URL=database_url)
    caller = phone(app)
    assert rejected(ring(caller))
    assert place(app, clock).get("placed", 0) == 0 and calls(fake) == [], "not before the caller has hung up"
    clock.tick(seconds=20)
    assert place(app, clock)["placed"] == 1
    (placed,) = calls(fake)
    missed_id = cb_of(placed)
    assert placed == {
        "To": caller.caller,
        "From": LINE,
        "Url": f"{BASE_URL}/voice?cb={missed_id}",
        "Method": "POST",
        "StatusCallback": f"{BASE_URL}/voice/status?cb={missed_id}",
        "StatusCallbackMethod": "POST",
        "MachineDetection": "Enable",
        "Timeout": 30,
    }
    assert row(app, placed).state == "calling" and row(app, placed).attempts == 1
    clock.tick(minutes=5)
    assert place(app, clock).get("placed", 0) == 0 and len(calls(fake)) == 1, "placed once"


def test_the_call_back_plays_the_line_as_the_callers_own_call_in_their_language() -> None:
    clock, fake = Clock(IN_HOURS), FakeTwilioHttp()
    app = missed_app(clock, fake)
    caller = phone(app)
    caller.line_number = "+15005550001"  # an ordinary call first, to the line's other number
    caller.dial()
    caller.press("2")  # Hindi,
    caller.press("1")  # remembered for the caller's number
    caller.line_number = LINE
    assert rejected(ring(caller))
    clock.tick(seconds=20)
    place(app, clock)
    (placed,) = calls(fake)
    turn = answered(app, caller, placed)
    assert turn.says[:2] == [HI.calling_back, HI.welcome_back], "the caller is To: a returning caller"
    assert row(app, placed).state == "answered" and row(app, placed).outcome == "human"
    assert caller.press("1").gather is not None, "the call goes on through the menus"
    assert status(app, placed, str(row(app, placed).outbound_sid), "completed") == 204
    assert row(app, placed).state == "answered"

    stranger = phone(app)  # never called before: the call-back says who calls in both languages
    assert rejected(ring(stranger))
    clock.tick(seconds=20)
    place(app, clock)
    first = answered(app, stranger, calls(fake)[-1], "unknown")
    assert first.says[:2] == [EN.calling_back, HI.calling_back]
    assert "n=_language" in gather(first.documents[0]).get("action", "")


def test_a_redelivered_or_repeated_missed_call_adds_nothing_and_a_later_one_is_answered(
    database_url: str,
) -> None:
    clock, fake = Clock(IN_HOURS), FakeTwilioHttp()
    app = missed_app(clock, fake, DATABASE_URL=database_url)
    caller = phone(app)
    assert rejected(ring(caller))
    assert rejected(caller.dial()), "Twilio delivers the same webhook again (same CallSid)"
    clock.tick(seconds=5)
    assert rejected(ring(caller)), "rings again before the call-back: it is coming"
    clock.tick(seconds=20)
    place(app, clock)
    assert len(calls(fake)) == 1
    assert [r.call_sid for r in rows_of(app, caller)] == [row(app, calls(fake)[0]).call_sid]
    answered(app, caller, calls(fake)[0])
    clock.tick(minutes=5)
    again = ring(caller)  # within 10 minutes of the call-back: the line answers, no second call-back
    assert again.gather is not None and not rejected_any(again)
    clock.tick(minutes=6)
    assert rejected(ring(caller)), "10 minutes on: a new call-back"
    clock.tick(seconds=20)
    place(app, clock)
    assert len(calls(fake)) == 2


def rejected_any(turn: Turn) -> bool:
    return any(v.tag == "Reject" for root in turn.documents for v in root)


def test_a_number_gets_the_daily_cap_of_call_backs_then_the_line_answers_it(database_url: str) -> None:
    clock, fake = Clock(IN_HOURS), FakeTwilioHttp()
    app = missed_app(clock, fake, DATABASE_URL=database_url, CALLBACK_DAILY_LIMIT=2)
    caller = phone(app)
    for _ in range(2):
        assert rejected(ring(caller))
        clock.tick(seconds=20)
        place(app, clock)
        answered(app, caller, calls(fake)[-1])
        clock.tick(minutes=11)
    over = ring(caller)
    assert over.gather is not None and not rejected_any(over), "over the cap: answered as usual"
    assert [r.state for r in rows_of(app, caller)] == ["capped", "answered", "answered"]
    assert rows_of(app, caller)[0].to_number is None, "a capped call keeps no number"
    assert rejected(ring(phone(app))), "another number has its own cap"
    clock.tick(hours=24)
    assert rejected(ring(caller)), "the next day, the cap starts again"


def test_missed_calls_in_quiet_hours_are_called_back_when_they_end_in_the_order_they_came() -> None:
    clock, fake = Clock(datetime(2026, 11, 25, 16, 30, tzinfo=UTC)), FakeTwilioHttp()  # 22:00 in India
    app = missed_app(clock, fake)
    callers = [phone(app) for _ in range(3)]
    for each in callers:
        assert rejected(ring(each))
        clock.tick(minutes=1)
    assert {r.note for r in rows_of(app, *callers)} == {"quiet hours"}
    for _ in range(9):
        clock.tick(hours=1)
        place(app, clock)
    assert calls(fake) == [], "nobody is called in the night"
    clock.at = datetime(2026, 11, 26, 2, 30, tzinfo=UTC)  # 08:00 in India
    assert place(app, clock)["placed"] == 3
    assert [c["To"] for c in calls(fake)] == [each.caller for each in callers]


def test_a_machine_is_hung_up_on_and_tried_again_until_the_limit(database_url: str) -> None:
    clock, fake = Clock(IN_HOURS), FakeTwilioHttp()
    app = missed_app(clock, fake, DATABASE_URL=database_url)
    caller = phone(app)
    ring(caller)
    clock.tick(seconds=20)
    place(app, clock)
    first = calls(fake)[0]
    machine = answered(app, caller, first, "machine_end_beep")
    assert machine.says == [] and [v.tag for v in machine.documents[0]] == ["Hangup"]
    assert_valid_twiml(ET.tostring(machine.documents[0]))
    sid = str(row(app, first).outbound_sid)
    assert status(app, first, sid, "completed", "machine_end_beep") == 204, "its status moves nothing more"
    assert (row(app, first).state, row(app, first).outcome) == ("retry", "machine")
    assert row(app, first).next_attempt_at == clock() + RETRY_AFTER
    clock.tick(minutes=5)
    assert place(app, clock).get("placed", 0) == 0
    clock.tick(minutes=5)
    assert place(app, clock)["placed"] == 1
    assert status(app, first, str(row(app, first).outbound_sid), "no-answer") == 204
    assert (row(app, first).state, row(app, first).outcome) == ("retry", "no-answer")
    clock.tick(minutes=10)
    place(app, clock)
    assert status(app, first, str(row(app, first).outbound_sid), "busy") == 204
    assert (row(app, first).state, row(app, first).attempts) == ("given-up", 3)
    clock.tick(hours=1)
    assert place(app, clock).get("placed", 0) == 0 and len(calls(fake)) == 3


@pytest.mark.parametrize(
    ("number", "why"),
    [
        ("anonymous", "withheld"),
        ("+266696687", "withheld"),
        ("919876543210", "withheld"),  # no + : not a number the line can reach
        ("+447911123456", "country"),  # a UK mobile: not an allowed country by default
        ("+9118001234567", "kind"),  # an Indian toll-free number
    ],
)
def test_a_number_that_may_not_be_called_back_hears_the_line_as_usual(number: str, why: str) -> None:
    clock, fake = Clock(IN_HOURS), FakeTwilioHttp()
    app = missed_app(clock, fake)
    handset = phone(app, number)
    turn = handset.dial()
    assert not rejected_any(turn) and turn.gather is not None, why
    assert turn.says[0] == EN.safety.format(number="1 1 2")
    clock.tick(minutes=1)
    place(app, clock)
    assert calls(fake) == []
    assert handset.call_sid not in {r.call_sid for r in services.store(app).missed_calls()}


def test_the_line_s_other_numbers_answer_as_usual() -> None:
    clock, fake = Clock(IN_HOURS), FakeTwilioHttp()
    app = missed_app(clock, fake)
    caller = phone(app)
    caller.line_number = "+15005550001"
    assert caller.dial().gather is not None
    assert rows_of(app, caller) == []


def test_twilio_errors_are_retried_with_back_off_and_permanent_ones_are_not() -> None:
    clock = Clock(IN_HOURS)
    fake = FakeTwilioHttp(script=[(503, 20503, "Service unavailable"), (400, 21215, "Geo permission")])
    app = missed_app(clock, fake)
    first, second = phone(app), phone(app)
    ring(first)
    clock.tick(seconds=20)
    assert place(app, clock).get("retry") == 1
    (tried,) = rows_of(app, first)
    assert tried.note is not None and "20503" in tried.note
    assert tried.next_attempt_at == clock() + timedelta(seconds=retry_delay(1))
    ring(second)
    clock.tick(seconds=retry_delay(1))
    done = place(app, clock)  # the first is due again (placed); the second meets 21215
    assert done.get("placed") == 1 and done.get("failed") == 1
    states = {r.to_number: (r.state, r.attempts) for r in rows_of(app, first, second)}
    assert states == {first.caller: ("calling", 2), second.caller: ("failed", 1)}
    clock.tick(hours=2)
    place(app, clock)
    assert [c["To"] for c in calls(fake)] == [first.caller, second.caller, first.caller]


@pytest.mark.parametrize(
    ("unset", "named"),
    [("TWILIO_ACCOUNT_SID", "TWILIO_ACCOUNT_SID"), ("TWILIO_REST_TOKEN", "TWILIO_AUTH_TOKEN")],
)
def test_a_line_that_cannot_call_back_answers_missed_calls_as_usual_and_says_why_once(
    unset: str, named: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock, fake = Clock(IN_HOURS), FakeTwilioHttp()
    app = missed_app(clock, fake, **{unset: None})
    handsets = [phone(app), phone(app)]
    with caplog.at_level("INFO", logger="ivr.callbacks"):
        for handset in handsets + handsets:
            turn = ring(handset)
            assert not rejected_any(turn) and turn.gather is not None, (
                "never rejected with no call-back to come"
            )
            assert turn.says[0] == EN.safety.format(number="1 1 2")
    why = [r for r in caplog.records if "missed-call mode is not in effect" in r.getMessage()]
    assert len(why) == 1 and why[0].levelname == "WARNING", "once per process"
    assert LINE in why[0].getMessage() and named in why[0].getMessage()
    clock.tick(minutes=1)
    place(app, clock)
    assert (services.store(app).missed_calls(), fake.sent) == ([], []), "nothing queued, nothing placed"
    result = app.test_cli_runner().invoke(args=["callbacks", "place-due"])
    assert result.exit_code != 0 and named in result.output


def test_two_senders_at_once_place_each_call_back_once(database_url: str) -> None:
    clock, fake = Clock(IN_HOURS), FakeTwilioHttp(delay_s=0.2)
    app = missed_app(clock, fake, DATABASE_URL=database_url)
    for _ in range(3):
        ring(phone(app))
    clock.tick(seconds=20)
    start = threading.Barrier(2)

    def sender() -> None:
        start.wait(10)
        place(app, clock)

    threads = [threading.Thread(target=sender) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(calls(fake)) == 3 and len({c["To"] for c in calls(fake)}) == 3


def test_the_call_back_s_webhooks_are_signed_and_rate_limited_as_the_caller_s() -> None:
    clock, fake = Clock(IN_HOURS), FakeTwilioHttp()
    limits = {"RATELIMIT_ENABLED": True, "RATELIMIT_CALLER_BURST": 2, "RATELIMIT_CALLER_PER_MINUTE": 2}
    app = missed_app(clock, fake, **limits)
    caller, other = phone(app), phone(app)
    ring(caller)  # the caller's first request
    ring(other)
    clock.tick(seconds=20)
    place(app, clock)
    mine, theirs = calls(fake)
    forged = app.test_client().post(
        "/voice?cb=" + str(cb_of(mine)),
        data={
            "CallSid": row(app, mine).outbound_sid,
            "From": LINE,
            "To": caller.caller,
            "Direction": "outbound-api",
        },
    )
    assert forged.status_code == 403
    assert answered(app, caller, mine).gather is not None  # the second: within the caller's burst
    busy = caller.press("1")  # the third in the window: the caller is over their limit
    assert busy.says == [EN.busy] and busy.ended
    # Counted against the person called (To), not the line's number (From, the same for both).
    assert answered(app, other, theirs).says[0] == EN.calling_back


def test_numbers_are_purged_a_week_after_the_call_back_is_done(database_url: str) -> None:
    clock, fake = Clock(IN_HOURS), FakeTwilioHttp()
    app = missed_app(clock, fake, DATABASE_URL=database_url)
    caller, waiting = phone(app), phone(app)
    ring(caller)
    clock.tick(seconds=20)
    place(app, clock)
    answered(app, caller, calls(fake)[0])
    clock.tick(days=6, hours=23)
    ring(waiting)  # still pending a week on: its number is kept
    place(app, clock)
    assert services.store(app).missed_call(cb_of(calls(fake)[0])).to_number == caller.caller  # type: ignore[union-attr]
    clock.tick(hours=2)
    assert place(app, clock)["purged"] == 1
    numbers = {r.id: r.to_number for r in services.store(app).missed_calls()}
    assert numbers[cb_of(calls(fake)[0])] is None and waiting.caller in numbers.values()
    clock.tick(days=31)
    place(app, clock)
    assert services.store(app).missed_calls() == [], "the records go after 30 days"


def test_staff_see_every_missed_call_and_its_tries_with_numbers_masked() -> None:
    clock, fake = Clock(IN_HOURS), FakeTwilioHttp()
    app = missed_app(clock, fake)
    caller = phone(app)
    answered(app, caller, called_back(app, clock, fake, caller), "machine_start")
    assert services.store(app).add_staff_user(STAFF_USER, hash_password(STAFF_PASSWORD))
    staff = app.test_client()
    assert log_in(staff) == 303
    page = staff.get("/staff/missed-calls").get_data(as_text=True)
    (shown,) = re.findall(r'<tr id="missed-\d+">(.*?)</tr>', page, re.S)
    cells = [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", shown, re.S)]
    assert cells[1:2] + cells[3:6] == [f"•••• {caller.caller[-4:]}", "retry", "1", "machine"]
    assert caller.caller[3:] not in re.sub(r"\D", "", page), "the number is never shown whole"


@pytest.mark.parametrize(("answered_by", "heard"), [("human", EN.calling_back), ("machine_start", None)])
def test_the_console_phone_plays_a_missed_call_and_its_call_back(answered_by: str, heard: str | None) -> None:
    clock, fake = Clock(IN_HOURS), FakeTwilioHttp()
    app = missed_app(clock, fake, TWILIO_ACCOUNT_SID=None)  # no Twilio account at all
    number = indian_mobile()
    args = ["call", "--quiet", "--from", number, "--missed-call", answered_by, "--keys", "1,q"]
    result = app.test_cli_runner().invoke(args=args)
    assert result.exit_code == (0 if heard else 2), result.output
    assert (
        '<Reject reason="busy"/>' in result.stdout and f"the line calls {number} from {LINE}" in result.stdout
    )
    assert (heard in result.stdout) if heard else "= the line hung up" in result.stdout
    assert fake.sent == [], "the console's own Twilio, never the app's"
    (missed,) = services.store(app).missed_calls()
    assert missed.state == ("answered" if heard else "retry")


def test_the_console_phone_refuses_a_missed_call_where_the_line_has_no_missed_call_number() -> None:
    result = make_app().test_cli_runner().invoke(args=["call", "--quiet", "--missed-call", "human"])
    assert result.exit_code == 2 and "IVR_MISSED_CALL_NUMBERS" in result.output


# Digits that str.isdigit() takes but that are no call-back's id: superscripts, Arabic-Indic,
# Devanagari, fullwidth. `cb` is ASCII digits only; anything else is no call-back id.
FOREIGN_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
DEVANAGARI_DIGITS = str.maketrans("0123456789", "०१२३४५६७८९")


@pytest.mark.parametrize("spelt", ["²", "¹", "١", "१", "１", "1²", " 1", "+1", "-1", "1.0", "9" * 19])
def test_a_cb_that_is_not_ascii_digits_is_no_call_back_id(
    spelt: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock, fake = Clock(IN_HOURS), FakeTwilioHttp()
    app = missed_app(clock, fake)
    caller = phone(app)
    placed = called_back(app, clock, fake, caller)
    assert cb_of(placed) == 1, "the first row of a fresh database"
    before = row(app, placed)
    sid = str(before.outbound_sid)
    client = SignedClient(app)
    form = {"CallSid": sid, "From": LINE, "To": caller.caller, "Direction": "outbound-api"}
    cb = quote(spelt)
    with caplog.at_level("INFO", logger="ivr.callbacks"):
        code, root = client.post(f"/voice?cb={cb}", {**form, "AnsweredBy": "machine_start"})
        assert code == 200 and root is not None
        assert [v.tag for v in root] != ["Hangup"], "not taken for call-back 1: the line plays as usual"
        code, _ = client.post(f"/voice/status?cb={cb}", {**form, "CallStatus": "busy"})
        assert code == 204
    after = row(app, placed)
    assert (after.state, after.attempts, after.outcome) == (before.state, 1, None), "nothing moved"
    assert any("not a call-back id" in r.getMessage() for r in caplog.records)


def test_the_digits_of_other_scripts_are_never_a_call_back_id() -> None:
    assert "12".translate(FOREIGN_DIGITS).isdigit() and "12".translate(DEVANAGARI_DIGITS).isdigit()
    clock, fake = Clock(IN_HOURS), FakeTwilioHttp()
    app = missed_app(clock, fake)
    client = SignedClient(app)
    form = {"From": LINE, "To": indian_mobile(), "Direction": "outbound-api", "AnsweredBy": "human"}
    for spelt in ("12".translate(FOREIGN_DIGITS), "12".translate(DEVANAGARI_DIGITS)):
        code, root = client.post(f"/voice?cb={quote(spelt)}", form)
        assert code == 200 and root is not None
        assert EN.calling_back not in ET.tostring(root, encoding="unicode"), "not a call-back"


LINE_2 = "+911140005678"  # the line's second missed-call number


@pytest.mark.parametrize(
    ("caller_id", "settings"),
    [
        (LINE, {}),  # the number called calls itself (From = To)
        (LINE_2, {"MISSED_CALL_NUMBERS": f"{LINE},{LINE_2}"}),  # another missed-call number: a ping-pong
        ("+91 11 4000 9999", {"LINE_NUMBER": "011-4000 9999"}),  # the number the line's pages show
        ("+911140007777", {"TWILIO_SMS_FROM": "+91 11 4000 7777"}),  # the number its texts come from
    ],
)
def test_a_call_from_one_of_the_line_s_own_numbers_is_rejected_and_never_called_back(
    caller_id: str, settings: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    clock, fake = Clock(IN_HOURS), FakeTwilioHttp()
    app = missed_app(clock, fake, **settings)
    handset = phone(app, caller_id)
    with caplog.at_level("INFO", logger="ivr.callbacks"):
        assert rejected(ring(handset)), "free to whoever placed it: the loop ends here"
        assert rejected(ring(handset))
    assert sum("the line's own number" in r.getMessage() for r in caplog.records) == 2
    for _ in range(3):
        clock.tick(minutes=11)
        place(app, clock)
    assert (services.store(app).missed_calls(), calls(fake)) == ([], []), "no call-back, nothing recorded"


def test_a_call_back_queued_to_one_of_the_line_s_own_numbers_is_never_placed(database_url: str) -> None:
    clock, fake = Clock(IN_HOURS), FakeTwilioHttp()
    app = missed_app(clock, fake, DATABASE_URL=database_url, MISSED_CALL_NUMBERS=f"{LINE},{LINE_2}")
    store = services.store(app)
    own = caller_hash(LINE_2, HASH_SALT)
    since = clock() - RECENT
    queued = store.queue_missed(
        "CA" + "1" * 32,
        own,
        LINE_2,
        LINE,
        now=clock(),
        due=clock(),
        recent_since=since,
        day_start=since,
        daily_limit=3,
    )
    assert queued is not None and queued.outcome == "queued"  # as before the line knew it as its own
    assert place(app, clock).get("failed") == 1
    assert calls(fake) == [] and store.missed_call(int(str(queued.id))).state == "failed"  # type: ignore[union-attr]


@pytest.mark.parametrize("ended", ["answered", "given-up"])
def test_ten_minutes_are_counted_from_the_last_call_back_too_not_only_from_the_missed_call(
    database_url: str, ended: str
) -> None:
    clock, fake = Clock(datetime(2026, 11, 25, 16, 0, tzinfo=UTC)), FakeTwilioHttp()  # 21:30 in India
    app = missed_app(clock, fake, DATABASE_URL=database_url)
    caller = phone(app)
    assert rejected(ring(caller))
    clock.at = datetime(2026, 11, 26, 2, 30, tzinfo=UTC)  # 08:00 in India: the quiet hours end
    assert place(app, clock)["placed"] == 1
    placed = calls(fake)[0]
    if ended == "answered":
        answered(app, caller, placed)
    else:  # no answer, three times
        for _ in range(2):
            status(app, placed, str(row(app, placed).outbound_sid), "no-answer")
            clock.tick(minutes=10)
            place(app, clock)
        status(app, placed, str(row(app, placed).outbound_sid), "no-answer")
    assert row(app, placed).state == ended
    clock.tick(minutes=5)  # 5 minutes after the last call-back, 10 hours after the missed call
    again = ring(caller)
    assert again.gather is not None and not rejected_any(again), "answered as usual: no second call-back yet"
    clock.tick(minutes=4)
    assert ring(caller).gather is not None
    clock.tick(minutes=2)  # 11 minutes after the last call-back
    assert rejected(ring(caller))
    clock.tick(seconds=20)
    assert place(app, clock)["placed"] == 1
    times = [r.done_at for r in rows_of(app, caller) if r.done_at is not None]
    assert len(times) == 1 and clock() - times[0] >= RECENT, "no two call-backs within 10 minutes"


def test_the_line_queues_at_most_its_hourly_limit_of_call_backs_across_all_its_servers(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    clock, fake = Clock(IN_HOURS), FakeTwilioHttp()
    servers = [
        missed_app(clock, fake, DATABASE_URL=database_url, CALLBACK_LINE_HOURLY_LIMIT=3) for _ in range(2)
    ]

    def cap_warnings() -> int:
        return sum(
            "IVR_CALLBACK_LINE_HOURLY_LIMIT" in r.getMessage()
            for r in caplog.records
            if r.levelname == "WARNING"
        )

    with caplog.at_level("INFO", logger="ivr.callbacks"):
        for server in servers + servers[:1]:  # 3 call-backs, queued through both servers
            assert rejected(ring(phone(server)))
            clock.tick(minutes=1)
        for _ in range(3):  # over the limit: answered as usual, on either server; warned once an hour
            over = ring(phone(servers[0]))
            assert over.gather is not None and not rejected_any(over), "answered as usual, never rejected"
            clock.tick(minutes=1)
        assert cap_warnings() == 1
        clock.tick(minutes=54)
        for _ in range(3):  # an hour after each of the first call-backs, it leaves the count
            assert rejected(ring(phone(servers[1])))
            clock.tick(minutes=1)
        assert ring(phone(servers[0])).gather is not None
        assert cap_warnings() == 2, "an hour after the last warning, warned again"
    place(servers[0], clock)
    assert len(calls(fake)) == 6
    assert len(services.store(servers[0]).missed_calls()) == 6, "nothing recorded over the limit"


def test_missed_calls_at_once_from_many_numbers_never_pass_the_line_s_hourly_limit(database_url: str) -> None:
    clock, fake = Clock(IN_HOURS), FakeTwilioHttp()
    app = missed_app(clock, fake, DATABASE_URL=database_url, CALLBACK_LINE_HOURLY_LIMIT=3)
    handsets = [phone(app) for _ in range(8)]
    start, turns = threading.Barrier(len(handsets)), {}

    def missed(handset: Phone) -> None:
        start.wait(10)
        turns[handset.caller] = ring(handset)

    threads = [threading.Thread(target=missed, args=(handset,)) for handset in handsets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(rejected_any(turn) for turn in turns.values()) == [False] * 5 + [True] * 3
    assert len(services.store(app).missed_calls()) == 3


def twilio_tells_first(app: Flask, handset: Phone, call_status: str, answered_by: str) -> None:
    """Twilio's webhook of each call-back it places, before its answer to calls.create: the call's
    URL (answered, by `answered_by`) when `call_status` is "answered", else its status callback."""

    def webhook(sid: str, placed: dict[str, object]) -> None:
        assert services.store(app).missed_call(cb_of(placed)).outbound_sid != sid  # type: ignore[union-attr]
        if call_status == "answered":
            handset.answer_call_back(str(placed["Url"]), sid, answered_by)
        else:
            assert status(app, placed, sid, call_status, answered_by) == 204

    fake = services.callbacks(app).http_client
    assert isinstance(fake, FakeTwilioHttp)
    fake.while_placing = webhook


@pytest.mark.parametrize(
    ("call_status", "answered_by", "state", "outcome"),
    [
        ("busy", "", "retry", "busy"),
        ("no-answer", "", "retry", "no-answer"),
        ("failed", "", "retry", "failed"),
        ("answered", "machine_start", "retry", "machine"),
        ("completed", "machine_end_beep", "retry", "machine"),
        ("answered", "human", "answered", "human"),
        ("completed", "unknown", "answered", "unknown"),
    ],
)
def test_an_outcome_twilio_tells_before_calls_create_returns_is_kept(
    database_url: str, call_status: str, answered_by: str, state: str, outcome: str
) -> None:
    clock, fake, app, caller = a_line(DATABASE_URL=database_url)
    twilio_tells_first(app, caller, call_status, answered_by)
    placed = called_back(app, clock, fake, caller)
    after = row(app, placed)
    assert (after.state, after.outcome, after.attempts) == (state, outcome, 1)
    if state == "retry":
        assert after.next_attempt_at == clock() + RETRY_AFTER, "tried again as any call no one took"


def test_call_backs_no_one_takes_are_given_up_after_3_calls_however_early_twilio_tells(
    database_url: str,
) -> None:
    clock, fake, app, caller = a_line(DATABASE_URL=database_url)
    twilio_tells_first(app, caller, "busy", "")
    placed = called_back(app, clock, fake, caller)
    for _ in range(2):
        clock.tick(minutes=10)
        assert place(app, clock)["placed"] == 1
    done = row(app, placed)
    assert (done.state, done.outcome, done.attempts, done.note) == ("given-up", "busy", 3, None)
    clock.tick(hours=2)
    assert place(app, clock).get("placed", 0) == 0 and len(calls(fake)) == 3


def test_a_late_callback_of_the_try_before_is_not_taken_for_the_next_try_s(database_url: str) -> None:
    clock, fake, app, caller = a_line(DATABASE_URL=database_url)
    first = called_back(app, clock, fake, caller)
    first_sid = str(row(app, first).outbound_sid)
    assert status(app, first, first_sid, "no-answer") == 204
    clock.tick(minutes=10)
    # Twilio redelivers the first call's status while the second is being placed: not the second's.
    fake.while_placing = lambda sid, placed: (status(app, placed, first_sid, "busy"), None)[1]
    assert place(app, clock)["placed"] == 1
    second = row(app, first)
    assert (second.state, second.outcome, second.attempts) == ("calling", None, 2)
    assert second.outbound_sid not in (None, first_sid)
    assert status(app, first, str(second.outbound_sid), "busy") == 204
    assert (row(app, first).state, row(app, first).outcome) == ("retry", "busy")


NEW_YORK = "+12125550123"  # one time zone: America/New_York
UK_MOBILE = "+447911123456"  # London, Jersey, Guernsey, the Isle of Man: the line's time zone


def test_quiet_hours_are_the_callee_s_where_their_number_has_one_time_zone(database_url: str) -> None:
    night_in_india = datetime(2026, 11, 25, 16, 30, tzinfo=UTC)  # 22:00 in India, 11:30 in New York
    clock, fake, app, indian = a_line(
        night_in_india, DATABASE_URL=database_url, CALLBACK_COUNTRY_CODES="91,1,44"
    )
    new_yorker, briton = phone(app, NEW_YORK), phone(app, UK_MOBILE)
    for handset in (indian, new_yorker, briton):
        assert rejected(ring(handset))
    clock.tick(seconds=20)
    assert place(app, clock)["placed"] == 1 and [c["To"] for c in calls(fake)] == [NEW_YORK]
    held = {r.to_number: (r.note, r.next_attempt_at) for r in rows_of(app, indian, briton)}
    morning_in_india = datetime(2026, 11, 26, 2, 30, tzinfo=UTC)  # 08:00 in India, 21:30 in New York
    assert held == {number: ("quiet hours", morning_in_india) for number in (indian.caller, UK_MOBILE)}
    status(app, calls(fake)[0], str(rows_of(app, new_yorker)[0].outbound_sid), "no-answer")
    clock.at = morning_in_india
    assert place(app, clock)["placed"] == 2, "India's morning: the Indian and the UK number"
    # New York's night: a missed call there, and its retry, wait for its morning (08:00 = 13:00 UTC).
    morning_in_new_york = datetime(2026, 11, 26, 13, 0, tzinfo=UTC)
    assert rows_of(app, new_yorker)[0].next_attempt_at == morning_in_new_york
    late = phone(app, "+12125550199")  # another New Yorker rings at 21:30 their time
    assert rejected(ring(late))
    assert rows_of(app, late)[0].next_attempt_at == morning_in_new_york
    clock.at = morning_in_new_york
    assert place(app, clock)["placed"] == 2 and {c["To"] for c in calls(fake)[-2:]} == {NEW_YORK, late.caller}


def test_a_call_back_found_due_in_the_quiet_hours_where_it_rings_is_held_till_they_end(
    database_url: str,
) -> None:
    clock, fake, app, _ = a_line(
        datetime(2026, 11, 25, 16, 30, tzinfo=UTC), DATABASE_URL=database_url, CALLBACK_COUNTRY_CODES="91,1"
    )
    assert rejected(ring(phone(app, NEW_YORK)))  # 11:30 in New York: due at once
    clock.at = datetime(2026, 11, 26, 2, 30, tzinfo=UTC)  # no placer ran till 21:30 in New York
    assert place(app, clock).get("held") == 1 and calls(fake) == []
    (waiting,) = services.store(app).missed_calls()
    assert (waiting.state, waiting.note) == ("queued", "quiet hours")
    assert waiting.next_attempt_at == datetime(2026, 11, 26, 13, 0, tzinfo=UTC)
    clock.at = waiting.next_attempt_at
    assert place(app, clock)["placed"] == 1
