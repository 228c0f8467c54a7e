"""Match what a caller said to a reserved action, a menu option or a spoken digit."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

_FILLERS = frozenset({"press", "number", "option", "key", "please", "the", "um", "uh", "er"})


def normalise(text: str) -> str:
    """Lower-case words only: punctuation and accents folded, spaces collapsed."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return " ".join(re.findall(r"\w+", folded))


def _end_of(words: list[str], phrase: list[str]) -> int | None:
    """Where the last occurrence of phrase ends in words, or None."""
    n = len(phrase)
    ends = [i + n for i in range(len(words) - n + 1) if n and words[i : i + n] == phrase]
    return ends[-1] if ends else None


def match(
    utterance: str,
    choices: Mapping[str, Iterable[str]],
    numbers: Mapping[Any, Iterable[str]],
) -> str | None:
    """The choice whose phrase is the longest found in the utterance, or a spoken digit.

    `choices` maps a result (an action name or an option key) to its phrases; a
    bare number ("two", "press 2") returns that digit.
    """
    words = normalise(utterance).split()
    if not words:
        return None
    core = [w for w in words if w not in _FILLERS]
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
