"""Press 8 to get a topic by text: Twilio's REST API when configured (faked at its edge), else the outbox."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import text

from ivr import services
from ivr.config import REPO_ROOT
from ivr.content import load_content
from ivr.simulator import FlaskTransport, Phone, Turn
from tests.support.app import AUTH_TOKEN, BASE_URL, answer, indian_mobile, make_app
from tests.support.content import emergency_in_a_list_item
from tests.support.twilio_fake import FakeTwilioHttp
from tests.support.twiml import query

pytestmark = pytest.mark.integration

CONTENT = load_content(REPO_ROOT)
TREE = CONTENT.tree
EN, HI = CONTENT.prompts["en"], CONTENT.prompts["hi"]
ACCOUNT = "AC" + "0" * 32
SENDER = "+15005550009"
TO_CAUSES = "".join(TREE.keys_to("causes"))
# What a caller can get by text: each topic a caller hears as one (a series is one topic).
TOPICS = sorted({TREE.topic_of(sid) for sid in TREE.sections})
# The sentence every treatment topic must carry (issue 11), in each language.
NO_CURE = {
    "en": "There is no cure for most neuromuscular disorders",
    "hi": "ज़्यादातर न्यूरोमस्कुलर बीमारियाँ पूरी तरह ठीक नहीं होतीं",
}


def configured(fake: FakeTwilioHttp, **overrides: Any) -> Flask:
    return make_app(
        TWILIO_ACCOUNT_SID=ACCOUNT,
        TWILIO_REST_TOKEN="rest-token",
        TWILIO_SMS_FROM=SENDER,
        TWILIO_HTTP_CLIENT=fake,
        **overrides,
    )


def in_topic(app: Flask, keys: str = TO_CAUSES, lang_key: str = "1", caller: str | None = None) -> Phone:
    """A new caller (an Indian mobile unless told) in a topic (causes unless told)."""
    phone = Phone(
        FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN, caller=caller or indian_mobile()
    )
    answer(phone, lang_key)
    for key in keys:
        phone.press(key)
    return phone


def to_section(phone: Phone, sid: str) -> Turn:
    """Go on from the main menu to a section (through a series, part by part with 1)."""
    turn = Turn()
    for key in TREE.keys_to(sid):
        turn = phone.press(key)
    for _ in range(sum(TREE.part_count(s) for s in TREE.topic_sections(TREE.topic_of(sid)))):
        if where(turn) == sid:
            break
        turn = phone.press("1")
    assert where(turn) == sid, turn.says
    return turn


def texted(fake: FakeTwilioHttp) -> str:
    """The body of the one text sent."""
    assert len(fake.sent) == 1, fake.sent
    return str(fake.sent[0].data["Body"])


def in_order(body: str, pieces: list[str]) -> None:
    """Each piece is in the body, after the one before it."""
    at = 0
    for piece in pieces:
        found = body.find(piece, at)
        assert found >= 0, (piece, body[at:])
        at = found + len(piece)


def numbered(body: str) -> list[str]:
    """The lines of a text that are list items: "1. Muscle weakness."."""
    return [line for line in body.splitlines() if re.match(r"\d+\. ", line)]


def items_of(sid: str, lang: str) -> list[str]:
    """A section's list items in order, as one list (a list may run on across spoken parts)."""
    return [item for part in TREE.section(sid, lang).web for block in part for item in block.items]


def outbox(app: Flask, call_sid: str) -> list[dict[str, Any]]:
    with services.store(app).engine.connect() as conn:
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
    section = TREE.section("causes", "en")
    assert body.startswith(section.title) and body.endswith(EN.phrases.sms_footer)
    in_order(body, [b.text for part in section.web for b in part if b.text])
    assert numbered(body) == [f"{n}. {item}" for n, item in enumerate(items_of("causes", "en"), 1)]
    assert len(numbered(body)) == 8, "the eight causes, one to a line"
    rows = outbox(app, phone.call_sid)
    assert [(r["status"], r["to_number"]) for r in rows] == [("sent", phone.caller)]
    assert str(rows[0]["twilio_sid"]).startswith("SM")


