"""Rendering a topic's missing audio from the clinical review page, in the background.

The same synthesis as `flask audio render` (ivr/audio/cache.py `render`): every file in a fresh
process of its own (pyttsx3's one `save_to_file` per `runAndWait`, never an engine shared across
threads), so a thread of the web server may start it. One render per topic and language at a time
in a process; a page reload shows what is done (each file appears whole: written aside, then moved).
"""

from __future__ import annotations

import logging
import threading

from ivr.audio import cache
from ivr.audio.cache import AudioSettings, Plan
from ivr.engine import RATES, Line
from ivr.web.review_status import parts

log = logging.getLogger("ivr.web.review")

RENDER_JOBS = 2  # synthesis processes at once: the web server keeps answering calls meanwhile


def missing_plan(line: Line, settings: AudioSettings, topic: str, lang: str) -> Plan:
    """The audio files of a topic in one language, at every speed, that are not rendered yet."""
    texts = {sentence.spoken for part in parts(line, settings, topic, lang) for sentence in part.sentences}
    items = [
        i
        for i in cache.plan(line, settings, RATES).items
        if i.sentence.lang == lang and i.sentence.text in texts
    ]
    return Plan(items=items, missing=[i for i in items if not i.path.is_file()])


class BackgroundRenders:
    """Renders running in this process, one per (audio directory, topic, language)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[tuple[str, str, str], threading.Thread] = {}

    def start(self, settings: AudioSettings, topic: str, lang: str, todo: Plan) -> bool:
        """Render `todo`'s missing files in a thread; False if this topic and language is already
        being rendered here."""
        key = (str(settings.audio_dir), topic, lang)
        with self._lock:
            running = self._running.get(key)
            if running is not None and running.is_alive():
                return False
            thread = threading.Thread(
                target=self._render,
                args=(settings, topic, lang, todo),
                name=f"render {topic} {lang}",
                daemon=True,
            )
            self._running[key] = thread
            thread.start()
        return True

    def running(self, settings: AudioSettings, topic: str, lang: str) -> bool:
        """Whether this topic and language is being rendered in this process now."""
        thread = self._running.get((str(settings.audio_dir), topic, lang))
        return thread is not None and thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        """Wait for every render started here to end (tests, and a clean shutdown)."""
        for thread in list(self._running.values()):
            thread.join(timeout)

    @staticmethod
    def _render(settings: AudioSettings, topic: str, lang: str, todo: Plan) -> None:
        try:
            report = cache.render(todo, settings, jobs=RENDER_JOBS)
        except Exception:  # a bad voice setting fails every file alike: said in the log, the page still flags
            log.exception("rendering the audio of topic %s (%s) failed", topic, lang)
            return
        for item, why in report.failed:
            log.error("audio of topic %s (%s) not rendered: %s: %s", topic, lang, item.path.name, why)
        log.info("rendered %d audio files of topic %s (%s)", len(report.rendered), topic, lang)


RENDERS = BackgroundRenders()
