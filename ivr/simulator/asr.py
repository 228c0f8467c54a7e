"""Offline speech recognition of a caller's reply: pocketsphinx with a grammar of the menu's words."""

from __future__ import annotations

import re
import shutil
import subprocess
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

MODEL_RATE = 16000  # the en-us acoustic model shipped with pocketsphinx is 16 kHz, mono, 16-bit
# Padding after trimming: with none or with long silences the grammar search often ends on a
# partial phrase (measured with espeak voices: 0.1 s gave the best recognition).
PAD_SECONDS = "0.1"
# A female/klatt espeak voice is recognised far better than the default male voice by this model.
CALLER_VOICE = "en-us+klatt"
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)*")

# IPA (as espeak-ng --ipa prints it for en-us) to the CMU ARPAbet phones of the acoustic model.
# Longest symbols first, so diphthongs and affricates win over their parts.
_IPA = {
    "aɪ": "AY", "aʊ": "AW", "eɪ": "EY", "oʊ": "OW", "əʊ": "OW", "ɔɪ": "OY", "tʃ": "CH", "dʒ": "JH",
    "ɑː": "AA", "ɔː": "AO", "ɜː": "ER", "iː": "IY", "uː": "UW", "ɛə": "EH R", "ʊə": "UH R",
    "ɪə": "IH R", "n̩": "AH N", "l̩": "AH L", "m̩": "AH M",
    "ɑ": "AA", "æ": "AE", "ʌ": "AH", "ə": "AH", "ɐ": "AH", "ɔ": "AO", "ɒ": "AA", "ɛ": "EH", "e": "EH",
    "ɚ": "ER", "ɝ": "ER", "ɪ": "IH", "ᵻ": "IH", "i": "IY", "ʊ": "UH", "u": "UW", "o": "OW", "a": "AE",
    "b": "B", "d": "D", "ð": "DH", "f": "F", "ɡ": "G", "g": "G", "h": "HH", "k": "K", "l": "L",
    "ɫ": "L", "m": "M", "n": "N", "ŋ": "NG", "p": "P", "ɹ": "R", "r": "R", "s": "S", "ʃ": "SH",
    "t": "T", "θ": "TH", "v": "V", "w": "W", "j": "Y", "z": "Z", "ʒ": "ZH", "ɾ": "T", "x": "K",
    "ç": "HH", "ʔ": "",
}  # fmt: skip
_IPA_IGNORED = set("ˈˌː‍-_ \n")


class AsrError(RuntimeError):
    """Audio could not be prepared for recognition (sox missing, unreadable file)."""


def words(text: str) -> list[str]:
    """Lower-case words as the dictionary spells them: accents folded, punctuation dropped."""
    folded = unicodedata.normalize("NFKD", text.casefold()).encode("ascii", "ignore").decode()
    return _WORD.findall(folded)


def phrases_from_hints(hints: str) -> list[str]:
    """The phrases of a Gather's `hints` attribute (comma-separated, as Twilio reads it)."""
    return [p for p in (" ".join(words(h)) for h in hints.split(",")) if p]


