"""Editorial checks beyond validity: review dates, sentences made for the ear, wording order."""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Protocol

from ivr.content.bundle import Content
from ivr.content.loader import ContentError, load_content
from ivr.content.signoff import content_hash, topics

MAX_SENTENCE_WORDS = 25
REVIEW_SOON = timedelta(days=30)
# Phrases that name a key must say what it does first: "For symptoms, press 2."
OPTION_FIRST = {"option": "label", "help_line": "action", "choose_language": None}
_SENTENCE_END = re.compile(r"(?<=[.!?।])\s+")


@dataclass(frozen=True)
class Finding:
    """One lint result: where, what, and whether it fails the lint."""

    where: str
    message: str
    error: bool = True

    def __str__(self) -> str:
        return f"{'error' if self.error else 'warning'}: {self.where}: {self.message}"


def review_findings(content: Content, root: Path, today: date) -> Iterator[Finding]:
    """Sections past (error) or near (warning) their review date."""
    for sid, by_lang in content.tree.sections.items():
        for lang, section in by_lang.items():
            where = str(root / "knowledge" / "sections" / lang / f"{sid}.md")
            due = section.meta.review_by
            if due < today:
                yield Finding(
                    where, f"past its review date ({due.isoformat()}); review it and update the dates"
                )
            elif due - today <= REVIEW_SOON:
                yield Finding(where, f"due for review on {due.isoformat()}", error=False)


class SignedText(Protocol):
    """The latest sign-off of a topic in a language, as the store keeps it (ivr/store/signoffs.py)."""

    @property
    def content_hash(self) -> str:
        """The SHA-256 (hex) of the text signed (ivr/content/signoff.py)."""
        ...

    @property
    def signed_on(self) -> date:
        """The day the clinician gave."""
        ...

    @property
    def clinician(self) -> str:
        """Their name as they signed."""
        ...


def signoff_findings(
    content: Content, root: Path, signed: Mapping[tuple[str, str], SignedText] | None
) -> Iterator[Finding]:
    """Warnings for each topic and language not clinically signed off, or signed off for an older
    text (stale); `signed` is the latest sign-off per (topic, language), None if it could not be read."""
    if signed is None:
        yield Finding("database", "the sign-offs could not be read: sign-offs not checked", error=False)
        return
    for topic in topics(content.tree):
        for lang in content.languages:
            first = content.tree.topic_sections(topic)[0]
            where = f"{root / 'knowledge' / 'sections' / lang / first}.md: topic {topic} ({lang})"
            latest = signed.get((topic, lang))
            if latest is None:
                yield Finding(where, "not clinically signed off", error=False)
            elif latest.content_hash != content_hash(content.tree, topic, lang):
                day = latest.signed_on.isoformat()
                yield Finding(
                    where,
                    f"stale since its text changed after the sign-off of {day} by {latest.clinician}:"
                    " sign it off again",
                    error=False,
                )


def _texts(content: Content, root: Path) -> Iterator[tuple[str, str]]:
    """(where, text) for every sentence source the caller hears."""
    for lang, prompts in content.prompts.items():
        where = str(root / "prompts" / f"{lang}.yaml")
        for name, text in prompts.phrases:
            yield f"{where}: phrases.{name}", str(text)
    tree_file = str(root / "knowledge" / "tree.yaml")
    for mid, menu in content.tree.menus.items():
        for lang, text in [*menu.title.items(), *(menu.intro or {}).items()]:
            yield f"{tree_file}: menus.{mid} ({lang})", text
    for rid, run in content.tree.series.items():
        for lang, text in run.title.items():
            yield f"{tree_file}: series.{rid} ({lang})", text
    for sid, by_lang in content.tree.sections.items():
        for lang, section in by_lang.items():
            where = str(root / "knowledge" / "sections" / lang / f"{sid}.md")
            for i, part in enumerate(section.parts, 1):
                yield f"{where}: part {i}", part


def sentence_findings(content: Content, root: Path) -> Iterator[Finding]:
    """Sentences too long to follow by ear."""
    for where, text in _texts(content, root):
        for sentence in _SENTENCE_END.split(text):
            words = len(sentence.split())
            if words > MAX_SENTENCE_WORDS:
                yield Finding(
                    where, f"a sentence of {words} words (at most {MAX_SENTENCE_WORDS}): {sentence[:60]}..."
                )


def wording_findings(content: Content, root: Path) -> Iterator[Finding]:
    """Key phrases must name the choice before the key, and never start with the key."""
    for lang, prompts in content.prompts.items():
        for name, first in OPTION_FIRST.items():
            text = getattr(prompts.phrases, name)
            fields = [f for _, f, _, _ in string.Formatter().parse(text) if f]
            before_key = text.split("{key}")[0].strip()
            if (first and fields.index(first) > fields.index("key")) or not before_key:
                yield Finding(
                    f"{root / 'prompts' / (lang + '.yaml')}: phrases.{name}",
                    "say the choice before the key, as in 'For symptoms, press 2'",
                )


_KEY_FIRST = re.compile(r"^\W*(press\b|[0-9*#])", re.IGNORECASE)


def key_first_findings(content: Content, root: Path) -> Iterator[Finding]:
    """No sentence may open with the key ("Press 2 for ...", "2 ..."): callers need the choice first."""
    for where, text in _texts(content, root):
        for sentence in _SENTENCE_END.split(text):
            if _KEY_FIRST.match(sentence):
                yield Finding(where, f"starts with the key; say the choice first: {sentence[:60]}")


def lint(
    root: Path,
    today: date | None = None,
    default_language: str = "en",
    *,
    signoffs: Mapping[tuple[str, str], SignedText] | None = None,
    check_signoffs: bool = False,
) -> list[Finding]:
    """Every finding for the content under root: load errors first, then the editorial checks, and
    with `check_signoffs` the clinical sign-offs (`signoffs`, None when the database could not be
    read; see `signoff_findings`). Offline, on the content alone, sign-offs are not checked."""
    try:
        content = load_content(root, default_language)
    except ContentError as exc:
        return [Finding(p.split(": ", 1)[0], p.split(": ", 1)[-1]) for p in exc.problems]
    today = today or date.today()
    return [
        *review_findings(content, root, today),
        *sentence_findings(content, root),
        *wording_findings(content, root),
        *key_first_findings(content, root),
        *(signoff_findings(content, root, signoffs) if check_signoffs else ()),
    ]
