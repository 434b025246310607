"""Ticket-store collectors, one plugin per module, registered explicitly below."""

from __future__ import annotations

from collectors.base import Collector, QueueStats, Snapshot, Window
from collectors.sql import SqlCollector, SqlSourceConfig

REGISTRY: dict[str, type[Collector]] = {
    "sql": SqlCollector,
}
"""Every collector kind, by the ``kind`` its configuration names."""

SourceConfig = SqlSourceConfig
"""The configuration of one source (a discriminated union once there are several kinds)."""

__all__ = ["REGISTRY", "Collector", "QueueStats", "Snapshot", "SourceConfig", "Window"]
