"""The spellings of one webhook URL that Twilio may have signed, as Twilio's SDKs try them.

Twilio signs the URL as it was configured, and the SDKs accept a request whose URL matches the
signed one up to these differences, each pinned by a vector in tests/data/twilio-signature-vectors.json:

- the port: with or without the scheme's default port, or without a custom one (every SDK: "adds
  port 443/80", "removes port"), also after credentials (`user:pass@host:443`) and on IPv6 hosts
  (twilio-node "should toggle the port after userinfo and on IPv6 hosts");
- the escaping of the query, as twilio-node tries it: as received ("validated as received, without
  re-encoding"), re-encoded as a browser's URL parser does (the WHATWG URL standard: `'` becomes
  `%27`), and parsed and re-written by Node's legacy `querystring` (`%27` becomes `'`, `+` `%20`).

The scheme, credentials, host and path are kept as written: twilio-csharp refuses a mixed-case host
signed in lower case ("TestValidateDictionaryMixedCaseWithIncorrectSignature").
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote, unquote

# The bytes the WHATWG URL standard leaves as they are in the query of an http(s) URL: printable
# ASCII less space, '"', '#', '<', '>' and "'" (its "special-query percent-encode set"). '%' stays:
# an escape already there is not escaped again.
_WHATWG_QUERY_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in "\"#<>'")
# Node's querystring.escape leaves these besides letters, digits and "-._~" (quote keeps those).
_NODE_QS_SAFE = "!'()*"
_DEFAULT_PORTS = {"https": "443"}  # any other scheme: 80, as every SDK does


def signed_forms(url: str) -> list[str]:
    """Every spelling of `url` that a signature may have been computed over, `url` itself first.

    Shape: a list of distinct URL strings (at most nine). A string that is not `scheme://...`
    has no other spelling.
    """
    return list(spellings(url))


def spellings(url: str) -> Iterator[str]:
    """`signed_forms(url)` one at a time, each worked out only when asked for: almost every real
    request matches on `url` itself, and the other eight cost more than the HMAC (py-spy)."""
    yield url
    seen = {url}
    for spell in (_same, _whatwg_query, _node_querystring):
        spelled = spell(url)
        for form in (spelled, _with_port(spelled), _without_port(spelled)):
            if form not in seen:
                seen.add(form)
                yield form


def _same(url: str) -> str:
    return url


def _authority(url: str) -> tuple[str, str, str, str, str] | None:
    """(scheme, userinfo with its '@', host, ':port' or '', the rest from the path on), or None."""
    scheme, sep, rest = url.partition("://")
    if not sep or not scheme:
        return None
    end = len(rest)
    for stop in "/?#":
        at = rest.find(stop)
        if at != -1:
            end = min(end, at)
    authority, tail = rest[:end], rest[end:]
    userinfo, at_sign, hostport = authority.rpartition("@")
    if hostport.startswith("["):  # an IPv6 literal: its colons are not the port's
        close = hostport.find("]") + 1
        host, port = hostport[:close], hostport[close:]
    else:
        colon = hostport.find(":")
        host, port = (hostport, "") if colon == -1 else (hostport[:colon], hostport[colon:])
    return scheme, userinfo + at_sign, host, port, tail


def _with_port(url: str) -> str:
    """The URL with the scheme's default port when it names none (https 443, else 80)."""
    parts = _authority(url)
    if parts is None or parts[3]:
        return url
    scheme, userinfo, host, _, tail = parts
    return f"{scheme}://{userinfo}{host}:{_DEFAULT_PORTS.get(scheme.lower(), '80')}{tail}"


def _without_port(url: str) -> str:
    """The URL with no port at all."""
    parts = _authority(url)
    if parts is None or not parts[3]:
        return url
    scheme, userinfo, host, _, tail = parts
    return f"{scheme}://{userinfo}{host}{tail}"


def _split_query(url: str) -> tuple[str, str | None, str]:
    """(everything before the query, the query or None, '#fragment' or '')."""
    before_fragment, hash_sign, fragment = url.partition("#")
    head, question, query = before_fragment.partition("?")
    return head, (query if question else None), hash_sign + fragment


def _whatwg_query(url: str) -> str:
    """The query percent-encoded as the WHATWG URL parser (Node's `new URL()`) writes it."""
    head, query, fragment = _split_query(url)
    if query is None:
        return url
    return f"{head}?{quote(query, safe=_WHATWG_QUERY_SAFE)}{fragment}"


def _node_querystring(url: str) -> str:
    """The query parsed and written again by Node's legacy querystring (twilio-node's second try)."""
    head, query, fragment = _split_query(url)
    if not query:
        return url
    fields: dict[str, list[str]] = {}
    for field in query.split("&"):
        if field:
            name, _, value = field.partition("=")
            fields.setdefault(_qs_unescape(name), []).append(_qs_unescape(value))
    written = "&".join(
        f"{quote(name, safe=_NODE_QS_SAFE)}={quote(value, safe=_NODE_QS_SAFE)}"
        for name in _js_key_order(fields)
        for value in fields[name]
    )
    return f"{head}?{written}{fragment}"


def _qs_unescape(text: str) -> str:
    """Node's querystring.unescape after '+' is a space (a malformed escape is kept as it is)."""
    return unquote(text.replace("+", " "))


def _js_key_order(fields: dict[str, list[str]]) -> list[str]:
    """The order a JavaScript object lists its keys in: array indexes ascending, then the rest as
    they came (querystring.stringify walks the object that parse built)."""
    indexes = [k for k in fields if k.isascii() and k.isdigit() and str(int(k)) == k and int(k) < 2**32 - 1]
    return sorted(indexes, key=int) + [k for k in fields if k not in indexes]
