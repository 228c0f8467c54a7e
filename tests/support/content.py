"""Writable copies of the real content (prompts/ and knowledge/) and edits to them."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from ivr.config import REPO_ROOT


def copy_content(root: Path) -> Path:
    """Copy the real prompts/ and knowledge/ to root."""
    for name in ("prompts", "knowledge"):
        shutil.copytree(REPO_ROOT / name, root / name)
    return root


def english_only_copy(root: Path) -> Path:
    """Copy the real content to root with English alone: no Hindi prompts, sections or tree texts."""
    copy_content(root)
    (root / "prompts" / "hi.yaml").unlink()
    shutil.rmtree(root / "knowledge" / "sections" / "hi")

    def drop(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: drop(v) for k, v in node.items() if k != "hi"}
        if isinstance(node, list):
            return [drop(v) for v in node if v != "hi"]
        return node

    for name in ("tree.yaml", "specialists.yaml"):
        path = root / "knowledge" / name
        path.write_text(yaml.safe_dump(drop(yaml.safe_load(path.read_text())), allow_unicode=True))
    return root


def edit(path: Path, old: str, new: str) -> None:
    """Replace the first `old` in a file with `new`; `old` must be there."""
    text = path.read_text()
    assert old in text, f"fixture text not found in {path}: {old!r}"
    path.write_text(text.replace(old, new, 1))


def emergency_in_a_list_item(root: Path) -> None:
    """Edit a content copy so that a list item holds the {emergency} token (the README: anywhere in a
    section's text, it is the number of the line's settings)."""
    path = root / "knowledge" / "sections" / "en" / "symptoms.md"
    raw = path.read_text(encoding="utf-8")
    assert raw.count("\n- Difficulty swallowing.\n") == 1
    path.write_text(
        raw.replace("\n- Difficulty swallowing.\n", "\n- Difficulty swallowing. Call {emergency}.\n")
    )


def repeat_key(path: Path, after: str, again: str) -> tuple[int, int]:
    """Write a key a second time: insert the line `again` after the (first) line holding `after`,
    whose key it repeats. Returns the 1-based lines of the first and the second writing."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if after in line)
    lines.insert(first + 1, again + "\n")
    path.write_text("".join(lines), encoding="utf-8")
    return first + 1, first + 2
