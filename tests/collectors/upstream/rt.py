"""Request Tracker tables filled from the real incidents the way RT writes them, and RT's reading.

Writing: ``Tickets`` with the default lifecycle (new, open, stalled, resolved; a few
rejected), ``Resolved`` stamped on resolution and kept when reopened, unset dates
``1970-01-01 00:00:00`` (or NULL), the owner ``Nobody`` when nobody took it.
``Transactions``: Create, a Status row per status change, the requestor's own
correspondence, internal Comments and the agent's first Correspond. Every 60th incident is
merged into the one before it (it keeps its status), every 70th is deleted, and every 9th
has a reminder (a ticket of type ``reminder`` with an open status).
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from tests.collectors.upstream import story
from tests.collectors.upstream.expect import FACTS

STATUS = {
    "new": "new",
    "open": "open",
    "pending": "stalled",
    "resolved": "resolved",
    "closed": "resolved",
}
PRIORITY = {1: 100, 2: 70, 3: 50, 4: 0}
UNSET = pd.Timestamp("1970-01-01 00:00:00")
NOBODY, SYSTEM, GENERAL = 6, 1, 1
OPEN = ("new", "open", "stalled")


def tables() -> dict[str, pd.DataFrame]:
    """Every row to insert (times are naive UTC, as RT stores them)."""
    t = story.tickets()
    ids = pd.Series(range(10, len(t) + 10), index=t["number"])
    queues = sorted(story.events()["group"].dropna().unique())
    queue_id = {name: i for i, name in enumerate(queues, start=3)}
    agents = {n: i for i, n in enumerate(sorted(t["assignee"].dropna().unique()), start=100)}
    tid = t["number"].map(ids)
    tickets = _tickets(t, tid, queue_id, agents)
    reminders = tickets[tid % 9 == 0].assign(
        id=lambda f: f["id"] + 100_000,
        effectiveid=lambda f: f["id"],
        type="reminder",
        status="open",
    )
    users = pd.DataFrame({"id": [SYSTEM, NOBODY], "name": ["RT_System", "Nobody"]})
    principals = pd.DataFrame({"id": [SYSTEM, NOBODY], "principaltype": "User"})
    return {
        "principals": principals,
        "users": users,
        "queues": pd.DataFrame(
            {"id": [GENERAL, *queue_id.values()], "name": ["General", *queue_id]}
        ),
        "tickets": pd.concat([tickets, reminders], ignore_index=True),
        "transactions": _transactions(t, tid, tickets, agents),
    }


def _tickets(
    t: pd.DataFrame, tid: pd.Series, queue_id: dict[str, int], agents: dict[str, int]
) -> pd.DataFrame:
    """Tickets (not reminders): rejected and deleted ones, merged ones pointing at the
    ticket before them, 1970 or NULL for dates never set."""
    status = t["category"].map(STATUS)
    status = status.where(~((status == "resolved") & (tid % 45 == 0)), "rejected")
    status = status.where(tid % 70 != 0, "deleted")
    resolved = t["number"].map(story.entered(("resolved", "closed")))
    tickets = pd.DataFrame(
        {
            "id": tid,
            "effectiveid": tid,
            "queue": t["group"].map(queue_id).fillna(GENERAL).astype(int),
            "type": "ticket",
            "owner": t["assignee"].map(agents).fillna(NOBODY).astype(int),
            "priority": t["priority"].map(PRIORITY),
            "status": status,
            "created": t["opened"],
            "creator": tid + 10_000,
            "resolved": resolved.where(resolved.notna(), UNSET).where(tid % 2 == 0, resolved),
            "due": t["res_due"].where(t["priority"] != 4, UNSET),
            "lastupdated": t["number"].map(story.events().groupby("number")["at"].max()),
        }
    )
    merged = tid % 60 == 0
    tickets.loc[merged, "effectiveid"] = tid[merged] - 1
    return tickets


def _transactions(
    t: pd.DataFrame, tid: pd.Series, tickets: pd.DataFrame, agents: dict[str, int]
) -> pd.DataFrame:
    moves = story.transitions()
    moves = moves[moves["before"].map(STATUS) != moves["after"].map(STATUS)]
    ids = pd.Series(tid.to_numpy(), index=t["number"])
    agent = t["assignee"].map(agents).fillna(SYSTEM).astype(int)
    by_number = pd.Series(agent.to_numpy(), index=t["number"])
    answered = t["first_response"].notna()

    def written(kind: str, by: pd.Series, at: pd.Series) -> dict[str, Any]:
        return {"objectid": tid, "type": kind, "creator": by, "created": at}

    out = story.timeline(
        [
            (pd.Series(True, t.index), written("Create", tickets["creator"], t["opened"])),
            (
                pd.Series(True, moves.index),
                {
                    "objectid": moves["number"].map(ids),
                    "type": "Status",
                    "creator": moves["number"].map(by_number),
                    "created": moves["at"],
                    "field": "Status",
                    "oldvalue": moves["before"].map(STATUS),
                    "newvalue": moves["after"].map(STATUS),
                },
            ),
            (answered, written("Correspond", agent, t["first_response"])),
            # the requestor writes again before anyone answers: not a response
            (tid % 3 == 0, written("Correspond", tid + 10_000, t["opened"])),
            # internal comments are no response
            ((tid % 4 == 0) & answered, written("Comment", agent, t["opened"])),
        ],
        "created",
    )
    return out.assign(objecttype="RT::Ticket")


def facts(rows: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """RT's reading: tickets of type ticket, not merged away, not deleted."""
    tk = rows["tickets"]
    t = tk[(tk["type"] == "ticket") & (tk["id"] == tk["effectiveid"]) & (tk["status"] != "deleted")]
    tr = rows["transactions"]
    corr = tr[tr["type"] == "Correspond"].merge(
        tk[["id", "effectiveid"]], left_on="objectid", right_on="id"
    )
    corr = corr.merge(
        t[["id", "creator"]].rename(columns={"id": "effectiveid", "creator": "owner_creator"})
    )
    first = corr[corr["creator"] != corr["owner_creator"]].groupby("effectiveid")["created"].min()
    back = tr[
        (tr["field"] == "Status")
        & tr["oldvalue"].isin(["resolved", "rejected"])
        & tr["newvalue"].isin(OPEN)
    ]
    names = rows["queues"].set_index("id")["name"]
    unset = lambda c: t[c].where(t[c] != UNSET)  # noqa: E731 - one-line column reader
    return pd.DataFrame(
        {
            "ticket": t["id"],
            "queue": t["queue"].map(names),
            "status": t["status"],
            "priority": pd.cut(
                t["priority"], [-1, 49, 99, 10**9], labels=["Low", "Medium", "High"]
            ).astype(str),
            "is_open": t["status"].isin(OPEN),
            "created": unset("created"),
            "resolved": unset("resolved"),
            "first_response": t["id"].map(first),
            "fr_due": pd.NaT,
            "res_due": unset("due"),
            "unassigned": t["owner"].isin([NOBODY, 0]),
            "reopened": t["id"].map(back.groupby("objectid")["created"].max()),
        }
    )[list(FACTS)]