def pcm16k(wav: Path) -> bytes:
    """A WAV as raw 16 kHz mono 16-bit samples, silence trimmed and padded, via sox."""
    sox = shutil.which("sox")
    if sox is None:
        raise AsrError("sox is not installed (bin/setup installs it)")
    trim = ["silence", "1", "0.02", "0.5%"]
    done = subprocess.run(
        [sox, "-q", str(wav), "-t", "raw", "-r", str(MODEL_RATE), "-c", "1", "-b", "16",
         "-e", "signed-integer", "-L", "-",
         *trim, "reverse", *trim, "reverse", "pad", PAD_SECONDS, PAD_SECONDS],
        capture_output=True,
        timeout=60,
        check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise AsrError(f"sox could not read {wav}: {done.stderr.decode(errors='replace')[-300:]}")
    return done.stdout


@lru_cache(maxsize=512)
def espeak_phones(word: str) -> str | None:
    """ARPAbet phones for a word the dictionary lacks, from espeak-ng's pronunciation; None if unsure."""
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        return None
    done = subprocess.run(
        [espeak, "-q", "--ipa", "-v", "en-us", word], capture_output=True, text=True, timeout=30, check=False
    )
    ipa = "".join(c for c in done.stdout if c not in _IPA_IGNORED)
    if done.returncode != 0 or not ipa:
        return None
    phones: list[str] = []
    i = 0
    while i < len(ipa):
        symbol = next((s for s in (ipa[i : i + 2], ipa[i]) if s in _IPA), None)
        if symbol is None:
            return None  # a sound this table does not know: better no word than a wrong one
        for phone in _IPA[symbol].split():
            # espeak writes linking r's (ɹɹ, ɚɹ) that the CMU dictionary folds into one.
            if not (phones and phone == "R" and phones[-1] in ("R", "ER")):
                phones.append(phone)
        i += len(symbol)
    return " ".join(phones) or None


@dataclass(frozen=True)
class Recognition:
    """What the recogniser heard: the text (maybe empty), its confidence, and if it is a whole phrase."""

    text: str
    confidence: float
    complete: bool  # False when the search ended part-way through a phrase of the grammar


@dataclass
class Grammar:
    """A JSGF grammar of alternative phrases, and the phrases left out for unknown words."""

    name: str
    phrases: tuple[str, ...]
    dropped: tuple[str, ...] = ()
    added_words: dict[str, str] = field(default_factory=dict)

    def jsgf(self) -> str:
        """The grammar as JSGF text: one public rule, the phrases as alternatives."""
        return f"#JSGF V1.0;\ngrammar {self.name};\npublic <reply> = {' | '.join(self.phrases)};\n"


class Recogniser:
    """Recognises short replies against a grammar of the phrases a menu accepts."""

    def __init__(self) -> None:
        from pocketsphinx import Decoder  # type: ignore[import-untyped]

        # Loading the acoustic model takes a few hundred milliseconds: done once per recogniser.
        self.decoder: Any = Decoder(loglevel="FATAL")
        self._grammars: dict[tuple[str, ...], Grammar] = {}

    def knows(self, word: str) -> bool:
        """Whether the pronouncing dictionary (with the words added so far) has this word."""
        return bool(self.decoder.lookup_word(word))

    def grammar(self, phrases: Iterable[str]) -> Grammar:
        """The grammar (built once per phrase set) of the given phrases, normalised to dictionary words."""
        wanted = tuple(dict.fromkeys(p for p in (" ".join(words(x)) for x in phrases) if p))
        if not wanted:
            raise ValueError("a grammar needs at least one phrase")
        if wanted in self._grammars:
            return self._grammars[wanted]
        kept: list[str] = []
        dropped: list[str] = []
        added: dict[str, str] = {}
        for phrase in wanted:
            ok = True
            for word in phrase.split():
                if self.knows(word):
                    continue
                phones = espeak_phones(word)
                if phones is None:
                    ok = False
                    break
                self.decoder.add_word(word, phones, True)
                added[word] = phones
            (kept if ok else dropped).append(phrase)
        if not kept:
            raise ValueError(f"no phrase of {wanted} could be pronounced")
        grammar = Grammar(f"menu{len(self._grammars)}", tuple(kept), tuple(dropped), added)
        self.decoder.add_jsgf_string(grammar.name, grammar.jsgf())
        self._grammars[wanted] = grammar
        return grammar

    def hear_pcm(self, pcm: bytes, grammar: Grammar) -> Recognition:
        """Decode raw 16 kHz mono 16-bit audio against a grammar."""
        self.decoder.activate_search(grammar.name)
        self.decoder.start_utt()
        self.decoder.process_raw(pcm, full_utt=True)
        self.decoder.end_utt()
        hyp = self.decoder.hyp()
        if hyp is None or not hyp.hypstr.strip():
            return Recognition("", 0.0, False)
        text = " ".join(hyp.hypstr.split())
        return Recognition(text, max(0.0, min(1.0, float(hyp.prob))), text in grammar.phrases)

    def hear(self, wav: Path, phrases: Iterable[str]) -> Recognition:
        """Recognise a WAV file (any rate; resampled with sox) as one of the phrases."""
        return self.hear_pcm(pcm16k(wav), self.grammar(phrases))
