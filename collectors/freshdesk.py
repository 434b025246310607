"""Freshdesk (``kind: freshdesk``): search totals per group, the flow from one listing.

Per configured group, one poll asks ``GET /api/v2/search/tickets?query="group_id:G AND
status:S"`` for each open status (2 Open, 3 Pending, and any custom ones configured)
and reads its ``total``: the open backlog. Search is an index that lags the tickets, so
snapshots are marked ``lagging``.

Filter dates are whole days, too coarse for the daemon's windows, so the window's flow
comes from one organisation-wide listing instead: ``GET /api/v2/tickets?updated_since=
START&order_by=updated_at&order_type=asc&include=stats&per_page=100``, paged until a
short page. A ticket created or resolved in the window was updated then or later, so the
listing holds all of them; ``created_at`` and ``stats.resolved_at`` (``closed_at`` when a
ticket was closed without being resolved) in ``[start, end)`` are counted per group.

Aging (oldest open ticket, 7/14/30-day counts) is not given: the list endpoint cannot
filter by group or status and search dates are whole days; those figures are absent,
never 0. Authentication: the API key as the Basic user, password ``X``. Quota: the
plan's requests per minute (``X-Ratelimit-Remaining`` read back, 429 ``Retry-After``).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field, SecretStr, model_validator

from collectors.base import FigureState, QueueStats, Snapshot, Window
from collectors.hosted import HostedSourceConfig, PollCost
from collectors.hosted.config import (
    NumberedQueue,
    basic_auth,
    listing_pages,
    peak_changes_field,
)
from collectors.hosted.figures import queue_stats
from collectors.hosted.past import refuse_past
from collectors.hosted.source import HostedCollector
from monitor.errors import MappingError

__all__ = ["FreshdeskCollector", "FreshdeskConfig"]

OPEN_STATUSES = {2: "Open", 3: "Pending"}
DONE_STATUSES = (4, 5)
PAGE = 100


class FreshdeskConfig(HostedSourceConfig):
    """A Freshdesk helpdesk (``kind: freshdesk``)."""

    kind: Literal["freshdesk"]
    domain: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9-]*$")
    base_url: str | None = Field(None, description="instead of domain (a proxy, tests)")
    api_key: SecretStr | None = None
    api_key_file: Path | None = None
    api_key_env: str | None = None
    groups: list[NumberedQueue] = Field(min_length=1)
    open_statuses: dict[int, str] = Field(
        default_factory=lambda: dict(OPEN_STATUSES),
        description="open status codes and their labels (add custom statuses here)",
    )
    peak_changes_per_minute: float = peak_changes_field("tickets updated", 10)

    @model_validator(mode="after")
    def _credentials(self) -> FreshdeskConfig:
        if (self.domain is None) == (self.base_url is None):
            raise ValueError("give exactly one of domain and base_url")
        self.take_credentials("api_key", required=True)
        return self

    def poll_cost(self) -> PollCost:
        counts = len(self.groups) * len(self.open_statuses)
        changes = self.peak_changes_per_minute * self.interval.total_seconds() / 60
        pages = listing_pages(changes, PAGE)
        return PollCost(counts + pages, counts + 2 * pages)  # include=stats: a second credit

    def api_root(self) -> str:
        return self.base_url or f"https://{self.domain}.freshdesk.com"

    def auth_headers(self) -> dict[str, str]:
        """The API key as Basic user with password X (a secret: never log it)."""
        assert self.api_key is not None
        return basic_auth(self.api_key.get_secret_value(), "X")


class FreshdeskCollector(HostedCollector):
    """Reads per-group backlog (search totals) and the window's flow (one listing)."""

    kind: ClassVar[str] = "freshdesk"
    config_model: ClassVar[type[BaseModel]] = FreshdeskConfig

    config: FreshdeskConfig
    quota_header = "X-Ratelimit-Remaining"

    def collect(self, window: Window) -> Snapshot:
        refuse_past(
            window,
            self.name,
            "Freshdesk",
            "its search filters dates by whole days and has no filter on the resolution "
            "time, and the ticket listing goes by last update only",
        )
        created, resolved = self._flow(window)
        queues = tuple(
            self._group(g, created[g.id], resolved[g.id], window) for g in self.config.groups
        )
        return Snapshot(
            source=self.name,
            window=window,
            queues=queues,
            exactness="lagging",
            figures=(FigureState("priority", False, "counted per status only", False),),
        )

    def _group(
        self, group: NumberedQueue, created: int, resolved: int, window: Window
    ) -> QueueStats:
        counts = {
            label: self._total(f"group_id:{group.id} AND status:{code}")
            for code, label in self.config.open_statuses.items()
        }
        return queue_stats(group.name, counts, created, resolved, window.end)

    def _total(self, query: str) -> int:
        answer = self.client.get(
            "search/tickets", "/api/v2/search/tickets", {"query": f'"{query}"'}
        )
        try:
            return int(answer["total"])
        except (TypeError, KeyError, ValueError):
            raise MappingError(f"{self.name}: search/tickets: no total in the answer") from None

    def _flow(self, window: Window) -> tuple[Counter[int], Counter[int]]:
        """Tickets created and resolved in the window, per group id, from one listing."""
        created: Counter[int] = Counter()
        resolved: Counter[int] = Counter()
        page = 1
        while True:
            tickets = self.client.get(
                "tickets",
                "/api/v2/tickets",
                {
                    "updated_since": _iso(window.start),
                    "order_by": "updated_at",
                    "order_type": "asc",
                    "include": "stats",
                    "per_page": str(PAGE),
                    "page": str(page),
                },
                credits=2,
            )
            if not isinstance(tickets, list):
                raise MappingError(f"{self.name}: tickets: the answer is not a list")
            for ticket in tickets:
                _count(ticket, window, created, resolved)
            if len(tickets) < PAGE:
                return created, resolved
            page += 1


def _count(ticket: Any, window: Window, created: Counter[int], resolved: Counter[int]) -> None:
    try:
        group = ticket.get("group_id")
        if window.start <= _parse(ticket["created_at"]) < window.end:
            created[group] += 1
        stats = ticket.get("stats") or {}
        done = stats.get("resolved_at") or stats.get("closed_at")
        if (
            ticket.get("status") in DONE_STATUSES
            and done
            and window.start <= _parse(done) < window.end
        ):
            resolved[group] += 1
    except (AttributeError, KeyError, TypeError, ValueError):
        raise MappingError("freshdesk: tickets: unexpected ticket shape") from None


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
