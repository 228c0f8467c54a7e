"""`flask call`: the console phone, scripted and interactive, in-process and over real HTTP."""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response, request
from werkzeug.serving import make_server

from ivr import engine, services
from ivr.audio import cache, tts
from ivr.audio.cache import AudioSettings
from ivr.engine import CallerInput, CallState, Line
from ivr.simulator import FlaskTransport, HttpTransport, Phone, Turn
from ivr.simulator.cli import Action, parse_line, parse_script
from ivr.simulator.loudspeaker import sound_output
from ivr.simulator.phone import DIAL_OUTCOMES
from tests.support.app import AUTH_TOKEN, BASE_URL, CALLBACK_DAYS, OPERATOR, make_app
from tests.support.content import english_only_copy
from tests.support.twiml import query

pytestmark = pytest.mark.integration

# ---------------------------------------------------------------- reading a transcript

SENTENCE = re.compile(r"^  \[\s*(?:(?P<seconds>[\d.]+) s|-\s*)\] (?P<play>play: )?(?P<text>.*)$")
SUMMARY = re.compile(r"^= (?P<how>[^:]+): (?P<actions>\d+) actions, (?P<n>\d+) sentences, (?P<s>[\d.]+) s")


@dataclass
class Step:
    """One action of a transcript and what followed it."""

    action: str
    sentences: list[tuple[float | None, str]] = field(default_factory=list)
    played: list[bool] = field(default_factory=list)
    at: str | None = None
    dials: list[tuple[str, str]] = field(default_factory=list)
    hung_up: bool = False

    @property
    def says(self) -> list[str]:
        return [text for _, text in self.sentences]


@dataclass
class Transcript:
    steps: list[Step]
    summary: re.Match[str]
    newly_rendered: int
    notes: list[str]


def read(output: str, errors: str = "") -> Transcript:
    """Parse the transcript `flask call` prints; every line must be understood.

    `errors` is what the call wrote to stderr: its notes ("! ...") are kept; anything else there
    (a log record from any thread, a warning) is no part of the transcript.
    """
    steps: list[Step] = []
    notes: list[str] = [line[2:] for line in errors.splitlines() if line.startswith("! ")]
    summary: re.Match[str] | None = None
    for line in output.splitlines():
        if line.startswith("> "):
            steps.append(Step(line[2:]))
        elif m := SENTENCE.match(line):
            steps[-1].sentences.append((float(m["seconds"]) if m["seconds"] else None, m["text"]))
            steps[-1].played.append(bool(m["play"]))
        elif line.startswith("  . at "):
            steps[-1].at = line[len("  . at ") :]
        elif m := re.match(r"^  ~ the line dials (\S+): (\S+)$", line):
            steps[-1].dials.append((m[1], m[2]))
        elif line == "  = the line hung up":
            steps[-1].hung_up = True
        elif line.startswith("! "):
            notes.append(line[2:])
        elif m := SUMMARY.match(line):
            summary = m
        else:
            raise AssertionError(f"unexpected transcript line: {line!r}")
    assert summary is not None, output
    rendered = re.search(r"\((\d+) newly rendered\)", summary.string)
    assert rendered is not None
    return Transcript(steps, summary, int(rendered[1]), notes)


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def audio_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One audio cache for the module, so each sentence is rendered once."""
    return tmp_path_factory.mktemp("sim-audio")


@pytest.fixture(scope="module")
def english_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real content in English alone: these tests are about the phone, so calls start at the menu."""
    return english_only_copy(tmp_path_factory.mktemp("english-only"))


@pytest.fixture
def sim_app(audio_dir: Path, english_only: Path) -> Callable[..., Flask]:
    def make(**overrides: Any) -> Flask:
        defaults = {"AUDIO_DIR": str(audio_dir), "AUDIO_BASE_URL": None, "CONTENT_DIR": str(english_only)}
        return make_app(**{**defaults, **overrides})

    return make


