"""osTicket (MySQL/MariaDB): ``ost_ticket`` with departments, statuses and form-data priorities.

Source: osTicket ``setup/inc/streams/core/install-mysql.sql`` (tables ``%TABLE_PREFIX%ticket``,
``ticket_status``, ``department``, ``ticket_priority``, ``thread``, ``thread_entry``) and
``include/i18n/en_US/ticket_status.yaml`` (states open, closed, archived, deleted). Every
table name carries the configurable prefix (``ost_`` by default), written ``{p}`` here.

- queue: the department (``dept_id`` -> ``department.name``). Department names are unique
  only under one parent; override ``queue`` to show a path or use help topics.
- status: the status *name*; open means ``ticket_status.state = 'open'`` (admins add custom
  statuses, so ids are never hard-coded). Deleted and archived tickets are excluded.
- priority: not on the ticket. ``ticket__cdata`` (created at run time from the ticket form,
  so it is not in the install schema) holds the priority *id as text*; a ticket without a
  form entry has no row, hence LEFT JOINs and an empty priority label.
- assignee: the agent (``staff_id``), else the team (``team:<team_id>``); a ticket is
  unassigned only when both are 0, as osTicket itself reads it (``Ticket::isAssigned``).
- resolved_at: ``closed`` (cleared on reopen, re-stamped on Resolved -> Closed; old installs
  may hold ``0000-00-00 00:00:00``, which never falls in a window).
- first_response_at: the first reply (thread entry type ``R``) of the ticket's thread
  (``thread.object_type = 'T'``; tasks have threads of type ``A``).
- resolution_due_at: the manual ``duedate``, else the SLA's ``est_duedate``. osTicket has no
  first-response deadline, and it clears a due date that is past when it closes the ticket
  (``clearOverdue``), so deadlines missed by tickets closed since are gone: "SLA missed in
  the window" is absent (``sla_history: False``).
- reopened_at: ``reopened`` (the last reopen).
- Naive DATETIMEs are in the database session's zone (``ost_config`` ``db_timezone``).
"""

from __future__ import annotations

from typing import Any

PRESET: dict[str, Any] = {
    "table_prefix": "ost_",
    "table": "{p}ticket",
    "joins": [
        {"table": "{p}ticket_status", "alias": "s", "on": "s.id = t.status_id", "kind": "inner"},
        {"table": "{p}department", "alias": "d", "on": "d.id = t.dept_id"},
        {"table": "{p}ticket__cdata", "alias": "cd", "on": "cd.ticket_id = t.ticket_id"},
        {"table": "{p}ticket_priority", "alias": "pr", "on": "pr.priority_id = cd.priority"},
    ],
    "where": "s.state NOT IN ('deleted', 'archived')",
    "id": "ticket_id",
    "queue": "d.name",
    "status": "s.name",
    "priority": "pr.priority",
    "assignee": (
        "CASE WHEN t.staff_id <> 0 THEN t.staff_id"
        " WHEN t.team_id <> 0 THEN CONCAT('team:', t.team_id) END"
    ),
    "created_at": "created",
    "resolved_at": "closed",
    "first_response_at": (
        "SELECT MIN(e.created) FROM {p}thread th"
        " JOIN {p}thread_entry e ON e.thread_id = th.id"
        " WHERE th.object_id = t.ticket_id AND th.object_type = 'T' AND e.type = 'R'"
    ),
    "resolution_due_at": "COALESCE(t.duedate, t.est_duedate)",
    "reopened_at": "reopened",
    "updated_at": "updated",
    "open_sql": "s.state = 'open'",
    "timezone": "UTC",
    "sla_history": False,
}

INDEXES: tuple[str, ...] = (
    "{p}ticket (status_id), {p}ticket (dept_id)  -- shipped with osTicket",
    "{p}ticket (created), {p}ticket (closed), {p}ticket (duedate)  -- shipped with osTicket",
    "{p}ticket_status (state)  -- shipped with osTicket",
    "{p}ticket__cdata (ticket_id)  -- its primary key, made by osTicket",
    "{p}thread (object_id), {p}thread_entry (thread_id)  -- shipped with osTicket",
)
