"""Crawl the whole line from /voice by replaying key sequences, as a caller would."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections import Counter, deque
from dataclasses import dataclass, field

import pytest
from flask import Flask

from ivr.config import REPO_ROOT
from ivr.content import load_content
from ivr.engine import EMERGENCY, LANGUAGE, MAX_SILENCES, SPECIALIST
from ivr.simulator import FlaskTransport, Phone, Turn
from tests.conftest import AUTH_TOKEN, BASE_URL, OPERATOR, answer, make_app
from tests.twiml_helpers import query

KEYS = [*"0123456789", "*", "#"]
WAIT = "wait"
TREE = load_content(REPO_ROOT).tree


@dataclass
class Crawl:
    """What the crawl found: each (node, part) state with the shortest key path to it, and counts."""

    seen: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)


def _check(turn: Turn) -> None:
    """Every reply parsed as TwiML; every Gather has an action and a no-input Redirect after it."""
    assert turn.error is None, turn.error
    assert all(status < 500 for _, status in turn.requests), turn.requests
    for doc in turn.documents:
        children = list(doc)
        for i, verb in enumerate(children):
            if verb.tag == "Gather":
                assert verb.get("action"), ET.tostring(doc)
                after = children[i + 1 : i + 2]
                assert after and after[0].tag == "Redirect", ET.tostring(doc)


def _where(turn: Turn) -> tuple[str, str] | None:
    if turn.gather is None:
        return None
    q = query(turn.gather.get("action", ""))
    return q["n"], q["p"]


def _play(app: Flask, keys: list[str], result: Crawl, lang_key: str) -> Turn:
    phone = Phone(FlaskTransport(app), base_url=BASE_URL, auth_token=AUTH_TOKEN)
    turn = answer(phone, lang_key)
    for key in [None, *keys]:
        if phone.ended:
            break
        if key is not None:
            turn = phone.wait() if key == WAIT else phone.press(key)
        result.counts["replies"] += len(turn.requests)
        _check(turn)
    return turn


def crawl(app: Flask, lang_key: str) -> Crawl:
    """Breadth-first over (node, part) states, trying every key and silence from each."""
    result = Crawl()
    start = _where(_play(app, [], result, lang_key))
    assert start is not None
    result.seen[start] = []
    queue: deque[list[str]] = deque([[]])
    while queue:
        path = queue.popleft()
        for key in [*KEYS, WAIT]:
            turn = _play(app, [*path, key], result, lang_key)
            result.counts["paths"] += 1
            result.counts["transfers"] += bool(turn.dialed)
            state = _where(turn)
            if key != WAIT and state is not None and state not in result.seen:
                result.seen[state] = [*path, key]
                queue.append([*path, key])
        # Silence until the line gives up: it must end with words, not dead air.
        ending = _play(app, [*path, *[WAIT] * (2 * MAX_SILENCES + 4)], result, lang_key)
        assert ending.ended and ending.says, path
        result.counts["hangups"] += 1
    result.counts["states"] = len(result.seen)
    result.counts["nodes"] = len({node for node, _ in result.seen})
    return result


@pytest.mark.parametrize("lang_key", ["1", "2"], ids=["english", "hindi"])
def test_crawl_reaches_every_node_and_part_with_no_server_error(lang_key: str) -> None:
    numbers = {"IVR_NEUROLOGIST_NUMBER": "+911100000001", "IVR_SURGICAL_REFERRALS_NUMBER": "+911100000002"}
    result = crawl(make_app(OPERATOR_NUMBER=OPERATOR, DIRECTORY_ENV=numbers), lang_key)
    expected = {(m, "0") for m in TREE.menus} | {
        (s, str(i)) for s in TREE.sections for i in range(TREE.part_count(s))
    }
    # The system nodes: emergency advice, the language menu, and a specialist's other ways (the
    # simulated specialists do not answer, so every transfer comes back there).
    expected |= {(EMERGENCY, "0"), (LANGUAGE, "0"), (SPECIALIST, "0")}
    assert set(result.seen) == expected
    assert result.counts["nodes"] == len(TREE.nodes()) + 3
    assert result.counts["transfers"] == len(expected)  # 0 reaches a person from every state
    print(f"\ncrawl: {dict(result.counts)}")


def test_every_leaf_is_at_most_three_key_presses_from_the_main_menu() -> None:
    for section in TREE.sections:
        assert 1 <= len(TREE.keys_to(section)) <= 3, section
