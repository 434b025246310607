"""The leader lease's decisions, pure: who holds it, and until when it may act on it.

A lease row names its holder, a generation (incremented at every change of holder) and
when it expires. A replica renews its own lease before it expires; any replica takes
an expired one, with the next generation. The generation is the fencing token: the
store refuses an outbox claim or commit made under an older one (``monitor/store``).
The holder itself stops acting earlier than the row expires (:func:`acts_until`), so a
leader that cannot renew has stopped sending before anyone else may start.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta


class Role(enum.StrEnum):
    """What a replica does: the leader evaluates and notifies, every replica collects."""

    LEADER = "leader"
    FOLLOWER = "follower"


@dataclass(frozen=True)
class Lease:
    """One lease row."""

    name: str
    holder: str
    generation: int
    acquired_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class Fence:
    """The token a leader shows the store with every write only the leader may make.

    ``checked=False`` is the single-process fence (SQLite): there is no lease to check.
    """

    name: str
    holder: str
    generation: int
    checked: bool = True


SOLE = Fence(name="", holder="", generation=0, checked=False)
"""The fence of a daemon that is alone on its store (always the leader)."""


@dataclass(frozen=True)
class Decision:
    """The outcome of one renewal: this replica's role and the row to store (None: keep)."""

    role: Role
    lease: Lease
    write: Lease | None

    @property
    def fence(self) -> Fence | None:
        """The token to write with, when this replica leads."""
        if self.role is not Role.LEADER:
            return None
        return Fence(self.lease.name, self.lease.holder, self.lease.generation)


def decide(current: Lease | None, name: str, me: str, now: datetime, ttl: timedelta) -> Decision:
    """Renew ``me``'s unexpired lease, take an expired (or absent) one, or follow.

    ``now`` is the store's clock (every replica reads the same one). Taking a lease,
    even one ``me`` held before it expired, starts a new generation: whatever ``me``
    claimed under the old one is then refused like anyone else's.
    """
    if current is not None and now < current.expires_at:
        if current.holder != me:
            return Decision(Role.FOLLOWER, current, None)
        renewed = Lease(name, me, current.generation, current.acquired_at, now + ttl)
        return Decision(Role.LEADER, renewed, renewed)
    generation = current.generation + 1 if current is not None else 1
    taken = Lease(name, me, generation, now, now + ttl)
    return Decision(Role.LEADER, taken, taken)


def acts_until(renewal_started: float, ttl: timedelta, renew_interval: timedelta) -> float:
    """Until when (monotonic seconds) a leader that renewed may act without renewing again.

    ``renewal_started`` is read before the renewal's transaction began, so it is no
    later than the store's ``now`` that set the row's expiry: acting until
    ``ttl - renew_interval`` after it ends at least ``renew_interval`` before any other
    replica may take the lease.
    """
    return renewal_started + (ttl - renew_interval).total_seconds()
