"""Help Scout (``kind: helpscout``): mailboxes as queues, folder counts, one listing.

Per configured mailbox, one poll asks ``GET /v2/mailboxes/{id}/folders``: every folder
with its ``totalCount`` (active and pending conversations) and ``activeCount``. The
``open`` folder (Help Scout's *Unassigned*) and the ``assigned`` folder together hold
the mailbox's open backlog: ``active`` is the sum of their ``activeCount``, ``pending``
the rest of their ``totalCount``; *Unassigned* alone is the ``unassigned`` figure, and
each user's ``mytickets`` folder gives that agent's open conversations (the per-agent
load, the busiest ``max_agents`` by name, the others as ``other``). Help Scout has no
count endpoint; the folders are the one call that gives exact counts per mailbox.

The window's flow comes from one listing over every configured mailbox: ``GET
/v2/conversations?mailbox=..&status=all&modifiedSince=START&sortField=modifiedAt
&sortOrder=asc``, 25 a page. A conversation created or closed in the window was modified
then or later, so ``createdAt`` and ``closedAt`` (of conversations closed now) in
``[start, end)`` are counted per mailbox. ``_links.next`` drops the query (a documented
Help Scout bug): following it as given would list every active conversation instead, so
the next page is asked with the same query and the page number the link names.

With ``aging`` (default) each mailbox also costs three ``status=open`` listings with
``query=(createdAt:[* TO CUTOFF])`` read for ``page.totalElements`` (the 7/14/30-day
counts; the range includes its end, so the cutoff asked is a second before ``now - N d``,
Help Scout's times having whole seconds) and one sorted by ``createdAt`` ascending (the
oldest open conversation).

With ``folder_rotation`` (e.g. ``10m``), a poll reads the folders (and the aging
requests) of a slice of the mailboxes only, ``ceil(mailboxes x interval / rotation)`` of
them, those read longest ago first, so each mailbox is read once per rotation; the first
poll reads every mailbox (the start-up cost). The others keep the counts of their latest
read: the open, unassigned, per-agent and 7/14/30-day figures between two reads are the
last exact counts, as of that read, not adjusted by the listing (the listing shows a
conversation's status now, not what it was, so it cannot say which count a change left);
the oldest open age keeps the oldest conversation's creation time and grows with the
clock. Created and resolved still come from the listing every poll, exact. How old each
mailbox's counts are: ``backlog_collector_counts_read_timestamp_seconds`` (the collector
is a :class:`~collectors.hosted.rotation.RotatingCounts`), and one log line a poll.

With ``mirror:`` (collectors/helpscoutmirror.py), the 7/14/30-day counts and the oldest
come instead from a local mirror of the open conversations, fed by the same
``modifiedSince`` listing, built in slices of ``status=open`` pages and reconciled with
each mailbox's folder counts as they are read: no aging request per mailbox, and the
ages are current every poll for every mailbox (the median and 90th-percentile ages too).

As of a past instant ``T`` (``snapshot --as-of``): per mailbox, conversations open now
and created before ``T`` (counted, with the oldest), plus those closed now whose
``closedAt`` is at or after ``T``, read from one listing of the closed conversations
created before ``T`` and modified since the window's start (Help Scout has no filter on
``closedAt``); created and closed in the window likewise; the folders and the mirror are
not used (collectors/helpscoutpast.py).

Authentication: OAuth 2 client credentials (an app of an active user): the token (48 h)
is fetched before it expires and again when a request answers 401. Quota: the account's
requests per minute (``X-RateLimit-Remaining-Minute`` read back); a 429 waits for
``Retry-After`` or ``X-RateLimit-Retry-After``.
"""

from __future__ import annotations

import logging
import math
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qs, urlsplit

