"""GitHub Issues (``kind: github``): search ``total_count`` per label or milestone queue.

Per configured queue, one poll sends these issue searches (``GET /search/issues`` with
``per_page=1``; ``total_count`` is the true total even past search's 1,000-result cap),
each scoped ``repo:OWNER/NAME`` (or ``org:OWNER``), ``is:issue`` (pull requests are
issues to the API, and GitHub App user tokens get 422 without it) and the queue's
``label:`` / ``milestone:``:

- ``is:open``, sorted by ``created`` ascending: the open backlog and, with ``aging``
  (default), the oldest open issue in the same answer;
- ``created:START..END`` and ``closed:START..END`` (inclusive ranges with seconds, so
  ``END`` is the window's end less a second: the window is half-open as the daemon's);
- with ``aging``, ``is:open created:<CUTOFF`` for 7, 14 and 30 days.

As of a past instant ``T`` (``snapshot --as-of``) the open backlog is ``is:open
created:<T`` plus ``is:closed closed:>=T created:<T`` (the aging counts likewise with the
cut-offs), the flow ``created:``/``closed:`` over the window itself; issues count under
today's labels, so such snapshots are ``approximate``.

Search reads an index that lags the issues, so every snapshot is marked ``lagging`` and
the flow is counted in the window moved back by ``index_lag`` (consecutive windows stay
consecutive). An answer with ``incomplete_results: true`` (the search timed out) makes
the snapshot ``approximate``.

The same searches can go through GraphQL instead, many a request
(:mod:`collectors.githubgraphql`): ``search_api: graphql``, or ``auto`` (the default),
which does so when a poll's REST searches are more than this daemon's share of a minute
allows. Either way a poll first lists its searches (:meth:`GitHubCollector._now`,
:meth:`GitHubCollector._past`), then sends them, then reads each queue's figures.

Quota: 30 searches a minute per user or installation, whatever the number of sources, so
every GitHub source of one token (one API root) shares one :class:`Budget`, keyed by a
digest of the token; ``X-RateLimit-Remaining`` is read back; GitHub says "spent" with
403 or 429, waiting until ``X-RateLimit-Reset`` (or ``Retry-After`` for its secondary
limits).

Authentication: a personal access token (classic, or fine-grained with read access to
the repository's issues) as ``Authorization: Bearer``, or a GitHub App's installation
(``app:``; tokens renewed hourly, :mod:`collectors.githubapp`), whose quota is the
installation's.
"""

from __future__ import annotations

import hashlib
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

import requests
from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from collectors.base import FigureState, QueueStats, Snapshot, Window
from collectors.githubapp import AppJwt, GitHubApp, InstallationAuth
from collectors.githubgraphql import (
    POINTS_PER_HOUR,
    Answer,
    GraphQLCounts,
    Search,
    forget_points,
    graphql_path,
    request_cost,
    shared_points,
)
from collectors.hosted import (
    Auth,
    Budget,
    HostedSourceConfig,
    HttpClient,
    NoAuth,
    PollCost,
    QuotaHeaders,
)
from collectors.hosted.client import retry_after
from collectors.hosted.config import PlanBudget
from collectors.hosted.figures import age_cutoffs, queue_stats
from collectors.hosted.source import client_options
from config.durations import Duration
from config.secrets import resolve_credential
from monitor.errors import MappingError

__all__ = ["GitHubCollector", "GitHubConfig"]

SEARCHES_PER_MINUTE = 30
"""GitHub's search limit for an authenticated user or installation."""
SECONDARY_WAIT = 60.0
"""GitHub's advice for a secondary limit that names no wait: at least a minute."""


