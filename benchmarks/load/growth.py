"""What grows in the soak: Python allocations and live objects, diffed hour by hour.

``python -m benchmarks.load.soak --trace ...`` hands a :class:`Growth` to the soak,
which calls it at every simulated hour. Each call takes a :mod:`tracemalloc`
snapshot and counts the live objects by type (``gc.get_objects()``), and keeps the
largest differences from the previous hour: by allocating line (the innermost frame
of the project's code, not of the library it called) and by type. Tracing slows the
run severalfold, so it is meant for a short soak (a few hundred queues, a few hours).

The RSS the soak reports also holds memory Python does not trace (SQLite's page
cache, the allocator's free lists and fragmentation): ``traced_mb`` beside it tells
the two apart.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections import Counter
from typing import Any

FRAMES = 12
"""Frames kept per allocation: enough to reach the project's code from a library's."""
TOP = 12
"""Lines and types reported per hour."""
OURS = ("/monitor/", "/forecasts/", "/alerting/", "/collectors/", "/config/", "/tests/fakes")


def _site(trace: tracemalloc.Traceback) -> str:
    """The innermost frame in the project's code (else the innermost frame)."""
    for frame in reversed(trace):  # a Traceback lists the oldest call first
        name = frame.filename.replace("\\", "/")
        if any(part in name for part in OURS) and "/site-packages/" not in name:
            return f"{name.rsplit('/', 2)[-2]}/{name.rsplit('/', 1)[-1]}:{frame.lineno}"
    frame = trace[-1]
    return f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}"


def by_site(snapshot: tracemalloc.Snapshot) -> Counter[str]:
    """Bytes alive per allocating site (see :func:`_site`)."""
    sizes: Counter[str] = Counter()
    for stat in snapshot.statistics("traceback"):
        sizes[_site(stat.traceback)] += stat.size
    return sizes


def by_type() -> Counter[str]:
    """Live objects tracked by the garbage collector, per type name."""
    return Counter(type(o).__name__ for o in gc.get_objects())


def largest(diff: Counter[str], top: int = TOP) -> list[tuple[str, int]]:
    """The ``top`` entries of ``diff`` with the largest absolute change."""
    return sorted(((k, v) for k, v in diff.items() if v), key=lambda kv: -abs(kv[1]))[:top]


class Growth:
    """Hourly snapshots of traced memory and object counts, and their differences."""

    def __init__(self) -> None:
        self.hours: list[dict[str, Any]] = []
        self._sites: Counter[str] | None = None
        self._types: Counter[str] | None = None

    def begin(self) -> None:
        """Start tracing and record hour 0."""
        tracemalloc.start(FRAMES)
        self(0)

    def stop(self) -> None:
        tracemalloc.stop()

    def __call__(self, hour: int) -> dict[str, Any]:
        """Record the state at the end of simulated ``hour``; returns its differences."""
        gc.collect()
        sites = by_site(tracemalloc.take_snapshot())
        types = by_type()
        traced, _peak = tracemalloc.get_traced_memory()
        entry: dict[str, Any] = {
            "hour": hour,
            "traced_mb": traced / 2**20,
            "objects": sum(types.values()),
        }
        if self._sites is not None and self._types is not None:
            sites_diff = Counter(sites)
            sites_diff.subtract(self._sites)
            types_diff = Counter(types)
            types_diff.subtract(self._types)
            entry["sites_kb"] = [(k, round(v / 1024, 1)) for k, v in largest(sites_diff)]
            entry["types"] = largest(types_diff)
        else:
            entry["largest_sites_mb"] = [
                (k, round(v / 2**20, 2)) for k, v in sites.most_common(TOP)
            ]
            entry["largest_types"] = types.most_common(TOP)
        self._sites, self._types = sites, types
        self.hours.append(entry)
        return entry
