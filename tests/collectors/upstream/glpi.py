"""GLPI 10 tables filled from the real incidents the way GLPI writes them, and GLPI's reading.

Writing: one ``glpi_tickets`` row per incident; status 1 New, 2 Processing (assigned),
4 Pending, 5 Solved, 6 Closed; ``solvedate`` stamped when it was solved, ``closedate``
when closed, both cleared while it is open again; ``takeintoaccountdate`` at the first
move out of New; ``time_to_own`` / ``time_to_resolve`` from the SLA policy. Every ticket
has a requester user and group (``type`` 1), assigned users and groups are ``type`` 2;
a user link's ``alternative_email`` is empty, as GLPI writes it. The constants come from
GLPI's code (see ``glpi/PROVENANCE.md``). Every 40th incident is in the trash bin
(``is_deleted = 1``). Variants:

- ``imported``: every 5th closed incident came in by an import that set ``closedate`` only.
- ``escalated``: an incident keeps every group it was ever assigned to (GLPI adds the new
  group on escalation), linked in assignment order; group ids follow the group's name,
  so the lowest id is often not the first group.
"""

from __future__ import annotations

from typing import Literal

import pandas as pd

from tests.collectors.upstream import story
from tests.collectors.upstream.expect import FACTS

Variant = Literal["plain", "imported", "escalated"]
Rule = Literal["every_assigned_group", "first_assigned_group"]

STATUS = {"new": 1, "open": 2, "pending": 4, "resolved": 5, "closed": 6}
STATUS_LABEL = {
    1: "New",
    2: "Processing (assigned)",
    3: "Processing (planned)",
    4: "Pending",
    5: "Solved",
    6: "Closed",
}
PRIORITY = {1: 6, 2: 5, 3: 3, 4: 2}
"""ServiceNow 1 Critical .. 4 Low -> GLPI 6 Major, 5 Very high, 3 Medium, 2 Low."""
PRIORITY_LABEL = {1: "Very low", 2: "Low", 3: "Medium", 4: "High", 5: "Very high", 6: "Major"}
REQUESTERS = 1
UNASSIGNED = "(unassigned)"
WRITER_ZONE = "-03:00"
"""GLPI's configured zone (São Paulo): its sessions write the TIMESTAMPs in it."""
ZONE = "America/Sao_Paulo"


def tables(variant: Variant) -> dict[str, pd.DataFrame]:
    """Every row to insert, naive times in :data:`WRITER_ZONE` wall-clock time."""
    t = story.tickets()
    ids = pd.Series(range(1, len(t) + 1), index=t["number"])
    names = sorted(story.events()["group"].dropna().unique())
    group_id = {name: i for i, name in enumerate(names, start=10)}
    groups = pd.DataFrame(
        {
            "id": [REQUESTERS, *group_id.values()],
            "name": ["Requesters", *group_id],
            "completename": ["Requesters", *group_id],
        }
    )
    return {
        "glpi_groups": groups,
        "glpi_tickets": story.wall_clock(_tickets(t, ids, variant), ZONE),
        "glpi_groups_tickets": _group_links(t, ids, group_id, variant),
        "glpi_tickets_users": _user_links(t, ids),
    }


def _tickets(t: pd.DataFrame, ids: pd.Series, variant: Variant) -> pd.DataFrame:
    """glpi_tickets, times naive UTC."""
    solved = t["number"].map(story.entered(("resolved", "closed")))
    closed = t["number"].map(story.entered(("closed",)))
    status = t["category"].map(STATUS)
    tickets = pd.DataFrame(
        {
            "id": ids.to_numpy(),
            "name": t["number"],
            "date": t["opened"],
            "date_creation": t["opened"],
            "date_mod": t["number"].map(story.events().groupby("number")["at"].max()),
            "solvedate": solved.where(status >= 5),
            "closedate": closed.where(status == 6),
            "takeintoaccountdate": t["first_response"],
            "status": status,
            "priority": t["priority"].map(PRIORITY),
            "time_to_own": t["fr_due"],
            "time_to_resolve": t["res_due"],
            "is_deleted": (ids.to_numpy() % 40 == 0).astype(int),
        }
    )
    if variant == "imported":
        imported = (tickets["status"] == 6) & (tickets["id"] % 5 == 0)
        tickets.loc[imported, "solvedate"] = pd.NaT
    return tickets


