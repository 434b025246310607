"""A mirror's first build spread over polls, resumable after a restart (Help Scout, Udesk,
Fxiaoke).

Listing every open ticket of a large account can take thousands of requests (Udesk at 500
queues and 200,000 open tickets: 2,547), far more than one poll may send. A build is
therefore read in slices: each poll reads at most the pages its budget leaves
(:func:`pages_per_poll`), and after each page :meth:`Mirror.apply_build` stores the
page's tickets and where the next page starts in one transaction, so a poll that stops,
or a daemon that restarts, goes on from the last page stored. Meanwhile the store's
changed-since feed is applied every poll as usual: a ticket the build listed earlier and
that changed since is kept current by the feed (the newer change wins, whatever the order),
and a ticket created after the build started comes from the feed. Until the build ends
the figures read from the mirror are absent, never partial; :attr:`Keeper.progress`
says how far it is (the ``backlog_collector_mirror_build_progress`` gauge).

What is shared here: the page loop and its bookkeeping (:class:`Keeper`), the drift kept
per queue with the rebuild above a threshold, the per-poll page allowance and the
configuration field. What each store gives: a :data:`PageReader` that reads one page at a
:class:`Resume` point and says where the next one starts (Help Scout and Fxiaoke: a
creation time and a page number within it; Udesk: a filter and a page).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

from pydantic import Field

from collectors.hosted.config import PlanBudget, PollCost
from collectors.hosted.mirror import Change, MirrorStore, ResumableMirror
from monitor.errors import CollectorError

UNBUDGETED_PAGES = 100
"""Build pages a poll reads when no budget is known and none is configured."""


def build_pages_field(page: str) -> Any:
    """The ``build_pages`` setting of a store's ``mirror:`` (``page``: what a page holds)."""
    return Field(
        None,
        ge=1,
        description=f"pages of the first build ({page}) a poll reads; default: what the "
        "budget leaves after the poll's own requests",
    )


def allowed_per_poll(budget: PlanBudget, interval: timedelta) -> int | None:
    """Requests this daemon may send in one interval (None: no limit known)."""
    minute = budget.per_minute()
    if minute is None:
        return None
    return math.floor(minute * interval.total_seconds() / 60)


def pages_per_poll(asked: int | None, allowed: int | None, used: int) -> int:
    """Build pages a poll reads: ``asked`` (``build_pages``), else the poll's allowance
    (``allowed``, requests an interval) less its own requests (``used``), at least one."""
    if asked is not None:
        return asked
    if allowed is None:
        return UNBUDGETED_PAGES
    return max(1, allowed - used)


def pages_error(asked: int | None, allowed: int | None, used: int) -> str | None:
    """Why ``build_pages`` does not fit the poll's allowance (None: it does)."""
    if asked is None or allowed is None or used + asked <= allowed:
        return None
    return (
        f"mirror -> build_pages: a poll while the mirror is built would send {used + asked} "
        f"requests, over the {allowed} this daemon may use in an interval; fewer pages, "
        "or leave it unset (what the budget leaves)"
    )


class _Pages(Protocol):
    @property
    def build_pages(self) -> int | None: ...


class SlicedSource(Protocol):
    """A hosted source's configuration whose ``mirror:`` is built in slices."""

    @property
    def budget(self) -> PlanBudget: ...

    @property
    def interval(self) -> timedelta: ...

    @property
    def mirror(self) -> _Pages | None: ...

    def poll_cost(self) -> PollCost: ...


def source_pages(config: SlicedSource) -> int:
    """Build pages a poll of ``config`` reads: its ``mirror.build_pages``, else what its
    budget leaves an interval after the poll's own requests."""
    assert config.mirror is not None
    allowed = allowed_per_poll(config.budget, config.interval)
    return pages_per_poll(config.mirror.build_pages, allowed, config.poll_cost().requests)


def source_pages_error(config: SlicedSource) -> str | None:
    """Why ``config``'s ``mirror.build_pages`` does not fit its budget (None: it does)."""
    if config.mirror is None:
        return None
    allowed = allowed_per_poll(config.budget, config.interval)
    return pages_error(config.mirror.build_pages, allowed, config.poll_cost().requests)


def build_polls(pages: int, per_poll: int) -> int:
    """Polls a build of ``pages`` pages takes at ``per_poll`` pages a poll."""
    return math.ceil(pages / per_poll)


class MirrorBuilding(CollectorError):
    """The poll read a slice of its mirror's first build; the figures it would read from
    the mirror are absent until the build ends (the daemon stores no snapshot, moves no
    watermark, and counts no failure)."""

    reason = "building"

    def __init__(self, message: str, progress: float) -> None:
        super().__init__(message)
        self.progress = progress


