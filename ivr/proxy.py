"""What the proxy in front of the app (nginx, deploy/) answers a webhook when the app cannot: the
busy reply, so that a caller hears "the line is busy, please call again in a few minutes" instead
of Twilio's "an application error has occurred".

nginx answers it when it gets no reply from any app server: all down or refusing (502), the listen
queue of every worker full under overload (502), or no answer within its 12 s (504). The app has
not seen the request, so nothing the caller did is lost or done twice; the caller is told the truth
and the call ends (<Hangup/>).

Run: `python -m ivr.proxy busy-map OUT` (bin/production does, before starting nginx) writes an
nginx `map` from the call's language (the `l` query parameter every webhook URL of a call carries)
to the busy TwiML in that language, the default language for any other value. It reads only the
settings and the content (no database), so it runs on a front machine too. The words are the
prompts' `busy` phrase, spoken with Twilio's <Say> even when the line plays its own audio: the
audio would be fetched from the app that is not answering.
"""

from __future__ import annotations

import sys
from pathlib import Path

from ivr.config import SettingsError, from_env
from ivr.content import Content, ContentError, load_content
from ivr.engine.codec import PARAM
from ivr.twiml import SayNarrator, busy_reply

# nginx variables: the one the map sets, and the query argument it reads.
MAP_VARIABLE = "$ivr_busy_twiml"
LANG_ARGUMENT = f"$arg_{PARAM['lang']}"


def _nginx_string(text: str) -> str:
    """`text` as a single-quoted nginx string. A `$` would start a variable there, so it is written
    as the XML character reference &#36; (the TwiML reads the same)."""
    if any(c in text for c in "\r\n"):
        raise ValueError("the busy TwiML must be one line")
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'").replace("$", "&#36;") + "'"


def busy_map(content: Content) -> str:
    """An nginx `map` block (a str): the call's language -> its busy TwiML (Twilio's <Say>)."""
    narrator = SayNarrator()
    default = content.default_language
    lines = [f"map {LANG_ARGUMENT} {MAP_VARIABLE} {{"]
    lines.append(f"    default {_nginx_string(busy_reply(content.prompts[default], narrator))};")
    for lang, prompts in sorted(content.prompts.items()):
        if lang != default:
            lines.append(f"    {lang} {_nginx_string(busy_reply(prompts, narrator))};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    """`busy-map OUT`: write the map to OUT. Exit 0; 2 on bad arguments; 4 (with the reason on
    stderr, like the app's refusal to start) on bad settings or content."""
    if len(argv) != 2 or argv[0] != "busy-map":
        print("usage: python -m ivr.proxy busy-map OUT", file=sys.stderr)
        return 2
    try:
        settings = from_env()
        content = load_content(Path(settings["CONTENT_DIR"]), settings["DEFAULT_LANGUAGE"])
    except (SettingsError, ContentError) as exc:
        print(f"refusing to start: {exc}", file=sys.stderr)
        return 4
    Path(argv[1]).write_text(busy_map(content), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
