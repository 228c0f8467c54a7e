"""Clinical sign-off: a clinician reads and hears each topic on /staff/review and signs it off per
language; a change to the text makes the sign-off stale; the line says 'clinically reviewed' only
for a sign-off of today's text; the content lint reports unsigned and stale topics."""

from __future__ import annotations

import re
import shutil
from datetime import date
from pathlib import Path

import pytest
from flask import Flask

from ivr import services
from ivr.audio.cache import AudioSettings, path_for
from ivr.content import load_content
from ivr.content.signoff import content_hash, topics
from ivr.lexicon import spoken_form
from ivr.store import Store
from ivr.store.audit import SIGN_OFF
from ivr.web.review_render import RENDERS
from ivr.web.review_status import parts
from tests.support.app import make_app
from tests.support.content import edit
from tests.support.refusals import refusing_writes
from tests.support.signoffs import CLINICIAN_NAME, render_topic_audio, sign, topic_end
from tests.support.web import client_as, csrf_token, log_in

pytestmark = pytest.mark.integration

# make_app's clock: 25 November 2026, 11:00 in India (IVR_TIME_ZONE).
TODAY = date(2026, 11, 25)


def app_on(tmp_path: Path, **overrides: object) -> Flask:
    """An app on a database and an audio cache of its own (sign-offs must not reach other tests'
    apps, and audio rendered elsewhere, by `flask audio render` or the console phone, must not
    reach this one)."""
    overrides.setdefault("AUDIO_DIR", str(tmp_path / "audio"))
    return make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'review.sqlite3'}", **overrides)


def reviewed(app: Flask, lang: str, day: date) -> str:
    p = services.line(app).prompts(lang)
    return p.phrases.reviewed.format(month=p.months[day.month - 1], year=day.year)


def updated(app: Flask, topic: str, lang: str) -> str:
    tree = services.line(app).content.tree
    day = max(tree.section(s, lang).meta.updated_on for s in tree.topic_sections(topic))
    p = services.line(app).prompts(lang)
    return p.phrases.updated.format(month=p.months[day.month - 1], year=day.year)


def sign_form(page: str, lang: str) -> dict[str, str]:
    """The sign-off form of one language on a topic page, filled in as a clinician would."""
    form = re.search(rf'<form[^>]*action="[^"]*/{lang}/sign-off".*?</form>', page, re.S)
    assert form is not None, f"no {lang} sign-off form"
    seen = re.search(r'name="content_hash" value="([0-9a-f]{64})"', form.group(0))
    assert seen is not None
    return {
        "csrf_token": csrf_token(page),
        "content_hash": seen.group(1),
        "name": CLINICIAN_NAME,
        "day": TODAY.isoformat(),
        "confirm": "yes",
    }


def status_of(page: str, lang: str) -> str:
    found = re.search(rf'<p id="status-{lang}">(.*?)</p>', page, re.S)
    assert found is not None
    return " ".join(re.sub(r"<[^>]+>", "", found.group(1)).split())


def audit_rows(store: Store) -> list[tuple[str, str | None, str, str, str | None]]:
    found = store.audit_entries(action=SIGN_OFF)
    assert found is not None
    return [(r.actor, r.role, r.action, r.target, r.detail) for r in found[0]]


# --- the content hash --------------------------------------------------------------------------


@pytest.mark.unit
def test_the_hash_changes_with_the_topics_words_in_that_language_only(content_copy: Path) -> None:
    before = load_content(content_copy).tree
    edit(content_copy / "knowledge/sections/en/symptoms.md", "Do not wait.", "Do not delay.")
    after = load_content(content_copy).tree
    assert content_hash(after, "symptoms", "en") != content_hash(before, "symptoms", "en")
    for topic in topics(after):
        assert content_hash(after, topic, "hi") == content_hash(before, topic, "hi"), topic
        if topic != "symptoms":
            assert content_hash(after, topic, "en") == content_hash(before, topic, "en"), topic
    # Front matter is not what a caller hears: a new review date leaves the sign-off standing.
    meta = after.section("junction", "en").meta
    edit(
        content_copy / "knowledge/sections/en/junction.md",
        f"review_by: {meta.review_by.isoformat()}",
        "review_by: 2029-01-01",
    )
    assert content_hash(load_content(content_copy).tree, "categories", "en") == content_hash(
        before, "categories", "en"
    )


