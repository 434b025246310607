"""Zammad (PostgreSQL): ``tickets`` with groups, state types and priorities by lookup.

Source: zammad ``db/migrate/20120101000010_create_ticket.rb`` and ``db/seeds/ticket_state*.rb``.
Open state types are new, open, pending reminder and pending action; merged and removed
tickets are excluded. ``close_at`` is set on the first close and ``last_close_at`` on
every close, neither is cleared on reopen: a ticket counts as resolved in a window by
``last_close_at`` (falling back to ``close_at``) only while it is closed. User 1 is the
system user, so ``owner_id = 1`` means unassigned. In 6.x ``groups.name`` holds the full
path ``Parent::Child``.
"""

from __future__ import annotations

from typing import Any

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
    "open_sql": "st.name IN ('new', 'open', 'pending reminder', 'pending action')",
    "timezone": "UTC",
}

INDEXES: tuple[str, ...] = (
    "tickets (group_id, state_id, created_at)  -- shipped with Zammad",
    "tickets (group_id, state_id, close_at)  -- shipped with Zammad",
    "tickets (created_at), tickets (last_close_at), tickets (close_at)",
    "tickets (first_response_escalation_at), tickets (close_escalation_at)",
)
