"""Read TwiML replies as XML: verbs, attributes and the state carried in action URLs."""

from __future__ import annotations

import functools
import os
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from lxml import etree

from ivr.config import REPO_ROOT

# Twilio's realtime-call TwiML schema (with the SSML schema it imports) is reference data kept
# beside the project, not in it: ../shared/twiml-schema, or wherever IVR_TWIML_SCHEMA points.
SCHEMA_DIR = Path(os.environ.get("IVR_TWIML_SCHEMA") or REPO_ROOT.parent / "shared" / "twiml-schema")
SCHEMA_FILE = "twiml_v20100401_twilioRealtimeCallSchema.xsd"


def verbs(root: ET.Element) -> list[str]:
    """The top-level verb names of a TwiML document."""
    return [child.tag for child in root]


def gather(root: ET.Element) -> ET.Element:
    """The single <Gather> of a menu reply."""
    found = root.findall("Gather")
    assert len(found) == 1, f"expected one Gather, got verbs {verbs(root)}"
    return found[0]


def spoken(root: ET.Element) -> list[str]:
    """Every <Say> text in document order, inside Gathers too."""
    return ["".join(el.itertext()).strip() for el in root.iter("Say")]  # a speed's <prosody> too


def query(url: str) -> dict[str, str]:
    """The query parameters of an action URL, one value each."""
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def node_of(root: ET.Element) -> str:
    """The node a menu reply leaves the caller at (from the Gather's action URL)."""
    return query(gather(root).get("action", ""))["n"]


def schema_at_hand() -> bool:
    """Whether Twilio's TwiML schema was found (SCHEMA_DIR)."""
    return _schema() is not None


@functools.cache
def _schema() -> etree.XMLSchema | None:
    path = SCHEMA_DIR / SCHEMA_FILE
    return etree.XMLSchema(etree.parse(str(path))) if path.is_file() else None


def assert_valid_twiml(body: bytes | str) -> None:
    """A reply must validate against Twilio's TwiML schema.

    Where the schema is not kept (it is reference data beside the project, not in it) the reply is
    not checked and a warning says so; the test calling this still runs everything else it asserts.
    tests/test_callers.py::test_twilio_schema_is_at_hand skips there, so a run shows it plainly.
    """
    schema = _schema()
    if schema is None:
        warnings.warn(f"no TwiML schema at {SCHEMA_DIR}: replies not validated", stacklevel=2)
        return
    document = etree.fromstring(body.encode() if isinstance(body, str) else body)
    # <Leave> (Twilio's docs: /docs/voice/twiml/leave, for a queue's waitUrl) is missing from the
    # published schema: checked here as Twilio describes it, empty and with no attributes, at the
    # top level, and taken out before the rest is validated.
    for leave in list(document.iter("Leave")):
        assert leave.getparent() is document and not len(leave) and not leave.attrib, body
        assert not (leave.text or "").strip(), body
        document.remove(leave)
    assert schema.validate(document), f"{schema.error_log}: {body!r}"[:2000]
