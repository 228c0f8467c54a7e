"""Twilio's webhook bodies, parsed quicker than werkzeug's general path, to the same result.

Every webhook reads its whole form (the signature covers every field), so this runs once per
request. The common case (a urlencoded body with a Content-Length, within the size limit) is read
and split here; anything else goes through werkzeug unchanged.
"""

from __future__ import annotations

import codecs
from urllib.parse import unquote

import werkzeug.urls  # noqa: F401  (registers the "werkzeug.url_quote" codec error handler)
from flask import Request
from werkzeug.exceptions import ClientDisconnected

URLENCODED = "application/x-www-form-urlencoded"
# werkzeug registers this handler (re-quote bytes that are not UTF-8) when Flask imports it; fail at
# import, not on a caller's request, if that ever changes.
codecs.lookup_error("werkzeug.url_quote")


def form_pairs(text: str) -> list[tuple[str, str]]:
    """(name, value) pairs of a urlencoded string, exactly as werkzeug parses a form body."""
    # urllib's parse_qsl(text, keep_blank_values=True, errors="werkzeug.url_quote"), but unquoting
    # only the fields that need it (most of Twilio's need nothing).
    pairs = []
    for field in text.split("&"):
        if not field:
            continue
        name, _, value = field.partition("=")
        if "+" in name or "%" in name:
            name = unquote(name.replace("+", " "), errors="werkzeug.url_quote")
        if "+" in value or "%" in value:
            value = unquote(value.replace("+", " "), errors="werkzeug.url_quote")
        pairs.append((name, value))
    return pairs


class WebhookRequest(Request):
    """Flask's request, with the quick path for urlencoded forms."""

    def _load_form_data(self) -> None:
        if "form" in self.__dict__:
            return
        length = self.content_length
        limit = self.max_content_length
        if (
            self.mimetype != URLENCODED
            or length is None
            or (limit is not None and length > limit)  # werkzeug answers 413
            or "stream" in self.__dict__
            or "_cached_data" in self.__dict__
        ):
            super()._load_form_data()
            return
        stream = self.environ["wsgi.input"]
        body = stream.read(length) if length else b""
        if len(body) < length:
            raise ClientDisconnected()  # as werkzeug's LimitedStream does for a short body
        try:
            pairs = form_pairs(body.decode())
        except UnicodeDecodeError:
            pairs = []  # werkzeug's parser is silent about a body that is not UTF-8: an empty form
        d = self.__dict__
        d["stream"], d["form"], d["files"] = (
            stream,
            self.parameter_storage_class(pairs),
            self.parameter_storage_class(),
        )
