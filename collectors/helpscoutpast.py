"""Help Scout figures as of a past instant ``T`` (``snapshot --as-of``).

Help Scout's conversation search filters on ``createdAt`` and ``modifiedAt`` ranges and
on the status now; it has no filter on ``closedAt``. The open backlog at ``T`` (created
before ``T``, and open now or closed at or after ``T``) is therefore read in two parts:

- open now and created before ``T``: per mailbox, ``status=open`` with
  ``query=(createdAt:[* TO T-1s])`` sorted by ``createdAt`` ascending, one request
  giving the count (``page.totalElements``) and the oldest; with ``aging``, the same
  count with each 7/14/30-day cut-off (three more requests per mailbox);
- closed now and closed at or after ``T``: a conversation closed at ``closedAt`` was
  modified then or later, so one listing over every configured mailbox of
  ``status=closed`` conversations created before ``T`` and modified since the window's
  start (``modifiedSince``) holds all of them; their ``closedAt`` is read from each
  conversation. The same listing gives the conversations closed in the window.

Created in the window is one more count per mailbox (``status=all``, ``createdAt`` in the
window). Ranges include their end and Help Scout's times have whole seconds, so an
instant is asked as the last whole second before it and a start as the first whole
second at or after it.

Requests: ``mailboxes x (2 + 3 with aging)`` counts plus the listing's pages (25
conversations a page), at most ``as_of_pages``: a listing longer than that is refused
after its first page, which says how many pages it has. Nothing of the live poll's state
(folder readings, the mirror) is read or changed.

What it cannot say: the status then (open conversations are reported under
``(open then)``), the unassigned and per-agent counts then (absent), and a conversation
counts in the mailbox it is in today; a conversation closed before ``T``, reopened and
closed again since counts open at ``T`` (only the last ``closedAt`` is known).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from collectors.base import QueueStats, Window
from collectors.hosted.figures import aged_stats
from collectors.hosted.past import OPEN_THEN
from monitor.errors import MappingError, PastUnavailable

SECOND = timedelta(seconds=1)

Page = Callable[[dict[str, str]], Any]
"""Asks ``GET /v2/conversations`` with these parameters and gives the answer."""


@dataclass
class ClosedSince:
    """Per mailbox id, the ``createdAt`` of the conversations closed at or after ``T``
    (created before it), and how many were closed in the window."""

    closed_after: dict[int, list[datetime]] = field(default_factory=dict)
    resolved: Counter[int] = field(default_factory=Counter)


def last_second(instant: datetime) -> datetime:
    """The last whole second before ``instant``: Help Scout's ranges include their end."""
    whole = instant.replace(microsecond=0)
    return whole if whole < instant else whole - SECOND


def first_second(instant: datetime) -> datetime:
    """The first whole second at or after ``instant``."""
    whole = instant.replace(microsecond=0)
    return whole if whole == instant else whole + SECOND


