"""Every fact of the seed article can be heard on the line within three key presses."""

from __future__ import annotations

import pytest

from ivr.simulator import Phone
from tests.conftest import answer
from tests.twiml_helpers import query

# (keys from the main menu, words the caller must hear in that topic): the article, fact by fact.
FACTS: list[tuple[str, list[str]]] = [
    ("1", ["brain", "nerves", "upper motor neurons", "neuromuscular system", "inherited"]),
    ("1", ["get worse over time", "weakness", "tiredness", "birth", "childhood", "adult"]),
    ("21", ["mild, moderate, or life threatening", "Muscle weakness", "Muscle wasting", "Muscle cramps"]),
    ("21", ["spasticity", "Muscle pain", "Difficulty breathing", "Difficulty swallowing"]),
    ("21", ["breathing or swallowing trouble is urgent", "emergency help", "press 5"]),
    ("22", ["passed down in families", "new change in a gene", "immune system", "poisoning"]),
    ("22", ["inflammation", "toxins", "tumours"]),
    ("22", ["genetic mutation", "viral infection", "autoimmune disorder", "hormonal disorder"]),
    ("22", ["metabolic disorder", "dietary deficiency", "drugs and poisons", "Unknown factors"]),
    ("31", ["six types", "Muscular dystrophies", "Peripheral motor neuron diseases"]),
    ("31", ["Motor neuron diseases"]),
    ("31", ["Neuromuscular junction diseases", "Myopathies", "Metabolic diseases of the muscle"]),
    ("321", ["structure of the muscle cells"]),
    ("322", ["tone", "muscles you control", "inflammation of the muscles or the tissue around them"]),
    ("323", ["errors in metabolism", "energy"]),
    ("331", ["nerve cells in the spinal cord"]),
    ("332", ["arms, legs, neck, and face"]),
    ("34", ["where a nerve meets a muscle"]),
    ("4", ["no cure for most", "managed"]),
    ("41", ["immunosuppressants", "nerve diseases", "junction where nerve meets muscle"]),
    ("41", ["neuropathy", "Anticonvulsant", "antidepressant", "pain"]),
    ("42", ["surgeons", "thoracic surgery", "neurological surgery", "orthopaedic surgery", "Other kinds"]),
]


def listen_to_topic(phone: Phone, keys: str) -> str:
    """Press the keys, then 1 through every part; return everything heard."""
    turn = answer(phone)
    heard = []
    for key in keys:
        turn = phone.press(key)
        heard.append(turn.text)
    node = query(turn.gather.get("action", "") if turn.gather is not None else "")["n"]
    for _ in range(10):
        turn = phone.press("1")
        if turn.gather is None or query(turn.gather.get("action", ""))["n"] != node:
            break
        heard.append(turn.text)
    return " ".join(heard)


@pytest.mark.parametrize(("keys", "facts"), FACTS, ids=[f"{k}-{f[0]}" for k, f in FACTS])
def test_seed_fact_is_spoken(phone: Phone, keys: str, facts: list[str]) -> None:
    assert len(keys) <= 3
    heard = listen_to_topic(phone, keys).lower()
    for fact in facts:
        assert fact.lower() in heard, fact
