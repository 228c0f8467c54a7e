"""Render one text to one WAV with pyttsx3 on espeak-ng, then exit: `python worker.py < job.json`.

Run by ivr.audio.tts in a fresh process per file. It imports nothing from ivr, so that it starts fast.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any

EXIT_BAD_JOB = 3  # the job itself is wrong (e.g. unknown voice): retrying cannot help
EXIT_ENGINE = 4  # pyttsx3 reported an error while running


def _voice_id(engine: Any, wanted: str) -> str:
    """The espeak voice for a voice id, name or language code (as `espeak-ng -v` accepts)."""
    # espeak's SetVoiceByName, which pyttsx3 uses, knows ids and names but not languages like en-gb.
    key = wanted.strip().lower()
    for voice in engine.getProperty("voices"):
        if key in (voice.id, voice.name.lower(), *(lang.lower() for lang in voice.languages)):
            return str(voice.id)
    return wanted


def main() -> int:
    """Read {text, path, rate, voice} as JSON on stdin and write the WAV to path."""
    job: dict[str, Any] = json.load(sys.stdin)
    # The espeak driver prints "Audio saved to ..." on stdout; keep our stdout for nothing else.
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    import pyttsx3

    engine = pyttsx3.init("espeak")
    errors: list[str] = []
    finished = threading.Event()

    def on_error(**event: Any) -> None:
        errors.append(repr(event.get("exception")))

    def on_finished(**event: Any) -> None:
        finished.set()

    # pyttsx3 swallows exceptions raised inside its run loop and only notifies them.
    engine.connect("error", on_error)
    engine.connect("finished-utterance", on_finished)
    # Straight to the driver, then wait for espeak's own thread to have applied them: queued, they
    # would be applied during runAndWait, whose end-of-loop stop() cancels what espeak has not yet
    # taken from its queue (the rate, then the sentence is spoken at the driver's default 200 wpm
    # and cached under the rate asked for: 6 in 360 renders at load ~5 on 2 cores).
    from pyttsx3.drivers import _espeak

    driver = engine.proxy._driver
    try:
        if job.get("voice"):
            driver.setProperty("voice", _voice_id(engine, str(job["voice"])))
        driver.setProperty("rate", int(job["rate"]))
    except ValueError as exc:  # e.g. an unknown voice
        print(f"pyttsx3 errors: {exc!r}", file=sys.stderr)
        return EXIT_BAD_JOB
    _espeak.Synchronize()
    # Exactly one save_to_file per runAndWait: queued saves are dropped or overwrite each other
    # (nateshmbhat/pyttsx3#170, #283).
    engine.save_to_file(job["text"], job["path"])
    engine.runAndWait()
    # runAndWait can return while espeak is still synthesising on its own thread, and the file is
    # only written at the end (nateshmbhat/pyttsx3#219): wait for the utterance to finish.
    if not errors and not finished.wait(float(job.get("timeout", 60))):
        print("pyttsx3 never finished the utterance", file=sys.stderr)
        return EXIT_ENGINE
    if errors:
        print("pyttsx3 errors: " + "; ".join(errors), file=sys.stderr)
        return EXIT_BAD_JOB if any("voice" in e for e in errors) else EXIT_ENGINE
    return 0


if __name__ == "__main__":
    sys.exit(main())
