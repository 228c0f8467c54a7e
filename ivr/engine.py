"""The pure call engine: from (line, state, input) to the next step. No Flask here."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import Enum

from ivr import speech
from ivr.content import Content
from ivr.content.directory import Directory
from ivr.content.models import RESERVED_KEYS, Prompts

MAX_SILENCES = 2  # re-prompts after no input before the line warns that it will end the call
MAX_HEARD_WORDS = 8  # how much of an unrecognised utterance is read back
RATES = ("normal", "slow", "fast")  # the order key 7 cycles through
PATIENCE = (1.0, 2.0, 3.0)  # gather timeout multipliers: more time after each silence or on request
LANGUAGE = "_language"  # system node: choose a language
EMERGENCY = "_emergency"  # system node: emergency advice and transfer
SPECIALIST = "_specialist"  # system node: a specialist is closed or busy; call back or record
SYSTEM_NODES = (LANGUAGE, EMERGENCY, SPECIALIST)
SPEECH_ACTIONS = (
    "repeat",
    "back",
    "main",
    "operator",
    "help",
    "slower",
    "faster",
    "emergency",
    "more_time",
    "language",
    "text",
)


class Kind(Enum):
    """What the caller's phone does next."""

    GATHER = "gather"  # speak, then wait for keys or speech
    TRANSFER = "transfer"  # speak, then connect to a person (a number or a queue)
    RECORD = "record"  # speak, then record the caller's question
    EFFECT = "effect"  # do something outside the call (send a text, save a callback), then ask again
    HANGUP = "hangup"  # speak, then end the call


@dataclass(frozen=True)
class CallState:
    """Where a call is and how the caller likes it; all of it travels in the action URL."""

    node: str
    part: int = 0
    silences: int = 0
    misses: int = 0
    lang: str = "en"
    rate: str = "normal"
    patience: int = 0
    visited: int = 0  # bit i set: menu i of the tree has been heard in full this call
    ret: str = ""  # where a system node (emergency, language) goes back to


@dataclass(frozen=True)
class CallerInput:
    """One webhook's worth of caller input."""

    digits: str = ""
    speech: str = ""
    silent: bool = False
    dial_status: str | None = None
    outcome: tuple[str, str] | None = None  # how an effect or a recording went: ("sms", "sent")
    detail: str = ""  # with an outcome: e.g. the last digits of the number a callback goes to
    now: datetime | None = None  # for opening hours; None means "treat as open"


@dataclass(frozen=True)
class Step:
    """What to say and do next, and the state the next request will carry."""

    kind: Kind
    say: tuple[str, ...]
    state: CallState
    event: str
    hints: tuple[str, ...] = ()
    number: str | None = None
    lang_of: tuple[str, ...] = ()  # the language of each sentence, where they are not all state.lang
    queue: str | None = None  # TRANSFER into a Twilio queue instead of a number
    specialty: str | None = None  # who a TRANSFER, EFFECT or RECORD is for
    effect: str | None = None  # EFFECT: "sms" or "callback"

    def __hash__(self) -> int:
        # Steps are the keys of the rendered-TwiML cache: hash the fields once per step, not per request.
        cached: int | None = self.__dict__.get("_hash")
        if cached is None:
            cached = hash((self.kind, self.say, self.state, self.event, self.number, self.queue, self.effect))
            object.__setattr__(self, "_hash", cached)
        return cached

    def language_of(self, index: int) -> str:
        """The language sentence `index` is spoken in."""
        return self.lang_of[index] if self.lang_of else self.state.lang


@dataclass(frozen=True)
class Line:
    """The content plus the operator settings the engine needs."""

    content: Content
    operator_number: str | None = None
    emergency_number: str = "112"
    emergency_transfer: str | None = None
    directory: Directory | None = None
    _hints: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict, compare=False)
    _steps: dict[tuple[CallState, str, bool], Step] = field(default_factory=dict, compare=False)
    _speech: dict[tuple[str, str], speech.Matcher] = field(default_factory=dict, compare=False)

    def prompts(self, lang: str) -> Prompts:
        """The prompts of a language, falling back to the default language."""
        return self.content.prompts.get(lang) or self.content.prompts[self.content.default_language]

    def menu_bit(self, node: str) -> int:
        """The bit that marks a menu as heard in full (0 for anything else)."""
        menus = list(self.content.tree.menus)
        return 1 << menus.index(node) if node in menus else 0