@dataclass(frozen=True)
class Resume:
    """Where a build's next page starts: a time (Help Scout, Fxiaoke: the creation time
    listed from; Udesk: when the build started) and a store's position (JSON values)."""

    at: datetime
    position: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Page:
    """One page of a build: its tickets, where the next page starts (None: the build is
    done) and the fraction of the build done after it."""

    changes: list[Change]
    next: Resume | None
    progress: float


PageReader = Callable[[Resume, bool], Page]
"""Reads the page at a resume point (the flag: the first page of this poll)."""


class Keeper:
    """One source's use of its resumable mirror: the build's slices, the drift per queue
    (restored after a restart, kept as each queue is checked) and the rebuild."""

    def __init__(
        self, mirror: ResumableMirror, names: Sequence[str], rebuild_above: int | None
    ) -> None:
        self.mirror = mirror
        self.names = list(names)
        self.rebuild_above = rebuild_above
        self.drift: dict[str, int] = {}
        self.built = False
        self.progress: float | None = None
        """How much of the build is done (0 to 1; 1: built), as of this process's last
        look at the mirror (None before it)."""

    def resume(self) -> Resume | None:
        """Where the build under way resumes (None: none under way)."""
        at = self.mirror.build_from()
        if at is None:
            return None
        return Resume(at, self.mirror.build_position() or {})

    def start(self, first: Resume) -> None:
        """Start a build at ``first`` (before any page: a crash resumes it)."""
        self.mirror.apply_build([], first.at, {**first.position, "progress": 0.0})
        self.built, self.progress = False, 0.0

    def build(self, read: PageReader, pages: int) -> int:
        """Read up to ``pages`` pages of an unfinished build, storing each with where the
        next starts; returns the pages read. Sets :attr:`built` and :attr:`progress`."""
        resume = self.resume()
        if resume is not None:
            self.progress = float(resume.position.get("progress", 0.0))
        done = 0
        while resume is not None and done < pages:
            page = read(resume, done == 0)
            done += 1
            after = page.next
            if after is None:
                self.mirror.apply_build(page.changes, None)
            else:
                position = {**after.position, "progress": page.progress}
                self.mirror.apply_build(page.changes, after.at, position)
            resume, self.progress = after, page.progress
        self.built = resume is None
        if self.built:
            self.progress = 1.0
        return done

    def restore_drift(self) -> None:
        """After a restart: the drift as last measured, until each queue is checked."""
        if not self.drift:
            known = set(self.names)
            self.drift = {q: d for q, d in self.mirror.last_drift()[1].items() if q in known}

    def record(self, measured: Mapping[str, int], now: datetime) -> bool:
        """Keep the drift of the queues just checked (mirror minus store); past
        ``rebuild_above`` the mirror is reset (the next poll starts a build). Returns True
        when it was."""
        if not measured:
            return False
        known = set(self.names)
        kept = self.mirror.record_drift(measured, now)
        self.drift = {q: d for q, d in kept.items() if q in known}
        limit = self.rebuild_above
        if limit is not None and any(abs(d) > limit for d in measured.values()):
            # this poll's figures are the drifted mirror's; the next poll rebuilds it
            self.built = False
            self.mirror.reset()
            return True
        return False


@runtime_checkable
class BuildingMirror(Protocol):
    """A collector whose mirror is built in slices: how far the build is."""

    @property
    def mirror_build_progress(self) -> float | None:
        """The fraction of the mirror's build done (1: built; None: not known yet)."""
        ...


class KeepsMirror:
    """What a collector that keeps its mirror with a :class:`Keeper` shows the daemon
    (:class:`~collectors.hosted.mirror.MirrorUser`, :class:`BuildingMirror`); it makes
    its keeper in :meth:`new_keeper`."""

    _keeper: Keeper | None = None

    @property
    def mirror_drift(self) -> Mapping[str, int] | None:
        """The drift per queue at each queue's latest reconciliation (None before any)."""
        return dict(self._keeper.drift) if self._keeper and self._keeper.drift else None

    @property
    def mirror_build_progress(self) -> float | None:
        """How much of the mirror's build is done (1: built; None: no mirror, or not
        looked at yet)."""
        return self._keeper.progress if self._keeper is not None else None

    def attach_mirror(self, mirror: MirrorStore) -> None:
        """Keep ``mirror`` from the next poll on."""
        if not isinstance(mirror, ResumableMirror):
            raise TypeError(f"{type(self).__name__}: the mirror cannot be built in slices")
        self._keeper = self.new_keeper(mirror)

    def new_keeper(self, mirror: ResumableMirror) -> Keeper:
        """The keeper of this collector's mirror."""
        raise NotImplementedError
