"""Verify that a webhook really comes from Twilio (X-Twilio-Signature)."""

from __future__ import annotations

import functools
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from ipaddress import ip_address
from urllib.parse import parse_qsl, quote

from twilio.request_validator import (
    HMAC_SHA1,
    HMAC_SHA256,
    SIGNATURE_HEADER,
    SIGNATURE_SETTINGS_HEADER,
    RequestValidator,
    get_signature_algorithm,
)
from werkzeug.datastructures import Headers, MultiDict
from werkzeug.wrappers import Request

from ivr.phone.signed_urls import spellings


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
    body: bytes | None = None,
    also: Sequence[str] = (),
) -> Verdict:
    """Check the signature of one request, as Twilio's SDKs do (tests/data/twilio-signature-vectors.json).

    `url` is the URL Twilio requested (`also`: other URLs it may have been asked by, such as with
    the request's Basic credentials), `params` its POST form, `body` its raw body. A URL whose query
    carries bodySHA256 is a JSON webhook: Twilio signed the URL alone, and the body must hash (SHA-256,
    lower-case hex) to that value; the form is not part of it. Otherwise the signature covers the URL
    and every form field. Each URL is tried in the spellings of `signed_urls.signed_forms`.
    """
    signature = headers.get(SIGNATURE_HEADER)
    if not signature:
        return Verdict(False, "missing X-Twilio-Signature")
    settings = headers.get(SIGNATURE_SETTINGS_HEADER, "")
    algorithm = get_signature_algorithm(settings)
    if algorithm.upper() not in (HMAC_SHA1, HMAC_SHA256):
        return Verdict(False, f"unsupported signature algorithm {algorithm!r}")
    secret = auth_token
    if settings:
        key_id = _settings_key(settings)
        if key_id is not None and key_id not in shared_keys:
            return Verdict(False, f"unknown signing key {key_id!r}")
        secret = shared_keys.get(key_id or "", auth_token)
    hashes = body_hashes(url)
    if hashes is not None:
        if body is None or not all(_same(hashlib.sha256(body).hexdigest(), h) for h in hashes):
            return Verdict(False, "the body does not match bodySHA256")
        fields = _AllValues()  # Twilio signs a JSON webhook's URL only
    else:
        fields = _AllValues(params.lists())
    validator = _validator(secret)
    for candidate in (url, *also):
        for form in spellings(candidate):
            if _same(validator.compute_signature(form, fields, algorithm), signature):
                return Verdict(True)
    return Verdict(False, f"signature does not match ({algorithm})")


def body_hashes(url: str) -> list[str] | None:
    """The bodySHA256 values in the URL's query (None when it has none; blank values count).

    Every one must match the body: twilio-python and twilio-node read the first, twilio-csharp the
    last, and Twilio sends one.
    """
    query = url.partition("#")[0].partition("?")[2]
    if "bodySHA256" not in query:
        return None
    values = [v for k, v in parse_qsl(query, keep_blank_values=True) if k == "bodySHA256"]
    return values or None


def _same(a: str, b: str) -> bool:
    """Constant-time equality of two strings (any characters: a header may hold anything)."""
    return hmac.compare_digest(a.encode(), b.encode())


class _AllValues(dict[str, list[str]]):
    """The form as twilio's compute_signature asks first (getall), sparing it an exception per field."""

    def getall(self, name: str) -> list[str]:
        """Every value of one field."""
        return self[name]


@functools.lru_cache(maxsize=8)
def _validator(secret: str) -> RequestValidator:
    return RequestValidator(secret)


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


def with_credentials(url: str, request: Request) -> list[str]:
    """The URL with the request's HTTP Basic credentials written in, as Twilio signs a webhook URL
    configured as `https://user:pass@host/...` (it sends them as Basic auth, not in the URL; the
    SDKs' "urls with credentials" vectors). Empty when the request has none or the URL has its own.
    """
    auth = request.authorization
    scheme, sep, rest = url.partition("://")
    if auth is None or auth.type != "basic" or not auth.username or not sep or "@" in rest.split("/")[0]:
        return []
    # As written in the URL: the user as given, and percent-encoded where a URL would need it.
    forms = []
    for user, password in {
        (auth.username, auth.password or ""),
        (_userinfo(auth.username), _userinfo(auth.password or "")),
    }:
        userinfo = f"{user}:{password}" if password else user  # "just username": user@host
        forms.append(f"{scheme}://{userinfo}@{rest}")
    return sorted(forms)


def _userinfo(text: str) -> str:
    return quote(text, safe="!$&'()*+,;=")
