"""`flask call`: phone the line from the console, interactively or from a script of key presses."""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from ivr import services
from ivr.audio import cache, tts
from ivr.audio.cache import AudioSettings
from ivr.content import Content
from ivr.simulator.asr import CALLER_VOICE, AsrError, Recogniser, phrases_from_hints
from ivr.simulator.callback import ANSWERED_BY, SAMPLE_CALLER, ring_and_call_back
from ivr.simulator.loudspeaker import Loudspeaker
from ivr.simulator.phone import DIAL_OUTCOMES, FlaskTransport, HttpTransport, Phone, Transport, Turn

KEYS = re.compile(r"[0-9*#]+")
QUIT = ("q", "quit", "hangup", "hang up")
CALLER, LINE = "+15005550006", "+15005550001"  # who calls which number, unless told
HELP = 'keys (e.g. 2 or *), "words" or say words, empty line for silence, q to hang up'


@dataclass(frozen=True)
class Action:
    """One thing the caller does: press keys, say words, stay silent, or hang up."""

    kind: str  # press | say | wait | hangup
    value: str = ""


def parse_script(script: str) -> list[Action]:
    """Parse `--keys`: comma-separated key presses, `say:<words>`, `wait` and `q`."""
    actions: list[Action] = []
    for raw in script.split(","):
        item = raw.strip()
        if item.lower().startswith("say:"):
            words = item[4:].strip()
            if not words:
                raise click.BadParameter(f"{raw!r}: say: needs words", param_hint="--keys")
            actions.append(Action("say", words))
        elif item.lower() == "wait":
            actions.append(Action("wait"))
        elif item.lower() in QUIT:
            actions.append(Action("hangup"))
        elif KEYS.fullmatch(item):
            actions += [Action("press", key) for key in item]
        else:
            raise click.BadParameter(
                f"{raw!r} is not a key (0-9 * #), say:<words>, wait or q", param_hint="--keys"
            )
    return actions


def parse_line(line: str) -> list[Action] | None:
    """Parse one typed line; None when it means nothing."""
    text = line.strip()
    if not text:
        return [Action("wait")]
    if text.lower() in QUIT:
        return [Action("hangup")]
    if len(text) >= 2 and text[0] == text[-1] == '"':
        return [Action("say", text[1:-1].strip())] if text[1:-1].strip() else None
    if text.lower().startswith(("say ", "say:")):
        words = text[4:].strip()
        return [Action("say", words)] if words else None
    keys = re.sub(r"[\s,]", "", text)
    if KEYS.fullmatch(keys):
        return [Action("press", key) for key in keys]
    return None


def where(turn: Turn) -> str | None:
    """Where the line waits for the caller, from the Gather's action URL (node and part)."""
    if turn.gather is None:
        return None
    query = {k: v[0] for k, v in parse_qs(urlsplit(turn.gather.get("action", "")).query).items()}
    if "n" not in query:
        return None
    part = query.get("p", "0")
    return query["n"] + (f" part {int(part) + 1}" if part.isdigit() and part != "0" else "")


class Ear:
    """Turns the caller's words into what an offline recogniser hears, as Twilio's speech would."""

    def __init__(self, rate: int) -> None:
        self.recogniser = Recogniser()
        self.rate = rate
        self._dir = tempfile.TemporaryDirectory(prefix="ivr-hear-")

    def hear(self, words: str, hints: str) -> tuple[str, float, str]:
        """Render the words, recognise them against the Gather's hints; (text, confidence, note)."""
        phrases = phrases_from_hints(hints)
        if not phrases:
            return words, 0.92, "no hints on this Gather, so the words were sent as typed"
        wav = Path(self._dir.name) / f"reply-{hashlib.sha256(words.encode()).hexdigest()[:16]}.wav"
        try:
            if not wav.exists():
                tts.synthesize(words, wav, rate=self.rate, voice=CALLER_VOICE)
            got = self.recogniser.hear(wav, phrases)
        except (tts.TtsError, AsrError, ValueError) as exc:
            return words, 0.92, f"could not recognise ({exc}), so the words were sent as typed"
        if not got.text:
            return "", 0.0, "heard nothing"
        return got.text, got.confidence, "" if got.complete else "a partial phrase"

    def close(self) -> None:
        """Remove the rendered replies."""
        self._dir.cleanup()


