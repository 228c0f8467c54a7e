"""The Store: the small typed API the web layer uses. A database outage never breaks a call.

One class made of a part per aggregate, all on one engine and one outage policy:
calls.py (callers' choices, calls, journey events), callcentre.py (callbacks, recorded questions),
outbox.py (texts), missed.py (missed calls' call-backs), replies.py (replies kept per idempotency
token), staff.py (staff users and their roles, failed logins), stats.py (dashboard counts), figures.py
(whole journeys over a period, for the figures and exports), audit.py (the audit log of staff views,
erasures, exports and sign-offs), signoffs.py (clinical sign-offs), erasure.py (a caller erased) and
retention.py (what is past its retention period). Under them:
batch.py (the batch writer), fastpath.py (raw-DBAPI reads), core.py (engine, schema, guarded
queries), outage.py (the circuit breaker) and privacy.py (pseudonyms only, numbers masked).
"""

from __future__ import annotations

from ivr.store.audit import Audit
from ivr.store.callcentre import CallCentre
from ivr.store.calls import Calls
from ivr.store.erasure import Erasure
from ivr.store.figures import Figures
from ivr.store.missed import MissedCalls
from ivr.store.outbox import Outbox
from ivr.store.replies import Replies
from ivr.store.retention import Retention
from ivr.store.signoffs import SignOffs
from ivr.store.staff import Staff
from ivr.store.stats import Stats


class Store(
    Calls,
    CallCentre,
    MissedCalls,
    Outbox,
    Replies,
    Staff,
    Stats,
    Audit,
    Figures,
    SignOffs,
    Erasure,
    Retention,
):
    """Reads and writes for the line; every method returns a safe default if the database fails."""
