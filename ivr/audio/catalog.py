"""Every sentence the line can speak that is known before a call: what can be rendered ahead."""

from __future__ import annotations

from dataclasses import dataclass

from ivr import engine
from ivr.content import Content
from ivr.content.models import Phrases, placeholders
from ivr.engine import Line, wording
from ivr.lexicon import spoken_form

PHRASES = "phrases"  # the source of system phrases, as opposed to a node id
DIRECTORY = "directory"  # the source of sentences that name a specialist
AGREED = "agreed"  # the source of what a yes to "To have me remember ..." hears


@dataclass(frozen=True)
class Sentence:
    """One fixed sentence as it is spoken (lexicon applied), its language, and where it comes from."""

    text: str
    lang: str
    source: str  # PHRASES, DIRECTORY, or the id of the node (menu, section or system node) that says it


def fixed_phrase_names() -> list[str]:
    """The system phrases that take no placeholder, so are spoken exactly as written."""
    return [name for name in Phrases.model_fields if not placeholders(name)]


def sentences(source: Line | Content) -> list[Sentence]:
    """Every fixed sentence of every language, once each, in a stable order."""
    # A Line, not just Content, decides some sentences (the emergency number, for one).
    line = source if isinstance(source, Line) else Line(content=source)
    content = line.content
    found: dict[tuple[str, str], Sentence] = {}
    for lang in content.languages:
        phrases = line.prompts(lang).phrases
        said = [(getattr(phrases, name), lang, PHRASES) for name in fixed_phrase_names()]
        for node in (*content.tree.nodes(), *engine.SYSTEM_NODES, engine.CARRY_ON, engine.CONSENT):
            said += [(text, own, node) for text, own in engine.fixed_sentences(line, node, lang)]
        said += [(text, lang, DIRECTORY) for text in engine.specialty_sentences(line, lang)]
        # What a yes to "To have me remember ..." hears: its retention period is a setting.
        said += [(text, lang, AGREED) for text in wording.consent_given(line, lang)]
        for text, own, where in said:
            spoken = spoken_form(text, line.prompts(own).lexicon)
            found.setdefault((own, spoken), Sentence(spoken, own, where))
    return list(found.values())
