"""A fake Fxiaoke (纷享销客) CRM fed from the ServiceNow incident log (UCI).

Mapping, as a tenant with a customised work-order object (``CasesObj``) would have it: the
queue field is ``owner_department`` (the incident's ``assignment_group``); the status is
the custom ``field_status__c`` (New: 1, Active and ``-100``: 2, the Awaiting states: 3,
Resolved: 4, Closed: 5); ``create_time`` is ``opened_at`` and the custom
``field_resolved_time__c`` when the incident last became Resolved or Closed (epoch ms).

The API part: ``POST /cgi/corpAccessToken/get/V2`` (``appId``, ``appSecret``,
``permanentCode``; ``expiresIn`` 7200, tokens dropped by the clock), ``POST
/cgi/crm/v2/object/describe`` (the object's fields) and ``POST /cgi/crm/v2/data/query``
(``filters`` with EQ IN NIN GT GTE LT LTE, ``orders``, ``limit`` at most 100 and
``offset`` a multiple of it, ``total`` when ``find_explicit_total_num``; each row carries
``_id``, the queue and status fields, ``create_time``, ``last_modified_time`` and the
resolution time, so ``last_modified_time`` filters and orders feed a mirror). Every answer is
HTTP 200 with ``errorCode`` (0: success; 20016: token invalid or expired; 20005: bad
paging; 20007: no such field).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import pandas as pd

from collectors.base import QueueStats
from tests.collectors.fakeserver import Call, Reply
from tests.collectors.stores.zendesk import group_names, servicenow_log
from tests.collectors.ticketlog import TicketLog

APP_ID = "FSAID_131e2a1"
SECRET = "PLANTED-fxiaoke-secret-a41c"
PERMANENT = "PLANTED-fxiaoke-permanent-77b0"
CORP = "FSCID_5E1D"
STATUS_CODES = {"new": "1", "open": "2", "pending": "3", "hold": "3", "solved": "4", "closed": "5"}
LABELS = {"1": "新建", "2": "处理中", "3": "等待客户"}
COLUMNS = {
    "owner_department": "queue",
    "field_status__c": "status",
    "create_time": "created_ms",
    "field_resolved_time__c": "resolved_ms",
    "last_modified_time": "modified_ms",
    "_id": "id",
}


@cache
def fxiaoke_log() -> TicketLog:
    """The ServiceNow incidents with the tenant's status codes."""
    events = servicenow_log().events.drop(columns=["enters_done"])
    code = events["status"].map(STATUS_CODES)
    return TicketLog(events.assign(status=code, label=code.map(LABELS).fillna("")))


def queues(n: int) -> list[dict[str, str]]:
    return [{"value": g, "name": g} for g in group_names(servicenow_log())[:n]]


def _ms(column: pd.Series) -> pd.Series:
    return (column - pd.Timestamp("1970-01-01", tz="UTC")) // pd.Timedelta(milliseconds=1)


