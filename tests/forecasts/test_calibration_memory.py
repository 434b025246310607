"""Calibration with a longer memory and a pooled target (forecasts.calibrate.Memory)."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import timedelta

import numpy as np
import pytest
from pydantic import ValidationError

from config.settings import ForecastingSettings
from forecasts import codec
from forecasts.calibrate import (
    BINS,
    Memory,
    empty_counts,
    memory_chance,
    memory_key,
    pooled,
    remember,
)
from forecasts.engine import EngineSettings, catch_up, phase_of, raw_breach_chance
from forecasts.evaluation.replay import Question, pool_memories, replay_queue
from forecasts.outputs import breach_chance, pooled_counts
from forecasts.types import HourlySeries
from monitor.forecasting import engine_settings
from tests.forecasts.synthetic import daily_backlog

SETTINGS = EngineSettings(calibration_prior=10.0, calibration_half_life=168.0)


def limit_of(series: HourlySeries) -> float:
    return float(np.percentile(series.open, 85))


class TestRemember:
    def test_counts_decay_each_hour_and_outcomes_are_counted_when_known(self) -> None:
        memory = Memory("g", None, 2, 10.0, half_life=1.0)
        memory.pending = [(100, 0.35, 2, 10.0), (101, 0.91, 2, 12.0)]
        asked = []

        def crossed(first: int, last: int, limit: float) -> bool | None:
            asked.append((first, last, limit))
            return True

        remember(memory, 102, crossed)
        assert asked == [(101, 102, 10.0)]  # the second needs hour 103
        assert memory.pending == [(101, 0.91, 2, 12.0)]
        assert memory.counts[:, 3].tolist() == [1.0, 1.0, 0.35]
        remember(memory, 103, lambda *_: False)
        assert memory.counts[:, 3].tolist() == [0.5, 0.5, 0.175]  # one hour's decay
        assert memory.counts[:, BINS - 1].tolist() == [1.0, 0.0, 0.91]
        assert memory.pending == []

    def test_an_outcome_the_ring_does_not_know_is_dropped(self) -> None:
        memory = Memory("g", None, 1, 1.0, 1.0, pending=[(5, 0.5, 1, 1.0)])
        remember(memory, 6, lambda *_: None)
        assert memory.pending == [] and not memory.counts.any()

    def test_keys_name_the_limit_unless_tracked(self) -> None:
        assert memory_key("warning", 6, 20.0, None) == ("warning@6h>20", "warning@6h")
        assert memory_key(None, 6, 20.0, "rolling") == ("default@6h:rolling",) * 2


class TestMap:
    def test_nothing_remembered_keeps_the_probability(self) -> None:
        for p in (0.05, 0.3, 0.55, 0.95):
            assert memory_chance(p, empty_counts(), None, 10.0) == pytest.approx(p)
            assert memory_chance(p, empty_counts(), empty_counts(), 10.0) == pytest.approx(p)

    def test_the_pool_is_the_target_of_a_queue_with_little_memory(self) -> None:
        """Queues whose 0.35s never came true: a new queue's 0.35 starts low, not at 0.35."""
        pool = empty_counts()
        pool[:, 3] = [500.0, 0.0, 500 * 0.35]
        own = empty_counts()
        alone = memory_chance(0.35, own, None, 10.0)
        shrunk = memory_chance(0.35, own, pool, 10.0)
        assert alone == pytest.approx(0.35) and shrunk < 0.1
        # a queue whose own 0.35s all came true keeps its own map once it has enough
        own[:, 3] = [200.0, 200.0, 200 * 0.35]
        assert memory_chance(0.35, own, pool, 10.0) > 0.85  # (pooled up with empty bins)

    def test_the_map_is_monotone(self) -> None:
        rng = np.random.default_rng(5)
        own, pool = empty_counts(), empty_counts()
        own[0], pool[0] = rng.integers(0, 30, BINS), rng.integers(0, 300, BINS)
        own[1], pool[1] = rng.random(BINS) * own[0], rng.random(BINS) * pool[0]
        centre = (np.arange(BINS) + 0.5) / BINS
        own[2], pool[2] = centre * own[0], centre * pool[0]
        mapped = [memory_chance(p, own, pool, 5.0) for p in np.linspace(0, 1, 101)]
        assert np.all(np.diff(mapped) >= -1e-12)

    def test_the_pool_sums_the_groups_over_queues(self) -> None:
        a, b = empty_counts(), empty_counts()
        a[0, 1], b[0, 1] = 2.0, 3.0
        assert pooled([a, b])[0, 1] == 5.0 and pooled([])[0].sum() == 0.0


