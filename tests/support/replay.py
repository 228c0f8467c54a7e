"""Twilio's redeliveries, made by hand: one webhook request sent again, or several times at once."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from urllib.parse import urljoin

from flask import Flask

from ivr.simulator import Phone
from tests.support.app import BASE_URL

TOKEN_HEADER = "I-Twilio-Idempotency-Token"


def waiting_action(phone: Phone) -> str:
    """The absolute action URL of the <Gather> or <Record> the phone's caller is at."""
    assert phone.gather is not None, "the caller is not at a Gather or a Record"
    return urljoin(phone.gather_url, phone.gather.get("action", ""))


def deliver(
    app: Flask,
    phone: Phone,
    url: str,
    form: Mapping[str, str],
    *,
    copies: int = 1,
    token: str | None = None,
    without: tuple[str, ...] = (),
) -> list[tuple[int, str]]:
    """POST one request of the phone's call `copies` times at once (each in its own thread and test
    client, released together), signed as Twilio signs it; each (status, body), in thread order.
    `form` adds to or replaces the call's fields (CallSid, From...); `without` leaves fields out."""
    params = {"CallSid": phone.call_sid, "AccountSid": phone.account_sid, "From": phone.caller, **form}
    params = {name: value for name, value in params.items() if name not in without}
    headers = phone.signed_headers(url, params)
    if token is not None:
        headers[TOKEN_HEADER] = token
    path = url.removeprefix(BASE_URL)
    start = threading.Barrier(copies)
    replies: list[tuple[int, str]] = [(0, "")] * copies

    def one(i: int) -> None:
        client = app.test_client()
        start.wait(10)
        response = client.post(path, data=params, headers=headers)
        replies[i] = (response.status_code, response.get_data(as_text=True))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(copies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return replies
