"""Who may open which staff page: each view says what it needs (`requires`), each role what it has.

- staff: the call centre. Calls and journeys, the callback queue (numbers), recorded questions,
  missed calls, listening figures and exports, erasing a caller's data on request.
- clinician: the clinical review of the content (topics part by part, with their audio; sign-off)
  and the listening figures. No caller's number or voice.
- admin: everything, and the audit log.

A view that declares nothing is refused to everyone (a new page must say who it is for).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from ivr.store.models import STAFF_ROLES

CALLS = "calls"  # callers' calls, numbers and voices
FIGURES = "figures"  # listening figures and pseudonymous exports
ERASE = "erase"  # erase what the line keeps for a number
REVIEW = "review"  # the clinical review and sign-off of topics
AUDIT = "audit"  # read the audit log
ANY = "any"  # every logged-in user (logging out)

HAS: dict[str, frozenset[str]] = {
    "staff": frozenset({CALLS, FIGURES, ERASE, ANY}),
    "clinician": frozenset({REVIEW, FIGURES, ANY}),
    "admin": frozenset({CALLS, FIGURES, ERASE, REVIEW, AUDIT, ANY}),
}
assert set(HAS) == set(STAFF_ROLES), "every role of the database has its capabilities here"

# The page each role lands on after logging in (an endpoint), the first it may open of these.
HOMES = ("staff.dashboard", "review.topics", "staff.stats")

F = TypeVar("F", bound=Callable[..., object])


def requires(capability: str) -> Callable[[F], F]:
    """Mark a view as needing a capability (CALLS, FIGURES, ERASE, REVIEW, AUDIT or ANY)."""

    def mark(view: F) -> F:
        view.required_capability = capability  # type: ignore[attr-defined]
        return view

    return mark


def required(view: object) -> str | None:
    """The capability a view needs, or None if it declared none (then no one may open it)."""
    found = getattr(view, "required_capability", None)
    return found if isinstance(found, str) else None


def can(role: str, capability: str | None) -> bool:
    """Whether a role has a capability; an unknown role or an undeclared page: no."""
    return capability is not None and capability in HAS.get(role, frozenset())