def call(app: Flask, *args: str, input: str | None = None, code: int = 0) -> Transcript:
    """Run `flask call ARGS` against the app; check the exit code and parse the transcript."""
    # A new caller each call (the line remembers numbers), unless the test names one.
    caller = [] if "--from" in args else ["--from", f"+1555{secrets.randbelow(10**10):010d}"]
    result = app.test_cli_runner().invoke(args=["call", *caller, *args], input=input)
    assert result.exit_code == code, result.output + repr(result.exception)
    # stdout alone: Click's `output` also holds stderr, where the app's log records go.
    return read(result.stdout, result.stderr)


@dataclass
class Server:
    url: str
    app: Flask


@pytest.fixture
def server(sim_app: Callable[..., Flask]) -> Iterator[Callable[..., Server]]:
    """Real HTTP servers on 127.0.0.1 (free ports), each in a thread, shut down after the test.

    `start(make)` builds the served app with `make(url)`, for apps that must know their own URL.
    """
    running: list[tuple[Any, threading.Thread]] = []

    def start(make: Callable[[str], Flask] | None = None) -> Server:
        placeholder = Flask("placeholder")
        httpd = make_server("127.0.0.1", 0, placeholder, threaded=True)
        url = f"http://127.0.0.1:{httpd.server_port}"
        app = make(url) if make else sim_app()
        httpd.app = app  # the port is only known once bound
        thread = threading.Thread(target=httpd.serve_forever, daemon=True)
        thread.start()
        running.append((httpd, thread))
        return Server(url, app)

    yield start
    for httpd, thread in running:
        httpd.shutdown()
        thread.join(timeout=10)


def line_of(app: Flask) -> Line:
    line: Line = services.line(app)
    return line


def oracle(app: Flask, keys: list[str]) -> list[Turn]:
    """The same call placed directly with a Phone: what the transcript must match."""
    phone = Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN)
    turns = [phone.dial()]
    for key in keys:
        turns.append(phone.wait() if key == "wait" else phone.press(key))
    return turns


def helpdesk_name(app: Flask) -> str:
    """What the line calls the help desk that 0 reaches from the main menu."""
    directory = line_of(app).content.directory
    assert directory is not None
    return directory.specialties[directory.default].name["en"]


def node_of(turn: Turn) -> str | None:
    return query(turn.gather.get("action", ""))["n"] if turn.gather is not None else None


def submenu_key(app: Flask) -> tuple[str, str]:
    """The key of the first main-menu option that leads to another menu, and that menu."""
    tree = line_of(app).content.tree
    option = next(o for o in tree.menus[tree.root].options if o.goto in tree.menus)
    return option.key, option.goto


# ---------------------------------------------------------------- scripts and lines


@pytest.mark.unit
def test_scripts_and_typed_lines_are_parsed() -> None:
    assert parse_script("2, 1 ,9,*,#,say:go back,wait,q") == [
        Action("press", "2"),
        Action("press", "1"),
        Action("press", "9"),
        Action("press", "*"),
        Action("press", "#"),
        Action("say", "go back"),
        Action("wait"),
        Action("hangup"),
    ]
    assert parse_script("21") == [Action("press", "2"), Action("press", "1")]
    assert parse_line("") == [Action("wait")]
    assert parse_line('"go back"') == [Action("say", "go back")]
    assert parse_line("say main menu") == [Action("say", "main menu")]
    assert parse_line("q") == [Action("hangup")]
    assert parse_line("hello") is None
    with pytest.raises(Exception, match="not a key"):
        parse_script("2,x")


# ---------------------------------------------------------------- scripted calls


