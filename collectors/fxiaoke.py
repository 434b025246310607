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
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from collectors.base import FigureState, QueueStats, Snapshot, Window
from collectors.hosted import Budget, HostedSourceConfig, HttpClient, NoAuth, PlanBudget, PollCost
from collectors.hosted.config import burst_error
from collectors.hosted.figures import age_cutoffs, queue_stats
from collectors.hosted.past import OPEN_THEN, refuse_past
from collectors.hosted.source import client_options
from config.durations import Duration
from config.secrets import resolve_credential
from monitor.errors import AuthFailed, MappingError

__all__ = ["FxiaokeCollector", "FxiaokeConfig"]

OBJECT = "CasesObj"
TOKEN_ERRORS = frozenset({20016, 10006})
"""``errorCode`` values meaning the corpAccessToken is invalid or expired (our reading)."""


class FxiaokeQueue(BaseModel):
    """One queue: a value of the configured queue field."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: str
    name: str


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
        return self

    def poll_cost(self) -> PollCost:
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
        return fields


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


class FxiaokeCollector:
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
        return Snapshot(
            source=self.name,
            window=window,
            queues=tuple(
                (self._past if window.historical else self._queue)(q, window)
                for q in self.config.queues
            ),
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
        self, filters: list[dict[str, Any]], orders: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        info: dict[str, Any] = {"limit": 1, "offset": 0, "filters": filters}
        if orders:
            info["orders"] = orders
        body = {
            "dataObjectApiName": OBJECT,
            "search_query_info": info,
            "find_explicit_total_num": True,
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


def _from_ms(source: str, value: Any) -> datetime:
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (TypeError, ValueError):
        raise MappingError(f"{source}: unreadable time {value!r}") from None