import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from collectors.base import FigureState, QueueStats, Snapshot, Window
from collectors.helpscoutmirror import HelpScoutMirror, Keeper, change, reader
from collectors.helpscoutpast import PastReader, last_second
from collectors.hosted import (
    Budget,
    HostedSourceConfig,
    HttpClient,
    NoAuth,
    PlanBudget,
    PollCost,
    QuotaHeaders,
)
from collectors.hosted.build import KeepsMirror, allowed_per_poll, source_pages, source_pages_error
from collectors.hosted.client import retry_after
from collectors.hosted.config import burst_error
from collectors.hosted.figures import age_cutoffs, queue_stats
from collectors.hosted.mirror import Aging, Change, ResumableMirror
from collectors.hosted.rotation import due
from collectors.hosted.source import client_options
from collectors.workload import AgentLoad, QueueWorkload, spread
from config.durations import Duration
from config.secrets import resolve_credential
from monitor.errors import AuthFailed, MappingError

__all__ = ["HelpScoutCollector", "HelpScoutConfig"]

OPEN_FOLDERS = ("open", "assigned")
"""The folder types holding a mailbox's open conversations: Unassigned and Assigned."""

OTHER_AGENTS = "other"

log = logging.getLogger(__name__)


class Mailbox(BaseModel):
    """One Help Scout mailbox, watched as a queue."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int = Field(ge=1)
    name: str


class HelpScoutConfig(HostedSourceConfig):
    """A Help Scout account (``kind: helpscout``)."""

    kind: Literal["helpscout"]
    base_url: str = Field("https://api.helpscout.net", description="the API root (tests)")
    client_id: str
    client_secret: SecretStr | None = None
    client_secret_file: Path | None = None
    client_secret_env: str | None = None
    mailboxes: list[Mailbox] = Field(min_length=1)
    aging: bool = Field(True, description="oldest open conversation and 7/14/30-day counts")
    max_agents: int = Field(
        50, ge=1, description="agents named per mailbox (the busiest); the rest as 'other'"
    )
    agent_names: dict[int, str] = Field(
        default_factory=dict, description="user id -> name shown (default: the id)"
    )
    expected_pages: int = Field(
        1, ge=1, description="listing pages a poll usually reads (25 changes a page): cost"
    )
    folder_rotation: Duration | None = Field(
        None,
        description="read each mailbox's folders (and aging) once per this period, a slice "
        "of the mailboxes each poll; unset: every mailbox every poll",
    )
    mirror: HelpScoutMirror | None = Field(
        None,
        description="aging from a local mirror of the open conversations instead of 4 "
        "requests a mailbox read (collectors/helpscoutmirror.py)",
    )
    as_of_pages: int = Field(
        400,
        ge=1,
        description="snapshot --as-of: most pages (25 conversations) of the listing of "
        "conversations closed since the window's start; more and the snapshot is refused",
    )
    budget: PlanBudget = PlanBudget(requests_per_minute=200)
    max_wait: Duration = Field(
        timedelta(seconds=60),
        description="longest wait inside one poll: a poll larger than a minute's allowance "
        "waits for the next minute",
    )

    @model_validator(mode="after")
    def _credentials(self) -> HelpScoutConfig:
        if self.mirror is not None and not self.aging:
            raise ValueError("mirror: gives the aging figures; with aging: false leave it out")
        problem = source_pages_error(self)
        if problem is not None:
            raise ValueError(problem)
        if self.folder_rotation is not None and self.folder_rotation < self.interval:
            raise ValueError(
                "folder_rotation: shorter than interval (a poll would have to read the "
                "mailboxes more than once): give interval or more, or leave it unset"
            )
        problem = burst_error(self)
        if problem is not None:
            raise ValueError(f"{problem}, fewer mailboxes or aging: false")
        secret = resolve_credential(
            self.client_secret,
            self.client_secret_file,
            self.client_secret_env,
            "client_secret",
            required=True,
        )
        object.__setattr__(self, "client_secret", secret)
        object.__setattr__(self, "client_secret_file", None)
        object.__setattr__(self, "client_secret_env", None)
        return self

    def per_poll(self) -> int:
        """Mailboxes whose folders a poll reads after the first (every one without rotation)."""
        if self.folder_rotation is None:
            return len(self.mailboxes)
        share = self.interval.total_seconds() / self.folder_rotation.total_seconds()
        return min(len(self.mailboxes), max(1, math.ceil(len(self.mailboxes) * share - 1e-9)))

    def poll_cost(self) -> PollCost:
        """A poll after the first (the mirror, when configured, built)."""
        aging_requests = 4 if self.aging and self.mirror is None else 0
        calls = self.per_poll() * (1 + aging_requests) + self.expected_pages
        return PollCost(calls, calls)

    def allowed_per_poll(self) -> int | None:
        """Requests this daemon may send in one interval (None: no limit known)."""
        return allowed_per_poll(self.budget, self.interval)

    def build_pages_per_poll(self) -> int:
        """Pages of the mirror's build a poll reads (``mirror:`` only)."""
        return source_pages(self)


