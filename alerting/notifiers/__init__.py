"""Notifiers, one per module, registered explicitly below."""

from __future__ import annotations

from alerting.notifiers.base import Notifier
from alerting.notifiers.webhook import WebhookNotifier, WebhookReceiverConfig

REGISTRY: dict[str, type[Notifier]] = {
    "webhook": WebhookNotifier,
}
"""Every notifier kind, by the ``kind`` its configuration names."""

ReceiverConfig = WebhookReceiverConfig
"""The configuration of one receiver (a discriminated union once there are several kinds)."""

__all__ = ["REGISTRY", "Notifier", "ReceiverConfig"]
