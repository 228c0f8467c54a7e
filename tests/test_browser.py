"""The web pages in real headless Chromium: axe-core (WCAG 2.2 AA) on every page, keyboard-only use.

Chromium is Debian's (/usr/bin/chromium, installed by bin/setup), driven by Playwright; the app is
served over real HTTP on 127.0.0.1. axe-core comes from npm (package.json; bin/setup installs it).
IVR_SKIP_BROWSER=1 skips these tests on purpose; a missing Chromium otherwise fails them.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright
from werkzeug.serving import make_server

from ivr import services
from ivr.store import Store
from tests.support.app import make_app
from tests.support.browser import axe_source
from tests.support.signoffs import CLINICIAN_NAME, render_topic_audio
from tests.support.web import CALLER, STAFF_PASSWORD, STAFF_USER, seed

pytestmark = pytest.mark.system

CHROMIUM = os.environ.get("IVR_CHROMIUM", "/usr/bin/chromium")
LINE_NUMBER, EMERGENCY_NUMBER = "+918045678900", "112"
# Without the networking flags Chromium keeps calling Google's hosts, which this network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WCAG_22_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
FOCUS_YELLOW = "rgb(255, 221, 0)"
RUN_AXE = """async (tags) => {
  const result = await axe.run(document, {runOnly: {type: "tag", values: tags}});
  const brief = (rule) => ({
    id: rule.id, impact: rule.impact, help: rule.help,
    nodes: rule.nodes.map((node) => node.target.join(" ") + ": " + node.failureSummary),
  });
  return {violations: result.violations.map(brief), passes: result.passes.length};
}"""
ACTIVE = """() => {
  const el = document.activeElement;
  const style = getComputedStyle(el);
  return {
    tag: el.tagName.toLowerCase(), id: el.id, text: el.textContent.trim(), href: el.getAttribute("href"),
    inMain: document.querySelector("main").contains(el), background: style.backgroundColor,
    boxShadow: style.boxShadow, outline: style.outlineStyle,
  };
}"""

PUBLIC_PAGES = {
    "public home": "/",
    "public home, Hindi": "/hi/",
    "topic with a list, English": "/topics/symptoms",
    "topic with a list, Hindi": "/hi/topics/symptoms",
    "topic with a list run on across parts": "/topics/causes",
    "topic, Hindi": "/hi/topics/about",
    "menu, English": "/topics/treatment",
    "menu, Hindi": "/hi/topics/symptoms_causes",
    "series, English": "/topics/categories",
    "series, Hindi": "/hi/topics/categories",
    "a type of the series": "/topics/junction",
    "staff login": "/staff/login",
}
REVIEWED_TOPIC = "about"  # its first part's audio is rendered (in English, at the normal speed)
STAFF_PAGES = {
    "dashboard": "/staff/",
    "calls": "/staff/calls",
    "call detail": "/staff/calls/CAended1",
    "callbacks": "/staff/callbacks",
    "missed calls": "/staff/missed-calls",
    "recordings": "/staff/recordings",
    "recordings, all": "/staff/recordings?all=1",
    "stats": "/staff/stats",
    "listening figures": "/staff/figures/",
    "listening figures, a period": "/staff/figures/?from=2026-01-01&to=2026-12-31",
    "audit log": "/staff/audit/",
    "erase a caller's data": "/staff/erase/",
    "clinical review": "/staff/review/",
    "clinical review of a topic, part by part": f"/staff/review/{REVIEWED_TOPIC}",
}
WITHOUT_TABLES = {"/staff/", f"/staff/review/{REVIEWED_TOPIC}", "/staff/erase/"}


@dataclass(frozen=True)
class Site:
    """The app, served over HTTP."""

    url: str
    app: Flask

    @property
    def store(self) -> Store:
        """The app's store, for arranging data and checking outcomes."""
        store: Store = services.store(self.app)
        return store


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    db = tmp_path_factory.mktemp("browser") / "web.sqlite3"
    # With the line's own number set, as a deployment has it: every page's footer shows it.
    app = make_app(
        DATABASE_URL=f"sqlite:///{db}",
        SECRET_KEY="browser-test-secret",
        LINE_NUMBER=LINE_NUMBER,
        EMERGENCY_NUMBER=EMERGENCY_NUMBER,
        AUDIO_DIR=str(db.parent / "audio"),
    )
    render_topic_audio(app, REVIEWED_TOPIC, "en", parts=1)
    store = services.store(app)
    seed(store)
    # An administrator opens every staff page; the audit log has an entry to show in its table.
    assert store.set_staff_role(STAFF_USER, "admin")
    assert store.audit("asha", "view-numbers", "callbacks no. 1", role="admin", detail="1 numbers")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Site(f"http://127.0.0.1:{server.server_port}", app)
    finally:
        server.shutdown()
        thread.join(timeout=10)
        services.store(app).dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if os.environ.get("IVR_SKIP_BROWSER") == "1":
        pytest.skip("IVR_SKIP_BROWSER=1: browser tests skipped on purpose")
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: run bin/setup (Debian's chromium package)", pytrace=False)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Browser, site: Site) -> Iterator[Page]:
    context = browser.new_context(base_url=site.url)
    yield context.new_page()
    context.close()


@pytest.fixture(scope="module")
def staff_context(browser: Browser, site: Site) -> Iterator[BrowserContext]:
    """A browser session that logged in through the form once, for the whole module."""
    context = browser.new_context(base_url=site.url)
    page = context.new_page()
    page.goto("/staff/login")
    page.fill("#username", STAFF_USER)
    page.fill("#password", STAFF_PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/staff/")
    page.close()
    yield context
    context.close()


@pytest.fixture
def staff_page(staff_context: BrowserContext) -> Iterator[Page]:
    page = staff_context.new_page()
    yield page
    page.close()


def axe(page: Page) -> dict[str, Any]:
    """Run axe-core on the page (injected over DevTools, so the pages' CSP stays on)."""
    page.evaluate(axe_source())
    result: dict[str, Any] = page.evaluate(RUN_AXE, WCAG_22_AA)
    return result


def explain(violations: list[dict[str, Any]]) -> str:
    return "\n".join(
        f"{v['id']} ({v['impact']}): {v['help']}\n    " + "\n    ".join(v["nodes"]) for v in violations
    )


def active(page: Page) -> dict[str, Any]:
    found: dict[str, Any] = page.evaluate(ACTIVE)
    return found


def tab_to(page: Page, predicate: str, limit: int = 40) -> dict[str, Any]:
    """Press Tab until the focused element matches a JS predicate on `el`; what is focused then."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"() => {{ const el = document.activeElement; return Boolean({predicate}); }}"):
            return active(page)
    raise AssertionError(f"Tab never reached an element with {predicate}")


# axe-core.


def test_axe_finds_violations_on_a_broken_page(page: Page) -> None:
    # Proof that the harness works: a page with known faults must fail.
    page.set_content('<img src="x.png"><a href="/x"></a><input type="text">')
    found = {v["id"] for v in axe(page)["violations"]}
    assert {"image-alt", "link-name", "html-has-lang", "label"} <= found


@pytest.mark.parametrize("url", PUBLIC_PAGES.values(), ids=PUBLIC_PAGES.keys())
def test_public_pages_have_no_wcag_22_aa_violations(page: Page, url: str) -> None:
    response = page.goto(url)
    assert response is not None and response.status == 200
    if url != "/staff/login":  # the public footer: the emergency number and the line's own
        assert page.locator(f"footer a[href='tel:{EMERGENCY_NUMBER}']").inner_text() == EMERGENCY_NUMBER
        assert page.locator(f"footer a[href='tel:{LINE_NUMBER}']").inner_text() == LINE_NUMBER
    result = axe(page)
    assert result["violations"] == [], explain(result["violations"])
    assert result["passes"] > 10


def test_login_page_with_an_error_has_no_violations(page: Page) -> None:
    page.goto("/staff/login")
    page.fill("#username", STAFF_USER)
    page.fill("#password", "not the password")
    page.click("button[type=submit]")
    assert page.locator("#login-error").inner_text() == "Wrong username or password."
    result = axe(page)
    assert result["violations"] == [], explain(result["violations"])


@pytest.mark.parametrize("url", STAFF_PAGES.values(), ids=STAFF_PAGES.keys())
def test_staff_pages_have_no_wcag_22_aa_violations(staff_page: Page, site: Site, url: str) -> None:
    # Something in every table, whatever ran before: an open callback, an unreviewed recording and
    # a missed call waiting for its call-back.
    site.store.add_callback("CAended2", CALLER, "+447700900555")
    site.store.add_recording("CAended2", "https://api.twilio.com/rec/RE-axe", duration_seconds=7)
    now = datetime.now(UTC)
    site.store.queue_missed(
        "CAmissed2",
        CALLER,
        "+919812345678",
        "+911140001234",
        now=now,
        due=now + timedelta(seconds=20),
        recent_since=now - timedelta(minutes=10),
        day_start=now - timedelta(days=1),
        daily_limit=1000,
    )
    response = staff_page.goto(url)
    assert response is not None and response.status == 200 and staff_page.url.endswith(url)
    assert staff_page.locator("table").count() > 0 or url in WITHOUT_TABLES
    result = axe(staff_page)
    assert result["violations"] == [], explain(result["violations"])
    assert result["passes"] > 10


# Keyboard only.


@pytest.mark.parametrize("url", ["/", "/hi/topics/symptoms", "/staff/login"])
def test_the_first_tab_reaches_the_skip_link_which_moves_focus_to_main(page: Page, url: str) -> None:
    page.goto(url)
    page.keyboard.press("Tab")
    first = active(page)
    assert first["href"] == "#main" and first["text"] in ("Skip to main content", "मुख्य सामग्री पर जाएँ")
    box = page.locator("a.skip-link").bounding_box()
    assert box is not None and box["x"] >= 0 and box["y"] >= 0 and box["width"] > 20, "shown when focused"
    assert first["background"] == FOCUS_YELLOW
    page.keyboard.press("Enter")
    assert active(page)["id"] == "main"
    page.keyboard.press("Tab")
    assert active(page)["inMain"], "the next Tab goes on from the main content"


def test_the_skip_link_works_on_staff_pages(staff_page: Page) -> None:
    staff_page.goto("/staff/stats")
    staff_page.keyboard.press("Tab")
    assert active(staff_page)["href"] == "#main"
    staff_page.keyboard.press("Enter")
    assert active(staff_page)["id"] == "main"


def test_a_topic_is_reached_with_the_keyboard_alone_and_focus_is_visible(page: Page) -> None:
    page.goto("/")
    focused = tab_to(page, "el.getAttribute('href') === '/topics/symptoms_causes'")
    assert focused["background"] == FOCUS_YELLOW, "the focused link is marked"
    page.keyboard.press("Enter")
    page.wait_for_url("**/topics/symptoms_causes")
    tab_to(
        page,
        "el.getAttribute('href') === '/topics/symptoms' && el.closest('main') && !el.closest('.breadcrumbs')",
    )
    page.keyboard.press("Enter")
    page.wait_for_url("**/topics/symptoms")
    assert page.locator("main h1").inner_text() == "Symptoms"
    assert page.locator("main article p").count() >= 1
    assert page.locator("main article ol > li").count() == 7, "the seven symptoms, as one list"


def test_staff_log_in_and_mark_a_callback_done_with_the_keyboard_alone(page: Page, site: Site) -> None:
    number = "+447700900777"
    callback_id = site.store.add_callback("CAended1", CALLER, number, specialty="physiotherapy")
    assert callback_id is not None

    page.goto("/staff/callbacks")
    page.wait_for_url("**/staff/login?next=/staff/callbacks")
    tab_to(page, "el.id === 'username'")
    page.keyboard.type(STAFF_USER)
    page.keyboard.press("Tab")
    assert active(page)["id"] == "password"
    page.keyboard.type(STAFF_PASSWORD)
    page.keyboard.press("Enter")
    page.wait_for_url("**/staff/callbacks")

    row = page.locator(f"#callback-{callback_id}")
    assert row.locator("a[href^='tel:']").inner_text() == number
    button = tab_to(page, f"el.tagName === 'BUTTON' && el.closest('#callback-{callback_id}')")
    assert button["text"].startswith("Mark done") and FOCUS_YELLOW in button["boxShadow"]
    page.keyboard.press("Enter")
    page.wait_for_load_state()

    assert page.locator(".notice").inner_text() == f"Callback {callback_id} marked done."
    assert page.locator(f"#callback-{callback_id}").count() == 0
    assert number not in page.content()
    assert callback_id not in [cb.id for cb in site.store.callbacks()]
    done = next(cb for cb in site.store.callbacks(open_only=False) if cb.id == callback_id)
    assert done.done_by == STAFF_USER


def test_the_figures_period_and_exports_work_with_the_keyboard_alone(staff_page: Page, site: Site) -> None:
    staff_page.goto("/staff/figures/")
    # Backwards: the message is announced, tied to both fields, and the page stays axe-clean.
    tab_to(staff_page, "el.id === 'figures-from'")
    staff_page.keyboard.type("12312026")  # Chromium's date field, month, day, year (en-US)
    tab_to(staff_page, "el.id === 'figures-to'")
    staff_page.keyboard.type("01012026")
    staff_page.keyboard.press("Enter")
    staff_page.wait_for_url("**/staff/figures/?from=2026-12-31&to=2026-01-01")
    alert = staff_page.locator("[role=alert]")
    assert alert.inner_text() == "To is before From: the period would have no days."
    assert staff_page.locator("#figures-to").get_attribute("aria-describedby") == alert.get_attribute("id")
    result = axe(staff_page)
    assert result["violations"] == [], explain(result["violations"])

    staff_page.locator("#figures-from").focus()
    staff_page.keyboard.type("01012026")
    tab_to(staff_page, "el.id === 'figures-to'")
    staff_page.keyboard.type("12312026")
    staff_page.keyboard.press("Enter")
    staff_page.wait_for_url("**/staff/figures/?from=2026-01-01&to=2026-12-31")
    assert staff_page.locator("[role=alert]").count() == 0
    link = tab_to(staff_page, "(el.getAttribute('href') || '').startsWith('/staff/figures/journeys.csv')")
    assert link["href"] == "/staff/figures/journeys.csv?from=2026-01-01&to=2026-12-31"
    assert link["background"] == FOCUS_YELLOW, "the focused link is marked"
    with staff_page.expect_download() as started:
        staff_page.keyboard.press("Enter")
    download = started.value
    assert download.suggested_filename == "journeys-2026-01-01-to-2026-12-31.csv"
    saved = download.path()
    assert saved is not None
    header = Path(saved).read_text(encoding="utf-8").splitlines()[0]
    assert header == "caller,call,call_started,language,event_at,event,node,node_title,part,call_status"
    found = site.store.audit_entries(action="export")
    assert found is not None and found[0][0].target == "journeys 2026-01-01-to-2026-12-31"


def test_the_review_pages_audio_loads_in_the_browser(staff_page: Page) -> None:
    staff_page.goto(f"/staff/review/{REVIEWED_TOPIC}")
    players = staff_page.locator("#lang-en ~ section audio")
    assert players.count() >= 2, "the title and the first part, at the normal speed"
    # preload="none": nothing is fetched until asked; asked, the browser loads and decodes the WAV.
    seconds = players.first.evaluate(
        """(el) => new Promise((done, fail) => {
            el.addEventListener("loadedmetadata", () => done(el.duration), {once: true});
            el.addEventListener("error", () => fail(new Error("audio error " + el.error.code)), {once: true});
            el.preload = "metadata";
            el.load();
        })"""
    )
    assert seconds > 0


def test_a_clinician_signs_a_topic_off_with_the_keyboard_alone(staff_page: Page, site: Site) -> None:
    staff_page.goto("/staff/review/symptoms")
    name = tab_to(staff_page, "el.id === 'name-en'")
    assert FOCUS_YELLOW in name["boxShadow"], "the focused field is marked"
    staff_page.keyboard.type(CLINICIAN_NAME)
    # The date is today's already; past it to the confirmation, ticked with the space bar.
    tab_to(staff_page, "el.id === 'confirm-en'")
    staff_page.keyboard.press("Space")
    button = tab_to(
        staff_page, "el.tagName === 'BUTTON' && el.closest('form').action.endsWith('/en/sign-off')"
    )
    assert button["text"] == "Sign off in English"
    staff_page.keyboard.press("Enter")
    staff_page.wait_for_url("**/staff/review/symptoms")
    notice = staff_page.locator(".notice").inner_text()
    assert notice == f"Signed off: Symptoms in English, by {CLINICIAN_NAME}, 25 November 2026."
    assert staff_page.locator("#status-en").inner_text().startswith(f"Signed off by {CLINICIAN_NAME}")
    signed = site.store.latest_signoffs()
    assert signed is not None and signed[("symptoms", "en")].signed_by == STAFF_USER
