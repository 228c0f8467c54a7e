"""Keep caller numbers out of logs and the database: a salted, keyed hash stands in for them, and
anything in free text that is written the way phone numbers are written is masked."""

from __future__ import annotations

import functools
import hashlib
import hmac
import html
import re
import unicodedata
from collections.abc import Callable, Mapping
from urllib.parse import unquote

MASK = "<number>"

# Decoding first: a number spelt through an encoding (%2B91%5F98765, &#57;, \u0039, &nbsp;, a
# zero-width space, ९८७६५) is the same number once decoded. Percent and entity decoding repeat (a
# double-encoded %252B is a %2B), a bounded number of times.
_DECODE_ROUNDS = 8
_ESCAPE = re.compile(r"\\(?:x([0-9a-fA-F]{2})|u([0-9a-fA-F]{4})|U([0-9a-fA-F]{8})|([nrtfv0]))")
_CONTROL = {"n": "\n", "r": "\r", "t": "\t", "f": "\f", "v": "\v", "0": "\0"}
# What separates a number's digits: anything neither letter nor digit ("_" too), at most this many in
# a row ("+91 - 98765 - 43210" has three; a wider gap is taken as two numbers).
_SEP = r"[\W_]"
_GAP = 5
# A run: digits separated only by short separators, with a leading "+" (an international number).
_RUN = re.compile(rf"(?P<plus>\+{_SEP}{{0,3}})?(?P<run>\d(?:{_SEP}{{0,{_GAP}}}\d)*)")
_MIN_DIGITS = 7  # a phone number's least, with its area code
# Words kept whole, found before a run can start inside them: Twilio SIDs (two letters and exactly
# 32 hex digits), hex digests (32 hex digits or more: an MD5's length; a shorter hex word is masked
# like any other) and the line's own pseudonyms (caller- and the first 12 hex digits of an HMAC,
# ivr/phone/callers.py: an attacker could write a number in that shape, but never the line).
_WORD = re.compile(r"(?<![^\W_])(?:[A-Z]{2}[0-9a-fA-F]{32}|[0-9a-fA-F]{32,}|caller-[0-9a-f]{12})(?![^\W_])")
_SCAN = re.compile(rf"(?P<word>{_WORD.pattern})|{_RUN.pattern}")
# The only runs of 7 digits or more that are kept: IPv4 addresses (with a port, and gunicorn's pid
# in brackets after it) and ISO dates (with a clock time, its seconds' fraction and UTC offset), one
# or several; clock times ("10:08:32.123456", "09:00-17:00", after a date's T). A
# run with a leading "+" is an international number, never kept. Times only with their limits
# (hours to 23, minutes to 59), so that "98:76:54:32:10" is a number.
_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_PORT = r"\d{1,5}(?: \(\d{1,7})?"
_HHMM = r"(?:[01]?\d|2[0-3]):[0-5]\d"
_TIME = rf"{_HHMM}(?::[0-5]\d(?:[.,]\d{{1,9}})?)?(?: ?[+-](?:[01]\d|2[0-3]):?[0-5]\d)?"
_DATE = rf"\d{{4}}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])(?:[T ]{_TIME})?"
_STAMP = rf"(?:{_OCTET}(?:\.{_OCTET}){{3}}(?::{_PORT})?|{_DATE})"
# Clock times joined by anything but a colon: "12:34:56:12:34" is a number, not two times.
_KEPT = re.compile(rf"{_STAMP}(?:{_SEP}{{1,{_GAP}}}{_STAMP})*|{_TIME}(?:(?:[^\w:]|_){{1,{_GAP}}}{_TIME})*")
# ...or a host's port ("localhost:8000 (1234)", "//line.example:8443") or a pid ("pid: 12345"), by
# what comes just before the run.
_PORT_BEFORE = re.compile(r"(?:\blocalhost|//[\w.-]+|\])\Z")
_PID_BEFORE = re.compile(r"\bpid\b[:=]? ?\Z")


def caller_hash(number: str, salt: str) -> str:
    """The full pseudonym of a phone number (HMAC-SHA256 with the salt, 64 hex digits), for storage."""
    return hmac.new(salt.encode(), number.strip().encode(), hashlib.sha256).hexdigest()


def mask_numbers(text: str) -> str:
    """The text with every phone number in it replaced by <number>.

    A number is a run of 7 digits or more separated only by short runs (at most 5) of anything that
    is neither letter nor digit: +91 98765 43210, 0091-98765-43210, (555) 123-4567, +91_98765_43210,
    +91 - 98765 - 43210, glued to words (abc9876543210def) or to a unit (9876543210ms: a long
    duration masked is harmless, a number shown is not), in any script's digits, after decoding
    what hides it (%XX repeatedly, HTML entities, backslash escapes, NFKC, zero-width characters).
    Kept: Twilio SIDs, hex digests of 32 digits or more, caller- pseudonyms, and runs made only of
    IPv4 addresses, ports, pids, ISO dates and clock times. What is not masked stays as written.
    """
    if len(text) <= _CACHED_LENGTH:
        return _mask_short(text)
    return _mask(text)


