"""``/metrics`` rendered once per change, off the request path: a scrape copies cached bytes.

Rendering the catalogue reads the store and formats every sample (about half a second of
CPU at 30,000 series), yet the figures only change when something is written. So the
exposition is cached, per format (Prometheus text or OpenMetrics) and per encoding
(identity or gzip), under a *version*: a tuple the caller computes cheaply. The daemon's
version (:meth:`monitor.metrics.RuntimeStats.version`) counts every transaction committed
through its store engine and carries its in-memory figures, so any write this process
makes (a poll, an evaluation, a delivery, a forecast, a silence set through the API, a
lease renewal) moves it.

Two ways to keep the cache current:

* **On demand** (the default, and what tests of figures use): a scrape that finds the
  version moved renders on the request thread, so it shows every write made before it.
* **Eagerly** (:meth:`ExpositionCache.start`, what the daemon runs): one background thread
  ("exposition") re-renders every format and encoding that scrapes asked for when the
  version moves, after a debounce (``quiet`` seconds without a further change, or at most
  ``at_most`` seconds after the first one, so a burst of commits costs one render). A
  scrape is then served the latest *complete* page and never waits for a render, except
  when no page of its format exists yet (the first scrape after start, or the first in a
  format not asked for within ``forget`` seconds).

  What an eager scrape may show: the page as of the version read when the latest
  complete render began, so at most one render behind the store. A write becomes
  visible ``quiet`` to ``at_most`` seconds after it (plus ``check`` for a change that
  is not a commit, such as an in-memory count) plus the render's own duration (about
  0.5 s CPU at 30,000 series; several seconds of wall on a loaded machine).

The bytes are what :func:`prometheus_client.generate_latest` (or its OpenMetrics twin,
chosen by the same ``Accept`` negotiation) writes for the registry: the cache never
formats a sample itself. The version is read *before* the registry is collected, so a
write that lands while a render runs leaves the page marked stale and renders again.
"""

from __future__ import annotations

import gzip
import logging
import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from prometheus_client.exposition import choose_encoder, gzip_accepted

OPENMETRICS = "application/openmetrics-text"

log = logging.getLogger(__name__)

Key = tuple[str, bool]
"""A page's content type and whether it is gzipped."""


@dataclass(frozen=True)
class Exposition:
    """One answer to a scrape."""

    body: bytes
    content_type: str
    gzipped: bool


def negotiate(
    accept: str, accept_encoding: str
) -> tuple[Key, Callable[[CollectorRegistry], bytes]]:
    """The page's key and encoder for a scrape's ``Accept`` and ``Accept-Encoding``."""
    encoder, content_type = choose_encoder(accept)
    if not content_type.startswith(OPENMETRICS):
        content_type = CONTENT_TYPE_LATEST  # the text format's type, as served before
    return (content_type, gzip_accepted(accept_encoding)), encoder


