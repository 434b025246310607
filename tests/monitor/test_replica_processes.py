"""Two real ``backlog-monitor run`` processes on one PostgreSQL store, and faults under them.

The leader is killed with SIGKILL while a request is in flight; the store's connections
are terminated under a running daemon. Waits are hang guards (tests/processes.py): no
test here depends on how fast the machine is.
"""

from __future__ import annotations

import json
import signal
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from tests.fakes import RecordingReceiver
from tests.monitor.test_crash_recovery import OPEN, Daemon
from tests.monitor.test_crash_recovery import write_config as crash_recovery_config
from tests.processes import PATIENCE, free_port

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

RULES = (300, 400, 500)
"""Thresholds of three rules that all fire on the 600 open incidents: three messages."""


def write_config(
    tmp_path: Path,
    name: str,
    store_url: str,
    receiver_url: str,
    ttl: str = "3s",
    renew_interval: str = "1s",
) -> tuple[Path, int]:
    """A replica's configuration and port: the crash-recovery test's (600 real incidents
    open, 1 s intervals, a signed webhook), on ``store_url``, with three rules and a lease."""
    port = free_port()
    folder = tmp_path / name
    folder.mkdir()
    config = yaml.safe_load(crash_recovery_config(folder, port, receiver_url).read_text())
    config["store"]["url"] = store_url
    config["lease"] = {"ttl": ttl, "renew_interval": renew_interval, "holder": name}
    config["forecasts"] = {"enabled": False}
    # No cooldown: failover, not the circuit breaker, is what is measured.
    config["delivery"]["breaker_threshold"] = 1000
    config["receivers"][0]["timeout"] = "60s"  # a held request stays in flight
    config["rules"] = [
        {"name": f"Backlog{n}", "metric": "open_tickets", "op": ">", "threshold": n, "for": "0s"}
        for n in RULES
    ]
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path, port


def readyz(port: int) -> dict[str, Any]:
    """The body of /readyz ({} while the process does not answer)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]
    except urllib.error.HTTPError as err:
        return json.loads(err.read())  # type: ignore[no-any-return]
    except (urllib.error.URLError, OSError):
        return {}


def leader_gauge(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return next(line for line in text.splitlines() if line.startswith("backlog_leader "))


class Store:
    """Reads of the replicas' shared store."""

    def __init__(self, url: str) -> None:
        self.engine = sa.create_engine(url)

    def query(self, sql: str, **params: Any) -> list[Any]:
        try:
            with self.engine.connect() as conn:
                return list(conn.execute(sa.text(sql), params))
        except sa.exc.ProgrammingError:  # not migrated yet
            return []

    def outbox(self) -> list[tuple[str, str]]:
        return [
            tuple(r) for r in self.query("SELECT idempotency_key, status FROM outbox ORDER BY id")
        ]

    def lease(self) -> tuple[str, int, Any, Any] | None:
        rows = self.query("SELECT holder, generation, acquired_at, expires_at FROM leases")
        return tuple(rows[0]) if rows else None  # type: ignore[return-value]


@pytest.fixture
def started() -> Iterator[list[Daemon]]:
    procs: list[Daemon] = []
    yield procs
    for proc in procs:
        proc.stop()


@pytest.fixture
def store(pg_database: str) -> Iterator[Store]:
    reads = Store(pg_database)
    yield reads
    reads.engine.dispose()


