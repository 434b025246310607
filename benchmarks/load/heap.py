"""Where the soak's RSS lives, hour by hour, without tracing (cheap enough for 1,000 queues).

``python -m benchmarks.load.soak --heap ...`` hands a :class:`Heap` to the soak, which
calls it with the daemon at every simulated hour. Each call records:

* ``maps_mb``: the resident memory of the process's mappings by kind (``/proc/self/smaps``):
  ``heap`` (the C allocator's ``brk`` heap), ``anon`` (anonymous mappings: Python's
  1 MiB arenas, large NumPy buffers, other threads' malloc arenas), ``file`` (libraries,
  SQLite's files if mapped) and ``other`` (stacks);
* ``malloc_mb`` (glibc only, ``mallinfo2``): the bytes the C allocator has handed out
  (``in_use``) and holds free (``free``: freed chunks it keeps, inside ``sbrk_arena``
  and the other arenas; ``mmapped``: chunks mapped on their own);
* ``pymalloc_mb`` (``sys._debugmallocstats``): Python's small-object allocator: arenas
  mapped, bytes in live blocks, bytes free inside its pools;
* ``sqlite_mb``: SQLite's own allocations (``sqlite3_memory_used`` of the library
  the process loaded), when found;
* ``structures``: the daemon's per-queue structures: forecast states held and the
  bytes of their NumPy arrays, snapshot rows in the evaluation cache, live objects.

``free`` memory that the allocator keeps counts in RSS until it is given back; the
difference between the hours of these figures tells a leak (``in_use``, live blocks,
structures growing) from a heap that fragments (``free`` growing).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import dataclasses
import gc
import os
import re
import sys
import tempfile
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from monitor.scheduler import Job

MB = 2**20


class _Mallinfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _libc() -> Any:
    try:
        return ctypes.CDLL(None)
    except OSError:
        return None


def malloc_figures() -> dict[str, float] | None:
    """glibc's ``mallinfo2()`` in MB (None on another C library)."""
    libc = _libc()
    fn = getattr(libc, "mallinfo2", None)
    if fn is None:
        return None
    fn.restype = _Mallinfo2
    info = fn()
    return {
        "sbrk_arena": info.arena / MB,
        "in_use": info.uordblks / MB,
        "free": info.fordblks / MB,
        "mmapped": info.hblkhd / MB,
        "top_releasable": info.keepcost / MB,
    }


_PYMALLOC = {
    "arenas": re.compile(r"# arenas allocated current\s*=\s*([\d,]+)"),
    "live_blocks": re.compile(r"# bytes in allocated blocks\s*=\s*([\d,]+)"),
    "free_blocks": re.compile(r"# bytes in available blocks\s*=\s*([\d,]+)"),
    "unused_pools": re.compile(r"unused pools \* \d+ bytes\s*=\s*([\d,]+)"),
}


def pymalloc_figures() -> dict[str, float]:
    """Python's small-object allocator (``sys._debugmallocstats``, written to fd 2)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as out:
        os.dup2(out.fileno(), 2)
        try:
            sys._debugmallocstats()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        out.seek(0)
        text = out.read().decode(errors="replace")
    found: dict[str, float] = {}
    for key, pattern in _PYMALLOC.items():
        match = pattern.search(text)
        if match is not None:
            value = int(match.group(1).replace(",", ""))
            found[key] = value if key == "arenas" else value / MB
    return found


def mapping_figures(path: str = "/proc/self/smaps") -> dict[str, float]:
    """Resident MB per kind of mapping (see the module's docstring)."""
    sizes = {"heap": 0.0, "anon": 0.0, "file": 0.0, "other": 0.0}
    kind = "other"
    try:
        with open(path) as smaps:
            for line in smaps:
                head = line.split(maxsplit=5)
                if head and "-" in head[0] and len(head) >= 5 and ":" not in head[0]:
                    name = head[5].strip() if len(head) > 5 else ""
                    kind = (
                        "heap"
                        if name == "[heap]"
                        else "anon"
                        if not name
                        else "file"
                        if name.startswith("/")
                        else "other"
                    )
                elif line.startswith("Rss:"):
                    sizes[kind] += int(line.split()[1]) / 1024
    except OSError:
        return {}
    return sizes


def sqlite_mb() -> float | None:
    """``sqlite3_memory_used()`` of the libsqlite3 this process loaded, in MB."""
    import sqlite3  # noqa: F401  (loads the library whose counter is read)

    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if "libsqlite3" in line}
    except OSError:
        return None
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        lib.sqlite3_memory_used.restype = ctypes.c_int64
        return float(lib.sqlite3_memory_used()) / MB
    return None


def array_bytes(obj: Any, seen: set[int] | None = None) -> int:
    """Bytes of the NumPy arrays reachable through dataclasses, dicts, lists and tuples
    (a view counts as the whole array it is a view of, once)."""
    seen = set() if seen is None else seen
    if isinstance(obj, np.ndarray):
        while isinstance(obj.base, np.ndarray):  # a view keeps the whole of its base alive
            obj = obj.base
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    if isinstance(obj, np.ndarray):
        return int(obj.nbytes)
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return sum(array_bytes(getattr(obj, f.name), seen) for f in dataclasses.fields(obj))
    if isinstance(obj, dict):
        return sum(array_bytes(v, seen) for v in obj.values())
    if isinstance(obj, list | tuple):
        return sum(array_bytes(v, seen) for v in obj)
    return 0


def structure_figures(daemon: Any) -> dict[str, float]:
    """The daemon's per-queue structures (private attributes, read only)."""
    states = daemon.forecaster._states
    cache = daemon._rows
    return {
        "forecast_states": len(states),
        "forecast_arrays_mb": sum(array_bytes(s) for s in states.values()) / MB,
        "error_caches": sum(1 for s in states.values() if s.ring._errors is not None),
        "ring_memo_entries": sum(len(s.ring.memo) for s in states.values()),
        "cached_rows": sum(len(v) for v in cache._rows.values()),
        "cached_ids": len(cache._ids),
        "compiled_statements": len(getattr(daemon.engine, "_compiled_cache", None) or ()),
        "objects": len(gc.get_objects()),
    }


class Heap:
    """Hourly figures of :func:`malloc_figures` and the others (see the module), and per
    job (:meth:`wrap`) the Python arenas each job's runs added and freed."""

    def __init__(self) -> None:
        self.hours: list[dict[str, Any]] = []
        self.arenas_added: Counter[str] = Counter()
        self.arenas_freed: Counter[str] = Counter()

    def wrap(self, job: Job) -> Job:
        """``job`` counting the change of Python's arenas across each of its runs."""

        def counted(run: Callable[[], object] = job.run, key: str = job.id.split(":")[0]) -> None:
            before = pymalloc_figures().get("arenas", 0)
            try:
                run()
            finally:
                change = pymalloc_figures().get("arenas", 0) - before
                if change > 0:
                    self.arenas_added[key] += int(change)
                else:
                    self.arenas_freed[key] -= int(change)

        return Job(job.id, job.interval, counted)

    def __call__(self, hour: int, rss_mb: float, daemon: Any) -> dict[str, Any]:
        gc.collect()
        entry: dict[str, Any] = {
            "hour": hour,
            "rss_mb": rss_mb,
            "maps_mb": mapping_figures(),
            "malloc_mb": malloc_figures(),
            "pymalloc_mb": pymalloc_figures(),
            "sqlite_mb": sqlite_mb(),
            "structures": structure_figures(daemon),
            "arenas_added_by_job": dict(self.arenas_added),
            "arenas_freed_by_job": dict(self.arenas_freed),
        }
        self.hours.append(entry)
        return entry
