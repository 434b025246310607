"""GitHub issue counts through GraphQL: many searches in one request, on a points budget.

``POST /graphql`` (GitHub Enterprise Server: ``/api/graphql``) with one aliased
``search(query:, type: ISSUE) { issueCount }`` per count, up to ``graphql_batch`` of them
in one request, and ``rateLimit { limit cost remaining resetAt }``::

    query Counts($q0: String!, $q1: String!) {
      q0: search(query: $q0, type: ISSUE) { issueCount }
      q1: search(query: $q1, type: ISSUE, first: 1) {
        issueCount nodes { ... on Issue { createdAt } } }
      rateLimit { limit cost remaining resetAt }
    }

The oldest open issue is the first node of a search with ``sort:created-asc`` in its
query string (GraphQL's ``search`` takes no sort argument). The query strings travel as
variables, so no label needs escaping inside the document.

GraphQL has its own primary limit, in points an hour per user or installation (5,000 for
a personal token; 5,000 to 12,500 for an app installation), separate from REST's 30
searches a minute. A query's cost is the requests its connections need, divided by 100
and rounded, at least 1: a request of up to ``graphql_batch`` (at most 100) counts costs
1 point. :class:`PointBudget` keeps an hour's points per token (every GitHub source of the
token shares it, as the searches' budget) and the store's own word (``rateLimit``), and
says how long to wait before a request.

What GitHub answers, and what this module does:

- ``200`` with ``data``: each alias's ``issueCount`` (there is no ``incomplete_results``
  in GraphQL: a search that fails comes back as ``null`` data for its alias and an entry
  in ``errors`` whose ``path`` names it) -> :class:`~monitor.errors.SourceUnavailable`
  for the poll: no figure from a failed search, the daemon counts the window again;
- ``200`` with ``errors`` of ``type: RATE_LIMITED`` (the points are spent) -> the budget
  waits until ``X-RateLimit-Reset`` (or ``rateLimit.resetAt``);
  :class:`~monitor.errors.RateLimited` when that is over ``max_wait``;
- ``200`` with other ``errors`` and no data (a query GitHub refuses) ->
  :class:`~monitor.errors.MappingError`;
- ``403``/``429`` for a secondary limit (``Retry-After``, or a minute): the HTTP client's
  rate-limit handling, as for REST.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from collectors.hosted import HttpClient
from monitor.errors import MappingError, RateLimited, SourceUnavailable

__all__ = [
    "GraphQLCounts",
    "PointBudget",
    "Search",
    "graphql_path",
    "request_cost",
    "shared_points",
]

HOUR = 3600.0
POINTS_PER_HOUR = 5000
"""GitHub's GraphQL limit for a personal access token (an installation's is 5,000 or more)."""


@dataclass(frozen=True)
class Search:
    """One count: a search query string, and whether to read the oldest issue too."""

    query: str
    oldest_first: bool = False


@dataclass(frozen=True)
class Answer:
    """What one search said: the count and, when asked, the oldest issue's creation."""

    total: int
    oldest: datetime | None = None
    incomplete: bool = False


def graphql_path(api_url: str) -> tuple[str, str]:
    """The GraphQL endpoint's root and path for a REST ``api_url``: ``api.github.com`` ->
    ``/graphql``; GitHub Enterprise Server's ``https://HOST/api/v3`` -> ``/api/graphql``."""
    root = api_url.rstrip("/")
    if root.endswith("/api/v3"):
        return root.removesuffix("/api/v3"), "/api/graphql"
    return root, "/graphql"


def request_cost(searches: int) -> int:
    """GitHub's points for one request of ``searches`` aliased searches (one request per
    connection, first at most 1, so ``searches / 100`` rounded, at least 1)."""
    return max(1, math.floor(searches / 100 + 0.5))