class PastReader:
    """Reads one as-of snapshot's figures through ``page``.

    Args:
        source: the source's name (messages).
        page: the conversations request.
        iso: an instant as Help Scout writes it.
        parse: a time of an answer.
        next_page: the page number ``_links.next`` names (0: done).
        conversations: the conversations of an answer.
        max_pages: the listing's largest page count before it is refused.
    """

    def __init__(
        self,
        source: str,
        page: Page,
        *,
        iso: Callable[[datetime], str],
        parse: Callable[[Any], datetime],
        next_page: Callable[[Any, int], int],
        conversations: Callable[[Any], list[dict[str, Any]]],
        max_pages: int,
    ) -> None:
        self.source = source
        self._page = page
        self._iso = iso
        self._parse = parse
        self._next = next_page
        self._conversations = conversations
        self._max_pages = max_pages

    def closed_since(self, mailboxes: Sequence[int], window: Window) -> ClosedSince:
        """The listing of conversations closed now, created before ``T`` and modified
        since the window's start, read into :class:`ClosedSince`.

        Raises:
            PastUnavailable: the listing has more than ``max_pages`` pages.
        """
        found = ClosedSince()
        query = {
            "mailbox": ",".join(str(m) for m in mailboxes),
            "status": "closed",
            # a second early: "modified after" may exclude its own instant (harmless:
            # the closedAt of each conversation listed is what is counted)
            "modifiedSince": self._iso(window.start.replace(microsecond=0) - SECOND),
            "query": f"(createdAt:[* TO {self._iso(last_second(window.end))}])",
            # created order: a conversation closed while the pages are read is inserted
            # (read twice, kept once), not moved past the pages already read
            "sortField": "createdAt",
            "sortOrder": "asc",
        }
        number, seen = 1, set()
        while number:
            answer = self._page({**query, "page": str(number)})
            if number == 1:
                self._check_size(answer)
            for item in self._conversations(answer):
                if item.get("id") in seen:
                    continue
                seen.add(item.get("id"))
                self._closed(item, window, found)
            number = self._next(answer, number)
        return found

    def _check_size(self, answer: Any) -> None:
        try:
            pages = int(answer["page"]["totalPages"])
        except (TypeError, KeyError, ValueError):
            raise MappingError(f"{self.source}: conversations: no page.totalPages") from None
        if pages > self._max_pages:
            raise PastUnavailable(
                f"{self.source}: figures as of a past instant are not available for Help"
                f" Scout here: the conversations closed since the window's start take"
                f" {pages} pages, over as_of_pages ({self._max_pages}); raise as_of_pages"
                " or ask for a more recent instant"
            )

    def _closed(self, item: Any, window: Window, found: ClosedSince) -> None:
        try:
            box = int(item["mailboxId"])
            closed = item.get("closedAt")
            if item["status"] != "closed" or not closed:
                return
            created, when = self._parse(item["createdAt"]), self._parse(closed)
        except (TypeError, KeyError, ValueError):
            raise MappingError(
                f"{self.source}: conversations: unexpected conversation shape"
            ) from None
        if created >= window.end:
            return
        if when >= window.end:
            found.closed_after.setdefault(box, []).append(created)
        elif when >= window.start:
            found.resolved[box] += 1

    def mailbox(
        self, box: int, name: str, window: Window, closed: ClosedSince, aging: bool
    ) -> QueueStats:
        """One mailbox's figures as of ``window.end``."""
        at = window.end
        later = closed.closed_after.get(box, [])
        open_now, oldest_now = self._open_before(box, at)
        created = self._total(
            box,
            "all",
            f"(createdAt:[{self._iso(first_second(window.start))} TO"
            f" {self._iso(last_second(at))}])",
        )

        def older(cutoff: datetime) -> int:
            now = self._total(box, "open", f"(createdAt:[* TO {self._iso(last_second(cutoff))}])")
            return now + sum(c < cutoff for c in later)

        def oldest() -> datetime | None:
            return min([*later, *([oldest_now] if oldest_now else [])], default=None)

        return aged_stats(
            name,
            {OPEN_THEN: open_now + len(later)},
            created,
            closed.resolved[box],
            at,
            aging=aging,
            older=older,
            oldest=oldest,
        )

    def _open_before(self, box: int, at: datetime) -> tuple[int, datetime | None]:
        """Open now and created before ``at``: the count and the oldest's creation."""
        answer = self._page(
            {
                "mailbox": str(box),
                "status": "open",
                "query": f"(createdAt:[* TO {self._iso(last_second(at))}])",
                "sortField": "createdAt",
                "sortOrder": "asc",
            }
        )
        found = self._conversations(answer)
        try:
            first = self._parse(found[0]["createdAt"]) if found else None
        except (TypeError, KeyError):
            raise MappingError(f"{self.source}: conversations: no createdAt") from None
        return self._elements(answer), first

    def _total(self, box: int, status: str, query: str) -> int:
        return self._elements(self._page({"mailbox": str(box), "status": status, "query": query}))

    def _elements(self, answer: Any) -> int:
        try:
            return int(answer["page"]["totalElements"])
        except (TypeError, KeyError, ValueError):
            raise MappingError(f"{self.source}: conversations: no page.totalElements") from None
