"""Render engine steps as TwiML with the twilio library."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from twilio.twiml.voice_response import Dial, Gather, Say, VoiceResponse

from ivr.content.models import Prompts
from ivr.engine import PART_PAUSE_S, PATIENCE, CallState, Kind, Step
from ivr.lexicon import spoken_form

UrlFor = Callable[[CallState, Mapping[str, str | None]], str]  # extra query parameters (None: left out)
PROSODY = {"slow": "80%", "fast": "125%"}  # SSML prosody rates; "normal" adds no prosody


def gather_timeout(step: Step, base: int) -> int:
    """Seconds a <Gather> waits after its last word: a short pause between a topic's parts (then it
    plays on), else `base`; longer as the caller asks for (or shows they need) more time."""
    return round((PART_PAUSE_S if step.playing else base) * PATIENCE[step.state.patience])


class Narrator(Protocol):
    """How a sentence reaches the caller: spoken by Twilio (<Say>) or played from audio (<Play>)."""

    def speak(self, verb: VoiceResponse | Gather, text: str, prompts: Prompts, rate: str) -> None:
        """Append the verb that voices `text` at `rate` (normal, slow or fast) to `verb`."""


class SayNarrator:
    """Twilio's own text-to-speech, in the language and voice the prompts name."""

    def speak(self, verb: VoiceResponse | Gather, text: str, prompts: Prompts, rate: str) -> None:
        """Append a <Say> of `text`, wrapped in SSML <prosody> when the rate is not normal."""
        if rate not in PROSODY:
            verb.say(text, voice=prompts.voice, language=prompts.language)
            return
        say = Say(voice=prompts.voice, language=prompts.language)
        say.prosody(text, rate=PROSODY[rate])
        verb.append(say)


@dataclass(frozen=True)
class Urls:
    """Where each kind of request goes; each builder takes the state and extra query parameters."""

    step: UrlFor  # a Gather's action and its no-input fallback
    dial: UrlFor  # after a transfer ends (Dial or Enqueue action)
    record: UrlFor  # after a recorded question
    hold: UrlFor  # what a caller hears while waiting in a queue
    whisper: UrlFor  # what the person answering hears before the caller is put through


def render(
    step: Step,
    prompts_for: Callable[[str], Prompts],
    *,
    urls: Urls,
    narrator: Narrator,
    timeout: int,
    dial_timeout: int = 20,
    record_seconds: int = 120,
) -> VoiceResponse:
    """Turn a step into a TwiML document Twilio can follow."""
    response = VoiceResponse()

    def speak_all(verb: VoiceResponse | Gather) -> None:
        for i, text in enumerate(step.say):
            prompts = prompts_for(step.language_of(i))
            narrator.speak(verb, spoken_form(text, prompts.lexicon), prompts, step.state.rate)

    if step.kind is Kind.GATHER:
        gather = Gather(
            input="dtmf speech",
            action=urls.step(step.state, {}),
            method="POST",
            timeout=gather_timeout(step, timeout),
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
        response.redirect(urls.step(step.state, {"t": "1"}), method="POST")
    elif step.kind is Kind.TRANSFER and step.queue:
        speak_all(response)
        # The hold and the <Enqueue> action both know the specialty (its opening hours end the wait).
        queued = {"k": step.specialty}
        response.enqueue(
            step.queue,
            action=urls.dial(step.state, queued),
            method="POST",
            wait_url=urls.hold(step.state, queued),
            wait_url_method="POST",
        )
    elif step.kind is Kind.TRANSFER:
        speak_all(response)
        # A screened transfer's action checks that the whisper was accepted (ivr/phone/transfers.py).
        screen = {"screen": "1"} if step.screened else {}
        dial = Dial(action=urls.dial(step.state, screen), method="POST", timeout=dial_timeout)
        whisper = urls.whisper(step.state, {"k": step.specialty}) if step.screened else None
        dial.number(step.number, url=whisper, method="POST" if whisper else None)
        response.append(dial)
    elif step.kind is Kind.RECORD:
        speak_all(response)
        response.record(
            action=urls.record(step.state, {}),
            method="POST",
            max_length=record_seconds,
            finish_on_key="#",
            play_beep=True,
            timeout=round(timeout * PATIENCE[step.state.patience]),
        )
        # With nothing recorded Twilio skips the action and goes on: say so there.
        response.redirect(urls.record(step.state, {"empty": "1"}), method="POST")
    elif step.kind is Kind.HANGUP:
        speak_all(response)
        response.hangup()
    else:
        raise ValueError(f"a {step.kind.value} step is carried out by the caller of render, not rendered")
    return response


def busy_reply(prompts: Prompts, narrator: Narrator) -> str:
    """TwiML (a str): the line is busy, please call again in a few minutes, goodbye, then <Hangup/>;
    what a refused request hears (rate limits) and what the proxy answers a webhook when the app
    cannot (ivr/proxy.py)."""
    response = VoiceResponse()
    narrator.speak(response, prompts.phrases.busy, prompts, "normal")
    response.hangup()
    return str(response)


def reject(reason: str = "busy") -> str:
    """<Reject reason="busy"/>: the call is refused before it is answered, so it costs the caller
    nothing (a missed call, which the line calls back)."""
    response = VoiceResponse()
    response.reject(reason=reason)
    return str(response)


def hang_up() -> str:
    """<Hangup/> alone: e.g. a call-back answered by a machine, which hears nothing."""
    response = VoiceResponse()
    response.hangup()
    return str(response)
