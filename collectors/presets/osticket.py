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
- As of a past instant (``snapshot --as-of``): the department from the thread events
  (``thread_event``): osTicket stamps every event of a ticket with the ticket's
  ``dept_id`` at that moment (``ThreadEvent::forTicket``; a transfer is logged after the
  move, so it carries the new department). The department at the instant is that of the
  ticket's last event before it, else today's. ``backfill`` reads the same per hour, in
  the hours with a ``transferred`` event (``past_state.queue_changes``). The status is
  not read: a close names the status entered in ``data`` (``{"status":[id,"Name"]}``),
  a change between open statuses its id (``{"status":id}``), but a reopen and a new
  ticket's first status are logged without it.
- first_assigned_at: the ticket's first ``assigned`` thread event (``thread_event.state``,
  osTicket 1.10; 1.11 and later name it by ``event_id``: override as for ``past_state``).
  osTicket logs one whenever it assigns an agent or a team (``Ticket::assign``,
  ``assignToStaff``, ``assignToTeam``: by hand, by a filter or help topic at creation,
  right after the ``created`` event). It logs none when a reply claims an unassigned
  ticket ("claim on response", ``postReply`` sets ``staff_id`` directly): such a ticket
  records no first assignment (absent, not 0) unless an ``assigned`` event came first.
- Naive DATETIMEs are in the database session's zone (``ost_config`` ``db_timezone``).
"""

from __future__ import annotations

from typing import Any

PAST_STATE: dict[str, Any] = {
    "queue": "SELECT x.name FROM {p}thread_event v JOIN {p}department x ON x.id = v.dept_id"
    " WHERE v.id = (SELECT MAX(c.id + 0) FROM {p}thread_event c WHERE c.thread_id = ("
    "SELECT MIN(th.id) FROM {p}thread th WHERE th.object_id = t.ticket_id"
    " AND th.object_type = 'T') AND c.timestamp < :as_of)",
    # backfill: the hours with a transfer, the events of the ticket's thread keyed by the
    # ticket's id (a derived table: the events know only their thread)
    "queue_changes": {
        "table": "(SELECT th.object_id AS ticket_id, e.timestamp AS at"
        " FROM {p}thread_event e JOIN {p}thread th ON th.id = e.thread_id"
        " WHERE th.object_type = 'T' AND e.state = 'transferred')",
        "ticket": "ticket_id",
        "at": "at",
    },
}
"""The department as of a past instant: the ``dept_id`` of the ticket's last thread event
before it (by ``thread (object_id)`` and ``thread_event (thread_id, ...)``; a ticket has
one thread). The thread is looked up on its own, not joined: with the join, MariaDB 10.11
ran the age-quantile statement (window functions) for 51 s on the tests' 5,280 tickets,
against 0.9 s for the whole snapshot this way (load average 17 to 21).

``queue_changes`` (``backfill`` per department): the ``transferred`` events, which
osTicket logs when it moves a ticket to another department (``Ticket::transfer``); every
other event carries the department the ticket already had. A department changed without
one (a direct database write) is seen by ``snapshot --as-of`` (which reads every event)
and not by ``backfill``. osTicket 1.11 and later name the event by ``event_id``
(``{p}event``) instead of ``state``: override ``past_state`` with ``e.event_id = (SELECT
id FROM {p}event WHERE name = 'transferred')``."""

FIRST_ASSIGNED_AT = (
    "SELECT MIN(e.timestamp) FROM {p}thread_event e WHERE e.thread_id = ("
    "SELECT MIN(th.id) FROM {p}thread th WHERE th.object_id = t.ticket_id"
    " AND th.object_type = 'T') AND e.state = 'assigned'"
)
"""When the ticket was first assigned to an agent or a team: its first ``assigned`` thread
event (by ``thread (object_id)`` and the ``ticket_state (thread_id, state, timestamp)``
index; the thread looked up on its own as in :data:`PAST_STATE`; task threads, type
``'A'``, are skipped). osTicket never annuls an ``assigned`` event. osTicket 1.11 and later
name the event by ``event_id``: override with ``e.event_id = (SELECT id FROM {p}event
WHERE name = 'assigned')`` in place of ``e.state = 'assigned'``."""

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
    "first_assigned_at": FIRST_ASSIGNED_AT,
    "past_state": PAST_STATE,
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
    "{p}thread_event ticket_state (thread_id, state, timestamp)  -- shipped with osTicket:"
    " the department as of a past instant, the first assignment",
    "{p}thread_event ticket_stats (timestamp, state)  -- shipped with osTicket: the"
    " transfers of the hours backfill reads",
)
