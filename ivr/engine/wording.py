"""What the line says, in one language at a time: menus, topic parts, a topic's end, help.

Every function here is pure: (line, language, where) -> sentences. The keys help names and the
keys the engine acts on come from one table, `keys_here`, so help never offers a key that does
nothing.
"""

from __future__ import annotations

from ivr.content.tree import fill
from ivr.engine.model import CARRY_ON, CONFIRM, CONSENT, DESK, EMERGENCY, FORGET, SPECIALIST, CallState, Line

HELP_PAGE = 4  # key lines on help's first page when there are more than HELP_PAGE + 1
TOPIC_KEYS = (("1", "next"), ("2", "previous"))  # said once a call, in the first topic heard
FIRST_CALL_KEYS = (("0", "operator"), ("6", "help"))  # on a caller's first call only, after the options
END_KEYS = (("1", "again"), ("8", "text"), ("*", "leave"), ("#", "main"))  # said at a topic's end
CARRY_ON_KEYS = (("1", "resume"),)  # said at the offer to carry on where a returning caller stopped


def end_keys(line: Line) -> tuple[tuple[str, str], ...]:
    """The keys said at a topic's end: END_KEYS, without 8 when the line cannot send texts."""
    return END_KEYS if line.texts else tuple(k for k in END_KEYS if k[1] != "text")


def key_name(line: Line, lang: str, key: str) -> str:
    """A key as callers say it: "star", "हैश", "ज़ीरो"; a digit as itself otherwise."""
    return line.prompts(lang).key_names.get(key, key)


def key_lines(line: Line, lang: str, keys: tuple[tuple[str, str], ...] | list[tuple[str, str]]) -> list[str]:
    """Each (key, action) as a sentence, the choice first: "To repeat, press 9."."""
    p = line.prompts(lang)
    return [
        p.phrases.help_line.format(action=getattr(p.actions, action), key=key_name(line, lang, key))
        for key, action in keys
    ]


def keys_here(line: Line, state: CallState) -> list[tuple[str, str]]:
    """The keys that do something where the caller is, as (key, action), most useful first.

    Options of a menu and the choices a system node offers are said by its prompt, not here.
    """
    tree = line.content.tree
    node = state.node
    speed = ("7", "slower" if state.rate == "normal" else "normal_speed")
    everywhere = [("0", "operator"), ("5", "emergency"), speed]
    if node in tree.sections:
        playing = state.part < tree.part_count(node)
        here = [("1", "next" if playing else "again"), ("2", "previous"), ("9", "repeat"), ("*", "leave")]
        texts = [("8", "text")] if line.texts else []
        return [*here, *texts, ("#", "main"), *everywhere]
    if node in (tree.root, CARRY_ON):
        # The offer stands in front of the main menu: every key but its own works as there.
        above = [("*", "language")] if len(line.content.languages) > 1 else []
        offer = list(CARRY_ON_KEYS) if node == CARRY_ON else []
        return [*offer, ("9", "repeat"), *above, *everywhere]
    if tree.is_menu(node):
        return [("9", "repeat"), ("*", "back"), ("#", "main"), *everywhere]
    if node == EMERGENCY:
        return [("9", "repeat"), ("*", "back"), ("0", "operator"), speed]
    if node == SPECIALIST:
        return [("9", "repeat"), ("*", "back"), ("#", "main"), ("5", "emergency"), speed]
    if node == CONFIRM:
        return [("9", "repeat"), ("*", "back"), ("0", "operator"), ("5", "emergency")]
    return [("9", "repeat"), ("0", "operator")]  # the language menu: said in every language, so short


def help_pages(line: Line, state: CallState, lang: str, languages: int = 1) -> list[list[str]]:
    """Help for here, in pages that each take under 15 s: four keys and "for more, press 6 again",
    then the rest. Said in every language (before a language is chosen), a page holds half."""
    lines = key_lines(line, lang, keys_here(line, state))
    if languages == 1:
        if len(lines) <= HELP_PAGE + 1:
            return [lines]
        return [[*lines[:HELP_PAGE], line.prompts(lang).phrases.help_more], lines[HELP_PAGE:]]
    if len(lines) <= HELP_PAGE // 2:
        return [lines]
    half = (len(lines) + 1) // 2
    return [lines[:half], lines[half:]]


def options(line: Line, lang: str, menu: str) -> list[str]:
    """A menu's options, each said choice first: "For symptoms, press 1."."""
    p = line.prompts(lang).phrases
    return [
        p.option.format(label=o.label[lang], key=key_name(line, lang, o.key))
        for o in line.content.tree.menus[menu].options
    ]


def menu_prompt(line: Line, lang: str, menu: str, *, full: bool, revisit: bool = False) -> list[str]:
    """A menu: title, intro and options the first time (and a hint to speak at the root); title and
    options on a revisit; the options alone when said again after a silence or a wrong key."""
    tree = line.content.tree
    if not full:
        return options(line, lang, menu)
    title = [tree.menus[menu].title[lang]]
    if revisit:
        return [*title, *options(line, lang, menu)]
    intro = [tree.menus[menu].intro[lang]] if tree.menus[menu].intro else []  # type: ignore[index]
    hint = [line.prompts(lang).phrases.speech_hint] if menu == tree.root else []
    return [*title, *intro, *options(line, lang, menu), *hint]


def part_text(line: Line, lang: str, node: str, part: int) -> list[str]:
    """A topic's part as spoken: its section's title first when the part is the section's first."""
    section = line.content.tree.section(node, lang)
    title = [section.title] if part == 0 else []
    return [*title, fill(section.parts[part], line.said_number())]


