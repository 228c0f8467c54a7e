"""Text a topic to the caller: through Twilio's REST API when configured, always via the outbox."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from ivr.content.models import Prompts
from ivr.content.tree import Tree
from ivr.store import Store

log = logging.getLogger("ivr.sms")
MAX_BODY = 1600  # Twilio's limit for one message body
REST_TIMEOUT_S = 5  # the caller is waiting on the line


def topic_text(tree: Tree, node: str, prompts: Prompts, lang: str) -> str:
    """The whole topic as one message: title, every part, and the footer."""
    section = tree.section(node, lang)
    body = "\n\n".join([section.title, *filter(None, section.web_parts), prompts.phrases.sms_footer])
    if len(body) <= MAX_BODY:
        return body
    footer = "\n\n" + prompts.phrases.sms_footer
    return body[: MAX_BODY - len(footer) - 1].rstrip() + "…" + footer


@dataclass
class SmsSender:
    """Queues every message in the store's outbox, then sends it now if Twilio is configured."""

    store: Store
    account_sid: str | None
    auth_token: str | None
    sender: str | None  # a number or a Messaging Service SID ("MG...")
    http_client: Any = None  # a twilio.http.HttpClient; tests pass a fake of Twilio's REST edge

    @property
    def configured(self) -> bool:
        """Whether messages go out now (otherwise they wait in the outbox)."""
        return bool(self.account_sid and self.auth_token and self.sender)

    def send(self, call_sid: str, to: str, body: str) -> str:
        """Send or queue a message: "sent", "saved" (in the outbox for later) or "failed"."""
        sms_id = self.store.queue_sms(call_sid, to, body)
        if not self.configured:
            return "saved" if sms_id is not None else "failed"
        client = Client(
            self.account_sid,
            self.auth_token,
            http_client=self.http_client or TwilioHttpClient(timeout=REST_TIMEOUT_S),
        )
        where: dict[str, str] = (
            {"messaging_service_sid": str(self.sender)}
            if str(self.sender).startswith("MG")
            else {"from_": str(self.sender)}
        )
        try:
            message = client.messages.create(to=to, body=body, **where)
        except TwilioException as exc:
            reason = (
                f"Twilio error {exc.code}: {exc.msg}" if isinstance(exc, TwilioRestException) else str(exc)
            )
            log.warning("text for call=%s not sent: %s", call_sid, reason.splitlines()[0][:200])
            if sms_id is not None:
                self.store.sms_failed(sms_id, reason)
            return "failed"
        if sms_id is not None:
            self.store.sms_sent(sms_id, str(message.sid))
        return "sent"
