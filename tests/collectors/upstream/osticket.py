"""osTicket tables filled from the real incidents the way osTicket writes them, and its reading.

Writing (seed ids from ``osticket/schema.yaml``; behaviour from ``include/class.ticket.php``
and ``class.dynamic_forms.php``, see ``osticket/PROVENANCE.md``):

- Tables carry a non-default installer prefix (:data:`PREFIX`). Naive DATETIMEs are in
  the server's zone, recorded as ``db_timezone`` in ``config`` (:data:`ZONE`).
- Statuses: Open, an admin's custom "Awaiting Customer" (state open), Resolved and
  Closed (state closed); every 50th resolved or closed ticket is Archived, every 80th
  ticket Deleted ("queued for deletion": states archived and deleted).
- ``closed`` is stamped at every move into a closed-state status (Resolved -> Closed
  again) and cleared on reopen; ``reopened`` is the last reopen and is kept. Every 45th
  closed ticket came from an old install with ``closed = 0000-00-00 00:00:00``, every
  11th never-reopened ticket with a zero ``reopened``.
- Due dates: ``est_duedate`` is the SLA's grace period from creation, or from the last
  reopen; every 7th ticket also has a manual ``duedate`` two days after creation.
  Closing clears whichever of them is already past (``clearOverdue``).
- Assignment: ``staff_id`` is the agent; every 6th ticket nobody took is assigned to a
  team only (``team_id``).
- Priorities live in the ticket form's answers (``form_entry``/``form_entry_values``,
  value the description, value_id the id). Every 25th ticket has no form entry (so no
  ``ticket__cdata`` row), every 30th an empty priority answer. ``ticket__cdata`` is built
  as osTicket builds it at run time (:func:`cdata_statement`).
- Threads: the user's message at creation, every 3rd ticket a follow-up message ('M'),
  every 4th answered ticket an internal note ('N') before the first reply ('R'). Every
  10th ticket id is also a task id: that task's thread (object_type 'A') has an agent
  reply before the ticket's own first reply.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pandas as pd

from tests.collectors.upstream import ddl, story
from tests.collectors.upstream.expect import FACTS

Seeds = dict[str, list[dict[str, Any]]]

PREFIX = "support_"
ZONE = "America/Sao_Paulo"
"""The MySQL server's SYSTEM zone (a São Paulo host), which osTicket records as db_timezone."""
AWAITING, ARCHIVED, DELETED = 6, 4, 5
STATUS = {"new": 1, "open": 1, "pending": AWAITING, "resolved": 2, "closed": 3}
PRIORITY = {1: 4, 2: 3, 3: 2, 4: 1}
"""ServiceNow 1 Critical .. 4 Low -> osTicket emergency, high, normal, low."""
GRACE_HOURS = {1: 8, 2: 24, 3: 72, 4: 168}
"""One SLA per ServiceNow priority, its grace period the resolution target."""
ZERO = "0000-00-00 00:00:00"
SUPPORT, TEAM = 1, 1
SUBJECT, PRIORITY_FIELD = 20, 22
TICKET_FORM = 2
CLOSED_LIKE = ("resolved", "closed")
STAMP = story.utc_naive(story.AS_OF) - pd.Timedelta(days=400)


def tables(seeds: Seeds) -> dict[str, pd.DataFrame]:
    """Every row to insert, unprefixed table names, naive times in :data:`ZONE`."""
    t = story.tickets().copy()
    t["id"] = range(1, len(t) + 1)
    t["closed_at"] = t["number"].map(_closes().groupby("number")["at"].max())
    t["reopened"] = t["number"].map(_reopens())
    names = sorted(story.events()["group"].dropna().unique())
    dept = {name: i for i, name in enumerate(names, start=2)}
    agents = {n: i for i, n in enumerate(sorted(t["assignee"].dropna().unique()), start=1)}
    threads = pd.DataFrame({"id": t["id"], "object_id": t["id"], "object_type": "T"})
    entries, tasks, task_threads = _entries(t, agents)
    out = {
        "config": _config(),
        "sla": _slas(),
        "department": _departments(dept),
        "ticket_status": _statuses(seeds),
        "ticket_priority": pd.DataFrame(seeds["ticket_priority"]),
        **{n: _stamped(pd.DataFrame(seeds[n])) for n in ("form", "form_field")},
        "ticket": _tickets(t, dept, agents),
        **_answers(t, seeds),
        "task": tasks,
        "thread": pd.concat([threads, task_threads], ignore_index=True).assign(
            created=lambda f: f["object_id"].map(t.set_index("id")["opened"]).fillna(STAMP)
        ),
        "thread_entry": entries,
    }
    return {name: _wall_clock(frame) for name, frame in out.items()}


