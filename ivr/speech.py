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


def _end_of(words: list[str], phrase: list[str]) -> int | None:
    """Where the last occurrence of phrase ends in words, or None."""
    n = len(phrase)
    ends = [i + n for i in range(len(words) - n + 1) if n and words[i : i + n] == phrase]
    return ends[-1] if ends else None


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
    words = normalise(utterance).split()
    if not words:
        return None
    skip = {normalise(f) for f in fillers}
    core = [w for w in words if w not in skip]
    if len(core) == 1:
        if core[0].isdigit() and len(core[0]) == 1:
            return core[0]
        for digit, names in numbers.items():
            if core[0] in {normalise(n) for n in names}:
                return str(digit)
    # Longest phrase wins; on a tie, the one said last ("tell me about treatment").
    best: tuple[int, int, str] | None = None
    for result, phrases in choices.items():
        for phrase in phrases:
            tokens = normalise(phrase).split()
            end = _end_of(words, tokens)
            if end is not None and (best is None or (len(tokens), end) > best[:2]):
                best = (len(tokens), end, result)
    return best[2] if best else None
