"""The audit log's page, where an administrator reads what staff did with callers' data
(/staff/audit). Entries are written by `ivr.web.staff.record` before a thing is shown or done, and by
the `flask` commands as `command_line_actor()`."""

from __future__ import annotations

from flask import render_template, request
from flask.typing import ResponseReturnValue

from ivr import services
from ivr.store.audit import ACTIONS
from ivr.web import staff
from ivr.web.roles import AUDIT, requires

bp = staff.blueprint("audit", __name__, "/staff/audit")

PAGE_SIZE = 50
# Far past any log's end, and its offset still fits the database's integers (a bigger one failed
# there, and the page said the database could not be read).
LAST_PAGE = 10**9


@bp.get("/")
@requires(AUDIT)
def entries() -> ResponseReturnValue:
    """The audit log, newest first, 50 to a page, by action and by person if asked (?action=, ?actor=)."""
    action = request.args.get("action", "")
    action = action if action in ACTIONS else ""
    actor = request.args.get("actor", "").strip()[:80]
    page = min(max(1, request.args.get("page", 1, type=int) or 1), LAST_PAGE)
    # No one's name holds a control character (and PostgreSQL refuses a NUL in a query): no match.
    found = (
        services.store().audit_entries(
            limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE, action=action or None, actor=actor or None
        )
        if actor.isprintable()
        else ([], 0)
    )
    rows, total = found if found is not None else ([], 0)
    return render_template(
        "staff/audit.html",
        rows=rows,
        total=total,
        available=found is not None,
        actions=ACTIONS,
        action=action,
        actor=actor,
        page_number=page,
        pages=max(1, -(-total // PAGE_SIZE)),
        page="audit",
    )
