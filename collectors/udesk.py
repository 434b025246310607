"""Udesk (``kind: udesk``): open tickets per queue and status through the account's filters.

Udesk has no count endpoint and no field filters in its API: tickets are read through
filters defined in Udesk's web console, and ``GET /open_api_v1/tickets/tickets_in_filter
?filter_id=F&page=1&per_page=1`` answers ``meta.total_count``, the number of tickets the
filter selects. So each queue is configured as one filter per open status ("user group is
X and status is open", "... is solving"): one request each per poll, exact counts.

Every request is signed: query parameters ``email``, ``timestamp`` (seconds),
``nonce`` (a fresh UUID per request, also per retry: Udesk refuses a nonce seen in the
last 15 minutes), ``sign_version=v2`` and ``sign = SHA-256("email&token&timestamp&nonce
&v2")``. The token comes from ``POST /open_api_v1/log_in`` with the account's email and
password (a secret), fetched at the first request and again when a request is refused
for it. Udesk allows 60 requests a minute per account: every Udesk source of the same
account (same API root and email) shares one budget in this process.

Created and resolved in the window are not collected: Udesk's closing time is not
documented; they are absent (None), never 0. Ages (the oldest open ticket, median and 90th
percentile per queue) come from a local mirror when ``mirror:`` is configured
(collectors/hosted/mirror.py): Udesk has no modified-since parameter, so the user creates
one more filter, "updated in the last day, newest first" (``mirror.changed_filter``), whose
pages are read each poll until a ticket updated before the mirror's cursor (less an
overlap). The first poll (and a poll after the cursor fell out of that filter's span)
starts a build of the mirror: every queue's status filters listed, 100 a page, in slices
over polls (collectors/hosted/build.py): at most ``mirror.build_pages`` pages a poll (by
default what the budget leaves), each page stored with the filter and page the next one
starts at, so a restart goes on from there. A slice after the first starts one page back
(tickets that left the filter since move the rest up a place each). The feed is read
from the build's first poll on and keeps what was listed current. Until the build ends
the ages are absent. Each poll the built mirror's open count per queue is reconciled with
the ``meta.total_count`` figures just read (no extra request): the difference is the
drift (tickets deleted or merged in Udesk leave no trace in the feed). Without
``mirror:``, ages are absent.

With ``mirror.reconcile_every`` (500 queues: the filter counts of every queue every poll
do not fit in 60 a minute), the open counts per queue and status come from the mirror too
(its queue key is ``queue KEY status``), and each poll counts the filters of the queues
whose turn it is (:func:`collectors.hosted.rotation.in_slot`), so every queue is
reconciled once per period (once built: a build's counts are partial). While the build
is under way a poll stores no figures (:class:`~collectors.hosted.build.MirrorBuilding`:
the daemon moves no watermark, and ``backlog_collector_mirror_build_progress`` says how
far it is).
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any, ClassVar, Literal

import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from collectors.base import FigureState, QueueStats, Snapshot, Window
from collectors.hosted import Budget, HostedSourceConfig, HttpClient, NoAuth, PlanBudget, PollCost
from collectors.hosted.build import (
    Keeper,
    KeepsMirror,
    MirrorBuilding,
    Page,
    Resume,
    build_pages_field,
    source_pages,
    source_pages_error,
)
from collectors.hosted.config import burst_error, listing_pages, peak_changes_field
from collectors.hosted.mirror import (
    Change,
    CreatedIndex,
    IndexedMirror,
    ResumableMirror,
    age_quantile,
)
from collectors.hosted.past import refuse_past
from collectors.hosted.rotation import in_slot, per_slot
from collectors.hosted.source import client_options
from config.durations import Duration
from config.secrets import resolve_credential
from monitor.errors import AuthFailed, MappingError

__all__ = ["UdeskCollector", "UdeskConfig"]

OK = 1000
"""Udesk's ``code`` for a request that succeeded."""

_SHARED: dict[tuple[str, str], Budget] = {}
_SHARED_LOCK = threading.Lock()


class UdeskQueue(BaseModel):
    """One queue: a filter id per open status (created in Udesk's console, see the docs)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    filters: dict[str, int] = Field(min_length=1, description="status label -> filter id")
    user_group: str | None = Field(
        None, description="Udesk's user_group_name of the queue (default: name); the mirror"
    )

    def group(self) -> str:
        return self.user_group or self.name


STATUSES = ("open", "solving", "resolved", "closed")
"""Udesk's ticket statuses as ``tickets_in_filter`` names them (``status``)."""

