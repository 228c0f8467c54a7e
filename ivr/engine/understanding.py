"""What a caller pressed or said: an action, a key, a place anywhere in the tree, or a language.

Speech is understood in four steps, every word list coming from the content (prompts/, knowledge/)
and every language's words counting in every call (callers mix them):
1. An emergency always wins: `emergency_words` (a word said alone, or a breathing or swallowing
   word with a "not"/"trouble" word), from any place, with no question asked. Only a question
   about the disorders in general that names nothing worse than the weaker signs (`asked_about`:
   "can myasthenia cause breathing problems", "साँस की तकलीफ़ का इलाज क्या है") and nothing
   happening now goes where it asks, and only to a place the line is sure of.
2. A number said alone is its key ("two", "दो दबाओ").
3. The phrases of every place in the tree (options' labels and `say`, named conditions of the
   series), every action and every other language, matched fuzzily (ivr.speech.Lexicon); the best
   is taken when it explains enough of what was said and no other comes close, else the caller is
   asked ("Did you mean treatment?"). A low recogniser Confidence asks too.
4. A caller describing what they feel (`describes`: "my legs are weak") is taken to Symptoms,
   never to a disease.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum

from ivr import speech
from ivr.content.models import RESERVED_KEYS
from ivr.engine.model import (
    CARRY_ON,
    CONFIRM,
    CONSENT,
    EMERGENCY,
    FORGET,
    LANGUAGE,
    SPECIALIST,
    SPEECH_ACTIONS,
    CallerInput,
    CallState,
    Line,
)
from ivr.engine.wording import key_name

SURE_SCORE = 0.8  # a phrase's weight (ivr.speech.Lexicon) that is enough on its own...
SURE_COVERAGE = 0.6  # ...or the share of what was said that it explains
MIN_SCORE = 0.45  # below this, and below MIN_COVERAGE, nothing was understood
MIN_COVERAGE = 0.25
RIVAL_RATIO = 1.4  # the best must weigh this much more than the next-best other result to be sure
LOW_CONFIDENCE = 0.35  # Twilio's Confidence under which the line asks before acting
ALONE_FUZZY_FROM = 7  # letters: an emergency word said alone is matched nearly only from this length
# Asking the line to go slower, faster or wait: the same words describe how symptoms come
# ("धीरे धीरे कमज़ोर", "उठते समय"), so a description outweighs them...
PACE_ACTIONS = frozenset({"action:slower", "action:faster", "action:more_time"})
# ...and slower or faster counts only as much of what was said ("धीरे बोलिए", not "jaldi doctor bulao").
SPEED_ACTIONS = frozenset({"action:slower", "action:faster"})
SPEED_COVERAGE = 0.4


class Alarm(Enum):
    """What emergency signs an utterance holds: none, only ones a question may name, or sure ones."""

    NONE = 0
    ASKABLE = 1  # "breathing problems", "seizures", "chest pain": an emergency unless asked about
    SURE = 2  # "not breathing", "choking", "ambulance": always an emergency


@dataclass(frozen=True)
class Heard:
    """What an input was taken for: ("action", "repeat"), ("key", "2"), ("goto", node), ("lang",
    code); `sure` is False when the line should ask before acting on it."""

    kind: str
    value: str
    sure: bool = True


def resolve(line: Line, state: CallState, inp: CallerInput) -> Heard | None:
    """Keys or speech as an action, a key, a place or a language; None when not understood."""
    if inp.digits:
        if inp.digits in RESERVED_KEYS:
            return Heard("action", RESERVED_KEYS[inp.digits])
        return Heard("key", inp.digits)
    said = speech.tokens(inp.speech)
    if not said:
        return None
    ear = _ear(line, state)
    alarm = ear.everywhere.emergency(said)
    if alarm is Alarm.SURE:
        return Heard("action", "emergency")
    digit = speech.spoken_digit(inp.speech, ear.everywhere.numbers, ear.everywhere.fillers)
    if digit is not None and alarm is Alarm.NONE:
        return Heard("action", RESERVED_KEYS[digit]) if digit in RESERVED_KEYS else Heard("key", digit)
    asked = alarm is Alarm.ASKABLE and ear.asked_about(said)
    if alarm is Alarm.ASKABLE and not asked:
        return Heard("action", "emergency")
    # A sign asked about in a type named goes to the type ("can myasthenia cause breathing problems").
    heard = (asked and ear.type_named(said)) or ear.best(said)
    if heard is not None and inp.confidence is not None and inp.confidence < LOW_CONFIDENCE:
        heard = Heard(heard.kind, heard.value, sure=False)
    if asked and not (heard is not None and heard.kind == "goto" and heard.sure):
        # A weaker sign ("breathing problems", "seizures") asked about, but of no place the line is
        # sure of: when in doubt, the emergency advice.
        return Heard("action", "emergency")
    return heard


def is_silent(inp: CallerInput) -> bool:
    """No keys and no words: a timeout, or speech that was only punctuation or symbols."""
    return inp.silent or not (inp.digits or speech.normalise(inp.speech))


def heard_keys(line: Line, lang: str, digits: str) -> str:
    """The keys a caller pressed, to read back in "Sorry, 3 is not an option" (never their words:
    they may be anyone's in the room, and read back into a sentence they make nonsense)."""
    return " ".join(key_name(line, lang, d) for d in digits[:4])


class Everywhere:
    """What the line listens for the same way at every place, made ready once per line: emergencies,
    descriptions of symptoms, types described, numbers."""

    def __init__(self, line: Line) -> None:
        content = line.content
        every = [content.prompts[lang] for lang in content.languages]
        self.stop = [w for p in every for w in (*p.stopwords, *p.fillers)]
        self.fillers = [w for p in every for w in p.fillers]
        self.numbers = {d: [n for p in every for n in p.numbers.get(d, [])] for d in "0123456789"}  # type: ignore[call-overload]
        tree = content.tree
        # Two names of one place are no rivals: the six types and their overview, its first part.
        self.place = {f"goto:{n}": f"goto:{tree.first_section(n)}" for n in tree.series}
        # The types of the series, named: a question about a sign in one goes there.
        self.types = frozenset(f"goto:{t.id}" for run in tree.series.values() for t in run.topics)
        self.describes = speech.Lexicon(_describes(line), self.stop)
        # A type described ("spinal cord", "muscle inflammation") counts only named as a disease.
        self.kinds = speech.Lexicon(_described_as(line), self.stop)
        self.disease_words = frozenset(t for p in every for w in p.disease_words for t in speech.tokens(w))
        words = [p.emergency_words for p in every]
        asked = [e.asked_about for e in words if e.asked_about is not None]
        # The weaker signs, which a question about the disorders may name: "asked" results.
        askable = {w for a in asked for w in a.alone}
        askable_with = {(g, w) for a in asked for g, said in a.together.items() for w in said}
        self.groups = sorted({name for w in words for name in w.together})
        pairs: dict[str, list[str]] = {}
        for name in self.groups:
            second = [w for e in words for w in e.together.get(name, ([], []))[1]]
            pairs[f"{name}:0"] = [w for e in words for w in e.together.get(name, ([], []))[0]]
            pairs[f"{name}:1"] = [w for w in second if (name, w) not in askable_with]
            pairs[f"{name}:asked"] = [w for w in second if (name, w) in askable_with]
        self.pairs = speech.Lexicon(pairs, word_forms=True)
        # A word that is an emergency on its own must be heard nearly exactly: "meets" is not "fits".
        self.alone = speech.Lexicon(
            {
                "alone": [w for e in words for w in e.alone if w not in askable],
                "asked": [w for e in words for w in e.alone if w in askable],
            },
            fuzzy_from=ALONE_FUZZY_FROM,
            word_forms=True,
        )
        # How a question about the disorders is told, word for word (asked_about).
        exact = speech.SHORT * 100  # no word is this long: every word must be heard exactly
        self.asking = speech.Lexicon({"asking": [w for a in asked for w in a.asking]}, fuzzy_from=exact)
        self.asking_first = frozenset(speech.tokens(w) for a in asked for w in a.asking_first)
        self.general = speech.Lexicon({"general": [w for a in asked for w in a.general]}, fuzzy_from=exact)
        self.now = speech.Lexicon({"now": [w for a in asked for w in a.now]}, fuzzy_from=exact)

    def emergency(self, said: tuple[str, ...]) -> Alarm:
        """An emergency word alone, or a word of both sides of a group ("pitaji saans nahi le pa rahe");
        ASKABLE when every sign said is one a question may name ("breathing problems", "seizures")."""
        alone = {h.result for h in self.alone.hits(said)}
        found = {h.result for h in self.pairs.hits(said)}
        if "alone" in alone or any({f"{g}:0", f"{g}:1"} <= found for g in self.groups):
            return Alarm.SURE
        if "asked" in alone or any({f"{g}:0", f"{g}:asked"} <= found for g in self.groups):
            return Alarm.ASKABLE
        return Alarm.NONE


class Ear:
    """Everything the line listens for at one place, made ready once (per place and language)."""

    def __init__(self, line: Line, state: CallState) -> None:
        content = line.content
        every = [content.prompts[lang] for lang in content.languages]
        # Made ready with the first place, shared by every other (a copy: other threads add places).
        made = next((e.everywhere for e in tuple(line._speech.values()) if isinstance(e, Ear)), None)
        self.everywhere: Everywhere = made or Everywhere(line)
        self.phrases = speech.Lexicon(choices(line, state), self.everywhere.stop)
        # At "Did you mean ...?", a "not" anywhere ("that's not right", "सही नहीं है") is never a yes:
        # the one-word answers for no are the words that deny.
        self.denials = (
            frozenset(
                t
                for p in every
                for w in p.speech.confirm_no
                for t in speech.tokens(w)[:1]
                if len(speech.tokens(w)) == 1
            )
            if state.node == CONFIRM
            else frozenset()
        )

    def asked_about(self, said: tuple[str, ...]) -> bool:
        """Whether what was said is a question about the disorders in general, nothing happening now:
        "why do people with ALS have trouble swallowing", not "why is he breathing so hard"."""
        common = self.everywhere
        if common.now.hits(said):
            return False
        question = bool(common.asking.hits(said)) or any(said[: len(t)] == t for t in common.asking_first)
        named = any(h.result.startswith("goto:") for h in self.phrases.hits(said))
        general = named or bool(common.general.hits(said) or common.disease_words & set(said))
        return question and general

    def best(self, said: tuple[str, ...]) -> Heard | None:
        """The place, action or language said, or a description of symptoms; None if nothing fits."""
        common = self.everywhere
        hits = [h for h in self.phrases.hits(said) if self._counts(h, said)]
        described = common.describes.hits(said)
        # A type described ("spinal cord") is heard unless the caller describes what they feel
        # ("pain in my spinal cord"), when only a disease word makes it a type ("spinal cord disease").
        if not described or common.disease_words & set(said):
            taken = {h.result for h in hits}
            hits += [h for h in common.kinds.hits(said) if h.result not in taken]
            hits.sort(key=lambda h: (-h.score, -h.coverage, h.result))
        # A choice this place asks for ("yes" to "Did you mean...?", a language at the language menu)
        # wins a tie with the same words' meaning elsewhere ("yes" as "next part", "ठीक है").
        choice = next((h for h in hits if h.result.startswith("key:") and h.score >= hits[0].score), None)
        if choice is not None and choice.result == "key:2" and self.denials:
            # "No, I want medicines": the place the caller corrects us with, when it is clear.
            named = next((h for h in hits if h.result.startswith(("goto:", "lang:"))), None)
            if named is not None and named.score >= SURE_SCORE:
                choice = named
        if choice is not None:
            described = []
        if described and (not hits or _describes_more(described[0], hits[0])):
            # What the caller feels, said more than anything else: the symptoms, not a disease.
            return Heard("goto", described[0].result)
        if not hits:
            return None
        top = choice or hits[0]
        named = next((h for h in hits if h.result.startswith("lang:")), None)
        if top.result == "action:language" and named is not None:
            top = named  # "Hindi language please": the language named, not the language menu
        rival = next((h for h in hits if self._same(h.result) != self._same(top.result)), None)
        # Heard word for word beats heard nearly ("एसएमए", not "एसएमएस").
        ahead = rival is None or top.score >= RIVAL_RATIO * rival.score or (top.exact and not rival.exact)
        kind, _, value = top.result.partition(":")
        if ahead and (top.score >= SURE_SCORE or top.coverage >= SURE_COVERAGE):
            return Heard(kind, value)
        if top.score >= MIN_SCORE or top.coverage >= MIN_COVERAGE:
            # Unsure of a place or a person: ask. Other actions are quick to undo: just do them.
            return Heard(kind, value, sure=not (kind == "goto" or top.result == "action:operator"))
        return None

    def _same(self, result: str) -> str:
        return self.everywhere.place.get(result, result)

    def type_named(self, said: tuple[str, ...]) -> Heard | None:
        """The one type of the series named ("why do people with ALS have trouble swallowing"), if
        it is clearly ahead of any other type named."""
        named = [h for h in self.phrases.hits(said) if h.result in self.everywhere.types]
        if not named or named[0].score < SURE_SCORE:
            return None
        if len(named) > 1 and named[0].score < RIVAL_RATIO * named[1].score:
            return None
        return Heard("goto", named[0].result.partition(":")[2])

    def _counts(self, hit: speech.Hit, said: tuple[str, ...]) -> bool:
        """Whether a hit may be taken at all: never a yes with a "not" in it; a pace word only when
        it is most of what was said ("jaldi doctor bulao" is not "faster")."""
        if hit.result == "key:1" and self.denials & set(said):
            return False
        return hit.result not in SPEED_ACTIONS or hit.coverage >= SPEED_COVERAGE


def _describes_more(described: speech.Hit, named: speech.Hit) -> bool:
    """Whether a description of symptoms outweighs what else was heard: a place named as much wins
    ("painkillers for nerve pain"), an action as much does not ("my back aches")."""
    if named.result.startswith("goto:"):
        return described.score > named.score
    if named.result in PACE_ACTIONS:
        return True  # "धीरे धीरे कमज़ोर" (slowly weaker), "जल्दी थक" (tire quickly): how, not a request
    return described.score >= named.score


def _ear(line: Line, state: CallState) -> Ear:
    key = (state.node, state.lang, state.node in line.content.tree.sections)
    found = line._speech.get(key)
    if not isinstance(found, Ear):
        found = Ear(line, state)
        line._speech[key] = found
    return found


def _every_language(line: Line, words: dict[str, list[str]] | None) -> list[str]:
    return [w for lang in line.content.languages for w in (words or {}).get(lang, [])]


def _places(line: Line) -> Iterator[str]:
    """Every place a caller can name: the menus (but the main menu, an action), series and sections."""
    tree = line.content.tree
    yield from (n for n in tree.below(tree.root))


def choices(line: Line, state: CallState) -> dict[str, list[str]]:
    """What can be said where the caller is, and what each phrase picks: {"goto:causes": [...]}."""
    content = line.content
    tree = content.tree
    found: dict[str, list[str]] = {}
    for action in SPEECH_ACTIONS:
        found[f"action:{action}"] = [
            w for lang in content.languages for w in getattr(content.prompts[lang].speech, action)
        ]
    # Asking for a call back is asking for a person: 0 puts them through, or offers the call back.
    found["action:operator"] += [
        w for lang in content.languages for w in content.prompts[lang].speech.callback
    ]
    if state.node != LANGUAGE:  # (there, the names are the menu's choices; elsewhere, even their own)
        for lang in content.languages:
            found[f"lang:{lang}"] = list(content.prompts[lang].name)
    for node in _places(line):
        found[f"goto:{node}"] = [w for lang in content.languages for w in tree.words_for(node, lang)]
    found.update(_here(line, state))
    return found


def _here(line: Line, state: CallState) -> dict[str, list[str]]:
    """The choices only this place has, as keys ("key:1")."""
    content = line.content
    every = [content.prompts[lang] for lang in content.languages]
    if state.node == LANGUAGE:
        return {f"key:{i + 1}": content.prompts[lang].name for i, lang in enumerate(content.languages)}
    if state.node == CONFIRM:
        return {
            "key:1": [w for p in every for w in p.speech.confirm_yes],
            "key:2": [w for p in every for w in p.speech.confirm_no],
        }
    if state.node == EMERGENCY and line.emergency_transfer:
        return {
            "key:1": [w for p in every for w in (*p.speech.next, *p.speech.operator, *p.speech.confirm_yes)]
        }
    if state.node == SPECIALIST:
        return {"key:1": [w for p in every for w in p.speech.callback]}
    if state.node == CONSENT:  # "yes", "remember me", "हाँ": 1; "no", "don't remember", "मत रखो": declined
        return {
            "key:1": [
                w for p in every for w in (*p.speech.remember, *p.speech.keep_me, *p.speech.confirm_yes)
            ],
            "action:decline": [w for p in every for w in (*p.speech.confirm_no, *p.speech.dont_keep)],
        }
    if state.node == FORGET:  # "yes", "don't keep it": forget; "no", "remember me", "याद रखो": keep
        return {
            "key:1": [
                w for p in every for w in (*p.speech.remember, *p.speech.confirm_yes, *p.speech.dont_keep)
            ],
            "key:2": [w for p in every for w in (*p.speech.confirm_no, *p.speech.keep_me)],
        }
    if state.node == CARRY_ON:  # "carry on", "yes", "जारी रखें": here, not the next part of a topic
        return {
            "key:1": [w for p in every for w in (*p.speech.resume, *p.speech.confirm_yes)],
            "action:decline": [w for p in every for w in p.speech.confirm_no],
        }
    return {}


def _describes(line: Line) -> dict[str, list[str]]:
    """Callers' descriptions of what they feel, and the place each leads to (Symptoms)."""
    tree = line.content.tree
    found: dict[str, list[str]] = {}
    for menu in tree.menus.values():
        for option in menu.options:
            if option.describes:
                found[option.goto] = _every_language(line, option.describes)
    return found


def _described_as(line: Line) -> dict[str, list[str]]:
    """Words that describe a type of the series, heard only with a disease word."""
    found: dict[str, list[str]] = {}
    for run in line.content.tree.series.values():
        for topic in run.topics:
            if topic.described_as:
                found[f"goto:{topic.id}"] = _every_language(line, topic.described_as)
    return found


def hints(line: Line, state: CallState) -> tuple[str, ...]:
    """Speech-recognition hints, at most Twilio's 500 of up to 100 characters: this place's choices,
    the names of places, then the actions' first words."""
    cache_key = (state.node, state.lang)
    if cache_key not in line._hints:
        content = line.content
        tree = content.tree
        p = line.prompts(state.lang)
        said = [phrase for phrases in _here(line, state).values() for phrase in phrases]
        said += [tree.words_for(n, state.lang)[0] for n in _places(line)]
        said += [w for n in _places(line) for w in tree.words_for(n, state.lang)[1:3]]
        said += [name for lang in content.languages for name in line.prompts(lang).name]
        said += [w for action in SPEECH_ACTIONS for w in getattr(p.speech, action)[:3]]
        line._hints[cache_key] = tuple(dict.fromkeys(h for h in said if len(h) <= 100))[:500]
    return line._hints[cache_key]
