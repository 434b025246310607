"""docs/notifiers.md: every configuration example is valid for its notifier."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from alerting.notifiers.alertmanager import AlertmanagerNotifier
from alerting.notifiers.pagerduty import PagerDutyNotifier
from alerting.notifiers.slack import SlackNotifier
from alerting.notifiers.webhook import WebhookNotifier
from tests.alerting.notifiers.conftest import WEBHOOK_SECRET

DOC = Path(__file__).resolve().parents[3] / "docs" / "notifiers.md"
MODELS: dict[str, type[BaseModel]] = {
    n.kind: n.config_model
    for n in (WebhookNotifier, AlertmanagerNotifier, SlackNotifier, PagerDutyNotifier)
}
INLINE = {
    "secret_file": ("secret", WEBHOOK_SECRET),
    "bearer_token_file": ("bearer_token", "token-from-the-doc"),
    "url_file": ("url", "https://hooks.example.com/services/T0/B0/x"),
    "routing_key_file": ("routing_key", "0123456789abcdef0123456789abcdef"),
}
"""The doc reads secrets from files that tests do not have: use inline values instead."""


def documented_receivers() -> list[dict[str, Any]]:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    receivers = [r for block in blocks for r in yaml.safe_load(block)["receivers"]]
    for receiver in receivers:
        for file_key, (key, value) in INLINE.items():
            if receiver.pop(file_key, None) is not None:
                receiver[key] = value
    return receivers


class TestDocumentedExamples:
    def test_every_notifier_has_an_example(self) -> None:
        """The doc shows a configuration for each of the four kinds."""
        assert {r["kind"] for r in documented_receivers()} == set(MODELS)

    @pytest.mark.parametrize("receiver", documented_receivers(), ids=lambda r: r["kind"])
    def test_example_validates(self, receiver: dict[str, Any]) -> None:
        """Each example is accepted by its notifier's config model."""
        MODELS[receiver["kind"]].model_validate(receiver)
