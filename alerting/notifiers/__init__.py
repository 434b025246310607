"""Notifiers, one per module, registered explicitly below.

Every notifier receives the canonical notification (Alertmanager webhook v4 JSON, as
stored in the outbox) and renders it for its target inside ``send``.
"""

from __future__ import annotations

from alerting.notifiers.alertmanager import AlertmanagerNotifier, AlertmanagerReceiverConfig
from alerting.notifiers.base import Notifier
from alerting.notifiers.pagerduty import PagerDutyNotifier, PagerDutyReceiverConfig
from alerting.notifiers.slack import SlackNotifier, SlackReceiverConfig
from alerting.notifiers.webhook import WebhookNotifier, WebhookReceiverConfig

REGISTRY: dict[str, type[Notifier]] = {
    "webhook": WebhookNotifier,
    "alertmanager": AlertmanagerNotifier,
    "slack": SlackNotifier,
    "pagerduty": PagerDutyNotifier,
}
"""Every notifier kind, by the ``kind`` its configuration names."""

ReceiverConfig = (
    WebhookReceiverConfig
    | AlertmanagerReceiverConfig
    | SlackReceiverConfig
    | PagerDutyReceiverConfig
)
"""The configuration of one receiver (discriminated by ``kind``)."""

__all__ = ["REGISTRY", "Notifier", "ReceiverConfig"]
