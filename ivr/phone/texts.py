"""Text a topic to the caller: through Twilio's REST API when configured, always via the outbox."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from ivr.content.models import Block, Prompts
from ivr.content.tree import reading
from ivr.engine import Line
from ivr.store import Store

log = logging.getLogger("ivr.sms")
MAX_BODY = 1600  # Twilio's limit for one message body
REST_TIMEOUT_S = 5  # the caller is waiting on the line


def topic_text(line: Line, node: str, prompts: Prompts, lang: str) -> str:
    """The whole topic a node belongs to as one message: its title, each section's title and
    text (lists numbered, one item to a line), and the footer; cut to fit one message."""
    tree = line.content.tree
    topic = tree.topic_of(node)
    pieces = [tree.title(topic, lang)] if tree.is_series(topic) else []
    for sid in tree.topic_sections(topic):
        section = tree.section(sid, lang)
        if section.title not in pieces:  # a series' first section may share its title
            pieces.append(section.title)
        pieces += [block_text(b) for b in reading(section, line.emergency_number)]
    body = "\n\n".join([*pieces, prompts.phrases.sms_footer])
    if len(body) <= MAX_BODY:
        return body
    footer = "\n\n" + prompts.phrases.sms_footer
    return body[: MAX_BODY - len(footer) - 1].rstrip() + "…" + footer


def block_text(block: Block) -> str:
    """A block as plain text: a paragraph, or its list items numbered one to a line."""
    if block.items:
        return "\n".join(f"{block.start + i}. {item}" for i, item in enumerate(block.items))
    return block.text


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
