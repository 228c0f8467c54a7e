"""Signing a topic off as the clinical review page does, straight in an app's database."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date
from pathlib import Path

from flask import Flask

from ivr import services
from ivr.audio import cache
from ivr.audio.cache import AudioSettings, Plan
from ivr.content.signoff import content_hash
from ivr.engine.wording import part_text
from ivr.lexicon import spoken_form
from ivr.simulator import FlaskTransport, Phone
from tests.support.app import AUTH_TOKEN, BASE_URL, answer
from tests.support.twiml import assert_valid_twiml, gather, query, spoken

CLINICIAN_NAME = "Dr. Meera Iyer"


def sign(app: Flask, topic: str, lang: str, day: date, clinician: str = CLINICIAN_NAME) -> str:
    """Sign off today's text of `topic` in `lang` on `day`, and let the app's line know at once (as a
    sign-off on the review page does); the content hash signed."""
    signed = content_hash(services.line(app).content.tree, topic, lang)
    assert services.store(app).sign_off(
        topic, lang, signed, clinician=clinician, signed_on=day, signed_by="meera"
    )
    assert services.reviews(app).refresh()
    return signed


def topic_end(app: Flask, topic: str, lang: str) -> list[str]:
    """What a new caller hears at the end of `topic` in `lang` after hearing all of it: the <Say>s
    of the topic end's TwiML (checked against Twilio's schema), in order."""
    tree = services.line(app).content.tree
    phone = Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN)
    answer(phone, str(services.line(app).content.languages.index(lang) + 1))
    for key in tree.keys_to(topic):
        turn = phone.press(key)
    for section in tree.topic_sections(topic):
        for _ in range(tree.part_count(section)):
            turn = phone.wait()
    assert turn.gather is not None and turn.documents, turn.says
    document = turn.documents[-1]
    assert_valid_twiml(ET.tostring(document))
    last = tree.topic_sections(topic)[-1]
    state = query(gather(document).get("action", ""))
    assert (state["n"], int(state["p"])) == (last, tree.part_count(last)), "at the topic's end"
    return spoken(document)


def render_topic_audio(app: Flask, topic: str, lang: str, parts: int | None = None) -> list[Path]:
    """Render, with the real voice (pyttsx3 on espeak-ng), the audio of a topic's first `parts` parts
    (all by default) in one language at the normal speed into the app's audio cache, as
    `flask audio render` would; the files made."""
    line = services.line(app)
    settings = AudioSettings.from_config(app.config)
    tree = line.content.tree
    said = {
        spoken_form(text, line.prompts(lang).lexicon)
        for section in tree.topic_sections(topic)
        for part in range(tree.part_count(section))[:parts]
        for text in part_text(line, lang, section, part)
    }
    planned = cache.plan(line, settings, ("normal",)).items
    items = [i for i in planned if i.sentence.lang == lang and i.sentence.text in said]
    assert len(items) == len(said), "every sentence of the topic is in the audio catalog"
    report = cache.render(Plan(items, items), settings, jobs=2)
    assert not report.failed and len(report.rendered) == len(items), report.failed
    return [i.path for i in items]
