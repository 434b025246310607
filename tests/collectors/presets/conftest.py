"""What every preset test needs: collectors on a preset, closed after the test."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from collectors.sql import SqlCollector, SqlSourceConfig

BuildCollector = Callable[..., SqlCollector]
"""``build(preset, url, *, session_time_zone=None, **mapping)``."""


@pytest.fixture
def preset_collectors() -> Iterator[BuildCollector]:
    """Build SQL collectors on a preset with mapping overrides; all closed afterwards."""
    made: list[SqlCollector] = []

    def build(
        preset: str, url: str, *, session_time_zone: str | None = None, **mapping: Any
    ) -> SqlCollector:
        source: dict[str, Any] = {
            "kind": "sql",
            "name": preset,
            "url": url,
            "timeout": "20s",
            "mapping": {"preset": preset, **mapping},
        }
        if session_time_zone is not None:
            source["session_time_zone"] = session_time_zone
        made.append(SqlCollector(SqlSourceConfig.model_validate(source)))
        return made[-1]

    yield build
    for collector in made:
        collector.close()
