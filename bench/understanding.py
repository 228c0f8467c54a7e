"""How well the line understands what callers say, and how fast: two approaches side by side.

Run: .venv/bin/python bench/understanding.py [--set PATH ...] [--show]

For each set (the development set ../shared/caller-utterances.yaml, our own validation set
tests/data/validation-utterances.yaml and the sets written blind then tuned on,
tests/data/tuned-utterances-*.yaml), every utterance is said at the main menu (and the sub-menus)
and/or inside a topic, as its `ctx` says, and judged by where the line's next step leaves the caller:
- right: one of the destinations the set allows;
- asked: the line asked "Did you mean ...?" (neither right nor wrong);
- missed: "Sorry, I did not understand that." (not understood);
- wrong: anywhere else.
Approaches:
- exact: the line's matching before this change (the longest phrase found word for word), with
  today's word lists;
- fuzzy: the line now (ivr.engine.understanding): emergency words first, then weighted fuzzy
  phrases over Devanagari and Latin alike (rapidfuzz, indic-transliteration), descriptions of
  symptoms last, and a question when unsure.
Prints the confusion by class, the wrong and not-understood lists (--show), every emergency
missed, the false emergencies (ordinary questions taken to the emergency advice), the time to
understand one utterance (p50/p99, in-process) and the memory the understanding takes per worker.
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ivr import speech
from ivr.config import REPO_ROOT
from ivr.content import load_content
from ivr.engine import CHOSEN, GREETED, SAFETY, CallerInput, CallState, Kind, Line, next_step, understanding
from ivr.engine.flow import respond
from ivr.simulator.utterances import CLASSES, Utterance, is_right, landed, load, start

SETS = [
    REPO_ROOT.parent / "shared" / "caller-utterances.yaml",
    REPO_ROOT / "tests" / "data" / "validation-utterances.yaml",
    *sorted((REPO_ROOT / "tests" / "data").glob("tuned-utterances-*.yaml")),
]
IN_CALL = CHOSEN | GREETED | SAFETY
Resolve = Callable[[Line, CallState, CallerInput], "understanding.Heard | None"]


def start_state(line: Line, utterance: Utterance) -> CallState:
    """Where the utterance is said: the main menu, a sub-menu, or a topic's second part."""
    lang = utterance.lang if utterance.lang in line.content.prompts else line.content.default_language
    node, part = start(line.content.tree, utterance)
    return CallState(node, part=part, lang=lang, flags=IN_CALL)


def judge(line: Line, utterance: Utterance, resolve: Resolve | None = None) -> str:
    """right, wrong, asked or missed, with the line as it is (or an alternative resolve)."""
    state = start_state(line, utterance)
    inp = CallerInput(speech=utterance.say)
    if resolve is not None:
        step = respond(line, state, inp, resolve(line, state, inp))
    else:
        step = next_step(line, state, inp)
    while step.kind is Kind.EFFECT:  # a text or a call back: say it went well, as the webhook does
        step = next_step(line, step.state, CallerInput(outcome=(step.effect or "", "saved")))
    where = landed(line.content.tree, (state.node, state.part), step)
    if where == "confirm":
        return "asked"
    if where == "miss":
        return "missed"
    right = is_right(line.content.tree, utterance, (state.node, state.part), step, step.state.lang)
    return "right" if right else "wrong"


