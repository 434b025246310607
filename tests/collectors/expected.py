"""The figures a collector should report, computed independently with pandas.

Over a store's state at the window's end (``tests/collectors/ticketlog.py``): open
tickets by queue and status label, created and resolved in ``[start, end)``, the oldest
open ticket's age and the 7/14/30-day counts (strictly older).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import pandas as pd

from collectors.base import AGE_BUCKETS, QueueStats
from tests.collectors.ticketlog import TicketLog


def expected_queues(
    log: TicketLog,
    queues: Sequence[tuple[str, str]],
    start: datetime,
    end: datetime,
    *,
    aging: bool = True,
    flow_lag: timedelta = timedelta(0),
    priority: bool = False,
) -> tuple[QueueStats, ...]:
    """``queues``: ``(store queue value, display name)`` in the configuration's order;
    created and resolved are counted in ``[start, end)`` moved back by ``flow_lag``."""
    state = log.state_at(end)
    t1 = pd.Timestamp(end)
    f0, f1 = pd.Timestamp(start - flow_lag), pd.Timestamp(end - flow_lag)
    out = []
    for value, name in queues:
        mine = state[state["queue"] == value]
        open_ = mine[~mine["done"]]
        keys = ["label", "priority"] if priority else ["label"]
        by_label = open_.groupby(keys).size()
        created = int(((mine["created"] >= f0) & (mine["created"] < f1)).sum())
        resolved = int(((mine["resolved"] >= f0) & (mine["resolved"] < f1)).sum())
        stats = QueueStats(
            queue=name,
            open_by_status_priority={
                (str(k[0]), str(k[1])) if priority else (str(k), ""): int(n)
                for k, n in by_label.items()
            },
            created=created,
            resolved=resolved,
        )
        if aging:
            older = {
                label: int((open_["created"] < t1 - pd.Timedelta(days=days)).sum())
                for label, days in AGE_BUCKETS
            }
            oldest = None if open_.empty else float((t1 - open_["created"].min()).total_seconds())
            stats = QueueStats(**{**stats.__dict__, "older_than": older, "oldest_age_s": oldest})
        out.append(stats)
    return tuple(out)
