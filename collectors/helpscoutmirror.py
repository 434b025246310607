"""Help Scout's mirror of open conversations (``mirror:``): the aging figures without a
request per mailbox.

Help Scout has no count by age: without a mirror each mailbox costs four ``status=open``
listings a read (7/14/30-day counts and the oldest). With ``mirror:`` the collector keeps
every open conversation's mailbox and creation time in the daemon's store
(collectors/hosted/mirror.py) and reads the aging figures from it each poll, for every
mailbox, whatever the folder rotation, from its index in memory (``Mirror.created_index``,
a group per mailbox: loaded from the tables once the build ends, then kept current by the
mirror's writes, so a poll reads no mirror rows back but those of the conversations its
listing changed):

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

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from collectors.hosted import build
from collectors.hosted.build import Page, PageReader, Resume, build_pages_field
from collectors.hosted.mirror import (
    Aging,
    Change,
    CreatedIndex,
    IndexedMirror,
    ResumableMirror,
    sorted_aging,
)

PAGE = 25
"""Conversations a page (Help Scout's fixed page size)."""

START = datetime(1970, 1, 1, tzinfo=UTC)
"""Where a new build starts listing (every open conversation)."""

OPEN_STATUSES = ("active", "pending")
"""The statuses of an open conversation."""

OpenPage = Callable[[datetime, int], tuple[list[Change], bool, int | None]]
"""A page of open conversations created at or after the bound: its changes, whether
another page follows, and how many the query selects (``page.totalElements``)."""


class HelpScoutMirror(BaseModel):
    """The mirror of open conversations that gives the aging figures."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    build_pages: int | None = build_pages_field("25 open conversations each")
    rebuild_above: int | None = Field(
        None,
        ge=0,
        description="rebuild the mirror when a mailbox's drift is larger than this (0: any "
        "drift; None: never by itself, the drift metric is for alerting)",
    )


def build_polls(open_conversations: int, pages: int) -> int:
    """Polls a build of ``open_conversations`` takes at ``pages`` a poll (a last short page
    included)."""
    return build.build_polls(open_conversations // PAGE + 1, pages)


def reader(open_page: OpenPage) -> PageReader:
    """The build's pages: from the resume point's ``createdAt`` on, oldest first; after a
    page the next starts at its newest ``createdAt`` (the ties are read again), or at the
    next page number while a whole page shares one second."""

    def read(resume: Resume, first: bool) -> Page:
        bound, number = resume.at, int(resume.position.get("page", 1))
        read_before = int(resume.position.get("read", 0))
        found, more, selected = open_page(bound, number)
        after: Resume | None = None
        if more and found and found[-1].created_at > found[0].created_at:
            after = Resume(found[-1].created_at, {"page": 1})
        elif more:
            after = Resume(bound, {"page": number + 1})
        read_now = read_before + len(found)
        left = max(0, (selected or 0) - (number - 1) * PAGE - len(found))
        progress = 1.0 if after is None else read_now / max(1, read_now + left)
        if after is not None:
            after = Resume(after.at, {**after.position, "read": read_now})
        return Page(found, after, progress)

    return read


def change(
    item: Mapping[str, Any], names: Mapping[int, str], created: datetime, now: datetime
) -> Change:
    """A listed conversation as a change of the mirror, dated ``now`` (the read)."""
    box = int(item["mailboxId"])
    name = names.get(box)
    is_open = name is not None and item["status"] in OPEN_STATUSES
    return Change(str(item["id"]), name or str(box), created, now, is_open)


class Keeper(build.Keeper):
    """One Help Scout source's use of its mirror: where the feed starts, the build's
    slices (:class:`collectors.hosted.build.Keeper`), reconciliation with the folders and
    the aging figures."""

    def __init__(
        self, source: str, settings: HelpScoutMirror, mirror: ResumableMirror, names: Sequence[str]
    ) -> None:
        super().__init__(mirror, names, settings.rebuild_above)
        self.source = source
        self.settings = settings

    def since(self, window_start: datetime) -> datetime:
        """Where this poll's changed-since listing starts: the window's start, or the
        mirror's cursor when that is earlier. A mirror never read starts a build."""
        cursor = self.mirror.cursor()
        if cursor is None:
            self.start(Resume(START))  # before the cursor exists: a crash resumes it
            return window_start
        return min(cursor, window_start)

    def feed(self, changes: list[Change], now: datetime) -> None:
        """Apply the listing's changes; the next listing starts at ``now``."""
        self.mirror.apply(changes, now)

    def reconcile(self, totals: Mapping[str, int], now: datetime) -> None:
        """Compare the mailboxes just read (open totals from their folders) with the
        mirror; keep the drift. A built mirror only (a build's counts are partial)."""
        self.restore_drift()
        if not self.built or not totals:
            return
        index = self.index()
        self.record({q: index.count(q) - n for q, n in totals.items()}, now)

    def aging(self, end: datetime) -> dict[str, Aging] | None:
        """Each mailbox's aging figures at ``end`` (None while the mirror is built)."""
        if not self.built:
            return None
        index = self.index()
        return {name: sorted_aging(index.created(name), end) for name in self.names}

    def index(self) -> CreatedIndex:
        """The mirror's open conversations in memory, a group per mailbox (its name is
        its queue key): read from the tables once, then kept current by the mirror's
        writes (:meth:`~collectors.hosted.mirror.Mirror.created_index`)."""
        if not isinstance(self.mirror, IndexedMirror):
            raise TypeError(f"{self.source}: the mirror keeps no index of creation times")
        return self.mirror.created_index({name: name for name in self.names})
