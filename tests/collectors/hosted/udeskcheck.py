"""What a Udesk snapshot should say at an instant, for many queues at once, with pandas.

The open tickets per queue and status and their ages (oldest, nearest-rank median and
90th percentile) from the Volvo log's state at the instant, grouped in one pass (the
per-queue helpers of ``test_udesk_mirror.py`` are too slow at 500 queues a poll).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd

from collectors.base import Snapshot
from tests.collectors.fakeserver import FakeServer
from tests.collectors.stores.udesk import OPEN, udesk_log


def expected_all(
    at: datetime,
    queues: Iterable[str],
    deleted: frozenset[str] = frozenset(),
    ages_at: datetime | None = None,
) -> dict[str, dict[str, Any]]:
    """Per queue: ``counts`` {status: n} (open statuses with tickets) and its ``ages`` at
    ``ages_at`` (default ``at``), over the log's state at ``at``."""
    state = udesk_log().state_at(at)
    wanted = list(queues)
    open_ = state[
        state["queue"].isin(wanted) & state["status"].isin(OPEN) & ~state["id"].isin(deleted)
    ]
    # Udesk's times have whole seconds, as the fake writes them
    seconds = (pd.Timestamp(ages_at or at) - open_["created"].dt.floor("s")).dt.total_seconds()
    out: dict[str, dict[str, Any]] = {q: {"counts": {}, "ages": None} for q in wanted}
    # one grouping for every queue's counts, one sort for every queue's ages (a groupby
    # per queue cost about 2 s a poll at 500 queues)
    for (queue, status), n in open_.groupby(["queue", "status"]).size().items():
        out[str(queue)]["counts"][str(status)] = int(n)
    order = np.lexsort((seconds.to_numpy(), open_["queue"].to_numpy()))
    names = open_["queue"].to_numpy()[order]
    ages_sorted = seconds.to_numpy()[order]
    starts = np.flatnonzero(np.r_[True, names[1:] != names[:-1]])
    for start, stop in zip(starts, [*starts[1:], len(names)], strict=True):
        ages = ages_sorted[start:stop]
        out[str(names[start])]["ages"] = {
            "oldest_age_s": float(ages[-1]),
            "age_quantiles": {
                "0.5": float(np.quantile(ages, 0.5, method="inverted_cdf")),
                "0.9": float(np.quantile(ages, 0.9, method="inverted_cdf")),
            },
        }
    return out


def check_all(snapshot: Snapshot, at: datetime, deleted: frozenset[str] = frozenset()) -> int:
    """Assert every queue's open counts and ages equal pandas' over the log's state at
    ``at`` (ages as of the window's end, as the collector reports them); the tickets
    checked."""
    queues = [q.queue for q in snapshot.queues]
    want = expected_all(at, queues, deleted, snapshot.window.end)
    checked = 0
    for q in snapshot.queues:
        counts = {s: n for (s, _), n in q.open_by_status_priority.items()}
        ages = {"oldest_age_s": q.oldest_age_s, "age_quantiles": q.age_quantiles}
        expected = want[q.queue]
        assert counts == expected["counts"], q.queue
        no_ages = {"oldest_age_s": None, "age_quantiles": None}
        assert ages == (expected["ages"] or no_ages), q.queue
        checked += q.open_total
    return checked


def filters_read(server: FakeServer, since: int = 0) -> list[tuple[str, str]]:
    """(filter id, per_page) of each ``tickets_in_filter`` request from call ``since`` on."""
    return [
        (c.arg("filter_id") or "", c.arg("per_page") or "")
        for c in server.calls[since:]
        if c.path.endswith("tickets_in_filter")
    ]
