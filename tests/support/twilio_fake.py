"""A fake of Twilio's REST edge: a twilio.http.HttpClient that answers like the Messages, Calls and
Recordings APIs."""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from twilio.http import HttpClient
from twilio.http.response import Response


@dataclass
class Sent:
    """One request the line made to Twilio's REST API (`data`: the form it sent, Twilio's names)."""

    method: str
    uri: str
    data: dict[str, object]
    auth: tuple[str, str] | None


@dataclass
class FakeTwilioHttp(HttpClient):  # type: ignore[misc]
    """Records requests; replies 201 with a message SID (a call SID for Calls), or with the error
    it was told to give."""

    fail_with: tuple[int, int, str] | None = None  # (HTTP status, Twilio error code, message)
    sent: list[Sent] = field(default_factory=list)
    # Answers for the next requests, in order, before fail_with or success: None succeeds, a
    # (status, code, message) is Twilio's error, an exception is raised as the HTTP library would.
    script: list[tuple[int, int, str] | Exception | None] = field(default_factory=list)
    delay_s: float = 0.0  # how long Twilio takes to answer (for two senders at once)
    # Called with each call's CallSid and form as Twilio places it, before it answers the request:
    # a call's webhooks (its status callback...) may reach the line before calls.create returns.
    while_placing: Callable[[str, dict[str, object]], None] | None = None

    def __post_init__(self) -> None:
        super().__init__(logging.getLogger("fake-twilio"), is_async=False)

    def request(
        self,
        method: str,
        uri: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        """Answer one REST request."""
        self.sent.append(Sent(method, uri, dict(data or {}), auth))
        if self.delay_s:
            time.sleep(self.delay_s)
        failure = self.script.pop(0) if self.script else self.fail_with
        if isinstance(failure, Exception):
            raise failure
        if failure:
            status, code, message = failure
            body = {
                "code": code,
                "message": message,
                "more_info": f"https://www.twilio.com/docs/errors/{code}",
            }
            return Response(status, json.dumps(body))
        if method.upper() == "DELETE":  # e.g. a recording (Recordings/RE….json): Twilio answers 204, no body
            return Response(204, "")
        sid = ("CA" if uri.endswith("/Calls.json") else "SM") + secrets.token_hex(16)
        if self.while_placing is not None and uri.endswith("/Calls.json"):
            self.while_placing(sid, dict(data or {}))
        body = {
            "sid": sid,
            "status": "queued",
            "to": (data or {}).get("To"),
            "body": (data or {}).get("Body"),
            "from": (data or {}).get("From"),
        }
        return Response(201, json.dumps(body))