@dataclass
class FakeFxiaoke:
    """The open API over the log at ``clock()``."""

    clock: Callable[[], datetime]
    token_life: float = 7200.0
    announced_life: float | None = None
    """What ``expiresIn`` says, when tokens are dropped earlier than announced."""
    total_key: str = "total"
    """``totalSize`` plays the tenants whose answers name the total so."""
    missing_field: str | None = None
    """A field the tenant's object does not have (left out of describe and queries)."""
    storm: tuple[datetime, datetime] | None = None
    """While the clock is in ``[start, end)`` every call gets HTTP 429 with ``Retry-After``
    up to the end (Fxiaoke documents no limit; this plays a gateway throttling)."""
    log: TicketLog = field(default_factory=fxiaoke_log)
    tokens: dict[str, datetime] = field(default_factory=dict)
    refused: int = 0

    def __call__(self, call: Call) -> Reply:
        body = call.json() or {}
        if call.path == "/cgi/corpAccessToken/get/V2":
            return self._token(body)
        if self.storm is not None and self.storm[0] <= self.clock() < self.storm[1]:
            wait = (self.storm[1] - self.clock()).total_seconds()
            return Reply(429, {"errorCode": 429}, {"Retry-After": f"{wait:.0f}"})
        expires = self.tokens.get(str(body.get("corpAccessToken")))
        if expires is None or self.clock() >= expires or body.get("corpId") != CORP:
            self.refused += 1
            return Reply(200, {"errorCode": 20016, "errorMessage": "corpAccessToken invalid"})
        if not body.get("currentOpenUserId"):
            return Reply(200, {"errorCode": 20003, "errorMessage": "currentOpenUserId missing"})
        if call.path == "/cgi/crm/v2/object/describe":
            return self._describe(body)
        if call.path == "/cgi/crm/v2/data/query":
            return self._query(body.get("data") or {})
        return Reply(404, {"errorCode": 404, "errorMessage": "not found"})

    def _fields(self) -> list[str]:
        return [f for f in [*COLUMNS, "name", "owner", "life_status"] if f != self.missing_field]

    def _token(self, body: dict[str, Any]) -> Reply:
        if (body.get("appId"), body.get("appSecret"), body.get("permanentCode")) != (
            APP_ID,
            SECRET,
            PERMANENT,
        ):
            return Reply(200, {"errorCode": 20001, "errorMessage": "app credentials invalid"})
        token = f"fx-corp-token-{len(self.tokens)}"
        self.tokens[token] = self.clock() + timedelta(seconds=self.token_life)
        return Reply(
            200,
            {
                "errorCode": 0,
                "corpAccessToken": token,
                "corpId": CORP,
                "expiresIn": self.announced_life or self.token_life,
            },
        )

    def _describe(self, body: dict[str, Any]) -> Reply:
        if body.get("apiName") != "CasesObj":
            return Reply(200, {"errorCode": 20006, "errorMessage": "object not found"})
        fields = {name: {"api_name": name, "type": "text"} for name in self._fields()}
        fields["field_status__c"] = {
            "api_name": "field_status__c",
            "type": "select_one",
            "options": [{"value": v, "label": v} for v in sorted(set(STATUS_CODES.values()))],
        }
        if self.missing_field in fields:
            del fields[self.missing_field]
        return Reply(
            200, {"errorCode": 0, "data": {"describe": {"api_name": "CasesObj", "fields": fields}}}
        )

    def _state(self) -> pd.DataFrame:
        state = self.log.state_at(self.clock())
        return state.assign(
            created_ms=_ms(state["created"]),
            resolved_ms=_ms(state["resolved"]),
            modified_ms=_ms(state["modified"]),
        )

    def _query(self, data: dict[str, Any]) -> Reply:
        if data.get("dataObjectApiName") != "CasesObj":
            return Reply(200, {"errorCode": 20006, "errorMessage": "object not found"})
        info = data.get("search_query_info") or {}
        limit, offset = int(info.get("limit", 20)), int(info.get("offset", 0))
        if not 1 <= limit <= 100 or offset % limit:
            return Reply(200, {"errorCode": 20005, "errorMessage": "offset % limit != 0"})
        state = self._state()
        for rule in info.get("filters") or []:
            name = rule.get("field_name")
            if name not in COLUMNS or name == self.missing_field:
                return Reply(200, {"errorCode": 20007, "errorMessage": f"no field {name}"})
            state = state[_match(state[COLUMNS[name]], rule["operator"], rule["field_values"])]
        for order in reversed(info.get("orders") or []):
            state = state.sort_values(
                COLUMNS[order["fieldName"]], ascending=bool(order.get("isAsc")), kind="stable"
            )
        rows = state.iloc[offset : offset + limit]
        answer: dict[str, Any] = {
            "offset": offset,
            "limit": limit,
            "dataList": [
                {
                    "_id": str(r.id),
                    "owner_department": r.queue,
                    "field_status__c": r.status,
                    "create_time": int(r.created_ms),
                    "last_modified_time": int(r.modified_ms),
                    "field_resolved_time__c": (
                        None if pd.isna(r.resolved_ms) else int(r.resolved_ms)
                    ),
                }
                for r in rows.itertuples()
            ],
        }
        if data.get("find_explicit_total_num", True):
            answer[self.total_key] = len(state)
        return Reply(200, {"errorCode": 0, "errorMessage": "OK", "data": answer})


def _match(column: pd.Series, operator: str, values: list[Any]) -> pd.Series:
    numeric = pd.api.types.is_numeric_dtype(column)
    given = [float(v) if numeric else str(v) for v in values]
    tests = {
        "EQ": lambda: column == given[0],
        "IN": lambda: column.isin(given),
        "NIN": lambda: ~column.isin(given),
        "GT": lambda: column > given[0],
        "GTE": lambda: column >= given[0],
        "LT": lambda: column < given[0],
        "LTE": lambda: column <= given[0],
    }
    return tests[operator]().fillna(False).astype(bool)


class Kit:
    """What the case harness needs to run a Fxiaoke case."""

    secrets = (SECRET, PERMANENT)
    environment = {"FXIAOKE_APP_SECRET": SECRET, "FXIAOKE_PERMANENT_CODE": PERMANENT}

    def app(self, clock: Callable[[], datetime], quirks: dict[str, Any]) -> FakeFxiaoke:
        return FakeFxiaoke(clock, **quirks)

    def config(self, url: str, case: dict[str, Any]) -> dict[str, Any]:
        base = {
            "kind": "fxiaoke",
            "name": "fxiaoke",
            "base_url": url,
            "app_id": APP_ID,
            "app_secret_env": "FXIAOKE_APP_SECRET",
            "permanent_code_env": "FXIAOKE_PERMANENT_CODE",
            "open_user_id": "FSUID_0001",
            "status_field": "field_status__c",
            "open_statuses": dict(LABELS),
            "queue_field": "owner_department",
            "resolved_field": "field_resolved_time__c",
            "queues": queues(int(case.get("queues", 20))),
        }
        return {**base, **case.get("config", {})}

    def queues(self, config: Any) -> list[tuple[str, str]]:
        return [(q.value, q.name) for q in config.queues]

    def log(self) -> TicketLog:
        return fxiaoke_log()

    def expected(self, config: Any, window: Any, queue: QueueStats) -> QueueStats:
        """Without a mapped resolution field, resolved is absent (None), never 0."""
        if config.resolved_field is not None:
            return queue
        return replace(queue, resolved=None)
