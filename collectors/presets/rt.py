"""Request Tracker (PostgreSQL): ``tickets`` with queues, owners and transactions.

Schema source: bestpractical/rt ``etc/schema.Pg`` (``Tickets``, ``Queues``, ``Users``,
``Transactions``; PostgreSQL folds the unquoted names to lower case: ``effectiveid``,
``objecttype``, ``oldvalue``...) and ``etc/RT_Config.pm.in`` (``%Lifecycles`` default:
initial new, active open and stalled, inactive resolved, rejected and deleted;
``%PriorityAsString`` default Low 0, Medium 50, High 100).

- Counted at all: ``type = 'ticket'`` (reminders and approvals are tickets of another
  type), ``id = effectiveid`` (a merged ticket keeps its own status, open included) and
  ``status <> 'deleted'``.
- Open: status new, open or stalled (the default lifecycle's initial and active statuses).
- Priority label: the ``%PriorityAsString`` default, the highest threshold not above the
  value (Low 0, Medium 50, High 100; below 0 RT shows ``unknown``).
- Unassigned: the owner is the ``Nobody`` user (looked up by name; id 6 in a default
  install) or 0.
- Dates: unset is ``1970-01-01 00:00:00`` (or NULL); ``NULLIF`` turns it into NULL.
  ``resolved`` is stamped by every inactive status and not cleared on reopen: a ticket
  counts as resolved in a window only while it is not open. All dates are UTC.
- First response: the earliest ``Correspond`` transaction on the ticket (or on a ticket
  merged into it) by someone other than the ticket's creator. RT does not store who the
  requestor is on the ticket row: the creator stands in for the requestor, which is right
  for tickets created by e-mail or self-service and wrong for tickets an agent opened on
  someone's behalf (the agent's own reply is then not a first response).
- SLA: ``due`` as the resolution deadline; RT has no separate first-response deadline
  (RT::SLA moves ``due`` from the response to the resolution deadline).
- Reopened: the latest ``Status`` transaction from resolved or rejected back to an active
  or initial status.
- As of a past instant (``snapshot --as-of``): status and queue from ``Transactions``,
  the value entered by the last change before it, else the value left by the first change
  after it, else today's (never changed).
- Workload: ``LastUpdated``; ``Transactions`` status changes (``NewValue`` is the status
  entered) for waiting ages, ``Set`` on ``Queue`` for misroutes, status changes out of
  resolved/rejected for reopens. No reassignment counter (owner changes include the first
  take from Nobody), no category (a site's category is a custom field it names:
  docs/presets/rt.md gives the ``category`` mapping for one). First assignment: the
  creation for a ticket created with an owner, else its first ``Owner`` transaction to
  someone other than Nobody.
"""

from __future__ import annotations

from typing import Any

UNSET = "'1970-01-01 00:00:00'"
OPEN_STATUSES = "('new', 'open', 'stalled')"

FIRST_RESPONSE_AT = (
    "SELECT MIN(tr.created) FROM tickets m"
    " JOIN transactions tr ON tr.objecttype = 'RT::Ticket' AND tr.objectid = m.id"
    " WHERE m.effectiveid = t.id AND tr.type = 'Correspond' AND tr.creator <> t.creator"
)

REOPENED_AT = (
    "SELECT MAX(tr.created) FROM transactions tr"
    " WHERE tr.objecttype = 'RT::Ticket' AND tr.objectid = t.id"
    " AND tr.type IN ('Status', 'Set') AND tr.field = 'Status'"
    f" AND tr.oldvalue IN ('resolved', 'rejected') AND tr.newvalue IN {OPEN_STATUSES}"
)

REOPENS = REOPENED_AT.replace("SELECT MAX(tr.created)", "SELECT COUNT(*)")

_OWNER_ROWS = (
    "FROM transactions c WHERE c.objecttype = 'RT::Ticket' AND c.objectid = t.id"
    " AND c.field = 'Owner' AND c.type IN ('Set', 'Take', 'Untake', 'Steal', 'Give')"
)
_NOBODY = "('0', (SELECT CAST(u.id AS VARCHAR(20)) FROM users u WHERE u.name = 'Nobody'))"
FIRST_ASSIGNED_AT = (
    "CASE WHEN COALESCE((SELECT v.oldvalue FROM transactions v WHERE v.id = (SELECT"
    f" MIN(c.id + 0) {_OWNER_ROWS})), CAST(t.owner AS VARCHAR(20))) IN {_NOBODY}"
    f" THEN (SELECT MIN(c.created) {_OWNER_ROWS} AND c.newvalue NOT IN {_NOBODY})"
    f" ELSE NULLIF(t.created, {UNSET}) END"
)
"""When the ticket first had an owner other than Nobody. RT records an ``Owner``
transaction (``OldValue``/``NewValue``: user ids) for each change after creation, none for
the owner a ticket is created with: a ticket whose first owner change left a real owner (or
that has none and is owned now) was owned from its creation; otherwise its first change to
a real owner."""