@pytest.mark.slow
def test_a_scripted_call_prints_what_the_caller_hears_with_real_audio_lengths(
    sim_app: Callable[..., Flask], audio_dir: Path
) -> None:
    app = sim_app()
    key, submenu = submenu_key(app)
    topic_key = line_of(app).content.tree.menus[submenu].options[0].key
    keys = [key, topic_key, "9", "*", "#"]
    transcript = call(app, "--keys", ",".join(keys))
    expected = oracle(app, keys)

    assert [s.action for s in transcript.steps] == ["dial (in-process)", *(f"press {k}" for k in keys)]
    for step, turn in zip(transcript.steps, expected, strict=True):
        assert step.says == turn.says and step.says  # every sentence, in order, nothing else
        assert step.at == node_of(turn)
    at = [s.at for s in transcript.steps]
    topic = line_of(app).content.tree.menus[submenu].options[0].goto
    root = line_of(app).content.tree.root
    assert at == [root, submenu, topic, topic, submenu, root]  # repeat stays, * goes up, # goes home

    # Each length is the real WAV in the line's audio cache, named by text, voice, rate, language.
    settings = AudioSettings.from_config(app.config)
    language = expected[0].heard[0].language
    assert language
    for step in transcript.steps:
        for seconds, text in step.sentences:
            path = audio_dir / f"{cache.audio_key(text, language, settings)}.wav"
            assert seconds is not None and seconds > 0.3
            assert seconds == pytest.approx(tts.wav_seconds(path), abs=0.006)
    total = sum(sec or 0.0 for step in transcript.steps for sec, _ in step.sentences)
    assert float(transcript.summary["s"]) == pytest.approx(total, abs=0.1)
    assert int(transcript.summary["n"]) == sum(len(s.sentences) for s in transcript.steps)

    # Measured once: a second call renders nothing new and reports the same lengths.
    again = call(app, "--keys", ",".join(keys))
    assert again.newly_rendered == 0
    assert [s.sentences for s in again.steps] == [s.sentences for s in transcript.steps]


@pytest.mark.slow
def test_a_slower_line_is_measured_at_the_slower_rate(sim_app: Callable[..., Flask], audio_dir: Path) -> None:
    app = sim_app()
    slower = line_of(app).prompts("en").speech.slower[0]
    transcript = call(app, "--keys", f"9,say:{slower},9")
    normal = {text: sec for sec, text in transcript.steps[1].sentences}
    slow = {text: sec for sec, text in transcript.steps[3].sentences}
    both = normal.keys() & slow.keys()
    assert len(both) >= 3
    assert all((slow[t] or 0) > (normal[t] or 0) * 1.1 for t in both), {t: (normal[t], slow[t]) for t in both}
    # The slow audio sits in the cache under the slow rate, where <Play> would look for it.
    settings = AudioSettings.from_config(app.config)
    slow_settings = AudioSettings(audio_dir, rate=cache.rate_wpm(settings, "slow"), voice=settings.voice)
    language = oracle(app, [])[0].heard[0].language or ""
    assert all((audio_dir / f"{cache.audio_key(t, language, slow_settings)}.wav").is_file() for t in both)


def test_hash_reaches_the_main_menu_on_a_twilio_like_phone(sim_app: Callable[..., Flask]) -> None:
    # Twilio's default finishOnKey is #: unless the Gather turns it off, # is never sent.
    app = sim_app()
    key, submenu = submenu_key(app)
    root = line_of(app).content.tree.root
    transcript = call(app, "--keys", f"{key},#")
    assert [s.at for s in transcript.steps] == [root, submenu, root]
    assert "Sorry, I did not hear anything." not in transcript.steps[-1].says


def test_the_console_phone_calls_a_line_under_a_public_path(sim_app: Callable[..., Flask]) -> None:
    # In-process, it calls PUBLIC_BASE_URL as Twilio would, through a stand-in for the proxy in front.
    app = sim_app(PUBLIC_BASE_URL="https://example.org/ivr")
    key, submenu = submenu_key(app)
    root = line_of(app).content.tree.root
    transcript = call(app, "--keys", f"{key},#")
    assert [s.at for s in transcript.steps] == [root, submenu, root]


