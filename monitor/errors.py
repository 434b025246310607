"""The one error hierarchy of backlog-monitor.

::

    BacklogError
    ├── ConfigError            invalid configuration; carries every problem with its path
    ├── StoreError             the history store cannot be opened or migrated
    ├── MissingExtra           an optional feature's dependency is not installed
    ├── CollectorError         a ticket store could not be read
    │   ├── SourceUnavailable  connection refused, timeout, 5xx
    │   ├── AuthFailed         credentials rejected
    │   ├── RateLimited        the store asked us to slow down (``retry_after`` seconds)
    │   ├── MappingError       the configured mapping does not match the store's schema
    │   │   └── PermissionDenied  the store's user may not read a table the mapping needs
    │   └── PastUnavailable    the store cannot say what it held at a past instant
    └── NotifierError          a notification could not be delivered (``retryable``)

Plugins raise these and never log what they raise; the scheduler's job wrapper is
the only place that catches broadly, logs once and counts.
"""

from __future__ import annotations


class BacklogError(Exception):
    """Base class of every error this project raises on purpose."""


class ConfigError(BacklogError):
    """Invalid configuration: ``problems`` lists ``(path, message)`` pairs."""

    def __init__(self, problems: list[tuple[str, str]], source: str = "configuration") -> None:
        self.problems = problems
        self.source = source
        n = len(problems)
        lines = [f"Detected {n} error{'s' if n != 1 else ''} in {source}:"]
        lines += [f"  {path}: {message}" if path else f"  {message}" for path, message in problems]
        super().__init__("\n".join(lines))


class StoreError(BacklogError):
    """The history store cannot be used."""


class LeaseLost(BacklogError):
    """Another replica took the leader lease: a write only the leader may make was refused."""


class MissingExtra(BacklogError):
    """An optional feature needs a package that is not installed; the message says how."""


class CollectorError(BacklogError):
    """A ticket store could not be read; ``reason`` becomes a metric label."""

    reason = "error"


class SourceUnavailable(CollectorError):
    """The ticket store did not answer (refused, timed out, server error)."""

    reason = "unavailable"


class AuthFailed(CollectorError):
    """The ticket store rejected our credentials."""

    reason = "auth"


class RateLimited(CollectorError):
    """The ticket store asked us to slow down."""

    reason = "rate_limited"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class MappingError(CollectorError):
    """The configured mapping does not match the ticket store's schema."""

    reason = "mapping"


class PermissionDenied(MappingError):
    """The ticket store's user lacks a grant (SELECT on a table) the mapping needs."""

    reason = "permission"


class PastUnavailable(CollectorError):
    """The ticket store's API cannot give the figures of a past instant (``snapshot
    --as-of``); the message names what it lacks."""

    reason = "no_history"


class ReservedQueueName(MappingError):
    """The ticket store has a queue named like the source's total (``__total__``)."""

    reason = "reserved_queue"


class NotifierError(BacklogError):
    """A notification could not be delivered.

    Args:
        message: what went wrong, without secrets.
        retryable: whether a later attempt may succeed (5xx, 408, 429, network errors).
        retry_after: seconds the receiver asked us to wait, if it said so.
        status: the HTTP status, when there was one.
    """

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
