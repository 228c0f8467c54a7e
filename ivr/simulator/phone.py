"""A phone that talks to the line like Twilio does: signed webhooks, TwiML followed verb by verb."""

from __future__ import annotations

import secrets
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

from twilio.request_validator import RequestValidator

MAX_HOPS = 20  # redirects followed without caller input before the phone calls it a loop
# How a simulated transfer goes: a person answers and takes the call ("completed"; at a whisper they
# press 1), or the number is busy, rings out, fails, is cancelled; or a voicemail answers (it
# presses nothing at the whisper), or a person answers and declines (presses 2 at the whisper).
DIAL_OUTCOMES = ("completed", "busy", "no-answer", "failed", "canceled", "voicemail", "declined")
# What Twilio posts to an <Enqueue action> for those outcomes; any other: the caller waits on hold
# (the waitUrl), where star or the line's own <Leave/> ends the wait.
QUEUE_RESULTS = {"completed": "bridged", "busy": "queue-full", "failed": "system-error"}
# The whisper key each answering party presses (None: nothing, as a voicemail).
WHISPER_KEYS = {"completed": "1", "declined": "2", "voicemail": None}


class Transport(Protocol):
    """Sends one webhook request and returns (HTTP status, body)."""

    def post(self, url: str, params: Mapping[str, str], headers: Mapping[str, str]) -> tuple[int, str]:
        """POST form params to an absolute URL."""


@runtime_checkable
class Downloader(Protocol):
    """A transport that can also fetch a file, as Twilio fetches a <Play> URL."""

    def get(self, url: str) -> tuple[int, bytes]:
        """GET an absolute URL; return (HTTP status, body bytes)."""


class FlaskTransport:
    """Calls a Flask app in-process through its test client.

    With `public_url` (PUBLIC_BASE_URL, e.g. https://example.org/ivr) it stands in for the reverse
    proxy in front of the app too: a URL under it reaches the app with that path taken off (as
    nginx's `location /ivr/ { proxy_pass http://app/; }` does), any other URL gets 404.
    """

    def __init__(self, app: Any, public_url: str | None = None) -> None:
        self.client = app.test_client()
        self.public = urlsplit(public_url.rstrip("/")) if public_url else None

    def _through_proxy(self, url: str) -> str | None:
        """The URL the app receives for `url`; None when the proxy serves nothing there."""
        if self.public is None:
            return url
        parts = urlsplit(url)
        prefix = self.public.path
        if (parts.scheme, parts.netloc) != (self.public.scheme, self.public.netloc) or not (
            parts.path == prefix or parts.path.startswith(prefix + "/")
        ):
            return None
        return urlunsplit(parts._replace(path=parts.path[len(prefix) :] or "/"))

    def post(self, url: str, params: Mapping[str, str], headers: Mapping[str, str]) -> tuple[int, str]:
        """POST through the test client."""
        local = self._through_proxy(url)
        if local is None:
            return 404, ""
        response = self.client.post(local, data=dict(params), headers=dict(headers))
        return response.status_code, response.get_data(as_text=True)

    def get(self, url: str) -> tuple[int, bytes]:
        """GET through the test client."""
        local = self._through_proxy(url)
        if local is None:
            return 404, b""
        response = self.client.get(local)
        return response.status_code, response.get_data()


class HttpTransport:
    """Calls a running server over real HTTP."""

    def __init__(self, timeout: float = 15.0) -> None:
        self.timeout = timeout

    def post(self, url: str, params: Mapping[str, str], headers: Mapping[str, str]) -> tuple[int, str]:
        """POST over HTTP with urllib."""
        data = urlencode(params).encode()
        request = urllib.request.Request(url, data=data, headers=dict(headers), method="POST")
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return response.status, response.read().decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode("utf-8", "replace")

    def get(self, url: str) -> tuple[int, bytes]:
        """GET over HTTP with urllib."""
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()


@dataclass
class Heard:
    """One thing the caller heard: spoken text (<Say>) or an audio URL (<Play>)."""

    verb: str
    text: str
    in_gather: bool
    language: str | None = None  # the <Say language=...>, which names its audio in the cache
    prosody_rate: str | None = None  # an SSML <prosody rate=...> inside the <Say>, e.g. "80%"


