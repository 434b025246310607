"""Znuny tables filled from the real incidents the way Znuny writes them, and Znuny's reading.

Writing (ids and names from ``znuny/schema.yaml``'s seeds, a fresh install's rows):

- ``ticket``: states new, open, pending reminder and closed successful (resolved and closed
  incidents); the owner ``user_id`` is the agent, or user 1 (the admin) when nobody took
  the ticket, locked when an agent owns it. Every 60th ticket was merged into another and
  every 70th removed by its customer (state types merged and removed). Times are naive
  DATETIMEs in the install's ``OTRSTimeZone`` (:data:`ZONE`).
- ``ticket_history``: a ``NewTicket`` row in the state the ticket was created in (some
  incidents were logged already closed), a ``StateUpdate`` row per state change (so
  reopenings and every close are there), a ``Merged`` row, and a row per article; each
  row carries the ticket's state at that moment.
- ``article``: the customer's mail and Znuny's auto reply (sender ``system``) at creation,
  every 3rd ticket a customer follow-up, every 4th answered ticket an internal note
  (``is_visible_for_customer = 0``) before the answer, and the agent's first answer.
- Escalation columns as ``TicketEscalationIndexBuild`` keeps them (24/7 calendar): Unix
  epochs of creation plus the SLA target; ``escalation_response_time`` 0 once an agent
  answered, ``escalation_solution_time`` 0 once the ticket was ever closed (reopened ones
  included), all 0 for closed, merged and removed tickets; ``escalation_time`` is the
  earliest non-zero one.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from tests.collectors.upstream import story
from tests.collectors.upstream.expect import FACTS

Seeds = dict[str, list[dict[str, Any]]]

ZONE = "America/Sao_Paulo"
"""The install's ``OTRSTimeZone``: the company's own zone (no DST change in the data)."""
DST_ZONE = "Europe/Berlin"
"""A zone whose DST change (27 March 2016) falls inside the data (a German-hosted install)."""
STATE = {"new": 1, "open": 4, "pending": 6, "resolved": 2, "closed": 2}
PRIORITY = {1: 5, 2: 4, 3: 3, 4: 2}
"""ServiceNow 1 Critical .. 4 Low -> Znuny 5 very high, 4 high, 3 normal, 2 low."""
MERGED, REMOVED, ROOT = 9, 5, 1
HISTORY = {
    "NewTicket": 1,
    "FollowUp": 2,
    "SendAutoReply": 4,
    "SendAnswer": 8,
    "EmailCustomer": 12,
    "AddNote": 15,
    "StateUpdate": 27,
    "Merged": 33,
}
AGENT, SYSTEM, CUSTOMER = 1, 2, 3
EMAIL, INTERNAL = 1, 3
"""Communication channels 1 Email and 3 Internal, as a fresh install numbers them."""
OPEN_TYPES = ("new", "open", "pending reminder", "pending auto")
CLOSED = (2, 3)
"""closed successful, closed unsuccessful: the states of type closed."""
INSTALLED = story.utc_naive(story.AS_OF) - pd.Timedelta(days=400)
NO_VALID_ID = ("ticket_state_type", "ticket")


def tables(seeds: Seeds, zone: str = ZONE) -> dict[str, pd.DataFrame]:
    """Every row to insert, in insertion order, times naive in ``zone`` (``OTRSTimeZone``)."""
    t = story.tickets()
    tid = pd.Series(range(2, len(t) + 2), index=t["number"])
    agents = {n: i for i, n in enumerate(sorted(t["assignee"].dropna().unique()), start=2)}
    names = sorted(story.events()["group"].dropna().unique())
    queue_id = {name: i for i, name in enumerate(names, start=5)}
    changes = _state_changes(t, tid)
    articles = _articles(t, tid, agents)
    tickets = _tickets(t, tid, agents, queue_id, changes, articles)
    seeded = {name: _audited(pd.DataFrame(rows), name) for name, rows in seeds.items()}
    out = {
        **{k: v for k, v in seeded.items() if k not in ("users", "queue", "ticket")},
        "users": pd.concat([seeded["users"], _agents(agents)], ignore_index=True),
        "queue": pd.concat([seeded["queue"], _queues(seeds, queue_id)], ignore_index=True),
        "ticket": pd.concat([seeded["ticket"], tickets], ignore_index=True),
        "ticket_history": _history(changes, articles, tickets),
        "article": articles.drop(columns=["history"]),
    }
    return {name: story.wall_clock(frame, zone) for name, frame in out.items()}


def _audited(rows: pd.DataFrame, table: str = "") -> pd.DataFrame:
    """Rows with the audit columns every Znuny table has, stamped at the install."""
    rows = rows.copy()
    rows["create_time"] = rows["change_time"] = INSTALLED
    rows["create_by"] = rows["change_by"] = ROOT
    if table not in NO_VALID_ID:
        rows["valid_id"] = 1
    if table == "ticket":
        rows["archive_flag"] = 0
    return rows


def _agents(agents: dict[str, int]) -> pd.DataFrame:
    ids = list(agents.values())
    return _audited(
        pd.DataFrame(
            {"id": ids, "login": [f"agent{i}" for i in ids], "pw": "", "first_name": list(agents)}
        ).assign(last_name="Agent")
    )


def _queues(seeds: Seeds, queue_id: dict[str, int]) -> pd.DataFrame:
    # the ServiceNow groups become sub-queues of one parent, named as Znuny names them
    like = seeds["queue"][0]
    rows = pd.DataFrame(
        {"id": list(queue_id.values()), "name": [f"Incidents::{q}" for q in queue_id]}
    )
    for column in ("group_id", "system_address_id", "salutation_id", "signature_id"):
        rows[column] = like[column]
    return _audited(rows.assign(follow_up_id=1, follow_up_lock=0, unlock_timeout=0))


def _state_changes(t: pd.DataFrame, tid: pd.Series) -> pd.DataFrame:
    """ticket, at (UTC), state, kind: the creation state, then every change of state."""
    ev = story.events()
    first = ev.groupby("number").head(1)
    moves = story.transitions()
    moves = moves[moves["before"].map(STATE) != moves["after"].map(STATE)]
    parts = [
        pd.DataFrame(
            {
                "ticket": first["number"].map(tid),
                "at": t.set_index("number").loc[first["number"], "opened"].to_numpy(),
                "state": first["category"].map(STATE),
                "kind": "NewTicket",
            }
        ),
        pd.DataFrame(
            {
                "ticket": moves["number"].map(tid),
                "at": moves["at"],
                "state": moves["after"].map(STATE),
                "kind": "StateUpdate",
            }
        ),
    ]
    last = ev.groupby("number")["at"].max()
    for every, state in ((60, MERGED), (70, REMOVED)):
        picked = tid[tid % every == 0]
        parts.append(
            pd.DataFrame(
                {
                    "ticket": picked.to_numpy(),
                    "at": last[picked.index].to_numpy(),
                    "state": state,
                    "kind": "StateUpdate",
                }
            )
        )
    changes = pd.concat(parts, ignore_index=True)
    return changes.sort_values(["ticket", "at"], kind="stable").reset_index(drop=True)


def _articles(t: pd.DataFrame, tid: pd.Series, agents: dict[str, int]) -> pd.DataFrame:
    """Every article: ticket, sender, visibility, channel, author, time and history type."""
    ids = t["number"].map(tid)
    agent = t["assignee"].map(agents).fillna(ROOT).astype(int)
    answered = t["first_response"].notna()
    # until the answer (or, unanswered, until now): the follow-up and note fall before it
    gap = t["first_response"].fillna(story.utc_naive(story.AS_OF)) - t["opened"]
    every = pd.Series(True, index=t.index)
    noted = answered & (ids % 4 == 0)

    def article(
        sender: int, visible: int, channel: int, by: Any, at: pd.Series, kind: str
    ) -> dict[str, Any]:
        return {
            "ticket_id": ids,
            "article_sender_type_id": sender,
            "communication_channel_id": channel,
            "is_visible_for_customer": visible,
            "search_index_needs_rebuild": 0,
            "create_time": at,
            "create_by": by,
            "history": kind,
        }

    out = story.timeline(
        [
            (every, article(CUSTOMER, 1, EMAIL, ROOT, t["opened"], "EmailCustomer")),
            (every, article(SYSTEM, 1, EMAIL, ROOT, t["opened"], "SendAutoReply")),
            (ids % 3 == 0, article(CUSTOMER, 1, EMAIL, ROOT, t["opened"] + gap / 3, "FollowUp")),
            (noted, article(AGENT, 0, INTERNAL, agent, t["opened"] + gap / 2, "AddNote")),
            (answered, article(AGENT, 1, EMAIL, agent, t["first_response"], "SendAnswer")),
        ],
        "create_time",
    )
    return out.assign(change_time=out["create_time"], change_by=out["create_by"])


def _tickets(
    t: pd.DataFrame,
    tid: pd.Series,
    agents: dict[str, int],
    queue_id: dict[str, int],
    changes: pd.DataFrame,
    articles: pd.DataFrame,
) -> pd.DataFrame:
    ids = t["number"].map(tid).to_numpy()
    state = changes.groupby("ticket")["state"].last().loc[ids].to_numpy()
    owner = t["assignee"].map(agents).fillna(ROOT).astype(int).to_numpy()
    escalations = _escalations(t, ids, state, changes, articles)
    return pd.DataFrame(
        {
            "id": ids,
            "tn": t["number"].to_numpy(),
            "title": t["number"].to_numpy(),
            "queue_id": t["group"].map(queue_id).fillna(2).astype(int).to_numpy(),  # 2 Raw
            "ticket_lock_id": [2 if o != ROOT else 1 for o in owner],
            "type_id": 1,
            "user_id": owner,
            "responsible_user_id": ROOT,
            "ticket_priority_id": t["priority"].map(PRIORITY).to_numpy(),
            "ticket_state_id": state,
            "customer_id": "customer",
            "customer_user_id": [f"customer{i}" for i in ids],
            "timeout": 0,
            "until_time": 0,
            **escalations,
            "archive_flag": 0,
            "create_time": t["opened"].to_numpy(),
            "create_by": ROOT,
            "change_time": changes.groupby("ticket")["at"].max().loc[ids].to_numpy(),
            "change_by": ROOT,
        }
    )


def _escalations(
    t: pd.DataFrame,
    ids: Any,
    state: Any,
    changes: pd.DataFrame,
    articles: pd.DataFrame,
) -> dict[str, Any]:
    """The four escalation columns, as Znuny's escalation index leaves them."""
    ticket = pd.Series(ids, index=t.index)
    running = ~pd.Series(state, index=t.index).isin([*CLOSED, MERGED, REMOVED])
    ever_closed = ticket.isin(changes.loc[changes["state"].isin(CLOSED), "ticket"])
    answered = ticket.isin(articles.loc[articles["history"] == "SendAnswer", "ticket_id"])
    response = _epoch(t["fr_due"]).where(running & ~answered, 0)
    solution = _epoch(t["res_due"]).where(running & ~ever_closed, 0)
    earliest = pd.concat([response, solution], axis=1).where(lambda f: f > 0).min(axis=1)
    return {
        "escalation_time": earliest.fillna(0).astype(int).to_numpy(),
        "escalation_update_time": 0,
        "escalation_response_time": response.to_numpy(),
        "escalation_solution_time": solution.to_numpy(),
    }


