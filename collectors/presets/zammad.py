"""Zammad (PostgreSQL): ``tickets`` with groups, state types and priorities by lookup.

Schema source: zammad ``db/migrate/20120101000010_create_ticket.rb`` (``tickets``,
``ticket_states``, ``ticket_state_types``, ``ticket_priorities``), ``db/seeds/ticket_state*.rb``
(state types new, open, pending reminder, pending action, closed, merged, removed),
``db/migrate/20120101000001_create_base.rb`` (``histories`` and its lookups) and
``lib/escalation.rb`` (how the escalation columns are set and cleared).

- Open: the state types of ``Ticket::State.by_category(:open)``: new, open, pending
  reminder, pending action. Merged and removed tickets are excluded altogether.
- Resolved in a window: ``last_close_at``, falling back to ``close_at`` (set on the first
  close; imported tickets may carry only it), of tickets that are not open now: neither
  column is cleared on reopen.
- Unassigned: ``owner_id = 1`` (user 1 is the system user ``-``).
- SLA: ``first_response_escalation_at`` and ``close_escalation_at``. Zammad clears them
  once met (first response given, ticket closed) and while the state ignores escalation
  (pending reminder, pending close, closed): breached/at-risk counts only tickets whose
  clock runs, and a deadline missed by a ticket answered or closed late is not visible.
- Reopened: the latest ``histories`` row of attribute ``state`` on a ``Ticket`` that moved
  it from a closed state type to an open one.
- Workload (``workload`` section): ``updated_at`` (Rails touches it on every change);
  ``histories`` rows of attribute ``state`` give the state entered (waiting ages from the
  entry into the status), of attribute ``group`` with a previous group a move
  (misroutes); reassignments count ``owner`` changes away from a real owner, reopens the
  closed-to-open state changes; the first assignment is the creation for a ticket created
  with an owner, else its first ``owner`` change to a real owner. Category: the ticket's
  ``type`` column, the stock single-select attribute "Type" (Incident, Problem, Request
  for Change; inactive until an admin activates it, so NULL, counted as ``none``, on most
  installs). Tags are
  several per ticket, not one category; map ``category`` to a custom attribute's column
  to count by that instead.
- As of a past instant (``snapshot --as-of``): state and group from ``histories``, the id
  entered by the last change before it, else the id left by the first change after it,
  else today's.
- Timestamps are ``timestamp(3) without time zone`` holding UTC (Rails' default).
- In 6.x ``groups.name`` holds the full path ``Parent::Child`` (``name_last`` the leaf).
"""

from __future__ import annotations

from typing import Any

OPEN_STATE_TYPES = "('new', 'open', 'pending reminder', 'pending action')"

REOPENED_AT = (
    "SELECT MAX(h.created_at) FROM histories h"
    " JOIN history_objects ho ON ho.id = h.history_object_id"
    " JOIN history_attributes ha ON ha.id = h.history_attribute_id"
    " JOIN ticket_states hsf ON hsf.id = h.id_from"
    " JOIN ticket_state_types hstf ON hstf.id = hsf.state_type_id"
    " JOIN ticket_states hst ON hst.id = h.id_to"
    " JOIN ticket_state_types hstt ON hstt.id = hst.state_type_id"
    " WHERE h.o_id = t.id AND ho.name = 'Ticket' AND ha.name = 'state'"
    f" AND hstf.name = 'closed' AND hstt.name IN {OPEN_STATE_TYPES}"
)


def _attribute(name: str) -> str:
    return f"(SELECT ha.id FROM history_attributes ha WHERE ha.name = '{name}')"


REOPENS = REOPENED_AT.replace("SELECT MAX(h.created_at)", "SELECT COUNT(*)")

REASSIGNMENTS = (
    "SELECT COUNT(*) FROM histories h"
    " JOIN history_objects ho ON ho.id = h.history_object_id"
    " JOIN history_attributes ha ON ha.id = h.history_attribute_id"
    " WHERE h.o_id = t.id AND ho.name = 'Ticket' AND ha.name = 'owner'"
    " AND h.id_from IS NOT NULL AND h.id_from <> 1"
)
"""Owner changes away from a real owner (user 1 is nobody): reassignments."""

_OWNER_ROWS = (
    "FROM histories c WHERE c.o_id = t.id"
    " AND c.history_object_id = (SELECT ho.id FROM history_objects ho WHERE ho.name = 'Ticket')"
    f" AND c.history_attribute_id = {_attribute('owner')}"
)
FIRST_ASSIGNED_AT = (
    "CASE COALESCE((SELECT h.id_from FROM histories h WHERE h.id = (SELECT MIN(c.id + 0)"
    f" {_OWNER_ROWS})), t.owner_id) WHEN 1"
    f" THEN (SELECT MIN(c.created_at) {_OWNER_ROWS} AND c.id_to <> 1)"
    " ELSE t.created_at END"
)
"""When the ticket first had a real owner (user 1 is nobody). Zammad writes an ``owner``
``histories`` row for each change after creation, none for the owner a ticket is created
with: a ticket whose first owner change left a real owner (or that has none and is owned
now) was owned from its creation; otherwise its first change to a real owner."""