PAGE = 100
"""``per_page`` at most (Udesk's limit)."""
KEY = "\x1f"
"""Joins a queue's name and a status into the mirror's queue key (the mirror keeps the
status that way, so open counts per status come from it too)."""


class UdeskMirror(BaseModel):
    """The mirror of open tickets that gives ages (see the module's docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    changed_filter: int = Field(
        description="a filter in Udesk's console: tickets updated within changed_span, "
        "sorted by update time, newest first"
    )
    changed_span: Duration = Field(
        timedelta(days=1), description="the update-time range that filter selects"
    )
    overlap: Duration = Field(
        timedelta(minutes=2), description="read this far before the cursor (late updates)"
    )
    rebuild_above: int | None = Field(
        None,
        ge=1,
        description="rebuild the mirror at the next poll when a queue's drift is larger "
        "than this (None: never by itself; the drift metric is for alerting)",
    )
    reconcile_every: Duration | None = Field(
        None,
        description="open counts come from the mirror, and each queue's filters are "
        "counted once per this period, a few queues a poll (None: every filter every poll)",
    )
    build_pages: int | None = build_pages_field("100 tickets of a status filter each")

    @model_validator(mode="after")
    def _span(self) -> UdeskMirror:
        if self.overlap >= self.changed_span:
            raise ValueError("overlap must be shorter than changed_span")
        if self.reconcile_every is not None and self.reconcile_every <= timedelta(0):
            raise ValueError("reconcile_every must be longer than 0")
        return self


class UdeskConfig(HostedSourceConfig):
    """A Udesk account (``kind: udesk``)."""

    kind: Literal["udesk"]
    subdomain: str | None = Field(None, pattern=r"^[a-z0-9][a-z0-9-]*(\.s2)?$")
    base_url: str | None = Field(None, description="instead of subdomain (a proxy, tests)")
    email: str = Field(description="the admin account the API token belongs to")
    password: SecretStr | None = None
    password_file: Path | None = None
    password_env: str | None = None
    queues: list[UdeskQueue] = Field(min_length=1)
    mirror: UdeskMirror | None = None
    peak_changes_per_minute: float = peak_changes_field("tickets updated (with mirror:)", 10)
    budget: PlanBudget = PlanBudget(requests_per_minute=60)
    max_wait: Duration = Field(
        timedelta(seconds=60),
        description="longest wait inside one poll: a poll larger than a minute's allowance "
        "waits for the next minute",
    )

    @model_validator(mode="after")
    def _credentials(self) -> UdeskConfig:
        if (self.subdomain is None) == (self.base_url is None):
            raise ValueError("give exactly one of subdomain and base_url")
        secret = resolve_credential(
            self.password, self.password_file, self.password_env, "password", required=True
        )
        object.__setattr__(self, "password", secret)
        object.__setattr__(self, "password_file", None)
        object.__setattr__(self, "password_env", None)
        problem = burst_error(self)
        if problem is not None:
            raise ValueError(f"{problem}, or fewer filters")
        if self.mirror is not None:
            problem = source_pages_error(self)
            if problem is not None:
                raise ValueError(problem)
            for i, queue in enumerate(self.queues):
                unknown = sorted(set(queue.filters) - set(STATUSES))
                if unknown:
                    raise ValueError(
                        f"queues -> {i} -> filters: with mirror:, the labels must be Udesk's "
                        f"status names ({', '.join(STATUSES)}), which the mirror matches "
                        f"tickets by; not {', '.join(unknown)}"
                    )
        return self

    def poll_cost(self) -> PollCost:
        calls = sum(len(q.filters) for q in self.queues)
        if self.mirror is not None and self.mirror.reconcile_every is not None:
            # the filters of the queues whose turn it is (the largest slot, at most)
            widest = max(len(q.filters) for q in self.queues)
            calls = per_slot(len(self.queues), self.interval, self.mirror.reconcile_every)
            calls *= widest
        if self.mirror is not None:  # the changed filter's pages since the cursor
            span = self.interval + self.mirror.overlap
            calls += listing_pages(self.peak_changes_per_minute * span.total_seconds() / 60, PAGE)
        return PollCost(calls, calls)

    def api_root(self) -> str:
        return self.base_url or f"https://{self.subdomain}.udesk.cn"

    def build_pages_per_poll(self) -> int:
        """Pages of the mirror's build a poll reads (``mirror:`` only)."""
        return source_pages(self)


def shared_budget(config: UdeskConfig, clock: Callable[[], float]) -> Budget:
    """The one budget of every Udesk source of this account in this process."""
    key = (config.api_root(), config.email.lower())
    with _SHARED_LOCK:
        if key not in _SHARED:
            _SHARED[key] = Budget(f"udesk:{config.email}", config.budget.per_minute(), None, clock)
        return _SHARED[key]