STEP_CACHE_SIZE = 4096  # steps kept per line (a few MB); when full, it starts again
# The actions _action carries out without asking for a person (_person is all that reads the clock).
CLOCK_FREE_ACTIONS = frozenset({"repeat", "main", "back", "help", "rate", "emergency", "text"})


def timeout_for(state: CallState, base: int) -> int:
    """Seconds the line waits for the caller, longer as they ask for (or show they need) more time."""
    return round(base * PATIENCE[state.patience])


def state_from_query(line: Line, query: Mapping[str, str]) -> CallState | None:
    """Rebuild a state from action-URL parameters; None when they are missing or invalid."""
    tree = line.content.tree
    node = query.get("n", "")
    ret = query.get("b", "")
    lang = query.get("l", line.content.default_language)
    try:
        part, silences, misses, rate, patience = (int(query.get(k, "0")) for k in ("p", "s", "m", "r", "w"))
        visited = int(query.get("v", "0"), 16)
    except ValueError:
        return None
    if not (tree.has(node) or node in SYSTEM_NODES) or not (ret == "" or tree.has(ret)):
        return None
    if lang not in line.content.prompts or not 0 <= rate < len(RATES) or not 0 <= patience < len(PATIENCE):
        return None
    if not (0 <= part < tree.part_count(node) and 0 <= silences <= MAX_SILENCES + 1 and 0 <= misses <= 99):
        return None
    if not 0 <= visited < 1 << len(tree.menus):
        return None
    return CallState(node, part, silences, misses, lang, RATES[rate], patience, visited, ret)


def state_to_query(state: CallState) -> dict[str, str]:
    """The action-URL parameters that carry a state to the next request."""
    query = {
        "n": state.node,
        "p": str(state.part),
        "s": str(state.silences),
        "m": str(state.misses),
        "l": state.lang,
        "r": str(RATES.index(state.rate)),
        "w": str(state.patience),
        "v": format(state.visited, "x"),
    }
    if state.ret:
        query["b"] = state.ret
    return query


def _key_name(line: Line, lang: str, key: str) -> str:
    return line.prompts(lang).key_names.get(key, key)


def _options(line: Line, state: CallState) -> list[str]:
    p = line.prompts(state.lang).phrases
    menu = line.content.tree.menus[state.node]
    return [
        p.option.format(label=o.label[state.lang], key=_key_name(line, state.lang, o.key))
        for o in menu.options
    ]


def _section_controls(line: Line, state: CallState) -> tuple[str, ...]:
    p = line.prompts(state.lang)
    tree = line.content.tree
    if state.part < tree.part_count(state.node) - 1:
        return (p.phrases.part_controls,)
    reviewed = tree.section(state.node, state.lang).meta.reviewed_on
    when = p.phrases.reviewed.format(month=p.months[reviewed.month - 1], year=reviewed.year)
    return (p.phrases.last_part, when, p.phrases.last_part_controls)


def _emergency_prompt(line: Line, lang: str) -> tuple[str, ...]:
    p = line.prompts(lang).phrases
    number = " ".join(line.emergency_number)  # said digit by digit: "1 1 2"
    transfer = (p.emergency_transfer,) if line.emergency_transfer else ()
    return (p.emergency_advice.format(number=number), *transfer, p.emergency_back)