def _stamped(rows: pd.DataFrame) -> pd.DataFrame:
    """Seed rows with the created/updated stamps (NOT NULL, no default) of the install."""
    return rows.assign(created=STAMP, updated=STAMP)


def _wall_clock(frame: pd.DataFrame) -> pd.DataFrame:
    """Naive UTC times as :data:`ZONE` wall-clock times; zero-date text is kept."""
    out = story.wall_clock(frame, ZONE)
    for name in frame.columns:
        column = frame[name]
        if column.dtype == object and column.map(lambda v: isinstance(v, pd.Timestamp)).any():
            stamps = pd.to_datetime(column.where(column != ZERO))
            out[name] = story.to_local(stamps, ZONE).astype(object).where(column != ZERO, ZERO)
    return out


def _config() -> pd.DataFrame:
    return pd.DataFrame({"namespace": ["core"], "key": ["db_timezone"], "value": [ZONE]})


def _slas() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": list(GRACE_HOURS),
            "grace_period": list(GRACE_HOURS.values()),
            "name": [f"P{p} resolution" for p in GRACE_HOURS],
            "created": STAMP,
            "updated": STAMP,
        }
    )


def _departments(dept: dict[str, int]) -> pd.DataFrame:
    ids = [SUPPORT, *dept.values()]
    return pd.DataFrame(
        {
            "id": ids,
            "name": ["Support", *dept],
            "signature": "",
            "path": [f"/{i}/" for i in ids],
            "updated": STAMP,
            "created": STAMP,
        }
    )


def _statuses(seeds: Seeds) -> pd.DataFrame:
    custom = {"id": AWAITING, "name": "Awaiting Customer", "state": "open", "mode": 1}
    rows = pd.DataFrame([*seeds["ticket_status"], {**custom, "sort": 6, "flags": 0}])
    return _stamped(rows.fillna({"properties": "{}"}))


def _closes() -> pd.DataFrame:
    """number, at: every move into a closed-state status (a ticket logged resolved is
    closed at creation; Resolved -> Closed stamps ``closed`` again)."""
    ev = story.events()
    before = ev.groupby("number")["category"].shift().map(STATUS)
    hit = ev["category"].isin(CLOSED_LIKE) & (before != ev["category"].map(STATUS))
    return ev.loc[hit, ["number", "at"]]


def _reopens() -> pd.Series:
    """Per incident, the last move from a closed-state status back to an open one."""
    moves = story.transitions()
    back = moves[moves["before"].isin(CLOSED_LIKE) & ~moves["after"].isin(CLOSED_LIKE)]
    return back.groupby("number")["at"].max()


def _tickets(t: pd.DataFrame, dept: dict[str, int], agents: dict[str, int]) -> pd.DataFrame:
    ids = t["id"]
    closed_now = t["category"].isin(CLOSED_LIKE)
    status = t["category"].map(STATUS).where(~(closed_now & (ids % 50 == 0)), ARCHIVED)
    est, due = _due_dates(t, closed_now)
    staff = t["assignee"].map(agents).fillna(0).astype(int)
    zero_closed = closed_now & (ids % 45 == 0)
    zero_reopened = t["reopened"].isna() & (ids % 11 == 0)
    return pd.DataFrame(
        {
            "ticket_id": ids,
            "number": t["number"],
            "user_id": ids + 1000,
            "status_id": status.where(ids % 80 != 0, DELETED),
            "dept_id": t["group"].map(dept).fillna(SUPPORT).astype(int),
            "sla_id": t["priority"],
            "staff_id": staff,
            "team_id": ((staff == 0) & (ids % 6 == 0)).astype(int) * TEAM,
            "source": ["Email" if i % 2 else "Web" for i in ids],
            "isoverdue": (~closed_now & (due.fillna(est) < story.utc_naive(story.AS_OF))).astype(
                int
            ),
            "isanswered": t["first_response"].notna().astype(int),
            "duedate": due,
            "est_duedate": est,
            "reopened": t["reopened"].astype(object).where(~zero_reopened, ZERO),
            "closed": t["closed_at"].where(closed_now).astype(object).where(~zero_closed, ZERO),
            "lastupdate": t["number"].map(story.events().groupby("number")["at"].max()),
            "created": t["opened"],
            "updated": t["number"].map(story.events().groupby("number")["at"].max()),
        }
    )