def sign(email: str, token: str, timestamp: str, nonce: str) -> str:
    """Udesk's v2 signature: SHA-256 over ``email&token&timestamp&nonce&v2``, hex."""
    return hashlib.sha256(f"{email}&{token}&{timestamp}&{nonce}&v2".encode()).hexdigest()


class UdeskLogin:
    """The API token from ``log_in`` with the password; fetched again when refused."""

    def __init__(self, config: UdeskConfig, login: HttpClient) -> None:
        self._config = config
        self._login = login
        self.token: str | None = None

    def headers(self) -> Mapping[str, str]:
        if self.token is None:
            self.renew()
        return {}

    def renew(self) -> bool:
        assert self._config.password is not None
        answer = self._login.request(
            "POST",
            "log_in",
            "/open_api_v1/log_in",
            body={
                "email": self._config.email,
                "password": self._config.password.get_secret_value(),
            },
        )
        if not isinstance(answer, dict) or answer.get("code") != OK:
            code = answer.get("code") if isinstance(answer, dict) else None
            raise AuthFailed(f"{self._config.name}: Udesk refused the login (code {code})")
        self.token = str(answer["open_api_auth_token"])
        return True


class SigningSession(requests.Session):
    """Adds a fresh signature (new timestamp and nonce) to every request it sends."""

    def __init__(self, email: str, login: UdeskLogin, clock: Callable[[], float]) -> None:
        super().__init__()
        self._email = email
        self._login = login
        self._clock = clock

    def request(  # type: ignore[override]
        self, method: str, url: str, params: Any = None, **kwargs: Any
    ) -> requests.Response:
        token = self._login.token or ""
        timestamp, nonce = str(int(self._clock())), uuid.uuid4().hex
        signed = {
            **(params or {}),
            "email": self._email,
            "timestamp": timestamp,
            "nonce": nonce,
            "sign_version": "v2",
            "sign": sign(self._email, token, timestamp, nonce),
        }
        return super().request(method, url, params=signed, **kwargs)


class UdeskClient(HttpClient):
    """Udesk's 429 names no wait: the account's minute is spent (by any integration), so
    the source rests a full minute, longer than any wait inside a poll: the poll fails as
    rate limited (its window is counted by the next) instead of retrying into the limit."""

    def limited_for(self, response: requests.Response) -> float | None:
        asked = super().limited_for(response)
        return asked if asked is not None else max(60.0, self.max_wait) + 1.0