def _epoch(times: pd.Series) -> pd.Series:
    """Naive UTC times as Unix epoch seconds (0 where there is none)."""
    seconds = (times - pd.Timestamp("1970-01-01")).dt.total_seconds()
    return seconds.fillna(0).astype(int)


def _history(changes: pd.DataFrame, articles: pd.DataFrame, tickets: pd.DataFrame) -> pd.DataFrame:
    """State rows, Merged rows and article rows, numbered in time order."""
    merged = changes[changes["state"] == MERGED].assign(kind="Merged")
    states = pd.concat([changes, merged]).assign(article_id=pd.NA, order=0)
    posted = articles.rename(
        columns={"ticket_id": "ticket", "create_time": "at", "history": "kind"}
    )
    posted = pd.merge_asof(
        posted.sort_values("at"),
        changes.sort_values("at")[["ticket", "at", "state"]],
        on="at",
        by="ticket",
    ).rename(columns={"id": "article_id"})
    rows = pd.concat([states, posted.assign(order=1)], ignore_index=True)
    rows = rows.sort_values(["at", "order"], kind="stable").reset_index(drop=True)
    current = tickets.set_index("id")
    return pd.DataFrame(
        {
            "id": range(1, len(rows) + 1),
            "name": "%%" + rows["kind"],
            "history_type_id": rows["kind"].map(HISTORY),
            "ticket_id": rows["ticket"],
            "article_id": rows["article_id"],
            "type_id": 1,
            "queue_id": rows["ticket"].map(current["queue_id"]),
            "owner_id": rows["ticket"].map(current["user_id"]),
            "priority_id": rows["ticket"].map(current["ticket_priority_id"]),
            "state_id": rows["state"],
            "create_time": rows["at"],
            "create_by": ROOT,
            "change_time": rows["at"],
            "change_by": ROOT,
        }
    )


