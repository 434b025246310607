"""The extension point of webhook intake: how a store signs what it pushes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Protocol

Verdict = Literal["ok", "missing_signature", "bad_signature"]


class SignatureScheme(Protocol):
    """Verifies one store's webhook signature over the raw body."""

    kind: str
    """The source ``kind`` whose webhooks this scheme verifies."""

    def verify(self, key: bytes, body: bytes, headers: Mapping[str, str]) -> Verdict:
        """Whether ``headers`` carry a valid signature of ``body`` under ``key``
        (constant-time comparison). ``headers`` has lower-case names."""
        ...

    def delivery(self, headers: Mapping[str, str]) -> str:
        """What identifies this delivery among others (for refusing replays)."""
        ...

    def is_ping(self, headers: Mapping[str, str]) -> bool:
        """Whether this event only tests the hook (no poll)."""
        ...
