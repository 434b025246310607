"""A fake GitHub issue search fed from the BPI 2013 (Volvo IT) incident log.

Mapping: one repository, ``volvo-it/incidents`` (organisation ``volvo-it``); an
incident is an issue labelled with its support team (``Involved ST``, e.g. ``G96``, or
``V3 2nd`` quoted, as GitHub needs for a label with a space); the issue is closed while
the incident is ``Completed`` (closed at the latest such change), open otherwise. The
log's changes are the issues' events (``tests/collectors/ticketlog.py``).

The API part: ``GET /search/issues?q=...&per_page=N[&sort=created&order=asc]`` with the
qualifiers the collector uses (``repo: org: is:issue is:open is:closed label:
milestone: created: closed:`` with ``A..B`` inclusive ranges and ``<``/``>=``
comparisons); a query without ``is:issue`` or ``is:pr`` is a 422 (as for GitHub App user
tokens), as is an unknown repository, an unknown qualifier or ``per_page`` over 100.
``total_count``, ``incomplete_results`` (true for the first ``incomplete`` searches, a
quirk to play) and the items of the page. Bearer tokens; a bad one is 401 ``Bad
credentials``. Every answer carries ``X-RateLimit-Limit/Remaining/Used/Reset`` and
``X-RateLimit-Resource: search``: 30 searches per token per clock minute, then 403 ``API
rate limit exceeded`` with ``X-RateLimit-Remaining: 0`` until the reset (as GitHub's
primary limit). ``storm``: every search in ``[start, end)`` gets 429 with
``Retry-After`` up to its end (GitHub's secondary limit).

GraphQL, ``POST /graphql``: aliased ``search(query: $qN, type: ISSUE[, first: N]) {
issueCount [nodes { ... on Issue { createdAt } }] }`` fields (query strings as variables,
``sort:created-asc`` in a string sorts) and ``rateLimit { limit cost remaining resetAt }``,
as GitHub documents them: a document it cannot read, an undeclared variable, nodes
without ``first`` or ``first`` outside 1..100 are ``200`` with ``errors`` and no
``data``; each request costs the search connections it holds divided by 100, rounded
half up, at least 1 point, out of ``points_per_hour`` per token in an hour from the
window's first request; a request over what is left is ``200`` with ``errors: [{type:
RATE_LIMITED}]`` and ``X-RateLimit-Remaining: 0`` (``X-RateLimit-Resource: graphql``
on every answer). The secondary limit: more than ``secondary_per_minute`` requests in a
clock minute (GitHub: 2,000 points a minute, a query being 1) is ``403`` "You have
exceeded a secondary rate limit" with ``Retry-After: 60``; ``storm`` applies as for
REST. GraphQL has no ``incomplete_results``: the first ``failed_searches`` aliased
searches fail as a field does in GraphQL, ``null`` data for the alias and an entry of
``errors`` whose ``path`` names it. GraphQL requests do not count against REST's 30
searches a minute.

A GitHub App (``app``: its id and public key): ``POST /app/installations/{INSTALLATION}
/access_tokens`` with an RS256 JWT (``iss`` the app id, at most ten minutes) answers 201
``{token, expires_at}``; installation tokens expire after ``token_life`` (an hour), then
401 ``Bad credentials``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import jwt
import pandas as pd
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.collectors.fakeserver import Call, Reply
from tests.collectors.stores.zohodesk import team_names, volvo_log
from tests.collectors.ticketlog import TicketLog

OWNER = "volvo-it"
REPO = f"{OWNER}/incidents"
TOKEN = "PLANTED-github-pat-11AB"
APP_ID = 424242
INSTALLATION = 5150
TERM = re.compile(r'^(-?)(\w+):(>=|<=|<|>)?("[^"]*"|\S+)$')
HEADER = re.compile(r"^query \w*\((?P<params>[^)]*)\) \{$")
PARAM = re.compile(r"^\$(\w+): String!$")
SEARCH = re.compile(
    r"^(?P<alias>\w+): search\(query: \$(?P<var>\w+), type: ISSUE(?:, first: (?P<first>-?\d+))?\)"
    r" \{ issueCount(?P<nodes> nodes \{ \.\.\. on Issue \{ createdAt \} \})? \}$"
)
RATE_LIMIT = re.compile(r"^rateLimit \{ (?:limit |cost |remaining |resetAt |used )+\}$")


@cache
def issue_log() -> TicketLog:
    """The Volvo incidents as issues: labelled by team, closed when Completed."""
    events = volvo_log().events.drop(columns=["enters_done"])
    state = pd.Series("open", index=events.index).mask(events["done"], "closed")
    return TicketLog(events.assign(status=state, label=state))


@cache
def app_keys() -> tuple[str, str]:
    """A private key made for the test run (PEM) and its public key: nothing stored."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private.decode(), public.decode()