# --- who opens the pages -----------------------------------------------------------------------


def test_clinicians_and_administrators_open_the_review_and_call_centre_staff_do_not(
    tmp_path: Path,
) -> None:
    app = app_on(tmp_path)
    pages = ["/staff/review/", "/staff/review/symptoms"]
    for name, role in (("meera", "clinician"), ("ravi", "admin")):
        client = client_as(app, name, role)
        for url in pages:
            response = client.get(url)
            assert response.status_code == 200, (role, url)
        home = client.get("/staff/review/").get_data(as_text=True)
        assert 'href="/staff/review/"' in home and 'aria-current="page"' in home, "in the navigation"
    staff = client_as(app, "asha", "staff")
    for url in pages:
        assert staff.get(url).status_code == 403, url
    assert "/staff/review/" not in staff.get("/staff/").get_data(as_text=True)
    # A clinician logging in lands on the review.
    assert client_as(app, "lata", "clinician").get("/staff/").headers["Location"].endswith("/staff/review/")


def test_an_unknown_topic_or_language_is_not_found(tmp_path: Path) -> None:
    client = client_as(app_on(tmp_path), "meera", "clinician")
    page = client.get("/staff/review/symptoms").get_data(as_text=True)
    form = sign_form(page, "en")
    assert client.get("/staff/review/no_such_topic").status_code == 404
    assert client.get("/staff/review/main").status_code == 404, "a menu is not a topic"
    assert client.post("/staff/review/symptoms/fr/sign-off", data=form).status_code == 404
    assert client.get("/staff/review/symptoms/en/symptoms/0/0/normal.wav").status_code == 404, "not rendered"
    assert client.get("/staff/review/symptoms/en/symptoms/99/0/normal.wav").status_code == 404


# --- signing off -------------------------------------------------------------------------------


def test_a_sign_off_is_audited_then_heard_on_the_line_in_its_language_only(tmp_path: Path) -> None:
    app = app_on(tmp_path)
    client = client_as(app, "meera", "clinician")
    assert updated(app, "symptoms", "en") in topic_end(app, "symptoms", "en"), "unsigned: when updated"
    page = client.get("/staff/review/symptoms").get_data(as_text=True)
    assert status_of(page, "en").startswith("Not signed off")
    # No audio is rendered here: the clinician is not asked to say they listened to all of it.
    assert (
        "I have read every part of this topic in English, and listened to the parts whose audio is"
        " rendered (15 of 15 recordings are not)"
    ) in page
    form = sign_form(page, "en")
    response = client.post("/staff/review/symptoms/en/sign-off", data=form)
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"Signed off: Symptoms in English, by {CLINICIAN_NAME}, 25 November 2026." in page
    assert status_of(page, "en").startswith(f"Signed off by {CLINICIAN_NAME} on 25 November 2026")
    assert status_of(page, "hi").startswith("Not signed off")
    ((actor, role, action, target, detail),) = audit_rows(services.store(app))
    assert (actor, role, action, target) == ("meera", "clinician", SIGN_OFF, "topic symptoms (en)")
    assert (
        detail == f"text hash {form['content_hash']}, signed as {CLINICIAN_NAME}; 15 recordings not rendered"
    )
    (row,) = [r for k, r in (services.store(app).latest_signoffs() or {}).items() if k == ("symptoms", "en")]
    assert (row.clinician, row.signed_on, row.signed_by) == (CLINICIAN_NAME, TODAY, "meera")
    # The line: reviewed in English, updated in Hindi (signed in English only).
    assert reviewed(app, "en", TODAY) in topic_end(app, "symptoms", "en")
    hindi = topic_end(app, "symptoms", "hi")
    assert updated(app, "symptoms", "hi") in hindi and reviewed(app, "hi", TODAY) not in hindi
    listed = client.get("/staff/review/").get_data(as_text=True)
    row_html = re.search(r'<tr>\s*<th scope="row"><a href="/staff/review/symptoms">.*?</tr>', listed, re.S)
    assert (
        row_html is not None and f"Signed</span> by {CLINICIAN_NAME} on 25 November 2026" in row_html.group(0)
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "  "}, "Write your name as you sign"),
        ({"day": "2026-11-26"}, "The date cannot be in the future."),
        ({"day": "25/11/2026"}, "Give the date as year-month-day"),
        ({"confirm": ""}, "Confirm that you have read every part in English and listened to its audio."),
        # A NUL (PostgreSQL refuses it) or a right-to-left override (it shows "Dr. X" reversed, a
        # name that reads as someone else's) pasted into the name.
        ({"name": "Dr. Meera\x00 Iyer"}, "Write your name without hidden characters"),
        ({"name": "Dr. \u202eIyer Meera"}, "Write your name without hidden characters"),
    ],
)
def test_a_sign_off_without_a_name_a_good_date_or_the_confirmation_is_refused(
    tmp_path: Path, change: dict[str, str], message: str
) -> None:
    app = app_on(tmp_path)
    client = client_as(app, "meera", "clinician")
    form = {**sign_form(client.get("/staff/review/about").get_data(as_text=True), "en"), **change}
    response = client.post("/staff/review/about/en/sign-off", data=form)
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and message in page
    assert 'role="alert" id="errors-en"' in page and 'aria-invalid="true"' in page
    assert services.store(app).latest_signoffs() == {} and audit_rows(services.store(app)) == []
    assert updated(app, "about", "en") in topic_end(app, "about", "en")


