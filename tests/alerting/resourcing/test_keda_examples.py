"""The shipped ScaledObject recipes point at fields the scaling document has."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from alerting.resourcing.status import QueueStatus
from alerting.resourcing.suggestion import scaling_document

KEDA_DIR = Path(__file__).resolve().parents[3] / "deploy" / "kubernetes" / "keda"
URL = "http://backlog-monitor.backlog-monitor.svc:9464/api/v1/queues/billing/scaling"


def scaled_object(name: str) -> dict[str, Any]:
    documents = list(yaml.safe_load_all((KEDA_DIR / name).read_text()))
    (found,) = [d for d in documents if d["kind"] == "ScaledObject"]
    return found  # type: ignore[no-any-return]


def lookup(document: dict[str, Any], path: str) -> Any:
    value: Any = document
    for key in path.split("."):
        value = value[key]
    return value


class TestScaledObjects:
    @pytest.mark.parametrize(
        ("name", "location", "target"),
        [
            ("scaledobject-desired-workers.yaml", "desired.workers", "1"),
            ("scaledobject-backlog.yaml", "backlog", "30"),
        ],
    )
    def test_recipe(self, name: str, location: str, target: str) -> None:
        """Each recipe polls our URL with bearer auth, AverageValue and a fallback."""
        spec = scaled_object(name)["spec"]
        (trigger,) = spec["triggers"]
        meta = trigger["metadata"]
        assert trigger["type"] == "metrics-api"
        assert trigger["metricType"] == "AverageValue"
        assert (meta["url"], meta["valueLocation"], meta["targetValue"]) == (URL, location, target)
        assert meta["authMode"] == "bearer"
        assert trigger["authenticationRef"]["name"]
        assert spec["fallback"]["failureThreshold"] >= 1
        assert spec["fallback"]["replicas"] >= 1

    @pytest.mark.parametrize("location", ["desired.workers", "backlog"])
    def test_value_location_is_a_number(self, location: str) -> None:
        """The valueLocation resolves to an unquoted JSON number in our document."""
        document = scaling_document(
            "billing",
            datetime(2025, 6, 2, 8, tzinfo=UTC),
            backlog=670,
            oldest_age_seconds=25200,
            arrival_rate_per_hour=90,
            throughput_per_hour=96,
            status=QueueStatus.WARN,
            workers_raw=14.79,
            current=12,
        )
        assert isinstance(lookup(document, location), int)