@dataclass
class PointBudget:
    """GraphQL points of one token: an hour's sliding count of ours and the store's word.

    Attributes:
        source: a source's name (for error messages).
        per_hour: points this daemon may use in any hour (None: no limit of ours).
        clock: epoch seconds now.
    """

    source: str
    per_hour: int | None
    clock: Callable[[], float]
    _spent: deque[tuple[float, int]] = field(default_factory=deque)
    _store_left: int | None = None
    _store_reset: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def wait(self, cost: int) -> float:
        """Seconds until a request costing ``cost`` points may be sent (0 = now)."""
        now = self.clock()
        with self._lock:
            while self._spent and self._spent[0][0] <= now - HOUR:
                self._spent.popleft()
            waits = [0.0]
            if self.per_hour is not None:
                over = sum(c for _, c in self._spent) + cost - self.per_hour
                for at, spent in self._spent:  # the oldest points age out first
                    if over <= 0:
                        break
                    over -= spent
                    waits.append(at + HOUR - now)
            if self._store_left is not None and self._store_left < cost:
                waits.append(self._store_reset - now)
            return max(waits)

    def spend(self, cost: int) -> None:
        """Record a request of ``cost`` points sent now."""
        with self._lock:
            self._spent.append((self.clock(), cost))
            if self._store_left is not None:
                self._store_left -= cost

    def observe(self, cost: int, remaining: int, reset_at: float) -> None:
        """What ``rateLimit`` said after the latest request: its real cost replaces the
        estimate, and the points left until ``reset_at`` bound the next requests."""
        with self._lock:
            if self._spent:
                at, _ = self._spent.pop()
                self._spent.append((at, cost))
            self._store_left, self._store_reset = remaining, reset_at

    def spent_out(self, reset_at: float) -> None:
        """The store said the points are spent: nothing until ``reset_at``."""
        with self._lock:
            self._store_left, self._store_reset = 0, reset_at

    def used(self) -> int:
        """Points of ours in the last hour."""
        now = self.clock()
        with self._lock:
            return sum(c for at, c in self._spent if at > now - HOUR)

    def remaining(self) -> int | None:
        """Points left as the store last said, or None before its first answer."""
        return self._store_left


_POINTS: dict[str, PointBudget] = {}
_POINTS_LOCK = threading.Lock()


def shared_points(
    key: str, source: str, per_hour: int | None, clock: Callable[[], float]
) -> PointBudget:
    """The one points budget of every source drawing on quota ``key`` (the smallest
    allowance any of them gives wins)."""
    with _POINTS_LOCK:
        budget = _POINTS.get(key)
        if budget is None:
            budget = _POINTS[key] = PointBudget(source, per_hour, clock)
        elif per_hour is not None:
            budget.per_hour = min(budget.per_hour or per_hour, per_hour)
        return budget


def forget_points() -> None:
    """Drop the shared points budgets (a new daemon in the same process, tests)."""
    with _POINTS_LOCK:
        _POINTS.clear()


def document(searches: Sequence[Search]) -> str:
    """The GraphQL query of ``searches`` (aliases ``q0``, ``q1``...) and ``rateLimit``."""
    params = ", ".join(f"$q{i}: String!" for i in range(len(searches)))
    fields = []
    for i, search in enumerate(searches):
        if search.oldest_first:
            fields.append(
                f"q{i}: search(query: $q{i}, type: ISSUE, first: 1) "
                "{ issueCount nodes { ... on Issue { createdAt } } }"
            )
        else:
            fields.append(f"q{i}: search(query: $q{i}, type: ISSUE) {{ issueCount }}")
    body = "\n  ".join([*fields, "rateLimit { limit cost remaining resetAt }"])
    return f"query Counts({params}) {{\n  {body}\n}}"


def variables(searches: Sequence[Search]) -> dict[str, str]:
    """The query strings (``sort:created-asc`` where the oldest issue is wanted)."""
    return {
        f"q{i}": f"{s.query} sort:created-asc" if s.oldest_first else s.query
        for i, s in enumerate(searches)
    }