@pytest.mark.parametrize("lang_key", ["1", "2"], ids=["english", "hindi"])
@pytest.mark.parametrize("topic", TOPICS)
def test_a_text_is_the_whole_topic_as_written_not_as_said(topic: str, lang_key: str) -> None:
    lang = CONTENT.languages[int(lang_key) - 1]
    fake = FakeTwilioHttp()
    phone = in_topic(configured(fake, EMERGENCY_NUMBER="108"), keys="", lang_key=lang_key)
    sections = TREE.topic_sections(topic)
    to_section(phone, sections[-1])  # from the last section of a series, the whole series is sent
    phone.press("8")
    body = texted(fake)
    pieces = [TREE.title(topic, lang)] if TREE.is_series(topic) else []
    for sid in sections:
        section = TREE.section(sid, lang)
        # A section titled as its series (the overview) is under the series' title, not again.
        pieces += [
            *(
                [section.title]
                if not TREE.is_series(topic) or section.title != TREE.title(topic, lang)
                else []
            ),
            *(b.text.replace("{emergency}", "108") for p in section.web for b in p if b.text),
        ]
    in_order(body, pieces)
    assert body.startswith(pieces[0]) and body.endswith(CONTENT.prompts[lang].phrases.sms_footer)
    items = [item for sid in sections for item in items_of(sid, lang)]
    assert numbered(body) == [f"{n}. {item}" for n, item in enumerate(items, 1)]
    # What only a caller on the line can do, or the spoken numbering, is not in a text.
    assert "{" not in body and not re.search(r"\bpress|दबा", body)
    assert not re.search(r"\b(One|Two|Three)\. |(^|\s)(एक|दो|तीन)। ", body)


def test_symptoms_by_text_give_the_emergency_number_of_the_line_and_no_phone_words() -> None:
    fake = FakeTwilioHttp()
    phone = in_topic(configured(fake, EMERGENCY_NUMBER="108"), keys="".join(TREE.keys_to("symptoms")))
    phone.press("8")
    body = texted(fake)
    spoken = TREE.section("symptoms", "en").parts[0]
    assert "hang up and call {emergency}" in spoken, "the sentence this test is about"
    assert "call 108 straight away" in body and "hang up" not in body and "{emergency}" not in body
    assert numbered(body) == [f"{n}. {item}" for n, item in enumerate(items_of("symptoms", "en"), 1)]
    assert len(numbered(body)) == 7, "the seven symptoms, one to a line"


def test_the_emergency_number_is_filled_in_a_list_item_too(content_copy: Path) -> None:
    emergency_in_a_list_item(content_copy)
    fake = FakeTwilioHttp()
    app = configured(fake, CONTENT_DIR=str(content_copy), EMERGENCY_NUMBER="108")
    phone = in_topic(app, keys="".join(TREE.keys_to("symptoms")))
    phone.press("8")
    assert numbered(texted(fake))[-1] == "7. Difficulty swallowing. Call 108."


def test_a_type_texted_from_the_series_sends_all_six_types_in_order() -> None:
    fake = FakeTwilioHttp()
    phone = in_topic(configured(fake), keys="")
    series = TREE.topic_sections("categories")
    to_section(phone, "junction")
    turn = phone.press("8")
    assert turn.says[0] == EN.phrases.sms_sent and where(turn) == "junction"
    body = texted(fake)
    in_order(body, [TREE.section(sid, "en").title for sid in series])
    assert len(series) == 7 and all(TREE.section(sid, "en").web[0][0].text in body for sid in series)


def test_a_series_text_names_the_series_once() -> None:
    fake = FakeTwilioHttp()
    phone = in_topic(configured(fake), keys="".join(TREE.keys_to("categories")))
    phone.press("8")
    body = texted(fake)
    title = TREE.title("categories", "en")
    assert body.startswith(title)
    assert body.count(title) == 1, f"the title is said once, not twice: {body[:60]!r}"


