"""The notifier contract: send one outbox message, or raise :class:`NotifierError`."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Protocol

from pydantic import BaseModel


class Notifier(Protocol):
    """Delivers outbox messages to one receiver."""

    kind: ClassVar[str]
    config_model: ClassVar[type[BaseModel]]

    @property
    def name(self) -> str:
        """The receiver's name."""
        ...

    def send(self, key: str, event: str, body: bytes, now: datetime) -> None:
        """Deliver ``body`` once; the same ``key`` is sent on every retry.

        Raises:
            NotifierError: with ``retryable`` telling whether a later attempt may succeed.
        """
        ...
