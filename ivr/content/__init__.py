"""Content: models, loader and the validated tree."""

from ivr.content.bundle import Content
from ivr.content.loader import ContentError, load_content
from ivr.content.tree import Tree

__all__ = ["Content", "ContentError", "Tree", "load_content"]
