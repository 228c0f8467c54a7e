"""Keep caller numbers out of logs and the database: a salted, keyed hash stands in for them, and
anything in free text that is written the way phone numbers are written is masked."""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping

MASK = "<number>"

# Digit runs that are kept, matched before a number can start inside them: Twilio SIDs, hex
# digests and pseudonyms (caller-…), ISO dates and times, IPv4 addresses and a host's port
# ("127.0.0.1:8000", "localhost:8000", "//line.example:8443": at most five digits after the colon,
# so that "http://127.0.0.1:45123 (1234)", gunicorn's address and pid, is not one 9-digit number;
# and the pid it gives in brackets after it),
# and process ids ("pid: 12345", at most 7 digits, Linux's largest).
_KEEP = (
    r"\b[A-Z]{2}[0-9a-fA-F]{32}\b"
    r"|\b(?=[0-9a-f]*[a-f])[0-9a-f]{12,64}\b"
    r"|\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?)?"
    r"|\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5}(?!\d)(?: \(\d{1,7}\))?)?"
    r"|(?:\blocalhost|//[\w.-]+|\[[0-9a-fA-F:]+\]):\d{1,5}(?!\d)(?: \(\d{1,7}\))?"
    r"|\bpid\b[:=]?\s?\d{1,7}(?!\d)"
)
# What people and URLs put between a number's digits: spaces (any, a form's "+" too), dashes,
# dots, slashes, brackets, and their URL-encoded forms (%20, %2D, %28, %29).
_SEP = r"(?:[\s()./\u2010-\u2015-]|%20|%2[dD]|%28|%29|\+(?=\d))"
# International form: +, %2B (a URL-encoded +) or 00 before the country code.
_INTL = r"(?:\+|%2[bB]|\b00(?=[1-9]))"
# Seven digits or more (a phone number's least, with its area code), at most two separators apart.
_NUMBER = rf"(?P<intl>{_INTL}{_SEP}?)?\d(?:{_SEP}{{0,2}}\d){{6,}}"
_SCAN = re.compile(f"(?P<keep>{_KEEP})|(?P<number>{_NUMBER})")
_MAYBE = re.compile(rf"\d(?:{_SEP}{{0,2}}\d){{6}}")
# A quantity, not a number: digits followed by their unit ("1534 ms", "1048576 bytes", "3600 s").
_UNIT = re.compile(r"\s?(?:ms|s|sec|secs|seconds|us|µs|ns|bytes|B|[kKMG]i?B|%)(?![\w])")


def caller_hash(number: str, salt: str) -> str:
    """The full pseudonym of a phone number (HMAC-SHA256 with the salt, 64 hex digits), for storage."""
    return hmac.new(salt.encode(), number.strip().encode(), hashlib.sha256).hexdigest()


def mask_numbers(text: str) -> str:
    """The text with every phone number in it replaced by <number>.

    A number is 7 digits or more, written any way numbers are written: +91 98765 43210, 0091
    98765-43210, (555) 123-4567, 555.123.4567, %2B919876543210 or +91%2098765%2043210 in a URL,
    digits glued to words, in any script's digits. Kept as they are: SIDs, digests, pseudonyms,
    dates and times, IPv4 addresses, a URL's port, a pid, and digits followed by a unit (a
    duration, a size). Any other run of 7 digits or more is masked: an id is lost now and then,
    a caller's number never shown.
    """
    if _MAYBE.search(text) is None:  # most lines: one quick scan instead of the full one
        return text

    def replace(match: re.Match[str]) -> str:
        if match.group("keep"):
            return match.group("keep")
        if not match.group("intl") and _UNIT.match(text, match.end()):
            return match.group("number")
        return MASK

    return _SCAN.sub(replace, text)


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
