"""The soak's ``--heap`` figures: each reads what it says it reads, on this process."""

from __future__ import annotations

import gc

import numpy as np
import psutil
import pytest

from benchmarks.load import heap
from forecasts.engine import EngineSettings, new_state


class TestMappings:
    def test_the_kinds_add_up_to_the_rss(self) -> None:
        """heap + anon + file + other is the process's RSS (read just before and after)."""
        before = psutil.Process().memory_info().rss / heap.MB
        kinds = heap.mapping_figures()
        after = psutil.Process().memory_info().rss / heap.MB
        assert set(kinds) == {"heap", "anon", "file", "other"}
        assert min(before, after) - 2 <= sum(kinds.values()) <= max(before, after) + 2


class TestMalloc:
    def test_in_use_counts_small_buffers_the_heap_holds(self) -> None:
        """200 arrays of 32 KiB (below glibc's mmap threshold): in_use rises by 6.25 MiB."""
        first = heap.malloc_figures()
        if first is None:
            pytest.skip("not glibc")
        held = [np.ones(4096) for _ in range(200)]
        second = heap.malloc_figures()
        assert second is not None
        assert second["in_use"] - first["in_use"] >= 6.0
        del held

    def test_python_blocks_are_counted_apart(self) -> None:
        """100,000 small tuples raise the live blocks of Python's allocator by over 4 MB."""
        first = heap.pymalloc_figures()
        held = [(i, i + 1) for i in range(100_000)]
        second = heap.pymalloc_figures()
        assert second["arenas"] >= first["arenas"] > 0
        assert second["live_blocks"] - first["live_blocks"] > 4.0
        del held
        gc.collect()


class TestStructures:
    def test_array_bytes_counts_a_new_state_ring_once(self) -> None:
        """A fresh state: its ring's float32 forecasts and float64 actuals, nothing else."""
        settings = EngineSettings()
        state = new_state(settings, 1000)
        size = settings.window + settings.horizon
        expected = 5 * size * settings.horizon * 4 + size * 8
        assert heap.array_bytes(state) == expected
        assert heap.array_bytes([state, state]) == expected  # shared: counted once

    def test_a_view_counts_as_the_array_it_keeps_alive(self) -> None:
        """A 3-element view of a 1,000-element array keeps 8,000 bytes, counted once."""
        whole = np.zeros(1000)
        assert heap.array_bytes({"a": whole[-3:], "b": whole[:2]}) == 8000