def _due_dates(t: pd.DataFrame, closed_now: pd.Series) -> tuple[pd.Series, pd.Series]:
    """est_duedate and duedate as osTicket leaves them (``updateEstDueDate`` on reopen,
    ``clearOverdue`` on every close)."""
    grace = pd.to_timedelta(t["priority"].map(GRACE_HOURS), unit="h")
    est = t["reopened"].fillna(t["opened"]) + grace
    est = est.where(~(closed_now & (est <= t["closed_at"])))
    due = (t["opened"] + pd.Timedelta(days=2)).where(t["id"] % 7 == 0)
    # a close at or after the manual due date cleared it for good
    due = due.where(~(t["closed_at"] >= due))
    return est, due


def _answers(t: pd.DataFrame, seeds: Seeds) -> dict[str, pd.DataFrame]:
    """The ticket form's entries and answers (subject, priority: the description as the
    value, the id as value_id, as osTicket's PriorityField stores it)."""
    descriptions = {p["priority_id"]: p["priority_desc"] for p in seeds["ticket_priority"]}
    with_entry = t[t["id"] % 25 != 0]
    entry_id = range(1, len(with_entry) + 1)
    entries = pd.DataFrame(
        {
            "id": entry_id,
            "form_id": TICKET_FORM,
            "object_id": with_entry["id"],
            "object_type": "T",
            "created": with_entry["opened"],
            "updated": with_entry["opened"],
        }
    )
    chosen = with_entry["priority"].map(PRIORITY).where(with_entry["id"] % 30 != 0)
    subject = pd.DataFrame(
        {"entry_id": entry_id, "field_id": SUBJECT, "value": with_entry["number"]}
    )
    priority = pd.DataFrame(
        {
            "entry_id": entry_id,
            "field_id": PRIORITY_FIELD,
            "value": chosen.map(descriptions),
            "value_id": chosen,
        }
    )
    return {"form_entry": entries, "form_entry_values": pd.concat([subject, priority])}