def test_quiet_prints_the_words_without_audio(sim_app: Callable[..., Flask]) -> None:
    app = sim_app()
    result = app.test_cli_runner().invoke(args=["call", "--quiet", "--keys", "9"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any(line.startswith("  [  -    ] Main menu.") for line in lines)
    assert "0.0 s of audio (0 newly rendered)" in lines[-1]


def silences_until_hangup(app: Flask) -> int:
    phone = Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN)
    phone.dial()
    for waited in range(1, 10):
        if phone.wait().ended:
            return waited
    raise AssertionError("the line never gives up on a silent caller")


@pytest.mark.slow
def test_silence_falls_through_the_gather_until_the_line_says_goodbye(sim_app: Callable[..., Flask]) -> None:
    app = sim_app()
    phrases = line_of(app).prompts("en").phrases
    waits = ["wait"] * silences_until_hangup(app)
    transcript = call(app, "--keys", ",".join(waits))
    expected = oracle(app, waits)
    assert [(s.says, s.at) for s in transcript.steps] == [(t.says, node_of(t)) for t in expected]
    retries, last = transcript.steps[1:-1], transcript.steps[-1]
    assert len(retries) >= engine.MAX_SILENCES
    for step in retries:
        assert step.action == "wait (no input)" and step.at == line_of(app).content.tree.root
    assert all(step.says[0] == phrases.no_input for step in retries[: engine.MAX_SILENCES])
    assert last.says[-1] == phrases.goodbye and last.hung_up and last.at is None
    assert transcript.summary["how"] == "call ended"


def test_actions_left_after_the_line_hangs_up_are_an_error(sim_app: Callable[..., Flask]) -> None:
    app = sim_app()
    waits = ["wait"] * silences_until_hangup(app)
    transcript = call(app, "--keys", ",".join([*waits, "1", "2"]), code=2)
    assert transcript.steps[-1].hung_up
    assert transcript.notes == ["the call ended with 2 scripted actions unused"]


@pytest.mark.parametrize("outcome", DIAL_OUTCOMES)
def test_a_transfer_follows_the_dial_outcome(sim_app: Callable[..., Flask], outcome: str) -> None:
    app = sim_app(OPERATOR_NUMBER=OPERATOR)
    phrases = line_of(app).prompts("en").phrases
    transcript = call(app, "--dial-outcome", outcome, "--keys", "0")
    step = transcript.steps[-1]
    assert step.dials == [(OPERATOR, outcome)]
    assert step.says[0] == phrases.connecting_to.format(name=helpdesk_name(app))
    if outcome == "completed":  # the person took the call; when they hang up, so does the line
        assert step.says[1:] == [phrases.goodbye] and step.hung_up
    else:  # nobody answered: other ways to get help, never silence
        assert (
            step.says[1:3] == [phrases.dial_failed, phrases.offer_callback.format(days=CALLBACK_DAYS)]
            and not step.hung_up
        )
        assert step.at == "_specialist"


def test_without_an_operator_zero_says_nobody_is_there(sim_app: Callable[..., Flask]) -> None:
    app = sim_app()
    step = call(app, "--keys", "0").steps[-1]
    assert step.dials == [] and step.says[0] == line_of(app).prompts("en").phrases.operator_unavailable


# ---------------------------------------------------------------- interactive


def test_interactive_call_takes_typed_keys_words_silence_and_asks_the_dial_outcome(
    sim_app: Callable[..., Flask],
) -> None:
    app = sim_app(OPERATOR_NUMBER=OPERATOR)
    key, submenu = submenu_key(app)
    phrases = line_of(app).prompts("en").phrases
    typed = [key, "", '"go back"', "nonsense", "0", "busy", "q"]
    result = app.test_cli_runner().invoke(args=["call", "--quiet"], input="\n".join(typed) + "\n")
    assert result.exit_code == 0, result.output
    prompts = ("caller> ", f"  ~ the line dials {OPERATOR}; outcome", "(", "? ")
    lines = [ln for ln in result.output.splitlines() if not ln.startswith(prompts)]
    steps = {s.action: s for s in read("\n".join(lines)).steps}
    assert steps[f"press {key}"].at == submenu
    assert steps["wait (no input)"].says[0] == phrases.no_input
    assert steps['say "go back"'].at == line_of(app).content.tree.root
    assert steps["press 0"].dials == [(OPERATOR, "busy")]
    assert steps["press 0"].says[:2] == [
        phrases.connecting_to.format(name=helpdesk_name(app)),
        phrases.dial_failed,
    ]
    assert "? keys" in result.output  # "nonsense" was not sent, the help was shown
    assert "hang up" in steps


def test_interactive_call_without_a_sound_device_shows_lengths_instead(sim_app: Callable[..., Flask]) -> None:
    reason = sound_output()
    if reason is None:
        pytest.skip("this machine can play sound; the fallback is for machines that cannot")
    app = sim_app()
    result = app.test_cli_runner().invoke(args=["call"], input="q\n")
    assert result.exit_code == 0, result.output
    assert f"(cannot play sound here: {reason}; showing audio lengths instead)" in result.output
    first = next(ln for ln in result.output.splitlines() if SENTENCE.match(ln))
    match = SENTENCE.match(first)
    assert match is not None and float(match["seconds"]) > 1


# ---------------------------------------------------------------- over real HTTP


def test_a_scripted_call_over_real_http_hears_what_the_in_process_call_hears(
    sim_app: Callable[..., Flask], server: Callable[..., Server]
) -> None:
    remote = server()
    app = sim_app()
    key, _ = submenu_key(app)
    keys = f"{key},1,wait,*"
    over_http = call(app, "--url", remote.url, "--keys", keys)
    in_process = call(app, "--keys", keys)
    assert over_http.steps[0].action == f"dial (over HTTP to {remote.url})"
    assert [(s.says, s.at) for s in over_http.steps] == [(s.says, s.at) for s in in_process.steps]
    assert all(sec is not None and sec > 0 for s in over_http.steps for sec, _ in s.sentences)


def test_over_http_a_wrong_token_is_refused(
    sim_app: Callable[..., Flask], server: Callable[..., Server]
) -> None:
    remote = server()
    result = (
        sim_app()
        .test_cli_runner()
        .invoke(args=["call", "--url", remote.url, "--token", "not-the-token", "--quiet", "--keys", "1"])
    )
    assert result.exit_code == 1
    assert f"HTTP 403 from {remote.url}/voice" in result.output


def test_over_http_the_dev_switch_lets_the_console_phone_through_with_any_token(
    sim_app: Callable[..., Flask], server: Callable[..., Server]
) -> None:
    # IVR_DEV_SKIP_SIGNATURE admits only requests with a direct client's headers: the console
    # phone's (urllib) must be such, or the switch is useless to the developer it is for.
    remote = server(lambda _url: sim_app(DEV_SKIP_SIGNATURE=True))
    app = sim_app()
    over_http = call(app, "--url", remote.url, "--token", "not-the-token", "--keys", "1")
    assert len(over_http.steps) == 2 and over_http.steps[0].says


@pytest.mark.slow
def test_played_audio_is_fetched_over_http_and_measured(
    tmp_path: Path, sim_app: Callable[..., Flask], server: Callable[..., Server]
) -> None:
    # A first call fills the server's cache; then it <Play>s that audio from its own URL.
    served_dir = tmp_path / "served"
    call(sim_app(AUDIO_DIR=str(served_dir)), "--keys", "9")
    remote = server(lambda url: sim_app(AUDIO_DIR=str(served_dir), AUDIO_BASE_URL=url))

    local_dir = tmp_path / "caller"  # the calling side has no audio of its own
    transcript = call(sim_app(AUDIO_DIR=str(local_dir)), "--url", remote.url, "--keys", "9")
    said = call(sim_app(AUDIO_DIR=str(served_dir)), "--keys", "9")
    first = transcript.steps[0]
    assert first.played and all(first.played)  # every sentence of the welcome was pre-rendered
    assert transcript.newly_rendered == 0 and not local_dir.exists()
    # Same audio, same lengths; the words are shown from the cache's catalogue of fixed sentences.
    assert [sec for sec, _ in first.sentences] == [sec for sec, _ in said.steps[0].sentences]
    assert first.says[:2] == said.steps[0].says[:2]


# ---------------------------------------------------------------- the phone, like Twilio


def twiml_app(documents: dict[str, str]) -> Flask:
    """A tiny line that serves fixed TwiML and records what each request posted."""
    app = Flask("fixed")
    app.config["posted"] = []

    def serve(name: str) -> Response:
        app.config["posted"].append((name, dict(request.form)))
        return Response(documents[name], mimetype="text/xml")

    for name in documents:
        app.add_url_rule(f"/{name}", name, lambda name=name: serve(name), methods=["POST"])
    return app


def fixed_phone(app: Flask, **kwargs: Any) -> Phone:
    return Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN, voice_path="/start", **kwargs)


