"""Pronunciation lexicon: terms written one way, spoken another ("NMD" -> "N M D")."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache


@lru_cache(maxsize=32)
def _pattern(terms: tuple[str, ...]) -> re.Pattern[str]:
    # Longest first, so that "e.g." wins over "e"; whole words only.
    ordered = sorted(terms, key=len, reverse=True)
    return re.compile(r"(?<!\w)(" + "|".join(re.escape(t) for t in ordered) + r")(?!\w)")


def spoken_form(text: str, lexicon: Mapping[str, str]) -> str:
    """The text with every lexicon term replaced by how it should be said."""
    if not lexicon:
        return text
    return _pattern(tuple(lexicon)).sub(lambda m: lexicon[m.group(1)], text)
