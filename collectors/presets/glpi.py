"""GLPI (MySQL/MariaDB): ``glpi_tickets``, its assigned groups and users, integer statuses.

Source: GLPI ``install/mysql/glpi-empty.sql`` (``glpi_tickets``, ``glpi_groups``,
``glpi_groups_tickets``, ``glpi_tickets_users``) and the ``CommonITILObject`` constants:
status 1 New, 2 Processing (assigned), 3 Processing (planned), 4 Pending, 5 Solved,
6 Closed; priority 1 Very low .. 5 Very high, 6 Major; actor ``type`` 1 requester,
2 assigned, 3 observer.

- queue: the assigned group (``glpi_groups_tickets.type = 2``). The link is many-to-many;
  ``group_assignment`` chooses the rule. ``every_assigned_group`` (the default) counts a
  ticket in every group assigned to it, as GLPI's own "assigned group" search does (the
  link is a ``fan_out`` join); ``first_assigned_group`` counts it only in the group
  assigned first, i.e. the link row with the lowest ``id`` (``glpi_groups_tickets`` has
  no date; its ids grow in the order links are made). Either way the source's total
  counts each ticket once. A ticket without an assigned group (usual for New ones) is
  reported as ``(unassigned)``. ``glpi_groups.completename`` is the full path
  (``Parent > Child``).
- status and priority: the integers rendered as GLPI's English labels; open means
  status 1-4. Deleted tickets (``is_deleted = 1``, the trash bin) are excluded.
- created_at: ``date`` (the opening date; ``date_creation`` is when the row was written).
- resolved_at: ``COALESCE(solvedate, closedate)``. Both are cleared on reopen. GLPI's own
  code copies ``closedate`` into an empty ``solvedate`` when a ticket is closed, but
  imported rows, direct database writes and some migrations leave ``solvedate`` empty:
  such a ticket is resolved at its close date (GLPI's own fallback).
  first_response_at: ``takeintoaccountdate`` (GLPI 10.0.3 and later).
- first_response_due_at / resolution_due_at: the SLA's ``time_to_own`` / ``time_to_resolve``.
- assignee: the assigned user with the lowest id (``glpi_tickets_users.type = 2``).
- category: the ITIL category's full path (``glpi_itilcategories.completename``, e.g.
  ``Hardware > Printer``) of ``itilcategories_id``; a ticket without one (id 0) is ``none``.
- first_assigned_at: when a technician (an assigned user) was first added to the ticket,
  from ``glpi_logs``: GLPI logs every actor added to a ticket, also those of its creation,
  as a relation row of ``itemtype`` ``'Ticket'``, ``itemtype_link`` ``'User'``,
  ``linked_action`` 15 and the Ticket search option of the actor's role as
  ``id_search_option``: 5 for the assigned technician (4 requester, 66 observer;
  ``CommonITILActor`` / ``Ticket_User::post_addItem``). ``glpi_tickets_users`` itself has
  no date. An assigned group or supplier alone is not a first assignment, as it does not
  make the ticket assigned for ``unassigned`` either.
- reopened_at: GLPI keeps no reopen instant on the ticket, so ``reopened`` is unknown (None).
- As of a past instant (``snapshot --as-of``): the status from ``glpi_logs``, GLPI's
  history (``install/mysql/glpi-empty.sql``): a status change is a row of ``itemtype``
  ``'Ticket'``, ``linked_action`` 0 and ``id_search_option`` 12 (the Ticket search option
  of the ``status`` field) whose ``old_value`` and ``new_value`` are the status integers
  as text (``Log::constructHistory`` logs a field of the item's own table raw). The
  status entered by the last change before the instant, else the one left by the first
  change at or after it, else today's. With ``every_assigned_group``, the assigned groups
  as of the instant too: GLPI logs them as relation rows (``linked_action`` 15 added, 16
  removed, ``itemtype_link`` ``'Group'``, ``id_search_option`` 8, the group as ``name
  (id)`` text) and a ticket may hold several at once, so ``past_state.queue_join``
  replaces the link join by the pairs assigned then (:data:`GROUPS_AS_OF`). ``backfill``
  counts each ticket in today's groups unless ``backfill_groups: held`` (opt-in, 2 to 5
  times slower: ``docs/backfill.md``) makes it read them too, per hour: the spans
  of time in which each (ticket, group) pair was assigned, from one window pass over the
  relation rows and today's links (:data:`GROUP_SPANS`), the span holding each hour's end
  (:data:`SPAN_HELD`), looked at in the hours with a relation row (:data:`GROUP_CHANGES`).
- The date columns are TIMESTAMPs (GLPI >= 10): what a session reads depends on its time
  zone. Set ``session_time_zone: "+00:00"`` on the source; the mapping reads UTC.
"""

