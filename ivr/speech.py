"""Match what a caller said to a reserved action, a menu option or a spoken digit."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any


@lru_cache(maxsize=8192)  # the same option phrases are normalised on every request
def normalise(text: str) -> str:
    """Lower-case words only: punctuation folded, spaces collapsed; vowel signs (Devanagari) kept."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    # Letters, marks and digits make words: \w alone would split "हिंदी" at its vowel signs.
    kept = "".join(c if unicodedata.category(c)[0] in "LMN" else " " for c in folded)
    return " ".join(kept.split())


class Matcher:
    """Phrases made ready once (normalised, indexed by first word), to match many utterances quickly."""

    def __init__(
        self,
        choices: Mapping[str, Iterable[str]],
        numbers: Mapping[Any, Iterable[str]],
        fillers: Iterable[str] = (),
    ) -> None:
        self._by_first: dict[str, list[tuple[tuple[str, ...], int, str]]] = {}
        order = 0
        for result, phrases in choices.items():
            for phrase in phrases:
                tokens = tuple(normalise(phrase).split())
                if tokens:
                    self._by_first.setdefault(tokens[0], []).append((tokens, order, result))
                    order += 1
        self._skip = frozenset(normalise(f) for f in fillers)
        self._digits: dict[str, str] = {}
        for digit, names in numbers.items():
            for name in names:
                self._digits.setdefault(normalise(name), str(digit))

    def match(self, utterance: str) -> str | None:
        """The choice whose phrase is the longest found in the utterance, or a spoken digit.

        On a tie the phrase said last wins ("tell me about treatment"), then the one listed first.
        """
        words = normalise(utterance).split()
        if not words:
            return None
        core = [w for w in words if w not in self._skip]
        if len(core) == 1:
            if core[0].isdigit() and len(core[0]) == 1:
                return core[0]
            if core[0] in self._digits:
                return self._digits[core[0]]
        best: tuple[int, int, int, str] | None = None  # (words in the phrase, where it ends, -order, result)
        for start, word in enumerate(words):
            for tokens, order, result in self._by_first.get(word, ()):
                end = start + len(tokens)
                if tuple(words[start:end]) == tokens and (
                    best is None or (len(tokens), end, -order) > best[:3]
                ):
                    best = (len(tokens), end, -order, result)
        return best[3] if best else None


def match(
    utterance: str,
    choices: Mapping[str, Iterable[str]],
    numbers: Mapping[Any, Iterable[str]],
    fillers: Iterable[str] = (),
) -> str | None:
    """The choice whose phrase is the longest found in the utterance, or a spoken digit.

    `choices` maps a result (an action name or an option key) to its phrases; a
    bare number ("two", "press 2") returns that digit.
    """
    return Matcher(choices, numbers, fillers).match(utterance)
