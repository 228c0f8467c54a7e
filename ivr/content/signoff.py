"""What a clinician signs off: a topic's text in one language, identified by a content hash.

A sign-off (kept in the database, ivr/store/signoffs.py) names the hash of the text it was given
for. The hash is SHA-256 over exactly what a caller hears of the topic in that language: every
section's title and parts as spoken, in order, with placeholders ({emergency}, {phone: ...}) as
written. Any change to those words changes it, so the sign-off no longer counts; a change to
another topic, another language or the front matter does not. `Reviews` holds the sign-offs that
count for today's text, which the line and the web pages read.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date

from ivr.content.tree import Tree


def topics(tree: Tree) -> list[str]:
    """Every topic a caller hears as one (a series, or a section of no series), in the tree's order."""
    found: list[str] = []
    for node in tree.below(tree.root):
        if (tree.is_series(node) or (node in tree.sections and tree.series_of(node) is None)) and (
            node not in found
        ):
            found.append(node)
    return found


def content_hash(tree: Tree, topic: str, lang: str) -> str:
    """The SHA-256 (64 hex digits) of a topic's spoken text in one language; KeyError for an
    unknown topic or language."""
    spoken = [
        [tree.section(sid, lang).title, *tree.section(sid, lang).parts] for sid in tree.topic_sections(topic)
    ]
    # JSON keeps the boundaries between title and parts: moving words between parts changes the hash.
    return hashlib.sha256(json.dumps(spoken, ensure_ascii=False).encode()).hexdigest()


def content_hashes(tree: Tree, languages: list[str]) -> dict[tuple[str, str], str]:
    """Every topic's hash in every language: (topic, language) -> hash."""
    return {(topic, lang): content_hash(tree, topic, lang) for topic in topics(tree) for lang in languages}


@dataclass(frozen=True)
class Review:
    """A sign-off that counts: who signed (as they wrote their name) and the day they gave."""

    by: str
    on: date


@dataclass(frozen=True)
class _Snapshot:
    version: int
    signed: Mapping[tuple[str, str], Review] = field(default_factory=dict)


class Reviews:
    """The sign-offs that count for today's text, (topic, language) -> Review, replaced whole.

    Read by every request thread while one replaces it: a snapshot is swapped in one assignment, and
    `version` goes up with each change so that what was worked out from the old one is not reused.
    """

    def __init__(self) -> None:
        self._now = _Snapshot(0)

    @property
    def version(self) -> int:
        """Raised by each change of the sign-offs (0 before any)."""
        return self._now.version

    def of(self, topic: str, lang: str) -> Review | None:
        """The sign-off of a topic in a language that counts for today's text, if any."""
        return self._now.signed.get((topic, lang))

    def replace(self, signed: Mapping[tuple[str, str], Review]) -> bool:
        """Make `signed` the sign-offs that count; True if that changed them."""
        now = self._now
        if dict(signed) == dict(now.signed):
            return False
        self._now = _Snapshot(now.version + 1, dict(signed))
        return True
