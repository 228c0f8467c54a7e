"""The clinical review pages (/staff/review): every topic part by part, with its text and its
rendered audio in each language and speed, and a clinician's sign-off of a topic in a language.

A sign-off is given for the content hash of the text the clinician read and listened to
(ivr/content/signoff.py): the form carries it, and a sign-off whose text changed since the page was
opened is refused. It is written to the audit log first (not signed if that cannot be done), then
to the store, and the line hears of it at once (`services.reviews().refresh()`).
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue

from ivr import services
from ivr.audio.cache import AudioSettings
from ivr.content import signoff
from ivr.content.signoff import content_hash
from ivr.engine import RATES
from ivr.engine.wording import topic_name
from ivr.store.audit import SIGN_OFF
from ivr.store.signoffs import SignOffRow
from ivr.web import staff
from ivr.web.review_render import RENDERS, missing_plan
from ivr.web.review_status import NOT_SIGNED, SIGNED, STALE, language_name, parts, standing
from ivr.web.roles import REVIEW, requires
from ivr.web.site import CSP

log = logging.getLogger("ivr.web.review")

bp = staff.blueprint("review", __name__, "/staff/review")

# The site's policy, and the players may load this site's audio (the app's own CSP allows no media).
TOPIC_CSP = CSP.replace("img-src 'self';", "img-src 'self'; media-src 'self';")
assert TOPIC_CSP != CSP, "the site's CSP names img-src: media-src goes beside it"
NAME_MAX = 120  # the signoffs.clinician column
JOINERS = frozenset("\u200c\u200d")  # zero-width non-joiner and joiner: parts of Indic spellings
RENDER_HINT = "flask --app app audio render"
CHANGED = (
    "The text of this topic changed after you opened the page, so it was not signed off. Read and"
    " listen to it again below, then sign."
)


@dataclass
class SignOffForm:
    """A sign-off form as submitted, for showing it again with what is wrong: field -> message."""

    lang: str
    name: str = ""
    day: str = ""
    confirmed: bool = False
    errors: dict[str, str] = field(default_factory=dict)


@bp.after_request
def _players_may_load_audio(response: Response) -> Response:
    """A topic page's <audio> players load this site's WAVs; every other page keeps the site's CSP."""
    if request.endpoint in ("review.topic_page", "review.sign_off", "review.render"):
        response.headers["Content-Security-Policy"] = TOPIC_CSP
    return response


def _settings() -> AudioSettings:
    return AudioSettings.from_config(current_app.config)


def _latest() -> dict[tuple[str, str], SignOffRow] | None:
    return services.store().latest_signoffs()


def _today() -> date:
    """Today in the line's time zone (IVR_TIME_ZONE): a clinician signs on their own day."""
    now: datetime = services.runtime().clock()
    return now.astimezone(ZoneInfo(current_app.config["TIME_ZONE"])).date()


def _known(topic: str, lang: str) -> None:
    """404 unless `topic` is a topic of the line and `lang` one of its languages."""
    content = services.line().content
    if topic not in signoff.topics(content.tree) or lang not in content.languages:
        abort(404)


@bp.get("/")
@requires(REVIEW)
def topics() -> ResponseReturnValue:
    """Every topic with, per language, its sign-off (signed, stale or not) and whether its audio is
    rendered for today's text."""
    line = services.line()
    latest = _latest()
    settings = _settings()
    rows = [
        (
            topic,
            topic_name(line, line.content.default_language, topic),
            [
                (lang, standing(line, settings, topic, lang, (latest or {}).get((topic, lang))))
                for lang in line.content.languages
            ],
        )
        for topic in signoff.topics(line.content.tree)
    ]
    return render_template(
        "staff/review_topics.html",
        rows=rows,
        available=latest is not None,
        languages=line.content.languages,
        language_name=language_name,
        states={"signed": SIGNED, "stale": STALE, "not_signed": NOT_SIGNED},
        render_hint=RENDER_HINT,
        page="review",
    )


@bp.get("/<topic>")
@requires(REVIEW)
def topic_page(topic: str) -> ResponseReturnValue:
    """A topic part by part in every language: text, audio at each speed, sign-off and its form."""
    _known(topic, services.line().content.default_language)
    return _render_topic(topic)


def _render_topic(topic: str, *, form: SignOffForm | None = None, status: int = 200) -> ResponseReturnValue:
    line = services.line()
    latest = _latest()
    settings = _settings()
    languages = [
        (
            lang,
            standing(line, settings, topic, lang, (latest or {}).get((topic, lang))),
            parts(line, settings, topic, lang),
        )
        for lang in line.content.languages
    ]
    return (
        render_template(
            "staff/review_topic.html",
            topic=topic,
            title=topic_name(line, line.content.default_language, topic),
            languages=languages,
            available=latest is not None,
            language_name=language_name,
            rates=RATES,
            states={"signed": SIGNED, "stale": STALE, "not_signed": NOT_SIGNED},
            render_hint=RENDER_HINT,
            today=_today(),
            rendering={lang: RENDERS.running(settings, topic, lang) for lang in line.content.languages},
            form=form,
            page="review",
        ),
        status,
    )