def _group_links(
    t: pd.DataFrame, ids: pd.Series, group_id: dict[str, int], variant: Variant
) -> pd.DataFrame:
    ev = story.events()
    assigned = t.set_index("number")["group"].dropna()
    if variant == "escalated":
        seen = ev[ev["number"].isin(assigned.index)].dropna(subset=["group"])
        order = seen.drop_duplicates(["number", "group"])[["number", "group"]]
    else:
        order = assigned.reset_index()
    links = pd.DataFrame(
        {
            "tickets_id": order["number"].map(ids).to_numpy(),
            "groups_id": order["group"].map(group_id).to_numpy(),
            "type": 2,
        }
    )
    requesters = pd.DataFrame({"tickets_id": ids.to_numpy(), "groups_id": REQUESTERS, "type": 1})
    return pd.concat([requesters, links], ignore_index=True).assign(
        id=lambda f: range(1, len(f) + 1)
    )


def _user_links(t: pd.DataFrame, ids: pd.Series) -> pd.DataFrame:
    names = sorted(t["assignee"].dropna().unique())
    user_id = {name: i for i, name in enumerate(names, start=100)}
    tech = t.dropna(subset=["assignee"])
    return pd.concat(
        [
            pd.DataFrame({"tickets_id": ids.to_numpy(), "users_id": 2, "type": 1}),
            pd.DataFrame(
                {
                    "tickets_id": tech["number"].map(ids).to_numpy(),
                    "users_id": tech["assignee"].map(user_id).to_numpy(),
                    "type": 2,
                }
            ),
        ],
        ignore_index=True,
    ).assign(alternative_email="")  # GLPI stores an empty address, never NULL


def facts(rows: dict[str, pd.DataFrame], rule: Rule = "every_assigned_group") -> pd.DataFrame:
    """GLPI's reading of ``rows``: trash excluded, resolved at ``solvedate`` or else
    ``closedate``, one row per assigned group (``every_assigned_group``, GLPI's own view)
    or only the first one linked (``first_assigned_group``)."""
    t = rows["glpi_tickets"]
    t = t[t["is_deleted"] == 0]
    links = rows["glpi_groups_tickets"]
    assigned = links[links["type"] == 2].sort_values("id")
    if rule == "first_assigned_group":
        assigned = assigned.drop_duplicates("tickets_id")
    names = rows["glpi_groups"].set_index("id")["completename"]
    queue = assigned.assign(queue=assigned["groups_id"].map(names))[["tickets_id", "queue"]]
    t = t.merge(queue, how="left", left_on="id", right_on="tickets_id")
    users = rows["glpi_tickets_users"]
    techs = set(users.loc[(users["type"] == 2) & (users["users_id"] > 0), "tickets_id"])
    utc = story.from_wall_clock(t, ZONE)
    out = pd.DataFrame(
        {
            "ticket": t["id"],
            "queue": t["queue"].fillna(UNASSIGNED),
            "status": t["status"].map(STATUS_LABEL),
            "priority": t["priority"].map(PRIORITY_LABEL),
            "is_open": t["status"].isin([1, 2, 3, 4]),
            "created": utc["date"],
            "resolved": utc["solvedate"].fillna(utc["closedate"]),
            "first_response": utc["takeintoaccountdate"],
            "fr_due": utc["time_to_own"],
            "res_due": utc["time_to_resolve"],
            "unassigned": ~t["id"].isin(techs),
            "reopened": pd.NaT,
        }
    )
    return out[list(FACTS)]
