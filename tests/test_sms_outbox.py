"""Texts that are true: a daily cap per number, only to allowed countries' mobiles, and an outbox
sender that really sends what was queued (retries with back-off, permanent errors not retried,
claims so that no text goes out twice). Twilio's REST API is faked at its HttpClient seam."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
import requests
from flask import Flask
from sqlalchemy import text

from ivr import services
from ivr.config import REPO_ROOT
from ivr.content import load_content
from ivr.phone.texts import MAX_ATTEMPTS, retry_delay
from ivr.simulator import FlaskTransport, Phone, Turn
from tests.support.app import AUTH_TOKEN, BASE_URL, IN_HOURS, choose, indian_mobile, make_app
from tests.support.twilio_fake import FakeTwilioHttp

pytestmark = pytest.mark.integration

CONTENT = load_content(REPO_ROOT)
TREE = CONTENT.tree
EN, HI = CONTENT.prompts["en"].phrases, CONTENT.prompts["hi"].phrases
TO_CAUSES = "".join(TREE.keys_to("causes"))


def to_causes(app: Flask, caller: str, lang_key: str = "1") -> Phone:
    """A call from `caller` (choosing a language unless the line remembers theirs) to causes."""
    phone = Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN, caller=caller)
    first = phone.dial()
    if first.gather is not None and "n=_language" in first.gather.get("action", ""):
        choose(phone, lang_key, remember=True)
    for key in TO_CAUSES:
        phone.press(key)
    return phone


def press_eight(app: Flask, caller: str, lang_key: str = "1") -> Turn:
    """A call from `caller` to the causes topic, and 8."""
    return to_causes(app, caller, lang_key).press("8")


def outbox(app: Flask) -> list[dict[str, Any]]:
    with services.store(app).engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(text("SELECT * FROM sms_outbox ORDER BY id"))]


def mine(app: Flask, number: str) -> list[dict[str, Any]]:
    return [row for row in outbox(app) if row["to_number"] == number]


def test_ten_calls_from_one_number_get_the_daily_cap_of_texts_and_are_told_the_rest(
    database_url: str,
) -> None:
    fake = FakeTwilioHttp()
    app = make_app(DATABASE_URL=database_url, TWILIO_HTTP_CLIENT=fake, SMS_DAILY_LIMIT=3)
    number = indian_mobile()
    told = [press_eight(app, number, "2").says[0] for _ in range(10)]  # in Hindi, remembered
    assert told == [HI.sms_sent] * 3 + [HI.sms_capped] * 7
    assert len(fake.sent) == 3 and len(mine(app, number)) == 3
    assert press_eight(app, indian_mobile()).says[0] == EN.sms_sent, "another number has its own cap"


def test_ten_calls_at_once_from_one_number_queue_no_more_than_the_cap(database_url: str) -> None:
    fake = FakeTwilioHttp()
    app = make_app(DATABASE_URL=database_url, TWILIO_HTTP_CLIENT=fake, SMS_DAILY_LIMIT=3)
    number = indian_mobile()
    start, told = threading.Barrier(10), []

    def call() -> None:
        phone = to_causes(app, number)
        start.wait(20)
        told.append(phone.press("8").says[0])

    threads = [threading.Thread(target=call) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(told) == sorted([EN.sms_sent] * 3 + [EN.sms_capped] * 7)
    assert len(fake.sent) == 3 and len(mine(app, number)) == 3


def test_the_cap_starts_again_the_next_day() -> None:
    fake = FakeTwilioHttp()
    app = make_app(TWILIO_HTTP_CLIENT=fake, SMS_DAILY_LIMIT=1)
    number = indian_mobile()
    assert press_eight(app, number).says[0] == EN.sms_sent
    assert press_eight(app, number).says[0] == EN.sms_capped
    services.sms(app).clock = lambda: IN_HOURS + timedelta(days=1)
    assert press_eight(app, number).says[0] == EN.sms_sent


@pytest.mark.parametrize(
    "number",
    [
        "+911140001234",  # an Indian landline
        "+9118001234567",  # an Indian toll-free number
        "+447911123456",  # a UK mobile: not an allowed country by default
        "+14155552671",  # a US number
    ],
)
def test_numbers_texts_may_not_go_to_are_told_so_and_nothing_is_queued(number: str) -> None:
    fake = FakeTwilioHttp()
    app = make_app(TWILIO_HTTP_CLIENT=fake)
    turn = press_eight(app, number, "2")
    assert turn.says[0] in (HI.sms_not_allowed, EN.sms_not_allowed)
    assert fake.sent == [] and mine(app, number) == []


# Withheld, or no number the line can reach: too long, too short, no + (not international form).
@pytest.mark.parametrize(
    "withheld", ["anonymous", "+266696687", "restricted", "+91987654321012345", "+9198765", "919876543210"]
)
def test_a_withheld_number_is_never_texted(withheld: str) -> None:
    fake = FakeTwilioHttp()
    app = make_app(TWILIO_HTTP_CLIENT=fake)
    phone = to_causes(app, withheld)
    assert phone.press("8").says[0] == EN.no_number
    assert fake.sent == [] and [r for r in outbox(app) if r["call_sid"] == phone.call_sid] == []


def test_allowed_country_codes_are_a_setting() -> None:
    fake = FakeTwilioHttp()
    app = make_app(TWILIO_HTTP_CLIENT=fake, SMS_COUNTRY_CODES="+91, 44")
    # (fixed numbers: the line may remember either language for them from another test)
    assert press_eight(app, "+447911123456").says[0] in (EN.sms_sent, HI.sms_sent)
    assert press_eight(app, "+14155552671").says[0] in (EN.sms_not_allowed, HI.sms_not_allowed)


# The outbox sender ------------------------------------------------------------------------------


def test_a_text_twilio_could_not_take_now_is_promised_and_sent_later_with_back_off(database_url: str) -> None:
    fake = FakeTwilioHttp(script=[(503, 20500, "Service unavailable"), (429, 20429, "Too many requests")])
    app = make_app(DATABASE_URL=database_url, TWILIO_HTTP_CLIENT=fake)
    number = indian_mobile()
    assert press_eight(app, number).says[0] == EN.sms_saved, "promised only because a sender will send it"
    sender = services.sms(app)
    assert sender.send_due(IN_HOURS + timedelta(seconds=retry_delay(1) - 1))["retry"] == 0, "not due yet"
    assert sender.send_due(IN_HOURS + timedelta(seconds=retry_delay(1)))["retry"] == 1, "429: again later"
    later = IN_HOURS + timedelta(seconds=retry_delay(1) + retry_delay(2))
    assert sender.send_due(later)["sent"] == 1
    assert sender.send_due(later + timedelta(hours=2))["sent"] == 0, "sent once"
    [row] = mine(app, number)
    assert row["status"] == "sent" and row["attempts"] == 3 and len(fake.sent) == 3


def test_a_connection_that_was_never_made_is_tried_again(database_url: str) -> None:
    refused = requests.ConnectTimeout("connect timed out")
    fake = FakeTwilioHttp(script=[refused])
    app = make_app(DATABASE_URL=database_url, TWILIO_HTTP_CLIENT=fake)
    number = indian_mobile()
    assert press_eight(app, number).says[0] == EN.sms_saved
    assert services.sms(app).send_due(IN_HOURS + timedelta(hours=1))["sent"] == 1


def test_an_answer_lost_after_sending_is_never_sent_again(database_url: str) -> None:
    fake = FakeTwilioHttp(script=[requests.ReadTimeout("read timed out")])
    app = make_app(DATABASE_URL=database_url, TWILIO_HTTP_CLIENT=fake)
    number = indian_mobile()
    assert press_eight(app, number).says[0] == EN.sms_failed
    assert services.sms(app).send_due(IN_HOURS + timedelta(hours=1))["sent"] == 0
    assert len(fake.sent) == 1 and mine(app, number)[0]["status"] == "failed"


@pytest.mark.parametrize("code", [21211, 21408, 21610, 21614])
def test_permanent_twilio_errors_are_told_and_not_retried(code: int) -> None:
    fake = FakeTwilioHttp(fail_with=(400, code, "refused"))
    app = make_app(TWILIO_HTTP_CLIENT=fake)
    number = indian_mobile()
    assert press_eight(app, number).says[0] == EN.sms_failed
    assert services.sms(app).send_due(IN_HOURS + timedelta(days=1))["retry"] == 0
    [row] = mine(app, number)
    assert row["status"] == "failed" and str(code) in row["error"] and len(fake.sent) == 1


def test_a_text_twilio_never_takes_fails_after_the_last_try() -> None:
    fake = FakeTwilioHttp(fail_with=(500, 20500, "Internal error"))
    app = make_app(TWILIO_HTTP_CLIENT=fake)
    number = indian_mobile()
    assert press_eight(app, number).says[0] == EN.sms_saved
    at = IN_HOURS
    for tries in range(1, MAX_ATTEMPTS):
        at += timedelta(seconds=retry_delay(tries))
        services.sms(app).send_due(at)
    [row] = mine(app, number)
    assert row["status"] == "failed" and row["attempts"] == MAX_ATTEMPTS and len(fake.sent) == MAX_ATTEMPTS


def test_two_senders_at_once_send_each_queued_text_once(database_url: str) -> None:
    fake = FakeTwilioHttp(delay_s=0.05)
    app = make_app(DATABASE_URL=database_url, TWILIO_HTTP_CLIENT=fake)
    store = services.store(app)
    for n in range(8):
        store.queue_text(f"CAq{n}", indian_mobile(), f"text {n}", once_key=f"CAq{n} causes")
    sender, start = services.sms(app), threading.Barrier(2)

    def run() -> None:
        start.wait(10)
        sender.send_due(IN_HOURS)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    bodies = sorted(str(sent.data["Body"]) for sent in fake.sent)
    assert bodies == sorted(f"text {n}" for n in range(8))
    assert {row["status"] for row in outbox(app) if str(row["call_sid"]).startswith("CAq")} == {"sent"}


def test_a_text_whose_sender_died_mid_send_is_failed_not_sent_again() -> None:
    fake = FakeTwilioHttp()
    app = make_app(TWILIO_HTTP_CLIENT=fake)
    store = services.store(app)
    queued = store.queue_text("CAdead", indian_mobile(), "body", once_key="CAdead causes")
    assert queued is not None and queued.id is not None
    assert store.claim_sms(queued.id, IN_HOURS)
    done = services.sms(app).send_due(IN_HOURS + timedelta(hours=1))
    assert done["abandoned"] == 1 and fake.sent == []
    assert [r["status"] for r in outbox(app) if r["call_sid"] == "CAdead"] == ["failed"]


def test_the_send_outbox_command_sends_what_is_due() -> None:
    fake = FakeTwilioHttp()
    app = make_app(TWILIO_HTTP_CLIENT=fake)
    store = services.store(app)
    store.queue_text("CAcli", indian_mobile(), "from the command", once_key="CAcli causes")
    result = app.test_cli_runner().invoke(args=["sms", "send-outbox"])
    assert result.exit_code == 0 and "sent=1" in result.output
    assert [str(s.data["Body"]) for s in fake.sent] == ["from the command"]
    unset = make_app(TWILIO_ACCOUNT_SID=None).test_cli_runner().invoke(args=["sms", "send-outbox"])
    assert unset.exit_code != 0 and "TWILIO_ACCOUNT_SID" in unset.output
