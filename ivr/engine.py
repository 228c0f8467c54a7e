"""The pure call engine: from (content, state, input) to the next step. No Flask here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import Enum

from ivr import speech
from ivr.content import Content
from ivr.content.models import RESERVED_KEYS, Prompts

MAX_SILENCES = 2  # re-prompts after no input before the line offers a person
MAX_HEARD_WORDS = 8  # how much of an unrecognised utterance is read back

RESERVED_ACTIONS = ("repeat", "back", "main", "operator", "help")


class Kind(Enum):
    """What the caller's phone does next."""

    GATHER = "gather"  # speak, then wait for keys or speech
    TRANSFER = "transfer"  # speak, then connect to a person
    HANGUP = "hangup"  # speak, then end the call


@dataclass(frozen=True)
class CallState:
    """Where a call is: node, section part, consecutive silences and misses, language."""

    node: str
    part: int = 0
    silences: int = 0
    misses: int = 0
    lang: str = "en"


@dataclass(frozen=True)
class CallerInput:
    """One webhook's worth of caller input."""

    digits: str = ""
    speech: str = ""
    silent: bool = False
    dial_status: str | None = None


@dataclass(frozen=True)
class Step:
    """What to say and do next, and the state the next request will carry."""

    kind: Kind
    say: tuple[str, ...]
    state: CallState
    event: str
    hints: tuple[str, ...] = ()
    number: str | None = None


@dataclass(frozen=True)
class Line:
    """The content plus the operator settings the engine needs."""

    content: Content
    operator_number: str | None = None
    _hints: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict, compare=False)

    def prompts(self, lang: str) -> Prompts:
        """The prompts of a language, falling back to the default language."""
        return self.content.prompts.get(lang) or self.content.prompts[self.content.default_language]


def state_from_query(line: Line, query: Mapping[str, str]) -> CallState | None:
    """Rebuild a state from action-URL parameters; None when they are missing or invalid."""
    tree = line.content.tree
    node = query.get("n", "")
    lang = query.get("l", line.content.default_language)
    try:
        part, silences, misses = (int(query.get(k, "0")) for k in ("p", "s", "m"))
    except ValueError:
        return None
    if not tree.has(node) or lang not in line.content.prompts:
        return None
    parts = len(tree.sections[node].parts) if node in tree.sections else 1
    if not (0 <= part < parts and 0 <= silences <= MAX_SILENCES + 1 and 0 <= misses <= 99):
        return None
    return CallState(node=node, part=part, silences=silences, misses=misses, lang=lang)


def state_to_query(state: CallState) -> dict[str, str]:
    """The action-URL parameters that carry a state to the next request."""
    return {
        "n": state.node,
        "p": str(state.part),
        "s": str(state.silences),
        "m": str(state.misses),
        "l": state.lang,
    }


def _options(line: Line, state: CallState) -> list[str]:
    p = line.prompts(state.lang).phrases
    menu = line.content.tree.menus[state.node]
    return [p.option.format(label=o.label, key=_key_name(line, state, o.key)) for o in menu.options]


def _key_name(line: Line, state: CallState, key: str) -> str:
    return line.prompts(state.lang).key_names.get(key, key)  # type: ignore[call-overload, no-any-return]


def _prompt(line: Line, state: CallState, *, full: bool) -> tuple[str, ...]:
    """The prompt for where the caller is: full on arrival, shorter on retries."""
    tree = line.content.tree
    p = line.prompts(state.lang).phrases
    if tree.is_menu(state.node):
        menu = tree.menus[state.node]
        if not full:
            return tuple(_options(line, state))
        intro = (menu.intro,) if menu.intro else ()
        return (menu.title, *intro, *_options(line, state), p.speech_hint)
    section = tree.sections[state.node]
    last = state.part == len(section.parts) - 1
    controls = (p.last_part, p.last_part_controls) if last else (p.part_controls,)
    if not full:
        return controls
    title = (section.title,) if state.part == 0 else ()
    return (*title, section.parts[state.part], *controls)


def hints(line: Line, state: CallState) -> tuple[str, ...]:
    """Speech-recognition hints: option words for this menu plus the reserved words."""
    cache_key = (state.node, state.lang)
    if cache_key not in line._hints:
        words = line.prompts(state.lang).speech
        found: list[str] = []
        if line.content.tree.is_menu(state.node):
            for option in line.content.tree.menus[state.node].options:
                found += [option.label, *option.say]
        else:
            found += words.next
        for action in RESERVED_ACTIONS:
            found += getattr(words, action)
        line._hints[cache_key] = tuple(dict.fromkeys(h for h in found if len(h) <= 100))
    return line._hints[cache_key]


def _gather(line: Line, state: CallState, say: tuple[str, ...], event: str) -> Step:
    return Step(Kind.GATHER, tuple(say), state, event, hints=hints(line, state))


def start(line: Line, lang: str | None = None) -> Step:
    """The first step of a call: welcome, disclaimer, the keys, then the main menu."""
    state = CallState(node=line.content.tree.root, lang=lang or line.content.default_language)
    p = line.prompts(state.lang).phrases
    return _gather(
        line, state, (p.welcome, p.disclaimer, p.keys_intro, *_prompt(line, state, full=True)), "start"
    )