from __future__ import annotations

from typing import Any

STATUS_LABELS = (
    (1, "New"),
    (2, "Processing (assigned)"),
    (3, "Processing (planned)"),
    (4, "Pending"),
    (5, "Solved"),
    (6, "Closed"),
)
"""``CommonITILObject``'s status constants and their English labels."""


def status_label(value: str, as_text: bool = False) -> str:
    """The CASE that labels the status integer ``value`` (``as_text``: the integer
    written as text, as ``glpi_logs`` holds it)."""
    codes = [(f"'{code}'" if as_text else str(code), label) for code, label in STATUS_LABELS]
    whens = " ".join(f"WHEN {code} THEN '{label}'" for code, label in codes)
    return f"CASE {value} {whens} ELSE CONCAT('Status ', {value}) END"


STATUS_CHANGE = (
    "SELECT {pick}(c.id + 0) FROM glpi_logs c WHERE c.itemtype = 'Ticket' AND c.items_id = t.id"
    " AND c.linked_action = 0 AND c.id_search_option = 12 AND c.date_mod {at} :as_of"
)
"""The ticket's last (``MAX``, ``<``) or first (``MIN``, ``>=``) status change before or at
and after ``:as_of``, by the ``item (itemtype, items_id)`` index (``+ 0`` keeps the planner
off the primary key)."""

PAST_STATE: dict[str, Any] = {
    "status": "COALESCE("
    f"(SELECT {status_label('v.new_value', as_text=True)} FROM glpi_logs v WHERE v.id = ("
    + STATUS_CHANGE.format(pick="MAX", at="<")
    + f")), (SELECT {status_label('v.old_value', as_text=True)} FROM glpi_logs v WHERE v.id = ("
    + STATUS_CHANGE.format(pick="MIN", at=">=")
    + ")))",
}
"""The status as of a past instant from ``glpi_logs`` (see the module docstring)."""

GROUP_ROW = (
    "{a}.itemtype = 'Ticket' AND {a}.itemtype_link = 'Group' AND {a}.id_search_option = 8"
    " AND {a}.linked_action IN (15, 16)"
)
"""An assigned group added (``HISTORY_ADD_RELATION``, 15) to or removed (16) from a
ticket, in ``glpi_logs`` row ``{a}`` (search option 8: the assigned group)."""


def logged_group(a: str) -> str:
    """The group id of relation row ``a``: the number in the final parentheses of the
    ``name (id)`` text (added: ``new_value``; removed: ``old_value``), by functions both
    PostgreSQL and MariaDB have (the name may itself hold parentheses)."""
    text = f"(CASE {a}.linked_action WHEN 15 THEN {a}.new_value ELSE {a}.old_value END)"
    mark = f"POSITION('(' IN REVERSE({text}))"
    return f"CAST(SUBSTRING({text}, CHAR_LENGTH({text}) - {mark} + 2, {mark} - 2) AS INTEGER)"


def _group_change(pick: str, at: str, action: int) -> str:
    """1 when the ticket's last (``MAX``, ``<``) or first (``MIN``, ``>=``) relation row of
    group ``gt.groups_id`` before or at and after ``:as_of`` is ``action``, 0 when it is
    the other, NULL without one."""
    return (
        f"(SELECT CASE v.linked_action WHEN {action} THEN 1 ELSE 0 END FROM glpi_logs v"
        f" WHERE v.id = (SELECT {pick}(c.id + 0) FROM glpi_logs c"
        f" WHERE c.items_id = gt.tickets_id AND {GROUP_ROW.format(a='c')}"
        f" AND {logged_group('c')} = gt.groups_id AND c.date_mod {at} :as_of))"
    )


GROUP_LINKS = (
    "(SELECT l.tickets_id, l.groups_id FROM glpi_groups_tickets l WHERE l.type = 2"
    f" UNION SELECT c.items_id, {logged_group('c')} FROM glpi_logs c"
    f" WHERE {GROUP_ROW.format(a='c')})"
)
"""Every (ticket, group) a ticket may have held at some time: today's links and every
group of a relation row (no ``:as_of``)."""

