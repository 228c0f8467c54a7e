"""Phone numbers in the line's settings, checked with `phonenumbers` (libphonenumber) and kept in E.164.

A number the line dials (the help desk, a specialist, the emergency transfer) or sends texts from
must be a valid number in international form, so that a typo stops the line at start-up rather than
failing a caller's <Dial> later. The emergency number callers are told to dial (112, 108) is a short
local code, never dialled by the line: it is checked as such.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, ValidationResult, timezone

# A short code a caller dials: 2 to 6 digits (15 in France, 112, 108, 999, 10111 in South Africa).
_SHORT_CODE = re.compile(r"[0-9]{2,6}")
# An SMS short code Twilio sends from (5 or 6 digits), and a Messaging Service SID: MG and 32 hex.
_SMS_SHORT_CODE = re.compile(r"[0-9]{5,6}")
_MESSAGING_SERVICE = re.compile(r"MG[0-9a-fA-F]{32}")
# An alphanumeric sender ID as Twilio takes one: up to 11 ASCII letters, digits and spaces, one a letter.
_SENDER_ID = re.compile(r"(?=[A-Za-z0-9 ]*[A-Za-z])[A-Za-z0-9 ]{1,11}")

_PARSE_REASONS = {
    NumberParseException.INVALID_COUNTRY_CODE: "it has no country code, or an unknown one",
    NumberParseException.NOT_A_NUMBER: "it is not a phone number",
    NumberParseException.TOO_SHORT_AFTER_IDD: "it is too short",
    NumberParseException.TOO_SHORT_NSN: "it is too short",
    NumberParseException.TOO_LONG: "it is too long",
}
_LENGTH_REASONS = {
    ValidationResult.INVALID_COUNTRY_CODE: "its country code does not exist",
    ValidationResult.TOO_SHORT: "it is too short",
    ValidationResult.TOO_LONG: "it is too long",
    ValidationResult.INVALID_LENGTH: "it has the wrong number of digits",
}
FORM = "in international form, + and the country code (like +911140001234)"


class NumberError(ValueError):
    """A setting that is not a usable number; the message names the setting and says why."""


def phone_number(raw: str) -> str:
    """`raw` ("+91 11 4000-1234", "tel:+91-11-40001234") in E.164 ("+911140001234").

    ValueError (saying why, without the setting's name) unless it is a valid number, in
    international form, of a numbering plan known to the pinned `phonenumbers` release, and has no
    extension (a <Dial> cannot press one).
    """
    try:
        parsed = phonenumbers.parse(raw, None)
    except NumberParseException as exc:
        reason = _PARSE_REASONS.get(exc.error_type, "it is not a phone number")
        raise ValueError(f"must be a phone number {FORM}, not {raw!r}: {reason}") from exc
    if not phonenumbers.is_valid_number(parsed):
        why = phonenumbers.is_possible_number_with_reason(parsed)
        reason = _LENGTH_REASONS.get(why, "no such number exists in its country's numbering plan")
        raise ValueError(f"must be a phone number {FORM}, not {raw!r}: {reason}")
    if parsed.extension:
        raise ValueError(f"must be a phone number without an extension, not {raw!r}")
    return phonenumbers.format_number(parsed, PhoneNumberFormat.E164)


def short_code(raw: str) -> str:
    """A short local number callers are told to dial ("112", "108"): 2 to 6 digits, else ValueError."""
    code = raw.strip()
    if not _SHORT_CODE.fullmatch(code):
        raise ValueError(f"must be a short number of 2 to 6 digits, like 112 or 108, not {raw!r}")
    return code


def sms_sender(raw: str) -> str:
    """Who texts come from: a phone number (made E.164), a 5- or 6-digit short code, a Messaging
    Service SID (MG and 32 hex digits) or an alphanumeric sender ID (kept as given); else ValueError."""
    sender = raw.strip()
    if _SMS_SHORT_CODE.fullmatch(sender) or _MESSAGING_SERVICE.fullmatch(sender):
        return sender
    if sender.startswith("+") or not any(c.isalpha() for c in sender):
        return phone_number(sender)
    # "MG" and a typo is a Messaging Service SID gone wrong, not a sender ID.
    if _SENDER_ID.fullmatch(sender) and not sender.startswith("MG"):
        return sender
    raise ValueError(
        "must be a phone number, a short code, a Messaging Service SID (MG and 32 hex digits) or a"
        f" sender ID (up to 11 letters, digits and spaces), not {raw!r}"
    )


# Numbers a text can reach: mobiles, and numbers whose plan does not tell mobiles from landlines
# (the US, Canada). Never landlines, toll-free, premium-rate, shared-cost or other kinds: the ones
# SMS pumping fraud buys traffic to, and ones that cannot take a text (Twilio error 21614).
_TEXTABLE = frozenset(
    {phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE}
)
_CALLABLE = _TEXTABLE | {phonenumbers.PhoneNumberType.FIXED_LINE}


def calling_codes(raw: str) -> str:
    """Country calling codes texts may go to (IVR_SMS_COUNTRY_CODES: "91", "+91, +44") as the
    canonical "91,44"; ValueError unless each is a country code of the ITU plan phonenumbers knows."""
    codes: list[int] = []
    for item in raw.replace(" ", "").split(","):
        digits = item.removeprefix("+")
        if (
            not (digits.isascii() and digits.isdigit())  # not "²" or "٩١": int() refuses or misreads them
            or len(digits) > 3
            or phonenumbers.region_code_for_country_code(int(digits)) == "ZZ"
        ):
            raise ValueError(
                f"must be country calling codes separated by commas, like 91 or 91,44, not {raw!r}"
            )
        if int(digits) not in codes:
            codes.append(int(digits))
    return ",".join(str(code) for code in codes)


def why_not_textable(raw: str, codes: str) -> str | None:
    """Why a caller's number (Twilio's From) cannot be texted, or None when it can: "malformed"
    (not a valid number in international form), "country" (its calling code is not one of `codes`,
    as made by calling_codes) or "kind" (a landline, toll-free, premium-rate or other non-mobile)."""
    return _why_not(raw, codes, _TEXTABLE)


def why_not_callable(raw: str, codes: str) -> str | None:
    """Why a caller's number may not be called back (a missed call's free call-back), or None when
    it may: as why_not_textable, but landlines may be called too; never toll-free, premium-rate,
    shared-cost or other kinds (the numbers toll fraud pays to have called)."""
    return _why_not(raw, codes, _CALLABLE)


def _why_not(raw: str, codes: str, kinds: frozenset[int]) -> str | None:
    try:
        parsed = phonenumbers.parse(raw.strip(), None)
    except NumberParseException:
        return "malformed"
    if not raw.strip().startswith("+") or not phonenumbers.is_valid_number(parsed) or parsed.extension:
        return "malformed"
    if str(parsed.country_code) not in codes.split(","):
        return "country"
    if phonenumbers.number_type(parsed) not in kinds:
        return "kind"
    return None


def as_dialled(raw: str, codes: str) -> str | None:
    """A number as people write it (IVR_LINE_NUMBER: "+91 11 4000 1234", or "011-4000 1234" in the
    country of the first of `codes`, as made by calling_codes) in E.164; None if it is none."""
    region = phonenumbers.region_code_for_country_code(int(codes.split(",")[0] or 0))
    try:
        parsed = phonenumbers.parse(raw, region)
    except NumberParseException:
        return None
    return (
        phonenumbers.format_number(parsed, PhoneNumberFormat.E164)
        if phonenumbers.is_valid_number(parsed)
        else None
    )


def time_zone_of(number: str) -> str | None:
    """The time zone (an IANA name) where a number in E.164 rings, when libphonenumber knows exactly
    one for it (an Indian number: Asia/Calcutta; +1 212: America/New_York); None when it knows
    several (a UK mobile: London, Jersey, Guernsey, the Isle of Man; a US mobile) or none."""
    try:
        zones = timezone.time_zones_for_number(phonenumbers.parse(number, None))
    except NumberParseException:
        return None
    return zones[0] if len(zones) == 1 and zones[0] != timezone.UNKNOWN_TIMEZONE else None


def phone_numbers(raw: str) -> str:
    """A list of the line's own numbers (IVR_MISSED_CALL_NUMBERS: "+91 11 4000 1234, +91...") as
    "E164,E164" (phone_number each; "" for none); ValueError naming the first that is not valid."""
    found: list[str] = []
    for item in raw.split(","):
        if item.strip() and (number := phone_number(item.strip())) not in found:
            found.append(number)
    return ",".join(found)


# What Twilio and carriers send as From when the caller's number is hidden: these words, or the same
# words spelt on a phone's keypad as digits (Twilio sends "+266696687", ANONYMOUS, for one).
WITHHELD_WORDS = frozenset(
    {"anonymous", "restricted", "unknown", "unavailable", "blocked", "private", "withheld"}
)
_KEYPAD = str.maketrans("abcdefghijklmnopqrstuvwxyz", "22233344455566677778889999")
# The words spelt on a keypad: 266696687 (ANONYMOUS), 7378742833 (RESTRICTED), 8656696 (UNKNOWN)...
WITHHELD_DIGITS = frozenset(word.translate(_KEYPAD) for word in WITHHELD_WORDS)
# What may stand between a number's digits as people write it: spaces, dashes, dots, brackets, slashes.
_NUMBER_CHARS = re.compile(r"\+?[0-9\s\-.()/\u2010-\u2015]*")
_SEPARATORS = re.compile(r"[\s\-.()/\u2010-\u2015]")
MIN_DIGITS, MAX_DIGITS = 6, 15  # E.164 has at most 15 digits; fewer than 6 is no one's number


@dataclass(frozen=True, slots=True)
class CallerNumber:
    """A caller's From, read once: `reachable` is the number in E.164 the line may call or text
    back (None: withheld, hidden or not a valid number); `identity` is what the caller's pseudonym
    is made of: the E.164 number, else the digits of a number-like From ("+" kept), else None."""

    reachable: str | None
    identity: str | None


def caller_number(raw: str) -> CallerNumber:
    """Twilio's From (or any spelling of a number: "+91 98765-43210", "0091 98765 43210",
    "+91 098765 43210", "tel:+919876543210") read once, so that every spelling of one number is one
    caller (one pseudonym, one daily text cap, one call-back number).

    Never reachable: a withheld sentinel in any spelling ("anonymous", "Restricted", "266696687",
    "+7378742833", "+1 737 874 2833"), a SIP or client address, a number without its country code
    (no + or 00: the line cannot know whose it is), one that is not valid in libphonenumber's plan
    ("+000000000", "+15551234567") or has an extension. Raises nothing: junk is simply unreachable."""
    text = raw.strip().lower().removeprefix("tel:").strip()
    if not text or text in WITHHELD_WORDS or not _NUMBER_CHARS.fullmatch(text):
        return CallerNumber(None, None)
    digits = _SEPARATORS.sub("", text)
    international = digits.startswith(("+", "00"))
    digits = digits.removeprefix("+")
    if international:
        digits = digits.removeprefix("00")  # 00 is the international prefix: "0091..." is "+91..."
    if (
        not digits.isdigit()
        or not MIN_DIGITS <= len(digits) <= MAX_DIGITS
        or set(digits) == {"0"}
        or _withheld(digits)
    ):
        return CallerNumber(None, None)
    if not international:
        return CallerNumber(None, digits)
    try:
        parsed = phonenumbers.parse("+" + digits, None)
    except NumberParseException:
        return CallerNumber(None, "+" + digits)
    if not phonenumbers.is_valid_number(parsed):
        return CallerNumber(None, "+" + digits)
    e164 = phonenumbers.format_number(parsed, PhoneNumberFormat.E164)  # the trunk 0 of "+91 0..." goes
    return CallerNumber(e164, e164)


def _withheld(digits: str) -> bool:
    """Whether these digits are a withheld sentinel, bare or after the North American code 1."""
    return digits in WITHHELD_DIGITS or (digits.startswith("1") and digits[1:] in WITHHELD_DIGITS)
