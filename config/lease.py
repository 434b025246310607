"""The leader lease's settings: how long a lease lasts and how often it is renewed."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, ConfigDict, Field, model_validator

from config.durations import Duration


class LeaseSettings(BaseModel):
    """Who of several replicas on one PostgreSQL store evaluates and notifies.

    Used only when ``store.url`` is PostgreSQL; with SQLite (or MariaDB) the one process
    is always the leader.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(
        "backlog-monitor",
        min_length=1,
        max_length=100,
        description="the lease's row: replicas with the same name share one leader",
    )
    ttl: Duration = Field(
        timedelta(seconds=15),
        description="how long a lease lasts without renewal: the longest failover",
    )
    renew_interval: Duration = Field(
        timedelta(seconds=5), description="how often the leader renews (at most a third of ttl)"
    )
    holder: str | None = Field(
        None,
        max_length=200,
        description="this replica's name in the lease row (default: host, pid and a random tag)",
    )

    @model_validator(mode="after")
    def _renew_well_inside_ttl(self) -> LeaseSettings:
        if self.ttl < timedelta(seconds=1):
            raise ValueError("ttl must be at least 1s")
        if self.renew_interval <= timedelta(0) or self.renew_interval * 3 > self.ttl:
            raise ValueError(
                f"renew_interval ({self.renew_interval.total_seconds():g}s) must be positive "
                f"and at most a third of ttl ({self.ttl.total_seconds():g}s), so that a "
                "renewal failing twice still leaves time before the lease expires"
            )
        return self
