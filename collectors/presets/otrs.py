"""OTRS / Znuny (MySQL/MariaDB, also PostgreSQL): ``ticket`` with queues, state types, history.

Source: Znuny ``scripts/database/schema.xml`` (``ticket``, ``queue``, ``ticket_state``,
``ticket_state_type``, ``ticket_priority``, ``ticket_history``, ``ticket_history_type``,
``article``, ``article_sender_type``) and ``scripts/database/initial_insert.xml`` (state
types new, open, closed, pending reminder, pending auto, removed, merged; history types
``NewTicket``, ``StateUpdate``; sender types agent, system, customer; user 1 root@localhost).
Registered as both ``otrs`` and ``znuny``.

- queue: ``queue.name`` (sub-queues are named ``Parent::Child``).
- status: the state name; open means state type new, open, pending reminder or pending
  auto. Merged and removed tickets are excluded; ``archive_flag`` only marks old closed
  tickets and excludes nothing.
- priority: ``ticket_priority.name`` ("3 normal").
- assignee: the owner (``ticket.user_id``) unless it is user 1 (root@localhost), which
  Znuny uses as the owner of tickets nobody took: owner 1 counts as unassigned. The lock
  (``ticket_lock_id``) is not considered; override ``assignee`` to count unlocked tickets
  as unassigned (``CASE WHEN t.ticket_lock_id = 2 THEN t.user_id END``).
- resolved_at: not on the ticket. Like Znuny itself, the latest ``ticket_history`` row of
  type ``StateUpdate`` or ``NewTicket`` (a ticket created closed) whose state is of type
  closed, and only for tickets closed now (a reopened ticket is not resolved).
- first_response_at: the first article sent by an agent and visible to the customer
  (internal notes are not a response), as Znuny's own first-response escalation does.
- first_response_due_at / resolution_due_at: ``escalation_response_time`` /
  ``escalation_solution_time``, Unix epoch seconds with 0 for "none". Znuny resets them
  to 0 once the ticket is answered / closed, so SLA deadlines missed by tickets answered or
  closed since cannot be counted (see the preset's documentation).
- reopened_at: not on the ticket (only in history texts), so ``reopened`` is unknown.
- Workload: ``change_time`` (updated on every change), the ticket type as category, and
  ``ticket_history`` (``NewTicket``/``StateUpdate`` rows name the state entered: waiting
  ages from the entry into the status; ``Move`` rows are misroutes). No reassignment or
  reopen counter: Znuny keeps none (``OwnerUpdate`` rows include the first assignment),
  so those figures are absent. First assignment: the earliest ``NewTicket`` or
  ``OwnerUpdate`` row whose ``owner_id`` is not user 1.
- As of a past instant (``snapshot --as-of``): status and queue from the last
  ``ticket_history`` row written before it (each row carries the ticket's ``state_id`` and
  ``queue_id`` then), the current ones for a ticket without such a row.
- DATETIMEs are in Znuny's ``OTRSTimeZone`` (UTC unless changed).
"""

from __future__ import annotations

from typing import Any

CLOSED_AT = (
    "CASE WHEN st.name = 'closed' THEN ("
    "SELECT MAX(h.create_time) FROM ticket_history h"
    " JOIN ticket_history_type ht ON ht.id = h.history_type_id"
    " JOIN ticket_state hs ON hs.id = h.state_id"
    " JOIN ticket_state_type hst ON hst.id = hs.type_id"
    " WHERE h.ticket_id = t.id AND ht.name IN ('StateUpdate', 'NewTicket')"
    " AND hst.name = 'closed') END"
)
"""When the ticket was last closed, for tickets closed now (Znuny's ``_TicketGetClosed``)."""

FIRST_RESPONSE = (
    "SELECT MIN(a.create_time) FROM article a"
    " JOIN article_sender_type ast ON ast.id = a.article_sender_type_id"
    " WHERE a.ticket_id = t.id AND ast.name = 'agent' AND a.is_visible_for_customer = 1"
)
"""The first agent article the customer can see (Znuny's ``_TicketGetFirstResponse``)."""


def _history_types(*names: str) -> str:
    quoted = ", ".join(f"'{n}'" for n in names)
    return f"(SELECT ht.id FROM ticket_history_type ht WHERE ht.name IN ({quoted}))"


