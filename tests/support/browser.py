"""axe-core for the browser tests, from the npm registry: bin/setup runs `npm ci` into node_modules/."""

from __future__ import annotations

import functools

import pytest

from ivr.config import REPO_ROOT

AXE_JS = REPO_ROOT / "node_modules" / "axe-core" / "axe.min.js"


@functools.cache
def axe_source() -> str:
    """The text of axe.min.js (the version package-lock.json pins); fails the test if it is missing."""
    if not AXE_JS.is_file():
        pytest.fail(f"{AXE_JS} is missing: run bin/setup (npm ci installs axe-core)", pytrace=False)
    return AXE_JS.read_text(encoding="utf-8")