def facts(rows: dict[str, pd.DataFrame], zone: str = ZONE) -> pd.DataFrame:
    """Znuny's reading: merged and removed excluded; closed at the latest StateUpdate or
    NewTicket row into a closed state; first response the first agent article the customer
    sees; owner 1 unassigned; escalation epochs with 0 for none."""
    state_type = _state_types(rows)
    tk = rows["ticket"]
    t = tk[~tk["ticket_state_id"].map(state_type).isin(["merged", "removed"])]
    h = _state_rows(rows)
    closing = h[h["state_id"].map(state_type) == "closed"]
    a = rows["article"]
    senders = rows["article_sender_type"].set_index("id")["name"]
    answers = a[
        (a["article_sender_type_id"].map(senders) == "agent") & (a["is_visible_for_customer"] == 1)
    ]
    utc = lambda times: story.to_utc(times, zone)  # noqa: E731 - one-line converter
    due = lambda c: pd.to_datetime(t[c].where(t[c] > 0), unit="s")  # noqa: E731
    return pd.DataFrame(
        {
            "ticket": t["id"],
            "queue": t["queue_id"].map(rows["queue"].set_index("id")["name"]),
            "status": t["ticket_state_id"].map(rows["ticket_state"].set_index("id")["name"]),
            "priority": t["ticket_priority_id"].map(
                rows["ticket_priority"].set_index("id")["name"]
            ),
            "is_open": t["ticket_state_id"].map(state_type).isin(OPEN_TYPES),
            "created": utc(t["create_time"]),
            "resolved": utc(t["id"].map(closing.groupby("ticket_id")["create_time"].max())),
            "first_response": utc(t["id"].map(answers.groupby("ticket_id")["create_time"].min())),
            "fr_due": due("escalation_response_time"),
            "res_due": due("escalation_solution_time"),
            "unassigned": t["user_id"] == ROOT,
            "reopened": utc(t["id"].map(reopenings(rows))),
        }
    )[list(FACTS)]


def reopenings(rows: dict[str, pd.DataFrame]) -> pd.Series:
    """Per ticket, the last state change out of a closed state (history ordered by id)."""
    state_type = _state_types(rows)
    h = _state_rows(rows).sort_values("id")
    kind = h["state_id"].map(state_type)
    before = kind.groupby(h["ticket_id"]).shift()
    back = h[(before == "closed") & (kind != "closed")]
    return back.groupby("ticket_id")["create_time"].max()


def _state_types(rows: dict[str, pd.DataFrame]) -> pd.Series:
    types = rows["ticket_state_type"].set_index("id")["name"]
    return rows["ticket_state"].set_index("id")["type_id"].map(types)


def _state_rows(rows: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """History rows that set a state: StateUpdate and NewTicket."""
    h = rows["ticket_history"]
    names = h["history_type_id"].map(rows["ticket_history_type"].set_index("id")["name"])
    return h[names.isin(["StateUpdate", "NewTicket"])]
