"""Building a reply: sentences in the caller's language (or every language, before they chose)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import replace

from ivr.engine import understanding, wording
from ivr.engine.model import HIDDEN, LANGUAGE, RESUME, CallState, Kind, Line, Step

Said = list[tuple[str, str]]  # (sentence, the language it is said in)
Build = Callable[[str], Iterable[str]]  # a language -> the sentences to say in it


def each(line: Line, state: CallState, build: Build) -> Said:
    """Sentences in the caller's language, or in every language (each in turn) until they chose."""
    return [(text, lang) for lang in line.languages_for(state) for text in build(lang)]


def phrases(line: Line, *names: str) -> Build:
    """A builder of fixed phrases by name, in whichever language is asked for."""

    def build(lang: str) -> list[str]:
        said = line.prompts(lang).phrases
        return [getattr(said, name) for name in names]

    return build


def step(kind: Kind, line: Line, state: CallState, said: Said, event: str, **extra: object) -> Step:
    """A step saying `said`, marking each sentence's language where it is not the caller's."""
    langs = tuple(lang for _, lang in said)
    return Step(
        kind,
        tuple(text for text, _ in said),
        state,
        event,
        lang_of=() if all(lang == state.lang for lang in langs) else langs,
        **extra,  # type: ignore[arg-type]
    )


def is_playing(line: Line, state: CallState) -> bool:
    """Whether the caller is hearing a topic's part (not its end, not a menu)."""
    tree = line.content.tree
    return state.node in tree.sections and state.part < tree.part_count(state.node)


def gather(line: Line, state: CallState, said: Said, event: str) -> Step:
    """Say, then wait for keys or speech: a short pause only when a topic's part has just been
    played (after help or "more time" in a topic, the usual wait, then the part again)."""
    hints = understanding.hints(line, state)
    playing = is_playing(line, state) and not state.has(RESUME)
    return step(Kind.GATHER, line, state, said, event, hints=hints, playing=playing)


def here(line: Line, state: CallState, *, full: bool = True, revisit: bool = False) -> Said:
    """What is said for where the caller is, in the language(s) of the reply."""
    if state.node == LANGUAGE:
        said = wording.language_prompt(line, full=full)
        if state.ret and not state.has(HIDDEN):  # reached from the call, not its opening
            offer = line.prompts(state.lang).phrases.forget_offer.format(key=wording.forget_key(line))
            said.append((offer, state.lang))
        return said
    return each(line, state, lambda lang: wording.prompt(line, state, lang, full=full, revisit=revisit))


def goodbye(line: Line, state: CallState, event: str) -> Step:
    """Thank the caller and end the call."""
    return step(Kind.HANGUP, line, state, each(line, state, phrases(line, "goodbye")), event)


def prefixed(made: Step, lead: Said) -> Step:
    """A step with sentences said before its own."""
    if not lead:
        return made
    said = [*lead, *((text, made.language_of(i)) for i, text in enumerate(made.say))]
    langs = tuple(lang for _, lang in said)
    return replace(
        made,
        say=tuple(text for text, _ in said),
        lang_of=() if all(lang == made.state.lang for lang in langs) else langs,
    )
