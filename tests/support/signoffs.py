"""Signing a topic off as the clinical review page does, straight in an app's database."""

from __future__ import annotations

from datetime import date

from flask import Flask

from ivr import services
from ivr.content.signoff import content_hash

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