def _language_prompt(line: Line) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The language menu, each line in its own language: (sentences, their languages)."""
    langs = line.content.languages
    said = tuple(line.prompts(lang).phrases.choose_language.format(key=i + 1) for i, lang in enumerate(langs))
    return said, tuple(langs)


def _prompt(line: Line, state: CallState, *, full: bool, revisit: bool = False) -> tuple[str, ...]:
    """The prompt for where the caller is: full on a first visit, shorter on revisits and retries."""
    tree = line.content.tree
    p = line.prompts(state.lang).phrases
    if state.node == EMERGENCY:
        return _emergency_prompt(line, state.lang)
    if state.node == LANGUAGE:
        return _language_prompt(line)[0]
    if state.node == SPECIALIST:
        return (p.offer_callback, p.offer_record, p.emergency_back)
    if tree.is_menu(state.node):
        menu = tree.menus[state.node]
        if not full:
            return tuple(_options(line, state))
        if revisit:
            return (menu.title[state.lang], *_options(line, state))
        intro = (menu.intro[state.lang],) if menu.intro else ()
        return (menu.title[state.lang], *intro, *_options(line, state), p.speech_hint)
    controls = _section_controls(line, state)
    if not full:
        return controls
    section = tree.section(state.node, state.lang)
    title = (section.title,) if state.part == 0 else ()
    return (*title, section.parts[state.part], *controls)


def fixed_sentences(line: Line, node: str, lang: str) -> tuple[tuple[str, str], ...]:
    """Every (sentence, its language) a node says that needs nothing from the call: prompts and help."""
    said: list[tuple[str, str]] = []
    for part in range(line.content.tree.part_count(node)):
        state = CallState(node=node, part=part, lang=lang)
        for full, revisit in ((True, False), (True, True), (False, False)):
            step = _gather(line, state, _prompt(line, state, full=full, revisit=revisit), "")
            said += [(text, step.language_of(i)) for i, text in enumerate(step.say)]
        said += [(text, lang) for text in _help(line, state)]
    return tuple(dict.fromkeys(said))


def specialty_sentences(line: Line, lang: str) -> tuple[str, ...]:
    """Every sentence naming a specialist that needs nothing from the call (for pre-rendering)."""
    directory = line.content.directory  # names and hours are content: no numbers needed
    if directory is None:
        return ()
    p = line.prompts(lang).phrases
    said: list[str] = []
    for entry in directory.specialties.values():
        name = entry.name[lang]
        said += [p.connecting_to.format(name=name), p.unavailable.format(name=name)]
        said += [p.language_note.format(name=name), p.record_saved.format(name=name)]
        if entry.hours_said:
            hours = entry.hours_said[lang]
            said += [p.closed.format(name=name, hours=hours), p.closed_holiday.format(name=name, hours=hours)]
    return tuple(said)


def _help(line: Line, state: CallState) -> tuple[str, ...]:
    """The keys that work here, each said option first: "To repeat, press 9."."""
    p = line.prompts(state.lang)
    tree = line.content.tree
    keys: list[tuple[str, str]] = []
    if tree.has(state.node) and not tree.is_menu(state.node):
        keys.append(("1", p.actions.next))
    for key, action in RESERVED_KEYS.items():
        if action == "back" and state.node == tree.root:
            if len(line.content.languages) > 1:
                keys.append((key, p.actions.language))
            continue
        if action == "main" and state.node == tree.root:
            continue
        keys.append((key, getattr(p.actions, action)))
    lines = [p.phrases.help_line.format(action=a, key=_key_name(line, state.lang, k)) for k, a in keys]
    return (p.phrases.help, *lines, p.phrases.help_speech)


def hints(line: Line, state: CallState) -> tuple[str, ...]:
    """Speech-recognition hints: option words for where the caller is, then the reserved words."""
    cache_key = (state.node, state.lang)
    if cache_key not in line._hints:
        p = line.prompts(state.lang)
        found = [phrase for phrases in _choices(line, state).values() for phrase in phrases]
        found += [
            w
            for level in _deeper(line, state.node)
            for n in level
            for w in _option_words(line, n, state.lang)
        ]
        found += [name for lang in line.content.languages for name in line.prompts(lang).name]
        found += [w for action in SPEECH_ACTIONS for w in getattr(p.speech, action)]
        line._hints[cache_key] = tuple(dict.fromkeys(h for h in found if len(h) <= 100))
    return line._hints[cache_key]


def _gather(line: Line, state: CallState, say: tuple[str, ...], event: str) -> Step:
    lang_of: tuple[str, ...] = ()
    if state.node == LANGUAGE:  # each language choice is said in its own language
        own = dict(zip(*_language_prompt(line), strict=True))
        lang_of = tuple(own.get(sentence, state.lang) for sentence in say)
    return Step(Kind.GATHER, tuple(say), state, event, hints=hints(line, state), lang_of=lang_of)


def start(line: Line, lang: str | None = None, rate: str | None = None, *, returning: bool = False) -> Step:
    """The first step of a call: the language menu for a new caller, else welcome and main menu."""
    content = line.content
    rate = rate if rate in RATES else "normal"
    if lang not in content.prompts and len(content.languages) > 1:
        state = CallState(node=LANGUAGE, lang=content.default_language, rate=rate)
        return _gather(line, state, _language_prompt(line)[0], "start:language")
    state = CallState(node=content.tree.root, lang=lang or content.default_language, rate=rate)
    return _welcome(line, state, "start", returning=returning)


def _welcome(line: Line, state: CallState, event: str, *, returning: bool = False) -> Step:
    p = line.prompts(state.lang).phrases
    hello = p.welcome_back if returning else p.welcome
    state = replace(state, visited=state.visited | line.menu_bit(state.node))
    # Straight from the disclaimer to the options (the menu's title would only delay them), and the
    # list of keys after the options: a caller can pick a topic as soon as possible.
    menu = _prompt(line, state, full=True)[1:]
    return _gather(line, state, (hello, p.disclaimer, *menu, p.keys_intro), event)


def _choices(line: Line, state: CallState) -> dict[str, list[str]]:
    """The phrases that pick each option where the caller is: {"key:2": [...]}."""
    tree = line.content.tree
    p = line.prompts(state.lang)
    if state.node == LANGUAGE:
        return {f"key:{i + 1}": line.prompts(lang).name for i, lang in enumerate(line.content.languages)}
    if state.node == EMERGENCY:
        return {"key:1": [*p.speech.next, *p.speech.operator]} if line.emergency_transfer else {}
    if tree.is_menu(state.node):
        return {
            f"key:{o.key}": _option_words(line, o.goto, state.lang) for o in tree.menus[state.node].options
        }
    return {"key:1": list(p.speech.next)}


def _option_words(line: Line, node: str, lang: str) -> list[str]:
    """The label and phrases of the option that leads to a node."""
    option = line.content.tree.option_to(node)
    return [option.label[lang], *option.say.get(lang, [])]


def _deeper(line: Line, node: str) -> Iterator[list[str]]:
    """The nodes below a menu, a generation at a time, from the grandchildren down."""
    tree = line.content.tree
    level = [o.goto for o in tree.menus[node].options] if tree.is_menu(node) else []
    while level:
        level = [o.goto for n in level if tree.is_menu(n) for o in tree.menus[n].options]
        if level:
            yield level


def _resolve(line: Line, state: CallState, inp: CallerInput) -> tuple[str, str] | None:
    """Keys or speech as ("action", name), ("key", digit), ("goto", node) or ("lang", code)."""
    if inp.digits:
        if inp.digits in RESERVED_KEYS:
            return ("action", RESERVED_KEYS[inp.digits])
        return ("key", inp.digits)
    found = _matcher(line, state).match(inp.speech)
    if found is None:
        return None
    if ":" not in found:  # a spoken digit behaves like the key
        return ("action", RESERVED_KEYS[found]) if found in RESERVED_KEYS else ("key", found)
    kind, _, value = found.partition(":")
    return (kind, value)


def _matcher(line: Line, state: CallState) -> speech.Matcher:
    """What can be said where the caller is, and what each phrase picks (the same for every call)."""
    cache_key = (state.node, state.lang)
    if cache_key in line._speech:
        return line._speech[cache_key]
    p = line.prompts(state.lang)
    choices: dict[str, list[str]] = {f"action:{a}": list(getattr(p.speech, a)) for a in SPEECH_ACTIONS}
    for lang in line.content.languages:
        if lang != state.lang and state.node != LANGUAGE:
            choices[f"lang:{lang}"] = line.prompts(lang).name
    choices.update(_choices(line, state))
    # Topics further down count too ("symptoms" from the main menu); on a tie the nearer one wins.
    for level in _deeper(line, state.node):
        choices.update({f"goto:{n}": _option_words(line, n, state.lang) for n in level})
    matcher = line._speech[cache_key] = speech.Matcher(choices, p.numbers, p.fillers)
    return matcher


def _heard(line: Line, state: CallState, inp: CallerInput) -> str:
    if inp.digits:
        return " ".join(_key_name(line, state.lang, d) for d in inp.digits[:4])
    return " ".join(speech.normalise(inp.speech).split()[:MAX_HEARD_WORDS])


def next_step(line: Line, state: CallState, inp: CallerInput) -> Step:
    """The engine: what the caller hears next, given where they are and what they did."""
    if inp.speech or inp.dial_status is not None or inp.outcome is not None:
        return _next_step(line, state, inp)
    action = RESERVED_KEYS.get(inp.digits)
    if action is not None and action not in CLOCK_FREE_ACTIONS:  # a person: are they open now?
        return _next_step(line, state, inp)
    # A key or a silence: the same state and input always give the same step, and callers press the
    # same keys in the same places all day, so it is worked out once.
    key = (state, inp.digits, inp.silent)
    step = line._steps.get(key)
    if step is None:
        if len(line._steps) >= STEP_CACHE_SIZE:
            line._steps.clear()
        step = line._steps[key] = _next_step(line, state, inp)
    return step


def _next_step(line: Line, state: CallState, inp: CallerInput) -> Step:
    p = line.prompts(state.lang).phrases
    here = replace(state, silences=0)

    if inp.dial_status is not None:
        if inp.dial_status == "completed":
            return Step(Kind.HANGUP, (p.goodbye,), here, "dial:completed")
        if line.directory is not None and state.node not in (EMERGENCY, SPECIALIST):
            # A busy or absent specialist: offer a call back or a recorded question instead.
            return _specialist_menu(line, here, (p.dial_failed,), f"dial:{inp.dial_status}")
        return _gather(
            line, here, (p.dial_failed, *_prompt(line, here, full=False)), f"dial:{inp.dial_status}"
        )

    if inp.outcome is not None:
        return _outcome(line, here, inp.outcome, inp.detail)

    if inp.silent or not (inp.digits or inp.speech.strip()):
        return _silence(line, state)

    resolved = _resolve(line, state, inp)
    if resolved is None:
        return _miss(line, here, p.not_understood.format(heard=_heard(line, state, inp)))
    kind, value = resolved
    here = replace(here, misses=0)
    if kind == "action":
        return _action(line, here, value, inp.now)
    if kind == "lang":
        return _set_language(line, replace(here, lang=value), here.node)
    if kind == "goto":
        return _arrive(line, replace(here, node=value, part=0), f"speech:{value}")
    return _key(line, here, value, _heard(line, state, inp))


def _silence(line: Line, state: CallState) -> Step:
    """No input: re-prompt shorter (waiting longer each time), warn, then end politely."""
    p = line.prompts(state.lang).phrases
    silences = state.silences + 1
    waited = replace(state, silences=silences, patience=min(state.patience + 1, len(PATIENCE) - 1))
    if state.node == LANGUAGE and silences > 1:
        # Someone who cannot choose keeps the language they have and still gets the information.
        if state.ret:
            return _arrive(line, replace(waited, node=state.ret, silences=0), "language:kept")
        return _welcome(line, replace(waited, node=line.content.tree.root, silences=0), "language:default")
    if silences <= MAX_SILENCES:
        return _gather(line, waited, (p.no_input, *_prompt(line, waited, full=False)), "no_input")
    if silences == MAX_SILENCES + 1:
        person = (p.final_person,) if line.operator_number else ()
        return _gather(line, waited, (p.final_warning, *person), "final_warning")
    return Step(Kind.HANGUP, (p.goodbye,), state, "hangup:no_input")


def _key(line: Line, state: CallState, key: str, heard: str) -> Step:
    tree = line.content.tree
    p = line.prompts(state.lang).phrases
    if state.node == LANGUAGE:
        langs = line.content.languages
        if key.isdigit() and 1 <= int(key) <= len(langs):
            return _set_language(line, replace(state, lang=langs[int(key) - 1]), state.ret)
    elif state.node == SPECIALIST:
        specialty = specialty_for_state(line, state)
        if key == "1":
            return Step(Kind.EFFECT, (), state, "callback:request", specialty=specialty, effect="callback")
        if key == "2":
            return Step(Kind.RECORD, (p.record_intro,), state, "record:start", specialty=specialty)
    elif state.node == EMERGENCY:
        if key == "1" and line.emergency_transfer:
            return Step(
                Kind.TRANSFER, (p.connecting,), state, "emergency:transfer", number=line.emergency_transfer
            )
    elif tree.is_menu(state.node):
        option = next((o for o in tree.menus[state.node].options if o.key == key), None)
        if option is not None:
            return _arrive(line, replace(state, node=option.goto, part=0), f"option:{key}")
    elif key == "1":
        if state.part + 1 >= tree.part_count(state.node):
            return _gather(line, state, (p.no_more_parts, p.last_part_controls), "next:end")
        following = replace(state, part=state.part + 1)
        return _gather(line, following, _prompt(line, following, full=True), "next")
    return _miss(line, state, p.not_an_option.format(heard=heard))


def _set_language(line: Line, state: CallState, ret: str) -> Step:
    """A language was chosen: welcome in it (at call start), or confirm and go back to where they were."""
    if not ret:  # at the start of a call, the welcome in the chosen language is confirmation enough
        return _welcome(line, replace(state, node=line.content.tree.root, ret=""), f"language:{state.lang}")
    back = replace(state, node=ret, part=0, ret="")
    said = line.prompts(state.lang).phrases.language_set
    return _gather(line, back, (said, *_prompt(line, back, full=True)), f"language:{state.lang}")


def _arrive(line: Line, state: CallState, event: str) -> Step:
    """Arrive at a node: a menu in full the first time this call, title and options after that."""
    bit = line.menu_bit(state.node)
    revisit = bool(state.visited & bit)
    state = replace(state, visited=state.visited | bit, ret="")
    return _gather(line, state, _prompt(line, state, full=True, revisit=revisit), event)


def _miss(line: Line, state: CallState, sorry: str) -> Step:
    """Invalid or unrecognised input: say so, re-prompt; after two in a row, add help."""
    state = replace(state, misses=state.misses + 1)
    extra = _help(line, state) if state.misses >= 2 else ()
    return _gather(line, state, (sorry, *extra, *_prompt(line, state, full=False)), "invalid")


def _action(line: Line, state: CallState, action: str, now: datetime | None = None) -> Step:
    tree = line.content.tree
    p = line.prompts(state.lang).phrases
    if action == "repeat":
        return _gather(line, state, _prompt(line, state, full=True), "repeat")
    if action == "main":
        return _arrive(line, replace(state, node=tree.root, part=0), "main")
    if action == "back":
        if state.node in SYSTEM_NODES:
            return _arrive(line, replace(state, node=state.ret or tree.root, part=0), "back")
        if state.node != tree.root:
            return _arrive(line, replace(state, node=tree.back_of(state.node), part=0), "back")
        if len(line.content.languages) > 1:
            return _action(line, state, "language")
        return _gather(line, state, (p.at_main_menu, *_prompt(line, state, full=True)), "back:root")
    if action == "help":
        return _gather(line, state, (*_help(line, state), *_prompt(line, state, full=False)), "help")
    if action in ("rate", "slower", "faster"):
        rate = {"slower": "slow", "faster": "fast"}.get(action) or RATES[
            (RATES.index(state.rate) + 1) % len(RATES)
        ]
        state = replace(state, rate=rate)
        said = {"slow": p.rate_slow, "normal": p.rate_normal, "fast": p.rate_fast}[rate]
        return _gather(line, state, (said, *_prompt(line, state, full=True)), f"rate:{rate}")
    if action == "more_time":
        state = replace(state, patience=len(PATIENCE) - 1)
        return _gather(line, state, (p.more_time, *_prompt(line, state, full=False)), "more_time")
    if action == "emergency":
        ret = state.ret if state.node in SYSTEM_NODES else state.node
        state = replace(state, node=EMERGENCY, part=0, ret=ret)
        return _gather(line, state, _prompt(line, state, full=True), "emergency")
    if action == "language":
        ret = state.ret if state.node in SYSTEM_NODES else state.node
        state = replace(state, node=LANGUAGE, part=0, ret=ret)
        return _gather(line, state, _language_prompt(line)[0], "language")
    if action == "text":
        if state.node in SYSTEM_NODES or line.content.tree.is_menu(state.node):
            return _gather(line, state, (p.sms_in_menu, *_prompt(line, state, full=False)), "sms:menu")
        return Step(Kind.EFFECT, (), state, "sms:request", effect="sms")
    return _person(line, state, now)


def specialty_for_state(line: Line, state: CallState) -> str | None:
    """The specialty for where the caller is (or came from, in a system node)."""
    if line.directory is None:
        return None
    origin = state.ret if state.node in SYSTEM_NODES else state.node
    tree = line.content.tree
    return line.directory.specialty_for(tree, origin) if tree.has(origin) else line.directory.file.default


def _person(line: Line, state: CallState, now: datetime | None) -> Step:
    """0: the matching specialist if open, else their hours and a call back or a recorded question."""
    p = line.prompts(state.lang).phrases
    specialty = specialty_for_state(line, state)
    if line.directory is None or specialty is None:
        if line.operator_number:
            return Step(Kind.TRANSFER, (p.connecting,), state, "operator", number=line.operator_number)
        return _gather(
            line, state, (p.operator_unavailable, *_prompt(line, state, full=True)), "operator:unavailable"
        )
    directory = line.directory
    entry = directory.file.specialties[specialty]
    name = entry.name[state.lang]
    route = directory.route(specialty)
    if not route.reachable:
        if specialty == directory.file.default:  # nobody at all: say so and carry on
            return _gather(
                line,
                state,
                (p.operator_unavailable, *_prompt(line, state, full=True)),
                "operator:unavailable",
            )
        return _specialist_menu(line, state, (p.unavailable.format(name=name),), f"closed:{specialty}")
    if now is not None and not directory.is_open(specialty, now):
        hours = (entry.hours_said or {}).get(state.lang, "")
        closed = p.closed_holiday if directory.is_holiday(now) else p.closed
        return _specialist_menu(line, state, (closed.format(name=name, hours=hours),), f"closed:{specialty}")
    note = (p.language_note.format(name=name),) if state.lang not in entry.languages else ()
    here = replace(state, node=state.ret, ret="") if state.node in SYSTEM_NODES and state.ret else state
    return Step(
        Kind.TRANSFER,
        (p.connecting_to.format(name=name), *note),
        here,
        f"transfer:{specialty}",
        number=route.number,
        queue=route.queue,
        specialty=specialty,
    )


def _specialist_menu(line: Line, state: CallState, reason: tuple[str, ...], event: str) -> Step:
    """Offer a call back or a recorded question, remembering where the caller came from."""
    ret = state.ret if state.node in SYSTEM_NODES else state.node
    menu = replace(state, node=SPECIALIST, part=0, ret=ret)
    return _gather(line, menu, (*reason, *_prompt(line, menu, full=True)), event)


def _outcome(line: Line, state: CallState, outcome: tuple[str, str], detail: str) -> Step:
    """After an effect or a recording: tell the caller how it went, then carry on."""
    p = line.prompts(state.lang).phrases
    what, result = outcome
    if what == "sms":
        said = {"sent": p.sms_sent, "saved": p.sms_saved, "no_number": p.no_number}.get(result, p.sms_failed)
        return _gather(line, state, (said, *_prompt(line, state, full=False)), f"sms:{result}")
    specialty = specialty_for_state(line, state)
    name = line.directory.file.specialties[specialty].name[state.lang] if line.directory and specialty else ""
    if what == "callback" and result == "saved":
        said = p.callback_saved.format(name=name, digits=" ".join(detail))
    elif what == "record" and result == "saved":
        said = p.record_saved.format(name=name)
    elif result in ("no_number", "empty"):  # the caller can still choose the other way
        said = p.no_number if result == "no_number" else p.record_empty
        return _gather(line, state, (said, *_prompt(line, state, full=False)), f"{what}:{result}")
    else:
        said = p.callback_failed if what == "callback" else p.record_failed
    back = replace(state, node=state.ret or line.content.tree.root, part=0, ret="")
    return _gather(line, back, (said, *_prompt(line, back, full=True, revisit=True)), f"{what}:{result}")