def test_a_name_written_in_devanagari_with_a_zero_width_joiner_is_signed_as_written(tmp_path: Path) -> None:
    # The joiners are part of how Hindi names are spelt: refusing hidden characters keeps them.
    name = "डॉ. मीरा अय्य\u200dर"
    app = app_on(tmp_path)
    client = client_as(app, "meera", "clinician")
    form = {**sign_form(client.get("/staff/review/about").get_data(as_text=True), "hi"), "name": name}
    assert client.post("/staff/review/about/hi/sign-off", data=form).status_code == 303
    signed = services.store(app).latest_signoffs()
    assert signed is not None and signed[("about", "hi")].clinician == name


def test_a_sign_off_for_a_text_that_changed_since_the_page_was_opened_is_refused(
    content_copy: Path, tmp_path: Path
) -> None:
    database = f"sqlite:///{tmp_path / 'review.sqlite3'}"
    before = make_app(DATABASE_URL=database, CONTENT_DIR=str(content_copy))
    client = client_as(before, "meera", "clinician")
    form = sign_form(client.get("/staff/review/symptoms").get_data(as_text=True), "en")
    # The text is edited and the line restarted while the clinician is reading the old one.
    edit(content_copy / "knowledge/sections/en/symptoms.md", "Do not wait.", "Do not delay.")
    after = make_app(DATABASE_URL=database, CONTENT_DIR=str(content_copy))
    again = after.test_client()
    assert log_in(again, "meera") == 303
    form["csrf_token"] = csrf_token(again.get("/staff/review/symptoms").get_data(as_text=True))
    response = again.post("/staff/review/symptoms/en/sign-off", data=form)
    page = response.get_data(as_text=True)
    assert response.status_code == 409 and "The text of this topic changed after you opened the page" in page
    assert "Do not delay." in page, "the page shows today's text to read again"
    assert services.store(after).latest_signoffs() == {} and audit_rows(services.store(after)) == []


def test_nothing_is_signed_off_when_the_audit_log_cannot_be_written(tmp_path: Path) -> None:
    app = app_on(tmp_path)
    client = client_as(app, "meera", "clinician")
    form = sign_form(client.get("/staff/review/about").get_data(as_text=True), "en")
    store = services.store(app)
    with refusing_writes(store, "sqlite-read-only"):
        response = client.post("/staff/review/about/en/sign-off", data=form)
    assert response.status_code == 503
    assert "nothing was signed off" in response.get_data(as_text=True)
    assert store.latest_signoffs() == {} and audit_rows(store) == []


# --- a change to the text ----------------------------------------------------------------------