GROUP_SPANS = (
    "(SELECT p.tickets_id, p.groups_id,"
    " CASE WHEN p.action = 15 THEN p.at END AS held_from,"
    " CASE p.action WHEN 15 THEN p.later WHEN 16 THEN p.first_at END AS held_to FROM ("
    "SELECT e.tickets_id, e.groups_id, e.action, e.at, e.id,"
    " MIN(e.at) OVER (PARTITION BY e.tickets_id, e.groups_id ORDER BY e.id"
    " ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS later,"
    " MIN(e.at) OVER (PARTITION BY e.tickets_id, e.groups_id) AS first_at,"
    " MIN(e.id) OVER (PARTITION BY e.tickets_id, e.groups_id) AS first_id"
    f" FROM (SELECT c.items_id AS tickets_id, {logged_group('c')} AS groups_id,"
    " c.linked_action AS action, c.date_mod AS at, c.id FROM glpi_logs c"
    f" WHERE {GROUP_ROW.format(a='c')} AND c.date_mod IS NOT NULL"
    " UNION ALL SELECT l.tickets_id, CAST(l.groups_id AS INTEGER), 0, NULL, NULL"
    " FROM glpi_groups_tickets l WHERE l.type = 2) e) p"
    " WHERE p.action = 15 OR (p.action = 16 AND p.id = p.first_id)"
    " OR (p.action = 0 AND p.first_id IS NULL))"
)
"""For ``backfill``: every span of time in which a (ticket, group) pair is assigned, by
the rule of :data:`GROUP_HELD` read once over the relation rows instead of per pair and
instant. Per pair, ordered by id: after an addition (15) it is held from that row's
time (exclusive) until the earliest time of any later row (inclusive: the last row
before an instant is the addition exactly then), open-ended without one; if its first
row is a removal (16) it is held until the earliest time of its rows (the instant has
no row before it and the first after it removed the group); a link of today without any
relation row (a ``NULL`` id, so ``first_id IS NULL``) is held at every instant.
``held_from`` / ``held_to`` are ``NULL`` when unbounded. A pair's spans are disjoint, so
at most one row of a pair is held at an instant (:data:`SPAN_HELD`). One window pass
over the relation rows and today's links (no lookup per pair or instant); relation rows
without a time are skipped, as the rule's comparisons skip them."""

SPAN_HELD = (
    "(gt.held_from IS NULL OR gt.held_from < :as_of)"
    " AND (gt.held_to IS NULL OR :as_of <= gt.held_to)"
)
"""Whether the span ``gt`` of :data:`GROUP_SPANS` holds ``:as_of``."""

GROUP_HELD = (
    f"COALESCE({_group_change('MAX', '<', 15)}, {_group_change('MIN', '>=', 16)},"
    " (SELECT MAX(1) FROM glpi_groups_tickets x WHERE x.tickets_id = gt.tickets_id"
    " AND x.groups_id = gt.groups_id AND x.type = 2), 0) = 1"
)
"""Whether the (ticket, group) row ``gt`` of :data:`GROUP_LINKS` is assigned at ``:as_of``:
its last relation row before the instant added it, else its first row at or after it
removed it (assigned before the history says), else it is one of today's links."""

GROUPS_AS_OF = f"(SELECT gt.tickets_id, gt.groups_id FROM {GROUP_LINKS} gt WHERE {GROUP_HELD})"
"""Every (ticket, group) assigned at ``:as_of`` (``snapshot --as-of``)."""

GROUP_CHANGES: dict[str, Any] = {
    "table": "glpi_logs",
    "ticket": "items_id",
    "at": "date_mod",
    "where": GROUP_ROW.format(a="h"),
}
"""The rows at which a ticket's assigned groups may change: its relation rows of assigned
groups (``backfill`` looks at the groups only in the hours with one)."""

PAST_GROUPS_TODAY: dict[str, Any] = {
    **PAST_STATE,
    "queue_join": {"alias": "gt", "table": GROUPS_AS_OF, "on": "gt.tickets_id = t.id"},
}
"""``every_assigned_group``: the status and the groups as of a past instant for
``snapshot --as-of``; ``backfill`` counts each ticket in today's groups
(``backfill_groups: today``, the default)."""

PAST_GROUPS: dict[str, Any] = {
    **PAST_GROUPS_TODAY,
    "queue_join": {
        **PAST_GROUPS_TODAY["queue_join"],
        "rows": GROUP_SPANS,
        "held": SPAN_HELD,
        "changes": GROUP_CHANGES,
    },
}
"""``backfill_groups: held``: as :data:`PAST_GROUPS_TODAY`, and ``backfill`` counts each
ticket in every group it held at each hour's end (opt-in: see ``docs/backfill.md`` for
its cost)."""