class Session:
    """One console call: performs actions on the phone and writes what the caller hears."""

    def __init__(
        self,
        phone: Phone,
        speaker: Loudspeaker,
        echo: Callable[[str], None],
        ear: Ear | None = None,
    ) -> None:
        self.phone = phone
        self.speaker = speaker
        self.echo = echo
        self.ear = ear
        self.actions = 0
        self.sentences = 0
        self.seconds = 0.0
        self.failed: str | None = None
        self._shown: tuple[Turn | None, int] = (None, 0)  # a turn, and how much of it is shown

    def show(self, turn: Turn, *, final: bool = True) -> None:
        """Write the sentences of a turn not shown yet, then (when final) where the call stands."""
        start = self._shown[1] if self._shown[0] is turn else 0
        for heard in turn.heard[start:]:
            voiced = self.speaker.voice(heard)
            self.sentences += 1
            self.seconds += voiced.seconds or 0.0
            length = f"[{voiced.seconds:5.2f} s]" if voiced.seconds is not None else "[  -    ]"
            self.echo(f"  {length} {'play: ' if heard.verb == 'Play' else ''}{voiced.text}")
            if voiced.problem:
                self.echo(f"  ! {voiced.problem}")
        self._shown = (turn, len(turn.heard))
        if not final:
            return
        if turn.error:
            self.failed = turn.error
            self.echo(f"  ! {turn.error}")
        elif turn.ended:
            self.echo("  = the line hung up")
        elif (at := where(turn)) is not None:
            self.echo(f"  . at {at}")

    def start(self, description: str, dial: Callable[[], Turn] | None = None) -> None:
        """Place the call (or `dial` it another way: a missed call and its call-back)."""
        self.echo(f"> dial ({description})")
        self.show((dial or self.phone.dial)())

    def act(self, action: Action) -> None:
        """Perform one caller action and show what follows."""
        self.actions += 1
        if action.kind == "hangup":
            self.echo("> hang up")
            self.phone.hangup()
            return
        if action.kind == "wait":
            self.echo("> wait (no input)")
            self.show(self.phone.wait())
            return
        if action.kind == "press":
            self.echo(f"> press {action.value}")
            self.show(self.phone.press(action.value))
            return
        text, confidence = action.value, 0.92
        if self.ear is not None and self.phone.gather is not None:
            text, confidence, note = self.ear.hear(action.value, self.phone.gather.get("hints", ""))
            heard = f'heard "{text}" ({confidence:.2f})' if text else "heard nothing"
            self.echo(f'> say "{action.value}" -> {heard}' + (f"; {note}" if note and text else ""))
        else:
            self.echo(f'> say "{action.value}"')
        self.show(self.phone.say(text, confidence) if text else self.phone.wait())

    def summary(self, how: str) -> str:
        """The closing line of a transcript."""
        return (
            f"= {how}: {self.actions} actions, {self.sentences} sentences,"
            f" {self.seconds:.1f} s of audio ({self.speaker.rendered} newly rendered)"
        )


EPILOG = """\b
Interactive (no --keys): type keys (2, *, #), "words" or say words, an empty line
for silence, q to hang up. Each sentence is played with pyttsx3 where there is a
sound device, else its audio length is shown.
\b
Scripted (--keys): prints a transcript; each sentence with the seconds of its audio,
rendered once into the line's audio cache (AUDIO_DIR) and reused after.
"""