FIRST_ASSIGNED_AT = (
    "SELECT MIN(h.create_time) FROM ticket_history h"
    " WHERE h.ticket_id = t.id AND h.owner_id <> 1"
    f" AND h.history_type_id IN {_history_types('NewTicket', 'OwnerUpdate')}"
)
"""When the ticket first had an owner other than user 1 (root@localhost, "nobody"): its
``NewTicket`` row when it was created with one, else its first ``OwnerUpdate`` row to a
real agent (every ``ticket_history`` row carries the owner the ticket had then)."""

HISTORY: dict[str, Any] = {
    "table": "ticket_history",
    "ticket": "ticket_id",
    "at": "create_time",
    # NewTicket and StateUpdate rows carry the state entered; other rows the state held
    "status": f"CASE WHEN h.history_type_id IN {_history_types('NewTicket', 'StateUpdate')}"
    " THEN (SELECT hs.name FROM ticket_state hs WHERE hs.id = h.state_id) END",
    "queue_moves": f"h.history_type_id IN {_history_types('Move')}",
}
"""``ticket_history``: state entries (waiting ages) and ``Move`` rows (misroutes)."""


def _as_of(table: str, column: str) -> str:
    """The name in ``table`` of the id that the ticket's last history row written before
    ``:as_of`` carries in ``column`` (NULL when it has none then). ``+ 0`` keeps the
    planners on the ``ticket_id`` index (PostgreSQL otherwise walks ``create_time`` or
    the primary key backwards for MAX, filtering every other ticket's rows)."""
    return (
        f"SELECT x.name FROM ticket_history h JOIN {table} x ON x.id = h.{column}"
        " WHERE h.id = (SELECT MAX(h2.id + 0) FROM ticket_history h2"
        " WHERE h2.ticket_id = t.id AND h2.create_time < :as_of)"
    )


PAST_STATE: dict[str, Any] = {
    "status": _as_of("ticket_state", "state_id"),
    "queue": _as_of("queue", "queue_id"),
    # every row carries the queue then: any row may be the one that changes it
    "queue_changes": {"table": "ticket_history", "ticket": "ticket_id", "at": "create_time"},
}
"""Status and queue as of a past instant: every ``ticket_history`` row carries the state
and queue the ticket had when the row was written (``NewTicket`` at creation,
``StateUpdate`` and ``Move`` after the change), and Znuny writes the rows as things
happen (ids in time order), so the last row written before the instant says both.
``backfill`` looks at the hours with a ``ticket_history`` row for queue changes."""

PRESET: dict[str, Any] = {
    "table": "ticket",
    "joins": [
        {"table": "queue", "alias": "q", "on": "q.id = t.queue_id", "kind": "inner"},
        {"table": "ticket_state", "alias": "s", "on": "s.id = t.ticket_state_id", "kind": "inner"},
        {
            "table": "ticket_state_type",
            "alias": "st",
            "on": "st.id = s.type_id",
            "kind": "inner",
        },
        {"table": "ticket_priority", "alias": "p", "on": "p.id = t.ticket_priority_id"},
    ],
    "where": "st.name NOT IN ('merged', 'removed')",
    "id": "id",
    "queue": "q.name",
    "status": "s.name",
    "priority": "p.name",
    "assignee": "NULLIF(t.user_id, 1)",
    "created_at": "create_time",
    "resolved_at": CLOSED_AT,
    "first_response_at": FIRST_RESPONSE,
    "first_response_due_at": "NULLIF(t.escalation_response_time, 0)",
    "resolution_due_at": "NULLIF(t.escalation_solution_time, 0)",
    "updated_at": "change_time",
    "category": "(SELECT tt.name FROM ticket_type tt WHERE tt.id = t.type_id)",
    "first_assigned_at": FIRST_ASSIGNED_AT,
    "history": HISTORY,
    "past_state": PAST_STATE,
    "epoch_fields": ["first_response_due_at", "resolution_due_at"],
    "open_sql": "st.name IN ('new', 'open', 'pending reminder', 'pending auto')",
    "timezone": "UTC",
    "sla_history": False,
}

INDEXES: tuple[str, ...] = (
    "ticket (ticket_state_id, ticket_lock_id)  -- ticket_queue_view, shipped with Znuny",
    "ticket (create_time), ticket (queue_id)  -- shipped with Znuny",
    "ticket (escalation_response_time), ticket (escalation_solution_time)  -- shipped",
    "ticket_history (ticket_id)  -- shipped with Znuny; the close-time subquery",
    "article (ticket_id)  -- shipped with Znuny; the first-response subquery",
)
