"""Erlang C against textbook values (A = 10, 80/20) and the degenerate ticket case."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerting.resourcing.erlang import (
    agents_for_service_level,
    average_speed_of_answer,
    erlang_b,
    occupancy,
    offered_load,
    probability_of_wait,
    service_level,
)
from alerting.resourcing.flow import rostered

AHT = timedelta(seconds=180)
TARGET = timedelta(seconds=20)
LOAD = offered_load(100, timedelta(minutes=30), AHT)


class TestTextbook:
    def test_offered_load(self) -> None:
        """100 contacts per 30 min at 180 s each is 10 Erlangs."""
        assert pytest.approx(10) == LOAD

    @pytest.mark.parametrize(
        ("agents", "p_wait", "level", "asa_s"),
        [(13, 0.28527, 0.79559, 17.1), (14, 0.17413, 0.88835, 7.8)],
    )
    def test_reference_values(self, agents: int, p_wait: float, level: float, asa_s: float) -> None:
        """13 agents: 0.2853 / 79.6% / 17.1 s; 14 agents: 0.1741 / 88.8% / 7.8 s."""
        assert probability_of_wait(agents, LOAD) == pytest.approx(p_wait, abs=5e-6)
        assert service_level(agents, LOAD, AHT, TARGET) == pytest.approx(level, abs=5e-6)
        asa = average_speed_of_answer(agents, LOAD, AHT).total_seconds()
        assert round(asa, 1) == asa_s

    def test_agents_for_80_20(self) -> None:
        """80/20 needs 14 agents; 20 rostered at 30% shrinkage, as pyworkforce says."""
        agents = agents_for_service_level(LOAD, AHT, TARGET, 0.8)
        assert agents == 14
        assert rostered(agents, 0.3) == 20

    def test_max_occupancy_adds_agents(self) -> None:
        """An occupancy cap of 70% needs ceil(10/0.7) = 15 agents."""
        assert agents_for_service_level(LOAD, AHT, TARGET, 0.8, max_occupancy=0.7) == 15
        assert occupancy(15, LOAD) <= 0.7


class TestStability:
    def test_erlang_b_small_case(self) -> None:
        """One server at one Erlang blocks half the time."""
        assert erlang_b(1, 1.0) == pytest.approx(0.5)

    def test_large_staffing_stays_finite(self) -> None:
        """5000 agents at 4900 Erlangs gives a probability, not an overflow."""
        p_wait = probability_of_wait(5000, 4900.0)
        assert 0 < p_wait < 1

    def test_unstable_queue(self) -> None:
        """With N ≤ A everyone waits, nobody is served in time and ASA is unbounded."""
        assert probability_of_wait(10, LOAD) == 1.0
        assert service_level(10, LOAD, AHT, TARGET) == 0.0
        assert average_speed_of_answer(9, LOAD, AHT) == timedelta.max

    def test_invalid_level_is_rejected(self) -> None:
        """A service level outside (0, 1) raises ValueError."""
        with pytest.raises(ValueError):
            agents_for_service_level(LOAD, AHT, TARGET, 1.0)


class TestDegenerateTicketSla:
    def test_hours_long_sla_only_says_n_above_a(self) -> None:
        """60/h, AHT 10 min, 90% in 4 h: 11 agents at SL 0.99999999997, i.e. just N > A."""
        aht = timedelta(minutes=10)
        load = offered_load(60, timedelta(hours=1), aht)
        agents = agents_for_service_level(load, aht, timedelta(hours=4), 0.9)
        assert agents == 11 == int(load) + 1
        level = service_level(agents, load, aht, timedelta(hours=4))
        assert level == pytest.approx(0.99999999997, abs=5e-12)