@bp.get("/<topic>/<lang>/<section>/<int:part>/<int:sentence>/<rate>.wav")
@requires(REVIEW)
def audio(topic: str, lang: str, section: str, part: int, sentence: int, rate: str) -> ResponseReturnValue:
    """The rendered WAV (audio/wav) of one sentence of a part at a speed, from the audio cache; 404
    if there is no such sentence or it is not rendered for today's text."""
    _known(topic, lang)
    if rate not in RATES:
        abort(404)
    found = [
        p
        for p in parts(services.line(), _settings(), topic, lang)
        if (p.section, p.number) == (section, part)
    ]
    if not found or not 0 <= sentence < len(found[0].sentences):
        abort(404)
    path = found[0].sentences[sentence].audio[rate]
    if path is None:
        abort(404)
    return send_file(path, mimetype="audio/wav", conditional=True, max_age=0)


@bp.post("/<topic>/<lang>/sign-off")
@requires(REVIEW)
def sign_off(topic: str, lang: str) -> ResponseReturnValue:
    """Sign a topic off in a language: the clinician's name, the day (today or before, in the line's
    time zone) and their word that they read and listened to every part, for the text they saw."""
    _known(topic, lang)
    line = services.line()
    form = SignOffForm(
        lang,
        name=" ".join(request.form.get("name", "").split()),
        day=request.form.get("day", "").strip(),
        confirmed=request.form.get("confirm") == "yes",
    )
    seen = request.form.get("content_hash", "")
    today = content_hash(line.content.tree, topic, lang)
    if seen != today:
        flash(CHANGED)
        return _render_topic(topic, status=409)
    if not form.name:
        form.errors["name"] = "Write your name as you sign, for example Dr. Meera Iyer."
    elif len(form.name) > NAME_MAX:
        form.errors["name"] = f"Your name may be at most {NAME_MAX} characters."
    elif not _visible(form.name):
        form.errors["name"] = (
            "Write your name without hidden characters (a copy and paste can bring them): type it"
            " again by hand."
        )
    day = _parse_day(form.day)
    if day is None:
        form.errors["day"] = "Give the date as year-month-day, for example 2026-12-02."
    elif day > _today():
        form.errors["day"] = "The date cannot be in the future."
    if not form.confirmed:
        form.errors["confirm"] = (
            f"Confirm that you have read every part in {language_name(lang)} and listened to its audio."
        )
    if form.errors or day is None:
        return _render_topic(topic, form=form, status=400)
    target = f"topic {topic} ({lang})"
    # The whole hash: a 12-digit prefix could be all digits, and the audit log masks what looks
    # like a phone number (a digest of 32 hex digits or more is kept).
    # What they could listen to is part of what they signed: the audio may be rendered after.
    missing = standing(line, _settings(), topic, lang, None).missing_audio
    heard = f"{missing} recordings not rendered" if missing else "all audio rendered"
    if not staff.record(SIGN_OFF, target, f"text hash {today}, signed as {form.name}; {heard}"):
        flash("The audit log could not be written (the database is down?), so nothing was signed off.")
        return _render_topic(topic, form=form, status=503)
    user = staff.current_user()
    assert user is not None  # the guard let only a logged-in user through
    if not services.store().sign_off(
        topic, lang, today, clinician=form.name, signed_on=day, signed_by=user.username
    ):
        flash("The sign-off could not be saved (the database is down?). Try again later.")
        return _render_topic(topic, form=form, status=503)
    services.reviews().refresh()
    log.info("clinical sign-off: %s by %s", target, user.username)
    title = topic_name(line, line.content.default_language, topic)
    flash(f"Signed off: {title} in {language_name(lang)}, by {form.name}, {day:%d %B %Y}.")
    return redirect(url_for("review.topic_page", topic=topic), 303)


def _visible(name: str) -> bool:
    """Whether a name is made of characters that show as themselves: no control character (a NUL,
    which PostgreSQL refuses), no direction override or other invisible format character (a name
    that reads as someone else's), no unassigned or private code point. The zero-width joiner and
    non-joiner stay: Hindi and other Indic names are written with them."""
    return all(unicodedata.category(ch)[0] != "C" or ch in JOINERS for ch in name)


def _parse_day(raw: str) -> date | None:
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None


@bp.post("/<topic>/<lang>/render")
@requires(REVIEW)
def render(topic: str, lang: str) -> ResponseReturnValue:
    """Start rendering the topic's missing audio in a language, at every speed, in the background
    (ivr/web/review_render.py); the topic page again, which a reload brings up to date."""
    _known(topic, lang)
    line, settings = services.line(), _settings()
    todo = missing_plan(line, settings, topic, lang)
    where = f"{topic_name(line, line.content.default_language, topic)} in {language_name(lang)}"
    if not todo.missing:
        flash(f"Every recording of {where} is rendered.")
    elif RENDERS.start(settings, topic, lang, todo):
        log.info("rendering %d audio files of topic %s (%s)", len(todo.missing), topic, lang)
        flash(
            f"Rendering {len(todo.missing)} recordings of {where}: reload this page in a minute to hear them."
        )
    else:
        flash(f"The recordings of {where} are being rendered already: reload this page in a minute.")
    return redirect(url_for("review.topic_page", topic=topic), 303)
