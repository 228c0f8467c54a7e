"""The public web pages: the phone line's knowledge tree as accessible HTML, in every language.

Built at request time from the same content the line speaks (`ivr.services.line().content`),
so the web and the phone never disagree. The default language lives at / and /topics/<id>; every
other language under its code: /hi/ and /hi/topics/<id> (?lang=hi redirects there).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from ivr import services
from ivr.content import Content
from ivr.content.models import Section
from ivr.content.tree import reading

bp = Blueprint("public", __name__)

# The words of the page around the content. A language missing here falls back to English.
UI: dict[str, dict[str, str]] = {
    "en": {
        "site": "Neuromuscular disorders information",
        "intro": (
            "Plain information about neuromuscular disorders: what they are, their symptoms and causes,"
            " the six types, and treatment."
        ),
        "skip": "Skip to main content",
        "home": "Home",
        "breadcrumb": "You are here",
        "topics": "Topics",
        "in_this_group": "In this group",
        "about": "About this information",
        "source": "Source",
        "updated": "Last updated",
        "clinical_review": "Reviewed by a clinician",
        "review_by": "Next review due",
        "languages": "Language",
        "also_in": "Also in",
        "phone": "The same information is read out on our phone line, in short parts.",
        "call_line": "Call the information line:",
        "emergency_before": "In an emergency, call",
        "emergency_after": ".",
        "doctor": "For advice about your own health, talk to your doctor.",
    },
    "hi": {
        "site": "न्यूरोमस्कुलर बीमारियों की जानकारी",
        "intro": (
            "न्यूरोमस्कुलर बीमारियों के बारे में आसान भाषा में जानकारी: ये क्या होती हैं, इनके लक्षण और कारण,"
            " इनके छह प्रकार, और इलाज।"
        ),
        "skip": "मुख्य सामग्री पर जाएँ",
        "home": "मुख्य पृष्ठ",
        "breadcrumb": "आप यहाँ हैं",
        "topics": "विषय",
        "in_this_group": "इस समूह में",
        "about": "इस जानकारी के बारे में",
        "source": "स्रोत",
        "updated": "पिछली बार अपडेट",
        "clinical_review": "डॉक्टर ने जाँचा",
        "review_by": "अगली समीक्षा",
        "languages": "भाषा",
        "also_in": "यह पन्ना इस भाषा में भी है",
        "phone": "यही जानकारी हमारी फ़ोन लाइन पर छोटे-छोटे हिस्सों में सुनाई जाती है।",
        "call_line": "जानकारी लाइन का नंबर:",
        "emergency_before": "इमरजेंसी में",
        "emergency_after": "पर कॉल करें।",
        "doctor": "अपनी सेहत के बारे में सलाह के लिए, अपने डॉक्टर से बात करें।",
    },
}
# Each language by its own name, as a language switcher should show it.
LANGUAGE_NAMES = {"en": "English", "hi": "हिंदी"}  # one spelling, as the line says it


@dataclass(frozen=True)
class Link:
    """A node of the tree as a link, with the nodes under it (for nested topic lists)."""

    node: str
    title: str
    href: str
    children: tuple[Link, ...] = ()


@dataclass(frozen=True)
class Alternate:
    """This page in another language."""

    lang: str
    name: str
    href: str


@dataclass(frozen=True)
class Text:
    """A piece of content and, when it differs from the page's, the language it is written in."""

    text: str
    lang: str | None = None


def dialable(number: str) -> str:
    """A phone number as a tel: link wants it: + and digits only ("+91 11 4000-1234" -> "+911140001234")."""
    return re.sub(r"[^\d+]", "", number)


def content() -> Content:
    """The content the line is speaking now."""
    return services.line().content


@dataclass(frozen=True)
class Piece:
    """What a page shows of a topic: paragraphs and numbered lists, a list going on across parts."""

    text: Text | None = None
    items: tuple[Text, ...] = ()
    start: int = 1


def pieces(sections: list[Section], lang: str) -> list[tuple[str, list[Piece]]]:
    """Each section's (heading, pieces): a list split between spoken parts is one list here."""
    number = services.line().emergency_number
    return [
        (
            heading(section.title),
            [
                Piece(text=text_in(b.text, lang))
                if not b.items
                else Piece(items=tuple(text_in(i, lang) for i in b.items), start=b.start)
                for b in reading(section, number)
            ],
        )
        for section in sections
    ]


def heading(text: str) -> str:
    """A spoken title as a heading or link: without its full stop (English or Devanagari)."""
    return text.strip().rstrip(".।").strip()


def text_in(text: str, lang: str) -> Text:
    """Mark plain-ASCII text on a page in another script as English (e.g. an English source)."""
    if lang != "en" and text.isascii() and any(c.isalpha() for c in text):
        return Text(text, "en")
    return Text(text)


def long_date(day: date, lang: str) -> str:
    """A date as people write it: 25 November 2026, with the language's own month names."""
    months = content().prompts[lang].months
    return f"{day.day} {months[day.month - 1]} {day.year}"