GATHER = (
    '<Response><Gather action="/got" {attrs}><Say language="en-GB">Choose.</Say></Gather>'
    '<Redirect method="POST">/silence</Redirect></Response>'
)
DOCS = {
    "got": "<Response><Say>Got it.</Say><Hangup/></Response>",
    "silence": "<Response><Say>Nothing.</Say><Hangup/></Response>",
}


def test_the_default_finish_key_is_not_sent_and_falls_through() -> None:
    app = twiml_app({"start": GATHER.format(attrs='input="dtmf" numDigits="1"'), **DOCS})
    phone = fixed_phone(app)
    assert phone.dial().heard[0].language == "en-GB"
    assert phone.press("#").says == ["Nothing."]
    assert [name for name, _ in app.config["posted"]] == ["start", "silence"]


def test_keys_before_the_finish_key_are_sent_with_it() -> None:
    app = twiml_app({"start": GATHER.format(attrs='input="dtmf"'), **DOCS})
    phone = fixed_phone(app)
    phone.dial()
    assert phone.press("12#9").says == ["Got it."]
    form = app.config["posted"][-1][1]
    assert (form["Digits"], form["FinishedOnKey"]) == ("12", "#")
    for param in ("CallSid", "AccountSid", "From", "To", "CallStatus", "Direction", "ApiVersion"):
        assert form[param]


