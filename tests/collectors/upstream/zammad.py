"""Zammad tables filled from the real incidents the way Zammad writes them, and its reading.

Writing: states new, open, pending reminder, closed (resolved and closed incidents);
``close_at`` set at the first close and ``last_close_at`` at every close, neither cleared
on reopen; every 6th closed ticket was imported with ``close_at`` only. Escalation columns
hold the SLA deadlines while the clock runs: cleared once met and while the state ignores
escalation (pending reminder, closed). Unassigned tickets are owned by user 1. A
``histories`` row records every state change. Every 60th ticket is merged, every 70th
removed.
"""

from __future__ import annotations

import pandas as pd

from tests.collectors.upstream import story
from tests.collectors.upstream.expect import FACTS

STATE = {"new": 1, "open": 2, "pending": 3, "resolved": 4, "closed": 4}
PRIORITY = {1: 3, 2: 3, 3: 2, 4: 1}
OPEN_TYPES = ("new", "open", "pending reminder", "pending action")
SYSTEM_USER, USERS_GROUP = 1, 1
INSTALLED = story.utc_naive(story.AS_OF) - pd.Timedelta(days=400)


def tables(seeds: dict[str, list[dict[str, object]]]) -> dict[str, pd.DataFrame]:
    """Every row to insert (naive UTC, as Rails stores it)."""
    t = story.tickets()
    tid = pd.Series(range(1, len(t) + 1), index=t.index)
    names = sorted(story.events()["group"].dropna().unique())
    group_id = {n: i for i, n in enumerate(names, start=2)}
    agents = {n: i for i, n in enumerate(sorted(t["assignee"].dropna().unique()), start=100)}
    groups = pd.DataFrame(
        {
            "id": [USERS_GROUP, *group_id.values()],
            "name": ["Users", *group_id],
            "updated_by_id": 1,
            "created_by_id": 1,
        }
    )
    groups["created_at"] = groups["updated_at"] = INSTALLED
    return {
        **_seeded(seeds),
        "groups": groups,
        "tickets": _tickets(t, tid, group_id, agents),
        "histories": _histories(t, tid),
    }


def _tickets(
    t: pd.DataFrame, tid: pd.Series, group_id: dict[str, int], agents: dict[str, int]
) -> pd.DataFrame:
    state = t["category"].map(STATE).where(tid % 60 != 0, 5).where(tid % 70 != 0, 6)
    closed_now = state == 4
    first_close = t["number"].map(_first_entered())
    last_close = t["number"].map(story.entered(("resolved", "closed")))
    runs = state.isin([1, 2])  # pending reminder and closed ignore escalation
    return pd.DataFrame(
        {
            "id": tid,
            "group_id": t["group"].map(group_id).fillna(USERS_GROUP).astype(int),
            "priority_id": t["priority"].map(PRIORITY),
            "state_id": state,
            "number": t["number"],
            "title": t["number"],
            "owner_id": t["assignee"].map(agents).fillna(SYSTEM_USER).astype(int),
            "customer_id": 2,
            "first_response_at": t["first_response"],
            "first_response_escalation_at": t["fr_due"].where(runs & t["first_response"].isna()),
            "close_at": first_close,
            "last_close_at": last_close.where(~(closed_now & (tid % 6 == 0))),
            "close_escalation_at": t["res_due"].where(runs & first_close.isna()),
            "ai_agent_running": False,
            "updated_by_id": 1,
            "created_by_id": 1,
            "created_at": t["opened"],
            "updated_at": t["number"].map(story.events().groupby("number")["at"].max()),
        }
    )


def _seeded(seeds: dict[str, list[dict[str, object]]]) -> dict[str, pd.DataFrame]:
    """The seed rows and the history lookups, as a fresh install has them."""
    lookups = {
        "history_types": pd.DataFrame({"id": [1], "name": ["updated"]}),
        "history_objects": pd.DataFrame({"id": [1], "name": ["Ticket"]}),
        "history_attributes": pd.DataFrame({"id": [1], "name": ["state"]}),
    }
    seeded = {name: pd.DataFrame(rows) for name, rows in seeds.items()}
    for frame in [*seeded.values(), *lookups.values()]:
        frame["created_at"] = frame["updated_at"] = INSTALLED
    # the columns a seed leaves out take the migration's defaults
    defaults = {
        "default_create": False,
        "default_follow_up": False,
        "ignore_escalation": False,
        "active": True,
    }
    for name in ("ticket_state_types", "ticket_states", "ticket_priorities"):
        frame = seeded[name].assign(updated_by_id=1, created_by_id=1)
        seeded[name] = frame.fillna({k: v for k, v in defaults.items() if k in frame})
    states = seeded["ticket_states"]
    states["next_state_id"] = states["next_state_id"].astype("Int64")
    return {**seeded, **lookups}


def _first_entered() -> pd.Series:
    ev = story.events()
    done = ev[ev["category"].isin(["resolved", "closed"])]
    return done.groupby("number")["at"].min()


def _histories(t: pd.DataFrame, tid: pd.Series) -> pd.DataFrame:
    moves = story.transitions()
    moves = moves[moves["before"].map(STATE) != moves["after"].map(STATE)]
    ids = pd.Series(tid.to_numpy(), index=t["number"])
    return pd.DataFrame(
        {
            "history_type_id": 1,
            "history_object_id": 1,
            "history_attribute_id": 1,
            "o_id": moves["number"].map(ids),
            "id_from": moves["before"].map(STATE),
            "id_to": moves["after"].map(STATE),
            "created_by_id": 1,
            "created_at": moves["at"],
            "updated_at": moves["at"],
        }
    )


def facts(rows: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Zammad's reading: merged and removed excluded, resolved at last_close_at or close_at."""
    types = rows["ticket_state_types"].set_index("id")["name"]
    state_type = rows["ticket_states"].set_index("id")["state_type_id"].map(types)
    tk = rows["tickets"]
    kind = tk["state_id"].map(state_type)
    t = tk[~kind.isin(["merged", "removed"])]
    h = rows["histories"]
    back = h[
        h["id_from"].map(state_type).eq("closed") & h["id_to"].map(state_type).isin(OPEN_TYPES)
    ]
    return pd.DataFrame(
        {
            "ticket": t["id"],
            "queue": t["group_id"].map(rows["groups"].set_index("id")["name"]),
            "status": t["state_id"].map(rows["ticket_states"].set_index("id")["name"]),
            "priority": t["priority_id"].map(rows["ticket_priorities"].set_index("id")["name"]),
            "is_open": t["state_id"].map(state_type).isin(OPEN_TYPES),
            "created": t["created_at"],
            "resolved": t["last_close_at"].fillna(t["close_at"]),
            "first_response": t["first_response_at"],
            "fr_due": t["first_response_escalation_at"],
            "res_due": t["close_escalation_at"],
            "unassigned": t["owner_id"] == SYSTEM_USER,
            "reopened": t["id"].map(back.groupby("o_id")["created_at"].max()),
        }
    )[list(FACTS)]
