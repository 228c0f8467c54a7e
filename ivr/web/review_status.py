"""What the clinical review pages show of a topic: its parts as spoken, the audio of each at every
speed the line uses, and where its sign-off stands in each language.

No Flask here: the views (ivr/web/review.py) pass the line, the audio settings and the sign-offs
read from the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from ivr.audio.cache import AudioSettings, path_for
from ivr.content.signoff import content_hash
from ivr.engine import RATES, Line
from ivr.engine.wording import part_text
from ivr.lexicon import spoken_form
from ivr.store.signoffs import SignOffRow

SIGNED = "signed"
STALE = "stale"  # signed, but for an older text (its content hash is not today's)
NOT_SIGNED = "not signed"
LANGUAGE_NAMES = {"en": "English", "hi": "Hindi"}


@dataclass(frozen=True)
class Sentence:
    """One sentence of a part as the line says it (its own WAV): as written, as the voice says it
    (the lexicon applied), and that WAV at each speed: rate -> the file's path, or None when it is
    not rendered for this text."""

    text: str
    spoken: str
    audio: dict[str, Path | None]


@dataclass(frozen=True)
class Part:
    """A part of a topic in one language: its section's id, its number in the section (0-based) and
    its sentences (the section's title first, for its first part)."""

    section: str
    number: int
    sentences: tuple[Sentence, ...]


@dataclass(frozen=True)
class Standing:
    """A topic's sign-off in one language: SIGNED, STALE or NOT_SIGNED, today's content hash, the
    latest sign-off (None if never), and how many of its WAVs (every sentence, every rate) are not
    rendered for today's text."""

    state: str
    content_hash: str
    latest: SignOffRow | None
    missing_audio: int
    audio_files: int

    @property
    def signed_on(self) -> date | None:
        """The day of the latest sign-off, if any."""
        return self.latest.signed_on if self.latest else None


def language_name(lang: str) -> str:
    """A language's English name for staff ("Hindi"), or its code if the line has no name for it."""
    return LANGUAGE_NAMES.get(lang, lang)


def parts(line: Line, settings: AudioSettings, topic: str, lang: str) -> list[Part]:
    """Every part of a topic in one language, in the order a caller hears them, with their audio."""
    tree = line.content.tree
    prompts = line.prompts(lang)
    found: list[Part] = []
    for section in tree.topic_sections(topic):
        for number in range(tree.part_count(section)):
            said = [
                (text, spoken_form(text, prompts.lexicon)) for text in part_text(line, lang, section, number)
            ]
            sentences = tuple(
                Sentence(text, voiced, _audio(voiced, line, settings, lang)) for text, voiced in said
            )
            found.append(Part(section, number, sentences))
    return found


def _audio(spoken: str, line: Line, settings: AudioSettings, lang: str) -> dict[str, Path | None]:
    prompts = line.prompts(lang)
    paths = {rate: path_for(spoken, prompts, settings, rate) for rate in RATES}
    return {rate: path if path.is_file() else None for rate, path in paths.items()}


def standing(
    line: Line,
    settings: AudioSettings,
    topic: str,
    lang: str,
    latest: SignOffRow | None,
) -> Standing:
    """Where a topic's sign-off stands in a language, given its latest sign-off (None if none)."""
    today = content_hash(line.content.tree, topic, lang)
    state = NOT_SIGNED if latest is None else SIGNED if latest.content_hash == today else STALE
    audio = [
        path
        for part in parts(line, settings, topic, lang)
        for s in part.sentences
        for path in s.audio.values()
    ]
    return Standing(state, today, latest, sum(1 for p in audio if p is None), len(audio))