def _entries(
    t: pd.DataFrame, agents: dict[str, int]
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Thread entries of tickets and tasks, the tasks, and the tasks' threads."""
    ids = t["id"]
    staff = t["assignee"].map(agents).fillna(1).astype(int)
    answered = t["first_response"].notna()
    gap = t["first_response"].fillna(story.utc_naive(story.AS_OF)) - t["opened"]
    tasked = ids % 10 == 0
    task_thread = len(t) + tasked.cumsum()

    def entry(kind: str, thread: pd.Series, by: Any, user: Any, at: pd.Series) -> dict[str, Any]:
        return {
            "thread_id": thread,
            "staff_id": by,
            "user_id": user,
            "type": kind,
            "body": kind,
            "created": at,
        }

    entries = story.timeline(
        [
            (ids > 0, entry("M", ids, 0, ids + 1000, t["opened"])),
            (ids % 3 == 0, entry("M", ids, 0, ids + 1000, t["opened"] + gap / 3)),
            (answered & (ids % 4 == 0), entry("N", ids, staff, 0, t["opened"] + gap / 2)),
            (answered, entry("R", ids, staff, 0, t["first_response"])),
            (tasked, entry("R", task_thread, staff, 0, t["opened"] + gap / 4)),
        ],
        "created",
    )
    tasks, threads = _tasks(t, tasked, task_thread)
    return entries.assign(updated=entries["created"]), tasks, threads


def _tasks(
    t: pd.DataFrame, tasked: pd.Series, task_thread: pd.Series
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Tasks whose ids are also ticket ids (each belongs to some other ticket), and their
    threads (object_type 'A', object_id the task id)."""
    ids = t.loc[tasked, "id"]
    tasks = pd.DataFrame(
        {
            "id": ids,
            "object_id": (ids * 7) % len(t) + 1,
            "object_type": "T",
            "dept_id": SUPPORT,
            "created": t.loc[tasked, "opened"],
            "updated": t.loc[tasked, "opened"],
        }
    )
    threads = pd.DataFrame({"id": task_thread[tasked], "object_id": ids, "object_type": "A"})
    return tasks, threads


def cdata_statement(prefix: str, fields: pd.DataFrame) -> str:
    """``ticket__cdata`` as osTicket creates it at run time: one row per ticket that has a
    ticket-form entry, one column per data field of the ticket form (named after the
    field), holding ``value_id`` else ``value``; a choice field's JSON punctuation is
    stripped (``{"2":"Normal"}`` reads ``2,Normal``). Written here, not taken from
    osTicket's ``DynamicForm::getCrossTabQuery``."""
    columns = []
    for field in fields[
        (fields["form_id"] == TICKET_FORM) & (fields["type"] != "thread")
    ].itertuples():
        answer = "COALESCE(a.value_id, a.value)"
        if field.type == "priority":
            for char, replacement in (("{", ""), ("}", ""), ('"', ""), (":", ",")):
                answer = f"REPLACE({answer}, '{char}', '{replacement}')"
        columns.append(
            f"MAX(CASE WHEN a.field_id = {field.id} THEN {answer} END) AS `{field.name}`"
        )
    return (
        f"CREATE TABLE `{prefix}ticket__cdata` (PRIMARY KEY (`ticket_id`)) DEFAULT CHARSET=utf8"
        f" AS SELECT e.object_id AS ticket_id, {', '.join(columns)}"
        f" FROM `{prefix}form_entry` e JOIN `{prefix}form_entry_values` a ON a.entry_id = e.id"
        f" WHERE e.object_type = 'T' GROUP BY e.object_id"
    )


def create_statements(schema: dict[str, Any], prefix: str = PREFIX) -> list[str]:
    """The transcribed tables with the installer's prefix, as MariaDB DDL."""
    return ddl.create_statements(
        [replace(t, name=prefix + t.name) for t in ddl.tables(schema)], "mysql"
    )


def facts(rows: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """osTicket's reading: deleted and archived states excluded; priority from the ticket
    form's answer; first response the first reply of the ticket's own thread; the due
    date the manual one else the SLA's; unassigned means no agent and no team (osTicket's
    own "unassigned" search); zero dates are no date."""
    statuses = rows["ticket_status"].set_index("id")
    tk = rows["ticket"]
    t = tk[~tk["status_id"].map(statuses["state"]).isin(["deleted", "archived"])]
    answers = rows["form_entry_values"].merge(
        rows["form_entry"], left_on="entry_id", right_on="id", suffixes=("", "_entry")
    )
    chosen = answers[answers["field_id"] == PRIORITY_FIELD].set_index("object_id")["value_id"]
    labels = rows["ticket_priority"].set_index("priority_id")["priority"]
    threads = rows["thread"][rows["thread"]["object_type"] == "T"].set_index("id")["object_id"]
    replies = rows["thread_entry"][rows["thread_entry"]["type"] == "R"]
    first = replies.groupby(replies["thread_id"].map(threads))["created"].min()
    due = _when(t["duedate"]).fillna(_when(t["est_duedate"]))
    return pd.DataFrame(
        {
            "ticket": t["ticket_id"],
            "queue": t["dept_id"].map(rows["department"].set_index("id")["name"]),
            "status": t["status_id"].map(statuses["name"]),
            "priority": t["ticket_id"].map(chosen).map(labels).fillna(""),
            "is_open": t["status_id"].map(statuses["state"]) == "open",
            "created": _when(t["created"]),
            "resolved": _when(t["closed"]),
            "first_response": _when(t["ticket_id"].map(first)),
            "fr_due": pd.NaT,
            "res_due": due,
            "unassigned": (t["staff_id"] == 0) & (t["team_id"] == 0),
            "reopened": _when(t["reopened"]),
        }
    )[list(FACTS)]


def _when(local: pd.Series) -> pd.Series:
    """Stored wall-clock times (zero dates are none) as naive UTC."""
    return story.to_utc(pd.to_datetime(local.where(local != ZERO)), ZONE)