def test_num_digits_limits_the_keys_and_an_empty_finish_key_sends_hash() -> None:
    attrs = 'input="dtmf speech" numDigits="1" finishOnKey=""'
    app = twiml_app({"start": GATHER.format(attrs=attrs), **DOCS})
    phone = fixed_phone(app)
    phone.dial()
    phone.press("#5")
    assert app.config["posted"][-1][1]["Digits"] == "#"


def test_a_dtmf_only_gather_does_not_hear_speech() -> None:
    app = twiml_app({"start": GATHER.format(attrs='input="dtmf"'), **DOCS})
    phone = fixed_phone(app)
    phone.dial()
    assert phone.say("hello").says == ["Nothing."]


def test_the_dial_callback_is_asked_and_its_outcome_posted() -> None:
    docs = {
        "start": '<Response><Say>Connecting.</Say><Dial action="/after">+100</Dial></Response>',
        "after": "<Response><Say>Back.</Say><Hangup/></Response>",
    }
    app = twiml_app(docs)
    asked: list[tuple[str, list[str]]] = []

    def outcome(number: str, turn: Turn) -> str:
        asked.append((number, turn.says))
        return "completed"

    turn = fixed_phone(app, on_dial=outcome).dial()
    assert asked == [("+100", ["Connecting."])]
    assert turn.dial_outcomes == ["completed"] and turn.says == ["Connecting.", "Back."]
    form = app.config["posted"][-1][1]
    assert form["DialCallStatus"] == "completed" and form["DialCallSid"].startswith("CA")


def test_http_transport_fetches_files(server: Callable[..., Server]) -> None:
    remote = server()
    status, body = HttpTransport().get(remote.url + "/")
    assert status == 200 and b"<title>Neuromuscular disorders information</title>" in body
    assert HttpTransport().get(remote.url + "/audio/" + "0" * 64 + ".wav")[0] == 404


def test_engine_and_phone_agree_on_where_a_spoken_topic_leads(sim_app: Callable[..., Flask]) -> None:
    # The typed-speech path of the CLI (no --hear) sends the words as Twilio's SpeechResult.
    app = sim_app()
    line = line_of(app)
    start = CallState(node=line.content.tree.root)
    word = engine.hints(line, start)[0]  # the first option's name
    expected = engine.next_step(line, start, CallerInput(speech=word)).state.node
    transcript = call(app, "--quiet", "--keys", f"say:{word}")
    assert transcript.steps[-1].at == expected != line.content.tree.root
