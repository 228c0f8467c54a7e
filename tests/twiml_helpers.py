"""Read TwiML replies as XML: verbs, attributes and the state carried in action URLs."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import parse_qs, urlsplit


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
    return [(el.text or "").strip() for el in root.iter("Say")]


def query(url: str) -> dict[str, str]:
    """The query parameters of an action URL, one value each."""
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def node_of(root: ET.Element) -> str:
    """The node a menu reply leaves the caller at (from the Gather's action URL)."""
    return query(gather(root).get("action", ""))["n"]
