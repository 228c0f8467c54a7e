"""Press 8 to get a topic by text: Twilio's REST API when configured (faked at its edge), else the outbox."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text

from ivr.config import REPO_ROOT
from ivr.content import load_content
from ivr.simulator import FlaskTransport, Phone, Turn
from ivr.sms import topic_text
from tests.conftest import AUTH_TOKEN, BASE_URL, answer, make_app
from tests.twilio_fake import FakeTwilioHttp
from tests.twiml_helpers import query

CONTENT = load_content(REPO_ROOT)
EN, HI = CONTENT.prompts["en"], CONTENT.prompts["hi"]
ACCOUNT = "AC" + "0" * 32
SENDER = "+15005550009"
TO_CAUSES = "22"


def configured(fake: FakeTwilioHttp, **overrides: Any) -> Flask:
    return make_app(
        TWILIO_ACCOUNT_SID=ACCOUNT,
        TWILIO_REST_TOKEN="rest-token",
        TWILIO_SMS_FROM=SENDER,
        TWILIO_HTTP_CLIENT=fake,
        **overrides,
    )


def in_topic(app: Flask, keys: str = TO_CAUSES, lang_key: str = "1", caller: str | None = None) -> Phone:
    phone = Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN, caller=caller)
    answer(phone, lang_key)
    for key in keys:
        phone.press(key)
    return phone


def outbox(app: Flask, call_sid: str) -> list[dict[str, Any]]:
    with app.extensions["store"].engine.connect() as conn:
        rows = conn.execute(text("SELECT * FROM sms_outbox WHERE call_sid = :c"), {"c": call_sid})
        return [dict(r._mapping) for r in rows]


def where(turn: Turn) -> str:
    assert turn.gather is not None
    return query(turn.gather.get("action", ""))["n"]


def test_eight_sends_the_topic_through_twilio_and_says_so() -> None:
    fake = FakeTwilioHttp()
    app = configured(fake)
    phone = in_topic(app)
    turn = phone.press("8")
    assert turn.says[0] == EN.phrases.sms_sent
    assert where(turn) == "causes", "the caller stays in the topic"
    assert len(fake.sent) == 1
    sent = fake.sent[0]
    assert sent.method == "POST"
    assert sent.uri == f"https://api.twilio.com/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    assert sent.auth == (ACCOUNT, "rest-token")
    assert sent.data["To"] == phone.caller and sent.data["From"] == SENDER
    body = str(sent.data["Body"])
    section = CONTENT.tree.section("causes", "en")
    assert body.startswith(section.title) and all(part in body for part in section.web_parts)
    assert body.endswith(EN.phrases.sms_footer)
    rows = outbox(app, phone.call_sid)
    assert [(r["status"], r["to_number"]) for r in rows] == [("sent", phone.caller)]
    assert str(rows[0]["twilio_sid"]).startswith("SM")


def test_a_text_leaves_out_what_only_a_caller_on_the_line_can_do() -> None:
    section = CONTENT.tree.section("symptoms", "en")
    body = topic_text(CONTENT.tree, "symptoms", CONTENT.prompts["en"], "en")
    assert section.web_parts[-1] in body and "press 5" in section.parts[-1] and "press" not in body


def test_a_hindi_caller_gets_the_hindi_text() -> None:
    fake = FakeTwilioHttp()
    phone = in_topic(configured(fake), lang_key="2")
    assert phone.press("8").says[0] == HI.phrases.sms_sent
    assert str(fake.sent[0].data["Body"]).startswith(CONTENT.tree.section("causes", "hi").title)


def test_twilio_refusing_the_message_is_told_and_recorded() -> None:
    fake = FakeTwilioHttp(fail_with=(400, 21614, "'To' number is not a valid mobile number"))
    app = configured(fake)
    phone = in_topic(app)
    turn = phone.press("8")
    assert turn.says[0] == EN.phrases.sms_failed
    rows = outbox(app, phone.call_sid)
    assert rows[0]["status"] == "failed" and "21614" in str(rows[0]["error"])


def test_without_twilio_credentials_the_outbox_keeps_it_for_later() -> None:
    app = make_app()
    phone = in_topic(app)
    turn = phone.press("8")
    assert turn.says[0] == EN.phrases.sms_saved
    rows = outbox(app, phone.call_sid)
    assert [(r["status"], r["to_number"]) for r in rows] == [("queued", phone.caller)]


def test_by_voice_too() -> None:
    fake = FakeTwilioHttp()
    phone = in_topic(configured(fake))
    assert phone.say("can you text me this").says[0] == EN.phrases.sms_sent


def test_in_a_menu_eight_says_how_to_get_a_topic_by_text() -> None:
    phone = in_topic(make_app(), keys="2")
    turn = phone.press("8")
    assert turn.says[0] == EN.phrases.sms_in_menu
    assert where(turn) == "symptoms_causes"


def test_a_withheld_number_cannot_be_texted() -> None:
    fake = FakeTwilioHttp()
    phone = in_topic(configured(fake), caller="anonymous")
    assert phone.press("8").says[0] == EN.phrases.no_number
    assert fake.sent == []


@pytest.mark.parametrize("broken", ["postgresql+psycopg://nobody@127.0.0.1:1/none"])
def test_with_the_database_down_the_caller_hears_it_failed_and_the_call_goes_on(broken: str) -> None:
    app = make_app(DATABASE_URL=broken, DB_MIGRATE_ON_START=False)
    phone = in_topic(app)
    turn = phone.press("8")
    assert turn.says[0] == EN.phrases.sms_failed
    assert where(turn) == "causes"
    assert not phone.press("9").ended
