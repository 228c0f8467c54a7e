"""The staff dashboard: calls and their journeys, callbacks, recorded questions, listening figures.

Every page needs a logged-in staff user (`flask --app app staff add NAME`), and every POST this
session's CSRF token (checked app-wide by Flask-WTF's CSRFProtect, set up in ivr/web/__init__.py).
Callers appear as pseudonyms, except on the callback queue, where staff need the number to call back.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import re
from datetime import UTC, datetime
from functools import cache
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask.typing import ResponseReturnValue
from markupsafe import Markup
from werkzeug.security import check_password_hash, generate_password_hash

from ivr import services
from ivr.content import Content
from ivr.engine import CARRY_ON, CONFIRM, CONSENT, EMERGENCY, FORGET, LANGUAGE, SPECIALIST
from ivr.store import EventRow, StaffRow
from ivr.store.audit import LISTEN_RECORDING, VIEW_NUMBERS
from ivr.web import roles, throttle
from ivr.web.roles import ANY, CALLS, FIGURES, requires
from ivr.web.stats import drop_off_chart, listening_rows

log = logging.getLogger("ivr.web.staff")

bp = Blueprint("staff", __name__, url_prefix="/staff")

SESSION_USER = "staff"
SESSION_FINGERPRINT = "staff_pw"
USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}")
MIN_PASSWORD = 12
SYSTEM_NODE_NAMES = {
    LANGUAGE: "Language choice",
    EMERGENCY: "Emergency",
    SPECIALIST: "Call back or question",
    CARRY_ON: "Offer to carry on",
    CONSENT: "Asked to remember",
    FORGET: "Asked to forget",
    CONFIRM: "Did you mean",
}
RECENT_CALLS = 50
# A row id in a link, at most the largest the database keeps (a 64-bit integer): a bigger one is
# not found here rather than failing in the database (which the health check took for failing writes).
ROW_ID = f"int(max={2**63 - 1})"
OPEN_PAGES = frozenset({"staff.login"})
NUMBERS_HIDDEN = (
    "The audit log could not be written, so numbers are shown by their last digits only. Reload to try again."
)
LISTEN_NOT_RECORDED = (
    "The audit log could not be written, so the recording cannot be opened now. Try again shortly."
)
LOGOUT_NOT_SAVED = (
    "You have logged out of this browser, but the server could not end your session everywhere."
    " Log out again when the dashboard works, or ask an administrator to run flask staff revoke."
)


def hash_password(password: str) -> str:
    """A salted password hash for storage (werkzeug's scrypt)."""
    return generate_password_hash(password)


def normal_username(raw: str) -> str | None:
    """A username as stored (lowercase), or None if it is not one."""
    name = raw.strip().lower()
    return name if USERNAME.fullmatch(name) else None


@cache
def _dummy_hash() -> str:
    return generate_password_hash("not anyone's password")


def authenticate(username: str, password: str) -> StaffRow | None:
    """The staff user with this name and password, or None."""
    name = normal_username(username)
    user = services.store().staff_user(name) if name else None
    # An unknown name costs the same hash check as a known one: timing tells nothing about names.
    ok = check_password_hash(user.password_hash if user else _dummy_hash(), password)
    return user if ok and user else None


def _fingerprint(user: StaffRow) -> str:
    """Ties a session to the user, the password and the session version it was opened with, all kept
    on the server: a new password, logging out or `flask staff revoke` raises the version, and every
    session opened before, a copied cookie too, is worth nothing from the next request on."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    held = f"{user.id}:{user.session_version}:{user.password_hash}"
    return hmac.new(key, held.encode(), hashlib.sha256).hexdigest()[:32]


def current_user() -> StaffRow | None:
    """The logged-in staff user of this request, or None."""
    if "staff_user" not in g:
        name = session.get(SESSION_USER)
        user = services.store().staff_user(name) if isinstance(name, str) else None
        if user and not hmac.compare_digest(session.get(SESSION_FINGERPRINT, ""), _fingerprint(user)):
            user = None
        g.staff_user = user
    found: StaffRow | None = g.staff_user
    return found


def guard() -> ResponseReturnValue | None:
    """Before every staff page (this blueprint's and the others' that register it): a logged-in
    user whose role may open it (ivr/web/roles.py), else the login page or 403."""
    if request.endpoint in OPEN_PAGES:
        return None
    user = current_user()
    if user is None:
        if request.method == "GET":
            return redirect(url_for("staff.login", next=request.full_path.rstrip("?")))
        return redirect(url_for("staff.login"))
    if roles.can(user.role, roles.required(current_app.view_functions.get(request.endpoint or ""))):
        return None
    home = home_endpoint(user.role)
    if request.endpoint == "staff.dashboard" and home != "staff.dashboard":
        return redirect(url_for(home))
    log.warning("staff page refused: %s (%s) may not open %s", user.username, user.role, request.endpoint)
    return render_template("staff/forbidden.html", page=None, home=home), 403


bp.before_request(guard)


def blueprint(name: str, import_name: str, url_prefix: str) -> Blueprint:
    """Another blueprint of staff pages: behind the same login and role guard, with the same
    template helpers as these."""
    pages = Blueprint(name, import_name, url_prefix=url_prefix)
    pages.before_request(guard)
    pages.context_processor(template_helpers)
    return pages


def home_endpoint(role: str) -> str:
    """The page a role starts on: the first of roles.HOMES it may open."""
    views = current_app.view_functions
    for endpoint in roles.HOMES:
        if endpoint in views and roles.can(role, roles.required(views[endpoint])):
            return endpoint
    return "staff.login"


def may_open(endpoint: str) -> bool:
    """Whether the logged-in user's role may open a page (for the navigation and links)."""
    user = current_user()
    view = current_app.view_functions.get(endpoint)
    return user is not None and view is not None and roles.can(user.role, roles.required(view))


@bp.context_processor
def template_helpers() -> dict[str, object]:
    """What every staff template may use (other staff blueprints register it too)."""
    return {
        "lang": "en",
        "is_section": lambda node: node in services.line().content.tree.sections,
        "user": current_user(),
        "pseudonym": pseudonym,
        "node_name": node_name,
        "duration": duration,
        "when": when,
        "since": since,
        "may_open": may_open,
    }


def _safe_next(target: str | None) -> str:
    """Where to go after logging in: a page of the dashboard, never another site."""
    if target:
        parts = urlsplit(target)
        # A control character (a line break) would make the Location header invalid: a 500.
        on_site = not parts.scheme and not parts.netloc and parts.path.startswith("/staff/")
        if on_site and target.isprintable():
            return target
    return url_for("staff.dashboard")  # each role is sent on from there to its own first page


def throttle_name(raw: str) -> str:
    """The name failed logins are counted under: the username, or a digest of text that is not one."""
    folded = raw.strip().casefold()
    # Text that cannot be a username may be a password typed in the wrong box: never kept as typed.
    return normal_username(folded) or "#" + hashlib.sha256(folded.encode()).hexdigest()[:32]


def _loggable(name: str) -> str:
    """A username as the log may say it: only real staff names (anything else may be a password typed
    as a username)."""
    return name if services.store().staff_user(name) else "an unknown username"


def _report_lockout(reached: throttle.Reached, name: str, ip: str) -> None:
    gate = services.throttle()
    minutes = gate.window_s / 60
    if reached.user:
        who = _loggable(name)
        log.warning(
            "staff login: %s locked out after %d failed attempts in %g min (the last from %s)",
            who,
            gate.max_user,
            minutes,
            ip,
        )
    if reached.ip:
        log.warning(
            "staff login: client %s locked out after %d failed attempts in %g min",
            ip,
            gate.max_ip,
            minutes,
        )


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """Log in with a staff username and password; refused for a while after too many failures."""
    error = None
    locked_for = 0.0
    if request.method == "POST":
        gate = services.throttle()
        # The client's address: werkzeug's ProxyFix has put the forwarded one here behind trusted proxies.
        name, ip = throttle_name(request.form.get("username", "")), request.remote_addr or "unknown"
        # Counted as failed before the password is checked (and given back if it is right): of many
        # logins at once, only as many as the limit allows are checked. While locked, none is: a guess
        # then tells nothing, and costs no scrypt.
        attempt = gate.reserve(name, ip)
        locked_for = attempt.locked_for
        if locked_for > 0:
            error = throttle.wait_message(locked_for)
        else:
            user = authenticate(request.form.get("username", ""), request.form.get("password", ""))
            if user is not None:
                gate.succeeded(name, ip)
                # Drops the CSRF token too: one seen before logging in is worthless after it.
                session.clear()
                session.permanent = True
                session[SESSION_USER] = user.username
                session[SESSION_FINGERPRINT] = _fingerprint(user)
                return redirect(_safe_next(request.form.get("next")), 303)
            log.info("staff login: wrong password for %s from %s", _loggable(name), ip)
            _report_lockout(attempt.reached, name, ip)
            error = "Wrong username or password."
    elif current_user() is not None:
        return redirect(url_for("staff.dashboard"))
    page = render_template(
        "staff/login.html",
        error=error,
        locked=locked_for > 0,
        next=request.values.get("next", ""),
        username=request.form.get("username", ""),
    )
    if locked_for > 0:
        return page, 429, {"Retry-After": str(max(1, math.ceil(locked_for)))}
    return page, 401 if error else 200


@bp.post("/logout")
@requires(ANY)
def logout() -> ResponseReturnValue:
    """Log out: end this user's sessions on the server (every copy of the cookie, every browser),
    and this one's cookie and CSRF token."""
    user = current_user()
    assert user is not None  # _guard let only a live session through
    ended = services.store().end_staff_sessions(user.username)
    session.clear()
    if ended:
        flash("You have logged out.")
    else:
        # The cookie is gone from this browser, but a copy of it would still work: say so.
        log.error("staff logout: could not end %s's sessions on the server", user.username)
        flash(LOGOUT_NOT_SAVED)
    return redirect(url_for("staff.login"), 303)


@bp.get("/")
@requires(CALLS)
def dashboard() -> ResponseReturnValue:
    """What needs attention: live calls, open callbacks, recordings to review."""
    return render_template("staff/dashboard.html", counts=services.store().counts(), page="dashboard")


@bp.get("/calls")
@requires(CALLS)
def calls() -> ResponseReturnValue:
    """Live and recent calls, each with the way it went through the menus."""
    store = services.store()
    live = store.live_calls()
    ended = store.ended_calls(RECENT_CALLS)
    journeys = store.events_for_calls([c.call_sid for c in (*live, *ended)])
    return render_template(
        "staff/calls.html",
        live=live,
        ended=ended,
        path=lambda call: journey_path(journeys.get(call.call_sid, [])),
        page="calls",
    )


@bp.get("/calls/<call_sid>")
@requires(CALLS)
def call(call_sid: str) -> ResponseReturnValue:
    """One call and every event of its journey."""
    store = services.store()
    row = store.get_call(call_sid)
    events = store.events_for(call_sid)
    if row is None and not events:
        abort(404)
    return render_template("staff/call.html", call=row, call_sid=call_sid, events=events, page="calls")


@bp.get("/callbacks")
@requires(CALLS)
def callbacks() -> ResponseReturnValue:
    """The callback queue, oldest first, with the numbers to call. Showing the numbers is recorded
    in the audit log first; when it cannot be, they are shown by their last digits only."""
    queue = services.store().callbacks()
    # "no. 12, no. 13": bare ids one after another ("12, 13, 14, 15") look like a phone number to
    # the audit log's masking, and which numbers were seen would be lost.
    shown = not queue or record(
        VIEW_NUMBERS, "callbacks " + ", ".join(f"no. {cb.id}" for cb in queue), f"{len(queue)} numbers"
    )
    if not shown:
        flash(NUMBERS_HIDDEN)
    return render_template(
        "staff/callbacks.html", callbacks=queue, shown=shown, masked=masked_number, page="callbacks"
    )


@bp.get(f"/recordings/<{ROW_ID}:recording_id>/listen")
@requires(CALLS)
def listen(recording_id: int) -> ResponseReturnValue:
    """Go to a recorded question's audio (Twilio keeps it), once the listening is in the audit log."""
    rec = services.store().recording(recording_id)
    href = listen_url(rec.recording_url) if rec else None
    if rec is None or href is None:
        abort(404)
    if not record(LISTEN_RECORDING, f"recording {rec.id}", f"call {rec.call_sid}"):
        return render_template("staff/unavailable.html", page="recordings", what=LISTEN_NOT_RECORDED), 503
    return redirect(href, 303)


@bp.post(f"/callbacks/<{ROW_ID}:callback_id>/done")
@requires(CALLS)
def callback_done(callback_id: int) -> ResponseReturnValue:
    """Take a callback off the queue: someone has called back."""
    user = current_user()
    assert user is not None
    if services.store().callback_done(callback_id, user.username):
        flash(f"Callback {callback_id} marked done.")
    else:
        flash(f"Callback {callback_id} was already done, or does not exist.")
    return redirect(url_for("staff.callbacks"), 303)


@bp.get("/missed-calls")
@requires(CALLS)
def missed_calls() -> ResponseReturnValue:
    """Missed calls and their free call-backs, newest first: every try, its outcome, what is next.
    Numbers are shown by their last digits only: the line calls them back, not staff."""
    return render_template(
        "staff/missed_calls.html",
        missed=services.store().missed_calls(),
        masked=masked_number,
        page="missed",
    )


def masked_number(number: str | None) -> str:
    """A number as staff may see it on the missed-call list: its last four digits ("•••• 3210"),
    or "purged" once it is no longer kept."""
    return f"•••• {number[-4:]}" if number else "purged"


@bp.get("/recordings")
@requires(CALLS)
def recordings() -> ResponseReturnValue:
    """Questions callers recorded: those to review, or (?all=1) every one."""
    show_all = request.args.get("all") == "1"
    return render_template(
        "staff/recordings.html",
        recordings=services.store().recordings(unreviewed_only=not show_all),
        show_all=show_all,
        listen_url=listen_url,
        page="recordings",
    )


@bp.post(f"/recordings/<{ROW_ID}:recording_id>/reviewed")
@requires(CALLS)
def recording_reviewed(recording_id: int) -> ResponseReturnValue:
    """Mark a recorded question reviewed, by the staff user logged in."""
    user = current_user()
    assert user is not None
    if services.store().recording_reviewed(recording_id, user.username):
        flash(f"Recording {recording_id} marked reviewed.")
    else:
        flash(f"Recording {recording_id} was already reviewed, or does not exist.")
    return redirect(url_for("staff.recordings"), 303)


@bp.get("/stats")
@requires(FIGURES)
def stats() -> ResponseReturnValue:
    """How many calls listened to each section, and where calls ended."""
    store = services.store()
    content = services.line().content
    return render_template(
        "staff/stats.html",
        listening=listening_rows(content, store.listening()),
        chart=drop_off_chart(store.drop_offs(), node_name),
        page="stats",
    )


def record(action: str, target: str, detail: str | None = None) -> bool:
    """Record that the logged-in staff user did `action` to `target` (ivr.store.audit's actions);
    False if it could not be recorded: then the caller of this must not show or do it."""
    user = current_user()
    if user is None:  # the guard lets no one else through; never record "nobody"
        return False
    done = services.store().audit(user.username, action, target, role=user.role, detail=detail)
    if not done:
        log.error("audit log unavailable: %s by %s not recorded, so not done", action, user.username)
    return done


# Helpers for the templates.


def pseudonym(caller_hash: str | None) -> str:
    """A caller as the logs show them (caller-…), never their number."""
    return "caller-" + caller_hash[:12] if caller_hash else "withheld"


def node_name(node: str) -> str:
    """A node for staff: its English title and id (the content may have changed since the call)."""
    content: Content = services.line().content
    if node in SYSTEM_NODE_NAMES:
        return SYSTEM_NODE_NAMES[node]
    if content.tree.has(node):
        title = content.tree.title(node, content.default_language).strip().rstrip(".")
        same = title.lower().replace(" ", "_") == node
        return title if same else f"{title} ({node})"
    return node


def duration(seconds: int | None) -> str:
    """A call's length, like 3 min 05 s."""
    if seconds is None:
        return "unknown"
    minutes, rest = divmod(max(seconds, 0), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def journey_path(events: list[EventRow]) -> list[str]:
    """The nodes a call went through, a node repeated only when the caller came back to it."""
    path: list[str] = []
    for event in events:
        if not path or path[-1] != event.node:
            path.append(event.node)
    return path


def listen_url(url: str) -> str | None:
    """A recording's address if it is a web address (anything else is shown, not linked)."""
    return url if urlsplit(url).scheme in ("https", "http") else None


def since(when: datetime) -> str:
    """How long ago, for a live call."""
    seconds = int((datetime.now(UTC) - when).total_seconds())
    return duration(seconds)


def when(moment: datetime | None) -> Markup:
    """A moment as a <time> element, in UTC, to the minute."""
    if moment is None:
        return Markup("")
    utc = moment.astimezone(UTC)
    return Markup('<time datetime="{}">{}</time>').format(
        utc.isoformat(timespec="seconds").replace("+00:00", "Z"), utc.strftime("%d %b %Y, %H:%M UTC")
    )