@dataclass
class Turn:
    """What happened between two caller actions."""

    heard: list[Heard] = field(default_factory=list)
    requests: list[tuple[str, int]] = field(default_factory=list)  # (url, status)
    documents: list[ET.Element] = field(default_factory=list)
    gather: ET.Element | None = None
    dialed: list[str] = field(default_factory=list)
    dial_outcomes: list[str] = field(default_factory=list)  # the simulated outcome of each transfer
    # What the party answering a <Number url> heard (the whisper), and whether the two were bridged.
    whispered: list[str] = field(default_factory=list)
    bridged: list[bool] = field(default_factory=list)
    queue_times: list[int] = field(default_factory=list)  # QueueTime of each waitUrl request
    ended: bool = False
    error: str | None = None

    @property
    def says(self) -> list[str]:
        """The spoken texts, in order."""
        return [h.text for h in self.heard]

    @property
    def text(self) -> str:
        """Everything said, as one string (for reading, not for asserting verbs)."""
        return " ".join(self.says)


class Phone:
    """One simulated call. Each action returns the Turn the caller experienced."""

    def __init__(
        self,
        transport: Transport,
        *,
        base_url: str,
        auth_token: str,
        caller: str | None = None,
        line_number: str = "+15005550001",
        voice_path: str = "/voice",
        dial_outcome: str = "no-answer",
        on_dial: Callable[[str, Turn], str] | None = None,
    ) -> None:
        self.transport = transport
        self.base_url = base_url.rstrip("/")
        self.validator = RequestValidator(auth_token)
        self.call_sid = "CA" + secrets.token_hex(16)
        self.account_sid = "AC" + secrets.token_hex(16)
        # A new caller each time unless told: the line remembers callers by their number.
        self.caller = caller or f"+1555{secrets.randbelow(10**10):010d}"
        self.line_number = line_number
        self.voice_path = voice_path
        self.dial_outcome = dial_outcome
        # Asked for each <Dial>'s outcome with the number and the turn so far; else dial_outcome.
        self.on_dial = on_dial
        self.gather: ET.Element | None = None
        self.gather_url = ""
        self.ended = False
        self._rest: list[ET.Element] = []
        self._doc_url = ""
        # While held in a queue: the <Enqueue>'s action and waitUrl, and the seconds waited so far.
        self._queue: tuple[str, str] | None = None
        self.queue_time = 0
        self.direction = "inbound"  # outbound-api once the line calls the caller back

    def _base_params(self) -> dict[str, str]:
        # On the line's own call (a call back), Twilio's From is the line and To the person called.
        ours, theirs = (self.line_number, self.caller)
        if self.direction == "inbound":
            ours, theirs = theirs, ours
        return {
            "CallSid": self.call_sid,
            "AccountSid": self.account_sid,
            "From": ours,
            "To": theirs,
            "Caller": ours,
            "Called": theirs,
            "CallStatus": "in-progress",
            "Direction": self.direction,
            "ApiVersion": "2010-04-01",
        }

    def signed_headers(self, url: str, params: Mapping[str, str]) -> dict[str, str]:
        """Headers Twilio would send: the HMAC-SHA1 signature of URL plus sorted params."""
        return {"X-Twilio-Signature": self.validator.compute_signature(url, params)}

    def _request(self, turn: Turn, url: str, extra: Mapping[str, str]) -> ET.Element | None:
        absolute = urljoin(self._doc_url or self.base_url + "/", url)
        params = {**self._base_params(), **extra}
        status, body = self.transport.post(absolute, params, self.signed_headers(absolute, params))
        turn.requests.append((absolute, status))
        if status != 200:
            turn.error = f"HTTP {status} from {absolute}"
            return None
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            turn.error = f"invalid TwiML from {absolute}: {exc}"
            return None
        if root.tag != "Response":
            turn.error = f"TwiML root is <{root.tag}>, not <Response>"
            return None
        self._doc_url = absolute
        turn.documents.append(root)
        return root

    def _run(self, turn: Turn, verbs: list[ET.Element]) -> Turn:
        """Execute verbs as Twilio does, until a Gather waits for input or the call ends."""
        hops = 0
        while True:
            next_request: tuple[str, dict[str, str]] | None = None
            verbs_done = False  # every verb run, none ending the document (Hangup) or moving on
            for i, verb in enumerate(verbs):
                if verb.tag in ("Say", "Play"):
                    turn.heard.append(_heard(verb, in_gather=False))
                elif verb.tag == "Pause":
                    continue
                elif verb.tag == "Gather":
                    for child in verb:
                        if child.tag in ("Say", "Play"):
                            turn.heard.append(_heard(child, in_gather=True))
                    self.gather, self._rest = verb, verbs[i + 1 :]
                    self.gather_url = self._doc_url
                    turn.gather = verb
                    return turn
                elif verb.tag == "Redirect":
                    next_request = ((verb.text or "").strip(), {})
                    break
                elif verb.tag == "Dial":
                    number = (verb.text or "").strip() or ",".join(c.text or "" for c in verb)
                    outcome = self._outcome(number, turn)
                    turn.dialed.append(number)
                    turn.dial_outcomes.append(outcome)
                    status = outcome
                    leg = verb.find("Number")
                    if outcome in WHISPER_KEYS:
                        # Answered: by a person, or by a machine. Twilio reports the answered leg.
                        status = "completed"
                        if leg is not None and leg.get("url"):
                            self._screen(turn, number, leg.get("url", ""), WHISPER_KEYS[outcome])
                        else:
                            turn.bridged.append(True)  # no whisper: whoever answers is put through
                    if verb.get("action"):
                        next_request = (verb.get("action", ""), self._dial_params(status))
                        break
                elif verb.tag == "Enqueue":
                    name = f"queue:{(verb.text or '').strip()}"
                    outcome = self._outcome(name, turn)
                    turn.dialed.append(name)
                    turn.dial_outcomes.append(outcome)
                    if outcome not in QUEUE_RESULTS and verb.get("waitUrl"):
                        self._queue, self.queue_time = (verb.get("action", ""), verb.get("waitUrl", "")), 0
                        next_request = (verb.get("waitUrl", ""), self._queue_params())
                        break
                    if verb.get("action"):
                        result = QUEUE_RESULTS.get(outcome, "system-error")
                        next_request = (verb.get("action", ""), {"QueueResult": result})
                        break
                elif verb.tag == "Leave" and self._queue is not None:
                    action, self._queue = self._queue[0], None
                    params = {"QueueResult": "leave", "QueueTime": str(self.queue_time)}
                    next_request = (action, params) if action else None
                    break
                elif verb.tag == "Record":
                    # Waits for the caller's voice, like a Gather waits for keys.
                    self.gather, self._rest = verb, verbs[i + 1 :]
                    self.gather_url = self._doc_url
                    turn.gather = verb
                    return turn
                elif verb.tag in ("Hangup", "Reject"):
                    break
                else:
                    turn.error = f"unknown verb <{verb.tag}>"
                    break
            else:
                verbs_done = True
            if next_request is None and self._queue is not None and not turn.error and verbs_done:
                # The hold's document ended with the caller still in the queue: Twilio asks again.
                next_request = (self._queue[1], self._queue_params())
            if next_request is None or turn.error:
                self.ended = turn.ended = True
                self.gather = None
                return turn
            hops += 1
            if hops > MAX_HOPS:
                turn.error = "redirect loop"
                self.ended = turn.ended = True
                return turn
            root = self._request(turn, *next_request)
            if root is None:
                self.ended = turn.ended = True
                return turn
            verbs = list(root)

    def _outcome(self, number: str, turn: Turn) -> str:
        outcome = self.on_dial(number, turn) if self.on_dial else self.dial_outcome
        if outcome not in DIAL_OUTCOMES:
            raise ValueError(f"dial outcome {outcome!r} is not one of {DIAL_OUTCOMES}")
        return outcome

    def _queue_params(self) -> dict[str, str]:
        """What Twilio posts to an <Enqueue waitUrl>: the time waited and the place in the queue."""
        return {"QueueTime": str(self.queue_time), "QueuePosition": "1", "CurrentQueueSize": "1"}

    def _screen(self, turn: Turn, number: str, url: str, key: str | None) -> None:
        """Run a <Number url> (the whisper) on the answering leg as Twilio would: its Gathers hear
        `key` (None: nothing, and they fall through); the two are bridged when its TwiML ends
        without a <Hangup>. What it said goes to turn.whispered, never to what the caller heard."""
        doc_url, leg_sid = self._doc_url, "CA" + secrets.token_hex(16)
        leg = {"CallSid": leg_sid, "ParentCallSid": self.call_sid, "From": self.line_number, "To": number}
        leg |= {"Called": number, "Direction": "outbound-dial"}
        side = Turn()
        root, bridged = self._request(side, url, leg), False
        for _ in range(MAX_HOPS):
            if root is None:
                break
            verbs, answer = list(root), None
            for verb in verbs:
                spoken = (v for v in verb.iter() if v.tag in ("Say", "Play"))
                side.heard.extend(_heard(v, in_gather=verb.tag == "Gather") for v in spoken)
                if verb.tag == "Gather" and key is not None:
                    answer = (verb.get("action") or self._doc_url, {**leg, "Digits": key})
                    break
                if verb.tag == "Hangup":
                    break
            else:
                bridged = True  # the document ended: Twilio puts the two through
                break
            if answer is None:
                break
            root = self._request(side, *answer)
        turn.whispered.extend(side.says)
        turn.bridged.append(bridged and root is not None)
        if side.error:
            turn.error = side.error
        self._doc_url = doc_url

    def _dial_params(self, outcome: str) -> dict[str, str]:
        """What Twilio posts to a <Dial action>: the status, and the leg's sid once answered."""
        params = {"DialCallStatus": outcome}
        if outcome == "completed":
            params.update(DialCallSid="CA" + secrets.token_hex(16), DialCallDuration="42")
        return params

    def dial(self) -> Turn:
        """Place the call: Twilio POSTs the voice URL."""
        return self._start(self.base_url + self.voice_path, {})

    def _start(self, url: str, extra: dict[str, str]) -> Turn:
        turn = Turn()
        root = self._request(turn, url, extra)
        if root is None:
            self.ended = turn.ended = True
            return turn
        return self._run(turn, list(root))

    def answer_call_back(self, url: str, call_sid: str, answered_by: str = "human") -> Turn:
        """The line calls this phone back (its REST request gave `url` and Twilio the `call_sid`),
        and it is answered, by a person or (answering-machine detection's `answered_by`) a machine:
        Twilio POSTs `url` with AnsweredBy. The phone is then on that call."""
        self.call_sid, self.direction = call_sid, "outbound-api"
        self.ended, self.gather, self._doc_url, self._queue = False, None, "", None
        return self._start(url, {"AnsweredBy": answered_by})

    def _waiting(self) -> ET.Element:
        if self.gather is None or self.ended:
            raise RuntimeError("the line is not waiting for input")
        return self.gather

    def _answer(self, extra: dict[str, str]) -> Turn:
        turn = Turn()
        action = self._waiting().get("action") or self.gather_url
        self._doc_url = self.gather_url
        root = self._request(turn, action, extra)
        if root is None:
            self.ended = turn.ended = True
            return turn
        return self._run(turn, list(root))

    def record(self, seconds: int, url: str = "") -> Turn:
        """Speak for `seconds` at a <Record>, then press its finish key: Twilio posts the recording."""
        verb = self._waiting()
        if verb.tag != "Record":
            raise RuntimeError("the line is not recording")
        url = (
            url
            or f"https://api.twilio.com/2010-04-01/Accounts/{self.account_sid}/Recordings/RE{secrets.token_hex(16)}"
        )
        params = {
            "RecordingUrl": url,
            "RecordingDuration": str(seconds),
            "Digits": verb.get("finishOnKey", "#"),
        }
        return self._answer(params)

    def press(self, digits: str) -> Turn:
        """Press keys while a Gather waits, with Twilio's numDigits and finishOnKey rules."""
        gather = self._waiting()
        if gather.tag == "Record":
            return self.wait()  # keys with no recording: Twilio records nothing and goes on
        if "dtmf" not in _inputs(gather):
            return self.wait()  # a speech-only Gather does not hear keys
        finish = gather.get("finishOnKey", "#")  # Twilio's default finish key is #
        finished = ""
        if finish and finish in digits:
            digits, finished = digits[: digits.index(finish)], finish
        if gather.get("numDigits"):
            digits = digits[: int(gather.get("numDigits", "0"))]
        if not digits:
            # The finish key before any digit: Twilio skips the action and falls through.
            return self.wait()
        return self._answer({"Digits": digits, "FinishedOnKey": finished})

    def say(self, speech: str, confidence: float = 0.92) -> Turn:
        """Speak while a Gather waits (Twilio sends the recognised text)."""
        if "speech" not in _inputs(self._waiting()) or not speech.strip():
            return self.wait()  # nothing recognised: the Gather times out
        return self._answer({"SpeechResult": speech, "Confidence": f"{confidence:.2f}"})

    def wait(self) -> Turn:
        """Stay silent: the Gather times out and Twilio goes on with the verbs after it."""
        gather = self._waiting()
        if self._queue is not None:  # on hold, the time waited grows by the Gather's timeout
            self.queue_time += int(gather.get("timeout", "5"))
        self._doc_url = self.gather_url
        return self._run(Turn(), self._rest)

    def hangup(self) -> None:
        """The caller hangs up: nothing more is requested."""
        self.ended = True
        self.gather = None

    def fetch(self, url: str) -> tuple[int, bytes] | None:
        """GET a URL the line referred to (a <Play>), relative to the last document; None if unsupported."""
        if not isinstance(self.transport, Downloader):
            return None
        return self.transport.get(urljoin(self._doc_url or self.base_url + "/", url))


def _inputs(gather: ET.Element) -> set[str]:
    return set(gather.get("input", "dtmf").split())


def _heard(verb: ET.Element, *, in_gather: bool) -> Heard:
    prosody = verb.find("prosody")
    rate = prosody.get("rate") if prosody is not None else None
    return Heard(verb.tag, "".join(verb.itertext()).strip(), in_gather, verb.get("language"), rate)