@dataclass(frozen=True)
class Reading:
    """What a mailbox's folders (and aging requests) said at ``at``."""

    at: datetime
    counts: dict[str, int]
    unassigned: int
    workload: QueueWorkload
    older: dict[str, int] | None
    oldest: datetime | None


class ClientCredentials:
    """Bearer tokens from the client credentials, renewed before they expire (an hour
    before, or a tenth of their life when that is shorter)."""

    MARGIN = 3600.0

    def __init__(self, config: HelpScoutConfig, tokens: HttpClient, clock: Callable[[], float]):
        self._config = config
        self._tokens = tokens
        self._clock = clock
        self._token: str | None = None
        self._expires = self._margin = 0.0

    def headers(self) -> Mapping[str, str]:
        if self._token is None or self._clock() >= self._expires - self._margin:
            self.renew()
        return {"Authorization": f"Bearer {self._token}"}

    def renew(self) -> bool:
        assert self._config.client_secret is not None
        answer = self._tokens.request(
            "POST",
            "oauth2/token",
            "/v2/oauth2/token",
            form={
                "grant_type": "client_credentials",
                "client_id": self._config.client_id,
                "client_secret": self._config.client_secret.get_secret_value(),
            },
        )
        if not isinstance(answer, dict) or "access_token" not in answer:
            raise AuthFailed(f"{self._config.name}: the token endpoint gave no access_token")
        life = float(answer.get("expires_in", 172800))
        self._token = str(answer["access_token"])
        self._expires, self._margin = self._clock() + life, min(self.MARGIN, life / 10)
        return True


class HelpScoutClient(HttpClient):
    """A 429 names its wait in ``X-RateLimit-Retry-After`` when ``Retry-After`` is absent."""

    def limited_for(self, response: requests.Response) -> float | None:
        asked = retry_after(response)
        if asked is not None:
            return asked
        try:
            return max(0.0, float(response.headers["X-RateLimit-Retry-After"]))
        except (KeyError, ValueError):
            return None