def test_a_change_to_the_text_makes_the_sign_off_stale_on_the_page_the_line_and_the_lint(
    content_copy: Path, tmp_path: Path
) -> None:
    database = f"sqlite:///{tmp_path / 'review.sqlite3'}"
    signed_app = make_app(DATABASE_URL=database, CONTENT_DIR=str(content_copy))
    sign(signed_app, "symptoms", "en", date(2026, 11, 20))
    assert reviewed(signed_app, "en", date(2026, 11, 20)) in topic_end(signed_app, "symptoms", "en")
    lint = signed_app.test_cli_runner().invoke(args=["content", "lint", "--today", "2026-11-25"])
    assert (
        "topic symptoms (en)" not in lint.output
        and "topic symptoms (hi): not clinically signed off" in lint.output
    )

    edit(content_copy / "knowledge/sections/en/symptoms.md", "Do not wait.", "Do not delay.")
    app = make_app(DATABASE_URL=database, CONTENT_DIR=str(content_copy))
    page = client_as(app, "meera", "clinician").get("/staff/review/symptoms").get_data(as_text=True)
    assert status_of(page, "en").startswith(
        f"Stale: signed for an older text on 20 November 2026 by {CLINICIAN_NAME}"
    )
    said = topic_end(app, "symptoms", "en")
    assert updated(app, "symptoms", "en") in said and not any("reviewed" in s for s in said)
    web = app.test_client().get("/topics/symptoms").get_data(as_text=True)
    assert "Reviewed by a clinician" not in web
    lint = app.test_cli_runner().invoke(args=["content", "lint", "--today", "2026-11-25"])
    assert lint.exit_code == 0, lint.output
    assert re.search(
        r"warning: \S+/knowledge/sections/en/symptoms\.md: topic symptoms \(en\): stale since its text"
        r" changed after the sign-off of 2026-11-20 by Dr\. Meera Iyer",
        lint.output,
    ), lint.output


def test_the_lint_says_once_when_the_sign_offs_cannot_be_read_and_works_offline(
    tmp_path: Path,
) -> None:
    app = app_on(tmp_path)
    sign(app, "about", "en", TODAY)
    services.store(app).engine.dispose()
    (tmp_path / "review.sqlite3").rename(tmp_path / "moved.sqlite3")  # the database is gone
    (tmp_path / "review.sqlite3").mkdir()  # and nothing can be made in its place
    result = app.test_cli_runner().invoke(args=["content", "lint", "--today", "2026-11-25"])
    assert result.exit_code == 0, result.output
    assert result.output.count("sign-offs could not be read") == 1
    assert "not clinically signed off" not in result.output
    # The line keeps the last sign-offs it knew.
    assert services.reviews(app).refresh() is False
    assert reviewed(app, "en", TODAY) in topic_end(app, "about", "en")


def test_a_sign_off_on_another_worker_is_heard_here_within_a_minute(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'review.sqlite3'}"
    here, there = make_app(DATABASE_URL=database), make_app(DATABASE_URL=database)
    seconds = [1000.0]
    services.reviews(here).clock = lambda: seconds[0]
    services.reviews(here).refresh()
    sign(there, "about", "en", TODAY)
    assert updated(here, "about", "en") in topic_end(here, "about", "en"), "read under a minute ago"
    seconds[0] += 60
    assert reviewed(here, "en", TODAY) in topic_end(here, "about", "en")


# --- audio -------------------------------------------------------------------------------------


