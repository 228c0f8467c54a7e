"""Every fact of the seed article can be heard on the line within two key presses.

A caller hears each fact whether they listen (a topic plays through by itself) or press 1
for each next part as soon as it starts.
"""

from __future__ import annotations

import pytest

from ivr.config import REPO_ROOT
from ivr.content import load_content
from ivr.simulator import Phone, Turn
from tests.support.app import answer
from tests.support.twiml import query

pytestmark = pytest.mark.integration

TREE = load_content(REPO_ROOT).tree
MAX_TURNS = 20  # more replies than the longest topic has parts: a topic that never ends fails

# (keys from the main menu, words the caller must hear in that topic): the article, fact by fact.
FACTS: list[tuple[str, list[str]]] = [
    ("4", ["brain", "nerves", "upper motor neurons", "neuromuscular system", "many of them", "inherited"]),
    ("4", ["get worse over time", "weakness", "tiredness", "birth", "childhood", "adult"]),
    ("11", ["mild, moderate, or life threatening", "Muscle weakness", "Muscle wasting", "Muscle cramps"]),
    ("11", ["spasticity", "Muscle pain", "Difficulty breathing", "Difficulty swallowing"]),
    ("11", ["trouble breathing or swallowing is urgent", "call 1 1 2 straight away"]),
    ("12", ["passed down in families", "new change in a gene", "immune system", "poisoning"]),
    ("12", ["inflammation", "toxins", "tumours"]),
    ("12", ["genetic mutation", "viral infection", "autoimmune disorder", "hormonal disorder"]),
    ("12", ["metabolic disorder", "dietary deficiency", "drugs and poisons", "Unknown factors"]),
    ("3", ["six types", "Muscular dystrophies", "Peripheral motor neuron diseases"]),
    ("3", ["Motor neuron diseases"]),
    ("3", ["Neuromuscular junction diseases", "Myopathies", "Metabolic diseases of the muscle"]),
    ("3", ["structure of the muscle cells"]),
    (
        "3",
        ["tighten", "tone", "muscles you control", "inflammation of the muscles or the tissue around them"],
    ),
    ("3", ["errors in metabolism", "energy"]),
    ("3", ["nerve cells in the spinal cord"]),
    ("3", ["arms, legs, neck, and face"]),
    ("3", ["where a nerve meets a muscle"]),
    ("21", ["no cure for most", "managed"]),
    ("22", ["no cure for most", "managed"]),
    ("21", ["immunosuppressants", "nerve diseases", "junction where nerve meets muscle"]),
    ("21", ["neuropathy", "Anticonvulsant", "antidepressant", "pain"]),
    ("22", ["surgeons", "thoracic surgery", "neurological surgery", "orthopaedic surgery", "Other kinds"]),
]


def at_end(turn: Turn) -> bool:
    """Whether a reply is a topic's end: the part after the last part of its last section."""
    assert turn.gather is not None, (turn.says, turn.error)
    action = query(turn.gather.get("action", ""))
    node = action["n"]
    return node in TREE.sections and int(action["p"]) == TREE.part_count(node)


def hear_topic(phone: Phone, keys: str, *, by: str) -> str:
    """Press the keys from the main menu, then listen (or press 1 each part) to the topic's end;
    return everything heard from choosing the topic on."""
    answer(phone)
    heard = []
    for key in keys:
        turn = phone.press(key)
        heard.append(turn.text)
    for _ in range(MAX_TURNS):
        if at_end(turn):
            return " ".join(heard)
        turn = phone.wait() if by == "listening" else phone.press("1")
        heard.append(turn.text)
    raise AssertionError(f"the topic behind {keys} did not reach its end in {MAX_TURNS} replies")


@pytest.mark.parametrize("by", ["listening", "pressing 1"])
@pytest.mark.parametrize(("keys", "facts"), FACTS, ids=[f"{k}-{f[0]}" for k, f in FACTS])
def test_seed_fact_is_spoken(phone: Phone, keys: str, facts: list[str], by: str) -> None:
    assert len(keys) <= 2, "no topic is behind more than two menus"
    heard = hear_topic(phone, keys, by=by).lower()
    for fact in facts:
        assert fact.lower() in heard, fact
