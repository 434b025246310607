"""``/metrics`` rendered once per change: a scrape between two changes copies cached bytes.

Rendering the catalogue reads the store and formats every sample (about half a second of
CPU at 30,000 series), yet the figures only change when something is written. So the
exposition is cached, per format (Prometheus text or OpenMetrics) and per encoding
(identity or gzip), under a *version*: a tuple the caller computes cheaply at every
scrape. The daemon's version (:meth:`monitor.metrics.RuntimeStats.version`) counts every
transaction committed through its store engine and carries its in-memory figures, so any
write this process makes (a poll, an evaluation, a delivery, a forecast, a silence set
through the API, a lease renewal) renders anew at the next scrape.

The bytes are what :func:`prometheus_client.generate_latest` (or its OpenMetrics twin,
chosen by the same ``Accept`` negotiation) writes for the registry: the cache never
formats a sample itself. The version is read *before* the registry is collected, so a
write that lands while a render runs leaves the next scrape rendering again.
"""

from __future__ import annotations

import gzip
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client.exposition import choose_encoder, gzip_accepted

OPENMETRICS = "application/openmetrics-text"


@dataclass(frozen=True)
class Exposition:
    """One answer to a scrape."""

    body: bytes
    content_type: str
    gzipped: bool


class ExpositionCache:
    """The registry's exposition, rendered at most once per version, format and encoding."""

    def __init__(self, registry: CollectorRegistry, version: Callable[[], Hashable]) -> None:
        self._registry = registry
        self._version = version
        self._lock = threading.Lock()
        self._cached: dict[tuple[str, bool], tuple[Hashable, Exposition]] = {}
        self.renders = 0
        """How many times the registry was collected and formatted (for tests and benchmarks)."""

    def get(self, accept: str = "", accept_encoding: str = "") -> Exposition:
        """The exposition negotiated by the ``Accept`` and ``Accept-Encoding`` headers."""
        encoder, content_type = choose_encoder(accept)
        if not content_type.startswith(OPENMETRICS):
            content_type = CONTENT_TYPE_LATEST  # the text format's type, as served before
        gzipped = gzip_accepted(accept_encoding)
        key = (content_type, gzipped)
        # One render at a time: concurrent scrapes after a change wait for the first one
        # instead of each collecting the store.
        with self._lock:
            version = self._version()
            found = self._cached.get(key)
            if found is not None and found[0] == version:
                return found[1]
            plain = self._plain(content_type, version, encoder)
            body = gzip.compress(plain) if gzipped else plain
            answer = Exposition(body, content_type, gzipped)
            self._cached[key] = (version, answer)
            return answer

    def _plain(
        self, content_type: str, version: Hashable, encoder: Callable[[CollectorRegistry], bytes]
    ) -> bytes:
        """The uncompressed bytes for ``version``, reusing the gzip twin's render if current."""
        twin = self._cached.get((content_type, False))
        if twin is not None and twin[0] == version:
            return twin[1].body
        self.renders += 1
        plain = encoder(self._registry)
        self._cached[(content_type, False)] = (version, Exposition(plain, content_type, False))
        return plain
