"""Render engine steps as TwiML with the twilio library."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from twilio.twiml.voice_response import Gather, Say, VoiceResponse

from ivr.content.models import Prompts
from ivr.engine import CallState, Kind, Step, timeout_for
from ivr.lexicon import spoken_form

UrlFor = Callable[[CallState, dict[str, str]], str]
PROSODY = {"slow": "80%", "fast": "125%"}  # SSML prosody rates; "normal" adds no prosody


class Voice(Protocol):
    """How a sentence reaches the caller: spoken by Twilio (<Say>) or played from audio (<Play>)."""

    def speak(self, verb: VoiceResponse | Gather, text: str, prompts: Prompts, rate: str) -> None:
        """Append the verb that voices `text` at `rate` (normal, slow or fast) to `verb`."""


class SayVoice:
    """Twilio's own text-to-speech, in the language and voice the prompts name."""

    def speak(self, verb: VoiceResponse | Gather, text: str, prompts: Prompts, rate: str) -> None:
        """Append a <Say> of `text`, wrapped in SSML <prosody> when the rate is not normal."""
        if rate not in PROSODY:
            verb.say(text, voice=prompts.voice, language=prompts.language)
            return
        say = Say(voice=prompts.voice, language=prompts.language)
        say.prosody(text, rate=PROSODY[rate])
        verb.append(say)


def render(
    step: Step,
    prompts_for: Callable[[str], Prompts],
    *,
    step_url: UrlFor,
    dial_url: UrlFor,
    voice: Voice,
    timeout: int,
    dial_timeout: int = 30,
) -> VoiceResponse:
    """Turn a step into a TwiML document Twilio can follow."""
    response = VoiceResponse()

    def speak_all(verb: VoiceResponse | Gather) -> None:
        for i, text in enumerate(step.say):
            prompts = prompts_for(step.language_of(i))
            voice.speak(verb, spoken_form(text, prompts.lexicon), prompts, step.state.rate)

    if step.kind is Kind.GATHER:
        gather = Gather(
            input="dtmf speech",
            action=step_url(step.state, {}),
            method="POST",
            timeout=timeout_for(step.state, timeout),
            num_digits=1,
            # Twilio's default finishOnKey is #, which would swallow "hash for the main menu".
            finish_on_key="",
            speech_timeout="auto",
            language=prompts_for(step.state.lang).language,
            hints=", ".join(step.hints) or None,
        )
        speak_all(gather)
        response.append(gather)
        # Twilio falls through to the next verb when the caller says nothing.
        response.redirect(step_url(step.state, {"t": "1"}), method="POST")
    elif step.kind is Kind.TRANSFER:
        speak_all(response)
        response.dial(step.number, action=dial_url(step.state, {}), method="POST", timeout=dial_timeout)
    else:
        speak_all(response)
        response.hangup()
    return response
