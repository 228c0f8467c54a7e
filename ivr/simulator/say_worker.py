"""Speak one text aloud with pyttsx3, then exit: `python say_worker.py < job.json`.

Run by ivr.simulator.loudspeaker in a fresh process per sentence (pyttsx3's espeak engine cannot be
reused safely within a process). It imports nothing from ivr, so that it starts fast.
"""

from __future__ import annotations

import json
import sys
from typing import Any


def main() -> int:
    """Read {text, rate, voice} as JSON on stdin and speak it on the default sound device."""
    job: dict[str, Any] = json.load(sys.stdin)
    import pyttsx3

    engine = pyttsx3.init()
    errors: list[str] = []
    engine.connect("error", lambda name=None, exception=None: errors.append(repr(exception)))
    if job.get("voice"):
        engine.setProperty("voice", job["voice"])
    engine.setProperty("rate", int(job["rate"]))
    engine.say(job["text"])
    engine.runAndWait()
    if errors:
        print("pyttsx3 errors: " + "; ".join(errors), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
