"""The layout a newcomer reads: small modules, no import cycles, one door to the app's services."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import grimp
import pytest

from ivr.config import REPO_ROOT

PACKAGE = REPO_ROOT / "ivr"
MAX_LINES = 500

pytestmark = pytest.mark.unit


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected sets of two or more modules (Tarjan), each a set that imports itself round."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in sorted(graph.find_modules_directly_imported_by(module)):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 5000))
    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_module_imports_itself_round_a_circle_even_for_type_checking() -> None:
    graph = grimp.build_graph("ivr", exclude_type_checking_imports=False, cache_dir=None)
    assert len(graph.modules) > 50, "the graph holds the whole package"
    assert _cycles(graph) == []


def test_the_cycle_finder_finds_a_circle() -> None:
    graph = grimp.ImportGraph()
    for a, b in (("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d")):
        graph.add_import(importer=a, imported=b)
    assert _cycles(graph) == [["p.a", "p.b", "p.c"]]


def test_every_module_is_small_enough_to_read() -> None:
    sizes = {
        str(path.relative_to(REPO_ROOT)): len(path.read_text(encoding="utf-8").splitlines())
        for path in PACKAGE.rglob("*.py")
    }
    assert len(sizes) > 50
    assert {name: n for name, n in sizes.items() if n > MAX_LINES} == {}


def test_only_the_services_module_reaches_into_app_extensions() -> None:
    readers = {
        str(path.relative_to(REPO_ROOT))
        for path in PACKAGE.rglob("*.py")
        if re.search(r"\.extensions\b", path.read_text(encoding="utf-8"))
    }
    assert readers == {"ivr/services.py"}


def test_the_package_root_is_light() -> None:
    root = Path(PACKAGE / "__init__.py").read_text(encoding="utf-8")
    assert not re.search(r"^\s*(import|from)\s", root, re.M), "ivr/__init__.py imports nothing"
