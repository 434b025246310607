"""Help Scout's mirror of open conversations (``mirror:``): the aging figures without a
request per mailbox.

Help Scout has no count by age: without a mirror each mailbox costs four ``status=open``
listings a read (7/14/30-day counts and the oldest). With ``mirror:`` the collector keeps
every open conversation's mailbox and creation time in the daemon's store
(collectors/hosted/mirror.py) and reads the aging figures from it each poll, for every
mailbox, whatever the folder rotation:

- **Feed.** The ``modifiedSince`` listing the collector reads anyway for created and
  resolved (from the mirror's cursor when that is earlier than the window's start) is
  applied to the mirror: an active or pending conversation of a configured mailbox is
  kept, any other leaves. A change is dated by the poll that read it (the listing shows
  the state now), so a later read always wins.
- **Build, in slices.** With no cursor (the first poll, or after a reset), a build starts:
  ``status=open`` conversations of the configured mailboxes by ``createdAt`` ascending,
  25 a page, each page asked from the last page's newest ``createdAt`` on
  (``query=(createdAt:[T TO *])``, ends included: the ties are read again, never skipped;
  a full page of one second's conversations moves to the next page number). At most
  ``build_pages`` pages a poll; where it stopped is stored (``Mirror.build_from``), so the
  next poll, or the daemon after a restart, goes on from there. The feed meanwhile keeps
  what was already listed current. Until the build ends the aging figures are absent
  (None), never partial.
- **Reconciliation.** Each time a mailbox's folders are read (every poll, or once per
  ``folder_rotation``), the mirror's open count for it is compared with the folders'
  (Unassigned and Assigned ``totalCount``): mirror minus store is the drift
  (``backlog_collector_mirror_drift``), kept per mailbox as each is checked. Above
  ``rebuild_above`` the mirror is reset and rebuilt from the next poll.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from collectors.hosted.mirror import Aging, Change, ResumableMirror, aging

PAGE = 25
"""Conversations a page (Help Scout's fixed page size)."""

START = datetime(1970, 1, 1, tzinfo=UTC)
"""Where a new build starts listing (every open conversation)."""

OPEN_STATUSES = ("active", "pending")
"""The statuses of an open conversation."""

OpenPage = Callable[[datetime, int], tuple[list[Change], bool]]
"""A page of open conversations created at or after the bound: its changes, and whether
another page follows."""


class HelpScoutMirror(BaseModel):
    """The mirror of open conversations that gives the aging figures."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    build_pages: int | None = Field(
        None,
        ge=1,
        description="pages of open conversations (25 each) a poll reads while the mirror "
        "is built; default: what the budget leaves after the poll's own requests",
    )
    rebuild_above: int | None = Field(
        None,
        ge=0,
        description="rebuild the mirror when a mailbox's drift is larger than this (0: any "
        "drift; None: never by itself, the drift metric is for alerting)",
    )


def build_pages(settings: HelpScoutMirror, allowed: int | None, used: int) -> int:
    """Build pages a poll reads: ``build_pages``, else the poll's allowance (``allowed``,
    requests an interval) less its own requests (``used``), at least one."""
    if settings.build_pages is not None:
        return settings.build_pages
    if allowed is None:
        return 100
    return max(1, allowed - used)


def build_polls(open_conversations: int, pages: int) -> int:
    """Polls a build of ``open_conversations`` takes at ``pages`` a poll (a last short page
    included)."""
    return math.ceil((open_conversations // PAGE + 1) / pages)


def change(
    item: Mapping[str, Any], names: Mapping[int, str], created: datetime, now: datetime
) -> Change:
    """A listed conversation as a change of the mirror, dated ``now`` (the read)."""
    box = int(item["mailboxId"])
    name = names.get(box)
    is_open = name is not None and item["status"] in OPEN_STATUSES
    return Change(str(item["id"]), name or str(box), created, now, is_open)


class Keeper:
    """One Help Scout source's use of its mirror: where the feed starts, the build's
    slices, reconciliation and the aging figures."""

    def __init__(
        self, source: str, settings: HelpScoutMirror, mirror: ResumableMirror, names: Sequence[str]
    ) -> None:
        self.source = source
        self.settings = settings
        self.mirror = mirror
        self.names = list(names)
        self.drift: dict[str, int] = {}
        self.built = False

    def since(self, window_start: datetime) -> datetime:
        """Where this poll's changed-since listing starts: the window's start, or the
        mirror's cursor when that is earlier. A mirror never read starts a build."""
        cursor = self.mirror.cursor()
        if cursor is None:
            self.mirror.apply_build([], START)  # before the cursor exists: a crash resumes it
            return window_start
        return min(cursor, window_start)

    def feed(self, changes: list[Change], now: datetime) -> None:
        """Apply the listing's changes; the next listing starts at ``now``."""
        self.mirror.apply(changes, now)

    def build(self, open_page: OpenPage, pages: int) -> int:
        """Read up to ``pages`` pages of an unfinished build; returns the pages read.
        Sets :attr:`built` when no build is under way after them."""
        bound = self.mirror.build_from()
        number = read = 0
        while bound is not None and read < pages:
            number += 1
            found, more = open_page(bound, number)
            read += 1
            resume: datetime | None = None
            if more and found:
                first, last = found[0].created_at, found[-1].created_at
                resume = last if last > first else bound
                number = 0 if last > first else number
            elif more:
                resume = bound
            self.mirror.apply_build(found, resume)
            bound = resume
        self.built = bound is None
        return read

    def reconcile(self, totals: Mapping[str, int], now: datetime) -> None:
        """Compare the mailboxes just read (open totals from their folders) with the
        mirror; keep the drift. A built mirror only (a build's counts are partial)."""
        if not self.drift:  # a restart: the drift as last measured, until each is read
            self.drift = {q: d for q, d in self.mirror.last_drift()[1].items() if q in self.names}
        if not self.built or not totals:
            return
        held = self.mirror.open_counts()
        measured = {q: held.get(q, 0) - n for q, n in totals.items()}
        kept = self.mirror.record_drift(measured, now)
        self.drift = {q: d for q, d in kept.items() if q in self.names}
        limit = self.settings.rebuild_above
        if limit is not None and any(abs(d) > limit for d in measured.values()):
            # this poll's figures are the drifted mirror's; the next poll rebuilds it
            self.built = False
            self.mirror.reset()

    def aging(self, end: datetime) -> dict[str, Aging] | None:
        """Each mailbox's aging figures at ``end`` (None while the mirror is built)."""
        if not self.built:
            return None
        times = self.mirror.created_times()
        return {name: aging(times.get(name, []), end) for name in self.names}