def _resolve(line: Line, state: CallState, inp: CallerInput) -> tuple[str, str] | None:
    """Turn keys or speech into ('action', name) or ('key', digit); None if unrecognised."""
    tree = line.content.tree
    if inp.digits:
        if inp.digits in RESERVED_KEYS:
            return ("action", RESERVED_KEYS[inp.digits])
        return ("key", inp.digits)
    words = line.prompts(state.lang).speech
    choices: dict[str, list[str]] = {f"action:{a}": list(getattr(words, a)) for a in RESERVED_ACTIONS}
    if tree.is_menu(state.node):
        for option in tree.menus[state.node].options:
            choices[f"key:{option.key}"] = [option.label, *option.say]
    else:
        choices["key:1"] = list(words.next)
    found = speech.match(inp.speech, choices, line.prompts(state.lang).numbers)
    if found is None:
        return None
    if ":" not in found:  # a spoken digit behaves like the key
        return ("action", RESERVED_KEYS[found]) if found in RESERVED_KEYS else ("key", found)
    kind, _, value = found.partition(":")
    return (kind, value)


def _heard(line: Line, state: CallState, inp: CallerInput) -> str:
    if inp.digits:
        return " ".join(_key_name(line, state, d) for d in inp.digits[:4])
    return " ".join(speech.normalise(inp.speech).split()[:MAX_HEARD_WORDS])


def next_step(line: Line, state: CallState, inp: CallerInput) -> Step:
    """The engine: what the caller hears next, given where they are and what they did."""
    tree = line.content.tree
    p = line.prompts(state.lang).phrases
    here = replace(state, silences=0)

    if inp.dial_status is not None:
        if inp.dial_status == "completed":
            return Step(Kind.HANGUP, (p.goodbye,), here, "dial:completed")
        return _gather(
            line, here, (p.dial_failed, *_prompt(line, here, full=False)), f"dial:{inp.dial_status}"
        )

    if inp.silent or not (inp.digits or inp.speech.strip()):
        silences = state.silences + 1
        if silences <= MAX_SILENCES:
            again = replace(state, silences=silences)
            return _gather(line, again, (p.no_input, *_prompt(line, again, full=False)), "no_input")
        if silences == MAX_SILENCES + 1 and line.operator_number:
            return _gather(line, replace(state, silences=silences), (p.final_offer,), "final_offer")
        return Step(Kind.HANGUP, (p.goodbye,), state, "hangup:no_input")

    resolved = _resolve(line, state, inp)
    if resolved is None:
        return _miss(line, here, p.not_understood.format(heard=_heard(line, state, inp)))
    kind, value = resolved
    here = replace(here, misses=0)
    if kind == "action":
        return _action(line, here, value)
    if tree.is_menu(state.node):
        option = next((o for o in tree.menus[state.node].options if o.key == value), None)
        if option is None:
            return _miss(line, here, p.not_an_option.format(heard=_heard(line, state, inp)))
        return _arrive(line, CallState(node=option.goto, lang=state.lang), f"option:{option.key}")
    section = tree.sections[state.node]
    if value != "1":
        return _miss(line, here, p.not_an_option.format(heard=_heard(line, state, inp)))
    if state.part + 1 >= len(section.parts):
        return _gather(line, here, (p.no_more_parts, p.last_part_controls), "next:end")
    following = replace(here, part=state.part + 1)
    return _gather(line, following, _prompt(line, following, full=True), "next")


def _arrive(line: Line, state: CallState, event: str) -> Step:
    return _gather(line, state, _prompt(line, state, full=True), event)


def _miss(line: Line, state: CallState, sorry: str) -> Step:
    """Invalid or unrecognised input: say so, re-prompt; after two in a row, add help."""
    state = replace(state, misses=state.misses + 1)
    extra = (line.prompts(state.lang).phrases.help,) if state.misses >= 2 else ()
    return _gather(line, state, (sorry, *extra, *_prompt(line, state, full=False)), "invalid")


def _action(line: Line, state: CallState, action: str) -> Step:
    tree = line.content.tree
    p = line.prompts(state.lang).phrases
    if action == "repeat":
        return _gather(line, state, _prompt(line, state, full=True), "repeat")
    if action == "main":
        return _arrive(line, CallState(node=tree.root, lang=state.lang), "main")
    if action == "back":
        if state.node == tree.root:
            return _gather(line, state, (p.at_main_menu, *_prompt(line, state, full=True)), "back:root")
        return _arrive(line, CallState(node=tree.back_of(state.node), lang=state.lang), "back")
    if action == "help":
        return _gather(line, state, (p.help, *_prompt(line, state, full=False)), "help")
    # operator
    if line.operator_number:
        return Step(Kind.TRANSFER, (p.connecting,), state, "operator", number=line.operator_number)
    return _gather(
        line, state, (p.operator_unavailable, *_prompt(line, state, full=True)), "operator:unavailable"
    )
