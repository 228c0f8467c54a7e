"""Every sentence a place says that needs nothing from the call: what audio can be rendered ahead."""

from __future__ import annotations

from ivr.engine import wording
from ivr.engine.model import (
    CARRY_ON,
    CONFIRM,
    CONSENT,
    EMERGENCY,
    FORGET,
    LANGUAGE,
    RATES,
    SPECIALIST,
    CallState,
    Line,
)


def fixed_sentences(line: Line, node: str, lang: str) -> tuple[tuple[str, str], ...]:
    """Every (sentence, its language) a node says whatever the call: prompts, parts, help."""
    tree = line.content.tree
    said: list[tuple[str, str]] = []
    places = [CallState(node, lang=lang)]
    if node == CONFIRM:  # "Did you mean ...?" about every place, and a person
        asked = [f"goto:{n}" for n in tree.below(tree.root)] + ["action:operator"]
        places = [CallState(node, lang=lang, pending=p) for p in asked]
    if node == CARRY_ON:  # the offer to carry on, of every topic a caller can stop in
        places = [CallState(node, lang=lang, ret=section) for section in tree.sections]
    if node in tree.sections:
        # Each part, and the topic's end where one is (the part after the last).
        places = [CallState(node, part=i, lang=lang) for i in range(tree.part_count(node) + 1)]
        said += [(text, lang) for text in wording.key_lines(line, lang, wording.TOPIC_KEYS)]
    for place in places:
        if node == LANGUAGE:
            said += wording.language_prompt(line, full=True)
            said += [(wording.safety(line, other), other) for other in line.content.languages]
            said += [(line.prompts(other).phrases.switch_language, other) for other in line.content.languages]
            said += [(line.prompts(other).phrases.calling_back, other) for other in line.content.languages]
            forget = wording.forget_key(
                line
            )  # reached from the call: "To have me forget your number, press 3."
            said += [(line.prompts(lang).phrases.forget_offer.format(key=forget), lang)]
        elif place.node in tree.sections and place.part == tree.part_count(node) and tree.neighbour(node, +1):
            continue  # a section followed by another in its series has no end of its own
        else:
            for full, revisit in ((True, False), (True, True), (False, False)):
                said += [
                    (text, lang) for text in wording.prompt(line, place, lang, full=full, revisit=revisit)
                ]
        if node == tree.root:
            said += [(wording.safety(line, lang), lang)]
            said += [(text, lang) for text in wording.key_lines(line, lang, wording.FIRST_CALL_KEYS)]
        for rate in RATES:
            state = CallState(place.node, place.part, lang=lang, rate=rate)
            for languages in {1, len(line.content.languages)}:
                pages = wording.help_pages(line, state, lang, languages)
                said += [(text, lang) for page in pages for text in page]
    return tuple(dict.fromkeys(said))


SYSTEM_PLACES = (LANGUAGE, EMERGENCY, SPECIALIST, CONFIRM, CONSENT, FORGET)


def specialty_sentences(line: Line, lang: str) -> tuple[str, ...]:
    """Every sentence naming a specialist (or the help desk) that needs nothing from the call."""
    p = line.prompts(lang).phrases
    directory = line.content.directory  # names and hours are content: no numbers needed
    names = [p.help_desk]
    said: list[str] = []
    if directory is not None:
        for entry in directory.specialties.values():
            name = entry.name[lang]
            names.append(name)
            said += [p.connecting_to.format(name=name)]
            said += [p.language_note.format(name=name)]
            if entry.hours_said:
                hours = entry.hours_said[lang]
                said += [
                    p.closed.format(name=name, hours=hours),
                    p.closed_holiday.format(name=name, hours=hours),
                ]
    said += [p.record_saved.format(name=name) for name in names]
    return tuple(dict.fromkeys(said))
