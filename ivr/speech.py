"""What a caller said, made comparable: one loose Latin spelling for English, Hindi and Hinglish.

A hi-IN recogniser writes Devanagari ("साँस नहीं आ रही", "ट्रीटमेंट"), an en-IN one writes English
or Hindi in Latin letters ("saans nahi aa rahi", "ilaaj batao"). Both become the same loose tokens
("sans nahi a rahi", "ilaj batao"): Devanagari is transliterated with indic-transliteration (IAST),
then Hindi's silent vowels are dropped and spellings that callers and recognisers vary are folded
(aa/a, ee/i, z/j, w/v, doubled letters...). Phrases are then matched token by token with rapidfuzz,
so a word misheard by a letter or two still counts.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from indic_transliteration import sanscript
from rapidfuzz import fuzz, process
from rapidfuzz.distance import Levenshtein

FUZZY_MIN = 86  # rapidfuzz ratio (0-100) for two longer tokens to count as the same word
SHORT = 4  # tokens of up to this many letters must match exactly (or nearly: one letter for 4)
PREFIX_MIN = 5  # letters a word needs for its longer forms to count as it (Lexicon word_forms)
_DEVANAGARI = re.compile(r"[\u0900-\u097f]")
_CONTRACTION = re.compile(r"n['\u2019]t\b")
_IAST_FOLD = str.maketrans(
    {
        "ā": "a", "ī": "i", "ū": "u", "ṛ": "ri", "ṝ": "ri", "ḷ": "l", "ṭ": "t", "ḍ": "d", "ṇ": "n",
        "ṃ": "n", "ṅ": "n", "ñ": "n", "ś": "sh", "ṣ": "sh", "ḥ": "h", "~": "n", "ē": "e", "ō": "o",
        "ॉ": "o", "ॅ": "e",
    }
)  # fmt: skip
_CONSONANT = "bcdfghjklmnpqrstvwxyzṭḍṇśṣṅñṃ"  # Latin and IAST consonants
_VOWELS = frozenset("aeiou")
# Spellings callers and recognisers vary, folded to one (order matters: longest first).
_LOOSE = (
    ("chch", "ch"), ("aa", "a"), ("ee", "i"), ("ea", "i"), ("oo", "u"), ("ii", "i"), ("uu", "u"),
    ("ph", "f"), ("ck", "k"), ("q", "k"), ("z", "j"), ("w", "v"), ("y", "i"), ("x", "ks"),
)  # fmt: skip
# Hindi verbs agree with who does them (sakta/sakti/sakte, raha/rahi/rahe), and plural nouns take
# -iyon/-iyan (davaiyon, goliyan): one form of each for matching.
_AGREEMENT = re.compile(r"(?:(?<=[a-z]{2})t|^rah)[ie]$")
_PLURAL = re.compile(r"(?<=[a-z]{3})i(?:on|an|en|in)$")
_NASAL_I = re.compile(r"(?<=[ीई])[ंँ]$")
# Hindi writes a glide before a final e or not (गये / गए, आये / आए) and Hinglish with a y ("gaye").
_GLIDE = re.compile(r"(?<=[aou])ie$")
_SILENT_E = re.compile(r"(?<=[a-z]{2}[^aeiou])e$")  # English "phone", "please": said without it
_C_SOFT = re.compile(r"c(?=[eiy])")  # English c sounds s before e, i, y ("ambulance")
_C_HARD = re.compile(r"c(?!h)")  # and k elsewhere ("doctor"); "ch" stays


@lru_cache(maxsize=8192)  # the same option phrases are normalised on every request
def normalise(text: str) -> str:
    """Lower-case words only: punctuation folded, spaces collapsed; vowel signs (Devanagari) kept."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    # "can't" and "cant" are the same word, whichever a recogniser writes: one token, not "can t".
    folded = _CONTRACTION.sub("nt", folded)
    # Letters, marks and digits make words: \w alone would split "हिंदी" at its vowel signs.
    kept = "".join(c if unicodedata.category(c)[0] in "LMN" else " " for c in folded)
    return " ".join(kept.split())


def _drop_schwas(word: str) -> str:
    """Hindi does not say most inherent vowels that IAST writes: a final one, and one between two
    consonants that a vowel follows (kamazorī -> kamzorī, simpaṭams -> simpṭams, nigala -> nigal)."""
    if len(word) > 2 and word.endswith("a") and word[-2] in _CONSONANT:
        word = word[:-1]
    out = list(word)
    for i in range(len(out) - 3, 1, -1):
        between = out[i - 1] in _CONSONANT and out[i + 1] in _CONSONANT
        if out[i] == "a" and between and out[i + 2] not in _CONSONANT:
            del out[i]
    return "".join(out)