def exact_resolve(line: Line) -> Resolve:
    """The line's understanding before this change: the longest phrase found word for word."""

    def resolve(line_: Line, state: CallState, inp: CallerInput) -> understanding.Heard | None:
        if inp.digits:
            return understanding.resolve(line_, state, inp)
        words = speech.normalise(inp.speech).split()
        best: tuple[int, int, str] | None = None
        for result, phrases in understanding.choices(line_, state).items():
            for phrase in phrases:
                tokens = speech.normalise(phrase).split()
                ends = [
                    i + len(tokens)
                    for i in range(len(words))
                    if tokens and words[i : i + len(tokens)] == tokens
                ]
                if ends and (best is None or (len(tokens), ends[-1]) > best[:2]):
                    best = (len(tokens), ends[-1], result)
        if best is None:
            return None
        kind, _, value = best[2].partition(":")
        return understanding.Heard(kind, value)

    return resolve


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--set", action="append", type=Path, help="an utterance set (default: both)")
    parser.add_argument("--show", action="store_true", help="list every wrong and not-understood utterance")
    args = parser.parse_args()
    before = rss_mib()
    content = load_content(REPO_ROOT)
    line = Line(content=content)
    loaded = rss_mib()
    # Every place's understanding, made ready as a worker would over time.
    for node in [*content.tree.nodes(), "_language", "_emergency", "_specialist", "_confirm"]:
        for lang in content.languages:
            understanding._ear(
                line, CallState(node, lang=lang, pending="action:operator" if node == "_confirm" else "")
            )
    gc.collect()
    ready = rss_mib()
    for path in args.set or SETS:
        if not path.is_file():
            print(f"(no set at {path})")
            continue
        utterances = load(path)
        print(f"\n{path.name}: {len(utterances)} utterances (each context counted)")
        for name, resolve in (("exact", exact_resolve(line)), ("fuzzy", None)):
            verdicts = [(u, judge(line, u, resolve)) for u in utterances]
            counts = Counter(v for _, v in verdicts)
            total = len(verdicts)
            print(
                f"  {name:<6} right {counts['right'] / total:6.1%}  wrong {counts['wrong'] / total:6.1%}"
                f"  asked {counts['asked'] / total:6.1%}  not understood {counts['missed'] / total:6.1%}"
            )
            for kind in CLASSES:
                mine = [v for u, v in verdicts if u.kind == kind]
                if mine:
                    c = Counter(mine)
                    print(
                        f"         {kind:<20} {len(mine):>4}: right {c['right']:>3}  wrong {c['wrong']:>3}"
                        f"  asked {c['asked']:>3}  missed {c['missed']:>3}"
                    )
            missed_emergencies = [u for u, v in verdicts if u.kind == "emergency" and v != "right"]
            print(f"         emergencies not recognised: {len(missed_emergencies)}")
            if name == "fuzzy":
                for u in missed_emergencies:
                    print(f"           ! {u.lang} {u.ctx}: {u.say!r}")
                # A question about breathing or seizures taken for an emergency: safe, but no answer.
                false_alarms = [
                    u for u, v in verdicts if v == "wrong" and _landing(line, u).startswith("emergency")
                ]
                print(f"         false emergencies: {len(false_alarms)}")
                if args.show:
                    for u, v in verdicts:
                        if v in ("wrong", "missed", "asked"):
                            step = _landing(line, u)
                            print(
                                f"           {v:<6} {u.lang} {u.ctx}: {u.say!r} -> {step}"
                                f" (wanted {list(u.to)})"
                            )
    timings = []
    for path in args.set or SETS:
        if path.is_file():
            for u in load(path):
                state = start_state(line, u)
                inp = CallerInput(speech=u.say)
                began = time.perf_counter()
                understanding.resolve(line, state, inp)
                timings.append((time.perf_counter() - began) * 1000)
    timings.sort()
    p50 = statistics.median(timings)
    p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))]
    print(
        f"\ntime to understand one utterance, in-process: p50 {p50:.2f} ms, p99 {p99:.2f} ms,"
        f" max {timings[-1]:.2f} ms"
    )
    # The longest account the webhook keeps (ivr/phone/views.py: 2 x 1000 characters), said in full.
    story = "my grandmother lives in the village and has been unwell for some years and "
    account = (story * 30)[: 2 * 1000 - 30] + " now she is not breathing"
    state = CallState(line.content.tree.root, flags=IN_CALL)
    long_ms = []
    for _ in range(20):
        began = time.perf_counter()
        understanding.resolve(line, state, CallerInput(speech=account))
        long_ms.append((time.perf_counter() - began) * 1000)
    print(f"a 2000-character account: p50 {statistics.median(long_ms):.1f} ms, max {max(long_ms):.1f} ms")
    print(
        f"memory: content loaded {loaded - before:.1f} MiB; every place's understanding made ready"
        f" +{ready - loaded:.1f} MiB (max RSS)"
    )


def _landing(line: Line, u: Utterance) -> str:
    state = start_state(line, u)
    step = next_step(line, state, CallerInput(speech=u.say))
    where = landed(line.content.tree, (state.node, state.part), step)
    heard = understanding.resolve(line, state, CallerInput(speech=u.say))
    return f"{where} ({heard.kind + ':' + heard.value if heard else '-'})"


if __name__ == "__main__":
    main()
