"""One source's HTTP client: a session, its budget, bounded retries and typed errors.

Every request goes through :meth:`HttpClient.request`:

- the budget says when it may go (a short wait is slept, a long one raises
  :class:`RateLimited`, which the daemon treats as a failed poll: no window is lost, the
  next poll counts from the same watermark);
- timeouts, connection errors and 5xx are retried ``retries`` times with exponential
  backoff and full jitter, ``Retry-After`` honoured; then :class:`SourceUnavailable`;
- 401 asks the authentication to renew itself once (an expired OAuth token), then
  :class:`AuthFailed`; 403 is :class:`AuthFailed` (a scope or role is missing);
- 429 (or what :meth:`HttpClient.is_rate_limited` says) blocks the budget for
  ``Retry-After`` (or a backoff when the store gives none);
- a body that is not JSON, or another 4xx, is :class:`MappingError`: the request is
  wrong for this store, retrying will not help.

Errors never carry the URL's host, headers or bodies: credentials live in headers and
some stores echo them back.
"""

from __future__ import annotations

import random
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

import requests

from collectors.hosted.budget import Budget
from monitor.errors import AuthFailed, MappingError, RateLimited, SourceUnavailable

Sleep = Callable[[float], None]


class Auth(Protocol):
    """How requests of one source are authenticated."""

    def headers(self) -> Mapping[str, str]:
        """The headers to add to the next request (may fetch a new token first)."""
        ...

    def renew(self) -> bool:
        """Get fresh credentials after a 401; False when there is nothing to renew."""
        ...


class NoAuth:
    """Requests that need no credentials (the OAuth token endpoint itself)."""

    def __init__(self, headers: Mapping[str, str] | None = None) -> None:
        self._headers = dict(headers or {})

    def headers(self) -> Mapping[str, str]:
        return self._headers

    def renew(self) -> bool:
        return False


@dataclass(frozen=True)
class QuotaHeaders:
    """The names of a store's remaining-quota headers (None: it sends none)."""

    minute_left: str | None = None
    daily_left: str | None = None
    reset_at: str | None = None
    """When ``minute_left`` says none are left: the header with the epoch second the
    quota comes back (then the budget waits until it, not a minute from now)."""