@lru_cache(maxsize=16384)
def loose_word(word: str) -> str:
    """One word in the loose Latin spelling that Devanagari and Latin writing share."""
    if _DEVANAGARI.search(word):
        # Nukta letters are written two ways; IAST keeps only the base letter either way. The
        # English "o" of डॉक्टर is not Sanskrit: read it as ो.
        word = unicodedata.normalize("NFD", word).replace("\u093c", "").replace("ॉ", "ो").replace("ऑ", "ओ")
        # A nasal after a final ī is said or not: "गईं"/"गई", "रहीं"/"रही", "नहीं"/"nahi".
        word = _NASAL_I.sub("", word)
        word = _drop_schwas(sanscript.transliterate(word, sanscript.DEVANAGARI, sanscript.IAST).lower())
        word = word.replace("c", "ch")  # IAST c is च, which Hinglish writes "ch" (छ: "chh")
    else:
        word = _C_HARD.sub("k", _C_SOFT.sub("s", word))
    word = unicodedata.normalize("NFD", word.translate(_IAST_FOLD))
    word = "".join(c for c in word if unicodedata.category(c)[0] != "M")
    for spelt, folded in _LOOSE:
        word = word.replace(spelt, folded)
    word = re.sub(r"(.)\1+", r"\1", word)  # doubled letters: "sirr" -> "sir"
    word = _GLIDE.sub("e", word)  # "gaye" and "गये" are "गए": gae
    word = _AGREEMENT.sub(lambda m: m.group(0)[:-1] + "a", word)
    word = _SILENT_E.sub("", _PLURAL.sub("i", word))
    # Hinglish writes a closing h freely ("yeh", "kyah"): not after a consonant ("sh", "th" stay).
    return word[:-1] if len(word) > 2 and word[-1] == "h" and word[-2] in "aeiou" else word


@lru_cache(maxsize=8192)  # the menus' phrases, fillers and digit names are split on every utterance
def tokens(text: str) -> tuple[str, ...]:
    """An utterance or a phrase as loose tokens."""
    return tuple(t for t in (loose_word(w) for w in normalise(text).split()) if t)


@lru_cache(maxsize=65536)
def similar(said: str, known: str) -> float:
    """How alike two loose tokens are: 1 when the same; 0.6 to 0.9 when near (one letter off in a
    word of 4 or more, two in one of 10 or more, or rapidfuzz's ratio at least FUZZY_MIN), so that
    a word heard exactly outweighs one heard nearly; 0 otherwise (always, under 4 letters; at 4,
    unless only a letter inside or at the end differs: `_short_slip`)."""
    if said == known:
        return 1.0
    shorter = min(len(said), len(known))
    if shorter < SHORT:
        return 0.0
    if shorter == SHORT and not _short_slip(said, known):
        return 0.0
    edits = 2 if shorter >= 10 else 1
    score = fuzz.ratio(said, known)
    if Levenshtein.distance(said, known, score_cutoff=edits) > edits and score < FUZZY_MIN:
        return 0.0
    return 0.6 + 0.3 * max(0.0, score - 75) / 25


def _short_slip(said: str, known: str) -> bool:
    """Whether a four-letter word was likely heard a letter off: the same first letter, and either
    the same last letter ("svas" / "shvas", "dard" / "dord") or a nasal or a vowel more at the end
    ("nahi" / "nahin": Hindi's endings are written freely). Anything else makes another word ("sans"
    breath / "fans" stuck, "thik" fine / "thin", "thin" / "think")."""
    if said[0] != known[0]:
        return False
    if said[-1] == known[-1]:
        # A letter added inside ("svas" / "shvas", "menu" / "meniu") or a vowel changed ("dard" /
        # "dord"); a consonant changed makes another word ("hath" hand / "hash", "nahi" / "nali").
        if len(said) != len(known):
            return True
        changed = [(a, b) for a, b in zip(said, known, strict=True) if a != b]
        return all(a in _VOWELS and b in _VOWELS for a, b in changed)
    longer, shorter = (said, known) if len(said) > len(known) else (known, said)
    return longer.startswith(shorter) and longer[len(shorter) :] in ("n", "a", "e", "i", "o", "u", "h")


@dataclass(frozen=True)
class Hit:
    """A destination found in an utterance: how much of what was said it explains."""

    result: str
    score: float  # the summed weight of the utterance's tokens its best phrase matched
    coverage: float  # that score as a share of the utterance's whole weight (0..1)
    phrase: str  # the phrase that matched, for logs and benches
    exact: bool = False  # every word of the phrase was heard exactly, none nearly