class HelpScoutCollector(KeepsMirror):
    """Reads per-mailbox backlog (folders), the window's flow (one listing) and aging."""

    kind: ClassVar[str] = "helpscout"
    config_model: ClassVar[type[BaseModel]] = HelpScoutConfig

    _keeper: Keeper | None = None

    def __init__(
        self,
        config: HelpScoutConfig,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        common = client_options(config, sleep)
        tokens = HttpClient(
            config.name,
            config.base_url,
            auth=NoAuth(),
            budget=Budget(config.name, None, None, clock),
            **common,
        )
        self.client = HelpScoutClient(
            config.name,
            config.base_url,
            auth=ClientCredentials(config, tokens, clock),
            budget=Budget(config.name, config.budget.per_minute(), None, clock),
            quota=QuotaHeaders(minute_left="X-RateLimit-Remaining-Minute"),
            **common,
        )
        tokens.stats = self.client.stats
        self.http_stats = self.client.stats
        self._readings: dict[int, Reading] = {}

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def wants_mirror(self) -> bool:
        return self.config.mirror is not None

    def new_keeper(self, mirror: ResumableMirror) -> Keeper:
        assert self.config.mirror is not None
        names = [m.name for m in self.config.mailboxes]
        return Keeper(self.name, self.config.mirror, mirror, names)

    def collect(self, window: Window) -> Snapshot:
        if window.historical:
            return self._past(window)
        keeper = self._keeper
        since = window.start if keeper is None else keeper.since(window.start)
        created, resolved, changes = self._flow(window, since)
        if keeper is not None:
            keeper.feed(changes, window.end)
            pages = self.config.build_pages_per_poll()
            keeper.build(reader(lambda bound, n: self._open_page(bound, n, window.end)), pages)
        boxes = self.config.mailboxes
        read_at = {i: r.at for i, r in self._readings.items()}
        fresh = set(due(read_at, [m.id for m in boxes], self.config.per_poll()))
        for box in boxes:
            if box.id in fresh:
                self._readings[box.id] = self._read(box, window.end)
        aged = keeper.aging(window.end) if keeper is not None else None
        queues = tuple(self._mailbox(m, created[m.id], resolved[m.id], window, aged) for m in boxes)
        if keeper is not None:  # after the figures: a drift past rebuild_above resets it
            opened = {m.name: sum(self._readings[m.id].counts.values()) for m in boxes}
            keeper.reconcile({m.name: opened[m.name] for m in boxes if m.id in fresh}, window.end)
        if self.config.folder_rotation is not None:
            ages = self.count_ages(window.end)
            stalest = max(ages, key=lambda name: ages[name])
            log.info(
                "%s: folders read for %d of %d mailboxes; the oldest counts are %.0f s old (%s)",
                self.name,
                len(fresh),
                len(boxes),
                ages[stalest],
                stalest,
            )
        return Snapshot(
            source=self.name,
            window=window,
            queues=queues,
            figures=(FigureState("priority", False, "Help Scout has no priority", False),),
        )

    def close(self) -> None:
        self.client.session.close()

    def _past(self, window: Window) -> Snapshot:
        """The figures as of ``window.end`` from conversation searches
        (collectors/helpscoutpast.py); the folder readings and the mirror are not used."""
        reader = PastReader(
            self.name,
            self._page,
            iso=_iso,
            parse=lambda value: _parse(self.name, value),
            next_page=lambda page, number: _next_page(self.name, page, number),
            conversations=lambda page: _conversations(self.name, page),
            max_pages=self.config.as_of_pages,
        )
        boxes = self.config.mailboxes
        closed = reader.closed_since([m.id for m in boxes], window)
        queues = tuple(
            reader.mailbox(m.id, m.name, window, closed, self.config.aging) for m in boxes
        )
        return Snapshot(
            source=self.name,
            window=window,
            queues=queues,
            # a conversation counts in today's mailbox; its status then is unknown
            exactness="approximate",
            figures=(FigureState("priority", False, "Help Scout has no priority", False),),
        )

    def counts_read_at(self) -> dict[str, datetime]:
        """When each read mailbox's folder counts were read (its poll's instant), by name."""
        return {
            m.name: self._readings[m.id].at for m in self.config.mailboxes if m.id in self._readings
        }

    def count_ages(self, now: datetime) -> dict[str, float]:
        """Seconds since each read mailbox's folder counts were read, by mailbox name."""
        return {name: (now - at).total_seconds() for name, at in self.counts_read_at().items()}

    def _read(self, box: Mailbox, now: datetime) -> Reading:
        """The mailbox's folders, and with ``aging`` its age counts, as of ``now``."""
        folders = self._folders(box)
        opened = [f for f in folders if f["type"] in OPEN_FOLDERS]
        active = sum(f["activeCount"] for f in opened)
        counts = {"active": active, "pending": sum(f["totalCount"] for f in opened) - active}
        older = oldest = None
        if self.config.aging and self._keeper is None:
            older = {
                name: self._open_total(
                    box, {"query": f"(createdAt:[* TO {_iso(last_second(cut))}])"}
                )
                for name, cut in age_cutoffs(now).items()
            }
            oldest = self._oldest(box)
        unassigned = sum(f["totalCount"] for f in folders if f["type"] == "open")
        return Reading(now, counts, unassigned, self._agents(folders), older, oldest)

    def _mailbox(
        self,
        box: Mailbox,
        created: int,
        resolved: int,
        window: Window,
        ages: Mapping[str, Aging] | None,
    ) -> QueueStats:
        """The mailbox's latest reading with the window's flow; with a mirror, its aging
        from ``ages`` (None while the mirror is built: no aging figures)."""
        reading = self._readings[box.id]
        older, oldest, quantiles = reading.older, reading.oldest, None
        if self._keeper is not None:
            found = (ages or {}).get(box.name)
            older = oldest = None
            if found is not None:
                older, oldest, quantiles = found.older_than, found.oldest_created, found.quantiles
        stats = queue_stats(
            box.name,
            reading.counts,
            created,
            resolved,
            window.end,
            older_than=older,
            oldest_created=oldest,
        )
        return QueueStats(
            **{
                **stats.__dict__,
                "unassigned": reading.unassigned,
                "workload": reading.workload,
                "age_quantiles": quantiles,
            }
        )

    def _folders(self, box: Mailbox) -> list[dict[str, Any]]:
        answer = self.client.get("mailboxes/folders", f"/v2/mailboxes/{box.id}/folders")
        try:
            folders = answer["_embedded"]["folders"]
            for folder in folders:
                folder["totalCount"], folder["activeCount"] = (
                    int(folder["totalCount"]),
                    int(folder["activeCount"]),
                )
        except (TypeError, KeyError, ValueError):
            raise MappingError(f"{self.name}: mailboxes/folders: unexpected answer") from None
        if not {f.get("type") for f in folders} >= set(OPEN_FOLDERS):
            raise MappingError(f"{self.name}: mailbox {box.id} has no Unassigned/Assigned folders")
        return list(folders)

    def _agents(self, folders: list[dict[str, Any]]) -> QueueWorkload:
        """Each user's open conversations (``mytickets`` folders), the busiest named."""
        loads = sorted(
            (
                (int(f["totalCount"]), self._agent(f.get("userId")))
                for f in folders
                if f["type"] == "mytickets" and f["totalCount"] > 0
            ),
            key=lambda load: (-load[0], load[1]),
        )
        named = [AgentLoad(agent, n, None) for n, agent in loads[: self.config.max_agents]]
        rest = sum(n for n, _ in loads[self.config.max_agents :])
        if rest:
            named.append(AgentLoad(OTHER_AGENTS, rest, None))
        top, median, share = spread(n for n, _ in loads)
        return QueueWorkload(
            agents=tuple(named),
            agents_with_work=len(loads),
            load_max=top,
            load_median=median,
            busiest_share=share,
        )

    def _agent(self, user: Any) -> str:
        try:
            return self.config.agent_names.get(int(user), str(int(user)))
        except (TypeError, ValueError):
            raise MappingError(f"{self.name}: a mytickets folder has no userId") from None

    def _open_total(self, box: Mailbox, extra: dict[str, str]) -> int:
        page = self._page({"mailbox": str(box.id), "status": "open", **extra})
        try:
            return int(page["page"]["totalElements"])
        except (TypeError, KeyError, ValueError):
            raise MappingError(f"{self.name}: conversations: no page.totalElements") from None

    def _oldest(self, box: Mailbox) -> datetime | None:
        page = self._page(
            {"mailbox": str(box.id), "status": "open", "sortField": "createdAt", "sortOrder": "asc"}
        )
        found = _conversations(self.name, page)
        return _parse(self.name, found[0]["createdAt"]) if found else None

    def _page(self, params: dict[str, str]) -> Any:
        return self.client.get("conversations", "/v2/conversations", params)

    def _open_page(
        self, bound: datetime, number: int, now: datetime
    ) -> tuple[list[Change], bool, int | None]:
        """A page of the mirror's build: open conversations created at ``bound`` or later,
        oldest first, as changes dated ``now`` (the poll's instant, as the listing's), and
        how many the query selects."""
        page = self._page(
            {
                "mailbox": self._mailbox_ids(),
                "status": "open",
                "query": f"(createdAt:[{_iso(bound)} TO *])",
                "sortField": "createdAt",
                "sortOrder": "asc",
                "page": str(number),
            }
        )
        found = [self._change(item, now) for item in _conversations(self.name, page)]
        selected = page.get("page", {}).get("totalElements") if isinstance(page, dict) else None
        more = _next_page(self.name, page, number) != 0
        return found, more, int(selected) if isinstance(selected, int) else None

    def _change(self, item: Any, now: datetime) -> Change:
        names = {m.id: m.name for m in self.config.mailboxes}
        try:
            return change(item, names, _parse(self.name, item["createdAt"]), now)
        except (TypeError, KeyError, ValueError):
            raise MappingError(
                f"{self.name}: conversations: unexpected conversation shape"
            ) from None

    def _mailbox_ids(self) -> str:
        return ",".join(str(m.id) for m in self.config.mailboxes)

    def _flow(
        self, window: Window, since: datetime
    ) -> tuple[Counter[int], Counter[int], list[Change]]:
        """Conversations created and closed in the window, per mailbox id, from the
        listing of those changed since ``since``; with a mirror, the listing's changes,
        in every mailbox (``mailbox=`` selects a conversation's mailbox now: one moved
        out of the watched ones would never be listed again and stay in the mirror)."""
        created: Counter[int] = Counter()
        resolved: Counter[int] = Counter()
        changes: list[Change] = []
        query = {
            "status": "all",
            "modifiedSince": _iso(since),
            "sortField": "modifiedAt",
            "sortOrder": "asc",
        }
        if self._keeper is None:  # with a mirror: every mailbox, to see conversations leave
            query["mailbox"] = self._mailbox_ids()
        number, seen = 1, set()
        while True:
            page = self._page({**query, "page": str(number)})
            for item in _conversations(self.name, page):
                if item.get("id") in seen:
                    continue
                seen.add(item.get("id"))
                _count(self.name, item, window, created, resolved)
                if self._keeper is not None:
                    changes.append(self._change(item, window.end))
            number = _next_page(self.name, page, number)
            if number == 0:
                return created, resolved, changes


def _count(
    source: str, item: Any, window: Window, created: Counter[int], resolved: Counter[int]
) -> None:
    try:
        box = int(item["mailboxId"])
        if window.start <= _parse(source, item["createdAt"]) < window.end:
            created[box] += 1
        closed = item.get("closedAt")
        if item["status"] == "closed" and closed:
            resolved[box] += window.start <= _parse(source, closed) < window.end
    except (TypeError, KeyError, ValueError):
        raise MappingError(f"{source}: conversations: unexpected conversation shape") from None


def _next_page(source: str, page: Any, number: int) -> int:
    """The page number ``_links.next`` names (its query is dropped: we keep ours); 0: done."""
    try:
        href = page.get("_links", {}).get("next", {}).get("href")
    except AttributeError:
        raise MappingError(f"{source}: conversations: unexpected _links") from None
    if not href:
        return 0
    values = parse_qs(urlsplit(href).query).get("page")
    following = int(values[0]) if values and values[0].isdigit() else number + 1
    if following <= number:
        raise MappingError(f"{source}: conversations: _links.next does not move on")
    return following


def _conversations(source: str, page: Any) -> list[dict[str, Any]]:
    try:
        found = (page.get("_embedded") or {}).get("conversations", [])
    except AttributeError:
        found = None
    if not isinstance(found, list):
        raise MappingError(f"{source}: conversations: no _embedded.conversations")
    return found


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(source: str, value: Any) -> datetime:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        raise MappingError(f"{source}: unreadable time {value!r}") from None
