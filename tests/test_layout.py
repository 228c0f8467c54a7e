"""The test suite's own layout: helpers come from tests/support/, never from conftest or a test module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

TESTS = Path(__file__).parent


def forbidden(module: str) -> bool:
    """Whether `module` is tests.conftest or a test module (tests.test_x), or something inside one."""
    parts = module.split(".")
    return (
        len(parts) >= 2 and parts[0] == "tests" and (parts[1] == "conftest" or parts[1].startswith("test_"))
    )


def imported(source: str, package: str) -> list[tuple[int, str]]:
    """Every module (and every name, as module.name) that source in `package` imports, with its line."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            parts = package.split(".")
            base = parts[: len(parts) - node.level + 1] if node.level else []
            module = ".".join(p for p in [*base, node.module or ""] if p)
            # `from tests import test_fuzz` imports a module by the name it gives.
            found += [(node.lineno, f"{module}.{alias.name}") for alias in node.names]
    return found


def test_no_test_imports_conftest_or_another_test_module() -> None:
    wrong = []
    for path in sorted(TESTS.rglob("*.py")):
        package = ".".join(["tests", *path.parent.relative_to(TESTS).parts])
        for line, module in imported(path.read_text(encoding="utf-8"), package):
            if forbidden(module):
                wrong.append(f"{path.relative_to(TESTS.parent)}:{line}: imports {module}")
    assert not wrong, "import shared helpers from tests/support/ instead:\n" + "\n".join(wrong)


@pytest.mark.parametrize(
    ("source", "package", "bad"),
    [
        ("from tests.conftest import make_app", "tests", True),
        ("import tests.conftest", "tests", True),
        ("from tests import conftest", "tests", True),
        ("from tests.test_content import edit", "tests", True),
        ("from tests import test_fuzz", "tests", True),
        ("from . import test_fuzz", "tests", True),
        ("from .conftest import AUTH_TOKEN", "tests", True),
        ("from ..test_routing import routed_app", "tests.support", True),
        ("def f():\n    from tests.test_routing import routed_app", "tests", True),
        ("from tests.support.app import make_app", "tests", False),
        ("from tests.support import twiml", "tests", False),
        ("from .app import make_app", "tests.support", False),
        ("import tests.support.testing", "tests", False),
    ],
)
def test_the_check_sees_every_spelling(source: str, package: str, bad: bool) -> None:
    found = [module for _, module in imported(source, package)]
    assert any(forbidden(m) for m in found) is bad, found