class Queue(BaseModel):
    """Issues with a label and/or in a milestone (neither: every issue in scope)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    label: str | None = Field(None, pattern=r'^[^"]+$', description="no double quote")
    milestone: str | None = Field(None, pattern=r'^[^"]+$', description="no double quote")

    def qualifiers(self) -> str:
        terms = []
        if self.label is not None:
            terms.append(f"label:{_quoted(self.label)}")
        if self.milestone is not None:
            terms.append(f"milestone:{_quoted(self.milestone)}")
        return " ".join(terms)


class GitHubConfig(HostedSourceConfig):
    """A GitHub repository or organisation (``kind: github``)."""

    kind: Literal["github"]
    api_url: str = Field(
        "https://api.github.com", description="GitHub Enterprise Server: https://HOST/api/v3"
    )
    repo: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    org: str | None = Field(None, pattern=r"^[A-Za-z0-9-]+$")
    token: SecretStr | None = None
    token_file: Path | None = None
    token_env: str | None = None
    app: GitHubApp | None = Field(None, description="instead of token: a GitHub App")
    queues: list[Queue] = Field(min_length=1)
    aging: bool = Field(True, description="oldest open issue and 7/14/30-day counts")
    index_lag: Duration = Field(
        timedelta(minutes=3),
        description="created/closed are counted in the window moved this far back, so that "
        "the search index has caught up with it",
    )
    interval: Duration = timedelta(minutes=10)
    max_wait: Duration = Field(
        timedelta(seconds=65),
        description="a poll of more searches than a minute allows waits for the next minute "
        "(at most 60 s at a time); a longer wait (Retry-After, a reset) fails the poll",
    )
    budget: PlanBudget = PlanBudget(requests_per_minute=SEARCHES_PER_MINUTE)
    search_api: Literal["auto", "rest", "graphql"] = Field(
        "auto",
        description="rest: one search request per count; graphql: up to graphql_batch "
        "counts a request on GraphQL's points; auto: graphql when a poll's REST searches "
        "are more than a minute's share of the 30 a minute",
    )
    graphql_batch: int = Field(50, ge=1, le=100, description="searches per GraphQL request")
    graphql_points_per_hour: int = Field(
        POINTS_PER_HOUR,
        ge=1,
        description="GraphQL's limit for the token (5,000; an app installation 5,000 to "
        "12,500); budget.share of it is this daemon's",
    )

    @model_validator(mode="before")
    @classmethod
    def _search_budget(cls, data: Any) -> Any:
        """A budget given without its plan limit still means GitHub's 30 searches."""
        if isinstance(data, dict) and isinstance(data.get("budget"), dict):
            budget = {"requests_per_minute": SEARCHES_PER_MINUTE, **data["budget"]}
            return {**data, "budget": budget}
        return data

    @model_validator(mode="after")
    def _scope_and_token(self) -> GitHubConfig:
        if (self.repo is None) == (self.org is None):
            raise ValueError("give exactly one of repo (OWNER/NAME) and org")
        value = resolve_credential(
            self.token, self.token_file, self.token_env, "token", required=self.app is None
        )
        if (value is None) == (self.app is None):
            raise ValueError("give exactly one of token (or token_file, token_env) and app")
        object.__setattr__(self, "token", value)
        object.__setattr__(self, "token_file", None)
        object.__setattr__(self, "token_env", None)
        return self

    def searches(self) -> int:
        """Counts a poll asks for (each one REST search): 6 a queue, 3 without aging."""
        return (3 + (3 if self.aging else 0)) * len(self.queues)

    def uses_graphql(self) -> bool:
        """``search_api``, with ``auto`` decided: GraphQL when a REST poll would send
        more searches than this daemon's share of a minute allows (it would wait, and
        its interval would be long); REST otherwise (it says ``incomplete_results``)."""
        if self.search_api != "auto":
            return self.search_api == "graphql"
        return self.searches() > (self.budget.per_minute() or SEARCHES_PER_MINUTE)

    def graphql_requests(self) -> int:
        """GraphQL requests of one poll: the searches in batches of ``graphql_batch``."""
        return -(-self.searches() // self.graphql_batch)

    def points_per_poll(self) -> int:
        """GraphQL points of one poll (0 on REST)."""
        if not self.uses_graphql():
            return 0
        full, rest = divmod(self.searches(), self.graphql_batch)
        return full * request_cost(self.graphql_batch) + (request_cost(rest) if rest else 0)

    def points_per_hour(self) -> int:
        """The points of GraphQL's hourly limit this daemon may use."""
        return max(1, math.floor(self.graphql_points_per_hour * self.budget.share))

    def poll_cost(self) -> PollCost:
        """Searches a poll sends on REST's search quota (none on GraphQL: its requests
        and points are priced by :meth:`budget_use`)."""
        searches = 0 if self.uses_graphql() else self.searches()
        return PollCost(searches, searches)

    def budget_use(self) -> list[tuple[str, float, float]]:
        """REST searches a minute, and on GraphQL its points an hour."""
        out = super().budget_use()
        if self.uses_graphql():
            polls = 3600.0 / max(1.0, self.interval.total_seconds())
            used = self.points_per_poll() * polls
            out.append(("GraphQL points per hour", used, float(self.points_per_hour())))
        return out

    def scope(self) -> str:
        return f"repo:{self.repo}" if self.repo is not None else f"org:{self.org}"

    def auth_headers(self) -> dict[str, str]:
        """The Authorization header of a token (a secret: never log it), the API version."""
        assert self.token is not None
        return {
            "Authorization": f"Bearer {self.token.get_secret_value()}",
            "Accept": "application/vnd.github+json",
            "X-GitHub-Api-Version": "2022-11-28",
        }

    def budget_key(self) -> str:
        """What identifies the quota this source draws on: the API root and the token
        or the app's installation (a digest, so that no secret is kept as a key)."""
        if self.app is not None:
            return self.app.quota_key(self.api_url)
        assert self.token is not None
        raw = f"{self.api_url.rstrip('/')}\0{self.token.get_secret_value()}".encode()
        return hashlib.sha256(raw).hexdigest()


_BUDGETS: dict[str, Budget] = {}
_BUDGETS_LOCK = threading.Lock()


def shared_budget(
    key: str, source: str, per_minute: int | None, clock: Callable[[], float]
) -> Budget:
    """The one budget of every source drawing on quota ``key`` (the smallest allowance
    any of them gives wins)."""
    with _BUDGETS_LOCK:
        budget = _BUDGETS.get(key)
        if budget is None:
            budget = _BUDGETS[key] = Budget(source, per_minute, None, clock)
        elif per_minute is not None:
            budget.per_minute = min(budget.per_minute or per_minute, per_minute)
        return budget


def token_use(
    members: Sequence[GitHubConfig], early: Mapping[str, float] | None = None
) -> list[tuple[str, float, float]]:
    """``(what, used, allowed)`` of sources sharing one token: REST searches a minute and
    GraphQL points an hour, polls every ``interval`` plus, for a source named in
    ``early``, early polls (webhook intake) every ``early[name]`` seconds at most.
    ``allowed`` is the smallest share any of them gives."""
    early = early or {}
    searches = points = 0.0
    for s in members:
        polls = 60.0 / max(1.0, s.interval.total_seconds())
        if s.name in early:
            polls += 60.0 / max(1.0, early[s.name])
        searches += s.poll_cost().requests * polls
        points += s.points_per_poll() * polls * 60.0
    out = [
        (
            "searches a minute",
            searches,
            float(min(s.budget.per_minute() or SEARCHES_PER_MINUTE for s in members)),
        )
    ]
    if any(s.uses_graphql() for s in members):
        allowed = min(s.points_per_hour() for s in members)
        out.append(("GraphQL points an hour", points, float(allowed)))
    return out


def by_token(sources: Sequence[object]) -> list[list[tuple[int, GitHubConfig]]]:
    """GitHub sources grouped by the quota they draw on (with their positions)."""
    groups: dict[str, list[tuple[int, GitHubConfig]]] = {}
    for i, source in enumerate(sources):
        if isinstance(source, GitHubConfig):
            groups.setdefault(source.budget_key(), []).append((i, source))
    return list(groups.values())


def shared_quota_problems(sources: Sequence[object]) -> list[tuple[str, str]]:
    """``(path, message)`` for GitHub sources of one token that, together, would search
    (or spend GraphQL points) more than the smallest share any of them allows (each alone
    may fit)."""
    problems = []
    for members in by_token(sources):
        if len(members) < 2:
            continue
        configs = [s for _, s in members]
        for what, used, allowed in token_use(configs):
            if used > allowed:
                names = ", ".join(s.name for s in configs)
                problems.append(
                    (
                        f"sources -> {members[-1][0]} -> interval",
                        f"GitHub sources {names} share one token's quota: together they use "
                        f"{used:.0f} {what}, over the {allowed:.0f} allowed; raise their "
                        "intervals",
                    )
                )
    return problems


def forget_budgets() -> None:
    """Drop the shared budgets (a new daemon in the same process, tests)."""
    with _BUDGETS_LOCK:
        _BUDGETS.clear()
    forget_points()


class GitHubClient(HttpClient):
    """GitHub says "quota spent" with 403 as well as 429, and when to come back with
    ``X-RateLimit-Reset`` (epoch seconds) or, for secondary limits, ``Retry-After``."""

    def is_rate_limited(self, response: requests.Response) -> bool:
        if response.status_code == 429:
            return True
        return response.status_code == 403 and (
            response.headers.get("X-RateLimit-Remaining") == "0"
            or "Retry-After" in response.headers
            or "secondary rate limit" in response.text
        )

    def _read_quota(self, response: requests.Response) -> None:
        """``X-RateLimit-Remaining`` for the metric; none left blocks until the reset
        GitHub names (not a minute from now, as a store that names none)."""
        try:
            left = int(response.headers["X-RateLimit-Remaining"])
        except (KeyError, ValueError):
            return
        self.stats.quota_remaining = float(left)
        if left <= 0:
            self.budget.block(self._until_reset(response))

    def _until_reset(self, response: requests.Response) -> float:
        try:
            reset = float(response.headers["X-RateLimit-Reset"])
        except (KeyError, ValueError):
            return SECONDARY_WAIT
        return max(1.0, reset - self.budget.clock())

    def limited_for(self, response: requests.Response) -> float | None:
        asked = retry_after(response)
        if asked is not None:
            return asked
        if response.headers.get("X-RateLimit-Remaining") == "0":
            return self._until_reset(response)
        return SECONDARY_WAIT


class GitHubCollector:
    """Reads per-queue backlog, throughput and aging from GitHub's issue search."""

    kind: ClassVar[str] = "github"
    config_model: ClassVar[type[BaseModel]] = GitHubConfig

    def __init__(
        self,
        config: GitHubConfig,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        budget = shared_budget(config.budget_key(), config.name, config.budget.per_minute(), clock)
        common = client_options(config, sleep)
        auth: Auth
        if config.app is None:
            auth = NoAuth(config.auth_headers())
        else:  # the app's endpoint draws on the core quota, not the search one
            app_client = HttpClient(
                config.name,
                config.api_url,
                auth=AppJwt(config.app, clock),
                budget=Budget(config.name, None, None, clock),
                **common,
            )
            auth = InstallationAuth(config.app, app_client, config.name, clock)
        self.client = GitHubClient(
            config.name,
            config.api_url,
            auth=auth,
            budget=budget,
            quota=QuotaHeaders(),  # read by GitHubClient, with the reset it names
            **common,
        )
        if config.app is not None:
            app_client.stats = self.client.stats
        self.http_stats = self.client.stats
        self.graphql: GraphQLCounts | None = None
        if config.uses_graphql():
            root, path = graphql_path(config.api_url)
            graphql_client = GitHubClient(
                config.name,
                root,
                auth=auth,
                budget=shared_budget(f"graphql\0{config.budget_key()}", config.name, None, clock),
                quota=QuotaHeaders(),
                stats=self.client.stats,
                **common,
            )
            key, allowed = config.budget_key(), config.points_per_hour()
            points = shared_points(key, config.name, allowed, clock)
            self.graphql = GraphQLCounts(graphql_client, path, points, config.graphql_batch, sleep)

    @property
    def name(self) -> str:
        return self.config.name

    def collect(self, window: Window) -> Snapshot:
        plan = self._past if window.historical else self._now
        wanted = [plan(q, window) for q in self.config.queues]
        searches = [s for queue in wanted for s in queue.values()]
        if self.graphql is not None:
            answers = self.graphql.run(searches)
        else:
            answers = [self._search(s) for s in searches]
        said = dict(zip(searches, answers, strict=True))
        queues = tuple(
            self._stats(q, {k: said[s] for k, s in w.items()}, window)
            for q, w in zip(self.config.queues, wanted, strict=True)
        )
        incomplete = any(a.incomplete for a in answers)
        # as of a past instant, an issue counts under the labels it has today
        past = window.historical
        return Snapshot(
            source=self.name,
            window=window,
            queues=queues,
            exactness="approximate" if incomplete or past else "lagging",
            figures=(
                FigureState(
                    "priority", False, "GitHub issues have no priority (one count each)", False
                ),
            ),
        )

    def close(self) -> None:
        self.client.session.close()
        if self.graphql is not None:
            self.graphql.client.session.close()

    def _now(self, queue: Queue, window: Window) -> dict[str, Search]:
        """The searches of ``queue`` now: open (and the oldest), created and closed in
        the window moved back by ``index_lag`` (consecutive windows stay consecutive),
        and with ``aging`` the open issues older than each cut-off."""
        scope = " ".join(t for t in (self.config.scope(), "is:issue", queue.qualifiers()) if t)
        lag = self.config.index_lag
        span = f"{_iso(window.start - lag)}..{_iso(window.end - lag - timedelta(seconds=1))}"
        wanted = {
            "open": Search(f"{scope} is:open", oldest_first=self.config.aging),
            "created": Search(f"{scope} created:{span}"),
            "closed": Search(f"{scope} closed:{span}"),
        }
        if self.config.aging:
            for name, cutoff in age_cutoffs(window.end).items():
                wanted[f"older:{name}"] = Search(f"{scope} is:open created:<{_iso(cutoff)}")
        return wanted

    def _past(self, queue: Queue, window: Window) -> dict[str, Search]:
        """The queue as of ``window.end`` (``T``): open then = created before ``T`` and
        open now, plus created before ``T`` and closed at or after it (a reopened issue
        has no ``closed_at``: open since its creation). The flow is counted in the window
        itself (no ``index_lag``: a past window is in the index)."""
        scope = " ".join(t for t in (self.config.scope(), "is:issue", queue.qualifiers()) if t)
        at = _iso(window.end)
        span = f"{_iso(window.start)}..{_iso(window.end - timedelta(seconds=1))}"
        still, since = f"{scope} is:open created:<", f"{scope} is:closed closed:>={at} created:<"
        aging = self.config.aging
        wanted = {
            "open": Search(still + at, oldest_first=aging),
            "open+": Search(since + at, oldest_first=aging),
            "created": Search(f"{scope} created:{span}"),
            "closed": Search(f"{scope} closed:{span}"),
        }
        if aging:
            for name, cutoff in age_cutoffs(window.end).items():
                wanted[f"older:{name}"] = Search(still + _iso(cutoff))
                wanted[f"older+:{name}"] = Search(since + _iso(cutoff))
        return wanted

    def _stats(self, queue: Queue, said: Mapping[str, Answer], window: Window) -> QueueStats:
        """A queue's figures from its searches' answers (``+``: the past's second half)."""

        def total(name: str) -> int:
            extra = said.get(name.replace(":", "+:") if ":" in name else f"{name}+")
            return said[name].total + (extra.total if extra is not None else 0)

        created, closed = said["created"].total, said["closed"].total
        if not self.config.aging:
            return queue_stats(queue.name, {"open": total("open")}, created, closed, window.end)
        firsts = [a.oldest for k, a in said.items() if k.startswith("open") and a.oldest]
        older = {name: total(f"older:{name}") for name in age_cutoffs(window.end)}
        return queue_stats(
            queue.name,
            {"open": total("open")},
            created,
            closed,
            window.end,
            older_than=older,
            oldest_created=min(firsts, default=None),
        )

    def _search(self, search: Search) -> Answer:
        """One REST search: ``total_count``, ``incomplete_results`` and the first item."""
        params = {"q": search.query, "per_page": "1"}
        if search.oldest_first:
            params.update(sort="created", order="asc")
        answer = self.client.get("search/issues", "/search/issues", params)
        try:
            total = int(answer["total_count"])
            incomplete = bool(answer["incomplete_results"])
        except (TypeError, KeyError, ValueError):
            raise MappingError(
                f"{self.name}: search/issues: no total_count in the answer"
            ) from None
        oldest = _oldest(self.name, answer) if search.oldest_first else None
        return Answer(total, oldest, incomplete)


def _oldest(source: str, answer: Mapping[str, Any]) -> datetime | None:
    try:
        items = answer["items"]
        return _parse(items[0]["created_at"]) if items else None
    except (TypeError, KeyError, IndexError, ValueError):
        raise MappingError(f"{source}: search/issues: unexpected items") from None


def _quoted(value: str) -> str:
    return f'"{value}"' if any(c.isspace() for c in value) or ":" in value else value


def _iso(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
