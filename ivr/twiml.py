"""Render engine steps as TwiML with the twilio library."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from twilio.twiml.voice_response import Gather, VoiceResponse

from ivr.content.models import Prompts
from ivr.engine import CallState, Kind, Step

UrlFor = Callable[[CallState, dict[str, str]], str]


class Voice(Protocol):
    """How a sentence reaches the caller: spoken by Twilio (<Say>) or played from audio (<Play>)."""

    def speak(self, verb: VoiceResponse | Gather, text: str, prompts: Prompts) -> None:
        """Append the verb that voices `text` to `verb`."""


class SayVoice:
    """Twilio's own text-to-speech, in the language and voice the prompts name."""

    def speak(self, verb: VoiceResponse | Gather, text: str, prompts: Prompts) -> None:
        """Append a <Say> of `text`."""
        verb.say(text, voice=prompts.voice, language=prompts.language)


def render(
    step: Step,
    prompts: Prompts,
    *,
    step_url: UrlFor,
    dial_url: UrlFor,
    voice: Voice,
    timeout: int,
    dial_timeout: int = 30,
) -> VoiceResponse:
    """Turn a step into a TwiML document Twilio can follow."""
    response = VoiceResponse()
    if step.kind is Kind.GATHER:
        gather = Gather(
            input="dtmf speech",
            action=step_url(step.state, {}),
            method="POST",
            timeout=timeout,
            num_digits=1,
            speech_timeout="auto",
            language=prompts.language,
            hints=", ".join(step.hints) or None,
        )
        for text in step.say:
            voice.speak(gather, text, prompts)
        response.append(gather)
        # Twilio falls through to the next verb when the caller says nothing.
        response.redirect(step_url(step.state, {"t": "1"}), method="POST")
    elif step.kind is Kind.TRANSFER:
        for text in step.say:
            voice.speak(response, text, prompts)
        response.dial(step.number, action=dial_url(step.state, {}), method="POST", timeout=dial_timeout)
    else:
        for text in step.say:
            voice.speak(response, text, prompts)
        response.hangup()
    return response