def test_the_players_serve_the_rendered_audio_and_flag_what_is_not_rendered(tmp_path: Path) -> None:
    app = app_on(tmp_path, AUDIO_DIR=str(tmp_path / "audio"))
    line = services.line(app)
    settings = AudioSettings.from_config(app.config)
    tree = line.content.tree
    # The audio of one short topic (one section) in English, at the normal speed only: real espeak-ng.
    topic = min((t for t in topics(tree) if not tree.is_series(t)), key=lambda t: tree.part_count(t))
    items = render_topic_audio(app, topic, "en")

    client = client_as(app, "meera", "clinician")
    page = client.get(f"/staff/review/{topic}").get_data(as_text=True)
    english = page[page.index('id="lang-en"') : page.index('id="lang-hi"')]
    players = re.findall(
        r'<audio controls preload="none" aria-labelledby="[^"]+" src="([^"]+)"></audio>', english
    )
    assert len(players) == len(items), "one player per sentence, at the only speed rendered"
    title = tree.section(topic, "en").title
    wav = client.get(f"/staff/review/{topic}/en/{topic}/0/0/normal.wav")
    assert wav.status_code == 200 and wav.mimetype == "audio/wav"
    first = path_for(spoken_form(title, line.prompts("en").lexicon), line.prompts("en"), settings, "normal")
    assert wav.data == first.read_bytes() and wav.data[:4] == b"RIFF"
    for url in players:
        assert client.get(url).data[:4] == b"RIFF", url
    flags = english.count(
        "Audio not rendered for this text (slow, fast speed): run <code>flask --app app audio render</code>"
    )
    assert flags == len(items), "every sentence: slow and fast are not rendered"
    assert client.get(f"/staff/review/{topic}/en/{topic}/0/0/slow.wav").status_code == 404
    listed = client.get("/staff/review/").get_data(as_text=True)
    row = re.search(rf'<a href="/staff/review/{topic}">.*?</tr>', listed, re.S)
    assert row is not None and f"{2 * len(items)} of {3 * len(items)} recordings not rendered" in row.group(0)
    # Its render gone from the cache, the player's route has nothing to serve.
    shutil.rmtree(settings.audio_dir)
    assert client.get(f"/staff/review/{topic}/en/{topic}/0/0/normal.wav").status_code == 404


def test_a_clinician_renders_a_topics_missing_audio_from_its_page(tmp_path: Path) -> None:
    app = app_on(tmp_path, AUDIO_DIR=str(tmp_path / "audio"))
    tree = services.line(app).content.tree
    topic = min((t for t in topics(tree) if not tree.is_series(t)), key=lambda t: tree.part_count(t))
    client = client_as(app, "meera", "clinician")
    page = client.get(f"/staff/review/{topic}").get_data(as_text=True)
    assert "Render the missing recordings in English" in page and "<audio" not in page
    response = client.post(f"/staff/review/{topic}/en/render", data={"csrf_token": csrf_token(page)})
    assert response.status_code == 303
    RENDERS.join(timeout=600)  # the render runs in the background: the test waits for it to end
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert re.search(r"Rendering \d+ recordings of .* in English: reload this page", page)
    english = page[page.index('id="lang-en"') : page.index('id="lang-hi"')]
    hindi = page[page.index('id="lang-hi"') :]
    sentences = sum(
        len(p.sentences)
        for p in parts(services.line(app), AudioSettings.from_config(app.config), topic, "en")
    )
    assert english.count("<audio") == 3 * sentences, "every sentence at every speed"
    assert "not rendered" not in english and "Audio not rendered for this text" in hindi
    for url in re.findall(r'<audio [^>]*src="([^"]+)"', english):
        assert client.get(url).data[:4] == b"RIFF", url
    client.post(f"/staff/review/{topic}/en/render", data={"csrf_token": csrf_token(page)})
    assert "is rendered." in client.get(f"/staff/review/{topic}").get_data(as_text=True)


# --- the store ---------------------------------------------------------------------------------


def test_every_sign_off_is_kept_and_the_latest_of_a_topic_and_language_counts(store: Store) -> None:
    assert store.latest_signoffs() == {}
    for day, digest, who in ((20, "a" * 64, "Dr. A"), (22, "b" * 64, "Dr. B")):
        assert store.sign_off(
            "symptoms", "en", digest, clinician=who, signed_on=date(2026, 11, day), signed_by="meera"
        )
    assert store.sign_off("symptoms", "hi", "c" * 64, clinician="Dr. C", signed_on=TODAY, signed_by="ravi")
    latest = store.latest_signoffs()
    assert latest is not None and set(latest) == {("symptoms", "en"), ("symptoms", "hi")}
    english = latest[("symptoms", "en")]
    assert (english.content_hash, english.clinician, english.signed_on) == (
        "b" * 64,
        "Dr. B",
        date(2026, 11, 22),
    )
    assert english.at.tzinfo is not None and latest[("symptoms", "hi")].signed_by == "ravi"
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM signoffs").scalar() == 3, "history is kept"
