"""Which replica leads: the lease held in PostgreSQL, or the sole process on SQLite.

The daemon asks :meth:`Leadership.fence` before each job only the leader runs, and shows
the fence to the store with each of that job's writes. :class:`LeaderLease` renews the
lease on the scheduler's ``lease`` job; when a renewal fails it keeps acting only until
:func:`monitor.lease.acts_until`, well before another replica may take over.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from typing import Protocol

import sqlalchemy as sa

from config.lease import LeaseSettings
from monitor.clock import Clock
from monitor.lease import SOLE, Decision, Fence, Role, acts_until
from monitor.store import leases
from monitor.store.engine import describe

log = logging.getLogger(__name__)


class Leadership(Protocol):
    """A replica's role, and the fence for the writes only the leader makes."""

    @property
    def role(self) -> Role: ...

    @property
    def renews(self) -> bool:
        """True when :meth:`renew` must run on a schedule."""
        ...

    def renew(self) -> Role: ...

    def fence(self) -> Fence | None:
        """The fence while this replica leads, else None."""
        ...

    def lost(self, reason: str) -> None:
        """The store refused a fenced write: stop leading until the next renewal."""
        ...

    def release(self) -> None:
        """Give the lease up (a graceful stop)."""
        ...


class SoleLeader:
    """A daemon alone on its store (SQLite, MariaDB): always the leader, nothing to renew."""

    role = Role.LEADER
    renews = False

    def renew(self) -> Role:
        return Role.LEADER

    def fence(self) -> Fence | None:
        return SOLE

    def lost(self, reason: str) -> None:
        raise AssertionError(f"a sole leader cannot lose its lease: {reason}")

    def release(self) -> None:
        return None


class LeaderLease:
    """The lease row shared by replicas on one PostgreSQL store.

    ``clock`` replaces the store's clock and ``monotonic`` the local one in tests;
    by default the row's times come from PostgreSQL, so replicas' clocks may disagree.
    """

    renews = True

    def __init__(
        self,
        engine: sa.Engine,
        settings: LeaseSettings,
        on_change: Callable[[Role], None] = lambda _role: None,
        clock: Clock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = engine
        self._settings = settings
        self.holder = settings.holder or default_holder()
        self._on_change = on_change
        self._clock = clock
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._fence: Fence | None = None
        self._acts_until = 0.0
        self.role = Role.FOLLOWER
        on_change(self.role)

    def renew(self) -> Role:
        """Renew or take the lease, or learn who holds it; a store error changes nothing."""
        started = self._monotonic()
        try:
            with self._engine.begin() as conn:
                now = self._clock() if self._clock is not None else leases.database_now(conn)
                decision = leases.hold(
                    conn, self._settings.name, self.holder, now, self._settings.ttl
                )
        except sa.exc.SQLAlchemyError as err:
            log.warning("cannot renew the leader lease: %s", describe(err))
            self.fence()  # steps down if the local term ran out meanwhile
            return self.role
        self._adopt(decision, started)
        return self.role

    def fence(self) -> Fence | None:
        with self._lock:
            if self._fence is not None and self._monotonic() >= self._acts_until:
                self._step_down("the lease was not renewed in time")
            return self._fence

    def lost(self, reason: str) -> None:
        with self._lock:
            if self._fence is not None:
                self._step_down(reason)

    def release(self) -> None:
        fence = self.fence()
        if fence is None:
            return
        with self._engine.begin() as conn:
            now = self._clock() if self._clock is not None else leases.database_now(conn)
            leases.release(conn, fence, now)
        self.lost("released at shutdown")

    def _adopt(self, decision: Decision, started: float) -> None:
        with self._lock:
            fence = decision.fence
            if fence is None:
                if self._fence is not None:
                    self._step_down(f"{decision.lease.holder} holds the lease")
                return
            settings = self._settings
            self._acts_until = acts_until(started, settings.ttl, settings.renew_interval)
            if self._fence != fence:
                log.info(
                    "this replica is now the leader (lease %r, generation %d)",
                    fence.name,
                    fence.generation,
                    extra={"holder": fence.holder, "generation": fence.generation},
                )
                self._fence = fence
                self._set_role(Role.LEADER)

    def _step_down(self, reason: str) -> None:
        log.warning("this replica is now a follower: %s", reason, extra={"holder": self.holder})
        self._fence = None
        self._set_role(Role.FOLLOWER)

    def _set_role(self, role: Role) -> None:
        self.role = role
        self._on_change(role)


def default_holder() -> str:
    """This process's name in the lease row: host, pid and a random tag (pids repeat)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def build_leadership(
    engine: sa.Engine, settings: LeaseSettings, on_change: Callable[[Role], None]
) -> Leadership:
    """The lease on PostgreSQL; on any other store the daemon is alone and leads."""
    if engine.dialect.name == "postgresql":
        return LeaderLease(engine, settings, on_change)
    on_change(Role.LEADER)
    return SoleLeader()