HISTORY: dict[str, Any] = {
    "table": "histories",
    "ticket": "o_id",
    "at": "created_at",
    # a state row's id_to is the state entered; group rows with an id_from are moves
    "status": f"CASE WHEN h.history_attribute_id = {_attribute('state')}"
    " THEN (SELECT hs.name FROM ticket_states hs WHERE hs.id = h.id_to) END",
    "queue_moves": f"h.history_attribute_id = {_attribute('group')} AND h.id_from IS NOT NULL",
    "where": "h.history_object_id"
    " = (SELECT ho.id FROM history_objects ho WHERE ho.name = 'Ticket')",
}
"""``histories``: state changes (waiting ages) and group changes (misroutes)."""

TICKET_OBJECT = "(SELECT ho.id FROM history_objects ho WHERE ho.name = 'Ticket')"


def _as_of(attribute: str, table: str) -> str:
    """The name in ``table`` of the id the ticket's last ``attribute`` change before
    ``:as_of`` entered (``id_to``), else of the id its first change at or after it left
    (``id_from``). ``+ 0`` keeps the planners on the ``o_id`` index."""

    def change(pick: str, at: str) -> str:
        return (
            f"SELECT {pick}(c.id + 0) FROM histories c WHERE c.o_id = t.id"
            f" AND c.history_object_id = {TICKET_OBJECT}"
            f" AND c.history_attribute_id = {_attribute(attribute)} AND c.created_at {at} :as_of"
        )

    def value(column: str, pick: str, at: str) -> str:
        return (
            f"(SELECT x.name FROM histories v JOIN {table} x ON x.id = v.{column}"
            f" WHERE v.id = ({change(pick, at)}))"
        )

    return f"COALESCE({value('id_to', 'MAX', '<')}, {value('id_from', 'MIN', '>=')})"


PAST_STATE: dict[str, Any] = {
    "status": _as_of("state", "ticket_states"),
    "queue": _as_of("group", "groups"),
    # backfill: the hours with a group change
    "queue_changes": {
        "table": "histories",
        "ticket": "o_id",
        "at": "created_at",
        "where": f"h.history_object_id = {TICKET_OBJECT}"
        f" AND h.history_attribute_id = {_attribute('group')}",
    },
}
"""Status and group as of a past instant from ``histories`` (``state`` and ``group``
rows carry the ids left and entered; Zammad writes them as things happen)."""

PRESET: dict[str, Any] = {
    "table": "tickets",
    "joins": [
        {"table": "groups", "alias": "g", "on": "g.id = t.group_id"},
        {"table": "ticket_states", "alias": "s", "on": "s.id = t.state_id", "kind": "inner"},
        {
            "table": "ticket_state_types",
            "alias": "st",
            "on": "st.id = s.state_type_id",
            "kind": "inner",
        },
        {"table": "ticket_priorities", "alias": "p", "on": "p.id = t.priority_id"},
    ],
    "where": "st.name NOT IN ('merged', 'removed')",
    "id": "id",
    "queue": "g.name",
    "status": "s.name",
    "priority": "p.name",
    "assignee": "NULLIF(t.owner_id, 1)",
    "created_at": "created_at",
    "resolved_at": "COALESCE(t.last_close_at, t.close_at)",
    "first_response_at": "first_response_at",
    "first_response_due_at": "first_response_escalation_at",
    "resolution_due_at": "close_escalation_at",
    "reopened_at": REOPENED_AT,
    "updated_at": "updated_at",
    "category": "type",
    "reassignments": REASSIGNMENTS,
    "reopens": REOPENS,
    "first_assigned_at": FIRST_ASSIGNED_AT,
    "history": HISTORY,
    "past_state": PAST_STATE,
    "open_sql": f"st.name IN {OPEN_STATE_TYPES}",
    "timezone": "UTC",
}

INDEXES: tuple[str, ...] = (
    "tickets (group_id, state_id, created_at)  -- shipped: backlog, aging, created",
    "tickets (group_id, state_id, close_at)  -- shipped: resolved (close_at fallback)",
    "tickets (created_at), tickets (close_at)  -- shipped",
    "tickets (first_response_escalation_at), tickets (close_escalation_at)  -- shipped: SLA",
    "histories (o_id)  -- shipped: reopened (correlated subquery per ticket)",
    "tickets (last_close_at)  -- NOT shipped: resolved-in-window scans without it",
)