class ExpositionCache:
    """The registry's exposition, rendered at most once per version, format and encoding;
    on demand, or by a background renderer once :meth:`start` ran."""

    def __init__(
        self,
        registry: CollectorRegistry,
        version: Callable[[], Hashable],
        *,
        quiet: float = 0.15,
        at_most: float = 1.0,
        check: float = 0.5,
        forget: float = 900.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._registry = registry
        self._version = version
        self._quiet, self._at_most, self._check, self._forget = quiet, at_most, check, forget
        self._monotonic = monotonic
        self._lock = threading.Lock()
        """Guards the pages and the formats asked for (held only to read or swap them)."""
        self._render_lock = threading.Lock()
        """One render at a time: concurrent scrapes after a change, or a scrape and the
        renderer, do not each collect the store."""
        self._cached: dict[Key, tuple[Hashable, Exposition]] = {}
        self._encoders: dict[str, Callable[[CollectorRegistry], bytes]] = {}
        self._asked: dict[Key, float] = {}
        """When each format and encoding was last scraped (monotonic seconds)."""
        self._changed = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.renders = 0
        """How many times the registry was collected and formatted (for tests and benchmarks)."""
        self.renders_on_request = 0
        """How many of those ran on a scrape's thread rather than the renderer's."""

    # -- scrapes ---------------------------------------------------------------------------

    def get(self, accept: str = "", accept_encoding: str = "") -> Exposition:
        """The exposition negotiated by the ``Accept`` and ``Accept-Encoding`` headers."""
        key, encoder = negotiate(accept, accept_encoding)
        with self._lock:
            self._asked[key] = self._monotonic()
            self._encoders.setdefault(key[0], encoder)
            found = self._cached.get(key)
            eager = self.running
        if eager and found is not None:
            return found[1]  # the latest complete page; the renderer keeps it current
        with self._render_lock:
            version = self._version()
            with self._lock:
                found = self._cached.get(key)
            if found is not None and (eager or found[0] == version):
                return found[1]  # rendered while this scrape waited for the lock
            self.renders_on_request += 1
            return self._render(version, [key])[key]

    # -- the background renderer ------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def changed(self) -> None:
        """Something the page shows has changed: wake the renderer (no-op when not started).
        Changes that do not call this are still seen within ``check`` seconds."""
        self._changed.set()

    def start(self) -> None:
        """Render in the background from now on (see the module's docstring)."""
        if self._thread is not None:
            raise RuntimeError("the exposition renderer is already started")
        self._thread = threading.Thread(target=self._run, name="exposition", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the renderer (a render under way finishes first); scrapes then render on
        demand again."""
        self._stopping.set()
        self._changed.set()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.warning("the exposition renderer did not stop within %gs", timeout)

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._changed.wait(self._check)
            self._changed.clear()
            if self._stopping.is_set() or self.current():
                continue
            self._settle()
            if self._stopping.is_set():
                break
            try:
                with self._render_lock:
                    keys = self._wanted()
                    if keys:
                        self._render(self._version(), keys)
            except Exception:  # keep serving the last page; try again after a pause
                log.exception("rendering /metrics failed; scrapes get the previous page")
                self._stopping.wait(self._at_most)

    def current(self) -> bool:
        """Whether every page scraped so far exists and is as of the current version."""
        version = self._version()
        with self._lock:
            return all(
                key in self._cached and self._cached[key][0] == version for key in self._asked
            )

    def _settle(self) -> None:
        """Wait for ``quiet`` seconds without a change, or ``at_most`` since the first."""
        first = self._monotonic()
        seen = self._version()
        while not self._stopping.wait(self._quiet):
            now_seen = self._version()
            if now_seen == seen or self._monotonic() - first >= self._at_most:
                return
            seen = now_seen

    def _wanted(self) -> list[Key]:
        """The formats and encodings scraped within ``forget`` seconds; the pages of the
        others are dropped (their next scrape renders on demand, so it is never old)."""
        now = self._monotonic()
        with self._lock:
            for key, at in list(self._asked.items()):
                if now - at > self._forget:
                    del self._asked[key]
                    self._cached.pop(key, None)
            return list(self._asked)

    # -- rendering --------------------------------------------------------------------------

    def _render(self, version: Hashable, keys: list[Key]) -> dict[Key, Exposition]:
        """Render ``keys`` as of ``version`` (read before collecting): one collection per
        content type, one compression per gzipped key. Caller holds the render lock."""
        pages: dict[Key, Exposition] = {}
        for content_type in dict.fromkeys(content_type for content_type, _ in keys):
            with self._lock:
                encoder = self._encoders[content_type]
            twin = self._cached.get((content_type, False))
            if twin is not None and twin[0] == version:
                plain = twin[1].body  # the gzip twin of a page already current
            else:
                self.renders += 1
                plain = encoder(self._registry)
            pages[(content_type, False)] = Exposition(plain, content_type, False)
            if (content_type, True) in keys:
                pages[(content_type, True)] = Exposition(gzip.compress(plain), content_type, True)
        with self._lock:
            for key, page in pages.items():
                self._cached[key] = (version, page)
        return pages