class TestEngine:
    def test_each_hour_issues_the_probability_a_rule_reads(self) -> None:
        series = daily_backlog(500, seed=7)
        limit = limit_of(series)
        state = catch_up(None, series.head(400), SETTINGS, phase_of("q"))
        breach_chance(state, SETTINGS, limit, 6)  # the rule asks: the memory starts
        [memory] = state.memories.values()
        assert memory.pending == [] and not memory.counts.any()
        issued = []
        for n in range(401, 420):
            catch_up(state, series.head(n), SETTINGS, phase_of("q"))
            issued.append(raw_breach_chance(state, SETTINGS, limit, 6, "warning")[0])
        assert [c for _, c, _, _ in memory.pending] == issued[-6:]
        # 19 issued, the last 6 pending: 13 counted, each decayed by at most 19 hours
        assert 13 * 0.5 ** (19 / 168) < memory.counts[0].sum() < 13

    def test_each_memory_decays_with_its_own_half_life(self) -> None:
        """Two half-lives asked of one state (the crossval's variants) are two memories."""
        series = daily_backlog(460, seed=7)
        limit = limit_of(series)
        state = catch_up(None, series.head(300), SETTINGS, phase_of("q"))
        short = replace(SETTINGS, calibration_half_life=12.0)
        for n in range(300, 460):
            catch_up(state, series.head(n), SETTINGS, phase_of("q"))
            breach_chance(state, SETTINGS, limit, 6, track="long")
            breach_chance(state, short, limit, 6, track="short")
        long_, short_ = state.memories["warning@6h:long"], state.memories["warning@6h:short"]
        assert (long_.half_life, short_.half_life) == (168.0, 12.0)
        assert long_.counts[0].sum() > 100 > 20 > short_.counts[0].sum() > 12

    def test_no_memory_is_kept_when_it_is_off(self) -> None:
        series = daily_backlog(300, seed=7)
        state = catch_up(None, series, replace(SETTINGS, calibration_half_life=None), 0)
        breach_chance(state, replace(SETTINGS, calibration_half_life=None), limit_of(series), 6)
        assert state.memories == {}

    def test_a_saved_state_resumes_its_memory(self) -> None:
        """Saved and read back mid-way, the next hours give the same memory and answers."""
        series = daily_backlog(520, seed=8)
        limit = limit_of(series)
        steady = catch_up(None, series.head(300), SETTINGS, phase_of("q"))
        for n in range(300, 460):
            catch_up(steady, series.head(n), SETTINGS, phase_of("q"))
            breach_chance(steady, SETTINGS, limit, 6)
        restarted = codec.decode(codec.encode(steady))
        assert restarted.memories.keys() == steady.memories.keys()
        for n in range(460, 520):
            for state in (steady, restarted):
                catch_up(state, series.head(n), SETTINGS, phase_of("q"))
            assert breach_chance(restarted, SETTINGS, limit, 6) == breach_chance(
                steady, SETTINGS, limit, 6
            )
        [a], [b] = steady.memories.values(), restarted.memories.values()
        assert a.counts.tolist() == b.counts.tolist() and a.pending == b.pending
        assert a.counts[0].sum() > 50  # it remembers more than a day of forecasts

    def test_a_format_1_state_loads_with_no_memory(self) -> None:
        series = daily_backlog(300, seed=9)
        state = catch_up(None, series, SETTINGS, phase_of("q"))
        breach_chance(state, SETTINGS, limit_of(series), 6)
        old = _as_format_1(codec.encode(state))
        again = codec.decode(old)
        assert again.memories == {} and again.ring.last == state.ring.last
        with pytest.raises(codec.StateFormatError):
            codec.decode(_as_format_1(codec.encode(state), format_=0))


def _as_format_1(blob: bytes, format_: int = 1) -> bytes:
    """``blob`` as format 1 wrote it: no memories, format 1."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files if not k.startswith("memory.")}
    meta = json.loads(arrays.pop("meta").tobytes())
    del meta["memories"]
    meta["format"] = format_
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    out = io.BytesIO()
    np.savez(out, **arrays)  # type: ignore[arg-type]
    return out.getvalue()


class TestReplay:
    def test_the_replay_gives_the_daemons_pooled_answers(self) -> None:
        """Two queues stepped together, the pool summed hour by hour as the job does,
        answer what the replays say once pooled."""
        series = {"a": daily_backlog(420, seed=10), "b": daily_backlog(420, seed=11)}
        limits = {q: limit_of(s) for q, s in series.items()}
        replays = {
            q: replay_queue(q, s, SETTINGS, [Question("rule", np.full(len(s), limits[q]), 6)])
            for q, s in series.items()
        }
        pool_memories(replays)
        states = {q: catch_up(None, s.head(1), SETTINGS, phase_of(q)) for q, s in series.items()}
        daemon = {q: [] for q in series}
        for n in range(1, 421):
            for q, s in series.items():
                catch_up(states[q], s.head(n), SETTINGS, phase_of(q))
            pool = pooled_counts(states[q] for q in sorted(states))
            for q in series:
                daemon[q].append(breach_chance(states[q], SETTINGS, limits[q], 6, pool=pool)[0])
        for q in series:
            assert replays[q].probabilities["rule"].tolist() == daemon[q]
            raw = replays[q].memories["rule"].raw
            assert not np.array_equal(raw, replays[q].probabilities["rule"])


class TestConfig:
    def test_the_daemon_passes_the_half_life_in_hours(self) -> None:
        on = ForecastingSettings(calibration_prior=10, calibration_memory=timedelta(weeks=6))
        assert engine_settings(on).calibration_half_life == 6 * 168
        assert engine_settings(ForecastingSettings()).calibration_half_life is None
        with pytest.raises(ValidationError, match="calibration_memory"):
            ForecastingSettings(calibration_memory=timedelta(0))

    def test_turning_it_on_keeps_every_saved_state(self) -> None:
        assert SETTINGS.fingerprint() == EngineSettings().fingerprint()