def dated(line: Line, lang: str, node: str) -> str:
    """When a topic was clinically reviewed, if a clinician signed off today's text of it in this
    language (`line.reviews`), else when it was last updated (its newest section's `updated_on`)."""
    tree = line.content.tree
    topic = tree.topic_of(node)
    p = line.prompts(lang)
    review = line.reviews.of(topic, lang)
    if review is not None:
        return p.phrases.reviewed.format(month=p.months[review.on.month - 1], year=review.on.year)
    day = max(tree.section(s, lang).meta.updated_on for s in tree.topic_sections(topic))
    return p.phrases.updated.format(month=p.months[day.month - 1], year=day.year)


def end_prompt(line: Line, lang: str, node: str, *, full: bool) -> list[str]:
    """A topic's end: that it ended, the doctor's advice and its date, then the choices."""
    choices = key_lines(line, lang, end_keys(line))
    if not full:
        return choices
    p = line.prompts(lang).phrases
    return [p.end_of_topic, p.doctor_advice, dated(line, lang, node), *choices]


def safety(line: Line, lang: str) -> str:
    """The emergency sentence every call hears in its first seconds."""
    return line.prompts(lang).phrases.safety.format(number=line.said_number())


def emergency_prompt(line: Line, lang: str) -> list[str]:
    """The emergency advice, the transfer when there is one, and the way back."""
    p = line.prompts(lang).phrases
    transfer = [p.emergency_transfer] if line.emergency_transfer else []
    return [p.emergency_advice.format(number=line.said_number()), *transfer, p.go_back]


def specialist_prompt(line: Line, lang: str, *, desk: bool = False) -> list[str]:
    """When the person asked for cannot take the call: a call back, a recorded question, the help
    desk instead when it can take the call now, or back."""
    p = line.prompts(lang).phrases
    return [
        p.offer_callback.format(days=line.callback_days),
        record_offer(line, lang),
        *([p.offer_desk] if desk else []),
        p.go_back,
    ]


def record_offer(line: Line, lang: str) -> str:
    """The offer to record a question, with how long it is kept."""
    return line.prompts(lang).phrases.offer_record.format(days=line.recording_days)


def consent_prompt(line: Line, lang: str) -> list[str]:
    """Whether to remember the caller: what is kept and why, with the key (ivr.engine.consent). One
    sentence: it stands between a new caller and the welcome (bench/time_to_information.py)."""
    return [line.prompts(lang).phrases.consent_ask]


def consent_given(line: Line, lang: str) -> list[str]:
    """After a caller agreed: thanks, and how it is kept and for how long."""
    p = line.prompts(lang).phrases
    return [p.consent_given, p.consent_keep.format(days=line.prefs_days)]


def forget_prompt(line: Line, lang: str) -> list[str]:
    """What forgetting the caller's number deletes, and how to answer."""
    p = line.prompts(lang).phrases
    return [p.forget_what, p.forget_keys]


def forget_key(line: Line) -> str:
    """The key that asks to be forgotten at the language menu reached from the main menu: the one
    after the languages' own (3 with two languages)."""
    return str(len(line.content.languages) + 1)


def topic_name(line: Line, lang: str, node: str) -> str:
    """A topic as the line names it in a sentence: its title (a series', for its sections), without
    the full stop: "Symptoms", "The six types"."""
    tree = line.content.tree
    return tree.title(tree.topic_of(node), lang).strip().rstrip(".।").strip()


def carry_on_prompt(line: Line, lang: str, node: str) -> list[str]:
    """The offer to carry on: the title of the topic the caller stopped in (nothing more of it: the
    phone may be shared) and the key. Nothing for a place that is not a section (never offered)."""
    if node not in line.content.tree.sections:
        return []
    last = line.prompts(lang).phrases.last_topic.format(topic=topic_name(line, lang, node))
    return [last, *key_lines(line, lang, CARRY_ON_KEYS)]


def confirm_prompt(line: Line, lang: str, pending: str) -> list[str]:
    """ "Did you mean treatment?" and how to answer, about what the caller may have asked for."""
    p = line.prompts(lang).phrases
    kind, _, value = pending.partition(":")
    if kind == "goto":
        name = line.content.tree.title(value, lang).rstrip(".।").strip()
        name = name[:1].lower() + name[1:] if name[1:2].islower() else name  # "Medicines" -> "medicines"
    else:
        name = p.person_name
    return [p.confirm.format(name=name), p.confirm_keys]


def prompt(line: Line, state: CallState, lang: str, *, full: bool = True, revisit: bool = False) -> list[str]:
    """What is said for where the caller is (not the language menu, said in every language at once)."""
    tree = line.content.tree
    node = state.node
    if node == EMERGENCY:
        return emergency_prompt(line, lang)
    if node == SPECIALIST:
        return specialist_prompt(line, lang, desk=state.has(DESK))
    if node == CONFIRM:
        return confirm_prompt(line, lang, state.pending)
    if node == CARRY_ON:
        return carry_on_prompt(line, lang, state.ret)
    if node == CONSENT:
        return consent_prompt(line, lang)
    if node == FORGET:
        return forget_prompt(line, lang)
    if tree.is_menu(node):
        return menu_prompt(line, lang, node, full=full, revisit=revisit)
    if state.part >= tree.part_count(node):
        return end_prompt(line, lang, node, full=full)
    return part_text(line, lang, node, state.part)


def language_prompt(line: Line, *, full: bool) -> list[tuple[str, str]]:
    """The language menu, each sentence in its own language: the choices, then how to say them."""
    langs = line.content.languages
    said = [
        (line.prompts(lang).phrases.choose_language.format(key=i + 1), lang) for i, lang in enumerate(langs)
    ]
    if full:
        said += [(line.prompts(lang).phrases.language_by_name, lang) for lang in langs]
    return said
