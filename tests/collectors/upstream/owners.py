"""Owner changes of the real incidents, for the presets' time to first assignment.

The ServiceNow log names the assignee at every update. Read as a help desk lives it: the
assignee of an incident's first update is the owner it was created with, and every later
update that names another assignee (or none) is an owner change at that update's time.
Each product module writes these changes the way the product records them (Znuny's
``OwnerUpdate`` history rows, Zammad's ``owner`` histories, RT's ``Owner`` transactions);
:func:`first_assigned` is the reading every product must agree with.
"""

from __future__ import annotations

import functools

import pandas as pd

from tests.collectors.upstream import story


@functools.cache
def creation_owner() -> pd.Series:
    """Per incident, the assignee it was created with (NaN: nobody)."""
    first = story.events().groupby("number").head(1)  # (not .first(): it skips NaN)
    return pd.Series(first["assignee"].to_numpy(), index=first["number"].to_numpy())


@functools.cache
def changes() -> pd.DataFrame:
    """Every owner change after creation: number, at (naive UTC), before, after (NaN:
    nobody), in time order per incident."""
    ev = story.events()
    owner = ev["assignee"]
    before = owner.groupby(ev["number"]).shift()
    later = ev["number"].eq(ev["number"].shift())
    changed = later & (owner.fillna("") != before.fillna(""))
    return pd.DataFrame(
        {
            "number": ev.loc[changed, "number"],
            "at": ev.loc[changed, "at"],
            "before": before[changed],
            "after": owner[changed],
        }
    ).reset_index(drop=True)


@functools.cache
def first_assigned() -> pd.Series:
    """Per incident, when it first had an owner (naive UTC; absent: never): its opening
    when its first update names an assignee, else the first update that names one."""
    ev = story.events()
    first = ~ev["number"].eq(ev["number"].shift())
    opened = story.tickets().set_index("number")["opened"]
    at = ev["at"].where(~first, ev["number"].map(opened))
    return at[ev["assignee"].notna()].groupby(ev["number"]).min()


def agent_ids(known: dict[str, int], start: int) -> dict[str, int]:
    """An id for every assignee the log names: the product module's own ids for the final
    owners, new ones from ``start`` for the others."""
    names = sorted(set(story.events()["assignee"].dropna()) - set(known))
    return {**{n: start + i for i, n in enumerate(names)}, **known}
