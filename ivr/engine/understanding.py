"""What a caller pressed or said: an action, a key, a place anywhere in the tree, or a language.

Speech is understood in four steps, every word list coming from the content (prompts/, knowledge/)
and every language's words counting in every call (callers mix them):
1. An emergency always wins: `emergency_words` (a word said alone, or a breathing or swallowing
   word with a "not"/"trouble" word), from any place, with no question asked.
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

from ivr import speech
from ivr.content.models import RESERVED_KEYS
from ivr.engine.model import (
    CONFIRM,
    EMERGENCY,
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
    if ear.emergency(said):
        return Heard("action", "emergency")
    digit = speech.spoken_digit(inp.speech, ear.numbers, ear.fillers)
    if digit is not None:
        return Heard("action", RESERVED_KEYS[digit]) if digit in RESERVED_KEYS else Heard("key", digit)
    heard = ear.best(said)
    if heard is not None and inp.confidence is not None and inp.confidence < LOW_CONFIDENCE:
        heard = Heard(heard.kind, heard.value, sure=False)
    return heard


def is_silent(inp: CallerInput) -> bool:
    """No keys and no words: a timeout, or speech that was only punctuation or symbols."""
    return inp.silent or not (inp.digits or speech.normalise(inp.speech))


def heard_keys(line: Line, lang: str, digits: str) -> str:
    """The keys a caller pressed, to read back in "Sorry, 3 is not an option" (never their words:
    they may be anyone's in the room, and read back into a sentence they make nonsense)."""
    return " ".join(key_name(line, lang, d) for d in digits[:4])


class Ear:
    """Everything the line listens for at one place, made ready once (per place and language)."""

    def __init__(self, line: Line, state: CallState) -> None:
        content = line.content
        every = [content.prompts[lang] for lang in content.languages]
        stop = [w for p in every for w in (*p.stopwords, *p.fillers)]
        self.fillers = [w for p in every for w in p.fillers]
        self.numbers = {d: [n for p in every for n in p.numbers.get(d, [])] for d in "0123456789"}  # type: ignore[call-overload]
        self.phrases = speech.Lexicon(choices(line, state), stop)
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
        self.describes = speech.Lexicon(_describes(line), stop)
        # A type described ("spinal cord", "muscle inflammation") counts only named as a disease.
        self.kinds = speech.Lexicon(_described_as(line), stop)
        self.disease_words = frozenset(t for p in every for w in p.disease_words for t in speech.tokens(w))
        words = [p.emergency_words for p in every]
        groups = sorted({name for w in words for name in w.together})
        pairs: dict[str, list[str]] = {}
        for name in groups:
            for side in (0, 1):
                pairs[f"{name}:{side}"] = [w for e in words for w in e.together.get(name, ([], []))[side]]
        self.groups = groups
        self.pairs = speech.Lexicon(pairs, word_forms=True)
        # A word that is an emergency on its own must be heard nearly exactly: "meets" is not "fits".
        self.alone = speech.Lexicon(
            {"alone": [w for e in words for w in e.alone]},
            fuzzy_from=ALONE_FUZZY_FROM,
            word_forms=True,
        )

    def emergency(self, said: tuple[str, ...]) -> bool:
        """An emergency word alone, or a word of both sides of a group ("pitaji saans nahi le pa rahe")."""
        if self.alone.hits(said):
            return True
        found = {h.result for h in self.pairs.hits(said)}
        return any({f"{g}:0", f"{g}:1"} <= found for g in self.groups)

    def best(self, said: tuple[str, ...]) -> Heard | None:
        """The place, action or language said, or a description of symptoms; None if nothing fits."""
        hits = [h for h in self.phrases.hits(said) if self._counts(h, said)]
        described = self.describes.hits(said)
        # A type described ("spinal cord") is heard unless the caller describes what they feel
        # ("pain in my spinal cord"), when only a disease word makes it a type ("spinal cord disease").
        if not described or self.disease_words & set(said):
            taken = {h.result for h in hits}
            hits += [h for h in self.kinds.hits(said) if h.result not in taken]
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
        rival = next((h for h in hits if h.result != top.result), None)
        # Heard word for word beats heard nearly ("एसएमए", not "एसएमएस").
        ahead = rival is None or top.score >= RIVAL_RATIO * rival.score or (top.exact and not rival.exact)
        kind, _, value = top.result.partition(":")
        if ahead and (top.score >= SURE_SCORE or top.coverage >= SURE_COVERAGE):
            return Heard(kind, value)
        if top.score >= MIN_SCORE or top.coverage >= MIN_COVERAGE:
            # Unsure of a place or a person: ask. Other actions are quick to undo: just do them.
            return Heard(kind, value, sure=not (kind == "goto" or top.result == "action:operator"))
        return None

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