class GraphQLCounts:
    """Sends searches in batches of ``batch`` through ``client``, within ``points``."""

    def __init__(
        self,
        client: HttpClient,
        path: str,
        points: PointBudget,
        batch: int,
        sleep: Callable[[float], None],
    ) -> None:
        self.client = client
        self.path = path
        self.points = points
        self.batch = batch
        self.sleep = sleep
        self.requests = 0

    def run(self, searches: Sequence[Search]) -> list[Answer]:
        """Every search's answer, in order (one request per ``batch`` searches)."""
        answers: list[Answer] = []
        for start in range(0, len(searches), self.batch):
            answers += self._one(searches[start : start + self.batch])
        return answers

    def _one(self, searches: Sequence[Search]) -> list[Answer]:
        cost = request_cost(len(searches))
        body = {"query": document(searches), "variables": variables(searches)}
        for attempt in range(self.client.retries + 1):
            self._await_points(cost)
            self.points.spend(cost)
            self.requests += 1
            answer = self.client.post("graphql", self.path, body)
            limited = self._rate_limited(answer)
            if limited is None:
                return self._answers(answer, searches)
            self.points.spent_out(self.points.clock() + limited)
            if limited > self.client.max_wait or attempt == self.client.retries:
                raise RateLimited(
                    f"{self.client.source}: graphql: the points are spent for {limited:.0f}s",
                    retry_after=limited,
                )
        raise AssertionError("unreachable")  # pragma: no cover

    def _await_points(self, cost: int) -> None:
        wait = self.points.wait(cost)
        if wait > self.client.max_wait:
            raise RateLimited(
                f"{self.client.source}: graphql: the points budget is spent for {wait:.0f}s",
                retry_after=wait,
            )
        if wait > 0:
            self.sleep(wait)

    def _rate_limited(self, answer: Any) -> float | None:
        """Seconds to wait when the answer says the points are spent, else None."""
        errors = answer.get("errors") if isinstance(answer, Mapping) else None
        if not errors or not any(
            isinstance(e, Mapping) and e.get("type") == "RATE_LIMITED" for e in errors
        ):
            return None
        reset = self.client.budget.wait()  # the headers' reset, read by the client
        if reset <= 0:
            reset = _reset_in(answer, self.points.clock())
        return max(1.0, reset)

    def _answers(self, answer: Any, searches: Sequence[Search]) -> list[Answer]:
        source = self.client.source
        data = answer.get("data") if isinstance(answer, Mapping) else None
        errors = answer.get("errors") if isinstance(answer, Mapping) else None
        if errors and not isinstance(data, Mapping):
            raise MappingError(f"{source}: graphql: the query was refused: {_messages(errors)}")
        if not isinstance(data, Mapping):
            raise MappingError(f"{source}: graphql: no data in the answer")
        self._read_rate_limit(data.get("rateLimit"))
        out = []
        for i, search in enumerate(searches):
            found = data.get(f"q{i}")
            if found is None:
                failed = [e for e in errors or [] if f"q{i}" in (e.get("path") or [])]
                why = _messages(failed) if failed else "no answer"
                raise SourceUnavailable(f"{source}: graphql: search {i + 1} failed: {why}")
            try:
                total = int(found["issueCount"])
                nodes = found.get("nodes") if search.oldest_first else None
                oldest = _parse(nodes[0]["createdAt"]) if nodes else None
            except (TypeError, KeyError, IndexError, ValueError):
                raise MappingError(f"{source}: graphql: unexpected search answer") from None
            out.append(Answer(total, oldest))
        return out

    def _read_rate_limit(self, limit: Any) -> None:
        if not isinstance(limit, Mapping):
            return
        try:
            cost, left = int(limit["cost"]), int(limit["remaining"])
            reset = _parse(str(limit["resetAt"])).timestamp()
        except (KeyError, TypeError, ValueError):
            return
        self.points.observe(cost, left, reset)
        self.client.stats.quota_remaining = float(left)


def _reset_in(answer: Mapping[str, Any], now: float) -> float:
    limit = (answer.get("data") or {}).get("rateLimit") if answer.get("data") else None
    try:
        return _parse(str(limit["resetAt"])).timestamp() - now  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        return 60.0


def _messages(errors: Sequence[Any]) -> str:
    """The errors' types or messages, short (never a header or a token: GitHub's
    messages name queries and fields)."""
    said = [
        str(e.get("type") or e.get("message") or "?")[:120] if isinstance(e, Mapping) else "?"
        for e in errors[:3]
    ]
    return "; ".join(said)


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))