class Lexicon:
    """Phrases for each result (an action, a place, a language...), matched fuzzily in utterances.

    A token's weight is how much it tells: words many results share ("muscle", "disease") weigh
    less, `stopwords` ("please", "mujhe", "the") weigh little, and words no phrase has count as
    unexplained. A phrase matches when its tokens appear in the utterance in order, gaps allowed.
    """

    def __init__(
        self,
        choices: Mapping[str, Iterable[str]],
        stopwords: Iterable[str] = (),
        *,
        fuzzy_from: int = SHORT,
        word_forms: bool = False,
    ) -> None:
        # Words shorter than `fuzzy_from` letters must be heard exactly ("fits" is not "meets").
        self._fuzzy_from = max(fuzzy_from, SHORT)
        # With word_forms, a word heard with a longer ending counts as the word: "breathlessness" as
        # "breathless", "बेहोशी" as "बेहोश" (words of PREFIX_MIN letters or more).
        self._word_forms = word_forms
        self._stop = frozenset(t for s in stopwords for t in tokens(s))
        self._phrases: list[tuple[str, tuple[str, ...], str]] = []
        owners: dict[str, set[str]] = {}
        alone: dict[str, set[str]] = {}  # results with the token as a whole phrase
        for result, phrases in choices.items():
            for phrase in phrases:
                said = tokens(phrase)
                if said:
                    self._phrases.append((result, said, phrase))
                    for token in said:
                        owners.setdefault(token, set()).add(result)
                    content = [t for t in said if t not in self._stop]
                    if len(content) == 1:
                        alone.setdefault(content[0], set()).add(result)
        self._vocabulary = sorted(owners)
        # A word that names one result by itself ("लक्षण") tells that result, even if others use it
        # inside longer phrases ("लक्षण और कारण").
        self._weight = {t: self._weigh(t, len(alone.get(t) or owners[t])) for t in owners}
        self._by_token: dict[str, list[int]] = {}
        for i, (_, said, _) in enumerate(self._phrases):
            for token in set(said):
                self._by_token.setdefault(token, []).append(i)

    def _weigh(self, token: str, owners: int) -> float:
        if token in self._stop:
            return 0.1
        return max(0.25, 1.0 / owners)

    def weight(self, token: str) -> float:
        """How much a token of an utterance tells (unknown words: 0.5, they are left unexplained)."""
        return self._weight.get(token, 0.1 if token in self._stop else 0.5)

    def _near(self, token: str) -> dict[str, float]:
        """The vocabulary tokens a said token may be, with how alike they are."""
        found = {token: 1.0} if token in self._weight else {}
        if self._word_forms:
            # The vocabulary words the token starts with, at most 5 letters shorter: its own prefixes
            # looked up (not a scan of the vocabulary), shortest first, which is their sorted order.
            for end in range(max(PREFIX_MIN, len(token) - 5), len(token) + 1):
                if token[:end] in self._weight:
                    found.setdefault(token[:end], 0.9)
        if len(token) >= self._fuzzy_from:
            # rapidfuzz's C scan narrows the vocabulary first: every pair `similar` accepts has a
            # ratio of at least 60 (one letter changed in four letters is 75), so none is lost.
            for known, _score, _ in process.extract(
                token, self._vocabulary, scorer=fuzz.ratio, score_cutoff=60, limit=None
            ):
                sim = similar(token, known) if len(known) >= self._fuzzy_from else 0.0
                if sim:
                    found.setdefault(known, sim)
        return found

    def hits(self, utterance: str | Sequence[str]) -> list[Hit]:
        """Every result with a phrase in the utterance, best first (one hit per result)."""
        said = tokens(utterance) if isinstance(utterance, str) else tuple(utterance)
        if not said:
            return []
        near = [self._near(t) for t in said]
        total = sum(self.weight(t) for t in said)
        candidates = {i for options in near for known in options for i in self._by_token.get(known, ())}
        best: dict[str, Hit] = {}
        for i in sorted(candidates):
            result, phrase_tokens, phrase = self._phrases[i]
            score = self._match(phrase_tokens, said, near)
            if score and (result not in best or score > best[result].score):
                exact = all(t in said for t in phrase_tokens if t not in self._stop)
                best[result] = Hit(result, score, min(1.0, score / total), phrase, exact)
        return sorted(best.values(), key=lambda h: (-h.score, -h.coverage, h.result))

    def _match(self, phrase: tuple[str, ...], said: tuple[str, ...], near: list[dict[str, float]]) -> float:
        """The weight a phrase explains if its words appear in order (at most 2 words between);
        its small words ("the", "se") may be missing or other, when it has any other word."""
        # Long phrases only, and never more than half of one: "symptoms and causes" is found in
        # "symptoms aur causes", but "more time" is not found in "all the time".
        optional = len(phrase) >= 3 and any(t not in self._stop for t in phrase)
        score, at, found_words = 0.0, -1, 0
        for token in phrase:
            start, stop = at + 1, len(said) if at < 0 else min(len(said), at + 4)
            found = next((j for j in range(start, stop) if token in near[j]), None)
            if found is None:
                if optional and token in self._stop:
                    continue
                return 0.0
            score += self.weight(said[found]) * near[found][token]
            at = found
            found_words += 1
        if 2 * found_words < len(phrase):
            return 0.0
        # A longer phrase found whole is surer than its words one by one.
        return score * (1 + 0.15 * (found_words - 1))


def spoken_digit(
    utterance: str, numbers: Mapping[str, Iterable[str]], fillers: Iterable[str] = ()
) -> str | None:
    """A bare number said as a key ("two", "press 3", "दो दबाओ"), or None."""
    skip = {t for f in fillers for t in tokens(f)}
    core = [t for t in tokens(utterance) if t not in skip]
    if len(core) != 1:
        return None
    if core[0].isdigit() and len(core[0]) == 1:
        return core[0]
    for digit, names in numbers.items():
        if core[0] in {t for name in names for t in tokens(name)}:
            return str(digit)
    return None
