"""The senders: queued texts really go out, and due call-backs are really placed, with retries.

`SmsSender.send_due` (ivr/phone/texts.py) and `CallBacks.place_due` (ivr/phone/callbacks.py) each do
one pass: they claim each due text or call-back before acting on it, so any number of senders may
run at once and none sends a text, or places a call, another has. Each runs

- in every process that serves the line, on a daemon thread started with its first request, every
  SEND_EVERY_S seconds, when Twilio's credentials are set (not under tests, which call it directly);
- from `flask --app app sms send-outbox` and `flask --app app callbacks place-due` (one pass;
  `--every N` to keep going), for an operator's cron job or systemd timer, or by hand.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Callable

import click
from flask import Flask
from flask.cli import AppGroup

from ivr import services

log = logging.getLogger("ivr.sms")
SEND_EVERY_S = 10.0  # how often a serving process looks for due work (the first retry is at 30 s)

sms = AppGroup("sms", help="Texts to callers: the outbox (sms_outbox) and its sender.")
callbacks = AppGroup("callbacks", help="Missed calls' free call-backs (missed_calls) and their placer.")
_started: dict[str, int] = {}  # the name of a sender's thread -> the pid in which it runs
_lock = threading.Lock()
Pass = Callable[[], Counter[str]]


def init_app(app: Flask) -> None:
    """Start the sender threads with each serving process's first request (after a fork, too)."""
    app.cli.add_command(sms)
    app.cli.add_command(callbacks)
    if app.testing:
        return

    @app.before_request
    def _start_senders() -> None:
        sender, placer = services.sms(), services.callbacks()
        if sender.configured:
            start(f"sms-outbox-{id(sender)}", sender.send_due, "the outbox sender")
        if placer.configured:
            start(f"call-backs-{id(placer)}", placer.place_due, "the call-back placer")


def start(name: str, work: Pass, what: str, every: float = SEND_EVERY_S) -> bool:
    """Start this process's thread `name` doing `work` every `every` seconds; False if it runs already."""
    with _lock:
        if _started.get(name) == os.getpid():
            return False
        _started[name] = os.getpid()
    threading.Thread(target=_loop, args=(work, what, every), name=name, daemon=True).start()
    return True


def _loop(work: Pass, what: str, every: float) -> None:
    while True:
        _one_pass(work, what)
        time.sleep(every)


def _one_pass(work: Pass, what: str) -> dict[str, int]:
    try:
        done = work()
    except Exception:  # a sender must outlive any one failure: the next pass tries again
        log.exception("%s's pass failed; trying again later", what)
        return {}
    if any(done.values()):
        log.info("%s: %s", what, " ".join(f"{key}={n}" for key, n in sorted(done.items()) if n))
    return dict(done)


def _run(work: Pass, what: str, every: float | None, counts: tuple[str, ...]) -> None:
    """Passes of `work` from the command line, each echoed as its counts."""
    while True:
        done = _one_pass(work, what)
        click.echo(" ".join(f"{key}={done.get(key, 0)}" for key in counts))
        if every is None:
            return
        time.sleep(every)


EVERY = click.option(
    "--every", type=click.FloatRange(min=1), default=None, help="Keep going, a pass every N seconds."
)


@sms.command("send-outbox")
@EVERY
def send_outbox(every: float | None) -> None:
    """Send the texts that are due now (each claimed first: safe beside the app's own sender)."""
    sender = services.sms()
    if not sender.configured:
        raise click.ClickException(
            "texts cannot be sent: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_SMS_FROM"
        )
    _run(sender.send_due, "the outbox sender", every, ("sent", "retry", "failed", "claimed", "abandoned"))


@callbacks.command("place-due")
@EVERY
def place_due(every: float | None) -> None:
    """Place the call-backs that are due now (each claimed first: safe beside the app's own placer)."""
    placer = services.callbacks()
    if not placer.configured:
        raise click.ClickException(
            "call-backs cannot be placed: set IVR_MISSED_CALL_NUMBERS, PUBLIC_BASE_URL,"
            " TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"
        )
    counts = ("placed", "retry", "failed", "claimed", "held", "abandoned", "silent", "purged", "deleted")
    _run(placer.place_due, "the call-back placer", every, counts)