# Each access line masks the same short atoms again and again (the client's address, the time to
# the second, the path, the call's step): remembered, they cost a lookup (py-spy, bench/webhooks.py).
_CACHED_LENGTH = 256


def _mask(text: str) -> str:
    if sum(map(str.isdigit, text)) < _MIN_DIGITS:  # most lines: no number can be in them
        return text
    plain, spans = _decoded(text)
    masked: list[tuple[int, int]] = []  # spans of `text` to replace, in order
    for match in _SCAN.finditer(plain):
        run = match.group("run")
        if match.group("word") or sum(map(str.isdigit, run)) < _MIN_DIGITS or _kept(plain, match):
            continue
        start, end = spans[match.start()][0], spans[match.end() - 1][1]
        if masked and start < masked[-1][1]:  # two runs decoded from one escape: one mask
            masked[-1] = (masked[-1][0], max(end, masked[-1][1]))
        else:
            masked.append((start, end))
    out, at = [], 0
    for start, end in masked:
        out += [text[at:start], MASK]
        at = end
    return "".join(out) + text[at:]


_mask_short = functools.lru_cache(maxsize=4096)(_mask)


def _kept(text: str, match: re.Match[str]) -> bool:
    """Whether a run of 7 digits or more is one of the few that are not phone numbers."""
    run, start = match.group("run"), match.start("run")
    if match.group("plus") is not None:
        return False
    before = text[max(0, start - 80) : start]
    if before.endswith(":") and _PORT_BEFORE.search(before[:-1]):
        return re.fullmatch(_PORT, run) is not None
    if _PID_BEFORE.search(before):
        return re.fullmatch(r"\d{1,7}", run) is not None
    return _KEPT.fullmatch(run) is not None


# Encodings undone, each by a pattern and what a match decodes to.
_ENCODED: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (re.compile(r"(?:%[0-9a-fA-F]{2})+"), lambda m: unquote(m.group(), errors="replace")),
    (
        re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});?"),
        lambda m: html.unescape(m.group()),
    ),
    (_ESCAPE, lambda m: _unescape(m)),
)


def _decoded(text: str) -> tuple[str, list[tuple[int, int]]]:
    """`text` as a reader would see it, and for each of its characters the span of `text` it came
    from: percent-encoding, HTML entities and backslash escapes undone (repeatedly, for double
    encoding), NFKC (fullwidth and circled digits made plain), format characters (zero-width spaces
    and joiners) dropped. The spans let a number found in the decoded text be masked in the text
    as it was written, which is otherwise left as it is."""
    chars, spans = list(text), [(i, i + 1) for i in range(len(text))]
    for _ in range(_DECODE_ROUNDS):
        changed = False
        for pattern, decode in _ENCODED:
            current = "".join(chars)
            new_chars: list[str] = []
            new_spans: list[tuple[int, int]] = []
            at = 0
            for match in pattern.finditer(current):
                decoded = decode(match)
                if decoded == match.group():
                    continue
                changed = True
                new_chars += chars[at : match.start()]
                new_spans += spans[at : match.start()]
                source = (spans[match.start()][0], spans[match.end() - 1][1])
                new_chars += list(decoded)
                new_spans += [source] * len(decoded)
                at = match.end()
            chars, spans = new_chars + chars[at:], new_spans + spans[at:]
        if not changed:
            break
    if "".join(chars).isascii():
        return "".join(chars), spans
    plain_chars: list[str] = []
    plain_spans: list[tuple[int, int]] = []
    for char, span in zip(chars, spans, strict=True):
        if unicodedata.category(char) == "Cf":
            continue
        plain = unicodedata.normalize("NFKC", char) if not char.isascii() else char
        plain_chars += list(plain)
        plain_spans += [span] * len(plain)
    return "".join(plain_chars), plain_spans


def _unescape(match: re.Match[str]) -> str:
    code = match.group(1) or match.group(2) or match.group(3)
    if code is None:
        return _CONTROL[match.group(4)]
    point = int(code, 16)
    return chr(point) if point < 0x110000 and not 0xD800 <= point < 0xE000 else "\ufffd"


def mask_fields(value: object) -> object:
    """`value` with every string in it masked (mask_numbers), at any depth: the values and keys of
    mappings, the items of lists, tuples and sets. A number stays a number unless its digits would
    be masked (919876543210 is a caller's); None and bools stay; anything else is made a string."""
    if isinstance(value, str):
        return mask_numbers(value)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value if mask_numbers(str(value)) == str(value) else MASK
    if isinstance(value, Mapping):
        return {mask_numbers(str(key)): mask_fields(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [mask_fields(item) for item in value]
    return mask_numbers(str(value))
