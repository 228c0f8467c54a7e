"""Every fact of the seed article can be heard on the line within three key presses."""

from __future__ import annotations

import pytest

from ivr.simulator import Phone
from tests.twiml_helpers import query

# (keys from the main menu, words the caller must hear in that topic): the article, fact by fact.
FACTS: list[tuple[str, list[str]]] = [
    ("1", ["brain", "nerves", "upper motor neurons", "neuromuscular system", "inherited"]),
    ("1", ["get worse over time", "weakness", "tiredness", "birth", "childhood", "adult"]),
    ("2", ["mild, moderate, or life threatening", "Muscle weakness", "Muscle wasting", "Muscle cramps"]),
    ("2", ["spasticity", "Muscle pain", "Difficulty breathing", "Difficulty swallowing"]),
    ("3", ["passed down in families", "new change in a gene", "immune system", "poisoning"]),
    ("3", ["inflammation", "toxins", "tumours"]),
    ("3", ["genetic mutation", "viral infection", "autoimmune disorder", "hormonal disorder"]),
    ("3", ["metabolic disorder", "dietary deficiency", "drugs and poisons", "Unknown factors"]),
    ("41", ["six types", "Muscular dystrophies", "Peripheral motor neuron diseases"]),
    ("41", ["Motor neuron diseases"]),
    ("41", ["Neuromuscular junction diseases", "Myopathies", "Metabolic diseases of the muscle"]),
    ("421", ["structure of the muscle cells"]),
    ("422", ["tone", "muscles you control", "inflammation of the muscles or the tissue around them"]),
    ("423", ["errors in metabolism", "energy"]),
    ("431", ["nerve cells in the spinal cord"]),
    ("432", ["arms, legs, neck, and face"]),
    ("44", ["where a nerve meets a muscle"]),
    ("5", ["no cure for most", "managed"]),
    ("51", ["immunosuppressants", "nerve diseases", "junction where nerve meets muscle"]),
    ("51", ["neuropathy", "Anticonvulsant", "antidepressant", "pain"]),
    ("52", ["surgeons", "thoracic surgery", "neurological surgery", "orthopaedic surgery", "Other kinds"]),
]


def listen_to_topic(phone: Phone, keys: str) -> str:
    """Press the keys, then 1 through every part; return everything heard."""
    turn = phone.dial()
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
