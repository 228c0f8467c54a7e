"""Crawl the whole line from /voice by replaying key sequences, as a caller would: served at the
root, under a path the app is mounted at (SCRIPT_NAME), and behind a proxy under PUBLIC_BASE_URL's
path; every URL handed to Twilio keeps that path and answers."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask

from ivr.config import REPO_ROOT
from ivr.content import load_content
from ivr.engine import EMERGENCY, FORGET, LANGUAGE, MAX_SILENCES, SPECIALIST
from ivr.simulator import FlaskTransport, Phone, Turn
from tests.support.app import AUTH_TOKEN, BASE_URL, OPERATOR, answer, make_app, mounted, other_leg
from tests.support.twiml import assert_valid_twiml, query

pytestmark = pytest.mark.integration

KEYS = [*"0123456789", "*", "#"]
WAIT = "wait"
CONTENT = load_content(REPO_ROOT)
TREE = CONTENT.tree
LANGS = {"1": "en", "2": "hi"}
Place = tuple[str, str]  # (node, part) as the Gather's action URL carries them
NUMBERS = {"IVR_NEUROLOGIST_NUMBER": "+911140000001", "IVR_SURGICAL_REFERRALS_NUMBER": "+911140000002"}
PUBLIC = "https://example.org/ivr"


@dataclass(frozen=True)
class Deployment:
    """How the line is served: the app, how Twilio's requests reach it, the URL Twilio is given
    for the line (the console's voice URL without /voice), and the path every URL must keep."""

    name: str
    app: Callable[[], Flask]
    base_url: str
    root: str
    public_url: str | None = None  # the proxy in front takes this URL's path off

    def transport(self, app: Flask, valid: set[str]) -> CheckedTransport:
        return CheckedTransport(app, valid, self.public_url)


def _line(**overrides: Any) -> Flask:
    return make_app(OPERATOR_NUMBER=OPERATOR, DIRECTORY_ENV=NUMBERS, **overrides)


DEPLOYMENTS = {
    "root": Deployment("root", _line, BASE_URL, ""),
    # gunicorn --env SCRIPT_NAME=/ivr, or any WSGI server mounting the app at /ivr.
    "script_name": Deployment("script_name", lambda: mounted(_line(), "/ivr"), BASE_URL + "/ivr", "/ivr"),
    # nginx: location /ivr/ { proxy_pass http://app/; } in front of an app served at its root.
    "public_base_url": Deployment(
        "public_base_url", lambda: _line(PUBLIC_BASE_URL=PUBLIC), PUBLIC, "/ivr", PUBLIC
    ),
    # nginx passing /ivr/ through to an app mounted at /ivr, with PUBLIC_BASE_URL set too.
    "both": Deployment(
        "both", lambda: mounted(_line(PUBLIC_BASE_URL=PUBLIC, SCRIPT_NAME="/ivr"), "/ivr"), PUBLIC, "/ivr"
    ),
}


def topics() -> list[str]:
    """Every topic as a caller hears it: a series (its sections one after another), or a section."""
    return [*TREE.series, *(s for s in TREE.sections if TREE.series_of(s) is None)]


def has_end(section: str) -> bool:
    """Whether a section is where its topic ends: then it has an end state (part == part_count)."""
    return TREE.neighbour(section, +1) is None


def after_silence(node: str, part: int) -> Place:
    """Where silence during a topic's part leads: the next part, the next section of a series, or
    the topic's end."""
    if part + 1 < TREE.part_count(node):
        return node, str(part + 1)
    following = TREE.neighbour(node, +1)
    return (following, "0") if following is not None else (node, str(TREE.part_count(node)))


# Silence from the first part of the longest topic: every part plays, then its end is re-prompted
# MAX_SILENCES times, then the final warning, then goodbye.
LONGEST_TOPIC = max(sum(TREE.part_count(s) for s in TREE.topic_sections(t)) for t in topics())
WAITS_TO_HANGUP = LONGEST_TOPIC + MAX_SILENCES + 2


class CheckedTransport(FlaskTransport):
    """The app through its test client, checking every 200 reply against Twilio's TwiML schema."""

    def __init__(self, app: Any, valid: set[str], public_url: str | None = None) -> None:
        super().__init__(app, public_url)
        self.valid = valid  # bodies already checked (the same step gives the same reply)

    def post(self, url: str, params: Mapping[str, str], headers: Mapping[str, str]) -> tuple[int, str]:
        status, body = super().post(url, params, headers)
        if status == 200 and body not in self.valid:
            assert_valid_twiml(body)
            self.valid.add(body)
        return status, body


@dataclass
class Crawl:
    """What the crawl found: each (node, part) state with the shortest key path to it, and counts."""

    seen: dict[Place, list[str]] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    valid: set[str] = field(default_factory=set)


# Every attribute of a verb that names a URL Twilio requests (or plays), by verb.
URL_ATTRIBUTES = ("action", "url", "waitUrl", "statusCallback", "recordingStatusCallback")


def _check(turn: Turn, phone: Phone, deployment: Deployment) -> None:
    """Every reply parsed as TwiML; every Gather has an action and a no-input Redirect after it;
    every URL handed to Twilio is under the line's path and answers (those the phone does not
    follow itself, a whisper's and a queue's hold music, are fetched here)."""
    assert turn.error is None, turn.error
    assert all(status < 500 for _, status in turn.requests), turn.requests
    assert all(status != 404 for _, status in turn.requests), turn.requests
    for doc in turn.documents:
        children = list(doc)
        for i, verb in enumerate(children):
            if verb.tag == "Gather":
                assert verb.get("action"), ET.tostring(doc)
                after = children[i + 1 : i + 2]
                # A queue's hold (waitUrl) needs none: Twilio asks for it again when it ends.
                on_hold = urlsplit(verb.get("action", "")).path.endswith("/voice/hold/key")
                assert on_hold or (after and after[0].tag == "Redirect"), ET.tostring(doc)
        for verb in doc.iter():
            urls = [verb.get(name) for name in URL_ATTRIBUTES if verb.get(name)]
            urls += [(verb.text or "").strip()] if verb.tag in ("Redirect", "Play") else []
            for url in urls:
                assert url and url.startswith(f"{deployment.root}/voice/"), (
                    deployment.name,
                    ET.tostring(doc),
                )
            for name in ("url", "waitUrl"):  # Twilio requests these on another leg of the call
                if verb.get(name):
                    status, body = other_leg(phone, verb.get(name, ""))
                    assert status == 200 and ET.fromstring(body).tag == "Response", (name, status, body)
                    # The whisper's "press 1" and the hold's "press star" come back to the line too.
                    for inner in ET.fromstring(body).iter():
                        for url in [inner.get(n) for n in URL_ATTRIBUTES if inner.get(n)]:
                            assert url and url.startswith(f"{deployment.root}/voice/"), (name, body)


def _where(turn: Turn) -> Place | None:
    if turn.gather is None:
        return None
    q = query(turn.gather.get("action", ""))
    return q["n"], q["p"]


def _play(app: Flask, keys: list[str], result: Crawl, lang_key: str, deployment: Deployment) -> Turn:
    transport = deployment.transport(app, result.valid)
    phone = Phone(transport, base_url=deployment.base_url, auth_token=AUTH_TOKEN)
    turn = answer(phone, lang_key)
    for key in [None, *keys]:
        if phone.ended:
            break
        if key is not None:
            turn = phone.wait() if key == WAIT else phone.press(key)
        result.counts["replies"] += len(turn.requests)
        _check(turn, phone, deployment)
    return turn


def crawl(app: Flask, lang_key: str, deployment: Deployment) -> Crawl:
    """Breadth-first over (node, part) states, trying every key and silence from each."""
    phrases = CONTENT.prompts[LANGS[lang_key]].phrases
    result = Crawl()
    start = _where(_play(app, [], result, lang_key, deployment))
    assert start is not None
    result.seen[start] = []
    queue: deque[tuple[Place, list[str]]] = deque([(start, [])])
    while queue:
        place, path = queue.popleft()
        node, part = place
        for key in [*KEYS, WAIT]:
            turn = _play(app, [*path, key], result, lang_key, deployment)
            result.counts["paths"] += 1
            result.counts["transfers"] += bool(turn.dialed)
            state = _where(turn)
            if key == WAIT and node in TREE.sections and int(part) < TREE.part_count(node):
                # A topic plays through: silence after a part is the next part, with no apology.
                assert state == after_silence(node, int(part)), (path, state)
                assert phrases.no_input not in turn.says, path
                result.counts["played_on"] += 1
            if key != WAIT and state is not None and state not in result.seen:
                result.seen[state] = [*path, key]
                queue.append((state, [*path, key]))
        # Silence until the line gives up: it must end with words, not dead air.
        ending = _play(app, [*path, *[WAIT] * WAITS_TO_HANGUP], result, lang_key, deployment)
        assert ending.ended and ending.says == [phrases.goodbye], (path, ending.says)
        result.counts["hangups"] += 1
    result.counts["states"] = len(result.seen)
    result.counts["nodes"] = len({node for node, _ in result.seen})
    result.counts["distinct_replies"] = len(result.valid)
    return result


@pytest.mark.slow
@pytest.mark.parametrize(
    ("lang_key", "deployment"),
    [
        ("1", DEPLOYMENTS["root"]),
        ("2", DEPLOYMENTS["root"]),
        ("1", DEPLOYMENTS["script_name"]),
        ("2", DEPLOYMENTS["public_base_url"]),
        ("1", DEPLOYMENTS["both"]),
    ],
    ids=[
        "english",
        "hindi",
        "english-under-script-name",
        "hindi-under-public-base-url",
        "english-under-both",
    ],
)
def test_crawl_reaches_every_node_and_part_with_no_server_error(
    lang_key: str, deployment: Deployment
) -> None:
    result = crawl(deployment.app(), lang_key, deployment)
    expected = {(m, "0") for m in TREE.menus}
    expected |= {(s, str(i)) for s in TREE.sections for i in range(TREE.part_count(s))}
    # Each topic's end (again, text, back, main menu): the part after the last of its last section.
    ends = {(s, str(TREE.part_count(s))) for s in TREE.sections if has_end(s)}
    assert len(ends) == len(topics())
    expected |= ends
    # The system nodes: emergency advice, the language menu, a specialist's other ways (the
    # simulated specialists do not answer, so every transfer comes back there), and "forget my
    # number?" (star then 3 at the main menu).
    expected |= {(EMERGENCY, "0"), (LANGUAGE, "0"), (SPECIALIST, "0"), (FORGET, "0")}
    assert set(result.seen) == expected
    assert result.counts["nodes"] == len(TREE.nodes()) + 4
    assert result.counts["transfers"] == len(expected)  # 0 reaches a person from every state
    # Every part of every topic was heard playing on into the next one.
    assert result.counts["played_on"] == sum(TREE.part_count(s) for s in TREE.sections)
    print(f"\ncrawl: {dict(result.counts)}")


@pytest.mark.unit
def test_every_leaf_is_at_most_three_key_presses_from_the_main_menu() -> None:
    for section in TREE.sections:
        assert 1 <= len(TREE.keys_to(section)) <= 3, section
