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


def _contains(words: list[str], phrase: list[str]) -> bool:
    n = len(phrase)
    return n > 0 and any(words[i : i + n] == phrase for i in range(len(words) - n + 1))


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
                return digit
    best: tuple[int, str] | None = None
    for result, phrases in choices.items():
        for phrase in phrases:
            tokens = normalise(phrase).split()
            if _contains(words, tokens) and (best is None or len(tokens) > best[0]):
                best = (len(tokens), result)
    return best[1] if best else None
