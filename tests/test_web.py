"""The public pages and the staff dashboard through Flask's test client (the browser tests run axe)."""

from __future__ import annotations

import html
import re
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import TimestampSigner
from markupsafe import escape
from sqlalchemy import update

from ivr import services
from ivr.config import REPO_ROOT
from ivr.content import load_content
from ivr.store import Store
from ivr.store.models import Recording
from ivr.web.public import LANGUAGE_NAMES, UI, heading
from tests.support.app import AUTH_TOKEN, SignedClient, answer, make_app
from tests.support.content import emergency_in_a_list_item
from tests.support.signoffs import sign
from tests.support.web import (
    CALLBACK_DIGITS,
    CALLBACK_NUMBER,
    CALLER,
    JOURNEYS,
    LIVE_CALL,
    RECORDING_URL,
    STAFF_PASSWORD,
    STAFF_USER,
    Seeded,
    csrf_token,
    log_in,
)

pytestmark = pytest.mark.integration

CONTENT = load_content(REPO_ROOT)
TREE = CONTENT.tree
# The pages a topic is shown on: every section, and every series (all its sections on one page).
TOPIC_PAGES = [*TREE.sections, *TREE.series]
STAFF_PAGES = [
    "/staff/",
    "/staff/calls",
    "/staff/calls/CAended0",
    "/staff/callbacks",
    "/staff/missed-calls",
    "/staff/recordings",
    "/staff/stats",
]


@pytest.fixture
def web(web_app: Flask, seeded: Seeded) -> FlaskClient:
    return web_app.test_client()


@pytest.fixture
def staff(web: FlaskClient) -> FlaskClient:
    assert log_in(web) == 303
    return web


def store_of(app: Flask) -> Store:
    store: Store = services.store(app)
    return store


