"""Fxiaoke / 纷享销客 (``kind: fxiaoke``): work orders (``CasesObj``) counted with data/query.

Tenants customise the work-order object, so the fields are configuration: the status
field and its open values, the queue field and its values, and optionally the field
holding the resolution time. At the first poll ``POST /cgi/crm/v2/object/describe``
checks that each mapped field exists (a missing one is a :class:`MappingError` naming the
field and its configuration key). Then per queue, ``POST /cgi/crm/v2/data/query`` with
``limit`` 1, ``offset`` 0 and ``find_explicit_total_num`` gives the total of:

- each open status (``status_field EQ value``): the open backlog;
- ``create_time`` in ``[start, end)`` (``GTE``/``LT``, epoch milliseconds): created;
- with ``resolved_field``, that field in the window and the status not open: resolved
  (without it, resolved is absent, never 0);
- with ``aging`` (default), open and ``create_time LT now - 7/14/30 d`` and one query
  sorted by ``create_time`` ascending: the oldest open work order.

As of a past instant ``T`` (``snapshot --as-of``, only with ``resolved_field``): open
then is an open status and ``create_time LT T``, plus a status not open with the
resolution field ``GTE T`` and ``create_time LT T``; aging and the oldest likewise;
reported under the status ``(open then)``, in today's queue (``approximate``).

With ``mirror:`` (the reference's plan for large tenants), a local mirror of the open
work orders (collectors/hosted/mirror.py) replaces the per-queue counts of live polls:
each poll lists the work orders changed since the mirror's cursor (``last_modified_time
GTE cursor``, sorted ascending, ``find_explicit_total_num`` false, 100 a page, paged by
moving the ``GTE`` bound to the last row's time, never by deep offsets); the first poll
(or one after a reset) starts a build: the open work orders of the configured queues
listed the same way by ``create_time``, in slices over polls (collectors/hosted/build.py,
at most ``mirror.build_pages`` pages a poll, by default what the budget leaves), each
page stored with the bound and offset the next one starts at, so a restart goes on from
there; the listing of changes is applied meanwhile. Until the build ends a poll stores no
figures (:class:`~collectors.hosted.build.MirrorBuilding`: the daemon moves no
watermark; ``backlog_collector_mirror_build_progress`` says how far it is, from the
``total`` the build's pages ask for). Open by status, the 7/14/30-day
counts, the oldest, median and 90th-percentile ages come from the mirror, read from its
index in memory (``Mirror.created_index``, a group per queue: loaded from the tables once,
then kept current by the mirror's writes, so a poll reads no mirror rows back but those of
the work orders its listing changed); created and resolved in the window from the listed
work orders (every one created or resolved in the window was modified in it). A few
queues a poll are reconciled with a ``limit`` 1 total (open statuses, ``total`` on), so
that every queue is checked once per ``mirror.reconcile_every``; the difference is the
drift (``backlog_collector_mirror_drift``).

Totals are read from ``total`` or ``totalSize`` (clients see both). ``offset`` is always a
multiple of ``limit``, as Fxiaoke requires.

Authentication: ``POST /cgi/corpAccessToken/get/V2`` with ``appId``, ``appSecret`` and
``permanentCode`` (secrets) gives ``corpAccessToken`` and ``corpId`` for ``expiresIn``
(at most 7,200 s); it is fetched again 10 minutes before it expires, and once when a call
answers an invalid-token ``errorCode``. Fxiaoke publishes no rate limit: until it is
known the source throttles itself (``min_interval`` between requests, 0.5 s by default,
and ``budget.requests_per_minute`` 120).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

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
from collectors.hosted.figures import age_cutoffs, queue_stats
from collectors.hosted.mirror import (
    Change,
    CreatedIndex,
    IndexedMirror,
    ResumableMirror,
    sorted_aging,
)
from collectors.hosted.past import OPEN_THEN, refuse_past
from collectors.hosted.rotation import in_slot, per_slot
from collectors.hosted.source import client_options
from config.durations import Duration
from config.secrets import resolve_credential
from monitor.errors import AuthFailed, MappingError

__all__ = ["FxiaokeCollector", "FxiaokeConfig"]

OBJECT = "CasesObj"
PAGE = 100
"""``limit`` at most (Fxiaoke's data/query)."""
KEY = "\x1f"
"""Joins a queue's name and a status value into the mirror's queue key (the mirror keeps
the status that way, so open counts per status come from it too)."""
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
"""Where a new build starts listing (``create_time GTE 0``: every open work order)."""
TOKEN_ERRORS = frozenset({20016, 10006})
"""``errorCode`` values meaning the corpAccessToken is invalid or expired (our reading)."""


class FxiaokeQueue(BaseModel):
    """One queue: a value of the configured queue field."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: str
    name: str


class FxiaokeMirror(BaseModel):
    """The local mirror of open work orders (see the module's docstring)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    modified_field: str = Field(
        "last_modified_time", description="api name of the last-modification time field"
    )
    overlap: Duration = Field(
        timedelta(0),
        description="list this far before the cursor too (changes whose time is written "
        "late); each minute of it re-reads a minute of changes every poll",
    )
    reconcile_every: Duration = Field(
        timedelta(hours=1),
        description="every queue's open total is compared with the mirror once per this "
        "period, a few queues a poll",
    )
    rebuild_above: int | None = Field(
        None,
        ge=1,
        description="rebuild the mirror at the next poll when a queue's drift is larger "
        "than this (None: never by itself; the drift metric is for alerting)",
    )
    build_pages: int | None = build_pages_field("100 open work orders each")

    @field_validator("reconcile_every")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be longer than 0")
        return value

    @field_validator("overlap")
    @classmethod
    def _not_negative(cls, value: timedelta) -> timedelta:
        if value < timedelta(0):
            raise ValueError("must not be negative")
        return value


class FxiaokeConfig(HostedSourceConfig):
    """A Fxiaoke tenant's work orders (``kind: fxiaoke``)."""

    kind: Literal["fxiaoke"]
    base_url: str = Field("https://open.fxiaoke.com", description="another cloud's domain")
    app_id: str
    app_secret: SecretStr | None = None
    app_secret_file: Path | None = None
    app_secret_env: str | None = None
    permanent_code: SecretStr | None = None
    permanent_code_file: Path | None = None
    permanent_code_env: str | None = None
    open_user_id: str = Field(description="currentOpenUserId: the user the queries run as")
    status_field: str = Field(description="api name of the status field (often field_..__c)")
    open_statuses: dict[str, str] = Field(
        min_length=1, description="open status value -> label shown"
    )
    queue_field: str = Field(description="api name of the field naming the queue")
    queues: list[FxiaokeQueue] = Field(min_length=1)
    created_field: str = "create_time"
    resolved_field: str | None = Field(None, description="the resolution time field, if any")
    aging: bool = Field(True, description="oldest open work order and 7/14/30-day counts")
    min_interval: Duration = Field(
        timedelta(milliseconds=500),
        description="at least this between two requests (Fxiaoke publishes no limit)",
    )
    mirror: FxiaokeMirror | None = None
    peak_changes_per_minute: float = peak_changes_field("work orders modified (with mirror:)", 100)
    budget: PlanBudget = PlanBudget(requests_per_minute=120, share=1.0)
    max_wait: Duration = timedelta(seconds=60)

    @model_validator(mode="after")
    def _credentials(self) -> FxiaokeConfig:
        for field in ("app_secret", "permanent_code"):
            value = resolve_credential(
                getattr(self, field),
                getattr(self, f"{field}_file"),
                getattr(self, f"{field}_env"),
                field,
                required=True,
            )
            object.__setattr__(self, field, value)
            object.__setattr__(self, f"{field}_file", None)
            object.__setattr__(self, f"{field}_env", None)
        problem = burst_error(self)
        if problem is not None:
            raise ValueError(f"{problem}, or fewer queues")
        problem = source_pages_error(self)
        if problem is not None:
            raise ValueError(problem)
        return self

    def build_pages_per_poll(self) -> int:
        """Pages of the mirror's build a poll reads (``mirror:`` only)."""
        return source_pages(self)

    def poll_cost(self) -> PollCost:
        if self.mirror is not None:  # the listing's pages and this poll's reconciliations
            span = self.interval + self.mirror.overlap
            calls = listing_pages(self.peak_changes_per_minute * span.total_seconds() / 60, PAGE)
            calls += reconciled_per_poll(len(self.queues), self.interval, self.mirror)
            return PollCost(calls, calls)
        per_queue = len(self.open_statuses) + 1 + (self.resolved_field is not None)
        per_queue += 4 if self.aging else 0
        calls = len(self.queues) * per_queue
        return PollCost(calls, calls)

    def mapped_fields(self) -> dict[str, str]:
        """Configuration key -> field api name, for the describe check."""
        fields = {
            "status_field": self.status_field,
            "queue_field": self.queue_field,
            "created_field": self.created_field,
        }
        if self.resolved_field is not None:
            fields["resolved_field"] = self.resolved_field
        if self.mirror is not None:
            fields["mirror -> modified_field"] = self.mirror.modified_field
        return fields


def reconciled_per_poll(queues: int, interval: timedelta, mirror: FxiaokeMirror) -> int:
    """The most queues one poll reconciles (every queue once per ``reconcile_every``)."""
    return per_slot(queues, interval, mirror.reconcile_every)


def reconciled_at(
    now: datetime, queues: int, interval: timedelta, mirror: FxiaokeMirror
) -> list[int]:
    """The queues (by index) a poll at ``now`` reconciles (:func:`in_slot`)."""
    return in_slot(now, queues, interval, mirror.reconcile_every)


class CorpToken:
    """``corpAccessToken`` and ``corpId``, fetched again 10 minutes before they expire (a
    tenth of their life when that is shorter)."""

    MARGIN = 600.0

    def __init__(self, config: FxiaokeConfig, tokens: HttpClient, clock: Callable[[], float]):
        self._config = config
        self._tokens = tokens
        self._clock = clock
        self.token = self.corp_id = ""
        self._expires = self._margin = 0.0

    def headers(self) -> Mapping[str, str]:
        if not self.token or self._clock() >= self._expires - self._margin:
            self.renew()
        return {}

    def renew(self) -> bool:
        assert self._config.app_secret is not None and self._config.permanent_code is not None
        answer = self._tokens.post(
            "corpAccessToken/get",
            "/cgi/corpAccessToken/get/V2",
            {
                "appId": self._config.app_id,
                "appSecret": self._config.app_secret.get_secret_value(),
                "permanentCode": self._config.permanent_code.get_secret_value(),
            },
        )
        if not isinstance(answer, dict) or answer.get("errorCode") != 0:
            code = answer.get("errorCode") if isinstance(answer, dict) else None
            raise AuthFailed(f"{self._config.name}: Fxiaoke refused the app (errorCode {code})")
        self.token, self.corp_id = str(answer["corpAccessToken"]), str(answer["corpId"])
        life = float(answer.get("expiresIn", 7200))
        self._expires, self._margin = self._clock() + life, min(self.MARGIN, life / 10)
        return True


class PacedSession(requests.Session):
    """Leaves at least ``gap`` seconds between two requests (self-throttling)."""

    def __init__(self, gap: float, clock: Callable[[], float], sleep: Callable[[float], None]):
        super().__init__()
        self._gap, self._clock, self._sleep = gap, clock, sleep
        self._last: float | None = None

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        if self._last is not None:
            wait = self._last + self._gap - self._clock()
            if wait > 0:
                self._sleep(wait)
        self._last = self._clock()
        return super().request(*args, **kwargs)


class FxiaokeCollector(KeepsMirror):
    """Reads per-queue work-order counts from Fxiaoke's CRM query API."""

    kind: ClassVar[str] = "fxiaoke"
    config_model: ClassVar[type[BaseModel]] = FxiaokeConfig

    def __init__(
        self,
        config: FxiaokeConfig,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        common = client_options(config, sleep)
        budget = Budget(config.name, config.budget.per_minute(), None, clock)
        session = PacedSession(config.min_interval.total_seconds(), clock, sleep)
        tokens = HttpClient(
            config.name, config.base_url, auth=NoAuth(), budget=budget, session=session, **common
        )
        self.token = CorpToken(config, tokens, clock)
        self.client = HttpClient(
            config.name,
            config.base_url,
            auth=self.token,
            budget=budget,
            session=session,
            **common,
        )
        tokens.stats = self.client.stats
        self.http_stats = self.client.stats
        self._described = False

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
        if window.historical and self.config.resolved_field is None:
            refuse_past(
                window,
                self.name,
                "Fxiaoke",
                "without resolved_field the work orders closed since cannot be told apart"
                " from those closed before the instant",
            )
        if not self._described:
            self._describe()
        figures = [FigureState("priority", False, "counted per status only", False)]
        if not window.historical and self.config.mirror is not None and self._keeper:
            queues = self._from_mirror(self.config.mirror, self._keeper, window)
        else:
            queues = tuple(
                (self._past if window.historical else self._queue)(q, window)
                for q in self.config.queues
            )
        return Snapshot(
            source=self.name,
            window=window,
            queues=queues,
            exactness="approximate" if window.historical else "exact",
            figures=tuple(figures),
        )

    def close(self) -> None:
        self.client.session.close()

    def _describe(self) -> None:
        data = self._call("object/describe", "/cgi/crm/v2/object/describe", {"apiName": OBJECT})
        try:
            fields = data["describe"]["fields"]
        except (TypeError, KeyError):
            raise MappingError(f"{self.name}: object/describe: no describe.fields") from None
        for key, field in self.config.mapped_fields().items():
            if field not in fields:
                raise MappingError(
                    f"{self.name}: {key}: {OBJECT} has no field {field!r} "
                    "(see object/describe for the tenant's field names)"
                )
        self._described = True

    def _from_mirror(
        self, settings: FxiaokeMirror, keeper: Keeper, window: Window
    ) -> tuple[QueueStats, ...]:
        """Feed the mirror, read a slice of its build while one is under way (no figures
        until it ends), reconcile a few queues, and read every queue's figures."""
        c, now, mirror = self.config, window.end, keeper.mirror
        if not isinstance(mirror, IndexedMirror):
            raise TypeError(f"{self.name}: the mirror keeps no index of creation times")
        keeper.restore_drift()
        cursor = mirror.cursor()
        if cursor is None:  # (re)build: the open work orders of the configured queues
            mirror.reset()
            keeper.start(Resume(EPOCH, {"offset": 0}))
        since = window.start if cursor is None else min(cursor - settings.overlap, window.start)
        changed = self._pages(
            [_filter(settings.modified_field, "GTE", _ms(since))], settings.modified_field
        )
        names = {q.value: q.name for q in c.queues}
        mirror.apply([self._change(row, settings, names) for row in changed], now)
        pages = keeper.build(
            lambda resume, _first: self._build_page(resume, settings, names),
            c.build_pages_per_poll(),
        )
        if not keeper.built:
            raise MirrorBuilding(
                f"{self.name}: building the mirror: {keeper.progress or 0:.1%} listed "
                f"({pages} pages this poll); no figures until it is built",
                keeper.progress or 0.0,
            )
        counted = self._counted(self._latest(changed, settings), window)
        # read before a reset (which leaves this index as it is, and drops it from the
        # mirror): this poll's figures are the mirror's
        index = mirror.created_index(self._groups())
        self._reconcile(settings, keeper, index, now)
        return tuple(self._mirrored(q, index, counted, window) for q in c.queues)

    def _groups(self) -> dict[str, str]:
        """The mirror's queue keys of each queue's open statuses -> the queue's name (its
        index's groups: a queue's open work orders' creation times, sorted)."""
        c = self.config
        return {f"{q.name}{KEY}{value}": q.name for q in c.queues for value in c.open_statuses}

    def _build_page(
        self, resume: Resume, settings: FxiaokeMirror, names: Mapping[str, str]
    ) -> Page:
        """A page of the build: open work orders of the configured queues created at the
        resume point's time or later, oldest first, at its offset; the next page starts
        at this one's newest ``create_time`` (the ties read again), or at the next offset
        while a whole page shares one time. ``total`` on: the progress."""
        c = self.config
        bound = (resume.at - EPOCH) // timedelta(milliseconds=1)
        offset = int(resume.position.get("offset", 0))
        listed = int(resume.position.get("listed", 0))
        filters = [
            _filter(c.queue_field, "IN", *(q.value for q in c.queues)),
            _filter(c.status_field, "IN", *c.open_statuses),
            _filter(c.created_field, "GTE", bound),
        ]
        ascending = [{"fieldName": c.created_field, "isAsc": True}]
        data = self._query(filters, ascending, PAGE, offset, total=True)
        rows = data.get("dataList") or []
        after: Resume | None = None
        if len(rows) == PAGE:
            first, last = _int(rows[0].get(c.created_field)), _int(rows[-1].get(c.created_field))
            if last > first:
                after = Resume(_from_ms(self.name, last), {"offset": 0})
            else:
                after = Resume(resume.at, {"offset": offset + PAGE})
        listed += len(rows)
        selected = _int(data.get("total", data.get("totalSize")))
        left = max(0, selected - offset - len(rows))
        progress = 1.0 if after is None else listed / max(1, listed + left)
        if after is not None:
            after = Resume(after.at, {**after.position, "listed": listed})
        return Page([self._change(row, settings, names) for row in rows], after, progress)

    def _latest(self, rows: list[dict[str, Any]], settings: FxiaokeMirror) -> list[dict[str, Any]]:
        """One row a work order (its latest: listings overlap)."""
        latest: dict[str, dict[str, Any]] = {}
        for row in rows:
            key, field = str(row.get("_id")), settings.modified_field
            held = latest.get(key)
            if held is None or _int(row.get(field)) >= _int(held.get(field)):
                latest[key] = row
        return list(latest.values())

    def _counted(
        self, rows: list[dict[str, Any]], window: Window
    ) -> dict[str, tuple[int, int | None]]:
        """Created and resolved in the window per queue value, from the changed rows."""
        c = self.config
        start, end = _ms(window.start), _ms(window.end)
        by_queue: dict[str, list[dict[str, Any]]] = {}
        for row in rows:
            by_queue.setdefault(str(row.get(c.queue_field)), []).append(row)
        out: dict[str, tuple[int, int | None]] = {}
        for q in c.queues:
            mine = by_queue.get(q.value, [])
            created = sum(start <= _int(r.get(c.created_field)) < end for r in mine)
            resolved = None
            if c.resolved_field is not None:
                field = c.resolved_field
                resolved = sum(
                    str(r.get(c.status_field)) not in c.open_statuses
                    and r.get(field) is not None
                    and start <= _int(r.get(field)) < end
                    for r in mine
                )
            out[q.value] = (created, resolved)
        return out

    def _reconcile(
        self,
        settings: FxiaokeMirror,
        keeper: Keeper,
        index: CreatedIndex,
        now: datetime,
    ) -> None:
        """Compare the open totals of the queues whose turn it is with the mirror's (every
        key of the queue's name, whatever its status)."""
        c = self.config
        chosen = reconciled_at(now, len(c.queues), c.interval, settings)
        if not chosen:
            return
        held: dict[str, int] = {}
        for queue, count in index.counts().items():
            name = queue.split(KEY, 1)[0]
            held[name] = held.get(name, 0) + count
        measured: dict[str, int] = {}
        for j in chosen:
            q = c.queues[j]
            total = self._total(
                [
                    _filter(c.queue_field, "EQ", q.value),
                    _filter(c.status_field, "IN", *c.open_statuses),
                ]
            )
            measured[q.name] = held.get(q.name, 0) - total
        keeper.record(measured, now)

    def _mirrored(
        self,
        queue: FxiaokeQueue,
        index: CreatedIndex,
        counted: Mapping[str, tuple[int, int | None]],
        window: Window,
    ) -> QueueStats:
        c, end = self.config, window.end
        counts = {
            label: index.count(f"{queue.name}{KEY}{value}")
            for value, label in c.open_statuses.items()
        }
        created, resolved = counted[queue.value]
        stats = queue_stats(queue.name, counts, created, 0, end)
        if not c.aging:
            return QueueStats(**{**stats.__dict__, "resolved": resolved})
        found = sorted_aging(index.created(queue.name), end)
        stats = queue_stats(
            queue.name,
            counts,
            created,
            0,
            end,
            older_than=found.older_than,
            oldest_created=found.oldest_created,
        )
        return QueueStats(
            **{**stats.__dict__, "resolved": resolved, "age_quantiles": found.quantiles}
        )

    def _change(
        self, row: Mapping[str, Any], settings: FxiaokeMirror, names: Mapping[str, str]
    ) -> Change:
        """A listed row as a change of the mirror (``names``: queue value -> name)."""
        c = self.config
        try:
            ticket = str(row["_id"])
            created = _from_ms(self.name, row[c.created_field])
            modified = _from_ms(self.name, row[settings.modified_field])
        except KeyError as err:
            raise MappingError(f"{self.name}: data/query: a work order without {err}") from None
        value, status = str(row.get(c.queue_field)), str(row.get(c.status_field))
        name = names.get(value)
        is_open = name is not None and status in c.open_statuses
        return Change(ticket, f"{name or value}{KEY}{status}", created, modified, is_open)

    def _pages(self, filters: list[dict[str, Any]], field: str) -> list[dict[str, Any]]:
        """Every row ``filters`` select, sorted by ``field`` ascending, 100 a page: after a
        full page the next one starts at the last row's ``field`` (``GTE``; its rows are
        read again), at a further offset only while a whole page shares one value."""
        ascending = [{"fieldName": field, "isAsc": True}]
        out: list[dict[str, Any]] = []
        bound: list[dict[str, Any]] = []
        offset = 0
        while True:
            data = self._query(filters + bound, ascending, PAGE, offset, total=False)
            rows = data.get("dataList") or []
            out.extend(rows)
            if len(rows) < PAGE:
                return out
            first, last = _int(rows[0].get(field)), _int(rows[-1].get(field))
            if last > first:
                bound, offset = [_filter(field, "GTE", last)], 0
            else:
                offset += PAGE

    def _queue(self, queue: FxiaokeQueue, window: Window) -> QueueStats:
        c = self.config
        mine = _filter(c.queue_field, "EQ", queue.value)
        counts = {
            label: self._total([mine, _filter(c.status_field, "EQ", value)])
            for value, label in c.open_statuses.items()
        }
        start, end = _ms(window.start), _ms(window.end)
        created = self._total(
            [
                mine,
                _filter(c.created_field, "GTE", start),
                _filter(c.created_field, "LT", end),
            ]
        )
        resolved = None
        if c.resolved_field is not None:
            resolved = self._total(
                [
                    mine,
                    _filter(c.status_field, "NIN", *c.open_statuses),
                    _filter(c.resolved_field, "GTE", start),
                    _filter(c.resolved_field, "LT", end),
                ]
            )
        older = oldest = None
        if c.aging:
            opened = _filter(c.status_field, "IN", *c.open_statuses)
            older = {
                name: self._total([mine, opened, _filter(c.created_field, "LT", _ms(cutoff))])
                for name, cutoff in age_cutoffs(window.end).items()
            }
            ascending = [{"fieldName": c.created_field, "isAsc": True}]
            rows = self._query([mine, opened], orders=ascending).get("dataList") or []
            oldest = _from_ms(self.name, rows[0].get(c.created_field)) if rows else None
        stats = queue_stats(
            queue.name, counts, created, 0, window.end, older_than=older, oldest_created=oldest
        )
        return QueueStats(**{**stats.__dict__, "resolved": resolved})

    def _past(self, queue: FxiaokeQueue, window: Window) -> QueueStats:
        """As of ``window.end`` (``T``): open then = an open status now and created before
        ``T``, plus a closed status now with ``resolved_field`` at or after ``T`` and created
        before ``T``; aging and the oldest likewise; the flow over the window. The status
        then is not known: reported under :data:`OPEN_THEN`, in today's queue."""
        c = self.config
        assert c.resolved_field is not None  # refused in collect otherwise
        mine = _filter(c.queue_field, "EQ", queue.value)
        at = _ms(window.end)
        still = [mine, _filter(c.status_field, "IN", *c.open_statuses)]
        since = [
            mine,
            _filter(c.status_field, "NIN", *c.open_statuses),
            _filter(c.resolved_field, "GTE", at),
        ]

        def before(instant: int) -> list[dict[str, Any]]:
            return [_filter(c.created_field, "LT", instant)]

        open_then = self._total(still + before(at)) + self._total(since + before(at))
        start = _ms(window.start)
        created = self._total(
            [mine, _filter(c.created_field, "GTE", start), _filter(c.created_field, "LT", at)]
        )
        resolved = self._total(
            [
                mine,
                _filter(c.status_field, "NIN", *c.open_statuses),
                _filter(c.resolved_field, "GTE", start),
                _filter(c.resolved_field, "LT", at),
            ]
        )
        older = oldest = None
        if c.aging:
            older = {
                name: sum(self._total(f + before(_ms(cutoff))) for f in (still, since))
                for name, cutoff in age_cutoffs(window.end).items()
            }
            ascending = [{"fieldName": c.created_field, "isAsc": True}]
            firsts = []
            for part in (still, since):
                rows = self._query(part + before(at), orders=ascending).get("dataList") or []
                if rows:
                    firsts.append(_from_ms(self.name, rows[0].get(c.created_field)))
            oldest = min((f for f in firsts if f is not None), default=None)
        return queue_stats(
            queue.name,
            {OPEN_THEN: open_then},
            created,
            resolved,
            window.end,
            older_than=older,
            oldest_created=oldest,
        )

    def _total(self, filters: list[dict[str, Any]]) -> int:
        data = self._query(filters)
        total: Any = data.get("total", data.get("totalSize"))
        try:
            return int(total)
        except (TypeError, ValueError):
            raise MappingError(f"{self.name}: data/query: no total in the answer") from None

    def _query(
        self,
        filters: list[dict[str, Any]],
        orders: list[dict[str, Any]] | None = None,
        limit: int = 1,
        offset: int = 0,
        total: bool = True,
    ) -> dict[str, Any]:
        info: dict[str, Any] = {"limit": limit, "offset": offset, "filters": filters}
        if orders:
            info["orders"] = orders
        body = {
            "dataObjectApiName": OBJECT,
            "search_query_info": info,
            "find_explicit_total_num": total,
        }
        data = self._call("data/query", "/cgi/crm/v2/data/query", {"data": body})
        if not isinstance(data, dict):
            raise MappingError(f"{self.name}: data/query: no data in the answer")
        return data

    def _call(self, endpoint: str, path: str, body: dict[str, Any]) -> Any:
        """POST with the token in the body; an invalid-token errorCode renews it once."""
        for attempt in (0, 1):
            self.token.headers()  # a token that is about to expire is renewed first
            full = {
                "corpAccessToken": self.token.token,
                "corpId": self.token.corp_id,
                "currentOpenUserId": self.config.open_user_id,
                **body,
            }
            answer = self.client.post(endpoint, path, full)
            code = answer.get("errorCode") if isinstance(answer, dict) else None
            if code == 0:
                return answer.get("data")
            if code in TOKEN_ERRORS and attempt == 0:
                self.token.renew()
                continue
            raise MappingError(f"{self.name}: {endpoint}: Fxiaoke answered errorCode {code}")
        raise AssertionError("unreachable")


def _filter(field: str, operator: str, *values: Any) -> dict[str, Any]:
    return {"field_name": field, "operator": operator, "field_values": list(values)}


def _ms(instant: datetime) -> int:
    return int(instant.timestamp() * 1000)


def _int(value: Any) -> int:
    """An epoch-ms time of a row (-1 when absent: before every window)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return -1


def _from_ms(source: str, value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (TypeError, ValueError):
        raise MappingError(f"{source}: unreadable time {value!r}") from None