HISTORY: dict[str, Any] = {
    "table": "transactions",
    "ticket": "objectid",
    "at": "created",
    # a status change's newvalue is the status entered; a Queue change is a move
    "status": "CASE WHEN h.field = 'Status' AND h.type IN ('Status', 'Set') THEN h.newvalue END",
    "queue_moves": "h.type = 'Set' AND h.field = 'Queue'",
    "where": "h.objecttype = 'RT::Ticket'",
}
"""``Transactions``: status changes (waiting ages) and queue changes (misroutes)."""


def _changes(first: bool, at: str) -> str:
    """The ticket's first (or last) transaction of the kind ``{kind}`` at or after (or
    before) ``:as_of``: the id, by the ``(objecttype, objectid)`` index (``+ 0`` keeps
    PostgreSQL off the primary key)."""
    pick = "MIN" if first else "MAX"
    return (
        f"SELECT {pick}(c.id + 0) FROM transactions c WHERE c.objecttype = 'RT::Ticket'"
        f" AND c.objectid = t.id AND {{kind}} AND c.created {at} :as_of"
    )


STATUS_CHANGE = "c.type IN ('Status', 'Set') AND c.field = 'Status'"
QUEUE_CHANGE = "c.type = 'Set' AND c.field = 'Queue'"

PAST_STATE: dict[str, Any] = {
    # the status entered by the last change before the instant, else the status left by
    # the first change after it (else, never changed, the status of today)
    "status": "COALESCE("
    "(SELECT v.newvalue FROM transactions v WHERE v.id = ("
    + _changes(False, "<").format(kind=STATUS_CHANGE)
    + ")), (SELECT v.oldvalue FROM transactions v WHERE v.id = ("
    + _changes(True, ">=").format(kind=STATUS_CHANGE)
    + ")))",
    # the same with Set Queue transactions, whose values are queue ids
    "queue": "COALESCE("
    "(SELECT x.name FROM transactions v JOIN queues x ON x.id = CAST(v.newvalue AS INTEGER)"
    " WHERE v.id = ("
    + _changes(False, "<").format(kind=QUEUE_CHANGE)
    + ")), (SELECT x.name FROM transactions v JOIN queues x ON x.id = CAST(v.oldvalue AS INTEGER)"
    " WHERE v.id = (" + _changes(True, ">=").format(kind=QUEUE_CHANGE) + ")))",
    # backfill: the hours with a queue change
    "queue_changes": {
        "table": "transactions",
        "ticket": "objectid",
        "at": "created",
        "where": "h.objecttype = 'RT::Ticket' AND h.type = 'Set' AND h.field = 'Queue'",
    },
}
"""Status and queue as of a past instant from ``Transactions``: ``Status`` changes carry
the old and new status, ``Set`` on ``Queue`` the old and new queue id; RT writes them as
things happen (ids in time order)."""

PRESET: dict[str, Any] = {
    "table": "tickets",
    "joins": [
        {"table": "queues", "alias": "q", "on": "q.id = t.queue"},
        {
            "table": "users",
            "alias": "nobody",
            "on": "nobody.id = t.owner AND nobody.name = 'Nobody'",
        },
    ],
    "where": "t.type = 'ticket' AND t.id = t.effectiveid AND t.status <> 'deleted'",
    "id": "id",
    "queue": "q.name",
    "status": "status",
    "priority": (
        "CASE WHEN t.priority >= 100 THEN 'High' WHEN t.priority >= 50 THEN 'Medium'"
        " WHEN t.priority >= 0 THEN 'Low' ELSE 'unknown' END"
    ),
    "assignee": "CASE WHEN t.owner <> 0 AND nobody.id IS NULL THEN t.owner END",
    "created_at": f"NULLIF(t.created, {UNSET})",
    "resolved_at": f"NULLIF(t.resolved, {UNSET})",
    "first_response_at": FIRST_RESPONSE_AT,
    "resolution_due_at": f"NULLIF(t.due, {UNSET})",
    "reopened_at": REOPENED_AT,
    "updated_at": f"NULLIF(t.lastupdated, {UNSET})",
    "reopens": REOPENS,
    "first_assigned_at": FIRST_ASSIGNED_AT,
    "history": HISTORY,
    "past_state": PAST_STATE,
    "open_sql": f"t.status IN {OPEN_STATUSES}",
    "timezone": "UTC",
}

INDEXES: tuple[str, ...] = (
    "Tickets1 tickets (queue, status)  -- shipped: backlog per queue",
    "Tickets3 tickets (effectiveid)  -- shipped: merged tickets of a ticket (first response)",
    "Transactions1 transactions (objecttype, objectid)  -- shipped: first response, reopened",
    "users primary key  -- shipped: the Nobody join is by id, then name",
    "tickets (created), tickets (resolved), tickets (due)  -- NOT shipped: created/resolved"
    " in a window and SLA scan the open or all tickets without them",
    "transactions (created)  -- NOT shipped: backfill per queue reads each chunk's queue"
    " changes by a range on it, a scan of Transactions per chunk without it",
)
