"""The leader lease's pure decisions, driven by a fake clock; and its settings."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from config.loader import load_settings
from monitor.errors import ConfigError
from monitor.lease import Fence, Lease, Role, acts_until, decide
from tests.fakes import T0, FakeClock
from tests.processes import run_cli

TTL = timedelta(seconds=15)
NAME = "backlog-monitor"


def held_by(holder: str, generation: int, expires_in: timedelta) -> Lease:
    return Lease(NAME, holder, generation, T0 - timedelta(minutes=1), T0 + expires_in)


class TestDecide:
    def test_first_replica_takes_generation_one(self) -> None:
        """With no lease yet, the first replica to ask leads with generation 1."""
        decision = decide(None, NAME, "a", T0, TTL)
        assert decision.role is Role.LEADER
        assert decision.write == Lease(NAME, "a", 1, T0, T0 + TTL)
        assert decision.fence == Fence(NAME, "a", 1)

    def test_holder_renews_without_a_new_generation(self) -> None:
        """The holder's renewal moves the expiry to now + ttl and keeps generation and start."""
        current = held_by("a", 4, timedelta(seconds=5))
        clock = FakeClock(T0)
        decision = decide(current, NAME, "a", clock.advance(timedelta(seconds=3)), TTL)
        assert decision.role is Role.LEADER
        assert decision.write == Lease(NAME, "a", 4, current.acquired_at, clock.now + TTL)

    def test_other_replica_follows_an_unexpired_lease(self) -> None:
        """Until the lease expires, another replica follows and writes nothing."""
        current = held_by("a", 4, timedelta(seconds=5))
        decision = decide(current, NAME, "b", T0 + timedelta(seconds=4.999), TTL)
        assert (decision.role, decision.write, decision.fence) == (Role.FOLLOWER, None, None)
        assert decision.lease == current

    def test_expired_lease_is_taken_with_the_next_generation(self) -> None:
        """At the expiry instant another replica takes it, one generation up."""
        current = held_by("a", 4, timedelta(seconds=5))
        now = T0 + timedelta(seconds=5)
        decision = decide(current, NAME, "b", now, TTL)
        assert decision.write == Lease(NAME, "b", 5, now, now + TTL)
        assert decision.fence == Fence(NAME, "b", 5)

    def test_former_holder_retaking_an_expired_lease_starts_a_new_generation(self) -> None:
        """A holder whose lease expired gets a new generation: its old claims are stale."""
        current = held_by("a", 4, timedelta(seconds=5))
        decision = decide(current, NAME, "a", T0 + timedelta(seconds=6), TTL)
        assert decision.fence == Fence(NAME, "a", 5)


class TestActsUntil:
    def test_leader_stops_a_renewal_interval_before_the_lease_expires(self) -> None:
        """Acting ends ttl - renew_interval after the renewal began: before any takeover."""
        until = acts_until(100.0, TTL, timedelta(seconds=5))
        assert until == 110.0
        assert until < 100.0 + TTL.total_seconds()


class TestLeaseSettings:
    def test_defaults_renew_a_third_of_the_ttl(self) -> None:
        """By default the lease lasts 15s and is renewed every 5s."""
        lease = load_settings(text="").lease
        assert (lease.ttl, lease.renew_interval) == (TTL, timedelta(seconds=5))

    @pytest.mark.parametrize(("ttl", "renew"), [("15s", "6s"), ("15s", "0s"), ("500ms", "100ms")])
    def test_renewal_not_well_inside_the_ttl_is_an_error_naming_lease(
        self, ttl: str, renew: str
    ) -> None:
        """A renewal slower than a third of the ttl (or a tiny ttl) is refused at start."""
        with pytest.raises(ConfigError) as info:
            load_settings(text=f"lease:\n  ttl: {ttl}\n  renew_interval: {renew}\n")
        assert [path for path, _ in info.value.problems] == ["lease"]

    def test_the_command_exits_2_naming_lease(self, tmp_path: Path) -> None:
        """`check-config` on a lease renewed too slowly exits 2 and names the section."""
        config = tmp_path / "config.yaml"
        config.write_text("lease:\n  ttl: 10s\n  renew_interval: 5s\n", encoding="utf-8")
        done = run_cli("check-config", "--config", config)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "lease" in done.stderr and "renew_interval (5s)" in done.stderr
        assert "Traceback" not in done.stderr
