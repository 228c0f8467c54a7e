"""What a caller pressed or said, as an action, a key, a place to go, or a language."""

from __future__ import annotations

from collections.abc import Iterator

from ivr import speech
from ivr.content.models import RESERVED_KEYS
from ivr.engine.model import (
    EMERGENCY,
    LANGUAGE,
    SPEECH_ACTIONS,
    CallerInput,
    CallState,
    Line,
)
from ivr.engine.wording import key_name


def resolve(line: Line, state: CallState, inp: CallerInput) -> tuple[str, str] | None:
    """Keys or speech as ("action", name), ("key", digit), ("goto", node) or ("lang", code)."""
    if inp.digits:
        if inp.digits in RESERVED_KEYS:
            return ("action", RESERVED_KEYS[inp.digits])
        return ("key", inp.digits)
    found = matcher(line, state).match(inp.speech)
    if found is None:
        return None
    if ":" not in found:  # a spoken digit behaves like the key
        return ("action", RESERVED_KEYS[found]) if found in RESERVED_KEYS else ("key", found)
    kind, _, value = found.partition(":")
    return (kind, value)


def heard(line: Line, lang: str, digits: str) -> str:
    """The keys a caller pressed, to read back in "Sorry, 3 is not an option" (never their words:
    they may be anyone's in the room, and read back into a sentence they make nonsense)."""
    return " ".join(key_name(line, lang, d) for d in digits[:4])


def is_silent(inp: CallerInput) -> bool:
    """No keys and no words: a timeout, or speech that was only punctuation or symbols."""
    return inp.silent or not (inp.digits or speech.normalise(inp.speech))


def choices(line: Line, state: CallState) -> dict[str, list[str]]:
    """The phrases that pick each choice where the caller is: {"key:2": [...]}."""
    tree = line.content.tree
    p = line.prompts(state.lang)
    if state.node == LANGUAGE:
        return {f"key:{i + 1}": line.prompts(lang).name for i, lang in enumerate(line.content.languages)}
    if state.node == EMERGENCY:
        return {"key:1": [*p.speech.next, *p.speech.operator]} if line.emergency_transfer else {}
    if tree.is_menu(state.node):
        return {f"key:{o.key}": tree.words_for(o.goto, state.lang) for o in tree.menus[state.node].options}
    return {}


def _deeper(line: Line, node: str) -> Iterator[list[str]]:
    """The places below a menu a caller can name, a generation at a time, from the grandchildren
    down; from a section of a series, the other sections of its series."""
    tree = line.content.tree
    if node in tree.sections:
        topic = tree.series_of(node)
        if topic is not None:
            yield [s for s in tree.topic_sections(topic) if s != node]
        return
    level = tree.children(node)
    while level:
        # A series is named by its option; what is under it is a place of its own.
        level = [child for n in level for child in tree.children(n)]
        if level:
            yield level


def matcher(line: Line, state: CallState) -> speech.Matcher:
    """What can be said where the caller is, and what each phrase picks (the same for every call)."""
    cache_key = (state.node, state.lang, state.node == LANGUAGE)
    if cache_key in line._speech:
        return line._speech[cache_key]
    p = line.prompts(state.lang)
    found: dict[str, list[str]] = {f"action:{a}": list(getattr(p.speech, a)) for a in SPEECH_ACTIONS}
    for lang in line.content.languages:
        if lang != state.lang and state.node != LANGUAGE:
            found[f"lang:{lang}"] = line.prompts(lang).name
    found.update(choices(line, state))
    # Topics further down count too ("symptoms" from the main menu); on a tie the nearer one wins.
    for level in _deeper(line, state.node):
        found.update({f"goto:{n}": line.content.tree.words_for(n, state.lang) for n in level})
    made = line._speech[cache_key] = speech.Matcher(found, p.numbers, p.fillers)
    return made


def hints(line: Line, state: CallState) -> tuple[str, ...]:
    """Speech-recognition hints: choices for where the caller is, places below, then reserved words."""
    cache_key = (state.node, state.lang)
    if cache_key not in line._hints:
        p = line.prompts(state.lang)
        said = [phrase for phrases in choices(line, state).values() for phrase in phrases]
        said += [
            w
            for level in _deeper(line, state.node)
            for n in level
            for w in line.content.tree.words_for(n, state.lang)
        ]
        said += [name for lang in line.content.languages for name in line.prompts(lang).name]
        said += [w for action in SPEECH_ACTIONS for w in getattr(p.speech, action)]
        line._hints[cache_key] = tuple(dict.fromkeys(h for h in said if len(h) <= 100))
    return line._hints[cache_key]
