"""Reading a staff page's tables as a person with a screen reader meets them: by caption, cell by cell."""

from __future__ import annotations

from lxml import etree, html


def _text(cell: etree._Element) -> str:
    return " ".join("".join(str(piece) for piece in cell.itertext()).split())


def table_by_caption(page: str, caption_id: str) -> list[list[str]]:
    """The rows of the table whose <caption> has this id, header row first: each cell's text, its
    whitespace collapsed. Fails when there is no such table."""
    doc = html.fromstring(page)
    tables = [t for t in doc.iter("table") if t.find(f"caption[@id='{caption_id}']") is not None]
    assert tables, f"no table captioned #{caption_id}"
    return [[_text(cell) for cell in row if cell.tag in ("th", "td")] for row in tables[0].iter("tr")]