class HttpStats:
    """Requests per ``(endpoint, code)`` and the latest quota left, for /metrics."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str], int] = defaultdict(int)
        self.quota_remaining: float | None = None

    def count(self, endpoint: str, code: str) -> None:
        with self._lock:
            self.requests[(endpoint, code)] += 1

    def total(self) -> int:
        """Every request sent, whatever its answer."""
        with self._lock:
            return sum(self.requests.values())


class HttpClient:
    """Sends one source's requests within its budget (see the module docstring)."""

    def __init__(
        self,
        source: str,
        base_url: str,
        *,
        auth: Auth,
        budget: Budget,
        timeout: float,
        retries: int = 3,
        max_wait: float = 30.0,
        quota: QuotaHeaders = QuotaHeaders(),
        sleep: Sleep = time.sleep,
        rand: Callable[[], float] = random.random,
        stats: HttpStats | None = None,
        session: requests.Session | None = None,
    ) -> None:
        self.source = source
        self.base_url = base_url.rstrip("/")
        self.auth = auth
        self.budget = budget
        self.timeout = timeout
        self.retries = retries
        self.max_wait = max_wait
        self.quota = quota
        self.sleep = sleep
        self.rand = rand
        self.stats = stats or HttpStats()
        self.session = session or requests.Session()

    def get(self, endpoint: str, path: str, params: Any = None, credits: int = 1) -> Any:
        """GET ``path`` and return its JSON (None for an empty 204 answer)."""
        return self.request("GET", endpoint, path, params=params, credits=credits)

    def post(self, endpoint: str, path: str, body: Any = None, credits: int = 1) -> Any:
        """POST JSON ``body`` to ``path`` and return the JSON answer."""
        return self.request("POST", endpoint, path, body=body, credits=credits)

    def request(
        self,
        method: str,
        endpoint: str,
        path: str,
        *,
        params: Any = None,
        body: Any = None,
        credits: int = 1,
        form: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request, retrying what may succeed later; ``endpoint`` labels metrics."""
        renewed, attempt = False, 0
        while True:
            self._await_budget(endpoint, credits)
            self.budget.spend(credits)
            response, failure = self._attempt(method, endpoint, path, params, body, form)
            asked: float | None = None
            if response is not None:
                if response.status_code < 300:
                    return _json(self.source, endpoint, response)
                if response.status_code == 401 and not renewed and self.auth.renew():
                    renewed = True
                    continue  # a renewed token is not a retry
                failure, asked = self._failure(endpoint, response, attempt)
            if attempt >= self.retries:
                raise failure
            self._backoff(attempt, asked, failure)
            attempt += 1

    def _attempt(
        self,
        method: str,
        endpoint: str,
        path: str,
        params: Any,
        body: Any,
        form: Mapping[str, str] | None,
    ) -> tuple[requests.Response | None, Exception]:
        """One request: its response, or None and the outage it met."""
        try:
            response = self.session.request(
                method,
                f"{self.base_url}{path}",
                params=params,
                json=body,
                data=form,
                headers=dict(self.auth.headers()),
                timeout=self.timeout,
            )
        except requests.Timeout:
            self.stats.count(endpoint, "timeout")
            return None, SourceUnavailable(f"{self.source}: {endpoint} timed out")
        except requests.RequestException as err:
            self.stats.count(endpoint, "error")
            name = type(err).__name__
            return None, SourceUnavailable(f"{self.source}: {endpoint}: cannot connect ({name})")
        self.stats.count(endpoint, str(response.status_code))
        self._read_quota(response)
        return response, SourceUnavailable(f"{self.source}: {endpoint}: no answer")

    def _failure(
        self, endpoint: str, response: requests.Response, attempt: int
    ) -> tuple[Exception, float | None]:
        """A retryable failure and the wait it asks for; raises the others."""
        code = response.status_code
        if self.is_rate_limited(response):  # the budget is blocked: the next attempt waits
            return self._limited(endpoint, response, attempt), 0.0
        if code in (401, 403):
            what = "rejected the credentials" if code == 401 else "refused access"
            raise AuthFailed(f"{self.source}: {endpoint}: the store {what} (HTTP {code})")
        if code >= 500:
            return SourceUnavailable(f"{self.source}: {endpoint}: HTTP {code}"), retry_after(
                response
            )
        raise MappingError(f"{self.source}: {endpoint}: the store answered HTTP {code}")

    def delay(self, attempt: int, cap: float = 30.0) -> float:
        """Exponential backoff with full jitter: up to 1 s, 2 s, 4 s... at most ``cap``."""
        return min(cap, 2.0**attempt) * self.rand()

    def _await_budget(self, endpoint: str, credits: int) -> None:
        wait = self.budget.wait(credits)
        if wait > self.max_wait:
            raise RateLimited(
                f"{self.source}: {endpoint}: request budget spent for {wait:.0f}s",
                retry_after=wait,
            )
        if wait > 0:
            self.sleep(wait)

    def _limited(self, endpoint: str, response: requests.Response, attempt: int) -> Exception:
        """Block the budget for as long as the 429 asks; the next attempt waits it out."""
        wait = self.limited_for(response)
        if wait is None:
            wait = self.delay(attempt)
        self.budget.block(wait)
        error = RateLimited(
            f"{self.source}: {endpoint}: HTTP {response.status_code}", retry_after=wait
        )
        if wait > self.max_wait or attempt == self.retries:
            raise error
        return error

    def is_rate_limited(self, response: requests.Response) -> bool:
        """Whether an answer says the quota is spent: 429 (stores that also say it with
        another status, GitHub's 403 with no requests left, override this)."""
        return response.status_code == 429

    def limited_for(self, response: requests.Response) -> float | None:
        """How long a 429 asks us to wait (stores with their own rules override this)."""
        return retry_after(response)

    def _backoff(self, attempt: int, asked: float | None, failure: Exception) -> None:
        """Wait before the next attempt; raise ``failure`` when the wait is too long."""
        wait = asked if asked is not None else self.delay(attempt)
        if wait > self.max_wait:
            self.budget.block(wait)
            raise failure
        if wait > 0:
            self.sleep(wait)

    def _read_quota(self, response: requests.Response) -> None:
        minute = _int_header(response, self.quota.minute_left)
        daily = _int_header(response, self.quota.daily_left)
        reset = _int_header(response, self.quota.reset_at)
        if minute is not None and minute <= 0 and reset is not None:
            self.budget.block(max(1.0, reset - self.budget.clock()))
            self.stats.quota_remaining = float(minute)
            minute = None
        self.budget.observe(minute_left=minute, daily_left=daily)
        remaining = self.budget.remaining()
        if remaining is not None:
            self.stats.quota_remaining = float(remaining)


def retry_after(response: requests.Response) -> float | None:
    """``Retry-After`` in seconds (delta or HTTP date), None when absent or unreadable."""
    value = response.headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    date = response.headers.get("Date")
    now = parsedate_to_datetime(date).timestamp() if date else time.time()
    return max(0.0, moment.timestamp() - now)


def _int_header(response: requests.Response, name: str | None) -> int | None:
    if name is None or name not in response.headers:
        return None
    try:
        return int(float(response.headers[name]))
    except ValueError:
        return None


def _json(source: str, endpoint: str, response: requests.Response) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        raise MappingError(f"{source}: {endpoint}: the answer is not JSON") from None
