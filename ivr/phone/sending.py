"""The outbox sender: queued texts really go out, with retries and back-off.

`SmsSender.send_due` (ivr/phone/texts.py) does one pass: it claims each due text before sending it,
so any number of senders may run at once and none sends a text another has. It runs

- in every process that serves the line, on a daemon thread started with its first request, every
  SEND_EVERY_S seconds, when Twilio's credentials are set (not under tests, which call it directly);
- from `flask --app app sms send-outbox` (one pass; `--every N` to keep going), for an operator's
  cron job or systemd timer, or to drain the outbox by hand.
"""

from __future__ import annotations

import logging
import os
import threading
import time

import click
from flask import Flask
from flask.cli import AppGroup

from ivr import services
from ivr.phone.texts import SmsSender

log = logging.getLogger("ivr.sms")
SEND_EVERY_S = 10.0  # how often a serving process looks for due texts (the first retry is at 30 s)

sms = AppGroup("sms", help="Texts to callers: the outbox (sms_outbox) and its sender.")
_started: dict[int, int] = {}  # id(SmsSender) -> the pid whose thread sends for it
_lock = threading.Lock()


def init_app(app: Flask) -> None:
    """Start the sender thread with each serving process's first request (after a fork, too)."""
    app.cli.add_command(sms)
    if app.testing:
        return

    @app.before_request
    def _start_sender() -> None:
        sender = services.sms()
        if sender.configured and _started.get(id(sender)) != os.getpid():
            start(sender)


def start(sender: SmsSender, every: float = SEND_EVERY_S) -> bool:
    """Start this process's sender thread for `sender`; False if one runs already."""
    with _lock:
        if _started.get(id(sender)) == os.getpid():
            return False
        _started[id(sender)] = os.getpid()
    threading.Thread(target=_loop, args=(sender, every), name="sms-outbox", daemon=True).start()
    return True


def _loop(sender: SmsSender, every: float) -> None:
    while True:
        _one_pass(sender)
        time.sleep(every)


def _one_pass(sender: SmsSender) -> dict[str, int]:
    try:
        done = sender.send_due()
    except Exception:  # a sender must outlive any one failure: the next pass tries again
        log.exception("the outbox sender's pass failed; trying again later")
        return {}
    if any(done.values()):
        log.info("outbox: %s", " ".join(f"{what}={n}" for what, n in sorted(done.items()) if n))
    return dict(done)


@sms.command("send-outbox")
@click.option(
    "--every", type=click.FloatRange(min=1), default=None, help="Keep going, a pass every N seconds."
)
def send_outbox(every: float | None) -> None:
    """Send the texts that are due now (each claimed first: safe beside the app's own sender)."""
    sender = services.sms()
    if not sender.configured:
        raise click.ClickException(
            "texts cannot be sent: set TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_SMS_FROM"
        )
    while True:
        done = _one_pass(sender)
        click.echo(
            " ".join(
                f"{what}={done.get(what, 0)}" for what in ("sent", "retry", "failed", "claimed", "abandoned")
            )
        )
        if every is None:
            return
        time.sleep(every)
