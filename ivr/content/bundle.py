"""`Content`: everything the line can say, as loaded and cross-checked (ivr/content/loader.py)."""

from __future__ import annotations

from dataclasses import dataclass

from ivr.content.directory import DirectoryFile
from ivr.content.models import Prompts
from ivr.content.tree import Tree


@dataclass(frozen=True)
class Content:
    """Everything the line can say: the tree plus the prompts of each language."""

    tree: Tree
    prompts: dict[str, Prompts]
    default_language: str
    directory: DirectoryFile | None = None

    @property
    def languages(self) -> list[str]:
        """The languages, default first."""
        return [self.default_language, *sorted(set(self.prompts) - {self.default_language})]