def text(client: FlaskClient, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    return response.get_data(as_text=True)


def visible(page: str) -> str:
    """The page's text without tags, unescaped, spaces collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def esc(value: str) -> str:
    """As Jinja escapes text (' is &#39;, not &#x27;)."""
    return str(escape(value))


def section_url(node: str, lang: str) -> str:
    return f"/topics/{node}" if lang == CONTENT.default_language else f"/{lang}/topics/{node}"


def home_url(lang: str) -> str:
    return "/" if lang == CONTENT.default_language else f"/{lang}/"


def public_pages() -> list[tuple[str, str]]:
    """(language, address) of every public page: the home page, menus, series and sections."""
    nodes = dict.fromkeys(TREE.below(TREE.root))
    assert set(nodes) >= {*TREE.menus, *TREE.series, *TREE.sections} - {TREE.root}
    return [
        (lang, url)
        for lang in CONTENT.languages
        for url in [home_url(lang), *(section_url(n, lang) for n in nodes)]
    ]


def article(page: str) -> str:
    """The topic's own text on a page: the <article> up to its "about this information" box."""
    found = re.search(r"<article[^>]*>(.*?)<section class=\"about\"", page, re.S)
    assert found is not None, "no article on the page"
    return found.group(1)


def footer(page: str) -> str:
    found = re.search(r"<footer[^>]*>(.*?)</footer>", page, re.S)
    assert found is not None, "no footer on the page"
    return found.group(1)


def ancestors(node: str) -> list[str]:
    """The nodes above a node, nearest first (a section of a series has the series, then its menu)."""
    found: list[str] = []
    while node in TREE.parent:
        node = TREE.parent[node]
        found.append(node)
    return found


def blocks(node: str, lang: str) -> list[tuple[str, tuple[str, ...]]]:
    """(text, list items) of every block of a topic page's sections, in order."""
    return [
        (block.text, block.items)
        for sid in TREE.topic_sections(node)
        for part in TREE.section(sid, lang).web
        for block in part
    ]


def phone_only(sid: str, lang: str) -> list[str]:
    """The {phone: ...} pieces of a section's file: said on the line, never written."""
    source = (REPO_ROOT / "knowledge" / "sections" / lang / f"{sid}.md").read_text(encoding="utf-8")
    return re.findall(r"\{phone: ?([^}]*)\}", source)


# The public pages.


@pytest.mark.parametrize("lang", CONTENT.languages)
def test_home_page_links_every_menu_and_section_in_its_language(web: FlaskClient, lang: str) -> None:
    home = home_url(lang)
    page = text(web, home)
    assert f'<html lang="{lang}">' in page
    for node in TREE.below(TREE.root):
        link = f'<a href="{section_url(node, lang)}">{esc(heading(TREE.title(node, lang)))}</a>'
        assert link in page, f"{node} is not linked from {home}"
    assert page.count("<h1>") == 1 and "<main" in page and "<nav" in page


PRESS = {"en": r"\bpress(es|ing)?\b", "hi": "दबा"}  # the words for pressing a key, in each language


PHONE_ONLY = [(sid, lang) for sid in TREE.sections for lang in CONTENT.languages if phone_only(sid, lang)]


@pytest.mark.unit
def test_some_sections_have_words_for_the_phone_only() -> None:
    # The English and Hindi symptoms and overview: "hang up and", "Here is each type in turn."
    assert {sid for sid, _ in PHONE_ONLY} >= {"symptoms", "categories_overview"}, PHONE_ONLY


@pytest.mark.parametrize(("sid", "lang"), PHONE_ONLY)
def test_phone_only_words_are_said_but_not_written(web: FlaskClient, sid: str, lang: str) -> None:
    section = TREE.section(sid, lang)
    spoken = " ".join(section.parts)
    written = " ".join(block.text for part in section.web for block in part)
    page = html.unescape(text(web, section_url(sid, lang)))
    for words in phone_only(sid, lang):
        words = words.strip()
        assert words and words in spoken, words
        assert words not in written and words not in page, words


@pytest.mark.parametrize("lang", CONTENT.languages)
def test_every_topic_page_shows_all_its_text_as_written_and_when_it_was_updated(
    web: FlaskClient, lang: str
) -> None:
    months = CONTENT.prompts[lang].months
    number = web.application.config["EMERGENCY_NUMBER"]
    words = UI[lang]
    for node in TOPIC_PAGES:
        page = text(web, section_url(node, lang))
        shown = article(page)
        assert f'<html lang="{lang}">' in page
        for paragraph, items in blocks(node, lang):
            if paragraph:
                written = esc(paragraph.replace("{emergency}", number))
                assert re.search(rf"<p( lang=\"en\")?>{re.escape(written)}</p>", shown), (node, paragraph)
            for item in items:
                assert re.search(rf"<li( lang=\"en\")?>{re.escape(esc(item))}</li>", shown), (node, item)
        # What only a caller can do ("press star to go back") is said on the line, not written here.
        assert not re.search(PRESS[lang], page), (node, re.findall(rf".{{40}}{PRESS[lang]}.{{20}}", page))
        assert "{" not in visible(page), node
        metas = [TREE.section(sid, lang).meta for sid in TREE.topic_sections(node)]
        assert esc(metas[0].source) in page
        # When it was last updated, not who checked it: that note is for the team, not the public.
        day = max(m.updated_on for m in metas)
        when = f'<time datetime="{day.isoformat()}">{day.day} {months[day.month - 1]} {day.year}</time>'
        assert f"<dt>{words['updated']}</dt>\n<dd>{when}</dd>" in page, node
        assert all(esc(m.editor) not in page for m in metas)
        assert words["clinical_review"] not in page, "no text here has a clinician's sign-off yet"
        # Breadcrumbs: home first, this page last and marked as the current one.
        trail = re.search(r'<nav class="breadcrumbs" aria-label="[^"]+">(.*?)</nav>', page, re.S)
        assert trail is not None
        assert trail.group(1).count("<li>") == len(ancestors(node)) + 1
        assert f'aria-current="page">{esc(heading(TREE.title(node, lang)))}</a>' in trail.group(1)


@pytest.mark.parametrize(("lang", "url"), public_pages())
def test_no_public_page_shows_internal_notes(web: FlaskClient, lang: str, url: str) -> None:
    page = visible(text(web, url))
    for jargon in ("Checked by", "IVR content team", "content team", "sign-off pending", "reviewer"):
        assert jargon not in page, (url, jargon)
    assert "जाँच करने वाले" not in page  # the Hindi "Checked by" of the old pages


@pytest.mark.parametrize("lang", CONTENT.languages)
@pytest.mark.parametrize(("sid", "count"), [("symptoms", 7), ("causes", 8)])
def test_the_symptoms_and_causes_are_one_numbered_list_each(
    web: FlaskClient, lang: str, sid: str, count: int
) -> None:
    shown = article(text(web, section_url(sid, lang)))
    lists = re.findall(r"<ol( start=\"\d+\")?>(.*?)</ol>", shown, re.S)
    assert len(lists) == 1, f"{sid}: one list, though the line says it in {TREE.part_count(sid)} parts"
    start, inside = lists[0]
    assert start == "", "the list starts at 1"
    items = [html.unescape(i) for i in re.findall(r"<li(?: lang=\"en\")?>(.*?)</li>", inside, re.S)]
    assert items == [i for _, found in blocks(sid, lang) for i in found]
    assert len(items) == count


def test_the_emergency_number_of_the_line_is_on_the_symptoms_page_and_every_footer() -> None:
    web = make_app(EMERGENCY_NUMBER="108").test_client()
    symptoms = article(text(web, "/topics/symptoms"))
    first = TREE.section("symptoms", "en").web[0][0].text
    assert "{emergency}" in first, "the sentence this test is about"
    assert f"<p>{esc(first.replace('{emergency}', '108'))}</p>" in symptoms
    assert "call 108 straight away" in visible(symptoms)
    for lang, url in public_pages():
        shown = footer(text(web, url))
        assert f'{UI[lang]["emergency_before"]} <a href="tel:108">108</a>' in shown, url
        assert "112" not in shown, url


def test_the_emergency_number_is_filled_in_a_list_item_too(content_copy: Path) -> None:
    emergency_in_a_list_item(content_copy)
    web = make_app(CONTENT_DIR=str(content_copy), EMERGENCY_NUMBER="108").test_client()
    assert "<li>Difficulty swallowing. Call 108.</li>" in article(text(web, "/topics/symptoms"))


def test_the_lines_own_number_is_on_every_page_when_it_is_set() -> None:
    number = "+918045678900"
    with_number = make_app(LINE_NUMBER=number).test_client()
    without = make_app(LINE_NUMBER=None).test_client()
    for lang, url in public_pages():
        shown = footer(text(with_number, url))
        assert f'{UI[lang]["call_line"]} <a href="tel:{number}">{number}</a>' in shown, url
        bare = text(without, url)
        assert UI[lang]["call_line"] not in bare and number not in bare, url


def test_a_clinicians_review_is_shown_only_where_one_was_given(web_app: Flask) -> None:
    # As the README says: a sign-off on the clinical review page, for a topic in one language.
    sign(web_app, "symptoms", "en", date(2026, 12, 2))
    sign(web_app, "categories", "en", date(2026, 12, 5), clinician="Dr. Ravi Nair")
    web = web_app.test_client()
    label = UI["en"]["clinical_review"]
    page = text(web, "/topics/symptoms")
    reviewed = (
        f'<dt>{label}</dt>\n<dd>Dr. Meera Iyer, <time datetime="2026-12-02">2 December 2026</time></dd>'
    )
    assert reviewed in page
    assert f"<dt>{UI['en']['updated']}</dt>" in page, "the update date stays"
    assert label not in text(web, "/topics/causes")
    assert UI["hi"]["clinical_review"] not in text(web, "/hi/topics/symptoms"), "the Hindi text is not signed"
    # A series is one topic: signed as a whole, its page says so.
    series = text(web, "/topics/categories")
    assert f'<dt>{label}</dt>\n<dd>Dr. Ravi Nair, <time datetime="2026-12-05">' in series


@pytest.mark.unit
def test_page_words_exist_in_every_language_of_the_content() -> None:
    for lang in CONTENT.languages:
        assert set(UI.get(lang, {})) == set(UI["en"]), lang
        assert lang in LANGUAGE_NAMES


@pytest.mark.parametrize("lang", CONTENT.languages)
@pytest.mark.parametrize("node", [m for m in TREE.menus if m != TREE.root])
def test_menu_pages_list_their_options_with_intro(web: FlaskClient, node: str, lang: str) -> None:
    page = text(web, section_url(node, lang))
    menu = TREE.menus[node]
    assert f"<h1>{esc(heading(menu.title[lang]))}</h1>" in page
    if menu.intro is not None:
        assert esc(menu.intro[lang]) in page
    for option in menu.options:
        link = f'<a href="{section_url(option.goto, lang)}">{esc(heading(TREE.title(option.goto, lang)))}</a>'
        assert link in page, option.goto


@pytest.mark.parametrize("lang", CONTENT.languages)
def test_the_six_types_are_one_page_each_type_under_its_own_heading(web: FlaskClient, lang: str) -> None:
    page = text(web, section_url("categories", lang))
    shown = article(page)
    title = heading(TREE.title("categories", lang))
    assert f'<h1 id="topic-title">{esc(title)}</h1>' in shown
    types = [sid for sid in TREE.topic_sections("categories") if heading(TREE.title(sid, lang)) != title]
    assert len(types) == 6
    headings = re.findall(r"<h2 id=\"[^\"]+\">(.*?)</h2>", shown)
    assert headings == [esc(heading(TREE.title(sid, lang))) for sid in types]
    # Each type's text follows its heading, in the order the line says them.
    at = 0
    for sid in TREE.topic_sections("categories"):
        if sid in types:
            at = shown.index(f">{esc(heading(TREE.title(sid, lang)))}</h2>", at)
        for part in TREE.section(sid, lang).web:
            for block in part:
                found = shown.find(f">{esc(block.text)}</p>", at)
                assert found > 0, (sid, block.text)
                at = found
    # A type's own page is in the series, under the six types.
    trail = text(web, section_url(types[0], lang))
    assert f'<a href="{section_url("categories", lang)}">{esc(title)}</a>' in trail


@pytest.mark.parametrize(("lang", "url"), public_pages())
def test_hindi_is_spelled_as_the_line_says_it(web: FlaskClient, lang: str, url: str) -> None:
    page = text(web, url)
    hindi = LANGUAGE_NAMES["hi"]
    assert hindi in CONTENT.prompts["hi"].phrases.choose_language, "the spelling the line says"
    assert "हिन्दी" not in page
    if lang != "hi":
        assert f'hreflang="hi" lang="hi">{hindi}</a>' in page


def test_hindi_pages_have_lang_hi_and_mark_english_text(web: FlaskClient) -> None:
    page = text(web, "/hi/topics/symptoms")
    assert '<html lang="hi">' in page
    first = TREE.section("symptoms", "hi").web[0][0].text
    assert f"<p>{first.replace('{emergency}', web.application.config['EMERGENCY_NUMBER'])}</p>" in page
    # The Hindi section's source is written in English: it says so, for screen readers.
    assert f'<span lang="en">{esc(TREE.section("symptoms", "hi").meta.source)}</span>' in page
    # The way back to English, named in English.
    assert '<a href="/topics/symptoms" hreflang="en" lang="en">English</a>' in page


def test_language_in_the_query_redirects_to_the_language_path(web: FlaskClient) -> None:
    assert web.get("/?lang=hi").headers["Location"] == "/hi/"
    assert web.get("/topics/causes?lang=hi").headers["Location"] == "/hi/topics/causes"
    assert web.get("/en/topics/causes").headers["Location"] == "/topics/causes"
    assert web.get("/?lang=xx").status_code == 200
    assert web.get("/xx/").status_code == 404
    assert web.get("/topics/no_such_topic").status_code == 404
    assert web.get("/hi/topics/no_such_topic").status_code == 404


def test_pages_carry_security_headers(web: FlaskClient) -> None:
    for url in ("/", "/staff/login"):
        headers = web.get(url).headers
        assert "default-src 'none'" in headers["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
        assert headers["X-Content-Type-Options"] == "nosniff"
    assert web.get("/staff/login").headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("url", STAFF_PAGES)
def test_a_table_that_may_scroll_sideways_is_reachable_by_keyboard_and_named(
    staff: FlaskClient, url: str
) -> None:
    # On a narrow screen or at a large text size a wide table scrolls: a keyboard user must be able
    # to focus it to scroll it (WCAG 2.1.1), and a screen reader must say which table it is.
    page = text(staff, url)
    for tag in re.findall(r'<div class="table-scroll"[^>]*>', page):
        assert 'tabindex="0"' in tag and 'role="region"' in tag, tag
        named = re.search(r'aria-labelledby="([^"]+)"', tag)
        assert named is not None and f'id="{named.group(1)}"' in page, tag


# Logging in.


@pytest.mark.parametrize("url", STAFF_PAGES)
def test_every_staff_page_needs_a_login(web: FlaskClient, url: str) -> None:
    response = web.get(url)
    assert response.status_code == 302
    assert response.headers["Location"] == f"/staff/login?next={url}"


def test_logging_in_goes_to_the_page_asked_for_and_no_other_site(web: FlaskClient) -> None:
    token = csrf_token(text(web, "/staff/login?next=/staff/stats"))
    form = {"username": STAFF_USER, "password": STAFF_PASSWORD, "csrf_token": token, "next": "/staff/stats"}
    response = web.post("/staff/login", data=form)
    assert response.status_code == 303 and response.headers["Location"] == "/staff/stats"
    for elsewhere in ("https://evil.example/staff/", "//evil.example/staff/", "/voice"):
        web.post("/staff/logout", data={"csrf_token": csrf_token(text(web, "/staff/"))})
        token = csrf_token(text(web, "/staff/login"))
        response = web.post("/staff/login", data={**form, "csrf_token": token, "next": elsewhere})
        assert response.headers["Location"] == "/staff/", elsewhere


@pytest.mark.parametrize(
    ("username", "password"),
    [(STAFF_USER, "not the password"), ("nobody", STAFF_PASSWORD), (STAFF_USER, ""), ("", "")],
)
def test_a_wrong_password_or_unknown_user_is_refused(web: FlaskClient, username: str, password: str) -> None:
    token = csrf_token(text(web, "/staff/login"))
    response = web.post(
        "/staff/login", data={"username": username, "password": password, "csrf_token": token}
    )
    assert response.status_code == 401
    page = response.get_data(as_text=True)
    assert "Wrong username or password." in page and 'aria-invalid="true"' in page
    assert web.get("/staff/").status_code == 302


def test_usernames_are_not_case_sensitive(web: FlaskClient) -> None:
    assert log_in(web, STAFF_USER.upper()) == 303
    assert web.get("/staff/").status_code == 200


def test_session_cookie_is_secure_http_only_and_same_site(web: FlaskClient) -> None:
    token = csrf_token(text(web, "/staff/login"))
    response = web.post(
        "/staff/login", data={"username": STAFF_USER, "password": STAFF_PASSWORD, "csrf_token": token}
    )
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Host-ivr-session=")
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/" in cookie


def test_logging_out_ends_the_session(staff: FlaskClient) -> None:
    token = csrf_token(text(staff, "/staff/"))
    response = staff.post("/staff/logout", data={"csrf_token": token})
    assert response.status_code == 303 and response.headers["Location"] == "/staff/login"
    assert "You have logged out." in text(staff, "/staff/login")
    assert staff.get("/staff/").status_code == 302


def test_a_new_password_ends_sessions_opened_with_the_old_one(web_app: Flask, staff: FlaskClient) -> None:
    from ivr.web.staff import hash_password

    assert staff.get("/staff/").status_code == 200
    assert store_of(web_app).set_staff_password(STAFF_USER, hash_password("another long passphrase"))
    assert staff.get("/staff/").status_code == 302
    assert log_in(staff, password="another long passphrase") == 303


# CSRF.


def test_a_post_without_the_csrf_token_is_refused(web_app: Flask, staff: FlaskClient, seeded: Seeded) -> None:
    url = f"/staff/callbacks/{seeded.callback_id}/done"
    assert staff.post(url).status_code == 400
    assert staff.post(url, data={"csrf_token": "forged"}).status_code == 400
    assert staff.post(url, data={"csrf_token": "ünïcode"}).status_code == 400
    assert staff.post(f"/staff/recordings/{seeded.recording_id}/reviewed").status_code == 400
    assert staff.post("/staff/logout").status_code == 400
    assert [cb.id for cb in store_of(web_app).callbacks()] == [seeded.callback_id]
    assert staff.get("/staff/").status_code == 200, "still logged in"


def test_the_login_form_needs_the_csrf_token_too(web: FlaskClient) -> None:
    web.get("/staff/login")
    response = web.post("/staff/login", data={"username": STAFF_USER, "password": STAFF_PASSWORD})
    assert response.status_code == 400
    assert web.get("/staff/").status_code == 302


def test_a_token_from_before_log_in_is_worthless_after_it(web: FlaskClient, seeded: Seeded) -> None:
    before = csrf_token(text(web, "/staff/login"))
    web.post("/staff/login", data={"username": STAFF_USER, "password": STAFF_PASSWORD, "csrf_token": before})
    url = f"/staff/callbacks/{seeded.callback_id}/done"
    assert web.post(url, data={"csrf_token": before}).status_code == 400


def test_twilio_webhooks_need_no_csrf_token(web_app: Flask) -> None:
    status, twiml = SignedClient(web_app).post("/voice")
    assert status == 200 and twiml is not None and twiml.tag == "Response"


WEBHOOK_BLUEPRINTS = ("voice", "agents")


URL_SAMPLES = {"topic": "symptoms", "lang": "en"}


def post_rules(app: Flask) -> list[tuple[str, str]]:
    """(blueprint, a URL) for every route that takes POST."""
    found = []
    for rule in app.url_map.iter_rules():
        if "POST" in (rule.methods or ()):
            # Each variable part filled with a value it takes: an id, a topic, a language.
            url = re.sub(
                r"<(?:[^:>]+:)?([^>]+)>", lambda part: URL_SAMPLES.get(part.group(1), "1"), rule.rule
            )
            found.append((rule.endpoint.partition(".")[0], url))
    return found


def test_every_post_outside_the_webhooks_needs_the_token(web_app: Flask, staff: FlaskClient) -> None:
    forms = [url for bp, url in post_rules(web_app) if bp not in WEBHOOK_BLUEPRINTS]
    assert {"/staff/login", "/staff/logout", "/staff/callbacks/1/done", "/staff/erase/"} <= set(forms)
    assert "/staff/review/symptoms/en/sign-off" in forms
    for url in forms:
        response = staff.post(url, data={"username": STAFF_USER, "password": STAFF_PASSWORD})
        assert response.status_code == 400, url
        assert "This form is out of date or did not come from this site." in response.get_data(as_text=True)


def test_every_webhook_is_exempt_and_guarded_by_its_signature_instead(web_app: Flask) -> None:
    webhooks = [url for bp, url in post_rules(web_app) if bp in WEBHOOK_BLUEPRINTS]
    assert {"/voice", "/voice/step", "/voice/status", "/voice/agent", "/voice/whisper"} <= set(webhooks)
    client = web_app.test_client()
    for url in webhooks:
        assert client.post(url, data={"CallSid": "CAx"}).status_code == 403, url  # unsigned: not a CSRF 400
    status, _ = SignedClient(web_app).post("/voice/status", {"CallStatus": "completed"})
    assert status == 204, "signed, with no session or token: accepted"


def test_the_token_may_come_in_a_header(web_app: Flask, staff: FlaskClient, seeded: Seeded) -> None:
    token = csrf_token(text(staff, "/staff/callbacks"))
    url = f"/staff/callbacks/{seeded.callback_id}/done"
    assert staff.post(url, headers={"X-CSRF-Token": "forged"}).status_code == 400
    assert staff.post(url, headers={"X-CSRF-Token": token}).status_code == 303
    assert store_of(web_app).callbacks() == []


def test_a_token_lasts_as_long_as_its_session(
    web_app: Flask, staff: FlaskClient, seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A dashboard left open for hours (past Flask-WTF's default hour, within the 8 h session) still works.
    token = csrf_token(text(staff, "/staff/callbacks"))
    later = time.time() + 5 * 3600
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: int(later))
    response = staff.post(f"/staff/callbacks/{seeded.callback_id}/done", data={"csrf_token": token})
    assert response.status_code == 303 and store_of(web_app).callbacks() == []


# The pages.


def test_mark_done_takes_a_callback_off_the_queue(web_app: Flask, staff: FlaskClient, seeded: Seeded) -> None:
    queue = text(staff, "/staff/callbacks")
    assert f'href="tel:{CALLBACK_NUMBER}"' in queue and f'id="callback-{seeded.callback_id}"' in queue
    response = staff.post(
        f"/staff/callbacks/{seeded.callback_id}/done", data={"csrf_token": csrf_token(queue)}
    )
    assert response.status_code == 303 and response.headers["Location"] == "/staff/callbacks"
    queue = text(staff, "/staff/callbacks")
    assert f"Callback {seeded.callback_id} marked done." in queue
    assert CALLBACK_NUMBER not in queue and "No callbacks waiting." in queue
    (row,) = store_of(web_app).callbacks(open_only=False)
    assert row.done_by == STAFF_USER and row.done_at is not None
    again = staff.post(f"/staff/callbacks/{seeded.callback_id}/done", data={"csrf_token": csrf_token(queue)})
    assert again.status_code == 303
    assert "was already done, or does not exist." in text(staff, "/staff/callbacks")


def test_mark_reviewed_takes_a_recording_off_the_list(staff: FlaskClient, seeded: Seeded) -> None:
    page = text(staff, "/staff/recordings")
    # The audio is reached through the dashboard, which records each listening in the audit log.
    listen = f'href="/staff/recordings/{seeded.recording_id}/listen"'
    assert listen in page and RECORDING_URL not in page
    assert "42 s" in page and "neurology" in page
    staff.post(f"/staff/recordings/{seeded.recording_id}/reviewed", data={"csrf_token": csrf_token(page)})
    page = text(staff, "/staff/recordings")
    assert f"Recording {seeded.recording_id} marked reviewed." in page and listen not in page
    everything = text(staff, "/staff/recordings?all=1")
    assert listen in everything and "Mark reviewed" not in everything


def test_all_recordings_show_who_reviewed_each_and_when(
    web_app: Flask, staff: FlaskClient, seeded: Seeded
) -> None:
    page = text(staff, "/staff/recordings")
    response = staff.post(
        f"/staff/recordings/{seeded.recording_id}/reviewed", data={"csrf_token": csrf_token(page)}
    )
    assert response.status_code == 303 and response.headers["Location"] == "/staff/recordings"
    (row,) = store_of(web_app).recordings(unreviewed_only=False)
    assert row.reviewed_by == STAFF_USER and row.reviewed_at is not None
    everything = text(staff, "/staff/recordings?all=1")
    assert '<th scope="col">Reviewed</th>' in everything
    shown = re.search(rf'<tr id="recording-{seeded.recording_id}">.*?</tr>', everything, re.S)
    assert shown is not None
    stamp = row.reviewed_at.strftime("%d %b %Y, %H:%M UTC")
    assert f"{stamp} by {STAFF_USER}" in visible(shown.group(0))


def test_a_recording_reviewed_before_reviewers_were_kept_says_so(
    web_app: Flask, staff: FlaskClient, seeded: Seeded
) -> None:
    store = store_of(web_app)
    with store.engine.begin() as conn:  # as the migration leaves a recording reviewed before it
        conn.execute(
            update(Recording)
            .where(Recording.id == seeded.recording_id)
            .values(reviewed_at=datetime(2026, 11, 24, 9, 15, tzinfo=UTC))
        )
    everything = visible(text(staff, "/staff/recordings?all=1"))
    assert "24 Nov 2026, 09:15 UTC (reviewer not recorded)" in everything


def test_a_recording_address_that_is_not_a_web_address_is_not_a_link(
    web_app: Flask, staff: FlaskClient
) -> None:
    rec = store_of(web_app).add_recording("CAx", "javascript:alert(1)")
    page = text(staff, "/staff/recordings")
    row = re.search(rf'<tr id="recording-{rec}">.*?</tr>', page, re.S)
    assert row is not None and "Not available" in row.group(0) and "/listen" not in row.group(0)
    assert "javascript:" not in page
    # Nor does the listening route send anyone there.
    assert staff.get(f"/staff/recordings/{rec}/listen").status_code == 404


def test_calls_page_shows_live_and_ended_calls_with_their_journeys(staff: FlaskClient) -> None:
    page = text(staff, "/staff/calls")
    live, ended = page.split('id="ended-heading"')
    assert LIVE_CALL[:12] in live and "Language choice" in live
    for sid in JOURNEYS:
        assert sid[:12] in ended and sid[:12] not in live
    # CAended0's way: main menu, symptoms and causes, symptoms.
    row = next(r for r in ended.split("<tr>") if "CAended0" in r)
    assert visible(row).count("→") == 2
    assert re.search(r"Main menu.*Symptoms and causes.*Symptoms", visible(row))


def test_call_page_lists_every_event_of_the_journey(staff: FlaskClient) -> None:
    page = text(staff, "/staff/calls/CAended1")
    body = page.split('id="journey-heading"')[1]
    assert body.count("<tr>") == 1 + len(JOURNEYS["CAended1"])
    for event, _node, _part in JOURNEYS["CAended1"]:
        assert f"<td>{event}</td>" in body
    assert "<time datetime=" in body
    assert staff.get("/staff/calls/CAnope").status_code == 404


def test_caller_numbers_appear_on_the_callback_queue_only(staff: FlaskClient) -> None:
    pseudonym = "caller-" + CALLER[:12]
    for url in STAFF_PAGES:
        page = text(staff, url)
        shown = CALLBACK_DIGITS in re.sub(r"\D", "", visible(page) + page)
        assert shown == (url == "/staff/callbacks"), url
    assert pseudonym in text(staff, "/staff/calls") and pseudonym in text(staff, "/staff/calls/CAended0")


def test_dashboard_counts_what_is_waiting(staff: FlaskClient) -> None:
    page = visible(text(staff, "/staff/"))
    assert "1 call in progress" in page
    assert "1 callback waiting" in page
    assert "1 recorded question to review" in page


def test_stats_count_listening_per_section_and_where_calls_ended(staff: FlaskClient) -> None:
    page = text(staff, "/staff/stats")
    listening = page.split('id="dropoff-heading"')[0]
    symptoms = visible(next(r for r in listening.split("<tr>") if ">Symptoms</th>" in r)).split()
    parts = TREE.part_count("symptoms")
    # Symptoms: 2 calls reached it, none reached its last part.
    assert symptoms == ["Symptoms", str(parts), "2", "0"]
    about = visible(next(r for r in listening.split("<tr>") if "What neuromuscular disorders are" in r))
    assert about.split()[-3:] == [str(TREE.part_count("about")), "1", "0"]
    # Of 3 ended calls, 2 ended at symptoms and 1 at about; the live call is not counted.
    table = page.split("as a table (3 ended calls)")[1]
    assert re.search(r"<th scope=\"row\">Symptoms</th><td>2</td><td>67%</td>", table)
    assert re.search(r"What neuromuscular disorders are \(about\)</th><td>1</td><td>33%</td>", table)
    assert '<svg role="img" aria-labelledby="dropoff-title" aria-describedby="dropoff-desc"' in page
    assert "Most ended at Symptoms: 2 calls, 67%." in page


def test_a_real_call_shows_up_with_its_journey(web_app: Flask, staff: FlaskClient) -> None:
    from ivr.simulator import FlaskTransport, Phone

    phone = Phone(FlaskTransport(web_app), base_url="http://localhost", auth_token=AUTH_TOKEN)
    answer(phone)
    phone.press(TREE.keys_to("symptoms_causes")[0])
    page = text(staff, "/staff/calls")
    live = page.split('id="ended-heading"')[0]
    assert phone.call_sid[:12] in live
    signed = SignedClient(web_app)
    status, _ = signed.post(
        "/voice/status", {"CallSid": phone.call_sid, "CallStatus": "completed", "CallDuration": "31"}
    )
    assert status == 204
    detail = text(staff, f"/staff/calls/{phone.call_sid}")
    assert f"{heading(TREE.title('symptoms_causes', 'en'))} (symptoms_causes)" in detail
    assert "31 s" in detail
    assert phone.call_sid[:12] in text(staff, "/staff/calls").split('id="ended-heading"')[1]


# The staff CLI.


def test_staff_add_asks_for_the_password_and_the_user_can_log_in(web_app: Flask, web: FlaskClient) -> None:
    runner = web_app.test_cli_runner()
    result = runner.invoke(
        args=["staff", "add", "Ravi"], input="ravi's long password\nravi's long password\n"
    )
    assert result.exit_code == 0, result.output
    assert "added ravi" in result.output and "ravi's long password" not in result.output
    user = store_of(web_app).staff_user("ravi")
    assert user is not None and user.password_hash.startswith("scrypt:")
    assert log_in(web, "ravi", "ravi's long password") == 303

    again = runner.invoke(args=["staff", "add", "ravi"], input="whatever password\nwhatever password\n")
    assert again.exit_code != 0 and "already exists" in again.output
    short = runner.invoke(args=["staff", "add", "mina"], input="short\nshort\n")
    assert short.exit_code != 0 and "at least 12 characters" in short.output
    bad = runner.invoke(args=["staff", "add", "no spaces"], input="a long password 1\na long password 1\n")
    assert bad.exit_code != 0
    assert runner.invoke(args=["staff", "list"]).output.split() == [STAFF_USER, "staff", "ravi", "staff"]


def test_staff_password_changes_the_password(web_app: Flask, web: FlaskClient) -> None:
    runner = web_app.test_cli_runner()
    result = runner.invoke(args=["staff", "password", STAFF_USER], input="a brand new password\n" * 2)
    assert result.exit_code == 0, result.output
    assert log_in(web) == 401
    assert log_in(web, password="a brand new password") == 303
    missing = runner.invoke(args=["staff", "password", "nobody"], input="a brand new password\n" * 2)
    assert missing.exit_code != 0 and "no staff user nobody" in missing.output