def page_url(node: str, lang: str) -> str:
    """The address of a node's page in a language."""
    c = content()
    at_root = node == c.tree.root
    if lang == c.default_language:
        return url_for("public.home") if at_root else url_for("public.topic", node=node)
    if at_root:
        return url_for("public.home_in", lang=lang)
    return url_for("public.topic_in", lang=lang, node=node)


def links_below(node: str, lang: str) -> tuple[Link, ...]:
    """What a menu (or series) leads to as links, each with what it leads to, all the way down."""
    tree = content().tree
    return tuple(
        Link(child, heading(tree.title(child, lang)), page_url(child, lang), links_below(child, lang))
        for child in tree.children(node)
    )


def breadcrumbs(node: str, lang: str) -> list[Link]:
    """The pages from the home page down to this one, this one last."""
    tree = content().tree
    trail: list[Link] = []
    here: str | None = node
    while here is not None:
        title = page_words(lang)["home"] if here == tree.root else heading(tree.title(here, lang))
        trail.append(Link(here, title, page_url(here, lang)))
        here = tree.parent.get(here)
    return list(reversed(trail))


def page_words(lang: str) -> dict[str, str]:
    """The page words in a language (English for a language without its own)."""
    return UI.get(lang, UI["en"])


def _render(node: str, lang: str) -> ResponseReturnValue:
    c = content()
    tree = c.tree
    if not tree.has(node):
        abort(404)
    alternates = [
        Alternate(other, LANGUAGE_NAMES.get(other, other), page_url(node, other))
        for other in c.languages
        if other != lang
    ]
    line_number = current_app.config.get("LINE_NUMBER")
    emergency = services.line().emergency_number
    common = {
        "lang": lang,
        "ui": page_words(lang),
        "alternates": alternates,
        "home_url": page_url(tree.root, lang),
        "disclaimer": c.prompts[lang].phrases.disclaimer,
        "line_number": line_number,
        "line_tel": dialable(line_number or ""),
        "emergency_number": emergency,
        "emergency_tel": dialable(emergency),
    }
    if node == tree.root:
        return render_template("public/home.html", topics=links_below(node, lang), **common)
    crumbs = breadcrumbs(node, lang)
    if tree.is_menu(node):
        menu = tree.menus[node]
        return render_template(
            "public/menu.html",
            title=heading(menu.title[lang]),
            intro=menu.intro[lang] if menu.intro else None,
            topics=links_below(node, lang),
            breadcrumbs=crumbs,
            **common,
        )
    sections = [tree.section(sid, lang) for sid in tree.topic_sections(node)]
    metas = [section.meta for section in sections]
    # A clinician's sign-off of today's text in this language (ivr/content/signoff.py), if any.
    review = services.line().reviews.of(tree.topic_of(node), lang)
    updated = max(m.updated_on for m in metas)
    review_by = min(m.review_by for m in metas)
    shown = pieces(sections, lang)
    return render_template(
        "public/topic.html",
        title=heading(tree.title(node, lang)),
        # A single section's own title is the page's; a series shows each section under its own.
        sections=[("" if h == heading(tree.title(node, lang)) else h, p) for h, p in shown]
        if tree.is_series(node)
        else [("", shown[0][1])],
        source=text_in(metas[0].source, lang),
        updated_on=updated,
        updated_text=long_date(updated, lang),
        review=review,
        review_text=long_date(review.on, lang) if review else "",
        review_by=review_by,
        review_by_text=long_date(review_by, lang),
        breadcrumbs=crumbs,
        parent=crumbs[-2],
        **common,
    )


def _asked_language() -> str | None:
    """A known non-default language asked for with ?lang=."""
    c = content()
    lang = request.args.get("lang", "")
    return lang if lang in c.languages and lang != c.default_language else None


def _is_default(lang: str) -> bool:
    """Whether a language in a path is the default one (served without a prefix); 404 if unknown."""
    c = content()
    if lang not in c.languages:
        abort(404)
    return lang == c.default_language


@bp.get("/")
def home() -> ResponseReturnValue:
    """The home page: every topic, as nested lists, in the default language."""
    if lang := _asked_language():
        return redirect(url_for("public.home_in", lang=lang))
    return _render(content().tree.root, content().default_language)


@bp.get("/<lang:lang>/")
def home_in(lang: str) -> ResponseReturnValue:
    """The home page in another language."""
    if _is_default(lang):
        return redirect(url_for("public.home"), 301)
    return _render(content().tree.root, lang)


@bp.get("/topics/<node>")
def topic(node: str) -> ResponseReturnValue:
    """A menu (its topics) or a section (its text, source and review date)."""
    if lang := _asked_language():
        return redirect(url_for("public.topic_in", lang=lang, node=node))
    return _render(node, content().default_language)


@bp.get("/<lang:lang>/topics/<node>")
def topic_in(lang: str, node: str) -> ResponseReturnValue:
    """A topic page in another language."""
    if _is_default(lang):
        return redirect(url_for("public.topic", node=node), 301)
    return _render(node, lang)