FIRST_ASSIGNED_AT = (
    "SELECT MIN(l.date_mod) FROM glpi_logs l WHERE l.itemtype = 'Ticket' AND l.items_id = t.id"
    " AND l.itemtype_link = 'User' AND l.linked_action = 15 AND l.id_search_option = 5"
)
"""When a technician was first assigned to the ticket: its first ``glpi_logs`` relation row
adding an assigned user (search option 5), by the ``item (itemtype, items_id)`` index (see
the module docstring)."""

GROUPS = {"table": "glpi_groups", "alias": "g", "on": "g.id = gt.groups_id"}

GROUP_ASSIGNMENT: dict[str, dict[str, Any]] = {
    "every_assigned_group": {
        "joins": [
            {
                "table": "glpi_groups_tickets",
                "alias": "gt",
                "on": "gt.tickets_id = t.id AND gt.type = 2",
                "fan_out": True,
            },
            GROUPS,
        ],
        "past_state": PAST_GROUPS_TODAY,
    },
    "first_assigned_group": {
        "joins": [
            {
                "table": "glpi_groups_tickets",
                "alias": "gt",
                "on": (
                    "gt.tickets_id = t.id AND gt.type = 2 AND NOT EXISTS ("
                    "SELECT 1 FROM glpi_groups_tickets g2 WHERE g2.tickets_id = t.id"
                    " AND g2.type = 2 AND g2.id < gt.id)"
                ),
            },
            GROUPS,
        ],
        "past_state": PAST_STATE,
    },
}
"""The joins of each ``group_assignment`` (see the module docstring)."""

BACKFILL_GROUPS: dict[str, dict[str, Any]] = {
    "today": {},
    "held": {"past_state": PAST_GROUPS},
}
"""The fields of each ``backfill_groups`` value (``held`` needs ``every_assigned_group``;
:class:`collectors.sqlmap.SqlMapping` checks it)."""


PRESET: dict[str, Any] = {
    "table": "glpi_tickets",
    "group_assignment": "every_assigned_group",
    "backfill_groups": "today",
    **GROUP_ASSIGNMENT["every_assigned_group"],
    "where": "t.is_deleted = 0",
    "id": "id",
    "queue": "COALESCE(g.completename, '(unassigned)')",
    "status": status_label("t.status"),
    "priority": (
        "CASE t.priority WHEN 1 THEN 'Very low' WHEN 2 THEN 'Low' WHEN 3 THEN 'Medium'"
        " WHEN 4 THEN 'High' WHEN 5 THEN 'Very high' WHEN 6 THEN 'Major'"
        " ELSE CONCAT('Priority ', t.priority) END"
    ),
    "assignee": (
        "SELECT MIN(tu.users_id) FROM glpi_tickets_users tu"
        " WHERE tu.tickets_id = t.id AND tu.type = 2 AND tu.users_id > 0"
    ),
    "created_at": "date",
    "resolved_at": "COALESCE(t.solvedate, t.closedate)",
    "first_response_at": "takeintoaccountdate",
    "first_response_due_at": "time_to_own",
    "resolution_due_at": "time_to_resolve",
    "updated_at": "date_mod",
    "first_assigned_at": FIRST_ASSIGNED_AT,
    "category": (
        "SELECT c.completename FROM glpi_itilcategories c WHERE c.id = t.itilcategories_id"
    ),
    "open_sql": "t.status IN (1, 2, 3, 4)",
    "timezone": "UTC",
}

INDEXES: tuple[str, ...] = (
    "glpi_tickets (status), glpi_tickets (is_deleted)  -- shipped with GLPI",
    "glpi_tickets (date)  -- shipped with GLPI; solvedate and closedate are indexed too,"
    " but COALESCE over them scans the tickets not open for resolved-in-window",
    "glpi_tickets (time_to_own), glpi_tickets (time_to_resolve)  -- shipped with GLPI",
    "glpi_groups_tickets UNIQUE (tickets_id, type, groups_id)  -- shipped with GLPI; the"
    " assigned-group join and the first-assignment check are index lookups",
    "glpi_tickets_users UNIQUE (tickets_id, type, users_id, alternative_email)  -- shipped",
    "glpi_logs item (itemtype, items_id)  -- shipped with GLPI: status and groups as of a"
    " past instant, the first assignment",
    "glpi_logs (date_mod)  -- shipped with GLPI: backfill's relation rows of each chunk",
)
