"""Verify that a webhook really comes from Twilio (X-Twilio-Signature)."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from ipaddress import ip_address

from twilio.request_validator import (
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)
from werkzeug.datastructures import Headers, MultiDict
from werkzeug.wrappers import Request


@dataclass(frozen=True)
class Verdict:
    """Whether a request may pass, and why not (for the log)."""

    ok: bool
    reason: str = ""


def parse_shared_keys(raw: str | None) -> dict[str, str]:
    """Parse TWILIO_WEBHOOK_KEYS: 'keyid=secret,keyid2=secret2' (Webhook SharedKeys)."""
    keys: dict[str, str] = {}
    for item in (raw or "").split(","):
        key_id, sep, secret = item.strip().partition("=")
        if sep and key_id and secret:
            keys[key_id.strip()] = secret.strip()
    return keys


def _settings_key(header: str) -> str | None:
    for part in header.split(","):
        name, sep, value = part.partition("=")
        if sep and name.strip() == "key":
            return value.strip()
    return None


def verify(
    url: str,
    params: MultiDict[str, str],
    headers: Headers | Mapping[str, str],
    *,
    auth_token: str,
    shared_keys: Mapping[str, str],
) -> Verdict:
    """Check the signature of one request against the URL Twilio called and its POST params."""
    signature = headers.get(SIGNATURE_HEADER)
    if not signature:
        return Verdict(False, "missing X-Twilio-Signature")
    settings = headers.get(SIGNATURE_SETTINGS_HEADER, "")
    algorithm = get_signature_algorithm(settings)
    secret = auth_token
    if settings:
        key_id = _settings_key(settings)
        if key_id is not None and key_id not in shared_keys:
            return Verdict(False, f"unknown signing key {key_id!r}")
        secret = shared_keys.get(key_id or "", auth_token)
    validator = _validator(secret)
    if _signed_as_given(validator, url, _AllValues(params.lists()), signature, algorithm):
        return Verdict(True)
    if not validator.validate(url, params, signature, algorithm=algorithm):
        return Verdict(False, f"signature does not match ({algorithm})")
    return Verdict(True)


class _AllValues(dict[str, list[str]]):
    """The form as twilio's compute_signature asks first (getall), sparing it an exception per field."""

    def getall(self, name: str) -> list[str]:
        """Every value of one field."""
        return self[name]


@functools.lru_cache(maxsize=8)
def _validator(secret: str) -> RequestValidator:
    return RequestValidator(secret)


def _signed_as_given(
    validator: RequestValidator, url: str, params: _AllValues, signature: str, algorithm: str
) -> bool:
    """The common case, with one HMAC: signed for this very URL (validate() tries two port variants)."""
    if "bodySHA256" in url:  # a JSON body's hash must be checked too: validate() does it
        return False
    try:
        expected: str = validator.compute_signature(url, params, algorithm)
    except ValueError:  # an algorithm this twilio does not know: validate() refuses and logs it
        return False
    return hmac.compare_digest(expected.encode(), signature.encode())


def is_loopback(remote_addr: str | None) -> bool:
    """True for requests from this machine (the only ones the dev switch lets through)."""
    try:
        return remote_addr is not None and ip_address(remote_addr).is_loopback
    except ValueError:
        return False


def requested_url(request: Request, public_base_url: str | None = None) -> str:
    """The URL as the client asked for it, which is what Twilio signs.

    Not werkzeug's request.url: that decodes %-escapes in the query ("%2F" becomes "/", "%C3%A9"
    becomes "é"), and the signature of any such URL would never match.
    """
    base = public_base_url or f"{request.scheme}://{request.host}{request.root_path}"
    query = request.query_string.decode("utf-8", "replace")
    return f"{base}{request.path}?{query}" if query else f"{base}{request.path}"