class TestLeaderKilled:
    def test_sigkill_mid_delivery_fails_over_and_delivers_every_message(
        self,
        tmp_path: Path,
        pg_database: str,
        store: Store,
        receiver: RecordingReceiver,
        started: list[Daemon],
    ) -> None:
        """The follower takes over after the lease expires and sends all; only the request
        in flight at the kill arrives twice, with the same key."""
        gate = threading.Event()
        receiver.hold = gate  # the leader's first request hangs at the receiver
        config_a, port_a = write_config(tmp_path, "a", pg_database, receiver.url)
        config_b, port_b = write_config(tmp_path, "b", pg_database, receiver.url)
        a = Daemon(config_a, tmp_path / "a.log")
        started.append(a)
        a.wait_for("a to lead", lambda: readyz(port_a).get("role") == "leader")
        b = Daemon(config_b, tmp_path / "b.log")
        started.append(b)
        b.wait_for("b to follow", lambda: readyz(port_b).get("ready") is True)
        assert readyz(port_b)["role"] == "follower"
        assert leader_gauge(port_a) == "backlog_leader 1.0"
        assert leader_gauge(port_b) == "backlog_leader 0.0"

        a.wait_for("a request in flight", lambda: len(receiver.held) == 1)
        lease_before_kill = store.lease()
        assert lease_before_kill is not None and lease_before_kill[:2] == ("a", 1)
        a.proc.send_signal(signal.SIGKILL)
        assert a.proc.wait(timeout=PATIENCE) == -signal.SIGKILL
        receiver.hold = None
        gate.set()  # the receiver processes the request whose sender is dead

        b.wait_for("b to lead", lambda: readyz(port_b).get("role") == "leader")
        b.wait_for(
            "every message delivered",
            lambda: (
                len(store.outbox()) == len(RULES)
                and all(s == "delivered" for _, s in store.outbox())
            ),
        )
        lease = store.lease()
        assert lease is not None and lease[:2] == ("b", 2)
        assert lease[2] >= lease_before_kill[3]  # taken no earlier than a's lease expired
        # /metrics is rendered in the background: the gauge follows within a render
        b.wait_for("b's gauge to say leader", lambda: leader_gauge(port_b) == "backlog_leader 1.0")

        keys = [k for k, _ in store.outbox()]
        arrived = [r.headers["webhook-id"] for r in receiver.received]
        counts = Counter(arrived)
        assert set(counts) == set(keys)  # every notification delivered
        assert {k for k, n in counts.items() if n > 1} <= set(receiver.held)  # the in-flight one
        assert all(n <= 2 for n in counts.values())
        assert list(dict.fromkeys(arrived)) == keys  # in order of their outbox rows
        fired = {json.loads(r.body)["alerts"][0]["values"]["fired"] for r in receiver.received}
        assert fired == {OPEN}
        assert "this replica is now the leader" in b.output()


class TestStoreConnectionsDropped:
    def test_terminated_backends_are_survived_and_nothing_is_lost(
        self,
        tmp_path: Path,
        pg_database: str,
        store: Store,
        receiver: RecordingReceiver,
        started: list[Daemon],
    ) -> None:
        """pg_terminate_backend on every connection, repeatedly: the daemon keeps leading,
        polling and delivering; every message arrives once."""
        url = sa.engine.make_url(pg_database).update_query_dict({"application_name": "victim"})
        config, port = write_config(
            tmp_path, "a", url.render_as_string(hide_password=False), receiver.url
        )
        receiver.status = 503  # messages wait in the outbox while the connections drop
        daemon = Daemon(config, tmp_path / "a.log")
        started.append(daemon)
        daemon.wait_for("a to lead", lambda: readyz(port).get("role") == "leader")
        daemon.wait_for("three pending messages", lambda: len(store.outbox()) == len(RULES))
        terminated = 0
        for _ in range(3):
            polled = store.query("SELECT count(*) FROM snapshots")[0][0]
            terminated += store.query(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = 'victim'"
            )[0][0]
            daemon.wait_for(
                "a poll stored after the connections were cut",
                lambda n=polled: store.query("SELECT count(*) FROM snapshots")[0][0] > n,
            )
        assert terminated >= 3
        receiver.status = 204
        daemon.wait_for(
            "every message delivered",
            lambda: all(s == "delivered" for _, s in store.outbox()),
        )
        assert readyz(port)["role"] == "leader"
        keys = [r.headers["webhook-id"] for r in receiver.received]
        assert keys == [k for k, _ in store.outbox()]  # once each, in order
        lease = store.lease()
        assert lease is not None and lease[0] == "a"