def queues(n: int) -> list[dict[str, str]]:
    """The ``n`` busiest teams as label queues."""
    return [{"name": team, "label": team} for team in team_names(volvo_log())[:n]]


@dataclass
class FakeGitHub:
    """Issue search over the log at ``clock()``."""

    clock: Callable[[], datetime]
    per_minute: int = 30
    incomplete: int = 0
    storm: tuple[datetime, datetime] | None = None
    tokens: tuple[str, ...] = (TOKEN,)
    log: TicketLog = field(default_factory=issue_log)
    minute_calls: dict[tuple[str, str], int] = field(default_factory=dict)
    searches: int = 0
    app: tuple[int, str] | None = None
    """A GitHub App: its id and public key (PEM)."""
    token_life: float = 3600.0
    installation_tokens: dict[str, datetime] = field(default_factory=dict)
    points_per_hour: int = 5000
    secondary_per_minute: int = 2000
    failed_searches: int = 0
    graphql_requests: int = 0
    graphql_searches: int = 0
    points: dict[str, tuple[datetime, int]] = field(default_factory=dict)
    """Per token: the start of its hour and the points spent in it."""
    graphql_minutes: dict[tuple[str, str], int] = field(default_factory=dict)

    def __call__(self, call: Call) -> Reply:
        auth = call.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").removeprefix("token ")
        if call.path == f"/app/installations/{INSTALLATION}/access_tokens":
            return self._installation_token(call.method, token)
        expires = self.installation_tokens.get(token)
        if token not in self.tokens and (expires is None or self.clock() >= expires):
            return Reply(401, {"message": "Bad credentials", "status": "401"})
        now = self.clock()
        if self.storm is not None and self.storm[0] <= now < self.storm[1]:
            wait = int((self.storm[1] - now).total_seconds()) or 1
            body = {"message": "You have exceeded a secondary rate limit."}
            return Reply(429, body, {"Retry-After": str(wait)})
        if call.path == "/graphql":
            return self._graphql(call, token, now)
        minute = now.strftime("%Y%m%d%H%M")
        used = self.minute_calls.get((token, minute), 0)
        reset = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
        quota = {
            "X-RateLimit-Limit": str(self.per_minute),
            "X-RateLimit-Remaining": str(max(0, self.per_minute - used - 1)),
            "X-RateLimit-Used": str(min(self.per_minute, used + 1)),
            "X-RateLimit-Reset": str(int(reset.timestamp())),
            "X-RateLimit-Resource": "search",
        }
        if used >= self.per_minute:
            quota["X-RateLimit-Remaining"] = "0"
            return Reply(403, {"message": "API rate limit exceeded for user."}, quota)
        self.minute_calls[(token, minute)] = used + 1
        if call.path != "/search/issues":
            return Reply(404, {"message": "Not Found"}, quota)
        try:
            found = self._search(call.arg("q") or "")
            per_page = int(call.arg("per_page", "30") or 30)
            if not 1 <= per_page <= 100:
                raise ValueError("per_page must be between 1 and 100")
        except ValueError as err:
            failed = {"message": "Validation Failed", "errors": [{"message": str(err)}]}
            return Reply(422, failed, quota)
        self.searches += 1
        if call.arg("sort") == "created":
            found = found.sort_values(["created", "id"], ascending=call.arg("order") == "asc")
        items = [
            {
                "number": i + 1,
                "title": f"incident {row.id}",
                "state": row.status,
                "labels": [{"name": row.queue}],
                "created_at": row.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            for i, row in enumerate(found.head(per_page).itertuples())
        ]
        body: dict[str, Any] = {
            "total_count": len(found),
            "incomplete_results": self.searches <= self.incomplete,
            "items": items,
        }
        return Reply(200, body, quota)

    def _installation_token(self, method: str, token: str) -> Reply:
        if self.app is None or method != "POST":
            return Reply(404, {"message": "Not Found"})
        app_id, public_key = self.app
        try:
            claims = jwt.decode(
                token, public_key, algorithms=["RS256"], options={"verify_exp": False}
            )
        except jwt.InvalidTokenError:
            return Reply(401, {"message": "A JSON web token could not be decoded"})
        now = self.clock().timestamp()
        if claims.get("iss") != str(app_id) or not claims["iat"] <= now < claims["exp"]:
            return Reply(
                401, {"message": "'Expiration time' claim ('exp') is too far in the future"}
            )
        if claims["exp"] - claims["iat"] > 600:
            return Reply(
                401, {"message": "'Expiration time' claim ('exp') is too far in the future"}
            )
        issued = f"ghs_fake{len(self.installation_tokens):04d}"
        expires = self.clock() + timedelta(seconds=self.token_life)
        self.installation_tokens[issued] = expires
        body = {"token": issued, "expires_at": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}
        return Reply(201, body)

    def _graphql(self, call: Call, token: str, now: datetime) -> Reply:
        if call.method != "POST":
            return Reply(404, {"message": "Not Found"})
        minute = (token, now.strftime("%Y%m%d%H%M"))
        if self.graphql_minutes.get(minute, 0) >= self.secondary_per_minute:
            body = {"message": "You have exceeded a secondary rate limit."}
            return Reply(403, body, {"Retry-After": "60"})
        self.graphql_minutes[minute] = self.graphql_minutes.get(minute, 0) + 1
        start, spent = self.points.get(token, (now, 0))
        if now >= start + timedelta(hours=1):
            start, spent = now, 0
        reset = start + timedelta(hours=1)
        try:
            searches = _read_document(call.json())
        except ValueError as err:
            headers = self._points_headers(spent, reset)
            return Reply(200, {"errors": [{"message": str(err)}]}, headers)
        cost = max(1, int(len(searches) / 100 + 0.5))
        if spent + cost > self.points_per_hour:
            self.points[token] = (start, spent)
            headers = {**self._points_headers(spent, reset), "X-RateLimit-Remaining": "0"}
            limited = {"type": "RATE_LIMITED", "message": "API rate limit exceeded for user."}
            return Reply(200, {"errors": [limited]}, headers)
        spent += cost
        self.points[token] = (start, spent)
        self.graphql_requests += 1
        data: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        for alias, query, first, nodes in searches:
            self.graphql_searches += 1
            if self.graphql_searches <= self.failed_searches:
                data[alias] = None
                errors.append(
                    {
                        "path": [alias],
                        "message": "Something went wrong while executing your query. This "
                        "may be the result of a timeout, or it could be a GitHub bug.",
                    }
                )
                continue
            oldest_first = "sort:created-asc" in query.split()
            terms = " ".join(t for t in query.split() if t != "sort:created-asc")
            try:
                found = self._search(terms)
            except ValueError as err:
                data[alias] = None
                errors.append({"path": [alias], "type": "INVALID", "message": str(err)})
                continue
            answer: dict[str, Any] = {"issueCount": len(found)}
            if nodes:
                if oldest_first:
                    found = found.sort_values(["created", "id"])
                answer["nodes"] = [
                    {"createdAt": row.created.strftime("%Y-%m-%dT%H:%M:%SZ")}
                    for row in found.head(first).itertuples()
                ]
            data[alias] = answer
        data["rateLimit"] = {
            "limit": self.points_per_hour,
            "cost": cost,
            "remaining": self.points_per_hour - spent,
            "used": spent,
            "resetAt": reset.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        body = {"data": data, **({"errors": errors} if errors else {})}
        return Reply(200, body, self._points_headers(spent, reset))

    def _points_headers(self, spent: int, reset: datetime) -> dict[str, str]:
        return {
            "X-RateLimit-Limit": str(self.points_per_hour),
            "X-RateLimit-Remaining": str(max(0, self.points_per_hour - spent)),
            "X-RateLimit-Used": str(spent),
            "X-RateLimit-Reset": str(int(reset.timestamp())),
            "X-RateLimit-Resource": "graphql",
        }

    def _search(self, query: str) -> pd.DataFrame:
        terms = [TERM.match(t) for t in re.findall(r'\S+:"[^"]*"|\S+', query)]
        if None in terms:
            raise ValueError(f"cannot read the query {query!r}")
        parsed = [(m.group(2), m.group(3) or "", m.group(4).strip('"')) for m in terms if m]
        if ("is", "", "issue") not in parsed and ("is", "", "pr") not in parsed:
            raise ValueError('Query must include "is:issue" or "is:pull-request"')
        labels = [v for k, op, v in parsed if k == "label" and not op]
        if labels:  # the label's issues only (the same rows, found faster)
            state = self.log.queue_state_at(self.clock(), labels[0])
        else:
            state = self.log.state_at(self.clock())
        for key, op, value in parsed:
            if (key == "repo" and value != REPO) or (key == "org" and value != OWNER):
                raise ValueError("The listed users and repositories cannot be searched")
            if key in ("repo", "org") or (key, value) == ("is", "issue"):
                continue
            if key == "is" and value in ("open", "closed"):
                state = state[state["status"] == value]
            elif key == "is" and value == "pr":
                state = state.iloc[0:0]
            elif key == "label" and not op:
                state = state[state["queue"] == value]
            elif key == "milestone" and not op:
                state = state.iloc[0:0]  # the repository has no milestones
            elif key in ("created", "closed"):
                column = state["created"] if key == "created" else state["resolved"]
                state = state[_dates(column, op, value)]
            else:
                raise ValueError(f"unknown qualifier {key!r}")
        return state


def _read_document(body: Any) -> list[tuple[str, str, int, bool]]:
    """``(alias, query string, first, nodes wanted)`` per search of a GraphQL request;
    ValueError with GitHub's kind of message for what it would refuse."""
    if not isinstance(body, dict) or not isinstance(body.get("query"), str):
        raise ValueError("A query attribute must be specified and must be a string.")
    lines = [line.strip() for line in body["query"].strip().splitlines()]
    header = HEADER.match(lines[0]) if lines else None
    if header is None or lines[-1] != "}":
        raise ValueError("Parse error on the query document")
    declared = set()
    for param in filter(None, (p.strip() for p in header.group("params").split(","))):
        match = PARAM.match(param)
        if match is None:
            raise ValueError(f"Parse error on {param!r}")
        declared.add(match.group(1))
    given = body.get("variables") or {}
    searches = [
        _search_field(line, declared, given) for line in lines[1:-1] if not RATE_LIMIT.match(line)
    ]
    if not searches:
        raise ValueError("The query asks for no search")
    return searches


def _search_field(
    line: str, declared: set[str], given: dict[str, Any]
) -> tuple[str, str, int, bool]:
    match = SEARCH.match(line)
    if match is None:
        raise ValueError(f"Parse error on {line[:40]!r}")
    var = match.group("var")
    if var not in declared:
        raise ValueError(f"Variable ${var} is used by anonymous query but not declared")
    if not isinstance(given.get(var), str):
        raise ValueError(f"Variable ${var} of type String! was provided invalid value")
    first = match.group("first")
    if match.group("nodes") and first is None:
        raise ValueError(
            "You must provide a `first` or `last` value to properly paginate the "
            "`search` connection."
        )
    if first is not None and not 1 <= int(first) <= 100:
        raise ValueError(
            f"Requesting {first} records on the `search` connection exceeds the `first` "
            "limit of 100 records."
        )
    return match.group("alias"), given[var], int(first or 0), bool(match.group("nodes"))


def _dates(column: pd.Series, op: str, value: str) -> pd.Series:
    if ".." in value and not op:
        low, high = (pd.Timestamp(v) for v in value.split(".."))
        chosen = (column >= low) & (column <= high)
    else:
        at = pd.Timestamp(value)
        chosen = {
            "<": column < at,
            "<=": column <= at,
            ">": column > at,
            ">=": column >= at,
            "": column == at,
        }[op]
    return chosen.fillna(False).astype(bool)


class Kit:
    """What the case harness needs to run a GitHub case."""

    @property
    def secrets(self) -> tuple[str, ...]:
        return (TOKEN, app_keys()[0])

    @property
    def environment(self) -> dict[str, str]:
        return {"GITHUB_TOKEN": TOKEN, "GITHUB_APP_KEY": app_keys()[0]}

    def app(self, clock: Callable[[], datetime], quirks: dict[str, Any]) -> FakeGitHub:
        # The store's clock stands still during a poll (the harness's waits move only the
        # collector's): its per-minute count is played by ``per_minute`` quirks, off here.
        defaults: dict[str, Any] = {"per_minute": 1_000_000, "app": (APP_ID, app_keys()[1])}
        return FakeGitHub(clock, **{**defaults, **quirks})

    def config(self, url: str, case: dict[str, Any]) -> dict[str, Any]:
        base = {
            "kind": "github",
            "name": "github",
            "api_url": url,
            "repo": REPO,
            "token_env": "GITHUB_TOKEN",
            "queues": queues(int(case.get("queues", 20))),
            "interval": "1h",
            # as on a GitHub Enterprise Server whose admin raised the search limit; the
            # 30 a minute of github.com is played by the per-minute-budget case
            "budget": {"requests_per_minute": 1000},
        }
        return {**base, **case.get("config", {})}

    def queues(self, config: Any) -> list[tuple[str, str]]:
        return [(q.label, q.name) for q in config.queues]

    def log(self) -> TicketLog:
        return issue_log()