class UdeskCollector(KeepsMirror):
    """Reads per-queue open tickets by status from the counts of Udesk filters."""

    kind: ClassVar[str] = "udesk"
    config_model: ClassVar[type[BaseModel]] = UdeskConfig

    def __init__(
        self,
        config: UdeskConfig,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        common = client_options(config, sleep)
        budget = shared_budget(config, clock)
        login = UdeskLogin(
            config,
            HttpClient(config.name, config.api_root(), auth=NoAuth(), budget=budget, **common),
        )
        self.client = UdeskClient(
            config.name,
            config.api_root(),
            auth=login,
            budget=budget,
            session=SigningSession(config.email, login, clock),
            **common,
        )
        login._login.stats = self.client.stats
        self._auth = login
        self.http_stats = self.client.stats
        self._clock = clock
        self._keys_checked = False
        self._filters = [(q, s, f) for q in config.queues for s, f in q.filters.items()]
        """Every status filter, in the order a build lists them."""

    @property
    def wants_mirror(self) -> bool:
        return self.config.mirror is not None

    def new_keeper(self, mirror: ResumableMirror) -> Keeper:
        assert self.config.mirror is not None
        names = [q.name for q in self.config.queues]
        return Keeper(mirror, names, self.config.mirror.rebuild_above)

    @property
    def name(self) -> str:
        return self.config.name

    def collect(self, window: Window) -> Snapshot:
        refuse_past(
            window,
            self.name,
            "Udesk",
            "its API reads tickets only through filters defined in Udesk's console, with "
            "no time filter and no closing time",
        )
        settings, keeper = self.config.mirror, self._keeper
        if settings is not None and keeper is not None:
            counts, ages = self._from_mirror(settings, keeper, window.end)
        else:
            counts, ages = self._read_counts(self.config.queues), {}
        queues = tuple(
            QueueStats(
                queue=q.name,
                open_by_status_priority={(s, ""): n for s, n in counts[q.name].items() if n},
                **ages.get(q.name, {}),
            )
            for q in self.config.queues
        )
        return Snapshot(
            source=self.name,
            window=window,
            queues=queues,
            figures=(FigureState("priority", False, "counted per filter only", False),),
        )

    def _read_counts(self, queues: list[UdeskQueue]) -> dict[str, dict[str, int]]:
        """``meta.total_count`` of each of ``queues``' filters (one request each)."""
        return {
            q.name: {status: self._count(filter_id) for status, filter_id in q.filters.items()}
            for q in queues
        }

    def _from_mirror(
        self, settings: UdeskMirror, keeper: Keeper, now: datetime
    ) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, Any]]]:
        """Read a slice of the mirror's build while one is under way, feed the mirror
        (after the slice: the figures are as of the feed's read), reconcile the built
        mirror with the counts read this poll, and read each queue's open counts (the
        mirror's with ``reconcile_every``, else the counts just read) and ages (none until
        the build ends; with ``reconcile_every`` no figures at all until then)."""
        c, mirror = self.config, keeper.mirror
        if not isinstance(mirror, IndexedMirror):
            raise TypeError(f"{self.name}: the mirror keeps no index of creation times")
        groups = {f"{q.name}{KEY}{s}": q.name for q in c.queues for s in q.filters}
        rotating = settings.reconcile_every is not None
        keeper.restore_drift()
        # the cursor is when the feed is read, on the clock the requests are signed with
        # (Udesk refuses a timestamp minutes off its own): not the window's end, which a
        # poll that waited for the budget (the build, other sources of the account) left
        # behind, and whose minutes the next feed would read again
        started = self._read_at()
        cursor = mirror.cursor()
        # a mirror kept before the status was part of its queue key is rebuilt once
        if (
            cursor is not None
            and not self._keys_checked
            and not self._keyed(mirror.created_index(groups))
        ):
            cursor = None
        self._keys_checked = True
        if cursor is not None and started - cursor > settings.changed_span - settings.overlap:
            cursor = None  # the changed filter no longer reaches back to the cursor
        if cursor is None:  # a (re)build, in slices; the feed from now on
            mirror.reset()
            keeper.start(Resume(started, {"filter": 0, "page": 1}))
            mirror.apply([], started)
        pages = keeper.build(self._build_page, c.build_pages_per_poll())
        if cursor is not None:  # after the build's pages, which may wait minutes for the
            # budget: a ticket they listed and that changed meanwhile is current again
            read_at = self._read_at()
            changes = self._listing(settings.changed_filter, cursor - settings.overlap)[0]
            mirror.apply(changes, read_at)
        if not keeper.built and rotating:
            raise MirrorBuilding(
                f"{self.name}: building the mirror: {keeper.progress or 0:.1%} listed "
                f"({pages} pages this poll); no figures until it is built",
                keeper.progress or 0.0,
            )
        counted: dict[str, dict[str, int]] = {}
        if not rotating:
            counted = self._read_counts(c.queues)
        elif keeper.built:
            assert settings.reconcile_every is not None
            turn = in_slot(now, len(c.queues), c.interval, settings.reconcile_every)
            counted = self._read_counts([c.queues[j] for j in turn])
        held = {q.name: dict.fromkeys(q.filters, 0) for q in c.queues}
        ages: dict[str, dict[str, Any]] = {q.name: {} for q in c.queues}
        if keeper.built:  # read before a reset: this poll's figures are the mirror's
            index = mirror.created_index(groups)
            held = {
                q.name: {s: index.count(f"{q.name}{KEY}{s}") for s in q.filters} for q in c.queues
            }
            ages = {q.name: _ages(index.created(q.name), now) for q in c.queues}
            measured = {q: sum(held[q].values()) - sum(n.values()) for q, n in counted.items()}
            keeper.record(measured, now)
        counts = held if rotating else counted
        return counts, ages

    def _read_at(self) -> datetime:
        """Now, on the clock the requests are signed with."""
        return datetime.fromtimestamp(self._clock(), UTC)

    def _build_page(self, resume: Resume, first: bool) -> Page:
        """A page of the build: the filter and page the resume point names (a poll's first
        page one page back), and where the next starts (the next page, or the next
        filter's first)."""
        at = resume.position
        index, number = int(at.get("filter", 0)), int(at.get("page", 1))
        if index >= len(self._filters):  # fewer filters configured since: nothing left
            return Page([], None, 1.0)
        if first and number > 1:  # tickets that left the filter moved the rest up
            number -= 1
        _queue, _status, filter_id = self._filters[index]
        answer = self._page(filter_id, number, PAGE)
        queues = {q.group(): q for q in self.config.queues}
        changes = [self._change(item, queues) for item in answer.get("contents") or []]
        pages = int(answer["meta"].get("total_pages") or 0)
        after: Resume | None = None
        if number < pages:
            after = Resume(resume.at, {"filter": index, "page": number + 1})
        elif index + 1 < len(self._filters):
            after = Resume(resume.at, {"filter": index + 1, "page": 1})
        done = index + (min(number, pages) / pages if pages else 1.0)
        return Page(changes, after, 1.0 if after is None else done / len(self._filters))

    @staticmethod
    def _keyed(index: CreatedIndex) -> bool:
        return all(KEY in key for key in index.counts())

    def _listing(self, filter_id: int, since: datetime | None) -> tuple[list[Change], int]:
        """A filter's tickets as changes, 100 a page, and the filter's ``total_count`` on
        the first page; with ``since``, the filter is sorted newest update first and the
        listing stops at the first ticket updated before it."""
        queues = {q.group(): q for q in self.config.queues}
        out: list[Change] = []
        page, total = 1, 0
        while True:
            answer = self._page(filter_id, page, PAGE)
            if page == 1:
                total = _total(answer)
            changes = [self._change(item, queues) for item in answer.get("contents") or []]
            if since is not None:
                times = [c.modified_at for c in (out[-1:] + changes)]
                if any(later > earlier for earlier, later in pairwise(times)):
                    raise MappingError(
                        f"{self.name}: mirror.changed_filter {filter_id} is not sorted by "
                        "update time, newest first (set the sort in Udesk's console): the "
                        "mirror would miss changes"
                    )
            for change in changes:
                if since is not None and change.modified_at < since:
                    return out, total
                out.append(change)
            if page >= int(answer["meta"].get("total_pages") or 0):
                return out, total
            page += 1

    def _change(self, item: Mapping[str, Any], queues: Mapping[str, UdeskQueue]) -> Change:
        try:
            created = _when(item["created_at"])
            modified = _when(item.get("updated_at") or item["created_at"])
            group, status = str(item.get("user_group_name") or ""), str(item["status"])
            ticket = str(item["id"])
        except (KeyError, TypeError, ValueError) as err:
            raise MappingError(f"{self.name}: tickets_in_filter: a ticket without {err}") from None
        queue = queues.get(group)
        is_open = queue is not None and status in queue.filters
        key = f"{queue.name}{KEY}{status}" if queue is not None else group
        return Change(ticket, key, created, modified, is_open)

    def close(self) -> None:
        self.client.session.close()

    def _count(self, filter_id: int) -> int:
        try:
            return _total(self._page(filter_id, 1, 1))
        except ValueError:
            raise MappingError(f"{self.name}: tickets_in_filter: no meta.total_count") from None

    def _page(self, filter_id: int, page: int, per_page: int) -> dict[str, Any]:
        params = {"filter_id": str(filter_id), "page": str(page), "per_page": str(per_page)}
        path = "/open_api_v1/tickets/tickets_in_filter"
        answer = self.client.get("tickets_in_filter", path, params)
        if not isinstance(answer, dict) or not isinstance(answer.get("meta"), dict):
            raise MappingError(f"{self.name}: tickets_in_filter {filter_id}: no meta.total_count")
        if answer.get("code") not in (OK, None):
            raise MappingError(
                f"{self.name}: tickets_in_filter {filter_id}: Udesk answered code "
                f"{answer.get('code')} (does the filter exist?)"
            )
        return answer


def _total(answer: Mapping[str, Any]) -> int:
    """A filter's ``meta.total_count`` (ValueError without one)."""
    try:
        return int(answer["meta"]["total_count"])
    except (TypeError, KeyError, ValueError):
        raise ValueError("no meta.total_count") from None


def _ages(times: Sequence[datetime], now: datetime) -> dict[str, Any]:
    """A queue's oldest, median and 90th-percentile open ages (nearest rank) from its open
    tickets' creation times, sorted (its open statuses together); none when it has none."""
    if not times:
        return {}
    quantiles = {"0.5": age_quantile(times, now, 0.5), "0.9": age_quantile(times, now, 0.9)}
    return {
        "oldest_age_s": (now - times[0]).total_seconds(),
        "age_quantiles": {k: v for k, v in quantiles.items() if v is not None},
    }


def _when(text: object) -> datetime:
    """Udesk's ``2016-07-28 20:44:08 +0800``."""
    return datetime.strptime(str(text), "%Y-%m-%d %H:%M:%S %z")
