"""The demo replaying in a background thread, held still at an instant for the tests to look.

The replay is unpaced and stepped (``monitor/demo/run.py``): it starts on Monday
21 March 2016 at 09:00 local time (three weeks of rollups are backfilled before that, as
in the full demo) and stops moving at 16:30, once ``BacklogSurge`` has fired (16:15, see
monitor/demo/data/ANALYSIS.md), the forecast warning is firing and the staffing advice
has been sent. While it is held there, its HTTP server keeps answering with the figures
of that instant: a real Prometheus scrapes it, a browser loads its status page.
Releasing it lets the replay finish its last step and return.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from monitor.demo.run import ZONE, run_demo
from tests.processes import PATIENCE, eventually

START = datetime(2016, 3, 21, 9, 0)
HOLD_AT = datetime(2016, 3, 21, 16, 30, tzinfo=ZONE)
HOURS = 7.75  # the replay's last step is 16:30; it returns right after being released
HOLD_GUARD = 3600.0
"""Seconds a held replay waits before going on by itself (a hang guard for the thread)."""


@dataclass
class LiveDemo:
    """A demo replay held at :data:`HOLD_AT`; ``url`` is its HTTP server."""

    workdir: Path
    port: int
    prometheus: str = ""
    """The URL of the Prometheus scraping the demo, when one does."""
    lines: list[str] = field(default_factory=list)
    held: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    held_since: float = 0.0
    """Wall-clock time (``time.time()``) at which the replay was held."""
    code: int | None = None
    error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Start the replay and return once it is held at :data:`HOLD_AT`."""
        self._thread = threading.Thread(target=self._run, name="demo", daemon=True)
        self._thread.start()
        eventually(
            self.held.is_set,
            "the demo replay to reach 16:30",
            timeout=PATIENCE * 5,
            died=lambda: None if self._thread.is_alive() else f"the demo ended ({self.error!r})",
            context=lambda: "\n".join(self.lines),
        )

    def finish(self) -> None:
        """Release the replay and wait for it to return."""
        self.release.set()
        self._thread.join(timeout=PATIENCE)

    def _run(self) -> None:
        try:
            self.code = run_demo(
                speed=None,
                start=START,
                hours=HOURS,
                listen=f"127.0.0.1:{self.port}",
                workdir=self.workdir,
                out=self.lines.append,
                on_step=self._step,
            )
        except BaseException as err:  # reported by start() or the tests, not lost in a thread
            self.error = err
            raise

    def _step(self, now: datetime) -> None:
        if now >= HOLD_AT and not self.held.is_set():
            self.held_since = time.time()
            self.held.set()
            self.release.wait(HOLD_GUARD)
