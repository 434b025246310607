"""A fake Udesk fed from the BPI 2013 (Volvo IT) incident log.

Mapping: a queue (Udesk's user group) is the log's support team (``Involved ST``); the
Udesk status follows the incident status (Queued: ``open``, Accepted: ``solving``,
Completed: ``resolved``, or ``closed`` for the Closed and Cancelled sub-statuses).
Filters are those the docs tell the user to create: per team and open status, "user
group is T and status is S", with id ``7000 + 10 * rank + status_id`` (status ids 1 open,
4 solving).

The API part: ``POST /open_api_v1/log_in`` (email and password in JSON; ``code`` 1000 and
``open_api_auth_token``, a wrong password: code 2001), and ``GET /open_api_v1/tickets/
tickets_in_filter`` checked as Udesk documents its v2 signature: ``email``, ``timestamp``
within 5 minutes of the server's clock, ``nonce`` never seen in 15 minutes, ``sign_version
=v2`` and ``sign`` = SHA-256 of ``email&token&timestamp&nonce&v2``; a bad signature or a
reused nonce is a 401 with its code, an unknown filter code 2005 (HTTP 200). ``meta`` has
``current_page``, ``total_pages`` and ``total_count``. Over 60 requests in a minute: 429
with code 2429. Tokens can be made to expire (``token_life``).

The mirror's feed: filter :data:`CHANGED` is what the docs tell the user to create for
``mirror:``, "updated in the last day, newest update first", every team and status (a
ticket's update time is its latest event in the log). ``deleted`` holds tickets removed
in Udesk (a deletion or a merge): they leave every filter and count, and no filter shows
that they went (the silent loss a mirror reconciles against).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import pandas as pd

from tests.collectors.fakeserver import Call, Reply
from tests.collectors.stores.zohodesk import team_names
from tests.collectors.ticketlog import TicketLog
from tests.data import BPIC2013_LOG

EMAIL = "ops@example.cn"
PASSWORD = "PLANTED-udesk-password-3e8a"
STATUS_IDS = {"open": 1, "resolved": 2, "closed": 3, "solving": 4}
OPEN = ("open", "solving")
CHANGED = 6001
"""The "updated in the last day, newest first" filter (below every queue filter's id:
those run from 7000 up to 13494 for the log's 649 teams)."""


@cache
def udesk_log() -> TicketLog:
    """The Volvo incidents with Udesk's statuses."""
    raw = pd.read_csv(BPIC2013_LOG, dtype=str, keep_default_na=False)
    closed = raw["Sub Status"].isin(["Closed", "Cancelled"])
    status = (
        raw["Status"]
        .map({"Queued": "open", "Accepted": "solving", "Completed": "resolved"})
        .fillna("solving")
        .mask((raw["Status"] == "Completed") & closed, "closed")
    )
    return TicketLog(
        pd.DataFrame(
            {
                "id": raw["SR Number"],
                "at": pd.to_datetime(raw["Change Date+Time"], utc=True),
                "queue": raw["Involved ST"],
                "status": status,
                "label": status,
                "priority": raw["SR Latest Impact"],
                "done": raw["Status"] == "Completed",
            }
        )
    )


def filter_id(rank: int, status: str) -> int:
    return 7000 + 10 * rank + STATUS_IDS[status]


def queues(n: int) -> list[dict[str, Any]]:
    """The ``n`` busiest teams, each with its two filters."""
    return [
        {"name": team, "filters": {s: filter_id(i, s) for s in OPEN}}
        for i, team in enumerate(team_names(udesk_log())[:n])
    ]


@dataclass
class FakeUdesk:
    """The open API over the log at ``clock()``."""

    clock: Callable[[], datetime]
    per_minute: int = 60
    token_life: float | None = None
    storm: tuple[datetime, datetime] | None = None
    """While the clock is in ``[start, end)`` every request gets 429 (no Retry-After)."""
    log: TicketLog = field(default_factory=udesk_log)
    tokens: dict[str, datetime | None] = field(default_factory=dict)
    nonces: dict[str, datetime] = field(default_factory=dict)
    minute_calls: dict[str, int] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    deleted: set[str] = field(default_factory=set)
    changed_oldest_first: bool = False
    """The changed filter sorted the wrong way (a user's mistake in the console)."""

    def __call__(self, call: Call) -> Reply:
        if self.storm is not None and self.storm[0] <= self.clock() < self.storm[1]:
            return Reply(429, {"code": 2429, "message": "too many requests"})
        if self._over_limit():
            return Reply(429, {"code": 2429, "message": "too many requests"})
        if call.path == "/open_api_v1/log_in":
            return self._log_in(call.json() or {})
        problem = self._check_sign(call)
        if problem is not None:
            self.refused.append(problem)
            return Reply(401, {"code": 2002, "message": problem})
        if call.path == "/open_api_v1/tickets/tickets_in_filter":
            return self._in_filter(call)
        return Reply(404, {"code": 2404, "message": "not found"})

    def _over_limit(self) -> bool:
        minute = self.clock().strftime("%Y%m%d%H%M")
        used = self.minute_calls.get(minute, 0)
        self.minute_calls[minute] = used + 1
        return used >= self.per_minute

    def _log_in(self, body: dict[str, Any]) -> Reply:
        if body.get("email") != EMAIL or body.get("password") != PASSWORD:
            return Reply(200, {"code": 2001, "message": "wrong email or password"})
        token = f"udesk-token-{len(self.tokens)}"
        life = self.token_life
        self.tokens[token] = None if life is None else self.clock() + timedelta(seconds=life)
        return Reply(200, {"code": 1000, "open_api_auth_token": token})

    def _check_sign(self, call: Call) -> str | None:
        email, stamp, nonce = call.arg("email"), call.arg("timestamp"), call.arg("nonce")
        if email != EMAIL or not stamp or not nonce or call.arg("sign_version") != "v2":
            return "missing signature parameters"
        now = self.clock()
        if abs(now.timestamp() - int(stamp)) > 300:
            return "timestamp too far from the server's clock"
        for seen, at in list(self.nonces.items()):
            if at < now - timedelta(minutes=15):
                del self.nonces[seen]
        if nonce in self.nonces:
            return "nonce already used"
        self.nonces[nonce] = now
        for token, expires in self.tokens.items():
            digest = hashlib.sha256(f"{email}&{token}&{stamp}&{nonce}&v2".encode()).hexdigest()
            if call.arg("sign") == digest:
                return None if expires is None or now < expires else "token expired"
        return "bad signature"

    def _in_filter(self, call: Call) -> Reply:
        try:
            number = int(call.arg("filter_id") or "")
            per_page = min(100, int(call.arg("per_page", "20") or 20))
            page = int(call.arg("page", "1") or 1)
        except ValueError:
            return Reply(200, {"code": 2003, "message": "bad parameters"})
        if number == CHANGED:
            rows = self.log.state_at(self.clock())
            rows = rows[rows["modified"] >= pd.Timestamp(self.clock() - timedelta(days=1))]
            newest_first = not self.changed_oldest_first
            rows = rows.sort_values(["modified", "id"], ascending=[not newest_first, True])
        else:
            teams = team_names(self.log)
            rank, status_id = divmod(number - 7000, 10)
            statuses = {v: k for k, v in STATUS_IDS.items()}
            if not 0 <= rank < len(teams) or status_id not in statuses:
                return Reply(200, {"code": 2005, "message": "filter does not exist"})
            rows = self.log.queue_state_at(self.clock(), teams[rank])
            rows = rows[rows["status"] == statuses[status_id]].sort_values("id")
        rows = rows[~rows["id"].isin(self.deleted)]
        chosen = rows.iloc[(page - 1) * per_page : page * per_page]
        contents = [
            {
                "id": str(r.id),
                "status": r.status,
                "status_id": STATUS_IDS[r.status],
                "user_group_name": r.queue,
                "created_at": _udesk_time(r.created),
                "updated_at": _udesk_time(r.modified),
            }
            for r in chosen.itertuples()
        ]
        meta = {
            "current_page": page,
            "total_pages": (len(rows) + per_page - 1) // per_page,
            "total_count": len(rows),
        }
        return Reply(200, {"code": 1000, "meta": meta, "contents": contents})


def _udesk_time(at: pd.Timestamp) -> str:
    return at.tz_convert("Asia/Shanghai").strftime("%Y-%m-%d %H:%M:%S %z")


def expected(log: TicketLog, config: Any, window: Any) -> tuple[Any, ...]:
    """Open tickets per queue and status at the window's end, with pandas; the rest None."""
    from collectors.base import QueueStats

    state = log.state_at(window.end)
    out = []
    for queue in config.queues:
        mine = state[(state["queue"] == queue.name) & ~state["done"]]
        counts = mine.groupby("status").size()
        out.append(
            QueueStats(
                queue=queue.name,
                open_by_status_priority={
                    (s, ""): int(counts[s]) for s in queue.filters if counts.get(s, 0)
                },
            )
        )
    return tuple(out)


class Kit:
    """What the case harness needs to run a Udesk case."""

    secrets = (PASSWORD,)
    environment = {"UDESK_PASSWORD": PASSWORD}

    def app(self, clock: Callable[[], datetime], quirks: dict[str, Any]) -> FakeUdesk:
        return FakeUdesk(clock, **quirks)

    def config(self, url: str, case: dict[str, Any]) -> dict[str, Any]:
        base = {
            "kind": "udesk",
            "name": "udesk",
            "base_url": url,
            "email": EMAIL,
            "password_env": "UDESK_PASSWORD",
            "queues": queues(int(case.get("queues", 20))),
        }
        return {**base, **case.get("config", {})}

    def queues(self, config: Any) -> list[tuple[str, str]]:
        return [(q.name, q.name) for q in config.queues]

    def log(self) -> TicketLog:
        return udesk_log()

    def expected_snapshot(self, config: Any, window: Any) -> tuple[Any, ...]:
        return expected(self.log(), config, window)