@pytest.mark.parametrize("lang_key", ["1", "2"], ids=["english", "hindi"])
@pytest.mark.parametrize("sid", [s for s in TREE.below("treatment") if s in TREE.sections])
def test_every_treatment_text_says_there_is_no_cure_for_most(sid: str, lang_key: str) -> None:
    lang = CONTENT.languages[int(lang_key) - 1]
    fake = FakeTwilioHttp()
    phone = in_topic(configured(fake), keys="", lang_key=lang_key)
    to_section(phone, sid)
    phone.press("8")
    assert NO_CURE[lang] in texted(fake)


def test_at_a_topics_end_eight_sends_it_as_the_end_offers() -> None:
    from ivr.engine.wording import END_KEYS, key_lines

    fake = FakeTwilioHttp()
    app = configured(fake)
    phone = in_topic(app)
    for _ in range(TREE.part_count("causes")):
        end = phone.press("1")
    choices = key_lines(services.line(app), "en", END_KEYS)
    assert end.says[-len(choices) :] == choices and where(end) == "causes"
    assert EN.actions.text in " ".join(choices), "the end offers the text"
    turn = phone.press("8")
    assert turn.says[0] == EN.phrases.sms_sent and turn.says[-len(choices) :] == choices
    assert texted(fake).startswith(TREE.section("causes", "en").title)


def test_a_hindi_caller_gets_the_hindi_text() -> None:
    fake = FakeTwilioHttp()
    phone = in_topic(configured(fake), lang_key="2")
    assert phone.press("8").says[0] == HI.phrases.sms_sent
    body = texted(fake)
    assert body.startswith(TREE.section("causes", "hi").title) and body.endswith(HI.phrases.sms_footer)
    assert numbered(body) == [f"{n}. {item}" for n, item in enumerate(items_of("causes", "hi"), 1)]


def test_twilio_refusing_the_message_is_told_and_recorded() -> None:
    fake = FakeTwilioHttp(fail_with=(400, 21614, "'To' number is not a valid mobile number"))
    app = configured(fake)
    phone = in_topic(app)
    turn = phone.press("8")
    assert turn.says[0] == EN.phrases.sms_failed
    rows = outbox(app, phone.call_sid)
    assert rows[0]["status"] == "failed" and "21614" in str(rows[0]["error"])


def test_without_twilio_credentials_no_text_is_offered_nor_promised() -> None:
    app = make_app(TWILIO_ACCOUNT_SID=None)
    phone = in_topic(app)
    for _ in range(TREE.part_count("causes")):
        end = phone.press("1")
    assert EN.actions.text not in " ".join(end.says), "the end does not offer a text"
    assert EN.actions.text not in " ".join(phone.press("6").says + phone.press("6").says), "nor does help"
    for turn in (phone.press("8"), phone.say("can you text me this")):
        assert EN.phrases.sms_saved not in turn.says and EN.phrases.sms_sent not in turn.says
    assert phone.say("text me").says[0] == EN.phrases.sms_unavailable
    assert outbox(app, phone.call_sid) == []


def test_by_voice_too() -> None:
    fake = FakeTwilioHttp()
    phone = in_topic(configured(fake))
    assert phone.say("can you text me this").says[0] == EN.phrases.sms_sent


def test_in_a_menu_eight_says_how_to_get_a_topic_by_text() -> None:
    app = make_app()
    phone = in_topic(app, keys="".join(TREE.keys_to("symptoms_causes")))
    turn = phone.press("8")
    labels = [o.label["en"] for o in TREE.menus["symptoms_causes"].options]
    options = [EN.phrases.option.format(label=label, key=n) for n, label in enumerate(labels, 1)]
    assert turn.says == [EN.phrases.sms_in_menu, *options]
    assert where(turn) == "symptoms_causes"
    assert outbox(app, phone.call_sid) == []


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