@click.command("call", epilog=EPILOG)
@click.option("--url", default=None, help="Call a running server over HTTP, e.g. http://127.0.0.1:8000.")
@click.option("--token", default=None, help="Twilio auth token to sign with (default: the app's).")
@click.option("--from", "caller", default=None, help=f"Caller's number [default: {CALLER}].")
@click.option("--to", "line_number", default=None, help=f"The line's number [default: {LINE}].")
@click.option("--keys", default=None, help='Scripted call, e.g. "2,1,9,say:causes,wait,*,#,q".')
@click.option("--quiet", "--no-audio", "quiet", is_flag=True, help="No audio: neither rendered nor played.")
@click.option(
    "--dial-outcome",
    type=click.Choice(DIAL_OUTCOMES),
    default="no-answer",
    show_default=True,
    help="What happens when the line transfers the call (asked each time when interactive).",
)
@click.option("--hear", is_flag=True, help="Speak your words through TTS and offline recognition first.")
@click.option(
    "--missed-call",
    "answered_by",
    type=click.Choice(ANSWERED_BY),
    default=None,
    help="Ring a missed-call number and be called back, answered by this (in-process only).",
)
@with_appcontext
def call(
    url: str | None,
    token: str | None,
    caller: str | None,
    line_number: str | None,
    keys: str | None,
    quiet: bool,
    dial_outcome: str,
    hear: bool,
    answered_by: str | None,
) -> None:
    """Phone the line like Twilio does: hear each sentence and answer with keys or words."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    if answered_by is not None:
        caller, line_number = _missed_call_numbers(app, url, caller, line_number)
    caller, line_number = caller or CALLER, line_number or LINE
    script = parse_script(keys) if keys is not None else None
    transport: Transport
    if url:
        base_url, transport, description = url.rstrip("/"), HttpTransport(), f"over HTTP to {url}"
    else:
        # Under PUBLIC_BASE_URL as Twilio would call it, the path taken off as a proxy in front would.
        public = app.config.get("PUBLIC_BASE_URL")
        base_url = public or "http://localhost"
        transport, description = FlaskTransport(app, public_url=public), "in-process"
    interactive = script is None

    def on_dial(number: str, turn: Turn) -> str:
        session.show(turn, final=False)  # what the line said before dialling comes first
        outcome = dial_outcome
        if interactive:
            choice = click.Choice(DIAL_OUTCOMES)
            outcome = click.prompt(f"  ~ the line dials {number}; outcome", type=choice, default=dial_outcome)
        click.echo(f"  ~ the line dials {number}: {outcome}")
        return str(outcome)

    phone = Phone(
        transport,
        base_url=base_url,
        auth_token=token or app.config["TWILIO_AUTH_TOKEN"],
        caller=caller,
        line_number=line_number,
        dial_outcome=dial_outcome,
        on_dial=on_dial,
    )
    settings = AudioSettings.from_config(app.config)
    content = services.line(app).content
    speaker = Loudspeaker(
        settings,
        measure=not quiet,
        play=interactive and not quiet,
        fetch=phone.fetch,
        names=_cache_names(content, settings) if not quiet else None,
        default_language=content.prompts[content.default_language].language,
    )
    ear = Ear(settings.rate) if hear else None
    session = Session(phone, speaker, click.echo, ear)
    try:
        if interactive and speaker.silent_because:
            click.echo(f"(cannot play sound here: {speaker.silent_because}; showing audio lengths instead)")
        if answered_by is not None:
            call_back = lambda: ring_and_call_back(app, phone, answered_by, click.echo)  # noqa: E731
            session.start(f"{description}: a missed call", call_back)
        else:
            session.start(description)
        if script is not None:
            leftover = _run_script(session, script)
            how = "script finished" if not phone.ended else "call ended"
            click.echo(session.summary(how))
            if session.failed:
                raise click.ClickException(f"the call failed: {session.failed}")
            if leftover:
                click.echo(f"! the call ended with {leftover} scripted actions unused", err=True)
                raise SystemExit(2)
            return
        _run_interactive(session)
        click.echo(session.summary("call ended"))
        if session.failed:
            raise click.ClickException(f"the call failed: {session.failed}")
    finally:
        speaker.close()
        if ear is not None:
            ear.close()


def _missed_call_numbers(
    app: Flask, url: str | None, caller: str | None, line_number: str | None
) -> tuple[str, str]:
    """Who rings which number for --missed-call: the caller given, else an Indian mobile; the line's
    number given, else its first missed-call number."""
    numbers = sorted(services.callbacks(app).line_numbers)
    if url or not numbers:
        raise click.UsageError(
            "--missed-call needs IVR_MISSED_CALL_NUMBERS (and PUBLIC_BASE_URL) and runs in-process (no --url)"
        )
    return caller or SAMPLE_CALLER, line_number or numbers[0]


def _run_script(session: Session, script: list[Action]) -> int:
    """Perform the scripted actions while the call lasts; return how many were left unused."""
    for i, action in enumerate(script):
        if session.phone.ended:
            return len(script) - i
        session.act(action)
    return 0


def _run_interactive(session: Session) -> None:
    click.echo(f"({HELP})")
    while not session.phone.ended:
        try:
            line = click.prompt("caller", default="", show_default=False, prompt_suffix="> ")
        except click.Abort:
            line = "q"
        actions = parse_line(str(line))
        if actions is None:
            click.echo(f"? {HELP}")
            continue
        for action in actions:
            if session.phone.ended:
                break
            session.act(action)


def _cache_names(content: Content, settings: AudioSettings) -> dict[str, str]:
    """Cache file name -> sentence, so a <Play> can be shown as the words it plays."""
    try:
        plan = cache.plan(content, settings)
    except Exception:  # the names only decorate the transcript; never fail a call for them
        return {}
    return {item.path.name: item.sentence.text for item in plan.items}
